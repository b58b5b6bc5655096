//! OLX-RULES "Course-level files and policies": what edx-platform loads
//! besides the block tree (`about/`, `info/`, `tabs/`, `custom_tags/`, the
//! course policy and the asset metadata), the course's identity (org, course,
//! run) from `course.xml`, and the policy values that name assets
//! (`course_image`, `banner_image`, `video_thumbnail_image`), which are links
//! of their own kind (`policy`): an asset a policy names is in use.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;

use super::extract::{LinkKind, ParseProblem, Sink, Target};
use super::statics;

/// Folders every file of which edx-platform loads (skipping `*~` and `._*`).
pub const LOADED_FOLDERS: &[&str] = &["about/", "info/", "tabs/", "custom_tags/"];

/// The asset metadata Studio exports beside `static/` (read by the importer).
pub const ASSET_METADATA: &[&str] = &["assets/assets.xml", "policies/assets.json"];

/// Course policy keys whose values are asset names.
pub const POLICY_ASSET_KEYS: &[&str] = &["course_image", "banner_image", "video_thumbnail_image"];

/// A course's identity: `course.xml`'s `org` and `course`, and its url_name
/// (the run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CourseKey {
    pub org: String,
    pub course: String,
    pub run: String,
}

/// Reads the identity from `course.xml`'s root element.
pub fn course_key(bytes: &[u8]) -> Option<CourseKey> {
    let attrs = root_attrs(bytes)?;
    let get = |k: &str| attr_value(&attrs, k);
    Some(CourseKey {
        org: get("org")?,
        course: get("course")?,
        run: get("url_name")?,
    })
}

/// The root element's attributes (unescaped), when the file starts with one.
pub fn root_attrs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let input = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = Reader::from_reader(input);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => {
                let mut out = Vec::new();
                for attr in e.attributes() {
                    let attr = attr.ok()?;
                    let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                    let value = attr
                        .unescape_value()
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
                    out.push((key, value));
                }
                return Some(out);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// A non-blank attribute's value, trimmed.
pub(super) fn attr_value(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether `path` is a course policy file: `policies/RUN/policy.json` or
/// `policies/RUN.json` (not `policies/assets.json`). Gives RUN.
pub fn policy_run(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("policies/")?;
    if let Some(run) = rest.strip_suffix("/policy.json") {
        return (!run.is_empty() && !run.contains('/')).then_some(run);
    }
    let run = rest.strip_suffix(".json")?;
    (!run.is_empty() && !run.contains('/') && run != "assets").then_some(run)
}

/// Whether edx-platform loads `path` as a course-level file of the course
/// whose run is `run` (`None` when the course names none: every policy
/// counts). Block files and their bodies are loaded through pointers instead.
pub fn is_course_level(path: &str, run: Option<&str>) -> bool {
    if super::drafts::is_skipped(path) {
        return false;
    }
    if LOADED_FOLDERS.iter().any(|f| path.starts_with(f)) || ASSET_METADATA.contains(&path) {
        return true;
    }
    let Some(rest) = path.strip_prefix("policies/") else {
        return false;
    };
    match run {
        None => true,
        Some(run) => {
            rest.strip_prefix(run)
                .is_some_and(|tail| tail.starts_with('/'))
                || rest == format!("{run}.json")
        }
    }
}

/// Extracts a policy file's asset references: every `POLICY_ASSET_KEYS`
/// value of every course entry (`{"course/RUN": {...}}`), an asset name
/// (a leading `/static/` is allowed). Invalid JSON is a problem.
pub(super) fn extract_policy(bytes: &[u8], out: &mut Sink) {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(err) => {
            out.problems.push(ParseProblem {
                line: u32::try_from(err.line()).unwrap_or(u32::MAX).max(1),
                column: u32::try_from(err.column()).unwrap_or(u32::MAX).max(1),
                message: format!("JSON does not parse: {err}"),
            });
            return;
        }
    };
    let text = String::from_utf8_lossy(bytes);
    let serde_json::Value::Object(entries) = value else {
        return;
    };
    for entry in entries.values() {
        let serde_json::Value::Object(fields) = entry else {
            continue;
        };
        for key in POLICY_ASSET_KEYS {
            let Some(serde_json::Value::String(written)) = fields.get(*key) else {
                continue;
            };
            let name = written.trim();
            let name = name.strip_prefix("/static/").unwrap_or(name);
            let name = statics::strip_query(name);
            if name.is_empty() {
                continue;
            }
            let line = line_of_key(&text, key);
            out.push(
                LinkKind::Policy,
                Target::Static {
                    name: name.to_owned(),
                },
                written,
                line,
            );
        }
    }
}

/// 1-based line of the first `"key"` in the text.
fn line_of_key(text: &str, key: &str) -> u32 {
    let quoted = format!("\"{key}\"");
    text.find(&quoted).map_or(1, |at| {
        u32::try_from(text[..at].matches('\n').count() + 1).unwrap_or(u32::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::links::{extract, Syntax};

    #[test]
    fn the_course_key_comes_from_course_xml() {
        assert_eq!(
            course_key(b"<course url_name=\"2026\" org=\"OpenedX\" course=\"DemoX\"/>"),
            Some(CourseKey {
                org: "OpenedX".into(),
                course: "DemoX".into(),
                run: "2026".into()
            }),
            "the pointer's three attributes"
        );
        assert_eq!(course_key(b"<course org=\"o\"/>"), None, "incomplete");
    }

    #[test]
    fn policy_files_and_course_level_files() {
        assert_eq!(
            policy_run("policies/2026/policy.json"),
            Some("2026"),
            "folder form"
        );
        assert_eq!(policy_run("policies/2026.json"), Some("2026"), "file form");
        assert_eq!(policy_run("policies/assets.json"), None, "asset metadata");
        assert_eq!(
            policy_run("policies/2026/grading_policy.json"),
            None,
            "grading"
        );
        assert!(
            is_course_level("policies/2026/grading_policy.json", Some("2026")),
            "run's folder"
        );
        assert!(
            !is_course_level("policies/2025/policy.json", Some("2026")),
            "another run"
        );
        assert!(
            is_course_level("policies/2026.json", Some("2026")),
            "file form"
        );
        assert!(is_course_level("about/overview.html", Some("x")), "about");
        assert!(
            !is_course_level("about/overview.html~", Some("x")),
            "backup skipped"
        );
        assert!(is_course_level("custom_tags/book", None), "custom tags");
        assert!(
            !is_course_level("course/old.xml", None),
            "block files are not"
        );
    }

    #[test]
    fn policy_asset_keys_are_policy_links() {
        let ex = extract(
            "policies/2026/policy.json",
            br#"{"course/2026": {
  "display_name": "Demo",
  "course_image": "DemoX-Course-Card.png",
  "banner_image": "/static/images/banner.png",
  "video_thumbnail_image": ""
}}"#,
            Syntax::Json,
        );
        let got: Vec<(LinkKind, Target, u32)> = ex
            .links
            .iter()
            .map(|l| (l.kind, l.target.clone(), l.line))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    LinkKind::Policy,
                    Target::Static {
                        name: "DemoX-Course-Card.png".into()
                    },
                    3
                ),
                (
                    LinkKind::Policy,
                    Target::Static {
                        name: "images/banner.png".into()
                    },
                    4
                ),
            ],
            "the two non-empty asset keys"
        );
        let bad = extract("policies/x.json", b"{\"a\": ", Syntax::Json);
        assert_eq!(bad.problems.len(), 1, "invalid JSON is a problem");
    }
}
