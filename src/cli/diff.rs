//! `diff`'s outputs in git's formats: `-p` (unified diffs of every changed
//! file), `--stat`, `--name-only`, git's colours, and git's C-style quoting
//! of paths (which here also quotes spaces, as `git status --short` does).
//!
//! Both sides of each change are read from the blob store by the hashes the
//! store's collection diff names, so the output is one consistent pair of
//! states. A file is diffed as text when it has no NUL byte in its first
//! 8000 bytes (git's test) and is a unit or valid UTF-8; larger than
//! [`MAX_TEXT`], or otherwise, it is binary.

use crate::store::{Change, ChangeStatus, LinkableKind, Store};
use clap::ValueEnum;
use similar::{Algorithm, DiffOp, DiffTag};
use std::io::{self, IsTerminal, Write};

/// Lines of context around each change (git's default).
const CONTEXT: usize = 3;

/// Files larger than this are diffed as binary (not held whole in memory).
const MAX_TEXT: u64 = 16 * 1024 * 1024;

/// How long the line diff of one file may search for a minimal diff before
/// it settles for a correct but longer one.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// When to colour the output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    // No doc comments: `--color`'s own help says what each means, and
    // documented values would turn `diff --help` into the long layout.
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether to colour stdout.
    pub(crate) fn enabled(self) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// git's default diff colours, or none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    meta: &'static str,
    frag: &'static str,
    old: &'static str,
    new: &'static str,
    reset: &'static str,
}

impl Palette {
    pub(crate) fn new(color: bool) -> Palette {
        if color {
            Palette {
                meta: "\x1b[1m",
                frag: "\x1b[36m",
                old: "\x1b[31m",
                new: "\x1b[32m",
                reset: "\x1b[m",
            }
        } else {
            Palette {
                meta: "",
                frag: "",
                old: "",
                new: "",
                reset: "",
            }
        }
    }
}

/// One side of a changed file.
enum Side {
    Absent,
    Text(Vec<u8>),
    Binary(u64),
}

impl Side {
    fn size(&self) -> u64 {
        match self {
            Side::Absent => 0,
            Side::Text(bytes) => bytes.len() as u64,
            Side::Binary(size) => *size,
        }
    }
}

/// What one change did to the content.
enum Body {
    /// Text: both sides' bytes and the line diff between them.
    Text {
        old: Vec<u8>,
        new: Vec<u8>,
        ops: Vec<DiffOp>,
    },
    /// Binary: the sizes, and whether the bytes changed (not for a pure rename).
    Binary {
        old_size: u64,
        new_size: u64,
        changed: bool,
    },
}

/// One changed file, read and diffed.
struct FileDiff<'a> {
    change: &'a Change,
    body: Body,
}

impl FileDiff<'_> {
    /// The path before (the path itself unless renamed).
    fn old_path(&self) -> &str {
        self.change.old_path.as_deref().unwrap_or(&self.change.path)
    }

    fn new_path(&self) -> &str {
        &self.change.path
    }

    /// (insertions, deletions) of a text change.
    fn counts(&self) -> (u64, u64) {
        let Body::Text { ops, .. } = &self.body else {
            return (0, 0);
        };
        ops.iter().fold((0, 0), |(add, del), op| {
            let (tag, old, new) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => (add, del),
                _ => (add + new.len() as u64, del + old.len() as u64),
            }
        })
    }
}

/// Reads a blob as text or binary (see the module docs).
fn side(store: &Store, hash: Option<&str>, kind: LinkableKind) -> crate::Result<Side> {
    let Some(hash) = hash else {
        return Ok(Side::Absent);
    };
    let size = store.blobs().size_of(hash)?;
    if size > MAX_TEXT {
        return Ok(Side::Binary(size));
    }
    let bytes = store.blobs().read(hash, true)?;
    let no_nul = !bytes[..bytes.len().min(8000)].contains(&0);
    let text = no_nul && (kind == LinkableKind::Unit || std::str::from_utf8(&bytes).is_ok());
    Ok(if text {
        Side::Text(bytes)
    } else {
        Side::Binary(size)
    })
}

/// The lines of `bytes`, each with its `\n` (the last may have none).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|b| *b == b'\n').collect()
}

fn load<'a>(store: &Store, change: &'a Change) -> crate::Result<FileDiff<'a>> {
    let same = change.old_hash.is_some() && change.old_hash == change.new_hash;
    let old = side(store, change.old_hash.as_deref(), change.kind)?;
    let new = if same {
        match &old {
            Side::Text(bytes) => Side::Text(bytes.clone()),
            Side::Binary(size) => Side::Binary(*size),
            Side::Absent => Side::Absent,
        }
    } else {
        side(store, change.new_hash.as_deref(), change.kind)?
    };
    let binary = matches!(old, Side::Binary(_)) || matches!(new, Side::Binary(_));
    let body = if binary {
        Body::Binary {
            old_size: old.size(),
            new_size: new.size(),
            changed: !same,
        }
    } else {
        let (old, new) = (text_of(old), text_of(new));
        let ops = if same {
            Vec::new()
        } else {
            similar::capture_diff_slices_deadline(
                Algorithm::Myers,
                &lines(&old),
                &lines(&new),
                Some(std::time::Instant::now() + DIFF_DEADLINE),
            )
        };
        Body::Text { old, new, ops }
    };
    Ok(FileDiff { change, body })
}

fn text_of(side: Side) -> Vec<u8> {
    match side {
        Side::Text(bytes) => bytes,
        Side::Absent | Side::Binary(_) => Vec::new(),
    }
}

fn stdout_error(e: io::Error) -> crate::Error {
    crate::Error::io("writing to stdout", e)
}

/// `--name-only`: each changed path (the new one for a rename), quoted as git
/// quotes paths.
pub(crate) fn name_only(changes: &[Change], w: &mut dyn Write) -> crate::Result<()> {
    for c in changes {
        writeln!(w, "{}", quote(&c.path)).map_err(stdout_error)?;
    }
    Ok(())
}

/// The default listing: `M path`, `R old -> new`, with quoted paths.
pub(crate) fn name_status(changes: &[Change], w: &mut dyn Write) -> crate::Result<()> {
    for c in changes {
        match &c.old_path {
            Some(old) => writeln!(
                w,
                "{} {} -> {}",
                c.status.letter(),
                quote(old),
                quote(&c.path)
            ),
            None => writeln!(w, "{} {}", c.status.letter(), quote(&c.path)),
        }
        .map_err(stdout_error)?;
    }
    Ok(())
}

/// `-p`: a git-style unified diff of every change.
pub(crate) fn patch(
    store: &Store,
    changes: &[Change],
    palette: Palette,
    w: &mut dyn Write,
) -> crate::Result<()> {
    for change in changes {
        let file = load(store, change)?;
        write_patch(&file, palette, w).map_err(stdout_error)?;
    }
    Ok(())
}

/// `--stat`: git's diffstat, scaled to `width` columns.
pub(crate) fn stat(
    store: &Store,
    changes: &[Change],
    palette: Palette,
    width: usize,
    w: &mut dyn Write,
) -> crate::Result<()> {
    let mut rows = Vec::with_capacity(changes.len());
    for change in changes {
        let file = load(store, change)?;
        let name = match &change.old_path {
            Some(old) => pprint_rename(old, &change.path),
            None => quote(&change.path),
        };
        let row = match file.body {
            Body::Binary {
                old_size,
                new_size,
                changed,
            } => StatRow::Binary {
                name,
                sizes: changed.then_some((old_size, new_size)),
            },
            Body::Text { .. } => {
                let (added, deleted) = file.counts();
                StatRow::Text {
                    name,
                    added,
                    deleted,
                }
            }
        };
        rows.push(row);
    }
    write_stat(&rows, palette, width, w).map_err(stdout_error)
}

/// The width `--stat` fills: `$COLUMNS`, else the terminal's, else 80 (git's
/// rule).
pub(crate) fn stat_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    let stdout = io::stdout();
    if stdout.is_terminal() {
        if let Ok(size) = rustix::termios::tcgetwinsize(&stdout) {
            if size.ws_col > 0 {
                return usize::from(size.ws_col);
            }
        }
    }
    80
}

fn write_patch(file: &FileDiff<'_>, p: Palette, w: &mut dyn Write) -> io::Result<()> {
    let change = file.change;
    let (old_path, new_path) = (file.old_path(), file.new_path());
    let a = quote(&format!("a/{old_path}"));
    let b = quote(&format!("b/{new_path}"));
    let meta = |w: &mut dyn Write, line: &str| writeln!(w, "{}{line}{}", p.meta, p.reset);
    meta(w, &format!("diff --git {a} {b}"))?;
    match change.status {
        ChangeStatus::Added => meta(w, "new file mode 100644")?,
        ChangeStatus::Deleted => meta(w, "deleted file mode 100644")?,
        ChangeStatus::Renamed => {
            if !change.content_changed {
                meta(w, "similarity index 100%")?;
            }
            meta(w, &format!("rename from {}", quote(old_path)))?;
            meta(w, &format!("rename to {}", quote(new_path)))?;
        }
        ChangeStatus::Modified => {}
    }
    let a_label = if change.status == ChangeStatus::Added {
        "/dev/null".to_string()
    } else {
        a
    };
    let b_label = if change.status == ChangeStatus::Deleted {
        "/dev/null".to_string()
    } else {
        b
    };
    match &file.body {
        Body::Binary { changed, .. } => {
            if *changed {
                writeln!(w, "Binary files {a_label} and {b_label} differ")?;
            }
        }
        Body::Text { old, new, ops } => {
            let hunks = similar::group_diff_ops(ops.clone(), CONTEXT);
            if hunks.is_empty() {
                return Ok(());
            }
            meta(w, &format!("--- {a_label}"))?;
            meta(w, &format!("+++ {b_label}"))?;
            let (old_lines, new_lines) = (lines(old), lines(new));
            for hunk in &hunks {
                write_hunk(hunk, &old_lines, &new_lines, p, w)?;
            }
        }
    }
    Ok(())
}

/// git's hunk range: `START,LEN`, `START` alone when LEN is 1, and an empty
/// range starts at the line before it.
fn range(r: &std::ops::Range<usize>) -> String {
    match r.len() {
        1 => format!("{}", r.start + 1),
        0 => format!("{},0", r.start),
        n => format!("{},{n}", r.start + 1),
    }
}

/// git's default "function name" for a hunk: the last line before it that
/// starts with a letter, `_` or `$`, cut to 80 bytes, trailing blanks dropped.
fn funcname<'a>(old_lines: &[&'a [u8]], before: usize) -> Option<&'a [u8]> {
    let line = old_lines[..before.min(old_lines.len())]
        .iter()
        .rev()
        .find(|l| {
            l.first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'$')
        })?;
    let mut line = &line[..line.len().min(80)];
    while let [rest @ .., last] = line {
        if last.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    Some(line)
}

fn write_hunk(
    hunk: &[DiffOp],
    old_lines: &[&[u8]],
    new_lines: &[&[u8]],
    p: Palette,
    w: &mut dyn Write,
) -> io::Result<()> {
    let (Some(first), Some(last)) = (hunk.first(), hunk.last()) else {
        return Ok(());
    };
    let old = first.old_range().start..last.old_range().end;
    let new = first.new_range().start..last.new_range().end;
    write!(
        w,
        "{}@@ -{} +{} @@{}",
        p.frag,
        range(&old),
        range(&new),
        p.reset
    )?;
    if let Some(func) = funcname(old_lines, old.start) {
        write!(w, " {}", p.reset)?;
        w.write_all(func)?;
        write!(w, "{}", p.reset)?;
    }
    writeln!(w)?;
    for op in hunk {
        let (tag, old, new) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => {
                for line in &old_lines[old] {
                    write_line(w, "", " ", line, p)?;
                }
            }
            DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                for line in &old_lines[old] {
                    write_line(w, p.old, "-", line, p)?;
                }
                for line in &new_lines[new] {
                    write_line(w, p.new, "+", line, p)?;
                }
            }
        }
    }
    Ok(())
}

/// One diff line as git colours it: `-` lines whole in red, `+` lines with
/// the sign and the text coloured apart, context lines uncoloured but reset.
fn write_line(
    w: &mut dyn Write,
    color: &str,
    sign: &str,
    line: &[u8],
    p: Palette,
) -> io::Result<()> {
    let (text, newline) = match line.strip_suffix(b"\n") {
        Some(text) => (text, true),
        None => (line, false),
    };
    if sign == "+" {
        write!(w, "{color}+{}", p.reset)?;
        if !text.is_empty() {
            write!(w, "{color}")?;
            w.write_all(text)?;
            write!(w, "{}", p.reset)?;
        }
    } else {
        write!(w, "{color}{sign}")?;
        w.write_all(text)?;
        write!(w, "{}", p.reset)?;
    }
    writeln!(w)?;
    if !newline {
        writeln!(w, "\\ No newline at end of file{}", p.reset)?;
    }
    Ok(())
}

/// One `--stat` line before layout.
enum StatRow {
    Text {
        name: String,
        added: u64,
        deleted: u64,
    },
    /// `sizes` (old, new) when the bytes changed; a pure rename shows `Bin`.
    Binary {
        name: String,
        sizes: Option<(u64, u64)>,
    },
}

impl StatRow {
    fn name(&self) -> &str {
        match self {
            StatRow::Text { name, .. } | StatRow::Binary { name, .. } => name,
        }
    }
}

fn decimal_width(n: u64) -> usize {
    n.to_string().len()
}

/// git's `scale_linear`: at least one column for any change.
fn scale_linear(it: u64, width: u64, max_change: u64) -> u64 {
    if it == 0 {
        0
    } else {
        1 + it * width.saturating_sub(1) / max_change
    }
}

/// git's `show_stats` layout, then the summary line.
fn write_stat(rows: &[StatRow], p: Palette, width: usize, w: &mut dyn Write) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut max_len = 0;
    let mut max_change = 0u64;
    let mut number_width = 0;
    let mut bin_width = 0;
    for row in rows {
        max_len = max_len.max(row.name().chars().count());
        match row {
            StatRow::Binary { sizes, .. } => {
                let (old, new) = sizes.unwrap_or((0, 0));
                bin_width = bin_width.max(14 + decimal_width(new) + decimal_width(old));
                number_width = 3;
            }
            StatRow::Text { added, deleted, .. } => max_change = max_change.max(added + deleted),
        }
    }
    number_width = number_width.max(decimal_width(max_change));
    let width = width.max(16 + 6 + number_width);
    let mut graph_width = if max_change as usize + 4 > bin_width {
        max_change as usize
    } else {
        bin_width - 4
    };
    let mut name_width = max_len;
    if name_width + number_width + 6 + graph_width > width {
        let limit = (width * 3 / 8).saturating_sub(number_width + 6);
        if graph_width > limit {
            graph_width = limit.max(6);
        }
        if name_width > width.saturating_sub(number_width + 6 + graph_width) {
            name_width = width.saturating_sub(number_width + 6 + graph_width);
        } else {
            graph_width = width - number_width - 6 - name_width;
        }
    }
    let (mut adds, mut dels) = (0, 0);
    for row in rows {
        let full = row.name();
        let mut len = name_width;
        let mut prefix = "";
        let mut name = full;
        let chars = full.chars().count();
        if name_width < chars {
            prefix = "...";
            len = len.saturating_sub(3);
            let skip = chars - len.min(chars);
            name = &full[full.char_indices().nth(skip).map_or(full.len(), |(i, _)| i)..];
            if let Some(slash) = name.find('/') {
                name = &name[slash..];
            }
        }
        let padding = len.saturating_sub(name.chars().count());
        write!(w, " {prefix}{name}{:padding$} | ", "")?;
        match row {
            StatRow::Binary { sizes, .. } => {
                write!(w, "{:>number_width$}", "Bin")?;
                if let Some((old, new)) = sizes {
                    write!(
                        w,
                        " {}{old}{} -> {}{new}{} bytes",
                        p.old, p.reset, p.new, p.reset
                    )?;
                }
                writeln!(w)?;
            }
            StatRow::Text { added, deleted, .. } => {
                adds += added;
                dels += deleted;
                let (mut add, mut del) = (*added, *deleted);
                let graph = graph_width as u64;
                if graph <= max_change {
                    let mut total = scale_linear(add + del, graph, max_change);
                    if total < 2 && add > 0 && del > 0 {
                        total = 2;
                    }
                    if add < del {
                        add = scale_linear(add, graph, max_change);
                        del = total - add;
                    } else {
                        del = scale_linear(del, graph, max_change);
                        add = total - del;
                    }
                }
                let sum = added + deleted;
                write!(w, "{sum:>number_width$}{}", if sum > 0 { " " } else { "" })?;
                if add > 0 {
                    write!(w, "{}{}{}", p.new, "+".repeat(add as usize), p.reset)?;
                }
                if del > 0 {
                    write!(w, "{}{}{}", p.old, "-".repeat(del as usize), p.reset)?;
                }
                writeln!(w)?;
            }
        }
    }
    writeln!(w, "{}", summary(rows.len() as u64, adds, dels))
}

/// git's summary line: ` N files changed, X insertions(+), Y deletions(-)`.
fn summary(files: u64, insertions: u64, deletions: u64) -> String {
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut line = format!(" {}", plural(files, "file changed", "files changed"));
    if insertions > 0 || deletions == 0 {
        line += &format!(", {}", plural(insertions, "insertion(+)", "insertions(+)"));
    }
    if deletions > 0 || insertions == 0 {
        line += &format!(", {}", plural(deletions, "deletion(-)", "deletions(-)"));
    }
    line
}

/// Whether git's C-style quoting must quote this byte (control characters,
/// `"`, `\`, DEL, non-ASCII bytes as with `core.quotePath`), and spaces.
fn needs_quote(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f || b == b' '
}

/// A path as git quotes it: unchanged, or in double quotes with `\t`, `\n`,
/// `\"`, `\\`... and octal escapes for other control and non-ASCII bytes.
pub(crate) fn quote(path: &str) -> String {
    if !path.bytes().any(needs_quote) {
        return path.to_string();
    }
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for b in path.bytes() {
        match b {
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' ' => out.push(' '),
            b if needs_quote(b) => out.push_str(&format!("\\{b:03o}")),
            b => out.push(char::from(b)),
        }
    }
    out.push('"');
    out
}

/// git's `pprint_rename`: `dir/{old => new}` around the common prefix and
/// suffix, or both names whole when either must be quoted.
fn pprint_rename(a: &str, b: &str) -> String {
    if a.bytes().any(needs_quote) || b.bytes().any(needs_quote) {
        return format!("{} => {}", quote(a), quote(b));
    }
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let mut pfx = 0;
    let mut i = 0;
    while i < ab.len() && i < bb.len() && ab[i] == bb[i] {
        if ab[i] == b'/' {
            pfx = i + 1;
        }
        i += 1;
    }
    // The common suffix, ending at a slash; with a common prefix the scan may
    // reach one byte into it (to see its closing slash).
    let adjust = usize::from(pfx > 0);
    let mut sfx = 0;
    let (mut oa, mut ob) = (ab.len() as isize, bb.len() as isize);
    let floor = pfx as isize - adjust as isize;
    while floor <= oa && floor <= ob {
        let ca = if oa < ab.len() as isize {
            Some(ab[oa as usize])
        } else {
            None
        };
        let cb = if ob < bb.len() as isize {
            Some(bb[ob as usize])
        } else {
            None
        };
        if ca != cb {
            break;
        }
        if ca == Some(b'/') {
            sfx = ab.len() - oa as usize;
        }
        oa -= 1;
        ob -= 1;
    }
    let a_mid = ab.len().saturating_sub(pfx + sfx);
    let b_mid = bb.len().saturating_sub(pfx + sfx);
    let mut out = String::new();
    if pfx + sfx > 0 {
        out.push_str(&a[..pfx]);
        out.push('{');
    }
    out.push_str(&a[pfx..pfx + a_mid]);
    out.push_str(" => ");
    out.push_str(&b[pfx..pfx + b_mid]);
    if pfx + sfx > 0 {
        out.push('}');
        out.push_str(&a[a.len() - sfx..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_as_git_quotes_them_and_spaces_too() {
        assert_eq!(quote("html/a.html"), "html/a.html");
        assert_eq!(quote("static/a b.png"), "\"static/a b.png\"");
        assert_eq!(quote("a\"b\\c\td"), "\"a\\\"b\\\\c\\td\"");
        assert_eq!(quote("caf\u{e9}.txt"), "\"caf\\303\\251.txt\"");
    }

    #[test]
    fn renames_print_around_their_common_prefix_and_suffix() {
        assert_eq!(pprint_rename("a/b/c.txt", "a/d/c.txt"), "a/{b => d}/c.txt");
        assert_eq!(pprint_rename("a/x.txt", "a/y.txt"), "a/{x.txt => y.txt}");
        assert_eq!(pprint_rename("x.txt", "y.txt"), "x.txt => y.txt");
        assert_eq!(pprint_rename("a/c.txt", "b/c.txt"), "{a => b}/c.txt");
        assert_eq!(pprint_rename("a/c.txt", "a/b/c.txt"), "a/{ => b}/c.txt");
        assert_eq!(
            pprint_rename("static/a b.png", "static/c d.png"),
            "\"static/a b.png\" => \"static/c d.png\""
        );
    }

    #[test]
    fn the_summary_counts_in_singular_and_plural() {
        assert_eq!(summary(1, 1, 0), " 1 file changed, 1 insertion(+)");
        assert_eq!(summary(2, 0, 3), " 2 files changed, 3 deletions(-)");
        assert_eq!(
            summary(3, 0, 0),
            " 3 files changed, 0 insertions(+), 0 deletions(-)"
        );
        assert_eq!(
            summary(5, 2, 1),
            " 5 files changed, 2 insertions(+), 1 deletion(-)"
        );
    }

    #[test]
    fn hunk_ranges_and_function_names_follow_git() {
        assert_eq!(range(&(0..0)), "0,0");
        assert_eq!(range(&(4..5)), "5");
        assert_eq!(range(&(2..9)), "3,7");
        let text: &[u8] = b"Alpha\n1\n  Beta  \n2\n";
        let l = lines(text);
        assert_eq!(funcname(&l, 0), None);
        assert_eq!(funcname(&l, 3), Some(&b"Alpha"[..]));
    }
}
