//! IP addresses inside listed networks.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::host::{self, is_public_ip};
use crate::url_policy::is_false;

/// Which IP addresses an argument may hold: inside one of `networks` (CIDR, `10.0.0.0/8`,
/// `2001:db8::/32`, or one address), spelled canonically (as Rust writes the address back:
/// no leading zeros, hex or octal, lowercase shortest IPv6). An IPv6 address that carries an
/// IPv4 address (mapped `::ffff:10.0.0.1`, compatible `::a00:1`, NAT64 `64:ff9b::a00:1`, 6to4
/// `2002:a00:1::`) is matched as that IPv4 address. With `public_only`, an
/// address that is not public (see [`is_public_ip`](crate::is_public_ip)) is refused even
/// inside a listed network.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IpPolicy {
    /// Allowed networks, in CIDR notation.
    pub networks: BTreeSet<String>,
    /// Whether only public addresses are allowed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public_only: bool,
}

fn network(s: &str) -> Option<IpNetwork> {
    let n: IpNetwork = s.parse().ok()?;
    // One spelling of each network: the address part canonical, the host bits zero.
    let (addr, len) = s.split_once('/').unwrap_or((s, ""));
    let canonical = host::ip_literal(addr, false).is_some()
        && n.network() == n.ip()
        && (len.is_empty() || len == n.prefix().to_string());
    canonical.then_some(n)
}

/// An IPv6 address that carries an IPv4 address (mapped, compatible, NAT64, 6to4) is that IPv4
/// address: a network translates it there, so a carve-out of the IPv4 network must catch it.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => host::embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl IpPolicy {
    /// Addresses inside these networks.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty, too large, or holds a malformed network.
    pub fn new<N: IntoIterator<Item = S>, S: Into<String>>(networks: N) -> Result<Self, Error> {
        let p = Self {
            networks: networks.into_iter().map(Into::into).collect(),
            public_only: false,
        };
        p.validate()?;
        Ok(p)
    }

    /// Any public address (IPv4 or IPv6).
    pub fn public() -> Self {
        Self {
            networks: ["0.0.0.0/0", "::/0"]
                .into_iter()
                .map(String::from)
                .collect(),
            public_only: true,
        }
    }

    /// The same policy, refusing addresses that are not public.
    pub fn public_only(mut self) -> Self {
        self.public_only = true;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.networks.is_empty() || self.networks.len() > super::MAX_SET_LEN {
            return Err(Error::grant(format!(
                "an ip constraint needs 1 to {} networks",
                super::MAX_SET_LEN
            )));
        }
        match self.networks.iter().find(|n| network(n).is_none()) {
            Some(n) => Err(Error::grant(format!(
                "invalid network `{n}` (CIDR with canonical address and zero host bits)"
            ))),
            None => Ok(()),
        }
    }

    fn parsed(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        self.networks.iter().filter_map(|n| network(n))
    }

    /// Whether `value` is an allowed address, spelled canonically.
    pub fn allows(&self, value: &str) -> bool {
        let Some(ip) = host::ip_literal(value, false) else {
            return false;
        };
        let ip = unmapped(ip);
        (!self.public_only || is_public_ip(ip)) && self.parsed().any(|n| n.contains(ip))
    }

    pub(crate) fn is_subset_of(&self, parent: &IpPolicy) -> bool {
        (self.public_only || !parent.public_only)
            && self.parsed().all(|child| {
                parent.parsed().any(|p| {
                    p.is_ipv4() == child.is_ipv4()
                        && p.prefix() <= child.prefix()
                        && p.contains(child.network())
                })
            })
    }
}
