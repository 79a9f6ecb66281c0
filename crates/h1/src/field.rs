//! Spans and field lines: the vocabulary every parser in this crate shares.
//!
//! A parsed head never copies bytes: it is a set of [`Span`]s into the
//! caller's buffer. A field line (RFC 9112 §5) is a name and a value, each a
//! span; [`parse_field_line`] reads one, for the head parser's exact path and
//! for chunked trailers alike.

use crate::{ErrorKind, ProtoError};
use osprey_proto::chars::{trim_ows, TCHAR};

/// A byte range of the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    #[inline]
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Heads are bounded by Limits::max_head, far below u32::MAX.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf`.
    #[inline]
    pub fn of(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// Number of bytes covered.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span is empty.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One field line: the name and the value with surrounding whitespace removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Field {
    /// The field name, as sent.
    pub name: Span,
    /// The field value, OWS trimmed (RFC 9110 §5.5).
    pub value: Span,
}

/// Parses one field line `buf[s..e]` (RFC 9112 §5): `name ":" OWS value OWS`.
#[inline]
pub(crate) fn parse_field_line(buf: &[u8], s: usize, e: usize) -> Result<Field, ProtoError> {
    let line = &buf[s..e];
    // A line that starts with whitespace continues the previous one (obs-fold,
    // RFC 9112 §5.2) or, right after the start line, hides a field (§2.2).
    if matches!(line[0], b' ' | b'\t') {
        return Err(err(ErrorKind::ObsoleteFold));
    }
    let colon = match line.iter().position(|&b| !TCHAR[b as usize]) {
        Some(n) if line[n] == b':' && n > 0 => n,
        // RFC 9112 §5.1: no whitespace between name and colon, ever.
        // Whitespace followed by more name (`Foo Bar:`) is a malformed name.
        Some(n) if matches!(line[n], b' ' | b'\t') => {
            let after = line[n..].iter().find(|&&b| b != b' ' && b != b'\t');
            return Err(err(if after == Some(&b':') {
                ErrorKind::SpaceBeforeColon
            } else {
                ErrorKind::BadHeaderName
            }));
        }
        _ => return Err(err(ErrorKind::BadHeaderName)),
    };
    let raw = &line[colon + 1..];
    let value = trim_ows(raw);
    let vstart = s + colon + 1 + (value.as_ptr() as usize - raw.as_ptr() as usize);
    Ok(Field {
        name: Span::new(s, s + colon),
        value: Span::new(vstart, vstart + value.len()),
    })
}

#[inline]
fn err(kind: ErrorKind) -> ProtoError {
    ProtoError::remote(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_line_spans() {
        let buf = b"Name: \t value \t";
        let f = parse_field_line(buf, 0, buf.len()).unwrap();
        assert_eq!(f.name.of(buf), b"Name");
        assert_eq!(f.value.of(buf), b"value");
        let buf = b"Empty:";
        let f = parse_field_line(buf, 0, buf.len()).unwrap();
        assert_eq!(f.value.of(buf), b"");
    }
}
