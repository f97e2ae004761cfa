//! The nftables data plane: the iptables data plane's semantics in one nft table of the
//! proxy's own (`ip kube-net` or `ip6 kube-net`), so it never touches rules it does not
//! own; the layout is below.
//!
//! Each sync renders the whole table, compares it with what was applied last and sends
//! `nft` only the difference (new and changed chains, map elements in and out, removed
//! chains and sets), as one transaction. The first sync and a sync after a failure
//! recreate the table instead, which also clears whatever an earlier run left. An
//! identical table costs nothing.
//!
//! `nft` runs in the network namespace of the calling thread.
//!
//! # Layout
//!
//! - `nat-prerouting` / `nat-output` jump to `services`, which looks the destination up in
//!   the `service-ips` map (ClusterIPs to `service-…` chains, external and load-balancer
//!   IPs to `external-…` chains) and, for local destinations other than loopback, the
//!   port in `service-nodeports`.
//! - `service-…`: masquerade marking for traffic from outside the cluster CIDR, ClientIP
//!   affinity (a dynamic set of recent clients per endpoint, with the timeout), then
//!   `numgen random mod n` to an `endpoint-…` chain.
//! - `endpoint-…`: hairpin masquerade marking, affinity update, DNAT.
//! - `external-…`: masquerade marking, then the service chain.
//! - `filter-*` chains reject new connections to service ports without endpoints
//!   (`no-endpoint-services`, `no-endpoint-nodeports`).
//! - `nat-postrouting` masquerades marked packets.

mod render;
mod runner;
mod script;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use kube_core::network::ProxyError;
use kube_core::{NetworkProxy, ServiceTable};
use tracing::{debug, info, warn};

pub use render::NftRuleset;
pub use runner::{FakeNft, Nft, NftCommand};

use crate::cidr::Cidr;
use crate::conntrack::{self, Conntrack, ConntrackCommand};
use crate::error::Result;
use crate::family::Family;

/// Settings of an [`NftablesProxy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftablesConfig {
    /// The address family programmed.
    pub family: Family,
    /// The name of the proxy's table.
    pub table: String,
    /// The pods' range: traffic to a ClusterIP from outside it is masqueraded.
    pub cluster_cidr: Option<Cidr>,
    /// Masquerade all traffic to ClusterIPs.
    pub masquerade_all: bool,
    /// The bit of the packet mark that asks for masquerade (14, `0x4000`).
    pub masquerade_bit: u8,
    /// Masquerade with fully randomised source ports.
    pub masquerade_random_fully: bool,
}

impl Default for NftablesConfig {
    fn default() -> Self {
        Self {
            family: Family::Ipv4,
            table: "kube-net".into(),
            cluster_cidr: None,
            masquerade_all: false,
            masquerade_bit: 14,
            masquerade_random_fully: true,
        }
    }
}

/// The nftables data plane; see the [module docs](self). Cheap to clone: clones share one
/// proxy.
#[derive(Clone)]
pub struct NftablesProxy {
    config: Arc<NftablesConfig>,
    nft: Arc<dyn Nft>,
    conntrack: Arc<dyn Conntrack>,
    state: Arc<tokio::sync::Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// What the kernel holds, as far as this proxy knows; `None` forces a full sync.
    applied: Option<NftRuleset>,
    /// The table last applied, to find the UDP flows a change leaves stale.
    table: ServiceTable,
}

impl fmt::Debug for NftablesProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NftablesProxy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NftablesProxy {
    /// A proxy running the `nft` program.
    pub fn new(config: NftablesConfig) -> Self {
        Self::with_nft(config, NftCommand::default())
    }

    /// A proxy with another [`Nft`] (a test double). Stale UDP flows are still cleared with
    /// the `conntrack` program: pair a test double with
    /// [`with_conntrack`](Self::with_conntrack).
    pub fn with_nft(config: NftablesConfig, nft: impl Nft) -> Self {
        Self {
            config: Arc::new(config),
            nft: Arc::new(nft),
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
    pub fn config(&self) -> &NftablesConfig {
        &self.config
    }

    fn family(&self) -> &'static str {
        match self.config.family {
            Family::Ipv4 => "ip",
            Family::Ipv6 => "ip6",
        }
    }

    fn prefix(&self) -> String {
        format!("{} {}", self.family(), self.config.table)
    }

    /// What this proxy puts in its table for `table`.
    pub fn render(&self, table: &ServiceTable) -> NftRuleset {
        render::render(table, &self.config)
    }

    /// The script that creates the whole table for `table`.
    pub fn full_script(&self, table: &ServiceTable) -> String {
        script::full(&self.prefix(), &self.render(table))
    }

    /// Deletes the proxy's table. Later syncs start afresh.
    pub async fn cleanup(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        self.nft
            .delete_table(self.family(), &self.config.table)
            .await?;
        *state = State::default();
        info!(table = %self.prefix(), "nftables table removed");
        Ok(())
    }
}

#[async_trait]
impl NetworkProxy for NftablesProxy {
    async fn sync(&self, table: &ServiceTable) -> Result<(), ProxyError> {
        let wanted = self.render(table);
        let mut state = self.state.lock().await;
        let prefix = self.prefix();
        let script = match state.applied.as_ref() {
            None => Some(script::full(&prefix, &wanted)),
            Some(before) => script::incremental(&prefix, before, &wanted),
        };
        let Some(script) = script else {
            debug!("nftables rules unchanged");
            return Ok(());
        };
        debug!(
            bytes = script.len(),
            full = state.applied.is_none(),
            "nft -f"
        );
        match self.nft.apply(&script).await {
            Ok(()) => {
                state.applied = Some(wanted);
                conntrack::clear(&*self.conntrack, &state.table, table, self.config.family).await;
                state.table = table.clone();
                Ok(())
            }
            Err(err) => {
                warn!(error = %err, "applying nftables rules failed");
                state.applied = None;
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests;
