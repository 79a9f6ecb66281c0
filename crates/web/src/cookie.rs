//! Cookies: reading the `Cookie` header and writing `Set-Cookie` (RFC 6265).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// The `SameSite` attribute (RFC 6265bis §4.1.2.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Also sent on top-level navigations from other sites (browsers' default).
    Lax,
    /// Sent with every request; browsers require `Secure` with it.
    None,
}

/// A `Set-Cookie` value under construction.
///
/// ```
/// use osprey_web::{Cookie, SameSite};
/// let c = Cookie::new("session", "abc123").path("/").http_only().same_site(SameSite::Lax);
/// assert_eq!(c.to_string(), "session=abc123; Path=/; HttpOnly; SameSite=Lax");
/// ```
#[derive(Clone, Debug)]
pub struct Cookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<Duration>,
    expires: Option<SystemTime>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

impl Cookie {
    /// A session cookie `name=value`. The name must be a token and the value
    /// cookie-octets (RFC 6265 §4.1.1: no space, `"`, `,`, `;` or `\`):
    /// [`crate::Response::set_cookie`] panics otherwise, so a value can never
    /// smuggle in attributes.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Cookie {
        Cookie {
            name: name.into(),
            value: value.into(),
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }

    /// A cookie that deletes `name` (empty value, `Max-Age=0`). Give it the same
    /// path and domain the cookie was set with.
    pub fn removal(name: impl Into<String>) -> Cookie {
        Cookie::new(name, "").max_age(Duration::ZERO)
    }

    /// `Path=`
    pub fn path(mut self, path: impl Into<String>) -> Cookie {
        self.path = Some(path.into());
        self
    }

    /// `Domain=`
    pub fn domain(mut self, domain: impl Into<String>) -> Cookie {
        self.domain = Some(domain.into());
        self
    }

    /// `Max-Age=` in whole seconds.
    pub fn max_age(mut self, age: Duration) -> Cookie {
        self.max_age = Some(age);
        self
    }

    /// `Expires=` (an IMF-fixdate).
    pub fn expires(mut self, at: SystemTime) -> Cookie {
        self.expires = Some(at);
        self
    }

    /// `Secure`: sent over HTTPS only.
    pub fn secure(mut self) -> Cookie {
        self.secure = true;
        self
    }

    /// `HttpOnly`: hidden from scripts.
    pub fn http_only(mut self) -> Cookie {
        self.http_only = true;
        self
    }

    /// `SameSite=`
    pub fn same_site(mut self, same_site: SameSite) -> Cookie {
        self.same_site = Some(same_site);
        self
    }

    /// Whether name and value follow RFC 6265 §4.1.1 and the attributes hold no
    /// `;` or control bytes.
    pub fn is_valid(&self) -> bool {
        let cookie_octet =
            |b: u8| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e);
        let attr_ok = |s: &Option<String>| {
            s.as_deref()
                .is_none_or(|s| s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';'))
        };
        osprey_proto::chars::is_token(self.name.as_bytes())
            && self.value.bytes().all(cookie_octet)
            && attr_ok(&self.path)
            && attr_ok(&self.domain)
    }
}

impl std::fmt::Display for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = format!("{}={}", self.name, self.value);
        if let Some(p) = &self.path {
            let _ = write!(s, "; Path={p}");
        }
        if let Some(d) = &self.domain {
            let _ = write!(s, "; Domain={d}");
        }
        if let Some(age) = self.max_age {
            let _ = write!(s, "; Max-Age={}", age.as_secs());
        }
        if let Some(at) = self.expires {
            let _ = write!(s, "; Expires={}", httpdate::fmt_http_date(at));
        }
        if self.secure {
            s.push_str("; Secure");
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if let Some(ss) = self.same_site {
            s.push_str(match ss {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        f.write_str(&s)
    }
}

/// The `name=value` pairs of a `Cookie` header value (RFC 6265 §5.4), in order.
/// Pairs without `=` are skipped; surrounding double quotes are kept as sent.
pub(crate) fn parse_pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then(|| (name, value.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_attributes() {
        let c = Cookie::new("id", "a1")
            .path("/app")
            .domain("example.com")
            .max_age(Duration::from_secs(3600))
            .expires(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
            .secure()
            .http_only()
            .same_site(SameSite::Strict);
        assert_eq!(
            c.to_string(),
            "id=a1; Path=/app; Domain=example.com; Max-Age=3600; \
             Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=Strict"
        );
        assert_eq!(Cookie::removal("id").to_string(), "id=; Max-Age=0");
    }

    #[test]
    fn validates() {
        assert!(Cookie::new("a", "b-c_d.e").is_valid());
        assert!(!Cookie::new("a", "x; Domain=evil").is_valid());
        assert!(!Cookie::new("a b", "x").is_valid());
        assert!(!Cookie::new("a", "x").path("/;x").is_valid());
    }

    #[test]
    fn parses_header() {
        let pairs: Vec<_> = parse_pairs("a=1; b=two ;c=; junk; =x; d=\"q\"").collect();
        assert_eq!(pairs, [("a", "1"), ("b", "two"), ("c", ""), ("d", "\"q\"")]);
    }
}
