//! Tests of the HTTPS listener over loopback, driven by reqwest.

use std::time::Duration;

use axum::Extension;
use axum::routing::get;
use edge_wire::pki::{CertificateAuthority, IssuedCert};
use edge_wire::tls::{client_config, pinned_client_config};

use super::*;
use crate::auth::ADMIN_GROUP;
use crate::pki::{ClusterPki, PkiOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Server {
    url: String,
    pki: ClusterPki,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn whoami(Extension(cert): Extension<ClientCert>) -> String {
    match cert.0 {
        Some(identity) => format!("{} {}", identity.user, identity.groups.join(",")),
        None => "anonymous".to_owned(),
    }
}

async fn start() -> Result<Server, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let pki = ClusterPki::load_or_create(
        dir.path(),
        &PkiOptions {
            controller_name: "c1".into(),
            admin_server_url: "https://127.0.0.1:6443".into(),
            ..PkiOptions::default()
        },
    )?;
    let app = axum::Router::new().route("/whoami", get(whoami)).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        listener,
        Arc::new(pki.server_tls_config()?),
        app,
        shutdown.clone(),
    ));
    Ok(Server {
        url,
        pki,
        shutdown,
        task,
        _dir: dir,
    })
}

fn client(tls: rustls::ClientConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(5))
        .build()
}

fn identity(cert: &IssuedCert) -> Option<(&str, &str)> {
    Some((&cert.cert_pem, &cert.key_pem))
}

#[tokio::test]
async fn client_certificates_become_identities() -> TestResult {
    let server = start().await?;
    let ca = server.pki.ca.cert_pem();
    let alice = server.pki.issue_user(
        "alice",
        &[ADMIN_GROUP.to_owned(), "team-a".to_owned()],
        Duration::from_secs(600),
    )?;
    let response = client(client_config(ca, identity(&alice))?)?
        .get(format!("{}/whoami", server.url))
        .send()
        .await?;
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.text().await?, "alice system:masters,team-a");

    let anonymous = client(client_config(ca, None)?)?
        .get(format!("{}/whoami", server.url))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(anonymous, "anonymous");
    Ok(())
}

#[tokio::test]
async fn foreign_certificates_fail_and_the_loop_survives() -> TestResult {
    let server = start().await?;
    let ca = server.pki.ca.cert_pem();
    let foreign = CertificateAuthority::generate("edgeplane-ca")?;
    let mallory = foreign.issue(&edge_wire::pki::CertRequest {
        common_name: "mallory".into(),
        organizations: vec![ADMIN_GROUP.into()],
        client_auth: true,
        ..Default::default()
    })?;
    let refused = client(client_config(ca, identity(&mallory))?)?
        .get(format!("{}/whoami", server.url))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Garbage instead of a ClientHello, and a client that never speaks.
    let addr = server.url.trim_start_matches("https://").to_owned();
    let mut garbage = TcpStream::connect(&addr).await?;
    tokio::io::AsyncWriteExt::write_all(&mut garbage, b"GET / HTTP/1.1\r\n\r\n").await?;
    let _silent = TcpStream::connect(&addr).await?;

    let still = client(client_config(ca, None)?)?
        .get(format!("{}/whoami", server.url))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(still, "anonymous");
    Ok(())
}

#[tokio::test]
async fn pinned_clients_trust_only_the_pinned_ca() -> TestResult {
    let server = start().await?;
    let good = client(pinned_client_config(&server.pki.ca_pin(), None)?)?
        .get(format!("{}/whoami", server.url))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(good, "anonymous");

    let other_pin = CertificateAuthority::generate("edgeplane-ca")?
        .pin()
        .to_owned();
    let bad = client(pinned_client_config(&other_pin, None)?)?
        .get(format!("{}/whoami", server.url))
        .send()
        .await;
    assert!(bad.is_err(), "{bad:?}");
    Ok(())
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() -> TestResult {
    let server = start().await?;
    let http = client(client_config(server.pki.ca.cert_pem(), None)?)?;
    let slow = tokio::spawn(http.get(format!("{}/slow", server.url)).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown.cancel();
    let response = slow.await??;
    assert_eq!(response.text().await?, "done");
    tokio::time::timeout(Duration::from_secs(5), server.task).await???;
    // The listener is closed: new connections are refused.
    let addr = server.url.trim_start_matches("https://").to_owned();
    assert!(TcpStream::connect(&addr).await.is_err());
    Ok(())
}
