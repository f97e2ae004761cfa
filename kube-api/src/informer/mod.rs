//! Informers: list, then watch, into a cache with indexes and event handlers.
//!
//! An [`Informer`] keeps a [`Cache`] of one kind in step with the API server. It lists the
//! objects (page by page), then watches from the list's resourceVersion with bookmarks;
//! when a watch ends it resumes from the last resourceVersion seen, when that version has
//! been compacted (410 Gone) it lists again and reports the differences, and on errors it
//! backs off exponentially with jitter. The cache has one writer (the informer) and many
//! cheap readers, indexes by namespace and labels plus any added with
//! [`Cache::index_by`], and subscriptions ([`Cache::subscribe`], [`EventHandler`]) that
//! see every change once, in order.
//!
//! A [`SharedInformerFactory`] gives every consumer of a kind the same informer, so that a
//! process runs one list+watch and keeps one cache per kind.

mod cache;
mod event;
mod factory;
mod reflector;

pub use cache::{
    Cache, CacheWriter, Change, IndexFn, LABEL_INDEX, NAMESPACE_INDEX, NODE_NAME_INDEX,
};
pub use event::{EventHandler, InformerEvent};
pub use factory::SharedInformerFactory;
pub use reflector::{Informer, InformerConfig, InformerTask, SharedInformer};

#[cfg(test)]
mod tests;
