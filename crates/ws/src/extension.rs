//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): a list of extension
//! offers, each a token with `;`-separated parameters, a parameter's value a
//! token or a quoted string whose unescaped content is a token.
//!
//! ```text
//! extension-list = 1#extension
//! extension      = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! Whitespace is allowed around the separators, empty list elements are
//! skipped (RFC 9110 §5.6.1), and the header may be repeated: each field line
//! is a list of its own (RFC 6455 §9.1, RFC 9110 §5.3).

use std::fmt;

use osprey_proto::chars::{is_token, TCHAR};

use crate::limits::{MAX_EXTENSION_PARAMS, MAX_OFFERS};

/// One extension offer or response: a name and its parameters in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, as sent.
    pub name: String,
    /// The parameters: name and value (unquoted), `None` for a bare name.
    pub params: Vec<(String, Option<String>)>,
}

impl Extension {
    /// An extension with no parameters.
    pub fn new(name: &str) -> Extension {
        Extension {
            name: name.to_owned(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (builder style).
    pub fn param(mut self, name: &str, value: Option<&str>) -> Extension {
        self.params
            .push((name.to_owned(), value.map(str::to_owned)));
        self
    }
}

/// Written as it goes in a header: `name; p1=v1; p2`. Values are tokens, so
/// they need no quotes.
impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (n, v) in &self.params {
            match v {
                Some(v) => write!(f, "; {n}={v}")?,
                None => write!(f, "; {n}")?,
            }
        }
        Ok(())
    }
}

/// The header does not follow the §9.1 grammar (or passes the offer limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedExtensions(pub &'static str);

/// Parses every `Sec-WebSocket-Extensions` field line, in order.
pub fn parse_extensions<'a, I>(lines: I) -> Result<Vec<Extension>, MalformedExtensions>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut out = Vec::new();
    for line in lines {
        Parser { s: line, pos: 0 }.list(&mut out)?;
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self, what: &'static str) -> Result<String, MalformedExtensions> {
        let start = self.pos;
        while self.peek().is_some_and(|b| TCHAR[b as usize]) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(MalformedExtensions(what));
        }
        // A token is ASCII.
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    /// quoted-string (RFC 9110 §5.6.4), unescaped; §9.1 requires the result
    /// to be a token.
    fn quoted(&mut self) -> Result<String, MalformedExtensions> {
        const BAD: MalformedExtensions = MalformedExtensions("malformed quoted parameter value");
        self.pos += 1; // the opening quote
        let mut v = Vec::new();
        loop {
            match self.peek() {
                None => return Err(BAD),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let c = *self.s.get(self.pos + 1).ok_or(BAD)?;
                    v.push(c);
                    self.pos += 2;
                }
                Some(c) => {
                    v.push(c);
                    self.pos += 1;
                }
            }
        }
        if !is_token(&v) {
            return Err(MalformedExtensions("quoted parameter value is not a token"));
        }
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    fn list(&mut self, out: &mut Vec<Extension>) -> Result<(), MalformedExtensions> {
        loop {
            self.ows();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            if out.len() == MAX_OFFERS {
                return Err(MalformedExtensions("too many extension offers"));
            }
            let mut ext = Extension::new(&self.token("missing extension name")?);
            self.ows();
            while self.peek() == Some(b';') {
                self.pos += 1;
                self.ows();
                let name = self.token("missing extension parameter name")?;
                self.ows();
                let value = if self.peek() == Some(b'=') {
                    self.pos += 1;
                    self.ows();
                    let v = if self.peek() == Some(b'"') {
                        self.quoted()?
                    } else {
                        self.token("missing extension parameter value")?
                    };
                    self.ows();
                    Some(v)
                } else {
                    None
                };
                if ext.params.len() == MAX_EXTENSION_PARAMS {
                    return Err(MalformedExtensions("too many extension parameters"));
                }
                ext.params.push((name, value));
            }
            out.push(ext);
            match self.peek() {
                None => return Ok(()),
                Some(b',') => self.pos += 1,
                Some(_) => {
                    return Err(MalformedExtensions(
                        "unexpected character in extension list",
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Extension>, MalformedExtensions> {
        parse_extensions([s.as_bytes()])
    }

    #[test]
    fn offers_with_params() {
        let got = parse(
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10 , \
             permessage-deflate ;client_max_window_bits=\"12\",, foo",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                Extension::new("permessage-deflate")
                    .param("client_max_window_bits", None)
                    .param("server_max_window_bits", Some("10")),
                Extension::new("permessage-deflate").param("client_max_window_bits", Some("12")),
                Extension::new("foo"),
            ]
        );
        assert_eq!(
            got[0].to_string(),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10"
        );
    }

    #[test]
    fn several_lines_and_empty_ones() {
        let got = parse_extensions([&b"a; x"[..], b"", b" , b = c"]);
        // `b = c` is not `b; c`: a parameter needs the semicolon.
        assert!(got.is_err());
        let got = parse_extensions([&b"a; x"[..], b"", b" , b; c = \"d\""]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].params, vec![("c".to_owned(), Some("d".to_owned()))]);
    }

    #[test]
    fn malformed() {
        for bad in [
            "; x",
            "a;",
            "a; =1",
            "a; x=",
            "a; x=\"1",
            "a; x=\"1 2\"",
            "a; x=\"\"",
            "a b",
            "a; x=1 y",
            "a; x=\"\\",
            "a\u{e9}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("a; x=\"1\\2\"").is_ok());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn limits() {
        let many = vec!["x"; MAX_OFFERS + 1].join(",");
        assert!(parse(&many).is_err());
        let params = format!("x{}", "; p".repeat(MAX_EXTENSION_PARAMS + 1));
        assert!(parse(&params).is_err());
    }
}
