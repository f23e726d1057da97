//! Writes the seed corpus of the `grammar_read` and `verify_seeded` fuzz targets: valid tokens
//! the crate itself writes (every constraint kind, 0 to 3 delegation hops, attenuations), so
//! that mutations land inside well-formed blocks rather than in malformed base64.
//!
//! `cargo run --example fuzz_corpus` (run by `.ci/run` before fuzzing) writes
//! `fuzz/corpus/grammar_read/` and `fuzz/corpus/verify_seeded/`. Keys and time are fixed and
//! shared with the fuzz targets: root `AuthorityKey::from_bytes(1, &[1; 32])`, holders
//! `AgentKey::from_bytes(&[10 + i; 32])`, now = 1,800,000,000.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use agentcap::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};

const NOW: i64 = 1_800_000_000;

fn holder(i: u8) -> AgentKey {
    AgentKey::from_bytes(&[10 + i; 32])
}

fn constraints() -> Vec<(&'static str, Constraint, serde_json::Value)> {
    let url = UrlPolicy::new(["https"], ["api.example.com", "*.example.org"]).unwrap();
    vec![
        (
            "path",
            Constraint::sub_path("/data").unwrap(),
            json!("/data/q3.csv"),
        ),
        ("mode", Constraint::one_of(["r", "rw"]).unwrap(), json!("r")),
        ("not", Constraint::not_one_of(["x"]).unwrap(), json!("y")),
        ("exact", Constraint::exact("e").unwrap(), json!("e")),
        ("pre", Constraint::prefix("ab").unwrap(), json!("abc")),
        ("suf", Constraint::suffix(".csv").unwrap(), json!("a.csv")),
        (
            "url",
            Constraint::url(url).unwrap(),
            json!("https://api.example.com/x"),
        ),
        ("n", Constraint::int_range(1, 10).unwrap(), json!(5)),
        (
            "x",
            Constraint::number_range(-1.5, 2.5).unwrap(),
            json!(0.5),
        ),
        (
            "re",
            Constraint::regex("[a-z]+[0-9]?").unwrap(),
            json!("ab1"),
        ),
        ("len", Constraint::max_length(8).unwrap(), json!("short")),
        (
            "all",
            Constraint::all_of(vec![
                Constraint::prefix("/a").unwrap(),
                Constraint::max_length(9).unwrap(),
            ])
            .unwrap(),
            json!("/a/b"),
        ),
        (
            "any",
            Constraint::any_of(vec![
                Constraint::exact("k").unwrap(),
                Constraint::int_range(0, 3).unwrap(),
            ])
            .unwrap(),
            json!(2),
        ),
        (
            "/opts/level",
            Constraint::int_range(0, 5).unwrap(),
            json!(3),
        ),
        (
            "to",
            Constraint::each(
                Constraint::email(EmailPolicy::domains(["example.com"]).unwrap()).unwrap(),
                1,
                4,
            )
            .unwrap(),
            json!(["a@example.com"]),
        ),
        (
            "cc",
            Constraint::optional(Constraint::contains("x").unwrap()).unwrap(),
            json!(["x"]),
        ),
        (
            "neg",
            Constraint::not(Constraint::prefix("/etc").unwrap()).unwrap(),
            json!("/data"),
        ),
        (
            "host",
            Constraint::host(HostPolicy::public()).unwrap(),
            json!("example.org"),
        ),
        (
            "at",
            Constraint::date(DateRange::new(Some("2026-01-01"), Some("2026-12-31")).unwrap())
                .unwrap(),
            json!("2026-06-01"),
        ),
        (
            "ip",
            Constraint::ip(IpPolicy::public()).unwrap(),
            json!("8.8.8.8"),
        ),
        (
            "cmd",
            Constraint::command(CommandPolicy::new(["git"]).unwrap()).unwrap(),
            json!("git status"),
        ),
    ]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let grammar = root.join("grammar_read");
    let verify = root.join("verify_seeded");
    std::fs::create_dir_all(&grammar).unwrap();
    std::fs::create_dir_all(&verify).unwrap();
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    // Issued a minute before the fixed `now` the target verifies at.
    let authority = Authority::new(
        AuthorityId::new("fuzz").unwrap(),
        AuthorityKey::from_bytes(1, &[1; 32]),
    )
    .with_clock(std::sync::Arc::new(agentcap::FixedClock(
        now - Duration::minutes(1),
    )));
    let mut written = 0;
    for (i, (name, c, value)) in constraints().into_iter().enumerate() {
        let mut tool = ToolGrant::new()
            .arg(name, c)
            .budget(100)
            .rate(5, std::time::Duration::from_secs(60));
        if i % 2 == 0 {
            tool = tool.allow_other_args();
        }
        let grant = Grant::builder(
            AgentId::random(),
            holder(0).public(),
            now + Duration::hours(1),
        )
        .tool("read_file", tool)
        .tool("search", ToolGrant::new().allow_other_args().approvals(1))
        .max_depth(3)
        .fan_out(4)
        .max_hops(5)
        .build()
        .unwrap();
        let mut token = authority.issue(&grant).unwrap();
        let arg_key = name.trim_start_matches('/').split('/').next().unwrap();
        let args = if name.starts_with('/') {
            json!({ arg_key: { "level": value } })
        } else {
            json!({ arg_key: value })
        };
        for hops in 0..=3u8 {
            if hops > 0 {
                let narrowing = if hops == 2 {
                    Narrowing::new()
                        .only_tools(["read_file"])
                        .seen_labels([Label::new("secret").unwrap()])
                } else {
                    Narrowing::new().expires_at(now + Duration::minutes(30))
                };
                token = token
                    .delegate(
                        &holder(hops - 1),
                        holder(hops).public(),
                        AgentId::random(),
                        Digest::of_message(b"seed"),
                        &narrowing,
                    )
                    .unwrap();
            }
            let mut tokens = vec![token.clone()];
            if let Ok(att) = token.attenuate(&Narrowing::new().close_args("read_file")) {
                tokens.push(att);
            }
            for (k, t) in tokens.iter().enumerate() {
                let text = t.to_base64().unwrap();
                let bytes = {
                    use base64::Engine;
                    base64::engine::general_purpose::URL_SAFE
                        .decode(&text)
                        .unwrap()
                };
                let file = format!("{i:02}-{hops}-{k}");
                std::fs::write(grammar.join(&file), &bytes).unwrap();
                // verify_seeded: u16be token length, token, then the call's arguments as JSON.
                let mut seed = (bytes.len() as u16).to_be_bytes().to_vec();
                seed.extend_from_slice(&bytes);
                seed.extend_from_slice(args.to_string().as_bytes());
                std::fs::write(verify.join(&file), seed).unwrap();
                written += 1;
            }
        }
    }
    // approval_decode: one valid approval text (the target mutates it).
    let approvals = root.join("approval_decode");
    std::fs::create_dir_all(&approvals).unwrap();
    let call = ToolCall::new("search", json!({"q": "seed"})).unwrap();
    let approval = Approval::sign(
        &holder(1),
        &ExecutorId::new("fuzz-exec").unwrap(),
        &authority
            .issue(
                &Grant::builder(
                    AgentId::random(),
                    holder(0).public(),
                    now + Duration::hours(1),
                )
                .tool("search", ToolGrant::new().allow_other_args())
                .build()
                .unwrap(),
            )
            .unwrap()
            .id(),
        call.digest().unwrap(),
    );
    std::fs::write(approvals.join("valid"), approval.to_base64()).unwrap();
    println!(
        "wrote {written} seeds to {} and {}, and an approval to {}",
        grammar.display(),
        verify.display(),
        approvals.display()
    );
}
