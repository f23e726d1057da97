//! The records that name a token's holders — the authority's `a` and each delegation's `d` —
//! with the reader's bounds and errors: what the envelope reader and the block reader share.

use super::names as n;
use super::terms::T;

/// Most symbols one block may add.
pub(crate) const MAX_SYMBOLS: usize = 1024;

/// Longest symbol, in bytes (a URL policy's JSON is the longest the writer emits).
pub(crate) const MAX_SYMBOL_BYTES: usize = 16 * 1024;

/// Why a token was refused while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Not base64url, not a biscuit, or a block is not a biscuit block.
    Malformed,
    /// More blocks than allowed.
    TooManyBlocks,
    /// The authority block's `v` is another version.
    UnsupportedVersion(i64),
    /// The authority block lacks its record, or holds it twice.
    MalformedAuthority,
    /// A third-party block without exactly one delegation record.
    MalformedDelegation(usize),
    /// Something the writer never emits.
    OutsideGrammar { block: usize, what: &'static str },
}

/// The authority record `a(issuer, agent, holder, max depth, issued at)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthorityRecord {
    pub(crate) issuer: String,
    pub(crate) agent: [u8; 16],
    pub(crate) holder: [u8; 32],
    pub(crate) max_depth: u32,
    /// The issue time, Unix seconds: no proof may be dated before it.
    pub(crate) issued_at: u64,
}

/// The delegation record `d(next holder, next agent, cause)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DelegationRecord {
    pub(crate) holder: [u8; 32],
    pub(crate) agent: [u8; 16],
    pub(crate) cause: [u8; 32],
}

pub(crate) fn authority_record(facts: &[(&str, Vec<T<'_>>)]) -> Result<AuthorityRecord, ReadError> {
    let mut records = facts.iter().filter(|(name, _)| *name == n::AUTHORITY);
    let record = match (records.next(), records.next()) {
        (Some((_, terms)), None) => match terms.as_slice() {
            [T::Str(issuer), T::Bytes(agent), T::Bytes(holder), T::Int(depth), T::Date(at)] => {
                Some(AuthorityRecord {
                    issuer: (*issuer).to_owned(),
                    agent: (*agent)
                        .try_into()
                        .ok()
                        .ok_or(ReadError::MalformedAuthority)?,
                    holder: (*holder)
                        .try_into()
                        .ok()
                        .ok_or(ReadError::MalformedAuthority)?,
                    max_depth: u32::try_from(*depth).map_err(|_| ReadError::MalformedAuthority)?,
                    issued_at: *at,
                })
            }
            _ => None,
        },
        _ => None,
    };
    record.ok_or(ReadError::MalformedAuthority)
}

pub(crate) fn delegation_record(facts: &[(&str, Vec<T<'_>>)]) -> Option<DelegationRecord> {
    let mut records = facts.iter().filter(|(name, _)| *name == n::DELEGATION);
    match (records.next(), records.next()) {
        (Some((_, terms)), None) => match terms.as_slice() {
            [T::Bytes(holder), T::Bytes(agent), T::Bytes(cause)] => Some(DelegationRecord {
                holder: (*holder).try_into().ok()?,
                agent: (*agent).try_into().ok()?,
                cause: (*cause).try_into().ok()?,
            }),
            _ => None,
        },
        _ => None,
    }
}
