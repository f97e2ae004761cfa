//! Service networking for kube-sdk (kube-proxy).
//!
//! This crate will own `ServiceProxy`, the loop that turns Services and Endpoints into the
//! desired service table and hands it to a [`kube_core::NetworkProxy`], and its data planes:
//! a userspace TCP/UDP proxy, iptables rules as kube-proxy writes them, and nftables.
//!
//! Nothing is implemented here yet: the proxy lands with its own issue.
