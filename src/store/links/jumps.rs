//! OLX-RULES "Jumps and courseware links": `/jump_to_id/ID` names the block
//! whose url_name is ID, of any type; `/course/courseware/CHAPTER/SEQUENTIAL`
//! is one link to that sequential in that chapter; other `/course/…` paths are
//! LMS pages, not links. (Absolute URLs into a course are external: see
//! `statics`.)

use super::extract::{LinkKind, Sink, Target};
use super::pointers::pointer_path;

/// The next path segment: up to `/`, `?`, `#` or the end.
fn segment(s: &str) -> &str {
    s.find(['/', '?', '#']).map_or(s, |i| &s[..i])
}

/// `/jump_to_id/` followed by `rest`.
pub(super) fn push_jump_to_id(rest: &str, written: &str, line: u32, out: &mut Sink) {
    let url_name = segment(rest);
    if url_name.is_empty() {
        return;
    }
    out.push(
        LinkKind::Jump,
        Target::UrlName {
            url_name: url_name.to_owned(),
        },
        written,
        line,
    );
}

/// `/course/` followed by `rest`: `courseware/CH[/SEQ…]` and `jump_to_id/ID`
/// are links (the LMS makes them `/courses/THIS COURSE/…`); the rest are pages.
pub(super) fn push_course(rest: &str, written: &str, line: u32, out: &mut Sink) {
    if let Some(id) = rest.strip_prefix("jump_to_id/") {
        push_jump_to_id(id, written, line, out);
        return;
    }
    let Some(tail) = rest.strip_prefix("courseware/") else {
        return;
    };
    let mut parts = super::statics::strip_query(tail).split('/');
    let chapter = parts.next().unwrap_or_default();
    let sequential = parts.next().filter(|s| !s.is_empty());
    if chapter.is_empty() {
        return;
    }
    out.push(
        LinkKind::Jump,
        Target::Courseware {
            chapter: chapter.to_owned(),
            sequential: sequential.map(str::to_owned),
        },
        written,
        line,
    );
}

/// The files a courseware link needs: the chapter's, then the sequential's.
pub fn courseware_paths(chapter: &str, sequential: Option<&str>) -> Vec<String> {
    let mut out = vec![pointer_path("chapter", chapter)];
    out.extend(sequential.map(|s| pointer_path("sequential", s)));
    out
}

#[cfg(test)]
mod tests {
    use crate::store::links::{extract, LinkKind, Syntax, Target};

    #[test]
    fn jump_and_courseware_links() {
        let ex = extract(
            "html/x.html",
            concat!(
                "<a href=\"/jump_to_id/f0aa9336\">a</a>\n",
                "<a href=\"https://lms.example.com/courses/course-v1:O+C+R/jump_to_id/abc\">b</a>\n",
                "<a href=\"/jump_to/block-v1:O+C+R+type@vertical+block@v123\">c</a>\n",
                "<a href=\"/course/courseware/ch1/seq1/2\">d</a>\n",
                "<a href=\"/course/progress\">e</a> <a href=\"/course/courseware/ch2\">f</a>\n",
                "<a href=\"/course/jump_to_id/j2?x=1\">g</a> see /jump_to_id/prose\n",
            )
            .as_bytes(),
            Syntax::Html,
        );
        let got: Vec<(LinkKind, Target)> = ex
            .links
            .iter()
            .map(|l| (l.kind, l.target.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (LinkKind::Jump, Target::UrlName { url_name: "f0aa9336".into() }),
                (LinkKind::Url, Target::Url { url: "https://lms.example.com/courses/course-v1:O+C+R/jump_to_id/abc".into() }),
                (LinkKind::Jump, Target::Courseware { chapter: "ch1".into(), sequential: Some("seq1".into()) }),
                (LinkKind::Jump, Target::Courseware { chapter: "ch2".into(), sequential: None }),
                (LinkKind::Jump, Target::UrlName { url_name: "j2".into() }),
            ],
            "one link per courseware URL; /jump_to/ and /course/progress are not links; absolute is external; prose is text"
        );
    }
}
