//! The audit log's disk fails under a running verifier: a real filesystem that fills up (a
//! small tmpfs mounted for the test; needs root, so the test is `#[ignore]`d and `.ci/run` runs
//! it with `--include-ignored`). Four threads decide until the disk is full. Every call from
//! then on is denied (fail closed); every call that was allowed has its record in the log; once
//! there is space again the log is reopened, its torn tail dropped, and it verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use agentcap::audit::{self, AuditConfig, AuditLog, Durability, Event, LogKey, Record};
use agentcap::*;
use common::*;
use serde_json::json;

/// A tmpfs of `kib` KiB, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(kib: u32) -> Tmpfs {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("agentcap-tmpfs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs (needs root)");
        Tmpfs(dir)
    }

    fn resize(&self, kib: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount the tmpfs");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "mounts a tmpfs (needs root): run with -- --include-ignored"]
fn audit_disk_full_fails_closed_and_loses_nothing_acknowledged() {
    let disk = Tmpfs::mount(64);
    let path = disk.0.join("audit.jsonl");
    let key = LogKey::generate();
    let same_key = || LogKey::from_bytes(&key.to_bytes());
    let config = AuditConfig::default().with_durability(Durability::EveryRecord);
    let log = Arc::new(AuditLog::create(&path, same_key(), config.clone()).unwrap());
    let w = Arc::new(World::new());
    let v = Arc::new(
        Verifier::builder(
            w.executor.clone(),
            w.authority.key().public().into(),
            ["search"],
        )
        .clock(Arc::new(FixedClock(now())))
        .audit(log.clone())
        .build()
        .unwrap(),
    );
    let t = Arc::new(w.token());
    // Four threads decide until each has seen ten denials in a row.
    let results: Vec<(Vec<String>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|thread| {
                let (w, v, t) = (w.clone(), v.clone(), t.clone());
                s.spawn(move || {
                    let (mut acknowledged, mut denied_in_a_row, mut denied) = (Vec::new(), 0, 0);
                    let text = t.to_base64().unwrap();
                    for n in 0.. {
                        let call =
                            ToolCall::new("search", json!({ "thread": thread, "n": n })).unwrap();
                        let proof =
                            CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
                        match v.verify(&text, &call, &proof) {
                            Ok(a) => {
                                assert_eq!(
                                    denied_in_a_row, 0,
                                    "no call allowed after the log failed"
                                );
                                acknowledged.push(a.audit_event().unwrap().to_owned());
                            }
                            Err(d) => {
                                assert!(
                                    matches!(d.operator_reason(), DenyReason::AuditUnavailable(_)),
                                    "{:?}",
                                    d.operator_reason()
                                );
                                assert_eq!(d.class(), DenyClass::StateUnavailable);
                                denied += 1;
                                denied_in_a_row += 1;
                                if denied_in_a_row == 10 {
                                    break;
                                }
                            }
                        }
                    }
                    (acknowledged, denied)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let acknowledged: Vec<String> = results.iter().flat_map(|(a, _)| a.clone()).collect();
    assert!(acknowledged.len() > 20, "the disk held some records first");
    drop(v);
    drop(log);

    // Space again: the log reopens (dropping a torn last line, if any) and verifies.
    disk.resize(1024);
    let reopened = AuditLog::open(&path, same_key(), config).unwrap();
    reopened.close().unwrap();
    let report = audit::verify_file(&path, &key.public()).unwrap();
    assert!(report.closed && !report.torn_tail);
    let on_disk: HashSet<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Record>(l).unwrap())
        .filter(|r| matches!(&r.event, Event::Decision(d) if d.decision == "allow"))
        .map(|r| r.id)
        .collect();
    for id in &acknowledged {
        assert!(
            on_disk.contains(id),
            "acknowledged decision {id} is in the log"
        );
    }
    assert_eq!(
        on_disk.len(),
        acknowledged.len(),
        "no allow the caller did not see"
    );
    println!(
        "disk full after {} acknowledged decisions; {} denials; log verifies after recovery",
        acknowledged.len(),
        results.iter().map(|(_, d)| d).sum::<usize>()
    );
}
