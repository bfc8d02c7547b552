//! `patch TYPE NAME -p PATCH [--type merge|strategic|json]`.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;

use super::Session;
use super::get::{parse_resource_args, resolve_requests};
use crate::client::PatchType;
use crate::output;

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// TYPE NAME or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// The patch, as JSON or YAML.
    #[arg(short = 'p', long)]
    pub patch: String,
    /// The kind of patch.
    #[arg(long = "type", value_enum, default_value_t = Kind::Strategic)]
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Merge,
    Strategic,
    Json,
}

pub async fn run(session: &mut Session, args: PatchArgs) -> Result<()> {
    let patch: Value = serde_yaml_ng::from_str(&args.patch)
        .context("unable to parse the patch: it must be JSON or YAML")?;
    let patch_type = match args.kind {
        Kind::Merge => PatchType::Merge,
        Kind::Strategic => PatchType::Strategic,
        Kind::Json => PatchType::Json,
    };
    let requests = parse_resource_args(&args.resources)?;
    for (resource, names) in resolve_requests(session, &requests).await? {
        if names.is_empty() {
            bail!("resource(s) were provided, but no name was specified");
        }
        for name in names {
            let path = resource.path(Some(session.namespace()), Some(&name));
            let before = session.client.get(&path).await?;
            let after = session
                .client
                .patch(&path, patch_type, &patch, false)
                .await?;
            let changed = before.pointer("/metadata/resourceVersion")
                != after.pointer("/metadata/resourceVersion");
            let verb = if changed {
                "patched"
            } else {
                "patched (no change)"
            };
            output::println(&format!("{} {verb}", resource.object_ref(&name)))?;
        }
    }
    Ok(())
}
