//! What a token says, read back by the holder side: `Token::describe` (the operator CLI's
//! `inspect` and every narrowing check build on it) and the refusals of narrowings that are
//! not provably narrower.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration as StdDuration;

use agentcap::*;
use common::*;

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

/// alice's grant with use limits on `search` and an accepted label.
fn limited(w: &World) -> Token {
    let grant = w
        .grant()
        .tool(
            "search",
            ToolGrant::new()
                .allow_other_args()
                .budget(10)
                .rate(5, StdDuration::from_secs(60))
                .approvals(2)
                .accept_labels([label("pii")]),
        )
        .fan_out(3)
        .max_hops(4)
        .build()
        .unwrap();
    w.authority.issue(&grant).unwrap()
}

#[test]
fn describe_reads_back_every_use_limit_and_combines_blocks() {
    let w = World::new();
    let t = limited(&w);
    let d = t.describe().unwrap();
    let search = ToolName::new("search").unwrap();
    assert_eq!(d.budgets.get(&search), Some(&10));
    assert_eq!(d.rates.get(&search), Some(&vec![(5, 60)]));
    assert_eq!(d.approvals.get(&search), Some(&2));
    assert_eq!(d.fan_out, Some(3));
    assert_eq!(d.max_hops, Some(4));

    // A delegation tightens each: the lowest budget, fan-out and hop limit, the most
    // approvals, and every rate window, win.
    let narrowing = Narrowing::new()
        .budget("search", 4)
        .rate("search", 2, StdDuration::from_secs(120))
        .approvals("search", 3)
        .fan_out(1)
        .max_hops(2)
        .seen_labels([label("secret")]);
    let t2 = w.delegate_to_bob(&t, &narrowing);
    let d2 = t2.describe().unwrap();
    assert_eq!(d2.budgets.get(&search), Some(&4));
    assert_eq!(d2.rates.get(&search), Some(&vec![(5, 60), (2, 120)]));
    assert_eq!(d2.approvals.get(&search), Some(&3));
    assert_eq!(d2.fan_out, Some(1));
    assert_eq!(d2.max_hops, Some(2));
    assert_eq!(d2.seen_labels.iter().collect::<Vec<_>>(), ["secret"]);
}

#[test]
fn describe_names_each_block_kind_and_its_own_labels() {
    use biscuit_auth::{Algorithm, BlockBuilder, PrivateKey, PublicKey};
    let w = World::new();
    let t = limited(&w);
    let t2 = t
        .attenuate(&Narrowing::new().only_tools(["search"]))
        .unwrap();
    let t3 = t2
        .delegate(
            &w.alice,
            w.bob.public(),
            w.bob_id,
            Digest::of_message(b"go"),
            &Narrowing::new().seen_labels([label("secret")]),
        )
        .unwrap();
    let d = t3.describe().unwrap();
    let kinds: Vec<BlockKind> = d.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BlockKind::Authority,
            BlockKind::Attenuation,
            BlockKind::Delegation
        ]
    );
    assert_eq!(d.blocks[2].signer, Some(w.alice.public()));
    // Seen labels are the delegation's own; the authority's accepted labels are not "seen".
    assert!(d.blocks[0].seen_labels.is_empty());
    assert_eq!(d.blocks[2].seen_labels, ["secret"]);
    assert_eq!(d.hops.len(), 1);
    assert_eq!(d.holder, w.bob.public());

    // A third-party block that records no delegation: the holder side reads tokens with the
    // verifier's own reader, so it refuses the token as the verifier would.
    let raw_t3 = raw(&w, &t3);
    let block = BlockBuilder::new().code(r#"b("search", 1)"#).unwrap();
    let private = PrivateKey::from_bytes(w.bob.to_bytes().as_ref(), Algorithm::Ed25519).unwrap();
    let signed = raw_t3
        .third_party_request()
        .unwrap()
        .create_block(&private, block)
        .unwrap();
    let public = PublicKey::from_bytes(&w.bob.public().to_bytes(), Algorithm::Ed25519).unwrap();
    let t4_text = raw_t3
        .append_third_party(public, signed)
        .unwrap()
        .to_base64()
        .unwrap();
    let t4 = Token::from_base64(&t4_text, &w.authority.key().public().into()).unwrap();

    assert!(matches!(t4.describe(), Err(Error::InvalidToken(_))));
}

#[test]
fn narrowings_that_are_not_narrower_are_refused() {
    let w = World::new();
    let t = limited(&w);
    let refused = |n: Narrowing| {
        let r = t.delegate(
            &w.alice,
            w.bob.public(),
            w.bob_id,
            Digest::of_message(b"m"),
            &n,
        );
        matches!(r, Err(Error::NotNarrower(_)))
    };
    let rows: Vec<(&str, Narrowing, bool)> = vec![
        // An open tool may gain a constraint on an argument no block mentions; a closed one may not.
        (
            "new argument, open tool",
            Narrowing::new().constrain("search", "q", Constraint::prefix("a").unwrap()),
            false,
        ),
        (
            "new argument, closed tool",
            Narrowing::new().constrain("read_file", "mode", Constraint::exact("r").unwrap()),
            true,
        ),
        (
            "close a granted tool",
            Narrowing::new().close_args("search"),
            false,
        ),
        (
            "close a tool not granted",
            Narrowing::new().close_args("weather"),
            true,
        ),
        (
            "keep a tool not granted",
            Narrowing::new().only_tools(["weather"]),
            true,
        ),
        ("lower budget", Narrowing::new().budget("search", 9), false),
        ("higher budget", Narrowing::new().budget("search", 11), true),
        ("same budget", Narrowing::new().budget("search", 10), false),
        (
            "more calls per window",
            Narrowing::new().rate("search", 6, StdDuration::from_secs(60)),
            true,
        ),
        (
            "shorter window",
            Narrowing::new().rate("search", 5, StdDuration::from_secs(59)),
            true,
        ),
        (
            "same rate",
            Narrowing::new().rate("search", 5, StdDuration::from_secs(60)),
            false,
        ),
        (
            "fewer approvals",
            Narrowing::new().approvals("search", 1),
            true,
        ),
        (
            "more approvals",
            Narrowing::new().approvals("search", 3),
            false,
        ),
        (
            "same approvals",
            Narrowing::new().approvals("search", 2),
            false,
        ),
        ("higher fan-out", Narrowing::new().fan_out(4), true),
        ("same fan-out", Narrowing::new().fan_out(3), false),
        ("more hops", Narrowing::new().max_hops(5), true),
        ("same hops", Narrowing::new().max_hops(4), false),
        (
            "later expiry",
            Narrowing::new().expires_at(now() + time::Duration::hours(2)),
            true,
        ),
        (
            "same expiry",
            Narrowing::new().expires_at(now() + time::Duration::hours(1)),
            false,
        ),
        (
            "earlier expiry",
            Narrowing::new().expires_at(now() + time::Duration::minutes(30)),
            false,
        ),
    ];
    for (name, n, want) in rows {
        assert_eq!(refused(n), want, "{name}");
    }
}

#[test]
fn open_and_closed_tools_read_back_and_anonymous_blocks_carry_no_use_limits() {
    let w = World::new();
    let t = limited(&w);
    let search = ToolName::new("search").unwrap();
    assert!(t.describe().unwrap().open_tools.contains(&search));
    let closed = t.attenuate(&Narrowing::new().close_args("search")).unwrap();
    assert!(!closed.describe().unwrap().open_tools.contains(&search));
    // Use limits need a block the verifier can attribute: an attenuation may not set them.
    // (Each also narrows the tools, so the block is not empty without its limits.)
    let base = || Narrowing::new().only_tools(["search"]);
    assert!(t.attenuate(&base()).is_ok());
    for n in [
        base().budget("search", 1),
        base().rate("search", 1, StdDuration::from_secs(60)),
        base().approvals("search", 3),
        base().fan_out(1),
        base().max_hops(1),
        base().seen_labels([label("secret")]),
    ] {
        assert!(
            matches!(t.attenuate(&n), Err(Error::InvalidGrant(_))),
            "{n:?}"
        );
    }
}
