//! Round trips of the cluster kinds (Node, Namespace, Service, Endpoints, ConfigMap,
//! Secret, Event, Lease, RBAC, CustomResourceDefinition) through their fixtures: objects
//! kubectl generates, and full objects as an API server returns them.

// Test helpers: a fixture that fails to decode is a failed test.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::path::PathBuf;

use kube_core::{
    ClusterRole, ClusterRoleBinding, ConditionStatus, ConfigMap, CustomResourceDefinition,
    DynamicObject, Endpoints, Event, EventType, IntOrString, Lease, Namespace, Node,
    NodeConditionType, Protocol, ResourceExt, ResourceScope, Role, RoleBinding, Secret, SecretType,
    Service, ServiceType, StaticResource, SubjectKind, TaintEffect,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How closely the encoding must match the fixture.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Exactness {
    /// The fixture is canonical: the encoding is the same JSON value.
    Exact,
    /// The fixture has `null`s (kubectl's `creationTimestamp: null`), which are not
    /// written back; otherwise the same.
    ExactButNulls,
    /// Only decode, encode, decode gives the same object.
    RoundTrip,
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cluster")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// Decodes the fixture as `K`, encodes it, decodes it again, and checks the encoding.
fn round_trip<K>(name: &str, exactness: Exactness) -> K
where
    K: StaticResource + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let original = fixture(name);
    let decoded: K = serde_json::from_value(original.clone())
        .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
    let text = serde_json::to_string(&decoded).unwrap();
    let ar = K::API_RESOURCE;
    let prefix = format!(
        r#"{{"apiVersion":"{}","kind":"{}","#,
        ar.api_version(),
        ar.kind
    );
    assert!(
        text.starts_with(&prefix),
        "{name}: encoding starts {text:.80}"
    );
    let again: K = serde_json::from_str(&text).unwrap();
    assert_eq!(
        again, decoded,
        "{name}: decode, encode, decode changed the object"
    );

    let encoded: Value = serde_json::from_str(&text).unwrap();
    match exactness {
        Exactness::Exact => assert_eq!(encoded, original, "{name}: encoding differs"),
        Exactness::ExactButNulls => {
            assert_eq!(encoded, strip_nulls(original), "{name}: encoding differs");
        }
        Exactness::RoundTrip => {}
    }

    // The generic path gives the same: as a DynamicObject, and parsed back from it.
    let dynamic: DynamicObject = serde_json::from_value(encoded.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&dynamic).unwrap(),
        encoded,
        "{name}: dynamic"
    );
    assert_eq!(
        dynamic.try_parse::<K>().unwrap(),
        decoded,
        "{name}: try_parse"
    );
    decoded
}

#[test]
fn kubectl_namespace() {
    let ns: Namespace = round_trip("namespace.kubectl.json", Exactness::ExactButNulls);
    assert_eq!(ns.name_any(), "team-a");
    assert_eq!(ns.metadata.creation_timestamp, None);
    assert_eq!(ns.status.phase, None);
}

#[test]
fn kubectl_configmap() {
    let cm: ConfigMap = round_trip("configmap.kubectl.json", Exactness::ExactButNulls);
    assert_eq!(cm.data["greeting"], "hello world");
    assert_eq!(cm.data["LOG_LEVEL"], "debug");
    assert!(cm.binary_data.is_empty());
}

#[test]
fn kubectl_secret() {
    let secret: Secret = round_trip("secret.kubectl.json", Exactness::ExactButNulls);
    assert_eq!(secret.value("username"), Some(&b"admin"[..]));
    assert_eq!(secret.data["password"].as_str(), Some("s3cr3t!"));
    assert_eq!(secret.secret_type(), SecretType::Opaque);
}

#[test]
fn kubectl_services() {
    let svc: Service = round_trip("service-clusterip.kubectl.json", Exactness::ExactButNulls);
    assert_eq!(svc.service_type(), ServiceType::ClusterIP);
    assert_eq!(svc.cluster_ip(), None, "not allocated yet");
    assert_eq!(svc.spec.ports.len(), 2);
    assert_eq!(svc.spec.ports[1].target_port, Some(IntOrString::Int(8443)));
    assert_eq!(svc.spec.selector["app"], "web");

    let np: Service = round_trip("service-nodeport.kubectl.json", Exactness::ExactButNulls);
    assert_eq!(np.service_type(), ServiceType::NodePort);
    assert_eq!(np.spec.ports[0].node_port, Some(30080));

    let ext: Service = round_trip(
        "service-externalname.kubectl.json",
        Exactness::ExactButNulls,
    );
    assert_eq!(ext.service_type(), ServiceType::ExternalName);
    assert_eq!(ext.spec.external_name.as_deref(), Some("db.example.com"));
}

#[test]
fn kubectl_roles() {
    let role: Role = round_trip("role.kubectl.json", Exactness::ExactButNulls);
    let rule = &role.rules[0];
    assert!(rule.allows("watch", "", "pods", None, "web"));
    assert!(rule.allows("get", "", "pods", Some("log"), "web"));
    assert!(!rule.allows("delete", "", "pods", None, "web"));

    let cr: ClusterRole = round_trip("clusterrole.kubectl.json", Exactness::ExactButNulls);
    assert!(cr.rules[0].allows("get", "", "nodes", None, "n1"));
    assert!(!cr.rules[0].allows("get", "", "nodes", None, "n2"));
    assert!(cr.rules[1].allows("list", "apps", "deployments", Some("scale"), "n1"));
    assert!(cr.aggregation_rule.is_none());

    // `rules: null` decodes as no rules; it is written back as an empty list.
    let agg: ClusterRole = round_trip("clusterrole-aggregated.kubectl.json", Exactness::RoundTrip);
    assert!(agg.rules.is_empty());
    let selectors = &agg
        .aggregation_rule
        .as_ref()
        .unwrap()
        .cluster_role_selectors;
    assert_eq!(
        selectors[0].match_labels["rbac.example.com/aggregate-to-monitoring"],
        "true"
    );
}

#[test]
fn kubectl_bindings() {
    let rb: RoleBinding = round_trip("rolebinding.kubectl.json", Exactness::ExactButNulls);
    let kinds: Vec<_> = rb.subjects.iter().map(|s| s.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            SubjectKind::User,
            SubjectKind::Group,
            SubjectKind::ServiceAccount
        ]
    );
    assert_eq!(rb.subjects[2].namespace.as_deref(), Some("team-a"));
    assert_eq!(rb.role_ref.kind, "Role");
    assert_eq!(rb.role_ref.name, "pod-reader");

    let crb: ClusterRoleBinding =
        round_trip("clusterrolebinding.kubectl.json", Exactness::ExactButNulls);
    assert_eq!(crb.role_ref.kind, "ClusterRole");
    assert_eq!(crb.subjects[1].name, "monitor");
    assert!(crb.metadata.namespace.is_none());
}

#[test]
fn full_node() {
    let node: Node = round_trip("node.json", Exactness::Exact);
    assert!(node.is_ready());
    assert_eq!(node.internal_ip(), Some("10.0.1.17"));
    assert!(node.spec.unschedulable);
    assert_eq!(node.spec.taints[2].effect, TaintEffect::NoExecute);
    assert_eq!(node.spec.taints[1].value.as_deref(), Some("gpu"));
    let memory = node.condition(&NodeConditionType::MemoryPressure).unwrap();
    assert_eq!(memory.status, ConditionStatus::True);
    let custom = node
        .condition(&NodeConditionType::Other("KernelDeadlock".into()))
        .unwrap();
    assert_eq!(custom.status, ConditionStatus::Unknown);
    assert_eq!(node.status.daemon_endpoints.kubelet_endpoint.port, 10250);
    assert_eq!(node.status.node_info.kubelet_version, "v1.32.4");
    assert_eq!(node.status.allocatable["cpu"], "3800m".parse().unwrap());
    assert_eq!(node.status.images[1].size_bytes, Some(320_368));
}

#[test]
fn full_endpoints() {
    let ep: Endpoints = round_trip("endpoints.json", Exactness::Exact);
    let ready: Vec<_> = ep.ready_addresses().map(|(a, _)| a.ip.as_str()).collect();
    assert_eq!(ready, ["10.244.1.12", "10.244.2.7"]);
    let (_, ports) = ep.ready_addresses().next().unwrap();
    assert_eq!(ports[2].protocol, Some(Protocol::Udp));
    let target = ep.subsets[0].addresses[0].target_ref.as_ref().unwrap();
    assert_eq!(target.kind.as_deref(), Some("Pod"));
}

#[test]
fn full_event() {
    let ev: Event = round_trip("event.json", Exactness::Exact);
    assert_eq!(ev.type_, Some(EventType::Warning));
    assert_eq!(ev.count, Some(16));
    assert_eq!(ev.series.as_ref().and_then(|s| s.count), Some(15));
    assert_eq!(
        ev.event_time.unwrap().to_string(),
        "2024-05-02T10:04:15.123456Z"
    );
    assert_eq!(
        ev.involved_object.field_path.as_deref(),
        Some("spec.containers{web}")
    );
}

#[test]
fn full_lease() {
    let lease: Lease = round_trip("lease.json", Exactness::Exact);
    let renew = lease.spec.renew_time.unwrap().0;
    assert!(!lease.is_expired(renew + chrono::TimeDelta::seconds(14)));
    assert!(lease.is_expired(renew + chrono::TimeDelta::seconds(15)));
    assert_eq!(lease.spec.lease_transitions, Some(3));
}

#[test]
fn load_balancer_service_with_status() {
    let svc: Service = round_trip("service-loadbalancer.json", Exactness::Exact);
    assert_eq!(svc.service_type(), ServiceType::LoadBalancer);
    assert_eq!(svc.cluster_ip(), Some("10.96.14.200"));
    assert_eq!(
        svc.spec.ports[0].target_port,
        Some(IntOrString::String("https".into()))
    );
    let ingress = &svc.status.load_balancer.ingress;
    assert_eq!(ingress[0].ip.as_deref(), Some("203.0.113.50"));
    assert_eq!(
        ingress[0].ports[1].error.as_deref(),
        Some("UDPNotSupported")
    );
    assert_eq!(svc.status.conditions[0].status, ConditionStatus::True);
    assert_eq!(svc.status.conditions[0].observed_generation, Some(2));
}

#[test]
fn real_looking_crd() {
    let crd: CustomResourceDefinition = round_trip("crd.json", Exactness::Exact);
    assert!(crd.status.is_established());
    assert_eq!(crd.spec.scope, ResourceScope::Namespaced);
    let resources = crd.api_resources();
    let versions: Vec<_> = resources.iter().map(|r| r.version.as_ref()).collect();
    assert_eq!(versions, ["v1beta1", "v1"]);
    assert_eq!(resources[1].short_names.as_ref(), ["bk", "bks"]);
    assert_eq!(
        resources[1].collection_path(Some("team-a")),
        "/apis/db.example.com/v1/namespaces/team-a/backups"
    );
    let v1 = crd.storage_version().unwrap();
    let scale = v1.subresources.as_ref().unwrap().scale.as_ref().unwrap();
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    let schema = v1
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    assert_eq!(
        schema["properties"]["spec"]["properties"]["retention"]["x-kubernetes-int-or-string"],
        true
    );
    let webhook = crd
        .spec
        .conversion
        .as_ref()
        .unwrap()
        .webhook
        .as_ref()
        .unwrap();
    let ca = webhook
        .client_config
        .as_ref()
        .unwrap()
        .ca_bundle
        .as_ref()
        .unwrap();
    assert!(
        ca.as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    // An object of the custom kind, handled generically.
    let backup: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "db.example.com/v1",
        "kind": "Backup",
        "metadata": {"name": "nightly", "namespace": "team-a"},
        "spec": {"database": "orders", "schedule": "@daily", "retention": "30d"}
    }))
    .unwrap();
    assert_eq!(
        resources[1].object_path(backup.namespace(), backup.name_any()),
        "/apis/db.example.com/v1/namespaces/team-a/backups/nightly"
    );
}

#[test]
fn kubectl_crd_from_yaml() {
    // What `kubectl apply -f crd-apply.yaml` sends: the YAML turned into JSON, no status.
    let crd: CustomResourceDefinition = round_trip("crd-apply.kubectl.json", Exactness::RoundTrip);
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("gameservers.games.example.com")
    );
    let ar = &crd.api_resources()[0];
    assert_eq!(ar.kind, "GameServer");
    assert_eq!(ar.categories.as_ref(), ["games"]);
    let version = &crd.spec.versions[0];
    assert_eq!(version.additional_printer_columns[2].type_, "date");
    let schema = version
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    let template = &schema["properties"]["spec"]["properties"]["template"];
    assert_eq!(template["x-kubernetes-embedded-resource"], true);
    // Everything but the status Kubernetes always writes is as sent.
    let mut encoded = serde_json::to_value(&crd).unwrap();
    assert_eq!(
        encoded.as_object_mut().unwrap().remove("status"),
        Some(json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []}))
    );
    assert_eq!(encoded, fixture("crd-apply.kubectl.json"));
}

#[test]
fn a_crd_as_kubectl_apply_sends_it_decodes() {
    // No status, and fields this version does not model: still decodes.
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "widgets.example.com",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
        },
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Cluster",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}},
                "someFutureField": {"x": 1}
            }]
        }
    }))
    .unwrap();
    assert_eq!(crd.spec.scope, ResourceScope::Cluster);
    let ar = &crd.api_resources()[0];
    assert!(!ar.namespaced);
    assert_eq!(ar.object_path(None, "w"), "/apis/example.com/v1/widgets/w");
    let out = serde_json::to_value(&crd).unwrap();
    assert_eq!(out["status"]["storedVersions"], json!([]));
}
