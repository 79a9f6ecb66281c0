//! Conditional requests (RFC 9110 §13) as pure functions of the request's
//! precondition fields and the representation's validators.
//!
//! [`evaluate`] applies the four preconditions in the order of §13.2.2, which
//! is what makes their combinations well defined; [`if_range_matches`] decides
//! whether a `Range` request may be answered with a part (§13.1.5). Entity-tag
//! lists are parsed as §8.8.3 writes them (`"a", W/"b"`, empty elements
//! allowed); an element that does not parse ends the list, so a malformed
//! field can make a condition fail but never succeed by accident.

use std::time::{SystemTime, UNIX_EPOCH};

use osprey_web::Method;

/// The current representation's validators.
#[derive(Clone, Copy, Debug)]
pub struct Validators<'a> {
    /// The entity-tag as sent in `ETag`, quotes included (`"5d-1a"`), strong
    /// unless it starts with `W/`.
    pub etag: &'a str,
    /// The modification time in whole seconds since the Unix epoch (the
    /// precision of an HTTP-date), if known.
    pub last_modified: Option<u64>,
}

/// The precondition fields of a request, as sent. A date field that came
/// more than once should be given as `Some("")` (invalid, hence ignored:
/// §13.1.3 and §13.1.4 ignore lists of dates).
#[derive(Clone, Copy, Debug, Default)]
pub struct Conditions<'a> {
    /// `If-Match` (§13.1.1).
    pub if_match: Option<&'a str>,
    /// `If-None-Match` (§13.1.2).
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since` (§13.1.3).
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since` (§13.1.4).
    pub if_unmodified_since: Option<&'a str>,
}

impl Conditions<'_> {
    /// Whether any precondition field is present.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }
}

/// What the preconditions say about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Perform the method.
    Proceed,
    /// 304 Not Modified (GET and HEAD only).
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// How two entity-tags are compared (§8.8.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    /// Both strong and the same opaque tag.
    Strong,
    /// The same opaque tag, either or both weak.
    Weak,
}

/// One parsed entity-tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a str,
}

impl<'a> EntityTag<'a> {
    /// Parses one entity-tag at the start of `s`; returns it and the rest.
    fn parse_prefix(s: &'a str) -> Option<(EntityTag<'a>, &'a str)> {
        let (weak, rest) = match s.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let rest = rest.strip_prefix('"')?;
        let end = rest.find('"')?;
        let opaque = &rest[..end];
        // etagc = %x21 / %x23-7E / obs-text: no controls, spaces or quotes.
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        Some((EntityTag { weak, opaque }, &rest[end + 1..]))
    }

    fn parse(s: &'a str) -> Option<EntityTag<'a>> {
        match EntityTag::parse_prefix(s.trim()) {
            Some((tag, "")) => Some(tag),
            _ => None,
        }
    }

    fn matches(&self, other: &EntityTag<'_>, how: Comparison) -> bool {
        self.opaque == other.opaque && (how == Comparison::Weak || !(self.weak || other.weak))
    }
}

/// Whether a field holding `*` or a list of entity-tags matches `current`.
fn list_matches(field: &str, current: &str, how: Comparison) -> bool {
    let Some(current) = EntityTag::parse(current) else {
        return false;
    };
    if field.trim() == "*" {
        return true;
    }
    let mut rest = field;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let Some((tag, after)) = EntityTag::parse_prefix(rest) else {
            return false;
        };
        if tag.matches(&current, how) {
            return true;
        }
        let after = after.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return false;
        }
        rest = after;
    }
}

/// An HTTP-date (§5.6.7, any of the three accepted forms) in seconds since
/// the epoch; `None` when it is not one.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    Some(unix_seconds(t))
}

/// Seconds since the epoch, 0 for times before it.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Evaluates the preconditions of a request for the current representation
/// in the order of RFC 9110 §13.2.2:
///
/// 1. `If-Match` present: false (no strong match, `*` always matches) → 412;
/// 2. else `If-Unmodified-Since` (a valid date): modified after it → 412;
/// 3. `If-None-Match` present: a weak match (or `*`) → 304 for GET and
///    HEAD, 412 for other methods;
/// 4. else, for GET and HEAD only, `If-Modified-Since` (a valid date): not
///    modified after it → 304.
///
/// ```
/// use osprey_static::conditional::{evaluate, Conditions, Outcome, Validators};
/// use osprey_web::Method;
/// let v = Validators { etag: "\"abc\"", last_modified: Some(1_000_000) };
/// let c = Conditions { if_none_match: Some("\"x\", W/\"abc\""), ..Conditions::default() };
/// assert_eq!(evaluate(&Method::Get, &c, &v), Outcome::NotModified);
/// let c = Conditions { if_match: Some("\"x\""), ..Conditions::default() };
/// assert_eq!(evaluate(&Method::Get, &c, &v), Outcome::PreconditionFailed);
/// ```
pub fn evaluate(method: &Method, c: &Conditions<'_>, v: &Validators<'_>) -> Outcome {
    let safe = matches!(method, Method::Get | Method::Head);
    // Step 1 (§13.1.1: strong comparison).
    if let Some(field) = c.if_match {
        if !list_matches(field, v.etag, Comparison::Strong) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(date) = c.if_unmodified_since.and_then(parse_http_date) {
        // Step 2 (§13.1.4), only when If-Match is absent.
        if v.last_modified.is_some_and(|lm| lm > date) {
            return Outcome::PreconditionFailed;
        }
    }
    // Step 3 (§13.1.2: weak comparison).
    if let Some(field) = c.if_none_match {
        if list_matches(field, v.etag, Comparison::Weak) {
            return if safe {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if safe {
        // Step 4 (§13.1.3), only when If-None-Match is absent.
        if let (Some(date), Some(lm)) = (
            c.if_modified_since.and_then(parse_http_date),
            v.last_modified,
        ) {
            if lm <= date {
                return Outcome::NotModified;
            }
        }
    }
    Outcome::Proceed
}

/// Whether an `If-Range` field lets a `Range` be honoured (§13.1.5): an
/// entity-tag must match strongly (a weak one never does); an HTTP-date
/// must equal the last-modified time exactly. Anything else — including a
/// malformed value — means "send the whole representation".
///
/// ```
/// use osprey_static::conditional::{if_range_matches, Validators};
/// let v = Validators { etag: "\"abc\"", last_modified: Some(784111777) };
/// assert!(if_range_matches("\"abc\"", &v));
/// assert!(!if_range_matches("W/\"abc\"", &v));
/// assert!(if_range_matches("Sun, 06 Nov 1994 08:49:37 GMT", &v));
/// assert!(!if_range_matches("Sun, 06 Nov 1994 08:49:38 GMT", &v));
/// ```
pub fn if_range_matches(field: &str, v: &Validators<'_>) -> bool {
    let field = field.trim();
    // §13.1.5: an entity-tag starts with DQUOTE or W/, a date never does.
    if field.starts_with('"') || field.starts_with("W/") {
        return match (EntityTag::parse(field), EntityTag::parse(v.etag)) {
            (Some(sent), Some(current)) => sent.matches(&current, Comparison::Strong),
            _ => false,
        };
    }
    match (parse_http_date(field), v.last_modified) {
        (Some(date), Some(lm)) => date == lm,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    const ETAG: &str = "\"a1-b2\"";
    /// Sun, 06 Nov 1994 08:49:37 GMT
    const LM: u64 = 784_111_777;
    const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn v() -> Validators<'static> {
        Validators {
            etag: ETAG,
            last_modified: Some(LM),
        }
    }

    fn eval(method: Method, fields: &[(&str, &'static str)]) -> Outcome {
        let mut c = Conditions::default();
        for &(name, value) in fields {
            match name {
                "im" => c.if_match = Some(value),
                "inm" => c.if_none_match = Some(value),
                "ims" => c.if_modified_since = Some(value),
                "ius" => c.if_unmodified_since = Some(value),
                _ => unreachable!(),
            }
        }
        evaluate(&method, &c, &v())
    }

    #[test]
    fn no_preconditions_proceed() {
        assert_eq!(eval(Method::Get, &[]), Proceed);
        assert!(Conditions::default().is_empty());
    }

    #[test]
    fn step1_if_match() {
        let g = Method::Get;
        assert_eq!(eval(g.clone(), &[("im", ETAG)]), Proceed);
        assert_eq!(eval(g.clone(), &[("im", "*")]), Proceed);
        assert_eq!(eval(g.clone(), &[("im", " * ")]), Proceed);
        assert_eq!(eval(g.clone(), &[("im", "\"x\", \"a1-b2\"")]), Proceed);
        assert_eq!(eval(g.clone(), &[("im", ",,\"a1-b2\",")]), Proceed);
        assert_eq!(eval(g.clone(), &[("im", "\"x\"")]), PreconditionFailed);
        // Strong comparison: a weak tag never matches.
        assert_eq!(
            eval(g.clone(), &[("im", "W/\"a1-b2\"")]),
            PreconditionFailed
        );
        // Malformed: unquoted, or garbage before a matching tag.
        assert_eq!(eval(g.clone(), &[("im", "a1-b2")]), PreconditionFailed);
        assert_eq!(
            eval(g.clone(), &[("im", "x \"a1-b2\"")]),
            PreconditionFailed
        );
        assert_eq!(eval(g.clone(), &[("im", "\"a1-b2")]), PreconditionFailed);
        assert_eq!(eval(g.clone(), &[("im", "")]), PreconditionFailed);
        // It also applies to other methods.
        assert_eq!(eval(Method::Put, &[("im", "\"x\"")]), PreconditionFailed);
    }

    #[test]
    fn step2_if_unmodified_since() {
        let g = Method::Get;
        assert_eq!(eval(g.clone(), &[("ius", AT)]), Proceed);
        assert_eq!(eval(g.clone(), &[("ius", AFTER)]), Proceed);
        assert_eq!(eval(g.clone(), &[("ius", BEFORE)]), PreconditionFailed);
        // Invalid dates (and lists of dates) are ignored.
        assert_eq!(eval(g.clone(), &[("ius", "yesterday")]), Proceed);
        assert_eq!(eval(g.clone(), &[("ius", "")]), Proceed);
        // Ignored when If-Match is present (and passed).
        assert_eq!(eval(g.clone(), &[("im", ETAG), ("ius", BEFORE)]), Proceed);
        // The obsolete date forms are accepted too (§5.6.7).
        assert_eq!(
            eval(g.clone(), &[("ius", "Sunday, 06-Nov-94 08:49:36 GMT")]),
            PreconditionFailed
        );
        assert_eq!(
            eval(g, &[("ius", "Sun Nov  6 08:49:36 1994")]),
            PreconditionFailed
        );
    }

    #[test]
    fn step3_if_none_match() {
        let g = Method::Get;
        assert_eq!(eval(g.clone(), &[("inm", ETAG)]), NotModified);
        assert_eq!(eval(Method::Head, &[("inm", ETAG)]), NotModified);
        // Weak comparison: W/ on either side still matches.
        assert_eq!(eval(g.clone(), &[("inm", "W/\"a1-b2\"")]), NotModified);
        assert_eq!(eval(g.clone(), &[("inm", "*")]), NotModified);
        assert_eq!(
            eval(g.clone(), &[("inm", "\"x\" , \"y\",\"a1-b2\"")]),
            NotModified
        );
        assert_eq!(eval(g.clone(), &[("inm", "\"x\"")]), Proceed);
        assert_eq!(eval(g.clone(), &[("inm", "\"A1-B2\"")]), Proceed);
        assert_eq!(eval(g.clone(), &[("inm", "garbage")]), Proceed);
        // Other methods get 412.
        assert_eq!(eval(Method::Post, &[("inm", "*")]), PreconditionFailed);
        assert_eq!(eval(Method::Delete, &[("inm", ETAG)]), PreconditionFailed);
        assert_eq!(eval(Method::Post, &[("inm", "\"x\"")]), Proceed);
    }

    #[test]
    fn step4_if_modified_since() {
        let g = Method::Get;
        assert_eq!(eval(g.clone(), &[("ims", AT)]), NotModified);
        assert_eq!(eval(g.clone(), &[("ims", AFTER)]), NotModified);
        assert_eq!(eval(g.clone(), &[("ims", BEFORE)]), Proceed);
        assert_eq!(eval(Method::Head, &[("ims", AT)]), NotModified);
        // Only GET and HEAD.
        assert_eq!(eval(Method::Post, &[("ims", AT)]), Proceed);
        // Invalid dates are ignored.
        assert_eq!(eval(g.clone(), &[("ims", "not a date")]), Proceed);
        assert_eq!(eval(g.clone(), &[("ims", "")]), Proceed);
        // Ignored when If-None-Match is present, matching or not.
        assert_eq!(eval(g.clone(), &[("inm", "\"x\""), ("ims", AT)]), Proceed);
        assert_eq!(eval(g, &[("inm", ETAG), ("ims", BEFORE)]), NotModified);
    }

    #[test]
    fn order_of_evaluation() {
        let g = Method::Get;
        // A failed If-Match wins over a matching If-None-Match.
        assert_eq!(
            eval(g.clone(), &[("im", "\"x\""), ("inm", ETAG)]),
            PreconditionFailed
        );
        // A failed If-Unmodified-Since wins over If-Modified-Since.
        assert_eq!(
            eval(g.clone(), &[("ius", BEFORE), ("ims", AT)]),
            PreconditionFailed
        );
        // Passing step 1 then matching step 3.
        assert_eq!(eval(g, &[("im", "*"), ("inm", "*")]), NotModified);
    }

    #[test]
    fn no_last_modified_skips_the_date_steps() {
        let v = Validators {
            etag: ETAG,
            last_modified: None,
        };
        let c = Conditions {
            if_modified_since: Some(AT),
            if_unmodified_since: Some(BEFORE),
            ..Conditions::default()
        };
        assert_eq!(evaluate(&Method::Get, &c, &v), Proceed);
    }

    #[test]
    fn if_range() {
        let v = v();
        assert!(if_range_matches(ETAG, &v));
        assert!(if_range_matches(" \"a1-b2\" ", &v));
        assert!(!if_range_matches("W/\"a1-b2\"", &v));
        assert!(!if_range_matches("\"other\"", &v));
        assert!(!if_range_matches("\"a1-b2\", \"x\"", &v));
        assert!(if_range_matches(AT, &v));
        assert!(!if_range_matches(BEFORE, &v));
        assert!(!if_range_matches(AFTER, &v));
        assert!(!if_range_matches("garbage", &v));
        assert!(!if_range_matches("", &v));
        // A weak current tag never allows a range by tag.
        let weak = Validators {
            etag: "W/\"a1-b2\"",
            last_modified: Some(LM),
        };
        assert!(!if_range_matches("W/\"a1-b2\"", &weak));
    }

    #[test]
    fn entity_tag_syntax() {
        assert_eq!(
            EntityTag::parse("W/\"x\""),
            Some(EntityTag {
                weak: true,
                opaque: "x"
            })
        );
        assert_eq!(
            EntityTag::parse("\"\""),
            Some(EntityTag {
                weak: false,
                opaque: ""
            })
        );
        assert_eq!(EntityTag::parse("w/\"x\""), None);
        assert_eq!(EntityTag::parse("\"a b\""), None);
        assert_eq!(EntityTag::parse("\"x\"y"), None);
    }
}
