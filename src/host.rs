//! Hosts: the host-pattern rule shared by URL, host and email constraints, and the address
//! ranges an SSRF guard refuses.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

/// The longest host name, in bytes (RFC 1035).
pub(crate) const MAX_HOST_LEN: usize = 253;

/// A host as a value names it: a domain name, or an IP literal with the text that lists it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HostRef<'a> {
    Name(&'a str),
    Ip(IpAddr, &'a str),
}

/// The rule over one set of host patterns.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostRule<'a> {
    pub(crate) patterns: &'a BTreeSet<String>,
    pub(crate) allow_ip_literals: bool,
    pub(crate) allow_private: bool,
}

/// Whether `ip` is a public unicast address: not unspecified, loopback, private (RFC 1918),
/// shared (100.64/10), link-local (including the 169.254.169.254 cloud-metadata address),
/// unique-local (fc00::/7, including AWS's fd00:ec2::254), site-local (fec0::/10), multicast,
/// reserved, benchmarking or documentation space (`2001:db8::/32`, `3fff::/20`), or the
/// local-use NAT64 prefix `64:ff9b:1::/48`. IPv4 addresses embedded in IPv6 (mapped `::ffff:a.b.c.d`,
/// compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged as the IPv4
/// address they carry; Teredo and the other IETF assignments in `2001::/23` are refused.
///
/// Use it after resolving a host name and before connecting: a grant's host constraint is
/// lexical, and a public name may resolve to a private address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                public_v4(Ipv4Addr::new(a, b, c, d))
            };
            match s {
                // Mapped and compatible (`::1` and `::` are 0.0.0.1 and 0.0.0.0: refused).
                [0, 0, 0, 0, 0, 0 | 0xffff, hi, lo] => embedded(hi, lo),
                [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
                [0x2002, hi, lo, ..] => embedded(hi, lo),
                [first, second, ..] => {
                    let unique_local = first & 0xfe00 == 0xfc00;
                    let link_local = first & 0xffc0 == 0xfe80;
                    let multicast = first & 0xff00 == 0xff00;
                    let ietf = first == 0x2001 && second < 0x0200;
                    let documentation = first == 0x2001 && second == 0x0db8;
                    let discard = first == 0x0100 && s[1..4] == [0, 0, 0];
                    // 0000::/8 is reserved (the local-use NAT64 prefix 64:ff9b:1::/48 lies in
                    // it; the well-known 64:ff9b::/96 is judged above by what it embeds).
                    let reserved = first < 0x0100;
                    let site_local = first & 0xffc0 == 0xfec0;
                    let documentation_3fff = first == 0x3fff && second < 0x1000;
                    !(unique_local
                        || site_local
                        || documentation_3fff
                        || link_local
                        || multicast
                        || ietf
                        || documentation
                        || discard
                        || reserved)
                }
            }
        }
    }
}

/// The IPv4 address an IPv6 address carries in one of the embeddings a network can route to it
/// (mapped, compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), if any.
pub(crate) fn embedded_v4(ip: std::net::Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match ip.segments() {
        [0, 0, 0, 0, 0, 0 | 0xffff, hi, lo] if !(hi == 0 && lo <= 1) => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0
        || a == 10
        || a == 127
        || (a == 100 && b & 0xc0 == 64)
        || (a == 169 && b == 254)
        || (a == 172 && b & 0xf0 == 16)
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && b & 0xfe == 18)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224;
    !refused
}

/// Names that only ever resolve on the local machine or network: `localhost`, single-label
/// names, the special-use suffixes `.localhost`, `.local`, `.internal` (which holds
/// `metadata.google.internal`), `.home.arpa`, `.lan`, and the `/etc/hosts` loopback names
/// `localhost.localdomain` (and `4`/`6` forms).
pub(crate) fn is_local_name(name: &str) -> bool {
    const SUFFIXES: [&str; 8] = [
        "localhost",
        "local",
        "internal",
        "home.arpa",
        "lan",
        "localdomain",
        "localdomain4",
        "localdomain6",
    ];
    !name.contains('.')
        || SUFFIXES
            .iter()
            .any(|s| name == *s || name.strip_suffix(s).is_some_and(|h| h.ends_with('.')))
}

/// A canonical host name: lowercase ASCII labels of letters, digits and inner hyphens, 1 to 63
/// bytes each, at most 253 bytes in all, no trailing dot, and a last label that is not a
/// number (`0x7f`, `127`: the URL parser reads such a name as an IPv4 address).
pub(crate) fn is_host_name(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_HOST_LEN {
        return false;
    }
    let labels_ok = s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let last = s.rsplit('.').next().unwrap_or_default();
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last.bytes().skip(2).all(|b| b.is_ascii_hexdigit()));
    labels_ok && !numeric
}

/// Whether `p` is a well-formed pattern: `*`, `*.name`, a name, or (for URLs, in brackets) an
/// IP literal in its canonical text.
pub(crate) fn valid_pattern(p: &str, bracketed_v6: bool) -> bool {
    if p == "*" {
        return true;
    }
    if let Some(name) = p.strip_prefix("*.") {
        return is_host_name(name);
    }
    is_host_name(p) || ip_literal(p, bracketed_v6).is_some()
}

/// The address an IP-literal pattern or value spells, if it spells one canonically (the text
/// Rust writes back: no leading zeros, no hex or octal, lowercase IPv6, shortest form).
pub(crate) fn ip_literal(s: &str, bracketed_v6: bool) -> Option<IpAddr> {
    let inner = if bracketed_v6 {
        match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(v6) => v6,
            None if s.contains(':') => return None,
            None => s,
        }
    } else {
        s
    };
    let ip: IpAddr = inner.parse().ok()?;
    let v6_in_brackets = matches!(ip, IpAddr::V6(_)) == (inner.len() != s.len());
    (ip.to_string() == inner && (!bracketed_v6 || v6_in_brackets)).then_some(ip)
}

fn wildcard_covers(name: &str) -> bool {
    !name.split('.').any(|label| label.starts_with("xn--"))
}

impl HostRule<'_> {
    /// Whether the rule allows `host`.
    ///
    /// A host listed exactly is allowed as listed. A wildcard (`*` for any name, `*.domain`
    /// for names below `domain`) never stands for a punycode (`xn--`) label, nor — unless
    /// `allow_private` — for a local-only name. IP literals are refused unless
    /// `allow_ip_literals`; then one matches when listed exactly, or through `*` when it is a
    /// public address (or `allow_private`).
    pub(crate) fn allows(&self, host: HostRef<'_>) -> bool {
        match host {
            HostRef::Name(name) => {
                // Only a canonical name: not `*` itself, no uppercase, no number where a name
                // goes (an opaque host of a non-special URL scheme is not normalised).
                if !is_host_name(name) {
                    return false;
                }
                if self.patterns.contains(name) {
                    return true;
                }
                let private_ok = self.allow_private || !is_local_name(name);
                self.patterns.iter().any(|pattern| {
                    if pattern == "*" {
                        return private_ok && wildcard_covers(name);
                    }
                    let Some(suffix) = pattern.strip_prefix("*.") else {
                        return false;
                    };
                    name.strip_suffix(suffix)
                        .and_then(|h| h.strip_suffix('.'))
                        .is_some_and(|head| !head.is_empty() && wildcard_covers(head) && private_ok)
                })
            }
            HostRef::Ip(ip, text) => {
                self.allow_ip_literals
                    && (self.patterns.contains(text)
                        || (self.patterns.contains("*")
                            && (self.allow_private || is_public_ip(ip))))
            }
        }
    }

    /// Whether every host this rule allows, the rule `parent` allows (conservative).
    pub(crate) fn is_subset_of(&self, parent: &HostRule<'_>) -> bool {
        if (self.allow_ip_literals && !parent.allow_ip_literals)
            || (self.allow_private && !parent.allow_private)
        {
            return false;
        }
        self.patterns.iter().all(|p| {
            if parent.patterns.contains(p) {
                return true;
            }
            if p == "*" {
                return false;
            }
            let bare = p.strip_prefix("*.").unwrap_or(p);
            if let Some(ip) = ip_literal(bare, true).or_else(|| ip_literal(bare, false)) {
                // A listed literal is reachable through the parent's `*` only when public.
                return parent.allow_ip_literals
                    && parent.patterns.contains("*")
                    && (parent.allow_private || is_public_ip(ip));
            }
            let private_ok = parent.allow_private || !is_local_name(bare);
            parent.patterns.iter().any(|q| {
                if q == "*" {
                    return private_ok && wildcard_covers(bare);
                }
                q.strip_prefix("*.").is_some_and(|suffix| {
                    // `*.a.b` ⊆ `*.b` and `x.b` ⊆ `*.b` (a name below a local-only name is
                    // local-only too, so judging `bare` judges every name it stands for).
                    bare.strip_suffix(suffix)
                        .and_then(|head| head.strip_suffix('.'))
                        .is_some_and(|head| !head.is_empty() && wildcard_covers(head))
                        && private_ok
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn public_addresses_table() {
        let rows: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("100.100.100.200", false),
            ("192.0.0.192", false),
            ("0.0.0.0", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("198.18.0.1", false),
            ("2606:4700::1111", true),
            ("::1", false),
            ("::", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("2002:7f00:1::", false),
            ("fd00:ec2::254", false),
            ("fe80::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("2001::1", false),
            // Found by review: site-local, local-use NAT64, the 3fff::/20 documentation range.
            ("fec0::1", false),
            ("64:ff9b:1::a9fe:a9fe", false),
            ("3fff::1", false),
            ("3ffe::1", true),
            // The edges of 2001::/23 (IETF assignments, Teredo).
            ("2001:1ff::1", false),
            ("2001:200::1", true),
            // Each rule alone (found by mutation testing).
            ("2606:db8::1", true),
            ("2606::1", true),
            ("100::1", false),
            ("100:1::1", true),
            ("2606:ff9b::1", true),
            ("0:1::1", false),
            ("ff::1", false),
            ("3fff:fff::1", false),
            ("3fff:1000::1", true),
            ("fe80::1:2", false),
            ("fec0::1:2", false),
            // Each IPv4 rule, inside and just outside.
            ("0.1.2.3", false),
            ("1.0.0.0", true),
            ("10.255.255.255", false),
            ("11.0.0.0", true),
            ("126.255.255.255", true),
            ("127.255.255.255", false),
            ("100.63.255.255", true),
            ("100.64.0.0", false),
            ("100.127.255.255", false),
            ("100.128.0.0", true),
            ("169.253.255.255", true),
            ("169.254.0.1", false),
            ("169.255.0.1", true),
            ("172.15.255.255", true),
            ("172.31.255.255", false),
            ("192.167.255.255", true),
            ("192.168.255.255", false),
            ("192.169.0.0", true),
            ("192.0.0.1", false),
            ("192.0.1.1", true),
            ("192.0.2.1", false),
            ("192.1.0.1", true),
            ("198.17.255.255", true),
            ("198.19.255.255", false),
            ("198.20.0.0", true),
            ("198.51.100.1", false),
            ("198.51.101.1", true),
            ("203.0.113.1", false),
            ("203.0.114.1", true),
            ("223.255.255.255", true),
        ];
        for (ip, public) in rows {
            assert_eq!(is_public_ip(ip.parse().unwrap()), *public, "{ip}");
        }
    }

    #[test]
    fn names_and_literals() {
        assert!(is_host_name("www.example.com"));
        assert!(is_host_name("a-b.c0m"));
        for bad in [
            "",
            "Example.com",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a.com.",
            "1.2.3.4",
            "a.0x7f",
            "a b.com",
        ] {
            assert!(!is_host_name(bad), "{bad}");
        }
        assert!(ip_literal("127.0.0.1", false).is_some());
        assert!(ip_literal("::1", false).is_some());
        assert!(ip_literal("[::1]", true).is_some());
        assert!(
            ip_literal("::1", true).is_none(),
            "a URL host writes IPv6 in brackets"
        );
        for bad in [
            "127.000.0.1",
            "0x7f.0.0.1",
            "2130706433",
            "::FFFF:1.2.3.4",
            "0:0::1",
        ] {
            assert!(ip_literal(bad, false).is_none(), "{bad}");
        }
        for local in [
            "localhost",
            "a.localhost",
            "printer.local",
            "metadata.google.internal",
            "intranet",
            "nas.home.arpa",
            "localhost.localdomain",
            "localhost6.localdomain6",
        ] {
            assert!(is_local_name(local), "{local}");
        }
        assert!(!is_local_name("example.com"));
        assert!(!is_local_name("notlocal.com"));
    }
}
