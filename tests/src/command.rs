//! Running a command with a time limit and checking its outcome with useful panic messages.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The outcome of one command: what ran, its exit code (`None` when killed) and its output.
#[derive(Debug, Clone)]
pub struct Run {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything about the run, for panic messages.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    /// Panics unless the command exited 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success\n{}", self.report());
        self
    }

    /// Panics unless the command failed with exit code 1 and said why on stderr.
    #[track_caller]
    pub fn failure(self) -> Self {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit code 1\n{}",
            self.report()
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "expected an error message on stderr\n{}",
            self.report()
        );
        self
    }

    /// Panics unless stdout contains every one of `needles`.
    #[track_caller]
    pub fn stdout_has(self, needles: &[&str]) -> Self {
        for needle in needles {
            assert!(
                self.stdout.contains(needle),
                "expected {needle:?} in stdout\n{}",
                self.report()
            );
        }
        self
    }

    /// Panics unless stderr contains `needle`, ignoring ASCII case.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase()),
            "expected {needle:?} in stderr\n{}",
            self.report()
        );
        self
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        match serde_json::from_str(&self.stdout) {
            Ok(value) => value,
            Err(err) => panic!("stdout is not JSON: {err}\n{}", self.report()),
        }
    }

    /// The non-empty lines of stdout, trimmed.
    pub fn lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Runs `command` with `stdin` (or none) and kills it after `timeout`, so that a hung server
/// fails a test instead of hanging the suite.
pub fn run(mut command: Command, stdin: Option<&[u8]>, timeout: Duration) -> Run {
    let description = describe(&command);
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot start {description}: {err}"),
    };
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(bytes)) => {
            let bytes = bytes.to_vec();
            // A command that exits without reading its input makes this fail; that is fine.
            Some(thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(err) => panic!("cannot wait for {description}: {err}"),
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let collect = |reader: Option<thread::JoinHandle<Vec<u8>>>| {
        reader
            .and_then(|handle| handle.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    let stdout = collect(stdout);
    let mut stderr = collect(stderr);
    if timed_out {
        stderr.push_str(&format!("\n[edge-e2e: killed after {timeout:?}]"));
    }
    Run {
        command: description,
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout,
        stderr,
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    let mut words = vec![program];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

/// The last `lines` lines of a log file (lossy UTF-8), or why it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// SIGTERM to `child`, then waits up to `timeout` for a clean exit. A process that exits with
/// an error or hangs fails the test, with `log_tail()` in the message; a hung one is killed.
pub fn stop_gracefully(
    mut child: std::process::Child,
    what: &str,
    timeout: Duration,
    log_tail: impl Fn() -> String,
) {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(
        matches!(term, Ok(status) if status.success()),
        "cannot send SIGTERM to {what} ({}): {term:?}",
        child.id()
    );
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                assert!(
                    status.success(),
                    "{what} exited with {status} after SIGTERM\n--- log tail ---\n{}",
                    log_tail()
                );
                return;
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} did not exit within {timeout:?} of SIGTERM\n--- log tail ---\n{}",
                    log_tail()
                );
            }
        }
    }
}

/// Starts the workspace binary `name` with `args` and `env`, stdout and stderr appended to
/// `log_path` after a header line naming start number `start`. Plain log lines (`NO_COLOR`):
/// the log's tail ends up in test reports.
pub fn spawn_logged(
    name: &str,
    args: &[String],
    env: &[(&str, &str)],
    log_path: &Path,
    start: u32,
) -> std::process::Child {
    let mut log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", log_path.display()));
    let _ = writeln!(
        log,
        "===== edge-e2e: start #{start}: {name} {} =====",
        args.join(" ")
    );
    let stderr = log
        .try_clone()
        .unwrap_or_else(|err| panic!("cannot duplicate the log handle: {err}"));
    Command::new(crate::binaries::binary(name))
        .args(args)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {name}: {err}"))
}
