//! The iptables data plane: the rules kube-proxy's iptables mode writes, for one address
//! family, applied atomically with `iptables-restore --noflush`.
//!
//! Each sync renders the whole table into chains (the layout is below), compares them
//! with what was applied last, and restores only the chains that changed, deleting the chains that are no longer wanted in the same transaction. An
//! identical table costs nothing. The first sync, a sync after a failure, and one sync per
//! [`full_sync_interval`](IptablesConfig::full_sync_interval) rewrite every chain instead,
//! delete stale `KUBE-SVC-`/`KUBE-EXT-`/`KUBE-SEP-` chains found in the kernel (left by an
//! earlier run) and make sure the built-in chains jump to the proxy's.
//!
//! The programs run in the network namespace of the calling thread.
//!
//! # Layout
//!
//! nat table:
//! - `KUBE-SERVICES` (from PREROUTING and OUTPUT): one rule per ClusterIP of each service
//!   port with endpoints, to its `KUBE-SVC-` chain; one per external and load-balancer IP,
//!   to its `KUBE-EXT-` chain; last, local destinations go to `KUBE-NODEPORTS`.
//! - `KUBE-NODEPORTS`: one rule per node port, to the `KUBE-EXT-` chain.
//! - `KUBE-EXT-…`: marks the traffic for masquerade (it came from outside, the reply must
//!   come back through this node), then `KUBE-SVC-…`.
//! - `KUBE-SVC-…`: marks traffic from outside the cluster CIDR for masquerade, then with
//!   ClientIP affinity sends a client seen recently to its endpoint (`-m recent --rcheck`),
//!   then picks an endpoint: the i-th of n with probability 1/(n-i), the last always.
//! - `KUBE-SEP-…`: marks hairpin traffic (an endpoint reaching itself) for masquerade,
//!   records the client for affinity (`-m recent --set`), and DNATs to the endpoint.
//! - `KUBE-MARK-MASQ` sets the mark bit; `KUBE-POSTROUTING` (from POSTROUTING)
//!   masquerades marked packets and clears the bit.
//!
//! filter table: `KUBE-SERVICES` (from OUTPUT and FORWARD, new connections) and
//! `KUBE-EXTERNAL-SERVICES` (from INPUT and FORWARD) reject traffic to service ports
//! without endpoints, so clients see a refusal rather than a timeout; `KUBE-FORWARD`
//! accepts forwarded service traffic and drops invalid packets.

mod chain;
mod render;
mod restore;
mod runner;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube_core::network::ProxyError;
use kube_core::{NetworkProxy, ServiceTable};
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use render::{RuleTable, Ruleset};
pub use runner::{FakeIptables, Iptables, IptablesCommand};

pub use crate::family::Family;

use crate::cidr::Cidr;
use crate::conntrack::{self, Conntrack, ConntrackCommand};
use crate::error::Result;

/// Settings of an [`IptablesProxy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptablesConfig {
    /// The address family programmed.
    pub family: Family,
    /// The pods' range: traffic to a ClusterIP from outside it is masqueraded (so replies
    /// come back through this node). `None`: only traffic from outside the node
    /// (node ports, external IPs) and hairpin traffic are masqueraded.
    pub cluster_cidr: Option<Cidr>,
    /// Masquerade all traffic to ClusterIPs (kube-proxy's `--masquerade-all`).
    pub masquerade_all: bool,
    /// The bit of the packet mark that asks for masquerade (14, `0x4000`, as kube-proxy).
    pub masquerade_bit: u8,
    /// Masquerade with `--random-fully` (fully randomised source ports, avoiding
    /// conntrack races between nodes).
    pub masquerade_random_fully: bool,
    /// How often every chain is rewritten even when nothing changed, repairing rules
    /// someone else altered.
    pub full_sync_interval: Duration,
}

impl Default for IptablesConfig {
    fn default() -> Self {
        Self {
            family: Family::Ipv4,
            cluster_cidr: None,
            masquerade_all: false,
            masquerade_bit: 14,
            masquerade_random_fully: true,
            full_sync_interval: Duration::from_secs(300),
        }
    }
}

/// The rules the built-in chains need, to reach the proxy's chains: (table, chain, rule).
const JUMPS: [(&str, &str, &[&str]); 8] = [
    (
        "filter",
        "INPUT",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes externally-visible service portals",
            "-j",
            chain::EXTERNAL_SERVICES,
        ],
    ),
    (
        "filter",
        "FORWARD",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes externally-visible service portals",
            "-j",
            chain::EXTERNAL_SERVICES,
        ],
    ),
    (
        "filter",
        "FORWARD",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes forwarding rules",
            "-j",
            chain::FORWARD,
        ],
    ),
    (
        "filter",
        "FORWARD",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            chain::SERVICES,
        ],
    ),
    (
        "filter",
        "OUTPUT",
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            chain::SERVICES,
        ],
    ),
    (
        "nat",
        "PREROUTING",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            chain::SERVICES,
        ],
    ),
    (
        "nat",
        "OUTPUT",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            chain::SERVICES,
        ],
    ),
    (
        "nat",
        "POSTROUTING",
        &[
            "-m",
            "comment",
            "--comment",
            "kubernetes postrouting rules",
            "-j",
            chain::POSTROUTING,
        ],
    ),
];

#[derive(Debug, Default)]
struct State {
    /// The rules the kernel holds, as far as this proxy knows; `None` forces a full sync.
    applied: Option<Ruleset>,
    last_full: Option<Instant>,
    /// The table last applied, to find the UDP flows a change leaves stale.
    table: ServiceTable,
}

/// The iptables data plane; see the [module docs](self). Cheap to clone: clones share one
/// proxy.
#[derive(Clone)]
pub struct IptablesProxy {
    config: Arc<IptablesConfig>,
    iptables: Arc<dyn Iptables>,
    conntrack: Arc<dyn Conntrack>,
    state: Arc<tokio::sync::Mutex<State>>,
}

impl fmt::Debug for IptablesProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IptablesProxy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IptablesProxy {
    /// A proxy running the iptables programs of the configured family.
    pub fn new(config: IptablesConfig) -> Self {
        let iptables = IptablesCommand::new(config.family);
        Self::with_iptables(config, iptables)
    }

    /// A proxy with another [`Iptables`] (a test double). Stale UDP flows are still cleared
    /// with the `conntrack` program: pair a test double with
    /// [`with_conntrack`](Self::with_conntrack).
    pub fn with_iptables(config: IptablesConfig, iptables: impl Iptables) -> Self {
        Self {
            config: Arc::new(config),
            iptables: Arc::new(iptables),
            conntrack: Arc::new(ConntrackCommand::default()),
            state: Arc::default(),
        }
    }

    /// Clears stale UDP flows with another [`Conntrack`] (a test double).
    #[must_use]
    pub fn with_conntrack(mut self, conntrack: impl Conntrack) -> Self {
        self.conntrack = Arc::new(conntrack);
        self
    }

    /// The settings.
    pub fn config(&self) -> &IptablesConfig {
        &self.config
    }

    /// The rules this proxy writes for `table`.
    pub fn render(&self, table: &ServiceTable) -> Ruleset {
        render::render(table, &self.config)
    }

    /// Removes every rule and chain of the proxy (kube-proxy's `--cleanup`): the jumps
    /// from the built-in chains, then the proxy's chains. Later syncs start afresh.
    pub async fn cleanup(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        for (table, chain, rule) in JUMPS {
            self.iptables.delete_rule(table, chain, rule).await?;
        }
        let mut input = String::new();
        for table in ["filter", "nat"] {
            let ours: Vec<String> = self
                .iptables
                .chains(table)
                .await?
                .into_iter()
                .filter(|c| is_ours(c))
                .collect();
            if ours.is_empty() {
                continue;
            }
            input.push_str(&format!("*{table}\n"));
            for c in &ours {
                input.push_str(&format!(":{c} - [0:0]\n"));
            }
            for c in &ours {
                input.push_str(&format!("-X {c}\n"));
            }
            input.push_str("COMMIT\n");
        }
        if !input.is_empty() {
            self.iptables.restore(&input).await?;
        }
        *state = State::default();
        info!("iptables rules removed");
        Ok(())
    }

    async fn stale_chains(&self, wanted: &Ruleset) -> Result<Vec<(&'static str, String)>> {
        let mut stale = Vec::new();
        for (name, table) in wanted.tables() {
            for chain in self.iptables.chains(name).await? {
                let service_chain = chain::SERVICE_PREFIXES.iter().any(|p| chain.starts_with(p));
                if service_chain && !table.has_chain(&chain) {
                    stale.push((name, chain));
                }
            }
        }
        Ok(stale)
    }
}

fn is_ours(chain: &str) -> bool {
    chain::SERVICE_PREFIXES.iter().any(|p| chain.starts_with(p))
        || [
            chain::SERVICES,
            chain::NODE_PORTS,
            chain::POSTROUTING,
            chain::MARK_MASQ,
            chain::EXTERNAL_SERVICES,
            chain::FORWARD,
        ]
        .contains(&chain)
}

#[async_trait]
impl NetworkProxy for IptablesProxy {
    async fn sync(&self, table: &ServiceTable) -> Result<(), ProxyError> {
        let wanted = self.render(table);
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let full = state.applied.is_none()
            || state.last_full.is_none_or(|at| {
                now.saturating_duration_since(at) >= self.config.full_sync_interval
            });
        if !full && state.applied.as_ref() == Some(&wanted) {
            debug!("rules unchanged");
            return Ok(());
        }
        let result = async {
            let stale = if full {
                self.stale_chains(&wanted).await?
            } else {
                Vec::new()
            };
            let stale_refs: Vec<(&str, String)> =
                stale.iter().map(|(t, c)| (*t, c.clone())).collect();
            let before = if full { None } else { state.applied.as_ref() };
            if let Some(input) = restore::restore_input(before, &wanted, &stale_refs) {
                debug!(
                    bytes = input.len(),
                    full,
                    stale = stale.len(),
                    "iptables-restore"
                );
                self.iptables.restore(&input).await?;
            }
            if full {
                for (t, chain, rule) in JUMPS {
                    self.iptables.ensure_rule(t, chain, rule).await?;
                }
            }
            Ok::<_, crate::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                state.applied = Some(wanted);
                if full {
                    state.last_full = Some(now);
                }
                conntrack::clear(&*self.conntrack, &state.table, table, self.config.family).await;
                state.table = table.clone();
                Ok(())
            }
            Err(err) => {
                // What the kernel holds is unknown now: the next sync rewrites everything.
                warn!(error = %err, "applying iptables rules failed");
                state.applied = None;
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests;
