//! `blockstore diff` through the real binary: `-p`, `--stat`, `--name-only`,
//! `--color`, and git's quoting of paths. The expected texts are git's
//! formats, written out by hand (the same trees diffed by git 2.47 print
//! the same, but for git's `index` lines and its quoting of spaces).

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output};

const SLUG: &str = "demo";

const LONG_LINE: &str = "<p>This long paragraph explains how the course is organised, what each \
                         week covers and how the final project is graded.</p>";

/// The binary with a controlled terminal width and no NO_COLOR.
fn diff_cli(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blockstore"));
    command
        .arg("--data-dir")
        .arg(data)
        .args(crate::garage::backend_args(data))
        .arg("diff")
        .args(args)
        .env_remove("BLOCKSTORE_DATA_DIR")
        .envs(crate::garage::env_if_started())
        .env_remove("NO_COLOR")
        .env("COLUMNS", "80");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("the blockstore binary runs");
    assert!(
        output.status.success(),
        "diff {args:?} failed: {}",
        stderr(&output)
    );
    output
}

fn ok(data: &Path, args: &[&str], stdin: Option<&[u8]>) {
    let out = run_cli_stdin(data, args, stdin);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

/// Version 1, and a draft that changes one word of a long line, adds a file,
/// deletes a file with spaces in its name, renames an image with a space in
/// its name and changes another image's bytes.
fn store_with_a_draft() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let intro = format!(
        "<html>\n<body>\n<h1>Introduction</h1>\n<p>one</p>\n<p>two</p>\n{LONG_LINE}\n\
         <p>three</p>\n<p>four</p>\n<p>five</p>\n</body>\n</html>\n"
    );
    write_tree(
        &tree,
        &[
            ("html/intro.html", intro.as_bytes()),
            (
                "notes for staff.txt",
                b"Week one: setup\nWeek two: practice\n",
            ),
            ("static/a b.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            ("static/logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\x01"),
        ],
    );
    let data = dir.path().join("data");
    ok(
        &data,
        &["import", tree.to_str().unwrap(), "-c", SLUG, "--publish"],
        None,
    );
    let edited = intro.replace("is graded", "is assessed");
    ok(
        &data,
        &["write", "demo:html/intro.html"],
        Some(edited.as_bytes()),
    );
    ok(
        &data,
        &["write", "demo:html/new.html"],
        Some(b"<p>New page</p>\n"),
    );
    ok(&data, &["delete", "demo:notes for staff.txt"], None);
    ok(
        &data,
        &["rename", "demo:static/a b.png", "static/c d.png"],
        None,
    );
    ok(
        &data,
        &["write", "demo:static/logo.png"],
        Some(b"\x89PNG\r\n\x1a\n\0\0\0\x02\x03"),
    );
    dir
}

fn expected_patch() -> String {
    let assessed = LONG_LINE.replace("is graded", "is assessed");
    format!(
        "\
diff --git a/html/intro.html b/html/intro.html
--- a/html/intro.html
+++ b/html/intro.html
@@ -3,7 +3,7 @@
 <h1>Introduction</h1>
 <p>one</p>
 <p>two</p>
-{LONG_LINE}
+{assessed}
 <p>three</p>
 <p>four</p>
 <p>five</p>
diff --git a/html/new.html b/html/new.html
new file mode 100644
--- /dev/null
+++ b/html/new.html
@@ -0,0 +1 @@
+<p>New page</p>
diff --git \"a/notes for staff.txt\" \"b/notes for staff.txt\"
deleted file mode 100644
--- \"a/notes for staff.txt\"
+++ /dev/null
@@ -1,2 +0,0 @@
-Week one: setup
-Week two: practice
diff --git \"a/static/a b.png\" \"b/static/c d.png\"
similarity index 100%
rename from \"static/a b.png\"
rename to \"static/c d.png\"
diff --git a/static/logo.png b/static/logo.png
Binary files a/static/logo.png and b/static/logo.png differ
"
    )
}

const EXPECTED_STAT: &str = "\
\x20html/intro.html                      |   2 +-
 html/new.html                        |   1 +
 \"notes for staff.txt\"                |   2 --
 \"static/a b.png\" => \"static/c d.png\" | Bin
 static/logo.png                      | Bin 12 -> 13 bytes
 5 files changed, 2 insertions(+), 3 deletions(-)
";

#[test]
fn patch_prints_a_git_unified_diff_of_every_change() {
    let dir = store_with_a_draft();
    let data = dir.path().join("data");
    let patch = stdout(&diff_cli(&data, &[SLUG, "-p"], &[]));
    assert_eq!(patch, expected_patch());
    // The long form, and explicit states, print the same.
    let long = stdout(&diff_cli(&data, &[SLUG, "1", "draft", "--patch"], &[]));
    assert_eq!(long, expected_patch());
    // Nothing changed: nothing printed.
    assert_eq!(stdout(&diff_cli(&data, &[SLUG, "1", "1", "-p"], &[])), "");
}

#[test]
fn stat_prints_gits_diffstat_and_summary() {
    let dir = store_with_a_draft();
    let data = dir.path().join("data");
    assert_eq!(
        stdout(&diff_cli(&data, &[SLUG, "--stat"], &[])),
        EXPECTED_STAT
    );
    // With -p: the stat, a blank line, the patch (git's order).
    assert_eq!(
        stdout(&diff_cli(&data, &[SLUG, "--stat", "-p"], &[])),
        format!("{EXPECTED_STAT}\n{}", expected_patch())
    );
    assert_eq!(
        stdout(&diff_cli(&data, &[SLUG, "1", "1", "--stat"], &[])),
        ""
    );
}

#[test]
fn stat_scales_its_bars_to_the_width_and_counts_in_the_singular() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let hundred: String = (1..=100).map(|n| format!("{n}\n")).collect();
    write_tree(&tree, &[("big.txt", hundred.as_bytes())]);
    let data = dir.path().join("data");
    ok(
        &data,
        &["import", tree.to_str().unwrap(), "-c", "w", "--publish"],
        None,
    );
    let edited: String = (1..=40)
        .chain(141..=200)
        .map(|n| format!("{n}\n"))
        .collect();
    ok(&data, &["write", "w:big.txt"], Some(edited.as_bytes()));
    ok(&data, &["write", "w:small.txt"], Some(b"x\ny\n"));
    assert_eq!(
        stdout(&diff_cli(&data, &["w", "--stat"], &[("COLUMNS", "40")])),
        " big.txt   | 120 +++++++++++-----------\n \
         small.txt |   2 +\n \
         2 files changed, 62 insertions(+), 60 deletions(-)\n"
    );
    // Wide enough, one column a line.
    let wide = stdout(&diff_cli(&data, &["w", "--stat"], &[("COLUMNS", "200")]));
    assert!(
        wide.starts_with(&format!(
            " big.txt   | 120 {}{}\n",
            "+".repeat(60),
            "-".repeat(60)
        )),
        "{wide}"
    );
    ok(&data, &["publish", "w"], None);
    ok(&data, &["write", "w:small.txt"], Some(b"x\nz\n"));
    assert_eq!(
        stdout(&diff_cli(&data, &["w", "--stat"], &[])),
        " small.txt | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n"
    );
}

#[test]
fn name_only_lists_the_changed_paths_quoted() {
    let dir = store_with_a_draft();
    let data = dir.path().join("data");
    assert_eq!(
        stdout(&diff_cli(&data, &[SLUG, "--name-only"], &[])),
        "html/intro.html\nhtml/new.html\n\"notes for staff.txt\"\n\"static/c d.png\"\nstatic/logo.png\n"
    );
}

#[test]
fn the_default_listing_quotes_paths_and_json_is_unchanged() {
    let dir = store_with_a_draft();
    let data = dir.path().join("data");
    assert_eq!(
        stdout(&diff_cli(&data, &[SLUG], &[])),
        "M html/intro.html\nA html/new.html\nD \"notes for staff.txt\"\n\
         R \"static/a b.png\" -> \"static/c d.png\"\nM static/logo.png\n"
    );
    let json = cli_json(&data, &["diff", SLUG]);
    assert_eq!(json["entries"][3]["status"], "renamed");
    assert_eq!(json["entries"][3]["old_path"], "static/a b.png");
    assert_eq!(json["entries"][3]["path"], "static/c d.png");
}

#[test]
fn color_always_uses_gits_colours_and_never_or_a_pipe_none() {
    let dir = store_with_a_draft();
    let data = dir.path().join("data");
    for args in [
        &[SLUG, "-p", "--color=always"][..],
        &[SLUG, "-p", "--color"],
    ] {
        let coloured = stdout(&diff_cli(&data, args, &[("NO_COLOR", "1")]));
        for wanted in [
            "\x1b[1mdiff --git a/html/intro.html b/html/intro.html\x1b[m\n",
            "\x1b[1m--- a/html/intro.html\x1b[m\n",
            "\x1b[36m@@ -3,7 +3,7 @@\x1b[m\n",
            " <p>one</p>\x1b[m\n",
            "\x1b[31m-<p>This long",
            "\x1b[32m+\x1b[m\x1b[32m<p>This long",
            "\x1b[1mrename to \"static/c d.png\"\x1b[m\n",
        ] {
            assert!(coloured.contains(wanted), "{wanted:?} in\n{coloured}");
        }
    }
    let stat = stdout(&diff_cli(&data, &[SLUG, "--stat", "--color=always"], &[]));
    assert!(
        stat.contains("|   2 \x1b[32m+\x1b[m\x1b[31m-\x1b[m\n"),
        "{stat}"
    );
    assert!(
        stat.contains("| Bin \x1b[31m12\x1b[m -> \x1b[32m13\x1b[m bytes\n"),
        "{stat}"
    );
    for args in [
        &[SLUG, "-p", "--color=never"][..],
        &[SLUG, "-p"],
        &[SLUG, "-p", "--color=auto"],
        &[SLUG, "--stat"],
    ] {
        let plain = stdout(&diff_cli(&data, args, &[]));
        assert!(!plain.contains('\x1b'), "{args:?}: {plain}");
    }
}

#[test]
fn a_text_file_without_a_final_newline_diffs_as_git_does() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    write_tree(
        &tree,
        &[("t.txt", b"Alpha\n1\n2\n3\n4\n5\n6\n7\n8\nBeta\n")],
    );
    let data = dir.path().join("data");
    ok(
        &data,
        &["import", tree.to_str().unwrap(), "-c", "t", "--publish"],
        None,
    );
    ok(
        &data,
        &["write", "t:t.txt"],
        Some(b"Alpha\n1\n2\n3\n4\n5\n6\n7x\n\n8\nBeta"),
    );
    // The hunk names the last line before it that starts with a letter.
    assert_eq!(
        stdout(&diff_cli(&data, &["t", "-p"], &[])),
        "\
diff --git a/t.txt b/t.txt
--- a/t.txt
+++ b/t.txt
@@ -5,6 +5,7 @@ Alpha
 4
 5
 6
-7
+7x
+
 8
-Beta
+Beta
\\ No newline at end of file
"
    );
}

#[test]
fn the_new_options_refuse_json_and_each_other_and_are_documented() {
    let dir = store_with_a_draft();
    let data = dir.path().join("data");
    for args in [
        &["--json", "diff", SLUG, "-p"][..],
        &["--json", "diff", SLUG, "--stat"],
        &["diff", SLUG, "--name-only", "-p"],
        &["diff", SLUG, "--path", "html/new.html", "--stat"],
        &["diff", SLUG, "--color=sometimes"],
    ] {
        let out = run_cli(&data, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let help = stdout(&run_cli(&data, &["diff", "--help"]));
    let lines: Vec<&str> = help.lines().collect();
    for option in [
        "<SLUG>",
        "--path",
        "--patch",
        "--stat",
        "--name-only",
        "--color",
    ] {
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with(['-', '<']) && l.contains(option))
            .unwrap_or_else(|| panic!("{option} in\n{help}"));
        // The description follows on the line, or on the next one.
        let description = match lines[at].trim().split_once("  ") {
            Some((_, d)) => d.trim(),
            None => lines.get(at + 1).map_or("", |l| l.trim()),
        };
        assert!(
            !description.is_empty() && !description.starts_with('-'),
            "{option} has a description:\n{help}"
        );
    }
}
