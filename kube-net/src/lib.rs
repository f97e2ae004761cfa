//! Service networking for kube-sdk: the kube-proxy loop and its data planes.
//!
//! - [`ServiceProxy`] runs informers on Services and Endpoints, builds the whole desired
//!   [`ServiceTable`](kube_core::ServiceTable) ([`build_table`]) and hands it to a
//!   [`NetworkProxy`](kube_core::NetworkProxy), with bursts of changes coalesced by a
//!   minimum sync interval.
//! - [`UserspaceProxy`]: tokio TCP and UDP forwarding on the services' real addresses
//!   (round robin or ClientIP affinity, failed endpoints skipped, removed endpoints drained).
//! - [`IptablesProxy`]: the rules of kube-proxy's iptables mode, applied atomically with
//!   `iptables-restore --noflush`, rewriting only the chains that changed.
//! - [`NftablesProxy`]: the same rules in one nft table of its own (verdict maps instead
//!   of a rule per address), applied as one `nft -f` transaction of the differences.
//! - [`testing`]: [`RecordingProxy`](testing::RecordingProxy), a data plane that records
//!   what it is told, and builders of Services and Endpoints.
//!
//! ```
//! use kube_core::NetworkProxy;
//! use kube_net::{build_table, testing};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let svc = testing::service("default", "web").cluster_ip("10.96.0.10").port("http", 80).build();
//! let eps = testing::endpoints("default", "web").ready("10.244.1.5", "http", 8080).build();
//! let table = build_table([&svc], |_, _| Some(&eps));
//!
//! let dataplane = testing::RecordingProxy::new();
//! dataplane.sync(&table).await.unwrap();
//! assert_eq!(dataplane.last().unwrap().services.len(), 1);
//! # }
//! ```
//!
//! A node runs one [`ServiceProxy`] on the API server with the data plane of its choice:
//!
//! ```no_run
//! # async fn demo(client: kube_api::client::Client) {
//! use kube_net::{IptablesConfig, IptablesProxy, ServiceProxy};
//!
//! let handle = ServiceProxy::new(client, IptablesProxy::new(IptablesConfig::default())).spawn();
//! handle.wait_for_first_sync().await;
//! # }
//! ```
#![warn(missing_docs)]

mod cidr;
mod command;
pub mod conntrack;
mod error;
mod family;
mod hash;
pub mod iptables;
pub mod nftables;
mod proxy;
mod schedule;
mod table;
pub mod testing;
pub mod userspace;

pub use cidr::{Cidr, CidrError};
pub use error::{Error, Result};
pub use family::Family;
pub use iptables::{IptablesConfig, IptablesProxy};
pub use nftables::{NftablesConfig, NftablesProxy};
pub use proxy::{ServiceProxy, ServiceProxyConfig, ServiceProxyHandle, SyncStatus};
pub use table::{DEFAULT_AFFINITY_TIMEOUT, build_table};
pub use userspace::{UserspaceConfig, UserspaceProxy};
