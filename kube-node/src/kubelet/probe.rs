//! Probes: exec, httpGet, tcpSocket and grpc checks, and the per-container tasks that run
//! liveness, readiness and startup probes with Kubernetes' timing (initialDelaySeconds,
//! periodSeconds, timeoutSeconds, successThreshold, failureThreshold).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use kube_core::{Container, IntOrString, Probe, Runtime, UriScheme};
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::pod_status::ProbeView;

/// The outcome of one probe attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The check passed.
    Success,
    /// The check failed; why.
    Failure(String),
}

/// Where a probe runs: the runtime and container (exec), and the host to connect to.
#[derive(Clone)]
pub(crate) struct Target {
    pub runtime: Arc<dyn Runtime>,
    pub container_id: String,
    pub host: String,
    pub container: Arc<Container>,
}

/// Runs a probe once.
pub(crate) async fn run_once(probe: &Probe, target: &Target) -> Outcome {
    let timeout =
        Duration::from_secs(u64::try_from(probe.timeout_seconds_or_default().max(1)).unwrap_or(1));
    if let Some(exec) = &probe.exec {
        return match target
            .runtime
            .exec_sync(&target.container_id, &exec.command, timeout)
            .await
        {
            Ok(r) if r.exit_code == 0 => Outcome::Success,
            Ok(r) => Outcome::Failure(format!(
                "command {:?} exited with {}: {}",
                exec.command,
                r.exit_code,
                String::from_utf8_lossy(&r.stdout).trim()
            )),
            Err(e) => Outcome::Failure(format!("exec failed: {e}")),
        };
    }
    if let Some(get) = &probe.http_get {
        let Some(port) = resolve_port(&get.port, &target.container) else {
            return Outcome::Failure(format!("unknown port {:?}", get.port));
        };
        let host = get.host.clone().unwrap_or_else(|| target.host.clone());
        let path = get.path.clone().unwrap_or_else(|| "/".into());
        let https = get.scheme == Some(UriScheme::Https);
        let headers: Vec<(String, String)> = get
            .http_headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        return match tokio::time::timeout(timeout, http_get(&host, port, &path, https, &headers))
            .await
        {
            Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
            Ok(Ok(code)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
            Ok(Err(e)) => Outcome::Failure(format!("Get \"http://{host}:{port}{path}\": {e}")),
            Err(_) => Outcome::Failure(format!(
                "Get \"http://{host}:{port}{path}\": context deadline exceeded"
            )),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let Some(port) = resolve_port(&tcp.port, &target.container) else {
            return Outcome::Failure(format!("unknown port {:?}", tcp.port));
        };
        let host = tcp.host.clone().unwrap_or_else(|| target.host.clone());
        return match tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await
        {
            Ok(Ok(_)) => Outcome::Success,
            Ok(Err(e)) => Outcome::Failure(format!("dial tcp {host}:{port}: {e}")),
            Err(_) => Outcome::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
        };
    }
    if let Some(grpc) = &probe.grpc {
        let Some(port) = u16::try_from(grpc.port).ok().filter(|p| *p > 0) else {
            return Outcome::Failure(format!("invalid port {}", grpc.port));
        };
        let service = grpc.service.clone().unwrap_or_default();
        return grpc_check(&target.host, port, service, timeout).await;
    }
    Outcome::Failure("the probe has no handler".into())
}

/// A `grpc.health.v1.Health/Check` call, with the kubelet's wording of each failure:
/// serving is success; any other status, a failed call, a connection that does not
/// come up, or no answer within `timeout` is a failure.
async fn grpc_check(host: &str, port: u16, service: String, timeout: Duration) -> Outcome {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let addr = format!("http://{host}:{port}");
    let endpoint = match tonic::transport::Endpoint::from_shared(addr.clone()) {
        Ok(e) => e.connect_timeout(timeout).timeout(timeout),
        Err(e) => return Outcome::Failure(format!("invalid address {addr}: {e}")),
    };
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(e)) => {
            return Outcome::Failure(format!(
                "timeout: failed to connect service \"{host}:{port}\" within {timeout:?}: {e}"
            ));
        }
        Err(_) => {
            return Outcome::Failure(format!(
                "timeout: failed to connect service \"{host}:{port}\" within {timeout:?}"
            ));
        }
    };
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest { service });
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(answer)) => match answer.into_inner().status() {
            ServingStatus::Serving => Outcome::Success,
            other => Outcome::Failure(format!(
                "service unhealthy (responded with \"{}\")",
                other.as_str_name()
            )),
        },
        Ok(Err(status)) if status.code() == tonic::Code::DeadlineExceeded => Outcome::Failure(
            format!("timeout: health rpc did not complete within {timeout:?}"),
        ),
        Ok(Err(status)) => Outcome::Failure(format!(
            "error: health rpc probe failed: {:?}: {}",
            status.code(),
            status.message()
        )),
        Err(_) => Outcome::Failure(format!(
            "timeout: health rpc did not complete within {timeout:?}"
        )),
    }
}

fn resolve_port(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|p| *p > 0),
        IntOrString::String(name) => match name.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => container
                .port_named(name)
                .and_then(|p| u16::try_from(p.container_port).ok()),
        },
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    https: bool,
    headers: &[(String, String)],
) -> Result<u16, kube_core::BoxError> {
    let tcp = TcpStream::connect((host, port)).await?;
    let mut builder = http::Request::get(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::USER_AGENT, "kube-probe/1.31")
        .header(http::header::ACCEPT, "*/*");
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder.body(Empty::<Bytes>::new())?;
    let status = if https {
        let config = super::server::insecure_client_config()?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = rustls_pki_types::ServerName::try_from(host.to_owned())?;
        let tls = connector.connect(name, tcp).await?;
        send(TokioIo::new(tls), request).await?
    } else {
        send(TokioIo::new(tcp), request).await?
    };
    Ok(status)
}

async fn send<T>(io: T, request: http::Request<Empty<Bytes>>) -> Result<u16, kube_core::BoxError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    // Read (at most a little of) the body so the server is not cut off mid-write.
    let _ = tokio::time::timeout(Duration::from_millis(100), response.into_body().collect()).await;
    driver.abort();
    Ok(status)
}

/// What the probes of one container found so far.
#[derive(Debug, Default)]
struct ProbeState {
    view: ProbeView,
    liveness_failed: Option<String>,
    startup_failed: Option<String>,
}

/// The probe tasks of one container.
struct ContainerProbes {
    state: Arc<Mutex<ProbeState>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ContainerProbes {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The probes of one pod's running containers, by container id; a change wakes the pod
/// worker through `notify`.
pub(crate) struct PodProbes {
    containers: HashMap<String, ContainerProbes>,
    notify: Arc<Notify>,
}

impl PodProbes {
    pub(crate) fn new(notify: Arc<Notify>) -> Self {
        Self {
            containers: HashMap::new(),
            notify,
        }
    }

    /// Starts the probes of a running container, unless they run already.
    pub(crate) fn ensure(&mut self, target: &Target, started_at: Option<SystemTime>) {
        if self.containers.contains_key(&target.container_id) {
            return;
        }
        let spec = target.container.clone();
        let state = Arc::new(Mutex::new(ProbeState::default()));
        let (started_tx, started_rx) = watch::channel(spec.startup_probe.is_none());
        {
            let mut s = state.lock();
            s.view.started = spec.startup_probe.is_none();
            s.view.ready = spec.readiness_probe.is_none() && s.view.started;
        }
        let mut tasks = Vec::new();
        let started_at = started_at.unwrap_or_else(SystemTime::now);
        if let Some(probe) = spec.startup_probe.clone() {
            tasks.push(tokio::spawn(startup_task(
                probe,
                target.clone(),
                started_at,
                state.clone(),
                started_tx,
                self.notify.clone(),
            )));
        }
        if let Some(probe) = spec.liveness_probe.clone() {
            tasks.push(tokio::spawn(liveness_task(
                probe,
                target.clone(),
                started_at,
                state.clone(),
                started_rx.clone(),
                self.notify.clone(),
            )));
        }
        if let Some(probe) = spec.readiness_probe.clone() {
            tasks.push(tokio::spawn(readiness_task(
                probe,
                target.clone(),
                started_at,
                state.clone(),
                started_rx,
                self.notify.clone(),
            )));
        } else if spec.startup_probe.is_some() {
            // No readiness probe: ready as soon as started.
            let state = state.clone();
            let notify = self.notify.clone();
            let mut rx = started_rx;
            tasks.push(tokio::spawn(async move {
                if rx.wait_for(|s| *s).await.is_ok() {
                    state.lock().view.ready = true;
                    notify.notify_one();
                }
            }));
        }
        self.containers.insert(
            target.container_id.clone(),
            ContainerProbes { state, tasks },
        );
    }

    /// Stops the probes of containers not in `running`.
    pub(crate) fn retain(&mut self, running: &[&str]) {
        self.containers
            .retain(|id, _| running.contains(&id.as_str()));
    }

    /// What the probes say, by container id.
    pub(crate) fn views(&self) -> HashMap<String, ProbeView> {
        self.containers
            .iter()
            .map(|(id, c)| (id.clone(), c.state.lock().view))
            .collect()
    }

    /// Why the container must be restarted, if its liveness or startup probe failed.
    pub(crate) fn failure(&self, id: &str) -> Option<String> {
        let c = self.containers.get(id)?;
        let s = c.state.lock();
        s.liveness_failed
            .clone()
            .map(|m| format!("Liveness probe failed: {m}"))
            .or_else(|| {
                s.startup_failed
                    .clone()
                    .map(|m| format!("Startup probe failed: {m}"))
            })
    }
}

fn secs(n: i32) -> Duration {
    Duration::from_secs(u64::try_from(n.max(0)).unwrap_or(0))
}

async fn initial_delay(probe: &Probe, started_at: SystemTime) {
    let due = started_at + secs(probe.initial_delay_seconds.unwrap_or(0));
    if let Ok(wait) = due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}

fn period(probe: &Probe) -> Duration {
    secs(probe.period_seconds_or_default().max(1))
}

async fn startup_task(
    probe: Probe,
    target: Target,
    started_at: SystemTime,
    state: Arc<Mutex<ProbeState>>,
    started: watch::Sender<bool>,
    notify: Arc<Notify>,
) {
    initial_delay(&probe, started_at).await;
    let threshold = probe.failure_threshold_or_default().max(1);
    let mut failures = 0;
    loop {
        match run_once(&probe, &target).await {
            Outcome::Success => {
                state.lock().view.started = true;
                let _ = started.send(true);
                notify.notify_one();
                return;
            }
            Outcome::Failure(why) => {
                failures += 1;
                tracing::debug!(container = %target.container.name, %why, failures, "startup probe failed");
                if failures >= threshold {
                    state.lock().startup_failed = Some(why);
                    notify.notify_one();
                    return;
                }
            }
        }
        tokio::time::sleep(period(&probe)).await;
    }
}

async fn liveness_task(
    probe: Probe,
    target: Target,
    started_at: SystemTime,
    state: Arc<Mutex<ProbeState>>,
    mut started: watch::Receiver<bool>,
    notify: Arc<Notify>,
) {
    if started.wait_for(|s| *s).await.is_err() {
        return;
    }
    initial_delay(&probe, started_at).await;
    let threshold = probe.failure_threshold_or_default().max(1);
    let mut failures = 0;
    loop {
        match run_once(&probe, &target).await {
            Outcome::Success => failures = 0,
            Outcome::Failure(why) => {
                failures += 1;
                tracing::debug!(container = %target.container.name, %why, failures, "liveness probe failed");
                if failures >= threshold {
                    state.lock().liveness_failed = Some(why);
                    notify.notify_one();
                    return;
                }
            }
        }
        tokio::time::sleep(period(&probe)).await;
    }
}

async fn readiness_task(
    probe: Probe,
    target: Target,
    started_at: SystemTime,
    state: Arc<Mutex<ProbeState>>,
    mut started: watch::Receiver<bool>,
    notify: Arc<Notify>,
) {
    if started.wait_for(|s| *s).await.is_err() {
        return;
    }
    initial_delay(&probe, started_at).await;
    let (ok_needed, fail_needed) = (
        probe.success_threshold_or_default().max(1),
        probe.failure_threshold_or_default().max(1),
    );
    let (mut oks, mut fails) = (0, 0);
    loop {
        let outcome = run_once(&probe, &target).await;
        let ready = {
            let s = state.lock();
            s.view.ready
        };
        let next = match outcome {
            Outcome::Success => {
                oks += 1;
                fails = 0;
                if oks >= ok_needed { true } else { ready }
            }
            Outcome::Failure(why) => {
                fails += 1;
                oks = 0;
                tracing::debug!(container = %target.container.name, %why, "readiness probe failed");
                if fails >= fail_needed { false } else { ready }
            }
        };
        if next != ready {
            state.lock().view.ready = next;
            notify.notify_one();
        }
        tokio::time::sleep(period(&probe)).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;
    use crate::SimRuntime;

    fn target(port_name: Option<(&str, i32)>) -> Target {
        let mut c = Container {
            name: "app".into(),
            ..Default::default()
        };
        if let Some((name, port)) = port_name {
            c.ports.push(kube_core::ContainerPort {
                name: Some(name.into()),
                container_port: port,
                ..Default::default()
            });
        }
        Target {
            runtime: Arc::new(SimRuntime::new()),
            container_id: "none".into(),
            host: "127.0.0.1".into(),
            container: Arc::new(c),
        }
    }

    fn probe(json: serde_json::Value) -> Probe {
        serde_json::from_value(json).unwrap()
    }

    #[tokio::test]
    async fn tcp_and_http_probes_check_a_real_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 512];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let code = if buf.starts_with(b"GET /bad") {
                        "500 Oops"
                    } else {
                        "200 OK"
                    };
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 {code}\r\ncontent-length: 0\r\n\r\n").as_bytes(),
                        )
                        .await;
                });
            }
        });
        let t = target(Some(("http", i32::from(port))));
        let tcp = probe(serde_json::json!({"tcpSocket": {"port": port}}));
        assert_eq!(run_once(&tcp, &t).await, Outcome::Success);
        let get = probe(serde_json::json!({"httpGet": {"path": "/healthz", "port": "http"}}));
        assert_eq!(run_once(&get, &t).await, Outcome::Success);
        let bad = probe(serde_json::json!({"httpGet": {"path": "/bad", "port": port}}));
        match run_once(&bad, &t).await {
            Outcome::Failure(m) => assert!(m.contains("500"), "{m}"),
            Outcome::Success => panic!("a 500 fails the probe"),
        }
        // Nothing listens on a closed port.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let tcp = probe(serde_json::json!({"tcpSocket": {"port": closed_port}}));
        assert!(matches!(run_once(&tcp, &t).await, Outcome::Failure(_)));
        let unknown = probe(serde_json::json!({"httpGet": {"port": "nope"}}));
        assert!(matches!(run_once(&unknown, &t).await, Outcome::Failure(_)));
    }

    #[tokio::test]
    async fn grpc_probes_ask_the_health_service() {
        use tonic_health::ServingStatus;

        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("db", ServingStatus::NotServing)
            .await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        let t = target(None);
        let grpc = |service: Option<&str>| {
            let mut p = serde_json::json!({"grpc": {"port": port}, "timeoutSeconds": 2});
            if let Some(s) = service {
                p["grpc"]["service"] = s.into();
            }
            probe(p)
        };
        let failure = |outcome: Outcome| match outcome {
            Outcome::Failure(m) => m,
            Outcome::Success => panic!("the probe passed"),
        };

        // The server's overall health (no service named), then a named service.
        assert_eq!(run_once(&grpc(None), &t).await, Outcome::Success);
        let m = failure(run_once(&grpc(Some("db")), &t).await);
        assert_eq!(m, r#"service unhealthy (responded with "NOT_SERVING")"#);
        reporter
            .set_service_status("db", ServingStatus::Serving)
            .await;
        assert_eq!(run_once(&grpc(Some("db")), &t).await, Outcome::Success);
        // A service the server does not know: the call fails with NotFound.
        let m = failure(run_once(&grpc(Some("nope")), &t).await);
        assert!(
            m.starts_with("error: health rpc probe failed: NotFound"),
            "{m}"
        );

        // Nothing listens any more.
        server.abort();
        let _ = server.await;
        let m = failure(run_once(&grpc(None), &t).await);
        assert!(m.contains("failed to connect service"), "{m}");
        let bad = probe(serde_json::json!({"grpc": {"port": 0}}));
        assert_eq!(failure(run_once(&bad, &t).await), "invalid port 0");
    }

    #[tokio::test]
    async fn exec_probes_use_the_runtime() {
        let t = target(None);
        let p = probe(serde_json::json!({"exec": {"command": ["true"]}}));
        // The container does not exist in the runtime: the exec fails.
        assert!(matches!(run_once(&p, &t).await, Outcome::Failure(_)));
    }
}
