//! Byte classes from the HTTP grammar, as 256-entry lookup tables.
//!
//! A table lookup per byte is the cheapest exact test there is, and keeping the
//! tables in one place means the parser, the header types and the encoder all
//! agree on what a token or a field value may contain.

/// `tchar` (RFC 9110 §5.6.2): the characters of a token — method names, header
/// field names, transfer-coding names.
pub const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Bytes allowed inside a field value (RFC 9110 §5.5): `field-vchar`, `obs-text`,
/// SP and HTAB. Everything else — NUL, CR, LF, other controls and DEL — is not.
pub const FIELD_VALUE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b == 0x09 || (b >= 0x20 && b != 0x7f);
        b += 1;
    }
    t
};

/// Bytes allowed in a request-target: visible US-ASCII (RFC 3986 plus the
/// characters browsers send unencoded, such as `"` and `{`). Controls, SP, DEL and
/// non-ASCII bytes are rejected: a target with raw octets above 0x7E is not a URI.
pub const TARGET: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b > 0x20 && b < 0x7f;
        b += 1;
    }
    t
};

/// Bytes of a reg-name host (RFC 3986 §3.2.2): unreserved, `%` of a
/// pct-encoding, and sub-delims — what a Host value may hold outside an IPv6
/// literal and the port.
pub const REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    t
};

/// Whether `s` is a non-empty token.
#[inline]
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| TCHAR[b as usize])
}

/// Whether `s` may be a field value: only [`FIELD_VALUE`] bytes, and no leading or
/// trailing whitespace (RFC 9110 §5.5: OWS around the value is not part of it).
#[inline]
pub fn is_field_value(s: &[u8]) -> bool {
    s.iter().all(|&b| FIELD_VALUE[b as usize])
        && !matches!(s.first(), Some(b' ' | b'\t'))
        && !matches!(s.last(), Some(b' ' | b'\t'))
}

/// Strips optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
#[inline]
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bytes() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"X-Custom_1.2~"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"caf\xc3\xa9"));
    }

    #[test]
    fn field_value_bytes() {
        assert!(is_field_value(b""));
        assert!(is_field_value(b"text/html; q=0.9"));
        assert!(is_field_value(b"a\tb"));
        assert!(is_field_value(b"caf\xc3\xa9"));
        assert!(!is_field_value(b"a\0b"));
        assert!(!is_field_value(b"a\rb"));
        assert!(!is_field_value(b"a\nb"));
        assert!(!is_field_value(b"a\x7fb"));
        assert!(!is_field_value(b" a"));
        assert!(!is_field_value(b"a\t"));
    }

    #[test]
    fn trims_ows_only() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b"x"), b"x");
    }
}
