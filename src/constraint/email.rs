//! Email addresses: an address or domain allowlist over one strict spelling.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::host::{self, HostRef, HostRule};
use crate::url_policy::is_false;

/// The longest address accepted, in bytes (RFC 5321's path limit).
pub(crate) const MAX_EMAIL_LEN: usize = 254;

/// Which email addresses an argument may hold: one of `addresses`, or any address whose domain
/// matches one of `domains` (`example.com`, or `*.example.com` for the domains below it).
///
/// A value is a bare `local@domain` in lowercase ASCII (one spelling, so a carve-out such as
/// `not_one_of(["ceo@example.com"])` on the same argument cannot be passed with
/// `CEO@Example.com`): the local part is a dot-atom (letters, digits and
/// ``#$&'*/=?^_`{|}~-``, dots only between them; not `%` or `!`, which mail servers still
/// route as `user%other.domain@` and `other.domain!user@`), at most 64 bytes; the domain a
/// host name.
/// Display names (`Bob <bob@x.com>`), comments, quoted local parts, IP-literal domains,
/// whitespace and a second `@` are refused. A `+` sub-address (`ceo+x@example.com`, which
/// reaches the same mailbox as `ceo@example.com`) is refused unless `allow_subaddress`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EmailPolicy {
    /// Allowed addresses, exactly.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub addresses: BTreeSet<String>,
    /// Allowed domain patterns.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub domains: BTreeSet<String>,
    /// Whether `+` sub-addresses are allowed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_subaddress: bool,
}

/// The address split into local part and domain, if it is spelled as this policy requires.
fn parts(value: &str) -> Option<(&str, &str)> {
    if value.len() > MAX_EMAIL_LEN {
        return None;
    }
    let (local, domain) = value.split_once('@')?;
    let atext =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"#$&'*+/=?^_`{|}~-".contains(&b);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|a| !a.is_empty() && a.bytes().all(atext));
    let domain_ok = host::is_host_name(domain) && domain.contains('.');
    (local_ok && domain_ok).then_some((local, domain))
}

impl EmailPolicy {
    /// These addresses exactly.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large, or an address is malformed.
    pub fn addresses<A: IntoIterator<Item = S>, S: Into<String>>(
        addresses: A,
    ) -> Result<Self, Error> {
        let p = Self {
            addresses: addresses.into_iter().map(Into::into).collect(),
            domains: BTreeSet::new(),
            allow_subaddress: false,
        };
        p.validate()?;
        Ok(p)
    }

    /// Any address at these domain patterns (`example.com`, `*.example.com`).
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large, or a pattern is malformed.
    pub fn domains<D: IntoIterator<Item = S>, S: Into<String>>(domains: D) -> Result<Self, Error> {
        let p = Self {
            addresses: BTreeSet::new(),
            domains: domains.into_iter().map(Into::into).collect(),
            allow_subaddress: false,
        };
        p.validate()?;
        Ok(p)
    }

    /// The same policy, also allowing these addresses.
    ///
    /// # Errors
    /// As [`EmailPolicy::addresses`].
    pub fn and_addresses<A: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        addresses: A,
    ) -> Result<Self, Error> {
        self.addresses.extend(addresses.into_iter().map(Into::into));
        self.validate()?;
        Ok(self)
    }

    /// The same policy, allowing `+` sub-addresses.
    pub fn allowing_subaddress(mut self) -> Self {
        self.allow_subaddress = true;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let n = self.addresses.len() + self.domains.len();
        if n == 0 || n > super::MAX_SET_LEN {
            return Err(Error::grant(format!(
                "an email constraint needs 1 to {} addresses and domains",
                super::MAX_SET_LEN
            )));
        }
        if let Some(a) = self.addresses.iter().find(|a| parts(a).is_none()) {
            return Err(Error::grant(format!(
                "invalid email address `{a}` (lowercase `local@domain`, no display name)"
            )));
        }
        let domain_ok = |d: &String| {
            d != "*" && host::valid_pattern(d, false) && host::ip_literal(d, false).is_none()
        };
        match self.domains.iter().find(|d| !domain_ok(d)) {
            Some(d) => Err(Error::grant(format!("invalid email domain pattern `{d}`"))),
            None => Ok(()),
        }
    }

    fn rule(&self) -> HostRule<'_> {
        HostRule {
            patterns: &self.domains,
            allow_ip_literals: false,
            // A listed domain is explicit; `*.corp.internal` is what the grant says.
            allow_private: true,
        }
    }

    /// Whether `value` is an allowed address, spelled as required.
    pub fn allows(&self, value: &str) -> bool {
        let Some((local, domain)) = parts(value) else {
            return false;
        };
        if local.contains('+') && !self.allow_subaddress {
            return false;
        }
        self.addresses.contains(value) || self.rule().allows(HostRef::Name(domain))
    }

    pub(crate) fn is_subset_of(&self, parent: &EmailPolicy) -> bool {
        (!self.allow_subaddress || parent.allow_subaddress)
            && self.addresses.iter().all(|a| parent.allows(a))
            && self.rule().is_subset_of(&parent.rule())
    }
}
