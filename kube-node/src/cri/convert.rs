//! Conversions between kube-core's runtime types and the CRI v1 messages, both ways (the
//! client sends and reads them; the server adapter reads and answers them).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use kube_core::RuntimeError;
use kube_core::runtime as rt;

use super::proto as pb;

pub(crate) fn nanos(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn time(n: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn optional_time(n: i64) -> Option<SystemTime> {
    (n > 0).then(|| time(n))
}

fn map(labels: &rt::Labels) -> HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn labels(map: HashMap<String, String>) -> rt::Labels {
    map.into_iter().collect()
}

pub(crate) fn sandbox_metadata(m: &rt::PodSandboxMetadata) -> pb::PodSandboxMetadata {
    pb::PodSandboxMetadata {
        name: m.name.clone(),
        uid: m.uid.clone(),
        namespace: m.namespace.clone(),
        attempt: m.attempt,
    }
}

pub(crate) fn from_sandbox_metadata(m: Option<pb::PodSandboxMetadata>) -> rt::PodSandboxMetadata {
    let m = m.unwrap_or_default();
    rt::PodSandboxMetadata {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        attempt: m.attempt,
    }
}

pub(crate) fn sandbox_config(c: &rt::PodSandboxConfig) -> pb::PodSandboxConfig {
    let network = if c.host_network {
        pb::NamespaceMode::Node
    } else {
        pb::NamespaceMode::Pod
    };
    pb::PodSandboxConfig {
        metadata: Some(sandbox_metadata(&c.metadata)),
        hostname: c.hostname.clone(),
        log_directory: c.log_directory.clone(),
        port_mappings: c
            .port_mappings
            .iter()
            .map(|p| pb::PortMapping {
                protocol: match p.protocol.as_str() {
                    "UDP" => pb::Protocol::Udp,
                    "SCTP" => pb::Protocol::Sctp,
                    _ => pb::Protocol::Tcp,
                } as i32,
                container_port: i32::from(p.container_port),
                host_port: p.host_port.map_or(0, i32::from),
                host_ip: p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            })
            .collect(),
        labels: map(&c.labels),
        annotations: map(&c.annotations),
        linux: Some(pb::LinuxPodSandboxConfig {
            cgroup_parent: c.cgroup_parent.clone().unwrap_or_default(),
            security_context: Some(pb::LinuxSandboxSecurityContext {
                namespace_options: Some(pb::NamespaceOption {
                    network: network as i32,
                    pid: pb::NamespaceMode::Pod as i32,
                    ipc: pb::NamespaceMode::Pod as i32,
                }),
            }),
        }),
    }
}

pub(crate) fn from_sandbox_config(c: pb::PodSandboxConfig) -> rt::PodSandboxConfig {
    let host_network = c
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
        .is_some_and(|n| n.network == pb::NamespaceMode::Node as i32);
    rt::PodSandboxConfig {
        metadata: from_sandbox_metadata(c.metadata),
        hostname: c.hostname,
        log_directory: c.log_directory,
        host_network,
        port_mappings: c
            .port_mappings
            .into_iter()
            .map(|p| rt::PortMapping {
                protocol: match pb::Protocol::try_from(p.protocol) {
                    Ok(pb::Protocol::Udp) => "UDP".into(),
                    Ok(pb::Protocol::Sctp) => "SCTP".into(),
                    _ => "TCP".into(),
                },
                container_port: u16::try_from(p.container_port).unwrap_or(0),
                host_port: u16::try_from(p.host_port).ok().filter(|p| *p > 0),
                host_ip: p.host_ip.parse().ok(),
            })
            .collect(),
        cgroup_parent: c.linux.map(|l| l.cgroup_parent).filter(|p| !p.is_empty()),
        labels: labels(c.labels),
        annotations: labels(c.annotations),
    }
}

pub(crate) fn sandbox_state(s: i32) -> rt::SandboxState {
    if s == pb::PodSandboxState::SandboxReady as i32 {
        rt::SandboxState::Ready
    } else {
        rt::SandboxState::NotReady
    }
}

pub(crate) fn pb_sandbox_state(s: rt::SandboxState) -> pb::PodSandboxState {
    match s {
        rt::SandboxState::Ready => pb::PodSandboxState::SandboxReady,
        rt::SandboxState::NotReady => pb::PodSandboxState::SandboxNotready,
    }
}

pub(crate) fn container_state(s: i32) -> rt::ContainerState {
    match pb::ContainerState::try_from(s) {
        Ok(pb::ContainerState::ContainerCreated) => rt::ContainerState::Created,
        Ok(pb::ContainerState::ContainerRunning) => rt::ContainerState::Running,
        Ok(pb::ContainerState::ContainerExited) => rt::ContainerState::Exited,
        _ => rt::ContainerState::Unknown,
    }
}

pub(crate) fn pb_container_state(s: rt::ContainerState) -> pb::ContainerState {
    match s {
        rt::ContainerState::Created => pb::ContainerState::ContainerCreated,
        rt::ContainerState::Running => pb::ContainerState::ContainerRunning,
        rt::ContainerState::Exited => pb::ContainerState::ContainerExited,
        rt::ContainerState::Unknown => pb::ContainerState::ContainerUnknown,
    }
}

pub(crate) fn container_config(c: &rt::ContainerConfig) -> pb::ContainerConfig {
    let r = &c.resources;
    pb::ContainerConfig {
        metadata: Some(pb::ContainerMetadata {
            name: c.metadata.name.clone(),
            attempt: c.metadata.attempt,
        }),
        image: Some(pb::ImageSpec {
            image: c.image.clone(),
            annotations: HashMap::new(),
        }),
        command: c.command.clone(),
        args: c.args.clone(),
        working_dir: c.working_dir.clone(),
        envs: c
            .envs
            .iter()
            .map(|(k, v)| pb::KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        mounts: c
            .mounts
            .iter()
            .map(|m| pb::Mount {
                container_path: m.container_path.clone(),
                host_path: m.host_path.clone(),
                readonly: m.readonly,
            })
            .collect(),
        labels: map(&c.labels),
        annotations: map(&c.annotations),
        log_path: c.log_path.clone(),
        stdin: c.stdin,
        stdin_once: false,
        tty: c.tty,
        linux: Some(pb::LinuxContainerConfig {
            resources: Some(pb::LinuxContainerResources {
                cpu_period: r.cpu_period.map_or(0, |p| i64::try_from(p).unwrap_or(0)),
                cpu_quota: r.cpu_quota.unwrap_or(0),
                cpu_shares: r.cpu_shares.map_or(0, |s| i64::try_from(s).unwrap_or(0)),
                memory_limit_in_bytes: r.memory_limit_bytes.unwrap_or(0),
            }),
        }),
    }
}

pub(crate) fn from_container_config(c: pb::ContainerConfig) -> rt::ContainerConfig {
    let meta = c.metadata.unwrap_or_default();
    let res = c.linux.and_then(|l| l.resources).unwrap_or_default();
    let positive = |n: i64| (n > 0).then_some(n);
    rt::ContainerConfig {
        metadata: rt::ContainerMetadata {
            name: meta.name,
            attempt: meta.attempt,
        },
        image: c.image.map(|i| i.image).unwrap_or_default(),
        command: c.command,
        args: c.args,
        working_dir: c.working_dir,
        envs: c.envs.into_iter().map(|kv| (kv.key, kv.value)).collect(),
        mounts: c
            .mounts
            .into_iter()
            .map(|m| rt::Mount {
                container_path: m.container_path,
                host_path: m.host_path,
                readonly: m.readonly,
            })
            .collect(),
        log_path: c.log_path,
        resources: rt::ContainerResources {
            cpu_shares: positive(res.cpu_shares).and_then(|n| u64::try_from(n).ok()),
            cpu_quota: positive(res.cpu_quota),
            cpu_period: positive(res.cpu_period).and_then(|n| u64::try_from(n).ok()),
            memory_limit_bytes: positive(res.memory_limit_in_bytes),
        },
        stdin: c.stdin,
        tty: c.tty,
        labels: labels(c.labels),
        annotations: labels(c.annotations),
    }
}

pub(crate) fn from_container(c: pb::Container) -> rt::Container {
    let meta = c.metadata.unwrap_or_default();
    rt::Container {
        id: c.id,
        pod_sandbox_id: c.pod_sandbox_id,
        metadata: rt::ContainerMetadata {
            name: meta.name,
            attempt: meta.attempt,
        },
        image: if c.image_ref.is_empty() {
            c.image.map(|i| i.image).unwrap_or_default()
        } else {
            c.image_ref
        },
        state: container_state(c.state),
        created_at: time(c.created_at),
        labels: labels(c.labels),
        annotations: labels(c.annotations),
    }
}

pub(crate) fn pb_container(c: &rt::Container) -> pb::Container {
    pb::Container {
        id: c.id.clone(),
        pod_sandbox_id: c.pod_sandbox_id.clone(),
        metadata: Some(pb::ContainerMetadata {
            name: c.metadata.name.clone(),
            attempt: c.metadata.attempt,
        }),
        image: Some(pb::ImageSpec {
            image: c.image.clone(),
            annotations: HashMap::new(),
        }),
        image_ref: c.image.clone(),
        state: pb_container_state(c.state) as i32,
        created_at: nanos(c.created_at),
        labels: map(&c.labels),
        annotations: map(&c.annotations),
    }
}

pub(crate) fn image(i: pb::Image) -> rt::Image {
    rt::Image {
        id: i.id,
        repo_tags: i.repo_tags,
        size: i.size,
    }
}

pub(crate) fn pb_image(i: &rt::Image) -> pb::Image {
    pb::Image {
        id: i.id.clone(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: Vec::new(),
        size: i.size,
    }
}

/// A CRI error status as a runtime error.
pub(crate) fn error(status: tonic::Status, what: &str) -> RuntimeError {
    let message = status.message().to_owned();
    match status.code() {
        tonic::Code::NotFound => RuntimeError::NotFound {
            kind: "object",
            id: format!("{what}: {message}"),
        },
        tonic::Code::InvalidArgument => RuntimeError::InvalidArgument(message),
        tonic::Code::FailedPrecondition => RuntimeError::InvalidState(message),
        tonic::Code::DeadlineExceeded => RuntimeError::Timeout(message),
        tonic::Code::Unavailable => RuntimeError::Unavailable {
            message: format!("{what}: {message}"),
            source: Some(Box::new(status)),
        },
        _ => RuntimeError::Other {
            message: format!("{what}: {message}"),
            source: Some(Box::new(status)),
        },
    }
}

/// A runtime error as a CRI error status.
pub(crate) fn status(e: &RuntimeError) -> tonic::Status {
    let code = match e {
        RuntimeError::NotFound { .. } => tonic::Code::NotFound,
        RuntimeError::InvalidArgument(_) => tonic::Code::InvalidArgument,
        RuntimeError::InvalidState(_) => tonic::Code::FailedPrecondition,
        RuntimeError::Timeout(_) => tonic::Code::DeadlineExceeded,
        RuntimeError::Unavailable { .. } => tonic::Code::Unavailable,
        RuntimeError::ImageUnavailable { .. } => tonic::Code::NotFound,
        RuntimeError::Other { .. } => tonic::Code::Unknown,
    };
    tonic::Status::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_round_trip_through_the_wire_types() {
        let sandbox = rt::PodSandboxConfig {
            metadata: rt::PodSandboxMetadata {
                name: "p".into(),
                namespace: "ns".into(),
                uid: "u".into(),
                attempt: 2,
            },
            hostname: "p".into(),
            log_directory: "/var/log/pods/x".into(),
            host_network: true,
            port_mappings: vec![rt::PortMapping {
                protocol: "UDP".into(),
                container_port: 53,
                host_port: Some(5353),
                host_ip: None,
            }],
            cgroup_parent: Some("/kubepods".into()),
            labels: [("a".to_owned(), "b".to_owned())].into(),
            annotations: rt::Labels::new(),
        };
        assert_eq!(from_sandbox_config(sandbox_config(&sandbox)), sandbox);
        let container = rt::ContainerConfig {
            metadata: rt::ContainerMetadata {
                name: "c".into(),
                attempt: 1,
            },
            image: "busybox".into(),
            command: vec!["sh".into()],
            args: vec!["-c".into(), "true".into()],
            working_dir: "/".into(),
            envs: vec![("A".into(), "1".into())],
            log_path: "c/1.log".into(),
            resources: rt::ContainerResources {
                cpu_shares: Some(512),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                memory_limit_bytes: Some(1 << 26),
            },
            labels: [("k".to_owned(), "v".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            from_container_config(container_config(&container)),
            container
        );
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(time(nanos(t)), t);
        assert_eq!(optional_time(0), None);
        for s in [
            rt::ContainerState::Created,
            rt::ContainerState::Running,
            rt::ContainerState::Exited,
            rt::ContainerState::Unknown,
        ] {
            assert_eq!(container_state(pb_container_state(s) as i32), s);
        }
        let e = error(tonic::Status::not_found("gone"), "status");
        assert!(matches!(e, RuntimeError::NotFound { .. }));
        assert_eq!(status(&e).code(), tonic::Code::NotFound);
    }
}
