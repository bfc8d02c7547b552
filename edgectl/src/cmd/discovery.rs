//! `api-resources` and `api-versions`, from the server's discovery documents.

use anyhow::Result;
use clap::Args;

use super::Session;
use crate::output;
use crate::resources::ResourceType;
use crate::tabwriter::TabWriter;

#[derive(Debug, Args)]
pub struct ApiResourcesArgs {
    /// Only namespaced (true) or only cluster-scoped (false) resources.
    #[arg(long)]
    pub namespaced: Option<bool>,
    /// Only resources of this API group ("" for the core group).
    #[arg(long)]
    pub api_group: Option<String>,
    /// Do not print headers.
    #[arg(long)]
    pub no_headers: bool,
    /// Output format: `name` prints `plural.group` only.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

pub async fn api_resources(session: &mut Session, args: ApiResourcesArgs) -> Result<()> {
    let mut types = crate::discovery::resource_types(&session.client).await?;
    types.retain(|t| {
        args.namespaced.is_none_or(|n| n == t.namespaced)
            && args.api_group.as_ref().is_none_or(|g| *g == t.group)
    });
    types.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
    let text = match args.output.as_deref() {
        Some("name") => types
            .iter()
            .map(|t| format!("{}\n", t.qualified_plural()))
            .collect(),
        Some(other) => {
            anyhow::bail!("--output {other} is not available for api-resources; use name")
        }
        None => resources_table(&types, args.no_headers),
    };
    output::print(&text)
}

/// NAME SHORTNAMES APIVERSION NAMESPACED KIND, as kubectl prints it.
pub fn resources_table(types: &[ResourceType], no_headers: bool) -> String {
    let mut table = TabWriter::new(6, 3);
    if !no_headers {
        table.write("NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND");
    }
    for t in types {
        table.row(vec![
            t.plural.clone(),
            t.short_names.join(","),
            t.api_version(),
            t.namespaced.to_string(),
            t.kind.clone(),
        ]);
    }
    table.render()
}

pub async fn api_versions(session: &mut Session) -> Result<()> {
    let mut versions = crate::discovery::group_versions(&session.client).await?;
    versions.sort();
    versions.dedup();
    output::print(
        &versions
            .iter()
            .map(|v| format!("{v}\n"))
            .collect::<String>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout() {
        let types: Vec<ResourceType> = ["pods", "deploy"]
            .iter()
            .map(|n| ResourceType::from(edge_api::resource::resolve(n).expect("served")))
            .collect();
        let text = resources_table(&types, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME          SHORTNAMES   APIVERSION   NAMESPACED   KIND"
        );
        assert_eq!(
            lines[1],
            "pods          po           v1           true         Pod"
        );
        assert_eq!(
            lines[2],
            "deployments   deploy       apps/v1      true         Deployment"
        );
    }
}
