//! The edge agent. Its QUIC link, pod workers and runtimes arrive with issue 3; the crate exists so the workspace has its final shape.
