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
    /// The messages behind the call's cause, followed back through their own causes: the call's
    /// cause first, the origin message last. Each is (sender, recipient, digest).
    pub messages: Vec<(String, String, String)>,
}

impl Trace {
    /// The origin: the sender of the oldest message behind the call's cause; else of the first
    /// recorded message behind a delegation; else the root agent.
    pub fn origin(&self) -> Option<&str> {
        self.messages
            .last()
            .map(|(from, _, _)| from.as_str())
            .or_else(|| {
                self.steps
                    .iter()
                    .find_map(|s| s.message.as_ref().map(|(from, _)| from.as_str()))
            })
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
    let mut causes: HashMap<String, String> = HashMap::new();
    let mut decision = None;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(record) = serde_json::from_str::<Record>(&line) else {
            continue;
        };
        match record.event {
            Event::Message {
                from,
                to,
                digest,
                cause,
                ..
            } => {
                // The first delivery of a digest is its origin.
                if let Some(c) = cause {
                    causes.entry(digest.clone()).or_insert(c);
                }
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
    // Follow the call's cause back through message causes (bounded: a cycle stops the walk).
    let mut chain = Vec::new();
    let mut next = decision.cause.clone();
    while let Some(digest) = next.take() {
        if chain.len() > messages.len()
            || chain
                .iter()
                .any(|(_, _, d): &(String, String, String)| *d == digest)
        {
            break;
        }
        let Some((from, to)) = messages.get(&digest) else {
            break;
        };
        chain.push((from.clone(), to.clone(), digest.clone()));
        next = causes.get(&digest).cloned();
    }
    Ok(Trace {
        messages: chain,
        issuer: decision.issuer.clone(),
        root_agent: decision.root_agent.clone(),
        steps,
        call_cause,
        decision,
    })
}
