//! ClusterIP and NodePort allocation for Services, persisted in the store (one key per
//! address or port under `/registry/ranges/`), so a restart never hands one out twice.

use std::net::Ipv4Addr;
use std::sync::Arc;

use kube_core::{Error, ObjectRef, StatusCause, Store, StoreError};
use rand::Rng;
use serde_json::{Value, json};

use super::kinds::KindSpec;
use super::object::meta_str;
use super::registry::store_error;

const IP_PREFIX: &str = "/registry/ranges/serviceips/";
const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// The ranges services get addresses and node ports from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRanges {
    /// The ClusterIP range (IPv4 CIDR), `10.96.0.0/12` by default.
    pub cluster_ip_cidr: (Ipv4Addr, u8),
    /// The NodePort range, `30000..=32767` by default.
    pub node_ports: std::ops::RangeInclusive<u16>,
}

impl Default for ServiceRanges {
    fn default() -> Self {
        Self {
            cluster_ip_cidr: (Ipv4Addr::new(10, 96, 0, 0), 12),
            node_ports: 30000..=32767,
        }
    }
}

impl ServiceRanges {
    /// Parses a CIDR such as `10.96.0.0/12`.
    pub fn parse_cidr(cidr: &str) -> Option<(Ipv4Addr, u8)> {
        let (ip, bits) = cidr.split_once('/')?;
        let bits: u8 = bits.parse().ok().filter(|b| *b <= 30)?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
        Some((Ipv4Addr::from(u32::from(ip) & mask), bits))
    }

    fn ip_bounds(&self) -> (u32, u32) {
        let (base, bits) = self.cluster_ip_cidr;
        let size = 1u64 << (32 - u32::from(bits));
        let base = u32::from(base);
        // Skip the network address and the first address (the `kubernetes` service's).
        (base + 2, base + (size as u32).saturating_sub(2))
    }

    fn contains_ip(&self, ip: Ipv4Addr) -> bool {
        let (lo, hi) = self.ip_bounds();
        let v = u32::from(ip);
        (lo - 1..=hi).contains(&v)
    }
}

/// Allocates and releases service addresses and ports.
pub(crate) struct Allocator {
    store: Arc<dyn Store>,
    ranges: ServiceRanges,
}

impl std::fmt::Debug for Allocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allocator")
            .field("ranges", &self.ranges)
            .finish()
    }
}

fn is_services(kind: &KindSpec) -> bool {
    kind.resource.group.is_empty() && kind.resource.plural == "services"
}

fn invalid(obj: &Value, field: &str, message: String) -> Error {
    Error::Invalid {
        object: ObjectRef::new("", "Service", meta_str(obj, "name").unwrap_or("")),
        causes: vec![StatusCause::new("FieldValueInvalid", field, message)],
    }
}

/// The keys an object holds: its ClusterIP and node ports.
fn held_keys(obj: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) = obj.pointer("/spec/clusterIP").and_then(Value::as_str) {
        if ip.parse::<Ipv4Addr>().is_ok() {
            keys.push(format!("{IP_PREFIX}{ip}"));
        }
    }
    for p in obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = p.get("nodePort").and_then(Value::as_u64).filter(|n| *n > 0) {
            keys.push(format!("{PORT_PREFIX}{n}"));
        }
    }
    keys
}

impl Allocator {
    pub(crate) fn new(store: Arc<dyn Store>, ranges: ServiceRanges) -> Self {
        Self { store, ranges }
    }

    async fn claim(&self, key: &str, owner: &Value) -> Result<bool, Error> {
        let value = serde_json::to_vec(owner).unwrap_or_default();
        match self
            .store
            .create(key.to_owned().into(), value.into(), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Fills in a service's ClusterIP and node ports, claiming them in the store. Returns
    /// the keys newly claimed (to release if the write then fails).
    pub(crate) async fn allocate(
        &self,
        kind: &KindSpec,
        obj: &mut Value,
        old: Option<&Value>,
        dry_run: bool,
    ) -> Result<Vec<String>, Error> {
        if !is_services(kind) {
            return Ok(Vec::new());
        }
        let owner = json!({"namespace": meta_str(obj, "namespace"), "name": meta_str(obj, "name")});
        let held: Vec<String> = old.map(held_keys).unwrap_or_default();
        let mut claimed = Vec::new();
        let type_ = obj
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned();
        let result = self
            .allocate_inner(obj, old, &type_, &owner, &held, &mut claimed, dry_run)
            .await;
        if result.is_err() {
            self.release_list(&claimed).await;
        }
        result.map(|()| claimed)
    }

    #[allow(clippy::too_many_arguments)]
    async fn allocate_inner(
        &self,
        obj: &mut Value,
        old: Option<&Value>,
        type_: &str,
        owner: &Value,
        held: &[String],
        claimed: &mut Vec<String>,
        dry_run: bool,
    ) -> Result<(), Error> {
        if type_ != "ExternalName" {
            let old_ip = old
                .and_then(|o| o.pointer("/spec/clusterIP"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let want = obj
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let ip = match (want.as_str(), old_ip) {
                ("", Some(o)) => o,
                (w, Some(o)) => {
                    if w != o {
                        return Err(invalid(
                            obj,
                            "spec.clusterIPs[0]",
                            "Invalid value: field is immutable".into(),
                        ));
                    }
                    o
                }
                ("None", None) => "None".to_owned(),
                ("", None) => {
                    if dry_run {
                        String::new()
                    } else {
                        self.allocate_ip(owner, claimed).await?
                    }
                }
                (w, None) => {
                    let parsed: Ipv4Addr = w.parse().map_err(|_| {
                        invalid(
                            obj,
                            "spec.clusterIPs[0]",
                            format!(
                                "Invalid value: {w:?}: must be a valid IP address, (e.g. 10.9.8.7)"
                            ),
                        )
                    })?;
                    if !self.ranges.contains_ip(parsed) {
                        return Err(invalid(
                            obj,
                            "spec.clusterIPs[0]",
                            format!("Invalid value: {w:?}: provided IP is not in the valid range"),
                        ));
                    }
                    let key = format!("{IP_PREFIX}{w}");
                    if !dry_run {
                        if !self.claim(&key, owner).await? {
                            return Err(invalid(
                                obj,
                                "spec.clusterIPs[0]",
                                format!("Invalid value: {w:?}: provided IP is already allocated"),
                            ));
                        }
                        claimed.push(key);
                    }
                    w.to_owned()
                }
            };
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                if !ip.is_empty() {
                    spec.insert("clusterIP".into(), json!(ip));
                    spec.insert("clusterIPs".into(), json!([ip]));
                }
            }
        }
        if matches!(type_, "NodePort" | "LoadBalancer") {
            let old_ports: Vec<Value> = old
                .and_then(|o| o.pointer("/spec/ports"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for i in 0..n {
                let Some(port) = obj.pointer(&format!("/spec/ports/{i}")).cloned() else {
                    continue;
                };
                let want = port.get("nodePort").and_then(Value::as_u64).unwrap_or(0);
                let reuse = old_ports
                    .iter()
                    .find(|p| {
                        p.get("port") == port.get("port")
                            && p.get("protocol") == port.get("protocol")
                    })
                    .and_then(|p| p.get("nodePort"))
                    .and_then(Value::as_u64)
                    .filter(|p| *p > 0);
                let chosen = match (want, reuse) {
                    (0, Some(r)) => r,
                    (w, _) if w > 0 && held.contains(&format!("{PORT_PREFIX}{w}")) => w,
                    (0, None) => {
                        if dry_run {
                            continue;
                        }
                        u64::from(self.allocate_port(owner, claimed).await?)
                    }
                    (w, _) => {
                        let in_range =
                            u16::try_from(w).is_ok_and(|p| self.ranges.node_ports.contains(&p));
                        if !in_range {
                            return Err(invalid(
                                obj,
                                &format!("spec.ports[{i}].nodePort"),
                                format!(
                                    "Invalid value: {w}: provided port is not in the valid range. The range of valid ports is {}-{}",
                                    self.ranges.node_ports.start(),
                                    self.ranges.node_ports.end()
                                ),
                            ));
                        }
                        let key = format!("{PORT_PREFIX}{w}");
                        if !dry_run {
                            if !self.claim(&key, owner).await? {
                                return Err(invalid(
                                    obj,
                                    &format!("spec.ports[{i}].nodePort"),
                                    format!(
                                        "Invalid value: {w}: provided port is already allocated"
                                    ),
                                ));
                            }
                            claimed.push(key);
                        }
                        w
                    }
                };
                if let Some(p) = obj
                    .pointer_mut(&format!("/spec/ports/{i}"))
                    .and_then(Value::as_object_mut)
                {
                    p.insert("nodePort".into(), json!(chosen));
                }
            }
        }
        Ok(())
    }

    async fn allocate_ip(&self, owner: &Value, claimed: &mut Vec<String>) -> Result<String, Error> {
        let (lo, hi) = self.ranges.ip_bounds();
        let span = u64::from(hi.saturating_sub(lo)) + 1;
        let start = rand::rng().random_range(0..span);
        for i in 0..span.min(4096) {
            let ip = Ipv4Addr::from(lo + ((start + i) % span) as u32);
            let key = format!("{IP_PREFIX}{ip}");
            if self.claim(&key, owner).await? {
                claimed.push(key);
                return Ok(ip.to_string());
            }
        }
        Err(Error::Internal {
            message: "no ClusterIP left in the service range".into(),
            source: None,
        })
    }

    async fn allocate_port(&self, owner: &Value, claimed: &mut Vec<String>) -> Result<u16, Error> {
        let lo = *self.ranges.node_ports.start();
        let span = u32::from(*self.ranges.node_ports.end() - lo) + 1;
        let start = rand::rng().random_range(0..span);
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            let key = format!("{PORT_PREFIX}{port}");
            if self.claim(&key, owner).await? {
                claimed.push(key);
                return Ok(port);
            }
        }
        Err(Error::Internal {
            message: "no NodePort left in the range".into(),
            source: None,
        })
    }

    /// Releases claimed keys.
    pub(crate) async fn release_list(&self, keys: &[String]) {
        for k in keys {
            if let Err(e) = self.store.delete(k.as_bytes(), None).await {
                if !matches!(e, StoreError::NotFound) {
                    tracing::warn!(key = k, error = %e, "releasing a service allocation failed");
                }
            }
        }
    }

    /// Releases what a deleted object held.
    pub(crate) async fn release_object(&self, kind: &KindSpec, obj: &Value) {
        if is_services(kind) {
            self.release_list(&held_keys(obj)).await;
        }
    }

    /// What an update stopped using (a type change that drops node ports, say).
    pub(crate) fn released_by_update(
        &self,
        kind: &KindSpec,
        old: &Value,
        new: &Value,
    ) -> Option<Vec<String>> {
        if !is_services(kind) {
            return None;
        }
        let now = held_keys(new);
        let dropped: Vec<String> = held_keys(old)
            .into_iter()
            .filter(|k| !now.contains(k))
            .collect();
        (!dropped.is_empty()).then_some(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bound() {
        let (ip, bits) = ServiceRanges::parse_cidr("10.96.3.4/12").unwrap();
        assert_eq!((ip, bits), (Ipv4Addr::new(10, 96, 0, 0), 12));
        let r = ServiceRanges {
            cluster_ip_cidr: (Ipv4Addr::new(10, 0, 0, 0), 29),
            ..ServiceRanges::default()
        };
        assert_eq!(
            r.ip_bounds(),
            (
                u32::from(Ipv4Addr::new(10, 0, 0, 2)),
                u32::from(Ipv4Addr::new(10, 0, 0, 6))
            )
        );
        assert!(r.contains_ip(Ipv4Addr::new(10, 0, 0, 5)));
        assert!(!r.contains_ip(Ipv4Addr::new(10, 0, 0, 9)));
        assert!(ServiceRanges::parse_cidr("bad").is_none());
    }
}
