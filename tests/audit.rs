//! The audit log: decisions recorded by the verifier, tamper detection, crash safety, traces
//! and redaction. Every test name contains `audit` (`cargo test audit`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use agentcap::audit::{self, AuditConfig, AuditLog, Event, LogFailure, LogKey, Record};
use agentcap::*;
use common::*;
use serde_json::json;

fn temp(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agentcap-audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// A log with 12 message records and checkpoints every 5.
fn sample() -> (PathBuf, audit::LogPublicKey) {
    let path = temp("log.jsonl");
    let config = AuditConfig::default().with_checkpoint_every(5);
    let log = AuditLog::create(&path, LogKey::generate(), config).unwrap();
    for i in 0..12u8 {
        log.record_message(
            AgentId::random(),
            AgentId::random(),
            Digest::of_message(&[i]),
            None,
            &[],
        )
        .unwrap();
    }
    let key = log.public_key();
    log.close().unwrap();
    (path, key)
}

fn verifier_with_log(w: &World, log: Arc<AuditLog>) -> Verifier {
    Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["read_file", "search", "publish"],
    )
    .clock(Arc::new(FixedClock(now())))
    .audit(log)
    .build()
    .unwrap()
}

fn signed(w: &World, t: &Token, key: &AgentKey, call: &ToolCall) -> CallProof {
    CallProof::sign(key, t, &w.executor, call, now()).unwrap()
}

#[test]
fn audit_records_every_decision_and_verifies() {
    let w = World::new();
    let path = temp("decisions.jsonl");
    let log =
        Arc::new(AuditLog::create(&path, LogKey::generate(), AuditConfig::default()).unwrap());
    let v = verifier_with_log(&w, log.clone());
    let t = w.token();
    let ok = ToolCall::new("read_file", read("/data/a")).unwrap();
    let a = v
        .verify(&t.to_base64().unwrap(), &ok, &signed(&w, &t, &w.alice, &ok))
        .unwrap();
    let bad = ToolCall::new("read_file", read("/etc/passwd")).unwrap();
    let d = v
        .verify(
            &t.to_base64().unwrap(),
            &bad,
            &signed(&w, &t, &w.alice, &bad),
        )
        .unwrap_err();
    assert!(a.audit_event().is_some() && d.audit_event().is_some());
    log.close().unwrap();
    let report = audit::verify_file(&path, &log.public_key()).unwrap();
    assert!(report.closed && !report.torn_tail);
    let records: Vec<Record> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Decision(d) => Some((r.id.clone(), d.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0].0, a.audit_event().unwrap());
    assert_eq!(Some(decisions[1].0.as_str()), d.audit_event());
    assert_eq!(decisions[0].1.decision, "allow");
    assert_eq!(decisions[1].1.decision, "deny");
    assert_eq!(decisions[1].1.reason.as_deref(), Some("argument_rejected"));
    // Token ids only, never a token or a key.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&t.to_base64().unwrap()[..40]));
}

#[test]
fn audit_detects_an_edit() {
    let (path, key) = sample();
    let mut l = lines(&path);
    l[3] = l[3].replace("\"from\":\"", "\"from\":\"0");
    write_lines(&path, &l);
    assert_eq!(
        audit::verify_file(&path, &key),
        Err(LogFailure::Chain { line: 4 })
    );
}

#[test]
fn audit_detects_a_deletion() {
    let (path, key) = sample();
    let mut l = lines(&path);
    l.remove(7);
    write_lines(&path, &l);
    assert!(matches!(
        audit::verify_file(&path, &key),
        Err(LogFailure::Sequence { line: 7, .. })
    ));
}

#[test]
fn audit_detects_an_insertion() {
    let (path, key) = sample();
    let mut l = lines(&path);
    let copy = l[2].clone();
    l.insert(3, copy);
    write_lines(&path, &l);
    assert!(matches!(
        audit::verify_file(&path, &key),
        Err(LogFailure::Sequence { line: 3, .. })
    ));
}

#[test]
fn audit_detects_a_reordering() {
    let (path, key) = sample();
    let mut l = lines(&path);
    l.swap(8, 9);
    write_lines(&path, &l);
    assert!(matches!(
        audit::verify_file(&path, &key),
        Err(LogFailure::Sequence { line: 8, .. })
    ));
}

#[test]
fn audit_detects_a_rewritten_chain_without_the_key() {
    // An attacker re-chains an edited record and everything after it, but cannot sign.
    let (path, key) = sample();
    let mut records: Vec<Record> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    if let Event::Message { from, .. } = &mut records[2].event {
        *from = "attacker".to_owned();
    }
    let mut prev = [0u8; 32];
    let mut out = Vec::new();
    for r in &mut records {
        r.prev = hex::encode(prev);
        let line = serde_json::to_string(r).unwrap();
        prev = {
            use sha2::Digest as _;
            sha2::Sha256::digest(line.as_bytes()).into()
        };
        out.push(line);
    }
    write_lines(&path, &out);
    assert_eq!(
        audit::verify_file(&path, &key),
        Err(LogFailure::Signature { line: 5 })
    );
    // A log written with another key is not this log.
    let (other, _) = sample();
    assert_eq!(audit::verify_file(&other, &key), Err(LogFailure::WrongLog));
}

#[test]
fn audit_detects_truncation() {
    let (path, key) = sample();
    let full = audit::verify_file(&path, &key).unwrap();
    assert!(full.closed);
    let mut l = lines(&path);
    l.truncate(8);
    write_lines(&path, &l);
    let cut = audit::verify_file(&path, &key).unwrap();
    assert!(!cut.closed, "a cut log is no longer closed");
    assert_eq!(cut.checkpointed, 6);
    // Against a checkpoint the operator already shipped off the host, the cut is an error.
    assert_eq!(
        audit::verify_file_since(&path, &key, full.checkpointed),
        Err(LogFailure::Truncated {
            records: 8,
            expected: full.checkpointed
        })
    );
}

#[test]
fn audit_torn_tail_is_reported_and_recovered_on_open() {
    let path = temp("torn.jsonl");
    let key = LogKey::from_bytes(&[9; 32]);
    let log =
        AuditLog::create(&path, LogKey::from_bytes(&[9; 32]), AuditConfig::default()).unwrap();
    log.record_message(
        AgentId::random(),
        AgentId::random(),
        Digest::of_message(b"m"),
        None,
        &[],
    )
    .unwrap();
    drop(log);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"seq\":2,\"id\":\"x")
        .unwrap();
    let report = audit::verify_file(&path, &key.public()).unwrap();
    assert!(report.torn_tail);
    assert_eq!(report.records, 2);
    let reopened = AuditLog::open(&path, key, AuditConfig::default()).unwrap();
    reopened.close().unwrap();
    let report = audit::verify_file(&path, &reopened.public_key()).unwrap();
    assert!(!report.torn_tail && report.closed);
    assert!(lines(&path)
        .iter()
        .any(|l| l.contains("\"kind\":\"recovery\"")));
}

/// A child process appends records and prints `ACK <seq>` after each acknowledged one; the
/// parent kills it (SIGKILL) at random points. Every time, the log verifies and holds every
/// acknowledged record.
#[test]
fn audit_survives_kill_9_at_twenty_points() {
    if let Ok(path) = std::env::var("AGENTCAP_AUDIT_CHILD") {
        let log = AuditLog::open(
            &path,
            LogKey::from_bytes(&[5; 32]),
            AuditConfig::default().with_checkpoint_every(7),
        )
        .unwrap();
        let out = std::io::stdout();
        for i in 0u32.. {
            let id = log
                .record_message(
                    AgentId::random(),
                    AgentId::random(),
                    Digest::of_message(&i.to_be_bytes()),
                    None,
                    &[],
                )
                .unwrap();
            let mut o = out.lock();
            writeln!(o, "ACK {id}").unwrap();
            o.flush().unwrap();
        }
        return;
    }
    let path = temp("crash.jsonl");
    let key = LogKey::from_bytes(&[5; 32]);
    AuditLog::create(&path, LogKey::from_bytes(&[5; 32]), AuditConfig::default()).unwrap();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut acked = Vec::new();
    for _ in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let stop_after = 1 + (seed % 40) as usize;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "audit_survives_kill_9_at_twenty_points",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("AGENTCAP_AUDIT_CHILD", &path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = std::io::BufReader::new(stdout);
        let mut seen = 0;
        let mut line = String::new();
        while seen < stop_after {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(id) = line.split("ACK ").nth(1) {
                acked.push(id.trim().to_owned());
                seen += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let report = audit::verify_file(&path, &key.public()).unwrap();
        assert!(report.records >= acked.len() as u64);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    for id in &acked {
        assert!(
            text.contains(id.as_str()),
            "acknowledged record {id} is in the log"
        );
    }
    assert!(acked.len() >= 20);
}

#[test]
fn audit_trace_reaches_the_origin_through_four_hops() {
    let w = World::new();
    let path = temp("trace.jsonl");
    let log =
        Arc::new(AuditLog::create(&path, LogKey::generate(), AuditConfig::default()).unwrap());
    let keys: Vec<AgentKey> = (0..4).map(|_| AgentKey::generate()).collect();
    let ids: Vec<AgentId> = (0..4).map(|_| AgentId::random()).collect();
    let mallory = AgentId::random();
    // The worm starts with mallory's message to alice, then hops agent to agent.
    let mut token = w
        .authority
        .issue(&w.grant().max_depth(4).build().unwrap())
        .unwrap();
    log.record_issuance(&token).unwrap();
    let mut holder = &w.alice;
    let mut sender = mallory;
    let mut recipient = w.alice_id;
    for i in 0..4 {
        let msg = format!("please forward this, hop {i}");
        let digest = Digest::of_message(msg.as_bytes());
        log.record_message(sender, recipient, digest, None, &[])
            .unwrap();
        let next = token
            .delegate(holder, keys[i].public(), ids[i], digest, &Narrowing::new())
            .unwrap();
        log.record_delegation(&token, &next).unwrap();
        token = next;
        holder = &keys[i];
        sender = recipient;
        recipient = ids[i];
    }
    let v = verifier_with_log(&w, log.clone());
    let call = ToolCall::new("search", json!({"q": "secrets"})).unwrap();
    let a = v
        .verify(
            &token.to_base64().unwrap(),
            &call,
            &signed(&w, &token, &keys[3], &call),
        )
        .unwrap();
    audit::verify_file(&path, &log.public_key()).unwrap();
    let trace = audit::trace(&path, a.audit_event().unwrap()).unwrap();
    assert_eq!(trace.steps.len(), 4);
    assert_eq!(
        trace.root_agent.as_deref(),
        Some(w.alice_id.to_string().as_str())
    );
    assert_eq!(
        trace.steps[0].message,
        Some((mallory.to_string(), w.alice_id.to_string()))
    );
    assert_eq!(trace.steps[3].agent, ids[3].to_string());
    assert_eq!(
        trace.origin(),
        Some(mallory.to_string().as_str()),
        "the origin is named"
    );
}

#[test]
fn audit_redaction_keeps_raw_arguments_out_unless_opted_in() {
    let w = World::new();
    let path = temp("redact.jsonl");
    let config =
        AuditConfig::default().keep_args(ToolName::new("search").unwrap(), ["/q".to_owned()]);
    let log = Arc::new(AuditLog::create(&path, LogKey::generate(), config).unwrap());
    let v = verifier_with_log(&w, log.clone());
    let t = w.token();
    for (tool, args) in [
        ("read_file", json!({"path": "/data/SECRET-PATH-1"})),
        ("search", json!({"q": "KEPT-QUERY", "token": "SECRET-2"})),
    ] {
        let call = ToolCall::new(tool, args).unwrap();
        let _ = v.verify(
            &t.to_base64().unwrap(),
            &call,
            &signed(&w, &t, &w.alice, &call),
        );
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("SECRET-PATH-1") && !text.contains("SECRET-2"),
        "{text}"
    );
    assert!(text.contains("KEPT-QUERY"), "an opted-in argument is kept");
    assert!(
        !text.contains(&hex::encode(w.alice.to_bytes().as_ref())),
        "no secret key"
    );
}

#[test]
fn audit_write_failure_denies_the_call() {
    let w = World::new();
    let path = temp("closed.jsonl");
    let log =
        Arc::new(AuditLog::create(&path, LogKey::generate(), AuditConfig::default()).unwrap());
    let v = verifier_with_log(&w, log.clone());
    log.close().unwrap();
    let t = w.token();
    let call = ToolCall::new("read_file", read("/data/a")).unwrap();
    let d = v
        .verify(
            &t.to_base64().unwrap(),
            &call,
            &signed(&w, &t, &w.alice, &call),
        )
        .unwrap_err();
    assert!(matches!(
        d.operator_reason(),
        DenyReason::AuditUnavailable(_)
    ));
    assert_eq!(d.class(), DenyClass::StateUnavailable);
}

#[test]
fn audit_trace_follows_message_causes_to_the_origin() {
    let w = World::new();
    let path = temp("msgtrace.jsonl");
    let log =
        Arc::new(AuditLog::create(&path, LogKey::generate(), AuditConfig::default()).unwrap());
    let mallory = AgentId::random();
    let (m1, m2, m3) = (
        Digest::of_message(b"m1"),
        Digest::of_message(b"m2"),
        Digest::of_message(b"m3"),
    );
    log.record_message(mallory, w.alice_id, m1, None, &[])
        .unwrap();
    log.record_message(w.alice_id, w.bob_id, m2, Some(m1), &[])
        .unwrap();
    log.record_message(w.bob_id, w.carol_id, m3, Some(m2), &[])
        .unwrap();
    let v = verifier_with_log(&w, log.clone());
    let t = w.token();
    let call = ToolCall::new("search", json!({})).unwrap().with_cause(m3);
    let a = v
        .verify(
            &t.to_base64().unwrap(),
            &call,
            &signed(&w, &t, &w.alice, &call),
        )
        .unwrap();
    let trace = audit::trace(&path, a.audit_event().unwrap()).unwrap();
    let senders: Vec<&str> = trace
        .messages
        .iter()
        .map(|(from, _, _)| from.as_str())
        .collect();
    assert_eq!(
        senders,
        [
            w.bob_id.to_string(),
            w.alice_id.to_string(),
            mallory.to_string()
        ]
    );
    assert_eq!(trace.origin(), Some(mallory.to_string().as_str()));
}

/// One writer per log file: a second `create` or `open` of a log that is open is refused with
/// a clear error (two writers would interleave two chains), and works once the first is gone.
#[test]
fn audit_a_second_writer_is_refused() {
    let path = temp("locked");
    let key = LogKey::from_bytes(&[5; 32]);
    let first =
        AuditLog::create(&path, LogKey::from_bytes(&[5; 32]), AuditConfig::default()).unwrap();
    first
        .record_message(
            AgentId::random(),
            AgentId::random(),
            Digest::of_message(b"m"),
            None,
            &[],
        )
        .unwrap();
    let second = AuditLog::open(&path, LogKey::from_bytes(&[5; 32]), AuditConfig::default());
    match second {
        Err(audit::AuditError::Unusable { why, .. }) => {
            assert!(why.contains("another writer"), "{why}")
        }
        other => panic!("a second writer was let in: {other:?}"),
    }
    drop(first);
    let reopened = AuditLog::open(&path, key, AuditConfig::default()).unwrap();
    reopened.close().unwrap();
    assert!(
        audit::verify_file(&path, &LogKey::from_bytes(&[5; 32]).public())
            .unwrap()
            .closed
    );
}

/// Group commit: eight threads appending with an `fsync` per record (the sync outside the
/// append lock) all get their own records, in one unbroken chain that verifies.
#[test]
fn audit_concurrent_appends_with_group_commit_verify() {
    let path = temp("concurrent");
    let log = Arc::new(
        AuditLog::create(
            &path,
            LogKey::from_bytes(&[6; 32]),
            AuditConfig::default().with_checkpoint_every(37),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..60)
                    .map(|i| {
                        log.record_message(
                            AgentId::random(),
                            AgentId::random(),
                            Digest::of_message(format!("{t}-{i}").as_bytes()),
                            None,
                            &[],
                        )
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 480, "every append got its own record");
    drop(log);
    let report = audit::verify_file(&path, &LogKey::from_bytes(&[6; 32]).public()).unwrap();
    // 1 open + 480 messages + a checkpoint every 37 records.
    assert!(report.records >= 481, "{report}");
    assert!(!report.torn_tail);
}

/// A call that could not even be parsed is a decision record too, and what the caller supplied
/// (the tool name, the detail) reaches the record and the logs without control characters: a
/// newline cannot forge a line in a text log.
#[test]
fn a_malformed_call_is_recorded_without_control_characters() {
    let w = World::new();
    let path = temp("malformed.jsonl");
    let log =
        Arc::new(AuditLog::create(&path, LogKey::generate(), AuditConfig::default()).unwrap());
    let v = verifier_with_log(&w, log.clone());
    let name = format!("read\nfile\r{}", "x".repeat(300));
    let d = v.reject_malformed(&name, "bad\nproof");
    assert_eq!(d.operator_reason().code(), "malformed_call");
    assert!(!d.operator_reason().to_string().contains('\n'));
    log.close().unwrap();
    let records: Vec<Record> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (id, decision) = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Decision(d) => Some((r.id.clone(), d.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(Some(id.as_str()), d.audit_event());
    assert!(decision.tool.starts_with("readfilexxx"));
    assert_eq!(decision.tool.chars().count(), 128);
    assert!(!decision.detail.unwrap().contains('\n'));
}

/// Anchored checkpoints: each checkpoint is also kept in a store off the host (the log's id,
/// coverage and checkpoint line hash), so a log cut back past an anchored checkpoint — which
/// still verifies on its own — is detected, reopening it to append is refused, a log replaced by
/// another is detected, and a new log with the same key is not mistaken for a cut one.
#[test]
fn audit_anchored_checkpoints_detect_a_cut() {
    use agentcap::audit::CheckpointAnchor;
    let store = Arc::new(agentcap::state::MemoryStore::new());
    let path = temp("anchored.jsonl");
    let key = LogKey::generate();
    let secret = key.to_bytes();
    let same_key = || LogKey::from_bytes(&secret);
    let public = key.public();
    let config = AuditConfig::default()
        .with_checkpoint_every(5)
        .with_anchor(store.clone());
    let log = AuditLog::create(&path, key, config.clone()).unwrap();
    let (a, b) = (AgentId::random(), AgentId::random());
    for i in 0..12u8 {
        log.record_message(a, b, Digest::of_message(&[i]), None, &[])
            .unwrap();
    }
    drop(log);
    // open + 4 messages + checkpoint, 5 more + checkpoint: 12 records covered.
    let point = store.anchored(&public).unwrap().unwrap();
    assert_eq!(point.checkpointed, 12);
    assert!(audit::verify_anchored(&path, &public, store.as_ref()).is_ok());
    let full = lines(&path);

    // Cut the log back to its first checkpoint: on its own it still verifies...
    write_lines(&path, &full[..6]);
    let alone = audit::verify_file(&path, &public).unwrap();
    assert_eq!(alone.checkpointed, 6);
    // ...but not against the anchor, and it is not reopened to append (which would hide the cut).
    assert_eq!(
        audit::verify_anchored(&path, &public, store.as_ref()),
        Err(LogFailure::Truncated {
            records: 6,
            expected: 12
        })
    );
    let refused = AuditLog::open(&path, same_key(), config.clone()).unwrap_err();
    assert!(
        refused.to_string().contains("anchored checkpoint"),
        "{refused}"
    );

    // A point of the same log covering less never replaces the stored one.
    let earlier = audit::AnchorPoint::new(point.log_id, 6, [0; 32]);
    store.anchor(&public, &earlier).unwrap();
    assert_eq!(store.anchored(&public).unwrap(), Some(point));

    // The whole file replaced by another log with the same key: not the anchored log.
    write_lines(&path, &full);
    let other = temp("other.jsonl");
    let other_log = AuditLog::create(&other, same_key(), AuditConfig::default()).unwrap();
    other_log.close().unwrap();
    assert_eq!(
        audit::verify_anchored(&other, &public, store.as_ref()),
        Err(LogFailure::Truncated {
            records: 2,
            expected: 12
        })
    );

    // A new log the operator starts with the same key replaces the anchor (no false alarm).
    let next = temp("next.jsonl");
    let next_log = AuditLog::create(&next, same_key(), config).unwrap();
    next_log.close().unwrap();
    assert!(audit::verify_anchored(&next, &public, store.as_ref()).is_ok());
    assert!(matches!(
        audit::verify_anchored(&path, &public, store.as_ref()),
        Err(LogFailure::Anchor { line: 0 })
    ));
}
