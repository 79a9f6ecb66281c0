//! Every bound the HTTP/1.1 parsers enforce, with production defaults.
//!
//! Each limit is a named constant so that docs/security.md, the CLI and the tests
//! can refer to the same number; [`Limits`] gathers them into one value a server
//! can override field by field.

/// Longest request line, method + target + version (414 beyond). nginx's
/// `large_client_header_buffers` allows 8 KiB per line; browsers cap URLs near
/// that and real targets are far shorter.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// Largest request head: request line, fields and the blank line (431 beyond).
/// nginx allows 4 x 8 KiB; Apache 8 KiB per field times 100 fields. 32 KiB fits
/// every real browser request, cookies included.
pub const MAX_HEAD: usize = 32 * 1024;

/// Most header fields in one head (431 beyond). Apache's `LimitRequestFields`
/// default; a browser sends 10 to 20.
pub const MAX_HEADERS: usize = 100;

/// Largest request body (413 beyond). A server for uploads raises it; the default
/// keeps a stranger from making us buffer more than a few megabytes.
pub const MAX_BODY: u64 = 8 * 1024 * 1024;

/// Longest chunk-size line, size and extensions included (400 beyond). A size is
/// at most 16 hex digits; extensions are ignored, so there is no reason to accept
/// more than a little.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Largest trailer section of a chunked body (431 beyond).
pub const MAX_TRAILER: usize = 8 * 1024;

/// Most trailer fields (431 beyond).
pub const MAX_TRAILERS: usize = 32;

/// The bounds one parser enforces. [`Limits::default`] gives the constants above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_REQUEST_LINE`].
    pub max_request_line: usize,
    /// See [`MAX_HEAD`].
    pub max_head: usize,
    /// See [`MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`MAX_BODY`].
    pub max_body: u64,
    /// See [`MAX_CHUNK_LINE`].
    pub max_chunk_line: usize,
    /// See [`MAX_TRAILER`].
    pub max_trailer: usize,
    /// See [`MAX_TRAILERS`].
    pub max_trailers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: MAX_REQUEST_LINE,
            max_head: MAX_HEAD,
            max_headers: MAX_HEADERS,
            max_body: MAX_BODY,
            max_chunk_line: MAX_CHUNK_LINE,
            max_trailer: MAX_TRAILER,
            max_trailers: MAX_TRAILERS,
        }
    }
}
