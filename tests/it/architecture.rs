//! The architecture's invariants as tests, in rust-analyzer's "tidy" style:
//! every source file says what it is, the model and the format layers never
//! reach into outer layers (CLI, server, sync) or their crates and never print,
//! and the desktop shell stays out of the default build.

use crate::common::repo;
use std::path::{Path, PathBuf};

/// Every `.rs` file under the given folders of the repository (those present).
fn rust_files(folders: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in folders {
        let root = repo().join(folder);
        if !root.is_dir() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.file_name() != "target" && e.file_name() != ".git")
        {
            let entry = entry.expect("walking the sources");
            if entry.file_type().is_file() && entry.path().extension() == Some("rs".as_ref()) {
                files.push(entry.into_path());
            }
        }
    }
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_rust_file_starts_with_a_module_doc_comment() {
    let files = rust_files(&["src", "src-tauri/src", "tests", "examples", "benches"]);
    assert!(
        files.len() > 10,
        "the walk found only {} files; is the repository root right?",
        files.len()
    );
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("a readable source file");
            let first = text.lines().map(str::trim).find(|l| !l.is_empty());
            !first.is_some_and(|l| l.starts_with("//!"))
        })
        .map(|path| relative(path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "these files do not start with a `//!` comment saying what they are:\n  {}",
        undocumented.join("\n  ")
    );
}

/// What the store and the OLX layer must never mention.
const FORBIDDEN_IN_INNER_LAYERS: &[&str] = &[
    "crate::cli",
    "crate::server",
    "crate::sync",
    "axum",
    "clap",
    "notify",
    "indicatif",
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
];

/// Whether `word` occurs in `line` as a whole word (or path, or macro name).
fn mentions(line: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && (word.ends_with('!') || !after.is_some_and(is_ident))
    })
}

/// Every non-comment line under `dirs` that mentions one of `forbidden`.
fn offences(dirs: &[&str], forbidden: &[&str]) -> Vec<String> {
    let files = rust_files(dirs);
    assert!(!files.is_empty(), "{dirs:?} have sources");
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in forbidden {
                if mentions(line, word) {
                    found.push(format!(
                        "{}:{}: mentions `{word}`: {}",
                        relative(path),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_store_and_olx_layers_never_mention_outer_layers_or_print() {
    let found = offences(&["src/store", "src/olx"], FORBIDDEN_IN_INNER_LAYERS);
    assert!(
        found.is_empty(),
        "the store and OLX layers know nothing of the CLI, server, sync or terminals:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_server_never_touches_sqlite_or_the_cli_and_never_prints() {
    let forbidden = [
        "rusqlite",
        "crate::cli",
        "println!",
        "eprintln!",
        "print!",
        "eprint!",
    ];
    let found = offences(&["src/server"], &forbidden);
    assert!(
        found.is_empty(),
        "the server is a thin layer over the store: no SQL, no CLI, no printing:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_forbidden_word_check_matches_whole_words_only() {
    assert!(mentions("use clap::Parser;", "clap"));
    assert!(mentions("    println!(\"x\");", "println!"));
    assert!(mentions("std::print!(\"x\")", "print!"));
    assert!(!mentions("eprintln!(\"x\")", "println!"));
    assert!(!mentions("let clapping = 1;", "clap"));
    assert!(!mentions("fn notify_all()", "notify"));
    assert!(mentions("crate::cli::run()", "crate::cli"));
}

/// The string items of the TOML array assigned to `key` in `[section]` (a
/// small reader for this one file's shape; arrays may span lines).
fn toml_array(toml: &str, section: &str, key: &str) -> Option<Vec<String>> {
    let mut in_section = false;
    let mut lines = toml.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line.starts_with('[') && !line.starts_with("[[") && line.ends_with(']') {
            in_section = line == format!("[{section}]");
            continue;
        }
        let Some((k, value)) = line.split_once('=') else {
            continue;
        };
        if !in_section || k.trim() != key {
            continue;
        }
        let mut value = value.trim().to_string();
        while !value.contains(']') {
            value.push_str(lines.next()?.split('#').next().unwrap_or(""));
        }
        let inner = value.trim().strip_prefix('[')?.split(']').next()?;
        return Some(
            inner
                .split(',')
                .map(|item| item.trim().trim_matches('"').to_string())
                .filter(|item| !item.is_empty())
                .collect(),
        );
    }
    None
}

#[test]
fn the_desktop_shell_is_a_workspace_member_but_not_a_default_one() {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml")).expect("the root Cargo.toml");
    let members = toml_array(&toml, "workspace", "members")
        .expect("the root Cargo.toml has [workspace] members");
    assert!(
        members.iter().any(|m| m == "src-tauri"),
        "src-tauri must be a workspace member, so `cargo build -p` and clippy reach it: {members:?}"
    );
    let defaults = toml_array(&toml, "workspace", "default-members")
        .expect("[workspace] default-members keeps plain `cargo build/test` off WebKitGTK");
    assert!(
        !defaults.iter().any(|m| m == "src-tauri"),
        "src-tauri must not be a default member (it needs WebKitGTK): {defaults:?}"
    );
    assert!(
        defaults.iter().any(|m| m == "."),
        "the library must be a default member: {defaults:?}"
    );
}

#[test]
fn the_sync_layer_calls_the_store_never_sqlite_the_server_or_the_cli() {
    let forbidden = [
        "rusqlite",
        "crate::cli",
        "crate::server",
        "axum",
        "clap",
        "indicatif",
        "println!",
        "eprintln!",
        "print!",
        "eprint!",
    ];
    let found = offences(&["src/sync"], &forbidden);
    assert!(
        found.is_empty(),
        "sync is a layer over the store: no SQL, no server, no CLI, no printing:\n  {}",
        found.join("\n  ")
    );
}

/// Messages count in words ("1 change", "3 changes"), never "change(s)":
/// no string literal in the code or the UI says "(s)".
#[test]
fn no_message_says_s_in_parentheses() {
    let mut found = Vec::new();
    let mut files = rust_files(&["src"]);
    for dir in ["ui", "ui/views"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "js") {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // A "(s)" right after a letter, inside a string (after a quote).
            if let Some(at) = line.find("(s)") {
                let before = &line[..at];
                let in_string = before.matches('"').count() % 2 == 1
                    || before.matches('`').count() % 2 == 1
                    || before.matches('\'').count() % 2 == 1;
                if in_string && before.ends_with(|c: char| c.is_alphabetic()) {
                    found.push(format!("{}:{}: {}", relative(&file), i + 1, code));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "say the count in words (plural()):\n{}",
        found.join("\n")
    );
}
