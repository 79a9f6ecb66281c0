//! Percent-decoding (RFC 3986 §2.1) for paths, path segments, queries and forms.
//!
//! A path is decoded exactly once: decoding twice is how `%252e%252e` turns into
//! `..` behind a filter that already looked at the path. A `%` not followed by
//! two hex digits is an error rather than a literal `%` (a lenient decoder and a
//! strict one disagreeing about the same bytes is a classic smuggling vector),
//! and so are decoded bytes that are not UTF-8 or that contain NUL.

use std::borrow::Cow;
use std::fmt;

/// Why a percent-encoded string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// The decoded bytes contain NUL (`%00`).
    Nul,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::BadEscape => "a % is not followed by two hex digits",
            DecodeError::NotUtf8 => "the decoded text is not UTF-8",
            DecodeError::Nul => "the decoded text contains NUL",
        })
    }
}

impl std::error::Error for DecodeError {}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and, when `plus_is_space`, `+` as a space, as in
/// `application/x-www-form-urlencoded`). Borrows when there is nothing to decode.
pub fn decode(input: &str, plus_is_space: bool) -> Result<Cow<'_, str>, DecodeError> {
    let bytes = input.as_bytes();
    let needs = |b: &u8| *b == b'%' || (plus_is_space && *b == b'+');
    let Some(first) = bytes.iter().position(needs) else {
        if bytes.contains(&0) {
            return Err(DecodeError::Nul);
        }
        return Ok(Cow::Borrowed(input));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(DecodeError::BadEscape),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    if out.contains(&0) {
        return Err(DecodeError::Nul);
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

/// Decodes an `application/x-www-form-urlencoded` string (a query or a form
/// body) into its pairs, in order, repeated keys kept. A pair without `=` has
/// an empty value; empty pairs (`a=1&&b=2`) are skipped.
pub fn form_pairs(input: &str) -> Result<Vec<(String, String)>, DecodeError> {
    input
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k, true)?.into_owned(), decode(v, true)?.into_owned()))
        })
        .collect()
}

/// Characters a path segment may carry unescaped (RFC 3986 §3.3 `pchar`
/// without `%`, and never `/`).
fn is_segment_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// Percent-encodes `text` for use as one path segment (for links in directory
/// listings and `Location` headers built from decoded names).
pub fn encode_segment(text: &str) -> Cow<'_, str> {
    if text.bytes().all(is_segment_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if is_segment_char(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once() {
        assert_eq!(decode("/a%20b", false).unwrap(), "/a b");
        assert_eq!(decode("/%252e", false).unwrap(), "/%2e");
        assert_eq!(decode("/caf%C3%A9", false).unwrap(), "/café");
        assert!(matches!(decode("/plain", false).unwrap(), Cow::Borrowed(_)));
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert_eq!(decode("a+b", true).unwrap(), "a b");
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(decode("/%", false), Err(DecodeError::BadEscape));
        assert_eq!(decode("/%4", false), Err(DecodeError::BadEscape));
        assert_eq!(decode("/%zz", false), Err(DecodeError::BadEscape));
        assert_eq!(decode("/%00", false), Err(DecodeError::Nul));
        assert_eq!(decode("/%FF", false), Err(DecodeError::NotUtf8));
        assert_eq!(decode("/%C3", false), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn form_pairs_keep_repeats_and_order() {
        let pairs = form_pairs("a=1&b=x+y&a=2&&flag&e=%26").unwrap();
        let expect = [
            ("a", "1"),
            ("b", "x y"),
            ("a", "2"),
            ("flag", ""),
            ("e", "&"),
        ];
        assert_eq!(pairs.len(), expect.len());
        for ((k, v), (ek, ev)) in pairs.iter().zip(expect) {
            assert_eq!((k.as_str(), v.as_str()), (ek, ev));
        }
        assert!(form_pairs("a=%zz").is_err());
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("a b/c?.txt"), "a%20b%2Fc%3F.txt");
        assert_eq!(encode_segment("plain-name.txt"), "plain-name.txt");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
