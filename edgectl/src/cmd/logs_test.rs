use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> LogsArgs {
    let argv = ["edgectl", "logs"].iter().chain(args).copied();
    match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Command::Logs(args)) => args,
        other => panic!("{args:?} did not parse as logs: {other:?}"),
    }
}

fn query(args: &[&str]) -> Result<LogRequest> {
    log_request(&parse(args))
}

fn pairs(list: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    list.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Command-line arguments, then the pod and the query they should ask for.
type QueryCase = (
    &'static [&'static str],
    &'static str,
    &'static [(&'static str, &'static str)],
);

#[test]
fn flags_become_the_log_query() {
    let cases: &[QueryCase] = &[
        (&["web"], "web", &[]),
        (&["pod/web"], "web", &[]),
        (&["pods/web", "-c", "app"], "web", &[("container", "app")]),
        (&["po/web", "app"], "web", &[("container", "app")]),
        (
            &["web", "-f", "-p", "--timestamps"],
            "web",
            &[
                ("follow", "true"),
                ("previous", "true"),
                ("timestamps", "true"),
            ],
        ),
        (&["web", "--tail", "20"], "web", &[("tailLines", "20")]),
        (&["web", "--tail=0"], "web", &[("tailLines", "0")]),
        (&["web", "--tail", "-1"], "web", &[]),
        (&["web", "--since", "2m"], "web", &[("sinceSeconds", "120")]),
        (
            &["web", "--since-time", "2024-01-02T15:04:05+01:00"],
            "web",
            &[("sinceTime", "2024-01-02T15:04:05+01:00")],
        ),
        (
            &["web", "--limit-bytes", "100"],
            "web",
            &[("limitBytes", "100")],
        ),
    ];
    for (args, pod, want) in cases {
        let request = query(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(request.pod, *pod, "{args:?}");
        assert_eq!(request.query, pairs(want), "{args:?}");
    }
}

#[test]
fn invalid_flags_are_refused_with_kubectls_messages() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["web", "--tail", "-2"],
            "--tail must be greater than or equal to -1",
        ),
        (
            &["web", "--limit-bytes=-1"],
            "--limit-bytes must be greater than 0",
        ),
        (
            &["web", "app", "-c", "app"],
            "only one of -c or an inline [CONTAINER] arg is allowed",
        ),
        (&["web", "--since=-5s"], "--since must be greater than 0"),
        (&["web", "--since", "5"], "invalid argument \"5\""),
        (&["web", "--since", "soon"], "invalid argument \"soon\""),
        (
            &[
                "web",
                "--since",
                "5s",
                "--since-time",
                "2024-01-02T15:04:05Z",
            ],
            "at most one of --since or --since-time",
        ),
        (
            &["web", "--since-time", "yesterday"],
            "invalid --since-time",
        ),
        (&["deployment/web"], "cannot get logs of deployment/web"),
        (&["pod/"], "must have a single resource and name"),
        (&["/web"], "must have a single resource and name"),
    ];
    for (args, want) in cases {
        let err = query(args).expect_err(&format!("{args:?} is invalid"));
        assert!(
            err.to_string().contains(want),
            "{args:?}: {err} does not contain {want:?}"
        );
    }
}

#[test]
fn since_rounds_up_to_whole_seconds() {
    let cases = [
        ("5s", Some(5)),
        ("2m", Some(120)),
        ("1h", Some(3600)),
        ("1h30m", Some(5400)),
        ("1500ms", Some(2)),
        ("0", None),
        ("0s", None),
    ];
    for (text, want) in cases {
        assert_eq!(since_seconds(text).expect(text), want, "{text}");
    }
}

#[test]
fn pod_names_and_paths() {
    assert_eq!(pod_name("web").expect("web"), PodName::Pod("web"));
    assert_eq!(pod_name("Pod/web").expect("Pod/web"), PodName::Pod("web"));
    assert_eq!(
        pod_name("svc/web").expect("svc/web"),
        PodName::Other("svc/web")
    );
    assert!(pod_name("").is_err());
    assert!(pod_name("pod/a/b").is_err());
    assert_eq!(
        pod_path("prod", "web", "log"),
        "/api/v1/namespaces/prod/pods/web/log"
    );
    assert_eq!(
        pod_path("prod", "web", ""),
        "/api/v1/namespaces/prod/pods/web"
    );
}
