//! The official Kubernetes Python client (`kubernetes` on PyPI, installed by
//! `scripts/install-python-client.sh`) against the served stack: list, create, watch,
//! paging, patches, scale and the error codes, from `tests/fixtures/python_client.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::Served;
use support::tools::{python_client, wait_with_limit};

#[test]
fn the_python_client_lists_creates_watches_and_sees_error_codes() {
    let Some(pythonpath) = python_client() else {
        return;
    };
    let served = Served::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/python_client.py"
    );
    let child = Command::new("python3")
        .arg(script)
        .arg(&served.kubeconfig)
        .env("PYTHONPATH", &pythonpath)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ran = wait_with_limit(child, Duration::from_secs(120));
    assert!(
        ran.success,
        "the script failed:\n{}\n{}",
        ran.stdout, ran.stderr
    );
    let out: Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    eprintln!("{out:#}");

    assert!(out["version"].as_str().unwrap().starts_with("v1."));
    for ns in ["default", "kube-system"] {
        assert!(
            out["namespaces"].as_array().unwrap().contains(&json!(ns)),
            "{out}"
        );
    }
    assert_eq!(out["created"]["namespace"], "py");
    assert_eq!(out["created"]["uid"].as_str().unwrap().len(), 36);
    assert_eq!(out["read_data"], json!({"mode": "fast"}));
    assert_eq!(
        out["paged"],
        json!(["page-0", "page-1", "page-2", "page-3", "page-4", "settings"])
    );
    assert_eq!(out["selected"], json!(["settings"]));
    assert_eq!(out["watch"], json!(["ADDED", "MODIFIED", "DELETED"]));

    let code = |k: &str| (out[k]["code"].as_i64().unwrap(), out[k]["reason"].clone());
    assert_eq!(code("conflict"), (409, json!("AlreadyExists")));
    assert_eq!(code("not_found"), (404, json!("NotFound")));
    assert_eq!(code("invalid"), (422, json!("Invalid")));
    assert_eq!(code("stale_replace"), (409, json!("Conflict")));
    assert_eq!(code("after_delete"), (404, json!("NotFound")));
    assert_eq!(out["conflict"]["kind"], "Status");

    assert_eq!(
        out["deployment"],
        json!({"image": "nginx:1.26", "replicas": 4, "generation": 3, "scale": 4})
    );
    assert_eq!(out["reviews"]["allowed"], true, "{}", out["reviews"]);
    assert!(
        out["reviews"]["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("system:masters")),
        "{}",
        out["reviews"]
    );
}
