//! Safe mapping of a request path to a file under the served root.
//!
//! Two stages. [`map_path`] is pure and lexical: it refuses what can never
//! name a file safely (NUL and other control bytes, backslashes, encoded
//! separators), resolves `.` and `..` without touching the disk, refuses a
//! `..` that would climb above the root, collapses empty segments and hides
//! dotfiles. [`open_under_root`] then opens the result and applies the
//! [`SymlinkPolicy`] to the file that was *actually opened*: on Linux the
//! kernel tells us the real path of an open descriptor (`/proc/self/fd/N`),
//! so there is no window between checking a path and opening it.
//!
//! The request path has been percent-decoded exactly once by the request
//! (`%252e` stays the literal `%2e`); the raw path is consulted only for
//! `%2F` and `%5C`, which decode to separators the router and the file system
//! would read differently.

use std::borrow::Cow;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The longest file name Linux accepts in one path component (`NAME_MAX`).
/// A longer segment cannot exist, so it is a 404 without a system call.
const NAME_MAX: usize = 255;

/// What to do with symbolic links met while opening a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SymlinkPolicy {
    /// Follow links whose target is inside the root (the default): the real
    /// path of the opened file must lie under the canonical root, whatever
    /// links (of files or of directories on the way) led to it.
    #[default]
    InsideRoot,
    /// Refuse any path that goes through a link, inside the root or not.
    Never,
    /// Follow every link, even out of the root (for trees that are links
    /// into a package store, say). Lexical checks still apply.
    Always,
}

/// Why a request path cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Malformed for a file path (NUL, control byte, backslash, encoded
    /// separator, or a `..` above the root): 400.
    BadRequest,
    /// Refused without saying why (a dotfile while hidden files are off, a
    /// name too long to exist): 404.
    NotFound,
}

/// A request path mapped under the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped<'a> {
    /// The path relative to the root: segments joined by `/`, with no
    /// leading or trailing `/` and no empty, `.` or `..` segment; `""` is
    /// the root itself. Borrowed from the request when it was already in
    /// that form (the common case costs no allocation).
    pub relative: Cow<'a, str>,
    /// Whether the path names a directory explicitly (it ended with `/`,
    /// `/.` or `/..`, or it is the root).
    pub trailing_slash: bool,
}

/// Whether `raw` (the path as sent) holds `%2F` or `%5C`, in any case.
/// Decoded, they are separators hidden inside one segment: refused (400).
pub fn has_encoded_separator(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'%' && b.get(i + 1) == Some(&b'2') && matches!(b.get(i + 2), Some(b'f' | b'F'))
            || c == b'%' && b.get(i + 1) == Some(&b'5') && matches!(b.get(i + 2), Some(b'c' | b'C'))
    })
}

/// Maps a decoded request path (`/a/b.txt`, or a catch-all value `a/b.txt`)
/// to a path relative to the root. See the module documentation for the
/// rules; `allow_hidden` lets segments starting with `.` through.
///
/// ```
/// use osprey_static::resolve::{map_path, Rejection};
/// let m = map_path("/a/./b/../c.txt", false).unwrap();
/// assert_eq!((&*m.relative, m.trailing_slash), ("a/c.txt", false));
/// assert_eq!(map_path("/../etc/passwd", false), Err(Rejection::BadRequest));
/// assert_eq!(map_path("/.git/config", false), Err(Rejection::NotFound));
/// ```
pub fn map_path(decoded: &str, allow_hidden: bool) -> Result<Mapped<'_>, Rejection> {
    let bytes = decoded.as_bytes();
    // Bytes no file name of ours contains: NUL ends a C string early, a
    // backslash is a separator elsewhere (and in some proxies), control
    // bytes are never a legitimate name in a URL.
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err(Rejection::BadRequest);
    }
    let body = decoded.strip_prefix('/').unwrap_or(decoded);
    if is_clean(body, allow_hidden) {
        let trailing_slash = body.is_empty() || body.ends_with('/');
        let relative = body.strip_suffix('/').unwrap_or(body);
        return Ok(Mapped {
            relative: Cow::Borrowed(relative),
            trailing_slash,
        });
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = true;
    for seg in body.split('/') {
        match seg {
            // `//` collapses; a final empty segment is the trailing slash.
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                // Climbing above the root is refused rather than clamped:
                // a client that sends it is probing, not browsing.
                if stack.pop().is_none() {
                    return Err(Rejection::BadRequest);
                }
                trailing_slash = true;
            }
            name => {
                stack.push(name);
                trailing_slash = false;
            }
        }
    }
    for name in &stack {
        check_name(name, allow_hidden)?;
    }
    Ok(Mapped {
        relative: Cow::Owned(stack.join("/")),
        trailing_slash,
    })
}

/// A segment that survived resolution: hidden and over-long names are 404.
fn check_name(name: &str, allow_hidden: bool) -> Result<(), Rejection> {
    if name.len() > NAME_MAX || (!allow_hidden && name.starts_with('.')) {
        return Err(Rejection::NotFound);
    }
    Ok(())
}

/// Whether `body` (the path without its leading `/`) is already normalized:
/// no empty segment except a final one, no `.`/`..`, and acceptable names.
fn is_clean(body: &str, allow_hidden: bool) -> bool {
    let inner = body.strip_suffix('/').unwrap_or(body);
    if inner.is_empty() {
        return body.is_empty();
    }
    inner.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.len() <= NAME_MAX
            && (allow_hidden || !seg.starts_with('.'))
    })
}

/// Why opening a mapped path failed, as the status to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Missing, not a regular file or directory, or refused by the symlink
    /// policy (refusals look like absence, so they reveal nothing): 404.
    NotFound,
    /// The server may not read it: 403.
    Forbidden,
    /// Anything else: 500, with no details to the client.
    Internal,
}

impl OpenError {
    /// Classifies an I/O error.
    pub fn from_io(e: &io::Error) -> OpenError {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => OpenError::NotFound,
            io::ErrorKind::PermissionDenied => OpenError::Forbidden,
            _ if matches!(e.raw_os_error(), Some(libc::ENAMETOOLONG | libc::ELOOP)) => {
                OpenError::NotFound
            }
            _ => OpenError::Internal,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> OpenError {
        OpenError::from_io(&e)
    }
}

/// What a mapped path turned out to be.
#[derive(Debug)]
pub enum Opened {
    /// A regular file, open, with the metadata of the open descriptor.
    File {
        /// The open file.
        file: File,
        /// Its metadata (`fstat` of the descriptor).
        meta: Metadata,
    },
    /// A directory (not opened further).
    Dir,
}

/// Opens `path` (a path under `root` built from a [`Mapped`] path) and
/// applies `policy` to what was opened. Only regular files and directories
/// are served: a FIFO, socket or device is [`OpenError::NotFound`]. The
/// descriptor is opened non-blocking, so even a FIFO cannot stall `open`.
pub fn open_under_root(
    root: &Path,
    path: &Path,
    policy: SymlinkPolicy,
) -> Result<Opened, OpenError> {
    // Non-blocking, so that a FIFO in the tree cannot block `open` waiting
    // for a writer; the type is then checked on the descriptor, with no
    // window for a swap. The flag changes nothing for regular files.
    let mut options = fs::OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            // A directory we may traverse but not list (mode --x) still
            // serves its index: check it by path instead.
            if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
                check_policy_by_path(root, path, policy)?;
                return Ok(Opened::Dir);
            }
            return Err(OpenError::Forbidden);
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !(meta.is_file() || meta.is_dir()) {
        return Err(OpenError::NotFound);
    }
    check_policy(root, path, &file, policy)?;
    if meta.is_dir() {
        return Ok(Opened::Dir);
    }
    Ok(Opened::File { file, meta })
}

/// Applies `policy` to `path`, opened as `file`.
fn check_policy(
    root: &Path,
    path: &Path,
    file: &File,
    policy: SymlinkPolicy,
) -> Result<(), OpenError> {
    if policy == SymlinkPolicy::Always {
        return Ok(());
    }
    check_real_path(root, path, real_path(path, file), policy)
}

/// Applies `policy` to `path` without a descriptor (`realpath`).
fn check_policy_by_path(root: &Path, path: &Path, policy: SymlinkPolicy) -> Result<(), OpenError> {
    if policy == SymlinkPolicy::Always {
        return Ok(());
    }
    check_real_path(root, path, fs::canonicalize(path), policy)
}

fn check_real_path(
    root: &Path,
    path: &Path,
    real: io::Result<PathBuf>,
    policy: SymlinkPolicy,
) -> Result<(), OpenError> {
    let real = real.map_err(|e| match OpenError::from_io(&e) {
        OpenError::Forbidden => OpenError::Forbidden,
        _ => OpenError::NotFound,
    })?;
    let allowed = match policy {
        SymlinkPolicy::InsideRoot => real.starts_with(root),
        // `root` is canonical and `path` is `root` + normalized segments, so
        // the real path equals it exactly when no link was followed.
        SymlinkPolicy::Never => real == path,
        SymlinkPolicy::Always => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(OpenError::NotFound)
    }
}

/// The real path of what was opened: from the kernel for an open descriptor
/// (no race with a link swapped in after the check), else `realpath`.
fn real_path(path: &Path, file: &File) -> io::Result<PathBuf> {
    match fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) => Ok(real),
        // No /proc (a bare chroot): resolve the path instead.
        Err(_) => fs::canonicalize(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::percent;

    /// What the server and the handler together do with a raw path: decode
    /// once (invalid encodings are 400 before any handler runs), refuse
    /// encoded separators, then map.
    fn map_raw(raw: &str) -> Result<String, Rejection> {
        if has_encoded_separator(raw) {
            return Err(Rejection::BadRequest);
        }
        let decoded = percent::decode(raw, false).map_err(|_| Rejection::BadRequest)?;
        map_path(&decoded, false).map(|m| m.relative.into_owned())
    }

    #[test]
    fn normal_paths_map_without_allocating() {
        for (path, rel, slash) in [
            ("/", "", true),
            ("", "", true),
            ("/a.txt", "a.txt", false),
            ("/dir/", "dir", true),
            ("/dir/sub/f.css", "dir/sub/f.css", false),
            ("dir/f", "dir/f", false),
        ] {
            let m = map_path(path, false).unwrap();
            assert!(matches!(m.relative, Cow::Borrowed(_)), "{path}");
            assert_eq!((&*m.relative, m.trailing_slash), (rel, slash), "{path}");
        }
    }

    #[test]
    fn dot_segments_resolve_lexically() {
        for (path, rel, slash) in [
            ("/a/../b", "b", false),
            ("/a/./b", "a/b", false),
            ("//a//b//", "a/b", true),
            ("/a/b/..", "a", true),
            ("/a/.", "a", true),
            ("/./", "", true),
            ("/a/..", "", true),
            ("/a/b/../../c", "c", false),
            ("/.git/../index.html", "index.html", false),
        ] {
            let m = map_path(path, false).unwrap();
            assert_eq!((&*m.relative, m.trailing_slash), (rel, slash), "{path}");
        }
    }

    /// The traversal corpus: every spelling must stay inside the root (400,
    /// or a harmless literal name that does not exist, or 404).
    #[test]
    fn traversal_variants_never_leave_the_root() {
        use Rejection::*;
        let cases: &[(&str, Result<&str, Rejection>)] = &[
            ("/../secret.txt", Err(BadRequest)),
            ("/../../../../etc/passwd", Err(BadRequest)),
            ("/a/../../secret.txt", Err(BadRequest)),
            ("/..", Err(BadRequest)),
            ("/../", Err(BadRequest)),
            ("/./../secret.txt", Err(BadRequest)),
            ("//../secret.txt", Err(BadRequest)),
            ("/%2e%2e/secret.txt", Err(BadRequest)),
            ("/%2E%2E/secret.txt", Err(BadRequest)),
            ("/.%2e/secret.txt", Err(BadRequest)),
            ("/%2e./secret.txt", Err(BadRequest)),
            ("/..%2Fsecret.txt", Err(BadRequest)),
            ("/..%2fsecret.txt", Err(BadRequest)),
            ("/%2e%2e%2fsecret.txt", Err(BadRequest)),
            ("/a%2F..%2F..%2Fsecret.txt", Err(BadRequest)),
            ("/..%5Csecret.txt", Err(BadRequest)),
            ("/..%5csecret.txt", Err(BadRequest)),
            ("/..\\secret.txt", Err(BadRequest)),
            ("/a\\..\\..\\secret.txt", Err(BadRequest)),
            ("/%00", Err(BadRequest)),
            ("/index.html%00.txt", Err(BadRequest)),
            ("/a\0b", Err(BadRequest)),
            ("/%0a", Err(BadRequest)),
            ("/%0d%0aSet-Cookie:x", Err(BadRequest)),
            ("/%7f", Err(BadRequest)),
            // Overlong UTF-8 for `.` and `/`: not UTF-8, refused by the decoder.
            ("/%c0%ae%c0%ae/secret.txt", Err(BadRequest)),
            ("/%c0%af", Err(BadRequest)),
            ("/%e0%80%ae", Err(BadRequest)),
            ("/%", Err(BadRequest)),
            ("/%2", Err(BadRequest)),
            ("/%zz", Err(BadRequest)),
            // Decoded once only: these are literal names, not traversals.
            ("/%252e%252e/secret.txt", Ok("%2e%2e/secret.txt")),
            ("/%252E%252E%252Fsecret.txt", Ok("%2E%2E%2Fsecret.txt")),
            ("/ ../secret.txt", Ok(" ../secret.txt")),
            (
                "/%e2%80%a4%e2%80%a4/secret.txt",
                Ok("\u{2024}\u{2024}/secret.txt"),
            ),
            (
                "/%ef%bc%8f..%ef%bc%8fsecret.txt",
                Ok("\u{ff0f}..\u{ff0f}secret.txt"),
            ),
            // Hidden names (and `...`, `....`, `.. ` are names starting with a dot).
            ("/.../secret.txt", Err(NotFound)),
            ("/..../secret.txt", Err(NotFound)),
            ("/.. /secret.txt", Err(NotFound)),
            ("/..;/secret.txt", Err(NotFound)),
            ("/.env", Err(NotFound)),
            ("/.git/config", Err(NotFound)),
            ("/a/.hidden/b", Err(NotFound)),
            ("/%2egit/config", Err(NotFound)),
            // Absolute paths inside the path stay relative to the root.
            ("//etc/passwd", Ok("etc/passwd")),
            ("///etc/passwd", Ok("etc/passwd")),
            ("/./etc/passwd", Ok("etc/passwd")),
            ("/a/../etc/passwd", Ok("etc/passwd")),
            // Trailing dots and spaces are ordinary (Linux keeps them).
            ("/index.html.", Ok("index.html.")),
            ("/index.html ", Ok("index.html ")),
            ("/C:/Windows/win.ini", Ok("C:/Windows/win.ini")),
        ];
        assert!(cases.len() >= 30);
        for (raw, want) in cases {
            let got = map_raw(raw);
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{raw:?}");
            if let Ok(rel) = &got {
                assert!(!rel
                    .split('/')
                    .any(|s| s == ".." || s == "." || s.is_empty()));
                assert!(!rel.starts_with('/'));
            }
        }
    }

    #[test]
    fn hidden_names_pass_when_allowed() {
        let m = map_path("/.well-known/a", true).unwrap();
        assert_eq!(m.relative, ".well-known/a");
        assert_eq!(
            map_path("/x/.../y", true).unwrap().relative,
            Cow::<str>::Borrowed("x/.../y")
        );
        // `..` is never a hidden name: it still resolves.
        assert_eq!(map_path("/.a/../b", true).unwrap().relative, "b");
    }

    #[test]
    fn over_long_names_are_not_found() {
        let long = format!("/{}", "a".repeat(NAME_MAX + 1));
        assert_eq!(map_path(&long, false), Err(Rejection::NotFound));
        let fits = format!("/{}", "a".repeat(NAME_MAX));
        assert!(map_path(&fits, false).is_ok());
        let long_dirty = format!("/x/../{}", "a".repeat(NAME_MAX + 1));
        assert_eq!(map_path(&long_dirty, false), Err(Rejection::NotFound));
    }

    #[test]
    fn encoded_separators_any_case() {
        for raw in ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "%2f"] {
            assert!(has_encoded_separator(raw), "{raw}");
        }
        for raw in ["/a%2eb", "/a%25b", "/a/b", "/%2", "/%5", "/a%20f"] {
            assert!(!has_encoded_separator(raw), "{raw}");
        }
    }

    #[test]
    fn symlink_policies() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "SECRET").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("real.txt"), "ok").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::os::unix::fs::symlink(root.join("real.txt"), root.join("inner-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("out-link"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("in-dir")).unwrap();
        std::fs::write(root.join("sub/f.txt"), "f").unwrap();

        let open = |rel: &str, policy| open_under_root(&root, &root.join(rel), policy);
        use SymlinkPolicy::*;
        assert!(matches!(open("real.txt", Never), Ok(Opened::File { .. })));
        assert!(matches!(
            open("inner-link", InsideRoot),
            Ok(Opened::File { .. })
        ));
        assert_eq!(open("inner-link", Never).err(), Some(OpenError::NotFound));
        assert_eq!(
            open("out-link", InsideRoot).err(),
            Some(OpenError::NotFound)
        );
        assert_eq!(
            open("out-dir/secret.txt", InsideRoot).err(),
            Some(OpenError::NotFound)
        );
        assert_eq!(open("out-dir", InsideRoot).err(), Some(OpenError::NotFound));
        assert!(matches!(
            open("in-dir/f.txt", InsideRoot),
            Ok(Opened::File { .. })
        ));
        assert_eq!(open("in-dir/f.txt", Never).err(), Some(OpenError::NotFound));
        assert!(matches!(open("out-link", Always), Ok(Opened::File { .. })));
        assert!(matches!(open("sub", Never), Ok(Opened::Dir)));
        assert_eq!(open("missing", InsideRoot).err(), Some(OpenError::NotFound));
        assert_eq!(
            open("real.txt/x", InsideRoot).err(),
            Some(OpenError::NotFound)
        );
    }

    #[test]
    fn fifos_are_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let fifo = root.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo on this machine
        }
        assert_eq!(
            open_under_root(&root, &fifo, SymlinkPolicy::InsideRoot).err(),
            Some(OpenError::NotFound)
        );
    }

    #[test]
    fn io_errors_classify() {
        let e = |k| OpenError::from_io(&io::Error::from(k));
        assert_eq!(e(io::ErrorKind::NotFound), OpenError::NotFound);
        assert_eq!(e(io::ErrorKind::PermissionDenied), OpenError::Forbidden);
        assert_eq!(e(io::ErrorKind::Other), OpenError::Internal);
        assert_eq!(
            OpenError::from_io(&io::Error::from_raw_os_error(libc::ENAMETOOLONG)),
            OpenError::NotFound
        );
    }
}
