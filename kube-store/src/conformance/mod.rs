//! The conformance suite every [`Store`] backend must pass, ours or a user's.
//!
//! Each check is a public `async fn` generic over a [`StoreFactory`]: it asks the factory
//! for a fresh, empty store, drives it through one part of the contract written in
//! [`kube_core::store`], and panics with a message naming what went wrong. The
//! [`store_conformance_tests!`](crate::store_conformance_tests) macro expands to one
//! `#[test]` per check, so that each shows by name in the test output:
//!
//! ```
//! kube_store::store_conformance_tests!(|| async { kube_store::MemoryStore::new() });
//! ```
//!
//! A backend that cannot promise everything says so through [`Options`], carried by the
//! factory: an etcd server shared between tests sees revisions move on with other clients'
//! writes, so its factory relaxes [`Options::contiguous_revisions`].
//!
//! The suite lives behind the `conformance` cargo feature, which brings proptest (for the
//! model-based check) and tokio's multi-threaded runtime (each test runs on one, so that
//! concurrent writers really run in parallel). A backend's crate enables it in its
//! dev-dependencies only:
//!
//! ```toml
//! [dev-dependencies]
//! kube-store = { version = "0.1", features = ["conformance"] }
//! ```
//!
//! The checks are test code: they panic (through `assert!` and `expect`) on any departure
//! from the contract, and wait at most [`Options::event_timeout`] for a watch event so that
//! a missing event fails the test rather than hanging it.

// A conformance check reports a departure from the contract by panicking, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod basic;
mod compaction;
mod concurrency;
mod lease;
mod model;
mod range;
mod support;
mod watch;

use std::future::Future;
use std::time::Duration;

use kube_core::Store;

pub use basic::{
    create_existing_fails, create_then_get, delete_checks_expected_revision,
    delete_missing_is_not_found, empty_key_is_rejected, failed_writes_change_nothing,
    get_missing_is_none, recreate_resets_versions, revisions_count_every_write,
    update_conflict_carries_current, update_missing_is_not_found, update_with_current_revision,
};
pub use compaction::{
    compact_below_previous_is_noop, compact_future_revision_fails,
    compaction_fails_old_reads_keeps_latest,
};
pub use concurrency::concurrent_cas_increments;
pub use lease::{lease_expiry_deletes_keys, lease_revoke_deletes_keys, lease_unknown_fails};
pub use model::model_based;
pub use range::{
    range_count_only, range_future_revision_fails, range_pages_see_one_snapshot,
    range_prefix_start_limit,
};
pub use watch::{
    watch_concurrent_writers_exactly_once, watch_filters_by_prefix,
    watch_from_current_sees_only_new, watch_reports_prev_values,
};

/// What a backend promises beyond the contract's minimum, and how hard the suite pushes.
///
/// Start from [`Options::default`] (everything the contract allows to be checked) and relax
/// with the builder methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// A fresh store is at revision 1 and each write adds exactly one to the revision.
    /// True for a store used alone (the contract's rule); false for a store sharing a
    /// server whose other clients move the revision on too (revisions then only have to
    /// grow strictly with every write).
    pub contiguous_revisions: bool,
    /// The TTL of the leases the lease checks grant. A backend with a minimum TTL (etcd
    /// rounds TTLs up to its minimum) sets at least that.
    pub lease_ttl: Duration,
    /// How long a check waits for an expected watch event or lease expiry before failing.
    pub event_timeout: Duration,
    /// How many random operation sequences the model-based check runs.
    pub model_cases: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            contiguous_revisions: true,
            lease_ttl: Duration::from_millis(500),
            event_timeout: Duration::from_secs(20),
            model_cases: 48,
        }
    }
}

impl Options {
    /// Revisions only have to grow strictly; see [`Options::contiguous_revisions`].
    #[must_use]
    pub fn relaxed_revisions(mut self) -> Self {
        self.contiguous_revisions = false;
        self
    }

    /// Sets [`Options::lease_ttl`].
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets [`Options::event_timeout`].
    #[must_use]
    pub fn event_timeout(mut self, timeout: Duration) -> Self {
        self.event_timeout = timeout;
        self
    }

    /// Sets [`Options::model_cases`].
    #[must_use]
    pub fn model_cases(mut self, cases: u32) -> Self {
        self.model_cases = cases;
        self
    }
}

/// Hands the suite a fresh, empty store for each check.
///
/// Any `Fn() -> impl Future<Output = S>` closure is a factory with the default
/// [`Options`]; wrap it in [`WithOptions`] to relax them, or implement the trait for a
/// backend that needs more (one whose server may be missing, or shared).
pub trait StoreFactory: Send + Sync {
    /// The store the factory makes.
    type Store: Store;

    /// A fresh store with no keys under any prefix the checks use (an etcd backend may
    /// hand out a new key prefix on a shared server). `None` means the backend cannot run
    /// here (its server is missing): the check then returns without testing anything, and
    /// the factory must have said so loudly, or panicked where that is a failure (in CI).
    fn new_store(&self) -> impl Future<Output = Option<Self::Store>> + Send;

    /// A fresh store for a check that compacts. Compaction is store-wide, so a backend
    /// whose stores share one server (and one revision history) must return a store on a
    /// server of its own here, or compaction would break the checks running beside it.
    /// The default is [`StoreFactory::new_store`].
    fn new_exclusive_store(&self) -> impl Future<Output = Option<Self::Store>> + Send {
        self.new_store()
    }

    /// What the backend promises; see [`Options`].
    fn options(&self) -> Options {
        Options::default()
    }
}

impl<F, Fut, S> StoreFactory for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = S> + Send,
    S: Store,
{
    type Store = S;

    async fn new_store(&self) -> Option<S> {
        Some(self().await)
    }
}

/// A factory with [`Options`] other than the default.
///
/// ```
/// use kube_store::MemoryStore;
/// use kube_store::conformance::{Options, StoreFactory, WithOptions};
///
/// let factory = WithOptions::new(|| async { MemoryStore::new() }, Options::default().model_cases(8));
/// assert_eq!(factory.options().model_cases, 8);
/// ```
#[derive(Clone, Debug)]
pub struct WithOptions<F> {
    factory: F,
    options: Options,
}

impl<F> WithOptions<F> {
    /// Wraps `factory`, giving it `options`.
    pub fn new(factory: F, options: Options) -> Self {
        Self { factory, options }
    }
}

impl<F: StoreFactory> StoreFactory for WithOptions<F> {
    type Store = F::Store;

    fn new_store(&self) -> impl Future<Output = Option<Self::Store>> + Send {
        self.factory.new_store()
    }

    fn new_exclusive_store(&self) -> impl Future<Output = Option<Self::Store>> + Send {
        self.factory.new_exclusive_store()
    }

    fn options(&self) -> Options {
        self.options
    }
}

/// Runs one check to completion on a fresh multi-threaded tokio runtime (two workers), as
/// the tests [`store_conformance_tests!`](crate::store_conformance_tests) expands to do.
pub fn run<Fut: Future<Output = ()>>(check: Fut) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the conformance suite needs a tokio runtime");
    runtime.block_on(check);
}

/// Expands to one `#[test]` per conformance check, each running against a fresh store
/// from the factory expression given (evaluated once per test). See the
/// [`conformance`](crate::conformance) module.
///
/// ```
/// use kube_store::MemoryStore;
/// use kube_store::conformance::{Options, WithOptions};
///
/// // In a file of tests/: the default options...
/// kube_store::store_conformance_tests!(|| async { MemoryStore::new() });
///
/// // ...or relaxed ones (in another module, as the tests have the same names).
/// mod relaxed {
///     use super::*;
///     kube_store::store_conformance_tests!(WithOptions::new(
///         || async { MemoryStore::new() },
///         Options::default().relaxed_revisions(),
///     ));
/// }
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::__store_conformance_checks!($factory;
            get_missing_is_none,
            create_then_get,
            create_existing_fails,
            empty_key_is_rejected,
            update_with_current_revision,
            update_conflict_carries_current,
            update_missing_is_not_found,
            delete_checks_expected_revision,
            delete_missing_is_not_found,
            recreate_resets_versions,
            revisions_count_every_write,
            failed_writes_change_nothing,
            concurrent_cas_increments,
            watch_concurrent_writers_exactly_once,
            watch_from_current_sees_only_new,
            watch_reports_prev_values,
            watch_filters_by_prefix,
            range_prefix_start_limit,
            range_pages_see_one_snapshot,
            range_count_only,
            range_future_revision_fails,
            compaction_fails_old_reads_keeps_latest,
            compact_below_previous_is_noop,
            compact_future_revision_fails,
            lease_revoke_deletes_keys,
            lease_expiry_deletes_keys,
            lease_unknown_fails,
            model_based,
        );
    };
}

/// The expansion of [`store_conformance_tests!`]: one test per check named.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_checks {
    ($factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let factory = $factory;
                $crate::conformance::run($crate::conformance::$check(&factory));
            }
        )*
    };
}
