//! End-to-end tests of the `agentcap` binary: the real executable, real files.
#![cfg(feature = "cli")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("agentcap-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentcap"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

/// keygen → issue → delegate → returns (dir, root public key, bob's token file, bob key file).
fn setup() -> (Dir, String, String, String, String) {
    let d = Dir::new();
    let root = ok(&[
        "keygen",
        "--kind",
        "authority",
        "--key-id",
        "3",
        "--out",
        &d.path("root.key"),
    ]);
    let alice = ok(&["keygen", "--kind", "agent", "--out", &d.path("alice.key")]);
    let bob = ok(&["keygen", "--kind", "agent", "--out", &d.path("bob.key")]);
    let grant = d.write(
        "grant.toml",
        &format!(
            r#"
agent = "6a1f0c9e-0000-4000-8000-000000000001"
holder = "{alice}"
expires_in = "1h"
max_depth = 2

[tools.read_file.args]
path = {{ sub_path = "/data" }}

[tools.search]
other_args = true
budget = 100
"#
        ),
    );
    let token = ok(&[
        "issue",
        "--key",
        &d.path("root.key"),
        "--authority-id",
        "ops",
        "--grant",
        &grant,
    ]);
    let t0 = d.write("alice.token", &token);
    let msg = d.write("msg.txt", "please read the q3 report");
    let narrow = d.write(
        "narrow.toml",
        "tools = [\"read_file\"]\n[args.read_file]\npath = { sub_path = \"/data/q3\" }\n",
    );
    let t1 = ok(&[
        "delegate",
        "--token",
        &t0,
        "--root",
        &root,
        "--key",
        &d.path("alice.key"),
        "--to",
        &bob,
        "--to-agent",
        "6a1f0c9e-0000-4000-8000-000000000002",
        "--cause",
        &format!("file:{msg}"),
        "--narrowing",
        &narrow,
    ]);
    let t1 = d.write("bob.token", &t1);
    (d, root, t1, d_key(&bob), alice)
}

fn d_key(_: &str) -> String {
    "bob.key".to_owned()
}

fn sign(d: &Dir, root: &str, token: &str, key: &str, args: &str) -> String {
    let proof = ok(&[
        "sign-call",
        "--token",
        token,
        "--root",
        root,
        "--key",
        &d.path(key),
        "--executor",
        "files-1",
        "--tool",
        "read_file",
        "--args",
        args,
    ]);
    d.write(&format!("proof-{}", uuid::Uuid::new_v4().simple()), &proof)
}

fn verify(d: &Dir, root: &str, token: &str, proof: &str, args: &str, extra: &[&str]) -> Output {
    let _ = d;
    let mut a = vec![
        "verify",
        "--token",
        token,
        "--root",
        root,
        "--executor",
        "files-1",
        "--tool",
        "read_file",
        "--args",
        args,
        "--proof",
        proof,
    ];
    a.extend_from_slice(extra);
    cli(&a)
}

#[test]
fn cli_round_trip_keygen_issue_delegate_sign_verify_allowed() {
    let (d, root, t1, key, _) = setup();
    let args = r#"{"path": "/data/q3/report.csv"}"#;
    let proof = sign(&d, &root, &t1, &key, args);
    let out = verify(&d, &root, &t1, &proof, args, &[]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("allowed"));
}

#[test]
fn cli_denials_exit_1_with_the_operator_reason() {
    let (d, root, t1, key, _) = setup();
    let args = r#"{"path": "/data/q3/report.csv"}"#;
    // Wrong args: the proof was for another call.
    let proof = sign(&d, &root, &t1, &key, args);
    let out = verify(
        &d,
        &root,
        &t1,
        &proof,
        r#"{"path": "/data/q3/other.csv"}"#,
        &[],
    );
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("proof for another call"));
    // Wrong key: alice signs bob's token.
    let proof = sign(&d, &root, &t1, "alice.key", args);
    let out = verify(&d, &root, &t1, &proof, args, &[]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad proof signature"));
    // Tampered token.
    let proof = sign(&d, &root, &t1, &key, args);
    let mut text = std::fs::read_to_string(&t1).unwrap();
    let i = text.len() / 2;
    let c = if &text[i..=i] == "A" { "B" } else { "A" };
    text.replace_range(i..=i, c);
    let tampered = d.write("tampered.token", &text);
    let out = verify(&d, &root, &tampered, &proof, args, &[]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stdout));
    // Outside the delegated path.
    let proof = sign(&d, &root, &t1, &key, r#"{"path": "/data/q4/x"}"#);
    assert_eq!(
        code(&verify(
            &d,
            &root,
            &t1,
            &proof,
            r#"{"path": "/data/q4/x"}"#,
            &[]
        )),
        1
    );
}

#[test]
fn cli_revoke_then_verify_is_denied() {
    let (d, root, t1, key, _) = setup();
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", "--token", &t1, "--root", &root, "--json"])).unwrap();
    let middle = inspect["blocks"][1]["revocation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let state = d.path("revoked.json");
    ok(&["revoke", "--id", &middle, "--state", &state]);
    let args = r#"{"path": "/data/q3/a"}"#;
    let proof = sign(&d, &root, &t1, &key, args);
    let out = verify(&d, &root, &t1, &proof, args, &["--state", &state]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
}

#[test]
fn cli_garbage_input_exits_2_with_a_clear_message_and_never_panics() {
    let d = Dir::new();
    let garbage = d.write("garbage.token", "this is not a token");
    let out = cli(&[
        "inspect",
        "--token",
        &garbage,
        "--root",
        "1:ed25519/0000000000000000000000000000000000000000000000000000000000000000",
    ]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("agentcap: ") && !err.contains("panicked"),
        "{err}"
    );
    for args in [
        vec!["inspect", "--token", &garbage, "--root", "not-a-key"],
        vec![
            "issue",
            "--key",
            &garbage,
            "--authority-id",
            "ops",
            "--grant",
            &garbage,
        ],
        vec![
            "verify",
            "--token",
            &garbage,
            "--root",
            "x",
            "--executor",
            "e",
            "--tool",
            "t",
            "--args",
            "{",
            "--proof",
            &garbage,
        ],
        vec!["audit", "verify", "--log", &garbage, "--key", "ed25519/00"],
        vec!["no-such-command"],
    ] {
        let out = cli(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn cli_grant_file_errors_point_at_the_line_or_field() {
    let d = Dir::new();
    ok(&[
        "keygen",
        "--kind",
        "authority",
        "--out",
        &d.path("root.key"),
    ]);
    let bad_toml = d.write("bad.toml", "holder = \"x\"\nexpires_in = \n");
    let out = cli(&[
        "issue",
        "--key",
        &d.path("root.key"),
        "--authority-id",
        "ops",
        "--grant",
        &bad_toml,
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown = d.write(
        "unknown.toml",
        "holder = \"x\"\nexpires_in = \"1h\"\nbudgett = 3\n[tools.a]\n",
    );
    let err = String::from_utf8_lossy(
        &cli(&[
            "issue",
            "--key",
            &d.path("root.key"),
            "--authority-id",
            "ops",
            "--grant",
            &unknown,
        ])
        .stderr,
    )
    .into_owned();
    assert!(err.contains("budgett"), "{err}");
    let bad_constraint = d.write(
        "c.json",
        r#"{"holder": "ed25519/0000000000000000000000000000000000000000000000000000000000000000", "expires_in": "1h",
            "tools": {"read": {"args": {"path": {"sub_path": "relative/path"}}}}}"#,
    );
    let err = String::from_utf8_lossy(
        &cli(&[
            "issue",
            "--key",
            &d.path("root.key"),
            "--authority-id",
            "ops",
            "--grant",
            &bad_constraint,
        ])
        .stderr,
    )
    .into_owned();
    assert!(
        err.contains("relative/path") || err.contains("holder"),
        "{err}"
    );
}

#[test]
fn cli_inspect_shows_blocks_holders_and_causes() {
    let (_d, root, t1, _, alice) = setup();
    let text = ok(&["inspect", "--token", &t1, "--root", &root]);
    // A snapshot with the per-token random values masked.
    let masked: Vec<String> = text
        .lines()
        .map(|l| {
            let l = l.split(" revocation id ").next().unwrap().to_owned();
            if l.starts_with("token ")
                || l.starts_with("holder ")
                || l.starts_with("expires")
                || l.starts_with("  expires")
                || l.contains("ed25519/")
            {
                l.split_whitespace().next().unwrap().to_owned()
            } else {
                l
            }
        })
        .collect();
    let expected = [
        "token",
        "root key   3",
        "agent      6a1f0c9e-0000-4000-8000-000000000001",
        "holder",
        "depth      1 of 2",
        "allows     read_file",
        "expires",
        "",
        "block 0 (authority)",
        "  tools read_file, search",
        "  read_file /path {\"sub_path\":\"/data\"}",
        "  limit bud search 100 0",
        "expires",
        "",
        "block 1 (delegation)",
        "signed",
        "delegates",
        "  because of message ",
    ];
    for (got, want) in masked.iter().zip(expected.iter()) {
        assert!(got.starts_with(want), "got {got:?}, want {want:?}\n{text}");
    }
    assert!(text.contains(&format!("signed by {alice}")));
    assert!(text.contains("read_file /path {\"sub_path\":\"/data/q3\"}"));
}

#[test]
fn cli_keygen_writes_owner_only_files_and_refuses_to_overwrite() {
    let d = Dir::new();
    ok(&["keygen", "--kind", "agent", "--out", &d.path("k")]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(d.path("k")).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        code(&cli(&["keygen", "--kind", "agent", "--out", &d.path("k")])),
        2
    );
}

#[test]
fn cli_help_lists_every_subcommand() {
    let help = ok(&["--help"]);
    for sub in [
        "keygen",
        "issue",
        "inspect",
        "attenuate",
        "delegate",
        "sign-call",
        "verify",
        "revoke",
        "audit",
    ] {
        assert!(help.contains(sub), "{sub} missing from --help");
    }
    let audit = ok(&["audit", "--help"]);
    assert!(audit.contains("verify") && audit.contains("trace"));
}

#[test]
fn cli_audit_verify_and_trace() {
    use agentcap::audit::{AuditConfig, AuditLog, LogKey};
    let d = Dir::new();
    let log_path = d.path("audit.jsonl");
    let log = AuditLog::create(&log_path, LogKey::generate(), AuditConfig::default()).unwrap();
    let key = log.public_key().to_string();
    let from = agentcap::AgentId::random();
    log.record_message(
        from,
        agentcap::AgentId::random(),
        agentcap::Digest::of_message(b"m"),
        None,
        &[],
    )
    .unwrap();
    log.close().unwrap();
    assert!(ok(&["audit", "verify", "--log", &log_path, "--key", &key]).starts_with("ok:"));
    let mut lines: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.swap(0, 1);
    std::fs::write(&log_path, lines.join("\n") + "\n").unwrap();
    let out = cli(&["audit", "verify", "--log", &log_path, "--key", &key]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("failed"));
    let missing = cli(&[
        "audit",
        "verify",
        "--log",
        &d.path("no-such.jsonl"),
        "--key",
        &key,
    ]);
    assert_eq!(code(&missing), 2, "a missing file is an input error");
    let _ = Path::new(&log_path);
}

/// The constraint kinds `docs/cli.md` §2.2 shows in TOML issue as written (the block is read
/// from the document, so it cannot go stale), and a call is judged by them.
#[test]
fn the_documented_constraint_kinds_issue() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md")).unwrap();
    let start = doc
        .find("The kinds beyond those above, in TOML:")
        .expect("the section");
    let block = &doc[start..];
    let body = block
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let d = Dir::new();
    let root = ok(&[
        "keygen",
        "--kind",
        "authority",
        "--out",
        &d.path("root.key"),
    ]);
    let alice = ok(&["keygen", "--kind", "agent", "--out", &d.path("alice.key")]);
    let grant = d.write(
        "grant.toml",
        &format!("holder = \"{alice}\"\nexpires_in = \"1h\"\n{body}"),
    );
    let token = ok(&[
        "issue",
        "--key",
        &d.path("root.key"),
        "--authority-id",
        "ops",
        "--grant",
        &grant,
    ]);
    let token = d.write("t", &token);
    let shown = ok(&["inspect", "--token", &token, "--root", &root]);
    for kind in [
        "\"each\"",
        "\"optional\"",
        "\"not\"",
        "\"date\"",
        "\"contains\"",
        "\"host\"",
        "\"ip\"",
        "\"command\"",
    ] {
        assert!(shown.contains(kind), "{kind} in {shown}");
    }
    let call = |args: &str| {
        let proof = ok(&[
            "sign-call",
            "--token",
            &token,
            "--root",
            &root,
            "--key",
            &d.path("alice.key"),
            "--executor",
            "tools-1",
            "--tool",
            "shell",
            "--args",
            args,
        ]);
        let proof = d.write(&format!("p-{}", uuid::Uuid::new_v4().simple()), &proof);
        cli(&[
            "verify",
            "--token",
            &token,
            "--root",
            &root,
            "--executor",
            "tools-1",
            "--tool",
            "shell",
            "--args",
            args,
            "--proof",
            &proof,
        ])
    };
    assert_eq!(code(&call(r#"{"cmd": "git status"}"#)), 0);
    let denied = call(r#"{"cmd": "git status; id"}"#);
    assert_eq!(code(&denied), 1);
    assert!(String::from_utf8_lossy(&denied.stdout).contains("command"));
}

fn json_of(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// `--json` on every command: one object with the documented field names (docs/cli.md §5).
#[test]
fn cli_json_output_has_the_documented_fields() {
    let d = Dir::new();
    let root = json_of(&ok(&[
        "keygen",
        "--kind",
        "authority",
        "--key-id",
        "4",
        "--out",
        &d.path("root.key"),
        "--json",
    ]));
    assert_eq!(root["kind"], "authority");
    assert_eq!(root["key_id"], 4);
    let root = root["public_key"].as_str().unwrap().to_owned();
    let alice = json_of(&ok(&[
        "--json",
        "keygen",
        "--kind",
        "agent",
        "--out",
        &d.path("alice.key"),
    ]));
    assert_eq!(alice["key_id"], serde_json::Value::Null);
    let alice = alice["public_key"].as_str().unwrap().to_owned();
    let bob = ok(&["keygen", "--kind", "agent", "--out", &d.path("bob.key")]);
    let grant = d.write("grant.toml", "expires_in = \"1h\"\nmax_depth = 1\n[tools.read_file.args]\npath = { sub_path = \"/data\" }\n");
    let issued = json_of(&ok(&[
        "issue",
        "--key",
        &d.path("root.key"),
        "--authority-id",
        "ops",
        "--grant",
        &grant,
        "--holder",
        &alice,
        "--json",
    ]));
    assert_eq!(issued["blocks"], 1);
    let t0 = d.write("t0", issued["token"].as_str().unwrap());
    let inspected = json_of(&ok(&["inspect", "--token", &t0, "--root", &root, "--json"]));
    assert_eq!(inspected["token_id"], issued["token_id"]);
    assert_eq!(inspected["holder"], alice.as_str());
    let narrow = d.write(
        "n.toml",
        "[args.read_file]\npath = { sub_path = \"/data/q3\" }\n",
    );
    let att = json_of(&ok(&[
        "attenuate",
        "--token",
        &t0,
        "--root",
        &root,
        "--narrowing",
        &narrow,
        "--json",
    ]));
    assert_eq!(att["blocks"], 2);
    let msg = d.write("m", "go");
    let del = json_of(&ok(&[
        "delegate",
        "--token",
        &t0,
        "--root",
        &root,
        "--key",
        &d.path("alice.key"),
        "--to",
        &bob,
        "--to-agent",
        "6a1f0c9e-0000-4000-8000-000000000009",
        "--cause",
        &format!("file:{msg}"),
        "--json",
    ]));
    assert_eq!(del["blocks"], 2);
    let t1 = d.write("t1", del["token"].as_str().unwrap());
    let args = r#"{"path": "/data/a"}"#;
    let signed = json_of(&ok(&[
        "sign-call",
        "--token",
        &t1,
        "--root",
        &root,
        "--key",
        &d.path("bob.key"),
        "--executor",
        "files-1",
        "--tool",
        "read_file",
        "--args",
        args,
        "--json",
    ]));
    assert!(signed["call_digest"].as_str().unwrap().len() == 64);
    let proof = d.write("p", signed["proof"].as_str().unwrap());
    let verify = |args: &str| {
        cli(&[
            "verify",
            "--token",
            &t1,
            "--root",
            &root,
            "--proof",
            &proof,
            "--executor",
            "files-1",
            "--tool",
            "read_file",
            "--args",
            args,
            "--json",
        ])
    };
    let allowed = verify(args);
    assert_eq!(code(&allowed), 0);
    let allowed = json_of(&String::from_utf8_lossy(&allowed.stdout));
    assert_eq!(allowed["decision"], "allowed");
    assert_eq!(allowed["hops"], 1);
    assert_eq!(allowed["agent"], "6a1f0c9e-0000-4000-8000-000000000009");
    let denied = verify(r#"{"path": "/etc/passwd"}"#);
    assert_eq!(code(&denied), 1);
    let denied = json_of(&String::from_utf8_lossy(&denied.stdout));
    assert_eq!(denied["decision"], "denied");
    assert_eq!(denied["class"], "denied");
    assert_eq!(denied["reason"]["code"], "proof_for_another_call");
    let revoked = json_of(&ok(&[
        "revoke",
        "--id",
        inspected["token_id"].as_str().unwrap(),
        "--state",
        &d.path("rev.json"),
        "--json",
    ]));
    assert_eq!(revoked["store"], "file");
    assert_eq!(revoked["revoked"]["revocation_id"], inspected["token_id"]);
    // An input error: `{"error": ...}` on stderr, exit 2.
    let bad = cli(&[
        "inspect",
        "--token",
        &d.path("missing"),
        "--root",
        &root,
        "--json",
    ]);
    assert_eq!(code(&bad), 2);
    assert!(json_of(&String::from_utf8_lossy(&bad.stderr))["error"].is_string());
}

/// `issue --holder`, and a holder given twice or not at all.
#[test]
fn cli_issue_takes_the_holder_from_the_file_or_the_flag_not_both() {
    let d = Dir::new();
    ok(&[
        "keygen",
        "--kind",
        "authority",
        "--out",
        &d.path("root.key"),
    ]);
    let alice = ok(&["keygen", "--kind", "agent", "--out", &d.path("alice.key")]);
    let body = "expires_in = \"1h\"\n[tools.search]\nother_args = true\n";
    let without = d.write("g1.toml", body);
    let with = d.write("g2.toml", &format!("holder = \"{alice}\"\n{body}"));
    let key = d.path("root.key");
    let issue = |grant: &str, holder: Option<&str>| {
        let mut a = vec![
            "issue",
            "--key",
            &key,
            "--authority-id",
            "ops",
            "--grant",
            grant,
        ];
        if let Some(h) = holder {
            a.extend(["--holder", h]);
        }
        cli(&a)
    };
    assert_eq!(code(&issue(&without, Some(&alice))), 0);
    assert_eq!(code(&issue(&with, None)), 0);
    let both = issue(&with, Some(&alice));
    assert_eq!(code(&both), 2);
    assert!(String::from_utf8_lossy(&both.stderr).contains("keep one"));
    let neither = issue(&without, None);
    assert_eq!(code(&neither), 2);
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--holder"));
}

/// Conflicting stores are refused, and a token from an untrusted root names the key id it wants.
#[test]
fn cli_conflicts_and_the_root_key_id_in_errors() {
    let (d, root, t1, key, _) = setup();
    let args = r#"{"path": "/data/q3/a"}"#;
    let proof = sign(&d, &root, &t1, &key, args);
    let both = verify(
        &d,
        &root,
        &t1,
        &proof,
        args,
        &[
            "--state",
            &d.path("s.json"),
            "--redis",
            "redis://127.0.0.1:1/",
        ],
    );
    assert_eq!(code(&both), 2, "{}", String::from_utf8_lossy(&both.stderr));
    let both = cli(&[
        "revoke",
        "--id",
        "00",
        "--state",
        &d.path("s.json"),
        "--redis",
        "redis://127.0.0.1:1/",
    ]);
    assert_eq!(code(&both), 2);
    let other = ok(&[
        "keygen",
        "--kind",
        "authority",
        "--key-id",
        "9",
        "--out",
        &d.path("other.key"),
    ]);
    let wrong = cli(&["inspect", "--token", &t1, "--root", &other]);
    assert_eq!(code(&wrong), 2);
    let text = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        text.contains("root key id 3") && text.contains("trusted key ids: 9"),
        "{text}"
    );
}

/// Every option of every command has help text.
#[test]
fn cli_every_flag_has_help_text() {
    let commands: &[&[&str]] = &[
        &["keygen"],
        &["issue"],
        &["inspect"],
        &["attenuate"],
        &["delegate"],
        &["sign-call"],
        &["verify"],
        &["revoke"],
        &["audit", "verify"],
        &["audit", "trace"],
    ];
    for c in commands {
        let mut a = c.to_vec();
        a.push("-h");
        let help = ok(&a);
        let options = help
            .split("Options:")
            .nth(1)
            .unwrap_or_else(|| panic!("{c:?}: {help}"));
        for line in options.lines().filter(|l| l.trim_start().starts_with('-')) {
            let described = line
                .trim_start()
                .split("  ")
                .filter(|p| !p.trim().is_empty())
                .count()
                > 1;
            assert!(described, "{c:?}: `{}` has no help text", line.trim());
        }
    }
}

/// `revoke --redis` then `verify --redis` against a real `redis-server` (started here on a free
/// port): the revocation is seen, and verifying records nothing that counts in the shared
/// store (the same proof verifies twice: no replay is recorded). Ignored by a plain
/// `cargo test`; `.ci/run` runs it.
#[cfg(feature = "redis")]
#[test]
#[ignore = "needs redis-server: cargo test --features cli,redis --test cli redis -- --include-ignored"]
fn cli_redis_revoke_then_verify() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server could not be started: install it (apt-get install redis-server)");
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (d, root, t1, key, _) = setup();
    let args = r#"{"path": "/data/q3/a"}"#;
    let proof = sign(&d, &root, &t1, &key, args);
    for _ in 0..2 {
        let out = verify(&d, &root, &t1, &proof, args, &["--redis", &url]);
        assert_eq!(
            code(&out),
            0,
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let id = json_of(&ok(&["inspect", "--token", &t1, "--root", &root, "--json"]))["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&["revoke", "--id", &id, "--redis", &url]);
    let out = verify(&d, &root, &t1, &proof, args, &["--redis", &url]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
    let _ = server.kill();
    let _ = server.wait();
}
