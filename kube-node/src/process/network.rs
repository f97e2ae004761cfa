//! Pod networking for [`ProcessRuntime`](super::ProcessRuntime) (root on Linux): a network
//! namespace per pod, a veth pair whose host side joins a node bridge, and an IPv4 address
//! from the node's pod CIDR, with the bridge's address (the CIDR's first) as the default
//! route. Done with iproute2's `ip`, as a CNI bridge plugin would.

use std::net::Ipv4Addr;

use kube_core::RuntimeError;

/// An IPv4 CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Result<Self, RuntimeError> {
        let bad = || RuntimeError::InvalidArgument(format!("invalid IPv4 CIDR {s:?}"));
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Self {
            network: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }

    /// The gateway: the first host address.
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The first address not in `used`, after the gateway and before the broadcast.
    pub(crate) fn allocate(&self, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let size = 1u32 << (32 - self.prefix);
        let base = u32::from(self.network);
        (2..size - 1)
            .map(|i| Ipv4Addr::from(base + i))
            .find(|ip| !used.contains(ip))
    }
}

async fn ip(args: &[&str]) -> Result<(), RuntimeError> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| RuntimeError::other("running ip (iproute2)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Other {
            message: format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            source: None,
        })
    }
}

/// Makes the bridge (if missing) with the gateway address.
pub(crate) async fn ensure_bridge(bridge: &str, cidr: &Cidr) -> Result<(), RuntimeError> {
    if std::path::Path::new("/sys/class/net").join(bridge).exists() {
        return Ok(());
    }
    ip(&["link", "add", bridge, "type", "bridge"]).await?;
    let addr = format!("{}/{}", cidr.gateway(), cidr.prefix);
    ip(&["addr", "add", &addr, "dev", bridge]).await?;
    ip(&["link", "set", bridge, "up"]).await
}

/// Creates the namespace `ns` with `eth0` at `addr`, its peer `veth` on the bridge.
pub(crate) async fn setup(
    ns: &str,
    veth: &str,
    bridge: &str,
    cidr: &Cidr,
    addr: Ipv4Addr,
) -> Result<(), RuntimeError> {
    ip(&["netns", "add", ns]).await?;
    let peer = format!("{veth}p");
    let result = async {
        ip(&[
            "link", "add", veth, "type", "veth", "peer", "name", &peer, "netns", ns,
        ])
        .await?;
        ip(&["link", "set", veth, "master", bridge, "up"]).await?;
        ip(&["-n", ns, "link", "set", &peer, "name", "eth0"]).await?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/{}", cidr.prefix),
            "dev",
            "eth0",
        ])
        .await?;
        ip(&["-n", ns, "link", "set", "eth0", "up"]).await?;
        ip(&["-n", ns, "link", "set", "lo", "up"]).await?;
        ip(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &cidr.gateway().to_string(),
        ])
        .await
    }
    .await;
    if result.is_err() {
        let _ = teardown(ns).await;
    }
    result
}

/// Deletes the namespace (its veth goes with it). Idempotent.
pub(crate) async fn teardown(ns: &str) -> Result<(), RuntimeError> {
    if !std::path::Path::new("/run/netns").join(ns).exists() {
        return Ok(());
    }
    ip(&["netns", "del", ns]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_allocate_after_the_gateway() {
        let c = Cidr::parse("10.244.3.7/24").unwrap();
        assert_eq!(c.network, Ipv4Addr::new(10, 244, 3, 0));
        assert_eq!(c.gateway(), Ipv4Addr::new(10, 244, 3, 1));
        assert_eq!(c.allocate(&[]), Some(Ipv4Addr::new(10, 244, 3, 2)));
        assert_eq!(
            c.allocate(&[Ipv4Addr::new(10, 244, 3, 2)]),
            Some(Ipv4Addr::new(10, 244, 3, 3))
        );
        let tiny = Cidr::parse("10.0.0.0/30").unwrap();
        assert_eq!(tiny.allocate(&[Ipv4Addr::new(10, 0, 0, 2)]), None);
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("fd00::/64").is_err());
    }
}
