//! The safe sub-path rule: a path argument must name a place at or below a root directory.
//!
//! The check is lexical: it cannot see the file system, so it cannot know about symbolic links.
//! A tool that opens the path must still refuse to follow links out of the root (e.g. open with
//! `O_NOFOLLOW` or resolve and re-check); the threat model says so.

/// The longest path accepted, in bytes.
pub(crate) const MAX_PATH_LEN: usize = 4096;

/// Splits an absolute path into its normalised components, or `None` when the path is not one
/// this rule accepts at all: relative, too long, with `..`, a backslash, a percent sign (encoded
/// tricks), a NUL or another control character.
pub(crate) fn components(path: &str) -> Option<Vec<&str>> {
    if path.len() > MAX_PATH_LEN || !path.starts_with('/') {
        return None;
    }
    if path
        .chars()
        .any(|c| c == '\\' || c == '%' || c.is_control())
    {
        return None;
    }
    let mut out = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => out.push(other),
        }
    }
    Some(out)
}

/// Whether `path` is at or below `root` (both absolute, checked as [`components`] says), and
/// `path` is spelled canonically: no empty or `.` segment, no trailing separator.
///
/// INVARIANT: a path argument is authorized in one spelling only. Other constraints on the same
/// argument (`not_one_of`, `exact`, `prefix`, …) compare the raw string, so if `/data//secret`
/// or `/data/./secret` passed here, a carve-out such as `not_one_of(["/data/secret"])` would
/// not see the file the tool opens.
pub(crate) fn is_within(root: &str, path: &str) -> bool {
    match (components(root), components(path)) {
        (Some(root), Some(parts)) => is_canonical(path, &parts) && parts.starts_with(&root),
        _ => false,
    }
}

/// Whether the root `child` lies at or below the root `parent` (roots are compared by their
/// components, whatever their spelling: the subset relation of two sub-path constraints).
pub(crate) fn root_within(parent: &str, child: &str) -> bool {
    match (components(parent), components(child)) {
        (Some(parent), Some(child)) => child.starts_with(&parent),
        _ => false,
    }
}

/// Whether `path` is exactly `/` followed by its components joined by `/`.
fn is_canonical(path: &str, parts: &[&str]) -> bool {
    let mut rest = path;
    for part in parts {
        let Some(after) = rest.strip_prefix('/').and_then(|r| r.strip_prefix(part)) else {
            return false;
        };
        rest = after;
    }
    rest.is_empty() || (parts.is_empty() && rest == "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpath_table() {
        let rows: &[(&str, &str, bool)] = &[
            ("/data", "/data/a.txt", true),
            ("/data", "/data", true),
            ("/data", "/data/x/y", true),
            // One spelling only: the carve-out bypass (`/data//secret.txt` is not
            // `/data/secret.txt` to a string comparison, but is to the file system).
            ("/data", "/data//x/./y", false),
            ("/data", "/data//secret.txt", false),
            ("/data", "/data/./secret.txt", false),
            ("/data", "/data/.//./secret.txt", false),
            ("/data", "/data/x/", false),
            ("/data", "/data/", false),
            ("/", "/", true),
            ("/", "//", false),
            ("/data", "/database", false),
            ("/data", "/data/../etc/passwd", false),
            ("/data", "/data/%2e%2e/etc", false),
            ("/data", "/data\\..\\etc", false),
            ("/data", "data/a", false),
            ("/data", "/etc/passwd", false),
            ("/data", "/data/a\u{0}b", false),
            ("/", "/anything/at/all", true),
        ];
        for (root, path, want) in rows {
            assert_eq!(is_within(root, path), *want, "{root} {path}");
        }
    }

    #[test]
    fn subpath_length_bound_is_inclusive() {
        let at_limit = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        let over = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert!(components(&at_limit).is_some());
        assert!(components(&over).is_none());
    }
}
