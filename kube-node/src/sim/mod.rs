//! [`SimRuntime`]: a [`Runtime`] without processes, for simulated clusters, scale
//! benchmarks and tests of the node agent.
//!
//! Everything lives in memory and costs nothing while nothing asks: a container's timed
//! exit is computed when its state is read, not by a timer, so thousands of simulated nodes
//! with tens of thousands of containers run on one machine. Start latency is configurable,
//! and [`Faults`] make calls fail on demand. What each container does comes from its
//! configuration ([`SimProgram`]).

mod faults;
mod program;
mod records;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use kube_core::runtime::{
    Container, ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState,
    ContainerStatus, ExecResult, Image, ImageSpec, Labels, LogOptions, LogStream, PodSandbox,
    PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata, PodSandboxStatus, RuntimeVersion,
    SandboxState,
};
use kube_core::{Runtime, RuntimeError};
use parking_lot::Mutex;

pub use faults::{Faults, SimOp};
pub use program::{
    SIM_EXEC_EXIT_CODE, SIM_EXIT_CODE, SIM_IGNORE_TERM, SIM_OUTPUT, SIM_RUN_MILLIS, SimProgram,
};

use crate::logs::{LogEntry, LogStreamKind, format_entries, select_entries};
use records::{Record, State};

/// Settings of a [`SimRuntime`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// How long `start_container` takes.
    pub start_latency: Duration,
    /// How long `run_pod_sandbox` takes.
    pub sandbox_latency: Duration,
    /// Images that cannot be pulled (an unknown image fails with
    /// [`RuntimeError::ImageUnavailable`]); every other name pulls.
    pub unavailable_images: Vec<String>,
    /// The first two octets of the pod IPs handed out (`[10, 88]` gives `10.88.x.y`);
    /// sandboxes without host networking get the next address.
    pub pod_ip_prefix: [u8; 2],
    /// How often a followed log checks for more output.
    pub log_poll: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            start_latency: Duration::ZERO,
            sandbox_latency: Duration::ZERO,
            unavailable_images: Vec::new(),
            pod_ip_prefix: [10, 88],
            log_poll: Duration::from_millis(50),
        }
    }
}

#[derive(Debug)]
struct SimSandbox {
    metadata: PodSandboxMetadata,
    state: SandboxState,
    created_at: SystemTime,
    labels: Arc<Labels>,
    annotations: Arc<Labels>,
    ip: Option<IpAddr>,
}

#[derive(Debug)]
struct SimContainer {
    sandbox_id: Arc<str>,
    metadata: ContainerMetadata,
    image: Arc<str>,
    state: ContainerState,
    created_at: SystemTime,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    exit_code: Option<i32>,
    reason: &'static str,
    labels: Arc<Labels>,
    annotations: Arc<Labels>,
    program: SimProgram,
    logs: Vec<LogEntry>,
}

impl SimContainer {
    /// Brings a running container whose time is up to `Exited`.
    fn settle(&mut self, now: SystemTime) {
        if self.state != ContainerState::Running {
            return;
        }
        let (Some(started), Some(run_for)) = (self.started_at, self.program.run_for) else {
            return;
        };
        let end = started + run_for;
        if end <= now {
            self.exit(end, self.program.exit_code);
        }
    }

    fn exit(&mut self, at: SystemTime, code: i32) {
        self.state = ContainerState::Exited;
        self.finished_at = Some(at);
        self.exit_code = Some(code);
        self.reason = if code == 0 { "Completed" } else { "Error" };
    }

    fn to_container(&self, id: &str) -> Container {
        Container {
            id: id.to_owned(),
            pod_sandbox_id: self.sandbox_id.to_string(),
            metadata: self.metadata.clone(),
            image: self.image.to_string(),
            state: self.state,
            created_at: self.created_at,
            labels: (*self.labels).clone(),
            annotations: (*self.annotations).clone(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: SimConfig,
    state: Mutex<State>,
    faults: Faults,
    ids: AtomicU64,
}

/// A runtime that runs nothing: sandboxes and containers are records in memory whose
/// states follow the [contract](kube_core::runtime), with programs from [`SimProgram`].
///
/// Clones share their state, so a "restarted" node agent given a clone adopts the
/// containers of the previous one, as it would with a real runtime.
///
/// ```
/// use kube_core::Runtime;
/// use kube_core::runtime::{ContainerConfig, ContainerMetadata, PodSandboxConfig};
/// use kube_node::SimRuntime;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let runtime = SimRuntime::new();
/// let sandbox = runtime.run_pod_sandbox(&PodSandboxConfig::default()).await?;
/// let config = ContainerConfig {
///     metadata: ContainerMetadata { name: "app".into(), attempt: 0 },
///     command: vec!["sleep".into(), "3600".into()],
///     ..Default::default()
/// };
/// let id = runtime.create_container(&sandbox, &config, &PodSandboxConfig::default()).await?;
/// runtime.start_container(&id).await?;
/// assert_eq!(runtime.running_containers(), 1);
/// # Ok::<(), kube_core::RuntimeError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SimRuntime {
    inner: Arc<Inner>,
}

impl Default for SimRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl SimRuntime {
    /// A simulator with default settings.
    pub fn new() -> Self {
        Self::with_config(SimConfig::default())
    }

    /// A simulator with settings.
    pub fn with_config(config: SimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                faults: Faults::default(),
                ids: AtomicU64::new(1),
            }),
        }
    }

    /// The failure injection of this runtime (shared by its clones).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// How many containers run now.
    pub fn running_containers(&self) -> usize {
        let now = SystemTime::now();
        let mut state = self.inner.state.lock();
        state
            .containers
            .values_mut()
            .map(|c| {
                c.settle(now);
                c.state
            })
            .filter(|s| *s == ContainerState::Running)
            .count()
    }

    /// Makes a running container exit now with `code`, as if it crashed.
    pub fn crash(&self, id: &str, code: i32) -> Result<(), RuntimeError> {
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        let now = SystemTime::now();
        c.settle(now);
        if c.state == ContainerState::Running {
            c.exit(now, code);
        }
        Ok(())
    }

    /// Sets the exit code of later exec calls in a container (for exec probes).
    pub fn set_exec_exit_code(&self, id: &str, code: i32) -> Result<(), RuntimeError> {
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        c.program.exec_exit_code = code;
        Ok(())
    }

    /// Appends a line to a container's stdout.
    pub fn write_log(&self, id: &str, line: &str) -> Result<(), RuntimeError> {
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        c.logs.push(LogEntry::line(
            SystemTime::now(),
            LogStreamKind::Stdout,
            Bytes::from(line.to_owned()),
        ));
        Ok(())
    }

    fn new_id(&self, kind: char) -> Arc<str> {
        let n = self.inner.ids.fetch_add(1, Ordering::Relaxed);
        Arc::from(format!("{kind}{n:015x}"))
    }

    fn allocate_ip(&self, state: &mut State) -> IpAddr {
        state.next_ip = state.next_ip.wrapping_add(1);
        let n = state.next_ip;
        let [a, b] = self.inner.config.pod_ip_prefix;
        IpAddr::V4(Ipv4Addr::new(
            a,
            b,
            ((n >> 8) & 0xff) as u8,
            (n & 0xff) as u8,
        ))
    }

    fn stop_now(state: &mut State, id: &str, code: i32) {
        if let Some(c) = state.containers.get_mut(id) {
            let now = SystemTime::now();
            c.settle(now);
            match c.state {
                ContainerState::Running => c.exit(now, code),
                ContainerState::Created => {
                    c.state = ContainerState::Exited;
                    c.exit_code = Some(code);
                    c.finished_at = Some(now);
                    c.reason = "Error";
                }
                ContainerState::Exited | ContainerState::Unknown => {}
            }
        }
    }
}

fn labels_match(labels: &Labels, selector: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[async_trait]
impl Runtime for SimRuntime {
    async fn version(&self) -> Result<RuntimeVersion, RuntimeError> {
        self.inner.faults.check(SimOp::Version)?;
        Ok(RuntimeVersion {
            runtime_name: "sim".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, RuntimeError> {
        self.inner.faults.check(SimOp::RunPodSandbox)?;
        if !self.inner.config.sandbox_latency.is_zero() {
            tokio::time::sleep(self.inner.config.sandbox_latency).await;
        }
        let id = self.new_id('s');
        let mut state = self.inner.state.lock();
        let ip = (!config.host_network).then(|| self.allocate_ip(&mut state));
        state.insert_sandbox(
            id.clone(),
            SimSandbox {
                metadata: config.metadata.clone(),
                state: SandboxState::Ready,
                created_at: SystemTime::now(),
                labels: Arc::new(config.labels.clone()),
                annotations: Arc::new(config.annotations.clone()),
                ip,
            },
        );
        Ok(id.to_string())
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        let mut state = self.inner.state.lock();
        let Some(sandbox) = state.sandboxes.get_mut(id) else {
            return Ok(());
        };
        sandbox.state = SandboxState::NotReady;
        for cid in state.containers_in_sandbox(id) {
            Self::stop_now(&mut state, &cid, 137);
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        let mut state = self.inner.state.lock();
        state.remove_sandbox(id);
        for cid in state.containers_in_sandbox(id) {
            state.remove_container(&cid);
        }
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, RuntimeError> {
        let state = self.inner.state.lock();
        let s = state
            .sandboxes
            .get(id)
            .ok_or_else(|| RuntimeError::sandbox_not_found(id))?;
        Ok(PodSandboxStatus {
            sandbox: sandbox_entry(id, s),
            ips: s.ip.into_iter().collect(),
        })
    }

    async fn list_pod_sandboxes(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, RuntimeError> {
        self.inner.faults.check(SimOp::List)?;
        let state = self.inner.state.lock();
        let keep = |(id, s): &(&Arc<str>, &SimSandbox)| {
            filter.id.as_deref().is_none_or(|f| f == &***id)
                && filter.state.is_none_or(|f| f == s.state)
                && labels_match(&s.labels, &filter.label_selector)
        };
        Ok(
            match state.candidates(Record::Sandbox, &filter.label_selector) {
                Some(ids) => ids
                    .iter()
                    .filter_map(|id| state.sandboxes.get_key_value(id))
                    .filter(keep)
                    .map(|(id, s)| sandbox_entry(id, s))
                    .collect(),
                None => state
                    .sandboxes
                    .iter()
                    .filter(keep)
                    .map(|(id, s)| sandbox_entry(id, s))
                    .collect(),
            },
        )
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        _sandbox_config: &PodSandboxConfig,
    ) -> Result<String, RuntimeError> {
        self.inner.faults.check(SimOp::CreateContainer)?;
        if config.metadata.name.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "a container needs a name".into(),
            ));
        }
        let id = self.new_id('c');
        let mut state = self.inner.state.lock();
        let sandbox = state
            .sandboxes
            .get(pod_sandbox_id)
            .ok_or_else(|| RuntimeError::sandbox_not_found(pod_sandbox_id))?;
        if sandbox.state != SandboxState::Ready {
            return Err(RuntimeError::InvalidState(format!(
                "sandbox {pod_sandbox_id} is not ready"
            )));
        }
        let sandbox_id: Arc<str> = state
            .sandboxes
            .get_key_value(pod_sandbox_id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(pod_sandbox_id));
        state.insert_container(
            id.clone(),
            SimContainer {
                sandbox_id,
                metadata: config.metadata.clone(),
                image: Arc::from(config.image.as_str()),
                state: ContainerState::Created,
                created_at: SystemTime::now(),
                started_at: None,
                finished_at: None,
                exit_code: None,
                reason: "",
                labels: Arc::new(config.labels.clone()),
                annotations: Arc::new(config.annotations.clone()),
                program: SimProgram::from_config(config),
                logs: Vec::new(),
            },
        );
        Ok(id.to_string())
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.inner.faults.check(SimOp::StartContainer)?;
        if !self.inner.config.start_latency.is_zero() {
            tokio::time::sleep(self.inner.config.start_latency).await;
        }
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        if c.state != ContainerState::Created {
            return Err(RuntimeError::InvalidState(format!(
                "container {id} is {:?}, not created",
                c.state
            )));
        }
        let now = SystemTime::now();
        c.state = ContainerState::Running;
        c.started_at = Some(now);
        let lines: Vec<LogEntry> = c
            .program
            .output
            .iter()
            .map(|l| LogEntry::line(now, LogStreamKind::Stdout, Bytes::from(l.clone())))
            .collect();
        c.logs.extend(lines);
        c.settle(now);
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.inner.faults.check(SimOp::StopContainer)?;
        let ignore_term = {
            let mut state = self.inner.state.lock();
            let c = state
                .containers
                .get_mut(id)
                .ok_or_else(|| RuntimeError::container_not_found(id))?;
            c.settle(SystemTime::now());
            if c.state != ContainerState::Running {
                drop(state);
                let mut state = self.inner.state.lock();
                Self::stop_now(&mut state, id, 137);
                return Ok(());
            }
            c.program.ignore_term
        };
        if ignore_term && !grace.is_zero() {
            // The program ignores SIGTERM: it runs out the grace period (or its own end).
            tokio::time::sleep(grace).await;
        }
        let mut state = self.inner.state.lock();
        let code = if grace.is_zero() || ignore_term {
            137
        } else {
            143
        };
        Self::stop_now(&mut state, id, code);
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.inner.state.lock().remove_container(id);
        Ok(())
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        c.settle(SystemTime::now());
        Ok(ContainerStatus {
            container: c.to_container(id),
            started_at: c.started_at,
            finished_at: c.finished_at,
            exit_code: c.exit_code,
            reason: c.reason.to_owned(),
            message: String::new(),
            log_path: None,
        })
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<Container>, RuntimeError> {
        self.inner.faults.check(SimOp::List)?;
        let now = SystemTime::now();
        let mut state = self.inner.state.lock();
        let listed = |id: &Arc<str>, c: &mut SimContainer| {
            c.settle(now);
            let keep = filter.id.as_deref().is_none_or(|f| f == &**id)
                && filter
                    .pod_sandbox_id
                    .as_deref()
                    .is_none_or(|f| f == &*c.sandbox_id)
                && filter.state.is_none_or(|f| f == c.state)
                && labels_match(&c.labels, &filter.label_selector);
            keep.then(|| c.to_container(id))
        };
        Ok(
            match state.candidates(Record::Container, &filter.label_selector) {
                Some(ids) => ids
                    .iter()
                    .filter_map(|id| {
                        let c = state.containers.get_mut(id)?;
                        listed(id, c)
                    })
                    .collect(),
                None => state
                    .containers
                    .iter_mut()
                    .filter_map(|(id, c)| listed(id, c))
                    .collect(),
            },
        )
    }

    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        _timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        self.inner.faults.check(SimOp::ExecSync)?;
        let mut state = self.inner.state.lock();
        let c = state
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::container_not_found(id))?;
        c.settle(SystemTime::now());
        if c.state != ContainerState::Running {
            return Err(RuntimeError::InvalidState(format!(
                "container {id} is not running"
            )));
        }
        let argv: Vec<&str> = command.iter().map(String::as_str).collect();
        let exit_code = match argv.as_slice() {
            ["true", ..] => 0,
            ["false", ..] => 1,
            _ => c.program.exec_exit_code,
        };
        Ok(ExecResult {
            exit_code,
            ..Default::default()
        })
    }

    async fn pull_image(&self, image: &ImageSpec) -> Result<String, RuntimeError> {
        self.inner.faults.check(SimOp::PullImage)?;
        if image.image.is_empty() || self.inner.config.unavailable_images.contains(&image.image) {
            return Err(RuntimeError::ImageUnavailable {
                image: image.image.clone(),
                reason: "the simulator has no such image".into(),
            });
        }
        let mut state = self.inner.state.lock();
        let entry = state
            .images
            .entry(image.image.clone())
            .or_insert_with(|| Image {
                id: format!("sim:{}", image.image),
                repo_tags: vec![image.image.clone()],
                size: 1 << 20,
            });
        Ok(entry.id.clone())
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, RuntimeError> {
        Ok(self.inner.state.lock().images.get(&image.image).cloned())
    }

    async fn list_images(&self) -> Result<Vec<Image>, RuntimeError> {
        Ok(self.inner.state.lock().images.values().cloned().collect())
    }

    async fn container_logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let (entries, seen) = {
            let mut state = self.inner.state.lock();
            let c = state
                .containers
                .get_mut(id)
                .ok_or_else(|| RuntimeError::container_not_found(id))?;
            c.settle(SystemTime::now());
            (c.logs.clone(), c.logs.len())
        };
        let selected = select_entries(entries, options);
        let mut remaining = options.limit_bytes;
        let head = crate::logs::entry_limit(
            format_entries(&selected, options.timestamps),
            &mut remaining,
        );
        let head = futures::stream::iter((!head.is_empty()).then_some(Ok(head)));
        if !options.follow || remaining == Some(0) {
            return Ok(Box::pin(head));
        }
        let this = self.clone();
        let id = id.to_owned();
        let timestamps = options.timestamps;
        let poll = self.inner.config.log_poll;
        let tail = futures::stream::unfold(
            (seen, remaining, false),
            move |(mut seen, mut remaining, done)| {
                let this = this.clone();
                let id = id.clone();
                async move {
                    if done || remaining == Some(0) {
                        return None;
                    }
                    loop {
                        let (new, running) = {
                            let mut state = this.inner.state.lock();
                            let c = state.containers.get_mut(id.as_str())?;
                            c.settle(SystemTime::now());
                            let new: Vec<LogEntry> = c.logs.get(seen..)?.to_vec();
                            (new, c.state == ContainerState::Running)
                        };
                        if !new.is_empty() {
                            seen += new.len();
                            let chunk = crate::logs::entry_limit(
                                format_entries(&new, timestamps),
                                &mut remaining,
                            );
                            return Some((Ok(chunk), (seen, remaining, false)));
                        }
                        if !running {
                            return None;
                        }
                        tokio::time::sleep(poll).await;
                    }
                }
            },
        );
        Ok(Box::pin(futures::StreamExt::chain(head, tail)))
    }
}

fn sandbox_entry(id: &str, s: &SimSandbox) -> PodSandbox {
    PodSandbox {
        id: id.to_owned(),
        metadata: s.metadata.clone(),
        state: s.state,
        created_at: s.created_at,
        labels: (*s.labels).clone(),
        annotations: (*s.annotations).clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{Harness, Workload, sim_container};
    use crate::kubelet::labels::POD_UID;

    struct Sim(SimRuntime);

    #[async_trait]
    impl Harness for Sim {
        type Runtime = SimRuntime;
        async fn runtime(&self) -> SimRuntime {
            self.0.clone()
        }
        fn container(&self, name: &str, workload: &Workload) -> ContainerConfig {
            sim_container(name, workload)
        }
        fn timeout(&self) -> Duration {
            Duration::from_secs(10)
        }
    }

    crate::runtime_conformance_tests!(|| async { Sim(SimRuntime::new()) });

    #[tokio::test]
    async fn lists_by_pod_uid_see_only_that_pods_records_until_removed() {
        let rt = SimRuntime::new();
        let mut ids = Vec::new();
        for uid in ["u1", "u2"] {
            let mut sandbox = PodSandboxConfig::default();
            sandbox.labels.insert(POD_UID.into(), uid.into());
            let sb = rt.run_pod_sandbox(&sandbox).await.unwrap();
            let mut config = sim_container("a", &Workload::Sleep);
            config.labels.insert(POD_UID.into(), uid.into());
            let c = rt.create_container(&sb, &config, &sandbox).await.unwrap();
            ids.push((sb, c));
        }
        let by_uid = |uid: &str| Labels::from([(POD_UID.to_owned(), uid.to_owned())]);
        let sandboxes = |uid: &str| PodSandboxFilter {
            label_selector: by_uid(uid),
            ..PodSandboxFilter::default()
        };
        let containers = |uid: &str| ContainerFilter {
            label_selector: by_uid(uid),
            ..ContainerFilter::default()
        };
        let listed = rt.list_pod_sandboxes(&sandboxes("u1")).await.unwrap();
        assert_eq!(
            listed.iter().map(|s| &s.id).collect::<Vec<_>>(),
            [&ids[0].0]
        );
        let listed = rt.list_containers(&containers("u2")).await.unwrap();
        assert_eq!(
            listed.iter().map(|c| &c.id).collect::<Vec<_>>(),
            [&ids[1].1]
        );
        // The other filters still apply to the pod's records.
        let mut other = sandboxes("u1");
        other.id = Some(ids[1].0.clone());
        assert!(rt.list_pod_sandboxes(&other).await.unwrap().is_empty());
        assert!(
            rt.list_containers(&containers("u3"))
                .await
                .unwrap()
                .is_empty()
        );
        // Without a UID every record is listed.
        let all = rt
            .list_containers(&ContainerFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 2);

        rt.remove_container(&ids[1].1).await.unwrap();
        assert!(
            rt.list_containers(&containers("u2"))
                .await
                .unwrap()
                .is_empty()
        );
        rt.remove_pod_sandbox(&ids[0].0).await.unwrap();
        assert!(
            rt.list_pod_sandboxes(&sandboxes("u1"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            rt.list_containers(&containers("u1"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            rt.list_pod_sandboxes(&sandboxes("u2")).await.unwrap().len(),
            1
        );
        assert!(!rt.inner.state.lock().indexes("u1"));
    }

    #[tokio::test]
    async fn timed_programs_exit_when_read_and_faults_fail_calls() {
        let rt = SimRuntime::new();
        let sb = rt
            .run_pod_sandbox(&PodSandboxConfig::default())
            .await
            .unwrap();
        let mut config = sim_container("a", &Workload::Sleep);
        config.envs.push((SIM_RUN_MILLIS.into(), "30".into()));
        config.envs.push((SIM_EXIT_CODE.into(), "7".into()));
        let id = rt
            .create_container(&sb, &config, &PodSandboxConfig::default())
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        assert_eq!(rt.running_containers(), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let st = rt.container_status(&id).await.unwrap();
        assert_eq!(
            (st.container.state, st.exit_code),
            (ContainerState::Exited, Some(7))
        );
        // The exit happened when the program ended, not when it was noticed.
        assert_eq!(
            st.finished_at
                .unwrap()
                .duration_since(st.started_at.unwrap())
                .unwrap(),
            Duration::from_millis(30)
        );
        rt.faults().fail_next(SimOp::StartContainer, 1);
        let id2 = rt
            .create_container(
                &sb,
                &sim_container("b", &Workload::Sleep),
                &PodSandboxConfig::default(),
            )
            .await
            .unwrap();
        assert!(matches!(
            rt.start_container(&id2).await,
            Err(RuntimeError::Unavailable { .. })
        ));
        rt.start_container(&id2).await.unwrap();
        rt.crash(&id2, 2).unwrap();
        assert_eq!(rt.container_status(&id2).await.unwrap().exit_code, Some(2));
    }

    #[tokio::test]
    async fn sandboxes_get_ips_unless_host_network_and_images_can_be_missing() {
        let rt = SimRuntime::with_config(SimConfig {
            unavailable_images: vec!["missing:1".into()],
            ..SimConfig::default()
        });
        let own = rt
            .run_pod_sandbox(&PodSandboxConfig::default())
            .await
            .unwrap();
        let host = rt
            .run_pod_sandbox(&PodSandboxConfig {
                host_network: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rt.pod_sandbox_status(&own).await.unwrap().ips.len(), 1);
        assert!(rt.pod_sandbox_status(&host).await.unwrap().ips.is_empty());
        let err = rt
            .pull_image(&ImageSpec {
                image: "missing:1".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, RuntimeError::ImageUnavailable { .. }));
        rt.pull_image(&ImageSpec {
            image: "nginx:1".into(),
        })
        .await
        .unwrap();
        assert_eq!(rt.list_images().await.unwrap().len(), 1);
    }
}
