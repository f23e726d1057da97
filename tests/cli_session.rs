//! Runs the worked session of `docs/cli.md` §2 (2.1 to 2.7) with the real binary, command by
//! command, in a fresh directory, and compares every output with the one the document shows.
//!
//! The document's files (`grant.toml`, `narrow.toml`, …) are the ```toml blocks introduced by
//! their name; its commands are the `$ ` lines (with `\` continuations) of the other blocks, run
//! in one `bash` so variables carry over; the lines after a command, up to the next `$ `, are
//! its expected output. Keys, ids, digests and times differ per run: in the expected lines, every
//! run of 6+ hex digits, every UUID, every RFC 3339 time and `ls` date, and every `…` stand for
//! any text. A line `… (as above)` ends the comparison of that command's output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use regex::Regex;

struct Step {
    command: String,
    expected: Vec<String>,
}

/// The §2 part of the document.
fn session(doc: &str) -> &str {
    let start = doc.find("## 2. A worked session").expect("§2");
    let end = doc.find("### 2.8").expect("§2.8");
    &doc[start..end]
}

/// (file name, contents) of every ```toml block whose preceding paragraph names a `*.toml` file.
fn files(text: &str) -> Vec<(String, String)> {
    let name = Regex::new(r"`([a-z-]+\.toml)`").unwrap();
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("```toml\n") {
        let before = &rest[..i];
        let paragraph = before
            .rsplit("\n\n")
            .find(|p| !p.trim().is_empty())
            .unwrap_or("");
        let body_start = i + "```toml\n".len();
        let body_end = body_start + rest[body_start..].find("```").expect("closed block");
        if let Some(m) = name.captures_iter(paragraph).last() {
            out.push((m[1].to_owned(), rest[body_start..body_end].to_owned()));
        }
        rest = &rest[body_end + 3..];
    }
    out
}

/// Every command and its expected output, from the plain ``` blocks.
fn steps(text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    // None outside a block; Some(true) inside a plain (command) block.
    let mut block: Option<bool> = None;
    let mut continuing = false;
    for line in text.lines() {
        if let Some(kind) = line.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(kind.is_empty()),
            };
            continuing = false;
            continue;
        }
        if block != Some(true) {
            continue;
        }
        if continuing {
            let step = steps.last_mut().expect("a command");
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: cmd.to_owned(),
                expected: Vec::new(),
            });
            continuing = cmd.ends_with('\\');
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.to_owned());
        }
    }
    steps
}

/// The expected line as a pattern: what differs per run stands for any text.
fn pattern(line: &str) -> Regex {
    let varying = Regex::new(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|[A-Z][a-z]{2} +\d+ \d\d:\d\d|[0-9a-f]*…[0-9a-f]*|[0-9a-f]{6,}",
    )
    .unwrap();
    let mut out = String::from("^");
    let mut last = 0;
    for m in varying.find_iter(line) {
        out.push_str(&regex::escape(&line[last..m.start()]));
        out.push_str(".*");
        last = m.end();
    }
    out.push_str(&regex::escape(&line[last..]));
    out.push('$');
    Regex::new(&out).unwrap()
}

#[test]
fn the_worked_session_runs_as_documented() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md")).unwrap();
    let text = session(&doc);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "agentcap-session-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let files = files(text);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["grant.toml", "narrow.toml", "bad.toml", "to-bob.toml"] {
        assert!(
            names.contains(&wanted),
            "the session defines {wanted}: {names:?}"
        );
    }
    for (name, body) in &files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let steps = steps(text);
    assert!(steps.len() >= 20, "{} commands found", steps.len());

    // One bash runs every command; a marker line after each separates the outputs.
    let marker = "::agentcap-session-step::";
    let mut script = String::from("set -u\n");
    for s in &steps {
        // stderr where the document shows it: merged into the command's output.
        script.push_str(&format!("{{\n{}\n}} 2>&1\necho '{marker}'\n", s.command));
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_agentcap")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outputs: Vec<&str> = stdout.split(&format!("{marker}\n")).collect();
    assert_eq!(outputs.len(), steps.len() + 1, "one output per command");
    for (step, actual) in steps.iter().zip(&outputs) {
        let actual: Vec<&str> = actual.lines().collect();
        for (i, want) in step.expected.iter().enumerate() {
            if want.trim() == "… (as above)" {
                break;
            }
            let got = actual.get(i).copied().unwrap_or("<no line>");
            assert!(
                pattern(want).is_match(got),
                "`{}`: line {i}\n  document: {want}\n  actual:   {got}\n  all actual output:\n{}",
                step.command,
                actual.join("\n")
            );
        }
        if !step.expected.iter().any(|l| l.trim() == "… (as above)") {
            assert_eq!(
                actual.len(),
                step.expected.len(),
                "`{}`: the document shows {} lines, the binary printed:\n{}",
                step.command,
                step.expected.len(),
                actual.join("\n")
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
