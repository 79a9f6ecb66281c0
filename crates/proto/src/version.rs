//! Protocol versions (RFC 9110 §2.5).

use std::fmt;

/// The HTTP version of a message. HTTP/1.x messages carry it on their first line;
/// HTTP/2 is negotiated, never parsed from text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Version {
    /// HTTP/1.0 (RFC 1945): connections close unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1 (RFC 9112): connections persist unless `Connection: close`.
    Http11,
    /// HTTP/2 (RFC 9113).
    Http2,
}

impl Version {
    /// The version as written on a request or status line; HTTP/2 has no
    /// such line, and is written `HTTP/2.0` as access logs and CGI's
    /// `SERVER_PROTOCOL` do.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
