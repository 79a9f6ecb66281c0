//! The open-file cache: per served path, ready-made header values and either
//! the bytes (small files) or an open descriptor (larger ones), so that
//! serving a cached file costs no `open`, `fstat`, symlink check or `close`.
//! A small file's body goes out in the same `writev` as the head; a larger
//! one through `sendfile` from the kept descriptor, whose pages the page
//! cache shares — copying them through user space would cost more than the
//! system call saves (and, on loopback, make the reader pull the copy across
//! cores).
//!
//! Like nginx's `open_file_cache_valid`, an entry is trusted for
//! [`CACHE_REVALIDATE_AFTER`] and then revalidated with a `stat` of the file
//! (and of its precompressed siblings): a change of device, inode, size,
//! mtime or ctime reloads it, a missing file drops it. A file changed on disk
//! is therefore served stale for at most that interval. (A file rewritten in
//! place within that interval may be sent with the old length; the server
//! then closes the connection rather than send a wrong body.)
//!
//! Entries are spread over [`SHARDS`] read-write-locked maps by key; a hit
//! takes one shard's read lock for a lookup and an `Arc` clone. Each shard
//! holds a share of the byte, entry and descriptor budgets and evicts by a
//! CLOCK sweep (entries not hit since the last sweep go first).

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

use super::content::{etag_of, last_modified_of, Content};
use super::resolve::{open_under_root, Opened, SymlinkPolicy};
use osprey_web::coding::Coding;

/// Largest file (and precompressed sibling) whose bytes are kept in memory
/// and written with the head in one `writev`. Larger files keep an open
/// descriptor and go out with `sendfile`. Measured on loopback (one core
/// each for server and client): at 604 bytes the in-memory copy wins, at
/// 16 KiB `sendfile` does; 8 KiB is where the two meet.
pub const CACHE_MAX_FILE_SIZE: u64 = 8 * 1024;

/// Open descriptors the cache keeps, per handler: nginx's `open_file_cache
/// max=1000` order of magnitude, far below the descriptor limit the server
/// raises at start.
pub const CACHE_MAX_OPEN_FILES: usize = 1024;

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

/// The open-file cache's limits. [`CacheConfig::default`] uses the
/// `CACHE_*` constants; [`CacheConfig::disabled`] turns the cache off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Largest file kept in memory ([`CACHE_MAX_FILE_SIZE`]); larger ones
    /// are cached as open descriptors.
    pub max_file_size: u64,
    /// Most open descriptors kept ([`CACHE_MAX_OPEN_FILES`]), split evenly
    /// over the shards; 0 keeps none (larger files are opened per request).
    pub max_open_files: usize,
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
            max_open_files: CACHE_MAX_OPEN_FILES,
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
    pub(crate) content: Content,
    pub(crate) len: u64,
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
    /// Bytes held in memory (contents and bookkeeping).
    cost: u64,
    /// Descriptors held open.
    open_files: usize,
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
    /// Builds an entry for the open file `file` at `path`: small files and
    /// siblings are read, larger ones kept open. `None` when something is
    /// unreadable or changed while it was read.
    pub(crate) fn load(
        cx: &LoadContext<'_>,
        path: &Path,
        file: File,
        meta: &Metadata,
        content_type: HeaderValue,
        cache_control: Option<HeaderValue>,
    ) -> Option<CachedFile> {
        let mut stamps = [None; 4];
        let mut variants = [None, None, None, None];
        stamps[0] = Some(Stamp::of(meta));
        variants[0] = Some(variant(cx, file, meta, None)?);
        if cx.precompressed {
            for e in Coding::ALL {
                let sib = sibling_path(path, e.suffix());
                let Some(stamp) = Stamp::at(&sib).ok()? else {
                    continue;
                };
                stamps[1 + e.index()] = Some(stamp);
                if let Ok(Opened::File { file, meta }) = open_under_root(cx.root, &sib, cx.policy) {
                    variants[1 + e.index()] = Some(variant(cx, file, &meta, Some(e))?);
                }
            }
        }
        let held = variants.iter().flatten();
        let cost = held.clone().map(|v| v.content.bytes_held()).sum::<u64>() + ENTRY_OVERHEAD;
        let open_files = held
            .filter(|v| matches!(v.content, Content::File(_)))
            .count();
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
            open_files,
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

fn variant(
    cx: &LoadContext<'_>,
    file: File,
    meta: &Metadata,
    encoding: Option<Coding>,
) -> Option<Variant> {
    let (last_modified, modified_secs) = last_modified_of(meta);
    let content = if meta.len() <= cx.max_file_size {
        Content::Bytes(read_whole(&file, meta)?)
    } else {
        Content::File(Arc::new(file))
    };
    Some(Variant {
        content,
        len: meta.len(),
        etag: etag_of(meta, encoding),
        last_modified,
        modified_secs,
    })
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Arc<CachedFile>>,
    bytes: u64,
    open_files: usize,
}

impl Shard {
    fn remove(&mut self, key: &str) -> Option<Arc<CachedFile>> {
        let old = self.map.remove(key)?;
        self.bytes -= old.cost;
        self.open_files -= old.open_files;
        Some(old)
    }
}

/// The cache shared by every thread serving one [`super::StaticFiles`].
pub(crate) struct FileCache {
    shards: Box<[RwLock<Shard>]>,
    shard_bytes: u64,
    shard_entries: usize,
    shard_open_files: usize,
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
            shard_open_files: config.max_open_files / SHARDS,
            max_file_size: config.max_file_size,
            revalidate_nanos: u64::try_from(config.revalidate_after.as_nanos()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
        })
    }

    /// Whether a file of `len` bytes can be cached: in memory, or as a
    /// descriptor when the cache keeps any.
    pub(crate) fn takes(&self, len: u64) -> bool {
        len <= self.max_file_size || self.shard_open_files > 0
    }

    /// Largest file kept in memory.
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
            guard.remove(key);
        }
        None
    }

    /// Stores `file` under `key` (replacing an older entry), evicting to stay
    /// within the shard's budgets; returns the entry to serve.
    pub(crate) fn insert(&self, key: &str, file: CachedFile) -> Arc<CachedFile> {
        file.checked.store(self.now(), Ordering::Relaxed);
        let entry = Arc::new(file);
        if entry.cost > self.shard_bytes || entry.open_files > self.shard_open_files {
            return entry;
        }
        let mut guard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        let shard = &mut *guard;
        shard.remove(key);
        while shard.bytes + entry.cost > self.shard_bytes
            || shard.open_files + entry.open_files > self.shard_open_files
            || shard.map.len() >= self.shard_entries
        {
            if !sweep(shard) {
                break;
            }
        }
        shard.bytes += entry.cost;
        shard.open_files += entry.open_files;
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
        shard.remove(k);
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
            file,
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
        let body = |i: usize| entry.variants[i].as_ref().map(|v| in_memory(&v.content));
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

    fn in_memory(content: &Content) -> Bytes {
        match content {
            Content::Bytes(b) => b.clone(),
            Content::File(_) => panic!("kept as a descriptor"),
        }
    }

    #[test]
    fn large_files_are_kept_open_not_read() {
        let (_d, root) = root();
        let big = CACHE_MAX_FILE_SIZE as usize + 1;
        fs::write(root.join("big"), vec![7u8; big]).unwrap();
        let entry = load(&root, "big").unwrap();
        let v = entry.variants[0].as_ref().unwrap();
        assert!(matches!(v.content, Content::File(_)));
        assert_eq!(v.len, big as u64);
        assert_eq!((entry.cost, entry.open_files), (ENTRY_OVERHEAD, 1));
        // A small file with a large sibling: bytes for one, a descriptor for
        // the other.
        fs::write(root.join("small"), "x").unwrap();
        fs::write(root.join("small.gz"), vec![0u8; big]).unwrap();
        let entry = load(&root, "small").unwrap();
        assert_eq!(
            &in_memory(&entry.variants[0].as_ref().unwrap().content)[..],
            b"x"
        );
        assert!(matches!(
            entry.variants[3].as_ref().unwrap().content,
            Content::File(_)
        ));
        assert_eq!(entry.open_files, 1);
    }

    #[test]
    fn descriptor_budget_evicts() {
        let (_d, root) = root();
        fs::write(
            root.join("big"),
            vec![0u8; CACHE_MAX_FILE_SIZE as usize + 1],
        )
        .unwrap();
        let cache = FileCache::new(&CacheConfig {
            max_open_files: SHARDS * 3,
            ..CacheConfig::default()
        })
        .unwrap();
        for i in 0..300 {
            cache.insert(&format!("k{i}"), load(&root, "big").unwrap());
        }
        for shard in cache.shards.iter() {
            let s = shard.read().unwrap();
            assert!(s.open_files <= 3, "{}", s.open_files);
            assert_eq!(
                s.open_files,
                s.map.values().map(|e| e.open_files).sum::<usize>()
            );
        }
        let none = FileCache::new(&CacheConfig {
            max_open_files: 0,
            ..CacheConfig::default()
        })
        .unwrap();
        assert!(!none.takes(CACHE_MAX_FILE_SIZE + 1) && none.takes(CACHE_MAX_FILE_SIZE));
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
        assert_eq!(
            &in_memory(&hit.variants[0].as_ref().unwrap().content)[..],
            b"one"
        );
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
