//! `RelPath`: the only way to name a file inside a collection.
//!
//! A path is relative, `/`-separated, UTF-8, with no empty, `.` or `..` component,
//! no backslash and no NUL or other control character. Everything that takes a
//! path from outside (CLI, import, later HTTP) goes through [`RelPath::new`], so
//! traversal is impossible past this point.

use super::error::{Error, Result};
use std::fmt;

/// A validated collection-relative path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

/// The longest path accepted, in characters (the API's OpenAPI document says
/// the same, and JSON Schema counts characters, not bytes).
pub const MAX_PATH_LEN: usize = 1024;

impl RelPath {
    /// Validates `raw`. A leading `./` is accepted and dropped; nothing else is
    /// rewritten, so a path is stored exactly as the user's file tree names it.
    pub fn new(raw: &str) -> Result<RelPath> {
        let bad = |reason| Error::InvalidPath {
            path: raw.to_string(),
            reason,
        };
        let path = raw.strip_prefix("./").unwrap_or(raw);
        if path.is_empty() {
            return Err(bad("the path is empty"));
        }
        if path.len() > MAX_PATH_LEN && path.chars().count() > MAX_PATH_LEN {
            return Err(bad("the path is longer than 1024 characters"));
        }
        if path.starts_with('/') {
            return Err(bad(
                "absolute paths are not allowed; give a path relative to the collection root",
            ));
        }
        if path.contains('\\') {
            return Err(bad(
                "backslashes are not allowed; separate folders with '/'",
            ));
        }
        if path.chars().any(|c| c == '\0' || c.is_control()) {
            return Err(bad("NUL and control characters are not allowed"));
        }
        for component in path.split('/') {
            match component {
                "" => return Err(bad("empty path component ('//' or a trailing '/')")),
                "." => return Err(bad("'.' components are not allowed")),
                ".." => return Err(bad("'..' components are not allowed")),
                _ => {}
            }
        }
        Ok(RelPath(path.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The file name: the last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_with_spaces_and_colons_are_accepted() {
        for ok in [
            "course.xml",
            "static/rgb-white-stacked-logo-open-edx-2026 (1).svg",
            "static/it's: here.png",
            "./html/a.html",
        ] {
            assert!(RelPath::new(ok).is_ok(), "{ok} should be a valid path");
        }
        assert_eq!(RelPath::new("./a/b").unwrap().as_str(), "a/b");
    }

    #[test]
    fn traversal_absolute_nul_and_backslash_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "..",
        ] {
            assert!(RelPath::new(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn paths_up_to_1024_characters_are_accepted_whatever_their_bytes() {
        let ascii = format!("static/{}", "a".repeat(1024 - 7));
        assert!(RelPath::new(&ascii).is_ok());
        let wide = format!("static/{}", "é".repeat(1024 - 7));
        assert!(wide.len() > 1024, "more bytes than characters");
        assert!(RelPath::new(&wide).is_ok());
        let long = format!("static/{}", "a".repeat(1025 - 7));
        assert!(RelPath::new(&long).is_err());
    }
}
