//! The model's public types: what the store hands to every outer layer.
//!
//! These are plain data with `serde` derives; the JSON the CLI prints (and later
//! the REST API) is these types, so one name per concept holds across layers.

use super::links::{LinkKind, ParseProblem, Resolution, Syntax, Target};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A group of content with common metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Collection {
    pub uuid: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub owner: String,
    pub author: String,
    pub license: String,
    pub created_at: String,
    pub updated_at: String,
    /// The uuid of the group the collection is in (Blockstore v1's
    /// "collection" of bundles), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its Blockstore v1 slug, when that is not `slug` (v1 slugs may be
    /// Unicode and need not be unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1_slug: Option<String>,
}

/// The metadata fields a caller may set on a collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CollectionMetadata {
    pub title: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub author: Option<String>,
    pub license: Option<String>,
}

/// A collection with counts of its draft state, for listings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionSummary {
    #[serde(flatten)]
    pub collection: Collection,
    pub units: u64,
    pub assets: u64,
    pub latest_version: Option<i64>,
    pub latest_published_at: Option<String>,
    /// Linkables with a pending draft change (write, delete or rename).
    pub draft_changes: u64,
}

/// Unit or asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkableKind {
    Unit,
    Asset,
}

impl LinkableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkableKind::Unit => "unit",
            LinkableKind::Asset => "asset",
        }
    }
    pub(crate) fn from_sql(s: &str) -> LinkableKind {
        if s == "unit" {
            LinkableKind::Unit
        } else {
            LinkableKind::Asset
        }
    }
}

/// Which collection state to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum At {
    /// The working state: published files overlaid with drafts.
    Draft,
    /// The latest published collection version (the draft if nothing is published).
    Latest,
    /// A collection version by number.
    Version(i64),
}

impl FromStr for At {
    type Err = String;
    fn from_str(s: &str) -> Result<At, String> {
        match s {
            "draft" => Ok(At::Draft),
            "latest" => Ok(At::Latest),
            n => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .map(At::Version)
                .ok_or_else(|| {
                    format!("{s:?} is not a version: use a number >= 1, 'latest' or 'draft'")
                }),
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Draft => f.write_str("draft"),
            At::Latest => f.write_str("latest"),
            At::Version(n) => write!(f, "version {n}"),
        }
    }
}

/// A live file of a collection state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FileEntry {
    /// The linkable's uuid, kept across versions and renames.
    pub uuid: String,
    pub path: String,
    pub kind: LinkableKind,
    pub hash: String,
    pub size: u64,
    pub media_type: String,
    /// The linkable's version number; `None` for a draft.
    pub version: Option<i64>,
    pub created_at: String,
    pub garbage_collect: bool,
}

/// A live file as far as its bytes go: what reading a whole state needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub path: String,
    pub hash: String,
    pub size: u64,
}

/// Where a write came from, kept on each draft revision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[default]
    Cli,
    Api,
    Sync,
    Gc,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Api => "api",
            Source::Sync => "sync",
            Source::Gc => "gc",
        }
    }
}

/// What a single draft write did.
/// A condition on a path's draft, checked inside the write's transaction, so
/// two writers racing on one file cannot silently overwrite each other (HTTP
/// `If-Match` / `If-None-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The path's draft holds exactly this content hash.
    Hash(String),
    /// The path's draft holds one of these hashes (`If-Match: "a", "b"`).
    AnyOf(Vec<String>),
    /// The path exists in the draft (`If-Match: *`).
    Exists,
    /// The path does not exist in the draft (`If-None-Match: *`).
    Absent,
    /// The path's draft holds none of these hashes (`If-None-Match: "a", "b"`);
    /// a missing file passes.
    NoneOf(Vec<String>),
}

impl Precondition {
    /// Whether the draft content `current` (None: no such live file) passes.
    pub fn holds(&self, current: Option<&str>) -> bool {
        match self {
            Precondition::Hash(hash) => current == Some(hash.as_str()),
            Precondition::AnyOf(hashes) => current.is_some_and(|c| hashes.iter().any(|h| h == c)),
            Precondition::Exists => current.is_some(),
            Precondition::Absent => current.is_none(),
            Precondition::NoneOf(hashes) => !current.is_some_and(|c| hashes.iter().any(|h| h == c)),
        }
    }

    /// What was expected, for messages: the hash, or "an existing file" / "no file".
    pub fn describe(&self) -> String {
        match self {
            Precondition::Hash(hash) => hash.clone(),
            Precondition::AnyOf(hashes) => format!("one of {}", hashes.join(", ")),
            Precondition::Exists => "an existing file".into(),
            Precondition::Absent => "no file".into(),
            Precondition::NoneOf(hashes) => format!("none of {}", hashes.join(", ")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteOutcome {
    Created,
    Modified,
    Renamed,
    Deleted,
    /// The bytes equal the current draft state: nothing was recorded.
    Unchanged,
}

/// What one file's write did, and the file as that very write left it (read
/// in its transaction: another writer's later change is not in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Written {
    pub outcome: WriteOutcome,
    pub file: FileEntry,
}

/// One entry of a linkable's history: a numbered version, or the draft.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    /// This version's own uuid (`GET /api/v1/versions/{uuid}`).
    pub uuid: String,
    /// `None` for the draft.
    pub number: Option<i64>,
    pub path: String,
    /// `None` for a deletion (tombstone).
    pub hash: Option<String>,
    pub size: u64,
    pub created_at: String,
    /// The collection version this version was published in.
    pub published_in: Option<i64>,
    pub garbage_collect: bool,
    pub problems: Vec<ParseProblem>,
}

/// A save to a draft since it was created.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DraftRevision {
    /// Its number in the store (`…/revisions/{id}`): later saves have larger ids.
    pub id: i64,
    pub path: String,
    pub hash: Option<String>,
    pub size: u64,
    pub source: String,
    pub created_at: String,
}

/// Everything known about one path's linkable.
/// One version found by its uuid, with what it is a version of.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionDetail {
    /// The unit's or asset's uuid.
    pub linkable: String,
    pub kind: LinkableKind,
    /// The slug of the collection it belongs to.
    pub collection: String,
    #[serde(flatten)]
    pub version: VersionInfo,
}

/// A unit or asset found by uuid.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Linkable {
    pub uuid: String,
    pub kind: LinkableKind,
    /// The slug of the collection it belongs to.
    pub collection: String,
    /// Its file in the draft; None when deleted there.
    pub draft: Option<FileEntry>,
    /// Its file in the latest collection version; None when not in it.
    pub latest: Option<FileEntry>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct History {
    pub uuid: String,
    pub kind: LinkableKind,
    pub versions: Vec<VersionInfo>,
    pub revisions: Vec<DraftRevision>,
}

/// A publish log entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionVersion {
    pub number: i64,
    pub message: String,
    pub created_at: String,
    pub changes: u64,
    /// Set when GC dropped versions this collection version needed; it can no
    /// longer be browsed whole.
    pub pruned_at: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Set when the version was committed from a named draft: `draft`,
    /// `draft_uuid`, `base` (the version it was staged over) and `latest`
    /// (the latest version before it; newer than `base` when the commit
    /// overwrote newer versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub committed_from: Option<serde_json::Value>,
}

/// How a path differs between two collection states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
}

impl ChangeStatus {
    pub fn letter(self) -> char {
        match self {
            ChangeStatus::Added => 'A',
            ChangeStatus::Modified => 'M',
            ChangeStatus::Deleted => 'D',
            ChangeStatus::Renamed => 'R',
        }
    }
}

/// One changed linkable between two collection states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub status: ChangeStatus,
    pub uuid: String,
    pub kind: LinkableKind,
    /// The path in the newer state (the old path for a deletion).
    pub path: String,
    /// The path in the older state, when it differs (renames).
    pub old_path: Option<String>,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
    /// True when a renamed file's content changed too.
    pub content_changed: bool,
    /// The block's `display_name` (the newer content's; a deleted file's
    /// last), an html body showing its pointer's, as in file listings.
    pub display_name: Option<String>,
    /// Lines added and removed, for a text file, when asked for
    /// ([`Store::line_stats`]); None otherwise.
    pub lines: Option<LineStats>,
}

/// How many lines a change adds and removes (an added file: all its lines
/// added; a deleted one: all removed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineStats {
    pub added: u64,
    pub removed: u64,
}

/// What a rename did, and the references it broke: links that named the old
/// path and no longer resolve (an author fixes them, or renames back).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RenameReport {
    pub collection: String,
    pub from: String,
    pub to: String,
    pub outcome: WriteOutcome,
    pub broken: Vec<LinkInfo>,
}

/// A collection version with what changed in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionVersionDetail {
    #[serde(flatten)]
    pub version: CollectionVersion,
    pub entries: Vec<Change>,
    /// The version's dependencies on other collections' versions, by name
    /// (left out when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<super::dependencies::Dependency>,
}

/// The difference between two collection states.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Diff {
    pub from: At,
    pub to: At,
    pub entries: Vec<Change>,
}

/// A link with where it comes from and what it resolves to in a state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkInfo {
    pub uuid: String,
    pub kind: LinkKind,
    pub source_path: String,
    pub source_uuid: String,
    pub source_version: Option<i64>,
    /// Whether the source file is one edx-platform loads (reached from
    /// `course.xml`/`library.xml`, the course-level folders, the policy or a
    /// draft root). A broken link in a file it never loads cannot break the
    /// course.
    pub loaded: bool,
    pub written: String,
    pub line: u32,
    pub target: Target,
    pub resolution: Resolution,
}

/// A unit whose XML does not parse, with where.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Malformed {
    pub path: String,
    pub syntax: Syntax,
    pub problems: Vec<ParseProblem>,
}

/// The link report of a state, read as edx-platform reads an OLX export
/// (`../shared/OLX-RULES.md`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkReport {
    pub at: At,
    /// Links in the state's files.
    pub links: u64,
    /// Broken links in files edx-platform loads: these break the course.
    pub broken_loaded: u64,
    /// Broken links in files edx-platform never loads (old copies, unused
    /// files): they cannot break the course.
    pub broken_unloaded: u64,
    /// Every broken link (`loaded` says which of the two), those in loaded
    /// files first.
    pub broken: Vec<LinkInfo>,
    /// Links that several files answer (edx-platform takes one of them).
    pub ambiguous: Vec<LinkInfo>,
    /// Links outside the course (absolute URLs, another course's assets):
    /// never broken, listed so an author can review them.
    pub external: Vec<LinkInfo>,
    /// Links to edx-platform's own static files (Studio's placeholder
    /// images): neither broken nor the course's files.
    pub platform: Vec<LinkInfo>,
    /// Files the course never uses: edx-platform does not load them (nothing
    /// loaded points at them, and they are not course-level files), and no
    /// loaded file names them as an asset.
    pub orphans: Vec<String>,
    /// Files no file of the state links to at all, loaded or not (the roots
    /// among them). An asset here is what `gc` deletes when its
    /// `garbage_collect` flag is set; an asset any file names is never
    /// deleted.
    pub unlinked: Vec<String>,
    pub malformed: Vec<Malformed>,
}

/// What a publish did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublishReport {
    pub collection: String,
    pub number: i64,
    pub message: String,
    pub created_at: String,
    pub changes: Vec<Change>,
    /// Units published although their XML does not parse (warnings).
    pub malformed: Vec<Malformed>,
}

/// What a revert discarded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevertReport {
    pub collection: String,
    pub discarded: Vec<String>,
}
