//! Tests of the drain flags and the requests' options.

use std::time::Duration;

use clap::Parser;
use serde_json::json;

use super::*;

fn parse(args: &[&str]) -> crate::cli::Command {
    let mut argv = vec!["edgectl"];
    argv.extend_from_slice(args);
    crate::cli::Cli::try_parse_from(argv)
        .expect("parses")
        .command
}

#[test]
fn drain_flags() {
    let crate::cli::Command::Drain(args) = parse(&["drain", "edge-1"]) else {
        panic!("expected drain");
    };
    assert_eq!(args.nodes, ["edge-1"]);
    assert_eq!(args.grace_period, -1);
    assert_eq!(args.timeout, Duration::ZERO);
    assert_eq!(args.dry_run, DryRun::None);
    assert!(!args.force && !args.ignore_daemonsets && !args.delete_emptydir_data);
    assert!(!args.disable_eviction);
    let crate::cli::Command::Drain(args) = parse(&[
        "drain",
        "edge-1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=90s",
        "--grace-period=0",
        "--dry-run=server",
        "--disable-eviction",
    ]) else {
        panic!("expected drain");
    };
    assert!(args.force && args.ignore_daemonsets && args.delete_emptydir_data);
    assert!(args.disable_eviction);
    assert_eq!(args.timeout, Duration::from_secs(90));
    assert_eq!(args.grace_period, 0);
    assert_eq!(args.dry_run, DryRun::Server);
    let crate::cli::Command::Drain(args) = parse(&["drain", "n", "--dry-run", "--timeout", "2m"])
    else {
        panic!("expected drain");
    };
    assert_eq!(args.dry_run, DryRun::Client);
    assert_eq!(args.timeout, Duration::from_secs(120));
    let crate::cli::Command::Uncordon(args) = parse(&["uncordon", "edge-2", "--dry-run=client"])
    else {
        panic!("expected uncordon");
    };
    assert_eq!(args.nodes, ["edge-2"]);
    assert_eq!(args.dry_run, DryRun::Client);
    assert!(crate::cli::Cli::try_parse_from(["edgectl", "cordon"]).is_err());
    assert!(crate::cli::Cli::try_parse_from(["edgectl", "drain", "n", "--timeout=soon"]).is_err());
}

#[test]
fn timeouts() {
    assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
    assert_eq!(parse_timeout("45"), Ok(Duration::from_secs(45)));
    assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(
        parse_timeout("soon"),
        Err("time: invalid duration \"soon\"".to_string())
    );
}

#[test]
fn delete_options_carry_grace_and_dry_run() {
    let crate::cli::Command::Drain(args) = parse(&["drain", "n"]) else {
        panic!("expected drain");
    };
    assert_eq!(
        delete_options(&args),
        json!({"kind": "DeleteOptions", "apiVersion": "v1"})
    );
    let crate::cli::Command::Drain(args) =
        parse(&["drain", "n", "--grace-period=5", "--dry-run=server"])
    else {
        panic!("expected drain");
    };
    assert_eq!(
        delete_options(&args),
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5, "dryRun": ["All"]})
    );
}
