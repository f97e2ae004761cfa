//! Unit tests of the cache, its indexes and its subscriptions.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use kube_core::{ConfigMap, ObjectKey, ObjectMeta};

use super::*;

fn cm(ns: &str, name: &str, rv: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            resource_version: Some(rv.into()),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn names(objs: &[Arc<ConfigMap>]) -> Vec<String> {
    let mut v: Vec<String> = objs
        .iter()
        .map(|o| o.metadata.name.clone().unwrap())
        .collect();
    v.sort();
    v
}

fn describe(ev: &InformerEvent<ConfigMap>) -> String {
    match ev {
        InformerEvent::Added(o) => format!("add {}", o.metadata.name.as_deref().unwrap()),
        InformerEvent::Updated { old, new } => format!(
            "update {} {}->{}",
            new.metadata.name.as_deref().unwrap(),
            old.metadata.resource_version.as_deref().unwrap(),
            new.metadata.resource_version.as_deref().unwrap()
        ),
        InformerEvent::Deleted(o) => format!("delete {}", o.metadata.name.as_deref().unwrap()),
    }
}

fn drain(
    rx: &mut futures::channel::mpsc::UnboundedReceiver<InformerEvent<ConfigMap>>,
) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        out.push(describe(&ev));
    }
    out
}

#[test]
fn indexes_follow_every_change() {
    let writer = CacheWriter::<ConfigMap>::new();
    let cache = writer.cache();
    writer.apply(Change::Upsert(cm("a", "x", "1", &[("app", "web")])));
    writer.apply(Change::Upsert(cm("b", "y", "2", &[("app", "web")])));
    writer.apply(Change::Upsert(cm("a", "z", "3", &[("app", "db")])));
    assert_eq!(names(&cache.list_namespace("a")), ["x", "z"]);
    assert_eq!(names(&cache.by_label("app", "web")), ["x", "y"]);

    // A label change moves the object between index values.
    writer.apply(Change::Upsert(cm("a", "x", "4", &[("app", "db")])));
    assert_eq!(names(&cache.by_label("app", "web")), ["y"]);
    assert_eq!(names(&cache.by_label("app", "db")), ["x", "z"]);

    writer.apply(Change::Delete(cm("a", "z", "5", &[("app", "db")])));
    assert_eq!(names(&cache.by_label("app", "db")), ["x"]);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.resource_version(), "5");
    let mut namespaces = cache.index_values(NAMESPACE_INDEX);
    namespaces.sort();
    assert_eq!(namespaces, ["a", "b"]);
}

#[test]
fn custom_indexes_cover_existing_and_later_objects() {
    let writer = CacheWriter::<ConfigMap>::new();
    let cache = writer.cache();
    writer.apply(Change::Upsert(cm("a", "x", "1", &[])));
    cache.index_by("first-letter", |c: &ConfigMap| {
        vec![c.metadata.name.as_deref().unwrap_or("")[..1].to_owned()]
    });
    writer.apply(Change::Upsert(cm("a", "xy", "2", &[])));
    writer.apply(Change::Upsert(cm("a", "q", "3", &[])));
    assert_eq!(names(&cache.by_index("first-letter", "x")), ["x", "xy"]);
    assert!(cache.by_index("no-such-index", "x").is_empty());
}

#[test]
fn replace_reports_only_the_differences() {
    let writer = CacheWriter::<ConfigMap>::new();
    let cache = writer.cache();
    writer.replace(
        vec![
            cm("a", "keep", "1", &[]),
            cm("a", "change", "2", &[]),
            cm("a", "gone", "3", &[]),
        ],
        "3",
    );
    let mut rx = cache.subscribe();
    assert_eq!(
        drain(&mut rx).len(),
        3,
        "a subscriber first sees what is there"
    );
    writer.replace(
        vec![
            cm("a", "keep", "1", &[]),
            cm("a", "change", "7", &[]),
            cm("a", "new", "8", &[]),
        ],
        "9",
    );
    let mut events = drain(&mut rx);
    events.sort();
    assert_eq!(events, ["add new", "delete gone", "update change 2->7"]);
    assert_eq!(cache.resource_version(), "9");
    assert!(cache.get(&ObjectKey::namespaced("a", "gone")).is_none());
}

#[test]
fn replayed_events_are_not_reported_twice() {
    let writer = CacheWriter::<ConfigMap>::new();
    let mut rx = writer.cache().subscribe();
    writer.apply(Change::Upsert(cm("a", "x", "1", &[])));
    writer.apply(Change::Upsert(cm("a", "x", "1", &[])));
    writer.apply(Change::Upsert(cm("a", "x", "2", &[])));
    writer.apply(Change::Delete(cm("a", "x", "3", &[])));
    writer.apply(Change::Delete(cm("a", "x", "3", &[])));
    assert_eq!(drain(&mut rx), ["add x", "update x 1->2", "delete x"]);
}

#[tokio::test]
async fn sync_state_and_handlers() {
    let writer = CacheWriter::<ConfigMap>::new();
    let cache = writer.cache();
    assert!(!cache.has_synced());
    let waiter = tokio::spawn({
        let cache = cache.clone();
        async move { cache.wait_until_synced().await }
    });
    writer.replace(vec![cm("a", "x", "1", &[])], "1");
    writer.mark_synced();
    waiter.await.unwrap();
    assert!(cache.has_synced());

    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    let handler = EventHandler::new()
        .on_add({
            let tx = tx.clone();
            move |o: &Arc<ConfigMap>| {
                tx.unbounded_send(format!("add {}", o.metadata.name.as_deref().unwrap()))
                    .unwrap();
            }
        })
        .on_delete(move |o: &Arc<ConfigMap>| {
            tx.unbounded_send(format!("delete {}", o.metadata.name.as_deref().unwrap()))
                .unwrap();
        });
    let task = handler.spawn(cache.subscribe());
    writer.apply(Change::Delete(cm("a", "x", "2", &[])));
    assert_eq!(rx.next().await.unwrap(), "add x");
    assert_eq!(rx.next().await.unwrap(), "delete x");
    task.abort();
}

mod indexes {
    use proptest::prelude::*;

    use super::*;

    /// What an index gives an object.
    type ValuesOf = dyn Fn(&ConfigMap) -> Vec<String>;

    /// A change to one of a few objects: an upsert with a namespace and labels drawn
    /// from small sets (so objects collide and move between values), or a delete.
    #[derive(Clone, Debug)]
    enum Op {
        Upsert {
            name: u8,
            ns: u8,
            labels: Vec<(u8, u8)>,
        },
        Delete {
            name: u8,
            ns: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..6u8, 0..2u8, prop::collection::vec((0..3u8, 0..2u8), 0..4))
                .prop_map(|(name, ns, labels)| Op::Upsert { name, ns, labels }),
            1 => (0..6u8, 0..2u8).prop_map(|(name, ns)| Op::Delete { name, ns }),
        ]
    }

    proptest! {
        /// Whatever the changes, each index maps every value to exactly the cached
        /// objects that have it, and holds no value no object has.
        #[test]
        fn indexes_match_the_objects(ops in prop::collection::vec(op(), 1..40)) {
            let writer = CacheWriter::<ConfigMap>::new();
            let cache = writer.cache();
            cache.index_by("name-length", |c: &ConfigMap| {
                vec![c.metadata.name.as_deref().unwrap_or("").len().to_string()]
            });
            for (rv, op) in ops.into_iter().enumerate() {
                let rv = (rv + 1).to_string();
                match op {
                    Op::Upsert { name, ns, labels } => {
                        let labels: Vec<(String, String)> = labels
                            .iter()
                            .map(|(k, v)| (format!("k{k}"), format!("v{v}")))
                            .collect();
                        let labels: Vec<(&str, &str)> =
                            labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        let (ns, name) = (format!("ns{ns}"), "x".repeat(usize::from(name) + 1));
                        writer.apply(Change::Upsert(cm(&ns, &name, &rv, &labels)));
                    }
                    Op::Delete { name, ns } => {
                        let (ns, name) = (format!("ns{ns}"), "x".repeat(usize::from(name) + 1));
                        writer.apply(Change::Delete(cm(&ns, &name, &rv, &[])));
                    }
                }
            }
            let all = cache.list();
            let keys = |objs: &[Arc<ConfigMap>]| {
                let mut v: Vec<(String, String)> = objs
                    .iter()
                    .map(|o| {
                        let meta = &o.metadata;
                        (meta.namespace.clone().unwrap(), meta.name.clone().unwrap())
                    })
                    .collect();
                v.sort();
                v
            };
            let expect = |f: &ValuesOf, value: &str| {
                let matching: Vec<Arc<ConfigMap>> = all
                    .iter()
                    .filter(|o| f(o).iter().any(|v| v == value))
                    .cloned()
                    .collect();
                keys(&matching)
            };
            let label_values = |c: &ConfigMap| -> Vec<String> {
                c.metadata.labels.iter().map(|(k, v)| format!("{k}={v}")).collect()
            };
            let namespace = |c: &ConfigMap| vec![c.metadata.namespace.clone().unwrap()];
            let length = |c: &ConfigMap| {
                vec![c.metadata.name.as_deref().unwrap().len().to_string()]
            };
            let checks: [(&str, &ValuesOf); 3] = [
                (LABEL_INDEX, &label_values),
                (NAMESPACE_INDEX, &namespace),
                ("name-length", &length),
            ];
            for (index, f) in checks {
                let mut wanted: Vec<String> = all.iter().flat_map(|o| f(o)).collect();
                wanted.sort();
                wanted.dedup();
                let mut held = cache.index_values(index);
                held.sort();
                prop_assert_eq!(&held, &wanted, "values of {}", index);
                for value in &wanted {
                    let found = keys(&cache.by_index(index, value));
                    prop_assert_eq!(found, expect(f, value), "{}={}", index, value);
                }
            }
        }
    }
}
