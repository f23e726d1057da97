//! The structured call a tool executor is asked to run, and its canonical digest.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::digest::{Digest, CALL_DOMAIN};
use crate::error::Error;
use crate::ids::{Label, ToolName};
use crate::value::ArgValue;

/// One tool call: the tool, its JSON arguments (an object), the labels of the data in the
/// arguments, and the digest of the message that caused it.
///
/// Nothing in a call can grant authority: its strings are data, compared with constraints.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    tool: ToolName,
    args: Value,
    labels: BTreeSet<Label>,
    cause: Option<Digest>,
}

impl ToolCall {
    /// A call of `tool` with `args`, which must be a JSON object.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad tool name; [`Error::InvalidArguments`] when `args` is not
    /// an object, is nested deeper or holds more values than `Limits::default()` allows (32
    /// levels, 1,024 values), or holds an integer beyond ±2^53.
    pub fn new(tool: &str, args: Value) -> Result<Self, Error> {
        let tool = ToolName::new(tool)?;
        if !args.is_object() {
            return Err(Error::InvalidArguments(
                "arguments must be a JSON object".to_owned(),
            ));
        }
        // Bounded as the verifier bounds calls (`Limits::default()`), and walked iteratively, so
        // that canonicalising or signing never recurses deeper than a verifier would accept.
        let limits = crate::limits::Limits::default();
        let bounds = ArgBounds {
            max_depth: limits.max_args_depth,
            max_leaves: limits.max_args_values,
        };
        if leaves(&args, &bounds).is_none() {
            return Err(Error::InvalidArguments(format!(
                "arguments nested deeper than {} levels or holding more than {} values",
                limits.max_args_depth, limits.max_args_values
            )));
        }
        if crate::value::has_unportable_integer(&args) {
            return Err(Error::InvalidArguments(
                "integers beyond ±2^53 do not canonicalise exactly (RFC 8785): send them as strings".to_owned(),
            ));
        }
        Ok(Self {
            tool,
            args,
            labels: BTreeSet::new(),
            cause: None,
        })
    }

    /// Sets the labels of the data the arguments carry (set by the framework, not the model).
    pub fn with_labels(mut self, labels: impl IntoIterator<Item = Label>) -> Self {
        self.labels = labels.into_iter().collect();
        self
    }

    /// Sets the digest of the message that caused this call.
    pub fn with_cause(mut self, cause: Digest) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The tool.
    pub fn tool(&self) -> &ToolName {
        &self.tool
    }

    /// The arguments.
    pub fn args(&self) -> &Value {
        &self.args
    }

    /// The labels.
    pub fn labels(&self) -> &BTreeSet<Label> {
        &self.labels
    }

    /// The cause, if any.
    pub fn cause(&self) -> Option<Digest> {
        self.cause
    }

    /// The arguments in RFC 8785 canonical form (the bytes every language signs).
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the value cannot be canonicalised.
    pub fn canonical_args(&self) -> Result<Vec<u8>, Error> {
        serde_json_canonicalizer::to_vec(&self.args)
            .map_err(|e| Error::InvalidArguments(e.to_string()))
    }

    /// The call digest: SHA-256 over a domain tag, the tool, the canonical arguments, the
    /// labels and the cause, each length-prefixed (see `docs/token-format.md`).
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn digest(&self) -> Result<Digest, Error> {
        Ok(self.digest_with(&self.canonical_args()?))
    }

    pub(crate) fn digest_with(&self, canonical_args: &[u8]) -> Digest {
        let mut h = Sha256::new();
        h.update(CALL_DOMAIN);
        lp(&mut h, self.tool.as_str().as_bytes());
        lp(&mut h, canonical_args);
        h.update((self.labels.len() as u32).to_be_bytes());
        for l in &self.labels {
            lp(&mut h, l.as_str().as_bytes());
        }
        match self.cause {
            Some(c) => {
                h.update([1]);
                h.update(c.to_bytes());
            }
            None => h.update([0]),
        }
        Digest::from_sha256(h)
    }
}

fn lp(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u32).to_be_bytes());
    h.update(bytes);
}

/// The scalar leaves of the arguments (pointer, value) and the top-level keys.
pub(crate) type Leaves<'a> = (Vec<(String, ArgValue<'a>)>, Vec<&'a str>);

/// Bounds for walking arguments.
pub(crate) struct ArgBounds {
    pub(crate) max_depth: usize,
    pub(crate) max_leaves: usize,
}

/// Every scalar leaf of the arguments with its JSON Pointer, and the top-level keys; `None`
/// when the arguments are deeper or larger than the bounds.
pub(crate) fn leaves<'a>(args: &'a Value, bounds: &ArgBounds) -> Option<Leaves<'a>> {
    let obj = args.as_object()?;
    let keys = obj.keys().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut stack: Vec<(String, &Value, usize)> = vec![(String::new(), args, 0)];
    while let Some((pointer, value, depth)) = stack.pop() {
        if depth > bounds.max_depth {
            return None;
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    stack.push((
                        format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                        v,
                        depth + 1,
                    ));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    stack.push((format!("{pointer}/{i}"), v, depth + 1));
                }
            }
            scalar => {
                out.push((pointer, ArgValue::of(scalar)));
                if out.len() > bounds.max_leaves {
                    return None;
                }
            }
        }
        if stack.len() > bounds.max_leaves {
            return None;
        }
    }
    Some((out, keys))
}

/// Refuses JSON whose objects repeat a key at any depth: parsers disagree on which duplicate
/// wins, so the executor and the tool could read different values from the same text.
struct NoDuplicateKeys;

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate keys")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            map.next_value_seed(NoDuplicateKeys)?;
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicateKeys)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

impl ToolCall {
    /// A call of `tool` with arguments parsed from JSON text, refusing duplicate keys at any
    /// depth (parsers disagree on which duplicate wins) and text nested deeper than 128 levels.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] for text longer than `Limits::default().max_args_bytes`
    /// (64 KiB), malformed JSON, duplicate keys or a non-object; as [`ToolCall::new`] otherwise.
    pub fn from_json_text(tool: &str, text: &str) -> Result<Self, Error> {
        use serde::de::DeserializeSeed;
        let max = crate::limits::Limits::default().max_args_bytes;
        if text.len() > max {
            return Err(Error::InvalidArguments(format!(
                "arguments text longer than {max} bytes"
            )));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        NoDuplicateKeys
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| Error::InvalidArguments(e.to_string()))?;
        let args: Value =
            serde_json::from_str(text).map_err(|e| Error::InvalidArguments(e.to_string()))?;
        Self::new(tool, args)
    }
}
