//! `Lease` (`coordination.k8s.io/v1`): a lock with a holder and an expiry, used for leader
//! election and node heartbeats.

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::time::MicroTime;

/// A lease: who holds it, since when, and for how long (`coordination.k8s.io/v1`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The holder and the timing of the lease.
    #[serde(default)]
    pub spec: LeaseSpec,
}

crate::impl_resource!(Lease {
    group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases",
    namespaced: true, short_names: [], categories: [],
    fields: { metadata: "metadata", spec: "spec" }
});

impl Lease {
    /// True when the lease has no live holder at `now`: it was never renewed (or acquired),
    /// has no duration, or `renewTime + leaseDurationSeconds` is not after `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expiry().is_none_or(|expiry| expiry <= now)
    }

    /// When the lease expires: `renewTime` (or `acquireTime`, if it was never renewed) plus
    /// `leaseDurationSeconds`. `None` when either is missing.
    pub fn expiry(&self) -> Option<DateTime<Utc>> {
        let renewed = self.spec.renew_time.or(self.spec.acquire_time)?;
        let duration = TimeDelta::try_seconds(i64::from(self.spec.lease_duration_seconds?))?;
        renewed.0.checked_add_signed(duration)
    }
}

/// The holder and the timing of a [`Lease`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    /// The identity of the current holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    /// How long, in seconds, other candidates must wait after the last renewal before they
    /// may take the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// When the current holder acquired the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<MicroTime>,
    /// When the current holder last renewed the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<MicroTime>,
    /// How many times the lease changed holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    /// The strategy for picking the leader in coordinated leader election
    /// (`"OldestEmulationVersion"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The identity the coordinated election asks the holder to hand over to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_holder: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn expiry_is_renew_time_plus_duration() {
        let lease = Lease {
            spec: LeaseSpec {
                holder_identity: Some("a".into()),
                lease_duration_seconds: Some(15),
                acquire_time: Some(MicroTime::parse("2024-05-01T11:00:00Z").unwrap()),
                renew_time: Some(MicroTime::parse("2024-05-01T12:00:00.500000Z").unwrap()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(lease.expiry(), Some(at("2024-05-01T12:00:15.5Z")));
        assert!(!lease.is_expired(at("2024-05-01T12:00:15Z")));
        assert!(lease.is_expired(at("2024-05-01T12:00:15.5Z")));
        assert!(lease.is_expired(at("2024-05-01T13:00:00Z")));
    }

    #[test]
    fn a_lease_without_renewal_or_duration_is_expired() {
        assert!(Lease::default().is_expired(at("2024-05-01T12:00:00Z")));
        let mut lease = Lease::default();
        lease.spec.renew_time = Some(MicroTime::parse("2024-05-01T12:00:00Z").unwrap());
        assert!(lease.is_expired(at("2024-05-01T11:00:00Z")));
        lease.spec.lease_duration_seconds = Some(10);
        assert!(!lease.is_expired(at("2024-05-01T12:00:05Z")));
        // Falls back to the acquire time when never renewed.
        lease.spec.renew_time = None;
        lease.spec.acquire_time = Some(MicroTime::parse("2024-05-01T12:00:00Z").unwrap());
        assert!(!lease.is_expired(at("2024-05-01T12:00:05Z")));
    }
}
