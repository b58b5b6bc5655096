//! Reading a Learning Core backup zip into a [`Backup`]: every entry checked
//! first (the archive rules `.tar.gz` import has: no traversal, links,
//! duplicates, bombs), then the TOML read as `openedx-core`'s `lp_load`
//! reads it, with each entity's files found by the folder the zip holds
//! beside its TOML (not by re-deriving a name from its key, which loses
//! the files of any key `slugify` changes).

use crate::olx::ArchiveLimits;
use crate::store::{Error, Result};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek};
use std::sync::Arc;

/// A whole backup, as read.
#[derive(Debug, Default)]
pub(crate) struct Backup {
    /// `package.toml`, verbatim, and the parts we use.
    pub package_toml: Vec<u8>,
    pub package_key: String,
    pub title: String,
    pub description: String,
    pub entities: Vec<Entity>,
    /// `collections/*.toml`: (file name, bytes), verbatim.
    pub collections: Vec<(String, Vec<u8>)>,
}

/// What kind of publishable entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Component,
    Unit,
    Subsection,
    Section,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::Unit => "unit",
            Kind::Subsection => "subsection",
            Kind::Section => "section",
        }
    }
}

/// One publishable entity.
#[derive(Debug)]
pub(crate) struct Entity {
    pub key: String,
    pub kind: Kind,
    pub can_stand_alone: bool,
    /// `created`, as the TOML wrote it.
    pub created: Option<toml::value::Datetime>,
    pub draft: Option<Version>,
    pub published: Option<Version>,
    /// The TOML file it came from, for messages.
    pub source: String,
}

/// One version of an entity: its title, number, and either its files
/// (components: media key → bytes) or its children (containers: keys).
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub number: i64,
    pub title: String,
    /// Shared with the zip's entry (and the other state's version): a
    /// backup's bytes are held once however many states name them.
    pub files: BTreeMap<String, Arc<Vec<u8>>>,
    pub children: Vec<String>,
}

fn bad(zip_name: &str, what: impl std::fmt::Display) -> Error {
    Error::Invalid(format!(
        "{zip_name}: {what}; the backup was refused and nothing was imported"
    ))
}

/// Reads and checks the backup at `reader`.
pub(crate) fn read<R: Read + Seek>(
    reader: R,
    zip_name: &str,
    limits: ArchiveLimits,
) -> Result<Backup> {
    let mut reader = reader;
    let declared = declared_entries(&mut reader);
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| bad(zip_name, format!("not a readable zip archive ({e})")))?;
    // The zip reader keeps one entry per name: an archive naming one twice
    // (the later silently shadowing the earlier) shows as fewer names than
    // its central directory declares.
    if let Some(declared) = declared {
        if declared != zip.len() as u64 {
            return Err(bad(
                zip_name,
                format!(
                    "an entry appears twice (the archive declares {declared} entries, {} distinct names)",
                    zip.len()
                ),
            ));
        }
    }
    if zip.len() as u64 > limits.max_entries {
        return Err(bad(
            zip_name,
            format!(
                "it has {} entries, more than the limit of {} ({})",
                zip.len(),
                limits.max_entries,
                limits.options_hint("max-entries")
            ),
        ));
    }
    // Every entry's bytes, by its name; folders only checked.
    let mut files: BTreeMap<String, Arc<Vec<u8>>> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut folders: HashSet<String> = HashSet::new();
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| bad(zip_name, format!("entry {i} cannot be read ({e})")))?;
        let raw = entry
            .name()
            .map_err(|e| {
                bad(
                    zip_name,
                    format!("entry {i} has a name that is not UTF-8 ({e})"),
                )
            })?
            .to_string();
        let name = raw.trim_end_matches('/').to_string();
        let safe = entry.enclosed_name().is_some()
            && !raw.starts_with('/')
            && !raw.contains('\\')
            && !name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..");
        if !safe {
            return Err(bad(
                zip_name,
                format!("entry {raw:?} is not a relative path inside the archive"),
            ));
        }
        if entry.is_symlink() {
            return Err(bad(
                zip_name,
                format!("entry {raw:?} is a symbolic link; a backup holds only files"),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(bad(zip_name, format!("entry {raw:?} appears twice")));
        }
        if entry.is_dir() {
            folders.insert(name);
            continue;
        }
        let room = limits.max_bytes.saturating_sub(total);
        let mut bytes = Vec::with_capacity(entry.size().min(room).min(64 << 20) as usize);
        (&mut entry)
            .take(room + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(zip_name, format!("entry {raw:?} cannot be read ({e})")))?;
        total += bytes.len() as u64;
        if total > limits.max_bytes {
            return Err(bad(
                zip_name,
                format!(
                    "it expands to more than {} bytes, the limit ({}); a zip bomb stops here",
                    limits.max_bytes,
                    limits.options_hint("max-bytes")
                ),
            ));
        }
        let compressed = entry.compressed_size();
        if limits.max_ratio > 0
            && total > crate::olx::archive::RATIO_GRACE_BYTES
            && bytes.len() as u64 > compressed.max(1).saturating_mul(limits.max_ratio)
        {
            return Err(bad(
                zip_name,
                format!(
                    "entry {raw:?} expands more than {} times its compressed size ({})",
                    limits.max_ratio,
                    limits.options_hint("max-ratio")
                ),
            ));
        }
        files.insert(name, Arc::new(bytes));
    }
    parse(files, &folders, zip_name)
}

/// The number of entries a zip's end of central directory record declares
/// (its ZIP64 record's when the classic one says 0xFFFF); None when the
/// record cannot be found (the zip reader then refuses the archive).
fn declared_entries<R: Read + Seek>(reader: &mut R) -> Option<u64> {
    use std::io::SeekFrom;
    let len = reader.seek(SeekFrom::End(0)).ok()?;
    let tail_len = len.min(22 + 65_535);
    reader.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail).ok()?;
    reader.seek(SeekFrom::Start(0)).ok()?;
    let at = (0..tail.len().checked_sub(21)?)
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))?;
    let count = u16::from_le_bytes([tail[at + 10], tail[at + 11]]);
    if count != u16::MAX {
        return Some(u64::from(count));
    }
    // ZIP64: the locator sits right before the classic record.
    let locator = at.checked_sub(20)?;
    if !tail[locator..].starts_with(b"PK\x06\x07") {
        return None;
    }
    let offset = u64::from_le_bytes(tail[locator + 8..locator + 16].try_into().ok()?);
    let mut record = [0u8; 40];
    reader.seek(SeekFrom::Start(offset)).ok()?;
    reader.read_exact(&mut record).ok()?;
    reader.seek(SeekFrom::Start(0)).ok()?;
    if !record.starts_with(b"PK\x06\x06") {
        return None;
    }
    Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
}

fn toml_of(zip_name: &str, name: &str, bytes: &[u8]) -> Result<toml::Table> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| bad(zip_name, format!("{name} is not UTF-8 text")))?;
    text.parse::<toml::Table>().map_err(|e| {
        bad(
            zip_name,
            format!("{name} is not valid TOML: {}", e.message()),
        )
    })
}

fn string(table: &toml::Table, key: &str) -> Option<String> {
    table.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// The TOML and files of a backup, as `lp_load` reads them.
fn parse(
    mut files: BTreeMap<String, Arc<Vec<u8>>>,
    folders: &HashSet<String>,
    zip_name: &str,
) -> Result<Backup> {
    let package_toml = files.remove("package.toml").ok_or_else(|| {
        bad(
            zip_name,
            "it has no package.toml (is it a Learning Core backup?)",
        )
    })?;
    let package = toml_of(zip_name, "package.toml", &package_toml)?;
    let lp = package
        .get("learning_package")
        .and_then(|v| v.as_table())
        .ok_or_else(|| bad(zip_name, "package.toml has no [learning_package] table"))?;
    let meta = package.get("meta").and_then(|v| v.as_table());
    if meta.and_then(|m| m.get("format_version")).is_none() {
        return Err(bad(
            zip_name,
            "package.toml has no [meta] format_version (lp_load requires it)",
        ));
    }
    let package_key = string(lp, "key")
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad(zip_name, "package.toml's [learning_package] has no key"))?;
    let mut backup = Backup {
        title: string(lp, "title").unwrap_or_default(),
        description: string(lp, "description").unwrap_or_default(),
        package_key,
        package_toml: package_toml.to_vec(),
        ..Backup::default()
    };
    let names: Vec<String> = files.keys().cloned().collect();
    for name in &names {
        if let Some(rest) = name.strip_prefix("collections/") {
            if rest.ends_with(".toml") && !rest.contains('/') {
                let bytes = files[name].clone();
                toml_of(zip_name, name, &bytes)?
                    .get("collection")
                    .and_then(|c| c.as_table())
                    .ok_or_else(|| bad(zip_name, format!("{name} has no [collection] table")))?;
                backup.collections.push((rest.to_string(), bytes.to_vec()));
            }
            continue;
        }
        let Some(rest) = name.strip_prefix("entities/") else {
            continue;
        };
        let Some(stem) = rest.strip_suffix(".toml") else {
            continue;
        };
        let depth = stem.matches('/').count();
        // A container's TOML sits right under entities/; a component's at
        // entities/NAMESPACE/TYPE/NAME.toml, its files in the folder NAME/
        // beside it. Any other .toml is a component's file.
        if depth != 0 && depth != 2 {
            continue;
        }
        let table = toml_of(zip_name, name, &files[name])?;
        backup.entities.push(entity(
            zip_name, name, stem, depth, &table, &files, folders,
        )?);
    }
    let keys: HashSet<&str> = backup.entities.iter().map(|e| e.key.as_str()).collect();
    if keys.len() != backup.entities.len() {
        return Err(bad(zip_name, "two entity TOML files name the same key"));
    }
    for (file, bytes) in &backup.collections {
        let table = toml_of(zip_name, file, bytes)?;
        let members = table["collection"]
            .get("entities")
            .and_then(|e| e.as_array())
            .cloned()
            .unwrap_or_default();
        for member in members {
            let member = member.as_str().unwrap_or_default();
            if !keys.contains(member) {
                return Err(bad(
                    zip_name,
                    format!("collections/{file} names entity {member:?}, which the backup does not hold"),
                ));
            }
        }
    }
    backup.entities.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(backup)
}

fn entity(
    zip_name: &str,
    name: &str,
    stem: &str,
    depth: usize,
    table: &toml::Table,
    files: &BTreeMap<String, Arc<Vec<u8>>>,
    folders: &HashSet<String>,
) -> Result<Entity> {
    let e = table
        .get("entity")
        .and_then(|v| v.as_table())
        .ok_or_else(|| bad(zip_name, format!("{name} has no [entity] table")))?;
    let key = string(e, "key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad(zip_name, format!("{name}: [entity] has no key")))?;
    let kind = if depth == 2 {
        Kind::Component
    } else {
        let container = e
            .get("container")
            .and_then(|c| c.as_table())
            .ok_or_else(|| {
                bad(
                    zip_name,
                    format!("{name}: a container's [entity] has no [entity.container] table"),
                )
            })?;
        match container.keys().next().map(String::as_str) {
            Some("unit") => Kind::Unit,
            Some("subsection") => Kind::Subsection,
            Some("section") => Kind::Section,
            other => {
                return Err(bad(
                    zip_name,
                    format!(
                        "{name}: unknown container type {other:?} (unit, subsection or section)"
                    ),
                ))
            }
        }
    };
    let number = |t: &str| -> Option<i64> {
        e.get(t)
            .and_then(|v| v.as_table())
            .and_then(|t| t.get("version_num"))
            .and_then(|n| n.as_integer())
    };
    let versions: Vec<&toml::Table> = table
        .get("version")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_table()).collect())
        .unwrap_or_default();
    let version = |n: i64| -> Result<Version> {
        let v = versions
            .iter()
            .find(|v| v.get("version_num").and_then(|n| n.as_integer()) == Some(n))
            .ok_or_else(|| {
                bad(
                    zip_name,
                    format!(
                        "{name} names version {n} but has no [[version]] with version_num = {n}"
                    ),
                )
            })?;
        let title = string(v, "title").unwrap_or_default();
        let mut out = Version {
            number: n,
            title,
            files: BTreeMap::new(),
            children: Vec::new(),
        };
        if kind == Kind::Component {
            // The files are in the folder beside the TOML, whatever its name.
            let prefix = format!("entities/{stem}/component_versions/v{n}/");
            for (path, bytes) in files.range(prefix.clone()..) {
                let Some(media) = path.strip_prefix(&prefix) else {
                    break;
                };
                out.files.insert(media.to_string(), Arc::clone(bytes));
            }
            // lp_dump writes no empty text file (an empty block.xml
            // included), so a version may hold no files; but its folder is
            // there. One the zip lacks altogether is refused.
            if out.files.is_empty() && !folders.contains(prefix.trim_end_matches('/')) {
                return Err(bad(
                    zip_name,
                    format!("{name} names version {n}, but the zip has no {prefix} folder"),
                ));
            }
        } else {
            out.children = v
                .get("container")
                .and_then(|c| c.as_table())
                .and_then(|c| c.get("children"))
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
        }
        Ok(out)
    };
    let draft = number("draft").map(version).transpose()?;
    let published = number("published").map(version).transpose()?;
    Ok(Entity {
        key,
        kind,
        can_stand_alone: e
            .get("can_stand_alone")
            .and_then(|v| v.as_bool())
            .unwrap_or(true),
        created: e.get("created").and_then(|v| v.as_datetime()).cloned(),
        draft,
        published,
        source: name.to_string(),
    })
}
