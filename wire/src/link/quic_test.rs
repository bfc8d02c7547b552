//! The link's QUIC configurations on real loopback sockets: mutual TLS with the ALPN, and a
//! session that survives the agent's address changing (connection migration).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use super::{client_config, server_config};
use crate::link::{read_frame, write_frame};
use crate::pki::{CertRequest, CertificateAuthority};
use crate::tls;

struct Pair {
    server: quinn::Endpoint,
    client: quinn::Endpoint,
}

fn endpoints() -> Pair {
    let ca = CertificateAuthority::generate("test-ca").expect("a CA");
    let server_cert = ca
        .issue(&CertRequest {
            common_name: "controller".into(),
            ip_addresses: vec![Ipv4Addr::LOCALHOST.into()],
            server_auth: true,
            ..CertRequest::default()
        })
        .expect("a server certificate");
    let node_cert = ca
        .issue(&CertRequest {
            common_name: "system:node:n1".into(),
            client_auth: true,
            ..CertRequest::default()
        })
        .expect("a node certificate");
    let chain = format!("{}{}", server_cert.cert_pem, ca.cert_pem());
    let server_tls = tls::server_config(&chain, &server_cert.key_pem, ca.cert_pem())
        .expect("server TLS configuration");
    let server = quinn::Endpoint::server(
        server_config(server_tls).expect("server QUIC configuration"),
        (Ipv4Addr::LOCALHOST, 0).into(),
    )
    .expect("a server endpoint");
    let client_tls = tls::client_config(
        ca.cert_pem(),
        Some((&node_cert.cert_pem, &node_cert.key_pem)),
    )
    .expect("client TLS configuration");
    let mut client =
        quinn::Endpoint::client((Ipv4Addr::LOCALHOST, 0).into()).expect("a client endpoint");
    client.set_default_client_config(client_config(client_tls).expect("client QUIC configuration"));
    Pair { server, client }
}

#[tokio::test]
async fn a_session_survives_the_agent_changing_address() {
    let Pair { server, client } = endpoints();
    let server_addr = server.local_addr().expect("server address");
    let accept = tokio::spawn(async move {
        let conn = server
            .accept()
            .await
            .expect("an incoming connection")
            .await
            .expect("the handshake");
        let (mut send, mut recv) = conn.accept_bi().await.expect("a stream");
        let mut seen: Vec<SocketAddr> = Vec::new();
        // Echo frames back with the address each came from, until the stream ends.
        while let Ok(n) = read_frame::<u32, _>(&mut recv).await {
            seen.push(conn.remote_address());
            write_frame(&mut send, &(n + 1)).await.expect("echo");
        }
        seen
    });

    let conn = client
        .connect(server_addr, "127.0.0.1")
        .expect("connect")
        .await
        .expect("the handshake");
    assert_eq!(
        conn.handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol),
        Some(crate::link::ALPN.to_vec())
    );
    let (mut send, mut recv) = conn.open_bi().await.expect("a stream");
    write_frame(&mut send, &1u32).await.expect("send");
    assert_eq!(read_frame::<u32, _>(&mut recv).await.expect("echo"), 2);

    // The device gets a new address (a new socket, as after a DHCP renewal or a switch from
    // Wi-Fi to LTE): the same connection and stream carry on.
    let before = client.local_addr().expect("client address");
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("a new socket");
    client.rebind(socket).expect("rebind");
    let after = client.local_addr().expect("client address");
    assert_ne!(before.port(), after.port());
    for n in [10u32, 20, 30] {
        write_frame(&mut send, &n)
            .await
            .expect("send after the move");
        assert_eq!(
            read_frame::<u32, _>(&mut recv)
                .await
                .expect("echo after the move"),
            n + 1
        );
    }
    send.finish().expect("finish");
    let seen = accept.await.expect("the server task");
    assert_eq!(seen.first().map(SocketAddr::port), Some(before.port()));
    assert_eq!(
        seen.last().map(SocketAddr::port),
        Some(after.port()),
        "the server follows the new address: {seen:?}"
    );
    assert!(conn.close_reason().is_none(), "the connection stayed open");
}
