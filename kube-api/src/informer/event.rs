//! [`InformerEvent`], what subscribers of an informer see, and [`EventHandler`], callbacks
//! run for each.

use std::fmt;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::channel::mpsc;

/// A change to the informer's cache.
pub enum InformerEvent<K> {
    /// An object appeared (or was there when the subscription started).
    Added(Arc<K>),
    /// An object changed: its state before and after.
    Updated {
        /// The cached state before the change.
        old: Arc<K>,
        /// The new state.
        new: Arc<K>,
    },
    /// An object went away: its last known state.
    Deleted(Arc<K>),
}

impl<K> InformerEvent<K> {
    /// The object the event is about (the new state for an update).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Self::Added(o) | Self::Deleted(o) | Self::Updated { new: o, .. } => o,
        }
    }
}

impl<K> Clone for InformerEvent<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Added(o) => Self::Added(o.clone()),
            Self::Updated { old, new } => Self::Updated {
                old: old.clone(),
                new: new.clone(),
            },
            Self::Deleted(o) => Self::Deleted(o.clone()),
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for InformerEvent<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Added(o) => f.debug_tuple("Added").field(o).finish(),
            Self::Updated { old, new } => f
                .debug_struct("Updated")
                .field("old", old)
                .field("new", new)
                .finish(),
            Self::Deleted(o) => f.debug_tuple("Deleted").field(o).finish(),
        }
    }
}

type AddFn<K> = Box<dyn Fn(&Arc<K>) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&Arc<K>, &Arc<K>) + Send + Sync>;

/// Callbacks for added, updated and deleted objects, as client-go's
/// `ResourceEventHandlerFuncs`. Each runs on a task of its own, in event order; a slow
/// callback delays only its own handler, never the informer.
pub struct EventHandler<K> {
    on_add: Option<AddFn<K>>,
    on_update: Option<UpdateFn<K>>,
    on_delete: Option<AddFn<K>>,
}

impl<K> Default for EventHandler<K> {
    fn default() -> Self {
        Self {
            on_add: None,
            on_update: None,
            on_delete: None,
        }
    }
}

impl<K> fmt::Debug for EventHandler<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventHandler")
            .field("on_add", &self.on_add.is_some())
            .field("on_update", &self.on_update.is_some())
            .field("on_delete", &self.on_delete.is_some())
            .finish()
    }
}

impl<K: Send + Sync + 'static> EventHandler<K> {
    /// A handler with no callbacks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Called for each added object.
    #[must_use]
    pub fn on_add(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.on_add = Some(Box::new(f));
        self
    }

    /// Called with the old and the new state of each updated object.
    #[must_use]
    pub fn on_update(mut self, f: impl Fn(&Arc<K>, &Arc<K>) + Send + Sync + 'static) -> Self {
        self.on_update = Some(Box::new(f));
        self
    }

    /// Called with the last known state of each deleted object.
    #[must_use]
    pub fn on_delete(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.on_delete = Some(Box::new(f));
        self
    }

    /// Runs the callbacks for one event.
    pub fn handle(&self, event: &InformerEvent<K>) {
        match event {
            InformerEvent::Added(o) => {
                if let Some(f) = &self.on_add {
                    f(o);
                }
            }
            InformerEvent::Updated { old, new } => {
                if let Some(f) = &self.on_update {
                    f(old, new);
                }
            }
            InformerEvent::Deleted(o) => {
                if let Some(f) = &self.on_delete {
                    f(o);
                }
            }
        }
    }

    /// Runs the callbacks for every event of a subscription, on a new task, until the
    /// subscription ends.
    pub(crate) fn spawn(
        self,
        mut events: mpsc::UnboundedReceiver<InformerEvent<K>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                self.handle(&event);
            }
        })
    }
}
