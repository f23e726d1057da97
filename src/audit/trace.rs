//! From a decision back to its origin: root authority, each delegating agent, each cause, and
//! the recorded message behind each cause.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::event::{DecisionRecord, Event, Record};
use super::log::AuditError;

/// One step of a trace: a delegation hop and the message that caused it, when recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceStep {
    /// The delegating key.
    pub delegator: String,
    /// The agent the token was delegated to.
    pub agent: String,
    /// The cause digest the delegation names.
    pub cause: String,
    /// The recorded message with that digest: (sender agent, recipient agent), if any.
    pub message: Option<(String, String)>,
}

/// How a decision came about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trace {
    /// The decision record.
    pub decision: DecisionRecord,
    /// The issuing authority (allowed calls).
    pub issuer: Option<String>,
    /// The agent the authority granted the token to (allowed calls).
    pub root_agent: Option<String>,
    /// Every delegation, in order.
    pub steps: Vec<TraceStep>,
    /// The call's own cause and the recorded message behind it, if any.
    pub call_cause: Option<(String, Option<(String, String)>)>,
}

impl Trace {
    /// The origin: the first recorded message in the chain (its sender), or else the root agent.
    pub fn origin(&self) -> Option<&str> {
        self.steps
            .iter()
            .find_map(|s| s.message.as_ref().map(|(from, _)| from.as_str()))
            .or(self.root_agent.as_deref())
    }
}

/// Reconstructs the trace of the decision recorded with id `event_id` in the log at `path`.
/// Verify the log first ([`verify_file`](super::verify_file)): a trace of a tampered log
/// proves nothing.
///
/// # Errors
/// [`AuditError::Io`] if the file cannot be read; [`AuditError::Unusable`] if no decision has
/// that id.
pub fn trace(path: impl AsRef<Path>, event_id: &str) -> Result<Trace, AuditError> {
    let path = path.as_ref();
    let reader = BufReader::new(File::open(path)?);
    let mut messages: HashMap<String, (String, String)> = HashMap::new();
    let mut decision = None;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(record) = serde_json::from_str::<Record>(&line) else {
            continue;
        };
        match record.event {
            Event::Message {
                from, to, digest, ..
            } => {
                // The first delivery of a digest is its origin.
                messages.entry(digest).or_insert((from, to));
            }
            Event::Decision(d) if record.id == event_id => decision = Some(d),
            _ => {}
        }
    }
    let decision = decision.ok_or_else(|| AuditError::Unusable {
        path: path.to_path_buf(),
        why: format!("no decision with id `{event_id}`"),
    })?;
    let steps = decision
        .hops
        .iter()
        .map(|h| TraceStep {
            delegator: h.delegator.clone(),
            agent: h.agent.clone(),
            cause: h.cause.clone(),
            message: messages.get(&h.cause).cloned(),
        })
        .collect();
    let call_cause = decision.cause.clone().map(|c| {
        let m = messages.get(&c).cloned();
        (c, m)
    });
    Ok(Trace {
        issuer: decision.issuer.clone(),
        root_agent: decision.root_agent.clone(),
        steps,
        call_cause,
        decision,
    })
}
