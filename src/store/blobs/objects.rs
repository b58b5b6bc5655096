//! Objects: the large blobs in an S3-compatible bucket, through the
//! `object_store` crate (AWS S3, Garage, MinIO, Ceph…), named
//! `[PREFIX/]blobs/ab/cdef…` like the files of [`super::files`].
//!
//! The store above is synchronous; `object_store` is async. The backend owns a
//! small runtime of its own and every call is a task on it whose answer comes
//! back over a channel, so a call works from any thread, a server's blocking
//! pool included (nested `block_on` would panic there).
//!
//! Bytes are received and hashed in local temp space first (the object's
//! name is its hash, known only at the end), then uploaded: in one `PUT` up
//! to [`MULTIPART_FROM`], in parts above, never held whole. An object is
//! durable once its upload answers, before the transaction that references
//! it commits.
//!
//! An object store has no lock and no atomic rename, and several processes
//! may share a bucket. So gc never judges an object younger than the grace
//! period (longer than any upload takes: its owner may be about to commit a
//! row for it), and a writer that finds its blob stored already uploads it
//! again when the object is older than half the grace period, which renews
//! its time: a gc elsewhere then cannot take it between the writer's look and
//! its commit.
//!
//! Reads go through a local cache of verified copies ([`super::cache`]): an
//! object's bytes never change, so a copy is never stale, and a `GET raw` of
//! a cached object costs what a blob file's does.
//!
//! Failures that are the object store's (unreachable, refused credentials,
//! a timeout) are [`Error::Unavailable`], naming the bucket and endpoint:
//! HTTP 503, and a CLI message saying what is down.

use super::super::error::{Error, Result};
use super::cache::ObjectCache;
use super::contents::ContentsUrl;
use super::files::{BlobFiles, Listing, Received};
use super::{hash_bytes, is_hash, BlobReader, Stored};
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// Uploads larger than this go in parts of [`PART_SIZE`].
pub const MULTIPART_FROM: u64 = 8 << 20;

/// A multipart upload's part: S3's smallest (but for the last), so that an
/// upload holds little memory: at most [`PARTS_IN_FLIGHT`] parts are sent at
/// once, plus the one being filled.
const PART_SIZE: usize = 5 << 20;
const PARTS_IN_FLIGHT: usize = 2;

/// An object read without keeping a copy is read into memory up to this size.
const READ_WHOLE_MAX: u64 = 8 << 20;

/// How long gc leaves an unreferenced object alone by default: longer than any
/// upload, and than any write between its upload and its commit.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60 * 60);

/// An access key for the object store. Its `Debug` leaves the secret out.
#[derive(Clone)]
pub struct ObjectCredentials {
    pub key_id: String,
    pub secret: String,
}

impl std::fmt::Debug for ObjectCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCredentials")
            .field("key_id", &self.key_id)
            .field("secret", &"***")
            .finish()
    }
}

impl ObjectCredentials {
    /// The credentials a command uses: `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`, read by the
    /// builder), else the `AWS_PROFILE` (or `default`) profile of the shared
    /// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/credentials`).
    fn find(url: &ContentsUrl) -> Result<Option<ObjectCredentials>> {
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            // The builder reads the environment itself.
            return Ok(None);
        }
        let file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                directories::BaseDirs::new().map(|d| d.home_dir().join(".aws/credentials"))
            });
        let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
        if let Some(found) = file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|text| profile_keys(&text, &profile))
        {
            return Ok(Some(found));
        }
        Err(Error::Invalid(format!(
            "no credentials for the object store {url}: set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or a [{profile}] profile in {}",
            file.map_or("~/.aws/credentials".into(), |f| f.display().to_string())
        )))
    }
}

/// `aws_access_key_id` and `aws_secret_access_key` of `[profile]` in an
/// AWS shared credentials file (INI).
fn profile_keys(text: &str, profile: &str) -> Option<ObjectCredentials> {
    let (mut in_profile, mut key_id, mut secret) = (false, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            in_profile = line[1..line.len() - 1].trim() == profile;
        } else if in_profile {
            if let Some((key, value)) = line.split_once('=') {
                match key.trim() {
                    "aws_access_key_id" => key_id = Some(value.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
    }
    Some(ObjectCredentials {
        key_id: key_id?,
        secret: secret?,
    })
}

/// The large blobs of a store, as objects in a bucket.
#[derive(Debug)]
pub struct ObjectContents {
    url: ContentsUrl,
    store: Arc<dyn ObjectStore>,
    /// `[PREFIX/]blobs`
    root: String,
    /// Runs the object store's futures; taken (and shut down without
    /// blocking) on drop, which may happen on an async thread.
    runtime: Option<tokio::runtime::Runtime>,
    /// Local temp space uploads are received into.
    spool: BlobFiles,
    /// Recently read objects, on the data dir's disk.
    cache: Arc<ObjectCache>,
    grace: std::sync::Mutex<Duration>,
    /// Uploads started by [`ObjectContents::put_deferred`], awaited by
    /// [`ObjectContents::sync`].
    pending: std::sync::Mutex<Vec<(String, tokio::task::JoinHandle<object_store::Result<()>>)>>,
    /// `[PREFIX/]blockstore-store`: the id of the store the prefix is
    /// for. gc removes only what no row of *its* index references, so two
    /// stores on one prefix would collect each other's contents.
    mark: ObjectPath,
    store_id: String,
    /// Called before anything is uploaded (or an old object reused): on a
    /// shared store, the writer takes the sweep lock across instances then
    /// (see `store::lock`), so only writes that upload pay for it.
    before_upload: std::sync::OnceLock<Hook>,
}

/// See [`ObjectContents::set_before_upload`].
pub type BeforeUpload = Arc<dyn Fn() -> Result<()> + Send + Sync>;

struct Hook(BeforeUpload);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeUpload")
    }
}

/// The object beside `blobs/` that names the store a prefix belongs to.
const MARK: &str = "blockstore-store";

/// Deferred uploads in flight at most; one more waits for the oldest.
const UPLOADS_IN_FLIGHT: usize = 8;

impl ObjectContents {
    /// Connects (lazily: nothing is sent until the first call) to the bucket
    /// `url` names, with `credentials`, else those [`ObjectCredentials::find`]
    /// finds (`AWS_REGION` and `AWS_ENDPOINT` apply when the URL does not say).
    pub fn open(
        url: ContentsUrl,
        store_id: &str,
        credentials: Option<ObjectCredentials>,
        spool: BlobFiles,
    ) -> Result<ObjectContents> {
        let credentials = match credentials {
            Some(given) => Some(given),
            None => ObjectCredentials::find(&url)?,
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_virtual_hosted_style_request(false)
            .with_client_options(
                // No limit on a whole request (a large object takes as long
                // as its bytes do), but on a silence within one.
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout_disabled()
                    .with_read_timeout(Duration::from_secs(30))
                    .with_allow_http(true),
            )
            // An unreachable store is answered in seconds, not after the
            // default three minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &url.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &url.region {
            builder = builder.with_region(region);
        }
        if let Some(credentials) = credentials {
            builder = builder
                .with_access_key_id(credentials.key_id)
                .with_secret_access_key(credentials.secret);
        }
        let store = builder
            .build()
            .map_err(|e| Error::Invalid(format!("--contents {url}: {}", e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("blockstore-objects")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the object store's threads", e))?;
        let data_dir = spool.root().parent().unwrap_or(spool.root()).to_path_buf();
        let cache = Arc::new(ObjectCache::open(
            data_dir.join("cache"),
            ObjectCache::limit_from_env(),
        )?);
        let (root, mark) = if url.prefix.is_empty() {
            ("blobs".to_string(), MARK.to_string())
        } else {
            (
                format!("{}/blobs", url.prefix),
                format!("{}/{MARK}", url.prefix),
            )
        };
        Ok(ObjectContents {
            url,
            store: Arc::new(store),
            root,
            runtime: Some(runtime),
            spool,
            cache,
            grace: std::sync::Mutex::new(DEFAULT_GRACE),
            pending: std::sync::Mutex::new(Vec::new()),
            mark: ObjectPath::from(mark),
            store_id: store_id.to_string(),
            before_upload: std::sync::OnceLock::new(),
        })
    }

    /// Where the objects are, as the data dir records it (no credentials).
    pub fn url(&self) -> &ContentsUrl {
        &self.url
    }

    /// What the data dir records of these contents.
    pub fn record(&self) -> super::contents::Record {
        super::contents::Record {
            url: self.url.clone(),
            store: self.store_id.clone(),
        }
    }

    pub(super) fn spool(&self) -> &BlobFiles {
        &self.spool
    }

    /// How long gc leaves an unreferenced object alone ([`DEFAULT_GRACE`]
    /// unless set; tests set zero).
    pub fn set_grace(&self, grace: Duration) {
        *self.grace.lock().unwrap_or_else(|p| p.into_inner()) = grace;
    }

    pub fn grace(&self) -> Duration {
        *self.grace.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path_of(&self, hash: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{}/{}", self.root, &hash[..2], &hash[2..]))
    }

    /// Runs `future` on the backend's runtime and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .spawn(async move {
                let _ = tx.send(future.await);
            });
        rx.recv().expect("an object store task answers")
    }

    /// The error for a failed call about `what` (a blob, a listing). A 404
    /// here is the bucket's (object_store calls a missing bucket and a
    /// missing key alike): only [`ObjectContents::fetch`] reads it as a
    /// missing blob.
    fn error(&self, what: &str, e: object_store::Error) -> Error {
        Error::Unavailable {
            what: format!("the object store {}", self.describe()),
            detail: format!("{what}: {}", one_line(&e)),
        }
    }

    /// Claims the prefix for this store: writes the mark when there is none,
    /// and refuses a prefix another store's mark is on.
    pub fn claim(&self) -> Result<()> {
        match self.owner()? {
            Some(owner) if owner == self.store_id => Ok(()),
            Some(owner) => Err(self.taken(&owner)),
            None => {
                let (store, mark) = (self.store.clone(), self.mark.clone());
                let payload = PutPayload::from(format!("{}\n", self.store_id).into_bytes());
                self.run(async move { store.put(&mark, payload).await.map(|_| ()) })
                    .map_err(|e| self.error("marking the prefix as this store's", e))
            }
        }
    }

    /// Gives the prefix up: removes the mark when it names this store (a
    /// move that failed before its store existed anywhere). Its objects stay,
    /// harmless: named by their hashes, they are whoever claims it next's.
    pub fn release(&self) -> Result<()> {
        if self.owner()?.as_deref() != Some(self.store_id.as_str()) {
            return Ok(());
        }
        let (store, mark) = (self.store.clone(), self.mark.clone());
        self.run(async move { store.delete(&mark).await })
            .map_err(|e| self.error("removing the prefix's mark", e))
    }

    /// Fails unless the prefix's mark names this store (gc checks it before
    /// it removes anything).
    pub fn check_owner(&self) -> Result<()> {
        match self.owner()? {
            Some(owner) if owner == self.store_id => Ok(()),
            Some(owner) => Err(self.taken(&owner)),
            // The mark was removed by hand: put it back.
            None => self.claim(),
        }
    }

    fn owner(&self) -> Result<Option<String>> {
        let (store, mark) = (self.store.clone(), self.mark.clone());
        let got = self.run(async move {
            match store.get(&mark).await {
                Ok(got) => got.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let got = got.map_err(|e| self.error("reading the prefix's mark", e))?;
        Ok(got.map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string()))
    }

    fn taken(&self, owner: &str) -> Error {
        Error::Conflict(format!(
            "{} belongs to another store ({owner}; this one is {}): two stores on one \
             prefix would collect each other's contents; give this store a prefix of its own",
            self.url, self.store_id
        ))
    }

    /// Checks that the bucket is there and the credentials open it (one
    /// listing of at most one level): what a new store does before it
    /// records the location.
    pub fn probe(&self) -> Result<()> {
        let store = self.store.clone();
        let root = ObjectPath::from(self.root.clone());
        self.run(async move { store.list_with_delimiter(Some(&root)).await.map(|_| ()) })
            .map_err(|e| self.error("listing the bucket", e))
    }

    /// The bucket and where it is, for messages.
    fn describe(&self) -> String {
        match &self.url.endpoint {
            Some(endpoint) => format!("(bucket {} at {endpoint})", self.url.bucket),
            None => format!("(bucket {})", self.url.bucket),
        }
    }

    /// The object's size and age in seconds, or `None` when there is none.
    fn head(&self, hash: &str) -> Result<Option<(u64, u64)>> {
        let (store, path) = (self.store.clone(), self.path_of(hash));
        match self.run(async move { store.head(&path).await }) {
            Ok(meta) => Ok(Some((meta.size, age_secs(meta.last_modified.timestamp())))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&format!("looking up blob {hash}"), e)),
        }
    }

    /// Whether an upload of `hash` (`size` bytes) can be skipped: the object
    /// is there, whole, and young enough that no gc may take it before the
    /// writer's commit.
    fn reusable(&self, hash: &str, size: u64) -> Result<bool> {
        Ok(match self.head(hash)? {
            Some((stored, age)) => stored == size && age < self.grace().as_secs() / 2,
            None => false,
        })
    }

    /// Has `hook` called before each upload (or reuse of a stored object).
    pub fn set_before_upload(&self, hook: BeforeUpload) {
        let _ = self.before_upload.set(Hook(hook));
    }

    fn before_upload(&self) -> Result<()> {
        match self.before_upload.get() {
            Some(hook) => (hook.0)(),
            None => Ok(()),
        }
    }

    /// Stores `bytes` (one `PUT`), or finds them stored.
    pub fn put(&self, bytes: &[u8]) -> Result<Stored> {
        self.before_upload()?;
        let hash = hash_bytes(bytes);
        let size = bytes.len() as u64;
        if self.reusable(&hash, size)? {
            return Ok(large(hash, size, false));
        }
        let (store, path) = (self.store.clone(), self.path_of(&hash));
        let payload = PutPayload::from(bytes.to_vec());
        self.run(async move { store.put(&path, payload).await })
            .map_err(|e| self.error(&format!("storing blob {hash}"), e))?;
        Ok(large(hash, size, true))
    }

    /// Starts uploading `bytes` and returns at once; [`ObjectContents::sync`]
    /// waits for every such upload (a batch's transaction calls it before it
    /// commits). Up to [`UPLOADS_IN_FLIGHT`] go at once: an import's large
    /// files upload side by side instead of one round trip after another.
    pub fn put_deferred(&self, bytes: &[u8]) -> Result<Stored> {
        self.before_upload()?;
        let hash = hash_bytes(bytes);
        let size = bytes.len() as u64;
        let oldest = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            (pending.len() >= UPLOADS_IN_FLIGHT).then(|| pending.remove(0))
        };
        if let Some((waited, handle)) = oldest {
            self.join(&waited, handle)?;
        }
        let (store, path) = (self.store.clone(), self.path_of(&hash));
        let payload = PutPayload::from(bytes.to_vec());
        let renew_after = self.grace().as_secs() / 2;
        let handle = self
            .runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .spawn(async move {
                match store.head(&path).await {
                    Ok(meta)
                        if meta.size == size
                            && age_secs(meta.last_modified.timestamp()) < renew_after =>
                    {
                        return Ok(());
                    }
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                store.put(&path, payload).await.map(|_| ())
            });
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((hash.clone(), handle));
        Ok(large(hash, size, true))
    }

    /// Waits for every upload [`ObjectContents::put_deferred`] started; the
    /// first failure is the answer (every one is waited for).
    pub fn sync(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut first = Ok(());
        for (hash, handle) in pending {
            let joined = self.join(&hash, handle);
            if first.is_ok() {
                first = joined;
            }
        }
        first
    }

    fn join(
        &self,
        hash: &str,
        handle: tokio::task::JoinHandle<object_store::Result<()>>,
    ) -> Result<()> {
        match self.run(handle) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.error(&format!("storing blob {hash}"), e)),
            Err(e) => Err(Error::Unavailable {
                what: format!("the object store {}", self.describe()),
                detail: format!("storing blob {hash}: the upload ended: {e}"),
            }),
        }
    }

    /// Uploads received bytes from their temp file (in parts when large),
    /// or finds them stored.
    pub fn install(&self, received: Received) -> Result<Stored> {
        self.before_upload()?;
        let (hash, size) = (received.hash.clone(), received.size);
        if self.reusable(&hash, size)? {
            return Ok(large(hash, size, false));
        }
        let (store, path) = (self.store.clone(), self.path_of(&hash));
        let file = std::fs::File::open(received.path())
            .map_err(|e| Error::io(format!("reading back {}", received.path().display()), e))?;
        let upload = async move {
            let mut file = file;
            let local =
                |e: std::io::Error| Fetch::Local(Error::io("reading back a received upload", e));
            if size <= MULTIPART_FROM {
                let mut bytes = Vec::with_capacity(size as usize);
                file.read_to_end(&mut bytes).map_err(local)?;
                return store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map(|_| ())
                    .map_err(Fetch::Object);
            }
            let upload = store.put_multipart(&path).await.map_err(Fetch::Object)?;
            let mut parts = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; 1 << 20];
            let sent = async {
                loop {
                    parts
                        .wait_for_capacity(PARTS_IN_FLIGHT)
                        .await
                        .map_err(Fetch::Object)?;
                    let n = file.read(&mut buf).map_err(local)?;
                    if n == 0 {
                        return Ok(());
                    }
                    parts.write(&buf[..n]);
                }
            }
            .await;
            match sent {
                Ok(()) => parts.finish().await.map(|_| ()).map_err(Fetch::Object),
                Err(e) => {
                    // The parts sent so far would stay in the bucket, unlisted
                    // and billed: abandon the upload.
                    let _ = parts.abort().await;
                    Err(e)
                }
            }
        };
        match self.run(upload) {
            Ok(()) => {}
            Err(Fetch::Object(e)) => return Err(self.error(&format!("storing blob {hash}"), e)),
            Err(Fetch::Local(e)) => return Err(e),
        }
        // `received` removes its temp file as it drops.
        drop(received);
        Ok(large(hash, size, true))
    }

    /// Re-hashes every copy in the local cache and removes the ones that are
    /// not their name's bytes (a damaged disk); returns how many went.
    pub fn check_cache(&self) -> u64 {
        self.cache.check()
    }

    /// Whether the bucket holds blob `hash`.
    pub fn exists(&self, hash: &str) -> Result<bool> {
        Ok(self.head(hash)?.is_some())
    }

    /// Whether the bucket holds blob `hash` whole (`size` bytes).
    pub fn has(&self, hash: &str, size: u64) -> Result<bool> {
        Ok(self.head(hash)?.is_some_and(|(stored, _)| stored == size))
    }

    /// Opens a blob: its copy in the local cache, else the object, fetched
    /// into the cache (or, when too large for it, into an unlinked temp
    /// file), its bytes checked against its name on the way.
    pub fn open_blob(&self, hash: &str) -> Result<BlobReader> {
        if let Some(file) = self.cache.get(hash) {
            return Ok(BlobReader::File(file));
        }
        self.fetch(hash, true)
    }

    /// Opens a blob from the object store itself, never from the cache, and
    /// caches nothing (fsck checks what the bucket holds).
    pub fn open_fresh(&self, hash: &str) -> Result<BlobReader> {
        self.fetch(hash, false)
    }

    fn fetch(&self, hash: &str, admit: bool) -> Result<BlobReader> {
        if !is_hash(hash) {
            return Err(Error::Invalid(format!(
                "{hash:?} is not a content hash; the index is damaged (run `blockstore fsck`)"
            )));
        }
        let (store, path) = (self.store.clone(), self.path_of(hash));
        let cache = self.cache.clone();
        let spool = self.spool.temp_dir().to_path_buf();
        // The whole fetch is one task: a hop between threads per chunk would
        // cost more than the chunk. The copy is written on the runtime's
        // thread (its own, not a server's).
        let fetched = self.run(async move {
            let got = store.get(&path).await.map_err(Fetch::Object)?;
            // Not to be kept, and small enough: read into memory.
            if !cache.admits(got.meta.size, admit) && got.meta.size <= READ_WHOLE_MAX {
                let bytes = got.bytes().await.map_err(Fetch::Object)?;
                return Ok(Fetched::Bytes(bytes.to_vec()));
            }
            let mut filling = cache
                .start(got.meta.size, &spool, admit)
                .map_err(Fetch::Local)?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                filling
                    .write(&chunk.map_err(Fetch::Object)?)
                    .map_err(|e| Fetch::Local(Error::io("writing a blob into local space", e)))?;
            }
            Ok::<_, Fetch>(Fetched::Copy(Box::new(filling)))
        });
        match fetched {
            Err(Fetch::Object(object_store::Error::NotFound { .. })) => {
                Err(Error::MissingBlob(hash.to_string()))
            }
            Ok(Fetched::Copy(filling)) => Ok(BlobReader::File(self.cache.finish(*filling, hash)?)),
            // Not verified here, as a blob file's read is not: `read(_,
            // true)` and fsck re-hash. A copy is, because it is kept.
            Ok(Fetched::Bytes(bytes)) => Ok(BlobReader::Inline(std::io::Cursor::new(bytes))),
            Err(Fetch::Object(e)) => Err(self.error(hash, e)),
            Err(Fetch::Local(e)) => Err(e),
        }
    }

    /// Every blob object with its size; the ones younger than the grace
    /// period are also named in `recent`, which gc keeps whatever the index
    /// says. Objects under the prefix that are not blobs are left alone.
    pub fn list(&self) -> Result<Listing> {
        let store = self.store.clone();
        let root = ObjectPath::from(self.root.clone());
        let metas = self.run(async move {
            let mut out = Vec::new();
            let mut listing = store.list(Some(&root));
            while let Some(meta) = listing.next().await {
                out.push(meta?);
            }
            Ok::<_, object_store::Error>(out)
        });
        let metas = metas.map_err(|e| self.error("listing the blobs", e))?;
        let grace = self.grace().as_secs();
        let mut listing = Listing::default();
        for meta in metas {
            let name = meta.location.as_ref();
            let Some(rest) = name
                .strip_prefix(&self.root)
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            let hash = match rest.split_once('/') {
                Some((shard, tail)) if shard.len() == 2 => format!("{shard}{tail}"),
                _ => continue,
            };
            if !is_hash(&hash) {
                continue;
            }
            if age_secs(meta.last_modified.timestamp()) < grace {
                listing.recent.push(hash.clone());
            }
            listing.blobs.push((hash, meta.size));
        }
        listing.blobs.sort();
        Ok(listing)
    }

    /// Removes a blob's object; a missing one is not an error.
    pub fn remove(&self, hash: &str) -> Result<()> {
        if !is_hash(hash) {
            return Err(Error::Invalid(format!("{hash:?} is not a content hash")));
        }
        let (store, path) = (self.store.clone(), self.path_of(hash));
        self.cache.remove(hash);
        match self.run(async move { store.delete(&path).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(&format!("removing blob {hash}"), e)),
        }
    }
}

impl Drop for ObjectContents {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a fetch brought: a copy in a file, or the bytes in memory.
enum Fetched {
    Copy(Box<super::cache::Filling>),
    Bytes(Vec<u8>),
}

/// Why a fetch failed: the object store's call, or the local copy.
enum Fetch {
    Object(object_store::Error),
    Local(Error),
}

/// A large blob's [`Stored`] (`new`: this call uploaded it).
fn large(hash: String, size: u64, new: bool) -> Stored {
    Stored {
        hash,
        size,
        new,
        inline: None,
    }
}

/// Seconds since the Unix time `then` (0 for a time in the future).
fn age_secs(then: i64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now.saturating_sub(then).max(0) as u64
}

/// An error's message and its causes on one line (object_store's messages
/// name the request's URL and status, never its headers or signature).
fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out.replace('\n', " ")
}
