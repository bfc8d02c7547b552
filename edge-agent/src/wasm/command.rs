//! Running a `wasi:cli/run` component to completion.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::CommandPre;

use super::ExitReason;
use super::host::{ContainerEnv, HostState};
use super::limits::{Metered, SliceClock};

/// Instantiates the command in its store and runs it; returns how it ended. Dropping the
/// future kills the guest at its next yield (an epoch tick or a host call).
pub(crate) async fn run_command(
    env: Arc<ContainerEnv>,
    pre: CommandPre<HostState>,
    mut store: Store<HostState>,
    clock: Arc<SliceClock>,
) -> ExitReason {
    let run = async move {
        let command = pre.instantiate_async(&mut store).await?;
        command.wasi_cli_run().call_run(&mut store).await
    };
    let result = Metered::new(run, clock, env.cpu.clone()).await;
    exit_reason(result, env.memory.exceeded())
}

fn exit_reason(result: wasmtime::Result<Result<(), ()>>, memory_exceeded: bool) -> ExitReason {
    match result {
        Ok(Ok(())) => ExitReason::Exited(0),
        Ok(Err(())) => ExitReason::Exited(1),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                ExitReason::Exited(exit.0)
            } else if memory_exceeded {
                ExitReason::OomKilled
            } else {
                ExitReason::Error(format!("{e:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_to_exit_reasons() {
        let trap = || Err(wasmtime::Error::msg("wasm trap: unreachable"));
        assert_eq!(exit_reason(Ok(Ok(())), false), ExitReason::Exited(0));
        assert_eq!(exit_reason(Ok(Err(())), false), ExitReason::Exited(1));
        assert_eq!(
            exit_reason(Err(wasmtime::Error::new(I32Exit(42))), false),
            ExitReason::Exited(42)
        );
        assert_eq!(exit_reason(trap(), true), ExitReason::OomKilled);
        assert!(
            matches!(exit_reason(trap(), false), ExitReason::Error(m) if m.contains("unreachable"))
        );
    }
}
