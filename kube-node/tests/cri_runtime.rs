//! `CriRuntime`, the CRI v1 client, against the runtime conformance suite: first through
//! an in-process CRI server (`CriServer` over `ProcessRuntime`, on a unix socket), then
//! against a real containerd when the machine has one (see `cri_containerd.rs`).

#![cfg(feature = "cri")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kube_core::runtime::{ContainerConfig, PodSandboxConfig};
use kube_node::conformance::{Harness, Workload, shell_container};
use kube_node::{CriRuntime, CriServer, ProcessRuntime, ProcessRuntimeConfig};

struct InProcess {
    dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl InProcess {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ProcessRuntimeConfig::new(dir.path().join("state"));
        config.poll = Duration::from_millis(20);
        config.pod_network = false;
        let runtime = ProcessRuntime::new(config).unwrap();
        let server = CriServer::new(runtime)
            .serve(&dir.path().join("cri.sock"))
            .unwrap();
        Self {
            dir,
            _server: server,
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self._server.abort();
    }
}

#[async_trait::async_trait]
impl Harness for InProcess {
    type Runtime = CriRuntime;

    async fn runtime(&self) -> CriRuntime {
        CriRuntime::connect(self.dir.path().join("cri.sock")).unwrap()
    }

    fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
        shell_container(name, "anything", workload)
    }

    fn sandbox(&self, name: &str) -> PodSandboxConfig {
        let mut config = PodSandboxConfig {
            log_directory: self
                .dir
                .path()
                .join("logs")
                .join(name)
                .to_string_lossy()
                .into_owned(),
            host_network: true,
            ..Default::default()
        };
        config.metadata.name = name.to_owned();
        config.metadata.namespace = "conformance".into();
        config.metadata.uid = format!("uid-{name}");
        config.labels.insert("suite".into(), name.to_owned());
        config
    }
}

kube_node::runtime_conformance_tests!(|| async { InProcess::start() });

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_missing_objects_cross_the_wire() {
    use kube_core::{Runtime, RuntimeError};
    let h = InProcess::start();
    let rt = h.runtime().await;
    let v = rt.version().await.unwrap();
    assert_eq!(
        (v.runtime_name.as_str(), v.runtime_api_version.as_str()),
        ("process", "v1")
    );
    assert!(matches!(
        rt.container_status("nope").await,
        Err(RuntimeError::NotFound { .. })
    ));
    rt.update_runtime_config("10.244.9.0/24").await.unwrap();
    let err = rt.update_runtime_config("not a cidr").await.unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidArgument(_)), "{err:?}");
    // A client of a socket nobody serves reports the runtime unavailable.
    let dead = CriRuntime::connect(h.dir.path().join("nobody.sock")).unwrap();
    assert!(dead.version().await.is_err());
}
