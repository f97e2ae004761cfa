//! [`LocalRoutes`]: making the service range local, so that the userspace proxy can bind
//! ClusterIPs that no interface carries. The reference implementation runs
//! `ip route replace local <cidr> dev lo table <table>` (iproute2); [`FakeLocalRoutes`]
//! records the calls and can play an unprivileged process.
//!
//! Routes are added in the network namespace of the thread that calls (a child process
//! inherits it), so a test that drives the proxy from a thread inside a namespace it
//! created changes only that namespace.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::cidr::Cidr;
use crate::command;
use crate::error::{Error, Result};

/// Makes address ranges local (delivered to this host's sockets) and takes them back.
#[async_trait]
pub trait LocalRoutes: Send + Sync + 'static {
    /// Makes every address of `cidr` local. Adding a route that exists is not an error.
    async fn add(&self, cidr: Cidr) -> Result<()>;
    /// Removes what [`add`](Self::add) did. Removing a route that is gone is not an error.
    async fn remove(&self, cidr: Cidr) -> Result<()>;
}

/// [`LocalRoutes`] with iproute2: `local` routes on a device (`lo`) in a routing table
/// (`local`, the one the kernel consults first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpRoute {
    /// The `ip` program.
    pub program: String,
    /// The routing table the routes go in.
    pub table: String,
    /// The device the routes point at.
    pub device: String,
}

impl Default for IpRoute {
    fn default() -> Self {
        Self {
            program: "ip".into(),
            table: "local".into(),
            device: "lo".into(),
        }
    }
}

impl IpRoute {
    async fn ip(&self, verb: &str, cidr: Cidr) -> Result<()> {
        let c = cidr.to_string();
        let family = if cidr.is_ipv6() { "-6" } else { "-4" };
        let args = [
            family,
            "route",
            verb,
            "local",
            &c,
            "dev",
            &self.device,
            "table",
            &self.table,
        ];
        command::run(&self.program, &args, None).await.map(drop)
    }
}

#[async_trait]
impl LocalRoutes for IpRoute {
    async fn add(&self, cidr: Cidr) -> Result<()> {
        self.ip("replace", cidr).await
    }

    async fn remove(&self, cidr: Cidr) -> Result<()> {
        match self.ip("del", cidr).await {
            // "RTNETLINK answers: No such process": the route is not there.
            Err(Error::Command { stderr, .. }) if stderr.contains("No such process") => Ok(()),
            other => other,
        }
    }
}

/// A [`LocalRoutes`] test double: remembers the routes, and can refuse as an
/// unprivileged process would.
#[derive(Clone, Default)]
pub struct FakeLocalRoutes {
    routes: Arc<Mutex<BTreeSet<Cidr>>>,
    deny: Arc<Mutex<bool>>,
}

impl fmt::Debug for FakeLocalRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeLocalRoutes")
            .field("routes", &*self.routes.lock())
            .finish_non_exhaustive()
    }
}

impl FakeLocalRoutes {
    /// Routes that are added as asked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes that are refused with a permission error, as for a process without
    /// CAP_NET_ADMIN.
    pub fn unprivileged() -> Self {
        let fake = Self::default();
        *fake.deny.lock() = true;
        fake
    }

    /// The routes in place now.
    pub fn routes(&self) -> Vec<Cidr> {
        self.routes.lock().iter().copied().collect()
    }
}

#[async_trait]
impl LocalRoutes for FakeLocalRoutes {
    async fn add(&self, cidr: Cidr) -> Result<()> {
        if *self.deny.lock() {
            return Err(Error::PermissionDenied {
                command: format!("ip route replace local {cidr} dev lo table local"),
                stderr: "RTNETLINK answers: Operation not permitted".into(),
            });
        }
        self.routes.lock().insert(cidr);
        Ok(())
    }

    async fn remove(&self, cidr: Cidr) -> Result<()> {
        self.routes.lock().remove(&cidr);
        Ok(())
    }
}
