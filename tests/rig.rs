//! The rig adapter: a guarded rig tool runs its body only for a call the agent's token allows,
//! signed with the agent's key; the model sees only the generic denial.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agentcap::rig::{GuardError, Guarded, Holder};
use agentcap::*;
use common::*;
use rig_core::tool::{Tool, ToolContext, ToolErrorKind};
use serde_json::{json, Value};

#[derive(serde::Deserialize)]
struct ReadArgs {
    path: String,
}

#[derive(Debug, thiserror::Error)]
#[error("no such file")]
struct NoSuchFile;

/// A rig tool that counts how often its body runs.
struct ReadFile(Arc<AtomicUsize>);

impl Tool for ReadFile {
    const NAME: &'static str = "read_file";
    type Args = ReadArgs;
    type Output = String;
    type Error = NoSuchFile;

    fn description(&self) -> String {
        "Read a file".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
    }

    async fn call(&self, _: &mut ToolContext, args: ReadArgs) -> Result<String, NoSuchFile> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(format!("contents of {}", args.path))
    }
}

#[test]
fn a_guarded_rig_tool_runs_only_for_allowed_calls() {
    let w = World::new();
    // A verifier at the real clock: the adapter signs with the current time.
    let verifier = Arc::new(
        Verifier::builder(
            w.executor.clone(),
            w.authority.key().public().into(),
            GUARDED,
        )
        .build()
        .unwrap(),
    );
    let authority = Authority::new(
        AuthorityId::new("ops").unwrap(),
        AuthorityKey::from_bytes(7, &w.authority.key().to_bytes()),
    );
    let grant = Grant::builder(
        w.alice_id,
        w.alice.public(),
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/data").unwrap()),
    )
    .build()
    .unwrap();
    let token = authority.issue(&grant).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let holder = Arc::new(Holder::new(AgentKey::from_bytes(&w.alice.to_bytes()), token).unwrap());
    let tool = Guarded::new(ReadFile(runs.clone()), holder, verifier.clone());
    assert_eq!(<Guarded<ReadFile> as Tool>::NAME, "read_file");
    assert_eq!(tool.description(), "Read a file");

    let mut ctx = ToolContext::default();
    let out = block_on(tool.call(&mut ctx, json!({"path": "/data/q3.csv"}))).unwrap();
    assert_eq!(out, "contents of /data/q3.csv");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    for args in [
        json!({"path": "/etc/passwd"}),
        json!({"path": "/data/x", "mode": "w"}),
        json!({}),
    ] {
        let err = block_on(tool.call(&mut ctx, args.clone())).unwrap_err();
        assert!(matches!(err, GuardError::Denied(_)), "{args}: {err:?}");
        let shown = tool.map_error(err);
        assert_eq!(shown.kind(), ToolErrorKind::PermissionDenied);
        assert_eq!(shown.retryable(), Some(false));
        // The model sees the generic message and the class, never the reason.
        let feedback = shown.model_feedback().unwrap_or_default();
        assert_eq!(feedback, "agentcap: call denied (denied)");
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the body never ran for a denied call"
    );

    // A holder whose key is not the token's holder is refused up front.
    let t2 = authority.issue(&grant).unwrap();
    assert!(matches!(
        Holder::new(AgentKey::generate(), t2),
        Err(Error::NotHolder)
    ));
}
