use clap::Parser;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::cli::{Cli, Command};
use crate::config::Connection;

fn parse(args: &[&str]) -> PortForwardArgs {
    let argv = ["edgectl", "port-forward"].iter().chain(args).copied();
    match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Command::PortForward(args)) => args,
        other => panic!("{args:?} did not parse as port-forward: {other:?}"),
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn port_specs() {
    let number = |local, remote| PortSpec {
        local,
        remote: RemotePort::Number(remote),
    };
    let cases = [
        ("8080", number(None, 8080)),
        ("8888:80", number(Some(8888), 80)),
        (":80", number(Some(0), 80)),
        ("0:80", number(Some(0), 80)),
        (
            "http",
            PortSpec {
                local: None,
                remote: RemotePort::Named("http".into()),
            },
        ),
        (
            "9000:metrics",
            PortSpec {
                local: Some(9000),
                remote: RemotePort::Named("metrics".into()),
            },
        ),
    ];
    for (arg, want) in cases {
        assert_eq!(parse_port(arg).expect(arg), want, "{arg}");
    }
}

#[test]
fn bad_port_specs_use_kubectls_messages() {
    let cases = [
        ("0", "remote port must be > 0"),
        ("8080:0", "remote port must be > 0"),
        ("1:2:3", "invalid port format '1:2:3'"),
        ("x:80", "error parsing local port 'x'"),
        ("70000:80", "error parsing local port '70000'"),
        ("8080:70000", "error parsing remote port '70000'"),
        ("", "error parsing remote port ''"),
    ];
    for (arg, want) in cases {
        let err = parse_port(arg).expect_err(arg).to_string();
        assert!(err.contains(want), "{arg}: {err} does not contain {want:?}");
    }
    let err = parse_ports(&[]).expect_err("no ports");
    assert_eq!(
        err.to_string(),
        "at least 1 PORT is required for port-forward"
    );
}

#[test]
fn named_ports_resolve_against_the_pod() {
    let pod = json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [
            {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]},
            {"name": "sidecar", "ports": [{"name": "metrics", "containerPort": 9090}]},
        ]},
    });
    let specs = parse_ports(&strings(&["http", "9000:metrics", ":80", "81"])).expect("parses");
    let pairs = resolve_ports(&specs, &pod).expect("resolves");
    let pair = |local, remote| PortPair { local, remote };
    assert_eq!(
        pairs,
        [
            pair(8080, 8080),
            pair(9000, 9090),
            pair(0, 80),
            pair(81, 81)
        ]
    );
    let specs = parse_ports(&strings(&["grpc"])).expect("parses");
    let err = resolve_ports(&specs, &pod).expect_err("no such port");
    assert_eq!(
        err.to_string(),
        "pod 'web' does not have a named port 'grpc'"
    );
}

#[test]
fn only_running_pods_are_forwarded() {
    assert!(check_running(&json!({"status": {"phase": "Running"}})).is_ok());
    for pod in [
        json!({"status": {"phase": "Pending"}}),
        json!({"status": {}}),
    ] {
        let err = check_running(&pod).expect_err("pending");
        assert_eq!(
            err.to_string(),
            "unable to forward port because pod is not running. Current status=Pending"
        );
    }
    let err = check_running(&json!({"status": {"phase": "Succeeded"}})).expect_err("done");
    assert!(
        err.to_string().ends_with("Current status=Succeeded"),
        "{err}"
    );
}

#[test]
fn addresses() {
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let address = |ip, required| ListenAddress { ip, required };
    let args = parse(&["pod/web", "80"]);
    assert_eq!(
        parse_addresses(&args.address).expect("default"),
        [address(v4, false), address(v6, false)]
    );
    let args = parse(&[
        "web",
        "80",
        "--address",
        "localhost,10.0.0.5",
        "--address",
        "::1",
    ]);
    assert_eq!(args.pod, "web");
    assert_eq!(
        parse_addresses(&args.address).expect("list"),
        [
            address("10.0.0.5".parse().expect("ip"), true),
            address(v4, false),
            address(v6, true),
        ]
    );
    let err = parse_addresses(&strings(&["example.com"])).expect_err("not an IP");
    assert_eq!(err.to_string(), "example.com is not a valid IP");
}

#[tokio::test]
async fn a_random_local_port_is_chosen_once_for_all_addresses() {
    // `localhost` tolerates a host without IPv6, so this holds with one listener or two.
    let localhost = parse_addresses(&strings(&["localhost"])).expect("parses");
    let listeners = listen(
        &localhost,
        PortPair {
            local: 0,
            remote: 80,
        },
    )
    .await
    .expect("listens");
    let port = listeners[0].1.local;
    assert_ne!(port, 0);
    for (listener, pair) in &listeners {
        assert_eq!(
            *pair,
            PortPair {
                local: port,
                remote: 80
            }
        );
        assert_eq!(listener.local_addr().expect("bound").port(), port);
    }
    // The port is now taken, so an explicit address must fail rather than be skipped.
    let explicit = parse_addresses(&strings(&["127.0.0.1"])).expect("parses");
    let err = listen(
        &explicit,
        PortPair {
            local: port,
            remote: 80,
        },
    )
    .await
    .expect_err("in use");
    assert!(
        err.to_string()
            .starts_with(&format!("unable to listen on 127.0.0.1:{port}: ")),
        "{err}"
    );
}

/// A plain-HTTP stand-in for the controller: answers one request with `reply`, then echoes
/// whatever arrives, and hands back the request head it saw.
async fn fake_server(reply: String) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let server = format!("http://{}", listener.local_addr().expect("bound"));
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accepts");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await.expect("reads") == 0 {
                break;
            }
            head.push(byte[0]);
        }
        stream.write_all(reply.as_bytes()).await.expect("replies");
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => stream.write_all(&buffer[..n]).await.expect("echoes"),
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    });
    (server, task)
}

fn stream_client(server: &str) -> PodStreamClient {
    let connection = Connection {
        cluster_name: "test".into(),
        server: server.into(),
        ca_pem: None,
        client_cert_pem: None,
        client_key_pem: None,
        token: Some("secret".into()),
        namespace: "default".into(),
        insecure: true,
        request_timeout: None,
    };
    PodStreamClient::new(&connection).expect("client")
}

/// A local connection pair: the end `forward` gets, and the end the test plays the user with.
async fn local_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let user = TcpStream::connect(listener.local_addr().expect("bound"))
        .await
        .expect("connects");
    let (accepted, _) = listener.accept().await.expect("accepts");
    (accepted, user)
}

#[tokio::test]
async fn forward_upgrades_and_copies_both_ways() {
    let (server, seen) = fake_server(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: edgeplane-portforward\r\n\r\n".into(),
    )
    .await;
    let client = stream_client(&server);
    let (accepted, mut user) = local_pair().await;
    let path = pod_path("default", "web", "portforward");
    let forwarding = tokio::spawn(async move { forward(accepted, &client, &path, 8080).await });
    user.write_all(b"ping").await.expect("writes");
    let mut echoed = [0u8; 4];
    user.read_exact(&mut echoed).await.expect("reads the echo");
    assert_eq!(&echoed, b"ping");
    drop(user);
    forwarding.await.expect("joins").expect("forwards cleanly");
    let head = seen.await.expect("joins").to_ascii_lowercase();
    assert!(
        head.starts_with(
            "post /api/v1/namespaces/default/pods/web/portforward?ports=8080 http/1.1"
        ),
        "{head}"
    );
    for header in [
        "connection: upgrade",
        "upgrade: edgeplane-portforward",
        "authorization: bearer secret",
    ] {
        assert!(head.contains(header), "{header} missing from {head}");
    }
}

#[tokio::test]
async fn forward_reports_the_servers_status() {
    let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"node edge-1 is not connected","reason":"ServiceUnavailable","code":503}"#;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (server, _seen) = fake_server(reply).await;
    let client = stream_client(&server);
    let (accepted, _user) = local_pair().await;
    let err = forward(accepted, &client, "/x", 80)
        .await
        .expect_err("503 is an error");
    assert_eq!(
        crate::cmd::error_line(&err),
        "Error from server (ServiceUnavailable): node edge-1 is not connected"
    );
}
