//! The HPACK static table (RFC 7541 §2.3.1, Appendix A): 61 fixed entries,
//! indexes 1 to 61, shared by every connection.

/// Entries of Appendix A; index `i` is `STATIC[i - 1]`.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Number of static entries; dynamic indexes start after it (§2.3.3).
pub const LEN: usize = STATIC.len();

/// The indexes (1-based, inclusive range) whose entries have `name`. Names
/// repeat only in adjacent entries, so one range says it all.
fn name_range(name: &[u8]) -> Option<(usize, usize)> {
    Some(match name {
        b":authority" => (1, 1),
        b":method" => (2, 3),
        b":path" => (4, 5),
        b":scheme" => (6, 7),
        b":status" => (8, 14),
        _ => {
            // Regular names appear once each, from index 15 on.
            let i = STATIC[14..]
                .iter()
                .position(|(n, _)| n.as_bytes() == name)?;
            (15 + i, 15 + i)
        }
    })
}

/// Looks `name`/`value` up: `Some((index, true))` for an entry matching both,
/// `Some((index, false))` for one matching the name only.
pub fn find(name: &[u8], value: &[u8]) -> Option<(usize, bool)> {
    let (lo, hi) = name_range(name)?;
    for i in lo..=hi {
        if STATIC[i - 1].1.as_bytes() == value {
            return Some((i, true));
        }
    }
    Some((lo, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(find(b":method", b"GET"), Some((2, true)));
        assert_eq!(find(b":method", b"PUT"), Some((2, false)));
        assert_eq!(find(b":status", b"404"), Some((13, true)));
        assert_eq!(find(b":status", b"302"), Some((8, false)));
        assert_eq!(find(b"cache-control", b"x"), Some((24, false)));
        assert_eq!(find(b"www-authenticate", b""), Some((61, true)));
        assert_eq!(find(b"x-custom", b""), None);
        // Every entry finds itself.
        for (i, (n, v)) in STATIC.iter().enumerate() {
            assert_eq!(find(n.as_bytes(), v.as_bytes()), Some((i + 1, true)));
        }
    }
}
