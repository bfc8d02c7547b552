//! A real `edge-controller` process on 127.0.0.1, with its data directory, log and clients.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::binaries::{binary, kubectl_binary};
use crate::command::{Run, log_tail, run, spawn_logged, stop_gracefully};
use crate::https::{ClientAuth, HttpReply, KubeconfigCredentials, curl};

/// How long a controller may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before it counts as a hang.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// The limit for one `edgectl` or `kubectl` invocation.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines shown when something fails.
const TAIL_LINES: usize = 60;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|err| panic!("cannot bind 127.0.0.1:0: {err}"));
    listener
        .local_addr()
        .unwrap_or_else(|err| panic!("cannot read the bound address: {err}"))
        .port()
}

/// One controller process. Dropping it kills the process (by PID) and, when the test is
/// failing, prints the tail of its log.
pub struct Controller {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    starts: u32,
    admin: OnceLock<KubeconfigCredentials>,
}

impl Controller {
    /// Starts a controller on `dir` (created if missing) listening on 127.0.0.1:`port`, and waits
    /// until it is ready.
    pub fn start(dir: &Path, port: u16) -> Self {
        Self::start_with(dir, port, &[])
    }

    /// Like [`Controller::start`] with extra first-start flags (`--name`, `--join`, `--restore`).
    pub fn start_with(dir: &Path, port: u16, extra: &[&str]) -> Self {
        if let Err(err) = std::fs::create_dir_all(dir) {
            panic!("cannot create {}: {err}", dir.display());
        }
        let mut controller = Self {
            dir: dir.to_path_buf(),
            port,
            child: None,
            starts: 0,
            admin: OnceLock::new(),
        };
        controller.spawn(extra);
        controller.wait_ready();
        controller
    }

    /// Starts the stopped controller again; later starts need only `--data-dir` and `--listen`.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart() of a controller that is still running"
        );
        self.spawn(&[]);
        self.wait_ready();
    }

    fn spawn(&mut self, extra: &[&str]) {
        self.starts += 1;
        let mut args: Vec<String> = vec![
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = spawn_logged("edge-controller", &args, &[], &self.log_path(), self.starts);
        self.child = Some(child);
    }

    /// Waits until `admin.conf` exists and `/readyz` answers 200 `ok`; panics with the log tail
    /// if the process exits or the deadline passes.
    fn wait_ready(&mut self) {
        let started = Instant::now();
        let url = self.url("/readyz");
        let mut last = String::from("(no answer yet)");
        while started.elapsed() < READY_TIMEOUT {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "edge-controller on port {} exited during startup with {status}\n--- log tail ---\n{}",
                    self.port,
                    self.log_tail(TAIL_LINES)
                );
            }
            if self.kubeconfig().is_file() {
                let reply = curl(&url, "GET", &ClientAuth::Anonymous, None, None);
                if reply.status == 200 && reply.body.trim() == "ok" {
                    return;
                }
                last = format!(
                    "HTTP {} {:?} {}",
                    reply.status, reply.body, reply.run.stderr
                );
            } else {
                last = format!("{} does not exist yet", self.kubeconfig().display());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "edge-controller on port {} not ready after {READY_TIMEOUT:?}; last probe: {last}\n--- log tail ---\n{}",
            self.port,
            self.log_tail(TAIL_LINES)
        );
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit; a controller that hangs or fails to exit cleanly
    /// fails the test.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_gracefully(child, "edge-controller", STOP_TIMEOUT, || {
                self.log_tail(TAIL_LINES)
            });
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.conf")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("controller.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }

    /// `edgectl --kubeconfig DIR/admin.conf ARGS...`.
    pub fn edgectl(&self, args: &[&str]) -> Run {
        self.edgectl_as(&self.kubeconfig(), args)
    }

    /// `edgectl` with another kubeconfig (a view user, say), aimed at this controller.
    pub fn edgectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let mut command = Command::new(binary("edgectl"));
        command.arg("--kubeconfig").arg(kubeconfig).args(args);
        run(command, None, CLIENT_TIMEOUT)
    }

    /// `edgectl ... ARGS` reading `stdin`.
    pub fn edgectl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = Command::new(binary("edgectl"));
        command
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args);
        run(command, Some(stdin.as_bytes()), CLIENT_TIMEOUT)
    }

    /// The real `kubectl --kubeconfig DIR/admin.conf ARGS...`, with a private discovery cache.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_env(args, &[])
    }

    /// `kubectl` with extra environment variables (`EDITOR` for `kubectl edit`).
    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(kubectl_binary());
        command
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.join("kubectl-cache"))
            .args(args)
            .env_remove("KUBECONFIG");
        for (key, value) in env {
            command.env(key, value);
        }
        run(command, None, CLIENT_TIMEOUT)
    }

    /// The admin credentials of `admin.conf` as PEM files, for `curl`.
    pub fn admin_credentials(&self) -> &KubeconfigCredentials {
        self.admin.get_or_init(|| {
            KubeconfigCredentials::extract(&self.kubeconfig(), &self.dir.join("e2e-admin"))
        })
    }

    /// An HTTPS request as the administrator, checking the server against the cluster CA.
    pub fn admin_request(&self, method: &str, path: &str, body: Option<&str>) -> HttpReply {
        let creds = self.admin_credentials();
        let auth = ClientAuth::Certificate {
            cert: creds.cert.clone(),
            key: creds.key.clone(),
        };
        curl(&self.url(path), method, &auth, Some(&creds.ca), body)
    }

    /// An HTTPS request with any credentials and no server verification (`curl -k`).
    pub fn request_insecure(&self, method: &str, path: &str, auth: &ClientAuth) -> HttpReply {
        curl(&self.url(path), method, auth, None, None)
    }

    /// `GET /metrics` as the administrator.
    pub fn metrics(&self) -> String {
        self.admin_request("GET", "/metrics", None)
            .expect_status(200)
            .body
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let was_running = self.child.is_some();
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "----- edge-e2e: log tail of the controller on port {} ({}; was {}) -----\n{}\n-----",
                self.port,
                self.log_path().display(),
                if was_running { "running" } else { "stopped" },
                self.log_tail(TAIL_LINES)
            );
        }
    }
}
