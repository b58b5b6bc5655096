//! OLX-RULES "HTML bodies": the file an html block's `filename=` names, with
//! edx-platform's back-compatible candidates (`HtmlBlock.load_definition` and
//! `backcompat_paths`). Paths are relative to the file's root.

/// The folder an html block's body is looked for in: the folder of
/// `html/URL_NAME` with every `:` a folder. `url_name` is the html element's
/// own when it has one; a file's root element takes it from the file's path
/// (relative to its root): `html/a/b.xml` is the url_name `a:b`.
pub fn base(url_name: Option<&str>, file_in_root: &str) -> String {
    let pointer = match url_name {
        Some(name) => format!("html/{}", name.replace(':', "/")),
        None => {
            let rest = file_in_root
                .split_once('/')
                .map_or(file_in_root, |(_, rest)| rest);
            format!("html/{}", rest.strip_suffix(".xml").unwrap_or(rest))
        }
    };
    match pointer.rsplit_once('/') {
        Some((dir, _)) => dir.to_owned(),
        None => String::new(),
    }
}

/// The candidates for `filename="F"` in `base`, first existing wins:
/// `BASE/F.html`; then, when that is missing, a name ending `.html.xml` or
/// `.html.html` reduced to `.html`, that path and the same path with leading
/// folders dropped one at a time while a `/` remains, then each of those with
/// `.xml` replaced by `.html`.
pub fn candidates(base: &str, filename: &str) -> Vec<String> {
    let first = if base.is_empty() {
        format!("{filename}.html")
    } else {
        format!("{base}/{filename}.html")
    };
    let mut path = first.clone();
    if let Some(stem) = path.strip_suffix(".html.xml") {
        path = format!("{stem}.html");
    }
    if path.ends_with(".html.html") {
        path.truncate(path.len() - ".html".len());
    }
    let mut dropped = Vec::new();
    let mut rest = path.as_str();
    while let Some((_, tail)) = rest.split_once('/') {
        dropped.push(rest.to_owned());
        rest = tail;
    }
    let xml: Vec<String> = dropped
        .iter()
        .filter_map(|c| c.strip_suffix(".xml").map(|s| format!("{s}.html")))
        .collect();
    let mut out = vec![first];
    for c in dropped.into_iter().chain(xml) {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The file name every candidate shares (what incoming-link lookups key on).
pub fn last_name(filename: &str) -> String {
    let last = format!("{filename}.html");
    let last = last
        .strip_suffix(".html.html")
        .map_or(last.clone(), |s| format!("{s}.html"));
    last.rsplit('/').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_folder_of_html_url_name() {
        assert_eq!(base(None, "html/intro.xml"), "html", "a plain file");
        assert_eq!(base(None, "html/a/b.xml"), "html/a", "url_name a:b");
        assert_eq!(
            base(Some("x"), "vertical/v.xml"),
            "html",
            "inline, own name"
        );
        assert_eq!(base(Some("a:b:c"), "vertical/v.xml"), "html/a/b", "colons");
    }

    #[test]
    fn candidates_drop_leading_folders_then_try_html_for_xml() {
        assert_eq!(
            candidates("html", "problems/x/intro"),
            vec![
                "html/problems/x/intro.html",
                "problems/x/intro.html",
                "x/intro.html"
            ],
            "the rule's example: leading folders dropped while a / remains"
        );
        assert_eq!(
            candidates("html", "intro.html"),
            vec!["html/intro.html.html", "html/intro.html"],
            "`.html.html` reduced to `.html`"
        );
        assert_eq!(candidates("html", "x"), vec!["html/x.html"], "plain");
        assert_eq!(last_name("a/intro.html"), "intro.html", "shared file name");
        assert_eq!(last_name("a/intro"), "intro.html", "shared file name");
    }

    mod extraction {
        use crate::store::links::extract::testing::{targets, xml};
        use crate::store::links::{LinkKind, Target};

        #[test]
        fn an_html_filename_names_the_body() {
            let ex = xml("<html filename=\"013c611e\" display_name=\"Try It\"/>");
            assert_eq!(
                targets(&ex),
                vec![(
                    LinkKind::Body,
                    Target::Body {
                        filename: "013c611e".to_owned(),
                        url_name: None
                    }
                )],
                "a root takes its url_name from its file"
            );
            let inline = xml("<vertical><html url_name=\"a:b\" filename=\"intro\"/></vertical>");
            assert_eq!(
                targets(&inline),
                vec![(
                    LinkKind::Body,
                    Target::Body {
                        filename: "intro".to_owned(),
                        url_name: Some("a:b".to_owned())
                    }
                )],
                "an inline html block keeps its own url_name"
            );
            let markup = xml("<problem><html filename=\"x\"/></problem>");
            assert!(markup.links.is_empty(), "inside a leaf it is markup");
        }
    }
}
