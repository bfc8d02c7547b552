//! `config view|current-context|use-context|get-contexts`: reading and switching kubeconfig contexts.

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use edge_wire::kubeconfig::Kubeconfig;

use crate::cli::GlobalArgs;
use crate::config::kubeconfig_path;
use crate::output;
use crate::tabwriter::TabWriter;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Display the kubeconfig, with credentials hidden unless --raw.
    View {
        /// Show certificates, keys and tokens.
        #[arg(long)]
        raw: bool,
        /// Only the current context and what it references.
        #[arg(long)]
        minify: bool,
    },
    /// Display the current context.
    CurrentContext,
    /// Set the current context.
    UseContext { name: String },
    /// List the contexts.
    GetContexts {
        /// Print only the names.
        #[arg(short = 'o', long)]
        output: Option<String>,
    },
}

pub fn run(global: &GlobalArgs, command: ConfigCommand) -> Result<()> {
    let path = kubeconfig_path(global.kubeconfig.as_deref());
    let mut kubeconfig = Kubeconfig::load(&path)
        .with_context(|| format!("cannot load kubeconfig {}", path.display()))?;
    match command {
        ConfigCommand::View { raw, minify } => {
            if minify {
                kubeconfig = minified(kubeconfig, global.context.as_deref())?;
            }
            if !raw {
                redact(&mut kubeconfig);
            }
            output::print(&kubeconfig.to_yaml())
        }
        ConfigCommand::CurrentContext => {
            if kubeconfig.current_context.is_empty() {
                bail!("current-context is not set");
            }
            output::println(&kubeconfig.current_context)
        }
        ConfigCommand::UseContext { name } => {
            if !kubeconfig.contexts.iter().any(|c| c.name == name) {
                bail!("no context exists with the name: \"{name}\"");
            }
            kubeconfig.current_context = name.clone();
            kubeconfig
                .save(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            output::println(&format!("Switched to context \"{name}\"."))
        }
        ConfigCommand::GetContexts { output: format } => match format.as_deref() {
            Some("name") => output::print(
                &kubeconfig
                    .contexts
                    .iter()
                    .map(|c| format!("{}\n", c.name))
                    .collect::<String>(),
            ),
            Some(other) => bail!("output must be one of '' or 'name', not {other:?}"),
            None => output::print(&contexts_table(&kubeconfig)),
        },
    }
}

/// CURRENT NAME CLUSTER AUTHINFO NAMESPACE, as kubectl prints it.
pub fn contexts_table(kubeconfig: &Kubeconfig) -> String {
    let mut table = TabWriter::new(6, 3);
    table.write("CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE");
    for c in &kubeconfig.contexts {
        let current = if c.name == kubeconfig.current_context {
            "*"
        } else {
            ""
        };
        table.row(vec![
            current.to_string(),
            c.name.clone(),
            c.context.cluster.clone(),
            c.context.user.clone(),
            c.context.namespace.clone().unwrap_or_default(),
        ]);
    }
    table.render()
}

fn minified(mut kubeconfig: Kubeconfig, context: Option<&str>) -> Result<Kubeconfig> {
    let name = context
        .map(str::to_string)
        .unwrap_or_else(|| kubeconfig.current_context.clone());
    let Some(ctx) = kubeconfig.contexts.iter().find(|c| c.name == name).cloned() else {
        bail!("context \"{name}\" does not exist");
    };
    kubeconfig
        .clusters
        .retain(|c| c.name == ctx.context.cluster);
    kubeconfig.users.retain(|u| u.name == ctx.context.user);
    kubeconfig.contexts = vec![ctx];
    kubeconfig.current_context = name;
    Ok(kubeconfig)
}

/// kubectl's placeholders for embedded credentials.
fn redact(kubeconfig: &mut Kubeconfig) {
    for cluster in &mut kubeconfig.clusters {
        if cluster.cluster.certificate_authority_data.is_some() {
            cluster.cluster.certificate_authority_data = Some("DATA+OMITTED".to_string());
        }
    }
    for user in &mut kubeconfig.users {
        if user.user.client_certificate_data.is_some() {
            user.user.client_certificate_data = Some("DATA+OMITTED".to_string());
        }
        if user.user.client_key_data.is_some() {
            user.user.client_key_data = Some("DATA+OMITTED".to_string());
        }
        if user.user.token.is_some() {
            user.user.token = Some("REDACTED".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_redacts_and_contexts_list() {
        let mut kubeconfig = Kubeconfig::for_user(
            "edge",
            "https://10.0.0.1:6443",
            "CA",
            "alice",
            "CERT",
            "KEY",
        );
        assert_eq!(
            contexts_table(&kubeconfig),
            "CURRENT   NAME         CLUSTER   AUTHINFO   NAMESPACE\n*         alice@edge   edge      alice      \n"
        );
        redact(&mut kubeconfig);
        let yaml = kubeconfig.to_yaml();
        assert!(
            yaml.contains("DATA+OMITTED") && !yaml.contains("S0VZ"),
            "{yaml}"
        );
    }
}
