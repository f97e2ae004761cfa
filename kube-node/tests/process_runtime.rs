//! `ProcessRuntime` against the runtime conformance suite, with real processes, plus what
//! only it does: the image catalog, cgroups and pod network namespaces as root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kube_core::Runtime;
use kube_core::runtime::{ContainerConfig, ContainerState, ImageSpec, PodSandboxConfig};
use kube_node::conformance::{Harness, Workload, shell_container};
use kube_node::{CatalogImage, ImageCatalog, ProcessRuntime, ProcessRuntimeConfig};

struct Processes {
    dir: tempfile::TempDir,
}

#[async_trait::async_trait]
impl Harness for Processes {
    type Runtime = ProcessRuntime;

    async fn runtime(&self) -> ProcessRuntime {
        let mut config = ProcessRuntimeConfig::new(self.dir.path().join("state"));
        config.poll = Duration::from_millis(20);
        ProcessRuntime::new(config).unwrap()
    }

    fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
        shell_container(name, "anything:latest", workload)
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
            ..Default::default()
        };
        config.metadata.name = name.to_owned();
        config.metadata.namespace = "conformance".into();
        config.metadata.uid = format!("uid-{name}");
        config.host_network = true;
        config.labels.insert("suite".into(), name.to_owned());
        config
    }
}

kube_node::runtime_conformance_tests!(|| async {
    Processes {
        dir: tempfile::tempdir().unwrap(),
    }
});

#[tokio::test]
async fn images_without_a_command_come_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ProcessRuntimeConfig::new(dir.path().join("state"));
    config.catalog = ImageCatalog::new().with(
        "greeter",
        CatalogImage {
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo hello from $WHO".into()],
            env: [("WHO".to_owned(), "the catalog".to_owned())].into(),
            ..Default::default()
        },
    );
    let rt = ProcessRuntime::new(config).unwrap();
    let sandbox_config = PodSandboxConfig {
        log_directory: dir.path().join("logs").to_string_lossy().into_owned(),
        host_network: true,
        ..Default::default()
    };
    let sandbox = rt.run_pod_sandbox(&sandbox_config).await.unwrap();
    let image = rt
        .pull_image(&ImageSpec {
            image: "docker.io/library/greeter:1.0".into(),
        })
        .await
        .unwrap();
    let mut c = ContainerConfig {
        image,
        log_path: "greeter/0.log".into(),
        ..Default::default()
    };
    c.metadata.name = "greeter".into();
    let id = rt
        .create_container(&sandbox, &c, &sandbox_config)
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    let status = wait_exited(&rt, &id).await;
    assert_eq!(status, Some(0));
    let logs = collect(&rt, &id).await;
    assert_eq!(logs, "hello from the catalog\n");

    // An unknown image with no command cannot be created, with a reason saying why.
    let unknown = ContainerConfig {
        image: rt
            .pull_image(&ImageSpec {
                image: "nginx:1.27".into(),
            })
            .await
            .unwrap(),
        metadata: kube_core::runtime::ContainerMetadata {
            name: "web".into(),
            attempt: 0,
        },
        ..Default::default()
    };
    let err = rt
        .create_container(&sandbox, &unknown, &sandbox_config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("local image catalog"), "{err}");
    // A command runs from the host's PATH whatever the image.
    let mut anything = unknown.clone();
    anything.command = vec!["true".into()];
    let id = rt
        .create_container(&sandbox, &anything, &sandbox_config)
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(wait_exited(&rt, &id).await, Some(0));
    let mut missing = unknown;
    missing.command = vec!["no-such-command-anywhere".into()];
    let err = rt
        .create_container(&sandbox, &missing, &sandbox_config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found in $PATH"), "{err}");
    rt.stop_pod_sandbox(&sandbox).await.unwrap();
    rt.remove_pod_sandbox(&sandbox).await.unwrap();
}

async fn wait_exited(rt: &ProcessRuntime, id: &str) -> Option<i32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = rt.container_status(id).await.unwrap();
        if s.container.state == ContainerState::Exited {
            return s.exit_code;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the container did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn collect(rt: &ProcessRuntime, id: &str) -> String {
    use futures::StreamExt as _;
    let mut s = rt.container_logs(id, &Default::default()).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}
