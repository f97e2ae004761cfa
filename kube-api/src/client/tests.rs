//! Unit tests of the client against a fake service.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use http::Method;
use http_body_util::Full;
use kube_core::{ConfigMap, ObjectMeta, StatusReason, WatchEvent};
use parking_lot::Mutex;

use super::*;

/// What the fake server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: String,
    content_type: Option<String>,
    body: Bytes,
}

/// A canned answer: status code, headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, String);

/// A fake API server: answers from a queue and records every request.
#[derive(Clone, Default)]
struct Fake {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn answer(&self, code: u16, body: &str) -> &Self {
        self.answers
            .lock()
            .push_back((code, Vec::new(), body.to_owned()));
        self
    }

    fn answer_with(&self, code: u16, headers: Vec<(&'static str, &'static str)>, body: &str) {
        self.answers
            .lock()
            .push_back((code, headers, body.to_owned()));
    }

    fn client(&self) -> Client {
        let fake = self.clone();
        let svc = tower::service_fn(move |req: Request<Full<Bytes>>| {
            let fake = fake.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.map(|c| c.to_bytes())?;
                fake.seen.lock().push(Seen {
                    method: parts.method,
                    uri: parts.uri.to_string(),
                    content_type: parts
                        .headers
                        .get(CONTENT_TYPE)
                        .map(|v| v.to_str().unwrap().to_owned()),
                    body,
                });
                let (code, headers, body) =
                    fake.answers.lock().pop_front().ok_or("no answer queued")?;
                let mut res = Response::builder().status(code);
                for (k, v) in headers {
                    res = res.header(k, v);
                }
                Ok::<_, BoxError>(res.body(Full::new(Bytes::from(body)))?)
            }
        });
        Client::new(svc, "default").with_retry(RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

fn cm_json(name: &str, rv: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default","resourceVersion":"{rv}"}},"data":{{"k":"v"}}}}"#
    )
}

#[tokio::test]
async fn get_builds_the_object_path_and_decodes() {
    let fake = Fake::default();
    fake.answer(200, &cm_json("a", "5"));
    let api: Api<ConfigMap> = Api::default_namespaced(fake.client());
    let cm = api.get("a").await.unwrap();
    assert_eq!(cm.metadata.resource_version.as_deref(), Some("5"));
    let seen = fake.seen();
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].uri, "/api/v1/namespaces/default/configmaps/a");
}

#[tokio::test]
async fn errors_come_from_the_status_body() {
    let fake = Fake::default();
    fake.answer(
        404,
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}"#,
    );
    fake.answer(403, "forbidden by policy");
    fake.answer(404, "");
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "ns1");
    let err = api.get("x").await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(o) if o.name == "x"),
        "{err:?}"
    );
    let err = api.get("y").await.unwrap_err();
    assert_eq!(err.reason(), StatusReason::Forbidden);
    assert!(err.to_status().message.contains("forbidden by policy"));
    assert_eq!(api.get_opt("z").await.unwrap(), None);
}

#[tokio::test]
async fn list_sends_the_selectors_and_pages() {
    let fake = Fake::default();
    fake.answer(
        200,
        &format!(
            r#"{{"kind":"ConfigMapList","apiVersion":"v1","metadata":{{"resourceVersion":"9","continue":"t1"}},"items":[{}]}}"#,
            cm_json("a", "3")
        ),
    );
    fake.answer(
        200,
        &format!(
            r#"{{"kind":"ConfigMapList","apiVersion":"v1","metadata":{{"resourceVersion":"10"}},"items":[{}]}}"#,
            cm_json("b", "4")
        ),
    );
    let api: Api<ConfigMap> = Api::all(fake.client());
    let all = api
        .list_all(&ListParams::default().labels("app=web"), 1)
        .await
        .unwrap();
    let names: Vec<_> = all
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    // The version of the snapshot the pages were read from: the first page's.
    assert_eq!(all.metadata.resource_version.as_deref(), Some("9"));
    let seen = fake.seen();
    assert_eq!(
        seen[0].uri,
        "/api/v1/configmaps?labelSelector=app%3Dweb&limit=1"
    );
    assert_eq!(
        seen[1].uri,
        "/api/v1/configmaps?labelSelector=app%3Dweb&limit=1&continue=t1"
    );
}

#[tokio::test]
async fn writes_send_bodies_with_their_content_types() {
    let fake = Fake::default();
    for rv in ["1", "2", "3"] {
        fake.answer(200, &cm_json("a", rv));
    }
    fake.answer(
        200,
        r#"{"kind":"Status","apiVersion":"v1","status":"Success","code":200}"#,
    );
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("a".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &cm).await.unwrap();
    api.replace("a", &PostParams::default(), &cm).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Strategic(serde_json::json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap();
    let deleted = api.delete("a", &DeleteParams::immediate()).await.unwrap();
    assert!(matches!(deleted, Deleted::Status(s) if s.status == "Success"));

    let seen = fake.seen();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].uri, "/api/v1/namespaces/default/configmaps");
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    let sent: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(sent["kind"], "ConfigMap");
    assert_eq!(seen[1].method, Method::PUT);
    assert_eq!(seen[2].method, Method::PATCH);
    assert_eq!(
        seen[2].content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(seen[3].method, Method::DELETE);
    assert_eq!(
        seen[3].uri,
        "/api/v1/namespaces/default/configmaps/a?gracePeriodSeconds=0"
    );
    let options: serde_json::Value = serde_json::from_slice(&seen[3].body).unwrap();
    assert_eq!(options["kind"], "DeleteOptions");
}

#[tokio::test]
async fn too_many_requests_is_retried_for_any_method() {
    let fake = Fake::default();
    fake.answer_with(429, vec![("retry-after", "0")], "{}");
    fake.answer_with(429, vec![], "{}");
    fake.answer(201, &cm_json("a", "1"));
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let cm = api
        .create(&PostParams::default(), &ConfigMap::default())
        .await
        .unwrap();
    assert_eq!(cm.metadata.name.as_deref(), Some("a"));
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn server_errors_are_retried_only_when_idempotent() {
    let fake = Fake::default();
    fake.answer(503, "").answer(200, &cm_json("a", "1"));
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    api.get("a").await.unwrap();
    assert_eq!(fake.seen().len(), 2);

    let fake = Fake::default();
    fake.answer(503, "").answer(200, &cm_json("a", "1"));
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let err = api
        .create(&PostParams::default(), &ConfigMap::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503);
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn retries_stop_after_the_limit() {
    let fake = Fake::default();
    for _ in 0..4 {
        fake.answer(500, "");
    }
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let err = api.get("a").await.unwrap_err();
    assert_eq!(err.code(), 500);
    assert_eq!(fake.seen().len(), 4, "one attempt and three retries");
}

#[tokio::test]
async fn transport_failures_are_503_and_retried_when_idempotent() {
    // The fake has no answers queued: every call fails at the transport.
    let fake = Fake::default();
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let err = api.get("a").await.unwrap_err();
    assert_eq!(err.code(), 503);
    assert!(err.to_string().contains("no answer queued"), "{err}");
    assert_eq!(fake.seen().len(), 4);
}

#[tokio::test]
async fn watch_decodes_events_line_by_line() {
    let fake = Fake::default();
    let body = format!(
        "{{\"type\":\"ADDED\",\"object\":{}}}\n\n{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"12\"}}}}}}\n{{\"type\":\"DELETED\",\"object\":{}}}",
        cm_json("a", "10"),
        cm_json("a", "13"),
    );
    fake.answer(200, &body);
    fake.answer(
        410,
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}"#,
    );
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    let events: Vec<_> = api
        .watch(&WatchParams::default(), "7")
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(events.len(), 3);
    assert!(
        matches!(&events[0], Ok(WatchEvent::Added(c)) if c.metadata.resource_version.as_deref() == Some("10"))
    );
    assert!(
        matches!(&events[1], Ok(WatchEvent::Bookmark(b)) if b.metadata.resource_version == "12")
    );
    assert!(matches!(&events[2], Ok(WatchEvent::Deleted(_))));
    assert!(fake.seen()[0].uri.contains("watch=true"));
    assert!(fake.seen()[0].uri.contains("resourceVersion=7"));

    let err = api.watch(&WatchParams::default(), "1").await.unwrap_err();
    assert_eq!(err.code(), 410);
}

#[tokio::test]
async fn watch_streams_events_as_they_arrive() {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<http_body::Frame<Bytes>, BoxError>>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let svc = tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let rx = rx.lock().take();
        async move {
            let rx = rx.ok_or("watch opened twice")?;
            let body = http_body_util::StreamBody::new(rx);
            Ok::<_, BoxError>(Response::new(body))
        }
    });
    let client = Client::new(svc, "default");
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = api.watch(&WatchParams::default(), "1").await.unwrap();
    // An event split across two chunks arrives whole.
    let line = format!(
        "{{\"type\":\"MODIFIED\",\"object\":{}}}\n",
        cm_json("a", "2")
    );
    let (head, tail) = line.split_at(20);
    tx.unbounded_send(Ok(http_body::Frame::data(Bytes::from(head.to_owned()))))
        .unwrap();
    tx.unbounded_send(Ok(http_body::Frame::data(Bytes::from(tail.to_owned()))))
        .unwrap();
    let ev = stream.next().await.unwrap().unwrap();
    assert!(matches!(ev, WatchEvent::Modified(c) if c.metadata.name.as_deref() == Some("a")));
    drop(tx);
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn subresources_use_their_paths() {
    let fake = Fake::default();
    fake.answer(200, &cm_json("a", "1"));
    fake.answer(
        201,
        r#"{"kind":"Status","apiVersion":"v1","status":"Success","code":201}"#,
    );
    let api: Api<ConfigMap> = Api::namespaced(fake.client(), "default");
    api.get_status("a").await.unwrap();
    let err = api.bind("a", "n1").await.unwrap_err();
    assert_eq!(err.code(), 405, "only pods can be bound");
    let seen = fake.seen();
    assert_eq!(
        seen[0].uri,
        "/api/v1/namespaces/default/configmaps/a/status"
    );
}

#[tokio::test]
async fn a_task_whose_requests_complete_at_once_still_lets_other_tasks_run() {
    // A transport that answers without ever waiting, as the API server's own service can.
    let svc = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    });
    let client = Client::new(svc, "default");
    let other_ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_by_sender = other_ran.clone();
    // On this one-thread runtime the sender is polled first; the other task runs only if
    // the sender yields somewhere in its thousand requests.
    let sender = tokio::spawn(async move {
        for _ in 0..1_000 {
            let request = Request::get("/api/v1/namespaces/default/configmaps/a")
                .body(Bytes::new())
                .unwrap();
            client.send(request).await.unwrap();
        }
        seen_by_sender.load(std::sync::atomic::Ordering::SeqCst)
    });
    tokio::spawn(async move { other_ran.store(true, std::sync::atomic::Ordering::SeqCst) });
    assert!(
        sender.await.unwrap(),
        "the other task never ran while the sender sent a thousand requests"
    );
}
