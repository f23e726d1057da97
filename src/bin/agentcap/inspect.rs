//! Human-readable and JSON views of a token and of a trace.
#![expect(
    clippy::indexing_slicing,
    reason = "indexing a serde_json::Value by key returns Null when absent; it never panics"
)]

use agentcap::audit::Trace;
use agentcap::{BlockKind, Token};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::Fail;

fn date(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

pub(crate) fn render(token: &Token, as_json: bool) -> Result<String, Fail> {
    let d = token.describe().map_err(|e| Fail::input(e.to_string()))?;
    let ids = token.revocation_ids();
    let kind = |k: BlockKind| match k {
        BlockKind::Authority => "authority",
        BlockKind::Attenuation => "attenuation",
        BlockKind::Delegation => "delegation",
        _ => "third-party",
    };
    let mut hops = d.hops.iter();
    let blocks: Vec<serde_json::Value> = d
        .blocks
        .iter()
        .map(|b| {
            let hop = if b.kind == BlockKind::Delegation { hops.next() } else { None };
            json!({
                "index": b.index,
                "kind": kind(b.kind),
                "revocation_id": ids.get(b.index).map(|i| i.to_string()),
                "signer": b.signer.map(|s| s.to_string()),
                "holder": hop.map(|h| h.holder.to_string()),
                "agent": hop.map(|h| h.agent.to_string()),
                "cause": hop.map(|h| h.cause.to_string()),
                "tools": b.tools,
                "constraints": b.constraints.iter().map(|(t, p, c)| json!({"tool": t, "arg": p, "constraint": c})).collect::<Vec<_>>(),
                "expires_at": b.expires_at.map(date),
                "seen_labels": b.seen_labels,
                "limits": b.limits.iter().map(|(k, t, n, s)| json!({"kind": k, "tool": t, "n": n, "seconds": s})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let summary = json!({
        "token_id": token.id().to_string(),
        "root_key_id": token.root_key_id(),
        "root_agent": d.root_agent.to_string(),
        "holder": d.holder.to_string(),
        "max_depth": d.max_depth,
        "depth": d.hops.len(),
        "tools": d.tools.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "expires_at": date(d.expires_at),
        "seen_labels": d.seen_labels,
        "blocks": blocks,
    });
    if as_json {
        return serde_json::to_string_pretty(&summary).map_err(|e| Fail::input(e.to_string()));
    }
    let mut out = Vec::new();
    out.push(format!("token      {}", token.id()));
    out.push(format!(
        "root key   {}",
        token
            .root_key_id()
            .map_or("none".to_owned(), |k| k.to_string())
    ));
    out.push(format!("agent      {}", d.root_agent));
    out.push(format!("holder     {}  (signs every call)", d.holder));
    out.push(format!("depth      {} of {}", d.hops.len(), d.max_depth));
    out.push(format!(
        "allows     {}",
        d.tools
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push(format!("expires    {}", date(d.expires_at)));
    if !d.seen_labels.is_empty() {
        out.push(format!(
            "labels     {}",
            d.seen_labels.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    for b in blocks {
        out.push(String::new());
        out.push(format!(
            "block {} ({})  revocation id {}",
            b["index"],
            b["kind"].as_str().unwrap_or("?"),
            b["revocation_id"].as_str().unwrap_or("?")
        ));
        if let Some(s) = b["signer"].as_str() {
            out.push(format!("  signed by {s}"));
        }
        if let (Some(h), Some(a), Some(c)) = (
            b["holder"].as_str(),
            b["agent"].as_str(),
            b["cause"].as_str(),
        ) {
            out.push(format!("  delegates to {h} (agent {a})"));
            out.push(format!("  because of message {c}"));
        }
        if let Some(tools) = b["tools"].as_array() {
            out.push(format!(
                "  tools {}",
                tools
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for c in b["constraints"].as_array().into_iter().flatten() {
            out.push(format!(
                "  {} {} {}",
                c["tool"].as_str().unwrap_or("?"),
                c["arg"].as_str().unwrap_or("?"),
                c["constraint"]
            ));
        }
        for l in b["limits"].as_array().into_iter().flatten() {
            out.push(format!(
                "  limit {} {} {} {}",
                l["kind"].as_str().unwrap_or("?"),
                l["tool"].as_str().unwrap_or(""),
                l["n"],
                l["seconds"]
            ));
        }
        for l in b["seen_labels"].as_array().into_iter().flatten() {
            out.push(format!("  seen label {}", l.as_str().unwrap_or("?")));
        }
        if let Some(e) = b["expires_at"].as_str() {
            out.push(format!("  expires {e}"));
        }
    }
    Ok(out.join("\n"))
}

pub(crate) fn render_trace(t: &Trace) -> String {
    let mut out = vec![format!(
        "decision   {} {} ({})",
        t.decision.decision,
        t.decision.tool,
        t.decision.reason.as_deref().unwrap_or("-")
    )];
    if !t.decision.approved_by.is_empty() {
        out.push(format!(
            "approved   by {}",
            t.decision.approved_by.join(", ")
        ));
    }
    if let Some(hop) = t.decision.hop {
        out.push(format!(
            "inherited  hop {hop}, labels {}",
            if t.decision.labels.is_empty() {
                "-".to_owned()
            } else {
                t.decision.labels.join(", ")
            }
        ));
    }
    out.push(format!("issuer     {}", t.issuer.as_deref().unwrap_or("-")));
    out.push(format!(
        "root agent {}",
        t.root_agent.as_deref().unwrap_or("-")
    ));
    for (i, s) in t.steps.iter().enumerate() {
        let msg = s
            .message
            .as_ref()
            .map_or("no recorded message".to_owned(), |(f, to)| {
                format!("message from {f} to {to}")
            });
        out.push(format!(
            "hop {}      {} -> agent {} because of {} ({msg})",
            i + 1,
            s.delegator,
            s.agent,
            s.cause
        ));
    }
    for (from, to, digest) in &t.messages {
        out.push(format!("cause      {digest}: {from} -> {to}"));
    }
    out.push(format!("origin     {}", t.origin().unwrap_or("-")));
    out.join("\n")
}

/// The `--json` form of a trace.
pub(crate) fn trace_json(t: &Trace) -> serde_json::Value {
    let message =
        |m: &Option<(String, String)>| m.as_ref().map(|(from, to)| json!({"from": from, "to": to}));
    json!({
        "decision": t.decision,
        "issuer": t.issuer,
        "root_agent": t.root_agent,
        "hops": t.steps.iter().map(|s| json!({
            "delegator": s.delegator,
            "agent": s.agent,
            "cause": s.cause,
            "message": message(&s.message),
        })).collect::<Vec<_>>(),
        "call_cause": t.call_cause.as_ref().map(|(digest, m)| json!({"digest": digest, "message": message(m)})),
        "messages": t.messages.iter().map(|(from, to, digest)| json!({"from": from, "to": to, "digest": digest})).collect::<Vec<_>>(),
        "origin": t.origin(),
    })
}
