//! The node agent with `ProcessRuntime` and real processes, through an in-process API
//! server: crash back-off, readiness and liveness probes, logs over the HTTPS endpoint,
//! grace periods, and a `kill -9` of the agent (a child process) followed by adoption.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use kube_api::client::{Api, Client, ClientConfig, DeleteParams, PostParams};
use kube_api::server::ApiServer;
use kube_api::server::pki::{Pki, PkiConfig};
use kube_core::{Pod, PodConditionType, Store};
use kube_node::kubelet::ServerConfig;
use kube_node::{Kubelet, KubeletConfig, ProcessRuntime, ProcessRuntimeConfig, RunningKubelet};

const AGENT_ENV: &str = "KUBE_NODE_TEST_AGENT";

/// A test's directory; dropping it kills whatever the test's containers left running (a
/// failed test must not leave processes behind: the agent leaves them running by design).
struct TestDir {
    dir: tempfile::TempDir,
    agents: Vec<std::process::Child>,
}

impl TestDir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            agents: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("runtime/containers")) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let Ok(data) = std::fs::read(entry.path().join("container.json")) else {
                continue;
            };
            let record: serde_json::Value = serde_json::from_slice(&data).unwrap_or_default();
            if let Some(pid) = record["pid"].as_i64() {
                // The wrapper leads its process group: kill the whole group.
                let _ = std::process::Command::new("kill")
                    .args(["-9", "--", &format!("-{pid}")])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

async fn api_server() -> ApiServer {
    let store: Arc<dyn Store> = Arc::new(kube_store::MemoryStore::new());
    ApiServer::builder(store).build().await.unwrap()
}

fn config(node: &str, dir: &Path) -> KubeletConfig {
    KubeletConfig {
        node_name: node.into(),
        server: None,
        capacity: Some(
            [("cpu", "4"), ("memory", "8Gi"), ("pods", "20")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
                .collect(),
        ),
        sync_period: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(300),
        backoff_max: Duration::from_secs(2),
        lease_renew_interval: Duration::from_millis(500),
        node_status_update_frequency: Duration::from_millis(500),
        pod_log_dir: dir.join("pods"),
        ..KubeletConfig::default()
    }
}

fn runtime(dir: &Path) -> ProcessRuntime {
    let mut c = ProcessRuntimeConfig::new(dir.join("runtime"));
    c.poll = Duration::from_millis(20);
    // Host networking: these tests are about processes, probes and logs.
    c.pod_network = false;
    ProcessRuntime::new(c).unwrap()
}

async fn agent(
    client: Client,
    dir: &Path,
    tweak: impl FnOnce(&mut KubeletConfig),
) -> RunningKubelet {
    let mut cfg = config("n1", dir);
    tweak(&mut cfg);
    Kubelet::builder(client, runtime(dir))
        .config(cfg)
        .build()
        .start()
        .await
        .unwrap()
}

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = serde_json::json!("n1");
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

fn sh(script: &str) -> serde_json::Value {
    serde_json::json!(["sh", "-c", script])
}

async fn until(api: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(p) = api.get_opt(name).await.unwrap() {
            if check(&p) {
                return p;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_gone(api: &Api<Pod>, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pod {name} was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !matches!(
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z" | "X")
        )
    })
}

/// The pids the test's containers wrote (`$$$$`: Kubernetes turns `$$` into `$`), once
/// there are any.
async fn wait_pids(path: &Path) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pids = read_pids(path);
        if !pids.is_empty() {
            return pids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the container never wrote its pid"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_container_backs_off_and_its_restart_count_grows() {
    let dir = TestDir::new();
    let api = api_server().await;
    let client = Client::new(api, "default");
    let kubelet = agent(client.clone(), dir.path(), |_| {}).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod("crash", serde_json::json!({
        "containers": [{"name": "app", "image": "busybox", "command": sh("echo boom; exit 3")}]
    })))
    .await
    .unwrap();
    let looping = until(&pods, "crash", "CrashLoopBackOff after restarts", |p| {
        p.status.container_statuses.first().is_some_and(|c| {
            c.restart_count >= 2
                && c.state.waiting.as_ref().and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        })
    })
    .await;
    let last = looping.status.container_statuses[0]
        .last_state
        .terminated
        .clone()
        .unwrap();
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    let before = looping.status.container_statuses[0].restart_count;
    until(&pods, "crash", "the restart count to grow", |p| {
        p.status.container_statuses[0].restart_count > before
    })
    .await;
    kubelet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_gates_ready_and_liveness_failures_restart() {
    let dir = TestDir::new();
    let ready_file = dir.path().join("ready");
    let api = api_server().await;
    let client = Client::new(api, "default");
    let kubelet = agent(client.clone(), dir.path(), |_| {}).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod("ready", serde_json::json!({
        "containers": [{
            "name": "app", "image": "anything", "command": ["sleep", "3600"],
            "readinessProbe": {"exec": {"command": ["test", "-f", ready_file.to_str().unwrap()]},
                               "periodSeconds": 1, "failureThreshold": 1}
        }]
    })))
    .await
    .unwrap();
    let running = until(&pods, "ready", "a running container", |p| {
        p.status
            .container_statuses
            .first()
            .is_some_and(|c| c.state.running.is_some())
    })
    .await;
    assert!(!running.is_ready(), "not ready before the probe passes");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !pods.get("ready").await.unwrap().is_ready(),
        "still not ready: the file is missing"
    );
    std::fs::write(&ready_file, b"").unwrap();
    let ready = until(&pods, "ready", "Ready", Pod::is_ready).await;
    assert!(ready.status.container_statuses[0].ready);
    assert!(
        ready
            .condition(&PodConditionType::ContainersReady)
            .unwrap()
            .status
            .is_true()
    );
    std::fs::remove_file(&ready_file).unwrap();
    until(&pods, "ready", "not Ready again", |p| !p.is_ready()).await;

    pods.create(&PostParams::default(), &pod("live", serde_json::json!({
        "containers": [{
            "name": "app", "image": "anything", "command": ["sleep", "3600"],
            "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}
        }],
        "terminationGracePeriodSeconds": 1
    })))
    .await
    .unwrap();
    let restarted = until(&pods, "live", "a restart after liveness failures", |p| {
        p.status
            .container_statuses
            .first()
            .is_some_and(|c| c.restart_count >= 1)
    })
    .await;
    let last = restarted.status.container_statuses[0]
        .last_state
        .terminated
        .clone()
        .unwrap();
    assert_eq!(last.exit_code, 143, "sleep died of the SIGTERM");
    kubelet.shutdown().await;
}

/// A TLS client for the node agent's server, presenting `identity` when given.
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    identity: Option<(&str, &str)>,
) -> Result<(u16, hyper::body::Incoming), String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok((res.status().as_u16(), res.into_body()))
}

#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn body_text(mut body: hyper::body::Incoming) -> String {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            out.extend_from_slice(&data);
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_come_back_over_the_log_endpoint_to_cluster_clients_only() {
    let dir = TestDir::new();
    let pki = Pki::load_or_create(&PkiConfig::new(dir.path().join("pki"))).unwrap();
    let api = api_server().await;
    let client = Client::new(api, "default");
    let ca = pki.ca.cert_pem.clone();
    let kubelet = agent(client.clone(), dir.path(), move |c| {
        c.server = Some(ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            client_ca_pem: Some(ca),
            serving_cert: None,
        });
    })
    .await;
    let addr = kubelet.server_addr().unwrap();
    let nodes: Api<kube_core::Node> = Api::all(client.clone());
    assert_eq!(
        nodes
            .get("n1")
            .await
            .unwrap()
            .status
            .daemon_endpoints
            .kubelet_endpoint
            .port,
        i32::from(addr.port()),
        "the Node reports the real port"
    );
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod("talker", serde_json::json!({
        "containers": [{"name": "app", "image": "x", "command": sh("echo one; echo two >&2; exec sleep 3600")}]
    })))
    .await
    .unwrap();
    until(&pods, "talker", "a running pod", Pod::is_ready).await;
    let apiserver = pki
        .issue_client_certificate("kube-apiserver-kubelet-client", Some("system:masters"))
        .unwrap();
    let id = Some((apiserver.cert_pem.as_str(), apiserver.key_pem.as_str()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let all = loop {
        let (code, body) = get(addr, "/containerLogs/default/talker/app", id)
            .await
            .unwrap();
        assert_eq!(code, 200);
        let text = body_text(body).await;
        if text.lines().count() >= 2 || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut lines: Vec<&str> = all.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["one", "two"], "stdout and stderr both");
    let (code, metrics) = get(addr, "/metrics", id).await.unwrap();
    assert_eq!(code, 200);
    let metrics = body_text(metrics).await;
    assert!(metrics.contains("kubelet_running_pods 1\n"), "{metrics}");
    assert!(
        metrics.contains("kubelet_running_containers{container_state=\"running\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubelet_pods{phase=\"Running\"} 1\n"),
        "{metrics}"
    );
    let (_, tail) = get(
        addr,
        "/containerLogs/default/talker/app?tailLines=1&timestamps=true",
        id,
    )
    .await
    .unwrap();
    let tail = body_text(tail).await;
    assert_eq!(tail.lines().count(), 1);
    assert!(tail.starts_with("20"), "a timestamp first: {tail:?}");
    let (code, _) = get(addr, "/containerLogs/default/talker/app?previous=true", id)
        .await
        .unwrap();
    assert_eq!(code, 400, "no previous container yet");
    let (code, _) = get(addr, "/containerLogs/default/nobody/app", id)
        .await
        .unwrap();
    assert_eq!(code, 404);
    // Following streams until the container ends (here: the pod is deleted).
    let (code, mut body) = get(
        addr,
        "/containerLogs/default/talker/app?follow=true&sinceSeconds=3600",
        id,
    )
    .await
    .unwrap();
    assert_eq!(code, 200);
    let first = tokio::time::timeout(Duration::from_secs(30), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!first.into_data().unwrap().is_empty());
    pods.delete(
        "talker",
        &DeleteParams {
            grace_period_seconds: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(f) = body.frame().await {
            if f.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the followed log ends with the container");
    // Without a client certificate from the cluster CA, nothing is served.
    let anonymous = get(addr, "/containerLogs/default/talker/app", None).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate is refused"
    );
    kubelet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = TestDir::new();
    let pid_file = dir.path().join("pid");
    let api = api_server().await;
    let client = Client::new(api, "default");
    let kubelet = agent(client.clone(), dir.path(), |_| {}).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let script = format!(
        "echo $$$$ >> {}; trap '' TERM; while true; do sleep 1; done",
        pid_file.display()
    );
    pods.create(
        &PostParams::default(),
        &pod(
            "stubborn",
            serde_json::json!({
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "app", "image": "x", "command": sh(&script)}]
            }),
        ),
    )
    .await
    .unwrap();
    until(&pods, "stubborn", "a running pod", Pod::is_ready).await;
    let pid = wait_pids(&pid_file).await[0];
    assert!(process_alive(pid));
    let started = tokio::time::Instant::now();
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    // Still there during the grace period, as Kubernetes shows it.
    let terminating = pods.get("stubborn").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    until_gone(&pods, "stubborn").await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the grace period was given"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while process_alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the process survived its grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kubelet.shutdown().await;
}

/// Not a test: the node agent of `a_killed_agent_restarts_and_adopts_its_containers`,
/// which runs this test binary again, filtered to this function, in a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the agent process of a_killed_agent_restarts_and_adopts_its_containers"]
async fn agent_process() {
    let server = std::env::var(AGENT_ENV).expect("run by the adoption test");
    let dir = PathBuf::from(std::env::var("KUBE_NODE_TEST_DIR").unwrap());
    let client = Client::try_from_config(&ClientConfig::new(&server).unwrap()).unwrap();
    let _kubelet = agent(client, &dir, |_| {}).await;
    // Runs until killed.
    std::future::pending::<()>().await;
}

fn spawn_agent(server: &str, dir: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .unwrap();
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "agent_process", "--ignored", "--nocapture"])
        .env(AGENT_ENV, server)
        .env("KUBE_NODE_TEST_DIR", dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_restarts_and_adopts_its_containers() {
    let mut dir = TestDir::new();
    let pid_file = dir.path().join("pids");
    let api = api_server().await;
    let (addr, _serving) = api
        .serve_plain("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let server = format!("http://{addr}");
    let client = Client::new(api, "default");
    let pods: Api<Pod> = Api::default_namespaced(client);

    dir.agents.push(spawn_agent(&server, dir.path()));
    let script = format!(
        "echo $$$$ >> {}; echo started; exec sleep 3600",
        pid_file.display()
    );
    pods.create(
        &PostParams::default(),
        &pod(
            "survivor",
            serde_json::json!({
                "containers": [{"name": "app", "image": "x", "command": sh(&script)}]
            }),
        ),
    )
    .await
    .unwrap();
    let ready = until(&pods, "survivor", "a ready pod", Pod::is_ready).await;
    let container_id = ready.status.container_statuses[0].container_id.clone();
    let pid = wait_pids(&pid_file).await[0];

    // kill -9 of the agent: its container keeps running.
    let mut first = dir.agents.remove(0);
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(process_alive(pid), "the container outlives its agent");

    dir.agents.push(spawn_agent(&server, dir.path()));
    // The new agent reports on the pod (its heartbeat proves it runs) without a restart.
    let leases: Api<kube_core::Lease> = Api::namespaced(pods.client().clone(), "kube-node-lease");
    let before = leases.get("n1").await.unwrap().spec.renew_time;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while leases.get("n1").await.unwrap().spec.renew_time == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new agent never renewed the lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let adopted = pods.get("survivor").await.unwrap();
    assert!(adopted.is_ready());
    let status = &adopted.status.container_statuses[0];
    assert_eq!(status.container_id, container_id, "the same container");
    assert_eq!(status.restart_count, 0);
    assert_eq!(read_pids(&pid_file), [pid], "started once, never twice");
    assert!(process_alive(pid));

    // The adopted container is still under the agent's control: deletion stops it.
    pods.delete(
        "survivor",
        &DeleteParams {
            grace_period_seconds: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    until_gone(&pods, "survivor").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while process_alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the adopted container was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
