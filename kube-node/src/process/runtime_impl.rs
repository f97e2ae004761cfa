//! [`Runtime`] for [`ProcessRuntime`].

use super::*;

#[async_trait]
impl Runtime for ProcessRuntime {
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        Ok(RuntimeVersion {
            runtime_name: "process".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        let id = self.new_id();
        let mut record = SandboxRecord {
            id: id.clone(),
            name: config.metadata.name.clone(),
            namespace: config.metadata.namespace.clone(),
            uid: config.metadata.uid.clone(),
            attempt: config.metadata.attempt,
            ready: true,
            created_at: SystemTime::now(),
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            log_directory: config.log_directory.clone(),
            hostname: config.hostname.clone(),
            netns: None,
            veth: None,
            ip: None,
        };
        if !config.log_directory.is_empty() {
            tokio::fs::create_dir_all(&config.log_directory)
                .await
                .map_err(io_err("creating the pod's log directory"))?;
        }
        let cidr = *self.inner.pod_cidr.lock();
        if !config.host_network && self.inner.root && self.inner.config.pod_network {
            if let Some(cidr) = cidr {
                let _guard = self.inner.net.lock().await;
                let used: Vec<Ipv4Addr> = self
                    .inner
                    .sandboxes
                    .lock()
                    .values()
                    .filter(|s| s.ready)
                    .filter_map(|s| s.ip.as_deref().and_then(|ip| ip.parse().ok()))
                    .collect();
                let ip = cidr
                    .allocate(&used)
                    .ok_or_else(|| RuntimeError::Unavailable {
                        message: "the pod CIDR has no free address".into(),
                        source: None,
                    })?;
                let ns = format!("kube-{}", &id[..16]);
                let veth = format!("kv{}", &id[8..20]);
                network::ensure_bridge(&self.inner.config.bridge, &cidr).await?;
                network::setup(&ns, &veth, &self.inner.config.bridge, &cidr, ip).await?;
                record.netns = Some(ns);
                record.veth = Some(veth);
                record.ip = Some(ip.to_string());
            } else {
                // As the kubelet does before its network plugin is ready: refuse, and let
                // the pod worker retry once the node has its pod CIDR, rather than start
                // the pod on the host's network, where it would stay.
                return Err(RuntimeError::Unavailable {
                    message: "network is not ready: the node has no pod CIDR yet".into(),
                    source: None,
                });
            }
        }
        self.save_sandbox(&record).await?;
        self.inner.sandboxes.lock().insert(id.clone(), record);
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        let Some(record) = self.inner.sandboxes.lock().get(id).cloned() else {
            return Ok(());
        };
        let ids: Vec<String> = self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| c.id.clone())
            .collect();
        for cid in ids {
            self.stop(&cid, Duration::ZERO).await?;
        }
        if let Some(ns) = &record.netns {
            network::teardown(ns).await?;
        }
        let mut record = record;
        record.ready = false;
        self.save_sandbox(&record).await?;
        self.inner.sandboxes.lock().insert(id.to_owned(), record);
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        if !self.inner.sandboxes.lock().contains_key(id) {
            return Ok(());
        }
        self.stop_pod_sandbox(id).await?;
        let ids: Vec<String> = self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| c.id.clone())
            .collect();
        for cid in ids {
            self.remove_container(&cid).await?;
        }
        self.inner.sandboxes.lock().remove(id);
        match tokio::fs::remove_dir_all(self.sandbox_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("removing the sandbox record")(e)),
        }
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, RuntimeError> {
        let record = self
            .inner
            .sandboxes
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::sandbox_not_found(id))?;
        let ips: Vec<IpAddr> = record
            .ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .into_iter()
            .collect();
        Ok(PodSandboxStatus {
            sandbox: sandbox_entry(&record),
            ips,
        })
    }

    async fn list_pod_sandboxes(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, RuntimeError> {
        Ok(self
            .inner
            .sandboxes
            .lock()
            .values()
            .map(sandbox_entry)
            .filter(|s| {
                filter.id.as_deref().is_none_or(|f| f == s.id)
                    && filter.state.is_none_or(|f| f == s.state)
                    && matches(&s.labels, &filter.label_selector)
            })
            .collect())
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        _sandbox_config: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        if config.metadata.name.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "a container needs a name".into(),
            ));
        }
        let sandbox = self
            .inner
            .sandboxes
            .lock()
            .get(pod_sandbox_id)
            .cloned()
            .ok_or_else(|| RuntimeError::sandbox_not_found(pod_sandbox_id))?;
        if !sandbox.ready {
            return Err(RuntimeError::InvalidState(format!(
                "sandbox {pod_sandbox_id} is not ready"
            )));
        }
        let image_name = config
            .image
            .strip_prefix("host:")
            .or_else(|| config.image.strip_prefix("catalog:"))
            .unwrap_or(&config.image);
        let entry = self.inner.config.catalog.lookup(image_name).cloned();
        let mut argv: Vec<String> = if config.command.is_empty() {
            let Some(entry) = &entry else {
                return Err(RuntimeError::ImageUnavailable {
                    image: image_name.to_owned(),
                    reason: "it is not in the node's local image catalog, and the container sets no command".into(),
                });
            };
            let mut argv = entry.command.clone();
            argv.extend(if config.args.is_empty() {
                entry.args.clone()
            } else {
                config.args.clone()
            });
            argv
        } else {
            config.command.iter().chain(&config.args).cloned().collect()
        };
        let rootfs = if config.command.is_empty() {
            entry.as_ref().and_then(|e| e.rootfs.clone())
        } else {
            None
        };
        if rootfs.is_some() && !self.inner.root {
            return Err(RuntimeError::InvalidArgument(format!(
                "image {image_name} runs in a root filesystem, which needs root"
            )));
        }
        if argv.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "the container has no command".into(),
            ));
        }
        let mut env: Vec<(String, String)> = Vec::new();
        let path = config
            .envs
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or_else(|| self.inner.config.path.clone(), |(_, v)| v.clone());
        if rootfs.is_none() {
            match proc::which(&argv[0], &path) {
                Some(found) => argv[0] = found.to_string_lossy().into_owned(),
                None => {
                    return Err(RuntimeError::InvalidArgument(format!(
                        "exec: {:?}: executable file not found in $PATH",
                        argv[0]
                    )));
                }
            }
        }
        env.push(("PATH".into(), path));
        env.push(("HOSTNAME".into(), sandbox.hostname.clone()));
        if let Some(e) = &entry {
            env.extend(e.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for (k, v) in &config.envs {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        let working_dir = (!config.working_dir.is_empty())
            .then(|| config.working_dir.clone())
            .or_else(|| entry.as_ref().and_then(|e| e.working_dir.clone()));
        let id = self.new_id();
        let dir = self.container_dir(&id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io_err("creating the container directory"))?;
        let fifo_dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            proc::mkfifo(&fifo_dir.join("stdout"))?;
            proc::mkfifo(&fifo_dir.join("stderr"))
        })
        .await
        .map_err(|e| RuntimeError::other("making the output FIFOs", e))?
        .map_err(io_err("making the output FIFOs"))?;
        let cgroups = match self.inner.cgroups {
            Some(layout) if config.resources != Default::default() => {
                let (group, cid, res) = (
                    self.inner.config.cgroup_parent.clone(),
                    id.clone(),
                    config.resources.clone(),
                );
                tokio::task::spawn_blocking(move || cgroup::create(layout, &group, &cid, &res))
                    .await
                    .map_err(|e| RuntimeError::other("creating cgroups", e))??
            }
            _ => Vec::new(),
        };
        let log_path = (!config.log_path.is_empty()).then(|| {
            if sandbox.log_directory.is_empty() {
                dir.join("container.log")
            } else {
                Path::new(&sandbox.log_directory).join(&config.log_path)
            }
        });
        let record = ContainerRecord {
            id: id.clone(),
            sandbox_id: pod_sandbox_id.to_owned(),
            name: config.metadata.name.clone(),
            attempt: config.metadata.attempt,
            image: config.image.clone(),
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            created_at: SystemTime::now(),
            argv,
            env,
            working_dir,
            rootfs,
            log_path,
            cgroups,
            phase: Phase::Created,
            pid: None,
            pid_start: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: String::new(),
            message: String::new(),
            killed: false,
        };
        self.save_container(&record).await?;
        self.inner.containers.lock().insert(id.clone(), record);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        let record = self
            .inner
            .containers
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        if record.phase != Phase::Created {
            return Err(RuntimeError::InvalidState(format!(
                "container {id} was started before"
            )));
        }
        let netns = self
            .inner
            .sandboxes
            .lock()
            .get(&record.sandbox_id)
            .and_then(|s| s.netns.clone());
        let dir = self.container_dir(id);
        let exit_file = dir.join("exit");
        let procs: Vec<PathBuf> = record
            .cgroups
            .iter()
            .map(|d| d.join("cgroup.procs"))
            .collect();
        let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
        let spawn = proc::Spawn {
            prefix: self.prefix(netns.as_deref(), None),
            inner_prefix: self.prefix(None, record.rootfs.as_deref()),
            argv: &record.argv,
            env: &record.env,
            working_dir: record.working_dir.as_deref(),
            exit_file: &exit_file,
            cgroup_procs: &procs,
            stdout_fifo: &stdout,
            stderr_fifo: &stderr,
        };
        let started_at = SystemTime::now();
        let proc::Spawned { mut child, outputs } =
            proc::spawn(&spawn).map_err(io_err("starting the container's process"))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        let mut updated = record;
        updated.pid = pid;
        updated.pid_start = pid.and_then(proc::stat).map(|(s, _)| s);
        updated.started_at = Some(started_at);
        updated.phase = Phase::Running;
        self.start_pumps(&updated, Some(outputs));
        self.inner
            .containers
            .lock()
            .insert(id.to_owned(), updated.clone());
        self.save_container(&updated).await?;
        // Reap the wrapper, keeping its status for when it wrote no exit file.
        let inner = self.inner.clone();
        let cid = id.to_owned();
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                use std::os::unix::process::ExitStatusExt as _;
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(9));
                inner.reaped.lock().insert(cid, code);
            }
        });
        tracing::debug!(container = %id, ?pid, "container started");
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.stop(id, grace).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        if !self.inner.containers.lock().contains_key(id) {
            return Ok(());
        }
        self.stop(id, Duration::ZERO).await?;
        let record = self.inner.containers.lock().remove(id);
        self.inner.pumps.lock().remove(id);
        self.inner.reaped.lock().remove(id);
        if let Some(record) = record {
            let dirs = record.cgroups.clone();
            let _ = tokio::task::spawn_blocking(move || cgroup::remove(&dirs)).await;
        }
        match tokio::fs::remove_dir_all(self.container_dir(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("removing the container record")(e)),
        }
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let record = self.refresh(id).await?;
        Ok(self.status_of(&record))
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<Container>, RuntimeError> {
        let ids: Vec<String> = self
            .inner
            .containers
            .lock()
            .values()
            .filter(|c| {
                filter.id.as_deref().is_none_or(|f| f == c.id)
                    && filter
                        .pod_sandbox_id
                        .as_deref()
                        .is_none_or(|f| f == c.sandbox_id)
                    && matches(&c.labels, &filter.label_selector)
            })
            .map(|c| c.id.clone())
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.refresh(&id).await {
                Ok(r) => {
                    let entry = container_entry(&r);
                    if filter.state.is_none_or(|s| s == entry.state) {
                        out.push(entry);
                    }
                }
                Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let record = self.refresh(id).await?;
        if record.phase != Phase::Running {
            return Err(RuntimeError::InvalidState(format!(
                "container {id} is not running"
            )));
        }
        let Some(first) = command.first() else {
            return Err(RuntimeError::InvalidArgument("an empty command".into()));
        };
        let netns = self
            .inner
            .sandboxes
            .lock()
            .get(&record.sandbox_id)
            .and_then(|s| s.netns.clone());
        let path = record
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_str())
            .to_owned();
        let exe = if record.rootfs.is_some() {
            first.clone()
        } else {
            proc::which(first, &path)
                .ok_or_else(|| {
                    RuntimeError::InvalidArgument(format!(
                        "exec: {first:?}: executable file not found in $PATH"
                    ))
                })?
                .to_string_lossy()
                .into_owned()
        };
        let mut argv = self.prefix(netns.as_deref(), record.rootfs.as_deref());
        argv.push(exe);
        argv.extend(command[1..].iter().cloned());
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(record.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(dir) = record.working_dir.as_deref().filter(|d| !d.is_empty()) {
            cmd.current_dir(dir);
        }
        let out = tokio::time::timeout(timeout.max(Duration::from_millis(100)), cmd.output())
            .await
            .map_err(|_| {
                RuntimeError::Timeout(format!("command {command:?} timed out after {timeout:?}"))
            })?
            .map_err(io_err("running the command"))?;
        use std::os::unix::process::ExitStatusExt as _;
        Ok(ExecResult {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out
                .status
                .code()
                .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(9)),
        })
    }

    async fn pull_image(&self, image: &ImageSpec) -> Result<String, RuntimeError> {
        if image.image.is_empty() {
            return Err(RuntimeError::ImageUnavailable {
                image: String::new(),
                reason: "no image name".into(),
            });
        }
        // Nothing to download: catalog images resolve at create, and any other image runs
        // its container's command on the host.
        Ok(
            if self.inner.config.catalog.lookup(&image.image).is_some() {
                format!("catalog:{}", image.image)
            } else {
                format!("host:{}", image.image)
            },
        )
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, RuntimeError> {
        let id = self.pull_image(image).await?;
        Ok(Some(Image {
            id,
            repo_tags: vec![image.image.clone()],
            size: 0,
        }))
    }

    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError> {
        Ok(self
            .inner
            .config
            .catalog
            .images
            .keys()
            .map(|name| Image {
                id: format!("catalog:{name}"),
                repo_tags: vec![name.clone()],
                size: 0,
            })
            .collect())
    }

    async fn container_logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let record = self.refresh(id).await?;
        let Some(path) = record.log_path else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let this = self.clone();
        let cid = id.to_owned();
        let alive: AliveFn = Arc::new(move || {
            let this = this.clone();
            let cid = cid.clone();
            Box::pin(async move {
                this.pumps_active(&cid)
                    || this
                        .refresh(&cid)
                        .await
                        .is_ok_and(|r| r.phase == Phase::Running)
            })
        });
        file_log_stream(
            &path,
            self.inner.config.log.max_files,
            options,
            alive,
            self.inner.config.poll,
        )
    }

    async fn update_runtime_config(&self, pod_cidr: &str) -> Result<(), RuntimeError> {
        let cidr = network::Cidr::parse(pod_cidr)?;
        *self.inner.pod_cidr.lock() = Some(cidr);
        Ok(())
    }
}
