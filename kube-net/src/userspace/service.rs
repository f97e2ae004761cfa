//! [`ServiceState`]: what the listeners of one service port share: its name, its
//! [`Balancer`] and its counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube_core::network::ServicePortName;

use super::balancer::Balancer;

/// Counters of one service port of the userspace proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// TCP connections being relayed now (those draining from removed endpoints
    /// included).
    pub active_connections: u64,
    /// TCP connections relayed since the service port appeared.
    pub total_connections: u64,
    /// UDP client sessions open now.
    pub udp_sessions: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    active: AtomicU64,
    total: AtomicU64,
    udp_sessions: AtomicU64,
}

/// Counts one open connection (or UDP session) while it lives.
#[derive(Debug)]
pub(crate) struct Open<'a> {
    counter: &'a AtomicU64,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    pub(crate) fn connection_opened(&self) -> Open<'_> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        Open {
            counter: &self.active,
        }
    }

    pub(crate) fn session_opened(&self) -> Open<'_> {
        self.udp_sessions.fetch_add(1, Ordering::Relaxed);
        Open {
            counter: &self.udp_sessions,
        }
    }

    pub(crate) fn snapshot(&self) -> ServiceStats {
        ServiceStats {
            active_connections: self.active.load(Ordering::Relaxed),
            total_connections: self.total.load(Ordering::Relaxed),
            udp_sessions: self.udp_sessions.load(Ordering::Relaxed),
        }
    }
}

/// One service port as its listeners see it.
#[derive(Debug)]
pub(crate) struct ServiceState {
    pub(crate) name: ServicePortName,
    pub(crate) balancer: Balancer,
    pub(crate) stats: Counters,
}

impl ServiceState {
    pub(crate) fn new(name: ServicePortName, balancer: Balancer) -> Arc<Self> {
        Arc::new(Self {
            name,
            balancer,
            stats: Counters::default(),
        })
    }
}
