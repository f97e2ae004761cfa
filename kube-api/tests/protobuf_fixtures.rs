//! Protobuf bodies encoded by other implementations, decoded without any client at hand.
//!
//! Every `tests/fixtures/protobuf/<case>.pb` is a request body and `<case>.json` the JSON
//! Go writes for the same object; the decoder must turn each body into exactly that JSON.
//!
//! - The bodies named after a `kubectl create` subcommand were recorded from kubectl 1.37
//!   (`protobuf_kubectl.rs` writes them with `KUBE_API_PROTOBUF_FIXTURES=<dir>`); their
//!   JSON is what the same command prints with `--dry-run=client -o json`.
//! - The `independent_*` bodies cover what kubectl does not create (pods with status,
//!   nodes, leases, endpoints, events, the subresource bodies, statuses): they are encoded
//!   by prost from the k8s-pb bindings, generated from the upstream `.proto` files, by the
//!   program in `fixtures/protobuf/generator/`, with the JSON written by hand from Go's
//!   rules (`omitempty`, pointers, `null` for a nil slice without `omitempty`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use kube_api::server::protobuf;
use serde_json::Value;

fn fixtures() -> Vec<(String, Vec<u8>, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .map(|pb| {
            let case = pb.file_stem().unwrap().to_str().unwrap().to_owned();
            let body = std::fs::read(&pb).unwrap();
            let json = std::fs::read(pb.with_extension("json"))
                .unwrap_or_else(|e| panic!("{case}: no expected JSON: {e}"));
            (case, body, serde_json::from_slice(&json).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_fixture_decodes_to_its_json() {
    let fixtures = fixtures();
    let cases: Vec<&str> = fixtures.iter().map(|(c, _, _)| c.as_str()).collect();
    for expected in [
        "namespace",
        "deployment",
        "configmap",
        "secret_generic",
        "secret_tls",
        "secret_docker_registry",
        "service_clusterip",
        "service_nodeport",
        "service_loadbalancer",
        "job",
        "serviceaccount",
        "role",
        "clusterrole",
        "rolebinding",
        "clusterrolebinding",
        "independent_pod",
        "independent_node",
        "independent_lease",
        "independent_endpoints",
        "independent_event",
        "independent_binding",
        "independent_eviction",
        "independent_delete_options",
        "independent_scale",
    ] {
        assert!(
            cases.contains(&expected),
            "fixture {expected} is missing: {cases:?}"
        );
    }
    for (case, body, expected) in &fixtures {
        let decoded = protobuf::decode(body).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(&decoded, expected, "{case}");
    }
}

#[test]
fn recorded_bodies_cut_short_are_errors_not_panics() {
    for (case, body, _) in fixtures() {
        for len in 0..body.len() {
            // Every prefix either decodes (a message may end at a field boundary) or is
            // refused; it never panics.
            let _ = protobuf::decode(&body[..len]);
        }
        assert!(
            protobuf::decode(&body[..body.len() - 1]).is_err(),
            "{case}: a body missing its last byte decoded"
        );
    }
}
