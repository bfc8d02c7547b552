//! A real `edge-agent` process joined to a test controller on 127.0.0.1, with its data directory
//! and log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::binaries::binary;
use crate::command::{Run, log_tail, run, spawn_logged, stop_gracefully};
use crate::controller::{Controller, free_port};
use crate::poll;

/// How long a join and the first Ready may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before it counts as a hang.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines shown when something fails.
const TAIL_LINES: usize = 60;

/// The `--token` and `--ca-cert-hash` of `edgectl token create --print-join-command`.
#[derive(Debug, Clone)]
pub struct JoinCommand {
    pub server: String,
    pub token: String,
    pub ca_cert_hash: String,
}

impl JoinCommand {
    /// A fresh bootstrap token from `controller`.
    pub fn create(controller: &Controller) -> JoinCommand {
        let out = controller
            .edgectl(&["token", "create", "--print-join-command"])
            .success();
        JoinCommand::parse(&out.stdout)
            .unwrap_or_else(|| panic!("cannot parse the join command\n{}", out.report()))
    }

    fn parse(line: &str) -> Option<JoinCommand> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
                .map(|w| w.to_string())
        };
        Some(JoinCommand {
            server: after("--server")?,
            token: after("--token")?,
            ca_cert_hash: after("--ca-cert-hash")?,
        })
    }
}

/// One agent process. Dropping it kills the process (by PID) and prints its log tail when the
/// test is failing.
pub struct Agent {
    name: String,
    dir: PathBuf,
    server: String,
    metrics_port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Agent {
    /// Joins a new agent `name` to `controller` with a fresh token and waits until its node is
    /// Ready.
    pub fn join(controller: &Controller, dir: &Path, name: &str) -> Agent {
        let join = JoinCommand::create(controller);
        let mut agent = Agent::new(dir, name, &format!("127.0.0.1:{}", controller.port()));
        agent.spawn(&[
            "--token",
            &join.token,
            "--ca-cert-hash",
            &join.ca_cert_hash,
            "--name",
            name,
        ]);
        agent.wait_ready(controller);
        agent
    }

    fn new(dir: &Path, name: &str, server: &str) -> Agent {
        if let Err(err) = std::fs::create_dir_all(dir) {
            panic!("cannot create {}: {err}", dir.display());
        }
        Agent {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            server: server.to_owned(),
            metrics_port: free_port(),
            child: None,
            starts: 0,
        }
    }

    /// Runs a first start that is expected to fail (a bad join) and returns its outcome.
    pub fn try_join(dir: &Path, server: &str, extra: &[&str]) -> Run {
        let mut command = Command::new(binary("edge-agent"));
        command
            .args(["--server", server, "--data-dir"])
            .arg(dir)
            .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--node-ip", "127.0.0.1"])
            .args(extra)
            .env("NO_COLOR", "1");
        run(command, None, Duration::from_secs(40))
    }

    /// Starts the stopped agent again: only `--server` and `--data-dir`.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart() of an agent that is running"
        );
        self.spawn(&[]);
    }

    fn spawn(&mut self, extra: &[&str]) {
        self.starts += 1;
        let mut args: Vec<String> = vec![
            "--server".into(),
            self.server.clone(),
            "--data-dir".into(),
            self.dir.join("data").display().to_string(),
            "--metrics-addr".into(),
            format!("127.0.0.1:{}", self.metrics_port),
            "--node-ip".into(),
            "127.0.0.1".into(),
            // The infinite-loop test need not wait a minute.
            "--wasm-request-timeout".into(),
            "3s".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let env = [("EDGEPLANE_LOG", "info,edge_agent=debug")];
        let child = spawn_logged("edge-agent", &args, &env, &self.log_path(), self.starts);
        self.child = Some(child);
    }

    /// Waits until the node reports Ready=True; panics with both logs otherwise.
    pub fn wait_ready(&mut self, controller: &Controller) {
        let started = Instant::now();
        let ready = poll(READY_TIMEOUT, || {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "edge-agent {} exited with {status} before its node was Ready\n--- agent log ---\n{}",
                    self.name,
                    self.log_tail(TAIL_LINES)
                );
            }
            let out = controller.edgectl(&["get", "node", &self.name, "-o", "json"]);
            (out.code == Some(0) && node_ready(&out.json()) == "True").then_some(())
        });
        if ready.is_none() {
            panic!(
                "node {} not Ready after {:?}\n--- agent log ---\n{}\n--- controller log ---\n{}",
                self.name,
                started.elapsed(),
                self.log_tail(TAIL_LINES),
                controller.log_tail(TAIL_LINES)
            );
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_gracefully(child, "edge-agent", STOP_TIMEOUT, || {
                self.log_tail(TAIL_LINES)
            });
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The agent's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }

    /// The agent's `/metrics` text.
    pub fn metrics(&self) -> String {
        let mut command = Command::new("curl");
        command.args([
            "-sS",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{}/metrics", self.metrics_port),
        ]);
        run(command, None, Duration::from_secs(15)).success().stdout
    }
}

/// The status of a node's Ready condition ("" when it has none).
pub fn node_ready(node: &serde_json::Value) -> String {
    node.pointer("/status/conditions")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_owned()
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!(
                    "--- edge-agent {} log tail ---\n{}",
                    self.name,
                    self.log_tail(TAIL_LINES)
                );
            }
        }
    }
}
