//! `pods/{name}/log` proxied to a node agent (contract 4), against a fake node log
//! server: through the HTTPS API with the Rust client and with kubectl (`logs` and
//! `logs -f`), with the API server's kubelet client certificate, and the error cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt as _;
use kube_api::client::{Api, Client, PostParams};
use kube_core::{Node, Pod};
use serde_json::json;
use support::Served;
use support::fake_node::{FakeNode, LOG};
use support::tools::kubectls;

/// A served API server with a fake node `n1` and pods bound to it.
fn cluster() -> (Served, FakeNode) {
    let served = Served::start();
    let pki = served.stack.pki().unwrap();
    served
        .api
        .set_kubelet_client_certificate(&pki.kubelet_client_certificate().unwrap())
        .unwrap();
    let node = served.block_on(FakeNode::start(pki));
    let client = served.admin();
    served.block_on(async {
        let nodes: Api<Node> = Api::all(client.clone());
        let n: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        nodes.create(&PostParams::default(), &n).await.unwrap();
        nodes
            .patch_status(
                "n1",
                &kube_api::client::PatchParams::default(),
                &kube_api::client::Patch::Merge(json!({"status": {
                    "addresses": [{"type": "Hostname", "address": "n1.invalid"},
                                  {"type": "InternalIP", "address": "127.0.0.1"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": node.addr.port()}}}})),
            )
            .await
            .unwrap();
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        for (name, containers, node) in [
            ("web", vec!["app"], Some("n1")),
            ("two", vec!["a", "b"], Some("n1")),
            ("pending", vec!["app"], None),
        ] {
            let p: Pod = serde_json::from_value(json!({"metadata": {"name": name},
                "spec": {"containers": containers.iter().map(|c| json!({"name": c, "image": "busybox"})).collect::<Vec<_>>()}}))
            .unwrap();
            pods.create(&PostParams::default(), &p).await.unwrap();
            if let Some(n) = node {
                pods.bind(name, n).await.unwrap();
            }
        }
    });
    (served, node)
}

async fn get_log(client: &Client, query: &str) -> (u16, String) {
    let req = Request::get(format!("/api/v1/namespaces/default/pods/{query}"))
        .body(bytes::Bytes::new())
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn logs_are_proxied_from_the_node_agent() {
    let (served, node) = cluster();
    let client = served.https_client();
    served.block_on(async {
        let (code, body) = get_log(&client, "web/log").await;
        assert_eq!(code, 200, "{body}");
        let want: String = LOG.iter().map(|l| format!("web/app {l}\n")).collect();
        assert_eq!(body, want);

        let (code, body) =
            get_log(&client, "web/log?container=app&tailLines=2&timestamps=true").await;
        assert_eq!((code, body.as_str()), (200, "web/app four\nweb/app five\n"));
        let seen = node.seen.lock().clone();
        assert_eq!(
            seen.last().unwrap().path_and_query,
            "/containerLogs/default/web/app?timestamps=true&tailLines=2"
        );
        assert!(
            seen.iter()
                .all(|s| s.client == "kube-apiserver-kubelet-client"),
            "{seen:?}"
        );

        let (code, body) = get_log(&client, "two/log?container=b&tailLines=1").await;
        assert_eq!((code, body.as_str()), (200, "two/b five\n"));
    });
}

#[test]
fn log_errors_have_kubernetes_codes() {
    let (served, node) = cluster();
    let client = served.https_client();
    served.block_on(async {
        let cases = [
            ("two/log", 400, "choose one of: [a b]"),
            (
                "web/log?container=nope",
                400,
                "container nope is not valid for pod web",
            ),
            ("pending/log", 400, "does not have a host assigned"),
            ("ghost/log", 404, "not found"),
            ("web/log?tailLines=abc", 400, "tailLines"),
            ("web/log?sinceSeconds=0", 400, "sinceSeconds"),
        ];
        for (q, code, text) in cases {
            let (got, body) = get_log(&client, q).await;
            assert_eq!(got, code, "{q}: {body}");
            assert!(body.contains(text), "{q}: {body}");
            assert!(body.contains("\"kind\":\"Status\""), "{q}: {body}");
        }
        let before = node.seen.lock().len();
        assert_eq!(before, 0, "no bad request reached the node");

        // A node whose agent is gone: 503, and the server still serves.
        let nodes: Api<Node> = Api::all(served.admin());
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = dead.local_addr().unwrap().port();
        drop(dead);
        nodes
            .patch_status(
                "n1",
                &kube_api::client::PatchParams::default(),
                &kube_api::client::Patch::Merge(
                    json!({"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}),
                ),
            )
            .await
            .unwrap();
        let (got, body) = get_log(&client, "web/log").await;
        assert_eq!(got, 503, "{body}");
        assert!(body.contains("cannot be reached"), "{body}");
    });
}

#[test]
fn kubectl_logs_and_logs_follow_work() {
    let Some(all) = kubectls() else { return };
    let (served, _node) = cluster();
    let kc = &served.kubeconfig;
    for k in &all {
        eprintln!("--- kubectl {}", k.version);
        let out = k.ok(kc, &["logs", "web"]);
        assert_eq!(out.lines().count(), LOG.len(), "{out}");
        assert_eq!(out.lines().last(), Some("web/app five"));
        let out = k.ok(kc, &["logs", "two", "-c", "a", "--tail=1"]);
        assert_eq!(out, "two/a five\n");
        let err = k.fails(kc, &["logs", "pending"]);
        assert!(err.contains("does not have a host assigned"), "{err}");

        let mut child = k
            .command(kc, &["logs", "-f", "web", "--tail=1"])
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(first, "web/app five");
        // The line the node writes later arrives while kubectl is still following.
        let later = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(later, "followed line");
        assert!(
            child.try_wait().unwrap().is_none(),
            "kubectl stopped following"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
