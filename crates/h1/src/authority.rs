//! The authority grammar (RFC 3986 §3.2.2–3.2.3), shared by the request-line
//! parser (absolute-form and authority-form targets) and framing (the Host
//! field).

use osprey_proto::chars::REG_NAME;

/// Checks `uri-host [ ":" port ]` (RFC 3986 §3.2.2–3.2.3, no userinfo: RFC 9110
/// §4.2.4 says to treat it as an error). Returns `Some(port)` when valid, where
/// port is `None` if absent or empty.
pub(crate) fn parse_authority(a: &[u8]) -> Option<Option<u16>> {
    // The usual case, a reg-name without a port, in one pass.
    if a.iter().fold(true, |ok, &b| ok & REG_NAME[b as usize]) {
        return Some(None);
    }
    let (host, port) = if a.first() == Some(&b'[') {
        // IP-literal: hex digits, colons and dots inside brackets.
        let close = a.iter().position(|&b| b == b']')?;
        let inner = &a[1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        match &a[close + 1..] {
            [] => (&a[..=close], None),
            [b':', port @ ..] => (&a[..=close], Some(port)),
            _ => return None,
        }
    } else {
        match a.iter().rposition(|&b| b == b':') {
            Some(c) => (&a[..c], Some(&a[c + 1..])),
            None => (a, None),
        }
    };
    let host_ok =
        host.first() == Some(&b'[') || host.iter().fold(true, |ok, &b| ok & REG_NAME[b as usize]);
    if !host_ok || (host.is_empty() && port.is_some()) {
        return None;
    }
    match port {
        None | Some([]) => Some(None),
        Some(p) if p.len() <= 5 && p.iter().all(u8::is_ascii_digit) => {
            let n = p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
            u16::try_from(n).ok().map(Some)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_grammar() {
        assert_eq!(parse_authority(b"example.com"), Some(None));
        assert_eq!(parse_authority(b"example.com:8080"), Some(Some(8080)));
        assert_eq!(parse_authority(b"[::1]:443"), Some(Some(443)));
        assert_eq!(parse_authority(b"[::1]"), Some(None));
        assert_eq!(parse_authority(b""), Some(None));
        assert_eq!(parse_authority(b"a:"), Some(None));
        assert_eq!(parse_authority(b"user@host"), None);
        assert_eq!(parse_authority(b"host:99999"), None);
        assert_eq!(parse_authority(b"host/path"), None);
        assert_eq!(parse_authority(b"[zz]"), None);
        assert_eq!(parse_authority(b":80"), None);
    }
}
