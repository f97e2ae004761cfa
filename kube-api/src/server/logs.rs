//! `pods/{name}/log`: resolves the pod's node and proxies the node agent's log stream.
//!
//! The pod's `spec.nodeName` leads to the Node, whose first `InternalIP` address (else its
//! `Hostname`) and `status.daemonEndpoints.kubeletEndpoint.Port` (10250 when unset) are
//! where the node agent serves
//! `GET /containerLogs/{namespace}/{pod}/{container}?follow=..&tailLines=..`. As in
//! Kubernetes, the node's serving certificate is not verified; the API server presents its
//! kubelet client certificate when it has one (see
//! [`ApiServer::set_kubelet_client_certificate`](super::ApiServer::set_kubelet_client_certificate)).
//! The answer streams back as `text/plain`, for as long as the node agent follows it.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use kube_core::{Error, ObjectRef};
use parking_lot::RwLock;
use rustls::ClientConfig as TlsConfig;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::ApiInner;
use super::body::{ApiBody, ApiResponse};
use super::kinds::KindSpec;
use super::object::meta_str;
use super::pki::CertifiedKey;
use super::query::Query;
use crate::client::https::NoVerification;

/// The node agent's port when the Node does not say.
pub(crate) const DEFAULT_KUBELET_PORT: u16 = 10250;

/// How long connecting to a node agent may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The query parameters passed through to the node agent.
const PASSED: &[&str] = &[
    "follow",
    "previous",
    "timestamps",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
];

/// The TLS client the API server reaches node agents with.
pub(crate) struct KubeletClient {
    tls: RwLock<Arc<TlsConfig>>,
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClient").finish_non_exhaustive()
    }
}

fn tls_config(identity: Option<&CertifiedKey>) -> Result<TlsConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let internal = |e: String| Error::Internal {
        message: format!("kubelet client TLS: {e}"),
        source: None,
    };
    let builder = TlsConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| internal(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerification(provider)));
    let mut tls = match identity {
        Some(id) => {
            let chain = id.cert_chain().map_err(|e| internal(e.to_string()))?;
            let key = id.private_key().map_err(|e| internal(e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| internal(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

impl KubeletClient {
    /// A client without a client certificate.
    pub(crate) fn new() -> Result<Self, Error> {
        Ok(Self {
            tls: RwLock::new(Arc::new(tls_config(None)?)),
        })
    }

    /// Presents this certificate to node agents from now on.
    pub(crate) fn set_identity(&self, identity: &CertifiedKey) -> Result<(), Error> {
        *self.tls.write() = Arc::new(tls_config(Some(identity))?);
        Ok(())
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadRequest(msg.into())
}

/// Chooses the container: the one named, or the only one.
fn container_of(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, Error> {
    let names: Vec<&str> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|list| pod.pointer(&format!("/spec/{list}"))?.as_array())
        .flatten()
        .filter_map(|c| c.get("name")?.as_str())
        .collect();
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if names.contains(&c) => Ok(c.to_owned()),
        Some(c) => Err(bad(format!("container {c} is not valid for pod {name}"))),
        None => {
            let main: Vec<&str> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name")?.as_str())
                .collect();
            match main.as_slice() {
                [only] => Ok((*only).to_owned()),
                _ => Err(bad(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    main.join(" ")
                ))),
            }
        }
    }
}

/// Where a node's agent listens: its first InternalIP (else Hostname) and port.
fn node_endpoint(node: &Value) -> Option<(String, u16)> {
    let addresses = node.pointer("/status/addresses")?.as_array()?;
    let of_type = |t: &str| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
            .and_then(|a| a.get("address")?.as_str())
            .filter(|a| !a.is_empty())
    };
    let host = of_type("InternalIP").or_else(|| of_type("Hostname"))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Some((host.to_owned(), port))
}

fn check_params(q: &Query) -> Result<(), Error> {
    for int in ["tailLines", "sinceSeconds", "limitBytes"] {
        if let Some(v) = q.int(int)? {
            if v < 0 || (int != "tailLines" && v == 0) {
                return Err(bad(format!("{int} must be greater than 0, got {v}")));
            }
        }
    }
    for flag in ["follow", "previous", "timestamps"] {
        q.flag(flag)?;
    }
    if q.get("sinceSeconds").is_some() && q.get("sinceTime").is_some() {
        return Err(bad(
            "at most one of sinceTime or sinceSeconds may be specified",
        ));
    }
    Ok(())
}

/// Serves `GET pods/{name}/log` by proxying the node agent's answer.
pub(crate) async fn proxy(
    inner: &Arc<ApiInner>,
    kind: &KindSpec,
    ns: Option<&str>,
    name: &str,
    q: &Query,
) -> Result<ApiResponse, Error> {
    check_params(q)?;
    let (pod, _) = inner.registry.get(kind, ns, name).await?;
    let container = container_of(&pod, name, q.get("container"))?;
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad(format!("pod {name} does not have a host assigned")))?;
    let nodes = inner
        .registry
        .kinds
        .get("", "v1", "nodes")
        .ok_or_else(|| Error::ServiceUnavailable("nodes are not served".into()))?;
    let (node, _) = inner
        .registry
        .get(&nodes, None, node_name)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(ObjectRef::new("", "nodes", node_name)),
            other => other,
        })?;
    let (host, port) = node_endpoint(&node).ok_or_else(|| {
        Error::ServiceUnavailable(format!(
            "node {node_name} has no InternalIP or Hostname address to reach its agent at"
        ))
    })?;
    let namespace = ns.or_else(|| meta_str(&pod, "namespace")).unwrap_or("");
    let mut query: Vec<String> = Vec::new();
    for p in PASSED {
        if let Some(v) = q.get(p) {
            query.push(format!("{p}={}", urlencode(v)));
        }
    }
    let path = format!(
        "/containerLogs/{}/{}/{}{}{}",
        urlencode(namespace),
        urlencode(name),
        urlencode(&container),
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    );
    let span =
        tracing::debug_span!("pod_log", pod = %format!("{namespace}/{name}"), node = node_name);
    tracing::Instrument::instrument(fetch(inner, &host, port, &path), span).await
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn fetch(inner: &ApiInner, host: &str, port: u16, path: &str) -> Result<ApiResponse, Error> {
    let unreachable = |e: String| {
        Error::ServiceUnavailable(format!(
            "the node agent at {host}:{port} cannot be reached: {e}"
        ))
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| unreachable("connect timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|e| unreachable(format!("invalid host: {e}")))?;
    let tls = inner.kubelet.tls.read().clone();
    let stream = TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| unreachable(format!("TLS: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "node agent connection ended");
        }
    });
    let req = Request::get(path)
        .header(header::HOST, format!("{host}:{port}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| bad(format!("invalid log request: {e}")))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = res.status();
    if !status.is_success() {
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_owned();
        let message = format!("the node agent answered {status}: {text}");
        return Err(match status {
            StatusCode::NOT_FOUND => Error::Status(Box::new(kube_core::Status::failure(
                kube_core::StatusReason::NotFound,
                message,
            ))),
            StatusCode::BAD_REQUEST => bad(message),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Internal {
                message: format!("the node agent refused the API server's credentials: {message}"),
                source: None,
            },
            _ => Error::ServiceUnavailable(message),
        });
    }
    let mut out = http::Response::new(ApiBody::new(res.into_body()));
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    out.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_chosen_like_kubernetes() {
        let pod =
            json!({"spec": {"containers": [{"name": "a"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(container_of(&pod, "p", None).unwrap(), "a");
        assert_eq!(container_of(&pod, "p", Some("i")).unwrap(), "i");
        assert_eq!(container_of(&pod, "p", Some("x")).unwrap_err().code(), 400);
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let err = container_of(&two, "p", None).unwrap_err();
        assert!(err.to_string().contains("choose one of: [a b]"), "{err}");
    }

    #[test]
    fn node_endpoints_prefer_internal_ip_and_default_the_port() {
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}}}});
        assert_eq!(node_endpoint(&node), Some(("10.0.0.5".into(), 12345)));
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(
            node_endpoint(&node),
            Some(("n1".into(), DEFAULT_KUBELET_PORT))
        );
        assert_eq!(node_endpoint(&json!({})), None);
        assert_eq!(urlencode("a b/c"), "a%20b%2Fc");
    }
}
