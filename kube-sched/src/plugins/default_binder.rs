//! DefaultBinder: binds through whatever records placements (the pods/binding
//! subresource, in a cluster), behind the [`PodBinder`] seam.

use std::sync::Arc;

use async_trait::async_trait;
use kube_core::{BoxError, ObjectKey, PodInfo};

use crate::framework::{BindPlugin, BindResult, CycleState, Plugin};

/// The plugin's name.
pub const NAME: &str = "DefaultBinder";

/// Records that a pod is bound to a node. The scheduling loop implements it with the API
/// client's `pods/binding` subresource; tests and benchmarks record in memory.
#[async_trait]
pub trait PodBinder: Send + Sync + std::fmt::Debug {
    /// Binds the pod (by key and, when known, uid) to `node`.
    async fn bind(&self, pod: &ObjectKey, uid: Option<&str>, node: &str) -> Result<(), BoxError>;
}

/// Bind: hands every pod to its [`PodBinder`].
#[derive(Debug, Clone)]
pub struct DefaultBinder {
    binder: Arc<dyn PodBinder>,
}

impl DefaultBinder {
    /// Binds through `binder`.
    pub fn new(binder: Arc<dyn PodBinder>) -> Self {
        Self { binder }
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
}

#[async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(
        &self,
        _: &CycleState,
        pod: &PodInfo,
        node: &str,
    ) -> Result<BindResult, BoxError> {
        let uid = pod.pod().metadata.uid.as_deref();
        self.binder.bind(pod.key(), uid, node).await?;
        Ok(BindResult::Bound)
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::testing::pod;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(ObjectKey, Option<String>, String)>>);

    #[async_trait]
    impl PodBinder for Recorder {
        async fn bind(
            &self,
            pod: &ObjectKey,
            uid: Option<&str>,
            node: &str,
        ) -> Result<(), BoxError> {
            self.0
                .lock()
                .push((pod.clone(), uid.map(str::to_owned), node.to_owned()));
            Ok(())
        }
    }

    #[tokio::test]
    async fn binds_every_pod_through_its_binder() {
        let recorder = Arc::new(Recorder::default());
        let plugin = DefaultBinder::new(recorder.clone());
        let p = pod("web").info();
        let got = plugin.bind(&CycleState::new(), &p, "n1").await.unwrap();
        assert_eq!(got, BindResult::Bound);
        assert_eq!(
            *recorder.0.lock(),
            [(
                ObjectKey::namespaced("default", "web"),
                Some("uid-web".to_owned()),
                "n1".to_owned()
            )]
        );
    }
}
