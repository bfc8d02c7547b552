//! `scale`: sets `spec.replicas` through the scale subresource.

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use super::Session;
use super::get::{parse_resource_args, resolve_requests};
use crate::client::PatchType;
use crate::output;

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// TYPE NAME or TYPE/NAME.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// The new number of replicas.
    #[arg(long, required = true)]
    pub replicas: u32,
}

pub async fn run(session: &mut Session, args: ScaleArgs) -> Result<()> {
    let requests = parse_resource_args(&args.resources)?;
    let patch = json!({"spec": {"replicas": args.replicas}});
    for (resource, names) in resolve_requests(session, &requests).await? {
        if !resource.has_scale {
            bail!(
                "cannot scale {}: the resource has no scale subresource",
                resource.qualified_plural()
            );
        }
        if names.is_empty() {
            bail!("resource(s) were provided, but no name was specified");
        }
        for name in names {
            let path = format!(
                "{}/scale",
                resource.path(Some(session.namespace()), Some(&name))
            );
            session
                .client
                .patch(&path, PatchType::Merge, &patch, false)
                .await?;
            output::println(&format!("{} scaled", resource.object_ref(&name)))?;
        }
    }
    Ok(())
}
