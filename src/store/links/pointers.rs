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

    mod extraction {
        use crate::store::links::extract::testing::{path, targets, xml};
        use crate::store::links::{extract, LinkKind, Syntax, Target};

        #[test]
        fn a_url_name_only_element_in_a_container_is_a_child_pointer() {
            let ex = xml("<sequential display_name=\"S\">\n  <vertical url_name=\"3bed87cf\"/>\n  <vertical url_name=\"x:y\"></vertical>\n</sequential>");
            assert_eq!(
                targets(&ex),
                vec![
                    (LinkKind::Child, path("vertical/3bed87cf.xml")),
                    (LinkKind::Child, path("vertical/x/y.xml")),
                ],
                "both pointers, `:` becomes `/`"
            );
            assert_eq!(ex.links[0].line, 2, "line of the first pointer");
            assert_eq!(ex.links[0].written, "3bed87cf", "written is the url_name");
            assert_eq!(ex.links[1].line, 3, "line of the second pointer");
            assert!(ex.problems.is_empty(), "no problems: {:?}", ex.problems);
        }

        #[test]
        fn the_course_xml_root_pointer_names_the_course_file() {
            let ex = extract(
                "course.xml",
                b"<course url_name=\"DemoCourse\" org=\"OpenedX\" course=\"DemoX\"/>\n",
                Syntax::Xml,
            );
            assert_eq!(
                targets(&ex),
                vec![(LinkKind::Child, path("course/DemoCourse.xml"))],
                "course.xml points at course/DemoCourse.xml"
            );
        }

        #[test]
        fn an_inline_xblock_with_a_url_name_is_not_a_link() {
            let ex = xml("<vertical display_name=\"V\">\n<done url_name=\"af02a17e\" xblock-family=\"xblock.v1\"/>\n</vertical>");
            assert!(
                ex.links.is_empty(),
                "inline done block is no link: {:?}",
                ex.links
            );
        }

        #[test]
        fn an_element_with_content_is_an_inline_definition_and_its_children_are_pointers() {
            let ex = xml(concat!(
                "<course url_name=\"c\" org=\"o\" course=\"x\">\n",
                "  <chapter url_name=\"ch1\">\n",
                "    <sequential url_name=\"s1\">\n",
                "      <vertical url_name=\"v1\"/>\n",
                "    </sequential>\n",
                "  </chapter>\n",
                "  <wiki slug=\"o.x.c\"/>\n",
                "</course>\n",
            ));
            assert_eq!(
                targets(&ex),
                vec![(LinkKind::Child, path("vertical/v1.xml"))],
                "only the empty vertical is a pointer; the inline tree and wiki are not"
            );
            let text = xml("<sequential><vertical url_name=\"v\">text</vertical></sequential>");
            assert!(
                text.links.is_empty(),
                "text content makes it inline: {:?}",
                text.links
            );
            let blank = xml("<sequential><vertical url_name=\"v\">\n  </vertical></sequential>");
            assert_eq!(
                targets(&blank),
                vec![(LinkKind::Child, path("vertical/v.xml"))],
                "whitespace is not content"
            );
        }

        #[test]
        fn markup_inside_leaf_blocks_is_never_a_child_pointer() {
            let ex = xml(concat!(
                "<vertical>\n",
                "<problem display_name=\"P\"><choiceresponse url_name=\"c\"/><problem filename=\"q\"/></problem>\n",
                "<video display_name=\"V\"><source src=\"https://x/y.mp4\"/><track url_name=\"t\"/></video>\n",
                "</vertical>",
            ));
            assert_eq!(
                targets(&ex),
                vec![(
                    LinkKind::Url,
                    Target::Url {
                        url: "https://x/y.mp4".to_owned()
                    }
                )],
                "no pointer inside leaves; the video source is an external link"
            );
            let root = xml("<problem><choicegroup url_name=\"x\"/></problem>");
            assert!(
                root.links.is_empty(),
                "a leaf root has no pointers: {:?}",
                root.links
            );
        }

        #[test]
        fn an_unknown_block_exported_with_children_keeps_its_pointers() {
            let root = xml(
                "<problem-builder display_name=\"x\">\n  <pb-mcq url_name=\"q1\"/>\n</problem-builder>",
            );
            assert_eq!(
                targets(&root),
                vec![(LinkKind::Child, path("pb-mcq/q1.xml"))],
                "children of a non-leaf root"
            );
            let inline = xml(concat!(
                "<vertical>\n",
                "  <mentoring url_name=\"m\" xblock-family=\"xblock.v1\"><html url_name=\"h\"/></mentoring>\n",
                "  <other display_name=\"o\"><html url_name=\"n\"/></other>\n",
                "</vertical>",
            ));
            assert_eq!(
                targets(&inline),
                vec![(LinkKind::Child, path("html/h.xml"))],
                "an inline pure XBlock may hold pointers; unknown markup may not"
            );
        }

        #[test]
        fn a_legacy_filename_names_a_file_whatever_the_element_holds() {
            let ex = xml(
                "<sequential>\n<problem filename=\"MIT/x/BK7.problem\" weight=\"1\"/>\n<vertical filename=\"w1\"><html url_name=\"h\"/></vertical>\n</sequential>",
            );
            assert_eq!(
                targets(&ex),
                vec![
                    (
                        LinkKind::Child,
                        Target::AnyOf {
                            paths: vec![
                                "problem/MIT/x/BK7.problem.xml".to_owned(),
                                "problems/MIT/x/BK7.problem.xml".to_owned(),
                                "MIT/x/BK7.problem.xml".to_owned()
                            ]
                        }
                    ),
                    (
                        LinkKind::Child,
                        Target::AnyOf {
                            paths: vec!["vertical/w1.xml".to_owned()]
                        }
                    ),
                ],
                "capa's three candidates; a vertical knows only vertical/F.xml, and what it holds is not loaded, so not a pointer"
            );
            assert_eq!(
                ex.links[0].written, "MIT/x/BK7.problem",
                "written as in the file"
            );
        }

        #[test]
        fn a_comment_inside_makes_an_element_inline() {
            let ex =
                xml("<sequential><vertical url_name=\"v\"><!-- later --></vertical></sequential>");
            assert!(ex.links.is_empty(), "a comment is a child: {:?}", ex.links);
        }

        #[test]
        fn blocks_defined_inline_are_recorded_and_pointers_are_not() {
            let ex = xml(concat!(
                "<course url_name=\"c\" org=\"o\" course=\"x\">",
                "<chapter url_name=\"ch1\" display_name=\"A\"><vertical url_name=\"v\"/></chapter>",
                "<done url_name=\"d\" xblock-family=\"xblock.v1\"/></course>",
            ));
            let blocks: Vec<(&str, &str)> = ex
                .blocks
                .iter()
                .map(|b| (b.block_type.as_str(), b.url_name.as_str()))
                .collect();
            assert_eq!(
                blocks,
                vec![("chapter", "ch1"), ("done", "d")],
                "inline chapter and XBlock; the pointer and the file's root are not"
            );
        }
    }
}
