//! [`CriServer`]: any [`Runtime`] served over CRI v1 on a unix socket.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kube_core::Runtime;
use kube_core::runtime as rt;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

use super::convert;
use super::proto as pb;
use super::proto::image_service_server::{ImageService, ImageServiceServer};
use super::proto::runtime_service_server::{RuntimeService, RuntimeServiceServer};

/// Serves a [`Runtime`] as a CRI v1 `RuntimeService` and `ImageService`.
///
/// Behind a socket, [`ProcessRuntime`](crate::ProcessRuntime) becomes a CRI runtime any
/// CRI client can drive, and tests of [`CriRuntime`](super::CriRuntime) get a server that
/// needs no containerd.
#[derive(Debug)]
pub struct CriServer<R> {
    runtime: Arc<R>,
}

impl<R> Clone for CriServer<R> {
    fn clone(&self) -> Self {
        Self {
            runtime: self.runtime.clone(),
        }
    }
}

impl<R: Runtime> CriServer<R> {
    /// A server over `runtime`.
    pub fn new(runtime: R) -> Self {
        Self {
            runtime: Arc::new(runtime),
        }
    }

    /// Listens on `socket` (replacing a stale socket file) and serves until the task is
    /// aborted.
    pub fn serve(self, socket: &Path) -> std::io::Result<JoinHandle<()>> {
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket)?;
        let server = tonic::transport::Server::builder()
            .add_service(RuntimeServiceServer::new(self.clone()))
            .add_service(ImageServiceServer::new(self));
        Ok(tokio::spawn(async move {
            if let Err(e) = server
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await
            {
                tracing::warn!(error = %e, "the CRI server stopped");
            }
        }))
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn ok<T>(t: T) -> Reply<T> {
    Ok(Response::new(t))
}

fn err(e: &kube_core::RuntimeError) -> Status {
    convert::status(e)
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0))
}

#[tonic::async_trait]
impl<R: Runtime> RuntimeService for CriServer<R> {
    async fn version(&self, _: Request<pb::VersionRequest>) -> Reply<pb::VersionResponse> {
        let v = self.runtime.version().await.map_err(|e| err(&e))?;
        ok(pb::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: v.runtime_name,
            runtime_version: v.runtime_version,
            runtime_api_version: v.runtime_api_version,
        })
    }

    async fn run_pod_sandbox(
        &self,
        req: Request<pb::RunPodSandboxRequest>,
    ) -> Reply<pb::RunPodSandboxResponse> {
        let config = convert::from_sandbox_config(req.into_inner().config.unwrap_or_default());
        let id = self
            .runtime
            .run_pod_sandbox(&config)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::RunPodSandboxResponse { pod_sandbox_id: id })
    }

    async fn stop_pod_sandbox(
        &self,
        req: Request<pb::StopPodSandboxRequest>,
    ) -> Reply<pb::StopPodSandboxResponse> {
        self.runtime
            .stop_pod_sandbox(&req.into_inner().pod_sandbox_id)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::StopPodSandboxResponse {})
    }

    async fn remove_pod_sandbox(
        &self,
        req: Request<pb::RemovePodSandboxRequest>,
    ) -> Reply<pb::RemovePodSandboxResponse> {
        self.runtime
            .remove_pod_sandbox(&req.into_inner().pod_sandbox_id)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::RemovePodSandboxResponse {})
    }

    async fn pod_sandbox_status(
        &self,
        req: Request<pb::PodSandboxStatusRequest>,
    ) -> Reply<pb::PodSandboxStatusResponse> {
        let s = self
            .runtime
            .pod_sandbox_status(&req.into_inner().pod_sandbox_id)
            .await
            .map_err(|e| err(&e))?;
        let mut ips = s.ips.iter().map(ToString::to_string);
        let network = pb::PodSandboxNetworkStatus {
            ip: ips.next().unwrap_or_default(),
            additional_ips: ips.map(|ip| pb::PodIp { ip }).collect(),
        };
        ok(pb::PodSandboxStatusResponse {
            status: Some(pb::PodSandboxStatus {
                id: s.sandbox.id,
                metadata: Some(convert::sandbox_metadata(&s.sandbox.metadata)),
                state: convert::pb_sandbox_state(s.sandbox.state) as i32,
                created_at: convert::nanos(s.sandbox.created_at),
                network: Some(network),
                labels: s.sandbox.labels.into_iter().collect(),
                annotations: s.sandbox.annotations.into_iter().collect(),
            }),
        })
    }

    async fn list_pod_sandbox(
        &self,
        req: Request<pb::ListPodSandboxRequest>,
    ) -> Reply<pb::ListPodSandboxResponse> {
        let f = req.into_inner().filter.unwrap_or_default();
        let filter = rt::PodSandboxFilter {
            id: (!f.id.is_empty()).then_some(f.id),
            state: f.state.map(|s| convert::sandbox_state(s.state)),
            label_selector: f.label_selector.into_iter().collect(),
        };
        let items = self
            .runtime
            .list_pod_sandboxes(&filter)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::ListPodSandboxResponse {
            items: items
                .into_iter()
                .map(|s| pb::PodSandbox {
                    id: s.id,
                    metadata: Some(convert::sandbox_metadata(&s.metadata)),
                    state: convert::pb_sandbox_state(s.state) as i32,
                    created_at: convert::nanos(s.created_at),
                    labels: s.labels.into_iter().collect(),
                    annotations: s.annotations.into_iter().collect(),
                })
                .collect(),
        })
    }

    async fn create_container(
        &self,
        req: Request<pb::CreateContainerRequest>,
    ) -> Reply<pb::CreateContainerResponse> {
        let r = req.into_inner();
        let config = convert::from_container_config(r.config.unwrap_or_default());
        let sandbox = convert::from_sandbox_config(r.sandbox_config.unwrap_or_default());
        let id = self
            .runtime
            .create_container(&r.pod_sandbox_id, &config, &sandbox)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::CreateContainerResponse { container_id: id })
    }

    async fn start_container(
        &self,
        req: Request<pb::StartContainerRequest>,
    ) -> Reply<pb::StartContainerResponse> {
        self.runtime
            .start_container(&req.into_inner().container_id)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::StartContainerResponse {})
    }

    async fn stop_container(
        &self,
        req: Request<pb::StopContainerRequest>,
    ) -> Reply<pb::StopContainerResponse> {
        let r = req.into_inner();
        self.runtime
            .stop_container(&r.container_id, secs(r.timeout))
            .await
            .map_err(|e| err(&e))?;
        ok(pb::StopContainerResponse {})
    }

    async fn remove_container(
        &self,
        req: Request<pb::RemoveContainerRequest>,
    ) -> Reply<pb::RemoveContainerResponse> {
        self.runtime
            .remove_container(&req.into_inner().container_id)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::RemoveContainerResponse {})
    }

    async fn list_containers(
        &self,
        req: Request<pb::ListContainersRequest>,
    ) -> Reply<pb::ListContainersResponse> {
        let f = req.into_inner().filter.unwrap_or_default();
        let filter = rt::ContainerFilter {
            id: (!f.id.is_empty()).then_some(f.id),
            pod_sandbox_id: (!f.pod_sandbox_id.is_empty()).then_some(f.pod_sandbox_id),
            state: f.state.map(|s| convert::container_state(s.state)),
            label_selector: f.label_selector.into_iter().collect(),
        };
        let containers = self
            .runtime
            .list_containers(&filter)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::ListContainersResponse {
            containers: containers.iter().map(convert::pb_container).collect(),
        })
    }

    async fn container_status(
        &self,
        req: Request<pb::ContainerStatusRequest>,
    ) -> Reply<pb::ContainerStatusResponse> {
        let s = self
            .runtime
            .container_status(&req.into_inner().container_id)
            .await
            .map_err(|e| err(&e))?;
        let c = convert::pb_container(&s.container);
        ok(pb::ContainerStatusResponse {
            status: Some(pb::ContainerStatus {
                id: c.id,
                metadata: c.metadata,
                state: c.state,
                created_at: c.created_at,
                started_at: s.started_at.map_or(0, convert::nanos),
                finished_at: s.finished_at.map_or(0, convert::nanos),
                exit_code: s.exit_code.unwrap_or(0),
                image: c.image,
                image_ref: c.image_ref,
                reason: s.reason,
                message: s.message,
                labels: c.labels,
                annotations: c.annotations,
                log_path: s.log_path.unwrap_or_default(),
            }),
        })
    }

    async fn exec_sync(&self, req: Request<pb::ExecSyncRequest>) -> Reply<pb::ExecSyncResponse> {
        let r = req.into_inner();
        let out = self
            .runtime
            .exec_sync(&r.container_id, &r.cmd, secs(r.timeout.max(1)))
            .await
            .map_err(|e| err(&e))?;
        ok(pb::ExecSyncResponse {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.exit_code,
        })
    }

    async fn update_runtime_config(
        &self,
        req: Request<pb::UpdateRuntimeConfigRequest>,
    ) -> Reply<pb::UpdateRuntimeConfigResponse> {
        let cidr = req
            .into_inner()
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        if !cidr.is_empty() {
            self.runtime
                .update_runtime_config(&cidr)
                .await
                .map_err(|e| err(&e))?;
        }
        ok(pb::UpdateRuntimeConfigResponse {})
    }
}

#[tonic::async_trait]
impl<R: Runtime> ImageService for CriServer<R> {
    async fn list_images(
        &self,
        _: Request<pb::ListImagesRequest>,
    ) -> Reply<pb::ListImagesResponse> {
        let images = self.runtime.list_images().await.map_err(|e| err(&e))?;
        ok(pb::ListImagesResponse {
            images: images.iter().map(convert::pb_image).collect(),
        })
    }

    async fn image_status(
        &self,
        req: Request<pb::ImageStatusRequest>,
    ) -> Reply<pb::ImageStatusResponse> {
        let spec = rt::ImageSpec {
            image: req.into_inner().image.map(|i| i.image).unwrap_or_default(),
        };
        let image = self
            .runtime
            .image_status(&spec)
            .await
            .map_err(|e| err(&e))?;
        ok(pb::ImageStatusResponse {
            image: image.as_ref().map(convert::pb_image),
        })
    }

    async fn pull_image(&self, req: Request<pb::PullImageRequest>) -> Reply<pb::PullImageResponse> {
        let spec = rt::ImageSpec {
            image: req.into_inner().image.map(|i| i.image).unwrap_or_default(),
        };
        let image_ref = self.runtime.pull_image(&spec).await.map_err(|e| err(&e))?;
        ok(pb::PullImageResponse { image_ref })
    }
}
