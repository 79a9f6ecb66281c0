//! The examples as their users run them: each example binary is started on a
//! free port and spoken to over a real socket with a real HTTP client (ureq).

use osprey_testkit::{example, ServerProcess};
use serde_json::{json, Value};

fn start(name: &str) -> ServerProcess {
    ServerProcess::start(
        &example(name),
        &["--listen", "127.0.0.1:0", "--workers", "1"],
    )
}

/// (status, body) for any status: ureq reports 4xx/5xx as errors.
fn send(req: ureq::Request, body: Option<&str>) -> (u16, String) {
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (resp.status(), resp.into_string().unwrap())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn users_example_answers_json() {
    let server = start("users");
    let resp = ureq::get(&server.url("/users/42")).call().unwrap();
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.into_string().unwrap(), r#"{"id":"42","name":"alice"}"#);
    assert_eq!(send(ureq::get(&server.url("/users")), None).0, 404);
}

#[test]
fn todo_api_crud_and_validation() {
    let server = start("todo_api");
    let url = |p: &str| server.url(p);
    let agent = ureq::agent();

    let (status, body) = send(agent.get(&url("/todos")), None);
    assert_eq!((status, json_of(&body)), (200, json!([])));

    let resp = agent
        .post(&url("/todos"))
        .set("Content-Type", "application/json")
        .send_string(r#"{"title":"buy milk"}"#)
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.header("location"), Some("/todos/1"));
    let created = json_of(&resp.into_string().unwrap());
    assert_eq!(
        created,
        json!({"id": 1, "title": "buy milk", "done": false})
    );
    send(
        agent.post(&url("/todos")),
        Some(r#"{"title":"walk","done":true}"#),
    );

    let (status, body) = send(agent.get(&url("/todos/1")), None);
    assert_eq!(
        (status, json_of(&body)["title"].clone()),
        (200, json!("buy milk"))
    );

    let (status, body) = send(
        agent.put(&url("/todos/1")),
        Some(r#"{"title":"oat milk","done":true}"#),
    );
    assert_eq!(
        (status, json_of(&body)),
        (200, json!({"id": 1, "title": "oat milk", "done": true}))
    );

    let (status, body) = send(
        agent.request("PATCH", &url("/todos/2")),
        Some(r#"{"done":false}"#),
    );
    assert_eq!(
        (status, json_of(&body)),
        (200, json!({"id": 2, "title": "walk", "done": false}))
    );

    let (status, body) = send(agent.get(&url("/todos")), None);
    assert_eq!(status, 200);
    let ids: Vec<_> = json_of(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, [json!(1), json!(2)]);

    assert_eq!(
        send(agent.delete(&url("/todos/1")), None),
        (204, String::new())
    );
    let (status, body) = send(agent.get(&url("/todos/1")), None);
    assert_eq!(
        (status, json_of(&body)),
        (404, json!({"error": "no such todo"}))
    );
    assert_eq!(send(agent.delete(&url("/todos/1")), None).0, 404);
    assert_eq!(send(agent.get(&url("/todos/abc")), None).0, 404);

    // Validation: malformed JSON and wrong shapes are 400, bad values 422,
    // another media type 415 — all with a JSON error body.
    let (status, body) = send(agent.post(&url("/todos")), Some(r#"{"title":"#));
    assert_eq!(status, 400);
    assert!(json_of(&body)["error"]
        .as_str()
        .unwrap()
        .starts_with("malformed JSON"));
    let (status, body) = send(agent.post(&url("/todos")), Some(r#"{"name":"x"}"#));
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(agent.post(&url("/todos")), Some(r#"{"title":"   "}"#));
    assert_eq!(status, 422);
    assert_eq!(
        json_of(&body)["fields"]["title"],
        json!("must be 1 to 200 characters")
    );
    let long = format!(r#"{{"title":"{}"}}"#, "x".repeat(201));
    assert_eq!(send(agent.post(&url("/todos")), Some(&long)).0, 422);
    let (status, body) = send(
        agent.post(&url("/todos")).set("Content-Type", "text/plain"),
        None,
    );
    assert_eq!(status, 415);
    assert!(json_of(&body)["error"].is_string());
    let (status, body) = send(agent.get(&url("/nothing")), None);
    assert_eq!(
        (status, json_of(&body)),
        (404, json!({"error": "no such route"}))
    );
    assert_eq!(send(agent.delete(&url("/todos")), None).0, 405);
}

mod common;

#[test]
fn middleware_example_logs_authenticates_compresses_and_answers_preflights() {
    use common::{curl, preflight};
    use std::time::Duration;
    let server = start("middleware");
    let url = server.url("/report");

    let r = curl(&[&url]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="osprey example", charset="UTF-8""#)
    );
    assert_eq!(curl(&["-u", "admin:wrong", &url]).status, 401);
    assert_eq!(curl(&["-u", "root:secret", &url]).status, 401);

    for coding in ["gzip", "br", "zstd"] {
        let r = curl(&[
            "-u",
            "admin:secret",
            "--compressed",
            "-H",
            &format!("Accept-Encoding: {coding}"),
            &url,
        ]);
        assert_eq!(r.status, 200, "{coding}");
        assert_eq!(r.header("content-encoding"), Some(coding));
        let days = json_of(&r.text());
        assert_eq!(
            days.as_array().unwrap().len(),
            200,
            "{coding}: decoded by curl"
        );
        assert_eq!(days[41], json!({"day": 42, "visits": 554, "status": "ok"}));
    }
    let r = curl(&["-u", "admin:secret", &server.url("/")]);
    assert_eq!(r.text(), "signed in as admin\n");

    // A preflight without credentials gets CORS headers, not a 401.
    let r = preflight(&url, "https://app.example", "GET", Some("authorization"));
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // The actual cross-origin request carries them too.
    let r = curl(&[
        "-u",
        "admin:secret",
        "-H",
        "Origin: https://app.example",
        &server.url("/"),
    ]);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    // Combined Log Format lines on stdout, 401s included; the user is named
    // once authenticated.
    let mut lines = Vec::new();
    while let Some(line) = server.next_line(Duration::from_secs(5)) {
        lines.push(line);
        if lines.len() == 9 {
            break;
        }
    }
    assert_eq!(lines.len(), 9, "{lines:#?}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(
        lines[0].contains(r#""GET /report HTTP/1.1" 401 "#),
        "{}",
        lines[0]
    );
    assert!(lines[3].starts_with("127.0.0.1 - admin ["), "{}", lines[3]);
    assert!(
        lines[3].contains(r#""GET /report HTTP/1.1" 200 "#),
        "{}",
        lines[3]
    );
    assert!(
        lines[7].contains(r#""OPTIONS /report HTTP/1.1" 204 "#),
        "{}",
        lines[7]
    );
}

/// Every example can serve HTTPS (`--tls-cert`/`--tls-key`), which is how
/// `bench/tls.sh` runs `hello` over TLS.
#[test]
fn hello_example_serves_https() {
    let ca = osprey_testkit::tls::TestCa::new("Examples CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["localhost"]).write(dir.path(), "hello");
    let ca_file = ca.write_ca(dir.path());
    let server = ServerProcess::start(
        &example("hello"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert", ca_file.to_str().unwrap()])
        .arg(format!("https://localhost:{}/", server.addr.port()))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!");
}
