//! One-process, interleaved benchmark of agentcap against its peers.
//!
//! Columns: the unit (one raw ed25519 `verify_strict`), raw biscuit-auth 6, Tenuo 0.3.5 and
//! agentcap. Every case runs a batch of N iterations in every round, the cases interleaved
//! (round-robin, the starting case rotated each round), and the figure is the median
//! per-iteration time across rounds. Work that a real caller does elsewhere (signing the
//! per-call proof of possession) is done before the timer starts.
//!
//! `cargo run --release -- --quick` (~5 s of measuring) or `cargo run --release` (~35 s);
//! `--rounds N` and `--batch-ms MS` override either.
//! See README.md for what every figure means.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine as _;
use biscuit_auth::macros::{authorizer, biscuit, block};
use biscuit_auth::{Biscuit, KeyPair};
use ed25519_dalek::{Signer as _, SigningKey as DalekKey};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use agentcap::{
    AgentId, AgentKey, Authority, AuthorityId, AuthorityKey, CallProof, Constraint, Digest,
    ExecutorId, Grant, Narrowing, Token, ToolCall, ToolGrant, Verifier,
};
use tenuo::wire::{self, WarrantStack};
use tenuo::{
    Authorizer as TAuthorizer, ConstraintSet, ConstraintValue, OneOf, SigningKey as TKey, Subpath,
    Warrant,
};

/// Paths granted at hop 0, 1, 2, 3: every delegation hop narrows `path` one level.
const PATHS: [&str; 4] = ["/data", "/data/x", "/data/x/y", "/data/x/y/z"];
/// The call's path, inside the narrowest grant.
const CALL_PATH: &str = "/data/x/y/z/q3.csv";
const TOOL: &str = "read_file";
const HOPS: [usize; 3] = [0, 1, 3];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Unit,
    Biscuit,
    Tenuo,
    Agentcap,
}

/// Runs `n` iterations; returns the timed part and how many iterations it covered.
type Batch<'a> = Box<dyn FnMut(usize) -> (StdDuration, usize) + 'a>;

struct Case<'a> {
    figure: &'static str,
    lib: Lib,
    run: Batch<'a>,
    n: usize,
    /// Nanoseconds per iteration, one sample per round.
    samples: Vec<f64>,
}

fn timed(n: usize, mut f: impl FnMut()) -> (StdDuration, usize) {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    (start.elapsed(), n)
}

struct Opts {
    rounds: usize,
    batch_ms: f64,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = if quick {
        Opts {
            rounds: 11,
            batch_ms: 15.0,
        }
    } else {
        Opts {
            rounds: 31,
            batch_ms: 40.0,
        }
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--rounds" => o.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--batch-ms" => {
                o.batch_ms = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--batch-ms MS")
            }
            "-h" | "--help" => {
                println!("usage: agentcap-peer-bench [--quick] [--rounds N] [--batch-ms MS]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

struct AgentcapFx {
    authority: Authority,
    executor: ExecutorId,
    call: ToolCall,
    /// Holder keys of hop 0..=3.
    keys: Vec<AgentKey>,
    /// Tokens at hop 0..=3.
    tokens: Vec<Token>,
    texts: Vec<String>,
}

fn agentcap_fx() -> AgentcapFx {
    let now = OffsetDateTime::now_utc();
    let authority = Authority::new(
        AuthorityId::new("peer-bench").expect("authority id"),
        AuthorityKey::generate(1),
    );
    let executor = ExecutorId::new("peer-bench-executor").expect("executor id");
    let call = ToolCall::new(TOOL, json!({"path": CALL_PATH, "mode": "r"})).expect("call");
    let keys: Vec<AgentKey> = (0..4).map(|_| AgentKey::generate()).collect();
    let grant = Grant::builder(
        AgentId::random(),
        keys[0].public(),
        now + Duration::hours(1),
    )
    .tool(
        TOOL,
        ToolGrant::new()
            .arg("path", Constraint::sub_path(PATHS[0]).expect("sub_path"))
            .arg("mode", Constraint::one_of(["r", "rw"]).expect("one_of")),
    )
    .max_depth(3)
    .build()
    .expect("grant");
    let mut tokens = vec![authority.issue(&grant).expect("issue")];
    for hop in 1..=3 {
        let next = tokens[hop - 1]
            .delegate(
                &keys[hop - 1],
                keys[hop].public(),
                AgentId::random(),
                Digest::of_message(b"m"),
                &agentcap_narrowing(hop),
            )
            .expect("delegate");
        tokens.push(next);
    }
    let texts = tokens
        .iter()
        .map(|t| t.to_base64().expect("to_base64"))
        .collect();
    AgentcapFx {
        authority,
        executor,
        call,
        keys,
        tokens,
        texts,
    }
}

fn agentcap_narrowing(hop: usize) -> Narrowing {
    Narrowing::new().constrain(
        TOOL,
        "path",
        Constraint::sub_path(PATHS[hop]).expect("sub_path"),
    )
}

impl AgentcapFx {
    fn verifier(&self, cache: Option<usize>) -> Verifier {
        let b = Verifier::builder(
            self.executor.clone(),
            self.authority.key().public().into(),
            [TOOL],
        );
        let b = match cache {
            Some(n) => b.chain_cache(n),
            None => b,
        };
        b.build().expect("verifier")
    }

    fn proof(&self, hop: usize) -> CallProof {
        CallProof::sign(
            &self.keys[hop],
            &self.tokens[hop],
            &self.executor,
            &self.call,
            OffsetDateTime::now_utc(),
        )
        .expect("sign proof")
    }

    fn proofs(&self, hop: usize, n: usize) -> Vec<CallProof> {
        (0..n).map(|_| self.proof(hop)).collect()
    }
}

struct TenuoFx {
    authorizer: TAuthorizer,
    keys: Vec<TKey>,
    /// `chains[hop]` = warrants root..=leaf for hop 0..=3.
    chains: Vec<Vec<Warrant>>,
    /// Base64 (URL-safe, no pad) of the CBOR warrant stack, per hop.
    texts: Vec<String>,
    bytes: Vec<usize>,
    args: HashMap<String, ConstraintValue>,
}

fn tenuo_constraints(hop: usize) -> ConstraintSet {
    let mut cs = ConstraintSet::new();
    cs.insert("path", Subpath::new(PATHS[hop]).expect("subpath"));
    cs.insert("mode", OneOf::new(["r", "rw"]));
    cs
}

fn tenuo_fx() -> TenuoFx {
    let issuer = TKey::generate();
    let keys: Vec<TKey> = (0..4).map(|_| TKey::generate()).collect();
    let root = Warrant::builder()
        .capability(TOOL, tenuo_constraints(0))
        .holder(keys[0].public_key())
        .ttl(std::time::Duration::from_secs(3600))
        .max_depth(3)
        .build(&issuer)
        .expect("tenuo mint");
    let mut warrants = vec![root];
    for hop in 1..=3 {
        let child = warrants[hop - 1]
            .attenuate()
            .capability(TOOL, tenuo_constraints(hop))
            .holder(keys[hop].public_key())
            .build(&keys[hop - 1])
            .expect("tenuo attenuate");
        warrants.push(child);
    }
    let chains: Vec<Vec<Warrant>> = (0..4).map(|h| warrants[..=h].to_vec()).collect();
    let encoded: Vec<Vec<u8>> = chains
        .iter()
        .map(|c| wire::encode_stack(&WarrantStack::new(c.clone())).expect("encode_stack"))
        .collect();
    let texts = encoded
        .iter()
        .map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
        .collect();
    let bytes = encoded.iter().map(Vec::len).collect();
    let authorizer = TAuthorizer::new().with_trusted_root(issuer.public_key());
    let mut args = HashMap::new();
    args.insert(
        "path".to_string(),
        ConstraintValue::String(CALL_PATH.into()),
    );
    args.insert("mode".to_string(), ConstraintValue::String("r".into()));
    TenuoFx {
        authorizer,
        keys,
        chains,
        texts,
        bytes,
        args,
    }
}

impl TenuoFx {
    fn pops(&self, hop: usize, n: usize) -> Vec<tenuo::Signature> {
        let leaf = self.chains[hop].last().expect("leaf");
        (0..n)
            .map(|_| leaf.sign(&self.keys[hop], TOOL, &self.args).expect("pop"))
            .collect()
    }

    /// Cold: decode the presented text, verify the chain and authorize the call.
    fn cold(&self, hop: usize, pop: &tenuo::Signature) {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.texts[hop])
            .expect("b64");
        let stack = wire::decode_stack(&raw).expect("decode_stack");
        self.authorizer
            .check_chain(&stack.0, TOOL, &self.args, Some(pop), &[])
            .expect("tenuo check_chain");
    }

    /// Warm: the already-decoded chain (Tenuo has no verified-chain cache).
    fn warm(&self, hop: usize, pop: &tenuo::Signature) {
        self.authorizer
            .check_chain(&self.chains[hop], TOOL, &self.args, Some(pop), &[])
            .expect("tenuo check_chain");
    }
}

struct BiscuitFx {
    root: KeyPair,
    /// Parsed token with 0..=3 appended blocks.
    tokens: Vec<Biscuit>,
    bytes: Vec<Vec<u8>>,
}

fn biscuit_block(hop: usize) -> biscuit_auth::builder::BlockBuilder {
    let prefix = format!("{}/", PATHS[hop]);
    block!(
        r#"check if arg("path", $p), $p.starts_with({prefix})"#,
        prefix = prefix
    )
}

fn biscuit_fx() -> BiscuitFx {
    let root = KeyPair::new();
    let t0 = biscuit!(
        r#"
        tool("read_file");
        check if arg("path", $p), $p.starts_with("/data/");
        check if arg("mode", $m), ["r", "rw"].contains($m);
        "#
    )
    .build(&root)
    .expect("biscuit build");
    let mut tokens = vec![t0];
    for hop in 1..=3 {
        let next = tokens[hop - 1].append(biscuit_block(hop)).expect("append");
        tokens.push(next);
    }
    let bytes = tokens.iter().map(|t| t.to_vec().expect("to_vec")).collect();
    BiscuitFx {
        root,
        tokens,
        bytes,
    }
}

impl BiscuitFx {
    fn verify_authorize(
        &self,
        hop: usize,
        path: &str,
    ) -> Result<usize, biscuit_auth::error::Token> {
        let t = Biscuit::from(&self.bytes[hop], self.root.public())?;
        let mut a = authorizer!(
            r#"
            call("read_file");
            arg("path", {path});
            arg("mode", "r");
            allow if call($t), tool($t);
            "#,
            path = path
        )
        .build(&t)?;
        a.authorize()
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn calibrate(case: &mut Case<'_>, target: StdDuration) {
    // Warm up, double until a batch takes at least a fifth of the target, then take the
    // fastest of three batches of that size (one slow batch must not shrink N), and never
    // fewer than MIN_BATCH iterations (thread start-up must not dominate a batch).
    const MIN_BATCH: usize = 16;
    (case.run)(1);
    let mut n = 1usize;
    loop {
        let (d, _) = (case.run)(n);
        if d >= target / 5 || n >= 1 << 20 {
            break;
        }
        n *= 2;
    }
    let per = (0..3)
        .map(|_| {
            let (d, done) = (case.run)(n);
            d.as_secs_f64() / done as f64
        })
        .fold(f64::INFINITY, f64::min);
    case.n = ((target.as_secs_f64() / per).ceil() as usize).clamp(MIN_BATCH, 1 << 22);
}

fn add<'a>(cases: &mut Vec<Case<'a>>, figure: &'static str, lib: Lib, run: Batch<'a>) {
    cases.push(Case {
        figure,
        lib,
        run,
        n: 1,
        samples: Vec::new(),
    });
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let o = opts();
    let target = StdDuration::from_secs_f64(o.batch_ms / 1e3);

    // ----- fixtures, and checks that every library really allows the call and denies a
    // path outside the narrowest grant (so nothing below measures a no-op).
    let ac = agentcap_fx();
    let tn = tenuo_fx();
    let bs = biscuit_fx();
    let unit_key = DalekKey::from_bytes(&[7; 32]);
    let unit_msg = [0x5au8; 100];
    let unit_sig = unit_key.sign(&unit_msg);
    let unit_vk = unit_key.verifying_key();

    {
        let v = ac.verifier(Some(0));
        let bad =
            ToolCall::new(TOOL, json!({"path": "/data/other.csv", "mode": "r"})).expect("call");
        for &h in &HOPS {
            v.verify(&ac.texts[h], &ac.call, &ac.proof(h))
                .expect("agentcap allows");
            let p = CallProof::sign(
                &ac.keys[h],
                &ac.tokens[h],
                &ac.executor,
                &bad,
                OffsetDateTime::now_utc(),
            )
            .expect("sign");
            assert!(
                h == 0 || v.verify(&ac.texts[h], &bad, &p).is_err(),
                "agentcap must deny a path outside the narrowed grant at hop {h}"
            );
            tn.cold(h, &tn.pops(h, 1)[0]);
            let mut bad_args = tn.args.clone();
            bad_args.insert(
                "path".into(),
                ConstraintValue::String("/data/other.csv".into()),
            );
            let leaf = tn.chains[h].last().expect("leaf");
            let bad_pop = leaf.sign(&tn.keys[h], TOOL, &bad_args).expect("pop");
            assert!(
                h == 0
                    || tn
                        .authorizer
                        .check_chain(&tn.chains[h], TOOL, &bad_args, Some(&bad_pop), &[])
                        .is_err(),
                "tenuo must deny a path outside the narrowed grant at hop {h}"
            );
            bs.verify_authorize(h, CALL_PATH).expect("biscuit allows");
            assert!(
                h == 0 || bs.verify_authorize(h, "/data/other.csv").is_err(),
                "biscuit must deny a path outside the narrowed block at hop {h}"
            );
        }
        // Both holder-bound peers refuse a proof by the wrong key.
        let wrong = CallProof::sign(
            &ac.keys[0],
            &ac.tokens[1],
            &ac.executor,
            &ac.call,
            OffsetDateTime::now_utc(),
        )
        .expect("sign");
        assert!(v.verify(&ac.texts[1], &ac.call, &wrong).is_err());
        let wrong_pop = tn.chains[1]
            .last()
            .expect("leaf")
            .sign(&tn.keys[0], TOOL, &tn.args)
            .expect("pop");
        assert!(tn
            .authorizer
            .check_chain(&tn.chains[1], TOOL, &tn.args, Some(&wrong_pop), &[])
            .is_err());
    }

    // Verifiers: cold (no chain cache) per hop, warm (default cache, pre-warmed) per hop,
    // and one warm verifier shared by the threads of the throughput figure.
    let ac_cold: Vec<Verifier> = HOPS.iter().map(|_| ac.verifier(Some(0))).collect();
    let ac_warm: Vec<Verifier> = HOPS
        .iter()
        .map(|&h| {
            let v = ac.verifier(None);
            v.verify(&ac.texts[h], &ac.call, &ac.proof(h))
                .expect("warm up");
            v
        })
        .collect();
    let ac_tp = ac.verifier(None);
    ac_tp
        .verify(&ac.texts[1], &ac.call, &ac.proof(1))
        .expect("warm up");

    let mut cases: Vec<Case<'_>> = Vec::new();

    add(
        &mut cases,
        "unit: ed25519 verify_strict",
        Lib::Unit,
        Box::new(|n| {
            timed(n, || {
                black_box(&unit_vk)
                    .verify_strict(black_box(&unit_msg), black_box(&unit_sig))
                    .expect("unit verify")
            })
        }),
    );

    const COLD: [&str; 3] = ["cold, 0 hops", "cold, 1 hop", "cold, 3 hops"];
    const WARM: [&str; 3] = ["warm, 0 hops", "warm, 1 hop", "warm, 3 hops"];
    for (i, &h) in HOPS.iter().enumerate() {
        let bs = &bs;
        add(
            &mut cases,
            COLD[i],
            Lib::Biscuit,
            Box::new(move |n| {
                timed(n, || {
                    black_box(bs.verify_authorize(h, CALL_PATH).expect("biscuit"));
                })
            }),
        );
        let tn = &tn;
        add(
            &mut cases,
            COLD[i],
            Lib::Tenuo,
            Box::new(move |n| {
                let pops = tn.pops(h, n);
                let start = Instant::now();
                for p in &pops {
                    tn.cold(h, p);
                }
                (start.elapsed(), n)
            }),
        );
        add(
            &mut cases,
            WARM[i],
            Lib::Tenuo,
            Box::new(move |n| {
                let pops = tn.pops(h, n);
                let start = Instant::now();
                for p in &pops {
                    tn.warm(h, p);
                }
                (start.elapsed(), n)
            }),
        );
        let ac = &ac;
        for (fig, v) in [(COLD[i], &ac_cold[i]), (WARM[i], &ac_warm[i])] {
            add(
                &mut cases,
                fig,
                Lib::Agentcap,
                Box::new(move |n| {
                    let proofs = ac.proofs(h, n);
                    let start = Instant::now();
                    for p in &proofs {
                        black_box(
                            v.verify(&ac.texts[h], &ac.call, p)
                                .expect("agentcap verify"),
                        );
                    }
                    (start.elapsed(), n)
                }),
            );
        }
    }

    // Delegation of one narrowing hop from the root token to a new holder.
    const DELEGATE: &str = "delegate one narrowing hop";
    {
        let root = &bs.tokens[0];
        add(
            &mut cases,
            DELEGATE,
            Lib::Biscuit,
            Box::new(move |n| {
                timed(n, || {
                    black_box(root.append(biscuit_block(1)).expect("append"));
                })
            }),
        );
        let tn = &tn;
        let next = TKey::generate().public_key();
        add(
            &mut cases,
            DELEGATE,
            Lib::Tenuo,
            Box::new(move |n| {
                timed(n, || {
                    black_box(
                        tn.chains[0][0]
                            .attenuate()
                            .capability(TOOL, tenuo_constraints(1))
                            .holder(next.clone())
                            .build(&tn.keys[0])
                            .expect("tenuo delegate"),
                    );
                })
            }),
        );
        let ac = &ac;
        let next = AgentKey::generate().public();
        add(
            &mut cases,
            DELEGATE,
            Lib::Agentcap,
            Box::new(move |n| {
                timed(n, || {
                    black_box(
                        ac.tokens[0]
                            .delegate(
                                &ac.keys[0],
                                next,
                                AgentId::random(),
                                Digest::of_message(b"m"),
                                &agentcap_narrowing(1),
                            )
                            .expect("agentcap delegate"),
                    );
                })
            }),
        );
    }

    // Throughput: warm 1-hop on 1 and 2 threads sharing one verifier; time per call.
    const TP: [&str; 2] = [
        "throughput warm 1 hop, 1 thread (time/call)",
        "throughput warm 1 hop, 2 threads (time/call)",
    ];
    for (i, threads) in [1usize, 2].into_iter().enumerate() {
        let tn = &tn;
        add(
            &mut cases,
            TP[i],
            Lib::Tenuo,
            Box::new(move |n| {
                let per = n.div_ceil(threads);
                let pops: Vec<Vec<tenuo::Signature>> =
                    (0..threads).map(|_| tn.pops(1, per)).collect();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for batch in &pops {
                        s.spawn(move || {
                            for p in batch {
                                tn.warm(1, p);
                            }
                        });
                    }
                });
                (start.elapsed(), per * threads)
            }),
        );
        let ac = &ac;
        let v = &ac_tp;
        add(
            &mut cases,
            TP[i],
            Lib::Agentcap,
            Box::new(move |n| {
                let per = n.div_ceil(threads);
                let proofs: Vec<Vec<CallProof>> = (0..threads).map(|_| ac.proofs(1, per)).collect();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for batch in &proofs {
                        s.spawn(move || {
                            for p in batch {
                                black_box(v.verify(&ac.texts[1], &ac.call, p).expect("verify"));
                            }
                        });
                    }
                });
                (start.elapsed(), per * threads)
            }),
        );
    }

    // ----- calibrate, then interleaved rounds.
    eprintln!(
        "{} cases, {} rounds, ~{} ms per batch",
        cases.len(),
        o.rounds,
        o.batch_ms
    );
    let t0 = Instant::now();
    for c in cases.iter_mut() {
        calibrate(c, target);
    }
    for round in 0..o.rounds {
        let k = cases.len();
        for j in 0..k {
            let c = &mut cases[(j + round) % k];
            let (d, done) = (c.run)(c.n);
            c.samples.push(d.as_secs_f64() * 1e9 / done as f64);
        }
        eprintln!(
            "round {}/{} done ({:.1} s)",
            round + 1,
            o.rounds,
            t0.elapsed().as_secs_f64()
        );
    }

    // ----- report.
    let get = |figure: &str, lib: Lib| -> Option<f64> {
        cases
            .iter()
            .find(|c| c.figure == figure && c.lib == lib)
            .map(|c| median(&c.samples))
    };
    let unit = get("unit: ed25519 verify_strict", Lib::Unit).expect("unit");
    let cell = |v: Option<f64>| match v {
        Some(ns) => format!("{} (×{:.1})", fmt_ns(ns), ns / unit),
        None => "—".to_string(),
    };
    let ratio = |a: Option<f64>, t: Option<f64>| match (a, t) {
        (Some(a), Some(t)) => format!("{:.2}", a / t),
        _ => "—".to_string(),
    };

    println!();
    println!(
        "agentcap peer benchmark: {} rounds, median per-iteration time; (×N) = N raw ed25519 verify_strict",
        o.rounds
    );
    println!();
    println!("| figure | raw unit | biscuit | tenuo | agentcap | agentcap / tenuo |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| unit: ed25519 verify_strict (64-byte sig, 100-byte msg) | {} | — | — | — | — |",
        cell(Some(unit))
    );
    let row = |label: &str, figure: &str| {
        let (b, t, a) = (
            get(figure, Lib::Biscuit),
            get(figure, Lib::Tenuo),
            get(figure, Lib::Agentcap),
        );
        println!(
            "| {label} | — | {} | {} | {} | {} |",
            cell(b),
            cell(t),
            cell(a),
            ratio(a, t)
        );
    };
    for label in COLD.iter().chain(WARM.iter()) {
        row(label, label);
    }
    let per_hop =
        |lib: Lib| -> Option<f64> { Some((get(COLD[2], lib)? - get(COLD[1], lib)?) / 2.0) };
    {
        let (b, t, a) = (
            per_hop(Lib::Biscuit),
            per_hop(Lib::Tenuo),
            per_hop(Lib::Agentcap),
        );
        println!(
            "| per extra hop (cold 3 − cold 1) / 2 | — | {} | {} | {} | {} |",
            cell(b),
            cell(t),
            cell(a),
            ratio(a, t)
        );
    }
    row(DELEGATE, DELEGATE);
    for &h in &HOPS {
        let (b, t, a) = (
            bs.bytes[h].len(),
            tn.bytes[h],
            ac.tokens[h].size().expect("size"),
        );
        println!(
            "| token bytes, {h} hop{} (binary) | 64 B sig | {b} B | {t} B | {a} B | {:.2} |",
            if h == 1 { "" } else { "s" },
            a as f64 / t as f64
        );
    }
    for label in TP {
        row(label, label);
    }
    for lib in [Lib::Tenuo, Lib::Agentcap] {
        if let (Some(one), Some(two)) = (get(TP[0], lib), get(TP[1], lib)) {
            println!(
                "\n{lib:?} warm 1-hop throughput: {:.0} calls/s on 1 thread, {:.0} calls/s on 2 threads (×{:.2})",
                1e9 / one,
                1e9 / two,
                one / two
            );
        }
    }

    // Spread, for judging the medians.
    println!();
    println!("<details><summary>spread per case (min / median / max per iteration, batch size)</summary>");
    println!();
    println!("| figure | library | min | median | max | N per batch |");
    println!("|---|---|---|---|---|---|");
    for c in &cases {
        let min = c.samples.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = c.samples.iter().cloned().fold(0.0, f64::max);
        println!(
            "| {} | {:?} | {} | {} | {} | {} |",
            c.figure,
            c.lib,
            fmt_ns(min),
            fmt_ns(median(&c.samples)),
            fmt_ns(max),
            c.n
        );
    }
    println!();
    println!("</details>");
    eprintln!("total {:.1} s", t0.elapsed().as_secs_f64());
}
