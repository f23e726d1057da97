//! The client side: a token, its holder key and the server's id; each call gets a fresh
//! proof in `_meta`.

use rmcp::model::{CallToolRequestParams, MetaObject, RequestMetaObject};
use time::OffsetDateTime;

use crate::approval::Approval;
use crate::call::ToolCall;
use crate::error::Error;
use crate::ids::ExecutorId;
use crate::keys::AgentKey;
use crate::proof::CallProof;
use crate::token::Token;
use crate::wire;

/// The client side: attaches the token and a fresh proof (and the framework's labels and
/// cause) to an outgoing `tools/call`.
#[derive(Debug)]
pub struct McpCaller {
    token: Token,
    token_text: String,
    key: AgentKey,
    audience: ExecutorId,
}

impl McpCaller {
    /// A caller holding `token` with its holder key, calling the server `audience`.
    ///
    /// # Errors
    /// [`Error::Biscuit`] if the token cannot be encoded.
    pub fn new(token: Token, key: AgentKey, audience: ExecutorId) -> Result<Self, Error> {
        let token_text = token.to_base64()?;
        Ok(Self {
            token,
            token_text,
            key,
            audience,
        })
    }

    /// Builds the `tools/call` parameters for `call`, signed now.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn params(&self, call: &ToolCall) -> Result<CallToolRequestParams, Error> {
        self.params_at(call, OffsetDateTime::now_utc())
    }

    /// As [`McpCaller::params`], signed at `now`.
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn params_at(
        &self,
        call: &ToolCall,
        now: OffsetDateTime,
    ) -> Result<CallToolRequestParams, Error> {
        self.params_with_approvals(call, &[], now)
    }

    /// As [`McpCaller::params_at`], carrying `approvals` of this exact call (for tools whose
    /// grant requires them: see [`Approval::sign`], which needs the token id and
    /// [`ToolCall::digest`]).
    ///
    /// # Errors
    /// [`Error::InvalidArguments`] when the arguments cannot be canonicalised.
    pub fn params_with_approvals(
        &self,
        call: &ToolCall,
        approvals: &[Approval],
        now: OffsetDateTime,
    ) -> Result<CallToolRequestParams, Error> {
        let proof = CallProof::sign(&self.key, &self.token, &self.audience, call, now)?;
        let meta = RequestMetaObject(MetaObject(wire::call_meta(
            &self.token_text,
            &proof,
            call,
            approvals,
        )));
        let mut params = CallToolRequestParams::new(call.tool().to_string());
        params.arguments = call.args().as_object().cloned();
        params.meta = Some(meta);
        Ok(params)
    }
}
