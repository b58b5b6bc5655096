//! `blockstore outline`: the block tree of a collection state, drawn like `tree`
//! (draft blocks, exported under `drafts/`, end in `[draft]`).

use super::output::Output;
use crate::olx::{Outline, OutlineNode};
use crate::store::links::Target;
use crate::store::{At, Store};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct OutlineArgs {
    /// SLUG[@N|@draft|@latest] (default: the draft).
    target: String,
}

pub(crate) fn run(store: &Store, out: &Output, args: OutlineArgs) -> crate::Result<ExitCode> {
    let target = super::locate(&args.target)?;
    if target.path.is_some() {
        return Err(crate::store::Error::Invalid(format!(
            "{:?}: the outline is of a collection state (SLUG or SLUG@N), not of a file",
            args.target
        )));
    }
    let outline = crate::olx::outline(store, target.slug, target.at.unwrap_or(At::Draft))?;
    if out.json {
        out.json(&outline)?;
    } else {
        print!("{}", render(&outline));
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form: a header, the tree(s), then orphans and broken pointers.
fn render(outline: &Outline) -> String {
    let mut text = format!(
        "{} ({}): {}, {}, {}, {} broken\n",
        outline.collection,
        outline.at,
        outline.kind.as_str(),
        super::output::plural(outline.blocks, "block"),
        super::output::plural(outline.orphans.len() as u64, "orphan"),
        outline.broken.len()
    );
    if outline.roots.is_empty() {
        text.push_str("(no blocks)\n");
    }
    for root in &outline.roots {
        top(&mut text, root);
    }
    if !outline.orphans.is_empty() {
        text.push_str(&format!(
            "\norphans ({}), not reachable from the root:\n",
            outline.orphans.len()
        ));
        for orphan in &outline.orphans {
            top(&mut text, orphan);
        }
    }
    if !outline.broken.is_empty() {
        text.push_str(&format!("\nbroken ({}):\n", outline.broken.len()));
        for b in &outline.broken {
            let expected = match &b.target {
                Target::Path { path } => path.clone(),
                Target::AnyOf { paths } => paths.join(" or "),
                other => format!("{other:?}"),
            };
            text.push_str(&format!(
                "{}: <{} {:?}> -> {expected} (missing)\n",
                b.source_path, b.block_type, b.written
            ));
        }
    }
    if outline.truncated {
        text.push_str(
            "\ntruncated: the tree is too deep or too large; some blocks are not expanded\n",
        );
    }
    text
}

/// A root line (with the file's path), then its subtree.
fn top(text: &mut String, node: &OutlineNode) {
    text.push_str(&label(node));
    if !node.missing && !node.inline {
        text.push_str(&format!("  [{}]", node.path));
    }
    text.push('\n');
    children(text, node, "");
}

fn children(text: &mut String, node: &OutlineNode, prefix: &str) {
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == count;
        text.push_str(prefix);
        text.push_str(if last { "└── " } else { "├── " });
        text.push_str(&label(child));
        text.push('\n');
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        children(text, child, &deeper);
    }
}

/// `type/url_name "Display name"` and what is special about the node.
fn label(node: &OutlineNode) -> String {
    let mut label = match &node.url_name {
        Some(url_name) => format!("{}/{url_name}", node.block_type),
        None => node.block_type.clone(),
    };
    if let Some(name) = &node.display_name {
        label.push_str(&format!(" {name:?}"));
    }
    if node.inline {
        label.push_str("  (inline)");
    }
    if node.draft {
        label.push_str("  [draft]");
    }
    if node.missing {
        label.push_str(&format!("  MISSING {}", node.path));
    }
    if node.cycle {
        label.push_str("  (cycle: already above, not expanded)");
    }
    if let Some(source) = &node.external {
        label.push_str(&format!("  -> collection {source:?}"));
    }
    if let Some(error) = &node.error {
        label.push_str(&format!("  [error: {error}]"));
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::olx::OutlineKind;

    fn node(block_type: &str, url_name: &str, children: Vec<OutlineNode>) -> OutlineNode {
        OutlineNode {
            block_type: block_type.into(),
            url_name: Some(url_name.into()),
            display_name: None,
            path: format!("{block_type}/{url_name}.xml"),
            inline: false,
            missing: false,
            cycle: false,
            draft: false,
            external: None,
            error: None,
            children,
        }
    }

    #[test]
    fn the_tree_is_drawn_with_box_drawing_and_markers() {
        let mut done = node("done", "d", vec![]);
        done.inline = true;
        let mut gone = node("html", "gone", vec![]);
        gone.missing = true;
        let mut draft_html = node("html", "h", vec![]);
        draft_html.draft = true;
        let mut draft = node("vertical", "dv", vec![draft_html]);
        draft.draft = true;
        let mut course = node(
            "course",
            "2026",
            vec![
                node(
                    "chapter",
                    "a",
                    vec![node("vertical", "v", vec![done, gone]), draft],
                ),
                node("chapter", "b", vec![]),
            ],
        );
        course.display_name = Some("C".into());
        let outline = Outline {
            collection: "x".into(),
            at: At::Version(2),
            kind: OutlineKind::Course,
            roots: vec![course],
            orphans: vec![node("vertical", "o", vec![])],
            broken: vec![],
            blocks: 9,
            truncated: false,
        };
        assert_eq!(
            render(&outline),
            concat!(
                "x (version 2): course, 9 blocks, 1 orphan, 0 broken\n",
                "course/2026 \"C\"  [course/2026.xml]\n",
                "├── chapter/a\n",
                "│   ├── vertical/v\n",
                "│   │   ├── done/d  (inline)\n",
                "│   │   └── html/gone  MISSING html/gone.xml\n",
                "│   └── vertical/dv  [draft]\n",
                "│       └── html/h  [draft]\n",
                "└── chapter/b\n",
                "\n",
                "orphans (1), not reachable from the root:\n",
                "vertical/o  [vertical/o.xml]\n",
            )
        );
    }
}
