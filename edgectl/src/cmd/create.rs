//! `create -f` and the generators: namespace, configmap, secret generic, deployment, job, cronjob.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::apply::in_context;
use super::{AlreadyReported, Session};
use crate::cli::DryRun;
use crate::manifests::{object_namespace, read_objects};
use crate::output::{self, OutputFormat};
use crate::resources::object_ref_of;

mod data;
mod workloads;

pub use data::{DataSources, collect_data};

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub generator: Option<Generator>,
    /// Files, directories or - for standard input.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// Process directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Only print what would be created: `client` sends nothing, `server` asks the server to dry-run.
    #[arg(long, global = true, value_enum, default_value_t = DryRun::None, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: DryRun,
    /// Print the created object: json, yaml, name, jsonpath=TEMPLATE.
    #[arg(short = 'o', long, global = true)]
    pub output: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Generator {
    /// Create a namespace.
    #[command(alias = "ns")]
    Namespace { name: String },
    /// Create a config map from literal values and files.
    #[command(alias = "cm")]
    Configmap {
        name: String,
        #[command(flatten)]
        sources: DataSources,
    },
    /// Create a secret.
    #[command(subcommand)]
    Secret(SecretGenerator),
    /// Create a deployment running the given images.
    #[command(alias = "deploy")]
    Deployment(workloads::DeploymentArgs),
    /// Create a job running an image, with an optional command after --, or from a cron job.
    Job(workloads::JobArgs),
    /// Create a cron job running an image on a schedule, with an optional command after --.
    #[command(alias = "cj")]
    Cronjob(workloads::CronJobArgs),
}

#[derive(Debug, Subcommand)]
pub enum SecretGenerator {
    /// Create a secret from literal values and files.
    Generic {
        name: String,
        #[command(flatten)]
        sources: DataSources,
        /// The secret type.
        #[arg(long = "type", default_value = "Opaque")]
        secret_type: String,
    },
}

pub async fn run(session: &mut Session, args: CreateArgs) -> Result<()> {
    let format = args
        .output
        .as_deref()
        .map(|o| OutputFormat::parse(Some(o)))
        .transpose()?;
    if matches!(format, Some(OutputFormat::Table | OutputFormat::Wide)) {
        bail!(
            "unable to match a printer suitable for the output format \"wide\", allowed formats are: json,jsonpath,name,yaml"
        );
    }
    match args.generator {
        Some(generator) => {
            if !args.filenames.is_empty() {
                bail!("cannot use -f together with a generator");
            }
            let object = match generator {
                Generator::Job(args) => workloads::job_object(session, &args).await?,
                generator => generate(generator)?,
            };
            create_object(session, object, "", args.dry_run, format.as_ref()).await
        }
        None => {
            let mut failed = false;
            for sourced in read_objects(&args.filenames, args.recursive)? {
                if let Err(err) = create_object(
                    session,
                    sourced.object,
                    &sourced.source,
                    args.dry_run,
                    format.as_ref(),
                )
                .await
                {
                    failed = true;
                    super::report_and_continue(&err);
                }
            }
            if failed {
                Err(AlreadyReported.into())
            } else {
                Ok(())
            }
        }
    }
}

async fn create_object(
    session: &mut Session,
    mut object: Value,
    source: &str,
    dry_run: DryRun,
    format: Option<&OutputFormat>,
) -> Result<()> {
    let resource = session.resolver.for_object(&object).await?;
    let namespace = if resource.namespaced {
        let ns = object_namespace(&object, session.namespace(), session.namespace_explicit())?;
        object["metadata"]["namespace"] = json!(ns);
        Some(ns)
    } else {
        None
    };
    let created = if dry_run == DryRun::Client {
        object
    } else {
        let path = resource.path(namespace.as_deref(), None);
        let source = if source.is_empty() { "STDIN" } else { source };
        session
            .client
            .create(&path, &object, dry_run == DryRun::Server)
            .await
            .map_err(|e| in_context(e, "creating", source))?
    };
    match format {
        Some(format) => output::print_objects(format, vec![created], true),
        None => output::println(&format!(
            "{} created{}",
            object_ref_of(&created),
            dry_run.suffix()
        )),
    }
}

/// Builds the object a generator describes.
pub fn generate(generator: Generator) -> Result<Value> {
    Ok(match generator {
        Generator::Namespace { name } => {
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        }
        Generator::Configmap { name, sources } => {
            let data = collect_data(&sources)?;
            let mut object =
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
            let mut text = serde_json::Map::new();
            let mut binary_data = serde_json::Map::new();
            for (key, bytes) in data {
                match String::from_utf8(bytes) {
                    Ok(s) => text.insert(key, json!(s)),
                    Err(e) => binary_data.insert(key, json!(base64_encode(e.as_bytes()))),
                };
            }
            if !text.is_empty() {
                object["data"] = Value::Object(text);
            }
            if !binary_data.is_empty() {
                object["binaryData"] = Value::Object(binary_data);
            }
            object
        }
        Generator::Secret(SecretGenerator::Generic {
            name,
            sources,
            secret_type,
        }) => {
            let encoded: serde_json::Map<String, Value> = collect_data(&sources)?
                .into_iter()
                .map(|(k, v)| (k, json!(base64_encode(&v))))
                .collect();
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": secret_type, "data": encoded})
        }
        Generator::Deployment(args) => workloads::deployment(&args, &workloads::random_suffix())?,
        Generator::Job(args) => {
            workloads::check_job_args(&args)?;
            // A job `--from` a cron job needs the server, so `run` builds that one itself.
            match &args.image {
                Some(image) => workloads::job(&args.name, image, &args.command),
                None => bail!("from must be an existing cronjob"),
            }
        }
        Generator::Cronjob(args) => workloads::cronjob(&args),
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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

    #[test]
    fn configmap_and_secret_generators() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.conf");
        std::fs::write(&file, "x=1\n").expect("write");
        let from_file = format!("--from-file={}", file.display());
        let args = parse(&[
            "configmap",
            "cfg",
            "--from-literal=a=b",
            &from_file,
            "--dry-run=client",
            "-o",
            "yaml",
        ]);
        assert_eq!(args.dry_run, DryRun::Client);
        let cm = generate(args.generator.expect("generator")).expect("builds");
        assert_eq!(cm["data"], json!({"a": "b", "app.conf": "x=1\n"}));
        let args = parse(&["secret", "generic", "s", "--from-literal=password=hunter2"]);
        let secret = generate(args.generator.expect("generator")).expect("builds");
        assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
        assert_eq!(secret["type"], "Opaque");
    }
}
