//! Two rig agents' tools behind agentcap: a planner holds a token for reading files under
//! `/data` and for searching; it delegates a narrower token (reading under `/data/public` only)
//! to a researcher, because of the message that asked for the research. Each agent's tools are
//! `agentcap::rig::Guarded` rig tools: the framework keeps each agent's key and token (in a
//! `Holder`), signs every call the model asks for, and the tool body runs only if the executor
//! allows the exact call.
//!
//! The model is left out: the calls below are the tool calls a model would emit, dispatched
//! through rig's `Tool::call` as an agent loop does (register the guarded tools with a rig agent
//! in place of the bare ones).
//!
//! Run: `cargo run --features rig --example rig_agents`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use agentcap::rig::{Guarded, Holder};
use agentcap::*;
use rig_core::tool::{Tool, ToolContext};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// The tools' bodies never wait: poll once to completion (a real agent runs on its runtime).
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[derive(serde::Deserialize)]
struct PathArgs {
    path: String,
}

#[derive(serde::Deserialize)]
struct QueryArgs {
    q: String,
}

#[derive(Debug, thiserror::Error)]
#[error("tool failed")]
struct ToolFailed;

struct ReadFile;

impl Tool for ReadFile {
    const NAME: &'static str = "read_file";
    type Args = PathArgs;
    type Output = String;
    type Error = ToolFailed;

    fn description(&self) -> String {
        "Read a file".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
    }

    async fn call(&self, _: &mut ToolContext, args: PathArgs) -> Result<String, ToolFailed> {
        Ok(format!("<contents of {}>", args.path))
    }
}

struct Search;

impl Tool for Search {
    const NAME: &'static str = "search";
    type Args = QueryArgs;
    type Output = Vec<String>;
    type Error = ToolFailed;

    fn description(&self) -> String {
        "Search the document index".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    }

    async fn call(&self, _: &mut ToolContext, args: QueryArgs) -> Result<Vec<String>, ToolFailed> {
        Ok(vec![format!("/data/public/{}.md", args.q)])
    }
}

fn main() -> Result<(), Error> {
    let authority = Authority::new(AuthorityId::new("ops")?, AuthorityKey::generate(1));
    let executor = ExecutorId::new("tools-1")?;
    let verifier = Arc::new(
        Verifier::builder(
            executor,
            authority.key().public().into(),
            ["read_file", "search"],
        )
        .build()?,
    );

    // The planner's token: read under /data, search with a short query; one delegation allowed.
    let (planner_key, planner_id) = (AgentKey::generate(), AgentId::random());
    let grant = Grant::builder(
        planner_id,
        planner_key.public(),
        OffsetDateTime::now_utc() + Duration::hours(1),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/data")?),
    )
    .tool(
        "search",
        ToolGrant::new().arg("q", Constraint::max_length(64)?),
    )
    .max_depth(1)
    .build()?;
    let planner_token = authority.issue(&grant)?;

    // The researcher's token: delegated by the planner, reading under /data/public only.
    let (researcher_key, researcher_id) = (AgentKey::generate(), AgentId::random());
    let message = b"planner -> researcher: summarise the public Q3 notes";
    let researcher_token = planner_token.delegate(
        &planner_key,
        researcher_key.public(),
        researcher_id,
        Digest::of_message(message),
        &Narrowing::new().only_tools(["read_file"]).constrain(
            "read_file",
            "path",
            Constraint::sub_path("/data/public")?,
        ),
    )?;

    let planner = Arc::new(Holder::new(planner_key, planner_token)?);
    let researcher = Arc::new(Holder::new(researcher_key, researcher_token)?);
    let planner_read = Guarded::new(ReadFile, planner.clone(), verifier.clone());
    let planner_search = Guarded::new(Search, planner, verifier.clone());
    let researcher_read = Guarded::new(ReadFile, researcher.clone(), verifier.clone());
    let researcher_search = Guarded::new(Search, researcher, verifier);

    let mut ctx = ToolContext::default();
    let mut failures = 0;
    let mut expect = |who: &str, args: &Value, allowed: bool, shown: String| {
        println!("{who:<28} {:<42} {shown}", args.to_string());
        if allowed == shown.starts_with("denied") {
            failures += 1;
        }
    };
    macro_rules! call {
        ($who:expr, $tool:expr, $args:expr, $allowed:expr) => {{
            let args: Value = $args;
            let shown = match run($tool.call(&mut ctx, args.clone())) {
                Ok(out) => format!("ok: {}", serde_json::to_string(&out).unwrap_or_default()),
                Err(e) => format!(
                    "denied: {}",
                    $tool.map_error(e).model_feedback().unwrap_or_default()
                ),
            };
            expect($who, &args, $allowed, shown);
        }};
    }
    call!(
        "planner read_file",
        planner_read,
        json!({"path": "/data/private/plan.md"}),
        true
    );
    call!("planner search", planner_search, json!({"q": "q3"}), true);
    call!(
        "researcher read_file",
        researcher_read,
        json!({"path": "/data/public/q3.md"}),
        true
    );
    call!(
        "researcher read_file",
        researcher_read,
        json!({"path": "/data/private/plan.md"}),
        false
    );
    call!(
        "researcher search",
        researcher_search,
        json!({"q": "q3"}),
        false
    );
    call!(
        "researcher read_file (../)",
        researcher_read,
        json!({"path": "/data/public/../private/plan.md"}),
        false
    );

    assert_eq!(
        failures, 0,
        "{failures} decisions differ from the expected ones"
    );
    println!("all decisions as expected");
    Ok(())
}
