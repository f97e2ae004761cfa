//! [`Family`]: IPv4 or IPv6, each with its own kernel tables.

use std::net::IpAddr;

/// An IP address family: each family has its own tables (`iptables` / `ip6tables`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (`iptables`).
    #[default]
    Ipv4,
    /// IPv6 (`ip6tables`).
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Self::Ipv4 } else { Self::Ipv6 }
    }
}
