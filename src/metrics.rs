//! The control plane's metrics endpoint: one port with `/metrics` (Prometheus text) for
//! the scheduler and every controller manager, `/healthz`, `/livez`, and `/readyz` (ready
//! once the scheduler's informers have synced). The API server serves its own `/metrics`
//! on its API port, as Kubernetes' does.

use std::fmt::Write as _;

use kube_ctrl::{Metrics, MetricsSource};
use kube_sched::StatsReader;

/// What the control plane's metrics endpoint renders.
pub(crate) struct ControlPlaneMetrics {
    pub(crate) scheduler: Option<StatsReader>,
    pub(crate) managers: Vec<Metrics>,
}

impl MetricsSource for ControlPlaneMetrics {
    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(scheduler) = &self.scheduler {
            let stats = scheduler.stats();
            let counters = [
                (
                    "scheduler_cycles_total",
                    "Scheduling cycles run, one per pod attempt.",
                    stats.cycles,
                ),
                (
                    "scheduler_pods_bound_total",
                    "Pods bound to a node.",
                    stats.bound,
                ),
                (
                    "scheduler_unschedulable_total",
                    "Attempts that found no node, or were refused by Reserve or Permit.",
                    stats.unschedulable,
                ),
                (
                    "scheduler_bind_failures_total",
                    "Binding cycles that failed.",
                    stats.bind_failures,
                ),
                (
                    "scheduler_preemption_victims_total",
                    "Pods evicted by preemption.",
                    stats.victims,
                ),
            ];
            for (name, help, value) in counters {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP scheduler_informers_synced Whether the scheduler's informers have synced.\n\
                 # TYPE scheduler_informers_synced gauge\nscheduler_informers_synced {}",
                u8::from(stats.synced)
            );
        }
        for manager in &self.managers {
            out.push_str(&manager.render());
        }
        out
    }

    fn ready(&self) -> bool {
        self.scheduler.as_ref().is_none_or(|s| s.stats().synced)
    }
}
