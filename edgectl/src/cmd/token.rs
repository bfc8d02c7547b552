//! `token create|list|delete`: bootstrap tokens, stored as hashed Secrets in `kube-system`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use edge_wire::token::{
    BootstrapToken, ControlPlaneToken, TOKEN_NAMESPACE, TOKEN_SECRET_TYPE, TokenInfo,
};
use serde_json::{Value, json};

use super::Session;
use crate::client::ListParams;
use crate::output;
use crate::tabwriter::TabWriter;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it; it cannot be shown again.
    Create {
        /// How long the token is valid (0 = never expires).
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// A human-readable description.
        #[arg(long)]
        description: Option<String>,
        /// Print the whole command that joins a node with this token.
        #[arg(long)]
        print_join_command: bool,
        /// Create a token that joins a controller to the control plane.
        #[arg(long)]
        control_plane: bool,
    },
    /// List tokens (without their secrets).
    #[command(alias = "ls")]
    List,
    /// Delete tokens by ID or ID.SECRET.
    Delete {
        #[arg(required = true)]
        tokens: Vec<String>,
    },
}

pub async fn run(session: &mut Session, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            ttl,
            description,
            print_join_command,
            control_plane,
        } => {
            create(
                session,
                &ttl,
                description.as_deref(),
                print_join_command,
                control_plane,
            )
            .await
        }
        TokenCommand::List => list(session).await,
        TokenCommand::Delete { tokens } => delete(session, &tokens).await,
    }
}

/// `0` means no expiry, as in kubeadm.
fn parse_ttl(ttl: &str) -> Result<Option<Duration>> {
    if ttl.trim() == "0" {
        return Ok(None);
    }
    let duration = humantime::parse_duration(ttl).with_context(|| {
        format!("invalid --ttl {ttl:?}: use a duration such as 24h or 0 for none")
    })?;
    Ok((!duration.is_zero()).then_some(duration))
}

async fn create(
    session: &mut Session,
    ttl: &str,
    description: Option<&str>,
    join: bool,
    control_plane: bool,
) -> Result<()> {
    let ttl = parse_ttl(ttl)?;
    let expires = ttl
        .map(|d| -> Result<jiff::Timestamp> {
            let span = jiff::SignedDuration::try_from(d).context("--ttl is too long")?;
            jiff::Timestamp::now()
                .checked_add(span)
                .context("--ttl is too long")
        })
        .transpose()?;
    let token = BootstrapToken::try_generate().context("cannot generate a token")?;
    let secret = edge_wire::token::token_secret_object(&token, expires, description, control_plane);
    let path = format!("/api/v1/namespaces/{TOKEN_NAMESPACE}/secrets");
    session.client.create(&path, &secret, false).await?;
    let host_port = crate::config::host_port(&session.connection.server)?;
    let ca_pin = || -> Result<String> {
        let ca = session
            .connection
            .ca_pem
            .as_deref()
            .context("the kubeconfig has no cluster CA to compute the CA hash from")?;
        edge_wire::pki::ca_pin(ca).context("cannot compute the CA hash")
    };
    let line = match (control_plane, join) {
        (false, false) => token.to_string(),
        (false, true) => agent_join_command(&host_port, &token, &ca_pin()?),
        (true, false) => ControlPlaneToken {
            ca_pin: ca_pin()?,
            token,
        }
        .to_string(),
        (true, true) => controller_join_command(
            &host_port,
            &ControlPlaneToken {
                ca_pin: ca_pin()?,
                token,
            },
        ),
    };
    output::println(&line)
}

pub fn agent_join_command(host_port: &str, token: &BootstrapToken, ca_pin: &str) -> String {
    format!("edge-agent --server {host_port} --token {token} --ca-cert-hash {ca_pin}")
}

pub fn controller_join_command(host_port: &str, token: &ControlPlaneToken) -> String {
    format!("edge-controller --join https://{host_port} --token {token}")
}

async fn list(session: &mut Session) -> Result<()> {
    let params = ListParams {
        field_selector: Some(format!("type={TOKEN_SECRET_TYPE}")),
        ..ListParams::default()
    };
    let path = format!("/api/v1/namespaces/{TOKEN_NAMESPACE}/secrets");
    let secrets = session
        .client
        .list(&path, &params, "application/json")
        .await?;
    let mut tokens = Vec::new();
    for secret in secrets
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // The field selector may be ignored by the server; check the type here too.
        if secret.get("type").and_then(Value::as_str) != Some(TOKEN_SECRET_TYPE) {
            continue;
        }
        match edge_wire::token::token_info_from_secret(secret) {
            Ok(info) => tokens.push(info),
            Err(err) => {
                let name = secret
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                eprintln!("warning: skipping malformed token secret {name}: {err}");
            }
        }
    }
    if tokens.is_empty() {
        eprintln!("No bootstrap tokens found");
        return Ok(());
    }
    output::print(&tokens_table(&tokens, jiff::Timestamp::now()))
}

/// TOKEN-ID TTL EXPIRES USAGES DESCRIPTION; the secret is never shown again.
pub fn tokens_table(tokens: &[TokenInfo], now: jiff::Timestamp) -> String {
    let mut table = TabWriter::new(6, 3);
    table.write("TOKEN-ID\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION");
    for token in tokens {
        let (ttl, expires) = match token.expires {
            Some(at) if at <= now => (
                "<expired>".to_string(),
                edge_api::meta::format_timestamp(at),
            ),
            Some(at) => (
                edge_api::meta::human_age(at.duration_since(now)),
                edge_api::meta::format_timestamp(at),
            ),
            None => ("<forever>".to_string(), "<never>".to_string()),
        };
        let usages = token
            .usages
            .iter()
            .map(|u| u.trim_start_matches("usage-bootstrap-").to_string())
            .collect::<Vec<_>>();
        table.row(vec![
            token.id.clone(),
            ttl,
            expires,
            usages.join(","),
            token
                .description
                .clone()
                .unwrap_or_else(|| "<none>".to_string()),
        ]);
    }
    table.render()
}

/// The token ID of `abcdef` or `abcdef.0123456789abcdef`.
pub fn token_id(text: &str) -> Result<String> {
    let id = text.split_once('.').map_or(text, |(id, _)| id);
    if id.len() != 6
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        bail!(
            "token {text:?} is neither a token ID ([a-z0-9]{{6}}) nor a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})"
        );
    }
    Ok(id.to_string())
}

async fn delete(session: &mut Session, tokens: &[String]) -> Result<()> {
    for text in tokens {
        let id = token_id(text)?;
        let path = format!(
            "/api/v1/namespaces/{TOKEN_NAMESPACE}/secrets/{}",
            edge_wire::token::secret_name(&id)
        );
        session
            .client
            .delete(&path, &json!({"kind": "DeleteOptions", "apiVersion": "v1"}))
            .await?;
        output::println(&format!("bootstrap token \"{id}\" deleted"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> BootstrapToken {
        BootstrapToken::parse("abcdef.0123456789abcdef").expect("valid")
    }

    #[test]
    fn join_commands() {
        let pin = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            agent_join_command("10.0.0.1:6443", &token(), &pin),
            format!(
                "edge-agent --server 10.0.0.1:6443 --token abcdef.0123456789abcdef --ca-cert-hash {pin}"
            )
        );
        let cp = ControlPlaneToken {
            ca_pin: pin,
            token: token(),
        };
        let line = controller_join_command("10.0.0.1:6443", &cp);
        assert!(
            line.starts_with("edge-controller --join https://10.0.0.1:6443 --token K10"),
            "{line}"
        );
        assert!(line.ends_with("::abcdef.0123456789abcdef"), "{line}");
    }

    #[test]
    fn token_ids_and_ttls() {
        assert_eq!(token_id("abcdef").expect("id"), "abcdef");
        assert_eq!(
            token_id("abcdef.0123456789abcdef").expect("token"),
            "abcdef"
        );
        assert!(token_id("ABCDEF").is_err());
        assert!(token_id("abc").is_err());
        assert_eq!(parse_ttl("0").expect("0"), None);
        assert_eq!(
            parse_ttl("24h").expect("24h"),
            Some(Duration::from_secs(86400))
        );
        assert!(parse_ttl("tomorrow").is_err());
    }

    #[test]
    fn list_never_shows_secrets() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().expect("time");
        let expires = "2025-01-02T00:00:00Z".parse().expect("time");
        let secret =
            edge_wire::token::token_secret_object(&token(), Some(expires), Some("for rpi"), false);
        let info = edge_wire::token::token_info_from_secret(&secret).expect("info");
        let text = tokens_table(&[info], now);
        assert!(text.starts_with("TOKEN-ID   TTL   EXPIRES"), "{text}");
        assert!(
            text.contains("abcdef")
                && text.contains("24h")
                && text.contains("2025-01-02T00:00:00Z")
                && text.contains("for rpi")
        );
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}
