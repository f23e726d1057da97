//! Entry points for the fuzz targets only (compiled under `cfg(fuzzing)`, which `cargo fuzz`
//! sets): the grammar reader and the plan, reached without valid signatures.

use super::envelope;
use super::plan::{self, CallView};
use super::read;
use crate::call::{leaves, ArgBounds};
use crate::ids::ToolName;
use crate::value::ArgValue;

/// Reads a binary token with the verifier's grammar reader; when it reads, compiles its plan
/// and evaluates it against the call. `None` when the token is refused before evaluation.
pub fn read_and_evaluate(
    token: &[u8],
    tool: &str,
    args: &serde_json::Value,
    now: i64,
) -> Option<bool> {
    let env = envelope::envelope(token.to_vec(), 32).ok()?;
    let _ = envelope::records(&env).map(|r| plan::walk(&r));
    let raw = read::read_blocks(env).ok()?;
    let (_, plan) = plan::compile(&raw, &mut super::run::KeyCache::default()).ok()?;
    let tool = ToolName::new(tool).ok()?;
    let (leaves, keys) = leaves(
        args,
        &ArgBounds {
            max_depth: 32,
            max_leaves: 1024,
        },
    )?;
    if leaves.iter().any(|(_, v)| *v == ArgValue::Unportable) {
        return None;
    }
    Some(
        plan.evaluate(&CallView {
            tool: &tool,
            args,
            top_keys: &keys,
            now,
        })
        .is_ok(),
    )
}
