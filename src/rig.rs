//! A guard for [rig](https://docs.rs/rig-core) tools (feature `rig`).
//!
//! [`Guarded`] wraps any `rig_core::tool::Tool` so that every call the model asks for is signed
//! with the agent's key and verified against the agent's token before the tool body runs; a
//! denied call never reaches the body, and the model sees only the generic denial. The key and
//! the token live in a [`Holder`] that the framework keeps: nothing in the model's context can
//! produce or widen them.
//!
//! ```ignore
//! let holder = Arc::new(Holder::new(agent_key, token)?);
//! let read_file = Guarded::new(ReadFile, holder.clone(), verifier.clone());
//! // register `read_file` with a rig agent instead of `ReadFile`.
//! ```

use std::sync::Arc;

use rig_core::tool::{Tool, ToolContext, ToolErrorKind, ToolExecutionError};
use serde_json::Value;
use time::OffsetDateTime;

use crate::call::ToolCall;
use crate::decision::{Denied, DenyClass};
use crate::error::Error;
use crate::keys::AgentKey;
use crate::proof::CallProof;
use crate::token::Token;
use crate::verify::Verifier;

/// An agent's credentials as its framework holds them: its key and its token (and the token's
/// text, encoded once). Share one between the tools of an agent.
pub struct Holder {
    key: AgentKey,
    token: Token,
    text: String,
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holder")
            .field("holder", &self.key.public())
            .finish_non_exhaustive()
    }
}

impl Holder {
    /// The agent's key and the token it holds.
    ///
    /// # Errors
    /// [`Error::NotHolder`] when `key` is not the token's current holder; an encoding error
    /// from the token.
    pub fn new(key: AgentKey, token: Token) -> Result<Self, Error> {
        if token.signed.holding()?.holder != key.public().to_bytes() {
            return Err(Error::NotHolder);
        }
        let text = token.to_base64()?;
        Ok(Self { key, token, text })
    }

    /// The token.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The key.
    pub fn key(&self) -> &AgentKey {
        &self.key
    }
}

/// Why a guarded call did not return the tool's output.
#[derive(Debug, thiserror::Error)]
pub enum GuardError<E> {
    /// The executor denied the call (its `Display` is the generic message).
    #[error("{0}")]
    Denied(Denied),
    /// The arguments are not a valid call, or the proof could not be signed.
    #[error("invalid call: {0}")]
    Call(Error),
    /// The verified arguments do not fit the tool's argument type.
    #[error("invalid arguments: {0}")]
    Args(serde_json::Error),
    /// The tool itself failed.
    #[error(transparent)]
    Tool(E),
}

/// A rig tool whose calls are verified by agentcap before its body runs.
pub struct Guarded<T> {
    inner: T,
    holder: Arc<Holder>,
    verifier: Arc<Verifier>,
}

impl<T> Guarded<T> {
    /// Wraps `inner`: calls are signed with `holder`'s key over its token and verified by
    /// `verifier` (the executor, whose audience the proofs name).
    pub fn new(inner: T, holder: Arc<Holder>, verifier: Arc<Verifier>) -> Self {
        Self {
            inner,
            holder,
            verifier,
        }
    }

    /// The wrapped tool.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Tool> Tool for Guarded<T> {
    const NAME: &'static str = T::NAME;
    /// The raw JSON arguments, so that what is signed and verified is exactly what the model
    /// sent; the tool gets them as its own type only after verification.
    type Args = Value;
    type Output = T::Output;
    type Error = GuardError<T::Error>;

    fn description(&self) -> String {
        self.inner.description()
    }

    fn parameters(&self) -> Value {
        self.inner.parameters()
    }

    fn map_error(&self, error: Self::Error) -> ToolExecutionError {
        match error {
            GuardError::Denied(denied) => {
                let class = denied.class();
                // Operators get the reason; the model gets the generic message and the class.
                ToolExecutionError::new(
                    ToolErrorKind::PermissionDenied,
                    denied.operator_reason().to_string(),
                )
                .with_model_feedback(format!("{denied} ({})", class.code()))
                .with_retryable(class != DenyClass::Denied)
                .with_code(denied.operator_reason().code())
            }
            GuardError::Tool(e) => self.inner.map_error(e),
            other => ToolExecutionError::new(ToolErrorKind::InvalidArgs, other.to_string()),
        }
    }

    async fn call(
        &self,
        context: &mut ToolContext,
        args: Value,
    ) -> Result<Self::Output, Self::Error> {
        let call = ToolCall::new(T::NAME, args).map_err(GuardError::Call)?;
        let proof = CallProof::sign(
            &self.holder.key,
            &self.holder.token,
            self.verifier.audience(),
            &call,
            OffsetDateTime::now_utc(),
        )
        .map_err(GuardError::Call)?;
        let authorized = self
            .verifier
            .verify(&self.holder.text, &call, &proof)
            .map_err(GuardError::Denied)?;
        let typed: T::Args =
            serde_json::from_value(authorized.call().args().clone()).map_err(GuardError::Args)?;
        self.inner
            .call(context, typed)
            .await
            .map_err(GuardError::Tool)
    }
}
