//! Range requests (RFC 9110 §14): parsing `Range: bytes=…` against a
//! representation's length, and the `multipart/byteranges` body (§14.6) for
//! several ranges, built from parts so file ranges still go out by sendfile.
//!
//! Choices where the RFC leaves room:
//! - a malformed field, another unit, or more than [`MAX_RANGES`] ranges is
//!   ignored and the whole representation is sent (§14.2 allows ignoring);
//! - unsatisfiable ranges among satisfiable ones are dropped (§14.1.1);
//! - ranges are sorted and those that overlap or touch are coalesced
//!   (§14.6 allows it "regardless of the order"), which bounds the reply to
//!   the representation's size however the ranges repeat;
//! - a zero-length representation ignores `Range` (there is no byte to
//!   point at, and a 416 for it would be useless): 200.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use osprey_web::Part;

/// Most ranges honoured in one request; more and the whole representation
/// is sent (200). Many small ranges are a known amplification and CPU
/// vector (CVE-2011-3192, "Apache Killer"), and no real client needs more.
pub const MAX_RANGES: usize = 16;

/// One satisfiable byte range, both ends inclusive as in `Content-Range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// The number of bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a satisfiable range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What a `Range` field asks of a representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Send everything (200): no usable `Range`.
    Full,
    /// Send these ranges (206): sorted, disjoint and not adjacent; one
    /// range is a plain 206, several a `multipart/byteranges` one.
    Partial(Vec<ByteRange>),
    /// No range overlaps the representation: 416 with `bytes */LEN`.
    Unsatisfiable,
}

/// A range-spec as written, before it meets the representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-` (last = None).
    From(u64, Option<u64>),
    /// `-suffix`.
    Suffix(u64),
}

/// A run of ASCII digits as a number, saturating: a last-pos beyond `u64`
/// still means "to the end", a first-pos beyond it is unsatisfiable.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

fn parse_spec(s: &str) -> Option<Spec> {
    if let Some(suffix) = s.strip_prefix('-') {
        return digits(suffix).map(Spec::Suffix);
    }
    let (first, last) = s.split_once('-')?;
    let first = digits(first)?;
    if last.is_empty() {
        return Some(Spec::From(first, None));
    }
    let last = digits(last)?;
    // §14.1.1: a last-pos below the first-pos makes the spec invalid.
    (last >= first).then_some(Spec::From(first, Some(last)))
}

/// Parses a `Range` field for a representation of `len` bytes, honouring at
/// most `max_ranges` range-specs.
///
/// ```
/// use osprey_static::range::{parse_range, ByteRange, RangeRequest, MAX_RANGES};
/// let r = |s| parse_range(s, 100, MAX_RANGES);
/// assert_eq!(r("bytes=0-9"), RangeRequest::Partial(vec![ByteRange { start: 0, end: 9 }]));
/// assert_eq!(r("bytes=-10"), RangeRequest::Partial(vec![ByteRange { start: 90, end: 99 }]));
/// assert_eq!(r("bytes=100-"), RangeRequest::Unsatisfiable);
/// assert_eq!(r("items=0-9"), RangeRequest::Full);
/// ```
pub fn parse_range(field: &str, len: u64, max_ranges: usize) -> RangeRequest {
    let Some((unit, set)) = field.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    // §14.1: range units are case-insensitive.
    if !unit.eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let mut specs = Vec::new();
    // §5.6.1: a list may hold empty elements, which do not count.
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        let Some(spec) = parse_spec(element) else {
            return RangeRequest::Full;
        };
        if specs.len() == max_ranges {
            return RangeRequest::Full;
        }
        specs.push(spec);
    }
    if specs.is_empty() || len == 0 {
        return RangeRequest::Full;
    }
    let mut ranges: Vec<ByteRange> = specs
        .into_iter()
        .filter_map(|spec| match spec {
            Spec::From(first, _) if first >= len => None,
            Spec::From(first, last) => Some(ByteRange {
                start: first,
                end: last.map_or(len - 1, |l| l.min(len - 1)),
            }),
            // §14.1.1: a zero suffix is unsatisfiable; a longer one than the
            // representation means all of it.
            Spec::Suffix(0) => None,
            Spec::Suffix(n) => Some(ByteRange {
                start: len.saturating_sub(n),
                end: len - 1,
            }),
        })
        .collect();
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            // Overlapping or adjacent: one part instead of two.
            Some(last) if r.start <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    RangeRequest::Partial(merged)
}

/// `bytes a-b/LEN` for `Content-Range` (§14.4).
pub fn content_range(r: ByteRange, len: u64) -> String {
    format!("bytes {}-{}/{}", r.start, r.end, len)
}

/// `bytes */LEN` for a 416 (§15.5.17).
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// A fresh multipart boundary: `osprey-` and 16 hex digits from a keyed
/// hash of a counter and the clock (std's randomly keyed hasher), so it is
/// unpredictable and practically never occurs in the content (RFC 2046
/// §5.1.1 requires that it does not).
pub fn new_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    format!("osprey-{:016x}", h.finish())
}

/// The parts of a `multipart/byteranges` body (§14.6): for each range a
/// head (boundary, `Content-Type`, `Content-Range`) as bytes, then the range
/// itself from `slice`, and the closing boundary.
///
/// ```
/// use osprey_static::range::{multipart, ByteRange};
/// use osprey_web::Part;
/// let data = bytes::Bytes::from_static(b"0123456789");
/// let ranges = [ByteRange { start: 0, end: 1 }, ByteRange { start: 8, end: 9 }];
/// let parts = multipart(&ranges, b"text/plain", 10, "B", |r| {
///     Part::Bytes(data.slice(r.start as usize..=r.end as usize))
/// });
/// let body: Vec<u8> = parts.iter().flat_map(|p| match p {
///     Part::Bytes(b) => b.to_vec(),
///     Part::File(_) => unreachable!(),
/// }).collect();
/// assert_eq!(body, b"--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
/// \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n");
/// ```
pub fn multipart(
    ranges: &[ByteRange],
    content_type: &[u8],
    len: u64,
    boundary: &str,
    mut slice: impl FnMut(ByteRange) -> Part,
) -> Vec<Part> {
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, &r) in ranges.iter().enumerate() {
        let mut head = Vec::with_capacity(96 + content_type.len());
        // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1).
        if i > 0 {
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"--");
        head.extend_from_slice(boundary.as_bytes());
        head.extend_from_slice(b"\r\nContent-Type: ");
        head.extend_from_slice(content_type);
        head.extend_from_slice(b"\r\nContent-Range: ");
        head.extend_from_slice(content_range(r, len).as_bytes());
        head.extend_from_slice(b"\r\n\r\n");
        parts.push(Part::Bytes(Bytes::from(head)));
        parts.push(slice(r));
    }
    parts.push(Part::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn parse(field: &str) -> RangeRequest {
        parse_range(field, 100, MAX_RANGES)
    }

    #[test]
    fn single_ranges() {
        let cases = [
            ("bytes=0-0", vec![r(0, 0)]),
            ("bytes=0-99", vec![r(0, 99)]),
            ("bytes=10-19", vec![r(10, 19)]),
            ("bytes=90-200", vec![r(90, 99)]),
            ("bytes=99-99", vec![r(99, 99)]),
            ("bytes=50-", vec![r(50, 99)]),
            ("bytes=0-", vec![r(0, 99)]),
            ("bytes=-1", vec![r(99, 99)]),
            ("bytes=-10", vec![r(90, 99)]),
            ("bytes=-100", vec![r(0, 99)]),
            ("bytes=-1000", vec![r(0, 99)]),
            ("BYTES=0-1", vec![r(0, 1)]),
            ("Bytes=0-1", vec![r(0, 1)]),
            (" bytes=0-1 ", vec![r(0, 1)]),
            ("bytes= 0-1", vec![r(0, 1)]),
            ("bytes=007-008", vec![r(7, 8)]),
        ];
        for (field, want) in cases {
            assert_eq!(parse(field), Partial(want), "{field}");
        }
    }

    #[test]
    fn multiple_ranges_sorted_and_coalesced() {
        let cases = [
            ("bytes=0-9,20-29", vec![r(0, 9), r(20, 29)]),
            ("bytes=20-29, 0-9", vec![r(0, 9), r(20, 29)]),
            ("bytes=0-9,\t-5", vec![r(0, 9), r(95, 99)]),
            ("bytes=0-9,,,20-29,", vec![r(0, 9), r(20, 29)]),
            // Overlapping and adjacent ranges merge.
            ("bytes=0-9,5-14", vec![r(0, 14)]),
            ("bytes=0-9,10-19", vec![r(0, 19)]),
            ("bytes=0-,0-,0-,0-", vec![r(0, 99)]),
            ("bytes=-50,0-", vec![r(0, 99)]),
            ("bytes=10-20,12-13", vec![r(10, 20)]),
            // Unsatisfiable ones among satisfiable ones are dropped.
            ("bytes=0-9,500-600", vec![r(0, 9)]),
            ("bytes=-0,0-0", vec![r(0, 0)]),
        ];
        for (field, want) in cases {
            assert_eq!(parse(field), Partial(want), "{field}");
        }
    }

    #[test]
    fn unsatisfiable() {
        for field in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=1000-2000",
            "bytes=-0",
            "bytes=100-,200-300",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(field), Unsatisfiable, "{field}");
        }
    }

    #[test]
    fn malformed_or_foreign_is_ignored() {
        for field in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=abc",
            "bytes=1",
            "bytes=-",
            "bytes=--1",
            "bytes=1-2-3",
            "bytes=5-4",
            "bytes=0-1,x",
            "bytes=+1-2",
            "bytes=0x10-20",
            "bytes=1 -2",
            "bytes=1.5-2",
            "bytes =0-1",
            "items=0-1",
            "none",
            "bytes=٣-٤",
        ] {
            assert_eq!(parse(field), Full, "{field:?}");
        }
    }

    #[test]
    fn overflowing_numbers_saturate() {
        assert_eq!(
            parse("bytes=0-99999999999999999999999999"),
            Partial(vec![r(0, 99)])
        );
        assert_eq!(
            parse("bytes=-99999999999999999999999999"),
            Partial(vec![r(0, 99)])
        );
        assert_eq!(
            parse_range("bytes=18446744073709551615-", u64::MAX, MAX_RANGES),
            Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=18446744073709551614-", u64::MAX, MAX_RANGES),
            Partial(vec![r(u64::MAX - 1, u64::MAX - 1)])
        );
        assert_eq!(
            parse_range("bytes=0-5,6-99999999999999999999", u64::MAX, MAX_RANGES),
            Partial(vec![r(0, u64::MAX - 1)])
        );
    }

    #[test]
    fn too_many_ranges_send_everything() {
        let sixteen: Vec<String> = (0..16).map(|i| format!("{}-{}", i * 5, i * 5)).collect();
        let field = format!("bytes={}", sixteen.join(","));
        assert!(matches!(parse(&field), Partial(v) if v.len() == 16));
        let field = format!("bytes={},90-91", sixteen.join(","));
        assert_eq!(parse(&field), Full);
        assert_eq!(parse_range("bytes=0-1,3-4", 100, 1), Full);
    }

    #[test]
    fn empty_representation_ignores_range() {
        assert_eq!(parse_range("bytes=0-0", 0, MAX_RANGES), Full);
        assert_eq!(parse_range("bytes=-5", 0, MAX_RANGES), Full);
    }

    #[test]
    fn header_values() {
        assert_eq!(content_range(r(0, 9), 100), "bytes 0-9/100");
        assert_eq!(unsatisfied_range(100), "bytes */100");
        assert_eq!(r(5, 5).len(), 1);
        let (a, b) = (new_boundary(), new_boundary());
        assert_ne!(a, b);
        assert!(a.starts_with("osprey-") && a.len() == 23);
    }
}
