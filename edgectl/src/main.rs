//! edgectl: the Edgeplane command-line client, in kubectl's shape.

mod cli;
mod client;
mod cmd;
mod config;
mod describe;
mod discovery;
mod jsonpath;
mod manifests;
mod output;
mod resources;
mod tabwriter;
mod tls;
mod workloads;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Whatever goes wrong, the user sees one line and exit code 1, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        eprintln!("error: internal error: {}", message.replace('\n', " "));
    }));
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Help and version go to stdout with exit 0; a usage mistake is one line on stderr, like kubectl.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("error: invalid arguments");
            eprintln!("{first}");
            ExitCode::FAILURE
        }
    }
}

fn report(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<cmd::AlreadyReported>().is_some() {
        return ExitCode::FAILURE;
    }
    // `edgectl get pods | head -1`: the reader went away, which is not our failure.
    if let Some(io) = err.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    eprintln!("{}", cmd::error_line(err));
    ExitCode::FAILURE
}
