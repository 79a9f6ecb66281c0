//! Request methods (RFC 9110 §9).
//!
//! The methods RFC 9110 defines, plus PATCH (RFC 5789), are enum variants so that
//! matching on them costs nothing; any other token is kept as an extension method,
//! because §9.1 says a server must accept methods it does not know and answer them
//! (usually 501 or 405) rather than reject the message.

use std::fmt;

use crate::chars::is_token;

/// An HTTP request method. Method names are case-sensitive (RFC 9110 §9.1): `get`
/// is an extension method, not GET.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET (RFC 9110 §9.3.1)
    Get,
    /// HEAD (RFC 9110 §9.3.2)
    Head,
    /// POST (RFC 9110 §9.3.3)
    Post,
    /// PUT (RFC 9110 §9.3.4)
    Put,
    /// DELETE (RFC 9110 §9.3.5)
    Delete,
    /// CONNECT (RFC 9110 §9.3.6)
    Connect,
    /// OPTIONS (RFC 9110 §9.3.7)
    Options,
    /// TRACE (RFC 9110 §9.3.8)
    Trace,
    /// PATCH (RFC 5789)
    Patch,
    /// Any other token.
    Extension(Box<str>),
}

impl Method {
    /// Parses a method token. Returns `None` when `token` is not a valid token.
    #[inline]
    pub fn from_bytes(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            other if is_token(other) => {
                // A token is ASCII, so this conversion cannot fail.
                Method::Extension(std::str::from_utf8(other).ok()?.into())
            }
            _ => return None,
        })
    }

    /// The method name as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Extension(name) => name,
        }
    }

    /// Safe methods (RFC 9110 §9.2.1) do not change server state.
    pub fn is_safe(&self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Options | Method::Trace
        )
    }

    /// Idempotent methods (RFC 9110 §9.2.2) may be retried automatically.
    pub fn is_idempotent(&self) -> bool {
        self.is_safe() || matches!(self, Method::Put | Method::Delete)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_extension_methods() {
        assert_eq!(Method::from_bytes(b"GET"), Some(Method::Get));
        assert_eq!(Method::from_bytes(b"PATCH"), Some(Method::Patch));
        assert_eq!(
            Method::from_bytes(b"get"),
            Some(Method::Extension("get".into()))
        );
        assert_eq!(
            Method::from_bytes(b"PROPFIND").unwrap().as_str(),
            "PROPFIND"
        );
        assert_eq!(Method::from_bytes(b""), None);
        assert_eq!(Method::from_bytes(b"GE T"), None);
        assert_eq!(Method::from_bytes(b"G(T"), None);
    }

    #[test]
    fn safety() {
        assert!(Method::Get.is_safe());
        assert!(!Method::Post.is_safe());
        assert!(Method::Put.is_idempotent());
        assert!(!Method::Patch.is_idempotent());
    }
}
