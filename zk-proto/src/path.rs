//! Znode path validation (Java's `PathUtils.validatePath`) and sequential names.

use std::fmt;

/// Why a path is not a valid znode path. The message matches Java's reason text, with positions
/// counted in UTF-16 units as Java counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The path that was checked.
    pub path: String,
    /// Java's reason, e.g. `empty node name specified @3`.
    pub reason: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid path string \"{}\" caused by {}",
            self.path, self.reason
        )
    }
}

impl std::error::Error for PathError {}

fn error(path: &str, reason: impl Into<String>) -> PathError {
    PathError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Whether a UTF-16 unit is a character ZooKeeper forbids in paths: controls, U+007F–U+009F,
/// surrogates and private use (U+D800–U+F8FF), and U+FFF0–U+FFFF.
fn is_forbidden_unit(c: u16) -> bool {
    (0x0001..=0x001f).contains(&c)
        || (0x007f..=0x009f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || (0xfff0..=0xffff).contains(&c)
}

/// Checks a znode path by Java's rules: starts with `/`, no trailing `/` (but the root), no empty,
/// `.` or `..` segment, no forbidden character. Characters outside the BMP are forbidden because
/// their UTF-16 surrogates are.
///
/// ```
/// use zk_proto::path::validate_path;
/// assert!(validate_path("/app/config").is_ok());
/// assert!(validate_path("/").is_ok());
/// assert_eq!(validate_path("/a//b").unwrap_err().reason, "empty node name specified @3");
/// assert!(validate_path("/a/../b").is_err());
/// ```
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(error(path, "Path length must be > 0"));
    }
    if !path.starts_with('/') {
        return Err(error(path, "Path must start with / character"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(error(path, "Path must not end with / character"));
    }
    // ASCII paths (the common case) are checked in place; others as Java's UTF-16 units.
    if path.is_ascii() {
        check_units(path, path.as_bytes())
    } else {
        let units: Vec<u16> = path.encode_utf16().collect();
        check_units(path, &units)
    }
}

/// The character loop of `validate_path`, over bytes of an ASCII path or UTF-16 units.
fn check_units<T: Copy + Into<u16>>(path: &str, units: &[T]) -> Result<(), PathError> {
    let unit = |i: usize| -> u16 { units[i].into() };
    let slash = u16::from(b'/');
    let dot = u16::from(b'.');
    let segment_ends_at = |i: usize| i + 1 == units.len() || unit(i + 1) == slash;
    let mut last = slash;
    for i in 1..units.len() {
        let c = unit(i);
        if c == 0 {
            return Err(error(path, format!("null character not allowed @{i}")));
        } else if c == slash && last == slash {
            return Err(error(path, format!("empty node name specified @{i}")));
        } else if c == dot && last == dot {
            if unit(i - 2) == slash && segment_ends_at(i) {
                return Err(error(path, format!("relative paths not allowed @{i}")));
            }
        } else if c == dot {
            if unit(i - 1) == slash && segment_ends_at(i) {
                return Err(error(path, format!("relative paths not allowed @{i}")));
            }
        } else if is_forbidden_unit(c) {
            return Err(error(path, format!("invalid character @{i}")));
        }
        last = c;
    }
    Ok(())
}

/// Checks the path of a create: for sequential modes the server appends a counter, so Java
/// validates `path + "1"` and a trailing `/` is allowed (`/a/` becomes `/a/0000000003`).
pub fn validate_create_path(path: &str, sequential: bool) -> Result<(), PathError> {
    if sequential {
        validate_path(&format!("{path}1"))
    } else {
        validate_path(path)
    }
}

/// The name a sequential create gets: the requested path plus the parent's stored cversion as
/// Java's `%010d` prints it (ten digits, zero padded; a negative counter keeps its sign inside
/// the width, as after an int overflow).
///
/// ```
/// use zk_proto::path::sequential_name;
/// assert_eq!(sequential_name("/pr/seq-", 2), "/pr/seq-0000000002");
/// assert_eq!(sequential_name("/q/", -1), "/q/-000000001");
/// ```
pub fn sequential_name(path: &str, parent_cversion: i32) -> String {
    format!("{path}{parent_cversion:010}")
}

/// The parent of a path: everything before the last `/` (`/` for top-level nodes), or `None`
/// for the root.
///
/// ```
/// use zk_proto::path::parent;
/// assert_eq!(parent("/a/b"), Some("/a"));
/// assert_eq!(parent("/a"), Some("/"));
/// assert_eq!(parent("/"), None);
/// ```
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last segment of a path (the node's name).
pub fn basename(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn java_rules() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/.a",
            "/a..",
            "/...",
            "/app/unicode-ü",
            "/a b",
            "/-",
        ] {
            assert!(validate_path(ok).is_ok(), "{ok} should be valid");
        }
        let cases = [
            ("", "Path length must be > 0"),
            ("a", "Path must start with / character"),
            ("/a/", "Path must not end with / character"),
            ("//", "Path must not end with / character"),
            ("/a//b", "empty node name specified @3"),
            ("/.", "relative paths not allowed @1"),
            ("/a/.", "relative paths not allowed @3"),
            ("/a/./b", "relative paths not allowed @3"),
            ("/..", "relative paths not allowed @2"),
            ("/a/../b", "relative paths not allowed @4"),
            ("/a\0b", "null character not allowed @2"),
            ("/a\u{1}", "invalid character @2"),
            ("/\u{7f}", "invalid character @1"),
            ("/\u{9f}", "invalid character @1"),
            ("/\u{e000}", "invalid character @1"),
            ("/\u{fff0}", "invalid character @1"),
            ("/x\u{1F600}", "invalid character @2"),
        ];
        for (path, reason) in cases {
            assert_eq!(
                validate_path(path).unwrap_err().reason,
                reason,
                "path {path:?}"
            );
        }
    }

    #[test]
    fn sequential_paths_may_end_in_slash() {
        assert!(validate_create_path("/a/", true).is_ok());
        assert!(validate_create_path("/a/", false).is_err());
        assert!(validate_create_path("/a//", true).is_err());
    }

    proptest! {
        #[test]
        fn validation_never_panics(path in ".*") {
            let _ = validate_path(&path);
            let _ = validate_create_path(&path, true);
            let _ = parent(&path);
        }

        #[test]
        fn ascii_fast_path_agrees_with_utf16_units(path in "/[a-c./\\x00\\x01\\x7f]{0,8}") {
            let units: Vec<u16> = path.encode_utf16().collect();
            prop_assert_eq!(check_units(&path, path.as_bytes()), check_units(&path, &units));
        }

        #[test]
        fn valid_paths_have_valid_parents(path in "(/[a-z.]{1,3}){1,4}") {
            if validate_path(&path).is_ok() {
                let p = parent(&path).unwrap();
                prop_assert!(validate_path(p).is_ok());
            }
        }
    }
}
