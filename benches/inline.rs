//! Where small contents belong (issue 17): inline in the index or one file
//! each. For each content size (1, 4, 16, 32, 64, 128 and 256 KiB of random,
//! distinct bytes) two fresh stores in a scratch folder on the data dir's
//! filesystem are written and read the two ways:
//!
//! - **inline**: `store.db` (WAL, `synchronous=FULL`, 4,096-byte pages,
//!   `cache_size=-16384`, as `store::db::open` sets them) with
//!   `content (content_id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
//!   bytes BLOB NOT NULL)`;
//! - **file**: `blobs/ab/cdef…` (all 256 shards made first, as
//!   `BlobStore::open` does) plus a `store.db` like the one above whose
//!   `content` rows hold the hash and size instead of the bytes.
//!
//! Measured, the two ways interleaved where they can be:
//!
//! 1. **Single durable write** (one HTTP PUT): inline, `BEGIN IMMEDIATE;
//!    INSERT …; COMMIT`; file, a temp file in the shard + fsync + rename +
//!    fsync of the shard, then the same one-row commit naming it. Median and
//!    p90 per write (autocheckpoints of the WAL included: they run inside a
//!    commit).
//! 2. **Batch write** (import): N contents in one transaction, against N
//!    files written straight to their names without fsync, one `syncfs`,
//!    and one commit of their N rows. Contents/s.
//! 3. **Random point reads**, warm, after the writes and a
//!    `wal_checkpoint(TRUNCATE)`: contents picked at random by hash, inline
//!    with a cached prepared `SELECT bytes FROM content WHERE hash=?` on a
//!    read-only connection, file with `open` + `read_to_end`. Median per read.
//! 4. **Disk**: allocated bytes (`st_blocks` × 512 over every file and folder
//!    of the store, `store.db`, `-wal` and `-shm` included, after the
//!    checkpoint), less the same sum for the empty store, per unique content
//!    byte written.
//!
//! Hashing and generating the bytes are outside every timing; the
//! filesystem's dirty pages are flushed (`syncfs`) before the single writes
//! and before each batch. Prints a
//! Markdown table on stdout, progress on stderr:
//!
//! ```text
//! cargo bench --bench inline                 # 200 writes, batches and reads of 2,000; about 1-2 minutes
//! cargo bench --bench inline -- --quick      # 50 writes, 500 in a batch, 500 reads
//! cargo bench --bench inline -- --help       # all options
//! ```

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod common;
use common::*;

const USAGE: &str = "\
cargo bench --bench inline -- [OPTIONS]

  --quick          50 single writes, batches of 500, 500 reads
  --writes N       single durable writes per size and way (default 200)
  --batch N        contents in the batch write (default 2000)
  --reads N        random point reads per size and way (default 2000)
  --sizes LIST     content sizes in KiB (default 1,4,16,32,64,128,256)
  --work DIR       scratch folder; must be on the data dir's filesystem
                   (default: a new folder in CARGO_MANIFEST_DIR/target)
  --keep           keep the scratch folder";

struct Options {
    writes: usize,
    batch: usize,
    reads: usize,
    sizes: Vec<usize>,
    work: Option<PathBuf>,
    keep: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        writes: 200,
        batch: 2000,
        reads: 2000,
        sizes: vec![1, 4, 16, 32, 64, 128, 256],
        work: None,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{name}: {v:?} is not a positive number"))
        };
        match arg.as_str() {
            "--quick" => (o.writes, o.batch, o.reads) = (50, 500, 500),
            "--writes" => o.writes = number(&arg, value(&arg)?)?,
            "--batch" => o.batch = number(&arg, value(&arg)?)?,
            "--reads" => o.reads = number(&arg, value(&arg)?)?,
            "--sizes" => {
                o.sizes = value(&arg)?
                    .split(',')
                    .map(|s| number(&arg, s.trim().to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--work" => o.work = Some(PathBuf::from(value(&arg)?)),
            "--keep" => o.keep = true,
            "--help" | "-h" => return Err(String::new()),
            _ => {} // cargo bench passes --bench
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{USAGE}");
            if e.is_empty() {
                return ExitCode::SUCCESS;
            }
            eprintln!("\n{e}");
            return ExitCode::from(2);
        }
    };
    let scratch = match &o.work {
        Some(dir) => {
            fs::create_dir_all(dir).expect("the scratch folder");
            tempfile::Builder::new()
                .prefix("inline-bench-")
                .tempdir_in(dir)
        }
        None => {
            let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
            fs::create_dir_all(&target).expect("the target folder");
            tempfile::Builder::new()
                .prefix("inline-bench-")
                .tempdir_in(target)
        }
    }
    .expect("a scratch folder");
    let work = scratch.path().to_path_buf();
    let started = Instant::now();
    eprintln!("machine: {}", machine(&work));
    eprintln!("scratch: {}", work.display());

    let mut rows = Vec::new();
    for &kib in &o.sizes {
        if let Err(e) = enough_space(&work, kib * 1024, &o) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        rows.push(measure(&work, kib * 1024, &o));
    }

    println!(
        "Single write: one durable PUT, median / p90 over {} writes. Batch: {} contents \
         in one commit. Read: median of {} warm random reads by hash. Disk: allocated \
         bytes per unique content byte.\n",
        o.writes, o.batch, o.reads
    );
    println!(
        "| size | single write inline (µs) | single write file (µs) | batch inline (contents/s) \
         | batch file (contents/s) | read inline (µs) | read file (µs) | disk inline | disk file |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} KiB | {:.0} / {:.0} | {:.0} / {:.0} | {} | {} | {:.1} | {:.1} | {:.2}× | {:.2}× |",
            r.size / 1024,
            r.put_inline.0,
            r.put_inline.1,
            r.put_file.0,
            r.put_file.1,
            thousands(r.batch_inline as u64),
            thousands(r.batch_file as u64),
            r.read_inline,
            r.read_file,
            r.disk_inline,
            r.disk_file,
        );
    }
    println!(
        "\nmachine: {}; load average after: {}",
        machine(&work),
        loadavg()
    );
    eprintln!("done in {}", secs(started.elapsed().as_secs_f64()));
    if o.keep {
        eprintln!("kept {}", scratch.keep().display());
    }
    ExitCode::SUCCESS
}

/// One size's figures.
struct Figures {
    size: usize,
    /// Median and p90, µs.
    put_inline: (f64, f64),
    put_file: (f64, f64),
    /// Contents per second.
    batch_inline: f64,
    batch_file: f64,
    /// Median µs per read.
    read_inline: f64,
    read_file: f64,
    /// Allocated bytes per unique content byte.
    disk_inline: f64,
    disk_file: f64,
}

/// Refuses a size whose two stores (the inline one's WAL and database both
/// hold the batch until the checkpoint) would leave less than 1 GiB free.
fn enough_space(work: &Path, size: usize, o: &Options) -> Result<(), String> {
    let st = rustix::fs::statvfs(work).map_err(|e| format!("statvfs {}: {e}", work.display()))?;
    let free = st.f_bavail * st.f_frsize;
    let content = ((o.writes + o.batch) * size) as u64;
    let needed = 3 * content + (1 << 30);
    if free < needed {
        return Err(format!(
            "{} KiB contents need about {} free on {} ({} free): use fewer (--batch, --sizes)",
            size / 1024,
            mb(needed),
            work.display(),
            mb(free)
        ));
    }
    Ok(())
}

fn measure(work: &Path, size: usize, o: &Options) -> Figures {
    let label = format!("{} KiB", size / 1024);
    let inline_dir = work.join(format!("inline-{}k", size / 1024));
    let file_dir = work.join(format!("file-{}k", size / 1024));
    let mut inline = Inline::create(&inline_dir);
    let mut files = Files::create(&file_dir);
    let empty_inline = allocated(&inline_dir);
    let empty_file = allocated(&file_dir);

    // Distinct random contents for each size and phase (the seed differs).
    let mut rng = Rng(0x5eed ^ ((size as u64) << 20));
    let singles: Vec<Content> = (0..o.writes)
        .map(|_| Content::random(&mut rng, size))
        .collect();
    let batch: Vec<Content> = (0..o.batch)
        .map(|_| Content::random(&mut rng, size))
        .collect();

    // 1. Single durable writes, the two ways alternating. Dirty pages left
    // by the setup (and the previous size's removal) are flushed first, here
    // and before each batch, so no `fsync` or `syncfs` pays for them.
    settle(work);
    eprintln!("{label}: {} single durable writes each way", o.writes);
    let mut put_inline = Vec::with_capacity(o.writes);
    let mut put_file = Vec::with_capacity(o.writes);
    for c in &singles {
        let t = Instant::now();
        inline.put(c);
        put_inline.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        files.put(c);
        put_file.push(t.elapsed().as_secs_f64() * 1e6);
    }

    // 2. One batch each way; which goes first alternates with the size.
    eprintln!("{label}: a batch of {} each way", o.batch);
    let first_inline = (size / 1024).trailing_zeros().is_multiple_of(2);
    let (mut batch_inline, mut batch_file) = (0.0, 0.0);
    for turn in 0..2 {
        settle(work);
        if (turn == 0) == first_inline {
            let t = Instant::now();
            inline.put_batch(&batch);
            batch_inline = batch.len() as f64 / t.elapsed().as_secs_f64();
        } else {
            let t = Instant::now();
            files.put_batch(&batch);
            batch_file = batch.len() as f64 / t.elapsed().as_secs_f64();
        }
    }

    // 4. Disk, after a checkpoint (also what the reads then find).
    inline.checkpoint();
    files.checkpoint();
    let unique = ((o.writes + o.batch) * size) as f64;
    let disk_inline = (allocated(&inline_dir) - empty_inline) as f64 / unique;
    let disk_file = (allocated(&file_dir) - empty_file) as f64 / unique;

    // 3. Warm random reads by hash, alternating, the same picks both ways.
    eprintln!("{label}: {} random reads each way", o.reads);
    let hashes: Vec<&str> = singles
        .iter()
        .chain(&batch)
        .map(|c| c.hash.as_str())
        .collect();
    let reader = inline.reader();
    let mut read_inline = Vec::with_capacity(o.reads);
    let mut read_file = Vec::with_capacity(o.reads);
    for _ in 0..o.reads {
        let hash = hashes[rng.below(hashes.len())];
        let t = Instant::now();
        let a = Inline::read(&reader, hash);
        read_inline.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let b = files.read(hash);
        read_file.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(a.len() == size && a == b, "{hash}: the two ways differ");
    }
    drop(reader);
    drop(inline);
    drop(files);
    let _ = fs::remove_dir_all(&inline_dir);
    let _ = fs::remove_dir_all(&file_dir);

    let f = Figures {
        size,
        put_inline: (median(&put_inline), percentile(&put_inline, 0.9)),
        put_file: (median(&put_file), percentile(&put_file, 0.9)),
        batch_inline,
        batch_file,
        read_inline: median(&read_inline),
        read_file: median(&read_file),
        disk_inline,
        disk_file,
    };
    eprintln!(
        "  single write {:.0}/{:.0} µs inline, {:.0}/{:.0} µs file; batch {:.0} vs {:.0} contents/s; \
         read {:.1} vs {:.1} µs; disk {:.2}× vs {:.2}×",
        f.put_inline.0,
        f.put_inline.1,
        f.put_file.0,
        f.put_file.1,
        f.batch_inline,
        f.batch_file,
        f.read_inline,
        f.read_file,
        f.disk_inline,
        f.disk_file
    );
    f
}

// ---------------------------------------------------------------------------
// The two ways

/// Opens an index the way `store::db::open` does.
fn open_db(path: &Path, schema: &str) -> Connection {
    let flags = OpenFlags::default() | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).expect("opening store.db");
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "cache_size", -16384).unwrap();
    conn.pragma_update(None, "temp_store", "MEMORY").unwrap();
    conn.execute_batch(schema).unwrap();
    conn
}

fn checkpoint(conn: &Connection) {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("a checkpoint");
}

struct Inline {
    path: PathBuf,
    conn: Connection,
}

impl Inline {
    fn create(dir: &Path) -> Inline {
        fs::create_dir_all(dir).unwrap();
        let path = dir.join("store.db");
        let conn = open_db(
            &path,
            "CREATE TABLE content (content_id INTEGER PRIMARY KEY, \
             hash TEXT NOT NULL UNIQUE, bytes BLOB NOT NULL);",
        );
        Inline { path, conn }
    }

    fn put(&mut self, c: &Content) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.prepare_cached("INSERT INTO content (hash, bytes) VALUES (?1, ?2)")
            .unwrap()
            .execute(params![c.hash, c.bytes])
            .unwrap();
        tx.commit().unwrap();
    }

    fn put_batch(&mut self, batch: &[Content]) {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO content (hash, bytes) VALUES (?1, ?2)")
                .unwrap();
            for c in batch {
                insert.execute(params![c.hash, c.bytes]).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    fn checkpoint(&self) {
        checkpoint(&self.conn);
    }

    /// A read-only connection, as the store's read pool opens them.
    fn reader(&self) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).unwrap();
        conn.pragma_update(None, "cache_size", -16384).unwrap();
        conn
    }

    fn read(reader: &Connection, hash: &str) -> Vec<u8> {
        reader
            .prepare_cached("SELECT bytes FROM content WHERE hash = ?1")
            .unwrap()
            .query_row([hash], |r| r.get(0))
            .unwrap()
    }
}

struct Files {
    blobs: PathBuf,
    conn: Connection,
    counter: u64,
}

impl Files {
    fn create(dir: &Path) -> Files {
        let blobs = dir.join("blobs");
        for shard in 0..=255u8 {
            fs::create_dir_all(blobs.join(format!("{shard:02x}"))).unwrap();
        }
        let conn = open_db(
            &dir.join("store.db"),
            "CREATE TABLE content (content_id INTEGER PRIMARY KEY, \
             hash TEXT NOT NULL UNIQUE, size INTEGER NOT NULL);",
        );
        Files {
            blobs,
            conn,
            counter: 0,
        }
    }

    fn path_of(&self, hash: &str) -> PathBuf {
        self.blobs.join(&hash[..2]).join(&hash[2..])
    }

    /// `BlobStore::put`, then the row that names the blob.
    fn put(&mut self, c: &Content) {
        let target = self.path_of(&c.hash);
        let shard = target.parent().unwrap();
        self.counter += 1;
        let tmp = shard.join(format!(".tmp-{}-{}", std::process::id(), self.counter));
        let mut file = File::create(&tmp).unwrap();
        file.write_all(&c.bytes).unwrap();
        file.sync_all().unwrap();
        drop(file);
        fs::rename(&tmp, &target).unwrap();
        File::open(shard).unwrap().sync_all().unwrap();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.prepare_cached("INSERT INTO content (hash, size) VALUES (?1, ?2)")
            .unwrap()
            .execute(params![c.hash, c.bytes.len() as i64])
            .unwrap();
        tx.commit().unwrap();
    }

    /// `BlobStore::put_deferred` for each, one `syncfs`, one commit.
    fn put_batch(&mut self, batch: &[Content]) {
        for c in batch {
            let mut file = File::options()
                .write(true)
                .create_new(true)
                .open(self.path_of(&c.hash))
                .unwrap();
            file.write_all(&c.bytes).unwrap();
        }
        rustix::fs::syncfs(File::open(&self.blobs).unwrap()).expect("syncfs");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO content (hash, size) VALUES (?1, ?2)")
                .unwrap();
            for c in batch {
                insert
                    .execute(params![c.hash, c.bytes.len() as i64])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }

    fn checkpoint(&self) {
        checkpoint(&self.conn);
    }

    /// `BlobStore::read` without verifying.
    fn read(&self, hash: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        File::open(self.path_of(hash))
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    }
}

// ---------------------------------------------------------------------------
// Helpers

struct Content {
    hash: String,
    bytes: Vec<u8>,
}

impl Content {
    fn random(rng: &mut Rng, size: usize) -> Content {
        let mut bytes = Vec::with_capacity(size + 8);
        while bytes.len() < size {
            bytes.extend_from_slice(&rng.next().to_le_bytes());
        }
        bytes.truncate(size);
        Content {
            hash: blockstore::store::hash_bytes(&bytes),
            bytes,
        }
    }
}

/// SplitMix64: incompressible bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Nearest-rank percentile (`p` in 0..=1).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Allocated bytes (`st_blocks` × 512) of every file and folder under `dir`.
fn allocated(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
        .sum()
}
