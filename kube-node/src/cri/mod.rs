//! [`CriRuntime`]: a [`Runtime`] that drives containerd or CRI-O through the CRI v1
//! `RuntimeService` and `ImageService` over a unix socket (tonic), and [`CriServer`], which
//! serves any [`Runtime`] over the same protocol (a test double for CRI clients, and a way
//! to put our runtimes behind a socket).
//!
//! The protocol definitions are our own subset of CRI v1 (`proto/runtime_v1.proto`):
//! same package, services, methods, field names and numbers, only what we use. Logs are
//! not part of the CRI: the runtime writes them in the CRI log format to
//! `log_directory/log_path`, and [`CriRuntime::container_logs`] reads that file.

mod convert;
mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use kube_core::runtime::{
    Container, ContainerConfig, ContainerFilter, ContainerState, ContainerStatus, ExecResult,
    Image, ImageSpec, LogOptions, LogStream, PodSandbox, PodSandboxConfig, PodSandboxFilter,
    PodSandboxStatus, RuntimeVersion,
};
use kube_core::{Runtime, RuntimeError};
use tonic::transport::{Channel, Endpoint};

pub use server::CriServer;

use crate::logs::{AliveFn, file_log_stream};

/// The generated CRI v1 messages, clients and server traits.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("runtime.v1");
}

use proto::image_service_client::ImageServiceClient;
use proto::runtime_service_client::RuntimeServiceClient;

/// A CRI client over a unix socket; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct CriRuntime {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    socket: PathBuf,
    log_poll: Duration,
}

impl CriRuntime {
    /// A client of the CRI server listening on `socket` (the connection is made lazily
    /// and re-made after failures).
    pub fn connect(socket: impl Into<PathBuf>) -> Result<Self, RuntimeError> {
        let socket: PathBuf = socket.into();
        let path = socket.clone();
        // The URI is required by the API and ignored: the connector dials the socket.
        let channel = Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(Duration::from_secs(10))
            .connect_with_connector_lazy(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(TokioIo::new)
                }
            }));
        Ok(Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            socket,
            log_poll: Duration::from_millis(100),
        })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Runtime for CriRuntime {
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        let v = self
            .runtime
            .clone()
            .version(proto::VersionRequest {
                version: "v1".into(),
            })
            .await
            .map_err(|e| convert::error(e, "Version"))?
            .into_inner();
        Ok(RuntimeVersion {
            runtime_name: v.runtime_name,
            runtime_version: v.runtime_version,
            runtime_api_version: v.runtime_api_version,
        })
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        Ok(self
            .runtime
            .clone()
            .run_pod_sandbox(proto::RunPodSandboxRequest {
                config: Some(convert::sandbox_config(config)),
                runtime_handler: String::new(),
            })
            .await
            .map_err(|e| convert::error(e, "RunPodSandbox"))?
            .into_inner()
            .pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        match self
            .runtime
            .clone()
            .stop_pod_sandbox(proto::StopPodSandboxRequest {
                pod_sandbox_id: id.to_owned(),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(convert::error(s, "StopPodSandbox")),
        }
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        match self
            .runtime
            .clone()
            .remove_pod_sandbox(proto::RemovePodSandboxRequest {
                pod_sandbox_id: id.to_owned(),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(convert::error(s, "RemovePodSandbox")),
        }
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, RuntimeError> {
        let status = self
            .runtime
            .clone()
            .pod_sandbox_status(proto::PodSandboxStatusRequest {
                pod_sandbox_id: id.to_owned(),
                verbose: false,
            })
            .await
            .map_err(|e| convert::error(e, "PodSandboxStatus"))?
            .into_inner()
            .status
            .ok_or_else(|| RuntimeError::sandbox_not_found(id))?;
        let network = status.network.unwrap_or_default();
        let ips = std::iter::once(network.ip)
            .chain(network.additional_ips.into_iter().map(|p| p.ip))
            .filter_map(|ip| ip.parse().ok())
            .collect();
        Ok(PodSandboxStatus {
            sandbox: PodSandbox {
                id: status.id,
                metadata: convert::from_sandbox_metadata(status.metadata),
                state: convert::sandbox_state(status.state),
                created_at: convert::time(status.created_at),
                labels: status.labels.into_iter().collect(),
                annotations: status.annotations.into_iter().collect(),
            },
            ips,
        })
    }

    async fn list_pod_sandboxes(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, RuntimeError> {
        let items = self
            .runtime
            .clone()
            .list_pod_sandbox(proto::ListPodSandboxRequest {
                filter: Some(proto::PodSandboxFilter {
                    id: filter.id.clone().unwrap_or_default(),
                    state: filter.state.map(|s| proto::PodSandboxStateValue {
                        state: convert::pb_sandbox_state(s) as i32,
                    }),
                    label_selector: filter.label_selector.clone().into_iter().collect(),
                }),
            })
            .await
            .map_err(|e| convert::error(e, "ListPodSandbox"))?
            .into_inner()
            .items;
        Ok(items
            .into_iter()
            .map(|s| PodSandbox {
                id: s.id,
                metadata: convert::from_sandbox_metadata(s.metadata),
                state: convert::sandbox_state(s.state),
                created_at: convert::time(s.created_at),
                labels: s.labels.into_iter().collect(),
                annotations: s.annotations.into_iter().collect(),
            })
            .collect())
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        Ok(self
            .runtime
            .clone()
            .create_container(proto::CreateContainerRequest {
                pod_sandbox_id: pod_sandbox_id.to_owned(),
                config: Some(convert::container_config(config)),
                sandbox_config: Some(convert::sandbox_config(sandbox_config)),
            })
            .await
            .map_err(|e| convert::error(e, "CreateContainer"))?
            .into_inner()
            .container_id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.runtime
            .clone()
            .start_container(proto::StartContainerRequest {
                container_id: id.to_owned(),
            })
            .await
            .map_err(|e| convert::error(e, "StartContainer"))?;
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.runtime
            .clone()
            .stop_container(proto::StopContainerRequest {
                container_id: id.to_owned(),
                timeout: seconds(grace),
            })
            .await
            .map_err(|e| convert::error(e, "StopContainer"))?;
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        match self
            .runtime
            .clone()
            .remove_container(proto::RemoveContainerRequest {
                container_id: id.to_owned(),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(convert::error(s, "RemoveContainer")),
        }
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let s = self
            .runtime
            .clone()
            .container_status(proto::ContainerStatusRequest {
                container_id: id.to_owned(),
                verbose: false,
            })
            .await
            .map_err(|e| convert::error(e, "ContainerStatus"))?
            .into_inner()
            .status
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        let meta = s.metadata.unwrap_or_default();
        let state = convert::container_state(s.state);
        // The CRI's status has no sandbox id; the list entry has.
        let pod_sandbox_id = self
            .list_containers(&ContainerFilter {
                id: Some(id.to_owned()),
                ..Default::default()
            })
            .await?
            .into_iter()
            .next()
            .map(|c| c.pod_sandbox_id)
            .unwrap_or_default();
        Ok(ContainerStatus {
            container: Container {
                id: s.id,
                pod_sandbox_id,
                metadata: kube_core::runtime::ContainerMetadata {
                    name: meta.name,
                    attempt: meta.attempt,
                },
                image: if s.image_ref.is_empty() {
                    s.image.map(|i| i.image).unwrap_or_default()
                } else {
                    s.image_ref
                },
                state,
                created_at: convert::time(s.created_at),
                labels: s.labels.into_iter().collect(),
                annotations: s.annotations.into_iter().collect(),
            },
            started_at: convert::optional_time(s.started_at),
            finished_at: convert::optional_time(s.finished_at),
            exit_code: (state == ContainerState::Exited).then_some(s.exit_code),
            reason: s.reason,
            message: s.message,
            log_path: (!s.log_path.is_empty()).then_some(s.log_path),
        })
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<Container>, RuntimeError> {
        let containers = self
            .runtime
            .clone()
            .list_containers(proto::ListContainersRequest {
                filter: Some(proto::ContainerFilter {
                    id: filter.id.clone().unwrap_or_default(),
                    state: filter.state.map(|s| proto::ContainerStateValue {
                        state: convert::pb_container_state(s) as i32,
                    }),
                    pod_sandbox_id: filter.pod_sandbox_id.clone().unwrap_or_default(),
                    label_selector: filter.label_selector.clone().into_iter().collect(),
                }),
            })
            .await
            .map_err(|e| convert::error(e, "ListContainers"))?
            .into_inner()
            .containers;
        Ok(containers
            .into_iter()
            .map(convert::from_container)
            .collect())
    }

    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let r = self
            .runtime
            .clone()
            .exec_sync(proto::ExecSyncRequest {
                container_id: id.to_owned(),
                cmd: command.to_vec(),
                timeout: seconds(timeout).max(1),
            })
            .await
            .map_err(|e| convert::error(e, "ExecSync"))?
            .into_inner();
        Ok(ExecResult {
            stdout: r.stdout,
            stderr: r.stderr,
            exit_code: r.exit_code,
        })
    }

    async fn pull_image(&self, image: &ImageSpec) -> Result<String, RuntimeError> {
        match self
            .images
            .clone()
            .pull_image(proto::PullImageRequest {
                image: Some(proto::ImageSpec {
                    image: image.image.clone(),
                    annotations: Default::default(),
                }),
                sandbox_config: None,
            })
            .await
        {
            Ok(r) => Ok(r.into_inner().image_ref),
            Err(s) => Err(RuntimeError::ImageUnavailable {
                image: image.image.clone(),
                reason: s.message().to_owned(),
            }),
        }
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, RuntimeError> {
        let r = self
            .images
            .clone()
            .image_status(proto::ImageStatusRequest {
                image: Some(proto::ImageSpec {
                    image: image.image.clone(),
                    annotations: Default::default(),
                }),
                verbose: false,
            })
            .await
            .map_err(|e| convert::error(e, "ImageStatus"))?
            .into_inner();
        Ok(r.image.filter(|i| !i.id.is_empty()).map(convert::image))
    }

    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError> {
        let r = self
            .images
            .clone()
            .list_images(proto::ListImagesRequest { filter: None })
            .await
            .map_err(|e| convert::error(e, "ListImages"))?
            .into_inner();
        Ok(r.images.into_iter().map(convert::image).collect())
    }

    async fn container_logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let status = self.container_status(id).await?;
        let Some(path) = status.log_path else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let this = self.clone();
        let cid = id.to_owned();
        let alive: AliveFn = Arc::new(move || {
            let this = this.clone();
            let cid = cid.clone();
            Box::pin(async move {
                this.container_status(&cid)
                    .await
                    .is_ok_and(|s| s.container.state == ContainerState::Running)
            })
        });
        file_log_stream(Path::new(&path), 5, options, alive, self.log_poll)
    }

    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<(), RuntimeError> {
        self.runtime
            .clone()
            .update_runtime_config(proto::UpdateRuntimeConfigRequest {
                runtime_config: Some(proto::RuntimeConfig {
                    network_config: Some(proto::NetworkConfig {
                        pod_cidr: pod_cidr.to_owned(),
                    }),
                }),
            })
            .await
            .map_err(|e| convert::error(e, "UpdateRuntimeConfig"))?;
        Ok(())
    }
}
