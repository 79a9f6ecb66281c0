//! Access logging: one line per request, in the Common or Combined Log Format
//! that log tools already read, or as JSON.
//!
//! A line is formatted whole and written with one `write_all` under a lock,
//! so lines from several threads never interleave; to a file it is one
//! `write(2)` on a descriptor opened for appending, so even the processes of
//! the fork model append whole lines. A line is written as soon as the
//! response is known — as it leaves the middleware, or, for a pending
//! [`Reply`], when its response arrives; for a stream of unknown length, when
//! the stream ends — so it is in the file by the time the client has the
//! response. A failing log never fails a request: errors are counted
//! ([`AccessLog::write_errors`]).
//!
//! Fields that come from the client (the request-target, `Referer`,
//! `User-Agent`) are escaped so that a client cannot forge a line or break
//! the quoting: `"` and `\` get a backslash, and control and non-ASCII bytes
//! are written as `\xHH`.

use std::borrow::Cow;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use osprey_proto::{Method, Version};
use serde::Serialize;

use crate::auth::AuthUser;
use osprey_web::{Body, BodySource};
use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response};

/// The layout of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// The Common Log Format, then the duration in seconds:
    ///
    /// `host ident authuser [date] "request line" status bytes duration`
    ///
    /// ```text
    /// 127.0.0.1 - - [02/Dec/2026:05:25:54 +0000] "GET /path?q HTTP/1.1" 200 13 0.000123
    /// ```
    ///
    /// `host` is the peer's IP address; `ident` is always `-` (nobody runs
    /// identd); `authuser` is the [`AuthUser`] an authentication middleware
    /// inside this one attached, else `-`; `date` is when the request reached this middleware,
    /// in UTC; `bytes` is the length of the body sent, `-` when there is none
    /// (as Apache's `%b`); `duration` is the seconds from entering this
    /// middleware until the response was there (returned, or arrived for a
    /// pending reply; for a stream of unknown length, until it ended), with
    /// six decimals (microseconds).
    Common,
    /// The Combined Log Format: Common plus the quoted `Referer` and
    /// `User-Agent` (`"-"` when absent), then the duration:
    ///
    /// ```text
    /// 127.0.0.1 - - [02/Dec/2026:05:25:54 +0000] "GET / HTTP/1.1" 200 13 "https://example.com/" "curl/8.0" 0.000123
    /// ```
    Combined,
    /// One JSON object per line, fields in this order: `time` (RFC 3339, UTC,
    /// milliseconds), `remote` (IP address), `user`, `method`, `target`,
    /// `protocol`, `status`, `bytes` (a number, 0 when there is no body),
    /// `duration_ms` (a float, microsecond precision), `referer`,
    /// `user_agent`, `request_id` (the `X-Request-Id` of the response, else of
    /// the request). Absent values are `null`; bytes that are not UTF-8 become
    /// U+FFFD.
    ///
    /// ```text
    /// {"time":"2026-12-02T05:25:54.000Z","remote":"127.0.0.1","user":null,"method":"GET","target":"/","protocol":"HTTP/1.1","status":200,"bytes":13,"duration_ms":0.123,"referer":null,"user_agent":"curl/8.0","request_id":null}
    /// ```
    Json,
}

/// Where lines go, shared by the middleware and the streams it wraps.
struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    errors: AtomicU64,
}

impl Sink {
    fn write_line(&self, line: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if out.write_all(line).and_then(|()| out.flush()).is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Middleware writing one line per request.
///
/// Put it outermost, so that it times and sees everything the others do.
///
/// ```
/// use osprey_middleware::access_log::{AccessLog, LogFormat};
/// use osprey_web::{Handler, Method, Request, Response, Router};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("access.log");
/// let app = Router::new()
///     .with(AccessLog::file(&path, LogFormat::Common).unwrap())
///     .get("/hello", |_: &mut Request| Response::text("Hello, World!"));
/// let peer = "127.0.0.1:50000".parse().unwrap();
/// app.respond(&mut Request::new(Method::Get, "/hello?x=1").with_peer(peer));
///
/// let log = std::fs::read_to_string(&path).unwrap();
/// assert!(log.starts_with("127.0.0.1 - - ["));
/// assert!(log.contains("] \"GET /hello?x=1 HTTP/1.1\" 200 13 "));
/// assert!(log.ends_with('\n'));
/// ```
#[derive(Clone)]
pub struct AccessLog {
    format: LogFormat,
    sink: Arc<Sink>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("write_errors", &self.write_errors())
            .finish()
    }
}

impl AccessLog {
    /// Lines to standard output, flushed after each.
    pub fn stdout(format: LogFormat) -> AccessLog {
        AccessLog::to_writer(Box::new(io::stdout()), format)
    }

    /// Lines appended to the file at `path`, created if missing. Each line is
    /// one write to a descriptor in append mode (`O_APPEND`), so nothing sits
    /// in a buffer and concurrent writers, processes included, append whole
    /// lines.
    pub fn file(path: impl AsRef<Path>, format: LogFormat) -> io::Result<AccessLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AccessLog::to_writer(Box::new(file), format))
    }

    /// Lines to any writer; each is written with one `write_all` and then
    /// flushed.
    pub fn to_writer(writer: Box<dyn Write + Send>, format: LogFormat) -> AccessLog {
        AccessLog {
            format,
            sink: Arc::new(Sink {
                out: Mutex::new(writer),
                errors: AtomicU64::new(0),
            }),
        }
    }

    /// How many lines could not be written (they are dropped; the requests
    /// they describe were answered regardless).
    pub fn write_errors(&self) -> u64 {
        self.sink.errors.load(Ordering::Relaxed)
    }
}

impl Middleware for AccessLog {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        let started = Instant::now();
        // Read the request now: a middleware further in may move it away
        // (to run the handler on another thread).
        let mut entry = Entry::of_request(req, self.format, SystemTime::now());
        let reply = next.run(req);
        // What inner middleware attached to the request is there as soon as
        // the chain returns, even when the response comes later.
        entry.user = req.extensions().get::<AuthUser>().map(|u| u.0.clone());
        // The line is written when the response is there: at once, or when a
        // pending reply's response arrives (timed to then).
        match reply.into_ready() {
            Ok(resp) => Reply::ready(self.finish(entry, started, resp)),
            Err(pending) => {
                let log = self.clone();
                pending.map(move |resp| log.finish(entry, started, resp))
            }
        }
    }
}

impl AccessLog {
    /// Completes `entry` with `resp` and writes its line, or, for a stream of
    /// unknown length, arranges for it to be written when the stream ends.
    fn finish(&self, mut entry: Entry, started: Instant, mut resp: Response) -> Response {
        entry.status = resp.status.as_u16();
        if let Some(id) = resp.headers.get("x-request-id") {
            entry.request_id = Some(id.as_bytes().to_vec());
        }
        // The server sends no body for HEAD, 1xx, 204 and 304 (RFC 9110 §6.4.1).
        let bytes = if entry.method == Method::Head || resp.status.forbids_body() {
            Some(0)
        } else {
            resp.body.len_hint()
        };
        match bytes {
            Some(bytes) => {
                self.sink
                    .write_line(&format_line(self.format, &entry, bytes, started.elapsed()))
            }
            None => {
                // A stream of unknown length: count what is sent and log when
                // it ends, so the size and duration are the real ones.
                if let Body::Stream(inner) = std::mem::take(&mut resp.body) {
                    resp.body = Body::stream(CountedStream {
                        inner,
                        bytes: 0,
                        pending: Some(PendingLine {
                            entry,
                            started,
                            format: self.format,
                            sink: self.sink.clone(),
                        }),
                    });
                }
            }
        }
        resp
    }
}

/// What a line says about a request and its response.
#[derive(Debug, Clone)]
struct Entry {
    start: SystemTime,
    remote: Option<IpAddr>,
    user: Option<String>,
    method: Method,
    target: String,
    version: Version,
    status: u16,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    request_id: Option<Vec<u8>>,
}

impl Entry {
    /// The request's side, keeping only what `format` prints.
    fn of_request(req: &Request, format: LogFormat, start: SystemTime) -> Entry {
        let header = |name: &str| req.header_bytes(name).map(<[u8]>::to_vec);
        let (referer, user_agent) = match format {
            LogFormat::Common => (None, None),
            LogFormat::Combined | LogFormat::Json => (header("referer"), header("user-agent")),
        };
        Entry {
            start,
            remote: req.peer_addr().map(|a| a.ip()),
            user: None,
            method: req.method().clone(),
            target: req.target().to_string(),
            version: req.version(),
            status: 0,
            referer,
            user_agent,
            request_id: match format {
                LogFormat::Json => header("x-request-id"),
                _ => None,
            },
        }
    }
}

/// A line waiting for its stream to end.
struct PendingLine {
    entry: Entry,
    started: Instant,
    format: LogFormat,
    sink: Arc<Sink>,
}

/// A response stream that counts its bytes and logs when it ends, fails or
/// is dropped (the client went away, or a HEAD response was never pulled).
struct CountedStream {
    inner: Box<dyn BodySource>,
    bytes: u64,
    pending: Option<PendingLine>,
}

impl CountedStream {
    fn log(&mut self) {
        if let Some(p) = self.pending.take() {
            let line = format_line(p.format, &p.entry, self.bytes, p.started.elapsed());
            p.sink.write_line(&line);
        }
    }
}

impl BodySource for CountedStream {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let next = self.inner.poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(piece))) => self.bytes += piece.len() as u64,
            Poll::Ready(None | Some(Err(_))) => self.log(),
            Poll::Pending => {}
        }
        next
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.log();
    }
}

/// The line for `entry`, ending in `\n`. Pure: the clock was read by the caller.
fn format_line(format: LogFormat, entry: &Entry, bytes: u64, elapsed: Duration) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    match format {
        LogFormat::Common | LogFormat::Combined => {
            match entry.remote {
                Some(ip) => out.extend_from_slice(ip.to_string().as_bytes()),
                None => out.push(b'-'),
            }
            out.extend_from_slice(b" - ");
            match entry.user.as_deref() {
                Some(user) if !user.is_empty() => push_escaped(&mut out, user.as_bytes(), true),
                _ => out.push(b'-'),
            }
            out.extend_from_slice(b" [");
            push_clf_date(&mut out, entry.start);
            out.extend_from_slice(b"] \"");
            push_escaped(&mut out, entry.method.as_str().as_bytes(), false);
            out.push(b' ');
            push_escaped(&mut out, entry.target.as_bytes(), false);
            out.push(b' ');
            out.extend_from_slice(entry.version.as_str().as_bytes());
            out.extend_from_slice(format!("\" {:03} ", entry.status).as_bytes());
            if bytes == 0 {
                out.push(b'-');
            } else {
                out.extend_from_slice(bytes.to_string().as_bytes());
            }
            if format == LogFormat::Combined {
                for field in [&entry.referer, &entry.user_agent] {
                    out.extend_from_slice(b" \"");
                    match field {
                        Some(value) => push_escaped(&mut out, value, false),
                        None => out.push(b'-'),
                    }
                    out.push(b'"');
                }
            }
            out.extend_from_slice(
                format!(" {}.{:06}", elapsed.as_secs(), elapsed.subsec_micros()).as_bytes(),
            );
        }
        LogFormat::Json => {
            fn text(v: &Option<Vec<u8>>) -> Option<Cow<'_, str>> {
                v.as_deref().map(String::from_utf8_lossy)
            }
            let line = JsonLine {
                time: rfc3339(entry.start),
                remote: entry.remote.map(|ip| ip.to_string()),
                user: entry.user.as_deref(),
                method: entry.method.as_str(),
                target: &entry.target,
                protocol: entry.version.as_str(),
                status: entry.status,
                bytes,
                duration_ms: elapsed.as_micros() as f64 / 1000.0,
                referer: text(&entry.referer),
                user_agent: text(&entry.user_agent),
                request_id: text(&entry.request_id),
            };
            // serde_json escapes control characters, so the line stays one line.
            if serde_json::to_writer(&mut out, &line).is_err() {
                out.clear();
                out.extend_from_slice(b"{}");
            }
        }
    }
    out.push(b'\n');
    out
}

/// A JSON log line; field order is the documented one.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    remote: Option<String>,
    user: Option<&'a str>,
    method: &'a str,
    target: &'a str,
    protocol: &'a str,
    status: u16,
    bytes: u64,
    duration_ms: f64,
    referer: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
}

/// Appends `field` with `"` and `\` backslashed and bytes outside printable
/// ASCII as `\xHH` (a CR LF in a header cannot start a forged line; a quote
/// cannot end the field early). `escape_space` also escapes spaces, for
/// unquoted fields whose end is the next space.
fn push_escaped(out: &mut Vec<u8>, field: &[u8], escape_space: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in field {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b' ' if escape_space => out.extend_from_slice(b"\\x20"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
}

/// A UTC civil time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: u64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

const SECS_PER_DAY: u64 = 86_400;
/// Every 400 Gregorian years have the same number of days (97 leap years).
const DAYS_PER_400_YEARS: u64 = 400 * 365 + 97;
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u64, month: u8) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The UTC date and time `secs` seconds after 1970-01-01T00:00:00Z (Unix
/// time has no leap seconds: every day is 86,400 of them).
fn civil(secs: u64) -> Civil {
    let mut days = secs / SECS_PER_DAY;
    let in_day = secs % SECS_PER_DAY;
    // Skip whole 400-year cycles first so the year loop runs at most 400 times.
    let mut year = 1970 + 400 * (days / DAYS_PER_400_YEARS);
    days %= DAYS_PER_400_YEARS;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let mut month = 1;
    while days >= days_in_month(year, month) {
        days -= days_in_month(year, month);
        month += 1;
    }
    Civil {
        year,
        month,
        day: days as u8 + 1,
        hour: (in_day / 3600) as u8,
        minute: (in_day / 60 % 60) as u8,
        second: (in_day % 60) as u8,
    }
}

/// Seconds and nanoseconds since the epoch; a clock before 1970 reads as 1970.
fn unix_time(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `02/Dec/2026:05:25:54 +0000`, the CLF date.
fn push_clf_date(out: &mut Vec<u8>, t: SystemTime) {
    let c = civil(unix_time(t).as_secs());
    let month = MONTH_NAMES[usize::from(c.month - 1)];
    let text = format!(
        "{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000",
        c.day, c.year, c.hour, c.minute, c.second
    );
    out.extend_from_slice(text.as_bytes());
}

/// `2026-12-02T05:25:54.123Z` (RFC 3339 §5.6, UTC, milliseconds).
fn rfc3339(t: SystemTime) -> String {
    let since = unix_time(t);
    let c = civil(since.as_secs());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Handler, Status};

    /// 2026-12-02T05:25:54Z
    const WHEN: u64 = 1_796_189_154;

    fn entry() -> Entry {
        Entry {
            start: UNIX_EPOCH + Duration::from_secs(WHEN),
            remote: Some("127.0.0.1".parse().unwrap()),
            user: None,
            method: Method::Get,
            target: "/path?q".into(),
            version: Version::Http11,
            status: 200,
            referer: None,
            user_agent: None,
            request_id: None,
        }
    }

    fn line(format: LogFormat, e: &Entry, bytes: u64, micros: u64) -> String {
        String::from_utf8(format_line(format, e, bytes, Duration::from_micros(micros))).unwrap()
    }

    #[test]
    fn common_format_line() {
        assert_eq!(
            line(LogFormat::Common, &entry(), 13, 123),
            "127.0.0.1 - - [02/Dec/2026:05:25:54 +0000] \"GET /path?q HTTP/1.1\" 200 13 0.000123\n"
        );
        let mut e = entry();
        e.remote = None;
        e.user = Some("alice smith".into());
        e.status = 304;
        e.method = Method::Head;
        e.version = Version::Http10;
        assert_eq!(
            line(LogFormat::Common, &e, 0, 2_500_000),
            "- - alice\\x20smith [02/Dec/2026:05:25:54 +0000] \"HEAD /path?q HTTP/1.0\" 304 - 2.500000\n"
        );
    }

    #[test]
    fn combined_format_line() {
        let mut e = entry();
        e.referer = Some(b"https://example.com/a?b=c".to_vec());
        e.user_agent = Some(b"Mozilla/5.0 (X11)".to_vec());
        e.remote = Some("::1".parse().unwrap());
        assert_eq!(
            line(LogFormat::Combined, &e, 5120, 1_234),
            "::1 - - [02/Dec/2026:05:25:54 +0000] \"GET /path?q HTTP/1.1\" 200 5120 \
             \"https://example.com/a?b=c\" \"Mozilla/5.0 (X11)\" 0.001234\n"
        );
        assert_eq!(
            line(LogFormat::Combined, &entry(), 13, 1),
            "127.0.0.1 - - [02/Dec/2026:05:25:54 +0000] \"GET /path?q HTTP/1.1\" 200 13 \"-\" \"-\" 0.000001\n"
        );
    }

    #[test]
    fn json_format_line() {
        let mut e = entry();
        e.start += Duration::from_millis(42);
        e.user_agent = Some(b"curl/8.0".to_vec());
        e.request_id = Some(b"req-1".to_vec());
        e.user = Some("alice".into());
        assert_eq!(
            line(LogFormat::Json, &e, 13, 123),
            concat!(
                r#"{"time":"2026-12-02T05:25:54.042Z","remote":"127.0.0.1","user":"alice","#,
                r#""method":"GET","target":"/path?q","protocol":"HTTP/1.1","status":200,"#,
                r#""bytes":13,"duration_ms":0.123,"referer":null,"user_agent":"curl/8.0","#,
                r#""request_id":"req-1"}"#,
                "\n"
            )
        );
        let v: serde_json::Value =
            serde_json::from_str(&line(LogFormat::Json, &entry(), 0, 0)).unwrap();
        assert_eq!(v["bytes"], 0);
        assert_eq!(v["duration_ms"].as_f64(), Some(0.0));
        assert!(v["remote"].is_string() && v["user_agent"].is_null());
    }

    #[test]
    fn hostile_fields_cannot_forge_lines() {
        let mut e = entry();
        e.user_agent = Some(
            b"evil\" 200 0 \"x\r\n127.0.0.1 - - [fake] \"GET / HTTP/1.1\" 200 1 \\ \x7f\xff"
                .to_vec(),
        );
        e.referer = Some(b"\"".to_vec());
        e.target = "/a\"b".into();
        let text = line(LogFormat::Combined, &e, 1, 0);
        assert_eq!(
            text,
            "127.0.0.1 - - [02/Dec/2026:05:25:54 +0000] \"GET /a\\\"b HTTP/1.1\" 200 1 \"\\\"\" \
             \"evil\\\" 200 0 \\\"x\\x0d\\x0a127.0.0.1 - - [fake] \\\"GET / HTTP/1.1\\\" 200 1 \\\\ \\x7f\\xff\" \
             0.000000\n"
        );
        assert_eq!(text.matches('\n').count(), 1);
        // JSON: serde escapes, the line stays one line and parses back.
        let json = line(LogFormat::Json, &e, 1, 0);
        assert_eq!(json.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("evil\" 200 0 \"x\r\n"));
    }

    #[test]
    fn civil_dates_around_leap_years_and_month_ends() {
        let at = |secs: u64| {
            let c = civil(secs);
            (c.year, c.month, c.day, c.hour, c.minute, c.second)
        };
        // Each second is 23:59:59 of the date; one more second is the next day.
        let ends: &[(u64, (u64, u8, u8))] = &[
            (86_399, (1970, 1, 1)),
            (946_684_799, (1999, 12, 31)),
            (951_868_799, (2000, 2, 29)), // 2000 is a leap year (divisible by 400)
            (951_955_199, (2000, 3, 1)),
            (1_677_628_799, (2023, 2, 28)),
            (1_677_715_199, (2023, 3, 1)),
            (1_709_251_199, (2024, 2, 29)),
            (1_735_689_599, (2024, 12, 31)),
            (1_735_775_999, (2025, 1, 1)),
            (4_107_542_399, (2100, 2, 28)), // 2100 is not (divisible by 100)
            (4_107_628_799, (2100, 3, 1)),
            (13_574_649_599, (2400, 2, 29)),
        ];
        for &(secs, (y, m, d)) in ends {
            assert_eq!(at(secs), (y, m, d, 23, 59, 59), "{secs}");
        }
        assert_eq!(at(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(at(951_868_800), (2000, 3, 1, 0, 0, 0));
        assert_eq!(at(4_107_542_400), (2100, 3, 1, 0, 0, 0));
        assert_eq!(at(1_735_689_600), (2025, 1, 1, 0, 0, 0));
        assert_eq!(at(WHEN), (2026, 12, 2, 5, 25, 54));
        // Against httpdate's formatter over 600 years of days, at odd times of day.
        let mut secs = 7_777u64;
        while secs < 19_000_000_000 {
            let c = civil(secs);
            let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
            let want = format!(
                "{:02} {} {:04} {:02}:{:02}:{:02}",
                c.day,
                MONTH_NAMES[usize::from(c.month - 1)],
                c.year,
                c.hour,
                c.minute,
                c.second
            );
            assert_eq!(&http[5..25], want, "{secs}");
            secs += 86_400 * 3 + 4_567;
        }
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(951_868_799_999)),
            "2000-02-29T23:59:59.999Z"
        );
    }

    /// A writer into shared memory, optionally one byte per call, optionally failing.
    #[derive(Clone, Default)]
    struct Shared {
        buf: Arc<Mutex<Vec<u8>>>,
        byte_at_a_time: bool,
        fail: bool,
    }

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.fail {
                return Err(io::Error::other("disk full"));
            }
            let n = if self.byte_at_a_time {
                data.len().min(1)
            } else {
                data.len()
            };
            self.buf.lock().unwrap().extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.buf.lock().unwrap().clone()).unwrap()
        }
    }

    fn request(target: &str) -> Request {
        Request::new(Method::Get, target).with_peer("10.0.0.7:4321".parse().unwrap())
    }

    #[test]
    fn streams_of_unknown_length_are_counted_and_logged_at_the_end() {
        let out = Shared::default();
        let log = AccessLog::to_writer(Box::new(out.clone()), LogFormat::Common);
        let app = (|_: &mut Request| {
            let pieces = [&b"abc"[..], b"", b"defgh"]
                .into_iter()
                .map(Bytes::from_static);
            Response::text("").body(Body::from_pieces(pieces))
        })
        .with(log.clone());
        let resp = app.respond(&mut request("/s"));
        assert_eq!(out.text(), "", "not logged before the stream ends");
        let Body::Stream(mut s) = resp.body else {
            panic!("not a stream")
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut sent = 0;
        while let Poll::Ready(Some(Ok(piece))) = s.poll_next(&mut cx) {
            sent += piece.len();
        }
        assert_eq!(sent, 8);
        let text = out.text();
        assert!(text.contains("\"GET /s HTTP/1.1\" 200 8 "), "{text}");
        drop(s);
        assert_eq!(out.text().lines().count(), 1, "logged once");

        // Dropped half-way (the client left): what was sent is logged.
        out.buf.lock().unwrap().clear();
        let resp = app.respond(&mut request("/s"));
        let Body::Stream(mut s) = resp.body else {
            panic!("not a stream")
        };
        assert!(matches!(s.poll_next(&mut cx), Poll::Ready(Some(Ok(_)))));
        drop(s);
        assert!(out.text().contains("\" 200 3 "), "{}", out.text());

        // HEAD: the server drops the body unpulled; logged at once with no bytes.
        out.buf.lock().unwrap().clear();
        let _resp = app.respond(&mut Request::new(Method::Head, "/s"));
        assert!(
            out.text().contains("\"HEAD /s HTTP/1.1\" 200 - "),
            "{}",
            out.text()
        );
    }

    #[test]
    fn known_lengths_and_users_and_request_ids() {
        let out = Shared::default();
        let app = (|req: &mut Request| {
            req.extensions_mut().insert(AuthUser("bob".into()));
            Response::text("Hello, World!").header("X-Request-Id", "from-response")
        })
        .with(AccessLog::to_writer(Box::new(out.clone()), LogFormat::Json));
        app.respond(&mut request("/x").with_header("X-Request-Id", "from-request"));
        let v: serde_json::Value = serde_json::from_str(out.text().trim_end()).unwrap();
        assert_eq!(v["bytes"], 13);
        assert_eq!(v["user"], "bob");
        assert_eq!(v["remote"], "10.0.0.7");
        assert_eq!(v["request_id"], "from-response");
        assert_eq!(v["status"], 200);
        assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);

        out.buf.lock().unwrap().clear();
        let app = (|_: &mut Request| Response::status_text(Status::NOT_FOUND))
            .with(AccessLog::to_writer(Box::new(out.clone()), LogFormat::Json));
        app.respond(&mut request("/y").with_header("X-Request-Id", "from-request"));
        let v: serde_json::Value = serde_json::from_str(out.text().trim_end()).unwrap();
        assert_eq!(
            (v["status"].as_u64(), v["bytes"].as_u64()),
            (Some(404), Some(10))
        );
        assert_eq!(v["request_id"], "from-request");
    }

    #[test]
    fn pending_replies_are_logged_when_their_response_arrives() {
        let out = Shared::default();
        let (send, receive) = std::sync::mpsc::channel();
        let app = (move |req: &mut Request| {
            // Set before the reply turns pending: the line has it.
            req.extensions_mut().insert(AuthUser("carol".into()));
            let (responder, reply) = Reply::later();
            send.send(responder).unwrap();
            reply
        })
        .with(AccessLog::to_writer(Box::new(out.clone()), LogFormat::Json));
        let reply = app.call(&mut request("/later"));
        assert!(!reply.is_ready());
        assert_eq!(out.text(), "", "not logged before the response is there");
        let responder = receive.recv().unwrap();
        let answer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            responder
                .send(Response::text("late").header("X-Request-Id", "r-9"))
                .unwrap();
        });
        let resp = reply.wait();
        answer.join().unwrap();
        assert_eq!(resp.status, Status::OK);
        let v: serde_json::Value = serde_json::from_str(out.text().trim_end()).unwrap();
        assert_eq!(v["target"], "/later");
        assert_eq!(
            (v["status"].as_u64(), v["bytes"].as_u64()),
            (Some(200), Some(4))
        );
        assert_eq!(v["user"], "carol");
        assert_eq!(v["request_id"], "r-9");
        // Timed to the response's arrival, not to the handler's return.
        assert!(v["duration_ms"].as_f64().unwrap() >= 30.0, "{v}");
        assert_eq!(out.text().lines().count(), 1);
    }

    #[test]
    fn write_errors_are_counted_not_fatal() {
        let out = Shared {
            fail: true,
            ..Shared::default()
        };
        let log = AccessLog::to_writer(Box::new(out), LogFormat::Common);
        let app = (|_: &mut Request| Response::text("ok")).with(log.clone());
        let resp = app.respond(&mut request("/"));
        assert_eq!(resp.status, Status::OK);
        app.respond(&mut request("/"));
        assert_eq!(log.write_errors(), 2);
    }

    #[test]
    fn lines_from_many_threads_do_not_interleave() {
        let out = Shared {
            byte_at_a_time: true,
            ..Shared::default()
        };
        let log = AccessLog::to_writer(Box::new(out.clone()), LogFormat::Combined);
        let app = Arc::new((|_: &mut Request| Response::text("body")).with(log));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let app = app.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        app.respond(
                            &mut request(&format!("/t{t}/{i}")).with_header("User-Agent", "ua"),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = out.text();
        assert_eq!(text.lines().count(), 200);
        for l in text.lines() {
            assert!(l.starts_with("10.0.0.7 - - ["), "{l}");
            assert!(l.contains(" HTTP/1.1\" 200 4 \"-\" \"ua\" 0."), "{l}");
        }
    }
}
