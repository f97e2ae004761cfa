//! [`Cidr`]: an IP prefix such as `10.96.0.0/12`, the shape of a service range.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 prefix (`10.96.0.0/12`, `fd00:10:96::/112`). The address is kept with its
/// host bits cleared, so two spellings of one prefix compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {input:?}: {reason}")]
pub struct CidrError {
    input: String,
    reason: &'static str,
}

impl Cidr {
    /// The prefix of `addr` of length `prefix`; `None` when `prefix` is longer than the
    /// address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (prefix <= max).then(|| Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// True for an IPv6 prefix.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// True when `ip` lies in the prefix (an address of the other family never does).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| CidrError {
            input: s.to_owned(),
            reason,
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| err("no '/' prefix length"))?;
        let addr: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| err("bad prefix length"))?;
        Self::new(addr, prefix).ok_or_else(|| err("prefix longer than the address"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_masks_and_contains() {
        let c: Cidr = "10.96.3.4/12".parse().unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert!(c.contains("10.111.255.255".parse().unwrap()));
        assert!(!c.contains("10.112.0.0".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.168.1.1".parse().unwrap()));
        let v6: Cidr = "fd00:10:96::5/112".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00:10:96::/112");
        assert!(v6.contains("fd00:10:96::ffff".parse().unwrap()));
        assert!(v6.is_ipv6());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/8", "10.0.0.0/-1", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
