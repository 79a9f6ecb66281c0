//! Owned header fields (RFC 9110 §5): names, values, and an ordered multimap.
//!
//! Names compare case-insensitively (RFC 9110 §5.1) but keep the spelling they
//! were created with, so a response goes out as `Content-Type`, the way people and
//! old clients expect to read it. Both names and values are validated when they
//! are built, so an encoder can write them without looking again — this is what
//! stops a handler from injecting a CR LF into a response head.
//!
//! Storage is [`Bytes`]: a `&'static` name or value costs no allocation, which
//! keeps a small fixed response allocation-free.

use std::fmt;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::chars::{is_field_value, is_token};

/// A field name or value that fails the RFC 9110 grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader;

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid header name or value")
    }
}

impl std::error::Error for InvalidHeader {}

/// A header field name: a token, compared case-insensitively.
#[derive(Clone)]
pub struct HeaderName(Bytes);

impl HeaderName {
    /// A name from a static string. Panics (at compile time in a `const`) when
    /// `name` is not a token.
    pub const fn from_static(name: &'static str) -> HeaderName {
        let b = name.as_bytes();
        assert!(!b.is_empty(), "empty header name");
        let mut i = 0;
        while i < b.len() {
            assert!(
                crate::chars::TCHAR[b[i] as usize],
                "header name is not a token"
            );
            i += 1;
        }
        HeaderName(Bytes::from_static(b))
    }

    /// A name from bytes, validated as a token.
    pub fn from_bytes(name: &[u8]) -> Result<HeaderName, InvalidHeader> {
        if is_token(name) {
            Ok(HeaderName(Bytes::copy_from_slice(name)))
        } else {
            Err(InvalidHeader)
        }
    }

    /// The name as given (ASCII, so always valid UTF-8).
    pub fn as_str(&self) -> &str {
        // Tokens are ASCII; from_static and from_bytes guarantee it.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The name's bytes as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Case-insensitive comparison with a name in any spelling.
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.as_bytes())
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for HeaderName {}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<&str> for HeaderName {
    type Error = InvalidHeader;
    fn try_from(s: &str) -> Result<HeaderName, InvalidHeader> {
        HeaderName::from_bytes(s.as_bytes())
    }
}

/// Names Osprey itself reads or writes.
impl HeaderName {
    /// `Content-Length` (RFC 9110 §8.6)
    pub const CONTENT_LENGTH: HeaderName = HeaderName::from_static("Content-Length");
    /// `Content-Type` (RFC 9110 §8.3)
    pub const CONTENT_TYPE: HeaderName = HeaderName::from_static("Content-Type");
    /// `Transfer-Encoding` (RFC 9112 §6.1)
    pub const TRANSFER_ENCODING: HeaderName = HeaderName::from_static("Transfer-Encoding");
    /// `Connection` (RFC 9110 §7.6.1)
    pub const CONNECTION: HeaderName = HeaderName::from_static("Connection");
    /// `Date` (RFC 9110 §6.6.1)
    pub const DATE: HeaderName = HeaderName::from_static("Date");
    /// `Server` (RFC 9110 §10.2.4)
    pub const SERVER: HeaderName = HeaderName::from_static("Server");
    /// `Host` (RFC 9110 §7.2)
    pub const HOST: HeaderName = HeaderName::from_static("Host");
    /// `Upgrade` (RFC 9110 §7.8)
    pub const UPGRADE: HeaderName = HeaderName::from_static("Upgrade");
    /// `Trailer` (RFC 9110 §6.6.2)
    pub const TRAILER: HeaderName = HeaderName::from_static("Trailer");
    /// `Location` (RFC 9110 §10.2.2)
    pub const LOCATION: HeaderName = HeaderName::from_static("Location");
    /// `Set-Cookie` (RFC 6265 §4.1)
    pub const SET_COOKIE: HeaderName = HeaderName::from_static("Set-Cookie");
    /// `Allow` (RFC 9110 §10.2.1)
    pub const ALLOW: HeaderName = HeaderName::from_static("Allow");
    /// `Vary` (RFC 9110 §12.5.5)
    pub const VARY: HeaderName = HeaderName::from_static("Vary");
    /// `Content-Encoding` (RFC 9110 §8.4)
    pub const CONTENT_ENCODING: HeaderName = HeaderName::from_static("Content-Encoding");
    /// `Content-Range` (RFC 9110 §14.4)
    pub const CONTENT_RANGE: HeaderName = HeaderName::from_static("Content-Range");
    /// `Accept-Ranges` (RFC 9110 §14.3)
    pub const ACCEPT_RANGES: HeaderName = HeaderName::from_static("Accept-Ranges");
    /// `ETag` (RFC 9110 §8.8.3)
    pub const ETAG: HeaderName = HeaderName::from_static("ETag");
    /// `Last-Modified` (RFC 9110 §8.8.2)
    pub const LAST_MODIFIED: HeaderName = HeaderName::from_static("Last-Modified");
    /// `Cache-Control` (RFC 9111 §5.2)
    pub const CACHE_CONTROL: HeaderName = HeaderName::from_static("Cache-Control");
    /// `WWW-Authenticate` (RFC 9110 §11.6.1)
    pub const WWW_AUTHENTICATE: HeaderName = HeaderName::from_static("WWW-Authenticate");
    /// `Retry-After` (RFC 9110 §10.2.3)
    pub const RETRY_AFTER: HeaderName = HeaderName::from_static("Retry-After");
    /// `X-Content-Type-Options` (WHATWG Fetch)
    pub const X_CONTENT_TYPE_OPTIONS: HeaderName =
        HeaderName::from_static("X-Content-Type-Options");
}

/// A header field value: field-vchar, obs-text, SP and HTAB, with no leading or
/// trailing whitespace (RFC 9110 §5.5).
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderValue(Bytes);

impl HeaderValue {
    /// A value from a static string. Panics when it is not a valid field value.
    pub const fn from_static(value: &'static str) -> HeaderValue {
        let b = value.as_bytes();
        let mut i = 0;
        while i < b.len() {
            assert!(
                crate::chars::FIELD_VALUE[b[i] as usize],
                "invalid header value"
            );
            i += 1;
        }
        assert!(
            b.is_empty()
                || (b[0] != b' '
                    && b[0] != b'\t'
                    && b[b.len() - 1] != b' '
                    && b[b.len() - 1] != b'\t'),
            "header value has surrounding whitespace"
        );
        HeaderValue(Bytes::from_static(b))
    }

    /// A value from bytes, validated.
    pub fn from_bytes(value: &[u8]) -> Result<HeaderValue, InvalidHeader> {
        if is_field_value(value) {
            Ok(HeaderValue(Bytes::copy_from_slice(value)))
        } else {
            Err(InvalidHeader)
        }
    }

    /// A value from owned bytes, validated, without copying.
    pub fn from_shared(value: Bytes) -> Result<HeaderValue, InvalidHeader> {
        if is_field_value(&value) {
            Ok(HeaderValue(value))
        } else {
            Err(InvalidHeader)
        }
    }

    /// A decimal number, as for `Content-Length`.
    pub fn from_u64(n: u64) -> HeaderValue {
        HeaderValue(Bytes::from(n.to_string()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text when it is UTF-8 (obs-text may make it not).
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl TryFrom<&str> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(s: &str) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::from_bytes(s.as_bytes())
    }
}

impl TryFrom<String> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(s: String) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::from_shared(Bytes::from(s))
    }
}

/// Fields kept inline before the map spills to the heap: enough for the common
/// small response (a content type and one more), so building it allocates
/// nothing. Kept small because responses are moved by value (builder calls,
/// handler returns): every inline slot is 64 bytes copied on each move.
const INLINE_FIELDS: usize = 2;

/// Header fields in arrival order. A name may repeat (RFC 9110 §5.3); lookups are
/// case-insensitive. A short vector beats a hash map for the ten-odd fields a
/// message usually carries, and its first few entries live inline.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    fields: SmallVec<[(HeaderName, HeaderValue); INLINE_FIELDS]>,
}

impl HeaderMap {
    /// An empty map.
    pub const fn new() -> HeaderMap {
        HeaderMap {
            fields: SmallVec::new_const(),
        }
    }

    /// An empty map with room for `n` fields: one allocation up front for a
    /// response known to carry more than the inline few (a static file's
    /// five to seven), instead of regrowing on the way.
    pub fn with_capacity(n: usize) -> HeaderMap {
        HeaderMap {
            fields: SmallVec::with_capacity(n),
        }
    }

    /// Number of fields, repeats counted.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.fields.iter().find(|(n, _)| n.is(name)).map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.is(name))
            .map(|(_, v)| v)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n.is(name))
    }

    /// Adds a field, keeping any others of the same name.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        self.fields.push((name, value));
    }

    /// Sets `name` to `value`, removing other values of that name.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        match self.fields.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                self.fields[first].1 = value;
                let mut i = first + 1;
                while i < self.fields.len() {
                    if self.fields[i].0 == name {
                        self.fields.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => self.fields.push((name, value)),
        }
    }

    /// Removes every value of `name`; returns whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.fields.len();
        self.fields.retain(|(n, _)| !n.is(name));
        self.fields.len() != before
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.fields.iter().map(|(n, v)| (n, v))
    }

    /// Removes all fields, keeping the allocation.
    pub fn clear(&mut self) {
        self.fields.clear();
    }
}

impl fmt::Debug for HeaderMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a HeaderMap {
    type Item = (&'a HeaderName, &'a HeaderValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (HeaderName, HeaderValue)>,
        fn(&'a (HeaderName, HeaderValue)) -> (&'a HeaderName, &'a HeaderValue),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.iter().map(|(n, v)| (n, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_case_insensitively() {
        let n = HeaderName::from_static("Content-Type");
        assert!(n.is("content-type"));
        assert_eq!(n, HeaderName::try_from("CONTENT-TYPE").unwrap());
        assert_eq!(n.as_str(), "Content-Type");
        assert!(HeaderName::try_from("bad name").is_err());
        assert!(HeaderName::try_from("").is_err());
    }

    #[test]
    fn values_reject_injection() {
        assert!(HeaderValue::try_from("ok; q=1").is_ok());
        assert!(HeaderValue::try_from("a\r\nSet-Cookie: x").is_err());
        assert!(HeaderValue::try_from("a\0").is_err());
        assert!(HeaderValue::try_from(" padded").is_err());
        assert_eq!(HeaderValue::from_u64(42).as_bytes(), b"42");
    }

    #[test]
    fn map_operations() {
        let mut m = HeaderMap::new();
        m.append(
            HeaderName::from_static("Vary"),
            HeaderValue::from_static("a"),
        );
        m.append(
            HeaderName::from_static("vary"),
            HeaderValue::from_static("b"),
        );
        m.append(HeaderName::from_static("X"), HeaderValue::from_static("1"));
        let all: Vec<_> = m.get_all("VARY").map(|v| v.as_bytes()).collect();
        assert_eq!(all, [b"a", b"b"]);
        m.insert(
            HeaderName::from_static("Vary"),
            HeaderValue::from_static("c"),
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("vary").unwrap().as_bytes(), b"c");
        assert!(m.remove("x"));
        assert!(!m.contains("X"));
    }
}
