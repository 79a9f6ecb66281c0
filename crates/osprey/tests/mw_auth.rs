//! Authentication middleware over real sockets, spoken to with curl: Basic
//! with argon2 and bcrypt hashes (right password 200, wrong or missing 401
//! with the challenge), Bearer tokens, and CORS preflights answered without
//! credentials when CORS sits outside authentication.

mod common;

use common::{curl, preflight, TestServer};
use osprey::middleware::auth::{AuthUser, BasicAuth, BearerAuth};
use osprey::middleware::cors::Cors;
use osprey::{Request, Response, Router};

/// "wonderland" with argon2id at its cheapest parameters (m=64 KiB, t=1),
/// and "builder" with bcrypt cost 4, so the debug-build tests stay quick.
const ALICE_ARGON2: &str =
    "$argon2id$v=19$m=64,t=1,p=1$WBRoOhq5j5O3U4LpEGenYA$qBZzJdOGykMYd1N1iNgy4m+RUb8+qbxo8LTndy7F1a8";
const BOB_BCRYPT: &str = "$2b$04$EuijO0aBI/xndLM4Xv7WduRJPm66Gs4OIg4eUYKmv3s8Gvwv/OzH.";

const CHALLENGE: &str = r#"Basic realm="staff only", charset="UTF-8""#;

fn whoami(req: &mut Request) -> Response {
    let AuthUser(name) = req.extensions().get::<AuthUser>().expect("authenticated");
    Response::text(format!("hello {name}"))
}

fn basic_app() -> Router {
    let auth = BasicAuth::new("staff only")
        .user("alice", ALICE_ARGON2)
        .unwrap()
        .user("bob", BOB_BCRYPT)
        .unwrap();
    Router::new()
        .with(
            Cors::new()
                .allow_origin("https://app.example")
                .allow_headers(["Authorization"]),
        )
        .with(auth)
        .get("/me", whoami)
}

#[test]
fn right_passwords_pass_for_argon2_and_bcrypt_users() {
    let server = TestServer::start(basic_app());
    let r = curl(&["-u", "alice:wonderland", &server.url("/me")]);
    assert_eq!((r.status, r.text().as_str()), (200, "hello alice"));
    let r = curl(&["-u", "bob:builder", &server.url("/me")]);
    assert_eq!((r.status, r.text().as_str()), (200, "hello bob"));
    // Again: now from the cache of verified credentials, same answer.
    let r = curl(&["-u", "bob:builder", &server.url("/me")]);
    assert_eq!((r.status, r.text().as_str()), (200, "hello bob"));
}

#[test]
fn wrong_missing_and_malformed_credentials_get_401_with_the_challenge() {
    let server = TestServer::start(basic_app());
    let url = server.url("/me");
    let cases: [&[&str]; 6] = [
        &[],
        &["-u", "alice:builder"],
        &["-u", "bob:wonderland"],
        &["-u", "mallory:wonderland"],
        &["-H", "Authorization: Basic %%%not-base64"],
        &["-H", "Authorization: Basic YWxpY2U="], // "alice", no colon
    ];
    for args in cases {
        let mut all = args.to_vec();
        all.push(&url);
        let r = curl(&all);
        assert_eq!(r.status, 401, "{args:?}");
        assert_eq!(r.header("www-authenticate"), Some(CHALLENGE), "{args:?}");
        assert_eq!(r.text(), "Unauthorized\n", "{args:?}");
    }
}

#[test]
fn cors_outside_auth_answers_preflights_and_decorates_401s() {
    let server = TestServer::start(basic_app());
    let r = preflight(
        &server.url("/me"),
        "https://app.example",
        "GET",
        Some("authorization"),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization")
    );
    // The 401 carries the CORS fields, so the page's script can see it.
    let r = curl(&["-H", "Origin: https://app.example", &server.url("/me")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[test]
fn auth_alone_lets_preflights_through_to_the_app() {
    let app = Router::new()
        .with(BasicAuth::new("r").user("bob", BOB_BCRYPT).unwrap())
        .get("/me", whoami);
    let server = TestServer::start(app);
    let r = preflight(&server.url("/me"), "https://app.example", "GET", None);
    // The router's own OPTIONS answer, not a 401.
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );
    let r = curl(&["-X", "OPTIONS", &server.url("/me")]);
    assert_eq!(r.status, 401);
}

#[test]
fn bearer_tokens_over_a_socket() {
    let app = Router::new()
        .with(
            BearerAuth::new([("deployer", "t0k3n-abc")])
                .unwrap()
                .realm("ci"),
        )
        .get("/me", whoami);
    let server = TestServer::start(app);
    let r = curl(&["-H", "Authorization: Bearer t0k3n-abc", &server.url("/me")]);
    assert_eq!((r.status, r.text().as_str()), (200, "hello deployer"));
    let r = curl(&["-H", "Authorization: Bearer t0k3n-abd", &server.url("/me")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="ci", error="invalid_token""#)
    );
    let r = curl(&[&server.url("/me")]);
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some(r#"Bearer realm="ci""#))
    );
}
