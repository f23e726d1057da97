//! Shared state: replay, cascading revocation, budgets, rate windows and fan-out. One behaviour
//! suite, two backends: `MemoryStore` (always) and `RedisStore` (feature `redis`, against a real
//! `redis-server` started here on a free loopback port, or `AGENTCAP_REDIS_URL`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use agentcap::state::{MemoryStore, Revocations, StateStore};
use agentcap::*;
use common::*;
use serde_json::json;
use time::Duration;

type Store = Arc<dyn StateStore>;

fn search(budget: Option<u64>, rate: Option<(u32, u64)>) -> ToolGrant {
    let mut g = ToolGrant::new().allow_other_args();
    if let Some(b) = budget {
        g = g.budget(b);
    }
    if let Some((n, secs)) = rate {
        g = g.rate(n, std::time::Duration::from_secs(secs));
    }
    g
}

fn token_with(w: &World, tool: ToolGrant, fan_out: Option<u32>) -> Token {
    let mut g = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::days(2))
        .tool("search", tool)
        .tool(
            "read_file",
            ToolGrant::new().arg("path", Constraint::sub_path("/data").unwrap()),
        )
        .max_depth(3);
    if let Some(k) = fan_out {
        g = g.fan_out(k);
    }
    w.authority.issue(&g.build().unwrap()).unwrap()
}

fn replay_is_denied(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(store, clock.clone());
    let t = w.token();
    let call = ToolCall::new("search", json!({"q": "x"})).unwrap();
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
    let text = t.to_base64().unwrap();
    assert!(v.verify(&text, &call, &proof).is_ok());
    assert_eq!(reason(v.verify(&text, &call, &proof)), DenyReason::Replayed);
    // A fresh proof for the same call is fine.
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({"q": "x"})).is_ok());
}

fn revocation_cascades(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(store.clone(), clock.clone());
    let dave = AgentKey::generate();
    let root = w.token();
    let t1 = w.delegate_to_bob(&root, &Narrowing::new());
    let t2 = t1
        .delegate(
            &w.bob,
            w.carol.public(),
            w.carol_id,
            Digest::of_message(b"2"),
            &Narrowing::new(),
        )
        .unwrap();
    let t3 = t2
        .delegate(
            &w.carol,
            dave.public(),
            AgentId::random(),
            Digest::of_message(b"3"),
            &Narrowing::new(),
        )
        .unwrap();
    let sibling = t1
        .delegate(
            &w.bob,
            dave.public(),
            AgentId::random(),
            Digest::of_message(b"s"),
            &Narrowing::new(),
        )
        .unwrap();
    assert!(call_on(&v, &clock, &w, &t3, &dave, "search", json!({})).is_ok());
    assert!(call_on(&v, &clock, &w, &sibling, &dave, "search", json!({})).is_ok());

    // Revoke the middle block (carol's delegation): its descendants die, its sibling lives.
    let middle = t2.revocation_ids()[2].clone();
    store.revoke_id(middle.as_bytes()).unwrap();
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t3, &dave, "search", json!({}))),
        DenyReason::Revoked
    );
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t2, &w.carol, "search", json!({}))),
        DenyReason::Revoked
    );
    assert!(call_on(&v, &clock, &w, &sibling, &dave, "search", json!({})).is_ok());
    assert!(call_on(&v, &clock, &w, &t1, &w.bob, "search", json!({})).is_ok());

    // Revoke the root block: everything below it dies.
    store
        .revoke_id(root.revocation_ids()[0].as_bytes())
        .unwrap();
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &sibling,
            &dave,
            "search",
            json!({})
        )),
        DenyReason::Revoked
    );
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &root,
            &w.alice,
            "search",
            json!({})
        )),
        DenyReason::Revoked
    );
}

fn revoking_an_agent_key_cuts_its_chains(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(store.clone(), clock.clone());
    let root = w.token();
    let t1 = w.delegate_to_bob(&root, &Narrowing::new());
    let t2 = t1
        .delegate(
            &w.bob,
            w.carol.public(),
            w.carol_id,
            Digest::of_message(b"2"),
            &Narrowing::new(),
        )
        .unwrap();
    store.revoke_agent_key(&w.bob.public().to_bytes()).unwrap();
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t2, &w.carol, "search", json!({}))),
        DenyReason::Revoked
    );
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t1, &w.bob, "search", json!({}))),
        DenyReason::Revoked
    );
    assert!(call_on(&v, &clock, &w, &root, &w.alice, "search", json!({})).is_ok());
}

fn budgets_span_the_tree_and_denials_use_none(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(store, clock.clone());
    let root = token_with(&w, search(Some(3), None), None);
    let child = w.delegate_to_bob(&root, &Narrowing::new().budget("search", 1));
    assert!(
        root.delegate(
            &w.alice,
            w.bob.public(),
            w.bob_id,
            Digest::of_message(b"x"),
            &Narrowing::new().budget("search", 4)
        )
        .is_err(),
        "a child cannot raise a budget"
    );
    // A denied call (here: signed by the wrong key) uses no budget.
    assert!(call_on(&v, &clock, &w, &child, &w.alice, "search", json!({})).is_err());
    assert!(call_on(&v, &clock, &w, &child, &w.bob, "search", json!({})).is_ok());
    assert_eq!(
        reason(call_on(&v, &clock, &w, &child, &w.bob, "search", json!({}))),
        DenyReason::BudgetExhausted
    );
    // The child's use counted against the root's budget of 3: two left.
    assert!(call_on(&v, &clock, &w, &root, &w.alice, "search", json!({})).is_ok());
    assert!(call_on(&v, &clock, &w, &root, &w.alice, "search", json!({})).is_ok());
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &root,
            &w.alice,
            "search",
            json!({})
        )),
        DenyReason::BudgetExhausted
    );
    // Other tools are not capped.
    assert!(call_on(
        &v,
        &clock,
        &w,
        &root,
        &w.alice,
        "read_file",
        read("/data/a")
    )
    .is_ok());
}

fn rate_windows_slide(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(store, clock.clone());
    // One post per 30 minutes.
    let t = token_with(&w, search(None, Some((1, 1800))), None);
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({}))),
        DenyReason::RateLimited
    );
    clock.advance(Duration::minutes(29));
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({}))),
        DenyReason::RateLimited
    );
    clock.advance(Duration::minutes(2));
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
    // Per agent: bob, delegated, has his own window (still under the same cap).
    let b = w.delegate_to_bob(&t, &Narrowing::new());
    assert!(call_on(&v, &clock, &w, &b, &w.bob, "search", json!({})).is_ok());
    // A fresh agent id for the same key is the same caller: no fresh window.
    let me_again = t
        .delegate(
            &w.alice,
            w.alice.public(),
            AgentId::random(),
            Digest::of_message(b"me"),
            &Narrowing::new(),
        )
        .unwrap();
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &me_again,
            &w.alice,
            "search",
            json!({})
        )),
        DenyReason::RateLimited
    );
}

fn fan_out_counts_distinct_holders(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(store, clock.clone());
    let t = token_with(&w, search(None, None), Some(2));
    let dave = AgentKey::generate();
    let to = |k: &AgentKey| {
        t.delegate(
            &w.alice,
            k.public(),
            AgentId::random(),
            Digest::of_message(b"f"),
            &Narrowing::new(),
        )
        .unwrap()
    };
    let (tb, tc, td) = (to(&w.bob), to(&w.carol), to(&dave));
    assert!(call_on(&v, &clock, &w, &tb, &w.bob, "search", json!({})).is_ok());
    assert!(call_on(&v, &clock, &w, &tc, &w.carol, "search", json!({})).is_ok());
    assert_eq!(
        reason(call_on(&v, &clock, &w, &td, &dave, "search", json!({}))),
        DenyReason::FanOutExceeded
    );
    assert!(
        call_on(&v, &clock, &w, &tb, &w.bob, "search", json!({})).is_ok(),
        "a known holder is not counted twice"
    );
    // Each delegator has a scope of its own: bob, one of alice's two, may in turn hand the
    // token to two holders, whatever alice's scope already holds.
    let from_bob = |k: &AgentKey| {
        tb.delegate(
            &w.bob,
            k.public(),
            AgentId::random(),
            Digest::of_message(b"g"),
            &Narrowing::new(),
        )
        .unwrap()
    };
    let (frank, george, harry) = (
        AgentKey::generate(),
        AgentKey::generate(),
        AgentKey::generate(),
    );
    for (key, allowed) in [(&frank, true), (&george, true), (&harry, false)] {
        let r = call_on(&v, &clock, &w, &from_bob(key), key, "search", json!({}));
        match allowed {
            true => assert!(
                r.is_ok(),
                "{:?}",
                r.err().map(|d| d.operator_reason().clone())
            ),
            false => assert_eq!(reason(r), DenyReason::FanOutExceeded),
        }
    }
    // An anonymous block before the delegation does not open a new fan-out scope.
    let att = t
        .attenuate(&Narrowing::new().only_tools(["search"]))
        .unwrap();
    let te = att
        .delegate(
            &w.alice,
            dave.public(),
            AgentId::random(),
            Digest::of_message(b"e"),
            &Narrowing::new(),
        )
        .unwrap();
    assert_eq!(
        reason(call_on(&v, &clock, &w, &te, &dave, "search", json!({}))),
        DenyReason::FanOutExceeded
    );
}

fn rate_cap_holds_under_eight_threads(store: Store) {
    let w = Arc::new(World::new());
    let clock = TestClock::at(now());
    let v = Arc::new(w.verifier_with(store, clock.clone()));
    let t = Arc::new(token_with(&w, search(None, Some((3, 3600))), None));
    let allowed: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (w, v, t, clock) = (w.clone(), v.clone(), t.clone(), clock.clone());
                s.spawn(move || {
                    (0..4)
                        .filter(|_| {
                            call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(allowed, 3);
}

fn ledger_records_first_and_looks_up(store: Store) {
    use agentcap::state::LedgerEntry;
    let d = [7u8; 32];
    let now = 1_800_000_000_000;
    assert_eq!(store.lookup(&d, now).unwrap(), None);
    let first = LedgerEntry::new(2, vec!["personal".into()], vec!["a".into(), "b".into()]);
    store.record(&d, &first, now).unwrap();
    assert_eq!(store.lookup(&d, now).unwrap(), Some(first));
    // The same message recorded again merges as a ratchet: higher hop, no label dropped.
    store
        .record(
            &d,
            &LedgerEntry::new(9, vec!["secret".into()], vec![]),
            now + 1,
        )
        .unwrap();
    let merged = LedgerEntry::new(
        9,
        vec!["personal".into(), "secret".into()],
        vec!["a".into(), "b".into()],
    );
    assert_eq!(store.lookup(&d, now).unwrap(), Some(merged));
    // A longer path does not replace the stored one: every key that sent the text stays (loop
    // detection looks for the caller's key in it).
    store
        .record(
            &d,
            &LedgerEntry::new(3, vec![], vec!["x".into(), "b".into(), "z".into()]),
            now + 2,
        )
        .unwrap();
    assert_eq!(
        store.lookup(&d, now).unwrap().unwrap().path,
        vec!["a", "b", "x", "z"]
    );
}

/// A verifier whose `send` tool is a message tool (its `text` is recorded in the ledger).
fn message_verifier(w: &World, store: Store, clock: Arc<TestClock>) -> Verifier {
    Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["search", "send"],
    )
    .clock(clock)
    .state(store)
    .message_tool("send", "text")
    .build()
    .unwrap()
}

/// A token for `search` and `send`, each with a budget, expiring in `hours`.
fn short_token(w: &World, hours: i64, budget: u64) -> Token {
    let g = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(hours))
        .tool("search", search(Some(budget), Some((100, 60))))
        .tool("send", ToolGrant::new().allow_other_args().budget(budget))
        .max_depth(3)
        .fan_out(4);
    w.authority.issue(&g.build().unwrap()).unwrap()
}

fn message_digest(text: &str) -> [u8; 32] {
    Digest::of_message(text.as_bytes()).to_bytes()
}

/// The message an allowed call sends is recorded in the same step as its nonce and uses (on a
/// cluster, right after it); a denied call records none.
fn ledger_is_recorded_with_the_call(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = message_verifier(&w, store.clone(), clock.clone());
    let t = short_token(&w, 2, 1);
    let ok = call_on(
        &v,
        &clock,
        &w,
        &t,
        &w.alice,
        "send",
        json!({"text": "hello"}),
    )
    .unwrap();
    assert_eq!(ok.sent_message(), Some(Digest::of_message(b"hello")));
    let ms = clock.now().unix_timestamp() * 1000;
    let entry = store.lookup(&message_digest("hello"), ms).unwrap().unwrap();
    assert_eq!(entry.hop, 1);
    assert_eq!(entry.path, vec![w.alice.public().to_string()]);
    // The budget of one is spent: the next message is denied and not recorded.
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &t,
            &w.alice,
            "send",
            json!({"text": "again"})
        )),
        DenyReason::BudgetExhausted
    );
    assert_eq!(store.lookup(&message_digest("again"), ms).unwrap(), None);
}

/// Single-use approvals: counted once, spent with the call in the same atomic step; a denied
/// call spends nothing; reusable approvals do not count for such a tool; expired ones and ones
/// that would live longer than a day do not count.
fn single_use_approvals_are_spent_once(store: Store) {
    let w = World::new();
    let clock = TestClock::at(now());
    let reviewer = AgentKey::generate();
    let legal = AgentKey::generate();
    let v = Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["search", "publish"],
    )
    .clock(clock.clone())
    .state(store)
    .approvers(
        ApproverRegistry::new()
            .with(reviewer.public(), "reviewer")
            .with(legal.public(), "legal"),
    )
    .build()
    .unwrap();
    let g = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(2))
        .tool(
            "publish",
            ToolGrant::new()
                .allow_other_args()
                .approvals(1)
                .single_use_approvals(),
        )
        .tool("search", ToolGrant::new().allow_other_args().approvals(1));
    let t = w.authority.issue(&g.build().unwrap()).unwrap();
    assert!(t
        .describe()
        .unwrap()
        .single_use_approvals
        .contains(&ToolName::new("publish").unwrap()));
    let text = t.to_base64().unwrap();
    let call = ToolCall::new("publish", json!({"post": "release notes"})).unwrap();
    let digest = call.digest().unwrap();
    let run = |call: &ToolCall, approvals: &[Approval]| {
        let proof = CallProof::sign(&w.alice, &t, &w.executor, call, clock.now()).unwrap();
        v.verify_with_approvals(&text, call, &proof, approvals)
    };
    let once = |key: &AgentKey, life: Duration| {
        Approval::sign_once(key, &w.executor, &t.id(), digest, clock.now() + life)
    };

    // A reusable approval does not count for a single-use tool.
    let reusable = Approval::sign(&reviewer, &w.executor, &t.id(), digest);
    assert!(matches!(
        reason(run(&call, std::slice::from_ref(&reusable))),
        DenyReason::NeedsApproval { have: 0, need: 1 }
    ));
    // Expired, or signed to live longer than a day: not counted.
    let expired = once(&reviewer, Duration::seconds(-1));
    let too_long = once(&reviewer, Duration::hours(25));
    for a in [&expired, &too_long] {
        assert!(matches!(
            reason(run(&call, std::slice::from_ref(a))),
            DenyReason::NeedsApproval { have: 0, .. }
        ));
    }
    // A replayed proof is denied before the approval is spent...
    let a = once(&reviewer, Duration::minutes(10));
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, clock.now()).unwrap();
    assert!(v
        .verify_with_approvals(&text, &call, &proof, std::slice::from_ref(&a))
        .is_ok());
    assert_eq!(
        reason(v.verify_with_approvals(&text, &call, &proof, std::slice::from_ref(&a))),
        DenyReason::Replayed
    );
    // ...and a fresh proof with the spent approval is denied, class NeedsApproval.
    let d = run(&call, std::slice::from_ref(&a)).unwrap_err();
    assert_eq!(d.operator_reason(), &DenyReason::ApprovalSpent);
    assert_eq!(d.class(), DenyClass::NeedsApproval);
    // A spent approval among fresh ones still denies: every counted one must be unspent.
    let b = once(&legal, Duration::minutes(10));
    assert_eq!(
        reason(run(&call, &[a.clone(), b.clone()])),
        DenyReason::ApprovalSpent
    );
    // The denial spent nothing: `b` alone still counts, once.
    assert!(run(&call, std::slice::from_ref(&b)).is_ok());
    assert_eq!(
        reason(run(&call, std::slice::from_ref(&b))),
        DenyReason::ApprovalSpent
    );

    // On a tool whose approvals are reusable, a single-use approval is still spent once, and a
    // reusable one counts again and again.
    let search = ToolCall::new("search", json!({"q": "x"})).unwrap();
    let sd = search.digest().unwrap();
    let one = Approval::sign_once(
        &reviewer,
        &w.executor,
        &t.id(),
        sd,
        clock.now() + Duration::minutes(5),
    );
    assert!(run(&search, std::slice::from_ref(&one)).is_ok());
    assert_eq!(
        reason(run(&search, std::slice::from_ref(&one))),
        DenyReason::ApprovalSpent
    );
    let many = Approval::sign(&reviewer, &w.executor, &t.id(), sd);
    for _ in 0..3 {
        assert!(run(&search, std::slice::from_ref(&many)).is_ok());
    }
}

/// The behaviour suite for one backend. `$make` builds a fresh store or panics: a backend that
/// cannot run fails its tests, never passes them. A backend that needs a server marks its tests
/// `#[ignore]` (reported as ignored, not passed, by a plain `cargo test`).
macro_rules! suite {
    ($prefix:ident, $make:expr $(, #[$meta:meta])*) => {
        mod $prefix {
            use super::*;
            #[test]
            $(#[$meta])*
            fn replay() {
                replay_is_denied($make);
            }
            #[test]
            $(#[$meta])*
            fn revocation_cascade() {
                revocation_cascades($make);
            }
            #[test]
            $(#[$meta])*
            fn revoke_agent_key() {
                revoking_an_agent_key_cuts_its_chains($make);
            }
            #[test]
            $(#[$meta])*
            fn budgets() {
                budgets_span_the_tree_and_denials_use_none($make);
            }
            #[test]
            $(#[$meta])*
            fn rate_window() {
                rate_windows_slide($make);
            }
            #[test]
            $(#[$meta])*
            fn fan_out() {
                fan_out_counts_distinct_holders($make);
            }
            #[test]
            $(#[$meta])*
            fn concurrent_rate_cap() {
                rate_cap_holds_under_eight_threads($make);
            }
            #[test]
            $(#[$meta])*
            fn message_ledger() {
                ledger_records_first_and_looks_up($make);
            }
            #[test]
            $(#[$meta])*
            fn ledger_with_the_call() {
                ledger_is_recorded_with_the_call($make);
            }
            #[test]
            $(#[$meta])*
            fn single_use_approvals() {
                single_use_approvals_are_spent_once($make);
            }
        }
    };
}

fn memory() -> Store {
    Arc::new(MemoryStore::new())
}

suite!(memory_store, memory());

/// What `fill_every_kind` made.
pub(crate) struct Filled {
    pub(crate) w: World,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) v: Verifier,
    /// Alice's token (1 h, budget 2, a rate, fan-out 4): one `search` made.
    pub(crate) t: Token,
    /// `t` delegated to Bob: one message sent.
    pub(crate) to_bob: Token,
    /// Another token, revoked with `revoke_token`.
    pub(crate) other: Token,
}

/// Records one entry of every kind in `store`: a nonce, a budget and a rate window (Alice's
/// call), a fan-out set and a ledger entry (Bob's message), a dated revocation.
pub(crate) fn fill_every_kind(store: Store) -> Filled {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = message_verifier(&w, store.clone(), clock.clone());
    let t = short_token(&w, 1, 2);
    let to_bob = w.delegate_to_bob(&t, &Narrowing::new());
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
    let sent = call_on(
        &v,
        &clock,
        &w,
        &to_bob,
        &w.bob,
        "send",
        json!({"text": "hi"}),
    );
    assert!(sent.is_ok());
    let other = short_token(&w, 1, 1);
    store.revoke_token(&other).unwrap();
    Filled {
        w,
        clock,
        v,
        t,
        to_bob,
        other,
    }
}

/// After every token it counts for has expired, the memory store holds nothing but agent-key
/// revocations: budgets, rate windows, fan-out sets, nonces, ledger entries and token
/// revocations are all dropped by a sweep. Before that, a sweep drops nothing that matters.
#[test]
fn memory_store_forgets_what_has_expired() {
    let store = Arc::new(MemoryStore::new());
    let Filled {
        w,
        clock,
        v,
        t,
        other,
        ..
    } = fill_every_kind(store.clone());
    store
        .revoke_agent_key(&AgentKey::generate().public().to_bytes())
        .unwrap();
    let held = store.entries().unwrap();
    assert!(
        held >= 8,
        "nonces, budgets, rates, fan-out, ledger, revocations: {held}"
    );

    // A sweep now keeps everything live: the budget still counts, the revocation still holds.
    let ms = |c: &TestClock| c.now().unix_timestamp() * 1000;
    store.sweep(ms(&clock)).unwrap();
    assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
    assert_eq!(
        reason(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({}))),
        DenyReason::BudgetExhausted
    );
    assert_eq!(
        reason(call_on(
            &v,
            &clock,
            &w,
            &other,
            &w.alice,
            "search",
            json!({})
        )),
        DenyReason::Revoked
    );
    // Past the tokens' expiry, the grace and the ledger's day: only the agent key is left.
    clock.advance(Duration::hours(1) + Duration::seconds(1));
    clock.advance(Duration::try_from(state::EXPIRY_GRACE).unwrap());
    clock.advance(Duration::try_from(state::LEDGER_TTL).unwrap());
    store.sweep(ms(&clock)).unwrap();
    assert_eq!(store.entries().unwrap(), 1);
}

#[test]
fn memory_store_unavailable_state_denies_with_its_class() {
    struct Down;
    impl Revocations for Down {
        fn revoke_id(&self, _: &[u8]) -> Result<(), state::StateError> {
            Err(state::StateError("down".into()))
        }
        fn revoke_agent_key(&self, _: &[u8; 32]) -> Result<(), state::StateError> {
            Err(state::StateError("down".into()))
        }
    }
    impl state::MessageLedger for Down {
        fn lookup(
            &self,
            _: &[u8; 32],
            _: i64,
        ) -> Result<Option<state::LedgerEntry>, state::StateError> {
            Err(state::StateError("down".into()))
        }
        fn record(
            &self,
            _: &[u8; 32],
            _: &state::LedgerEntry,
            _: i64,
        ) -> Result<(), state::StateError> {
            Err(state::StateError("down".into()))
        }
    }
    impl StateStore for Down {
        fn decide(
            &self,
            _: &state::StateRequest,
        ) -> Result<state::StateVerdict, state::StateError> {
            Err(state::StateError("down".into()))
        }
    }
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(Arc::new(Down), clock.clone());
    let d = call_on(&v, &clock, &w, &w.token(), &w.alice, "search", json!({})).unwrap_err();
    assert_eq!(d.class(), DenyClass::StateUnavailable);
    assert!(matches!(
        d.operator_reason(),
        DenyReason::StateUnavailable(_)
    ));
}

#[cfg(feature = "redis")]
#[path = "state_redis/backend.rs"]
mod redis_backend;

#[cfg(feature = "redis")]
#[path = "state_redis/faults.rs"]
mod redis_faults;

#[cfg(feature = "redis")]
#[path = "state_redis/cluster.rs"]
mod redis_cluster;

/// A budget or a rate window counts the calls of the tool that sets it, and no other.
#[test]
fn use_limits_count_only_their_own_tool() {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(Arc::new(MemoryStore::new()), clock.clone());
    for (t, denial) in [
        (
            token_with(&w, search(Some(1), None), None),
            DenyReason::BudgetExhausted,
        ),
        (
            token_with(&w, search(None, Some((1, 3600))), None),
            DenyReason::RateLimited,
        ),
    ] {
        assert!(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({})).is_ok());
        for _ in 0..3 {
            assert!(call_on(&v, &clock, &w, &t, &w.alice, "read_file", read("/data/a")).is_ok());
        }
        assert_eq!(
            reason(call_on(&v, &clock, &w, &t, &w.alice, "search", json!({}))),
            denial
        );
    }
}

/// A proof is fresh from `issued_at - window` to `issued_at + window`, and it may be first seen
/// at the earliest of these: its nonce must be remembered until the latest, or a replay at the
/// end of the window would pass.
#[test]
fn a_nonce_outlives_every_moment_its_proof_is_fresh() {
    let w = World::new();
    let clock = TestClock::at(now());
    let v = w.verifier_with(Arc::new(MemoryStore::new()), clock.clone());
    let t = w.token();
    let call = ToolCall::new("search", json!({"q": "x"})).unwrap();
    // Signed with a clock 60 s ahead (the default window), first seen now.
    let proof = CallProof::sign(
        &w.alice,
        &t,
        &w.executor,
        &call,
        now() + Duration::seconds(60),
    )
    .unwrap();
    let text = t.to_base64().unwrap();
    assert!(v.verify(&text, &call, &proof).is_ok());
    // Replayed at the last second the proof is fresh: still remembered.
    clock.advance(Duration::seconds(120));
    assert_eq!(reason(v.verify(&text, &call, &proof)), DenyReason::Replayed);
    // One second later the proof itself is stale.
    clock.advance(Duration::seconds(1));
    assert_eq!(
        reason(v.verify(&text, &call, &proof)),
        DenyReason::ProofExpired
    );
}

/// A store written before `decide` carried the ledger record and approval spends (it does not
/// declare `records_ledger_and_approvals`) must not drop them silently: the verifier records the
/// message through `MessageLedger::record` itself, and denies a call that would spend a
/// single-use approval.
#[test]
fn an_older_custom_store_neither_loses_messages_nor_reuses_approvals() {
    use agentcap::state::{LedgerEntry, MessageLedger, StateError, StateRequest, StateVerdict};
    /// Decides on the memory store, ignoring the new fields as an older store would.
    struct Older(MemoryStore);
    impl Revocations for Older {
        fn revoke_id(&self, id: &[u8]) -> Result<(), StateError> {
            self.0.revoke_id(id)
        }
        fn revoke_agent_key(&self, key: &[u8; 32]) -> Result<(), StateError> {
            self.0.revoke_agent_key(key)
        }
    }
    impl MessageLedger for Older {
        fn lookup(&self, d: &[u8; 32], now_ms: i64) -> Result<Option<LedgerEntry>, StateError> {
            self.0.lookup(d, now_ms)
        }
        fn record(&self, d: &[u8; 32], e: &LedgerEntry, now_ms: i64) -> Result<(), StateError> {
            self.0.record(d, e, now_ms)
        }
    }
    impl StateStore for Older {
        fn decide(&self, r: &StateRequest) -> Result<StateVerdict, StateError> {
            let mut older = r.clone();
            older.ledger = None;
            older.approvals.clear();
            self.0.decide(&older)
        }
    }
    let w = World::new();
    let clock = TestClock::at(now());
    let store: Store = Arc::new(Older(MemoryStore::new()));
    let v = message_verifier(&w, store.clone(), clock.clone());
    let t = short_token(&w, 2, 5);
    assert!(call_on(
        &v,
        &clock,
        &w,
        &t,
        &w.alice,
        "send",
        json!({"text": "hello"})
    )
    .is_ok());
    let ms = clock.now().unix_timestamp() * 1000;
    assert!(store
        .lookup(&message_digest("hello"), ms)
        .unwrap()
        .is_some());

    let reviewer = AgentKey::generate();
    let v = Verifier::builder(
        w.executor.clone(),
        w.authority.key().public().into(),
        ["search"],
    )
    .clock(clock.clone())
    .state(store)
    .approvers(ApproverRegistry::new().with(reviewer.public(), "reviewer"))
    .build()
    .unwrap();
    let g = Grant::builder(w.alice_id, w.alice.public(), now() + Duration::hours(1))
        .tool("search", ToolGrant::new().allow_other_args().approvals(1));
    let t = w.authority.issue(&g.build().unwrap()).unwrap();
    let call = ToolCall::new("search", json!({})).unwrap();
    let once = Approval::sign_once(
        &reviewer,
        &w.executor,
        &t.id(),
        call.digest().unwrap(),
        now() + Duration::minutes(5),
    );
    let proof = CallProof::sign(&w.alice, &t, &w.executor, &call, now()).unwrap();
    let d = v
        .verify_with_approvals(&t.to_base64().unwrap(), &call, &proof, &[once])
        .unwrap_err();
    assert!(matches!(d.operator_reason(), DenyReason::Internal(_)));
}
