//! `ControlPlane::builder()`: wrong combinations are errors at `build()`, the durable store
//! keeps the state across a restart, and the served HTTPS endpoint works from the
//! kubeconfig it writes.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use kube_sdk::api::client::{Api, Client, Kubeconfig, PostParams};
use kube_sdk::core::{ConfigMap, ObjectMeta};
use kube_sdk::{BuildError, ControlPlane};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Builds and starts a control plane.
async fn started(builder: kube_sdk::ControlPlaneBuilder) -> kube_sdk::RunningControlPlane {
    builder.build().await.unwrap().start().await.unwrap()
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: [("k".to_owned(), "v".to_owned())].into(),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn https_without_a_pki_dir_is_refused_at_build() {
    let err = ControlPlane::builder()
        .listen(loopback())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, BuildError::Config(ref m) if m.contains("pki_dir")),
        "{err}"
    );
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_at_build() {
    let err = ControlPlane::builder()
        .plain_http("0.0.0.0:0".parse().unwrap())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, BuildError::Config(ref m) if m.contains("loopback")),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_as_pki_dir_is_refused_at_build() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = ControlPlane::builder()
        .pki_dir(file.path())
        .listen(loopback())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, BuildError::Config(ref m) if m.contains("not a directory")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unusable_data_dir_is_a_clear_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = ControlPlane::builder()
        .data_dir(file.path().join("below-a-file"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::DataDir(_)), "{err}");
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let pki = tempfile::tempdir().unwrap();
    let err = ControlPlane::builder()
        .pki_dir(pki.path())
        .listen(taken.local_addr().unwrap())
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap_err();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(
        text.contains("cannot listen on") && text.contains("in use"),
        "{text}"
    );
}

#[tokio::test]
async fn the_durable_store_keeps_objects_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let cluster = started(ControlPlane::builder().data_dir(data.path())).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client());
    cms.create(&PostParams::default(), &config_map("kept"))
        .await
        .unwrap();
    // A client keeps the server (and so the store) alive: drop it before the restart.
    drop(cms);
    cluster.shutdown().await;

    let cluster = started(ControlPlane::builder().data_dir(data.path())).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(cluster.client());
    let kept = cms.get("kept").await.unwrap();
    assert_eq!(kept.data.get("k").map(String::as_str), Some("v"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_with_a_kubeconfig_that_works() {
    let pki = tempfile::tempdir().unwrap();
    let cluster = started(
        ControlPlane::builder()
            .pki_dir(pki.path())
            .listen(loopback()),
    )
    .await;
    assert!(cluster.url().unwrap().starts_with("https://127.0.0.1:"));
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig_path().unwrap()).unwrap();
    let remote = Client::try_from_kubeconfig(&kubeconfig, None).unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(remote);
    cms.create(&PostParams::default(), &config_map("over-https"))
        .await
        .unwrap();

    // The in-process client sees what the remote one wrote: one server, two transports.
    let local: Api<ConfigMap> = Api::default_namespaced(cluster.client());
    assert!(local.get("over-https").await.is_ok());
    cluster.shutdown().await;
}

/// One plain HTTP/1.1 GET; the whole response as text.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_serves_scheduler_and_controllers() {
    let cluster = started(ControlPlane::builder().metrics_listen(loopback())).await;
    let addr = cluster.metrics_addr().expect("a metrics address");
    assert!(http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    // Ready once the scheduler's informers have synced.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !http_get(addr, "/readyz").await.starts_with("HTTP/1.1 200") {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let metrics = http_get(addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("scheduler_informers_synced 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE scheduler_pods_bound_total counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("workqueue_depth{name=\"replicaset\"}"),
        "{metrics}"
    );
    // One registry for every manager: each metric family is declared once.
    assert_eq!(metrics.matches("# TYPE workqueue_depth ").count(), 1);
    assert!(http_get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_metrics_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = taken.local_addr().unwrap();
    let err = ControlPlane::builder()
        .metrics_listen(addr)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::Metrics { addr: a, .. } if *a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()));
}
