//! The URL rule: allowed schemes and hosts, with the usual confusions closed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::error::Error;
use crate::host::{self, HostRef, HostRule};

/// The longest URL accepted, in bytes.
pub(crate) const MAX_URL_LEN: usize = 2048;

/// Which URLs an argument may hold: a scheme set and a host set.
///
/// A host pattern is an exact lowercase host (`api.example.com`), a suffix pattern
/// (`*.example.com`, which matches subdomains but not `example.com` itself) or `*` (any
/// host). A wildcard never matches a local-only name (`localhost`, a single label,
/// `.local`, `.internal`, ...) or — through `*` — a private, loopback, link-local,
/// unique-local or cloud-metadata IP literal unless `allow_private`: `*` with IP literals
/// allowed is an SSRF guard for a fetch tool (lexical: check the address a name resolves to
/// with [`is_public_ip`](crate::is_public_ip) before connecting). Always rejected:
/// user info (`https://good.com@evil.com`), backslashes, whitespace and control characters,
/// explicit ports, trailing dots, IP literals unless `allow_ip_literals` (then the literal must
/// be listed as a host, IPv6 in brackets), punycode (`xn--`) labels matched only by a wildcard,
/// and **any spelling but the canonical one**: the URL must be exactly what the WHATWG parser
/// writes back (lowercase scheme and host, no default port, no `.` or `..` segment, a path of at
/// least `/`: `https://api.example.com/`, not `https://api.example.com`) with no empty path
/// segment (`//`), so other constraints on the same argument see the one spelling requested.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UrlPolicy {
    /// Allowed schemes, lowercase (e.g. `https`).
    pub schemes: BTreeSet<String>,
    /// Allowed host patterns.
    pub hosts: BTreeSet<String>,
    /// Whether IP-literal hosts may match. Defaults to `false`.
    #[serde(default)]
    pub allow_ip_literals: bool,
    /// Whether wildcards may match local-only names and non-public IP literals. Defaults to
    /// `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private: bool,
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

impl UrlPolicy {
    /// A policy for the given schemes and host patterns, IP literals refused.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when a set is empty or a scheme or host pattern is malformed.
    pub fn new<S, H>(schemes: S, hosts: H) -> Result<Self, Error>
    where
        S: IntoIterator,
        S::Item: Into<String>,
        H: IntoIterator,
        H::Item: Into<String>,
    {
        let policy = Self {
            schemes: schemes.into_iter().map(Into::into).collect(),
            hosts: hosts.into_iter().map(Into::into).collect(),
            allow_ip_literals: false,
            allow_private: false,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// The same policy, with IP literals allowed when listed as hosts (or, through `*`, when
    /// public).
    pub fn allowing_ip_literals(mut self) -> Self {
        self.allow_ip_literals = true;
        self
    }

    /// The same policy, with wildcards also matching local-only names and non-public
    /// addresses (turns the SSRF guard off).
    pub fn allowing_private(mut self) -> Self {
        self.allow_private = true;
        self
    }

    /// Any public `https` or `http` URL: hosts `*`, public IP literals allowed, private,
    /// loopback, link-local, unique-local and metadata addresses and local-only names refused.
    pub fn public_web() -> Self {
        Self {
            schemes: ["http", "https"].into_iter().map(String::from).collect(),
            hosts: std::iter::once("*".to_owned()).collect(),
            allow_ip_literals: true,
            allow_private: false,
        }
    }

    fn rule(&self) -> HostRule<'_> {
        HostRule {
            patterns: &self.hosts,
            allow_ip_literals: self.allow_ip_literals,
            allow_private: self.allow_private,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.schemes.is_empty() || self.hosts.is_empty() {
            return Err(Error::grant(
                "a url constraint needs at least one scheme and one host",
            ));
        }
        for s in &self.schemes {
            let ok = !s.is_empty()
                && s.len() <= 32
                && s.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '+' || c == '-' || c == '.'
                });
            if !ok {
                return Err(Error::grant(format!("invalid url scheme `{s}`")));
            }
        }
        if self.hosts.len() > crate::constraint::MAX_SET_LEN {
            return Err(Error::grant("a url constraint lists too many hosts"));
        }
        for h in &self.hosts {
            if !host::valid_pattern(h, true) {
                return Err(Error::grant(format!("invalid url host pattern `{h}`")));
            }
        }
        Ok(())
    }

    /// Whether `candidate` is allowed by this policy.
    pub fn allows(&self, candidate: &str) -> bool {
        if candidate.len() > MAX_URL_LEN
            || candidate
                .chars()
                .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
        {
            return false;
        }
        let Ok(url) = Url::parse(candidate) else {
            return false;
        };
        // One spelling only: the URL as the parser writes it back (lowercase scheme and host,
        // no default port, dot segments resolved, a path of at least `/`) and no empty path
        // segment. Other constraints on the argument compare the raw string, so a second
        // spelling of an excluded URL would slip past them.
        if url.as_str() != candidate || url.path().contains("//") {
            return false;
        }
        if !self.schemes.contains(url.scheme()) {
            return false;
        }
        if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
            return false;
        }
        let host = match (url.host(), url.host_str()) {
            // A non-special scheme (`ssh:`, `redis:`) keeps its host opaque: one that spells an
            // IP address is judged as that address, anything else must be a canonical name.
            (Some(Host::Domain(domain)), _) => match host::ip_literal(domain, true) {
                Some(ip) => HostRef::Ip(ip, domain),
                None => HostRef::Name(domain),
            },
            (Some(Host::Ipv4(ip)), Some(text)) => HostRef::Ip(ip.into(), text),
            (Some(Host::Ipv6(ip)), Some(text)) => HostRef::Ip(ip.into(), text),
            _ => return false,
        };
        self.rule().allows(host)
    }

    /// Whether every URL this policy allows is allowed by `parent` (conservative).
    pub(crate) fn is_subset_of(&self, parent: &UrlPolicy) -> bool {
        self.schemes.is_subset(&parent.schemes) && self.rule().is_subset_of(&parent.rule())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn url_table() {
        let p = UrlPolicy::new(["https"], ["api.example.com", "*.docs.example.com"]).unwrap();
        let rows: &[(&str, bool)] = &[
            ("https://api.example.com/v1?q=1", true),
            ("https://a.docs.example.com/x", true),
            ("https://docs.example.com/x", false),
            ("http://api.example.com/", false),
            ("https://api.example.com@evil.com/", false),
            ("https://user:pw@api.example.com/", false),
            ("https://evil.com#@api.example.com", false),
            ("https://api.example.com.evil.com/", false),
            ("https://api.example.com:8443/", false),
            // One spelling only: the parser's own (no default port, lowercase host, a path).
            ("https://api.example.com/", true),
            ("https://api.example.com:443/", false),
            ("https://API.EXAMPLE.COM/", false),
            ("HTTPS://api.example.com/", false),
            ("https://api.example.com", false),
            ("https://api.example.com/a/./b", false),
            ("https://api.example.com/a/../b", false),
            ("https://api.example.com//b", false),
            ("https://api.example.com./", false),
            ("https:\\\\api.example.com\\", false),
            ("https://127.0.0.1/", false),
            ("https://xn--80ak6aa92e.docs.example.com/", false),
            (" https://api.example.com/", false),
            ("not a url", false),
        ];
        for (u, want) in rows {
            assert_eq!(p.allows(u), *want, "{u}");
        }
        let ip = UrlPolicy::new(["http"], ["127.0.0.1"])
            .unwrap()
            .allowing_ip_literals();
        assert!(ip.allows("http://127.0.0.1/x"));
        assert!(
            !ip.allows("http://0x7f.0.0.1/x"),
            "the parser reads hex as 127.0.0.1: a second spelling, refused"
        );
        assert!(!ip.allows("http://10.0.0.1/x"));
    }

    #[test]
    fn url_bounds_and_credentials() {
        let p = UrlPolicy::new(["https"], ["a.example.com"]).unwrap();
        let base = "https://a.example.com/";
        let at_limit = format!("{base}{}", "x".repeat(MAX_URL_LEN - base.len()));
        assert!(p.allows(&at_limit), "exactly MAX_URL_LEN bytes");
        assert!(!p.allows(&format!("{at_limit}x")), "one byte over");
        assert!(
            !p.allows("https://:pw@a.example.com/"),
            "password without user"
        );
        assert!(
            !p.allows("https://u@a.example.com/"),
            "user without password"
        );
        assert!(!p.allows("https://a.example.com:444/"), "port alone");
    }

    #[test]
    fn url_policy_validation_table() {
        let ok =
            |s: &[&str], h: &[&str]| UrlPolicy::new(s.iter().copied(), h.iter().copied()).is_ok();
        assert!(ok(&["https"], &["api.example.com"]));
        assert!(ok(
            &["git+ssh", "web-x.y"],
            &["*.example.com", "[::1]", "127.0.0.1", "a-b.c0m"]
        ));
        assert!(!ok(&[], &["api.example.com"]), "no scheme");
        assert!(!ok(&["https"], &[]), "no host");
        assert!(!ok(&["HTTPS"], &["a.com"]), "uppercase scheme");
        assert!(!ok(&["ht tp"], &["a.com"]), "space in scheme");
        assert!(!ok(&[""], &["a.com"]), "empty scheme");
        assert!(!ok(&[&"s".repeat(33)], &["a.com"]), "long scheme");
        assert!(ok(&[&"s".repeat(32)], &["a.com"]), "32-byte scheme");
        assert!(!ok(&["https"], &["Example.com"]), "uppercase host");
        assert!(!ok(&["https"], &["a*b.com"]), "wildcard inside");
        assert!(!ok(&["https"], &["*.*.com"]), "two wildcards");
        assert!(!ok(&["https"], &[".example.com"]), "leading dot");
        assert!(!ok(&["https"], &["example.com."]), "trailing dot");
        assert!(!ok(&["https"], &[""]), "empty host");
        assert!(!ok(&["https"], &["*."]), "bare wildcard");
        assert!(!ok(&["https"], &["a_b.com"]), "underscore");
        let long = |last: usize| format!("{0}.{0}.{0}.{1}.com", "a".repeat(63), "b".repeat(last));
        assert!(!ok(&["https"], &[&long(58)]), "over 253 bytes");
        assert!(ok(&["https"], &[&long(57)]), "253 bytes");
        assert!(!ok(&["https"], &[&"a".repeat(64)]), "a label over 63 bytes");
        assert!(ok(&["https"], &["*"]), "any host");
        assert!(!ok(&["https"], &["1.2.3"]), "a number where a name goes");
    }
}
