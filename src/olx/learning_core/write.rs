//! Writing a collection in the layout `mod.rs` describes back out as a
//! Learning Core backup that `lp_load` loads: the latest version (or the one
//! asked for) as the package's published state, the working draft's
//! differences as its drafts.
//!
//! Entities come from `learning_core/entities.toml` (their keys, kinds,
//! titles, creation times, version numbers); their contents from the tree
//! (a component's folder; a container's children from its
//! `<xblock-include>`s, in order), so edits made here travel. Each entity's
//! TOML and folder are named by its exact key, not `slugify`'d: `lp_load`
//! looks a component's files up by its key, and so finds them all (the
//! files of a key `slugify` changes are lost when `lp_dump` names folders).

use crate::olx::ExportReport;
use crate::store::{At, Error, Progress, Result, Store};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One entity as `entities.toml` lists it in one state.
#[derive(Debug, Clone)]
pub(super) struct Listed {
    pub key: String,
    pub kind: String,
    pub folder: String,
    pub can_stand_alone: bool,
    pub created: Option<toml::value::Datetime>,
    pub title: String,
    pub version_num: i64,
}

/// An entity in one state: what it lists, and its contents (a component's
/// media key → bytes; a container's children keys).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Content {
    pub title: String,
    pub files: BTreeMap<String, Media>,
    pub children: Vec<String>,
}

/// A file of a component version: a stored blob (streamed into the zip as
/// it is written, and compared between states by its hash), or bytes made
/// for the package (an html body inlined, an inline block cut out).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Media {
    Blob { hash: String, size: u64 },
    Made(Vec<u8>),
}

/// One state of the collection: path → bytes, read lazily.
struct StateFiles {
    files: BTreeMap<String, (String, u64)>,
    /// The keys this state's `entities.toml` lists.
    listed: std::collections::HashSet<String>,
}

fn listed_of(bytes: &[u8], what: &str) -> Result<Vec<Listed>> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::Invalid(format!("{what} is not UTF-8")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::Invalid(format!("{what}: {}", e.message())))?;
    let mut out = Vec::new();
    for e in table
        .get("entity")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let Some(t) = e.as_table() else { continue };
        let s = |k: &str| {
            t.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        out.push(Listed {
            key: s("key"),
            kind: s("kind"),
            folder: s("folder"),
            can_stand_alone: t
                .get("can_stand_alone")
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            created: t.get("created").and_then(|v| v.as_datetime()).cloned(),
            title: s("title"),
            version_num: t
                .get("version_num")
                .and_then(|v| v.as_integer())
                .unwrap_or(1),
        });
    }
    Ok(out)
}

/// A container's children as its XML names them, in order: an
/// `<xblock-include definition="FOLDER"/>`, or the comment import writes for
/// a child the backup did not hold (its key).
#[derive(Debug)]
enum Child {
    Folder(String),
    Key(String),
}

fn children_of(xml: &[u8]) -> Vec<Child> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().as_ref() == b"xblock-include" => {
                for a in e.attributes().flatten() {
                    if a.key.as_ref() == b"definition" {
                        if let Ok(v) = a.unescape_value() {
                            out.push(Child::Folder(v.into_owned()));
                        }
                    }
                }
            }
            Ok(Event::Comment(c)) => {
                let text = String::from_utf8_lossy(&c).into_owned();
                if let Some(key) = text.trim().strip_prefix(super::UNKNOWN_CHILD) {
                    let key = key
                        .replace("&#45;&#45;", "--")
                        .replace("&quot;", "\"")
                        .replace("&gt;", ">")
                        .replace("&lt;", "<")
                        .replace("&amp;", "&");
                    out.push(Child::Key(key));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

impl StateFiles {
    fn of(store: &Store, key: &str, at: At) -> Result<StateFiles> {
        Ok(StateFiles {
            files: store
                .files(key, at)?
                .into_iter()
                .map(|f| (f.path, (f.hash, f.size)))
                .collect(),
            listed: Default::default(),
        })
    }

    fn listed_here(&self, key: &str) -> bool {
        self.listed.contains(key)
    }

    fn read(&self, store: &Store, path: &str) -> Result<Option<Vec<u8>>> {
        match self.files.get(path) {
            Some((hash, _)) => Ok(Some(store.blobs().read(hash, true)?)),
            None => Ok(None),
        }
    }

    /// Each listed entity's content in this state.
    fn contents(
        &self,
        store: &Store,
        listed: &[Listed],
        keys_by_folder: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Content>> {
        let mut out = BTreeMap::new();
        for e in listed {
            let prefix = format!("{}/", e.folder);
            let mut content = Content {
                title: e.title.clone(),
                files: BTreeMap::new(),
                children: Vec::new(),
            };
            if e.kind == "component" {
                // A component may have no files at all (lp_dump keeps no
                // empty text, an empty block.xml included): it is still one
                // while the state's entities.toml lists it.
                if !self.listed_here(&e.key) {
                    continue;
                }
                for (path, (hash, size)) in self.files.range(prefix.clone()..) {
                    let Some(rest) = path.strip_prefix(&prefix) else {
                        break;
                    };
                    let media = if rest == "definition.xml" {
                        "block.xml"
                    } else {
                        rest
                    };
                    let blob = Media::Blob {
                        hash: hash.clone(),
                        size: *size,
                    };
                    content.files.insert(media.to_string(), blob);
                }
            } else {
                let Some(definition) = self.read(store, &format!("{prefix}definition.xml"))? else {
                    continue;
                };
                content.children = children_of(&definition)
                    .into_iter()
                    .map(|child| match child {
                        Child::Folder(folder) => {
                            keys_by_folder.get(&folder).cloned().unwrap_or(folder)
                        }
                        Child::Key(key) => key,
                    })
                    .collect();
            }
            out.insert(e.key.clone(), content);
        }
        Ok(out)
    }
}

/// A collection's states as a package: each state's entities and their
/// contents, and what goes beside them.
struct Package {
    package_toml: Vec<u8>,
    published_listed: Vec<Listed>,
    published_contents: BTreeMap<String, Content>,
    draft_listed: Vec<Listed>,
    draft_contents: BTreeMap<String, Content>,
    /// Learning Core collections of entities: file name → TOML.
    collections: Vec<(String, Vec<u8>)>,
    /// Files of the exported state no entity carries.
    left_out: u64,
}

/// Exports collection `key` as a Learning Core backup at `out` (a new
/// `.zip`): `at` (a version) as the published state with no drafts, or, by
/// default, the latest version and the working draft.
///
/// A collection that came from a backup is written from what its import
/// kept (`learning_core/`); any other (an OLX library, a course, a bundle)
/// is read as `from_olx` describes.
pub fn export_backup(
    store: &Store,
    key: &str,
    at: Option<i64>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let tmp = crate::olx::export::partial_path(out)?;
    let written = (|| -> Result<Written> {
        let file = std::fs::File::create(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let mut file = std::io::BufWriter::new(file);
        let written = write_backup(store, key, at, &mut file, progress)?;
        file.flush()
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        Ok(written)
    })();
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    #[allow(clippy::disallowed_methods)]
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("moving the export into {}", out.display()), e)
    })?;
    Ok(ExportReport {
        collection: written.collection,
        at: at.map(At::Version).unwrap_or(At::Draft),
        out: out.to_path_buf(),
        files: written.files,
        bytes: written.bytes,
        left_out: written.left_out,
    })
}

/// What [`write_backup`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The collection's slug.
    pub collection: String,
    pub files: u64,
    pub bytes: u64,
    /// Files of the exported state no entity carries (see `from_olx`).
    pub left_out: u64,
}

/// Writes collection `key` as a Learning Core backup into `w` (see
/// [`export_backup`]); the REST export writes into a temp file it then sends.
pub fn write_backup<W: Write + std::io::Seek>(
    store: &Store,
    key: &str,
    at: Option<i64>,
    w: W,
    progress: &dyn Progress,
) -> Result<Written> {
    let collection = store.collection(key)?;
    progress.phase("exporting", None);
    let latest = store.versions(key)?.first().map(|v| v.number);
    let (published_at, draft_at) = match at {
        Some(n) => (Some(At::Version(n)), At::Version(n)),
        None => (latest.map(At::Version), At::Draft),
    };
    let package = match from_backup(store, &collection, published_at, draft_at)? {
        Some(package) => package,
        None => from_olx(store, &collection, published_at, draft_at)?,
    };
    let (files, bytes, skipped) = write_zip(store, &package, w, progress)?;
    Ok(Written {
        collection: collection.slug,
        files,
        bytes,
        left_out: package.left_out + skipped,
    })
}

/// The package a collection imported from a backup is, from what its import
/// kept in `learning_core/`; `None` when it has no `entities.toml`.
fn from_backup(
    store: &Store,
    collection: &crate::store::Collection,
    published_at: Option<At>,
    draft_at: At,
) -> Result<Option<Package>> {
    let key = collection.slug.as_str();
    let mut draft = StateFiles::of(store, key, draft_at)?;
    let mut published = published_at
        .map(|a| StateFiles::of(store, key, a))
        .transpose()?;
    let listed_in = |state: &StateFiles| -> Result<Vec<Listed>> {
        match state.read(store, "learning_core/entities.toml")? {
            Some(bytes) => listed_of(&bytes, "learning_core/entities.toml"),
            None => Ok(Vec::new()),
        }
    };
    let mut draft_listed = listed_in(&draft)?;
    let mut published_listed = match &published {
        Some(p) => listed_in(p)?,
        None => Vec::new(),
    };
    if draft_listed.is_empty() && published_listed.is_empty() {
        return Ok(None);
    }
    // Blocks added here (a `TYPE/ID/definition.xml` no entity lists) travel
    // as new entities.
    let mut known = Known {
        folders: published_listed
            .iter()
            .chain(&draft_listed)
            .map(|e| e.folder.clone())
            .collect(),
        keys: published_listed
            .iter()
            .chain(&draft_listed)
            .map(|e| e.key.clone())
            .collect(),
        added: BTreeMap::new(),
    };
    if let Some(p) = &published {
        published_listed.extend(unlisted(store, p, &mut known)?);
    }
    draft_listed.extend(unlisted(store, &draft, &mut known)?);
    draft.listed = draft_listed.iter().map(|e| e.key.clone()).collect();
    if let Some(p) = &mut published {
        p.listed = published_listed.iter().map(|e| e.key.clone()).collect();
    }
    let mut keys_by_folder = BTreeMap::new();
    for e in published_listed.iter().chain(&draft_listed) {
        keys_by_folder.insert(e.folder.clone(), e.key.clone());
    }
    let draft_contents = draft.contents(store, &draft_listed, &keys_by_folder)?;
    let published_contents = match &published {
        Some(p) => p.contents(store, &published_listed, &keys_by_folder)?,
        None => BTreeMap::new(),
    };
    let package_toml = published
        .as_ref()
        .map(|p| p.read(store, "learning_core/package.toml"))
        .transpose()?
        .flatten()
        .or(draft.read(store, "learning_core/package.toml")?)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{}: learning_core/package.toml is missing; restore it (it came with the backup)",
                collection.slug
            ))
        })?;
    let mut collections = Vec::new();
    for (path, (hash, _)) in &draft.files {
        if let Some(name) = path.strip_prefix("learning_core/collections/") {
            collections.push((name.to_string(), store.blobs().read(hash, true)?));
        }
    }
    // What the entities carry: their folders (`TYPE/KEY`), and
    // learning_core/ itself.
    let folders: std::collections::HashSet<&str> =
        draft_listed.iter().map(|e| e.folder.as_str()).collect();
    let left_out = draft
        .files
        .keys()
        .filter(|p| {
            let mut parts = p.splitn(3, '/');
            let (ty, id, rest) = (parts.next(), parts.next(), parts.next());
            let folder = match (ty, id, rest) {
                (Some(ty), Some(id), Some(_)) => &p[..ty.len() + 1 + id.len()],
                _ => "",
            };
            !p.starts_with("learning_core/") && !folders.contains(folder)
        })
        .count() as u64;
    Ok(Some(Package {
        package_toml,
        published_listed,
        published_contents,
        draft_listed,
        draft_contents,
        collections,
        left_out,
    }))
}

/// The blocks of a state no entity lists (`TYPE/ID/definition.xml` added
/// after the import) as new entities: `vertical`, `sequential` and
/// `chapter` folders as units, subsections and sections keyed `ID`, any
/// other as the component `xblock.v1:TYPE:ID` (the folder names decoded as
/// `mod.rs` encodes keys), titled by their `display_name`.
/// What [`unlisted`] checks new entities against: the listed entities'
/// folders and keys, and the keys it gave added folders (the same in both
/// states).
struct Known {
    folders: std::collections::HashSet<String>,
    keys: std::collections::HashSet<String>,
    added: BTreeMap<String, String>,
}

fn unlisted(store: &Store, state: &StateFiles, known: &mut Known) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for path in state.files.keys() {
        let Some(folder) = path.strip_suffix("/definition.xml") else {
            continue;
        };
        let mut parts = folder.split('/');
        let (Some(ty), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if known.folders.contains(folder) || matches!(ty, "learning_core" | "drafts" | "static") {
            continue;
        }
        let (kind, base) = match ty {
            "vertical" => ("unit", super::key_of_folder(id)),
            "sequential" => ("subsection", super::key_of_folder(id)),
            "chapter" => ("section", super::key_of_folder(id)),
            _ => (
                "component",
                format!(
                    "xblock.v1:{}:{}",
                    super::key_of_folder(ty),
                    super::key_of_folder(id)
                ),
            ),
        };
        let title = state
            .read(store, path)?
            .and_then(|bytes| crate::store::links::course::root_attrs(&bytes))
            .and_then(|attrs| {
                attrs
                    .into_iter()
                    .find(|(k, v)| k == "display_name" && !v.trim().is_empty())
                    .map(|(_, v)| v)
            })
            .unwrap_or_else(|| super::key_of_folder(id));
        // A key no other entity has: the same for this folder in both states.
        let key = match known.added.get(folder) {
            Some(key) => key.clone(),
            None => {
                let mut key = base.clone();
                let mut n = 1;
                while known.keys.contains(&key) {
                    n += 1;
                    key = format!("{base}-{n}");
                }
                known.keys.insert(key.clone());
                known.added.insert(folder.to_string(), key.clone());
                key
            }
        };
        out.push(Listed {
            key,
            kind: kind.to_string(),
            folder: folder.to_string(),
            can_stand_alone: true,
            created: crate::store::now().parse().ok(),
            title,
            version_num: 1,
        });
    }
    Ok(out)
}

/// The package any other collection is (see `from_olx`): the library (or
/// course) its root file names, else one named after the collection.
fn from_olx(
    store: &Store,
    collection: &crate::store::Collection,
    published_at: Option<At>,
    draft_at: At,
) -> Result<Package> {
    let draft = super::from_olx::state(store, collection, draft_at)?;
    let published = published_at
        .map(|a| super::from_olx::state(store, collection, a))
        .transpose()?;
    let (key, root_title) = published
        .as_ref()
        .and_then(|p| p.identity.clone())
        .or(draft.identity.clone())
        .unwrap_or_else(|| (format!("lib:blockstore:{}", collection.slug), None));
    let title = root_title
        .or(Some(collection.title.clone()))
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| collection.slug.clone());
    let time = |text: &str| text.parse::<toml::value::Datetime>().ok();
    let updated = store
        .versions(&collection.slug)?
        .first()
        .map(|v| v.created_at.clone())
        .unwrap_or_else(|| collection.updated_at.clone());
    let mut package = toml::Table::new();
    let mut meta = toml::Table::new();
    meta.insert("format_version".into(), 1.into());
    if let Some(now) = time(&crate::store::now()) {
        meta.insert("created_at".into(), toml::Value::Datetime(now));
    }
    meta.insert("origin_server".into(), "blockstore".into());
    package.insert("meta".into(), toml::Value::Table(meta));
    let mut lp = toml::Table::new();
    lp.insert("title".into(), title.into());
    lp.insert("key".into(), key.into());
    lp.insert("description".into(), collection.description.clone().into());
    for (name, text) in [("created", &collection.created_at), ("updated", &updated)] {
        if let Some(t) = time(text) {
            lp.insert(name.into(), toml::Value::Datetime(t));
        }
    }
    package.insert("learning_package".into(), toml::Value::Table(lp));
    let package_toml = toml::to_string(&package)
        .map_err(|e| Error::Invalid(format!("writing package.toml: {e}")))?
        .into_bytes();
    let left_out = (draft.paths - draft.used.len().min(draft.paths)) as u64;
    let (published_listed, published_contents) = match published {
        Some(p) => (p.listed, p.contents),
        None => (Vec::new(), BTreeMap::new()),
    };
    Ok(Package {
        package_toml,
        published_listed,
        published_contents,
        draft_listed: draft.listed,
        draft_contents: draft.contents,
        collections: Vec::new(),
        left_out,
    })
}

/// Writes `package` as the zip `lp_load` reads.
fn write_zip<W: Write + std::io::Seek>(
    store: &Store,
    package: &Package,
    w: W,
    progress: &dyn Progress,
) -> Result<(u64, u64, u64)> {
    let Package {
        package_toml,
        published_listed,
        published_contents,
        draft_listed,
        draft_contents,
        collections,
        ..
    } = package;
    let mut entities: BTreeMap<String, Listed> = BTreeMap::new();
    for e in published_listed.iter().chain(draft_listed) {
        entities.entry(e.key.clone()).or_insert_with(|| e.clone());
    }
    let (published_numbers, draft_numbers) = (numbers(published_listed), numbers(draft_listed));
    let mut zip = zip::ZipWriter::new(w);
    // Text is deflated; media that is compressed already (images, video,
    // fonts, PDFs: most of a library's bytes) is stored, as recompressing it
    // costs time for nothing (lp_dump stores all).
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = options
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let options_for = |path: &str| {
        let text = mime_guess::from_path(path)
            .first()
            .map(|m| {
                m.type_() == mime_guess::mime::TEXT
                    || matches!(m.subtype().as_str(), "xml" | "json" | "javascript" | "toml")
                    || m.suffix().is_some_and(|s| s == "xml")
            })
            .unwrap_or(true);
        if text {
            deflated
        } else {
            options
        }
    };
    let (mut files, mut bytes, mut skipped) = (0u64, 0u64, 0u64);
    // One entry from `data`; `size`, when given, is what it must hold (a
    // blob of another length is a damaged store: fail, not write it wrong).
    let mut put = |zip: &mut zip::ZipWriter<W>,
                   path: &str,
                   data: &mut dyn std::io::Read,
                   size: Option<u64>|
     -> Result<()> {
        zip.start_file(path, options_for(path))
            .map_err(|e| Error::Invalid(format!("writing {path} into the zip: {e}")))?;
        let copied = std::io::copy(data, zip).map_err(|e| Error::io("writing the backup", e))?;
        if size.is_some_and(|size| size != copied) {
            return Err(Error::Invalid(format!(
                "{path}: its stored content holds {copied} bytes, not the {} recorded (run `blockstore fsck`)",
                size.unwrap_or_default()
            )));
        }
        files += 1;
        bytes += copied;
        Ok(())
    };
    put(&mut zip, "package.toml", &mut package_toml.as_slice(), None)?;
    for (key, e) in &entities {
        let pub_content = published_contents.get(key);
        let draft_content = draft_contents.get(key);
        let pub_num = published_numbers
            .get(key.as_str())
            .copied()
            .filter(|_| pub_content.is_some());
        let draft_num = match (pub_num, draft_content) {
            (_, None) => None,
            (Some(p), Some(d)) if Some(d) == pub_content => Some(p),
            (Some(p), Some(_)) => Some(
                draft_numbers
                    .get(key.as_str())
                    .copied()
                    .filter(|n| *n > p)
                    .unwrap_or(p + 1),
            ),
            (None, Some(_)) => Some(draft_numbers.get(key.as_str()).copied().unwrap_or(1)),
        };
        let mut versions: Vec<(i64, &Content)> = Vec::new();
        if let (Some(n), Some(c)) = (draft_num, draft_content) {
            versions.push((n, c));
        }
        if let (Some(n), Some(c)) = (pub_num, pub_content) {
            if Some(n) != draft_num {
                versions.push((n, c));
            }
        }
        if versions.is_empty() {
            continue;
        }
        let toml_text = entity_toml(e, draft_num, pub_num, &versions)?;
        // Entities are files named by their keys, as lp_load reads them; a
        // key part no file can be named by (`/`, `..`) is percent-encoded as
        // the tree's folders are, so no entry leaves its folder (lp_load
        // then loads the entity without its files, as it does lp_dump's own
        // renamed folders; our import finds them by the folder).
        if e.kind == "component" {
            let parts: Vec<&str> = key.splitn(3, ':').collect();
            let [ns, ty, local] = parts[..] else {
                return Err(Error::Invalid(format!(
                    "the component {key:?} has no NAMESPACE:TYPE:LOCAL key, which lp_load \
                     requires; nothing was written"
                )));
            };
            let (ns, ty, local) = (entry_name(ns), entry_name(ty), entry_name(local));
            let base = format!("entities/{ns}/{ty}/{local}");
            put(
                &mut zip,
                &format!("{base}.toml"),
                &mut toml_text.as_bytes(),
                None,
            )?;
            for (n, c) in &versions {
                // The folder, even empty: a version without files is one.
                let folder = format!("{base}/component_versions/v{n}");
                zip.add_directory(&folder, options)
                    .map_err(|e| Error::Invalid(format!("writing {folder} into the zip: {e}")))?;
                for (media, data) in &c.files {
                    // lp_load reads any `entities/**.toml` as an entity
                    // (and then fails the whole load): such a file is left
                    // out, and counted.
                    if media.to_ascii_lowercase().ends_with(".toml")
                        || !media.split('/').all(segment_ok)
                    {
                        skipped += 1;
                        continue;
                    }
                    let path = format!("{base}/component_versions/v{n}/{media}");
                    match data {
                        Media::Made(made) => put(&mut zip, &path, &mut made.as_slice(), None)?,
                        Media::Blob { hash, size } => put(
                            &mut zip,
                            &path,
                            &mut store.blobs().open_blob(hash)?,
                            Some(*size),
                        )?,
                    }
                }
            }
        } else {
            put(
                &mut zip,
                &format!("entities/{}.toml", entry_name(key)),
                &mut toml_text.as_bytes(),
                None,
            )?;
        }
        progress.advance(1);
    }
    for (file, data) in collections {
        put(
            &mut zip,
            &format!("collections/{file}"),
            &mut data.as_slice(),
            None,
        )?;
    }
    zip.finish()
        .map_err(|e| Error::Invalid(format!("finishing the zip: {e}")))?;
    Ok((files, bytes, skipped))
}

/// Each listed entity's version number, by key.
fn numbers(listed: &[Listed]) -> std::collections::HashMap<&str, i64> {
    listed
        .iter()
        .map(|l| (l.key.as_str(), l.version_num))
        .collect()
}

/// A key (part) as one segment of an entry name: as it is, so `lp_load`
/// finds its files, unless no file can be named so (then percent-encoded as
/// the tree's folders are).
fn entry_name(part: &str) -> std::borrow::Cow<'_, str> {
    if segment_ok(part) {
        std::borrow::Cow::Borrowed(part)
    } else {
        std::borrow::Cow::Owned(super::folder_name(part))
    }
}

/// Whether `part` can be one segment of an entry name in the zip.
fn segment_ok(part: &str) -> bool {
    !part.is_empty() && part != "." && part != ".." && !part.contains(['/', '\\', '\0'])
}

/// An entity's TOML as `lp_dump` writes it (keys as `toml.py` names them).
fn entity_toml(
    e: &Listed,
    draft: Option<i64>,
    published: Option<i64>,
    versions: &[(i64, &Content)],
) -> Result<String> {
    let mut entity = toml::Table::new();
    entity.insert("can_stand_alone".into(), e.can_stand_alone.into());
    entity.insert("key".into(), e.key.clone().into());
    if let Some(created) = &e.created {
        entity.insert("created".into(), toml::Value::Datetime(*created));
    }
    if let Some(n) = draft {
        entity.insert(
            "draft".into(),
            toml::Value::Table(toml::Table::from_iter([(
                "version_num".to_string(),
                n.into(),
            )])),
        );
    }
    let mut published_table = toml::Table::new();
    if let Some(n) = published {
        published_table.insert("version_num".into(), n.into());
    }
    entity.insert("published".into(), toml::Value::Table(published_table));
    if e.kind != "component" {
        entity.insert(
            "container".into(),
            toml::Value::Table(toml::Table::from_iter([(
                e.kind.clone(),
                toml::Value::Table(toml::Table::new()),
            )])),
        );
    }
    let mut doc = toml::Table::new();
    doc.insert("entity".into(), toml::Value::Table(entity));
    let list: Vec<toml::Value> = versions
        .iter()
        .map(|(n, c)| {
            let mut v = toml::Table::new();
            let title = if c.title.is_empty() {
                e.key.clone()
            } else {
                c.title.clone()
            };
            v.insert("title".into(), title.into());
            v.insert("version_num".into(), (*n).into());
            if e.kind != "component" {
                v.insert(
                    "container".into(),
                    toml::Value::Table(toml::Table::from_iter([(
                        "children".to_string(),
                        toml::Value::Array(c.children.iter().map(|k| k.clone().into()).collect()),
                    )])),
                );
            }
            toml::Value::Table(v)
        })
        .collect();
    doc.insert("version".into(), toml::Value::Array(list));
    toml::to_string(&doc).map_err(|e| Error::Invalid(format!("writing an entity's TOML: {e}")))
}
