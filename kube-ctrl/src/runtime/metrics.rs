//! [`Metrics`]: what the controllers of a process count, rendered as Prometheus text.
//!
//! The names follow controller-runtime's, so existing dashboards work:
//! `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`,
//! `controller_runtime_reconcile_total{result}`, `controller_runtime_reconcile_errors_total`,
//! `controller_runtime_reconcile_time_seconds` (a histogram),
//! `controller_runtime_active_workers`, and `leader_election_master_status`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

/// The upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// The counters of one controller (and its work queue).
#[derive(Debug, Default)]
pub struct ControllerMetrics {
    depth: AtomicI64,
    adds: AtomicU64,
    retries: AtomicU64,
    success: AtomicU64,
    requeues: AtomicU64,
    errors: AtomicU64,
    active_workers: AtomicI64,
    latency: Histogram,
}

/// A copy of one controller's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllerSnapshot {
    /// Keys waiting in the queue.
    pub depth: i64,
    /// Keys added to the queue (deduplicated adds not counted).
    pub adds: u64,
    /// Keys put back after a failure.
    pub retries: u64,
    /// Reconciles that returned `Done`.
    pub success: u64,
    /// Reconciles that asked to run again after a delay.
    pub requeues: u64,
    /// Reconciles that failed.
    pub errors: u64,
    /// Reconciles running now.
    pub active_workers: i64,
    /// Reconciles whose latency was observed.
    pub reconciles: u64,
}

impl ControllerMetrics {
    pub(crate) fn set_depth(&self, depth: usize) {
        self.depth
            .store(i64::try_from(depth).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn added(&self) {
        self.adds.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn worker_started(&self) {
        self.active_workers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn worker_finished(&self) {
        self.active_workers.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn reconciled(&self, outcome: Outcome, took: Duration) {
        let counter = match outcome {
            Outcome::Success => &self.success,
            Outcome::Requeue => &self.requeues,
            Outcome::Error => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.latency.observe(took);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ControllerSnapshot {
        ControllerSnapshot {
            depth: self.depth.load(Ordering::Relaxed),
            adds: self.adds.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            success: self.success.load(Ordering::Relaxed),
            requeues: self.requeues.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            active_workers: self.active_workers.load(Ordering::Relaxed),
            reconciles: self.latency.count.load(Ordering::Relaxed),
        }
    }
}

/// How a reconcile ended, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Requeue,
    Error,
}

#[derive(Debug, Default)]
struct Inner {
    controllers: RwLock<BTreeMap<String, Arc<ControllerMetrics>>>,
    leaders: RwLock<BTreeMap<String, bool>>,
}

/// The metrics of every controller of a process (or a manager): cheap to clone, shared.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters of the controller `name`, created on first use.
    pub fn controller(&self, name: &str) -> Arc<ControllerMetrics> {
        if let Some(m) = self.inner.controllers.read().get(name) {
            return m.clone();
        }
        self.inner
            .controllers
            .write()
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The counters of the controller `name`, if it ever ran.
    pub fn snapshot(&self, name: &str) -> Option<ControllerSnapshot> {
        self.inner
            .controllers
            .read()
            .get(name)
            .map(|m| m.snapshot())
    }

    /// Records whether this process holds the leader lease `name`.
    pub fn set_leader(&self, name: &str, leading: bool) {
        self.inner.leaders.write().insert(name.to_owned(), leading);
    }

    /// Whether this process holds the leader lease `name` (`None` if it never competed).
    pub fn is_leader(&self, name: &str) -> Option<bool> {
        self.inner.leaders.read().get(name).copied()
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let controllers = self.inner.controllers.read();
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        gauge(
            &mut out,
            "workqueue_depth",
            "Current depth of the work queue.",
            "gauge",
        );
        for (name, m) in controllers.iter() {
            let _ = writeln!(
                out,
                "workqueue_depth{{name=\"{}\"}} {}",
                escape(name),
                m.depth.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "workqueue_adds_total",
            "Total number of adds handled by the work queue.",
            "counter",
        );
        for (name, m) in controllers.iter() {
            let _ = writeln!(
                out,
                "workqueue_adds_total{{name=\"{}\"}} {}",
                escape(name),
                m.adds.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "workqueue_retries_total",
            "Total number of retries handled by the work queue.",
            "counter",
        );
        for (name, m) in controllers.iter() {
            let _ = writeln!(
                out,
                "workqueue_retries_total{{name=\"{}\"}} {}",
                escape(name),
                m.retries.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller.",
            "counter",
        );
        for (name, m) in controllers.iter() {
            for (result, counter) in [
                ("success", &m.success),
                ("requeue_after", &m.requeues),
                ("error", &m.errors),
            ] {
                let _ = writeln!(
                    out,
                    "controller_runtime_reconcile_total{{controller=\"{}\",result=\"{result}\"}} {}",
                    escape(name),
                    counter.load(Ordering::Relaxed)
                );
            }
        }
        gauge(
            &mut out,
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller.",
            "counter",
        );
        for (name, m) in controllers.iter() {
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_errors_total{{controller=\"{}\"}} {}",
                escape(name),
                m.errors.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "controller_runtime_active_workers",
            "Number of currently used workers per controller.",
            "gauge",
        );
        for (name, m) in controllers.iter() {
            let _ = writeln!(
                out,
                "controller_runtime_active_workers{{controller=\"{}\"}} {}",
                escape(name),
                m.active_workers.load(Ordering::Relaxed)
            );
        }
        gauge(
            &mut out,
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller.",
            "histogram",
        );
        for (name, m) in controllers.iter() {
            let name = escape(name);
            for (bound, count) in LATENCY_BUCKETS.iter().zip(&m.latency.counts) {
                let _ = writeln!(
                    out,
                    "controller_runtime_reconcile_time_seconds_bucket{{controller=\"{name}\",le=\"{bound}\"}} {}",
                    count.load(Ordering::Relaxed)
                );
            }
            let count = m.latency.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_time_seconds_bucket{{controller=\"{name}\",le=\"+Inf\"}} {count}"
            );
            #[allow(clippy::cast_precision_loss)]
            // a sum of latencies: f64 is what Prometheus carries
            let sum = m.latency.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_time_seconds_sum{{controller=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_time_seconds_count{{controller=\"{name}\"}} {count}"
            );
        }
        drop(controllers);
        gauge(
            &mut out,
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.",
            "gauge",
        );
        for (name, leading) in self.inner.leaders.read().iter() {
            let _ = writeln!(
                out,
                "leader_election_master_status{{name=\"{}\"}} {}",
                escape(name),
                u8::from(*leading)
            );
        }
        out
    }
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_prometheus_text() {
        let metrics = Metrics::new();
        let rs = metrics.controller("replicaset");
        rs.added();
        rs.added();
        rs.set_depth(2);
        rs.retried();
        rs.reconciled(Outcome::Success, Duration::from_millis(3));
        rs.reconciled(Outcome::Error, Duration::from_secs(2));
        rs.reconciled(Outcome::Requeue, Duration::from_secs(100));
        metrics.set_leader("kube-controller-manager", true);
        assert!(Arc::ptr_eq(&rs, &metrics.controller("replicaset")));

        let text = metrics.render();
        for line in [
            "workqueue_depth{name=\"replicaset\"} 2",
            "workqueue_adds_total{name=\"replicaset\"} 2",
            "workqueue_retries_total{name=\"replicaset\"} 1",
            "controller_runtime_reconcile_total{controller=\"replicaset\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"replicaset\",result=\"error\"} 1",
            "controller_runtime_reconcile_errors_total{controller=\"replicaset\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{controller=\"replicaset\",le=\"0.005\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{controller=\"replicaset\",le=\"2.5\"} 2",
            "controller_runtime_reconcile_time_seconds_bucket{controller=\"replicaset\",le=\"+Inf\"} 3",
            "controller_runtime_reconcile_time_seconds_count{controller=\"replicaset\"} 3",
            "leader_election_master_status{name=\"kube-controller-manager\"} 1",
            "# TYPE controller_runtime_reconcile_time_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let snap = metrics.snapshot("replicaset").unwrap();
        assert_eq!((snap.adds, snap.errors, snap.reconciles), (2, 1, 3));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
