//! `kubeconfig user`: asks the controller for a client certificate and writes a kubeconfig around it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use edge_wire::kubeconfig::Kubeconfig;
use serde_json::{Value, json};

use super::Session;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// Issue a client certificate for a user and print (or write) a kubeconfig for it.
    User {
        /// The user name (the certificate's common name).
        #[arg(long)]
        name: String,
        /// Extra groups (the certificate's organizations); repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// A built-in role granted through its group.
        #[arg(long, value_enum)]
        role: Option<Role>,
        /// How long the certificate is valid, e.g. 8760h, 30d.
        #[arg(long, default_value = "8760h")]
        validity: String,
        /// Write the kubeconfig to this file (mode 0600) instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

/// The built-in roles the controller authorises by group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Admin,
    View,
}

impl Role {
    pub fn group(self) -> &'static str {
        match self {
            Role::Admin => "edgeplane:admin",
            Role::View => "edgeplane:view",
        }
    }
}

/// The `POST /internal/v1/credentials` body.
pub fn credentials_request(
    name: &str,
    groups: &[String],
    role: Option<Role>,
    validity: Duration,
) -> Value {
    let mut all: Vec<String> = groups.to_vec();
    if let Some(role) = role
        && !all.iter().any(|g| g == role.group())
    {
        all.push(role.group().to_string());
    }
    json!({"user": name, "groups": all, "validitySeconds": validity.as_secs()})
}

pub async fn run(session: &mut Session, command: KubeconfigCommand) -> Result<()> {
    let KubeconfigCommand::User {
        name,
        groups,
        role,
        validity,
        output: file,
    } = command;
    if name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    let validity = humantime::parse_duration(&validity)
        .with_context(|| format!("invalid --validity {validity:?}"))?;
    let request = credentials_request(&name, &groups, role, validity);
    let issued = session
        .client
        .create("/internal/v1/credentials", &request, false)
        .await?;
    let field = |key: &str| -> Result<String> {
        issued
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("the server's answer has no {key}"))
    };
    let ca = session
        .connection
        .ca_pem
        .clone()
        .context("the current kubeconfig has no cluster CA to put in the new one")?;
    let kubeconfig = Kubeconfig::for_user(
        &session.connection.cluster_name,
        &session.connection.server,
        &ca,
        &name,
        &field("certificate")?,
        &field("key")?,
    );
    match file {
        Some(path) => {
            kubeconfig
                .save(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "Kubeconfig for user \"{name}\" written to {}",
                path.display()
            );
            Ok(())
        }
        None => output::print(&kubeconfig.to_yaml()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body() {
        let body = credentials_request(
            "alice",
            &["ops".to_string()],
            Some(Role::View),
            Duration::from_secs(3600),
        );
        assert_eq!(
            body,
            json!({"user": "alice", "groups": ["ops", "edgeplane:view"], "validitySeconds": 3600})
        );
    }
}
