//! The token's signatures, checked as biscuit-auth checks them, and biscuit's own checks kept
//! as the reference semantics (tests only): its signature check and its authorizer.

use biscuit_auth::format::schema;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use super::envelope::{ed25519_bytes, Envelope};
use crate::decision::DenyReason;
use crate::keys::AgentPublicKey;

/// Keys decompressed while checking signatures, by their bytes, so that no curve point is
/// decompressed twice in one verification (the chain's holders are the delegations' signers).
#[derive(Default)]
pub(crate) struct KeyCache(Vec<([u8; 32], AgentPublicKey)>);

impl KeyCache {
    /// A cache that already holds `key`.
    pub(crate) fn with(key: AgentPublicKey) -> Self {
        Self(vec![(key.to_bytes(), key)])
    }

    /// The key for `bytes`, decompressed once; `None` if the bytes are not a curve point.
    pub(crate) fn get(&mut self, bytes: &[u8; 32]) -> Option<AgentPublicKey> {
        if let Some((_, k)) = self.0.iter().find(|(b, _)| b == bytes) {
            return Some(*k);
        }
        let k = AgentPublicKey::from_bytes(bytes).ok()?;
        self.0.push((*bytes, k));
        Some(k)
    }
}

fn strict(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> Result<(), DenyReason> {
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| DenyReason::MalformedToken)?;
    key.verify_strict(message, &Signature::from_bytes(&signature))
        .map_err(|_| DenyReason::BadTokenSignature)
}

/// Ed25519's algorithm number in biscuit's signed payloads (`i32`, little-endian).
const ED25519: [u8; 4] = 0i32.to_le_bytes();

/// Checks every block signature, each delegation's external signature and the token's proof
/// key as biscuit-auth 6 verifies a token (`SerializedBiscuit::verify`, third-party blocks in
/// signature version 1), each with `verify_strict`, from the envelope already read: no second
/// decoding, and each key decompressed once (`keys`). A differential test holds the result
/// equal to biscuit's own check on the tokens this crate writes. Stricter than biscuit in two
/// ways: a sealed token is refused (this crate never seals), and so is a block after the
/// authority in signature version 0 (it could be moved onto another token).
pub(crate) fn verify_signatures(
    env: &Envelope,
    root: &VerifyingKey,
    keys: &mut KeyCache,
) -> Result<(), DenyReason> {
    let malformed = || DenyReason::MalformedToken;
    let mut current = *root;
    let mut previous: &[u8] = &[];
    let mut last_next = [0u8; 32];
    let count = env.blocks.len();
    for (i, b) in env.blocks.iter().enumerate() {
        let version = b.version.unwrap_or(0);
        let next = ed25519_bytes(&b.next_key).ok_or_else(malformed)?;
        let external = b.external_signature.as_ref();
        // Biscuit refuses an external signature on the authority block, and a third-party
        // block in another signature version than 1.
        if external.is_some() && (i == 0 || version != 1) {
            return Err(malformed());
        }
        let mut message = Vec::with_capacity(b.block.len() + 256);
        match (i, version) {
            // A version-0 signature does not cover the previous block's signature: such a
            // block could be lifted onto another token (with the same last block id, a proof
            // for one would verify for the other). This crate writes version 1 everywhere;
            // only the authority block, which follows nothing, may be version 0.
            (0, 0) => {
                message.extend_from_slice(&b.block);
                if let Some(e) = external {
                    message.extend_from_slice(&e.signature);
                }
                message.extend_from_slice(&ED25519);
                message.extend_from_slice(&next);
            }
            (_, 1) => {
                message.extend_from_slice(b"\0BLOCK\0\0VERSION\0");
                message.extend_from_slice(&version.to_le_bytes());
                message.extend_from_slice(b"\0PAYLOAD\0");
                message.extend_from_slice(&b.block);
                message.extend_from_slice(b"\0ALGORITHM\0");
                message.extend_from_slice(&ED25519);
                message.extend_from_slice(b"\0NEXTKEY\0");
                message.extend_from_slice(&next);
                if i > 0 {
                    message.extend_from_slice(b"\0PREVSIG\0");
                    message.extend_from_slice(previous);
                    if let Some(e) = external {
                        message.extend_from_slice(b"\0EXTERNALSIG\0");
                        message.extend_from_slice(&e.signature);
                    }
                }
            }
            _ => return Err(malformed()),
        }
        strict(&current, &message, &b.signature)?;
        if let Some(e) = external {
            let signer = ed25519_bytes(&e.public_key).ok_or_else(malformed)?;
            let signer = keys.get(&signer).ok_or_else(malformed)?;
            let mut message = Vec::with_capacity(b.block.len() + 128);
            message.extend_from_slice(b"\0EXTERNAL\0\0VERSION\0");
            message.extend_from_slice(&version.to_le_bytes());
            message.extend_from_slice(b"\0PAYLOAD\0");
            message.extend_from_slice(&b.block);
            message.extend_from_slice(b"\0PREVSIG\0");
            message.extend_from_slice(previous);
            strict(signer.verifying_key(), &message, &e.signature)?;
        }
        previous = &b.signature;
        if i + 1 < count {
            current = VerifyingKey::from_bytes(&next).map_err(|_| malformed())?;
        } else {
            last_next = next;
        }
    }
    // The token's proof: the secret of the last block's next key (the key itself is compared
    // as bytes, never decompressed).
    match &env.proof.content {
        Some(schema::proof::Content::NextSecret(secret)) => {
            let secret: [u8; 32] = secret.as_slice().try_into().map_err(|_| malformed())?;
            if SigningKey::from_bytes(&secret).verifying_key().to_bytes() == last_next {
                Ok(())
            } else {
                Err(DenyReason::BadTokenSignature)
            }
        }
        _ => Err(malformed()),
    }
}

/// biscuit-auth's own signature check, the reference for [`verify_signatures`].
#[cfg(test)]
pub(crate) fn reference_signatures(
    bytes: &[u8],
    roots: &crate::keys::TrustedRoots,
) -> Result<(), DenyReason> {
    use biscuit_auth::error::Format;
    biscuit_auth::format::SerializedBiscuit::from_slice(bytes, super::signed::provider(roots))
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

    use biscuit_auth::builder::{self, MapKey, Term};
    use biscuit_auth::datalog::ExternFunc;
    use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit};
    use serde_json::Value;

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
        /// A kind judged on strings by its policy's own rule, given as JSON.
        fn string_rule<P: serde::de::DeserializeOwned + 'static>(
            allows: fn(&P, &str) -> bool,
        ) -> ExternFunc {
            ExternFunc::new(Arc::new(move |left, right| {
                let Some(Term::Str(json)) = right else {
                    return Err("expects a policy".to_owned());
                };
                let policy: P = serde_json::from_str(&json).map_err(|e| e.to_string())?;
                Ok(Term::Bool(match left {
                    Term::Str(v) => allows(&policy, &v),
                    _ => false,
                }))
            }))
        }
        use crate::constraint::{CommandPolicy, DateRange, EmailPolicy, HostPolicy, IpPolicy};
        builder
            .register_extern_func(n::EXT_HOST.to_owned(), string_rule(HostPolicy::allows))
            .register_extern_func(n::EXT_EMAIL.to_owned(), string_rule(EmailPolicy::allows))
            .register_extern_func(n::EXT_DATE.to_owned(), string_rule(DateRange::allows))
            .register_extern_func(n::EXT_IP.to_owned(), string_rule(IpPolicy::allows))
            .register_extern_func(
                n::EXT_COMMAND.to_owned(),
                string_rule(CommandPolicy::allows),
            )
            .register_extern_func(n::EXT_PATH.to_owned(), path)
            .register_extern_func(n::EXT_URL.to_owned(), url)
            .register_extern_func(n::EXT_NUM.to_owned(), num)
    }

    /// Every value below the root with its JSON Pointer (the root itself has no fact).
    fn json_nodes<'v>(value: &'v Value, pointer: String, out: &mut Vec<(String, &'v Value)>) {
        let children: Vec<(String, &Value)> = match value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    (
                        format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                        v,
                    )
                })
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{pointer}/{i}"), v))
                .collect(),
            _ => Vec::new(),
        };
        for (p, v) in children {
            out.push((p.clone(), v));
            json_nodes(v, p, out);
        }
    }

    /// A JSON value as a Datalog term: arrays and objects as arrays and maps, non-integral
    /// numbers as 8 big-endian bytes (Datalog has no type for them).
    fn json_term(value: &Value) -> Option<Term> {
        Some(match value {
            Value::Array(items) => Term::Array(items.iter().map(json_term).collect::<Option<_>>()?),
            Value::Object(map) => Term::Map(
                map.iter()
                    .map(|(k, v)| Some((MapKey::Str(k.clone()), json_term(v)?)))
                    .collect::<Option<_>>()?,
            ),
            scalar => match ArgValue::of(scalar) {
                ArgValue::Str(s) => Term::Str(s.to_owned()),
                ArgValue::Int(i) => Term::Integer(i),
                ArgValue::Float(f) => Term::Bytes(f.to_be_bytes().to_vec()),
                ArgValue::Bool(x) => Term::Bool(x),
                ArgValue::Null => Term::Null,
                ArgValue::Container | ArgValue::Unportable => return None,
            },
        })
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
        let mut nodes = Vec::new();
        json_nodes(call.args, String::new(), &mut nodes);
        for (pointer, value) in nodes {
            let Some(term) = json_term(value) else {
                return Err("an unportable number has no fact".to_owned());
            };
            b = b
                .fact(fact(n::ARG, vec![Term::Str(pointer), term]))
                .map_err(|e| e.to_string())?;
        }
        b = b.policy("allow if true").map_err(|e| e.to_string())?;
        let mut authorizer = b.build(&biscuit).map_err(|e| e.to_string())?;
        Ok(authorizer.authorize().is_ok())
    }
}
