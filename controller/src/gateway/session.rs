//! One connected agent: its control stream, from hello to disconnect.
//!
//! The session registers the node, sends the node's whole desired state, then deltas as the
//! desired state changes; it hands pod status to a [`StatusWriter`] and renews the node's lease
//! on every heartbeat. Reading frames happens in its own task, because a frame read is not
//! cancel-safe inside `select!`.

use std::sync::Arc;
use std::time::Duration;

use edge_wire::link::{
    self, AgentMessage, ControllerMessage, FrameError, PROTOCOL_VERSION, PodRunSpec, Welcome,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::AgentGateway;
use super::desired::NodeDesired;
use super::join::version_mismatch;
use super::status_writer::StatusWriter;

/// How long a new connection has to open its control stream and say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames read ahead of the session loop; the reader waits (and QUIC flow control holds the
/// agent back) when the loop falls behind.
const READ_AHEAD: usize = 64;

/// Runs the session of `node` on `conn` until the connection ends or `shutdown`.
pub(super) async fn run(
    gateway: Arc<AgentGateway>,
    conn: quinn::Connection,
    node: String,
    shutdown: CancellationToken,
) {
    let accepted = tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi()).await;
    let Ok(Ok((mut send, mut recv))) = accepted else {
        conn.close(1u32.into(), b"no control stream");
        return;
    };
    let hello = tokio::time::timeout(
        HELLO_TIMEOUT,
        link::read_frame::<AgentMessage, _>(&mut recv),
    )
    .await;
    let hello = match hello {
        Ok(Ok(AgentMessage::Hello(hello))) => hello,
        Ok(Ok(_)) => return refuse(&conn, &mut send, "the first message must be a hello").await,
        Ok(Err(err)) => return refuse(&conn, &mut send, &format!("bad hello: {err}")).await,
        Err(_) => return refuse(&conn, &mut send, "no hello within 10s").await,
    };
    if hello.protocol != PROTOCOL_VERSION {
        return refuse(&conn, &mut send, &version_mismatch(hello.protocol)).await;
    }
    if let Err(message) = gateway.register_node(&node, &hello).await {
        tracing::warn!(%node, "cannot register node: {message}");
        return refuse(&conn, &mut send, &message).await;
    }
    let session_id = gateway.attach(&node, &conn);
    tracing::info!(%node, remote = %conn.remote_address(), "agent connected");

    let writer = StatusWriter::spawn(gateway.api.clone(), node.clone(), shutdown.clone());
    writer.submit(hello.pods);
    let result = serve(&gateway, &conn, &node, send, recv, &writer, &shutdown).await;
    match &result {
        Ok(()) => tracing::info!(%node, "agent disconnected"),
        Err(reason) => {
            tracing::info!(%node, "agent session ended: {reason}");
            conn.close(2u32.into(), reason.as_bytes());
        }
    }
    gateway.detach(&node, session_id);
}

async fn serve(
    gateway: &AgentGateway,
    conn: &quinn::Connection,
    node: &str,
    mut send: quinn::SendStream,
    recv: quinn::RecvStream,
    writer: &StatusWriter,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let mut desired = gateway.desired.subscribe(node);
    let first = loop {
        if let Some(first) = desired.borrow_and_update().clone() {
            break first;
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            _ = conn.closed() => return Ok(()),
            changed = desired.changed() => changed.map_err(|_| "the gateway is stopping")?,
        }
    };
    let welcome = ControllerMessage::Welcome(Welcome {
        protocol: PROTOCOL_VERSION,
        heartbeat_ms: gateway.options.heartbeat.as_millis() as u64,
    });
    write(&mut send, &welcome).await?;
    write(
        &mut send,
        &ControllerMessage::Snapshot {
            revision: first.revision,
            pods: first.pods.values().map(|p| (**p).clone()).collect(),
        },
    )
    .await?;
    write(&mut send, &claims_message(&first)).await?;
    let mut sent = first;

    let (frames_tx, mut frames) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_frames(recv, frames_tx));
    // An agent that sends nothing for three heartbeats is gone (killed, unplugged): end the
    // session then rather than at QUIC's idle timeout, so that the node's name is free again
    // once its lease has expired.
    let silence = gateway.options.heartbeat * 3 + Duration::from_secs(2);
    let quiet = tokio::time::sleep(silence);
    tokio::pin!(quiet);
    let result = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                conn.close(0u32.into(), b"controller shutting down");
                break Ok(());
            }
            () = &mut quiet => {
                conn.close(4u32.into(), b"no heartbeat");
                break Err(format!("no heartbeat for {}s", silence.as_secs()));
            }
            frame = frames.recv() => match frame {
                Some(Ok(message)) => {
                    quiet.as_mut().reset(tokio::time::Instant::now() + silence);
                    gateway.handle(node, message, writer).await;
                }
                Some(Err(FrameError::Closed)) | None => break Ok(()),
                Some(Err(err)) => break Err(format!("bad frame from the agent: {err}")),
            },
            changed = desired.changed() => {
                if changed.is_err() {
                    break Err("the gateway is stopping".to_owned());
                }
                let Some(next) = desired.borrow_and_update().clone() else { continue };
                if let Some(delta) = delta(&sent, &next) {
                    write(&mut send, &delta).await?;
                }
                if next.claims != sent.claims {
                    write(&mut send, &claims_message(&next)).await?;
                }
                sent = next;
            }
        }
    };
    reader.abort();
    result
}

fn claims_message(desired: &NodeDesired) -> ControllerMessage {
    ControllerMessage::Claims {
        keep: desired.claims.iter().cloned().collect(),
    }
}

/// The delta that turns `sent` into `next`, if they differ.
fn delta(sent: &NodeDesired, next: &NodeDesired) -> Option<ControllerMessage> {
    let upserts: Vec<PodRunSpec> = next
        .pods
        .iter()
        .filter(|(uid, spec)| {
            sent.pods
                .get(*uid)
                .is_none_or(|old| !Arc::ptr_eq(old, spec) && old != *spec)
        })
        .map(|(_, spec)| (**spec).clone())
        .collect();
    let removals: Vec<String> = sent
        .pods
        .keys()
        .filter(|uid| !next.pods.contains_key(*uid))
        .cloned()
        .collect();
    (!upserts.is_empty() || !removals.is_empty()).then_some(ControllerMessage::Delta {
        revision: next.revision,
        upserts,
        removals,
    })
}

async fn read_frames(
    mut recv: quinn::RecvStream,
    out: mpsc::Sender<Result<AgentMessage, FrameError>>,
) {
    loop {
        let frame = link::read_frame(&mut recv).await;
        let end = frame.is_err();
        if out.send(frame).await.is_err() || end {
            return;
        }
    }
}

async fn write(send: &mut quinn::SendStream, message: &ControllerMessage) -> Result<(), String> {
    link::write_frame(send, message)
        .await
        .map_err(|e| format!("cannot write to the agent: {e}"))
}

async fn refuse(conn: &quinn::Connection, send: &mut quinn::SendStream, message: &str) {
    let refused = ControllerMessage::Refused {
        message: message.to_owned(),
    };
    if link::write_frame(send, &refused).await.is_ok() {
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    }
    conn.close(3u32.into(), b"refused");
}

impl AgentGateway {
    async fn handle(&self, node: &str, message: AgentMessage, writer: &StatusWriter) {
        match message {
            AgentMessage::Hello(_) => tracing::debug!(%node, "ignoring a second hello"),
            AgentMessage::Ack { revision } => {
                tracing::trace!(%node, revision, "agent stored the desired state");
            }
            AgentMessage::PodStatus(reports) => writer.submit(reports),
            AgentMessage::NodeStatus(report) => {
                if let Err(message) = self.heartbeat(node, report).await {
                    tracing::debug!(%node, "heartbeat not recorded: {message}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(uid: &str, image: &str) -> Arc<PodRunSpec> {
        Arc::new(PodRunSpec {
            uid: uid.into(),
            containers: vec![edge_wire::link::ContainerRunSpec {
                name: "c".into(),
                image: image.into(),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    fn desired(revision: u64, pods: &[Arc<PodRunSpec>]) -> NodeDesired {
        NodeDesired {
            revision,
            pods: pods.iter().map(|p| (p.uid.clone(), p.clone())).collect(),
            ..NodeDesired::default()
        }
    }

    #[test]
    fn delta_carries_changes_and_removals_only() {
        let a = spec("a", "x:1");
        let b = spec("b", "y:1");
        let sent = desired(5, &[a.clone(), b.clone()]);
        assert_eq!(delta(&sent, &desired(6, &[a.clone(), b.clone()])), None);
        // An equal spec in a new allocation is not a change.
        assert_eq!(
            delta(&sent, &desired(6, &[spec("a", "x:1"), b.clone()])),
            None
        );
        let c = spec("c", "z:1");
        let changed = spec("a", "x:2");
        match delta(&sent, &desired(7, &[changed.clone(), c.clone()])) {
            Some(ControllerMessage::Delta {
                revision,
                upserts,
                removals,
            }) => {
                assert_eq!(revision, 7);
                assert_eq!(upserts, vec![(*changed).clone(), (*c).clone()]);
                assert_eq!(removals, vec!["b".to_owned()]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
