//! Validated identifiers: agents, tools, executors, authorities and labels.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::Error;

/// The identity of one agent: a random UUID chosen by the authority that grants it a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(Uuid);

impl AgentId {
    /// A fresh random agent id (UUID v4).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        Uuid::from_slice(bytes).ok().map(Self)
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for AgentId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        // Only the canonical hyphenated form round-trips through Display.
        let uuid = Uuid::try_parse(s).map_err(|_| Error::invalid("agent id", s))?;
        if uuid.hyphenated().to_string() != s {
            return Err(Error::invalid("agent id", s));
        }
        Ok(Self(uuid))
    }
}

/// Defines a validated string newtype: private field, `new` returning `Result`, `FromStr`/`Display`.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps a name.
            ///
            /// # Errors
            /// [`Error::Invalid`] when the value is empty, longer than
            #[doc = concat!("[`", stringify!($name), "::MAX_LEN`]")]
            /// bytes, or holds a character outside the allowed set.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                let allowed: fn(char) -> bool = $allowed;
                if value.is_empty() || value.len() > $max || !value.chars().all(allowed) {
                    return Err(Error::invalid($what, &value));
                }
                Ok(Self(value))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;

            fn try_from(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }
    };
}

fn tool_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

fn id_char(c: char) -> bool {
    // No quotes or backslashes: ids appear in printed Datalog, which biscuit does not escape.
    c.is_ascii_graphic() && c != '"' && c != '\\'
}

fn label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | ':' | '.')
}

name_type!(
    /// The name of a tool, e.g. `read_file` (ASCII letters, digits and `_ - . : /`, at most 128 bytes).
    ToolName, "tool name", 128, tool_char
);
name_type!(
    /// The id of a tool executor: the audience a call proof is bound to (printable ASCII without `"` or `\\`, at most 256 bytes).
    ExecutorId, "executor id", 256, id_char
);
name_type!(
    /// The id of an issuing authority (printable ASCII without `"` or `\\`, at most 256 bytes).
    AuthorityId, "authority id", 256, id_char
);
name_type!(
    /// A data label such as `secret`, `personal` or `untrusted` (lowercase ASCII, digits and `_ - : .`, at most 64 bytes).
    Label, "label", 64, label_char
);

/// The id of a token: the revocation id of its last block (64 bytes). Revoking it cuts this
/// token and every token derived from it. Text form: lowercase hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(Vec<u8>);

impl TokenId {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (!bytes.is_empty() && bytes.len() <= 128).then(|| Self(bytes.to_vec()))
    }

    /// A block's signature as its revocation id (the holder side, from a checked token).
    pub(crate) fn of_signature(signature: Vec<u8>) -> Self {
        Self(signature)
    }

    /// The bytes of the id.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}
