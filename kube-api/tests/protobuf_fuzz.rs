//! Property tests: whatever bytes arrive as a protobuf body, the decoder answers with an
//! object or an error, never a panic, a hang or unbounded work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use kube_api::server::protobuf;
use proptest::prelude::*;

/// Every kind the server accepts as protobuf, and some it does not.
const KINDS: &[(&str, &str)] = &[
    ("v1", "Pod"),
    ("v1", "Node"),
    ("v1", "Service"),
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "Endpoints"),
    ("v1", "Event"),
    ("v1", "Binding"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("coordination.k8s.io/v1", "Lease"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("policy/v1", "Eviction"),
    ("autoscaling/v1", "Scale"),
    ("v1", "DeleteOptions"),
    ("example.com/v1", "Widget"),
];

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn delimited(number: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(number << 3 | 2);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// A well-formed envelope of `kind` around `raw`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    delimited(1, api_version.as_bytes(), &mut type_meta);
    delimited(2, kind.as_bytes(), &mut type_meta);
    let mut out = b"k8s\0".to_vec();
    delimited(1, &type_meta, &mut out);
    delimited(2, raw, &mut out);
    out
}

/// A message of random fields: random numbers, wire types and payloads, nested up to
/// `depth`, so that known fields get both right and wrong shapes.
fn message(depth: u32) -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop::collection::vec(
        (
            1u32..45,
            0u8..6,
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..12),
        ),
        0..12,
    )
    .prop_map(|fields| {
        let mut out = Vec::new();
        for (number, wire_type, value, bytes) in fields {
            let wire_type = if wire_type == 3 || wire_type == 4 {
                2
            } else {
                wire_type
            };
            varint(u64::from(number) << 3 | u64::from(wire_type), &mut out);
            match wire_type {
                0 => varint(value, &mut out),
                1 => out.extend_from_slice(&value.to_le_bytes()),
                5 => out.extend_from_slice(&value.to_le_bytes()[..4]),
                _ => {
                    varint(bytes.len() as u64, &mut out);
                    out.extend_from_slice(&bytes);
                }
            }
        }
        out
    });
    leaf.prop_recursive(depth, 256, 6, |inner| {
        prop::collection::vec((1u8..16, inner), 0..6).prop_map(|fields| {
            let mut out = Vec::new();
            for (number, payload) in fields {
                delimited(number, &payload, &mut out);
            }
            out
        })
    })
}

fn fixture_bodies() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = protobuf::decode(&body);
        let mut prefixed = b"k8s\0".to_vec();
        prefixed.extend_from_slice(&body);
        let _ = protobuf::decode(&prefixed);
    }

    #[test]
    fn random_messages_of_every_kind_never_panic(
        kind in 0..KINDS.len(),
        raw in message(4),
    ) {
        let (api_version, kind) = KINDS[kind];
        if let Ok(object) = protobuf::decode(&envelope(api_version, kind, &raw)) {
            prop_assert_eq!(&object["kind"], kind);
            prop_assert!(object.is_object());
        }
    }

    #[test]
    fn mutated_recorded_bodies_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let bodies = fixture_bodies();
        let mut body = which.get(&bodies).clone();
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let _ = protobuf::decode(&body);
    }
}

#[test]
fn deep_nesting_is_refused_not_followed() {
    // Groups nested far past any real object, inside an unknown field of a Pod.
    let mut raw = vec![0x0b; 10_000];
    raw.extend(std::iter::repeat_n(0x0c, 10_000));
    assert!(protobuf::decode(&envelope("v1", "Pod", &raw)).is_err());
    // A length that claims far more than the body holds.
    let mut raw = vec![0x0a];
    varint(u64::MAX >> 1, &mut raw);
    assert!(protobuf::decode(&envelope("v1", "Pod", &raw)).is_err());
}

#[test]
fn bodies_that_expand_without_bound_are_refused() {
    // A pod status with a million empty container statuses: two bytes each, which Go's
    // JSON would write as seven fields each.
    let mut statuses = Vec::new();
    for _ in 0..1_000_000 {
        statuses.extend_from_slice(&[0x42, 0x00]);
    }
    let mut raw = Vec::new();
    delimited(3, &statuses, &mut raw);
    let err = protobuf::decode(&envelope("v1", "Pod", &raw)).unwrap_err();
    assert!(
        matches!(err, protobuf::ProtobufError::Expands { .. }),
        "{err}"
    );
    assert_eq!(
        kube_core::Error::from(err).to_status().code,
        413,
        "the server answers 413"
    );

    // Large bodies that are mostly data are fine: a 2 MiB ConfigMap value, and a pod
    // with a thousand named containers.
    let mut entry = Vec::new();
    delimited(1, b"blob", &mut entry);
    delimited(2, &vec![b'x'; 2 << 20], &mut entry);
    let mut raw = Vec::new();
    delimited(2, &entry, &mut raw);
    let cm = protobuf::decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
    assert_eq!(cm["data"]["blob"].as_str().map(str::len), Some(2 << 20));

    let mut spec = Vec::new();
    for i in 0..1000 {
        let mut container = Vec::new();
        delimited(1, format!("c{i}").as_bytes(), &mut container);
        delimited(2, b"busybox", &mut container);
        delimited(2, &container, &mut spec);
    }
    let mut raw = Vec::new();
    delimited(2, &spec, &mut raw);
    let pod = protobuf::decode(&envelope("v1", "Pod", &raw)).unwrap();
    assert_eq!(
        pod["spec"]["containers"].as_array().map(Vec::len),
        Some(1000)
    );
}
