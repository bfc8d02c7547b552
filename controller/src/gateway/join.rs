//! Joining a node: an agent without a certificate presents a bootstrap token and a CSR on a
//! QUIC connection and receives a node certificate (`system:node:NAME`, group `system:nodes`).
//!
//! Every refusal is a one-line message that says what to do; the agent prints it and exits.

use std::time::Duration;

use edge_wire::link::{self, JoinReply, JoinRequest, PROTOCOL_VERSION};
use edge_wire::pki::CertRequest;
use serde_json::Value;

use super::AgentGateway;
use crate::apiserver::token_identity;
use crate::auth::{NODE_LEASE_NAMESPACE, NODES_GROUP};

/// How long a joining agent has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Validity of node certificates.
const NODE_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Serves the one join stream of an unauthenticated connection.
pub(super) async fn serve(gateway: &AgentGateway, conn: quinn::Connection) {
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, conn.accept_bi()).await;
    let Ok(Ok((mut send, mut recv))) = stream else {
        conn.close(1u32.into(), b"no join request");
        return;
    };
    let request = tokio::time::timeout(
        REQUEST_TIMEOUT,
        link::read_frame::<JoinRequest, _>(&mut recv),
    )
    .await;
    let reply = match request {
        Ok(Ok(request)) => match gateway.join(&request).await {
            Ok(cert_pem) => {
                tracing::info!(node = %request.node_name, "node joined");
                JoinReply::Accepted { cert_pem }
            }
            Err(message) => {
                tracing::info!(node = %request.node_name, "join refused: {message}");
                JoinReply::Rejected { message }
            }
        },
        Ok(Err(err)) => JoinReply::Rejected {
            message: format!("malformed join request: {err}"),
        },
        Err(_) => JoinReply::Rejected {
            message: "no join request within 10s".to_owned(),
        },
    };
    if link::write_frame(&mut send, &reply).await.is_ok() {
        let _ = send.finish();
        // Let the agent read the reply and close; it normally does at once.
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    }
    conn.close(0u32.into(), b"join done");
}

impl AgentGateway {
    /// Checks a join request and signs the node's certificate, or says why not.
    async fn join(&self, request: &JoinRequest) -> Result<String, String> {
        if request.protocol != PROTOCOL_VERSION {
            return Err(version_mismatch(request.protocol));
        }
        token_identity(&self.api, &request.token).map_err(|reason| {
            let reason = reason.trim_start_matches("Unauthorized: ");
            format!("the controller refused the token: {reason}")
        })?;
        let name = request.node_name.as_str();
        if let Some(problem) = edge_api::validation::dns1123_subdomain(name).first() {
            return Err(format!(
                "invalid node name {name:?}: {problem}; pass a valid --name"
            ));
        }
        if let Some(age) = self.live_agent_age(name) {
            return Err(format!(
                "node name {name:?} is held by a live agent (last heartbeat {}s ago): pick another --name, or stop that agent and wait {}s",
                age.as_secs(),
                self.options.node_grace.as_secs()
            ));
        }
        let cert_request = CertRequest {
            common_name: format!("system:node:{name}"),
            organizations: vec![NODES_GROUP.to_owned()],
            client_auth: true,
            validity: NODE_CERT_VALIDITY,
            ..CertRequest::default()
        };
        self.pki
            .ca
            .sign_csr(&request.csr_pem, &cert_request)
            .map_err(|e| format!("cannot sign the node certificate: {e}"))
    }

    /// How long ago the agent holding `node` renewed its lease, if that is within the grace
    /// period, or if it is connected to this controller right now.
    fn live_agent_age(&self, node: &str) -> Option<Duration> {
        if self.is_connected(node) {
            return Some(Duration::ZERO);
        }
        let leases = edge_api::resource::lookup("coordination.k8s.io", "v1", "leases")?;
        let lease = self
            .api
            .current_local(leases, Some(NODE_LEASE_NAMESPACE), node)
            .ok()?;
        let renewed = lease
            .object
            .pointer("/spec/renewTime")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())?;
        let age = jiff::Timestamp::now().duration_since(renewed);
        let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
        (age < self.options.node_grace).then_some(age)
    }
}

/// The refusal for an agent speaking another protocol version.
pub(super) fn version_mismatch(theirs: u32) -> String {
    if theirs > PROTOCOL_VERSION {
        format!(
            "the agent speaks link protocol {theirs}, this controller only {PROTOCOL_VERSION}: upgrade the controller"
        )
    } else {
        format!(
            "the agent speaks link protocol {theirs}, this controller {PROTOCOL_VERSION}: upgrade the agent"
        )
    }
}
