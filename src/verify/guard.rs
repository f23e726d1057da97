//! Verification and dispatch in one call: the tool runs only for an authorized call.

use std::future::Future;

use super::Verifier;
use crate::call::ToolCall;
use crate::decision::{Authorized, Denied};
use crate::proof::CallProof;

impl Verifier {
    /// Runs `tool` if and only if [`Verifier::verify`] authorizes the call, and returns what it
    /// returns; otherwise the [`Denied`], and `tool` never runs.
    ///
    /// # Errors
    /// [`Denied`] for any reason the call is not authorized.
    ///
    /// # Examples
    /// ```
    /// # use agentcap::*;
    /// # use time::{Duration, OffsetDateTime};
    /// # let authority = Authority::new(AuthorityId::new("ops")?, AuthorityKey::generate(1));
    /// # let agent = AgentKey::generate();
    /// # let grant = Grant::builder(AgentId::random(), agent.public(), OffsetDateTime::now_utc() + Duration::hours(1))
    /// #     .tool("read_file", ToolGrant::new().arg("path", Constraint::sub_path("/data")?)).build()?;
    /// # let issued = authority.issue(&grant)?;
    /// # let token = issued.to_base64()?;
    /// # let call = ToolCall::new("read_file", serde_json::json!({"path": "/data/q3.csv"}))?;
    /// # let proof = CallProof::sign(&agent, &issued, &ExecutorId::new("files-1")?, &call, OffsetDateTime::now_utc())?;
    /// let verifier = Verifier::builder(ExecutorId::new("files-1")?, authority.key().public().into(), ["read_file"]).build()?;
    /// let reply = verifier.guard(&token, &call, &proof, |ok| format!("read {}", ok.call().args()["path"]));
    /// assert_eq!(reply.unwrap(), "read \"/data/q3.csv\"");
    /// # Ok::<(), agentcap::Error>(())
    /// ```
    pub fn guard<T>(
        &self,
        token: &str,
        call: &ToolCall,
        proof: &CallProof,
        tool: impl FnOnce(&Authorized) -> T,
    ) -> Result<T, Denied> {
        self.verify(token, call, proof)
            .map(|authorized| tool(&authorized))
    }

    /// The async form of [`Verifier::guard`]: `tool` is awaited only for an authorized call.
    ///
    /// The verification itself runs on the calling task (it is CPU-bound and short with the
    /// in-memory state store; with a remote store such as Redis, call it where blocking is
    /// allowed, e.g. inside `tokio::task::spawn_blocking`, or accept the round trip).
    ///
    /// # Errors
    /// [`Denied`] for any reason the call is not authorized.
    pub async fn guard_async<T, F, Fut>(
        &self,
        token: &str,
        call: &ToolCall,
        proof: &CallProof,
        tool: F,
    ) -> Result<T, Denied>
    where
        F: FnOnce(Authorized) -> Fut,
        Fut: Future<Output = T>,
    {
        let authorized = self.verify(token, call, proof)?;
        Ok(tool(authorized).await)
    }
}
