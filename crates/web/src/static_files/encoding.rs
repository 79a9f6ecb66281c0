//! `Accept-Encoding` (RFC 9110 §12.5.3) and the precompressed siblings a
//! static file may have (`app.js.br`, `app.js.zst`, `app.js.gz`).
//!
//! The parser reads q-values (§12.4.2: `q=0` means "not acceptable"), `*`
//! for any coding not listed, and the `x-gzip` alias. A compressed sibling is
//! served only to a client that asked for its coding by name or by `*`: a
//! request without the field gets the identity file, whatever §12.5.3 allows,
//! because old clients that send nothing may not decode brotli.

/// A content coding we have precompressed siblings for, in the order we
/// prefer when the client weighs them equally (smallest output first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Brotli (RFC 7932), sibling `FILE.br`.
    Brotli,
    /// Zstandard (RFC 8878), sibling `FILE.zst`.
    Zstd,
    /// gzip (RFC 1952), sibling `FILE.gz`.
    Gzip,
}

impl Encoding {
    /// Every coding, in preference order.
    pub const ALL: [Encoding; 3] = [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    /// The sibling file's suffix (after the original name).
    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Zstd => ".zst",
            Encoding::Gzip => ".gz",
        }
    }

    /// Position in [`Encoding::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How much a client wants each coding: q-values in thousandths (0..=1000),
/// `None` when the field did not mention it (nor `*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// For br, zstd and gzip, in [`Encoding::ALL`] order.
    pub codings: [Option<u16>; 3],
    /// For `identity`, when listed explicitly (or through `*`).
    pub identity: Option<u16>,
}

/// A q-value (§12.4.2: `0[.ddd]` or `1[.000]`) in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u16::from(b - b'0'));
        thousandths = thousandths * 10 + d;
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Parses the values of every `Accept-Encoding` field of a request.
/// Elements that do not parse (a bad q-value) are skipped.
///
/// ```
/// use osprey_web::static_files::encoding::{parse_accept_encoding, Encoding};
/// let ae = parse_accept_encoding(["gzip;q=0.5, br, zstd;q=0"]);
/// assert_eq!(ae.codings, [Some(1000), Some(0), Some(500)]);
/// assert_eq!(ae.best(&[true, true, true]), Some(Encoding::Brotli));
/// assert_eq!(ae.best(&[false, true, false]), None); // zstd refused
/// ```
pub fn parse_accept_encoding<'a>(fields: impl IntoIterator<Item = &'a str>) -> AcceptEncoding {
    let mut named = AcceptEncoding::default();
    let mut star = None;
    for field in fields {
        for element in field.split(',') {
            let mut params = element.split(';');
            let coding = params.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for p in params {
                let Some((name, value)) = p.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    q = qvalue(value.trim());
                }
            }
            let Some(q) = q else { continue };
            // Coding names are case-insensitive (§8.4.1).
            let slot = if coding == "*" {
                &mut star
            } else if coding.eq_ignore_ascii_case("identity") {
                &mut named.identity
            } else if let Some(e) = Encoding::ALL
                .into_iter()
                .find(|e| coding.eq_ignore_ascii_case(e.token()))
            {
                &mut named.codings[e.index()]
            } else if coding.eq_ignore_ascii_case("x-gzip") {
                &mut named.codings[Encoding::Gzip.index()]
            } else {
                continue;
            };
            // Repeated codings: the most favourable mention counts.
            *slot = Some(slot.map_or(q, |old: u16| old.max(q)));
        }
    }
    // `*` covers whatever was not named.
    if let Some(star) = star {
        for slot in named.codings.iter_mut().chain([&mut named.identity]) {
            slot.get_or_insert(star);
        }
    }
    named
}

impl AcceptEncoding {
    /// The coding to serve among those `available` (indexed as
    /// [`Encoding::ALL`]): the highest q-value above 0, ties going to the
    /// earlier coding; `None` for the identity file — when nothing
    /// acceptable is available, or when `identity` was listed with a higher
    /// q-value than the best compressed coding.
    pub fn best(&self, available: &[bool; 3]) -> Option<Encoding> {
        let mut best: Option<(Encoding, u16)> = None;
        for e in Encoding::ALL {
            if let (true, Some(q)) = (available[e.index()], self.codings[e.index()]) {
                if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
                    best = Some((e, q));
                }
            }
        }
        let (e, q) = best?;
        match self.identity {
            Some(iq) if iq > q => None,
            _ => Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [bool; 3] = [true, true, true];

    fn best(field: &str, available: [bool; 3]) -> Option<Encoding> {
        parse_accept_encoding([field]).best(&available)
    }

    #[test]
    fn picks_by_q_then_preference() {
        use Encoding::*;
        let cases = [
            ("br, zstd, gzip", ALL, Some(Brotli)),
            ("gzip, deflate, br, zstd", ALL, Some(Brotli)),
            ("gzip, zstd", ALL, Some(Zstd)),
            ("gzip", ALL, Some(Gzip)),
            ("x-gzip", ALL, Some(Gzip)),
            ("GZIP", ALL, Some(Gzip)),
            ("br;q=0.5, gzip;q=0.8", ALL, Some(Gzip)),
            ("br;q=0.5, gzip;q=0.8", [true, true, false], Some(Brotli)),
            ("br;Q=0.9, gzip", ALL, Some(Gzip)),
            ("br ; q=1.0 , gzip;q=1", ALL, Some(Brotli)),
            ("*", ALL, Some(Brotli)),
            ("*;q=0.1, gzip;q=0.2", ALL, Some(Gzip)),
            ("br", [false, true, true], None),
            ("deflate", ALL, None),
            ("", ALL, None),
        ];
        for (field, available, want) in cases {
            assert_eq!(best(field, available), want, "{field:?} {available:?}");
        }
    }

    #[test]
    fn q_zero_refuses() {
        assert_eq!(best("br;q=0", ALL), None);
        assert_eq!(best("br;q=0.000, gzip", ALL), Some(Encoding::Gzip));
        assert_eq!(best("*;q=0", ALL), None);
        assert_eq!(best("*;q=0, zstd", ALL), Some(Encoding::Zstd));
        assert_eq!(best("gzip;q=0, *", ALL), Some(Encoding::Brotli));
        assert_eq!(best("gzip;q=0, *", [false, false, true]), None);
    }

    #[test]
    fn identity_preferred_only_when_asked() {
        assert_eq!(best("identity;q=1, gzip;q=0.5", ALL), None);
        assert_eq!(best("identity;q=0.5, gzip", ALL), Some(Encoding::Gzip));
        assert_eq!(best("identity, gzip", ALL), Some(Encoding::Gzip));
    }

    #[test]
    fn bad_q_values_skip_the_element() {
        for field in [
            "br;q=2",
            "br;q=1.5",
            "br;q=0.1234",
            "br;q=abc",
            "br;q=",
            "br;q=-1",
        ] {
            assert_eq!(best(field, ALL), None, "{field}");
        }
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.05"), Some(50));
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("1."), Some(1000));
        assert_eq!(qvalue("1.001"), None);
    }

    #[test]
    fn several_fields_combine() {
        let ae = parse_accept_encoding(["gzip;q=0.1", "br;q=0.2"]);
        assert_eq!(ae.best(&ALL), Some(Encoding::Brotli));
        let ae = parse_accept_encoding(["gzip;q=0.1", "gzip;q=0.9"]);
        assert_eq!(ae.codings[Encoding::Gzip.index()], Some(900));
    }
}
