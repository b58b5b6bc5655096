//! OLX-RULES "Which file a pointer names": which elements are pointers, the
//! file a `url_name` pointer names, and the candidates of a legacy
//! `filename=`. Paths here are relative to the file's root (the collection, or
//! `drafts/` for a draft: see `drafts`).

/// Structural blocks whose direct children may be pointers (the OLX outline
/// reads blocks by the same rule).
pub const CONTAINERS: &[&str] = &[
    "course",
    "chapter",
    "sequential",
    "vertical",
    "library",
    "library_content",
    "split_test",
    "conditional",
    "randomize",
    "itembank",
    "unit",
    "problemset",
    "videosequence",
    "wrapper",
];

/// Leaf blocks: their content is markup (capa response types, video sources and
/// transcripts, HTML, ORA rubrics), never pointers, even as a file's root.
pub const LEAVES: &[&str] = &[
    "problem",
    "html",
    "video",
    "videoalpha",
    "annotatable",
    "discussion",
    "lti",
    "lti_consumer",
    "openassessment",
    "poll",
    "poll_question",
    "survey",
    "word_cloud",
    "drag-and-drop-v2",
    "done",
    "edx_sga",
    "staffgradedxblock",
    "customtag",
    "about",
    "static_tab",
    "course_info",
    "textbook",
    "wiki",
];

/// Elements that sit in containers but never point at block files.
pub const NOT_POINTERS: &[&str] = &["wiki", "textbook"];

/// Whether an element with these attribute names is a pointer, as far as its
/// attributes go (it must also have no child element, comment or text):
/// exactly `url_name`, or for `course` exactly `url_name`, `org` and `course`
/// (edx-platform's `is_pointer_tag`).
pub fn is_pointer_attrs<'a>(tag: &str, keys: impl IntoIterator<Item = &'a str>) -> bool {
    let expected: &[&str] = if tag == "course" {
        &["url_name", "org", "course"]
    } else {
        &["url_name"]
    };
    let mut seen = 0usize;
    for key in keys {
        match expected.iter().position(|e| *e == key) {
            Some(i) if seen & (1 << i) == 0 => seen |= 1 << i,
            _ => return false,
        }
    }
    seen == (1 << expected.len()) - 1
}

/// The file a pointer names: `TAG/URL_NAME.xml`, every `:` a folder.
pub fn pointer_path(tag: &str, url_name: &str) -> String {
    format!("{tag}/{}.xml", url_name.replace(':', "/"))
}

/// The files a legacy `filename="F"` on a `tag` element may name, first
/// existing wins: `TAG/F.xml` (F as written, no `:` conversion); a problem
/// (capa) also looks in `problems/F.xml` and at `F.xml` at the root.
pub fn legacy_candidates(tag: &str, filename: &str) -> Vec<String> {
    let first = format!("{tag}/{filename}.xml");
    if tag == "problem" {
        vec![
            first,
            format!("problems/{filename}.xml"),
            format!("{filename}.xml"),
        ]
    } else {
        vec![first]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_has_exactly_the_pointer_attributes() {
        assert!(is_pointer_attrs("vertical", ["url_name"]), "url_name only");
        assert!(!is_pointer_attrs("vertical", []), "no url_name");
        assert!(
            !is_pointer_attrs("vertical", ["url_name", "display_name"]),
            "another attribute makes it inline"
        );
        assert!(
            is_pointer_attrs("course", ["org", "url_name", "course"]),
            "course: all three"
        );
        assert!(
            !is_pointer_attrs("course", ["url_name"]),
            "course with url_name only is not a pointer (edx-platform's is_pointer_tag)"
        );
        assert!(
            !is_pointer_attrs("vertical", ["url_name", "url_name"]),
            "a repeated attribute is not the set"
        );
    }

    #[test]
    fn legacy_candidates_follow_the_block_type() {
        assert_eq!(
            legacy_candidates("problem", "MIT/x/BK7.problem"),
            vec![
                "problem/MIT/x/BK7.problem.xml",
                "problems/MIT/x/BK7.problem.xml",
                "MIT/x/BK7.problem.xml"
            ],
            "capa's three candidates, filename as written"
        );
        assert_eq!(
            legacy_candidates("sequential", "week1"),
            vec!["sequential/week1.xml"],
            "other types know only TAG/F.xml"
        );
        assert_eq!(
            legacy_candidates("problem", "a:b"),
            vec!["problem/a:b.xml", "problems/a:b.xml", "a:b.xml"],
            "no `:` conversion in a filename"
        );
    }
}
