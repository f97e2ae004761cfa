//! [`SyncSchedule`]: when the service proxy syncs, as kube-proxy's bounded-frequency runner.
//!
//! - A change asks for a sync. Syncs are at least `min_interval` apart, so a burst of
//!   changes (a rollout touching hundreds of Endpoints) costs one sync, not hundreds.
//! - Without changes the proxy still syncs every `max_interval`, so a data plane that
//!   drifted (rules flushed by someone else) is repaired.
//! - A failed sync is retried, with a delay doubling from `min_interval` up to
//!   `max_interval`.
//!
//! Time is passed in, never read, so the schedule is a plain state machine (and tested as
//! one).

use std::time::Duration;

use tokio::time::Instant;

/// Why the next sync happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncReason {
    /// Something changed since the last successful sync (or none happened yet).
    Changed,
    /// The last sync failed.
    Retry,
    /// Nothing changed for `max_interval`.
    Periodic,
}

/// The bounded-frequency schedule of syncs.
#[derive(Debug, Clone)]
pub(crate) struct SyncSchedule {
    min_interval: Duration,
    max_interval: Duration,
    last_run: Option<Instant>,
    pending: bool,
    failures: u32,
}

impl SyncSchedule {
    /// A schedule with a sync pending (the first one).
    pub(crate) fn new(min_interval: Duration, max_interval: Duration) -> Self {
        Self {
            min_interval,
            max_interval: max_interval.max(min_interval),
            last_run: None,
            pending: true,
            failures: 0,
        }
    }

    /// Something changed: a sync is wanted.
    pub(crate) fn request(&mut self) {
        self.pending = true;
    }

    /// The delay before a retry after `failures` failures in a row.
    fn backoff(&self) -> Duration {
        let factor = 1u32
            .checked_shl(self.failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.min_interval
            .max(Duration::from_millis(100))
            .saturating_mul(factor)
            .min(self.max_interval)
    }

    /// When the next sync is due, and why.
    pub(crate) fn next(&self, now: Instant) -> (Instant, SyncReason) {
        let Some(last) = self.last_run else {
            return (now, SyncReason::Changed);
        };
        if self.failures > 0 {
            return (last + self.backoff(), SyncReason::Retry);
        }
        if self.pending {
            return (last + self.min_interval, SyncReason::Changed);
        }
        (last + self.max_interval, SyncReason::Periodic)
    }

    /// A sync started at `at` and ended with `ok`.
    pub(crate) fn ran(&mut self, at: Instant, ok: bool) {
        self.last_run = Some(at);
        if ok {
            self.pending = false;
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIN: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn first_sync_is_immediate_then_bounded() {
        let t0 = Instant::now();
        let mut s = SyncSchedule::new(MIN, MAX);
        assert_eq!(s.next(t0), (t0, SyncReason::Changed));
        s.ran(t0, true);
        assert_eq!(s.next(t0), (t0 + MAX, SyncReason::Periodic));
        s.request();
        s.request();
        assert_eq!(s.next(t0), (t0 + MIN, SyncReason::Changed));
    }

    #[test]
    fn failures_back_off_up_to_the_max_interval() {
        let t0 = Instant::now();
        let mut s = SyncSchedule::new(MIN, MAX);
        let mut delays = Vec::new();
        let mut now = t0;
        for _ in 0..8 {
            s.ran(now, false);
            let (at, why) = s.next(now);
            assert_eq!(why, SyncReason::Retry);
            delays.push((at - now).as_secs());
            now = at;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        s.ran(now, true);
        assert_eq!(s.next(now).1, SyncReason::Periodic);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Change,
        Wait(u64),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![Just(Step::Change), (1u64..5_000).prop_map(Step::Wait)],
            1..200,
        )
    }

    proptest! {
        /// Drive the schedule as the proxy loop does; with syncs that always succeed:
        /// syncs are never closer than the minimum interval, a change is always followed
        /// by a sync within the minimum interval, and idle periods never exceed the
        /// maximum interval.
        #[test]
        fn syncs_are_bounded_in_frequency(steps in steps()) {
            let min = Duration::from_millis(1_000);
            let max = Duration::from_millis(30_000);
            let t0 = Instant::now();
            let mut s = SyncSchedule::new(min, max);
            let mut now = t0;
            let mut runs: Vec<Instant> = Vec::new();
            let mut unsynced_change: Option<Instant> = Some(t0);
            for step in steps {
                let until = match step {
                    Step::Change => {
                        s.request();
                        unsynced_change.get_or_insert(now);
                        now
                    }
                    Step::Wait(ms) => now + Duration::from_millis(ms),
                };
                // Run every sync due up to `until`, as the loop's timer would.
                loop {
                    let (due, _) = s.next(now);
                    if due > until {
                        break;
                    }
                    let at = due.max(now);
                    if let Some(prev) = runs.last() {
                        prop_assert!(at - *prev >= min, "syncs {:?} apart", at - *prev);
                        prop_assert!(at - *prev <= max);
                    }
                    if let Some(changed) = unsynced_change.take() {
                        let bound = runs.last().map_or(changed, |p| (*p + min).max(changed));
                        prop_assert!(at <= bound, "change waited past the minimum interval");
                    }
                    runs.push(at);
                    s.ran(at, true);
                    now = at;
                }
                now = until;
            }
        }
    }
}
