//! A bare host (`www.example.com`, `203.0.113.7`): the URL constraint's host rule for values
//! without a scheme.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::host::{self, HostRef, HostRule};
use crate::url_policy::is_false;

/// Which bare hosts an argument may hold (no scheme, port, path or trailing dot).
///
/// Patterns and matching are the URL constraint's: an exact host, `*.domain` (below `domain`,
/// not `domain` itself), or `*` (any host); a wildcard never stands for a punycode label or,
/// unless `allow_private`, a local-only name or a non-public IP literal. The value must be
/// spelled canonically: a lowercase host name, or an IP address as Rust writes it back
/// (`127.0.0.1`, `::1`; never `0x7f.1`, `2130706433`, `127.000.0.1` or `::FFFF:7F00:1`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostPolicy {
    /// Allowed host patterns.
    pub hosts: BTreeSet<String>,
    /// Whether IP literals may match. Defaults to `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_ip_literals: bool,
    /// Whether wildcards may match local-only names and non-public addresses.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private: bool,
}

impl HostPolicy {
    /// A policy for these host patterns, IP literals refused.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty, too large, or holds a malformed pattern.
    pub fn new<H: IntoIterator<Item = S>, S: Into<String>>(hosts: H) -> Result<Self, Error> {
        let p = Self {
            hosts: hosts.into_iter().map(Into::into).collect(),
            allow_ip_literals: false,
            allow_private: false,
        };
        p.validate()?;
        Ok(p)
    }

    /// Any public host: names that are not local-only, and public IP addresses.
    pub fn public() -> Self {
        Self {
            hosts: std::iter::once("*".to_owned()).collect(),
            allow_ip_literals: true,
            allow_private: false,
        }
    }

    /// The same policy, with IP literals allowed (listed exactly, or public through `*`).
    pub fn allowing_ip_literals(mut self) -> Self {
        self.allow_ip_literals = true;
        self
    }

    /// The same policy, with wildcards matching local-only names and non-public addresses.
    pub fn allowing_private(mut self) -> Self {
        self.allow_private = true;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.hosts.is_empty() || self.hosts.len() > super::MAX_SET_LEN {
            return Err(Error::grant(format!(
                "a host constraint needs 1 to {} patterns",
                super::MAX_SET_LEN
            )));
        }
        match self.hosts.iter().find(|h| !host::valid_pattern(h, false)) {
            Some(h) => Err(Error::grant(format!("invalid host pattern `{h}`"))),
            None => Ok(()),
        }
    }

    fn rule(&self) -> HostRule<'_> {
        HostRule {
            patterns: &self.hosts,
            allow_ip_literals: self.allow_ip_literals,
            allow_private: self.allow_private,
        }
    }

    /// Whether `value` is an allowed host, spelled canonically.
    pub fn allows(&self, value: &str) -> bool {
        if let Some(ip) = host::ip_literal(value, false) {
            return self.rule().allows(HostRef::Ip(ip, value));
        }
        host::is_host_name(value) && self.rule().allows(HostRef::Name(value))
    }

    pub(crate) fn is_subset_of(&self, parent: &HostPolicy) -> bool {
        self.rule().is_subset_of(&parent.rule())
    }
}
