//! Content codings (RFC 9110 §8.4) and `Accept-Encoding` negotiation
//! (§12.5.3), shared by the compression middleware (which codes responses on
//! the fly) and the static-file handler (which serves precompressed siblings:
//! `app.js.br`, `app.js.zst`, `app.js.gz`).
//!
//! The parser reads q-values (§12.4.2: `q=0` means "not acceptable"), `*`
//! for any coding not listed, and the `x-gzip` alias (§8.4.1.3). An element
//! whose weight is not a valid q-value is skipped as a whole rather than
//! guessed at. Each user picks among the codings it can produce, in its own
//! order of preference for ties: the static handler prefers the smallest
//! output (br), the compression middleware the fastest good one (zstd).
//!
//! A request without the field gets no coding from either, whatever §12.5.3
//! allows: it "does not imply that the user agent will be able to correctly
//! process all encodings", and clients that decode always say so.
//!
//! It lives in osprey-web, below both of its users (osprey-middleware and
//! osprey-static), so that neither depends on the other.

/// A content coding Osprey can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli (RFC 7932), `br`.
    Brotli,
    /// Zstandard (RFC 8878, RFC 9659), `zstd`.
    Zstd,
    /// gzip (RFC 1952), `gzip`.
    Gzip,
}

impl Coding {
    /// Every coding, in the order of [`Coding::index`].
    pub const ALL: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// The suffix of a precompressed sibling file (after the original name).
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => ".br",
            Coding::Zstd => ".zst",
            Coding::Gzip => ".gz",
        }
    }

    /// Position in [`Coding::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How much a client wants each coding: q-values in thousandths (0..=1000),
/// `None` when the field did not mention it (nor `*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// For br, zstd and gzip, in [`Coding::ALL`] order.
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
/// use osprey_web::coding::{parse_accept_encoding, Coding};
/// let ae = parse_accept_encoding(["gzip;q=0.5, br, zstd;q=0"]);
/// assert_eq!(ae.codings, [Some(1000), Some(0), Some(500)]);
/// assert_eq!(ae.best(&[true, true, true]), Some(Coding::Brotli));
/// assert_eq!(ae.best(&[false, true, false]), None); // zstd refused
/// assert_eq!(ae.best_in(&[Coding::Zstd, Coding::Gzip]), Some(Coding::Gzip));
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
                // A bare `q` has no valid weight either: the element is skipped.
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
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
            } else if let Some(e) = Coding::ALL
                .into_iter()
                .find(|e| coding.eq_ignore_ascii_case(e.token()))
            {
                &mut named.codings[e.index()]
            } else if coding.eq_ignore_ascii_case("x-gzip") {
                &mut named.codings[Coding::Gzip.index()]
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
    /// The coding to use among `candidates`, listed in the caller's order of
    /// preference: the highest q-value above 0, ties going to the earlier
    /// candidate; `None` for no coding — when no candidate is acceptable, or
    /// when `identity` was weighted higher than the best candidate (identity
    /// competes only when the client weighted it, itself or through `*`: a
    /// client sending just `gzip;q=0.5` still wants gzip over nothing).
    pub fn best_in(&self, candidates: &[Coding]) -> Option<Coding> {
        let mut best: Option<(Coding, u16)> = None;
        for &c in candidates {
            if let Some(q) = self.codings[c.index()] {
                if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
                    best = Some((c, q));
                }
            }
        }
        let (c, q) = best?;
        match self.identity {
            Some(iq) if iq > q => None,
            _ => Some(c),
        }
    }

    /// [`AcceptEncoding::best_in`] over the `available` codings (indexed as
    /// [`Coding::ALL`]), preferring br, then zstd, then gzip: the order of
    /// smallest output, right for files compressed ahead of time.
    pub fn best(&self, available: &[bool; 3]) -> Option<Coding> {
        let mut candidates = [Coding::Brotli; 3];
        let mut n = 0;
        for c in Coding::ALL {
            if available[c.index()] {
                candidates[n] = c;
                n += 1;
            }
        }
        self.best_in(&candidates[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [bool; 3] = [true, true, true];

    fn best(field: &str, available: [bool; 3]) -> Option<Coding> {
        parse_accept_encoding([field]).best(&available)
    }

    #[test]
    fn picks_by_q_then_preference() {
        use Coding::*;
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
        assert_eq!(best("br;q=0.000, gzip", ALL), Some(Coding::Gzip));
        assert_eq!(best("*;q=0", ALL), None);
        assert_eq!(best("*;q=0, zstd", ALL), Some(Coding::Zstd));
        assert_eq!(best("gzip;q=0, *", ALL), Some(Coding::Brotli));
        assert_eq!(best("gzip;q=0, *", [false, false, true]), None);
    }

    #[test]
    fn identity_preferred_only_when_asked() {
        assert_eq!(best("identity;q=1, gzip;q=0.5", ALL), None);
        assert_eq!(best("identity;q=0.5, gzip", ALL), Some(Coding::Gzip));
        assert_eq!(best("identity, gzip", ALL), Some(Coding::Gzip));
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
        assert_eq!(qvalue("0."), Some(0));
        assert_eq!(qvalue("0.123"), Some(123));
        for bad in ["2", ".5", "", "0.5x", "00.5", "0,5"] {
            assert_eq!(qvalue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn several_fields_combine() {
        let ae = parse_accept_encoding(["gzip;q=0.1", "br;q=0.2"]);
        assert_eq!(ae.best(&ALL), Some(Coding::Brotli));
        let ae = parse_accept_encoding(["gzip;q=0.1", "gzip;q=0.9"]);
        assert_eq!(ae.codings[Coding::Gzip.index()], Some(900));
    }
}
