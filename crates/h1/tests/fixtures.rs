//! Golden fixtures: raw bytes in, the exact parse (or error status) out.
//!
//! Each file in `fixtures/requests/` holds request bytes and the expected result;
//! each file in `fixtures/responses/` a response to encode and the exact bytes.
//! The format is described in `fixtures/README.md`. Every request fixture is run
//! twice — all bytes at once and one byte per read — and both runs must produce
//! the expected text, which shows the parser's result does not depend on how the
//! input is split.

use std::fmt::Write as _;

mod common;

use common::{fixture_files, unescape, Fixture};

use osprey_h1::{BodyLength, EncodeConfig, Event, OutQueue, ServerConn, TargetForm, CONTINUE};
use osprey_h1::{Limits, ProtoError};
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Status};

/// The inverse of `unescape` for one line of expected output.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            b'\\' => s.push_str("\\\\"),
            b' ' if i == 0 || i == bytes.len() - 1 => s.push_str("\\s"),
            0x20..=0x7e => s.push(b as char),
            _ => write!(s, "\\x{b:02x}").unwrap(),
        }
    }
    s
}

/// Expected-output text without comments, blank lines or indentation.
fn normalize(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn error_line(e: ProtoError) -> String {
    format!("error {} {:?}", e.status().as_u16(), e.kind())
}

/// Runs a request stream through a server connection, feeding `step` bytes per
/// read, and renders every event as fixture text.
fn render_requests(input: &[u8], step: usize) -> Vec<String> {
    // An empty value renders with a trailing space, which the expected side
    // cannot keep (it is trimmed): compare trimmed lines.
    render_events(input, step)
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

fn render_events(input: &[u8], step: usize) -> Vec<String> {
    let mut conn = ServerConn::new(Limits::default());
    let mut out = Vec::new();
    let mut avail = step.min(input.len());
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let buf = &input[..avail];
        let (n, event) = match conn.read(&buf[pos..]) {
            Ok(r) => r,
            Err(e) => {
                out.push(error_line(e));
                return out;
            }
        };
        match event {
            Event::Partial => {
                pos += n;
                if avail == input.len() {
                    if pos < input.len() || conn.is_reading_body() {
                        out.push("partial".into());
                    }
                    return out;
                }
                avail = (avail + step).min(input.len());
                continue;
            }
            Event::Head => {
                let h = conn.head();
                let b = &buf[pos..pos + n];
                out.push("request".into());
                out.push(format!("method: {}", h.method));
                out.push(format!("target: {}", escape(h.target(b))));
                out.push(format!(
                    "form: {}",
                    match h.form {
                        TargetForm::Origin => "origin",
                        TargetForm::Absolute => "absolute",
                        TargetForm::Authority => "authority",
                        TargetForm::Asterisk => "asterisk",
                    }
                ));
                out.push(format!("version: {}", h.version));
                if let Some(a) = h.authority {
                    out.push(format!("authority: {}", escape(a.of(b))));
                }
                for (name, value) in h.headers(b) {
                    out.push(format!("header: {}: {}", escape(name), escape(value)));
                }
                out.push(format!("keep-alive: {}", h.keep_alive));
                if h.expect_continue {
                    out.push("expect-continue: true".into());
                }
                if let Some(u) = h.upgrade {
                    out.push(format!("upgrade: {}", escape(u.of(b))));
                }
                if h.upgrade.is_some() || h.method == osprey_proto::Method::Connect {
                    conn.accept_upgrade();
                }
            }
            Event::Data(range) => body.extend_from_slice(&buf[pos..][range]),
            Event::End => {
                if !body.is_empty() {
                    out.push(format!("body: {}", escape(&body)));
                    body.clear();
                }
                for (name, value) in conn.trailers() {
                    out.push(format!("trailer: {}: {}", name, escape(value.as_bytes())));
                }
            }
            Event::Upgraded => {
                pos += n;
                // Everything after the upgrade belongs to the new protocol,
                // including what arrives later.
                out.push(format!("upgraded: {}", escape(&input[pos..])));
                return out;
            }
            Event::Closed => {
                pos += n;
                if pos < input.len() {
                    out.push(format!("closed, unread: {}", escape(&input[pos..])));
                }
                return out;
            }
        }
        pos += n;
    }
}

fn report(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        total,
        failures.join("\n")
    );
}

#[test]
fn request_fixtures() {
    let files = fixture_files("requests");
    let mut failures = Vec::new();
    for path in &files {
        let f = Fixture::load(path);
        let input = unescape(f.section("input"));
        let expected = normalize(f.section("expect"));
        for step in [input.len().max(1), 1] {
            let actual = render_requests(&input, step);
            if actual != expected {
                failures.push(format!(
                    "{} (fed {} bytes per read)\n  expected:\n    {}\n  actual:\n    {}\n",
                    path.file_name().unwrap().to_string_lossy(),
                    step,
                    expected.join("\n    "),
                    actual.join("\n    ")
                ));
                break;
            }
        }
    }
    report(&failures, files.len());
}

/// Encodes the response a fixture describes, as a server connection would.
fn render_response(spec: &str) -> Vec<u8> {
    let mut method = "GET".to_string();
    let mut version = "HTTP/1.1".to_string();
    let mut connection = String::new();
    let mut status = Status::OK;
    let mut fields = HeaderMap::new();
    let mut trailers = HeaderMap::new();
    let mut body: Option<Vec<u8>> = None;
    let mut stream: Option<Vec<Vec<u8>>> = None;
    let mut file: Option<u64> = None;
    let mut date = Some(b"Tue, 24 Nov 2026 08:00:00 GMT".to_vec());
    let mut server = None;
    let mut error = None;
    let mut interim = Vec::new();
    let field = |v: &str| {
        let (n, v) = v.split_once(':').expect("Name: value");
        (
            HeaderName::try_from(n.trim()).unwrap(),
            HeaderValue::from_bytes(&unescape(v.trim())).unwrap(),
        )
    };
    for line in normalize(spec) {
        let (key, value) = line.split_once(':').expect("key: value");
        let value = value.trim();
        match key {
            "request" => {
                let mut parts = value.split_whitespace();
                method = parts.next().unwrap().into();
                version = parts.next().unwrap().into();
                connection = parts.next().unwrap_or("").into();
            }
            "status" => status = Status::from_u16(value.parse().unwrap()).unwrap(),
            "interim" => interim.push(Status::from_u16(value.parse().unwrap()).unwrap()),
            "header" => {
                let (n, v) = field(value);
                fields.append(n, v);
            }
            "trailer" => {
                let (n, v) = field(value);
                trailers.append(n, v);
            }
            "body" if value == "empty" => body = Some(Vec::new()),
            "body" => body = Some(unescape(value)),
            "chunk" => stream.get_or_insert_with(Vec::new).push(unescape(value)),
            "file" => file = Some(value.parse().unwrap()),
            "date" if value == "none" => date = None,
            "date" => date = Some(value.as_bytes().to_vec()),
            "server" => server = Some(value.as_bytes().to_vec()),
            "error" => error = Some(Status::from_u16(value.parse().unwrap()).unwrap()),
            other => panic!("unknown response key {other}"),
        }
    }
    let mut request = format!("{method} / {version}\r\nHost: h\r\n");
    if !connection.is_empty() {
        request.push_str(&format!("Connection: {connection}\r\n"));
    }
    request.push_str("\r\n");
    let mut conn = ServerConn::new(Limits::default());
    let (_, event) = conn.read(request.as_bytes()).unwrap();
    assert_eq!(event, Event::Head);
    let config = EncodeConfig {
        date: date.as_deref(),
        server: server.as_deref(),
    };
    let mut out: OutQueue<u64> = OutQueue::new();
    if let Some(status) = error {
        conn.write_canned(&mut out, status, &config);
        let mut bytes = out.to_bytes_with(|_, _, _| unreachable!());
        assert!(conn.should_close(), "a canned error closes the connection");
        bytes.extend_from_slice(b"<close>");
        return bytes;
    }
    for s in interim {
        if s == Status::CONTINUE {
            out.write(CONTINUE);
        } else {
            conn.write_head(&mut out, s, &HeaderMap::new(), BodyLength::Empty, &config)
                .unwrap();
        }
    }
    let length = match (&body, &stream, file) {
        (Some(b), _, _) if b.is_empty() => BodyLength::Empty,
        (Some(b), _, _) => BodyLength::Known(b.len() as u64),
        (_, Some(_), _) => BodyLength::Unknown,
        (_, _, Some(n)) => BodyLength::Known(n),
        _ => BodyLength::Empty,
    };
    conn.write_head(&mut out, status, &fields, length, &config)
        .unwrap();
    if let Some(b) = body {
        conn.write_body(&mut out, &b).unwrap();
    }
    for chunk in stream.unwrap_or_default() {
        conn.write_body(&mut out, &chunk).unwrap();
    }
    if let Some(n) = file {
        conn.write_body_file(&mut out, 0, 0, n).unwrap();
    }
    conn.finish_body(&mut out, &trailers).unwrap();
    let mut bytes =
        out.to_bytes_with(|_, off, len| (off..off + len).map(|i| b'a' + (i % 26) as u8).collect());
    if conn.should_close() {
        bytes.extend_from_slice(b"<close>");
    }
    bytes
}

#[test]
fn response_fixtures() {
    let files = fixture_files("responses");
    let mut failures = Vec::new();
    for path in &files {
        let f = Fixture::load(path);
        let expected = unescape(f.section("expect"));
        let actual = render_response(f.section("response"));
        if actual != expected {
            failures.push(format!(
                "{}\n  expected: {}\n  actual:   {}\n",
                path.file_name().unwrap().to_string_lossy(),
                escape(&expected),
                escape(&actual)
            ));
        }
    }
    report(&failures, files.len());
}

#[test]
fn there_are_at_least_100_fixtures() {
    let n = fixture_files("requests").len() + fixture_files("responses").len();
    assert!(n >= 100, "only {n} fixtures");
}
