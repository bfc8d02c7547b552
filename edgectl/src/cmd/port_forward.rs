//! `port-forward`: listens on local ports and carries each accepted connection to a pod port
//! over its own HTTP/1.1 upgrade of the pod's `portforward` subresource.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Session;
use super::logs::{PodName, PodStreamClient, pod_name, pod_path, response_error};
use crate::client::RequestError;
use crate::output;

/// The `Upgrade` protocol the controller's `portforward` subresource speaks (`PORT_FORWARD_PROTOCOL`
/// in `controller/src/apiserver/pod_stream.rs`).
pub const PORT_FORWARD_PROTOCOL: &str = "edgeplane-portforward";

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// The pod: NAME, pod/NAME or pods/NAME.
    #[arg(value_name = "TYPE/NAME")]
    pub pod: String,
    /// The ports: REMOTE, LOCAL:REMOTE, or :REMOTE for a random local port; REMOTE may be a named container port.
    #[arg(value_name = "[LOCAL_PORT:]REMOTE_PORT")]
    pub ports: Vec<String>,
    /// Addresses to listen on (comma separated). Only accepts IP addresses or localhost as a value.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    pub address: Vec<String>,
}

/// A pod port as given on the command line: a number, or the name of a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemotePort {
    Number(u16),
    Named(String),
}

/// One `[LOCAL:]REMOTE` argument; `local` is `None` when it follows the remote port, `Some(0)` for a random one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub local: Option<u16>,
    pub remote: RemotePort,
}

/// A forwarding with numbers on both sides; a `local` of 0 is chosen when listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPair {
    pub local: u16,
    pub remote: u16,
}

/// Parses the port arguments as kubectl does, before anything is sent to the server.
pub fn parse_ports(args: &[String]) -> Result<Vec<PortSpec>> {
    if args.is_empty() {
        bail!("at least 1 PORT is required for port-forward");
    }
    args.iter().map(|arg| parse_port(arg)).collect()
}

fn parse_port(arg: &str) -> Result<PortSpec> {
    let (local, remote) = match arg.split(':').collect::<Vec<_>>()[..] {
        [remote] => (None, remote),
        ["", remote] => (Some(0), remote),
        [local, remote] => {
            let local = local.parse::<u16>().map_err(|_| {
                anyhow!("error parsing local port '{local}': use a number from 0 to 65535")
            })?;
            (Some(local), remote)
        }
        _ => bail!("invalid port format '{arg}'"),
    };
    let remote = if remote.bytes().any(|b| b.is_ascii_alphabetic()) {
        RemotePort::Named(remote.to_string())
    } else {
        match remote.parse::<u16>() {
            Ok(0) => bail!("remote port must be > 0"),
            Ok(port) => RemotePort::Number(port),
            Err(_) => bail!(
                "error parsing remote port '{remote}': use a number from 1 to 65535 or a container port name"
            ),
        }
    };
    Ok(PortSpec { local, remote })
}

/// Turns named remote ports into numbers with the pod's container ports.
pub fn resolve_ports(specs: &[PortSpec], pod: &Value) -> Result<Vec<PortPair>> {
    specs
        .iter()
        .map(|spec| {
            let remote = match &spec.remote {
                RemotePort::Number(port) => *port,
                RemotePort::Named(name) => named_port(pod, name)?,
            };
            Ok(PortPair {
                local: spec.local.unwrap_or(remote),
                remote,
            })
        })
        .collect()
}

fn named_port(pod: &Value, name: &str) -> Result<u16> {
    let ports = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("ports").and_then(Value::as_array))
        .flatten();
    for port in ports {
        if port.get("name").and_then(Value::as_str) == Some(name)
            && let Some(number) = port
                .get("containerPort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
        {
            return Ok(number);
        }
    }
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    bail!("pod '{pod_name}' does not have a named port '{name}'")
}

/// kubectl refuses to forward to a pod that is not running, since nothing would answer.
pub fn check_running(pod: &Value) -> Result<()> {
    // A pod without a phase yet is pending, as `get pods` shows it.
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("Pending");
    if phase != "Running" {
        bail!("unable to forward port because pod is not running. Current status={phase}");
    }
    Ok(())
}

/// An address to listen on; `required` ones must all work, of the `localhost` pair one is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress {
    pub ip: IpAddr,
    pub required: bool,
}

/// `--address`: IP addresses, or `localhost` for 127.0.0.1 and ::1; sorted and deduplicated as in kubectl.
pub fn parse_addresses(args: &[String]) -> Result<Vec<ListenAddress>> {
    let mut addresses: Vec<ListenAddress> = Vec::new();
    for arg in args.iter().map(|a| a.trim()) {
        let wanted = if arg == "localhost" {
            vec![
                ListenAddress {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    required: false,
                },
                ListenAddress {
                    ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    required: false,
                },
            ]
        } else {
            let ip = arg
                .parse::<IpAddr>()
                .map_err(|_| anyhow!("{arg} is not a valid IP"))?;
            vec![ListenAddress { ip, required: true }]
        };
        for address in wanted {
            match addresses.iter_mut().find(|a| a.ip == address.ip) {
                // An address given explicitly must work even if `localhost` also names it.
                Some(known) => known.required |= address.required,
                None => addresses.push(address),
            }
        }
    }
    addresses.sort_by_key(|a| a.ip.to_string());
    Ok(addresses)
}

pub async fn run(session: &mut Session, args: PortForwardArgs) -> Result<()> {
    let name = match pod_name(&args.pod)? {
        PodName::Pod(name) => name.to_string(),
        PodName::Other(object) => bail!(
            "only pods can be port-forwarded, not {object}; name one of its pods (see edgectl get pods)"
        ),
    };
    let specs = parse_ports(&args.ports)?;
    let addresses = parse_addresses(&args.address)?;
    let namespace = session.namespace().to_string();
    let pod = session.client.get(&pod_path(&namespace, &name, "")).await?;
    check_running(&pod)?;
    let pairs = resolve_ports(&specs, &pod)?;
    let client = PodStreamClient::new(&session.connection)?;

    let (stop, stopped) = watch::channel(false);
    let mut loops = JoinSet::new();
    for pair in pairs {
        for (listener, pair) in listen(&addresses, pair).await? {
            let target = Target {
                client: client.clone(),
                path: pod_path(&namespace, &name, "portforward"),
                pair,
            };
            loops.spawn(accept_loop(listener, target, stopped.clone()));
        }
    }
    interrupted().await?;
    let _ = stop.send(true);
    while loops.join_next().await.is_some() {}
    Ok(())
}

/// Binds `pair.local` on every address; a random local port is chosen once and reused.
async fn listen(
    addresses: &[ListenAddress],
    pair: PortPair,
) -> Result<Vec<(TcpListener, PortPair)>> {
    let mut pair = pair;
    let mut listeners = Vec::new();
    let mut failures = Vec::new();
    for address in addresses {
        let wanted = SocketAddr::new(address.ip, pair.local);
        let bound = TcpListener::bind(wanted)
            .await
            .and_then(|listener| listener.local_addr().map(|local| (listener, local)));
        match bound {
            Ok((listener, local)) => {
                pair.local = local.port();
                output::println(&format!("Forwarding from {local} -> {}", pair.remote))?;
                listeners.push((listener, pair));
            }
            Err(err) if address.required => {
                bail!("unable to listen on {wanted}: {err}")
            }
            Err(err) => failures.push(format!("{wanted}: {err}")),
        }
    }
    if listeners.is_empty() {
        bail!(
            "unable to listen on any of the requested ports: {}",
            failures.join("; ")
        );
    }
    Ok(listeners)
}

/// Where connections accepted on one listener go.
struct Target {
    client: PodStreamClient,
    path: String,
    pair: PortPair,
}

/// Accepts connections until told to stop; dropping the connection set on return closes them all.
async fn accept_loop(listener: TcpListener, target: Target, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let local = match accepted {
            Ok((local, _)) => local,
            Err(err) => {
                // Usually out of file descriptors: wait for some to close rather than spin.
                eprintln!(
                    "error: cannot accept a connection on port {}: {err}",
                    target.pair.local
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // A closed stdout must not stop the forwarding itself.
        let _ = output::println(&format!("Handling connection for {}", target.pair.local));
        let client = target.client.clone();
        let path = target.path.clone();
        let pair = target.pair;
        connections.spawn(async move {
            if let Err(err) = forward(local, &client, &path, pair.remote).await {
                let line = super::error_line(&err);
                let detail = line.strip_prefix("error: ").unwrap_or(&line);
                eprintln!(
                    "error: an error occurred forwarding {} -> {}: {detail}",
                    pair.local, pair.remote
                );
            }
        });
    }
}

/// Opens one upgraded stream to the pod port and copies bytes both ways until both sides are done.
async fn forward(
    mut local: TcpStream,
    client: &PodStreamClient,
    path: &str,
    remote_port: u16,
) -> Result<()> {
    let response = client
        .request(reqwest::Method::POST, path)
        .query(&[("ports", remote_port.to_string())])
        .header(reqwest::header::CONNECTION, "Upgrade")
        .header(reqwest::header::UPGRADE, PORT_FORWARD_PROTOCOL)
        .send()
        .await
        .map_err(RequestError::from)?;
    let code = response.status().as_u16();
    if code != 101 {
        if code >= 400 {
            return Err(response_error(response).await.into());
        }
        bail!("the server did not switch to {PORT_FORWARD_PROTOCOL} (HTTP {code})");
    }
    let mut remote = response
        .upgrade()
        .await
        .context("the connection upgrade failed")?;
    match tokio::io::copy_bidirectional(&mut local, &mut remote).await {
        Ok(_) => Ok(()),
        // Either end hanging up abruptly is how many TCP conversations end.
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            Ok(())
        }
        Err(err) => Err(err).context("error copying between the local connection and the pod"),
    }
}

/// Waits for Ctrl-C or SIGTERM, either of which ends port-forward successfully, as in kubectl.
async fn interrupted() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(test)]
#[path = "port_forward_test.rs"]
mod tests;
