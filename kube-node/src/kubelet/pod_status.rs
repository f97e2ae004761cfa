//! The pod status the node agent reports, computed from the runtime's containers, the
//! probes and the worker's waiting reasons, as Kubernetes' kubelet computes it: phase,
//! conditions, IPs, and one status per container.

use std::collections::HashMap;
use std::net::IpAddr;

use kube_core::runtime::{ContainerState as RtState, ContainerStatus as RtStatus};
use kube_core::{
    ConditionStatus, ContainerRestartPolicy, ContainerState, ContainerStateRunning,
    ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIp, Pod, PodCondition,
    PodConditionType, PodIp, PodPhase, PodStatus, QosClass, RestartPolicy, Time,
};

/// Why a container waits, when the worker knows better than "being created".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// `CrashLoopBackOff`, `ErrImagePull`, `CreateContainerError`...
    pub reason: String,
    /// Details.
    pub message: String,
}

/// What the probes say about one running container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProbeView {
    /// The readiness probe passes (or there is none and the container started).
    pub ready: bool,
    /// The startup probe passed (or there is none).
    pub started: bool,
}

/// Everything the status is computed from.
#[derive(Debug)]
pub(crate) struct StatusInputs<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// The node's IP (`hostIP`, and the pod IP with host networking).
    pub host_ip: &'a str,
    /// The current sandbox's IPs.
    pub sandbox_ips: &'a [IpAddr],
    /// The current sandbox is ready.
    pub sandbox_ready: bool,
    /// The runtime's containers of the pod by container name, oldest attempt first.
    pub containers: &'a HashMap<String, Vec<RtStatus>>,
    /// Waiting reasons by container name.
    pub waiting: &'a HashMap<String, Waiting>,
    /// Probe results by container id.
    pub probes: &'a HashMap<String, ProbeView>,
    /// The runtime's name, for container ids (`sim://...`).
    pub runtime_name: &'a str,
    /// The pod failed for a reason of its own (admission, deadline): phase Failed.
    pub failed: Option<&'a Waiting>,
    /// Now.
    pub now: Time,
}

/// A runtime timestamp as the API keeps it (whole seconds): a status holding the
/// runtime's nanoseconds would never equal its own copy read back from the API server,
/// and would be written again on every sync.
fn time(t: Option<std::time::SystemTime>) -> Option<Time> {
    t.map(|t| Time::from(chrono::DateTime::<chrono::Utc>::from(t)))
}

fn terminated(c: &RtStatus, runtime: &str) -> ContainerStateTerminated {
    let code = c.exit_code.unwrap_or(137);
    ContainerStateTerminated {
        exit_code: code,
        signal: None,
        reason: Some(if !c.reason.is_empty() {
            c.reason.clone()
        } else if code == 0 {
            "Completed".into()
        } else {
            "Error".into()
        }),
        message: (!c.message.is_empty()).then(|| c.message.clone()),
        started_at: time(c.started_at),
        finished_at: time(c.finished_at),
        container_id: Some(format!("{runtime}://{}", c.container.id)),
    }
}

/// One container's status.
fn container_status(
    inputs: &StatusInputs<'_>,
    spec: &kube_core::Container,
    default_waiting: &str,
) -> ContainerStatus {
    let history = inputs
        .containers
        .get(&spec.name)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let latest = history.last();
    let waiting = inputs.waiting.get(&spec.name);
    let mut status = ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        restart_count: latest
            .map(|c| i32::try_from(c.container.metadata.attempt).unwrap_or(i32::MAX))
            .unwrap_or(0),
        started: Some(false),
        ..Default::default()
    };
    if let Some(previous) = history.len().checked_sub(2).and_then(|i| history.get(i)) {
        status.last_state.terminated = Some(terminated(previous, inputs.runtime_name));
    }
    let wait = |reason: &str, message: Option<String>| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message,
        }),
        ..Default::default()
    };
    match latest {
        None => {
            status.state = match waiting {
                Some(w) => wait(&w.reason, Some(w.message.clone())),
                None => wait(default_waiting, None),
            };
        }
        Some(c) => {
            status.image_id.clone_from(&c.container.image);
            status.container_id = Some(format!("{}://{}", inputs.runtime_name, c.container.id));
            match c.container.state {
                RtState::Running => {
                    let probes = inputs
                        .probes
                        .get(&c.container.id)
                        .copied()
                        .unwrap_or_default();
                    status.state.running = Some(ContainerStateRunning {
                        started_at: time(c.started_at),
                    });
                    status.started = Some(probes.started);
                    status.ready = probes.ready;
                }
                RtState::Exited | RtState::Unknown => {
                    let done = terminated(c, inputs.runtime_name);
                    match waiting {
                        Some(w) => {
                            status.state = wait(&w.reason, Some(w.message.clone()));
                            status.last_state.terminated = Some(done);
                        }
                        None => status.state.terminated = Some(done),
                    }
                }
                RtState::Created => {
                    status.state = match waiting {
                        Some(w) => wait(&w.reason, Some(w.message.clone())),
                        None => wait("ContainerCreating", None),
                    };
                }
            }
        }
    }
    status
}

fn is_sidecar(c: &kube_core::Container) -> bool {
    c.restart_policy == Some(ContainerRestartPolicy::Always)
}

/// The pod's QoS class from its containers' requests and limits.
pub(crate) fn qos_class(pod: &Pod) -> QosClass {
    let mut any = false;
    let mut guaranteed = true;
    for c in pod.spec.all_containers() {
        let r = &c.resources;
        if !r.requests.is_empty() || !r.limits.is_empty() {
            any = true;
        }
        for res in ["cpu", "memory"] {
            match (r.limits.get(res), r.effective_request(res)) {
                (Some(l), Some(q)) if l == q => {}
                _ => guaranteed = false,
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => QosClass::BestEffort,
        (true, true) => QosClass::Guaranteed,
        (true, false) => QosClass::Burstable,
    }
}

fn list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// The pod's status, starting from what it reports now (so that condition transition
/// times and the start time are kept).
pub(crate) fn compute(inputs: &StatusInputs<'_>) -> PodStatus {
    let pod = inputs.pod;
    let mut status = pod.status.clone();
    let policy = pod.spec.effective_restart_policy();

    let init_statuses: Vec<ContainerStatus> = pod
        .spec
        .init_containers
        .iter()
        .map(|c| container_status(inputs, c, "PodInitializing"))
        .collect();
    let incomplete_init: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .zip(&init_statuses)
        .filter(|(spec, s)| {
            if is_sidecar(spec) {
                s.state.running.is_none() && !s.started.unwrap_or(false)
            } else {
                s.state.terminated.as_ref().is_none_or(|t| t.exit_code != 0)
            }
        })
        .map(|(spec, _)| spec.name.as_str())
        .collect();
    let initialized = incomplete_init.is_empty();
    let init_failed = policy == RestartPolicy::Never
        && pod
            .spec
            .init_containers
            .iter()
            .zip(&init_statuses)
            .any(|(spec, s)| {
                !is_sidecar(spec)
                    && s.state
                        .terminated
                        .as_ref()
                        .is_some_and(|t| t.exit_code != 0)
            });
    let default_waiting = if initialized {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let app_statuses: Vec<ContainerStatus> = pod
        .spec
        .containers
        .iter()
        .map(|c| container_status(inputs, c, default_waiting))
        .collect();

    // The phase, as the kubelet's getPhase decides it.
    let phase = if inputs.failed.is_some() || init_failed {
        PodPhase::Failed
    } else if !initialized {
        PodPhase::Pending
    } else {
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for s in &app_statuses {
            if s.state.running.is_some() {
                running += 1;
            } else if let Some(t) = &s.state.terminated {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            } else if s.last_state.terminated.is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        }
        if waiting > 0 {
            PodPhase::Pending
        } else if running > 0 {
            PodPhase::Running
        } else if stopped > 0 {
            match policy {
                RestartPolicy::Always => PodPhase::Running,
                _ if stopped == succeeded => PodPhase::Succeeded,
                RestartPolicy::OnFailure => PodPhase::Running,
                _ => PodPhase::Failed,
            }
        } else {
            PodPhase::Pending
        }
    };

    let now = inputs.now;
    let unready: Vec<&str> = pod
        .spec
        .containers
        .iter()
        .zip(&app_statuses)
        .filter(|(_, s)| !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    let completed = phase == PodPhase::Succeeded;
    let cond =
        |type_: PodConditionType, ok: bool, reason: Option<String>, message: Option<String>| {
            PodCondition {
                reason: if ok { None } else { reason },
                message: if ok { None } else { message },
                ..PodCondition::new(type_, ConditionStatus::from(ok))
            }
        };
    status.set_condition(
        PodCondition::new(PodConditionType::PodScheduled, ConditionStatus::True),
        now,
    );
    status.set_condition(
        cond(
            PodConditionType::PodReadyToStartContainers,
            inputs.sandbox_ready,
            None,
            None,
        ),
        now,
    );
    status.set_condition(
        cond(
            PodConditionType::Initialized,
            initialized,
            Some("ContainersNotInitialized".into()),
            Some(format!(
                "containers with incomplete status: {}",
                list(&incomplete_init)
            )),
        ),
        now,
    );
    let containers_ready = unready.is_empty() && !completed && phase != PodPhase::Failed;
    let not_ready_reason = if completed {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let not_ready_message =
        (!completed).then(|| format!("containers with unready status: {}", list(&unready)));
    status.set_condition(
        cond(
            PodConditionType::ContainersReady,
            containers_ready,
            Some(not_ready_reason.into()),
            not_ready_message.clone(),
        ),
        now,
    );
    let gates_pass = pod.spec.readiness_gates.iter().all(|g| {
        pod.status
            .condition(&g.condition_type)
            .is_some_and(|c| c.status.is_true())
    });
    let (ready_reason, ready_message) = if !containers_ready {
        (not_ready_reason.to_owned(), not_ready_message)
    } else {
        (
            "ReadinessGatesNotReady".to_owned(),
            Some("the readiness gates are not all true".into()),
        )
    };
    status.set_condition(
        cond(
            PodConditionType::Ready,
            containers_ready && gates_pass,
            Some(ready_reason),
            ready_message,
        ),
        now,
    );

    status.phase = Some(phase);
    if let Some(f) = inputs.failed {
        status.reason = Some(f.reason.clone());
        status.message = Some(f.message.clone());
    }
    status.host_ip = Some(inputs.host_ip.to_owned());
    status.host_ips = vec![HostIp {
        ip: inputs.host_ip.to_owned(),
    }];
    let pod_ips: Vec<String> = if pod.spec.host_network {
        vec![inputs.host_ip.to_owned()]
    } else {
        inputs.sandbox_ips.iter().map(ToString::to_string).collect()
    };
    if !pod_ips.is_empty() {
        status.pod_ip = pod_ips.first().cloned();
        status.pod_ips = pod_ips.into_iter().map(|ip| PodIp { ip }).collect();
    }
    if status.start_time.is_none() {
        status.start_time = Some(now);
    }
    status.init_container_statuses = init_statuses;
    status.container_statuses = app_statuses;
    status.qos_class = Some(qos_class(pod));
    status
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use kube_core::runtime::{Container as RtContainer, ContainerMetadata};

    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn rt(id: &str, name: &str, attempt: u32, state: RtState, exit: Option<i32>) -> RtStatus {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        RtStatus {
            container: RtContainer {
                id: id.into(),
                pod_sandbox_id: "s".into(),
                metadata: ContainerMetadata {
                    name: name.into(),
                    attempt,
                },
                image: "img".into(),
                state,
                created_at: t0,
                labels: Default::default(),
                annotations: Default::default(),
            },
            started_at: Some(t0),
            finished_at: exit.map(|_| t0 + Duration::from_secs(5)),
            exit_code: exit,
            reason: String::new(),
            message: String::new(),
            log_path: None,
        }
    }

    struct Case {
        pod: Pod,
        containers: HashMap<String, Vec<RtStatus>>,
        waiting: HashMap<String, Waiting>,
        probes: HashMap<String, ProbeView>,
    }

    impl Case {
        fn new(pod: Pod) -> Self {
            Self {
                pod,
                containers: HashMap::new(),
                waiting: HashMap::new(),
                probes: HashMap::new(),
            }
        }
        fn with(mut self, c: RtStatus) -> Self {
            self.containers
                .entry(c.container.metadata.name.clone())
                .or_default()
                .push(c);
            self
        }
        fn probe(mut self, id: &str, ready: bool) -> Self {
            self.probes.insert(
                id.into(),
                ProbeView {
                    ready,
                    started: true,
                },
            );
            self
        }
        fn status(&self) -> PodStatus {
            compute(&StatusInputs {
                pod: &self.pod,
                host_ip: "192.0.2.1",
                sandbox_ips: &["10.244.0.5".parse().unwrap()],
                sandbox_ready: true,
                containers: &self.containers,
                waiting: &self.waiting,
                probes: &self.probes,
                runtime_name: "sim",
                failed: None,
                now: Time::parse("2024-05-01T12:00:00Z").unwrap(),
            })
        }
    }

    fn condition(s: &PodStatus, t: &PodConditionType) -> (ConditionStatus, Option<String>) {
        let c = s.condition(t).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    fn two() -> Pod {
        pod(
            serde_json::json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}),
        )
    }

    #[test]
    fn a_status_equals_its_copy_read_back_from_the_api() {
        // Runtimes report nanoseconds; the API keeps seconds.
        let nanos = Duration::from_nanos(123_456_789);
        let mut running = rt("c1", "a", 0, RtState::Running, None);
        running.started_at = running.started_at.map(|t| t + nanos);
        let mut exited = rt("c2", "b", 0, RtState::Exited, Some(0));
        exited.started_at = exited.started_at.map(|t| t + nanos);
        exited.finished_at = exited.finished_at.map(|t| t + nanos);
        let s = Case::new(two()).with(running).with(exited).status();
        let read_back: PodStatus =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(read_back, s);
    }

    #[test]
    fn nothing_started_is_pending_and_creating() {
        let s = Case::new(two()).status();
        assert_eq!(s.phase, Some(PodPhase::Pending));
        assert_eq!(
            s.container_statuses[0]
                .state
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("ContainerCreating")
        );
        assert_eq!(
            condition(&s, &PodConditionType::Ready),
            (ConditionStatus::False, Some("ContainersNotReady".into()))
        );
        assert_eq!(
            s.condition(&PodConditionType::ContainersReady)
                .unwrap()
                .message
                .as_deref(),
            Some("containers with unready status: [a b]")
        );
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.5"));
        assert_eq!(s.host_ip.as_deref(), Some("192.0.2.1"));
        assert!(s.start_time.is_some());
        assert_eq!(s.qos_class, Some(QosClass::BestEffort));
    }

    #[test]
    fn running_and_ready_containers_make_a_ready_pod() {
        let case = Case::new(two())
            .with(rt("c1", "a", 0, RtState::Running, None))
            .with(rt("c2", "b", 0, RtState::Running, None))
            .probe("c1", true)
            .probe("c2", false);
        let s = case.status();
        assert_eq!(s.phase, Some(PodPhase::Running));
        assert_eq!(
            condition(&s, &PodConditionType::Ready).0,
            ConditionStatus::False
        );
        assert_eq!(
            s.container_statuses[0].container_id.as_deref(),
            Some("sim://c1")
        );
        assert!(s.container_statuses[0].ready && !s.container_statuses[1].ready);
        let s = case.probe("c2", true).status();
        assert_eq!(
            condition(&s, &PodConditionType::Ready),
            (ConditionStatus::True, None)
        );
        assert_eq!(
            condition(&s, &PodConditionType::Initialized).0,
            ConditionStatus::True
        );
    }

    #[test]
    fn crash_loop_shows_waiting_last_state_and_restart_count() {
        let mut case = Case::new(two())
            .with(rt("c1", "a", 0, RtState::Exited, Some(1)))
            .with(rt("c3", "a", 1, RtState::Exited, Some(2)))
            .with(rt("c2", "b", 0, RtState::Running, None));
        case.waiting.insert(
            "a".into(),
            Waiting {
                reason: "CrashLoopBackOff".into(),
                message: "back-off 10s restarting failed container=a pod=p_ns(u)".into(),
            },
        );
        let s = case.status();
        let a = &s.container_statuses[0];
        assert_eq!(a.restart_count, 1);
        assert_eq!(
            a.state.waiting.as_ref().unwrap().reason.as_deref(),
            Some("CrashLoopBackOff")
        );
        assert_eq!(a.last_state.terminated.as_ref().unwrap().exit_code, 2);
        assert_eq!(
            a.last_state.terminated.as_ref().unwrap().reason.as_deref(),
            Some("Error")
        );
        assert_eq!(s.phase, Some(PodPhase::Running));
    }

    #[test]
    fn phases_follow_the_restart_policy() {
        let with_policy = |policy: &str| {
            let mut p = two();
            p.spec.restart_policy = serde_json::from_value(serde_json::json!(policy)).unwrap();
            p
        };
        let ok_and_failed = |p: Pod| {
            Case::new(p)
                .with(rt("c1", "a", 0, RtState::Exited, Some(0)))
                .with(rt("c2", "b", 0, RtState::Exited, Some(1)))
                .status()
                .phase
        };
        assert_eq!(ok_and_failed(with_policy("Never")), Some(PodPhase::Failed));
        assert_eq!(
            ok_and_failed(with_policy("OnFailure")),
            Some(PodPhase::Running)
        );
        assert_eq!(
            ok_and_failed(with_policy("Always")),
            Some(PodPhase::Running)
        );
        let all_ok = Case::new(with_policy("OnFailure"))
            .with(rt("c1", "a", 0, RtState::Exited, Some(0)))
            .with(rt("c2", "b", 0, RtState::Exited, Some(0)))
            .status();
        assert_eq!(all_ok.phase, Some(PodPhase::Succeeded));
        assert_eq!(
            condition(&all_ok, &PodConditionType::Ready),
            (ConditionStatus::False, Some("PodCompleted".into()))
        );
    }

    #[test]
    fn init_containers_gate_initialized() {
        let p = pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i1"}, {"name": "i2"}],
            "containers": [{"name": "a"}]}}));
        let s = Case::new(p.clone())
            .with(rt("i1", "i1", 0, RtState::Exited, Some(0)))
            .with(rt("i2", "i2", 0, RtState::Running, None))
            .status();
        assert_eq!(s.phase, Some(PodPhase::Pending));
        assert_eq!(
            condition(&s, &PodConditionType::Initialized),
            (
                ConditionStatus::False,
                Some("ContainersNotInitialized".into())
            )
        );
        assert_eq!(
            s.condition(&PodConditionType::Initialized)
                .unwrap()
                .message
                .as_deref(),
            Some("containers with incomplete status: [i2]")
        );
        assert_eq!(
            s.container_statuses[0]
                .state
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );
        let mut never = p;
        never.spec.restart_policy = Some(RestartPolicy::Never);
        let failed = Case::new(never)
            .with(rt("i1", "i1", 0, RtState::Exited, Some(3)))
            .status();
        assert_eq!(failed.phase, Some(PodPhase::Failed));
    }

    #[test]
    fn transition_times_are_kept_while_status_holds_and_qos_is_computed() {
        let mut p = pod(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}),
        );
        let first = Case::new(p.clone()).status();
        assert_eq!(first.qos_class, Some(QosClass::Guaranteed));
        p.status = first.clone();
        let again = Case::new(p).status();
        assert_eq!(again, first, "the same inputs give the same status");
    }
}
