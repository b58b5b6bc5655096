//! `RelPath`: the only way to name a file inside a collection.
//!
//! A path is relative, `/`-separated, UTF-8, with no empty, `.` or `..` component,
//! no backslash and no NUL or other control character, and no component longer
//! than [`MAX_NAME_BYTES`] bytes (the most ext4, XFS, btrfs, APFS and NTFS hold
//! in one name, so `export` can always write the tree back). Everything that
//! takes a path from outside (CLI, import, archives, sync, HTTP) goes through
//! [`RelPath::new`], so traversal is impossible past this point, and a name no
//! filesystem can hold never gets in.
//!
//! [`RelPath::existing`] names a file that may already be stored: the same
//! rules but the name length, so a store written before the limit existed can
//! still read, rename and delete its too-long names (and never write one).

use super::error::{Error, Result};
use std::fmt;

/// A validated collection-relative path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

/// The longest path accepted, in characters (the API's OpenAPI document says
/// the same, and JSON Schema counts characters, not bytes).
pub const MAX_PATH_LEN: usize = 1024;

/// The longest file or folder name (one path component) accepted, in bytes of
/// UTF-8: what Linux's filesystems (`NAME_MAX`) and macOS's hold.
pub const MAX_NAME_BYTES: usize = 255;

impl RelPath {
    /// Validates `raw`. A leading `./` is accepted and dropped; nothing else is
    /// rewritten, so a path is stored exactly as the user's file tree names it.
    pub fn new(raw: &str) -> Result<RelPath> {
        let path = RelPath::existing(raw)?;
        if let Some(long) = path.0.split('/').find(|c| c.len() > MAX_NAME_BYTES) {
            return Err(Error::Invalid(format!(
                "invalid path {:?}: the name {:?} is {} bytes; a file or folder name may be \
                 at most {MAX_NAME_BYTES} bytes (the most a filesystem holds), so shorten it",
                shorten(raw, 160),
                shorten(long, 60),
                long.len()
            )));
        }
        Ok(path)
    }

    /// Validates `raw` as [`RelPath::new`] does, except for the length of its
    /// names: for naming a file already in the store (reading, renaming or
    /// deleting it), never for writing one.
    pub fn existing(raw: &str) -> Result<RelPath> {
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

/// `text` cut to about `max` characters for a message: its head and tail
/// around an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max * 2 / 3).collect();
    let tail: String = text.chars().skip(count - (max - max * 2 / 3 - 1)).collect();
    format!("{head}…{tail}")
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
        // Names of at most 255 bytes: 4 separators and 1020 characters.
        let names = |c: &str, lens: &[usize]| {
            lens.iter()
                .map(|&n| c.repeat(n))
                .collect::<Vec<_>>()
                .join("/")
        };
        let ascii = names("a", &[255, 255, 255, 200, 55]);
        assert_eq!(ascii.chars().count(), 1024);
        assert!(RelPath::new(&ascii).is_ok());
        // Names of 127 two-byte characters: 254 bytes each.
        let wide = names("é", &[127, 127, 127, 127, 127, 127, 127, 100, 27]);
        assert_eq!(wide.chars().count(), 1024);
        assert!(wide.len() > 1024, "more bytes than characters");
        assert!(RelPath::new(&wide).is_ok());
        let long = ascii + "a";
        assert!(RelPath::new(&long).is_err());
    }

    #[test]
    fn a_name_over_255_bytes_is_refused_naming_it_and_the_limit() {
        assert!(RelPath::new(&format!("static/{}", "a".repeat(255))).is_ok());
        // 128 two-byte characters: 128 characters, 256 bytes.
        for long in ["a".repeat(256), "é".repeat(128)] {
            for path in [
                format!("static/{long}"),
                format!("{long}/x.html"),
                format!("./a/{long}.png"),
            ] {
                let err = RelPath::new(&path).unwrap_err();
                assert_eq!(err.kind(), crate::store::ErrorKind::Invalid);
                let text = err.to_string();
                assert!(text.contains("255 bytes"), "{text}");
                assert!(
                    text.contains(&format!(
                        "is {} bytes",
                        long.len() + if path.ends_with(".png") { 4 } else { 0 }
                    )),
                    "{text}"
                );
                assert!(text.chars().count() < 400, "shortened for display: {text}");
                // Still a name of the store's own: it can be read, renamed, deleted.
                assert!(RelPath::existing(&path).is_ok());
            }
        }
        assert!(RelPath::existing("../x").is_err());
    }
}
