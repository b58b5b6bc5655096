//! Learning Core backups (`openedx-core`'s `lp_dump` zips) in: a library from
//! today's Open edX becomes a collection whose tree is readable OLX.
//!
//! Why this layout. The store's link extraction, outline and UI already read
//! Blockstore's bundle convention (ADR 0001: `{type}/{id}/definition.xml`,
//! children named by `<xblock-include definition="{type}/{id}"/>`), which is
//! what a Learning Core package is made of: components of a type with a key,
//! and containers listing children. So a backup becomes:
//!
//! ```text
//! TYPE/KEY/definition.xml          a component's block.xml, byte for byte
//! TYPE/KEY/static/…                its other files (any media key), byte for byte
//! vertical/KEY/definition.xml      a unit:       <vertical display_name="T">
//! sequential/KEY/definition.xml    a subsection:   <xblock-include definition="problem/K"/> …
//! chapter/KEY/definition.xml       a section     (children in order)
//! learning_core/package.toml       the backup's package.toml, verbatim
//! learning_core/entities.toml      per entity what OLX cannot say: its full key, kind,
//!                                  folder, can_stand_alone, created, title, version number
//! learning_core/collections/*.toml Learning Core's collections of entities, verbatim
//! ```
//!
//! `TYPE` is the component's block type (`xblock.v1:problem:KEY` →
//! `problem`) and `KEY` its key as it is (a key `slugify` would change, or
//! one two types share, keeps its own folder), with `/`, `\`, `%` and control
//! characters percent-encoded. The package's published state is imported and
//! published as a collection version; where the draft differs, the
//! differences become the working draft (a component deleted in the draft
//! is a draft deletion). `entities.toml` is a file like the others: the
//! published state's has the published titles, the draft's the draft's.

mod from_olx;
mod read;
mod write;

pub use write::{export_backup, write_backup, Written};

use super::{import_files, ImportOptions, ImportReport};
use crate::store::{CollectionMetadata, Error, Progress, PublishOptions, RelPath, Result, Store};
use read::{Backup, Entity, Kind, Version};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Whether a file's first bytes are a zip's (a local file header).
pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Imports the Learning Core backup at `path` into a collection (named by
/// `options.collection`, else from the package's key).
pub fn import_backup(
    store: &Store,
    path: &Path,
    options: &ImportOptions,
    limits: super::ArchiveLimits,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    import_backup_named(
        store,
        path,
        &path.display().to_string(),
        options,
        limits,
        progress,
    )
}

/// [`import_backup`], naming the backup `name` in messages (an upload's
/// temp file is "request body").
pub fn import_backup_named(
    store: &Store,
    path: &Path,
    name: &str,
    options: &ImportOptions,
    limits: super::ArchiveLimits,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let name = name.to_string();
    progress.phase("reading", None);
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("reading {name}"), e))?;
    let backup = read::read(std::io::BufReader::new(file), &name, limits)?;
    let slug = match &options.collection {
        Some(slug) => slug.clone(),
        None => slug_of(&backup.package_key),
    };
    let metadata = CollectionMetadata {
        title: Some(if backup.title.is_empty() {
            slug.clone()
        } else {
            backup.title.clone()
        }),
        description: Some(backup.description.clone()),
        ..CollectionMetadata::default()
    };
    let published = tree(&backup, State::Published, &name)?;
    let draft = tree(&backup, State::Draft, &name)?;
    let mut report = None;
    // The published state becomes a version unless the latest already is it
    // (importing the same backup again changes nothing).
    let latest_is_published = match store.files(&slug, crate::store::At::Latest) {
        Ok(files)
            if store
                .versions(&slug)
                .map(|v| !v.is_empty())
                .unwrap_or(false) =>
        {
            let have: BTreeMap<&str, &str> = files
                .iter()
                .map(|f| (f.path.as_str(), f.hash.as_str()))
                .collect();
            let want: Vec<(String, String)> = published
                .iter()
                .map(|(p, b)| (p.as_str().to_string(), crate::store::hash_bytes(b)))
                .collect();
            have.len() == want.len()
                && want
                    .iter()
                    .all(|(p, h)| have.get(p.as_str()) == Some(&h.as_str()))
        }
        _ => false,
    };
    if backup.entities.iter().any(|e| e.published.is_some()) && !latest_is_published {
        let files: Vec<(RelPath, &[u8])> = published
            .iter()
            .map(|(p, b)| (p.clone(), b.as_slice()))
            .collect();
        let first = import_files(store, &slug, &metadata, &files, options.source, progress)?;
        let message = options.message.clone().unwrap_or_else(|| {
            format!(
                "Learning Core backup {}: its published state",
                backup.package_key
            )
        });
        match store.publish(
            &slug,
            &PublishOptions {
                message,
                strict: false,
            },
        ) {
            Ok(_) | Err(Error::NothingToPublish { .. }) => {}
            Err(e) => return Err(e),
        }
        report = Some(first);
    }
    let files: Vec<(RelPath, &[u8])> = draft
        .iter()
        .map(|(p, b)| (p.clone(), b.as_slice()))
        .collect();
    let mut second = import_files(store, &slug, &metadata, &files, options.source, progress)?;
    if let Some(first) = report {
        second.created_collection = first.created_collection;
        second.new_blobs += first.new_blobs;
    }
    super::import::publish_after(store, &mut second, options, &name)?;
    Ok(second)
}

/// A collection slug from a package key: `lib:Org:name` → `Org.name`.
fn slug_of(key: &str) -> String {
    let parts: Vec<&str> = key.split(':').collect();
    let named = if parts.len() >= 3 {
        &parts[1..]
    } else {
        &parts[..]
    };
    let slug: String = named
        .join(".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_start_matches(['-', '_', '.']).to_string();
    if slug.is_empty() {
        "learning-core".into()
    } else {
        slug.chars().take(100).collect()
    }
}

/// How a container's XML keeps a child the backup did not hold (export
/// reads it back).
const UNKNOWN_CHILD: &str = "a child not in the backup: ";

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Published,
    Draft,
}

/// A key as one path component: as it is, with `/`, `\`, `%` and control
/// characters percent-encoded (and a `.` or `..` key's dots).
fn folder_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '/' | '\\' | '%') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out == "." || out == ".." || out.is_empty() {
        out = out.replace('.', "%2E");
        if out.is_empty() {
            out = "%00".into();
        }
    }
    out
}

/// The key a folder name stands for: [`folder_name`] undone (`%XX` back to
/// its byte).
fn key_of_folder(folder: &str) -> String {
    let bytes = folder.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let key = String::from_utf8_lossy(&out).into_owned();
    if key == "\0" {
        String::new()
    } else {
        key
    }
}

/// Where an entity lives in the tree: `TYPE/KEY` (components) or
/// `vertical|sequential|chapter/KEY` (containers).
fn folder_of(e: &Entity) -> String {
    match e.kind {
        Kind::Component => {
            let mut parts = e.key.splitn(3, ':');
            let (_ns, ty, local) = (parts.next(), parts.next(), parts.next());
            match (ty, local) {
                (Some(ty), Some(local)) => format!("{}/{}", folder_name(ty), folder_name(local)),
                _ => format!("component/{}", folder_name(&e.key)),
            }
        }
        Kind::Unit => format!("vertical/{}", folder_name(&e.key)),
        Kind::Subsection => format!("sequential/{}", folder_name(&e.key)),
        Kind::Section => format!("chapter/{}", folder_name(&e.key)),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Everything one state of the package is, as (path, bytes).
fn tree(backup: &Backup, state: State, zip_name: &str) -> Result<Vec<(RelPath, Arc<Vec<u8>>)>> {
    let folders: BTreeMap<&str, String> = backup
        .entities
        .iter()
        .map(|e| (e.key.as_str(), folder_of(e)))
        .collect();
    let path = |p: String| {
        RelPath::new(&p).map_err(|e| {
            Error::Invalid(format!(
                "{zip_name}: the backup's entity becomes the path {p:?}, which the store cannot hold ({e}); nothing was imported"
            ))
        })
    };
    let mut out: Vec<(RelPath, Arc<Vec<u8>>)> = Vec::new();
    let mut entities = toml::Table::new();
    let mut listed = Vec::new();
    for e in &backup.entities {
        let version: Option<&Version> = match state {
            State::Published => e.published.as_ref(),
            State::Draft => e.draft.as_ref(),
        };
        let Some(version) = version else { continue };
        let folder = &folders[e.key.as_str()];
        match e.kind {
            Kind::Component => {
                for (media, bytes) in &version.files {
                    let name = if media == "block.xml" {
                        "definition.xml".to_string()
                    } else if media == "definition.xml" {
                        return Err(Error::Invalid(format!(
                            "{zip_name}: {} has both block.xml and definition.xml; nothing was imported",
                            e.source
                        )));
                    } else {
                        media.clone()
                    };
                    out.push((path(format!("{folder}/{name}"))?, Arc::clone(bytes)));
                }
            }
            kind => {
                let tag = match kind {
                    Kind::Unit => "vertical",
                    Kind::Subsection => "sequential",
                    _ => "chapter",
                };
                let mut xml = format!("<{tag} display_name=\"{}\">\n", xml_escape(&version.title));
                for child in &version.children {
                    match folders.get(child.as_str()) {
                        Some(f) => xml.push_str(&format!(
                            "  <xblock-include definition=\"{}\"/>\n",
                            xml_escape(f)
                        )),
                        // Learning Core drops a child it does not hold; it is
                        // kept here, visibly.
                        None => xml.push_str(&format!(
                            "  <!-- {UNKNOWN_CHILD}{} -->\n",
                            xml_escape(child).replace("--", "&#45;&#45;")
                        )),
                    }
                }
                xml.push_str(&format!("</{tag}>\n"));
                out.push((
                    path(format!("{folder}/definition.xml"))?,
                    Arc::new(xml.into_bytes()),
                ));
            }
        }
        let mut t = toml::Table::new();
        t.insert("key".into(), e.key.clone().into());
        t.insert("kind".into(), e.kind.as_str().into());
        t.insert("folder".into(), folder.clone().into());
        t.insert("can_stand_alone".into(), e.can_stand_alone.into());
        if let Some(created) = &e.created {
            t.insert("created".into(), toml::Value::Datetime(*created));
        }
        t.insert("title".into(), version.title.clone().into());
        t.insert("version_num".into(), version.number.into());
        if e.kind != Kind::Component {
            t.insert(
                "children".into(),
                toml::Value::Array(version.children.iter().map(|c| c.clone().into()).collect()),
            );
        }
        listed.push(toml::Value::Table(t));
    }
    entities.insert("entity".into(), toml::Value::Array(listed));
    // The same package imports as the same bytes whatever its zip is called.
    let text = format!(
        "# The Learning Core entities of this collection state: what OLX cannot say.\n# Written by `blockstore import` from a Learning Core backup.\n\n{}",
        toml::to_string(&entities).map_err(|e| Error::Invalid(format!("writing entities.toml: {e}")))?
    );
    out.push((
        path("learning_core/entities.toml".into())?,
        Arc::new(text.into_bytes()),
    ));
    out.push((
        path("learning_core/package.toml".into())?,
        Arc::new(backup.package_toml.clone()),
    ));
    for (file, bytes) in &backup.collections {
        out.push((
            path(format!("learning_core/collections/{file}"))?,
            Arc::new(bytes.clone()),
        ));
    }
    out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for pair in out.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(Error::Invalid(format!(
                "{zip_name}: two entities would both be {}; nothing was imported",
                pair[0].0
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_folders_as_they_are_unless_a_path_cannot_hold_them() {
        assert_eq!(folder_name("My Problem.v2"), "My Problem.v2");
        assert_eq!(folder_name("a/b%c"), "a%2Fb%25c");
        assert_eq!(folder_name(".."), "%2E%2E");
        for key in ["My Problem.v2", "a/b%c", "..", "x\ty", "é/ü"] {
            assert_eq!(key_of_folder(&folder_name(key)), key);
        }
        assert_eq!(slug_of("lib:SampleOrg:sample-lib"), "SampleOrg.sample-lib");
        assert_eq!(slug_of("lib:Org:a b"), "Org.a-b");
        assert!(is_zip(b"PK\x03\x04rest"));
    }
}
