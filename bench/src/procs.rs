//! Child processes (controllers, edge agents, etcd, `wasmtime serve`) on loopback, killed by PID when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use edge_wire::kubeconfig::Kubeconfig;

/// A started process; dropping it kills exactly this PID and reaps it.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, program: &Path, args: &[String], log: PathBuf) -> Result<Proc> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        eprintln!(
            "[bench] started {name} pid {} (log {})",
            child.id(),
            log.display()
        );
        Ok(Proc {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the log tail if the process already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("{} exited with {status}; log tail:\n{tail}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to this PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("[bench] stopped {} pid {}", self.name, self.child.id());
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// TLS material from an admin kubeconfig.
#[derive(Clone)]
pub struct Creds {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Creds {
    pub fn load(path: &Path) -> Result<Creds> {
        let resolved = Kubeconfig::load(path)?.resolve(None)?;
        Ok(Creds {
            ca_pem: resolved.ca_pem.context("kubeconfig has no CA")?,
            cert_pem: resolved
                .client_cert_pem
                .context("kubeconfig has no client certificate")?,
            key_pem: resolved
                .client_key_pem
                .context("kubeconfig has no client key")?,
        })
    }
}

/// The one HTTP client shape used against both systems: reqwest, HTTP/1.1 keep-alive
/// (or HTTP/2 when asked), rustls with the cluster CA and the admin identity.
/// Without credentials (etcd over plain HTTP) the TLS config trusts nothing and is never used.
pub fn http_client(creds: Option<&Creds>, http2: bool) -> Result<reqwest::Client> {
    let tls = match creds {
        Some(c) => edge_wire::tls::client_config(
            &c.ca_pem,
            Some((c.cert_pem.as_str(), c.key_pem.as_str())),
        )?,
        None => rustls::ClientConfig::builder_with_provider(edge_wire::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(10));
    b = if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    };
    Ok(b.build()?)
}

/// Waits until `url` answers 200 (and `body_has`, when given, appears in the body).
pub async fn wait_http(
    client: &reqwest::Client,
    url: &str,
    body_has: Option<&str>,
    procs: &mut [&mut Proc],
    limit: Duration,
) -> Result<()> {
    let start = Instant::now();
    loop {
        for p in procs.iter_mut() {
            p.check_alive()?;
        }
        if let Ok(resp) = client.get(url).send().await
            && resp.status().is_success()
        {
            let text = resp.text().await.unwrap_or_default();
            if body_has.is_none_or(|s| text.contains(s)) {
                return Ok(());
            }
        }
        if start.elapsed() > limit {
            bail!("{url} not ready after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub struct EdgeCluster {
    pub nodes: Vec<Proc>,
    pub urls: Vec<String>,
    pub creds: Creds,
    pub data_dirs: Vec<PathBuf>,
}

/// Starts `n` controllers: the first bootstraps, the others join with fresh control-plane tokens.
pub async fn start_edge(bin: &Path, work: &Path, n: usize, tag: &str) -> Result<EdgeCluster> {
    let controller = bin.join("edge-controller");
    let edgectl = bin.join("edgectl");
    let mut nodes = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut creds: Option<Creds> = None;
    for i in 0..n {
        let port = free_port()?;
        let dir = work.join(format!("{tag}-edge{i}"));
        let url = format!("https://127.0.0.1:{port}");
        let mut args = vec![
            "--data-dir".to_owned(),
            dir.display().to_string(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
        ];
        if i > 0 {
            let kc = dirs[0].join("admin.conf");
            let out = Command::new(&edgectl)
                .arg("--kubeconfig")
                .arg(&kc)
                .args(["token", "create", "--control-plane"])
                .output()
                .context("running edgectl token create")?;
            if !out.status.success() {
                bail!(
                    "edgectl token create failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let token = String::from_utf8(out.stdout)?.trim().to_owned();
            args.extend([
                "--join".to_owned(),
                urls[0].clone(),
                "--token".to_owned(),
                token,
            ]);
        }
        let log = work.join(format!("{tag}-edge{i}.log"));
        let mut p = Proc::spawn(
            &format!("edge-controller {tag}#{i}"),
            &controller,
            &args,
            log,
        )?;
        // admin.conf appears once the PKI exists; the first node's is used for every node.
        let kc = dirs.first().unwrap_or(&dir).join("admin.conf");
        let start = Instant::now();
        while !kc.exists() {
            p.check_alive()?;
            if start.elapsed() > Duration::from_secs(30) {
                bail!("{} never appeared", kc.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if creds.is_none() {
            creds = Some(Creds::load(&kc)?);
        }
        let client = http_client(creds.as_ref(), false)?;
        wait_http(
            &client,
            &format!("{url}/readyz"),
            None,
            &mut [&mut p],
            Duration::from_secs(60),
        )
        .await?;
        nodes.push(p);
        urls.push(url);
        dirs.push(dir);
    }
    let creds = creds.context("no creds")?;
    if n > 1 {
        let client = http_client(Some(&creds), false)?;
        let want = format!("edgeplane_store_members{{role=\"voter\"}} {n}\n");
        let mut refs: Vec<&mut Proc> = nodes.iter_mut().collect();
        wait_http(
            &client,
            &format!("{}/metrics", urls[0]),
            Some(&want),
            &mut refs,
            Duration::from_secs(60),
        )
        .await?;
    }
    Ok(EdgeCluster {
        nodes,
        urls,
        creds,
        data_dirs: dirs,
    })
}

pub struct EtcdCluster {
    pub nodes: Vec<Proc>,
    pub urls: Vec<String>,
}

/// Starts an `n`-member etcd cluster on loopback (plain HTTP, default fsync behaviour).
pub async fn start_etcd(etcd: &Path, work: &Path, n: usize, tag: &str) -> Result<EtcdCluster> {
    let mut ports = Vec::new();
    for _ in 0..n {
        ports.push((free_port()?, free_port()?));
    }
    let initial: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, pp))| format!("e{i}=http://127.0.0.1:{pp}"))
        .collect();
    let mut nodes = Vec::new();
    let mut urls = Vec::new();
    for (i, (p, pp)) in ports.iter().enumerate() {
        let dir = work.join(format!("{tag}-etcd{i}"));
        let args: Vec<String> = [
            "--name",
            &format!("e{i}"),
            "--data-dir",
            &dir.display().to_string(),
            "--listen-client-urls",
            &format!("http://127.0.0.1:{p}"),
            "--advertise-client-urls",
            &format!("http://127.0.0.1:{p}"),
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{pp}"),
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{pp}"),
            "--initial-cluster",
            &initial.join(","),
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            &format!("bench-{tag}"),
            "--log-level",
            "warn",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = work.join(format!("{tag}-etcd{i}.log"));
        nodes.push(Proc::spawn(&format!("etcd {tag}#{i}"), etcd, &args, log)?);
        urls.push(format!("http://127.0.0.1:{p}"));
    }
    let client = http_client(None, false)?;
    for url in &urls {
        let mut refs: Vec<&mut Proc> = nodes.iter_mut().collect();
        wait_http(
            &client,
            &format!("{url}/health"),
            Some("\"true\""),
            &mut refs,
            Duration::from_secs(60),
        )
        .await?;
    }
    Ok(EtcdCluster { nodes, urls })
}

/// A joined `edge-agent` process and where it keeps its state.
pub struct EdgeAgent {
    pub proc: Proc,
    pub data_dir: PathBuf,
}

/// Joins an `edge-agent` named `name` to the single controller of `cluster` with a fresh
/// bootstrap token (`edgectl token create --print-join-command`), as an operator would.
/// `extra` are more agent flags. Returns once the process runs; the caller waits for Ready.
pub fn start_agent(
    bin: &Path,
    work: &Path,
    cluster: &EdgeCluster,
    name: &str,
    extra: &[String],
) -> Result<EdgeAgent> {
    let kubeconfig = cluster.data_dirs[0].join("admin.conf");
    let out = Command::new(bin.join("edgectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["token", "create", "--print-join-command"])
        .output()
        .context("running edgectl token create --print-join-command")?;
    if !out.status.success() {
        bail!(
            "edgectl token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8(out.stdout)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |flag: &str| -> Result<String> {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .map(|w| (*w).to_owned())
            .with_context(|| format!("no {flag} in the join command {line:?}"))
    };
    let server = cluster.urls[0]
        .strip_prefix("https://")
        .context("controller URL is not https")?
        .to_owned();
    let data_dir = work.join(format!("agent-{name}"));
    let metrics_port = free_port()?;
    let mut args = vec![
        "--server".to_owned(),
        server,
        "--token".to_owned(),
        after("--token")?,
        "--ca-cert-hash".to_owned(),
        after("--ca-cert-hash")?,
        "--name".to_owned(),
        name.to_owned(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--node-ip".to_owned(),
        "127.0.0.1".to_owned(),
        "--metrics-addr".to_owned(),
        format!("127.0.0.1:{metrics_port}"),
    ];
    args.extend(extra.iter().cloned());
    let proc = Proc::spawn(
        &format!("edge-agent {name}"),
        &bin.join("edge-agent"),
        &args,
        work.join(format!("agent-{name}.log")),
    )?;
    Ok(EdgeAgent { proc, data_dir })
}
