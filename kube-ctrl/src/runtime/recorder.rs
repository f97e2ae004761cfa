//! [`EventRecorder`]: writes `v1` Events about objects, as `kubectl describe` shows them,
//! folding repeats into one Event with a `count` and a `lastTimestamp` (client-go's event
//! correlator).
//!
//! Recording never blocks a reconcile: events go through a bounded channel to a writer
//! task (dropped, with a log line, if it is full), which writes them in order.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_core::{Event, EventSource, EventType, ObjectMeta, ObjectReference, Resource, Time};
use tokio::sync::{mpsc, oneshot};

/// How many events may wait for the writer before new ones are dropped.
const QUEUE: usize = 1024;
/// How many distinct events the correlator remembers to fold repeats into.
const REMEMBERED: usize = 4096;

enum Request {
    Event(Box<EventRequest>),
    Flush(oneshot::Sender<()>),
}

struct EventRequest {
    object: ObjectReference,
    type_: EventType,
    reason: String,
    message: String,
}

/// Records Events for one component; cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::Sender<Request>,
    component: Arc<str>,
}

impl fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRecorder")
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

impl EventRecorder {
    /// A recorder writing as `component` (the Event's `source.component` and
    /// `reportingComponent`) from `instance` (`reportingInstance`). Starts its writer task:
    /// call it within a tokio runtime.
    pub fn new(client: Client, component: &str, instance: &str) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            client,
            component: component.to_owned(),
            instance: instance.to_owned(),
            seen: HashMap::new(),
            order: VecDeque::new(),
        };
        tokio::spawn(writer.run(rx));
        Self {
            tx,
            component: Arc::from(component),
        }
    }

    /// Records an event about the object `object` refers to.
    pub fn record(&self, object: &ObjectReference, type_: EventType, reason: &str, message: &str) {
        let request = Request::Event(Box::new(EventRequest {
            object: object.clone(),
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
        }));
        if self.tx.try_send(request).is_err() {
            tracing::warn!(component = %self.component, reason, "event dropped: the recorder is overloaded or stopped");
        }
    }

    /// Records a `Normal` event about `obj`.
    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: &str) {
        self.record(
            &ObjectReference::from_object(obj, &()),
            EventType::Normal,
            reason,
            message,
        );
    }

    /// Records a `Warning` event about `obj`.
    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: &str) {
        self.record(
            &ObjectReference::from_object(obj, &()),
            EventType::Warning,
            reason,
            message,
        );
    }

    /// Waits until every event recorded so far has been written (or failed).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// What makes two events the same, for folding.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Identity {
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    field_path: Option<String>,
    type_: String,
    reason: String,
    message: String,
}

struct Seen {
    name: String,
    namespace: String,
    count: i32,
    first: Time,
}

struct Writer {
    client: Client,
    component: String,
    instance: String,
    seen: HashMap<Identity, Seen>,
    order: VecDeque<Identity>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(request) = rx.recv().await {
            match request {
                Request::Event(e) => {
                    let EventRequest {
                        object,
                        type_,
                        reason,
                        message,
                    } = *e;
                    self.write(object, type_, reason, message).await;
                }
                Request::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    async fn write(
        &mut self,
        object: ObjectReference,
        type_: EventType,
        reason: String,
        message: String,
    ) {
        let identity = Identity {
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            uid: object.uid.clone(),
            field_path: object.field_path.clone(),
            type_: serde_json::to_value(&type_)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            reason: reason.clone(),
            message: message.clone(),
        };
        let now = Time::now();
        if let Some(seen) = self.seen.get_mut(&identity) {
            seen.count = seen.count.saturating_add(1);
            let api: Api<Event> = Api::namespaced(self.client.clone(), &seen.namespace);
            let patch = serde_json::json!({"count": seen.count, "lastTimestamp": now});
            match api
                .patch(&seen.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return,
                Err(e) if e.code() == 404 => {}
                Err(e) => {
                    tracing::warn!(event = %seen.name, error = %e, "cannot update an event");
                    return;
                }
            }
        }
        // A new event, or one whose Event object is gone: write it whole.
        let (count, first) = self
            .seen
            .get(&identity)
            .map_or((1, now), |s| (s.count, s.first));
        let namespace = object
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        // Names carry the full-precision time (timestamps are in seconds), as client-go's.
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!(
            "{}.{:x}",
            object.name.as_deref().unwrap_or("unknown"),
            nanos
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: object,
            reason: Some(reason),
            message: Some(message),
            source: EventSource {
                component: Some(self.component.clone()),
                host: None,
            },
            first_timestamp: Some(first),
            last_timestamp: Some(now),
            count: Some(count),
            type_: Some(type_),
            reporting_component: self.component.clone(),
            reporting_instance: self.instance.clone(),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if !self.seen.contains_key(&identity) {
                    self.order.push_back(identity.clone());
                    if self.order.len() > REMEMBERED {
                        if let Some(old) = self.order.pop_front() {
                            self.seen.remove(&old);
                        }
                    }
                }
                self.seen.insert(
                    identity,
                    Seen {
                        name,
                        namespace,
                        count,
                        first,
                    },
                );
            }
            Err(e) => tracing::warn!(event = %name, error = %e, "cannot write an event"),
        }
    }
}
