//! The [`Controller`] trait: a level-based reconciler of one kind.
//!
//! A controller names the kind it reconciles and what else it watches; the controller runtime
//! (kube-ctrl) runs informers for all of it, turns every change into the key of the primary
//! object it concerns, and calls [`Controller::reconcile`] with that key from a work queue.
//!
//! # The contract
//!
//! - `reconcile` is **level-based and idempotent**: it reads the current state (from the shared
//!   caches and the API) and makes the world match the object's spec. It must not depend on
//!   which change triggered it, nor on seeing every change: several changes may be folded into
//!   one call, and a call may come with no change at all (resync, restart).
//! - The runtime never runs `reconcile` for one key on two workers at once; different keys run
//!   concurrently.
//! - A key whose object is gone is still reconciled (to clean up); the controller finds the
//!   object missing in its cache.
//! - `Err` retries the key with per-key exponential backoff; `Ok(Action::RequeueAfter(d))` runs
//!   it again after `d`; `Ok(Action::Done)` waits for the next change.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::dynamic::DynamicObject;
use crate::error::BoxError;
use crate::resource::{ApiResource, ObjectKey};

/// What to do with a key after a successful reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Nothing until the next change.
    Done,
    /// Reconcile again after this long (for time-based work: timeouts, TTLs).
    RequeueAfter(Duration),
}

/// Maps a changed object of a watched kind to the keys of the primary objects it concerns.
pub type MapFn = Arc<dyn Fn(&DynamicObject) -> Vec<ObjectKey> + Send + Sync>;

/// Something besides the primary kind that a controller reacts to.
#[derive(Clone)]
pub enum Watch {
    /// Objects of this kind whose controller owner reference points to a primary object: a
    /// change to one reconciles its owner.
    Owned(ApiResource),
    /// Objects of this kind, mapped to primary keys by a function.
    Mapped(ApiResource, MapFn),
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Owned(ar) => f.debug_tuple("Owned").field(&ar.kind).finish(),
            Self::Mapped(ar, _) => f.debug_tuple("Mapped").field(&ar.kind).finish(),
        }
    }
}

/// A reconciler of one kind. See the [module docs](self) for the contract.
#[async_trait]
pub trait Controller: Send + Sync + 'static {
    /// A short name for logs and metrics (`"replicaset"`).
    fn name(&self) -> &str;

    /// The kind this controller reconciles.
    fn primary(&self) -> ApiResource;

    /// What else it watches. None by default.
    fn watches(&self) -> Vec<Watch> {
        Vec::new()
    }

    /// Makes the world match the object with this key.
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, BoxError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_is_object_safe() {
        fn takes(_: Option<Arc<dyn Controller>>) {}
        takes(None);
    }
}
