//! OLX-RULES "Drafts": Studio exports unpublished blocks under `drafts/`, laid
//! out like the course, and edx-platform imports them with `drafts/` as the
//! root. So every pointer and `filename=` in a file under `drafts/` resolves
//! under `drafts/`; only files whose text holds `index_in_children_list` are
//! draft roots, hung under the block their `parent_url` names.

/// The folder drafts live in.
pub const FOLDER: &str = "drafts/";

/// The root a file's pointers resolve under: `drafts/` for a file in it, else
/// the collection root (`""`).
pub fn root_of(path: &str) -> &'static str {
    if path.starts_with(FOLDER) {
        FOLDER
    } else {
        ""
    }
}

/// Whether a file's text makes it a draft root.
pub fn is_draft_root_text(bytes: &[u8]) -> bool {
    const MARK: &[u8] = b"index_in_children_list";
    bytes.windows(MARK.len()).any(|w| w == MARK)
}

/// The (block type, url_name) a `parent_url` names:
/// `i4x://ORG/COURSE/TYPE/ID` or `block-v1:ORG+COURSE+RUN+type@TYPE+block@ID`.
pub fn parse_block_url(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    if let Some(rest) = url.strip_prefix("i4x://") {
        let mut parts = rest.split('/');
        let (_org, _course, kind, id) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let id = id.split('@').next().unwrap_or(id);
        return (!kind.is_empty() && !id.is_empty()).then(|| (kind.to_owned(), id.to_owned()));
    }
    let kind_at = url.find("+type@")? + "+type@".len();
    let kind_len = url[kind_at..].find("+block@")?;
    let kind = &url[kind_at..kind_at + kind_len];
    let id = &url[kind_at + kind_len + "+block@".len()..];
    (!kind.is_empty() && !id.is_empty()).then(|| (kind.to_owned(), id.to_owned()))
}

/// Whether a file is skipped by the importer (`._*` resource forks, `*~`).
pub fn is_skipped(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("._") || name.ends_with('~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_urls_of_both_key_forms_name_a_block() {
        assert_eq!(
            parse_block_url("block-v1:OpenedX+DemoX+DemoCourse+type@sequential+block@abc"),
            Some(("sequential".to_owned(), "abc".to_owned())),
            "block-v1"
        );
        assert_eq!(
            parse_block_url("i4x://MITx/6.002x/vertical/v1"),
            Some(("vertical".to_owned(), "v1".to_owned())),
            "i4x"
        );
        assert_eq!(parse_block_url("nonsense"), None, "neither");
    }

    #[test]
    fn roots_and_skipped_files() {
        assert_eq!(root_of("drafts/vertical/x.xml"), "drafts/", "draft");
        assert_eq!(root_of("vertical/x.xml"), "", "course");
        assert!(is_skipped("drafts/vertical/._x.xml"), "resource fork");
        assert!(is_skipped("about/overview.html~"), "backup");
        assert!(!is_skipped("about/overview.html"), "plain");
    }

    mod extraction {
        use crate::store::links::extract::testing::{path, targets, xml};
        use crate::store::links::{LinkKind, Target};

        #[test]
        fn a_draft_root_names_its_parent() {
            let ex = xml(concat!(
                "<vertical display_name=\"D\" index_in_children_list=\"1\" ",
                "parent_url=\"block-v1:O+C+R+type@sequential+block@s1\">\n",
                "  <html url_name=\"h\"/>\n</vertical>",
            ));
            assert_eq!(
                targets(&ex),
                vec![
                    (
                        LinkKind::Parent,
                        Target::Block {
                            block_type: "sequential".to_owned(),
                            url_name: "s1".to_owned()
                        }
                    ),
                    (LinkKind::Child, path("html/h.xml")),
                ],
                "the parent, then the children"
            );
            let not_draft =
                xml("<vertical parent_url=\"block-v1:O+C+R+type@sequential+block@s1\"/>");
            assert!(
                not_draft.links.is_empty(),
                "no index_in_children_list: no draft root"
            );
        }
    }
}
