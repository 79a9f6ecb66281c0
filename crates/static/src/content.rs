//! What a file version is served as: its bytes ([`Content`], in memory or an
//! open file) and its validators (the strong ETag and `Last-Modified`), shared
//! by the handler (files served uncached) and the open-file cache.

use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use osprey_proto::HeaderValue;

use super::conditional;
use osprey_web::coding::Coding;
use osprey_web::{Body, FileBody, Part};

/// The bytes of a representation: in memory (cached) or an open file.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    Bytes(Bytes),
    File(Arc<File>),
}

impl Content {
    /// Bytes this content holds in memory.
    pub(crate) fn bytes_held(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::File(_) => 0,
        }
    }

    /// `len` bytes from `offset`, as one part of a body.
    pub(crate) fn range(&self, offset: u64, len: u64) -> Part {
        match self {
            Content::Bytes(b) => Part::Bytes(b.slice(offset as usize..(offset + len) as usize)),
            Content::File(f) => Part::File(FileBody {
                file: f.clone(),
                offset,
                len,
            }),
        }
    }

    /// `len` bytes from `offset`, as a whole body.
    pub(crate) fn body(&self, offset: u64, len: u64) -> Body {
        match self.range(offset, len) {
            Part::Bytes(b) => Body::Bytes(b),
            Part::File(f) => Body::File(f),
        }
    }
}

/// The strong entity-tag of a file version (RFC 9110 §8.8.3): inode,
/// modification time in nanoseconds and size, plus the coding for a
/// precompressed sibling, so every variant has its own.
pub(crate) fn etag_of(meta: &Metadata, encoding: Option<Coding>) -> HeaderValue {
    let mtime_ns = (meta.mtime() as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(meta.mtime_nsec() as u64);
    let tag = match encoding {
        None => format!("\"{:x}-{:x}-{:x}\"", meta.ino(), mtime_ns, meta.len()),
        Some(e) => format!(
            "\"{:x}-{:x}-{:x}-{}\"",
            meta.ino(),
            mtime_ns,
            meta.len(),
            e.token()
        ),
    };
    HeaderValue::try_from(tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `Last-Modified` and its seconds; never later than now (§8.8.2.1).
pub(crate) fn last_modified_of(meta: &Metadata) -> (HeaderValue, u64) {
    let now = conditional::unix_seconds(SystemTime::now());
    let secs = u64::try_from(meta.mtime()).unwrap_or(0).min(now);
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    (
        HeaderValue::try_from(date).unwrap_or(HeaderValue::from_static("")),
        secs,
    )
}
