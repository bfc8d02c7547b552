//! The verbs: one module per verb, sharing a `Session` (connection, namespace, resolver).

pub mod apply;
pub mod backup;
pub mod config;
pub mod create;
pub mod delete;
pub mod describe;
pub mod discovery;
pub mod drain;
mod drain_plan;
pub mod edit;
pub mod events;
pub mod get;
pub mod info;
pub mod kubeconfig;
pub mod label;
pub mod logs;
pub mod patch;
pub mod port_forward;
pub mod push;
mod push_client;
mod push_reference;
pub mod rollout;
mod rollout_history;
pub mod scale;
pub mod set_image;
pub mod token;
pub mod top;
pub mod watch;

use std::fmt;

use anyhow::Result;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::client::{Client, RequestError};
use crate::config::Connection;
use crate::resources::Resolver;

/// Errors were already printed one per line; only the exit code is left to set.
#[derive(Debug)]
pub struct AlreadyReported;

impl fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one or more operations failed")
    }
}

impl std::error::Error for AlreadyReported {}

/// The line printed for an error: kubectl prints server errors as they are and prefixes the rest with `error: `.
pub fn error_line(err: &anyhow::Error) -> String {
    let line = match err.downcast_ref::<RequestError>() {
        Some(request) => request.to_string(),
        None => {
            // Library errors often repeat their source in their own message; print each cause once.
            let mut text = String::new();
            for cause in err.chain() {
                let cause = cause.to_string();
                if !text.contains(&cause) {
                    if !text.is_empty() {
                        text.push_str(": ");
                    }
                    text.push_str(&cause);
                }
            }
            format!("error: {text}")
        }
    };
    line.replace('\n', " ")
}

/// Prints an error for one object and carries on; the caller exits 1 at the end.
pub fn report_and_continue(err: &anyhow::Error) {
    eprintln!("{}", error_line(err));
}

/// What every verb that talks to the server needs.
pub struct Session {
    pub global: GlobalArgs,
    pub connection: Connection,
    pub client: Client,
    pub resolver: Resolver,
}

impl Session {
    pub fn open(global: &GlobalArgs) -> Result<Session> {
        let connection = crate::config::connection(global)?;
        let client = connection.client()?;
        Ok(Session {
            global: global.clone(),
            connection,
            resolver: Resolver::new(client.clone()),
            client,
        })
    }

    /// The namespace of this run: `-n`, else the context's, else `default`.
    pub fn namespace(&self) -> &str {
        &self.connection.namespace
    }

    /// Whether `-n` was given, which makes a differing namespace in a manifest an error.
    pub fn namespace_explicit(&self) -> bool {
        self.global.namespace.is_some()
    }

    pub fn all_namespaces(&self) -> bool {
        self.global.all_namespaces
    }

    /// The namespace for list paths: `None` with `-A`.
    pub fn list_namespace(&self) -> Option<&str> {
        if self.all_namespaces() {
            None
        } else {
            Some(self.namespace())
        }
    }
}

pub async fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Config(command) => config::run(global, command),
        Command::Version(args) => info::version(global, args).await,
        // Pushing to a registry outside the cluster needs no kubeconfig, so no session.
        Command::Push(args) => push::run(global, args).await,
        command => {
            let mut session = Session::open(global)?;
            dispatch(&mut session, command).await
        }
    }
}

async fn dispatch(session: &mut Session, command: Command) -> Result<()> {
    match command {
        Command::Apply(args) => apply::run(session, args).await,
        Command::Create(args) => create::run(session, args).await,
        Command::Get(args) => get::run(session, args).await,
        Command::Describe(args) => describe::run(session, args).await,
        Command::Delete(args) => delete::run(session, args).await,
        Command::Label(args) => label::run(session, args, label::Field::Labels).await,
        Command::Annotate(args) => label::run(session, args, label::Field::Annotations).await,
        Command::Edit(args) => edit::run(session, args).await,
        Command::Scale(args) => scale::run(session, args).await,
        Command::Cordon(args) => drain::cordon(session, args, true).await,
        Command::Uncordon(args) => drain::cordon(session, args, false).await,
        Command::Drain(args) => drain::drain(session, args).await,
        Command::Patch(args) => patch::run(session, args).await,
        Command::Logs(args) => logs::run(session, args).await,
        Command::PortForward(args) => port_forward::run(session, args).await,
        Command::ApiResources(args) => discovery::api_resources(session, args).await,
        Command::ApiVersions => discovery::api_versions(session).await,
        Command::ClusterInfo => info::cluster_info(session).await,
        Command::Token(command) => token::run(session, command).await,
        Command::Backup(command) => backup::run(session, command).await,
        Command::Kubeconfig(command) => kubeconfig::run(session, command).await,
        Command::Top(command) => top::run(session, command).await,
        Command::Events(args) => events::run(session, args).await,
        Command::Rollout(command) => rollout::run(session, command).await,
        Command::Set(command) => set_image::run(session, command).await,
        Command::Config(_) | Command::Version(_) | Command::Push(_) => unreachable_verb(),
    }
}

/// `run` handles the verbs that need no session before opening one.
fn unreachable_verb() -> Result<()> {
    anyhow::bail!("this verb does not need a connection")
}
