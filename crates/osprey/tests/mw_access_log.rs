//! The access log over real sockets: a server logging to a file in each
//! format, requests sent with curl, and every line read back and checked
//! field by field against the documented format (status, byte count, a
//! duration that parses as a number, escaped client text).

mod common;

use bytes::Bytes;
use common::{curl, CurlResponse, TestServer};
use osprey::middleware::access_log::{AccessLog, LogFormat};
use osprey::{Body, HeaderValue, Request, Response, Router};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn app(log: AccessLog) -> Router {
    Router::new()
        .with(log)
        .get("/hello", |_: &mut Request| Response::text("Hello, World!"))
        .get("/stream", |_: &mut Request| {
            let pieces = ["one ", "two ", "three"].into_iter().map(Bytes::from);
            Response::stream(
                HeaderValue::from_static("text/plain"),
                Body::from_pieces(pieces),
            )
        })
}

/// What each request was, and what curl got back.
struct Sent {
    request_line: &'static str,
    response: CurlResponse,
    referer: Option<&'static str>,
    user_agent: &'static str,
}

const AGENT: &str = "Agent \"quoted\" \\ back";

/// Sends the same requests to a server logging in `format`; returns them and
/// the log's lines.
fn exercise(format: LogFormat) -> (Vec<Sent>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let server = TestServer::start(app(AccessLog::file(&path, format).unwrap()));
    let version = curl_version();
    let plain: &'static str = Box::leak(format!("curl/{version}").into_boxed_str());
    let sent = vec![
        Sent {
            request_line: "GET /hello?x=1 HTTP/1.1",
            response: curl(&[&server.url("/hello?x=1")]),
            referer: None,
            user_agent: plain,
        },
        Sent {
            request_line: "GET /hello HTTP/1.1",
            response: curl(&[
                "-e",
                "http://example.com/from?a=b",
                "-A",
                AGENT,
                &server.url("/hello"),
            ]),
            referer: Some("http://example.com/from?a=b"),
            user_agent: AGENT,
        },
        Sent {
            request_line: "GET /missing HTTP/1.1",
            response: curl(&[&server.url("/missing")]),
            referer: None,
            user_agent: plain,
        },
        Sent {
            request_line: "GET /stream HTTP/1.1",
            response: curl(&[&server.url("/stream")]),
            referer: None,
            user_agent: plain,
        },
        Sent {
            request_line: "HEAD /hello HTTP/1.1",
            response: curl(&["-I", &server.url("/hello")]),
            referer: None,
            user_agent: plain,
        },
    ];
    assert_eq!(
        sent.iter().map(|s| s.response.status).collect::<Vec<_>>(),
        [200, 200, 404, 200, 200]
    );
    // Each line was written before its response went out: no wait needed.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    (sent, text.lines().map(str::to_string).collect())
}

fn curl_version() -> String {
    let out = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split(' ').nth(1).unwrap().to_string()
}

/// The body length the log should show: what a GET sent (HEAD sends none).
fn logged_bytes(s: &Sent) -> u64 {
    if s.request_line.starts_with("HEAD") {
        0
    } else {
        s.response.body.len() as u64
    }
}

/// Splits a CLF line into fields: bare words, `[...]`, and `"..."` with
/// backslash escapes undone.
fn clf_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        let mut field = String::new();
        match c {
            '"' => {
                chars.next();
                loop {
                    match chars.next().expect("unterminated quote") {
                        '"' => break,
                        '\\' => {
                            let e = chars.next().unwrap();
                            assert!(matches!(e, '"' | '\\'), "unexpected escape \\{e}");
                            field.push(e);
                        }
                        other => field.push(other),
                    }
                }
            }
            '[' => {
                chars.next();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    field.push(c);
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    field.push(c);
                    chars.next();
                }
            }
        }
        fields.push(field);
        match chars.next() {
            None => break,
            Some(' ') => {}
            Some(other) => panic!("expected a space between fields, got {other:?} in {line}"),
        }
    }
    fields
}

/// `02/Dec/2026:05:25:54 +0000`
fn check_clf_date(date: &str) {
    let b = date.as_bytes();
    assert_eq!(b.len(), 26, "{date}");
    let digits = |r: std::ops::Range<usize>| {
        assert!(b[r.clone()].iter().all(u8::is_ascii_digit), "{date}");
        date[r].parse::<u32>().unwrap()
    };
    assert!((1..=31).contains(&digits(0..2)), "{date}");
    assert_eq!(&date[2..3], "/");
    assert!(MONTHS.contains(&&date[3..6]), "{date}");
    assert_eq!(&date[6..7], "/");
    assert!(digits(7..11) >= 2024, "{date}");
    assert!(digits(12..14) < 24 && digits(15..17) < 60 && digits(18..20) < 60);
    assert_eq!(&date[11..12], ":");
    assert_eq!(&date[20..], " +0000");
}

/// `0.000123`: seconds with six decimals.
fn check_duration(text: &str) {
    let (secs, micros) = text.split_once('.').expect("a decimal point");
    assert!(secs.parse::<u64>().is_ok(), "{text}");
    assert_eq!(micros.len(), 6, "{text}");
    let value: f64 = text.parse().unwrap();
    assert!((0.0..30.0).contains(&value), "{text}");
}

fn check_clf(format: LogFormat) {
    let (sent, lines) = exercise(format);
    assert_eq!(lines.len(), sent.len(), "{lines:#?}");
    for (s, line) in sent.iter().zip(&lines) {
        let f = clf_fields(line);
        let want = if format == LogFormat::Combined { 10 } else { 8 };
        assert_eq!(f.len(), want, "{line}");
        assert_eq!(&f[..3], ["127.0.0.1", "-", "-"], "{line}");
        check_clf_date(&f[3]);
        assert_eq!(f[4], s.request_line, "{line}");
        assert_eq!(f[5], s.response.status.to_string(), "{line}");
        let bytes = logged_bytes(s);
        let logged = if bytes == 0 {
            "-".to_string()
        } else {
            bytes.to_string()
        };
        assert_eq!(f[6], logged, "{line}");
        if format == LogFormat::Combined {
            assert_eq!(f[7], s.referer.unwrap_or("-"), "{line}");
            assert_eq!(f[8], s.user_agent, "{line}");
        }
        check_duration(f.last().unwrap());
    }
    // Spot-check exact text, escaping included.
    assert!(
        lines[0].contains("] \"GET /hello?x=1 HTTP/1.1\" 200 13 "),
        "{}",
        lines[0]
    );
    assert!(
        lines[3].contains("\" 200 13 "),
        "the stream's real size: {}",
        lines[3]
    );
    if format == LogFormat::Combined {
        assert!(
            lines[1].contains(
                " 200 13 \"http://example.com/from?a=b\" \"Agent \\\"quoted\\\" \\\\ back\" "
            ),
            "{}",
            lines[1]
        );
    }
}

#[test]
fn common_log_format_over_a_socket() {
    check_clf(LogFormat::Common);
}

#[test]
fn combined_log_format_over_a_socket() {
    check_clf(LogFormat::Combined);
}

#[test]
fn json_lines_over_a_socket() {
    let (sent, lines) = exercise(LogFormat::Json);
    assert_eq!(lines.len(), sent.len(), "{lines:#?}");
    for (s, line) in sent.iter().zip(&lines) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort_unstable();
        let mut want = [
            "time",
            "remote",
            "user",
            "method",
            "target",
            "protocol",
            "status",
            "bytes",
            "duration_ms",
            "referer",
            "user_agent",
            "request_id",
        ];
        want.sort_unstable();
        assert_eq!(keys, want, "{line}");
        let (method, rest) = s.request_line.split_once(' ').unwrap();
        let (target, protocol) = rest.split_once(' ').unwrap();
        assert_eq!(v["method"], method);
        assert_eq!(v["target"], target);
        assert_eq!(v["protocol"], protocol);
        assert_eq!(v["remote"], "127.0.0.1");
        assert_eq!(v["status"], s.response.status);
        assert_eq!(v["bytes"], logged_bytes(s));
        assert!(v["duration_ms"].as_f64().unwrap() >= 0.0, "{line}");
        assert_eq!(v["user_agent"], s.user_agent);
        match s.referer {
            Some(r) => assert_eq!(v["referer"], r),
            None => assert!(v["referer"].is_null()),
        }
        assert!(v["user"].is_null() && v["request_id"].is_null());
        let time = v["time"].as_str().unwrap();
        // 2026-12-02T05:25:54.123Z
        assert_eq!(time.len(), 24, "{time}");
        assert!(time.ends_with('Z') && &time[10..11] == "T" && &time[19..20] == ".");
        assert!(time[..4].parse::<u32>().unwrap() >= 2024);
    }
    // The fields were written in the documented order.
    assert!(lines[0].starts_with("{\"time\":\""), "{}", lines[0]);
    assert!(lines[0].ends_with(",\"request_id\":null}"), "{}", lines[0]);
}
