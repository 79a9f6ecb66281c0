//! The `Date` header value (RFC 9110 §6.6.1), formatted at most once a second.

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
            let text = httpdate::fmt_http_date(now);
            // IMF-fixdate is always 29 bytes: "Sun, 06 Nov 1994 08:49:37 GMT".
            if text.len() == self.value.len() {
                self.value.copy_from_slice(text.as_bytes());
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
}
