//! The `Date` header value (RFC 9110 §6.6.1), formatted at most once a second.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// One per thread: no locks, and formatting happens once a second per loop.
#[derive(Debug)]
pub struct DateCache {
    second: u64,
    value: [u8; 29],
}

impl Default for DateCache {
    fn default() -> DateCache {
        let mut d = DateCache {
            second: u64::MAX,
            value: [b' '; 29],
        };
        d.refresh();
        d
    }
}

impl DateCache {
    /// Re-reads the wall clock and reformats if the second changed. Call once per
    /// event-loop turn.
    pub fn refresh(&mut self) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            // Formatted straight into the fixed buffer: the keep-alive path
            // allocates nothing, not even once a second. IMF-fixdate is
            // always 29 bytes: "Sun, 06 Nov 1994 08:49:37 GMT".
            let mut out = [0u8; 29];
            let mut cursor = &mut out[..];
            if write!(cursor, "{}", httpdate::HttpDate::from(now)).is_ok() && cursor.is_empty() {
                self.value = out;
            }
        }
    }

    /// The formatted date.
    pub fn get(&self) -> &[u8] {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        let d = DateCache::default();
        let s = std::str::from_utf8(d.get()).unwrap();
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(s).is_ok());
    }

    #[test]
    fn matches_httpdate_formatting() {
        // A stale second forces a reformat.
        let mut d = DateCache {
            second: 0,
            ..DateCache::default()
        };
        d.refresh();
        let s = std::str::from_utf8(d.get()).unwrap();
        let parsed = httpdate::parse_http_date(s).unwrap();
        assert_eq!(httpdate::fmt_http_date(parsed), s);
    }
}
