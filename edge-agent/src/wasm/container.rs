//! [`RunningContainer`]: a started Wasm container, its stop signal and its exit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::command::run_command;
use super::host::ContainerEnv;
use super::proxy::ProxyServer;
use super::runtime::{LinkedComponent, RuntimeInner};
use super::{ComponentShape, ExitReason, Usage, WasmError};
use crate::logs::LogStream;

/// A running Wasm container. Dropping it kills the container.
pub struct RunningContainer {
    shape: ComponentShape,
    local_addr: Option<SocketAddr>,
    env: Arc<ContainerEnv>,
    stop: watch::Sender<Option<Duration>>,
    exit: watch::Receiver<Option<ExitReason>>,
}

/// The supervisor's view of [`RunningContainer::stop`].
pub(crate) struct StopSignal(watch::Receiver<Option<Duration>>);

impl StopSignal {
    /// Resolves with the grace period once a stop is requested; at once with none if the
    /// container's handle is gone.
    pub(crate) async fn requested(&mut self) -> Duration {
        match self.0.wait_for(Option::is_some).await {
            Ok(grace) => grace.unwrap_or_default(),
            Err(_) => Duration::ZERO,
        }
    }
}

impl RunningContainer {
    /// Starts the supervisor task of a container whose store and (for a proxy) listener are
    /// ready. Must be called within a tokio runtime.
    pub(crate) fn spawn(
        runtime: Arc<RuntimeInner>,
        linked: &LinkedComponent,
        env: Arc<ContainerEnv>,
        listener: Option<tokio::net::TcpListener>,
    ) -> Result<Self, WasmError> {
        let (stop_tx, stop_rx) = watch::channel(None);
        let (exit_tx, exit_rx) = watch::channel(None);
        let mut stop = StopSignal(stop_rx);
        let (shape, local_addr) = match linked {
            LinkedComponent::Command(_) => (ComponentShape::Command, None),
            LinkedComponent::HttpProxy(_) => {
                let addr = listener
                    .as_ref()
                    .ok_or(WasmError::NoListenAddress)?
                    .local_addr()
                    .map_err(|e| WasmError::Engine(format!("listener address: {e}")))?;
                (ComponentShape::HttpProxy, Some(addr))
            }
        };
        let run = match (linked, listener) {
            (LinkedComponent::Command(pre), _) => {
                let (store, clock) = env.new_store()?;
                let run = run_command(env.clone(), pre.clone(), store, clock);
                tokio::spawn(async move {
                    tokio::select! {
                        biased;
                        // A command has no way to hear SIGTERM: stopping one is a kill. Dropping
                        // the run future ends the guest at its next yield.
                        _ = stop.requested() => ExitReason::Stopped { forced: true },
                        reason = run => reason,
                    }
                })
            }
            (LinkedComponent::HttpProxy(pre), Some(listener)) => {
                // Build one store up front so a bad volume fails the start, not every request.
                drop(env.new_store()?);
                let server = ProxyServer::new(env.clone(), pre.clone());
                tokio::spawn(server.serve(listener, stop))
            }
            (LinkedComponent::HttpProxy(_), None) => return Err(WasmError::NoListenAddress),
        };
        let supervisor_env = env.clone();
        tokio::spawn(async move {
            let reason = match run.await {
                Ok(reason) => reason,
                Err(e) => ExitReason::Error(format!("container task failed: {e}")),
            };
            let log = &supervisor_env.log;
            let note = match &reason {
                ExitReason::Error(message) => Some(format!("wasm: {message}")),
                ExitReason::OomKilled => Some("wasm: memory limit exceeded (OOMKilled)".to_owned()),
                _ => None,
            };
            let _ = log.flush();
            if let Some(note) = note {
                let _ = log.write_message(LogStream::Stderr, &note);
            }
            // The engine's ticker must run until the guest is gone.
            drop(runtime);
            let _ = exit_tx.send(Some(reason));
        });
        Ok(RunningContainer {
            shape,
            local_addr,
            env,
            stop: stop_tx,
            exit: exit_rx,
        })
    }

    pub fn shape(&self) -> ComponentShape {
        self.shape
    }

    /// The address a proxy listens on (the port is known here when the spec asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Waits until the container has ended and every instance of it is gone.
    pub async fn wait(&self) -> ExitReason {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(reason) => reason
                .clone()
                .unwrap_or_else(|| ExitReason::Error("no exit reason".into())),
            Err(_) => ExitReason::Error("the container's supervisor ended without a reason".into()),
        }
    }

    /// The exit reason if the container has ended.
    pub fn try_exit(&self) -> Option<ExitReason> {
        self.exit.borrow().clone()
    }

    /// Stops the container and waits until it has ended. A proxy stops accepting connections
    /// and lets in-flight requests finish for up to `grace`, then is killed; a command is killed
    /// at once (Wasm has no signals). A running guest notices within one epoch tick.
    pub async fn stop(&self, grace: Duration) -> ExitReason {
        self.stop.send_if_modified(|requested| match requested {
            Some(earlier) if *earlier <= grace => false,
            _ => {
                *requested = Some(grace);
                true
            }
        });
        self.wait().await
    }

    /// Current resource use.
    pub fn usage(&self) -> Usage {
        self.env.usage()
    }
}

impl Drop for RunningContainer {
    fn drop(&mut self) {
        self.stop.send_replace(Some(Duration::ZERO));
    }
}
