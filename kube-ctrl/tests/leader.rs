//! Leader election on a Lease, and managers under it: one leader at a time, takeover when
//! the leader dies, at once when it steps down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Cluster, eventually, meta};
use kube_api::client::{Api, PostParams};
use kube_core::{Action, ApiResource, BoxError, ConfigMap, Lease, ObjectKey, StaticResource};
use kube_ctrl::{ControllerManager, LeaderElectionConfig, LeaderElector, Shutdown};
use parking_lot::Mutex;

fn fast(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig::new("test-manager", identity).durations(
        Duration::from_secs(2),
        Duration::from_millis(1500),
        Duration::from_millis(200),
    )
}

async fn holder(cluster: &Cluster) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
    leases
        .get_opt("test-manager")
        .await
        .unwrap()
        .and_then(|l| l.spec.holder_identity)
}

#[tokio::test]
async fn one_leader_then_takeover_after_a_crash_or_at_once_after_a_release() {
    let cluster = Cluster::start().await;
    let a = LeaderElector::new(cluster.client.clone(), fast("a")).unwrap();
    let b = LeaderElector::new(cluster.client.clone(), fast("b")).unwrap();
    let never = Shutdown::never();

    let lead_a = a.acquire(&never).await.unwrap();
    assert_eq!(holder(&cluster).await.as_deref(), Some("a"));
    // While `a` renews, `b` never gets the lease, however often it tries.
    for _ in 0..15 {
        assert!(!b.try_acquire_or_renew().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!lead_a.lost().is_triggered());

    // `a` dies without releasing: `b` takes over once the lease expires.
    drop(lead_a);
    let lead_b = tokio::time::timeout(Duration::from_secs(20), b.acquire(&never))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder(&cluster).await.as_deref(), Some("b"));
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
    let lease = leases.get("test-manager").await.unwrap();
    assert_eq!(lease.spec.lease_transitions, Some(1));
    assert_eq!(lease.spec.lease_duration_seconds, Some(2));

    // `b` steps down cleanly: `a` gets it at its next try, without waiting for expiry.
    lead_b.release().await;
    assert_eq!(holder(&cluster).await, None);
    assert!(a.try_acquire_or_renew().await.unwrap());
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down() {
    let cluster = Cluster::start().await;
    let a = LeaderElector::new(cluster.client.clone(), fast("a")).unwrap();
    let lead = a.acquire(&Shutdown::never()).await.unwrap();
    // Someone else overwrites the lease (as if `a` had been partitioned away and the lease
    // had been taken over).
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
    let mut lease = leases.get("test-manager").await.unwrap();
    lease.spec.holder_identity = Some("usurper".into());
    leases
        .replace("test-manager", &PostParams::default(), &lease)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), lead.lost().triggered())
        .await
        .unwrap();
}

/// Records which manager reconciled what.
struct Whoami {
    identity: String,
    log: Arc<Mutex<Vec<(String, String)>>>,
}

#[async_trait]
impl kube_core::Controller for Whoami {
    fn name(&self) -> &str {
        "whoami"
    }
    fn primary(&self) -> ApiResource {
        ConfigMap::API_RESOURCE
    }
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, BoxError> {
        self.log
            .lock()
            .push((self.identity.clone(), key.name.clone()));
        Ok(Action::Done)
    }
}

#[tokio::test]
async fn of_two_managers_only_the_leader_acts_and_the_other_takes_over() {
    let cluster = Cluster::start().await;
    let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let manager = |id: &str| {
        ControllerManager::builder(cluster.client.clone())
            .identity(id)
            .leader_election(fast(id))
            .controller(Whoami {
                identity: id.to_owned(),
                log: log.clone(),
            })
            .build()
            .unwrap()
    };
    let (m1, m2) = (manager("first"), manager("second"));
    let (stop1, s1) = Shutdown::new();
    let (stop2, s2) = Shutdown::new();
    let t1 = tokio::spawn(async move { m1.run(s1).await });
    // The first one leads before the second starts competing.
    eventually("the first leads", || async {
        (holder(&cluster).await.as_deref() == Some("first")).then_some(())
    })
    .await;
    let t2 = tokio::spawn(async move { m2.run(s2).await });
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "default");
    for name in ["a", "b", "c"] {
        cms.create(
            &PostParams::default(),
            &ConfigMap {
                metadata: meta(name),
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();
    }
    eventually("the leader reconciles everything", || async {
        (log.lock().len() >= 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        log.lock().iter().all(|(who, _)| who == "first"),
        "only the leader acts: {:?}",
        log.lock()
    );

    // The leader dies (no release): the other takes over and reconciles everything.
    t1.abort();
    let _ = t1.await;
    drop(stop1);
    eventually("the second one takes over", || async {
        let second: Vec<String> = log
            .lock()
            .iter()
            .filter(|(who, _)| who == "second")
            .map(|(_, k)| k.clone())
            .collect();
        ["a", "b", "c"]
            .iter()
            .all(|k| second.iter().any(|s| s == k))
            .then_some(())
    })
    .await;
    assert_eq!(holder(&cluster).await.as_deref(), Some("second"));
    stop2.trigger();
    tokio::time::timeout(Duration::from_secs(10), t2)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // A graceful stop releases the lease.
    assert_eq!(holder(&cluster).await, None);
}
