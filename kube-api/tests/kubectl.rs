//! End to end with real kubectl against the served stack (HTTPS, client certificates,
//! RBAC): every test runs with each installed kubectl version (1.32 and 1.37, from
//! `scripts/install-kubectl.sh`), each against its own fresh server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use kube_api::client::Api;
use kube_core::{ConfigMap, Deployment, Namespace};
use support::tools::{Kubectl, kubectls};
use support::{NOBODY_TOKEN, Served};

/// Runs `check` once per kubectl version, each with a fresh server.
fn with_each_kubectl(check: impl Fn(&Kubectl, &Served)) {
    let Some(all) = kubectls() else { return };
    for k in &all {
        eprintln!("--- kubectl {} ({})", k.version, k.path.display());
        let served = Served::start();
        check(k, &served);
    }
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - {name: A, value: \"1\"}
        - {name: B, value: \"2\"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
";

fn deployment(s: &Served, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::namespaced(s.admin(), "default");
    s.block_on(api.get(name)).unwrap()
}

fn config_map(s: &Served, name: &str) -> Result<ConfigMap, kube_core::Error> {
    let api: Api<ConfigMap> = Api::namespaced(s.admin(), "default");
    s.block_on(api.get(name))
}

#[test]
fn version_api_resources_and_api_versions() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let v: serde_json::Value =
            serde_json::from_str(&k.ok(kc, &["version", "-o", "json"])).unwrap();
        assert_eq!(v["serverVersion"]["major"], "1", "{v}");
        assert!(
            v["serverVersion"]["gitVersion"]
                .as_str()
                .unwrap()
                .starts_with("v1."),
            "{v}"
        );
        let resources = k.ok(kc, &["api-resources"]);
        for line in [
            "pods ",
            "deployments ",
            "namespaces ",
            "leases ",
            "clusterroles ",
            "customresourcedefinitions ",
        ] {
            assert!(resources.contains(line), "{line} missing from\n{resources}");
        }
        let pods = resources.lines().find(|l| l.starts_with("pods ")).unwrap();
        assert!(
            pods.contains(" po ")
                && pods.contains(" v1 ")
                && pods.contains(" true ")
                && pods.ends_with("Pod"),
            "{pods}"
        );
        let namespaced = k.ok(kc, &["api-resources", "--namespaced=false", "-o", "name"]);
        assert!(namespaced.lines().any(|l| l == "nodes"), "{namespaced}");
        assert!(!namespaced.lines().any(|l| l == "pods"), "{namespaced}");
        let versions = k.ok(kc, &["api-versions"]);
        for gv in ["v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1"] {
            assert!(
                versions.lines().any(|l| l == gv),
                "{gv} missing:\n{versions}"
            );
        }
    });
}

#[test]
fn apply_creates_then_changes_then_leaves_alone() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let file = s.write("web.yaml", DEPLOYMENT);
        let out = k.ok(kc, &["apply", "-f", file.to_str().unwrap()]);
        assert!(out.contains("deployment.apps/web created"), "{out}");
        assert!(out.contains("service/web created"), "{out}");
        let d = deployment(s, "web");
        assert_eq!(d.spec.replicas, Some(2));

        // Change replicas and an env value, drop env B: a three-way strategic merge patch.
        let changed = DEPLOYMENT
            .replace("replicas: 2", "replicas: 3")
            .replace("{name: A, value: \"1\"}", "{name: A, value: \"9\"}")
            .replace("        - {name: B, value: \"2\"}\n", "");
        let file = s.write("web.yaml", &changed);
        let out = k.ok(kc, &["apply", "-f", file.to_str().unwrap()]);
        assert!(out.contains("deployment.apps/web configured"), "{out}");
        assert!(out.contains("service/web unchanged"), "{out}");
        let d2 = deployment(s, "web");
        assert_eq!(d2.spec.replicas, Some(3));
        let env = &d2.spec.template.spec.containers[0].env;
        assert_eq!(env.len(), 1, "{env:?}");
        assert_eq!(
            (env[0].name.as_str(), env[0].value.as_deref()),
            ("A", Some("9"))
        );
        assert_eq!(d2.metadata.generation, Some(2));
        assert_eq!(d2.metadata.uid, d.metadata.uid);

        let out = k.ok(kc, &["apply", "-f", file.to_str().unwrap()]);
        assert!(out.contains("deployment.apps/web unchanged"), "{out}");
        // The server-side dry run and diff paths read the same objects.
        let out = k.ok(
            kc,
            &["apply", "-f", file.to_str().unwrap(), "--dry-run=server"],
        );
        assert!(out.contains("(server dry run)"), "{out}");
        let ran = k.run(kc, &["diff", "-f", file.to_str().unwrap()]);
        assert!(ran.success, "kubectl diff: {}\n{}", ran.stdout, ran.stderr);
    });
}

#[test]
fn create_get_describe_and_delete() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let file = s.write("web.yaml", DEPLOYMENT);
        let out = k.ok(kc, &["create", "-f", file.to_str().unwrap()]);
        assert!(out.contains("deployment.apps/web created"), "{out}");
        let err = k.fails(kc, &["create", "-f", file.to_str().unwrap()]);
        assert!(err.contains("AlreadyExists"), "{err}");

        // The typed generators send protobuf.
        let out = k.ok(kc, &["create", "configmap", "cfg", "--from-literal=k=v"]);
        assert!(out.contains("configmap/cfg created"), "{out}");
        assert_eq!(config_map(s, "cfg").unwrap().data["k"], "v");
        let out = k.ok(kc, &["create", "namespace", "team-a"]);
        assert!(out.contains("namespace/team-a created"), "{out}");
        let out = k.ok(
            kc,
            &[
                "create",
                "deployment",
                "api",
                "--image=busybox:1.36",
                "--replicas=2",
                "-n",
                "team-a",
            ],
        );
        assert!(out.contains("deployment.apps/api created"), "{out}");
        let out = k.ok(
            kc,
            &[
                "create",
                "secret",
                "generic",
                "pw",
                "--from-literal=p=s3cret",
            ],
        );
        assert!(out.contains("secret/pw created"), "{out}");
        let out = k.ok(kc, &["create", "serviceaccount", "robot"]);
        assert!(out.contains("serviceaccount/robot created"), "{out}");
        let out = k.ok(
            kc,
            &[
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=pods",
            ],
        );
        assert!(
            out.contains("role.rbac.authorization.k8s.io/reader created"),
            "{out}"
        );
        let out = k.ok(
            kc,
            &[
                "create",
                "rolebinding",
                "robot-reads",
                "--role=reader",
                "--serviceaccount=default:robot",
            ],
        );
        assert!(
            out.contains("rolebinding.rbac.authorization.k8s.io/robot-reads created"),
            "{out}"
        );
        let out = k.ok(
            kc,
            &["create", "service", "clusterip", "db", "--tcp=5432:5432"],
        );
        assert!(out.contains("service/db created"), "{out}");
        let out = k.ok(kc, &["create", "job", "once", "--image=busybox:1.36"]);
        assert!(out.contains("job.batch/once created"), "{out}");

        let out = k.ok(kc, &["get", "deployments", "-A"]);
        assert!(
            out.lines().next().unwrap().starts_with("NAMESPACE"),
            "{out}"
        );
        assert!(out.contains("team-a") && out.contains("api"), "{out}");
        let y = k.ok(kc, &["get", "deploy", "web", "-o", "yaml"]);
        assert!(
            y.contains("kind: Deployment") && y.contains("resourceVersion:"),
            "{y}"
        );
        let names = k.ok(kc, &["get", "cm,secret,sa", "-o", "name"]);
        for n in ["configmap/cfg", "secret/pw", "serviceaccount/robot"] {
            assert!(names.lines().any(|l| l == n), "{n} missing:\n{names}");
        }
        let jp = k.ok(
            kc,
            &["get", "svc", "db", "-o", "jsonpath={.spec.clusterIP}"],
        );
        assert!(jp.starts_with("10."), "{jp}");

        let d = k.ok(kc, &["describe", "deployment", "web"]);
        for want in [
            "Name:",
            "web",
            "Replicas:",
            "2 desired",
            "nginx:1.25",
            "Selector:",
        ] {
            assert!(d.contains(want), "{want} missing:\n{d}");
        }
        let d = k.ok(kc, &["describe", "svc", "web"]);
        assert!(d.contains("IP:") && d.contains("80/TCP"), "{d}");
        let d = k.ok(kc, &["describe", "namespace", "team-a"]);
        assert!(d.contains("Status:") && d.contains("Active"), "{d}");

        let out = k.ok(kc, &["delete", "configmap", "cfg"]);
        assert!(out.contains("\"cfg\" deleted"), "{out}");
        assert_eq!(config_map(s, "cfg").unwrap_err().code(), 404);
        let err = k.fails(kc, &["get", "configmap", "cfg"]);
        assert!(
            err.contains("NotFound") && err.contains("\"cfg\" not found"),
            "{err}"
        );
        let out = k.ok(kc, &["delete", "-f", file.to_str().unwrap()]);
        assert!(out.contains("\"web\" deleted"), "{out}");
        let out = k.ok(kc, &["delete", "deploy", "--all", "-n", "team-a"]);
        assert!(out.contains("\"api\" deleted"), "{out}");
        let out = k.ok(kc, &["get", "deploy", "-n", "team-a"]);
        assert!(out.is_empty(), "{out}");
    });
}

#[test]
fn patch_label_annotate_and_scale() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let file = s.write("web.yaml", DEPLOYMENT);
        k.ok(kc, &["apply", "-f", file.to_str().unwrap()]);
        k.ok(kc, &["create", "-f", s.write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: \"1\", b: \"2\"}\n").to_str().unwrap()]);

        k.ok(
            kc,
            &[
                "patch",
                "cm",
                "cfg",
                "--type=merge",
                "-p",
                r#"{"data":{"m":"3","b":null}}"#,
            ],
        );
        k.ok(
            kc,
            &[
                "patch",
                "cm",
                "cfg",
                "--type=json",
                "-p",
                r#"[{"op":"add","path":"/data/j","value":"4"},{"op":"remove","path":"/data/a"}]"#,
            ],
        );
        k.ok(kc, &["patch", "cm", "cfg", "-p", r#"{"data":{"s":"5"}}"#]);
        let cm = config_map(s, "cfg").unwrap();
        let keys: Vec<&str> = cm.data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["j", "m", "s"]);

        // A strategic merge patch merges containers by name and env by name.
        k.ok(kc, &["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26","env":[{"name":"C","value":"3"}]}]}}}}"#]);
        let d = deployment(s, "web");
        let c = &d.spec.template.spec.containers;
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].image.as_deref(), Some("nginx:1.26"));
        let env: Vec<&str> = c[0].env.iter().map(|e| e.name.as_str()).collect();
        // New items go after the existing ones, as Kubernetes merges them.
        assert_eq!(env, ["A", "B", "C"]);
        // A bad patch is refused and changes nothing.
        let err = k.fails(
            kc,
            &[
                "patch",
                "cm",
                "cfg",
                "--type=json",
                "-p",
                r#"[{"op":"test","path":"/data/j","value":"nope"}]"#,
            ],
        );
        assert!(err.contains("Invalid") || err.contains("test"), "{err}");
        assert_eq!(
            config_map(s, "cfg").unwrap().metadata.resource_version,
            cm.metadata.resource_version
        );

        k.ok(kc, &["label", "cm", "cfg", "tier=db", "env=dev"]);
        let err = k.fails(kc, &["label", "cm", "cfg", "tier=web"]);
        assert!(
            err.contains("already has a value") || err.contains("--overwrite"),
            "{err}"
        );
        k.ok(kc, &["label", "cm", "cfg", "tier=web", "--overwrite"]);
        k.ok(kc, &["label", "cm", "cfg", "env-"]);
        k.ok(kc, &["annotate", "cm", "cfg", "owner=team-a"]);
        let cm = config_map(s, "cfg").unwrap();
        assert_eq!(cm.metadata.labels.len(), 1);
        assert_eq!(cm.metadata.labels["tier"], "web");
        assert_eq!(cm.metadata.annotations["owner"], "team-a");
        let shown = k.ok(kc, &["get", "cm", "-l", "tier=web", "--show-labels"]);
        assert!(
            shown.contains("cfg") && shown.contains("tier=web"),
            "{shown}"
        );
        let none = k.run(kc, &["get", "cm", "-l", "tier=db"]);
        assert!(
            none.stdout.is_empty() && none.stderr.contains("No resources found"),
            "{none:?}"
        );

        let out = k.ok(kc, &["scale", "deploy", "web", "--replicas=5"]);
        assert!(out.contains("deployment.apps/web scaled"), "{out}");
        assert_eq!(deployment(s, "web").spec.replicas, Some(5));
        let err = k.fails(
            kc,
            &[
                "scale",
                "deploy",
                "web",
                "--replicas=7",
                "--current-replicas=4",
            ],
        );
        assert!(err.contains("Expected replicas to be 4, was 5"), "{err}");
        assert_eq!(deployment(s, "web").spec.replicas, Some(5));
    });
}

#[test]
fn get_watch_streams_changes() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let api: Api<ConfigMap> = Api::namespaced(s.admin(), "default");
        let w0: ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "w0"}})).unwrap();
        s.block_on(api.create(&Default::default(), &w0)).unwrap();
        let mut child = k
            .command(
                kc,
                &["get", "configmaps", "--watch", "--output-watch-events"],
            )
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
        // The header and the existing object come first, from the initial list.
        let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(first.contains("NAME"), "{first}");
        let second = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(second.contains("w0"), "{second}");
        s.block_on(async {
            let cm: ConfigMap =
                serde_json::from_value(serde_json::json!({"metadata": {"name": "w1"}})).unwrap();
            api.create(&Default::default(), &cm).await.unwrap();
            let mut cm = api.get("w1").await.unwrap();
            cm.data.insert("k".into(), "v".into());
            api.replace("w1", &Default::default(), &cm).await.unwrap();
            api.delete("w1", &Default::default()).await.unwrap();
        });
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("watch stalled after {seen:?}"));
            if line.contains("w1") {
                seen.push(line.split_whitespace().next().unwrap().to_owned());
            }
        }
        assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"]);
        child.kill().unwrap();
        child.wait().unwrap();
    });
}

#[test]
fn explain_reads_the_openapi_schemas() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let out = k.ok(kc, &["explain", "deployment.spec.replicas"]);
        assert!(
            out.contains("replicas") && out.contains("<integer>"),
            "{out}"
        );
        let out = k.ok(kc, &["explain", "pods.spec.containers"]);
        assert!(
            out.contains("image") && out.contains("<[]Container>"),
            "{out}"
        );
        let out = k.ok(kc, &["explain", "svc.spec"]);
        assert!(out.contains("clusterIP") && out.contains("ports"), "{out}");
        let err = k.fails(kc, &["explain", "deployment.spec.nosuchfield"]);
        assert!(
            err.contains("nosuchfield") && err.contains("does not exist"),
            "{err}"
        );
        // Client-side validation reads the same schemas: an unknown field is refused.
        let bad = s.write(
            "bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {a: b}\nbogus: 1\n",
        );
        let err = k.fails(kc, &["apply", "-f", bad.to_str().unwrap()]);
        assert!(err.contains("bogus"), "{err}");
        assert_eq!(config_map(s, "bad").unwrap_err().code(), 404);
    });
}

#[test]
fn table_output_has_kubectls_columns() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let pod = s.write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p1}\nspec:\n  containers:\n  - {name: c, image: busybox:1.36}\n");
        k.ok(kc, &["apply", "-f", pod.to_str().unwrap()]);
        let out = k.ok(kc, &["get", "pods"]);
        let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{out}"
        );
        let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(&row[..4], ["p1", "0/1", "Pending", "0"], "{out}");
        let wide = k.ok(kc, &["get", "pods", "-o", "wide"]);
        let header = wide.lines().next().unwrap();
        for col in ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] {
            assert!(header.contains(col), "{col} missing: {wide}");
        }
        let nodes = k.ok(kc, &["get", "ns", "--no-headers"]);
        assert!(nodes.lines().all(|l| l.contains("Active")), "{nodes}");
        let cols = k.ok(
            kc,
            &[
                "get",
                "ns",
                "-o",
                "custom-columns=N:.metadata.name,P:.status.phase",
                "--sort-by=.metadata.name",
            ],
        );
        assert!(
            cols.lines().nth(1).unwrap().starts_with("default"),
            "{cols}"
        );
    });
}

/// What `kubectl auth can-i` answers: its output and whether it exited 0.
fn can_i(k: &Kubectl, kubeconfig: &std::path::Path, args: &[&str]) -> (String, bool) {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let ran = k.run(kubeconfig, &all);
    assert!(
        ran.stderr.is_empty() || ran.stderr.contains("Warning"),
        "kubectl auth can-i {args:?}: {}",
        ran.stderr
    );
    (ran.stdout.trim().to_owned(), ran.success)
}

#[test]
fn wrong_credentials_get_401_and_rbac_gets_403_as_auth_can_i_says() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let url = s.url();
        let ca = s.dir.path().join("pki/ca.crt");
        let config_with = |name: &str, token: &str| {
            let text = format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {url}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
                ca.display()
            );
            s.write(name, &text)
        };
        let wrong = config_with("wrong.kubeconfig", "not-a-token");
        let err = k.fails(&wrong, &["get", "pods"]);
        assert!(
            err.contains("Unauthorized") || err.contains("must be logged in"),
            "{err}"
        );

        let nobody = config_with("nobody.kubeconfig", NOBODY_TOKEN);
        let whoami = k.ok(&nobody, &["auth", "whoami"]);
        assert!(
            whoami.contains("nobody") && whoami.contains("system:authenticated"),
            "{whoami}"
        );
        assert_eq!(
            can_i(k, &nobody, &["list", "configmaps"]),
            ("no".into(), false)
        );
        assert_eq!(can_i(k, kc, &["*", "*"]), ("yes".into(), true));
        let err = k.fails(&nobody, &["get", "configmaps"]);
        assert!(err.contains("Forbidden"), "{err}");
        assert!(
            err.contains("User \"nobody\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""),
            "{err}"
        );
        let err = k.fails(&nobody, &["create", "namespace", "mine"]);
        assert!(
            err.contains("Forbidden") && err.contains("cannot create resource \"namespaces\""),
            "{err}"
        );
        let ns: Api<Namespace> = Api::all(s.admin());
        assert_eq!(s.block_on(ns.get("mine")).unwrap_err().code(), 404);

        // Granting a role lets the same user through, and only as far as the role goes.
        k.ok(
            kc,
            &[
                "create",
                "role",
                "cm-reader",
                "--verb=get,list,watch",
                "--resource=configmaps",
            ],
        );
        k.ok(
            kc,
            &[
                "create",
                "rolebinding",
                "nobody-reads",
                "--role=cm-reader",
                "--user=nobody",
            ],
        );
        let mut allowed = false;
        for _ in 0..100 {
            if k.run(&nobody, &["get", "configmaps"]).success {
                allowed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(allowed, "the role binding never took effect");
        assert_eq!(
            can_i(k, &nobody, &["list", "configmaps"]),
            ("yes".into(), true)
        );
        assert_eq!(
            can_i(k, &nobody, &["list", "configmaps", "-n", "kube-system"]),
            ("no".into(), false)
        );
        let (list, ok) = can_i(k, &nobody, &["--list"]);
        assert!(ok, "{list}");
        assert!(
            list.lines()
                .any(|l| l.starts_with("configmaps ") && l.contains("[get list watch]")),
            "{list}"
        );
        let (list, _) = can_i(k, &nobody, &["--list", "-n", "kube-system"]);
        assert!(!list.contains("configmaps"), "{list}");
        k.ok(kc, &["create", "configmap", "mine"]);
        assert_eq!(
            can_i(k, &nobody, &["delete", "configmap/mine"]),
            ("no".into(), false)
        );
        let err = k.fails(&nobody, &["delete", "configmap", "mine"]);
        assert!(err.contains("Forbidden"), "{err}");

        // The admin checks what nobody may do with --as, and acts as them.
        assert_eq!(
            can_i(k, kc, &["list", "configmaps", "--as", "nobody"]),
            ("yes".into(), true)
        );
        assert_eq!(
            can_i(k, kc, &["delete", "configmaps", "--as", "nobody"]),
            ("no".into(), false)
        );
        let whoami = k.ok(
            kc,
            &["auth", "whoami", "--as", "nobody", "--as-group", "testers"],
        );
        assert!(
            whoami.contains("nobody") && whoami.contains("testers"),
            "{whoami}"
        );
        let err = k.fails(kc, &["delete", "configmap", "mine", "--as", "nobody"]);
        assert!(
            err.contains("Forbidden") && err.contains("User \"nobody\""),
            "{err}"
        );
        // nobody may not impersonate.
        let err = k.fails(&nobody, &["get", "configmaps", "--as", "system:admin"]);
        assert!(
            err.contains("cannot impersonate resource \"users\""),
            "{err}"
        );
    });
}

const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size: {type: integer, minimum: 1, description: How big.}
";

#[test]
fn custom_resources_and_cascading_deletes() {
    with_each_kubectl(|k, s| {
        let kc = &s.kubeconfig;
        let crd = s.write("crd.yaml", CRD);
        let out = k.ok(kc, &["apply", "-f", crd.to_str().unwrap()]);
        assert!(
            out.contains(
                "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
            ),
            "{out}"
        );
        let w = s.write(
            "w.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n",
        );
        let out = k.ok(kc, &["apply", "-f", w.to_str().unwrap()]);
        assert!(out.contains("widget.example.com/w1 created"), "{out}");
        let out = k.ok(kc, &["get", "wg"]);
        assert!(out.contains("w1"), "{out}");
        let resources = k.ok(kc, &["api-resources", "--api-group=example.com"]);
        assert!(
            resources.contains("widgets") && resources.contains("Widget"),
            "{resources}"
        );
        let out = k.ok(kc, &["explain", "widget.spec.size"]);
        assert!(out.contains("How big."), "{out}");
        let bad = s.write(
            "bad.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: 0}\n",
        );
        let err = k.fails(kc, &["apply", "-f", bad.to_str().unwrap()]);
        assert!(err.contains("Invalid") || err.contains("invalid"), "{err}");
        k.ok(kc, &["delete", "widget", "w1"]);

        // --cascade=orphan and --cascade=foreground leave the finalizers the garbage
        // collector acts on.
        k.ok(
            kc,
            &["create", "deployment", "keep", "--image=busybox:1.36"],
        );
        k.ok(
            kc,
            &["create", "deployment", "fore", "--image=busybox:1.36"],
        );
        k.ok(
            kc,
            &[
                "delete",
                "deployment",
                "keep",
                "--cascade=orphan",
                "--wait=false",
            ],
        );
        k.ok(
            kc,
            &[
                "delete",
                "deployment",
                "fore",
                "--cascade=foreground",
                "--wait=false",
            ],
        );
        assert_eq!(deployment(s, "keep").metadata.finalizers, ["orphan"]);
        assert_eq!(
            deployment(s, "fore").metadata.finalizers,
            ["foregroundDeletion"]
        );
    });
}
