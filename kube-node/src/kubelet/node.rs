//! The Node object: registration, the status loop (conditions, capacity, addresses) and
//! the Lease heartbeat (contract 1).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_core::{
    ConditionStatus, Lease, LeaseSpec, MicroTime, Node, NodeAddress, NodeAddressType,
    NodeCondition, NodeConditionType, NodeSpec, NodeStatus, ObjectMeta, OwnerReference,
    PartialObjectMeta, ResourceList, Runtime, Time,
};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::config::KubeletConfig;
use super::error::{Error, Result};
use super::machine::{Machine, SystemFacts, allocatable};

/// The namespace of node heartbeats.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the node loops share.
pub(crate) struct NodeContext {
    pub config: Arc<KubeletConfig>,
    pub client: Client,
    pub runtime: Arc<dyn Runtime>,
    /// The port the server really listens on (0 before it starts, or with no server).
    pub port: AtomicI32,
    /// The Node's uid, once registered.
    pub uid: Mutex<Option<String>>,
    /// The pod CIDR handed to the runtime.
    pub pod_cidr: Mutex<Option<String>>,
    /// The capacity reported (fixed by config, or read from the machine).
    pub capacity: Mutex<ResourceList>,
    /// The system facts the status reports, read once at start.
    pub system: SystemFacts,
}

impl NodeContext {
    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    fn machine(&self) -> Option<Machine> {
        self.config
            .capacity
            .is_none()
            .then(|| Machine::read(&self.config.pod_log_dir))
    }
}

fn well_known_labels(config: &KubeletConfig) -> BTreeMap<String, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let mut labels = BTreeMap::from([
        (
            "kubernetes.io/hostname".to_owned(),
            config.node_name.clone(),
        ),
        (
            "kubernetes.io/os".to_owned(),
            std::env::consts::OS.to_owned(),
        ),
        ("kubernetes.io/arch".to_owned(), arch.to_owned()),
        (
            "beta.kubernetes.io/os".to_owned(),
            std::env::consts::OS.to_owned(),
        ),
        ("beta.kubernetes.io/arch".to_owned(), arch.to_owned()),
    ]);
    labels.extend(config.node_labels.clone());
    labels
}

/// How many times taking over an existing Node is tried again after a conflict.
const REGISTER_CONFLICT_RETRIES: u32 = 5;

/// Registers the Node (or takes over the existing one) and writes its first status.
pub(crate) async fn register(ctx: &NodeContext) -> Result<Node> {
    let config = &ctx.config;
    let api = ctx.nodes();
    let capacity = match &config.capacity {
        Some(c) => c.clone(),
        None => {
            let dir = config.pod_log_dir.clone();
            let max_pods = config.max_pods;
            tokio::task::spawn_blocking(move || Machine::read(&dir).capacity(max_pods))
                .await
                .map_err(|e| Error::Config(format!("reading the machine: {e}")))?
        }
    };
    *ctx.capacity.lock() = capacity;
    let desired = Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: well_known_labels(config),
            ..Default::default()
        },
        spec: NodeSpec {
            pod_cidr: config.pod_cidr.clone(),
            pod_cidrs: config.pod_cidr.clone().into_iter().collect(),
            taints: config.register_with_taints.clone(),
            ..Default::default()
        },
        status: NodeStatus::default(),
    };
    let node = match api.create(&PostParams::default(), &desired).await {
        Ok(node) => node,
        Err(e) if e.code() == 409 => {
            // The node exists (a restarted agent): keep it, adding our labels and CIDR.
            // Controllers write it too (node IPAM sets its CIDR): on a conflict, read
            // and apply again.
            let mut attempt = 0;
            loop {
                let mut node = api
                    .get(&config.node_name)
                    .await
                    .map_err(Error::api("reading the existing Node"))?;
                node.metadata.labels.extend(desired.metadata.labels.clone());
                if node.spec.pod_cidr.is_none() {
                    node.spec.pod_cidr.clone_from(&desired.spec.pod_cidr);
                    node.spec.pod_cidrs.clone_from(&desired.spec.pod_cidrs);
                }
                match api
                    .replace(&config.node_name, &PostParams::default(), &node)
                    .await
                {
                    Ok(node) => break node,
                    Err(e) if e.code() == 409 && attempt < REGISTER_CONFLICT_RETRIES => {
                        attempt += 1;
                    }
                    Err(e) => return Err(Error::api("updating the existing Node")(e)),
                }
            }
        }
        Err(e) => return Err(Error::api("registering the Node")(e)),
    };
    *ctx.uid.lock() = node.metadata.uid.clone();
    tracing::info!(node = %config.node_name, "registered the node");
    sync_pod_cidr(ctx, &node).await;
    let mut reporter = StatusReporter::default();
    reporter.update(ctx).await?;
    Ok(node)
}

/// Hands the pod CIDR to the runtime once known (config first, else the Node's spec).
async fn sync_pod_cidr(ctx: &NodeContext, node: &Node) {
    let cidr = ctx
        .config
        .pod_cidr
        .clone()
        .or_else(|| node.spec.pod_cidr.clone());
    let Some(cidr) = cidr else { return };
    if ctx.pod_cidr.lock().as_deref() == Some(cidr.as_str()) {
        return;
    }
    match ctx.runtime.update_runtime_config(&cidr).await {
        Ok(()) => {
            tracing::info!(node = %ctx.config.node_name, %cidr, "pod CIDR set");
            *ctx.pod_cidr.lock() = Some(cidr);
        }
        Err(e) => {
            tracing::warn!(node = %ctx.config.node_name, error = %e, "the runtime refused the pod CIDR");
        }
    }
}

/// Writes the node status when it changed, and at least every report period.
#[derive(Debug, Default)]
pub(crate) struct StatusReporter {
    last_written: Option<Instant>,
}

fn condition(
    type_: NodeConditionType,
    ok: bool,
    reason_ok: &str,
    message_ok: &str,
    reason_bad: &str,
    message_bad: &str,
) -> NodeCondition {
    // For pressure conditions "ok" means False (no pressure); the caller says which.
    NodeCondition {
        type_,
        status: ConditionStatus::Unknown,
        reason: Some(if ok { reason_ok } else { reason_bad }.to_owned()),
        message: Some(if ok { message_ok } else { message_bad }.to_owned()),
        ..Default::default()
    }
}

impl StatusReporter {
    /// Recomputes the status and writes it if it changed or is due.
    pub(crate) async fn update(&mut self, ctx: &NodeContext) -> Result<()> {
        let config = &ctx.config;
        let api = ctx.nodes();
        let mut node = api
            .get(&config.node_name)
            .await
            .map_err(Error::api("reading the Node"))?;
        if ctx.uid.lock().is_none() {
            *ctx.uid.lock() = node.metadata.uid.clone();
        }
        sync_pod_cidr(ctx, &node).await;
        let machine = match ctx.machine() {
            Some(_) => {
                let dir = config.pod_log_dir.clone();
                tokio::task::spawn_blocking(move || Machine::read(&dir))
                    .await
                    .ok()
            }
            None => None,
        };
        let version = ctx.runtime.version().await;
        let now = Time::now();
        let mut status = node.status.clone();
        let capacity = ctx.capacity.lock().clone();
        status.allocatable = allocatable(&capacity, &config.system_reserved);
        status.capacity = capacity;
        status.addresses = vec![
            NodeAddress {
                type_: NodeAddressType::InternalIP,
                address: config.node_ip.to_string(),
            },
            NodeAddress {
                type_: NodeAddressType::Hostname,
                address: config.hostname.clone(),
            },
        ];
        status.daemon_endpoints.kubelet_endpoint.port = ctx.port.load(Ordering::Relaxed);
        let info = &mut status.node_info;
        info.kubelet_version = concat!("v1.31.0-kube-sdk.", env!("CARGO_PKG_VERSION")).to_owned();
        info.operating_system = std::env::consts::OS.to_owned();
        info.architecture = well_known_labels(config)["kubernetes.io/arch"].clone();
        let system = &ctx.system;
        info.kernel_version.clone_from(&system.kernel_version);
        if info.machine_id.is_empty() {
            info.machine_id.clone_from(&system.machine_id);
        }
        info.boot_id.clone_from(&system.boot_id);
        info.os_image.clone_from(&system.os_image);
        if let Ok(v) = &version {
            info.container_runtime_version = format!("{}://{}", v.runtime_name, v.runtime_version);
        }

        let mut wanted = Vec::new();
        let runtime_ok = version.is_ok();
        let mut ready = condition(
            NodeConditionType::Ready,
            runtime_ok,
            "KubeletReady",
            "kubelet is posting ready status",
            "KubeletNotReady",
            "container runtime is down",
        );
        ready.status = ConditionStatus::from(runtime_ok);
        if let Err(e) = &version {
            ready.message = Some(format!("container runtime is down: {e}"));
        }
        let (mem_ok, disk_ok, pid_ok) = match machine {
            Some(m) => (
                m.memory_available >= config.eviction_memory_available,
                m.disk_total == 0
                    || (m.disk_available as f64)
                        >= config.eviction_disk_available_fraction * m.disk_total as f64,
                m.pids_max == 0 || m.pids_used < m.pids_max / 10 * 9,
            ),
            None => (true, true, true),
        };
        for (type_, ok, good, good_msg, bad, bad_msg) in [
            (
                NodeConditionType::MemoryPressure,
                mem_ok,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
            (
                NodeConditionType::DiskPressure,
                disk_ok,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
            ),
            (
                NodeConditionType::PidPressure,
                pid_ok,
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            ),
        ] {
            let mut c = condition(type_, ok, good, good_msg, bad, bad_msg);
            c.status = ConditionStatus::from(!ok);
            wanted.push(c);
        }
        wanted.push(ready);
        let mut changed = false;
        for mut c in wanted {
            c.last_heartbeat_time = Some(now);
            match status.conditions.iter_mut().find(|e| e.type_ == c.type_) {
                Some(existing) => {
                    c.last_transition_time = if existing.status == c.status {
                        existing.last_transition_time.or(Some(now))
                    } else {
                        Some(now)
                    };
                    if existing.status != c.status || existing.reason != c.reason {
                        changed = true;
                    }
                    *existing = c;
                }
                None => {
                    c.last_transition_time = Some(now);
                    status.conditions.push(c);
                    changed = true;
                }
            }
        }
        changed |= !same_but_heartbeats(&mut status, &mut node.status);
        let due = self
            .last_written
            .is_none_or(|t| t.elapsed() >= config.node_status_report_frequency);
        if !changed && !due {
            return Ok(());
        }
        /// The body: the status, serialized as it is (no JSON value built in between).
        #[derive(serde::Serialize)]
        struct StatusPatch<'a> {
            status: &'a NodeStatus,
        }
        // Nothing of the answer is used: it is read for its metadata only.
        let written: Api<PartialObjectMeta<Node>> = Api::all(ctx.client.clone());
        written
            .patch_status(
                &config.node_name,
                &PatchParams::default(),
                &Patch::Merge(&StatusPatch { status: &status }),
            )
            .await
            .map_err(Error::api("writing the node status"))?;
        self.last_written = Some(Instant::now());
        tracing::debug!(node = %config.node_name, changed, "node status written");
        Ok(())
    }
}

/// Whether two statuses are equal but for their conditions' heartbeat times, compared
/// in place: each condition list is taken out for the comparison and put back.
fn same_but_heartbeats(a: &mut NodeStatus, b: &mut NodeStatus) -> bool {
    let (ac, bc) = (
        std::mem::take(&mut a.conditions),
        std::mem::take(&mut b.conditions),
    );
    let same = a == b
        && ac.len() == bc.len()
        && ac.iter().zip(&bc).all(|(x, y)| {
            // Every field named, so that a field added to conditions is compared too.
            let NodeCondition {
                type_,
                status,
                last_heartbeat_time: _,
                last_transition_time,
                reason,
                message,
            } = x;
            (type_, status, last_transition_time, reason, message)
                == (
                    &y.type_,
                    &y.status,
                    &y.last_transition_time,
                    &y.reason,
                    &y.message,
                )
        });
    a.conditions = ac;
    b.conditions = bc;
    same
}

/// Recomputes the node status every update period until shutdown.
pub(crate) async fn status_loop(ctx: Arc<NodeContext>, mut shutdown: watch::Receiver<bool>) {
    let mut reporter = StatusReporter::default();
    loop {
        tokio::select! {
            () = tokio::time::sleep(ctx.config.node_status_update_frequency) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // An update in flight is dropped at shutdown: the loop does not wait on the API
        // server or the runtime to stop.
        let updated = tokio::select! {
            r = reporter.update(&ctx) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if let Err(e) = updated {
            tracing::warn!(node = %ctx.config.node_name, error = %e, "updating the node status");
        }
    }
}

/// Creates or renews the node's Lease once. `latest` is the Lease this agent last wrote:
/// as Kubernetes' lease controller does, the renewal updates it without reading it first
/// (one request per heartbeat instead of two), and reads it only when there is none or
/// the update failed (a conflict: somebody else wrote it).
pub(crate) async fn renew_lease(ctx: &NodeContext, latest: Option<Lease>) -> Result<Lease> {
    let config = &ctx.config;
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), NODE_LEASE_NAMESPACE);
    let now = MicroTime::now();
    let owner = ctx.uid.lock().clone().map(|uid| OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Node".to_owned(),
        name: config.node_name.clone(),
        uid,
        controller: None,
        block_owner_deletion: None,
    });
    let current = match latest {
        Some(lease) => Some(lease),
        None => api
            .get_opt(&config.node_name)
            .await
            .map_err(Error::api("reading the node lease"))?,
    };
    match current {
        Some(mut lease) => {
            lease.spec.holder_identity = Some(config.node_name.clone());
            lease.spec.lease_duration_seconds = Some(config.lease_duration_seconds);
            lease.spec.renew_time = Some(now);
            if let Some(owner) = owner {
                if !lease
                    .metadata
                    .owner_references
                    .iter()
                    .any(|o| o.uid == owner.uid)
                {
                    lease.metadata.owner_references = vec![owner];
                }
            }
            api.replace(&config.node_name, &PostParams::default(), &lease)
                .await
                .map_err(Error::api("renewing the node lease"))
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.node_name.clone()),
                    namespace: Some(NODE_LEASE_NAMESPACE.into()),
                    owner_references: owner.into_iter().collect(),
                    ..Default::default()
                },
                spec: LeaseSpec {
                    holder_identity: Some(config.node_name.clone()),
                    lease_duration_seconds: Some(config.lease_duration_seconds),
                    acquire_time: Some(now),
                    renew_time: Some(now),
                    ..Default::default()
                },
            };
            api.create(&PostParams::default(), &lease)
                .await
                .map_err(Error::api("creating the node lease"))
        }
    }
}

/// Renews the Lease every renew interval until shutdown (at once on start).
pub(crate) async fn lease_loop(ctx: Arc<NodeContext>, mut shutdown: watch::Receiver<bool>) {
    let mut latest: Option<Lease> = None;
    loop {
        let renew = async {
            match latest.take() {
                // The cached copy failed (a conflict: somebody else wrote the Lease): read it.
                Some(cached) => match renew_lease(&ctx, Some(cached)).await {
                    Ok(lease) => Ok(lease),
                    Err(e) => {
                        tracing::debug!(node = %ctx.config.node_name, error = %e, "renewing the cached lease failed; reading it");
                        renew_lease(&ctx, None).await
                    }
                },
                None => renew_lease(&ctx, None).await,
            }
        };
        // A renewal in flight is dropped at shutdown, as the status loop's update is.
        let renewed = tokio::select! {
            r = renew => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match renewed {
            Ok(lease) => latest = Some(lease),
            Err(e) => {
                tracing::warn!(node = %ctx.config.node_name, error = %e, "renewing the node lease");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ctx.config.lease_renew_interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(heartbeat: u32) -> NodeCondition {
        NodeCondition {
            type_: NodeConditionType::Ready,
            status: ConditionStatus::True,
            last_heartbeat_time: Some(
                Time::parse(&format!("2026-01-01T00:00:0{heartbeat}Z")).unwrap(),
            ),
            reason: Some("KubeletReady".into()),
            ..NodeCondition::default()
        }
    }

    #[test]
    fn statuses_differing_only_in_heartbeats_are_the_same() {
        let mut a = NodeStatus {
            conditions: vec![ready(1)],
            ..NodeStatus::default()
        };
        let mut b = NodeStatus {
            conditions: vec![ready(2)],
            ..NodeStatus::default()
        };
        assert!(same_but_heartbeats(&mut a, &mut b));
        // Both keep their conditions.
        assert_eq!(a.conditions, vec![ready(1)]);
        assert_eq!(b.conditions, vec![ready(2)]);

        b.conditions[0].reason = Some("KubeletNotReady".into());
        assert!(!same_but_heartbeats(&mut a, &mut b), "a reason differs");
        b.conditions = vec![ready(2), ready(2)];
        assert!(!same_but_heartbeats(&mut a, &mut b), "a condition more");
        b.conditions = vec![ready(2)];
        b.node_info.boot_id = "another boot".into();
        assert!(
            !same_but_heartbeats(&mut a, &mut b),
            "a field besides conditions"
        );
    }
}
