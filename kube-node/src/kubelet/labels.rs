//! The labels the node agent puts on runtime sandboxes and containers (the kubelet's own
//! keys), through which a restarted agent finds what belongs to which pod.

use kube_core::Pod;
use kube_core::runtime::Labels;

/// The pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// The pod's namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The pod's uid: the key of adoption.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// The container's name in the pod spec.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// The container's restart count, as an annotation.
pub const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";

/// The labels of a pod's sandbox.
pub fn sandbox_labels(pod: &Pod) -> Labels {
    let mut labels: Labels = pod.metadata.labels.clone();
    labels.insert(
        POD_NAME.into(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(
        POD_NAMESPACE.into(),
        pod.metadata.namespace.clone().unwrap_or_default(),
    );
    labels.insert(POD_UID.into(), pod.metadata.uid.clone().unwrap_or_default());
    labels
}

/// The labels of a container of a pod.
pub fn container_labels(pod: &Pod, container: &str) -> Labels {
    let mut labels = Labels::new();
    labels.insert(
        POD_NAME.into(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(
        POD_NAMESPACE.into(),
        pod.metadata.namespace.clone().unwrap_or_default(),
    );
    labels.insert(POD_UID.into(), pod.metadata.uid.clone().unwrap_or_default());
    labels.insert(CONTAINER_NAME.into(), container.to_owned());
    labels
}

/// A selector of everything that belongs to the pod with this uid.
pub fn by_pod_uid(uid: &str) -> Labels {
    Labels::from([(POD_UID.to_owned(), uid.to_owned())])
}
