//! The terms of a block as the grammar sees them: symbols resolved (biscuit's default table,
//! then the block's own or the token's shared table), and typed.

use std::collections::BTreeSet;

use biscuit_auth::format::schema;

/// Biscuit's default symbols (part of the format: indices below 1024 refer to them).
pub(crate) const DEFAULT_SYMBOLS: [&str; 28] = [
    "read",
    "write",
    "resource",
    "operation",
    "right",
    "time",
    "role",
    "owner",
    "tenant",
    "namespace",
    "user",
    "team",
    "service",
    "admin",
    "email",
    "group",
    "member",
    "ip_address",
    "client",
    "client_ip",
    "domain",
    "path",
    "version",
    "cluster",
    "node",
    "hostname",
    "nonce",
    "query",
];

pub(crate) const SYMBOL_OFFSET: u64 = 1024;

pub(crate) struct Symbols<'a> {
    pub(crate) table: &'a [&'a str],
}

impl<'a> Symbols<'a> {
    pub(crate) fn get(&self, index: u64) -> Option<&'a str> {
        if index < SYMBOL_OFFSET {
            DEFAULT_SYMBOLS.get(usize::try_from(index).ok()?).copied()
        } else {
            self.table
                .get(usize::try_from(index - SYMBOL_OFFSET).ok()?)
                .copied()
        }
    }
}

/// A term as the grammar sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum T<'a> {
    Var(&'a str),
    Int(i64),
    Str(&'a str),
    Date(u64),
    Bytes(&'a [u8]),
    Bool(bool),
    Set(Vec<T<'a>>),
}

pub(crate) fn term<'a>(t: &'a schema::Term, sym: &Symbols<'a>, in_set: bool) -> Option<T<'a>> {
    use schema::term::Content;
    Some(match t.content.as_ref()? {
        Content::Variable(i) if !in_set => T::Var(sym.get(u64::from(*i))?),
        Content::Integer(i) => T::Int(*i),
        Content::String(i) => T::Str(sym.get(*i)?),
        Content::Date(d) if !in_set => T::Date(*d),
        Content::Bytes(b) if !in_set => T::Bytes(b),
        Content::Bool(b) if !in_set => T::Bool(*b),
        Content::Set(s) if !in_set => T::Set(
            s.set
                .iter()
                .map(|x| term(x, sym, true))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    })
}

pub(crate) fn predicate<'a>(
    p: &'a schema::Predicate,
    sym: &Symbols<'a>,
) -> Option<(&'a str, Vec<T<'a>>)> {
    let name = sym.get(p.name)?;
    let terms = p
        .terms
        .iter()
        .map(|t| term(t, sym, false))
        .collect::<Option<Vec<_>>>()?;
    Some((name, terms))
}

pub(crate) fn strs(items: &[T<'_>]) -> Option<BTreeSet<String>> {
    items
        .iter()
        .map(|t| match t {
            T::Str(s) => Some((*s).to_owned()),
            _ => None,
        })
        .collect()
}

pub(crate) fn ints(items: &[T<'_>]) -> Option<BTreeSet<i64>> {
    items
        .iter()
        .map(|t| match t {
            T::Int(i) => Some(*i),
            _ => None,
        })
        .collect()
}

/// A predicate as read: its name and terms.
pub(crate) type Pred<'a> = (&'a str, Vec<T<'a>>);
