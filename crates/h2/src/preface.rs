//! The client connection preface (RFC 9113 §3.4), and telling from the first
//! bytes of a connection whether it speaks HTTP/2 with prior knowledge (h2c,
//! §3.3) or something else, such as HTTP/1.1.

/// The 24 octets a client sends first: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
/// Chosen so that an HTTP/1.1 server rejects it as a request.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefaceMatch {
    /// The whole preface is there: HTTP/2.
    Yes,
    /// The bytes so far are a prefix of the preface: read more to know.
    NeedMore,
    /// Not the preface: another protocol (or a broken client).
    No,
}

/// Looks at the first bytes of a connection for the HTTP/2 preface. A server
/// listening for both HTTP/1.1 and h2c can read until this is not
/// [`PrefaceMatch::NeedMore`], then hand the bytes to the matching machine.
pub fn detect_preface(input: &[u8]) -> PrefaceMatch {
    let n = input.len().min(PREFACE.len());
    if input[..n] != PREFACE[..n] {
        PrefaceMatch::No
    } else if n == PREFACE.len() {
        PrefaceMatch::Yes
    } else {
        PrefaceMatch::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert_eq!(detect_preface(b""), PrefaceMatch::NeedMore);
        assert_eq!(detect_preface(b"PRI * HT"), PrefaceMatch::NeedMore);
        assert_eq!(detect_preface(PREFACE), PrefaceMatch::Yes);
        let mut more = PREFACE.to_vec();
        more.extend_from_slice(b"\x00\x00\x00\x04");
        assert_eq!(detect_preface(&more), PrefaceMatch::Yes);
        assert_eq!(detect_preface(b"GET / HTTP/1.1\r\n"), PrefaceMatch::No);
        assert_eq!(detect_preface(b"PRI * HTTP/1.1"), PrefaceMatch::No);
    }
}
