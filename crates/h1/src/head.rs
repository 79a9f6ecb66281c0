//! Incremental parsing of message heads: request line or status line, then the
//! field section (RFC 9112 §2–§5).
//!
//! The parser never copies: a parsed head is a set of [`Span`]s into the caller's
//! buffer. The caller keeps appending to that buffer and calling `parse` again
//! with the whole of it; the parser resumes at the line it had reached, so every
//! byte is looked at once however the input is split.
//!
//! Line endings are CR LF only. RFC 9112 §2.2 lets a recipient accept a bare LF;
//! Osprey does not, because a front end that disagrees about line ends is how
//! header smuggling starts, and every real client sends CR LF. A bare CR is always
//! an error (RFC 9112 §2.2).

use crate::{ErrorKind, Limits, ProtoError};
use osprey_proto::chars::{trim_ows, TARGET, TCHAR};
use osprey_proto::{Method, Status, Version};

use crate::authority::parse_authority;
use crate::field::{parse_field_line, Field, Span};
use crate::framing::{self, BodyFraming, RequestContext};
use crate::scan::{find_ctl, find_not_in, LineError, Lines};

/// The four forms of request-target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`, the usual form.
    Origin,
    /// `http://host/path`, sent to proxies; its authority overrides Host.
    Absolute,
    /// `host:port`, for CONNECT only.
    Authority,
    /// `*`, for a server-wide OPTIONS only.
    Asterisk,
}

/// Result of feeding bytes to a parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet: append more bytes and call again.
    Partial,
    /// The head is complete and valid; it is this many bytes long. What follows in
    /// the buffer is the body or the next message.
    Complete(usize),
}

/// A parsed request head. Spans refer to the buffer that was parsed.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request-target, exactly as sent.
    pub target: Span,
    /// Which form the target has.
    pub form: TargetForm,
    /// HTTP/1.0 or HTTP/1.1 (a higher 1.x minor is treated as 1.1, RFC 9110 §2.5).
    pub version: Version,
    /// Every field line in order.
    pub fields: Vec<Field>,
    /// The authority the request is for: from an absolute-form or authority-form
    /// target when there is one (RFC 9112 §3.2.2: it wins over Host), else Host.
    pub authority: Option<Span>,
    /// How the body is delimited (RFC 9112 §6.3).
    pub body: BodyFraming,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` in an HTTP/1.1 request: send 100 before reading.
    pub expect_continue: bool,
    /// The `Upgrade` value when the request asks to switch protocols
    /// (`Connection: upgrade` and `Upgrade`, HTTP/1.1 only, RFC 9110 §7.8).
    pub upgrade: Option<Span>,
    /// Length of the head in bytes, blank line included.
    pub len: usize,
}

impl Default for RequestHead {
    fn default() -> RequestHead {
        RequestHead {
            method: Method::Get,
            target: Span::default(),
            form: TargetForm::Origin,
            version: Version::Http11,
            fields: Vec::new(),
            authority: None,
            body: BodyFraming::Empty,
            keep_alive: true,
            expect_continue: false,
            upgrade: None,
            len: 0,
        }
    }
}

impl RequestHead {
    /// The target's bytes.
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        self.target.of(buf)
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        header(&self.fields, buf, name)
    }

    /// Every field as `(name, value)`.
    pub fn headers<'a, 'b: 'a>(
        &'a self,
        buf: &'b [u8],
    ) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + 'a {
        self.fields
            .iter()
            .map(move |f| (f.name.of(buf), f.value.of(buf)))
    }

    fn clear(&mut self) {
        self.fields.clear();
        self.authority = None;
        self.body = BodyFraming::Empty;
        self.keep_alive = true;
        self.expect_continue = false;
        self.upgrade = None;
        self.len = 0;
    }
}

/// A parsed response head (for the client role: tests, proxies).
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// The status code.
    pub status: Status,
    /// The reason phrase as sent (may be empty).
    pub reason: Span,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Every field line in order.
    pub fields: Vec<Field>,
    /// How the body is delimited, given the request it answers.
    pub body: BodyFraming,
    /// Whether the connection may carry another exchange.
    pub keep_alive: bool,
    /// Length of the head in bytes.
    pub len: usize,
}

impl Default for ResponseHead {
    fn default() -> ResponseHead {
        ResponseHead {
            status: Status::OK,
            reason: Span::default(),
            version: Version::Http11,
            fields: Vec::new(),
            body: BodyFraming::Empty,
            keep_alive: true,
            len: 0,
        }
    }
}

impl ResponseHead {
    /// The first value of the field `name` (case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        header(&self.fields, buf, name)
    }

    /// Every field as `(name, value)`.
    pub fn headers<'a, 'b: 'a>(
        &'a self,
        buf: &'b [u8],
    ) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + 'a {
        self.fields
            .iter()
            .map(move |f| (f.name.of(buf), f.value.of(buf)))
    }
}

fn header<'b>(fields: &[Field], buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
    fields
        .iter()
        .find(|f| f.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value.of(buf))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    StartLine,
    Fields,
    Done,
}

/// Resumable state shared by the request and response parsers: where the next
/// line starts and the head limits.
#[derive(Clone, Debug)]
struct HeadState {
    limits: Limits,
    lines: Lines,
    stage: Stage,
}

enum Line {
    Partial,
    Complete(usize, usize),
}

impl HeadState {
    fn new(limits: Limits) -> HeadState {
        HeadState {
            limits,
            lines: Lines::default(),
            stage: Stage::StartLine,
        }
    }

    fn reset(&mut self) {
        self.lines.restart();
        self.stage = Stage::StartLine;
    }

    /// The next complete line, with every limit checked.
    #[inline]
    fn next_line(&mut self, buf: &[u8]) -> Result<Line, ProtoError> {
        let in_start = self.stage == Stage::StartLine;
        match self.lines.next(buf) {
            Ok(Some((s, e))) => {
                if in_start && e - s > self.limits.max_request_line {
                    return Err(err(ErrorKind::RequestLineTooLong));
                }
                if self.lines.pos > self.limits.max_head {
                    return Err(err(ErrorKind::HeadTooLarge));
                }
                Ok(Line::Complete(s, e))
            }
            Ok(None) => {
                // An unfinished line already over a limit will only get longer.
                // A CR waiting for its LF is not counted yet: whether it ends
                // the line or is a bare CR, the complete input is judged the
                // same way (see the error arm below).
                let pending_cr = usize::from(buf.last() == Some(&b'\r'));
                if in_start
                    && self.lines.partial_len(buf) - pending_cr > self.limits.max_request_line
                {
                    return Err(err(ErrorKind::RequestLineTooLong));
                }
                if buf.len() - pending_cr > self.limits.max_head {
                    return Err(err(ErrorKind::HeadTooLarge));
                }
                Ok(Line::Partial)
            }
            Err(e) => {
                let at = e.at();
                // The bytes before the bad one may already break a limit; a
                // split input would have reported that first, so must we.
                if in_start && at - self.lines.pos > self.limits.max_request_line {
                    return Err(err(ErrorKind::RequestLineTooLong));
                }
                if at > self.limits.max_head {
                    return Err(err(ErrorKind::HeadTooLarge));
                }
                Err(err(match e {
                    LineError::BareCr(_) => ErrorKind::BareCr,
                    LineError::BareLf(_) => ErrorKind::BareLf,
                    // Name the part of the request line the byte is in.
                    LineError::Control(_) if in_start => {
                        match buf[self.lines.pos..at]
                            .iter()
                            .filter(|&&b| b == b' ')
                            .count()
                        {
                            0 => ErrorKind::BadMethod,
                            1 => ErrorKind::BadTarget,
                            _ => ErrorKind::BadStartLine,
                        }
                    }
                    LineError::Control(_) if buf[self.lines.pos..at].contains(&b':') => {
                        ErrorKind::BadHeaderValue
                    }
                    LineError::Control(_) => ErrorKind::BadHeaderName,
                }))
            }
        }
    }

    /// Parses field lines until the blank line. Returns the head length when the
    /// head is complete.
    #[inline]
    fn fields(&mut self, buf: &[u8], fields: &mut Vec<Field>) -> Result<Option<usize>, ProtoError> {
        loop {
            // Fast path: a whole, valid field line at the start of a line. Anything
            // else (or a limit) takes the exact path below, which accepts the same
            // lines and reports the errors.
            if self.lines.scanned == 0 {
                let pos = self.lines.pos;
                if buf.get(pos..pos + 2) == Some(b"\r\n") && pos + 2 <= self.limits.max_head {
                    self.lines.examined += 1;
                    self.lines.pos = pos + 2;
                    self.stage = Stage::Done;
                    return Ok(Some(pos + 2));
                }
                if let Some((field, next)) = fast_field_line(buf, self.lines.pos) {
                    if next <= self.limits.max_head && fields.len() < self.limits.max_headers {
                        self.lines.examined += next - 1 - self.lines.pos;
                        self.lines.pos = next;
                        fields.push(field);
                        continue;
                    }
                }
            }
            let (s, e) = match self.next_line(buf)? {
                Line::Partial => return Ok(None),
                Line::Complete(s, e) => (s, e),
            };
            if s == e {
                self.stage = Stage::Done;
                return Ok(Some(self.lines.pos));
            }
            if fields.len() == self.limits.max_headers {
                return Err(err(ErrorKind::TooManyHeaders));
            }
            fields.push(parse_field_line(buf, s, e)?);
        }
    }
}

/// A complete, valid field line starting at `s`: the field and the offset after
/// its CR LF. Each byte is looked at once: the name with the tchar table up to
/// the colon, the value with the control scan up to the CR. `None` means "take
/// the exact path", not "invalid".
#[inline(always)]
fn fast_field_line(buf: &[u8], s: usize) -> Option<(Field, usize)> {
    let colon = find_not_in(buf, s, &TCHAR)?;
    if colon == s || buf[colon] != b':' {
        return None;
    }
    let cr = find_ctl(buf, colon + 1)?;
    if buf[cr] != b'\r' || buf.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    let mut vstart = colon + 1;
    if buf[vstart] == b' ' {
        vstart += 1;
    }
    let raw = &buf[vstart..cr];
    let value = trim_ows(raw);
    let vstart = vstart + (value.as_ptr() as usize - raw.as_ptr() as usize);
    Some((
        Field {
            name: Span::new(s, colon),
            value: Span::new(vstart, vstart + value.len()),
        },
        cr + 2,
    ))
}

#[inline]
fn err(kind: ErrorKind) -> ProtoError {
    ProtoError::remote(kind)
}

/// The server side's incremental request-head parser.
///
/// ```
/// use osprey_h1::{RequestParser, Parsed};
/// use osprey_proto::Method;
/// use osprey_h1::Limits;
///
/// let mut parser = RequestParser::new(Limits::default());
/// let buf = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
/// assert_eq!(parser.parse(&buf[..10]).unwrap(), Parsed::Partial);
/// assert_eq!(parser.parse(buf).unwrap(), Parsed::Complete(buf.len()));
/// let head = parser.head();
/// assert_eq!(head.method, Method::Get);
/// assert_eq!(head.target(buf), b"/index.html");
/// assert_eq!(head.header(buf, "host"), Some(&b"example.com"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct RequestParser {
    state: HeadState,
    head: RequestHead,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            state: HeadState::new(limits),
            head: RequestHead::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.state.limits
    }

    /// Feeds the buffer holding the head so far, from its first byte. Call again
    /// with the same bytes plus more after [`Parsed::Partial`].
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtoError> {
        if self.state.stage == Stage::StartLine
            && self.state.lines.pos == 0
            && self.state.lines.scanned == 0
        {
            // Fast path: `METHOD /target HTTP/1.x` CR LF in one pass. Anything
            // else (or a limit) takes the exact path below.
            if let Some(end) = fast_request_line(buf, &mut self.head) {
                if end - 2 <= self.state.limits.max_request_line
                    && end <= self.state.limits.max_head
                {
                    self.state.lines.pos = end;
                    self.state.lines.examined += end - 1;
                    self.state.stage = Stage::Fields;
                }
            }
        }
        if self.state.stage == Stage::StartLine {
            loop {
                let (s, e) = match self.state.next_line(buf)? {
                    Line::Partial => return Ok(Parsed::Partial),
                    Line::Complete(s, e) => (s, e),
                };
                // RFC 9112 §2.2: ignore empty lines before the request line
                // (bounded by max_head like every other head byte).
                if s == e {
                    continue;
                }
                self.head.clear();
                parse_request_line(buf, s, e, &mut self.head)?;
                self.state.stage = Stage::Fields;
                break;
            }
        }
        if self.state.stage == Stage::Fields {
            match self.state.fields(buf, &mut self.head.fields)? {
                None => return Ok(Parsed::Partial),
                Some(len) => {
                    let head = &mut self.head;
                    head.len = len;
                    let f = framing::request(&head.fields, buf, head.version, &self.state.limits)?;
                    // RFC 9112 §3.2.2: an absolute-form or authority-form
                    // target's authority overrides Host.
                    if head.form == TargetForm::Origin || head.form == TargetForm::Asterisk {
                        head.authority = f.host;
                    }
                    head.body = f.body;
                    head.keep_alive = f.keep_alive;
                    head.expect_continue = f.expect_continue;
                    head.upgrade = f.upgrade;
                }
            }
        }
        Ok(Parsed::Complete(self.head.len))
    }

    /// The head parsed by the last call that returned [`Parsed::Complete`].
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// Prepares for the next message, keeping the allocations.
    pub fn reset(&mut self) {
        self.state.reset();
    }

    /// How many bytes the line scanner has examined since this parser was made.
    /// Exposed so tests can show that feeding a head in pieces costs O(n).
    pub fn bytes_examined(&self) -> usize {
        self.state.lines.examined
    }
}

/// Request-target bytes other than `#` (a fragment is never sent).
const TARGET_NO_HASH: [bool; 256] = {
    let mut t = TARGET;
    t[b'#' as usize] = false;
    t
};

/// A complete origin-form request line with a standard method, read in one
/// pass; fills `head` and returns the offset after the CR LF. `None` means "take
/// the exact path", not "invalid" (and leaves `head` to that path to clear).
#[inline(always)]
fn fast_request_line(buf: &[u8], head: &mut RequestHead) -> Option<usize> {
    let (method, t) = match buf.get(..4)? {
        b"GET " => (Method::Get, 4),
        b"POST" if buf.get(4) == Some(&b' ') => (Method::Post, 5),
        b"PUT " => (Method::Put, 4),
        b"HEAD" if buf.get(4) == Some(&b' ') => (Method::Head, 5),
        _ => return None,
    };
    if buf.get(t) != Some(&b'/') {
        return None;
    }
    let n = find_not_in(buf, t, &TARGET_NO_HASH)? - t;
    let v = t + n + 1;
    if buf[t + n] != b' ' {
        return None;
    }
    let version = match buf.get(v..v + 10)? {
        b"HTTP/1.1\r\n" => Version::Http11,
        b"HTTP/1.0\r\n" => Version::Http10,
        _ => return None,
    };
    head.clear();
    head.method = method;
    head.target = Span::new(t, t + n);
    head.form = TargetForm::Origin;
    head.authority = None;
    head.version = version;
    Some(v + 10)
}

/// Parses `method SP request-target SP HTTP-version` (RFC 9112 §3), exactly one
/// SP between the parts: recipients MAY accept other whitespace, but being
/// liberal here only helps disagreements between servers.
fn parse_request_line(
    buf: &[u8],
    s: usize,
    e: usize,
    head: &mut RequestHead,
) -> Result<(), ProtoError> {
    let line = &buf[s..e];
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(err(ErrorKind::BadStartLine))?;
    if sp1 == 0 {
        return Err(err(ErrorKind::BadStartLine));
    }
    head.method = Method::from_bytes(&line[..sp1]).ok_or(err(ErrorKind::BadMethod))?;
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(err(ErrorKind::BadStartLine))?;
    if sp2 == 0 {
        return Err(err(ErrorKind::BadStartLine));
    }
    head.version = parse_version(&rest[sp2 + 1..])?;
    let target = &rest[..sp2];
    if !target.iter().all(|&b| TARGET[b as usize]) {
        return Err(err(ErrorKind::BadTarget));
    }
    let tstart = s + sp1 + 1;
    head.target = Span::new(tstart, tstart + sp2);
    let (form, authority) = classify_target(&head.method, target)?;
    head.form = form;
    head.authority = authority.map(|(a, b)| Span::new(tstart + a, tstart + b));
    Ok(())
}

/// `HTTP/1.1` or `HTTP/1.0`; another well-formed version is 505 (RFC 9110
/// §2.5), except a higher HTTP/1 minor, which is served as HTTP/1.1.
fn parse_version(v: &[u8]) -> Result<Version, ProtoError> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                Ok(Version::Http11)
            } else {
                Err(err(ErrorKind::UnsupportedVersion))
            }
        }
        _ => Err(err(ErrorKind::BadStartLine)),
    }
}

/// Works out the target's form and the authority it names, if any, as a range
/// within `target`.
fn classify_target(
    method: &Method,
    target: &[u8],
) -> Result<(TargetForm, Option<(usize, usize)>), ProtoError> {
    let bad = err(ErrorKind::BadTarget);
    // A fragment is never sent (RFC 9112 §3.2 has no "#" in request-target).
    if target.contains(&b'#') {
        return Err(bad);
    }
    if *method == Method::Connect {
        // RFC 9112 §3.2.3: authority-form, host and port, for CONNECT only.
        return match parse_authority(target) {
            Some(port) if port.is_some() => Ok((TargetForm::Authority, Some((0, target.len())))),
            _ => Err(bad),
        };
    }
    match target[0] {
        b'/' => Ok((TargetForm::Origin, None)),
        b'*' if target.len() == 1 => {
            // RFC 9112 §3.2.4: asterisk-form is only for OPTIONS.
            if *method == Method::Options {
                Ok((TargetForm::Asterisk, None))
            } else {
                Err(bad)
            }
        }
        _ => {
            // RFC 9112 §3.2.2: absolute-form; Osprey speaks http and https only.
            let colon = target.iter().position(|&b| b == b':').ok_or(bad)?;
            let scheme = &target[..colon];
            if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
                return Err(bad);
            }
            let after = &target[colon + 1..];
            if !after.starts_with(b"//") {
                return Err(bad);
            }
            let a_start = colon + 3;
            let a_len = target[a_start..]
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(target.len() - a_start);
            let authority = &target[a_start..a_start + a_len];
            // An http(s) URI must name a host (RFC 9110 §4.2.1).
            if authority.is_empty() || parse_authority(authority).is_none() {
                return Err(bad);
            }
            Ok((TargetForm::Absolute, Some((a_start, a_start + a_len))))
        }
    }
}

/// The client side's incremental response-head parser. 1xx responses are
/// returned like any other; the caller parses again for the final response.
#[derive(Clone, Debug)]
pub struct ResponseParser {
    state: HeadState,
    head: ResponseHead,
}

impl ResponseParser {
    /// A parser enforcing `limits` (`max_request_line` bounds the status line).
    pub fn new(limits: Limits) -> ResponseParser {
        ResponseParser {
            state: HeadState::new(limits),
            head: ResponseHead::default(),
        }
    }

    /// Feeds the buffer holding the head so far, from its first byte.
    pub fn parse(&mut self, buf: &[u8], request: RequestContext) -> Result<Parsed, ProtoError> {
        if self.state.stage == Stage::StartLine {
            let (s, e) = match self.state.next_line(buf)? {
                Line::Partial => return Ok(Parsed::Partial),
                Line::Complete(s, e) => (s, e),
            };
            self.head.fields.clear();
            parse_status_line(buf, s, e, &mut self.head)?;
            self.state.stage = Stage::Fields;
        }
        if self.state.stage == Stage::Fields {
            match self.state.fields(buf, &mut self.head.fields)? {
                None => return Ok(Parsed::Partial),
                Some(len) => {
                    let head = &mut self.head;
                    head.len = len;
                    let f =
                        framing::response(&head.fields, buf, head.version, head.status, request)?;
                    head.body = f.body;
                    head.keep_alive = f.keep_alive;
                }
            }
        }
        Ok(Parsed::Complete(self.head.len))
    }

    /// The head parsed by the last complete call.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Prepares for the next message, keeping the allocations.
    pub fn reset(&mut self) {
        self.state.reset();
    }
}

/// `HTTP-version SP 3DIGIT SP [ reason-phrase ]` (RFC 9112 §4). A missing SP
/// after the code is tolerated: some servers omit it with an empty reason.
fn parse_status_line(
    buf: &[u8],
    s: usize,
    e: usize,
    head: &mut ResponseHead,
) -> Result<(), ProtoError> {
    let line = &buf[s..e];
    if line.len() < 12 || line[8] != b' ' {
        return Err(err(ErrorKind::BadStartLine));
    }
    head.version = parse_version(&line[..8])?;
    let digits = &line[9..12];
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(err(ErrorKind::BadStatus));
    }
    let code = digits
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    head.status = Status::from_u16(code).ok_or(err(ErrorKind::BadStatus))?;
    head.reason = match line.get(12) {
        None => Span::new(e, e),
        Some(b' ') => Span::new(s + 13, e),
        Some(_) => return Err(err(ErrorKind::BadStatus)),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Parsed, ProtoError> {
        RequestParser::new(Limits::default()).parse(input)
    }

    #[test]
    fn one_byte_at_a_time() {
        let input = b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let mut p = RequestParser::new(Limits::default());
        let head_len = input.len() - 3;
        for end in 1..head_len {
            assert_eq!(p.parse(&input[..end]).unwrap(), Parsed::Partial, "at {end}");
        }
        assert_eq!(
            p.parse(&input[..head_len]).unwrap(),
            Parsed::Complete(head_len)
        );
        assert_eq!(p.head().body, BodyFraming::Length(3));
    }

    #[test]
    fn feeding_byte_by_byte_examines_each_byte_about_once() {
        // 400 fields of ~75 bytes: a 30 KB head, fed one byte per call.
        let mut input = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..95 {
            input.extend_from_slice(format!("X-Field-{i:03}: {}\r\n", "v".repeat(280)).as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        assert!(input.len() > 27_000 && input.len() < Limits::default().max_head);
        let mut p = RequestParser::new(Limits::default());
        for end in 1..input.len() {
            assert_eq!(p.parse(&input[..end]).unwrap(), Parsed::Partial);
        }
        assert_eq!(p.parse(&input).unwrap(), Parsed::Complete(input.len()));
        // A rescanning parser would examine ~n²/2 = 400 million bytes here.
        assert!(
            p.bytes_examined() <= 2 * input.len(),
            "{} bytes examined",
            p.bytes_examined()
        );
    }

    #[test]
    fn limits_apply_before_the_line_ends() {
        let limits = Limits {
            max_request_line: 16,
            max_head: 64,
            ..Limits::default()
        };
        let mut p = RequestParser::new(limits);
        let e = p.parse(b"GET /aaaaaaaaaaaaaaaaaaaa").unwrap_err();
        assert_eq!(e.status().as_u16(), 414);
        let mut p = RequestParser::new(limits);
        let long = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 60]].concat();
        assert_eq!(p.parse(&long).unwrap_err().status().as_u16(), 431);
    }

    #[test]
    fn status_line() {
        let mut p = ResponseParser::new(Limits::default());
        let ctx = RequestContext {
            head: false,
            connect: false,
        };
        let buf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(p.parse(buf, ctx).unwrap(), Parsed::Complete(buf.len()));
        assert_eq!(p.head().status, Status::NOT_FOUND);
        assert_eq!(p.head().reason.of(buf), b"Not Found");
        p.reset();
        assert!(p.parse(b"HTTP/1.1 20x OK\r\n\r\n", ctx).is_err());
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\nHost: a\r\n\r\n")
                .unwrap_err()
                .kind(),
            ErrorKind::BareLf
        );
        assert_eq!(
            parse(b"GET  / HTTP/1.1\r\n").unwrap_err().kind(),
            ErrorKind::BadStartLine
        );
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\n").unwrap_err().status().as_u16(),
            505
        );
    }
}
