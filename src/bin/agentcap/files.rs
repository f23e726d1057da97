//! Files the CLI reads and writes: key files (0600), grant and narrowing files (TOML or JSON),
//! the revocation file store, and inputs that may come from stdin.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use agentcap::{
    AgentId, AgentKey, AgentPublicKey, AuthorityKey, Constraint, Digest, Grant, Label, Narrowing,
    ToolGrant,
};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::Fail;

/// Reads a whole input: a file path, or `-` for standard input.
pub(crate) fn read_input(path: &str) -> Result<String, Fail> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Fail::input(format!("cannot read stdin: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|e| Fail::input(format!("cannot read `{path}`: {e}")))
    }
}

/// A key file: `{"kind": "agent" | "authority" | "log", "key_id": n, "secret": "<64 hex>"}`.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<u32>,
    secret: String,
}

fn secret_bytes(hex_text: &str, path: &str) -> Result<[u8; 32], Fail> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut out)
        .map_err(|_| Fail::input(format!("`{path}`: the secret is not 64 hex digits")))?;
    Ok(out)
}

fn read_key_file(path: &str) -> Result<KeyFile, Fail> {
    let text = read_input(path)?;
    serde_json::from_str(&text).map_err(|e| Fail::input(format!("`{path}` is not a key file: {e}")))
}

pub(crate) fn read_agent_key(path: &str) -> Result<AgentKey, Fail> {
    let f = read_key_file(path)?;
    if f.kind != "agent" {
        return Err(Fail::input(format!(
            "`{path}` holds {} key, not an agent key",
            with_article(&f.kind)
        )));
    }
    Ok(AgentKey::from_bytes(&secret_bytes(&f.secret, path)?))
}

pub(crate) fn read_log_key(path: &str) -> Result<agentcap::audit::LogKey, Fail> {
    let f = read_key_file(path)?;
    if f.kind != "log" {
        return Err(Fail::input(format!(
            "`{path}` holds {} key, not an audit log key",
            with_article(&f.kind)
        )));
    }
    Ok(agentcap::audit::LogKey::from_bytes(&secret_bytes(
        &f.secret, path,
    )?))
}

pub(crate) fn read_authority_key(path: &str) -> Result<AuthorityKey, Fail> {
    let f = read_key_file(path)?;
    match (f.kind.as_str(), f.key_id) {
        ("authority", Some(id)) => Ok(AuthorityKey::from_bytes(
            id,
            &secret_bytes(&f.secret, path)?,
        )),
        _ => Err(Fail::input(format!(
            "`{path}` is not an authority key file (kind `authority` with a key_id)"
        ))),
    }
}

/// Writes a secret file readable by its owner only; refuses to overwrite.
pub(crate) fn write_secret(
    path: &Path,
    kind: &str,
    key_id: Option<u32>,
    secret: &[u8; 32],
) -> Result<(), Fail> {
    use std::io::Write;
    let body = serde_json::to_string_pretty(&KeyFile {
        kind: kind.to_owned(),
        key_id,
        secret: hex::encode(secret),
    })
    .map_err(|e| Fail::input(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Fail::input(format!("cannot create `{}`: {e}", path.display())))?;
    file.write_all(body.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| Fail::input(e.to_string()))
}

/// Parses TOML or JSON (by extension, else by first character) into `T`, with the parser's
/// line/column or field path in the error.
pub(crate) fn parse_structured<T: for<'de> Deserialize<'de>>(path: &str) -> Result<T, Fail> {
    let text = read_input(path)?;
    let json =
        path.ends_with(".json") || (!path.ends_with(".toml") && text.trim_start().starts_with('{'));
    if json {
        serde_json::from_str(&text).map_err(|e| Fail::input(format!("`{path}`: {e}")))
    } else {
        toml::from_str(&text).map_err(|e| Fail::input(format!("`{path}`: {e}")))
    }
}

/// A duration like `90s`, `30m`, `12h`, `7d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30m"))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("`{s}`: the unit must be s, m, h or d")),
    }
}

fn expiry(
    at: &Option<String>,
    within: &Option<String>,
    now: OffsetDateTime,
    field: &str,
) -> Result<Option<OffsetDateTime>, Fail> {
    match (at, within) {
        (Some(_), Some(_)) => Err(Fail::input(format!(
            "{field}: give `expires_at` or `expires_in`, not both"
        ))),
        (Some(at), None) => OffsetDateTime::parse(at, &Rfc3339)
            .map(Some)
            .map_err(|e| Fail::input(format!("{field}.expires_at: `{at}` is not RFC 3339: {e}"))),
        (None, Some(d)) => parse_duration(d)
            .map(|d| Some(now + d))
            .map_err(|e| Fail::input(format!("{field}.expires_in: {e}"))),
        (None, None) => Ok(None),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateFile {
    calls: u32,
    per_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolFile {
    #[serde(default)]
    args: BTreeMap<String, Constraint>,
    #[serde(default)]
    other_args: bool,
    budget: Option<u64>,
    rate: Option<RateFile>,
    approvals: Option<u32>,
    approvals_for_other_labels: Option<u32>,
    min_tier: Option<u32>,
    accept_labels: Option<Vec<String>>,
}

/// A grant file (TOML or JSON).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantFile {
    agent: Option<String>,
    holder: Option<String>,
    expires_at: Option<String>,
    expires_in: Option<String>,
    #[serde(default)]
    max_depth: u32,
    fan_out: Option<u32>,
    max_hops: Option<u32>,
    tools: BTreeMap<String, ToolFile>,
}

fn labels(list: &[String], field: &str) -> Result<Vec<Label>, Fail> {
    list.iter()
        .map(|l| Label::new(l.as_str()).map_err(|e| Fail::input(format!("{field}: {e}"))))
        .collect()
}

impl GrantFile {
    /// The grant, its holder from the file or from `holder` (`issue --holder`), not both.
    pub(crate) fn into_grant(
        self,
        now: OffsetDateTime,
        holder: Option<&str>,
    ) -> Result<Grant, Fail> {
        let agent = match &self.agent {
            Some(a) => a
                .parse::<AgentId>()
                .map_err(|e| Fail::input(format!("agent: {e}")))?,
            None => AgentId::random(),
        };
        let holder: AgentPublicKey =
            match (self.holder.as_deref(), holder) {
                (Some(_), Some(_)) => {
                    return Err(Fail::input(
                        "the grant file names a holder and --holder gives one: keep one",
                    ))
                }
                (None, None) => return Err(Fail::input(
                    "no holder: put `holder = \"ed25519/…\"` in the grant file or pass --holder",
                )),
                (Some(h), None) => h.parse().map_err(|e| Fail::input(format!("holder: {e}")))?,
                (None, Some(h)) => h
                    .parse()
                    .map_err(|e| Fail::input(format!("--holder: {e}")))?,
            };
        let expires = expiry(&self.expires_at, &self.expires_in, now, "grant")?
            .ok_or_else(|| Fail::input("grant: `expires_at` or `expires_in` is required"))?;
        let mut b = Grant::builder(agent, holder, expires).max_depth(self.max_depth);
        if let Some(k) = self.fan_out {
            b = b.fan_out(k);
        }
        if let Some(h) = self.max_hops {
            b = b.max_hops(h);
        }
        for (name, t) in self.tools {
            let field = format!("tools.{name}");
            let mut g = ToolGrant::new();
            for (arg, c) in t.args {
                g = g.arg(&arg, c);
            }
            if t.other_args {
                g = g.allow_other_args();
            }
            if let Some(n) = t.budget {
                g = g.budget(n);
            }
            if let Some(r) = t.rate {
                g = g.rate(r.calls, std::time::Duration::from_secs(r.per_seconds));
            }
            if let Some(k) = t.approvals {
                g = g.approvals(k);
            }
            if let Some(k) = t.approvals_for_other_labels {
                g = g.approvals_for_other_labels(k);
            }
            if let Some(tier) = t.min_tier {
                g = g.min_tier(tier);
            }
            if let Some(ls) = &t.accept_labels {
                g = g.accept_labels(labels(ls, &format!("{field}.accept_labels"))?);
            }
            b = b.tool(&name, g);
        }
        b.build().map_err(|e| Fail::input(format!("grant: {e}")))
    }
}

/// A narrowing file (TOML or JSON).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct NarrowingFile {
    tools: Option<Vec<String>>,
    #[serde(default)]
    args: BTreeMap<String, BTreeMap<String, Constraint>>,
    #[serde(default)]
    close_args: Vec<String>,
    expires_at: Option<String>,
    expires_in: Option<String>,
    #[serde(default)]
    budgets: BTreeMap<String, u64>,
    fan_out: Option<u32>,
    max_hops: Option<u32>,
    #[serde(default)]
    seen_labels: Vec<String>,
}

impl NarrowingFile {
    pub(crate) fn into_narrowing(self, now: OffsetDateTime) -> Result<Narrowing, Fail> {
        let mut n = Narrowing::new();
        if let Some(tools) = &self.tools {
            n = n.only_tools(tools.iter().map(String::as_str));
        }
        for (tool, args) in self.args {
            for (arg, c) in args {
                n = n.constrain(&tool, &arg, c);
            }
        }
        for tool in &self.close_args {
            n = n.close_args(tool);
        }
        if let Some(at) = expiry(&self.expires_at, &self.expires_in, now, "narrowing")? {
            n = n.expires_at(at);
        }
        for (tool, uses) in self.budgets {
            n = n.budget(&tool, uses);
        }
        if let Some(k) = self.fan_out {
            n = n.fan_out(k);
        }
        if let Some(h) = self.max_hops {
            n = n.max_hops(h);
        }
        n = n.seen_labels(labels(&self.seen_labels, "narrowing.seen_labels")?);
        Ok(n)
    }
}

/// The revocation file store: revoked block ids and agent keys, kept forever.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct RevocationFile {
    #[serde(default)]
    pub(crate) revocation_ids: Vec<String>,
    #[serde(default)]
    pub(crate) agent_keys: Vec<String>,
}

impl RevocationFile {
    pub(crate) fn load(path: &str) -> Result<Self, Fail> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| Fail::input(format!("`{path}`: {e}")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Fail::input(format!("cannot read `{path}`: {e}"))),
        }
    }

    pub(crate) fn save(&self, path: &str) -> Result<(), Fail> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Fail::input(e.to_string()))?;
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Fail::input(format!("cannot write `{path}`: {e}")))
    }
}

/// A cause: 64 hex digits, or `file:PATH` (the digest of that file's bytes as a message).
pub(crate) fn parse_cause(text: &str) -> Result<Digest, Fail> {
    match text.strip_prefix("file:") {
        Some(path) => std::fs::read(path)
            .map(|bytes| Digest::of_message(&bytes))
            .map_err(|e| Fail::input(format!("cannot read `{path}`: {e}"))),
        None => text.parse().map_err(|e| Fail::input(format!("cause: {e}"))),
    }
}

/// `an authority`, `an agent`, `a foo`: the key kind with its article.
fn with_article(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} `{kind}`")
}
