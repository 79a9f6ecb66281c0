//! Osprey's static-file server: [`StaticFiles`], a handler serving a directory
//! tree, with safe path mapping, validators and conditional requests, ranges,
//! precompressed siblings, directory listings, a custom 404 page and an
//! open-file cache. It is built on `osprey-web` (a [`Handler`] like any other)
//! and the `osprey` facade re-exports it as `osprey::static_files`.
//!
//! The pieces are pure functions in their own modules, usable alone:
//! [`resolve`] (request path → file under the root), [`conditional`]
//! (RFC 9110 §13 preconditions), [`range`] (§14 ranges and multipart
//! bodies), [`osprey_web::coding`] (`Accept-Encoding`), [`listing`] (HTML and JSON
//! directory pages), [`rules`] (path patterns) and [`cache`].
//!
//! What a request gets, in order:
//! 1. a method other than GET, HEAD or OPTIONS: 405 with `Allow: GET, HEAD,
//!    OPTIONS`; OPTIONS: 204 with the same `Allow`;
//! 2. a path with NUL, control bytes, a backslash, `%2F`/`%5C`, or a `..`
//!    above the root: 400; a dotfile (any segment starting with `.`) while
//!    hidden files are off: 404;
//! 3. a directory without a trailing slash: 301 to the raw path plus `/`,
//!    query kept; with one: its index file, else a listing (when browsing is
//!    on), else 404;
//! 4. a file: its preconditions (304, 412), then its `Range` (206, 416),
//!    else 200 — from a precompressed sibling when the client accepts it;
//! 5. nothing there: with `spa`, the root index for GET and HEAD of a path
//!    whose last segment has no `.` (no file extension), else the root's
//!    `404.html` with status 404, else a short text 404. A file refused by
//!    the symlink policy is a 404 too; permission denied is 403; any other
//!    I/O error is 500 without details.
//!
//! Disk I/O happens on the calling thread; the open-file cache makes the
//! common case free of system calls. On a slow or network file system wrap
//! the handler in [`osprey_web::blocking`] so event loops run it on workers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Module order, lowest first: each module uses only modules listed before it
// (and osprey-web): rules, range, conditional, resolve -> listing (resolve) ->
// content (conditional) -> cache (resolve, content) -> this root (all).
pub mod cache;
pub mod conditional;
mod content;
pub mod listing;
pub mod range;
pub mod resolve;
pub mod rules;

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status};

pub use cache::CacheConfig;
use cache::{sibling_path, CachedFile, FileCache, LoadContext};
use conditional::{evaluate, if_range_matches, Conditions, Outcome, Validators};
use content::{etag_of, last_modified_of, Content};
use listing::MAX_LISTING_ENTRIES;
use osprey_web::coding::{parse_accept_encoding, AcceptEncoding, Coding};
use osprey_web::{Body, Handler, Reply, Request, Response};
use range::{parse_range, ByteRange, RangeRequest, MAX_RANGES};
pub use resolve::SymlinkPolicy;
use resolve::{has_encoded_separator, map_path, open_under_root, OpenError, Opened, Rejection};
use rules::PathPattern;

const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("Accept-Encoding");
const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Serves the files under a directory; see the [module documentation](self)
/// for every rule.
///
/// Mounted on a route with a catch-all it serves the catch-all (the
/// request's last path parameter); as a handler of its own or a router's
/// fallback it serves the whole request path.
///
/// ```
/// use osprey_static::StaticFiles;
/// use osprey_web::{Handler, Method, Request, Router, Status};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("index.html"), "<h1>home</h1>")?;
/// std::fs::write(dir.path().join("app.js"), "console.log(1)")?;
///
/// let app = Router::new()
///     .get("/assets/*path", StaticFiles::new(dir.path())?.cache_control("*.js", "max-age=3600"))
///     .fallback(StaticFiles::new(dir.path())?.spa(true));
///
/// let resp = app.respond(&mut Request::new(Method::Get, "/assets/app.js"));
/// assert_eq!(resp.status, Status::OK);
/// assert_eq!(resp.headers.get("content-type").unwrap().as_bytes(), b"text/javascript; charset=utf-8");
/// assert_eq!(resp.headers.get("cache-control").unwrap().as_bytes(), b"max-age=3600");
/// let etag = resp.headers.get("etag").unwrap().to_str().unwrap().to_string();
///
/// let mut again = Request::new(Method::Get, "/assets/app.js").with_header("If-None-Match", &etag);
/// assert_eq!(app.respond(&mut again).status, Status::NOT_MODIFIED);
///
/// // An unknown route without an extension gets the app's index.html.
/// let resp = app.respond(&mut Request::new(Method::Get, "/settings/profile"));
/// assert_eq!((resp.status, resp.body.len_hint()), (Status::OK, Some(13)));
/// assert_eq!(app.respond(&mut Request::new(Method::Get, "/../x")).status, Status::BAD_REQUEST);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StaticFiles {
    root: PathBuf,
    index: String,
    browse: bool,
    spa: bool,
    hidden: bool,
    symlinks: SymlinkPolicy,
    precompressed: bool,
    cache_control: Vec<(PathPattern, HeaderValue)>,
    not_found_page: bool,
    cache: Option<FileCache>,
}

impl std::fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticFiles")
            .field("root", &self.root)
            .field("index", &self.index)
            .field("browse", &self.browse)
            .field("spa", &self.spa)
            .field("hidden", &self.hidden)
            .field("symlinks", &self.symlinks)
            .field("precompressed", &self.precompressed)
            .field("not_found_page", &self.not_found_page)
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

/// How a found file is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The file the request named (or an index, or the SPA fallback).
    Normal,
    /// The custom 404 page: status 404, no validators, ranges or codings.
    NotFoundPage,
}

impl StaticFiles {
    /// Serves the directory `root` (canonicalized now; an error if it is not
    /// a directory), with the defaults: index `index.html`, no listing, no
    /// SPA fallback, dotfiles hidden, links followed inside the root only,
    /// precompressed siblings on, no `Cache-Control`, `404.html` used when
    /// present, and the open-file cache with [`CacheConfig::default`].
    pub fn new(root: impl AsRef<Path>) -> io::Result<StaticFiles> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !std::fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "the static root is not a directory",
            ));
        }
        Ok(StaticFiles {
            root,
            index: "index.html".into(),
            browse: false,
            spa: false,
            hidden: false,
            symlinks: SymlinkPolicy::InsideRoot,
            precompressed: true,
            cache_control: Vec::new(),
            not_found_page: true,
            cache: FileCache::new(&CacheConfig::default()),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file served for a directory URL (default `index.html`).
    ///
    /// # Panics
    /// When `name` is not a single plain file name (empty, `.`, `..`, or
    /// holding `/`, `\` or NUL): a configuration error.
    pub fn index(mut self, name: &str) -> StaticFiles {
        assert!(
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']),
            "the index must be a plain file name"
        );
        self.index = name.into();
        self
    }

    /// Lists directories without an index file (default off: 404).
    pub fn browse(mut self, on: bool) -> StaticFiles {
        self.browse = on;
        self
    }

    /// Single-page-app fallback (default off): a GET or HEAD for a path
    /// that does not exist and whose last segment has no file extension
    /// (no `.`) gets the root index with 200, so client-side routes load the
    /// app while a missing `/app.js` is still a 404.
    pub fn spa(mut self, on: bool) -> StaticFiles {
        self.spa = on;
        self
    }

    /// Serves (and lists) names starting with `.` (default off: 404).
    pub fn hidden(mut self, on: bool) -> StaticFiles {
        self.hidden = on;
        self
    }

    /// What to do with symbolic links (default [`SymlinkPolicy::InsideRoot`]).
    pub fn follow_symlinks(mut self, policy: SymlinkPolicy) -> StaticFiles {
        self.symlinks = policy;
        self
    }

    /// Serves `FILE.br`, `FILE.zst` or `FILE.gz` in place of `FILE` to
    /// clients that accept the coding (default on). Responses for a file
    /// with any sibling carry `Vary: Accept-Encoding`. Siblings are looked
    /// for only next to files of a compressible type
    /// ([`osprey_web::mime::is_compressible`]: text, JSON, SVG, WASM…), which
    /// spares three `stat`s per request for images, video and archives.
    pub fn precompressed(mut self, on: bool) -> StaticFiles {
        self.precompressed = on;
        self
    }

    /// Adds a `Cache-Control: value` rule for files whose path under the
    /// root matches `pattern` (see [`rules`]: `*.js`, `/assets/**`). Rules
    /// are tried in the order added; the first match wins; a file no rule
    /// matches gets no `Cache-Control` (caches then fall back to heuristics
    /// from `Last-Modified`, RFC 9111 §4.2.2). Sent on 200, 206 and 304.
    ///
    /// # Panics
    /// When `value` is not a valid header value.
    pub fn cache_control(mut self, pattern: &str, value: &str) -> StaticFiles {
        let value = HeaderValue::try_from(value).expect("invalid Cache-Control value");
        self.cache_control.push((PathPattern::new(pattern), value));
        self
    }

    /// Uses the root's `404.html` as the body of 404 responses when it
    /// exists (default on).
    pub fn not_found_page(mut self, on: bool) -> StaticFiles {
        self.not_found_page = on;
        self
    }

    /// The open-file cache's limits ([`CacheConfig::disabled`] turns it off).
    pub fn cache(mut self, config: CacheConfig) -> StaticFiles {
        self.cache = FileCache::new(&config);
        self
    }

    fn cache_control_for(&self, relative: &str) -> Option<HeaderValue> {
        if self.cache_control.is_empty() {
            return None;
        }
        let path = format!("/{relative}");
        self.cache_control
            .iter()
            .find(|(p, _)| p.matches(&path))
            .map(|(_, v)| v.clone())
    }

    fn load_context(&self, max_file_size: u64, content_type: &HeaderValue) -> LoadContext<'_> {
        LoadContext {
            root: &self.root,
            policy: self.symlinks,
            precompressed: self.precompressed
                && osprey_web::mime::is_compressible(content_type.as_bytes()),
            max_file_size,
        }
    }
}

/// The request fields this handler reads, found in one pass.
#[derive(Default)]
struct Fields<'a> {
    if_match: Option<&'a str>,
    if_none_match: Option<&'a str>,
    if_modified_since: Option<&'a str>,
    if_unmodified_since: Option<&'a str>,
    range: Option<&'a str>,
    if_range: Option<&'a str>,
    accept_encoding: Option<&'a str>,
    /// An ETag-list field came more than once: join them (RFC 9110 §5.3).
    lists_repeated: bool,
    /// Several `Range` or `If-Range` fields: ambiguous, so no range.
    range_repeated: bool,
    accept_encoding_repeated: bool,
}

impl<'a> Fields<'a> {
    fn scan(req: &'a Request) -> Fields<'a> {
        let mut f = Fields::default();
        for (name, value) in req.headers() {
            // Dispatch on the length first: most fields are none of ours.
            let slot = match name.len() {
                5 if name.eq_ignore_ascii_case(b"range") => {
                    f.range_repeated |= f.range.is_some();
                    &mut f.range
                }
                8 if name.eq_ignore_ascii_case(b"if-match") => {
                    f.lists_repeated |= f.if_match.is_some();
                    &mut f.if_match
                }
                8 if name.eq_ignore_ascii_case(b"if-range") => {
                    f.range_repeated |= f.if_range.is_some();
                    &mut f.if_range
                }
                13 if name.eq_ignore_ascii_case(b"if-none-match") => {
                    f.lists_repeated |= f.if_none_match.is_some();
                    &mut f.if_none_match
                }
                15 if name.eq_ignore_ascii_case(b"accept-encoding") => {
                    f.accept_encoding_repeated |= f.accept_encoding.is_some();
                    &mut f.accept_encoding
                }
                17 if name.eq_ignore_ascii_case(b"if-modified-since") => {
                    // A repeated date is a list of dates: invalid, ignored.
                    if f.if_modified_since.is_some() {
                        f.if_modified_since = Some("");
                        continue;
                    }
                    &mut f.if_modified_since
                }
                19 if name.eq_ignore_ascii_case(b"if-unmodified-since") => {
                    if f.if_unmodified_since.is_some() {
                        f.if_unmodified_since = Some("");
                        continue;
                    }
                    &mut f.if_unmodified_since
                }
                _ => continue,
            };
            if slot.is_none() {
                // A value that is not UTF-8 matches nothing (an empty field).
                *slot = Some(std::str::from_utf8(value).unwrap_or(""));
            }
        }
        f
    }

    fn accept_encoding(&self, req: &Request) -> AcceptEncoding {
        if self.accept_encoding_repeated {
            parse_accept_encoding(req.header_all("accept-encoding"))
        } else {
            parse_accept_encoding(self.accept_encoding)
        }
    }
}

/// One representation ready to send.
struct Rep<'a> {
    content: Content,
    len: u64,
    content_type: &'a HeaderValue,
    encoding: Option<Coding>,
    etag: &'a HeaderValue,
    last_modified: &'a HeaderValue,
    modified_secs: u64,
}

fn status(status: Status) -> Response {
    Response::status_text(status).header(HeaderName::X_CONTENT_TYPE_OPTIONS, NOSNIFF)
}

fn open_error(e: OpenError) -> Response {
    match e {
        OpenError::NotFound => status(Status::NOT_FOUND),
        OpenError::Forbidden => status(Status::FORBIDDEN),
        OpenError::Internal => status(Status::INTERNAL_SERVER_ERROR),
    }
}

impl Handler for StaticFiles {
    fn call(&self, req: &mut Request) -> Reply {
        match req.method() {
            Method::Get | Method::Head => self.serve(req),
            // RFC 9110 §9.3.7.
            Method::Options => Response::new(Status::NO_CONTENT).header(HeaderName::ALLOW, ALLOW),
            // §15.5.6: 405 lists the methods the resource supports.
            _ => status(Status::METHOD_NOT_ALLOWED).header(HeaderName::ALLOW, ALLOW),
        }
        .into()
    }
}

impl StaticFiles {
    fn serve(&self, req: &Request) -> Response {
        if !req.path_is_valid() || has_encoded_separator(req.raw_path()) {
            return status(Status::BAD_REQUEST);
        }
        let target = match req.params().last() {
            Some((_, value)) => value,
            None if req.path().starts_with('/') => req.path(),
            None => return status(Status::BAD_REQUEST),
        };
        let fields = Fields::scan(req);
        let mapped = match map_path(target, self.hidden) {
            Ok(m) => m,
            Err(Rejection::BadRequest) => return status(Status::BAD_REQUEST),
            Err(Rejection::NotFound) => return self.serve_not_found_page(req, &fields),
        };
        let relative: &str = &mapped.relative;
        // Cache keys are the mapped path, with its trailing slash for a
        // directory (whose entry is its index file).
        let key: Cow<'_, str> = match (mapped.trailing_slash, relative) {
            (true, "") => Cow::Borrowed("/"),
            (true, rel) => Cow::Owned(format!("{rel}/")),
            (false, rel) => Cow::Borrowed(rel),
        };
        if let Some(entry) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            return self.respond_entry(req, &fields, &entry, Kind::Normal);
        }
        let path = self.root.join(relative);
        match open_under_root(&self.root, &path, self.symlinks) {
            Ok(Opened::File { file, meta }) => {
                if mapped.trailing_slash {
                    // `/file.txt/` names a directory that is not there.
                    return self.not_found(req, &fields, relative);
                }
                self.serve_opened(
                    req,
                    &fields,
                    &key,
                    relative,
                    &path,
                    file,
                    meta,
                    Kind::Normal,
                )
            }
            Ok(Opened::Dir) if !mapped.trailing_slash => redirect_to_dir(req),
            Ok(Opened::Dir) => {
                let index_rel = if relative.is_empty() {
                    self.index.clone()
                } else {
                    format!("{relative}/{}", self.index)
                };
                match self.open_and_serve(req, &fields, &key, &index_rel, Kind::Normal) {
                    Ok(resp) => resp,
                    Err(OpenError::NotFound) if self.browse => self.listing(req, &path, relative),
                    Err(OpenError::NotFound) => self.not_found(req, &fields, relative),
                    Err(e) => open_error(e),
                }
            }
            Err(OpenError::NotFound) => self.not_found(req, &fields, relative),
            Err(e) => open_error(e),
        }
    }

    /// Serves the file at `relative` (cached under `key`) if it is a file.
    fn open_and_serve(
        &self,
        req: &Request,
        fields: &Fields<'_>,
        key: &str,
        relative: &str,
        kind: Kind,
    ) -> Result<Response, OpenError> {
        let path = self.root.join(relative);
        match open_under_root(&self.root, &path, self.symlinks)? {
            Opened::File { file, meta } => {
                Ok(self.serve_opened(req, fields, key, relative, &path, file, meta, kind))
            }
            Opened::Dir => Err(OpenError::NotFound),
        }
    }

    /// Serves `key` from the cache, else the file at `relative`.
    fn serve_key(
        &self,
        req: &Request,
        fields: &Fields<'_>,
        key: &str,
        relative: &str,
        kind: Kind,
    ) -> Result<Response, OpenError> {
        if let Some(entry) = self.cache.as_ref().and_then(|c| c.get(key)) {
            return Ok(self.respond_entry(req, fields, &entry, kind));
        }
        self.open_and_serve(req, fields, key, relative, kind)
    }

    /// A path that does not exist: the SPA index, the 404 page, or text.
    fn not_found(&self, req: &Request, fields: &Fields<'_>, relative: &str) -> Response {
        let last = relative.rsplit('/').next().unwrap_or("");
        if self.spa && !last.contains('.') {
            match self.serve_key(req, fields, "/", &self.index, Kind::Normal) {
                Ok(resp) => return resp,
                Err(OpenError::NotFound) => {}
                Err(e) => return open_error(e),
            }
        }
        self.serve_not_found_page(req, fields)
    }

    fn serve_not_found_page(&self, req: &Request, fields: &Fields<'_>) -> Response {
        if self.not_found_page {
            if let Ok(resp) =
                self.serve_key(req, fields, "404.html", "404.html", Kind::NotFoundPage)
            {
                return resp;
            }
        }
        status(Status::NOT_FOUND)
    }

    /// Serves an open file: through the cache when it is small enough,
    /// else straight from the descriptor (or a precompressed sibling's).
    #[allow(clippy::too_many_arguments)]
    fn serve_opened(
        &self,
        req: &Request,
        fields: &Fields<'_>,
        key: &str,
        relative: &str,
        path: &Path,
        file: File,
        meta: Metadata,
        kind: Kind,
    ) -> Response {
        let content_type = osprey_web::mime::for_path(path);
        let cache_control = self.cache_control_for(relative);
        let file = match &self.cache {
            Some(cache) if cache.takes(meta.len()) => {
                let cx = self.load_context(cache.max_file_size(), &content_type);
                // The entry keeps the descriptor (or the bytes); a duplicate
                // serves this request if the entry cannot be built.
                let spare = file.try_clone();
                if let Some(entry) = CachedFile::load(
                    &cx,
                    path,
                    file,
                    &meta,
                    content_type.clone(),
                    cache_control.clone(),
                ) {
                    let entry = cache.insert(key, entry);
                    return self.respond_entry(req, fields, &entry, kind);
                }
                match spare {
                    Ok(f) => f,
                    Err(_) => return status(Status::INTERNAL_SERVER_ERROR),
                }
            }
            _ => file,
        };
        let mut available = [false; 3];
        if self.precompressed && osprey_web::mime::is_compressible(content_type.as_bytes()) {
            for e in Coding::ALL {
                available[e.index()] =
                    std::fs::metadata(sibling_path(path, e.suffix())).is_ok_and(|m| m.is_file());
            }
        }
        let vary = available.contains(&true);
        let chosen = match kind {
            Kind::Normal if vary => fields.accept_encoding(req).best(&available),
            _ => None,
        };
        if let Some(e) = chosen {
            let sibling = sibling_path(path, e.suffix());
            if let Ok(Opened::File { file, meta }) =
                open_under_root(&self.root, &sibling, self.symlinks)
            {
                let etag = etag_of(&meta, Some(e));
                let (last_modified, modified_secs) = last_modified_of(&meta);
                let rep = Rep {
                    content: Content::File(Arc::new(file)),
                    len: meta.len(),
                    content_type: &content_type,
                    encoding: Some(e),
                    etag: &etag,
                    last_modified: &last_modified,
                    modified_secs,
                };
                return self.answer(req, fields, rep, vary, cache_control.as_ref(), kind);
            }
        }
        let etag = etag_of(&meta, None);
        let (last_modified, modified_secs) = last_modified_of(&meta);
        let rep = Rep {
            content: Content::File(Arc::new(file)),
            len: meta.len(),
            content_type: &content_type,
            encoding: None,
            etag: &etag,
            last_modified: &last_modified,
            modified_secs,
        };
        self.answer(req, fields, rep, vary, cache_control.as_ref(), kind)
    }

    fn respond_entry(
        &self,
        req: &Request,
        fields: &Fields<'_>,
        entry: &CachedFile,
        kind: Kind,
    ) -> Response {
        let vary = entry.has_siblings();
        let mut index = 0;
        if vary && kind == Kind::Normal {
            let available = [1, 2, 3].map(|i| entry.variants[i].is_some());
            if let Some(e) = fields.accept_encoding(req).best(&available) {
                index = 1 + e.index();
            }
        }
        let Some(v) = entry.variants[index].as_ref() else {
            return status(Status::INTERNAL_SERVER_ERROR);
        };
        let rep = Rep {
            content: v.content.clone(),
            len: v.len,
            content_type: &entry.content_type,
            encoding: index.checked_sub(1).map(|i| Coding::ALL[i]),
            etag: &v.etag,
            last_modified: &v.last_modified,
            modified_secs: v.modified_secs,
        };
        self.answer(req, fields, rep, vary, entry.cache_control.as_ref(), kind)
    }

    /// Preconditions, ranges and headers for one representation.
    fn answer(
        &self,
        req: &Request,
        fields: &Fields<'_>,
        rep: Rep<'_>,
        vary: bool,
        cache_control: Option<&HeaderValue>,
        kind: Kind,
    ) -> Response {
        if kind == Kind::NotFoundPage {
            let mut headers = HeaderMap::new();
            headers.append(HeaderName::CONTENT_TYPE, rep.content_type.clone());
            headers.append(HeaderName::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
            return Response {
                status: Status::NOT_FOUND,
                headers,
                body: rep.content.body(0, rep.len),
            };
        }
        let validators = Validators {
            etag: rep.etag.to_str().unwrap_or(""),
            last_modified: Some(rep.modified_secs),
        };
        // Lists repeated over several fields are joined (RFC 9110 §5.3).
        let (joined_match, joined_none_match);
        let mut conditions = Conditions {
            if_match: fields.if_match,
            if_none_match: fields.if_none_match,
            if_modified_since: fields.if_modified_since,
            if_unmodified_since: fields.if_unmodified_since,
        };
        if fields.lists_repeated {
            joined_match = req.header_all("if-match").collect::<Vec<_>>().join(",");
            joined_none_match = req
                .header_all("if-none-match")
                .collect::<Vec<_>>()
                .join(",");
            conditions.if_match = conditions.if_match.map(|_| joined_match.as_str());
            conditions.if_none_match = conditions.if_none_match.map(|_| joined_none_match.as_str());
        }
        if !conditions.is_empty() {
            match evaluate(req.method(), &conditions, &validators) {
                Outcome::Proceed => {}
                Outcome::PreconditionFailed => return status(Status::PRECONDITION_FAILED),
                Outcome::NotModified => {
                    // §15.4.5: the fields a 200 would have had that matter to
                    // caches. Not Last-Modified: with an ETag present it guides
                    // nothing, and §15.4.5 asks not to send other metadata.
                    let mut headers = HeaderMap::new();
                    headers.append(HeaderName::ETAG, rep.etag.clone());
                    if let Some(cc) = cache_control {
                        headers.append(HeaderName::CACHE_CONTROL, cc.clone());
                    }
                    if vary {
                        headers.append(HeaderName::VARY, ACCEPT_ENCODING);
                    }
                    return Response {
                        status: Status::NOT_MODIFIED,
                        headers,
                        body: Body::Empty,
                    };
                }
            }
        }
        // §14.2: Range is defined for GET only; If-Range gates it (§13.1.5).
        let ranges = match fields.range {
            Some(field) if *req.method() == Method::Get && !fields.range_repeated => {
                match fields.if_range {
                    Some(ir) if !if_range_matches(ir, &validators) => RangeRequest::Full,
                    _ => parse_range(field, rep.len, MAX_RANGES),
                }
            }
            _ => RangeRequest::Full,
        };
        let mut headers = HeaderMap::with_capacity(8);
        let (status_code, body) = match ranges {
            RangeRequest::Unsatisfiable => {
                let mut r = status(Status::RANGE_NOT_SATISFIABLE);
                if let Ok(v) = HeaderValue::try_from(range::unsatisfied_range(rep.len)) {
                    r.headers.append(HeaderName::CONTENT_RANGE, v);
                }
                r.headers.append(HeaderName::ACCEPT_RANGES, BYTES);
                if vary {
                    r.headers.append(HeaderName::VARY, ACCEPT_ENCODING);
                }
                return r;
            }
            RangeRequest::Partial(ranges) if ranges.len() == 1 => {
                let r = ranges[0];
                headers.append(HeaderName::CONTENT_TYPE, rep.content_type.clone());
                if let Ok(v) = HeaderValue::try_from(range::content_range(r, rep.len)) {
                    headers.append(HeaderName::CONTENT_RANGE, v);
                }
                (Status::PARTIAL_CONTENT, rep.content.body(r.start, r.len()))
            }
            // Several ranges of an encoded variant would put a coded
            // representation's pieces in a multipart body whose own coding
            // is then ambiguous: send the variant whole instead.
            RangeRequest::Partial(ranges) if rep.encoding.is_none() => {
                let boundary = range::new_boundary();
                let parts = range::multipart(
                    &ranges,
                    rep.content_type.as_bytes(),
                    rep.len,
                    &boundary,
                    |r: ByteRange| rep.content.range(r.start, r.len()),
                );
                let ct = format!("multipart/byteranges; boundary={boundary}");
                if let Ok(v) = HeaderValue::try_from(ct) {
                    headers.append(HeaderName::CONTENT_TYPE, v);
                }
                (Status::PARTIAL_CONTENT, Body::Parts(parts))
            }
            RangeRequest::Partial(_) | RangeRequest::Full => {
                headers.append(HeaderName::CONTENT_TYPE, rep.content_type.clone());
                (Status::OK, rep.content.body(0, rep.len))
            }
        };
        if let Some(e) = rep.encoding {
            headers.append(
                HeaderName::CONTENT_ENCODING,
                HeaderValue::from_static(e.token()),
            );
        }
        headers.append(HeaderName::ETAG, rep.etag.clone());
        headers.append(HeaderName::LAST_MODIFIED, rep.last_modified.clone());
        headers.append(HeaderName::ACCEPT_RANGES, BYTES);
        if vary {
            headers.append(HeaderName::VARY, ACCEPT_ENCODING);
        }
        if let Some(cc) = cache_control {
            headers.append(HeaderName::CACHE_CONTROL, cc.clone());
        }
        headers.append(HeaderName::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        Response {
            status: status_code,
            headers,
            body,
        }
    }

    fn listing(&self, req: &Request, dir: &Path, relative: &str) -> Response {
        let listing = match listing::read_listing(
            dir,
            &self.root,
            self.hidden,
            self.symlinks,
            MAX_LISTING_ENTRIES,
        ) {
            Ok(l) => l,
            Err(e) => return open_error(OpenError::from_io(&e)),
        };
        let json = req.query_get("format").as_deref() == Some("json");
        let (content_type, body) = if json {
            (APPLICATION_JSON, listing::render_json(&listing))
        } else {
            let html = listing::render_html(req.path(), &listing, relative.is_empty());
            (TEXT_HTML, html.into_bytes())
        };
        Response::bytes(content_type, body).header(HeaderName::X_CONTENT_TYPE_OPTIONS, NOSNIFF)
    }
}

/// 301 from `/dir` to `/dir/`, built from the raw path so the client's own
/// encoding is kept, with the query. A path starting with `//` would be read
/// as a host by browsers (`//evil.example/`): its leading slashes collapse.
fn redirect_to_dir(req: &Request) -> Response {
    let raw = req.raw_path();
    let path = if raw.starts_with("//") {
        Cow::Owned(format!("/{}", raw.trim_start_matches('/')))
    } else {
        Cow::Borrowed(raw)
    };
    let location = match req.query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    match HeaderValue::try_from(location) {
        Ok(v) => status(Status::MOVED_PERMANENTLY).header(HeaderName::LOCATION, v),
        Err(_) => status(Status::BAD_REQUEST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::Part;

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("small.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("large.bin"), vec![7u8; 200 * 1024]).unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/index.html"), "<p>docs</p>").unwrap();
        dir
    }

    fn call(h: &StaticFiles, method: Method, target: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::new(method, target);
        for (n, v) in headers {
            req = req.with_header(n, v);
        }
        h.respond(&mut req)
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers.get(name).and_then(HeaderValue::to_str)
    }

    #[test]
    fn methods_and_bad_paths() {
        let dir = site();
        let h = StaticFiles::new(dir.path()).unwrap();
        let r = call(&h, Method::Post, "/small.txt", &[]);
        assert_eq!(r.status, Status::METHOD_NOT_ALLOWED);
        assert_eq!(header(&r, "allow"), Some("GET, HEAD, OPTIONS"));
        let r = call(&h, Method::Options, "/small.txt", &[]);
        assert_eq!(
            (r.status, header(&r, "allow")),
            (Status::NO_CONTENT, Some("GET, HEAD, OPTIONS"))
        );
        for bad in [
            "/docs%2Findex.html",
            "/docs%5cindex.html",
            "/a%00",
            "/../x",
            "/%zz",
            "x",
        ] {
            assert_eq!(
                call(&h, Method::Get, bad, &[]).status,
                Status::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[test]
    fn redirects_are_never_host_shaped() {
        let dir = site();
        let h = StaticFiles::new(dir.path()).unwrap();
        for (target, want) in [
            ("/docs", "/docs/"),
            ("//docs", "/docs/"),
            ("///docs?a=b", "/docs/?a=b"),
            ("/./docs", "/./docs/"),
        ] {
            let r = call(&h, Method::Get, target, &[]);
            assert_eq!(r.status, Status::MOVED_PERMANENTLY, "{target}");
            assert_eq!(header(&r, "location"), Some(want), "{target}");
        }
    }

    #[test]
    fn small_files_are_bytes_large_ones_sendfile() {
        let dir = site();
        let h = StaticFiles::new(dir.path()).unwrap();
        let r = call(&h, Method::Get, "/small.txt", &[]);
        assert!(matches!(r.body, Body::Bytes(ref b) if &b[..] == b"hello"));
        let r = call(&h, Method::Get, "/large.bin", &[]);
        assert!(matches!(r.body, Body::File(ref f) if f.offset == 0 && f.len == 200 * 1024));
        let r = call(&h, Method::Get, "/large.bin", &[("Range", "bytes=10-19")]);
        assert!(matches!(r.body, Body::File(ref f) if f.offset == 10 && f.len == 10));
        let r = call(
            &h,
            Method::Get,
            "/large.bin",
            &[("Range", "bytes=0-0,100-199")],
        );
        let Body::Parts(parts) = &r.body else {
            panic!("{:?}", r.body)
        };
        let files: Vec<(u64, u64)> = parts
            .iter()
            .filter_map(|p| match p {
                Part::File(f) => Some((f.offset, f.len)),
                Part::Bytes(_) => None,
            })
            .collect();
        assert_eq!(files, [(0, 1), (100, 100)]);
    }

    #[test]
    fn cached_and_uncached_answers_agree() {
        let dir = site();
        std::fs::write(dir.path().join("small.txt.gz"), "gz").unwrap();
        let cached = StaticFiles::new(dir.path()).unwrap();
        let uncached = StaticFiles::new(dir.path())
            .unwrap()
            .cache(CacheConfig::disabled());
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("/small.txt", &[]),
            ("/small.txt", &[("Accept-Encoding", "gzip")]),
            ("/small.txt", &[("Range", "bytes=1-2")]),
            ("/small.txt", &[("Range", "bytes=9-")]),
            ("/docs/", &[]),
        ];
        for (target, fields) in cases {
            for _ in 0..2 {
                let a = call(&cached, Method::Get, target, fields);
                let b = call(&uncached, Method::Get, target, fields);
                assert_eq!(a.status, b.status, "{target} {fields:?}");
                assert_eq!(a.headers, b.headers, "{target} {fields:?}");
                assert_eq!(a.body.len_hint(), b.body.len_hint());
            }
        }
    }

    #[test]
    fn head_answers_like_get() {
        let dir = site();
        let h = StaticFiles::new(dir.path()).unwrap();
        for target in ["/small.txt", "/large.bin", "/docs/", "/docs", "/missing"] {
            let g = call(&h, Method::Get, target, &[("Range", "bytes=0-1")]);
            let hd = call(&h, Method::Head, target, &[]);
            let g_full = call(&h, Method::Get, target, &[]);
            assert_eq!(hd.headers, g_full.headers, "{target}");
            // HEAD ignores Range (defined for GET only).
            assert_eq!(hd.status, g_full.status);
            assert!(g.status == Status::PARTIAL_CONTENT || g.status == g_full.status);
        }
    }

    #[test]
    fn io_errors_map_to_statuses_without_details() {
        assert_eq!(open_error(OpenError::Forbidden).status, Status::FORBIDDEN);
        assert_eq!(open_error(OpenError::NotFound).status, Status::NOT_FOUND);
        let r = open_error(OpenError::Internal);
        assert_eq!(r.status, Status::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.body.len_hint(),
            Some("Internal Server Error\n".len() as u64)
        );
    }

    #[test]
    fn index_names_are_validated() {
        let dir = site();
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            let result =
                std::panic::catch_unwind(|| StaticFiles::new(dir.path()).unwrap().index(bad));
            assert!(result.is_err(), "{bad:?}");
        }
    }
}
