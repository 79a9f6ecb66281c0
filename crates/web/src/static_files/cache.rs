//! The small-file cache: the bytes and ready-made header values of small
//! files, so that serving one costs no system call at all — no `open`,
//! `fstat` or `sendfile`, and the body goes out in the same `writev` as the
//! head.
//!
//! Like nginx's `open_file_cache_valid`, an entry is trusted for
//! [`CACHE_REVALIDATE_AFTER`] and then revalidated with a `stat` of the file
//! (and of its precompressed siblings): a change of device, inode, size,
//! mtime or ctime reloads it, a missing file drops it. A file changed on disk
//! is therefore served stale for at most that interval.
//!
//! Entries are spread over [`SHARDS`] read-write-locked maps by key; a hit
//! takes one shard's read lock for a lookup and an `Arc` clone. Each shard
//! holds a share of the byte and entry budgets and evicts by a CLOCK sweep
//! (entries not hit since the last sweep go first). A file is cached only if
//! it and every sibling are at most [`CACHE_MAX_FILE_SIZE`] bytes; larger
//! files are opened and sent with `sendfile` on every request.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use osprey_proto::HeaderValue;

use super::resolve::{open_under_root, Opened, SymlinkPolicy};
use crate::coding::Coding;

/// Largest file (and precompressed sibling) kept in memory: small enough that
/// the cache holds many, large enough for typical HTML, CSS and scripts.
/// Larger files go through `sendfile`, which costs no copy anyway.
pub const CACHE_MAX_FILE_SIZE: u64 = 64 * 1024;

/// Total bytes of cached file contents (all variants), per handler.
pub const CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Most cached paths, per handler (a bound on the map itself, whatever the
/// file sizes).
pub const CACHE_MAX_ENTRIES: usize = 10_000;

/// How long an entry is trusted before a `stat` checks it again (nginx's
/// `open_file_cache_valid` defaults to 60 s; one second keeps edits visible
/// almost at once for a negligible cost).
pub const CACHE_REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// Number of independently locked parts of the cache.
pub const SHARDS: usize = 16;

/// Bookkeeping bytes counted per entry on top of its contents.
const ENTRY_OVERHEAD: u64 = 256;

/// The small-file cache's limits. [`CacheConfig::default`] uses the
/// `CACHE_*` constants; [`CacheConfig::disabled`] turns the cache off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Largest file cached ([`CACHE_MAX_FILE_SIZE`]).
    pub max_file_size: u64,
    /// Total cached bytes ([`CACHE_MAX_BYTES`]), split evenly over the shards.
    pub max_bytes: u64,
    /// Most entries ([`CACHE_MAX_ENTRIES`]), split evenly over the shards; 0
    /// disables the cache.
    pub max_entries: usize,
    /// Trust an entry this long before a `stat` ([`CACHE_REVALIDATE_AFTER`]).
    pub revalidate_after: Duration,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            max_file_size: CACHE_MAX_FILE_SIZE,
            max_bytes: CACHE_MAX_BYTES,
            max_entries: CACHE_MAX_ENTRIES,
            revalidate_after: CACHE_REVALIDATE_AFTER,
        }
    }
}

impl CacheConfig {
    /// No cache: every request opens its file.
    pub fn disabled() -> CacheConfig {
        CacheConfig {
            max_entries: 0,
            ..CacheConfig::default()
        }
    }
}

/// What identifies a file's version for revalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The stamp of the regular file at `path`; `Ok(None)` when there is none.
    fn at(path: &Path) -> io::Result<Option<Stamp>> {
        match fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(Some(Stamp::of(&m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One servable version of a cached file (the file itself or a sibling).
#[derive(Debug)]
pub(crate) struct Variant {
    pub(crate) bytes: Bytes,
    pub(crate) etag: HeaderValue,
    pub(crate) last_modified: HeaderValue,
    pub(crate) modified_secs: u64,
}

/// A cached file: its variants and precomputed header values.
#[derive(Debug)]
pub(crate) struct CachedFile {
    /// The file on disk (for revalidation).
    path: PathBuf,
    /// Whether the siblings are part of the entry (precompressed on).
    siblings_checked: bool,
    /// Identity, then [`Coding::ALL`] siblings; `None` = absent.
    stamps: [Option<Stamp>; 4],
    /// Identity, then siblings; `None` = absent or not servable.
    pub(crate) variants: [Option<Variant>; 4],
    pub(crate) content_type: HeaderValue,
    pub(crate) cache_control: Option<HeaderValue>,
    /// Nanoseconds since the cache's epoch of the last check.
    checked: AtomicU64,
    /// Hit since the last CLOCK sweep.
    referenced: AtomicBool,
    cost: u64,
}

/// `path` with `suffix` appended to its file name (`a.js` → `a.js.br`).
pub(crate) fn sibling_path(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Reads exactly `meta.len()` bytes of `file`; `None` if it changed meanwhile.
fn read_whole(file: &File, meta: &Metadata) -> Option<Bytes> {
    let mut buf = vec![0u8; usize::try_from(meta.len()).ok()?];
    file.read_exact_at(&mut buf, 0).ok()?;
    // The bytes must belong to the version the validators describe.
    let after = file.metadata().ok()?;
    (Stamp::of(&after) == Stamp::of(meta)).then(|| Bytes::from(buf))
}

/// What [`CachedFile::load`] needs to know about the handler.
pub(crate) struct LoadContext<'a> {
    pub(crate) root: &'a Path,
    pub(crate) policy: SymlinkPolicy,
    pub(crate) precompressed: bool,
    pub(crate) max_file_size: u64,
}

impl CachedFile {
    /// Builds an entry for the open file `file` at `path`, reading it and
    /// its siblings; `None` when something is too large, unreadable, or
    /// changed while it was read.
    pub(crate) fn load(
        cx: &LoadContext<'_>,
        path: &Path,
        file: &File,
        meta: &Metadata,
        content_type: HeaderValue,
        cache_control: Option<HeaderValue>,
    ) -> Option<CachedFile> {
        if meta.len() > cx.max_file_size {
            return None;
        }
        let mut stamps = [None; 4];
        let mut variants = [None, None, None, None];
        stamps[0] = Some(Stamp::of(meta));
        variants[0] = Some(variant(file, meta, None)?);
        if cx.precompressed {
            for e in Coding::ALL {
                let sib = sibling_path(path, e.suffix());
                let Some(stamp) = Stamp::at(&sib).ok()? else {
                    continue;
                };
                if stamp.len > cx.max_file_size {
                    return None;
                }
                stamps[1 + e.index()] = Some(stamp);
                if let Ok(Opened::File { file, meta }) = open_under_root(cx.root, &sib, cx.policy) {
                    variants[1 + e.index()] = Some(variant(&file, &meta, Some(e))?);
                }
            }
        }
        let cost = variants
            .iter()
            .flatten()
            .map(|v| v.bytes.len() as u64)
            .sum::<u64>()
            + ENTRY_OVERHEAD;
        Some(CachedFile {
            path: path.to_path_buf(),
            siblings_checked: cx.precompressed,
            stamps,
            variants,
            content_type,
            cache_control,
            checked: AtomicU64::new(0),
            referenced: AtomicBool::new(true),
            cost,
        })
    }

    /// Whether the files on disk are still those cached.
    fn still_valid(&self) -> bool {
        if Stamp::at(&self.path).ok() != Some(self.stamps[0]) {
            return false;
        }
        !self.siblings_checked
            || Coding::ALL.into_iter().all(|e| {
                Stamp::at(&sibling_path(&self.path, e.suffix())).ok()
                    == Some(self.stamps[1 + e.index()])
            })
    }

    /// Whether any precompressed sibling exists (servable or not: the
    /// answer then varies with `Accept-Encoding` all the same, as when the
    /// file is served uncached).
    pub(crate) fn has_siblings(&self) -> bool {
        self.stamps[1..].iter().any(Option::is_some)
    }
}

fn variant(file: &File, meta: &Metadata, encoding: Option<Coding>) -> Option<Variant> {
    let (last_modified, modified_secs) = super::last_modified_of(meta);
    Some(Variant {
        bytes: read_whole(file, meta)?,
        etag: super::etag_of(meta, encoding),
        last_modified,
        modified_secs,
    })
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Arc<CachedFile>>,
    bytes: u64,
}

/// The cache shared by every thread serving one [`super::StaticFiles`].
pub(crate) struct FileCache {
    shards: Box<[RwLock<Shard>]>,
    shard_bytes: u64,
    shard_entries: usize,
    max_file_size: u64,
    revalidate_nanos: u64,
    epoch: Instant,
}

impl FileCache {
    /// A cache with `config`'s limits; `None` when it is disabled.
    pub(crate) fn new(config: &CacheConfig) -> Option<FileCache> {
        if config.max_entries == 0 || config.max_bytes == 0 {
            return None;
        }
        Some(FileCache {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            shard_bytes: config.max_bytes / SHARDS as u64,
            shard_entries: config.max_entries.div_ceil(SHARDS),
            max_file_size: config.max_file_size,
            revalidate_nanos: u64::try_from(config.revalidate_after.as_nanos()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
        })
    }

    /// Largest file worth loading.
    pub(crate) fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    fn shard(&self, key: &str) -> &RwLock<Shard> {
        // A cheap spread of keys over shards (the map hashes properly).
        let h = key
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        &self.shards[h as usize % SHARDS]
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The entry for `key` if it is fresh, or was revalidated just now.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<CachedFile>> {
        let shard = self.shard(key);
        let entry = shard
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .get(key)
            .cloned()?;
        let now = self.now();
        if now.saturating_sub(entry.checked.load(Ordering::Relaxed)) <= self.revalidate_nanos {
            // Written only when clear, so a hot entry's cache line stays shared.
            if !entry.referenced.load(Ordering::Relaxed) {
                entry.referenced.store(true, Ordering::Relaxed);
            }
            return Some(entry);
        }
        if entry.still_valid() {
            entry.checked.store(now, Ordering::Relaxed);
            return Some(entry);
        }
        let mut guard = shard.write().unwrap_or_else(|e| e.into_inner());
        if guard.map.get(key).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
            guard.map.remove(key);
            guard.bytes -= entry.cost;
        }
        None
    }

    /// Stores `file` under `key` (replacing an older entry), evicting to stay
    /// within the shard's budgets; returns the entry to serve.
    pub(crate) fn insert(&self, key: &str, file: CachedFile) -> Arc<CachedFile> {
        file.checked.store(self.now(), Ordering::Relaxed);
        let entry = Arc::new(file);
        if entry.cost > self.shard_bytes {
            return entry;
        }
        let mut guard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        let shard = &mut *guard;
        if let Some(old) = shard.map.remove(key) {
            shard.bytes -= old.cost;
        }
        while shard.bytes + entry.cost > self.shard_bytes || shard.map.len() >= self.shard_entries {
            if !sweep(shard) {
                break;
            }
        }
        shard.bytes += entry.cost;
        shard.map.insert(key.into(), entry.clone());
        entry
    }
}

/// One CLOCK pass: drops entries not hit since the last pass and clears the
/// others' marks; if every entry was hit, drops one anyway. Returns whether
/// anything was dropped.
fn sweep(shard: &mut Shard) -> bool {
    let mut victims: Vec<Box<str>> = shard
        .map
        .iter()
        .filter(|(_, e)| !e.referenced.swap(false, Ordering::Relaxed))
        .map(|(k, _)| k.clone())
        .collect();
    if victims.is_empty() {
        victims.extend(shard.map.keys().next().cloned());
    }
    for k in &victims {
        if let Some(e) = shard.map.remove(k) {
            shard.bytes -= e.cost;
        }
    }
    !victims.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(root: &Path) -> LoadContext<'_> {
        LoadContext {
            root,
            policy: SymlinkPolicy::InsideRoot,
            precompressed: true,
            max_file_size: CACHE_MAX_FILE_SIZE,
        }
    }

    fn load(root: &Path, name: &str) -> Option<CachedFile> {
        let path = root.join(name);
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        CachedFile::load(
            &cx(root),
            &path,
            &file,
            &meta,
            HeaderValue::from_static("text/plain"),
            None,
        )
    }

    fn root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn loads_variants() {
        let (_d, root) = root();
        fs::write(root.join("a.js"), "identity").unwrap();
        fs::write(root.join("a.js.br"), "brotli").unwrap();
        fs::write(root.join("a.js.gz"), "gzip").unwrap();
        let entry = load(&root, "a.js").unwrap();
        let body = |i: usize| entry.variants[i].as_ref().map(|v| v.bytes.clone());
        assert_eq!(body(0).as_deref(), Some(&b"identity"[..]));
        assert_eq!(body(1).as_deref(), Some(&b"brotli"[..]));
        assert_eq!(body(2), None);
        assert_eq!(body(3).as_deref(), Some(&b"gzip"[..]));
        assert!(entry.has_siblings());
        let tags: Vec<_> = entry
            .variants
            .iter()
            .flatten()
            .map(|v| v.etag.clone())
            .collect();
        assert_eq!(tags.len(), 3);
        assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);
        assert!(entry.still_valid());
    }

    #[test]
    fn too_large_is_not_cached() {
        let (_d, root) = root();
        fs::write(
            root.join("big"),
            vec![0u8; CACHE_MAX_FILE_SIZE as usize + 1],
        )
        .unwrap();
        assert!(load(&root, "big").is_none());
        fs::write(root.join("small"), "x").unwrap();
        fs::write(
            root.join("small.gz"),
            vec![0u8; CACHE_MAX_FILE_SIZE as usize + 1],
        )
        .unwrap();
        assert!(load(&root, "small").is_none());
    }

    #[test]
    fn revalidation_sees_changes() {
        let (_d, root) = root();
        let config = CacheConfig {
            revalidate_after: Duration::ZERO,
            ..CacheConfig::default()
        };
        let cache = FileCache::new(&config).unwrap();
        fs::write(root.join("f"), "one").unwrap();
        cache.insert("f", load(&root, "f").unwrap());
        assert!(cache.get("f").is_some());
        // A new sibling changes the entry (Vary and variants differ).
        fs::write(root.join("f.zst"), "z").unwrap();
        assert!(cache.get("f").is_none());
        cache.insert("f", load(&root, "f").unwrap());
        assert!(cache.get("f").is_some());
        fs::write(root.join("f"), "two!").unwrap();
        assert!(cache.get("f").is_none());
        assert!(cache.get("f").is_none(), "dropped, not re-added");
        fs::remove_file(root.join("f")).unwrap();
        assert!(cache.get("f").is_none());
    }

    #[test]
    fn fresh_entries_are_trusted_without_stat() {
        let (_d, root) = root();
        let cache = FileCache::new(&CacheConfig {
            revalidate_after: Duration::from_secs(3600),
            ..CacheConfig::default()
        })
        .unwrap();
        fs::write(root.join("f"), "one").unwrap();
        cache.insert("f", load(&root, "f").unwrap());
        fs::remove_file(root.join("f")).unwrap();
        let hit = cache.get("f").unwrap();
        assert_eq!(&hit.variants[0].as_ref().unwrap().bytes[..], b"one");
    }

    #[test]
    fn budgets_evict() {
        let (_d, root) = root();
        fs::write(root.join("f"), vec![b'x'; 1000]).unwrap();
        let cache = FileCache::new(&CacheConfig {
            max_entries: SHARDS * 2,
            max_bytes: SHARDS as u64 * 4000,
            ..CacheConfig::default()
        })
        .unwrap();
        for i in 0..200 {
            cache.insert(&format!("k{i}"), load(&root, "f").unwrap());
        }
        for shard in cache.shards.iter() {
            let s = shard.read().unwrap();
            assert!(s.map.len() <= 2, "{}", s.map.len());
            assert!(s.bytes <= 4000);
            assert_eq!(s.bytes, s.map.values().map(|e| e.cost).sum::<u64>());
        }
        assert!(FileCache::new(&CacheConfig::disabled()).is_none());
    }

    #[test]
    fn sibling_paths() {
        assert_eq!(
            sibling_path(Path::new("/a/b.js"), ".br"),
            PathBuf::from("/a/b.js.br")
        );
    }
}
