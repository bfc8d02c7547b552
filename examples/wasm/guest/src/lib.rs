//! Guest bindings to the Edgeplane platform (`edgeplane:workload/platform` in `wit/`):
//! `wasi:config/store` and `wasi:keyvalue`, with small helpers the examples share.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "edgeplane:workload/platform",
    generate_all,
});

pub use wasi::config::store as config;
pub use wasi::keyvalue::{atomics, batch, store as keyvalue};

/// `wasi:cli/exit` of WASI 0.2.12, which has `exit-with-code` (Rust's `std::process::exit`
/// can only say success or failure on WASI 0.2).
pub mod cli {
    wit_bindgen::generate!({
        path: "../../../wit",
        inline: "package edgeplane:guest-cli; world exit { import wasi:cli/exit@0.2.12; }",
        world: "edgeplane:guest-cli/exit",
        generate_all,
    });

    /// Ends the program with an exit code.
    pub fn exit(code: u8) -> ! {
        wasi::cli::exit::exit_with_code(code);
        // `exit-with-code` does not return; this only satisfies the type checker.
        std::process::exit(i32::from(code))
    }
}

/// A configuration value, if the platform has it.
pub fn config_value(key: &str) -> Option<String> {
    config::get(key).ok().flatten()
}

/// The default keyvalue bucket of the pod.
pub fn default_bucket() -> Result<keyvalue::Bucket, keyvalue::Error> {
    keyvalue::open("")
}
