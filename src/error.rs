//! Errors of the issuing and holding side (building grants, issuing, attenuating, delegating,
//! signing). The verifying side never returns these: it returns [`Denied`](crate::Denied).

/// An error on the issuing or holding side. Messages are lowercase, with user values in backticks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value failed validation.
    #[error("invalid {what}: `{value}`")]
    Invalid {
        /// What kind of value was rejected.
        what: &'static str,
        /// The rejected value (truncated to 80 characters).
        value: String,
    },
    /// A grant or narrowing is not well formed.
    #[error("invalid grant: {0}")]
    InvalidGrant(String),
    /// An attenuation or delegation would widen authority instead of narrowing it.
    #[error("not a narrowing: {0}")]
    NotNarrower(String),
    /// The key given for a delegation is not the key of the token's current holder.
    #[error("the signing key is not the token's current holder")]
    NotHolder,
    /// The token cannot take more delegations.
    #[error("delegation depth exhausted: the grant allows {}", delegations(*.0))]
    DepthExhausted(u32),
    /// The token could not be decoded or its signatures did not verify.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The call's arguments could not be canonicalised.
    #[error("invalid call arguments: {0}")]
    InvalidArguments(String),
    /// An error from the underlying biscuit library while building a block.
    #[error("token library error: {0}")]
    Biscuit(String),
}

impl Error {
    pub(crate) fn invalid(what: &'static str, value: &str) -> Self {
        let value: String = value.chars().take(80).collect();
        Error::Invalid { what, value }
    }

    pub(crate) fn grant(msg: impl Into<String>) -> Self {
        Error::InvalidGrant(msg.into())
    }
}

fn delegations(n: u32) -> String {
    match n {
        0 => "no delegation".to_owned(),
        1 => "at most 1 delegation".to_owned(),
        n => format!("at most {n} delegations"),
    }
}
