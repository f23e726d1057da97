//! Biscuit's machinery the verifier still uses — the block signature check and the mapping of
//! its errors — and its authorizer, kept as the reference semantics of the plan (tests only).

use biscuit_auth::error::Format;
use biscuit_auth::format::SerializedBiscuit;

use crate::decision::DenyReason;
use crate::keys::TrustedRoots;

/// Checks every block signature (and each delegation's external signature) of a binary token
/// against the trusted roots: ed25519 `verify_strict`, as biscuit does it.
pub(crate) fn verify_signatures(bytes: &[u8], roots: &TrustedRoots) -> Result<(), DenyReason> {
    SerializedBiscuit::from_slice(bytes, super::signed::provider(roots))
        .map(|_| ())
        .map_err(|e| match e {
            Format::UnknownPublicKey => DenyReason::UnknownRootKey,
            Format::Signature(_) | Format::SealedSignature => DenyReason::BadTokenSignature,
            _ => DenyReason::MalformedToken,
        })
}

/// Biscuit's own authorizer over the same token and call facts: the reference semantics.
#[cfg(test)]
pub(crate) mod reference {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use biscuit_auth::builder::{self, Term};
    use biscuit_auth::datalog::ExternFunc;
    use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit};

    use super::super::names as n;
    use super::super::plan::CallView;
    use crate::keys::TrustedRoots;
    use crate::subpath;
    use crate::url_policy::UrlPolicy;
    use crate::value::ArgValue;

    fn extern_funcs(builder: AuthorizerBuilder) -> AuthorizerBuilder {
        let path = ExternFunc::new(Arc::new(|left, right| match (left, right) {
            (Term::Str(v), Some(Term::Str(root))) => Ok(Term::Bool(subpath::is_within(&root, &v))),
            // Total: a value of another type is simply not within the root.
            (_, Some(Term::Str(_))) => Ok(Term::Bool(false)),
            _ => Err("path expects a root".to_owned()),
        }));
        let url = ExternFunc::new(Arc::new(|left, right| match (left, right) {
            (Term::Str(v), Some(Term::Str(policy))) => {
                let policy: UrlPolicy = serde_json::from_str(&policy).map_err(|e| e.to_string())?;
                policy.validate().map_err(|e| e.to_string())?;
                Ok(Term::Bool(policy.allows(&v)))
            }
            (_, Some(Term::Str(_))) => Ok(Term::Bool(false)),
            _ => Err("url expects a policy".to_owned()),
        }));
        let num = ExternFunc::new(Arc::new(|left, right| {
            let Some(Term::Str(range)) = right else {
                return Err("num expects a range".to_owned());
            };
            let [min, max]: [f64; 2] = serde_json::from_str(&range).map_err(|e| e.to_string())?;
            let value = match left {
                Term::Integer(i) => i as f64,
                Term::Bytes(b) => match <[u8; 8]>::try_from(b.as_slice()) {
                    Ok(arr) => f64::from_be_bytes(arr),
                    Err(_) => return Ok(Term::Bool(false)),
                },
                _ => return Ok(Term::Bool(false)),
            };
            Ok(Term::Bool(min <= value && value <= max))
        }));
        builder
            .register_extern_func(n::EXT_PATH.to_owned(), path)
            .register_extern_func(n::EXT_URL.to_owned(), url)
            .register_extern_func(n::EXT_NUM.to_owned(), num)
    }

    /// Whether biscuit's authorizer allows the call: every block's checks against the call
    /// facts `t`, `k`, `g` and `time`, with an `allow if true` policy.
    pub(crate) fn allows(
        token: &[u8],
        roots: &TrustedRoots,
        call: &CallView<'_>,
    ) -> Result<bool, String> {
        let biscuit = Biscuit::from(token, super::super::signed::provider(roots))
            .map_err(|e| e.to_string())?;
        let now =
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(call.now).unwrap_or(0));
        let mut b = extern_funcs(AuthorizerBuilder::new().set_limits(AuthorizerLimits {
            max_facts: 100_000,
            max_iterations: 1_000,
            max_time: Duration::from_secs(10),
        }));
        let fact = |name: &str, terms: Vec<Term>| builder::fact(name, &terms);
        b = b
            .fact(fact(n::TIME, vec![builder::date(&now)]))
            .map_err(|e| e.to_string())?;
        b = b
            .fact(fact(
                n::TOOL,
                vec![Term::Str(call.tool.as_str().to_owned())],
            ))
            .map_err(|e| e.to_string())?;
        for k in call.top_keys {
            b = b
                .fact(fact(n::KEY, vec![Term::Str((*k).to_owned())]))
                .map_err(|e| e.to_string())?;
        }
        for (pointer, value) in call.leaves {
            let term = match value {
                ArgValue::Str(s) => Term::Str((*s).to_owned()),
                ArgValue::Int(i) => Term::Integer(*i),
                // Non-integral numbers have no Datalog type: 8 big-endian bytes.
                ArgValue::Float(f) => Term::Bytes(f.to_be_bytes().to_vec()),
                ArgValue::Bool(x) => Term::Bool(*x),
                ArgValue::Null => Term::Null,
                ArgValue::Container | ArgValue::Unportable => continue,
            };
            b = b
                .fact(fact(n::ARG, vec![Term::Str(pointer.clone()), term]))
                .map_err(|e| e.to_string())?;
        }
        b = b.policy("allow if true").map_err(|e| e.to_string())?;
        let mut authorizer = b.build(&biscuit).map_err(|e| e.to_string())?;
        Ok(authorizer.authorize().is_ok())
    }
}
