//! [`EventRecorder`]: the kubelet's Events (`Pulled`, `Created`, `Started`, `Killing`,
//! `BackOff`, `Failed`, ...), which `kubectl describe pod` shows. Sent without waiting:
//! a lost event never holds up a pod.

use kube_api::client::{Api, Client, PostParams};
use kube_core::{Event, EventSource, EventType, MicroTime, ObjectMeta, ObjectReference, Pod, Time};

/// Records Events about pods on behalf of one node.
#[derive(Clone, Debug)]
pub(crate) struct EventRecorder {
    client: Client,
    node: String,
    enabled: bool,
}

impl EventRecorder {
    pub(crate) fn new(client: Client, node: &str, enabled: bool) -> Self {
        Self {
            client,
            node: node.to_owned(),
            enabled,
        }
    }

    /// Records an event about `pod` (and, with `container`, its field path).
    pub(crate) fn pod(
        &self,
        pod: &Pod,
        container: Option<&str>,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        if !self.enabled {
            return;
        }
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let now = Time::now();
        // Unique per event, like client-go's `<name>.<unix nanos in hex>`.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default()
            .wrapping_add(SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{nanos:x}")),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                namespace: Some(namespace.clone()),
                name: Some(name),
                uid: pod.metadata.uid.clone(),
                api_version: Some("v1".into()),
                resource_version: pod.metadata.resource_version.clone(),
                field_path: container.map(|c| format!("spec.containers{{{c}}}")),
            },
            reason: Some(reason.to_owned()),
            message: Some(message),
            source: EventSource {
                component: Some("kubelet".into()),
                host: Some(self.node.clone()),
            },
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            count: Some(1),
            type_: Some(if warning {
                EventType::Warning
            } else {
                EventType::Normal
            }),
            event_time: Some(MicroTime(now.0)),
            reporting_component: "kubelet".into(),
            reporting_instance: self.node.clone(),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        tokio::spawn(async move {
            if let Err(e) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(error = %e, "recording an event");
            }
        });
    }
}
