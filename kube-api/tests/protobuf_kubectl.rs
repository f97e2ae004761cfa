//! End to end with real kubectl: `kubectl create <kind>` sends its body as Kubernetes
//! protobuf, with no fallback to JSON. Each command runs against an HTTPS API server that
//! records the bodies it receives; the recorded protobuf must decode to exactly the JSON
//! `kubectl create ... --dry-run=client -o json` prints for the same object, and the object
//! must then be served back. `kubectl drain` evicts through `pods/eviction`; the kubectl
//! versions at hand (1.32, 1.37) send that body as JSON, so the test decodes it when it is
//! protobuf and otherwise checks that the drain worked. (`kubectl run`, `expose` and
//! `scale` send JSON too; only the typed clients of `kubectl create` use protobuf.)
//!
//! kubectl up to 1.32 prints `"creationTimestamp": null` for a new object; from 1.33 on
//! Kubernetes tags the field `omitzero` and leaves it out, as the decoder does, so the
//! comparison ignores a null `creationTimestamp`.
//!
//! kubectl comes from `$KUBECTL`, `.tools/bin` or the `PATH`. Without it the tests fail
//! when `CI` is set and otherwise say loudly that they skipped.
//!
//! With `KUBE_API_PROTOBUF_FIXTURES=<dir>` the recorded bodies and their expected JSON are
//! written to `<dir>` as `<case>.pb` and `<case>.json`: that is how the fixtures under
//! `tests/fixtures/protobuf/`, which `protobuf_fixtures.rs` checks without kubectl, were
//! made.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request};
use kube_api::server::protobuf;
use kube_api::server::stack::{AuthorizationMode, RunningServer, Stack, StackBuilder};
use kube_api::server::{ApiBody, ApiServer};
use kube_core::Store;
use kube_store::MemoryStore;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// One request the server received.
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    content_type: String,
    body: Bytes,
}

struct Cluster {
    dir: tempfile::TempDir,
    _stack: Stack,
    _server: RunningServer,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    log: Arc<Mutex<Vec<Recorded>>>,
}

/// kubectl, or `None` after saying loudly why the test is skipped (a failure under CI).
fn kubectl() -> Option<PathBuf> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/kubectl");
    let found = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .or_else(|| tools.is_file().then_some(tools))
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join("kubectl"))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is required under CI: install it (scripts/test.sh does) or set KUBECTL"
        );
        // Straight to the process's stderr, past the test harness's capture, so that the
        // skip shows even when the test "passes".
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {}: kubectl not found (set KUBECTL or put it on the PATH). \
             This test did NOTHING. ***\n",
            std::thread::current().name().unwrap_or("a kubectl test")
        );
    }
    found
}

async fn cluster() -> Option<Cluster> {
    let kubectl = kubectl()?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = ApiServer::builder(store).build().await.unwrap();
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let recorder = {
        let log = log.clone();
        tower::service_fn(move |req: Request<ApiBody>| {
            let api = api.clone();
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect_bytes().await.unwrap_or_default();
                log.lock().push(Recorded {
                    method: parts.method.clone(),
                    path: parts.uri.path().to_owned(),
                    content_type: parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned(),
                    body: body.clone(),
                });
                api.oneshot(Request::from_parts(parts, ApiBody::from(body)))
                    .await
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let stack = StackBuilder::new(recorder)
        .pki_dir(dir.path().join("pki"))
        .authorization(AuthorizationMode::AllowAll)
        .build()
        .await
        .unwrap();
    let server = stack.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let kubeconfig = server.kubeconfig_path().unwrap().to_owned();
    Some(Cluster {
        dir,
        _stack: stack,
        _server: server,
        kubeconfig,
        kubectl,
        log,
    })
}

impl Cluster {
    /// Runs kubectl off the async runtime; its stdout, or a panic with its stderr.
    async fn run(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{err}\n{out}");
        out
    }

    async fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .current_dir(self.dir.path());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// The protobuf bodies POSTed to a path ending in `suffix` since `from`.
    fn posted(&self, from: usize, suffix: &str) -> Vec<Recorded> {
        self.log.lock()[from..]
            .iter()
            .filter(|r| r.method == Method::POST && r.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    /// `kubectl create <args>`: the body it sends must be protobuf and decode to what the
    /// dry run prints; the created object must be served back. Returns the decoded body.
    async fn create(&self, case: &str, args: &[&str], collection: &str) -> Value {
        // The flags go before any `--`, after which kubectl takes the container's command.
        let mut dry = args.to_vec();
        let at = dry.iter().position(|a| *a == "--").unwrap_or(dry.len());
        dry.splice(at..at, ["--dry-run=client", "-o", "json"]);
        let printed = self.run(&dry).await;
        let mut expected: Value = serde_json::from_str(&printed)
            .unwrap_or_else(|e| panic!("{case}: the dry run printed no JSON ({e}): {printed}"));
        drop_null_creation_timestamps(&mut expected);

        let from = self.log.lock().len();
        self.run(args).await;
        let posted = self.posted(from, collection);
        assert_eq!(
            posted.len(),
            1,
            "{case}: one POST to {collection}: {posted:?}"
        );
        let body = &posted[0];
        assert!(
            body.content_type.starts_with(protobuf::MEDIA_TYPE),
            "{case}: kubectl sent {:?}, not protobuf",
            body.content_type
        );
        let decoded = protobuf::decode(&body.body).unwrap();
        assert_eq!(
            decoded, expected,
            "{case}: decoded protobuf != kubectl's JSON"
        );
        save_fixture(case, &body.body, &expected);

        let kind = expected["kind"].as_str().unwrap().to_lowercase();
        let name = expected["metadata"]["name"].as_str().unwrap();
        let got: Value =
            serde_json::from_str(&self.run(&["get", &kind, name, "-o", "json"]).await).unwrap();
        assert_eq!(got["metadata"]["name"], name, "{case}: not served back");
        decoded
    }
}

/// Removes `"creationTimestamp": null` wherever it is (kubectl 1.32 and older print it).
fn drop_null_creation_timestamps(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("creationTimestamp") == Some(&Value::Null) {
                map.remove("creationTimestamp");
            }
            map.values_mut().for_each(drop_null_creation_timestamps);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_creation_timestamps),
        _ => {}
    }
}

fn save_fixture(case: &str, body: &[u8], expected: &Value) {
    if let Some(dir) = std::env::var_os("KUBE_API_PROTOBUF_FIXTURES") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{case}.pb")), body).unwrap();
        let mut json = serde_json::to_string_pretty(expected).unwrap();
        json.push('\n');
        std::fs::write(dir.join(format!("{case}.json")), json).unwrap();
    }
}

const NS: &str = "/namespaces/default/";

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_create_sends_protobuf_for_every_modelled_kind() {
    let Some(c) = cluster().await else { return };

    let ns = c
        .create("namespace", &["create", "namespace", "n1"], "/namespaces")
        .await;
    assert_eq!(ns["metadata"]["name"], "n1");

    c.create(
        "deployment",
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=3",
            "--port=80",
        ],
        &format!("{NS}deployments"),
    )
    .await;
    c.create(
        "deployment_command",
        &[
            "create",
            "deployment",
            "worker",
            "--image=busybox",
            "--",
            "sleep",
            "3600",
        ],
        &format!("{NS}deployments"),
    )
    .await;

    let binary = c.write("blob.bin", &[0x00, 0xff, 0xfe, 0x01, 0x80]);
    let text = c.write("greeting.txt", b"hello\nworld\n");
    let cm = c
        .create(
            "configmap",
            &[
                "create",
                "configmap",
                "cfg",
                "--from-literal=a=1",
                "--from-literal=b=two words",
                &format!("--from-file=blob={binary}"),
                &format!("--from-file=greeting={text}"),
            ],
            &format!("{NS}configmaps"),
        )
        .await;
    assert_eq!(cm["binaryData"]["blob"], "AP/+AYA=");
    assert_eq!(cm["data"]["greeting"], "hello\nworld\n");

    let secret = c
        .create(
            "secret_generic",
            &[
                "create",
                "secret",
                "generic",
                "creds",
                "--from-literal=user=admin",
                "--from-literal=password=s3=cr:t",
                "--type=Opaque",
            ],
            &format!("{NS}secrets"),
        )
        .await;
    assert_eq!(secret["data"]["user"], "YWRtaW4=");

    let pki = c.dir.path().join("pki");
    let cert = std::fs::read_dir(&pki)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "crt") && p.with_extension("key").is_file())
        .expect("a certificate with its key in the PKI directory");
    c.create(
        "secret_tls",
        &[
            "create",
            "secret",
            "tls",
            "tls-pair",
            &format!("--cert={}", cert.display()),
            &format!("--key={}", cert.with_extension("key").display()),
        ],
        &format!("{NS}secrets"),
    )
    .await;
    c.create(
        "secret_docker_registry",
        &[
            "create",
            "secret",
            "docker-registry",
            "registry",
            "--docker-server=registry.example",
            "--docker-username=u",
            "--docker-password=p",
            "--docker-email=u@example.com",
        ],
        &format!("{NS}secrets"),
    )
    .await;

    let svc = c
        .create(
            "service_clusterip",
            &[
                "create",
                "service",
                "clusterip",
                "api",
                "--tcp=80:8080",
                "--tcp=443:8443",
            ],
            &format!("{NS}services"),
        )
        .await;
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    c.create(
        "service_clusterip_headless",
        &[
            "create",
            "service",
            "clusterip",
            "headless",
            "--clusterip=None",
        ],
        &format!("{NS}services"),
    )
    .await;
    c.create(
        "service_nodeport",
        &[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:8080",
            "--node-port=30080",
        ],
        &format!("{NS}services"),
    )
    .await;
    c.create(
        "service_loadbalancer",
        &["create", "service", "loadbalancer", "lb", "--tcp=443:8443"],
        &format!("{NS}services"),
    )
    .await;
    c.create(
        "service_externalname",
        &[
            "create",
            "service",
            "externalname",
            "ext",
            "--external-name=db.example.com",
        ],
        &format!("{NS}services"),
    )
    .await;

    c.create(
        "job",
        &[
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        &format!("{NS}jobs"),
    )
    .await;

    c.create(
        "serviceaccount",
        &["create", "serviceaccount", "robot"],
        &format!("{NS}serviceaccounts"),
    )
    .await;
    let role = c
        .create(
            "role",
            &[
                "create",
                "role",
                "reader",
                "--verb=get,list,watch",
                "--resource=pods,deployments.apps",
                "--resource-name=web",
            ],
            &format!("{NS}roles"),
        )
        .await;
    assert_eq!(role["rules"][0]["verbs"], json!(["get", "list", "watch"]));
    c.create(
        "clusterrole",
        &[
            "create",
            "clusterrole",
            "health",
            "--verb=get",
            "--non-resource-url=/healthz",
            "--non-resource-url=/readyz",
        ],
        "/clusterroles",
    )
    .await;
    let aggregated = c
        .create(
            "clusterrole_aggregated",
            &[
                "create",
                "clusterrole",
                "aggregated",
                "--aggregation-rule=rbac.example.com/aggregate-to-view=true",
            ],
            "/clusterroles",
        )
        .await;
    assert_eq!(aggregated["rules"], Value::Null);
    c.create(
        "rolebinding",
        &[
            "create",
            "rolebinding",
            "read-web",
            "--role=reader",
            "--user=alice",
            "--group=devs",
            "--serviceaccount=default:robot",
        ],
        &format!("{NS}rolebindings"),
    )
    .await;
    c.create(
        "clusterrolebinding",
        &[
            "create",
            "clusterrolebinding",
            "health-all",
            "--clusterrole=health",
            "--group=system:authenticated",
        ],
        "/clusterrolebindings",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_drain_evicts_pods() {
    let Some(c) = cluster().await else { return };
    let node = c.write(
        "node.json",
        br#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"worker-1"}}"#,
    );
    let pod = c.write(
        "pod.json",
        br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":"default"},
            "spec":{"nodeName":"worker-1","containers":[{"name":"c","image":"busybox"}]}}"#,
    );
    c.run(&["create", "-f", &node]).await;
    c.run(&["create", "-f", &pod]).await;

    let from = c.log.lock().len();
    c.run(&[
        "drain",
        "worker-1",
        "--force",
        "--grace-period=0",
        "--ignore-daemonsets",
        "--timeout=60s",
    ])
    .await;

    let evictions = c.posted(from, "/pods/p1/eviction");
    assert_eq!(evictions.len(), 1, "one eviction: {evictions:?}");
    let eviction = &evictions[0];
    let mut expected = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "p1", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0},
    });
    if eviction.content_type.starts_with(protobuf::MEDIA_TYPE) {
        assert_eq!(protobuf::decode(&eviction.body).unwrap(), expected);
        save_fixture("eviction_kubectl", &eviction.body, &expected);
    } else {
        let mut sent: Value = serde_json::from_slice(&eviction.body).unwrap();
        drop_null_creation_timestamps(&mut sent);
        drop_null_creation_timestamps(&mut expected);
        assert_eq!(sent, expected, "kubectl's JSON eviction");
        eprintln!(
            "note: this kubectl sends the eviction as {:?}; the protobuf Eviction is checked \
             by the fixtures",
            eviction.content_type
        );
    }

    let (found, _, err) = c.try_run(&["get", "pod", "p1"]).await;
    assert!(!found && err.contains("NotFound"), "the pod is gone: {err}");
    let node: Value =
        serde_json::from_str(&c.run(&["get", "node", "worker-1", "-o", "json"]).await).unwrap();
    assert_eq!(
        node["spec"]["unschedulable"], true,
        "drain cordons the node"
    );
}
