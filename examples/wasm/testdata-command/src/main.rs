//! testdata-command: a command the agent's tests drive through its first argument.
//!
//! - `spin`: loops forever without calling the host (CPU limits, stop).
//! - `sleep`: blocks in a host call forever (stop while in the host).
//! - `oom`: allocates 1 MiB blocks until the memory limit ends it.
//! - `exit N`: exits with code N.
//! - `echo`: prints its arguments, environment, configuration and volume, and output that
//!   ends without a newline (logs).
//! - `connect ADDR`: tries a TCP connection (network policy).
//! - `flaky FILE N`: counts its runs in FILE and fails the first N of them (Job retries).
//! - `stamp FILE`: appends `$HOSTNAME` to FILE, then blocks forever (StatefulSet storage).

use std::hint::black_box;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("spin") => spin(),
        Some("sleep") => std::thread::sleep(std::time::Duration::from_secs(24 * 3600)),
        Some("oom") => oom(),
        Some("exit") => {
            let code = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1);
            edgeplane_guest::cli::exit(code)
        }
        Some("echo") => echo(&args),
        Some("flaky") => flaky(
            args.get(2).map_or("/data/runs", String::as_str),
            args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1),
        ),
        Some("stamp") => stamp(args.get(2).map_or("/data/stamps", String::as_str)),
        Some("connect") => connect(args.get(2).map(String::as_str).unwrap_or("127.0.0.1:9")),
        other => {
            eprintln!("testdata-command: unknown mode {other:?}");
            edgeplane_guest::cli::exit(64)
        }
    }
}

fn spin() {
    let mut x: u64 = 1;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn oom() {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![1u8; 1 << 20]);
        println!("holding {} MiB", blocks.len());
    }
}

fn echo(args: &[String]) {
    println!("args: {}", args.join(" "));
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    env.sort();
    println!("env: {}", env.join(" "));
    let mut config = edgeplane_guest::config::get_all().unwrap_or_default();
    config.sort();
    let config: Vec<String> = config
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("config: {}", config.join(" "));
    match std::fs::read_to_string("/data/input.txt") {
        Ok(text) => println!("volume: {}", text.trim()),
        Err(e) => println!("volume: {e}"),
    }
    match std::fs::write("/data/output.txt", "written by the guest\n") {
        Ok(()) => println!("volume write: ok"),
        Err(e) => println!("volume write: {e}"),
    }
    eprintln!("to stderr");
    print!("no newline at the end");
    let _ = std::io::stdout().flush();
}

fn flaky(path: &str, failures: u32) {
    let runs: u32 = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
        + 1;
    if let Err(e) = std::fs::write(path, runs.to_string()) {
        eprintln!("flaky: cannot record the run in {path}: {e}");
        edgeplane_guest::cli::exit(2)
    }
    if runs <= failures {
        println!("run {runs}: failing");
        edgeplane_guest::cli::exit(1)
    }
    println!("run {runs}: done");
}

fn stamp(path: &str) {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| writeln!(file, "{host}"));
    if let Err(e) = written {
        eprintln!("stamp: cannot write {path}: {e}");
        edgeplane_guest::cli::exit(2)
    }
    println!("stamped {host} in {path}");
    std::thread::sleep(std::time::Duration::from_secs(24 * 3600));
}

fn connect(addr: &str) {
    match std::net::TcpStream::connect(addr) {
        Ok(_) => println!("connect: ok"),
        Err(e) => println!("connect: {e}"),
    }
}
