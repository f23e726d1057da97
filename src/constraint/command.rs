//! Shell command lines: a program allowlist and argument constraints over shell words, with no
//! metacharacter that a shell would act on.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Constraint;
use crate::error::Error;

/// The longest command line accepted, in bytes.
pub const MAX_COMMAND_LEN: usize = 4096;

/// Bytes refused anywhere in a command line: everything a POSIX shell would read as a
/// separator, pipe, redirection, substitution, expansion, glob, comment or escape.
const METACHARACTERS: &[u8] = b";&|<>`$(){}[]*?~!#\\";

/// Which command lines an argument may hold.
///
/// The line is split into words with POSIX shell quoting (`'…'` and `"…"`; the `shlex`
/// crate). It is refused when it holds a control character (newline included) or any of
/// ``; & | < > ` $ ( ) { } [ ] * ? ~ ! # \`` (so no chaining, pipe, redirection, command
/// or variable substitution, glob, brace or tilde expansion, comment or escape, quoted or
/// not), when its quotes do not balance, when it has no word, when the first word (the
/// program, compared exactly: `git` and `/usr/bin/git` are different programs) is not in
/// `programs`, when `subcommands` is not empty and the second word is not one of them (`cargo`
/// and `git` run any `cargo-foo` / `git-foo` on the `PATH` as a subcommand), when it has more
/// than `max_args` further words, or when a further word fails `arg` (evaluated as a string).
/// An executor should run the words with `execve`, not hand the line to a shell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandPolicy {
    /// Allowed programs (the first word), exactly.
    pub programs: BTreeSet<String>,
    /// If not empty, the allowed subcommands (the second word, which must then be present).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub subcommands: BTreeSet<String>,
    /// A constraint every argument word must satisfy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<Box<Constraint>>,
    /// The most argument words (after the program).
    pub max_args: u32,
}

/// The words of a command line, if it is one this constraint can judge.
pub(crate) fn words(line: &str) -> Option<Vec<String>> {
    if line.len() > MAX_COMMAND_LEN
        || line
            .bytes()
            .any(|b| b.is_ascii_control() || METACHARACTERS.contains(&b))
    {
        return None;
    }
    let words = shlex::split(line)?;
    (!words.is_empty()).then_some(words)
}

impl CommandPolicy {
    /// Lines running one of `programs` with at most 32 arguments of any shape.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is empty or too large, or a program name is
    /// empty or holds a metacharacter, quote or whitespace.
    pub fn new<P: IntoIterator<Item = S>, S: Into<String>>(programs: P) -> Result<Self, Error> {
        let p = Self {
            programs: programs.into_iter().map(Into::into).collect(),
            subcommands: BTreeSet::new(),
            arg: None,
            max_args: 32,
        };
        p.validate_shape()?;
        Ok(p)
    }

    /// The same policy, with every argument word required to satisfy `arg`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when `arg` is invalid.
    pub fn with_arg(mut self, arg: Constraint) -> Result<Self, Error> {
        arg.validate()?;
        self.arg = Some(Box::new(arg));
        Ok(self)
    }

    /// The same policy, with the second word required to be one of `subcommands`.
    ///
    /// # Errors
    /// [`Error::InvalidGrant`] when the set is too large or a name is malformed.
    pub fn with_subcommands<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        subcommands: I,
    ) -> Result<Self, Error> {
        self.subcommands = subcommands.into_iter().map(Into::into).collect();
        self.validate_shape()?;
        Ok(self)
    }

    /// The same policy, with at most `n` argument words.
    pub fn with_max_args(mut self, n: u32) -> Self {
        self.max_args = n;
        self
    }

    /// The policy's own bounds (the argument constraint is validated as part of the tree).
    pub(crate) fn validate_shape(&self) -> Result<(), Error> {
        if self.programs.is_empty() || self.programs.len() > super::MAX_SET_LEN {
            return Err(Error::grant(format!(
                "a command constraint needs 1 to {} programs",
                super::MAX_SET_LEN
            )));
        }
        let bad = |p: &String| {
            p.is_empty()
                || p.len() > super::MAX_CONSTRAINT_STRING
                || p.bytes().any(|b| {
                    b.is_ascii_whitespace()
                        || b.is_ascii_control()
                        || b == b'\''
                        || b == b'"'
                        || METACHARACTERS.contains(&b)
                })
        };
        if self.subcommands.len() > super::MAX_SET_LEN {
            return Err(Error::grant(
                "a command constraint lists too many subcommands",
            ));
        }
        match self
            .programs
            .iter()
            .chain(&self.subcommands)
            .find(|p| bad(p))
        {
            Some(p) => Err(Error::grant(format!(
                "invalid program or subcommand name `{p}`"
            ))),
            None => Ok(()),
        }
    }

    /// Whether `line` is an allowed command line.
    pub fn allows(&self, line: &str) -> bool {
        self.allows_with(line, &|c, word| c.allows(word))
    }

    /// As [`CommandPolicy::allows`], with the argument rule judged by `arg` (the verifier's plan
    /// passes its compiled form, so a regex in it is compiled once per token, not per word).
    pub(crate) fn allows_with(
        &self,
        line: &str,
        arg: &dyn Fn(&Constraint, &serde_json::Value) -> bool,
    ) -> bool {
        let Some(words) = words(line) else {
            return false;
        };
        let Some((program, args)) = words.split_first() else {
            return false;
        };
        let subcommand_ok = self.subcommands.is_empty()
            || args.first().is_some_and(|s| self.subcommands.contains(s));
        self.programs.contains(program)
            && subcommand_ok
            && args.len() <= self.max_args as usize
            && self.arg.as_ref().is_none_or(|c| {
                args.iter()
                    .all(|a| arg(c, &serde_json::Value::String(a.clone())))
            })
    }

    pub(crate) fn is_subset_of(&self, parent: &CommandPolicy) -> bool {
        self.programs.is_subset(&parent.programs)
            && (parent.subcommands.is_empty()
                || (!self.subcommands.is_empty()
                    && self.subcommands.is_subset(&parent.subcommands)))
            && self.max_args <= parent.max_args
            && match (&self.arg, &parent.arg) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a.is_subset_of(b),
            }
    }
}
