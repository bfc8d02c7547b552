//! Tests of the workload generators: flags as kubectl parses them, objects as kubectl builds them.

use clap::Parser;
use serde_json::json;

use super::*;
use crate::cmd::create::{CreateArgs, Generator};
use crate::resources::object_ref_of;

fn parse(args: &[&str]) -> CreateArgs {
    let mut argv = vec!["edgectl", "create"];
    argv.extend_from_slice(args);
    match crate::cli::Cli::try_parse_from(argv)
        .expect("parses")
        .command
    {
        crate::cli::Command::Create(args) => args,
        other => panic!("expected create, got {other:?}"),
    }
}

fn deployment_args(args: &[&str]) -> DeploymentArgs {
    let mut argv = vec!["deployment"];
    argv.extend_from_slice(args);
    match parse(&argv).generator {
        Some(Generator::Deployment(args)) => args,
        other => panic!("expected a deployment generator, got {other:?}"),
    }
}

fn job_args(args: &[&str]) -> JobArgs {
    let mut argv = vec!["job"];
    argv.extend_from_slice(args);
    match parse(&argv).generator {
        Some(Generator::Job(args)) => args,
        other => panic!("expected a job generator, got {other:?}"),
    }
}

fn cronjob_args(args: &[&str]) -> CronJobArgs {
    let mut argv = vec!["cronjob"];
    argv.extend_from_slice(args);
    match parse(&argv).generator {
        Some(Generator::Cronjob(args)) => args,
        other => panic!("expected a cronjob generator, got {other:?}"),
    }
}

#[test]
fn container_names_from_images() {
    let cases = [
        ("nginx", "nginx"),
        ("nginx:1.25", "nginx"),
        ("ghcr.io/a/b:1.2", "b"),
        (
            "localhost:5000/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "x",
        ),
        ("localhost:5000/x", "x"),
        ("busybox@sha256:abcd", "busybox"),
        ("registry.local:5000/team/web_app:v2", "web-app-zz9zz"),
        ("quay.io/org/my.tool", "my-tool-zz9zz"),
    ];
    for (image, want) in cases {
        assert_eq!(container_name(image, "zz9zz"), want, "{image}");
    }
}

#[test]
fn random_suffixes_use_kubectls_alphabet() {
    for _ in 0..20 {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5, "{suffix}");
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{suffix}"
        );
    }
}

#[test]
fn deployments() {
    struct Case {
        name: &'static str,
        args: &'static [&'static str],
        want_replicas: u32,
        want_containers: Value,
    }
    let cases = [
        Case {
            name: "one image",
            args: &["web", "--image=nginx"],
            want_replicas: 1,
            want_containers: json!([{"name": "nginx", "image": "nginx", "resources": {}}]),
        },
        Case {
            name: "port goes on the first container only",
            args: &[
                "web",
                "--image=ghcr.io/a/b:1.2",
                "--image=redis",
                "--replicas=3",
                "--port=8080",
            ],
            want_replicas: 3,
            want_containers: json!([
                {"name": "b", "image": "ghcr.io/a/b:1.2", "resources": {}, "ports": [{"containerPort": 8080}]},
                {"name": "redis", "image": "redis", "resources": {}},
            ]),
        },
        Case {
            name: "command after --",
            args: &["web", "--image=busybox", "--", "sleep", "3600"],
            want_replicas: 1,
            want_containers: json!([{"name": "busybox", "image": "busybox", "resources": {}, "command": ["sleep", "3600"]}]),
        },
    ];
    for case in cases {
        let object = deployment(&deployment_args(case.args), "zz9zz").expect(case.name);
        assert_eq!(
            object_ref_of(&object),
            "deployment.apps/web",
            "{}",
            case.name
        );
        assert_eq!(
            object["metadata"]["labels"],
            json!({"app": "web"}),
            "{}",
            case.name
        );
        assert_eq!(
            object["spec"]["selector"],
            json!({"matchLabels": {"app": "web"}}),
            "{}",
            case.name
        );
        assert_eq!(
            object["spec"]["template"]["metadata"]["labels"],
            json!({"app": "web"}),
            "{}",
            case.name
        );
        assert_eq!(
            object["spec"]["replicas"], case.want_replicas,
            "{}",
            case.name
        );
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"], case.want_containers,
            "{}",
            case.name
        );
    }
}

#[test]
fn deployment_refuses_a_command_with_several_images() {
    let args = deployment_args(&["web", "--image=a", "--image=b", "--", "sh"]);
    let err = deployment(&args, "zz9zz").expect_err("kubectl refuses this");
    assert_eq!(
        err.to_string(),
        "cannot specify multiple --image options and command"
    );
    assert!(crate::cli::Cli::try_parse_from(["edgectl", "create", "deployment", "web"]).is_err());
}

#[test]
fn jobs_from_images() {
    let args = job_args(&["once", "--image=busybox", "--", "echo", "hi"]);
    check_job_args(&args).expect("valid flags");
    let object = job(
        &args.name,
        args.image.as_deref().expect("image"),
        &args.command,
    );
    assert_eq!(
        object,
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
               "spec": {"template": {"metadata": {}, "spec": {
                   "containers": [{"name": "once", "image": "busybox", "resources": {}, "command": ["echo", "hi"]}],
                   "restartPolicy": "Never"}}}})
    );
    assert_eq!(object_ref_of(&object), "job.batch/once");
}

#[test]
fn job_flag_combinations() {
    let cases: [(&[&str], Option<&str>); 5] = [
        (&["j", "--image=busybox"], None),
        (&["j", "--from=cronjob/nightly"], None),
        (&["j"], Some("either --image or --from must be specified")),
        (
            &["j", "--image=busybox", "--from=cronjob/nightly"],
            Some("either --image or --from must be specified"),
        ),
        (
            &["j", "--from=cronjob/nightly", "--", "sh"],
            Some("cannot specify --from and command"),
        ),
    ];
    for (argv, want) in cases {
        let got = check_job_args(&job_args(argv)).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), want, "{argv:?}");
    }
}

#[test]
fn jobs_from_cronjobs() {
    let cronjob = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "ops", "uid": "cj-uid-1"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {
            "metadata": {"labels": {"team": "ops"}, "annotations": {"note": "kept"}},
            "spec": {"backoffLimit": 2, "template": {"spec": {
                "containers": [{"name": "nightly", "image": "busybox"}],
                "restartPolicy": "OnFailure"}}}}}
    });
    let object = job_from_cronjob("nightly-manual", &cronjob);
    assert_eq!(
        object,
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {
                   "name": "nightly-manual",
                   "annotations": {"cronjob.kubernetes.io/instantiate": "manual", "note": "kept"},
                   "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
                                        "uid": "cj-uid-1", "controller": true}],
                   "labels": {"team": "ops"}},
               "spec": cronjob["spec"]["jobTemplate"]["spec"]})
    );
    // A template without metadata gives a job with only kubectl's annotation and no labels.
    let bare =
        json!({"metadata": {"name": "c", "uid": "u"}, "spec": {"jobTemplate": {"spec": {}}}});
    let object = job_from_cronjob("j", &bare);
    assert_eq!(
        object["metadata"]["annotations"],
        json!({INSTANTIATE_ANNOTATION: "manual"})
    );
    assert!(object["metadata"].get("labels").is_none());
    assert_eq!(object["spec"], json!({}));
}

#[test]
fn cronjobs() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["nightly", "--image=busybox", "--schedule=*/1 * * * *"],
            "OnFailure",
        ),
        (
            &[
                "nightly",
                "--image=busybox",
                "--schedule",
                "*/1 * * * *",
                "--restart=Never",
            ],
            "Never",
        ),
        (
            &[
                "nightly",
                "--image=busybox",
                "--schedule=*/1 * * * *",
                "--restart",
                "OnFailure",
            ],
            "OnFailure",
        ),
    ];
    for (argv, want_restart) in cases {
        let object = cronjob(&cronjob_args(argv));
        assert_eq!(object_ref_of(&object), "cronjob.batch/nightly", "{argv:?}");
        assert_eq!(object["spec"]["schedule"], "*/1 * * * *", "{argv:?}");
        assert_eq!(object["spec"]["jobTemplate"]["metadata"]["name"], "nightly");
        let pod = &object["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], want_restart, "{argv:?}");
        assert_eq!(
            pod["containers"],
            json!([{"name": "nightly", "image": "busybox", "resources": {}}])
        );
    }
    let object = cronjob(&cronjob_args(&[
        "c",
        "--image=busybox",
        "--schedule=@hourly",
        "--",
        "date",
    ]));
    assert_eq!(
        object["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"],
        json!(["date"])
    );
    assert!(
        crate::cli::Cli::try_parse_from([
            "edgectl",
            "create",
            "cronjob",
            "c",
            "--image=x",
            "--schedule=@daily",
            "--restart=Always",
        ])
        .is_err(),
        "cron jobs may not restart Always"
    );
}

#[test]
fn generators_share_the_create_flags() {
    let args = parse(&[
        "deployment",
        "web",
        "--image=nginx",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert_eq!(args.dry_run, crate::cli::DryRun::Client);
    assert_eq!(args.output.as_deref(), Some("yaml"));
    let args = parse(&[
        "job",
        "j",
        "--from=cronjob/c",
        "--dry-run=server",
        "-o",
        "name",
    ]);
    assert_eq!(args.dry_run, crate::cli::DryRun::Server);
    let object = crate::cmd::create::generate(
        parse(&["cj", "c", "--image=busybox", "--schedule=@daily"])
            .generator
            .expect("generator"),
    )
    .expect("builds");
    assert_eq!(object_ref_of(&object), "cronjob.batch/c");
}
