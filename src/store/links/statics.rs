//! OLX-RULES "Static references": which strings are references at all (only
//! quoted ones), edx-platform's own static files, the asset-name rule, the
//! other spellings of a course's assets (`/c4x/`, `asset-v1:`), and absolute
//! URLs (external links).
//!
//! The LMS rewrites `/static/…`, `/jump_to_id/…` and `/course/…` only where
//! they start right after a quote (`"` or `'`, optionally backslash-escaped)
//! and runs to the matching quote on the same line (`static_replace`'s
//! regular expression). What it sees is the block's HTML as edx-platform
//! serialises it: an HTML body file's raw text (so `&quot;/static/x&quot;`
//! is no reference there), an XML element's text with entities decoded, and
//! attribute values, which XML quotes (so `src="/static/a b.png"` is one
//! reference). XBlocks read their attribute values decoded (a drag-and-drop
//! block's JSON `{"imageURL": "/static/x.png"}`) and pass them through the
//! same rewriting, so quoted strings inside a decoded value count too.

use super::extract::{count_newlines, LinkKind, Sink, Target};
use super::jumps;

/// edx-platform's own static files that courses name with `/static/`: the LMS
/// serves these before looking at the course's assets, so they are neither
/// broken nor links to the course's files. Studio puts the first on a new
/// course's about page and the second in its problem templates.
pub const PLATFORM_FILES: &[&str] = &[
    "images/placeholder-faculty.png",
    "images/placeholder-image.png",
];

/// Whether a `/static/` name is one of edx-platform's own files.
pub fn is_platform(name: &str) -> bool {
    PLATFORM_FILES.contains(&name)
}

/// The asset-name rule (`opaque_keys`' `compute_location`): every `/` becomes
/// `_`, then every character outside `[\w.%-]` (Unicode `\w`) becomes `_`.
/// A file under `static/` gets its asset name the same way from its path under
/// `static/`.
pub fn asset_name_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '.' | '%' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The part of a URL before `?` or `#`.
pub fn strip_query(s: &str) -> &str {
    s.find(['?', '#']).map_or(s, |i| &s[..i])
}

/// What a quoted string must start with to be read as a reference.
const PREFIXES: &[&str] = &[
    "/static/",
    "/jump_to_id/",
    "/course/",
    "/c4x/",
    "/asset-v1:",
    "http://",
    "https://",
    "//",
];

fn starts_with_prefix(s: &str) -> bool {
    PREFIXES.iter().any(|p| s.starts_with(p))
}

/// Scans text whose first line is `line` for quoted references.
pub(super) fn scan_quoted(text: &str, line: u32, out: &mut Sink) {
    let bytes = text.as_bytes();
    let mut line = line;
    let mut counted = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let is_quote = b == b'\'' || b == b'"';
        if !is_quote || !starts_with_prefix(&text[i + 1..]) {
            i += 1;
            continue;
        }
        let escaped = i > 0 && bytes[i - 1] == b'\\';
        let from = i + 1;
        let close: &[u8] = match (escaped, b) {
            (true, b'"') => b"\\\"",
            (true, _) => b"\\'",
            (false, b'"') => b"\"",
            (false, _) => b"'",
        };
        // Up to the first matching quote on the same line.
        let line_end = bytes[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(bytes.len(), |n| from + n);
        let Some(end) = bytes[from..line_end]
            .windows(close.len())
            .position(|w| w == close)
            .map(|n| from + n)
        else {
            i += 1;
            continue;
        };
        line += count_newlines(&bytes[counted..i]);
        counted = i;
        reference(&text[from..end], line, out);
        i = end + close.len();
    }
}

/// Reads one attribute value: the whole value is a reference when it starts
/// like one (XML quotes it), and quoted strings inside the decoded value are
/// too.
pub(super) fn scan_attribute(value: &str, line: u32, out: &mut Sink) {
    if starts_with_prefix(value) && !value.contains('\n') {
        reference(value, line, out);
    }
    if value.contains(['\'', '"']) {
        scan_quoted(value, line, out);
    }
}

/// One quoted value known to start with one of `PREFIXES`.
fn reference(value: &str, line: u32, out: &mut Sink) {
    if let Some(rest) = value.strip_prefix("/static/") {
        push_static(rest, value, line, out);
    } else if let Some(rest) = value.strip_prefix("/jump_to_id/") {
        jumps::push_jump_to_id(rest, value, line, out);
    } else if let Some(rest) = value.strip_prefix("/course/") {
        jumps::push_course(rest, value, line, out);
    } else if let Some(target) = course_asset(value) {
        out.push(LinkKind::Static, target, value, line);
    } else if !value.starts_with('/') || value.starts_with("//") {
        out.push(
            LinkKind::Url,
            Target::Url {
                url: value.to_owned(),
            },
            value,
            line,
        );
    }
}

/// Records a `/static/` name: query and fragment dropped, no URL-decoding.
fn push_static(raw: &str, written: &str, line: u32, out: &mut Sink) {
    let name = strip_query(raw);
    if name.is_empty() || name.ends_with('/') {
        return;
    }
    out.push(
        LinkKind::Static,
        Target::Static {
            name: name.to_owned(),
        },
        written,
        line,
    );
}

/// `/c4x/ORG/COURSE/asset/NAME` or `asset-v1:ORG+COURSE+RUN+type@asset+block@NAME`,
/// relative or on any host.
pub fn course_asset(url: &str) -> Option<Target> {
    if let Some(at) = url.find("/c4x/") {
        let mut parts = url[at + "/c4x/".len()..].splitn(4, '/');
        let (org, course, kind, name) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let name = strip_query(name);
        if kind != "asset" || org.is_empty() || course.is_empty() || name.is_empty() {
            return None;
        }
        return Some(Target::CourseAsset {
            org: org.to_owned(),
            course: course.to_owned(),
            run: None,
            name: name.to_owned(),
        });
    }
    let at = url.find("asset-v1:")?;
    let key = &url[at + "asset-v1:".len()..];
    let (course_key, name) = ["+type@asset+block@", "+type@asset+block/"]
        .iter()
        .find_map(|mark| key.split_once(mark))?;
    let mut parts = course_key.split('+');
    let (org, course, run) = (parts.next()?, parts.next()?, parts.next()?);
    let name = strip_query(name);
    if org.is_empty() || course.is_empty() || run.is_empty() || name.is_empty() {
        return None;
    }
    Some(Target::CourseAsset {
        org: org.to_owned(),
        course: course.to_owned(),
        run: Some(run.to_owned()),
        name: name.to_owned(),
    })
}

/// A bare file name (a video transcript's) names a file under `static/`.
/// Names with a `/` are URLs, read by the quoted-string rule instead.
pub(super) fn push_bare(name: &str, line: u32, out: &mut Sink) {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.contains('/') {
        return;
    }
    out.push(
        LinkKind::Static,
        Target::Static {
            name: trimmed.to_owned(),
        },
        name,
        line,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::links::{extract, Extracted, Syntax};

    fn html(s: &str) -> Extracted {
        extract("html/x.html", s.as_bytes(), Syntax::Html)
    }

    fn xml(s: &str) -> Extracted {
        extract("problem/x.xml", s.as_bytes(), Syntax::Xml)
    }

    fn targets(ex: &Extracted) -> Vec<Target> {
        ex.links.iter().map(|l| l.target.clone()).collect()
    }

    fn asset(name: &str) -> Target {
        Target::Static { name: name.into() }
    }

    #[test]
    fn the_asset_name_rule_is_compute_location() {
        assert_eq!(
            asset_name_key("images/Brain yellow (1).png"),
            "images_Brain_yellow__1_.png",
            "slash and odd characters"
        );
        assert_eq!(
            asset_name_key("a-b_c.%20"),
            "a-b_c.%20",
            "allowed characters stay"
        );
        assert_eq!(
            asset_name_key("résumé.pdf"),
            "résumé.pdf",
            "Unicode \\w stays"
        );
    }

    #[test]
    fn only_quoted_strings_are_references_taken_whole_to_the_closing_quote() {
        let ex = html(concat!(
            "<p>See /static/prose.pdf in the text.</p>\n",
            "<img src=\"/static/images/Two block swing.png\">\n",
            "<a href='/static/doc.pdf#p2'>x</a> <img src=\"/static/\">\n",
            "<div style=\"background: url(/static/bg.jpg)\"></div>\n",
            "<script>var u = \\\"/static/escaped.js\\\";</script>\n",
            "<a href=\"/static/sim.html#/truss\">sim</a>\n",
            "<a href=\"/static/Brain%20yellow.png?raw\">b</a>\n",
        ));
        assert_eq!(
            targets(&ex),
            vec![
                asset("images/Two block swing.png"),
                asset("doc.pdf"),
                asset("escaped.js"),
                asset("sim.html"),
                asset("Brain%20yellow.png"),
            ],
            "prose and CSS url() are text; spaces kept; query/fragment dropped; no decoding"
        );
        let lines: Vec<u32> = ex.links.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![2, 3, 5, 6, 7], "lines");
        assert_eq!(
            ex.links[0].written, "/static/images/Two block swing.png",
            "written"
        );
    }

    #[test]
    fn entity_encoded_quotes_count_in_xml_but_not_in_html_bodies() {
        let body = html("<div data-x=\"{&quot;img&quot;: &quot;/static/q.png&quot;}\"></div>");
        assert!(
            body.links.is_empty(),
            "raw HTML: no quote before /static/: {:?}",
            body.links
        );
        let text = xml("<problem><p>&lt;img src=&quot;/static/t.png&quot;&gt;</p></problem>");
        assert_eq!(targets(&text), vec![asset("t.png")], "XML text is decoded");
        let attr = xml("<drag-and-drop-v2 data=\"{&quot;imageURL&quot;: &quot;/static/a.png&quot;}\" js=\"f('/static/b.js')\"/>");
        assert_eq!(
            targets(&attr),
            vec![asset("a.png"), asset("b.js")],
            "a decoded value's quoted strings"
        );
        let cdata = xml("<problem><script><![CDATA[ var u = \"/static/e.js\"; ]]></script><!-- \"/static/c.png\" --></problem>");
        assert_eq!(
            targets(&cdata),
            vec![asset("e.js")],
            "CDATA is text, comments are not"
        );
    }

    #[test]
    fn absolute_urls_are_external_unless_they_spell_a_course_asset() {
        let ex = html(concat!(
            "<a href=\"https://www.edx.org/about\">a</a>\n",
            "<img src=\"https://studio.edx.org/c4x/edX/DemoX/asset/images_x.png\">\n",
            "<img src=\"/asset-v1:OpenedX+DemoX+DemoCourse+type@asset+block@slide.png?v=2\">\n",
            "<img src=\"//cdn.example.com/static/other.png\">\n",
        ));
        assert_eq!(
            targets(&ex),
            vec![
                Target::Url {
                    url: "https://www.edx.org/about".into()
                },
                Target::CourseAsset {
                    org: "edX".into(),
                    course: "DemoX".into(),
                    run: None,
                    name: "images_x.png".into()
                },
                Target::CourseAsset {
                    org: "OpenedX".into(),
                    course: "DemoX".into(),
                    run: Some("DemoCourse".into()),
                    name: "slide.png".into()
                },
                Target::Url {
                    url: "//cdn.example.com/static/other.png".into()
                },
            ],
            "URLs and both asset key spellings"
        );
        assert_eq!(ex.links[0].kind, LinkKind::Url, "kind");
        assert_eq!(ex.links[1].kind, LinkKind::Static, "kind");
    }

    #[test]
    fn video_transcripts_and_sub_name_static_files() {
        let ex = xml(concat!(
            "<video url_name=\"v\" sub=\"OEoXaMPEzfM\" ",
            "transcripts=\"{&quot;en&quot;: &quot;48c991fb-en.srt&quot;, &quot;es&quot;: &quot;48c991fb-es.srt&quot;}\" ",
            "track=\"/static/Reach.pdf\">\n",
            "  <track src=\"/static/Reach.pdf\"/>\n",
            "  <transcript language=\"en\" src=\"48c991fb-en.srt\"/>\n",
            "</video>",
        ));
        assert_eq!(
            targets(&ex),
            vec![
                asset("subs_OEoXaMPEzfM.srt.sjson"),
                asset("48c991fb-en.srt"),
                asset("48c991fb-es.srt"),
                asset("Reach.pdf"),
            ],
            "sub, transcripts and track, each once"
        );
        let empty = xml("<video url_name=\"v\" sub=\"\" transcripts=\"{}\"/>");
        assert!(
            empty.links.is_empty(),
            "empty sub is nothing: {:?}",
            empty.links
        );
    }
}
