//! The workload generators of `create`: deployment, job (from an image or from a cron job) and cronjob.
//!
//! The objects are built by pure functions shaped like kubectl's generators, so the same flags
//! give the same objects; only `create job --from` reads the server, to copy the cron job.

use std::hash::{BuildHasher, Hasher};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

use crate::cmd::Session;

/// The annotation kubectl puts on a job made by hand from a cron job.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

#[derive(Debug, Args)]
pub struct DeploymentArgs {
    pub name: String,
    /// Image(s) to run; each becomes a container named after the image.
    #[arg(long, required = true)]
    pub image: Vec<String>,
    /// Number of replicas to create.
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// The port the (first) container exposes.
    #[arg(long)]
    pub port: Option<u16>,
    /// The command to run instead of the image's entrypoint (after --).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct JobArgs {
    pub name: String,
    /// Image to run.
    #[arg(long)]
    pub image: Option<String>,
    /// The cron job to create the job from, as cronjob/NAME.
    #[arg(long)]
    pub from: Option<String>,
    /// The command to run instead of the image's entrypoint (after --).
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CronJobArgs {
    pub name: String,
    /// Image to run.
    #[arg(long, required = true)]
    pub image: String,
    /// A cron schedule, e.g. "*/5 * * * *".
    #[arg(long, required = true)]
    pub schedule: String,
    /// The jobs' restart policy.
    #[arg(long, value_enum, default_value_t = RestartPolicy::OnFailure)]
    pub restart: RestartPolicy,
    /// The command to run instead of the image's entrypoint (after --).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// The restart policies a job's pods may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestartPolicy {
    #[value(name = "OnFailure")]
    OnFailure,
    #[value(name = "Never")]
    Never,
}

impl RestartPolicy {
    fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// kubectl's `create deployment`: labels and selector `app=NAME`, one container per image named
/// after it, the command on every container and the port on the first.
pub fn deployment(args: &DeploymentArgs, uniquifier: &str) -> Result<Value> {
    if args.image.len() > 1 && !args.command.is_empty() {
        bail!("cannot specify multiple --image options and command");
    }
    let mut containers: Vec<Value> = args
        .image
        .iter()
        .map(|image| container(&container_name(image, uniquifier), image, &args.command))
        .collect();
    if let (Some(port), Some(first)) = (args.port, containers.first_mut()) {
        first["ports"] = json!([{"containerPort": port}]);
    }
    let name = &args.name;
    Ok(json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"replicas": args.replicas, "selector": {"matchLabels": {"app": name}}, "strategy": {},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}}))
}

/// kubectl's `create job --image`: one container named after the job, never restarted.
pub fn job(name: &str, image: &str, command: &[String]) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"template": {"metadata": {}, "spec": {
               "containers": [container(name, image, command)], "restartPolicy": "Never"}}}})
}

/// kubectl's `create job --from=cronjob/NAME`: the cron job's job template, annotated as a manual
/// run and owned by the cron job (a controller reference without `blockOwnerDeletion`, as kubectl
/// sets it).
pub fn job_from_cronjob(name: &str, cronjob: &Value) -> Value {
    let template = cronjob.pointer("/spec/jobTemplate");
    let mut annotations = Map::new();
    annotations.insert(INSTANTIATE_ANNOTATION.to_string(), json!("manual"));
    if let Some(Value::Object(from_template)) =
        template.and_then(|t| t.pointer("/metadata/annotations"))
    {
        annotations.extend(from_template.clone());
    }
    let meta = |pointer: &str| cronjob.pointer(pointer).cloned().unwrap_or(json!(""));
    let mut metadata = json!({
        "name": name,
        "annotations": annotations,
        "ownerReferences": [{
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": meta("/metadata/name"),
            "uid": meta("/metadata/uid"),
            "controller": true,
        }],
    });
    if let Some(labels @ Value::Object(_)) = template.and_then(|t| t.pointer("/metadata/labels")) {
        metadata["labels"] = labels.clone();
    }
    let spec = template
        .and_then(|t| t.get("spec"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec})
}

/// kubectl's `create cronjob`: one container named after the cron job, in a template named after it.
pub fn cronjob(args: &CronJobArgs) -> Value {
    let name = &args.name;
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
           "spec": {"schedule": args.schedule, "jobTemplate": {"metadata": {"name": name}, "spec": {"template": {
               "metadata": {}, "spec": {"containers": [container(name, &args.image, &args.command)],
                                        "restartPolicy": args.restart.as_str()}}}}}})
}

fn container(name: &str, image: &str, command: &[String]) -> Value {
    let mut container = json!({"name": name, "image": image, "resources": {}});
    if !command.is_empty() {
        container["command"] = json!(command);
    }
    container
}

/// The container name kubectl derives from an image: the last path element without tag or
/// digest (`ghcr.io/a/b:1.2` → `b`, `localhost:5000/x@sha256:…` → `x`). A name with `_` or `.`
/// has them turned into `-` and gets `-UNIQUIFIER` appended, so two images that sanitise alike
/// still get distinct names.
pub fn container_name(image: &str, uniquifier: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let name = last.split(':').next().unwrap_or(last);
    let name = name.split('@').next().unwrap_or(name);
    if name.contains(['_', '.']) {
        format!("{}-{uniquifier}", name.replace(['_', '.'], "-"))
    } else {
        name.to_string()
    }
}

/// Five random characters from kubectl's alphabet (no vowels, no look-alike digits).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let mut bits = hasher.finish();
    (0..5)
        .map(|_| {
            let index = (bits % ALPHABET.len() as u64) as usize;
            bits /= ALPHABET.len() as u64;
            char::from(ALPHABET[index])
        })
        .collect()
}

/// Checks the `create job` flags as kubectl does: exactly one of `--image` and `--from`, and
/// no command with `--from`.
pub fn check_job_args(args: &JobArgs) -> Result<()> {
    if args.image.is_some() == args.from.is_some() {
        bail!("either --image or --from must be specified");
    }
    if args.from.is_some() && !args.command.is_empty() {
        bail!("cannot specify --from and command");
    }
    Ok(())
}

/// The job `create job` makes; `--from` reads the cron job in the session's namespace.
pub async fn job_object(session: &mut Session, args: &JobArgs) -> Result<Value> {
    check_job_args(args)?;
    match (&args.image, &args.from) {
        (Some(image), _) => Ok(job(&args.name, image, &args.command)),
        (None, Some(from)) => {
            let Some((type_name, name)) = from
                .split_once('/')
                .filter(|(t, n)| !t.is_empty() && !n.is_empty() && !n.contains('/'))
            else {
                bail!("from must be an existing cronjob");
            };
            let resource = session.resolver.resolve(type_name).await?;
            if resource.kind != "CronJob" {
                bail!(
                    "unknown object type {}, --from supports only cronjob",
                    resource.display_kind()
                );
            }
            let path = resource.path(Some(session.namespace()), Some(name));
            let cronjob = session.client.get(&path).await?;
            Ok(job_from_cronjob(&args.name, &cronjob))
        }
        (None, None) => bail!("either --image or --from must be specified"),
    }
}

#[cfg(test)]
#[path = "workloads_test.rs"]
mod tests;
