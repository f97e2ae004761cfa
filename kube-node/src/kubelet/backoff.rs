//! [`CrashBackoff`]: how long a container that exited waits before its next start
//! (Kubernetes' CrashLoopBackOff).
//!
//! The first restart is immediate. Each later one waits the current delay, counted from
//! when the container exited; the delay starts at `initial` and doubles with every restart
//! up to `max`. A container that ran at least `reset_after` before exiting starts over.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Back-off settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first delay (10 s in Kubernetes).
    pub initial: Duration,
    /// The longest delay (5 min).
    pub max: Duration,
    /// A run at least this long resets the delay (10 min).
    pub reset_after: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// The delay the next restart waits.
    delay: Duration,
}

/// The back-off state of every container of one pod, by container name.
#[derive(Clone, Debug, Default)]
pub struct CrashBackoff {
    entries: HashMap<String, Entry>,
}

/// What to do with a container that exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start it now.
    Now,
    /// Wait until then (it is in CrashLoopBackOff); the delay is for the message.
    At(SystemTime, Duration),
}

impl CrashBackoff {
    /// Decides whether the container `name`, which ran from `started` to `finished`, may
    /// restart at `now`. Does not change the state: call [`Self::restarted`] when it
    /// does restart.
    pub fn decide(
        &self,
        policy: &BackoffPolicy,
        name: &str,
        started: Option<SystemTime>,
        finished: SystemTime,
        now: SystemTime,
    ) -> RestartDecision {
        let ran = started
            .and_then(|s| finished.duration_since(s).ok())
            .unwrap_or_default();
        let Some(entry) = self.entries.get(name) else {
            return RestartDecision::Now;
        };
        if ran >= policy.reset_after {
            return RestartDecision::Now;
        }
        let until = finished + entry.delay;
        if now >= until {
            RestartDecision::Now
        } else {
            RestartDecision::At(until, entry.delay)
        }
    }

    /// Records a restart of `name` after a run from `started` to `finished`: the next
    /// restart waits longer (or starts over after a long run).
    pub fn restarted(
        &mut self,
        policy: &BackoffPolicy,
        name: &str,
        started: Option<SystemTime>,
        finished: SystemTime,
    ) {
        let ran = started
            .and_then(|s| finished.duration_since(s).ok())
            .unwrap_or_default();
        match self.entries.get_mut(name) {
            Some(entry) if ran < policy.reset_after => {
                entry.delay = (entry.delay * 2).min(policy.max);
            }
            _ => {
                self.entries.insert(
                    name.to_owned(),
                    Entry {
                        delay: policy.initial.min(policy.max),
                    },
                );
            }
        }
    }

    /// The delay the next restart of `name` would wait.
    pub fn current_delay(&self, name: &str) -> Option<Duration> {
        self.entries.get(name).map(|e| e.delay)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const POLICY: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_secs(10),
        max: Duration::from_secs(300),
        reset_after: Duration::from_secs(600),
    };

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn delays_double_from_ten_seconds_to_five_minutes() {
        let mut b = CrashBackoff::default();
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            // The container runs 1 s and crashes.
            let started = t(now);
            let finished = t(now + 1);
            let wait = match b.decide(&POLICY, "app", Some(started), finished, finished) {
                RestartDecision::Now => 0,
                RestartDecision::At(until, _) => until.duration_since(finished).unwrap().as_secs(),
            };
            waits.push(wait);
            now += 1 + wait;
            assert_eq!(
                b.decide(&POLICY, "app", Some(started), finished, t(now)),
                RestartDecision::Now
            );
            b.restarted(&POLICY, "app", Some(started), finished);
        }
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_long_run_resets_the_delay() {
        let mut b = CrashBackoff::default();
        for i in 0..5 {
            b.restarted(&POLICY, "app", Some(t(i)), t(i + 1));
        }
        assert_eq!(b.current_delay("app"), Some(Duration::from_secs(160)));
        let (started, finished) = (t(100), t(100 + 600));
        assert_eq!(
            b.decide(&POLICY, "app", Some(started), finished, finished),
            RestartDecision::Now
        );
        b.restarted(&POLICY, "app", Some(started), finished);
        assert_eq!(b.current_delay("app"), Some(Duration::from_secs(10)));
        assert_eq!(b.current_delay("other"), None);
    }

    proptest! {
        /// Whatever the run lengths, the delay stays within [initial, max], never
        /// shrinks except after a long run, and a restart is never allowed before the
        /// delay has passed since the exit.
        #[test]
        fn delays_stay_in_bounds(runs in proptest::collection::vec(0u64..1200, 1..40)) {
            let mut b = CrashBackoff::default();
            let mut clock = 0;
            let mut last: Option<Duration> = None;
            for ran in runs {
                let started = t(clock);
                let finished = t(clock + ran);
                match b.decide(&POLICY, "c", Some(started), finished, finished) {
                    RestartDecision::Now => {
                        prop_assert!(last.is_none() || ran >= 600);
                    }
                    RestartDecision::At(until, delay) => {
                        prop_assert_eq!(until, finished + delay);
                        prop_assert!(b.decide(&POLICY, "c", Some(started), finished, until - Duration::from_secs(1)) != RestartDecision::Now);
                    }
                }
                b.restarted(&POLICY, "c", Some(started), finished);
                let d = b.current_delay("c").unwrap();
                prop_assert!(d >= POLICY.initial && d <= POLICY.max);
                if let Some(prev) = last {
                    prop_assert!(d >= prev || ran >= 600);
                }
                last = Some(d);
                clock += ran + 400;
            }
        }
    }
}
