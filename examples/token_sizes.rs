//! Prints the serialized size of a token with 0 to 3 delegation hops, with and without a
//! narrowed constraint per hop, and of an anonymous attenuation block.
//!
//! Run: `cargo run --example token_sizes`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use agentcap::*;
use time::{Duration, OffsetDateTime};

fn main() -> Result<(), Error> {
    let authority = Authority::new(AuthorityId::new("ops")?, AuthorityKey::generate(1));
    let keys: Vec<AgentKey> = (0..4).map(|_| AgentKey::generate()).collect();
    let grant = Grant::builder(
        AgentId::random(),
        keys[0].public(),
        OffsetDateTime::now_utc() + Duration::hours(1),
    )
    .tool(
        "read_file",
        ToolGrant::new().arg("path", Constraint::sub_path("/data")?),
    )
    .max_depth(3)
    .build()?;
    for narrowed in [false, true] {
        let mut token = authority.issue(&grant)?;
        println!("hops=0 narrowed={narrowed} bytes={}", token.size()?);
        for hop in 1..4 {
            let n = if narrowed {
                Narrowing::new().constrain(
                    "read_file",
                    "path",
                    Constraint::sub_path(
                        (1..=hop).fold("/data".to_owned(), |p, i| format!("{p}/{i}")),
                    )?,
                )
            } else {
                Narrowing::new()
            };
            let before = token.size()?;
            token = token.delegate(
                &keys[hop - 1],
                keys[hop].public(),
                AgentId::random(),
                Digest::of_message(b"m"),
                &n,
            )?;
            println!(
                "hops={hop} narrowed={narrowed} bytes={} (+{})",
                token.size()?,
                token.size()? - before
            );
        }
    }
    let base = authority.issue(&grant)?;
    let att = base.attenuate(&Narrowing::new().constrain(
        "read_file",
        "path",
        Constraint::sub_path("/data/x")?,
    ))?;
    println!(
        "anonymous attenuation with one constraint: +{} bytes",
        att.size()? - base.size()?
    );
    Ok(())
}
