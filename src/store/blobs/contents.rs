//! Contents: the home of the blobs too large for the index (over
//! [`super::INLINE_MAX`]). One interface, two backends:
//!
//! - [`BlobFiles`], files under the data dir's `blobs/` (the default; a
//!   laptop needs nothing else);
//! - [`ObjectContents`], objects in an S3-compatible bucket through the
//!   `object_store` crate, for a store shared beyond one disk.
//!
//! Everything above this interface (writes, reads, gc, fsck, archives, dumps)
//! is the same for both: bytes are received into local temp space and hashed
//! there, then installed under their hash before the transaction that
//! references them commits; a blob is listed with its size, removed only by
//! gc or by a failed write's cleanup.
//!
//! Where a store keeps its contents is part of the store, not of a command
//! line: it is recorded in the data dir's `contents` file when the store is
//! created with `--contents`, and every later open reads it back. Opening a
//! store with a different `--contents` is refused (a store whose blobs are
//! elsewhere would read as missing), and so is one on the command line that
//! carries credentials: they come from the environment, never from a URL
//! that logs and `ps` would show.

use super::super::error::{Error, Result};
use super::files::{BlobFiles, Listing, Received};
use super::objects::ObjectContents;
use super::Stored;
use crate::store::db::sql::{named_params, Connection, OptionalExtension, TransactionBehavior};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The data dir's record of where its contents live (absent: `blobs/`).
pub const CONTENTS_FILE: &str = "contents";

/// Where a store keeps its large blobs.
#[derive(Debug)]
pub enum Contents {
    Files(BlobFiles),
    /// Boxed: it is larger, and the common case is files.
    Objects(Box<ObjectContents>),
}

/// A contents location as given on the command line (`--contents`) or
/// recorded in the data dir: `s3://BUCKET[/PREFIX][?endpoint=URL&region=R]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentsUrl {
    pub bucket: String,
    /// Object names start with this (no leading or trailing `/`); may be empty.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

impl ContentsUrl {
    /// Parses `s3://BUCKET[/PREFIX][?endpoint=…&region=…]`, refusing
    /// credentials in the URL and options it does not know.
    pub fn parse(url: &str) -> Result<ContentsUrl> {
        let invalid = |why: &str| {
            Error::Invalid(format!(
                "--contents {}: {why}; expected s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION",
                redact(url)
            ))
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("only s3:// locations are supported"))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.contains('@') || bucket.contains(':') {
            return Err(invalid(
                "credentials do not belong in the URL (ps and logs show it): \
                 set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead",
            ));
        }
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(invalid(
                "a bucket name is 3-63 characters of a-z, 0-9, '-' and '.'",
            ));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|p| p == ".." || p == ".")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err(invalid("the prefix must be plain names separated by '/'"));
        }
        let mut out = ContentsUrl {
            bucket: bucket.to_string(),
            prefix,
            endpoint: None,
            region: None,
        };
        for (key, value) in serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map_err(|_| invalid("its query is not key=value pairs"))?
        {
            match key.as_str() {
                "endpoint" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(invalid("endpoint must be an http:// or https:// URL"));
                    }
                    if value.contains('@') {
                        return Err(invalid(
                            "credentials do not belong in the URL: set AWS_ACCESS_KEY_ID \
                             and AWS_SECRET_ACCESS_KEY instead",
                        ));
                    }
                    out.endpoint = Some(value.trim_end_matches('/').to_string());
                }
                "region" => out.region = Some(value),
                "access_key_id" | "secret_access_key" | "session_token" | "token" => {
                    return Err(invalid(
                        "credentials do not belong in the URL (ps and logs show it): \
                         set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead",
                    ))
                }
                other => return Err(invalid(&format!("unknown option {other:?}"))),
            }
        }
        Ok(out)
    }
}

impl std::fmt::Display for ContentsUrl {
    /// The URL in its one normal form (what the data dir records).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}", self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        let mut query = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            query.push(("endpoint", endpoint.as_str()));
        }
        if let Some(region) = &self.region {
            query.push(("region", region.as_str()));
        }
        if !query.is_empty() {
            let query = serde_urlencoded::to_string(&query).map_err(|_| std::fmt::Error)?;
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

/// `url` with anything that may be a secret masked, for messages: user info,
/// and the value of every query option but `endpoint` and `region`.
fn redact(url: &str) -> String {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = match head.rsplit_once('@') {
        Some((before, tail)) => match before.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***@{tail}"),
            None => format!("***@{tail}"),
        },
        None => head.to_string(),
    };
    for (i, pair) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        match pair.split_once('=') {
            Some((key, value)) if key == "region" => out.push_str(&format!("{key}={value}")),
            Some((key, value))
                if key == "endpoint"
                    && !percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .contains('@') =>
            {
                out.push_str(&format!("{key}={value}"))
            }
            Some((key, _)) => out.push_str(&format!("{key}=***")),
            None => out.push_str(pair),
        }
    }
    out
}

/// What a data dir records of its contents: where they are, and the id of
/// the store they belong to (also written in the bucket, see
/// [`ObjectContents::claim`]: a prefix belongs to one store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub url: ContentsUrl,
    pub store: String,
}

/// The contents location recorded in data dir `dir`, if any. A record
/// written before stores had ids gets one (and the bucket's mark) when next
/// opened.
pub fn recorded(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(CONTENTS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let damaged = |why: String| {
        Error::Invalid(format!(
            "{} is damaged ({why}); it names where this store's contents live",
            path.display()
        ))
    };
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let url =
        ContentsUrl::parse(lines.next().unwrap_or_default()).map_err(|e| damaged(e.to_string()))?;
    let store = match lines.next().map(|l| l.strip_prefix("store ")) {
        Some(Some(id)) if uuid::Uuid::parse_str(id).is_ok() => id.to_string(),
        Some(_) => return Err(damaged("its second line is not `store UUID`".into())),
        None => String::new(),
    };
    Ok(Some(Record { url, store }))
}

/// Records `record` as data dir `dir`'s contents (temp file, fsync, rename,
/// directory fsync: a kill leaves the old record or the new one).
pub fn record(dir: &Path, record: &Record) -> Result<()> {
    write_record_file(
        dir,
        CONTENTS_FILE,
        &format!("{}\nstore {}\n", record.url, record.store),
    )
}

/// Writes a data dir's small record file `name` whole or not at all (temp
/// file, fsync, rename, directory fsync).
pub(crate) fn write_record_file(dir: &Path, name: &str, text: &str) -> Result<()> {
    use std::io::Write;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        #[allow(clippy::disallowed_methods)]
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(format!("recording {}", path.display()), e)
    })
}

/// A new store id.
pub(crate) fn new_store_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Contents {
    /// A short description for messages: the blob dir, or the bucket.
    pub fn describe(&self) -> String {
        match self {
            Contents::Files(files) => files.root().display().to_string(),
            Contents::Objects(objects) => objects.url().to_string(),
        }
    }

    /// The objects backend, when the contents are in a bucket.
    pub fn objects(&self) -> Option<&ObjectContents> {
        match self {
            Contents::Objects(objects) => Some(objects),
            Contents::Files(_) => None,
        }
    }

    /// Stores `bytes` durably and returns their hash.
    pub fn put(&self, bytes: &[u8]) -> Result<Stored> {
        match self {
            Contents::Files(files) => files.put(bytes),
            Contents::Objects(objects) => objects.put(bytes),
        }
    }

    /// Stores `bytes`, durable by the next [`Contents::sync`].
    pub fn put_deferred(&self, bytes: &[u8]) -> Result<Stored> {
        match self {
            Contents::Files(files) => files.put_deferred(bytes),
            Contents::Objects(objects) => objects.put_deferred(bytes),
        }
    }

    /// Streams `reader` into local temp space, hashed (see
    /// [`BlobFiles::receive`]); both backends receive on the data dir's disk.
    pub fn receive(&self, reader: &mut dyn std::io::Read, durable: bool) -> Result<Received> {
        self.spool().receive(reader, durable)
    }

    /// Makes received bytes a blob (or finds it stored already).
    pub fn install(&self, received: Received) -> Result<Stored> {
        match self {
            Contents::Files(files) => received.install(files),
            Contents::Objects(objects) => objects.install(received),
        }
    }

    /// Makes every deferred blob durable: fsyncs the files, or waits for the
    /// uploads (an object is durable once its upload is answered).
    pub fn sync(&self) -> Result<()> {
        match self {
            Contents::Files(files) => files.sync(),
            Contents::Objects(objects) => objects.sync(),
        }
    }

    /// Opens a blob for streaming reads.
    pub fn open_blob(&self, hash: &str) -> Result<super::BlobReader> {
        match self {
            Contents::Files(files) => files.open_blob(hash).map(super::BlobReader::File),
            Contents::Objects(objects) => objects.open_blob(hash),
        }
    }

    /// Opens a blob from its home itself, past any cache (fsck).
    pub fn open_fresh(&self, hash: &str) -> Result<super::BlobReader> {
        match self {
            Contents::Files(files) => files.open_blob(hash).map(super::BlobReader::File),
            Contents::Objects(objects) => objects.open_fresh(hash),
        }
    }

    /// Reads a whole blob; with `verify`, re-hashes it.
    pub fn read(&self, hash: &str, verify: bool) -> Result<Vec<u8>> {
        let mut reader = match self {
            Contents::Files(files) => return files.read(hash, verify),
            Contents::Objects(objects) => objects.open_blob(hash)?,
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut bytes)
            .map_err(|e| Error::io(format!("reading blob {hash}"), e))?;
        if verify {
            return super::verified(hash, bytes);
        }
        Ok(bytes)
    }

    /// Whether the blob `hash` is stored with `size` bytes.
    pub fn has(&self, hash: &str, size: u64) -> Result<bool> {
        match self {
            Contents::Files(files) => {
                Ok(std::fs::metadata(files.path_of(hash)).is_ok_and(|m| m.len() == size))
            }
            Contents::Objects(objects) => objects.has(hash, size),
        }
    }

    /// Every blob with its size, the ones too recent for gc to judge, and
    /// the local temp leftovers.
    pub fn list(&self) -> Result<Listing> {
        match self {
            Contents::Files(files) => files.list(),
            Contents::Objects(objects) => {
                let mut listing = objects.list()?;
                listing.stray = self.spool().list()?.stray;
                Ok(listing)
            }
        }
    }

    /// Removes a blob (gc, and a failed write's cleanup). A missing one is
    /// not an error.
    pub fn remove(&self, hash: &str) -> Result<()> {
        match self {
            Contents::Files(files) => files.remove(hash),
            Contents::Objects(objects) => objects.remove(hash),
        }
    }

    /// Removes a local temp leftover found by [`Contents::list`].
    pub fn remove_stray(&self, path: &Path) -> Result<()> {
        self.spool().remove_stray(path)
    }

    /// The local blob dir: every blob's home with [`Contents::Files`], the
    /// temp space uploads are received into with [`Contents::Objects`].
    fn spool(&self) -> &BlobFiles {
        match self {
            Contents::Files(files) => files,
            Contents::Objects(objects) => objects.spool(),
        }
    }

    /// Opens the contents of the store in data dir `dir`: the recorded
    /// location, or `given` when the store has none yet (it is recorded
    /// then). `index_is_empty` says whether the store holds anything yet: a
    /// store that does may not change its contents' home.
    pub(crate) fn open(
        dir: &Path,
        options: &super::super::OpenOptions,
        index_is_empty: impl FnOnce() -> Result<bool>,
    ) -> Result<Contents> {
        let blobs_dir: PathBuf = dir.join("blobs");
        let open_objects = |url: &ContentsUrl, store: &str| {
            ObjectContents::open(
                url.clone(),
                store,
                options.credentials.clone(),
                BlobFiles::open(blobs_dir.clone())?,
            )
        };
        let given = options
            .contents
            .as_deref()
            .map(ContentsUrl::parse)
            .transpose()?;
        let record_now = match (recorded(dir)?, given) {
            (None, None) => return Ok(Contents::Files(BlobFiles::open(blobs_dir)?)),
            (Some(recorded), None) => recorded,
            (Some(recorded), Some(given)) if recorded.url == given => recorded,
            (Some(recorded), Some(given)) => {
                return Err(Error::Conflict(format!(
                    "the store in {} keeps its contents in {}, not {given}; \
                     leave out --contents, or point --data-dir elsewhere",
                    dir.display(),
                    recorded.url
                )))
            }
            (None, Some(given)) => {
                let has_files = !BlobFiles::open(blobs_dir.clone())?.list()?.blobs.is_empty();
                if has_files || !index_is_empty()? {
                    return Err(Error::Conflict(format!(
                        "the store in {} already keeps its contents in {}; \
                         a store's contents cannot move to {given} by an option \
                         (dump it and restore the dump into a new data dir with --contents)",
                        dir.display(),
                        blobs_dir.display()
                    )));
                }
                // Connected, and the prefix claimed, before it is recorded: a
                // store is never left naming a place it cannot use or share.
                let objects = open_objects(&given, &new_store_id())?;
                objects.probe()?;
                objects.claim()?;
                record(dir, &objects.record())?;
                return Ok(Contents::Objects(Box::new(objects)));
            }
        };
        if record_now.store.is_empty() {
            // Recorded before stores had ids: this one gets its id now.
            let objects = open_objects(&record_now.url, &new_store_id())?;
            objects.claim()?;
            record(dir, &objects.record())?;
            return Ok(Contents::Objects(Box::new(objects)));
        }
        Ok(Contents::Objects(Box::new(open_objects(
            &record_now.url,
            &record_now.store,
        )?)))
    }
}

/// On a shared (PostgreSQL) index: copies the index's record of where the
/// store keeps its contents into data dir `dir` when the dir has none yet,
/// so every instance uses the same bucket prefix under the same store id;
/// a data dir that records another place is refused.
pub(crate) fn seed_from_index(conn: &Connection, dir: &Path) -> Result<()> {
    let shared: Option<(String, String)> = conn
        .query_row("SELECT url, store FROM store_contents", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((url, store)) = shared else {
        return Ok(());
    };
    let shared = Record {
        url: ContentsUrl::parse(&url)?,
        store,
    };
    match recorded(dir)? {
        None => record(dir, &shared),
        Some(local) if local == shared => Ok(()),
        Some(local) => Err(Error::Conflict(format!(
            "data dir {} keeps its contents in {} (store {}), but the shared index's store \
             keeps them in {} (store {}): give this instance a data dir of its own",
            dir.display(),
            local.url,
            local.store,
            shared.url,
            shared.store
        ))),
    }
}

/// On a shared (PostgreSQL) index: records in the index where this store
/// keeps its contents, for the instances that open it later (the first
/// instance to record wins; one that finds another record is refused).
pub(crate) fn record_in_index(conn: &mut Connection, contents: &Contents) -> Result<()> {
    let Some(objects) = contents.objects() else {
        return Ok(());
    };
    let mine = objects.record();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO store_contents (url, store)
         SELECT :url, :store WHERE NOT EXISTS (SELECT 1 FROM store_contents)",
        named_params! {":url": mine.url.to_string(), ":store": mine.store},
    )?;
    let (url, store): (String, String) =
        tx.query_row("SELECT url, store FROM store_contents", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    tx.commit()?;
    if url != mine.url.to_string() || store != mine.store {
        return Err(Error::Conflict(format!(
            "the shared index's store keeps its contents in {url} (store {store}), not in {} \
             (store {}): leave out --contents",
            mine.url, mine.store
        )));
    }
    Ok(())
}

/// Moves the blob files of the (closed) store in data dir `dir` into the
/// bucket `to` names (see [`upload_files`]), then records it as the store's
/// contents: what a restore into a bucket does to its staging store. The
/// files go only once the record is written: until then, the store reads
/// them where they were. Returns how many blobs were uploaded.
pub(crate) fn move_files_to_objects(
    dir: &Path,
    to: &Record,
    credentials: Option<super::objects::ObjectCredentials>,
) -> Result<u64> {
    let uploaded = upload_files(dir, to, credentials, &crate::store::NoProgress)?;
    record(dir, to)?;
    uploaded.remove_files()?;
    Ok(uploaded.sent)
}

/// Gives up the prefix `to` names when its mark names store `to.store`
/// (see [`ObjectContents::release`]).
pub(crate) fn release_prefix(
    dir: &Path,
    to: &Record,
    credentials: Option<super::objects::ObjectCredentials>,
) -> Result<()> {
    ObjectContents::open(
        to.url.clone(),
        &to.store,
        credentials,
        BlobFiles::open(dir.join("blobs"))?,
    )?
    .release()
}

/// What [`upload_files`] did.
pub(crate) struct Uploaded {
    /// The bucket, opened as the store `to` names.
    pub objects: ObjectContents,
    files: BlobFiles,
    /// Every blob file found (now also in the bucket).
    pub hashes: Vec<String>,
    /// How many were sent (the rest were there already).
    pub sent: u64,
}

impl Uploaded {
    /// Removes the blob files that were uploaded: the bucket holds them now.
    pub fn remove_files(&self) -> Result<()> {
        for hash in &self.hashes {
            self.files.remove(hash)?;
        }
        Ok(())
    }
}

/// Sends the blob files of data dir `dir` to the bucket `to` names,
/// claiming its prefix for store `to.store`. Each file is hashed as it is
/// read and refused if its bytes are not its name; one the bucket already
/// holds whole is not sent again, so a second run after a kill goes on
/// where the first stopped. The files stay.
pub(crate) fn upload_files(
    dir: &Path,
    to: &Record,
    credentials: Option<super::objects::ObjectCredentials>,
    progress: &dyn crate::store::Progress,
) -> Result<Uploaded> {
    let files = BlobFiles::open(dir.join("blobs"))?;
    let objects = ObjectContents::open(
        to.url.clone(),
        &to.store,
        credentials,
        BlobFiles::open(dir.join("blobs"))?,
    )?;
    objects.probe()?;
    objects.claim()?;
    let listing = files.list()?;
    progress.phase("uploading", Some(listing.blobs.len() as u64));
    let mut sent = 0;
    for (hash, size) in &listing.blobs {
        if progress.interrupted() {
            return Err(Error::Interrupted);
        }
        progress.advance(1);
        if objects.has(hash, *size)? {
            continue;
        }
        let path = files.path_of(hash);
        let mut file =
            File::open(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let received = files.receive(&mut file, false)?;
        if received.hash != *hash {
            return Err(Error::CorruptBlob {
                hash: hash.clone(),
                actual: received.hash.clone(),
            });
        }
        objects.install(received)?;
        sent += 1;
    }
    Ok(Uploaded {
        objects,
        files,
        hashes: listing.blobs.into_iter().map(|(hash, _)| hash).collect(),
        sent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_parses_into_its_one_normal_form() {
        let url = ContentsUrl::parse(
            "s3://team-store/staging/?region=garage&endpoint=http://127.0.0.1:3900/",
        )
        .unwrap();
        assert_eq!(url.bucket, "team-store");
        assert_eq!(url.prefix, "staging");
        assert_eq!(url.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(
            url.to_string(),
            "s3://team-store/staging?endpoint=http%3A%2F%2F127.0.0.1%3A3900&region=garage"
        );
        assert_eq!(ContentsUrl::parse(&url.to_string()).unwrap(), url);
    }

    #[test]
    fn credentials_and_unknown_options_are_refused_and_never_echoed() {
        for bad in [
            "s3://AKIA:s3cr3t@bucket",
            "s3://bucket?secret_access_key=s3cr3t",
            "s3://bucket?endpoint=http://AKIA:s3cr3t@host:3900",
            "s3://bucket?endpoint=http%3A%2F%2FAKIA%3As3cr3t%40host%3A3900",
        ] {
            let e = ContentsUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        for bad in [
            "file:///tmp/x",
            "s3://B",
            "s3://bucket/../x",
            "s3://bucket?colour=red",
            "s3://bucket?endpoint=ftp://x",
        ] {
            assert!(ContentsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
