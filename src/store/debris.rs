//! Leftovers of killed dumps and restores: found, reported by `fsck`, removed
//! by `gc` and by the next dump or restore — never a running one's.
//!
//! What a killed run leaves:
//!
//! - a dump: its archive so far, `.NAME.partial-PID-TAG`, and its index
//!   snapshot, `.NAME.index-PID-TAG`, beside the output `NAME` (any folder);
//! - a restore: its staging store, `.NAME.restore-PID-UUID`, beside the data
//!   dir `NAME` (the new store being built or, after the swap, the old one
//!   being removed).
//!
//! **Who is running.** A leftover is a dead run's only when both hold: no
//! process holds its `flock` (a dump locks its registration and its partial
//! archive, a restore its staging folder, each as soon as it exists; the
//! kernel drops the lock when the process dies, whatever killed it), and the
//! process whose id is in its name is gone (`/proc/PID`; the id covers the
//! instant between creating a file and locking it, and files of binaries that
//! took no lock). A reused process id only keeps a leftover longer.
//!
//! **Where dumps are found.** A dump's output may be in any folder, where a
//! data dir's `fsck` and `gc` cannot look, so a dump registers itself first:
//! `DATA/partial-dumps/PID-UUID.json` names its partial archive and index
//! snapshot (absolute paths) and stays locked while it runs; a dump that ends,
//! done or failed, removes its files and then its registration. A
//! registration whose dump is dead names what is left to remove, and only
//! files of those two name patterns are ever removed through it. The next
//! dump of the same data dir removes every dead dump's leftovers, and also
//! unregistered ones beside its own output name (from a binary older than
//! the registrations).
//!
//! **Restores.** Staging folders sit beside the data dir, so `fsck` and `gc`
//! of that data dir, and the next restore into it, find them by name. The
//! swap's fallback where `RENAME_EXCHANGE` is missing moves the old store to
//! `STAGING.old` for an instant; one left there (the data dir may be missing
//! then) is reported and never removed automatically, and while one exists no
//! staging folder of that data dir is removed either: which store is whole is
//! a human's call.

use super::error::{Error, Result};
use serde::Serialize;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The data dir's folder of running (or killed) dumps' registrations.
pub(crate) const REGISTRY: &str = "partial-dumps";

/// One leftover of a killed dump or restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Debris {
    /// `dump_partial` (an archive cut short), `dump_index` (its index
    /// snapshot), `restore_staging` (a store a restore was building or
    /// replacing) or `restore_aside` (a store set aside mid-swap: never
    /// removed automatically).
    pub kind: &'static str,
    pub path: PathBuf,
    pub bytes: u64,
}

impl Debris {
    /// Whether `gc` and the next run may remove it.
    pub fn removable(&self) -> bool {
        self.kind != "restore_aside"
    }
}

/// Leftovers found, and the registrations of dead dumps (removed with them).
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    pub debris: Vec<Debris>,
    registrations: Vec<PathBuf>,
}

impl Leftovers {
    fn extend(&mut self, other: Leftovers) {
        self.debris.extend(other.debris);
        self.registrations.extend(other.registrations);
    }

    /// The removable leftovers.
    pub fn removable(&self) -> impl Iterator<Item = &Debris> {
        self.debris.iter().filter(|d| d.removable())
    }

    /// Removes every removable leftover, then the dead dumps' registrations.
    /// Something already gone is no error.
    pub fn remove(&self) -> Result<()> {
        for debris in self.removable() {
            let removed = if debris.kind == "restore_staging" {
                fs::remove_dir_all(&debris.path)
            } else {
                fs::remove_file(&debris.path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("removing {}", debris.path.display()), e)),
            }
        }
        for registration in &self.registrations {
            match fs::remove_file(registration) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("removing {}", registration.display()), e)),
            }
        }
        Ok(())
    }
}

/// Every leftover a data dir's `fsck` and `gc` answer for: dead dumps'
/// registered files and dead restores' folders beside it.
pub(crate) fn of_store(data_dir: &Path) -> Result<Leftovers> {
    let mut found = dumps(data_dir, None)?;
    let dir = fs::canonicalize(data_dir)
        .map_err(|e| Error::io(format!("resolving {}", data_dir.display()), e))?;
    found.extend(restores(&dir)?);
    Ok(found)
}

/// What a dead dump registered in `data_dir` left, plus, with `beside`
/// (a folder and an output name), unregistered partials of that name there.
pub(crate) fn dumps(data_dir: &Path, beside: Option<(&Path, &str)>) -> Result<Leftovers> {
    let mut found = Leftovers::default();
    let registry = data_dir.join(REGISTRY);
    let mut live: Vec<PathBuf> = Vec::new();
    for (path, name) in entries(&registry)? {
        let Some(pid) = name.strip_suffix(".json").and_then(tagged_pid) else {
            continue;
        };
        if !dead(&path, pid) {
            // A running dump: its files are off limits, even to the scan
            // beside the output below.
            if let Ok(text) = fs::read(&path) {
                if let Ok(r) = serde_json::from_slice::<Registration>(&text) {
                    live.extend([r.partial, r.index]);
                }
            }
            continue;
        }
        // Dead. A registration cut short before its first write names nothing.
        if let Some(r) = fs::read(&path)
            .ok()
            .and_then(|t| serde_json::from_slice::<Registration>(&t).ok())
        {
            let mut files = vec![(r.partial, "dump_partial")];
            if dump_file_kind(&r.index) == Some("dump_index") {
                // SQLite's companions of the snapshot (its rollback journal
                // survives a kill mid-`VACUUM INTO`), named after it.
                for suffix in SQLITE_COMPANIONS {
                    let mut name = r.index.clone().into_os_string();
                    name.push(suffix);
                    files.push((PathBuf::from(name), "dump_index"));
                }
            }
            files.push((r.index, "dump_index"));
            for (file, kind) in files {
                if dump_file_kind(&file) != Some(kind) {
                    continue; // not a name a dump writes: never removed
                }
                if let Ok(meta) = fs::symlink_metadata(&file) {
                    if meta.is_file() {
                        found.debris.push(Debris {
                            kind,
                            path: file,
                            bytes: meta.len(),
                        });
                    }
                }
            }
        }
        found.registrations.push(path);
    }
    if let Some((folder, output)) = beside {
        for (path, name) in entries(folder)? {
            let Some(rest) = name.strip_prefix(&format!(".{output}.")) else {
                continue;
            };
            let rest = match rest.starts_with("index-") {
                true => strip_companion(rest),
                false => rest,
            };
            let (kind, tag) = match rest.split_once('-') {
                Some(("partial", tag)) => ("dump_partial", tag),
                Some(("index", tag)) => ("dump_index", tag),
                _ => continue,
            };
            let Some(pid) = tagged_pid(tag) else { continue };
            if live.contains(&path)
                || found.debris.iter().any(|d| d.path == path)
                || !dead(&path, pid)
            {
                continue;
            }
            if let Ok(meta) = fs::symlink_metadata(&path) {
                if meta.is_file() {
                    found.debris.push(Debris {
                        kind,
                        path,
                        bytes: meta.len(),
                    });
                }
            }
        }
    }
    Ok(found)
}

/// Dead restores' folders beside `target` (a data dir's real path, which
/// need not exist).
pub(crate) fn restores(target: &Path) -> Result<Leftovers> {
    let mut found = Leftovers::default();
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(found);
    };
    let prefix = format!(".{}.restore-", name.to_string_lossy());
    let mut aside = false;
    // The data dir's parent may be unreadable (only searchable): then no
    // leftover can be listed, and fsck and gc go on with the rest.
    for (path, entry) in entries(parent).unwrap_or_default() {
        let Some(rest) = entry.strip_prefix(&prefix) else {
            continue;
        };
        let (tag, kind) = match rest.strip_suffix(".old") {
            Some(tag) => (tag, "restore_aside"),
            None => (rest, "restore_staging"),
        };
        // PID-UUID (32 hex digits): exactly what a restore names them.
        let Some((pid, uuid)) = tag.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if uuid.len() != 32 || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            _ => continue,
        }
        if !dead(&path, pid) {
            continue;
        }
        aside |= kind == "restore_aside";
        let bytes = size_of_tree(&path);
        found.debris.push(Debris { kind, path, bytes });
    }
    if aside {
        // Mid-swap: keep everything of this data dir for a human to sort out.
        for debris in &mut found.debris {
            debris.kind = "restore_aside";
        }
    }
    found.debris.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// A running dump's registration: removed when the dump ends (once its
/// partial files are gone), or left, unlocked, by a killed one.
#[derive(Debug)]
pub(crate) struct DumpRegistration {
    path: PathBuf,
    partial: PathBuf,
    index: PathBuf,
    /// Holds the `flock` while the dump runs.
    _file: File,
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct Registration {
    pid: u32,
    started_at: String,
    partial: PathBuf,
    index: PathBuf,
}

impl DumpRegistration {
    /// Registers a dump about to write `partial` and `index` (absolute paths).
    pub(crate) fn create(data_dir: &Path, partial: &Path, index: &Path) -> Result<Self> {
        let registry = data_dir.join(REGISTRY);
        fs::create_dir_all(&registry)
            .map_err(|e| Error::io(format!("creating {}", registry.display()), e))?;
        let pid = std::process::id();
        let path = registry.join(format!("{pid}-{}.json", uuid::Uuid::new_v4().simple()));
        let failed = |e| Error::io(format!("registering the dump in {}", path.display()), e);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(failed)?;
        // Fresh and uniquely named: nobody else can hold it. Until this
        // returns, the live process id keeps it from being taken for dead.
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::Error(e) => failed(e),
            fs::TryLockError::WouldBlock => failed(io::ErrorKind::WouldBlock.into()),
        })?;
        let record = Registration {
            pid,
            started_at: super::now(),
            partial: partial.to_path_buf(),
            index: index.to_path_buf(),
        };
        file.write_all(&serde_json::to_vec_pretty(&record)?)
            .map_err(failed)?;
        Ok(DumpRegistration {
            path,
            partial: partial.to_path_buf(),
            index: index.to_path_buf(),
            _file: file,
        })
    }
}

impl Drop for DumpRegistration {
    /// Unregisters, unless a partial file could not be removed: then the
    /// registration stays (unlocked, as the process is done with it) so gc
    /// finds the file later.
    fn drop(&mut self) {
        let gone = |p: &Path| matches!(fs::symlink_metadata(p), Err(e) if e.kind() == io::ErrorKind::NotFound);
        if gone(&self.partial) && gone(&self.index) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Takes `file`'s `flock` for the run that just created it (a dump's partial
/// archive, a restore's staging folder). Best effort: the process id in the
/// name protects it as well.
pub(crate) fn hold(file: &File) {
    let _ = file.try_lock();
}

/// The files SQLite may keep beside a database: a kill mid-`VACUUM INTO`
/// leaves the snapshot's rollback journal.
const SQLITE_COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// A name without a SQLite companion suffix.
fn strip_companion(name: &str) -> &str {
    SQLITE_COMPANIONS
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

/// `dump_partial` or `dump_index` when `path`'s name is one a dump writes:
/// `.NAME.partial-PID[-TAG]` or `.NAME.index-PID[-TAG]` (with SQLite's
/// `-journal`, `-wal` or `-shm` after it, for the index's companions).
fn dump_file_kind(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix('.')?;
    let rest = match rest.rsplit_once(".index-") {
        Some(_) => strip_companion(rest),
        None => rest,
    };
    let (kind, tag) = if let Some((_, tag)) = rest.rsplit_once(".partial-") {
        ("dump_partial", tag)
    } else {
        ("dump_index", rest.rsplit_once(".index-")?.1)
    };
    tagged_pid(tag).map(|_| kind)
}

/// The process id of `PID` or `PID-TAG` (TAG: hex digits).
fn tagged_pid(tag: &str) -> Option<u32> {
    let (pid, rest) = match tag.split_once('-') {
        Some((pid, rest)) => (pid, Some(rest)),
        None => (tag, None),
    };
    if let Some(rest) = rest {
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
    }
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether the run that made `path` is over: its process is gone and nobody
/// holds the `flock` on it.
fn dead(path: &Path, pid: u32) -> bool {
    !process_alive(pid) && !locked(path)
}

/// Whether process `pid` exists. Where that cannot be told (no `/proc`),
/// false: the lock alone decides.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if !Path::new("/proc/self").exists() {
        return false;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Whether someone holds `path`'s `flock`. Unreadable counts as held.
fn locked(path: &Path) -> bool {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => return e.kind() != io::ErrorKind::NotFound,
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(fs::TryLockError::WouldBlock) => true,
        Err(fs::TryLockError::Error(_)) => true,
    }
}

/// `(path, name)` of the entries of `dir` (none when it is missing).
fn entries(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        if let Ok(name) = entry.file_name().into_string() {
            out.push((entry.path(), name));
        }
    }
    Ok(out)
}

/// Bytes of every file under `dir`.
fn size_of_tree(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_a_dump_writes_are_dump_files() {
        for (name, kind) in [
            (".d.tar.gz.partial-12", Some("dump_partial")),
            (".d.tar.gz.partial-12-0a1b", Some("dump_partial")),
            (".d.tar.gz.index-12-0a1b", Some("dump_index")),
            (".d.tar.gz.index-12-0a1b-journal", Some("dump_index")),
            (".d.tar.gz.partial-12-0a1b-journal", None),
            ("d.tar.gz.partial-12", None),
            (".d.tar.gz.partial-x", None),
            (".d.tar.gz.partial-12-xyz", None),
            (".bashrc", None),
        ] {
            assert_eq!(dump_file_kind(Path::new(name)), kind, "{name}");
        }
    }

    /// No process has this id (above the kernel's largest, `pid_max`).
    const GONE: u32 = 4_194_305;

    #[test]
    fn a_registration_never_removes_a_file_a_dump_does_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join(REGISTRY)).unwrap();
        let precious = dir.path().join("precious.txt");
        let partial = dir.path().join(format!(".d.tar.gz.partial-{GONE}-ab"));
        fs::write(&precious, b"mine").unwrap();
        fs::write(&partial, b"half").unwrap();
        let record = Registration {
            pid: GONE,
            started_at: String::new(),
            partial: partial.clone(),
            index: precious.clone(),
        };
        let registration = data.join(REGISTRY).join(format!("{GONE}-00ff.json"));
        fs::write(&registration, serde_json::to_vec(&record).unwrap()).unwrap();
        let found = dumps(&data, None).unwrap();
        assert_eq!(found.debris.len(), 1);
        assert_eq!(found.debris[0].path, partial);
        found.remove().unwrap();
        assert!(!partial.exists() && !registration.exists());
        assert_eq!(fs::read(&precious).unwrap(), b"mine");
    }

    #[test]
    fn a_store_set_aside_mid_swap_is_reported_and_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data");
        let uuid = "0123456789abcdef0123456789abcdef";
        let staging = dir.path().join(format!(".data.restore-{GONE}-{uuid}"));
        let aside = dir.path().join(format!(".data.restore-{GONE}-{uuid}.old"));
        fs::create_dir_all(staging.join("blobs")).unwrap();
        fs::create_dir_all(&aside).unwrap();
        fs::write(aside.join("store.db"), b"the old store").unwrap();
        // Not a restore's names: another data dir's, or no uuid.
        fs::create_dir_all(dir.path().join(format!(".data2.restore-{GONE}-{uuid}"))).unwrap();
        fs::create_dir_all(dir.path().join(format!(".data.restore-{GONE}-x"))).unwrap();
        let found = restores(&target).unwrap();
        let kinds: Vec<(&str, &Path)> = found
            .debris
            .iter()
            .map(|d| (d.kind, d.path.as_path()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("restore_aside", staging.as_path()),
                ("restore_aside", aside.as_path())
            ]
        );
        assert_eq!(found.removable().count(), 0);
        found.remove().unwrap();
        assert!(staging.exists() && aside.exists());
        // Without the set-aside store, the staging folder is ordinary debris.
        fs::remove_dir_all(&aside).unwrap();
        let found = restores(&target).unwrap();
        assert_eq!(found.removable().count(), 1);
        found.remove().unwrap();
        assert!(!staging.exists());
    }

    #[test]
    fn a_killed_snapshots_sqlite_journal_goes_with_it() {
        // Found by the crash campaign: a dump killed mid-`VACUUM INTO` left
        // `.NAME.index-PID-TAG-journal`, which neither gc nor the next dump
        // removed.
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join(REGISTRY)).unwrap();
        let partial = dir.path().join(format!(".d.tar.gz.partial-{GONE}-ab"));
        let index = dir.path().join(format!(".d.tar.gz.index-{GONE}-ab"));
        let journal = dir
            .path()
            .join(format!(".d.tar.gz.index-{GONE}-ab-journal"));
        let stray = dir
            .path()
            .join(format!(".e.tar.gz.index-{GONE}-cd-journal"));
        for f in [&index, &journal, &stray] {
            fs::write(f, b"x").unwrap();
        }
        let record = Registration {
            pid: GONE,
            started_at: String::new(),
            partial,
            index,
        };
        fs::write(
            data.join(REGISTRY).join(format!("{GONE}-00ff.json")),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let found = dumps(&data, None).unwrap();
        let paths: Vec<&PathBuf> = found.debris.iter().map(|d| &d.path).collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(paths.contains(&&journal));
        found.remove().unwrap();
        assert!(!journal.exists());
        // Beside an output, an unregistered one of that output name goes too.
        let found = dumps(&data, Some((dir.path(), "e.tar.gz"))).unwrap();
        assert_eq!(found.debris.len(), 1);
        assert_eq!(found.debris[0].path, stray);
    }

    #[test]
    fn a_file_is_dead_only_when_unlocked_and_its_process_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let gone = GONE;
        assert!(dead(&path, gone));
        assert!(!dead(&path, std::process::id()), "this process is alive");
        hold(&file);
        assert!(!dead(&path, gone), "held by a live run");
        drop(file);
        assert!(dead(&path, gone));
    }
}
