//! `version` and `cluster-info`.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use super::Session;
use crate::cli::GlobalArgs;
use crate::output;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the client version.
    #[arg(long)]
    pub client: bool,
    /// Output format: json or yaml.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

fn client_version() -> Value {
    json!({"gitVersion": concat!("v", env!("CARGO_PKG_VERSION")), "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)})
}

pub async fn version(global: &GlobalArgs, args: VersionArgs) -> Result<()> {
    let client = client_version();
    let server = if args.client {
        None
    } else {
        let session = Session::open(global)?;
        Some(session.client.get("/version").await?)
    };
    match args.output.as_deref() {
        None => {
            let mut text = format!(
                "Client Version: {}\n",
                client["gitVersion"].as_str().unwrap_or_default()
            );
            if let Some(server) = &server {
                text.push_str(&format!(
                    "Server Version: {}\n",
                    server
                        .get("gitVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                ));
            }
            output::print(&text)
        }
        Some(format) => {
            let mut document = json!({"clientVersion": client});
            if let Some(server) = server {
                document["serverVersion"] = server;
            }
            match format {
                "json" => output::println(&output::to_json(&document)),
                "yaml" => output::print(&output::to_yaml(&document)?),
                other => anyhow::bail!("--output must be 'yaml' or 'json', not {other:?}"),
            }
        }
    }
}

pub async fn cluster_info(session: &mut Session) -> Result<()> {
    // A request proves the control plane answers before we say it is running.
    session.client.get("/version").await?;
    output::println(&format!(
        "Kubernetes control plane is running at {}",
        session.client.server()
    ))
}
