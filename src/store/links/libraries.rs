//! OLX-RULES "Libraries": `library_content`'s
//! `source_library_id="library-v1:ORG+LIBRARY"` names the library whose
//! `library.xml` has `org="ORG"` and `library="LIBRARY"`. In this store that is
//! any collection holding such a `library.xml`, looked up in the live store
//! when links are resolved, so the order of imports does not matter.

use super::course::{attr_value, root_attrs};

/// ORG and LIBRARY of `library-v1:ORG+LIBRARY`.
pub fn parse_library_id(value: &str) -> Option<(String, String)> {
    let rest = value.trim().strip_prefix("library-v1:")?;
    let (org, library) = rest.split_once('+')?;
    let library = library.split('+').next().unwrap_or(library);
    (!org.is_empty() && !library.is_empty()).then(|| (org.to_owned(), library.to_owned()))
}

/// The (org, library) a `library.xml` declares on its root element.
pub fn library_key(bytes: &[u8]) -> Option<(String, String)> {
    let attrs = root_attrs(bytes)?;
    let get = |k: &str| attr_value(&attrs, k);
    Some((get("org")?, get("library")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_ids_and_library_files() {
        assert_eq!(
            parse_library_id("library-v1:OpenedX+DemoRespiratoryQuestions"),
            Some(("OpenedX".into(), "DemoRespiratoryQuestions".into())),
            "v1 key"
        );
        assert_eq!(parse_library_id("lib:O:L"), None, "not a v1 key");
        assert_eq!(
            library_key(b"<library xblock-family=\"xblock.v1\" org=\"OpenedX\" library=\"L\" url_name=\"library\"/>"),
            Some(("OpenedX".into(), "L".into())),
            "library.xml"
        );
    }

    mod extraction {
        use crate::store::links::extract::testing::{path, targets, xml};
        use crate::store::links::{LinkKind, Target};

        #[test]
        fn a_library_content_source_names_another_collection() {
            let ex = xml(concat!(
                "<library_content max_count=\"2\" source_library_id=\"library-v1:OpenedX+DemoRespiratoryQuestions\">\n",
                "  <problem url_name=\"0895f1b6\"/>\n",
                "</library_content>",
            ));
            assert_eq!(
                targets(&ex),
                vec![
                    (
                        LinkKind::Include,
                        Target::Library {
                            org: "OpenedX".to_owned(),
                            library: "DemoRespiratoryQuestions".to_owned()
                        }
                    ),
                    (LinkKind::Child, path("problem/0895f1b6.xml")),
                ],
                "library source and its children"
            );
        }
    }
}
