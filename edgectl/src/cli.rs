//! The command line: global flags and the verb enum, with each verb's flags defined next to its implementation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cmd;

/// edgectl controls an Edgeplane cluster, in the shape of kubectl.
#[derive(Debug, Parser)]
#[command(name = "edgectl", version, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every verb accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (else $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The namespace scope of this request.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Act on objects in all namespaces.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The address of the API server, overriding the kubeconfig (same credentials).
    #[arg(short = 's', long, global = true)]
    pub server: Option<String>,
    /// Do not check the server's certificate. This makes the connection insecure.
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
    /// How long to wait for a single request (0 = no limit), e.g. 30s, 2m.
    #[arg(long, global = true, default_value = "0")]
    pub request_timeout: String,
}

/// `--dry-run`: `none`, `client` (nothing sent) or `server` (sent with `dryRun=All`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DryRun {
    #[default]
    None,
    Client,
    Server,
}

impl DryRun {
    /// The suffix kubectl adds to its messages.
    pub fn suffix(self) -> &'static str {
        match self {
            DryRun::None => "",
            DryRun::Client => " (dry run)",
            DryRun::Server => " (server dry run)",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply a configuration to resources by file name or stdin.
    Apply(cmd::apply::ApplyArgs),
    /// Create a resource from a file or from stdin, or with a generator.
    Create(cmd::create::CreateArgs),
    /// Display one or many resources.
    Get(cmd::get::GetArgs),
    /// Show details of a specific resource or group of resources.
    Describe(cmd::describe::DescribeArgs),
    /// Delete resources by file names, stdin, resources and names, or by label selector.
    Delete(cmd::delete::DeleteArgs),
    /// Update the labels on a resource.
    Label(cmd::label::MetadataArgs),
    /// Update the annotations on a resource.
    Annotate(cmd::label::MetadataArgs),
    /// Edit a resource on the server in $KUBE_EDITOR, $EDITOR or vi.
    Edit(cmd::edit::EditArgs),
    /// Update fields of a resource with a merge, strategic merge or JSON patch.
    Patch(cmd::patch::PatchArgs),
    /// Print the logs for a container in a pod.
    Logs(cmd::logs::LogsArgs),
    /// Forward one or more local ports to a pod.
    PortForward(cmd::port_forward::PortForwardArgs),
    /// Set a new size for a deployment, replica set or stateful set.
    Scale(cmd::scale::ScaleArgs),
    /// Mark node as unschedulable.
    Cordon(cmd::drain::CordonArgs),
    /// Mark node as schedulable.
    Uncordon(cmd::drain::CordonArgs),
    /// Drain node in preparation for maintenance.
    Drain(cmd::drain::DrainArgs),
    /// Print the supported API resources on the server.
    ApiResources(cmd::discovery::ApiResourcesArgs),
    /// Print the supported API versions on the server, in the form of "group/version".
    ApiVersions,
    /// Print the client and server version information.
    Version(cmd::info::VersionArgs),
    /// Display the address of the control plane.
    ClusterInfo,
    /// Modify or view kubeconfig files.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Manage bootstrap tokens for joining agents and controllers.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Save a snapshot of the cluster state.
    #[command(subcommand)]
    Backup(cmd::backup::BackupCommand),
    /// Issue credentials and kubeconfig files.
    #[command(subcommand)]
    Kubeconfig(cmd::kubeconfig::KubeconfigCommand),
    /// Publish a Wasm component to an OCI registry (the controller's built-in one, or any other).
    Push(cmd::push::PushArgs),
    /// Display resource (CPU/memory) usage of nodes or pods.
    #[command(subcommand)]
    Top(cmd::top::TopCommand),
    /// List events, oldest first.
    Events(cmd::events::EventsArgs),
    /// Manage the rollout of a deployment, daemon set or stateful set.
    #[command(subcommand)]
    Rollout(cmd::rollout::RolloutCommand),
    /// Set specific features on objects (`set image`).
    #[command(subcommand)]
    Set(cmd::set_image::SetCommand),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "edgectl",
            "get",
            "pods",
            "-n",
            "kube-system",
            "--context",
            "edge",
            "-A",
        ])
        .expect("parses");
        assert_eq!(cli.global.namespace.as_deref(), Some("kube-system"));
        assert_eq!(cli.global.context.as_deref(), Some("edge"));
        assert!(cli.global.all_namespaces);
        let cli = Cli::try_parse_from([
            "edgectl",
            "--kubeconfig",
            "/tmp/k",
            "-s",
            "https://x:6443",
            "version",
        ])
        .expect("parses");
        assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/tmp/k")));
        assert_eq!(cli.global.server.as_deref(), Some("https://x:6443"));
    }

    #[test]
    fn unknown_verbs_and_flags_are_errors() {
        assert!(Cli::try_parse_from(["edgectl", "frobnicate"]).is_err());
        assert!(Cli::try_parse_from(["edgectl", "get", "pods", "--frob"]).is_err());
    }
}
