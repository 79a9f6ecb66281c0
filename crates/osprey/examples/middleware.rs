//! Four built-in middleware on one app: an access log, CORS, Basic
//! authentication and compression.
//!
//! `cargo run --example middleware -- --listen 127.0.0.1:8080`, then
//!
//! ```sh
//! curl -u admin:secret --compressed http://127.0.0.1:8080/report   # 200, gzip/br/zstd
//! curl http://127.0.0.1:8080/report                                 # 401 with WWW-Authenticate
//! curl -X OPTIONS -H 'Origin: https://app.example' \
//!      -H 'Access-Control-Request-Method: GET' http://127.0.0.1:8080/report  # 204, no credentials
//! ```
//!
//! Every route needs the user `admin` with the password `secret`, stored here
//! as an argon2id hash (made with `osprey hash-password`), never as the
//! password itself. A CORS preflight is answered without credentials, as the
//! Fetch standard requires: browsers never send them with one. The order of
//! `with` calls is the onion's, outermost first: the log sees every answer
//! (401s and preflights included), CORS answers preflights before
//! authentication runs, and compression sits nearest the handlers.

mod common;

use osprey::middleware::access_log::{AccessLog, LogFormat};
use osprey::middleware::auth::{AuthUser, BasicAuth};
use osprey::middleware::compress::Compress;
use osprey::middleware::cors::Cors;
use osprey::{Json, Method, Request, Response, Router};

/// `admin`'s password, `secret`, as `osprey hash-password` prints it.
const ADMIN_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$HBAd7FuMNO9AYBe5rFDXNw$0tZC4ubE8LAwpAflPVuDQE1dHXCyt1SJPNv2kjXo2B4";

fn whoami(req: &mut Request) -> Response {
    let user = req
        .extensions()
        .get::<AuthUser>()
        .map_or("?", |u| u.0.as_str());
    Response::text(format!("signed in as {user}\n"))
}

/// A report long enough to be worth compressing.
fn report(_: &mut Request) -> Json<Vec<serde_json::Value>> {
    Json(
        (1..=200)
            .map(|day| serde_json::json!({ "day": day, "visits": day * 37 % 1000, "status": "ok" }))
            .collect(),
    )
}

fn app() -> Router {
    let auth = BasicAuth::new("osprey example")
        .user("admin", ADMIN_HASH)
        .expect("a valid argon2 hash");
    let cors = Cors::new()
        .allow_origin("https://app.example")
        .allow_methods([Method::Get, Method::Post])
        .allow_headers(["Authorization", "Content-Type"])
        .allow_credentials(true);
    Router::new()
        .with(AccessLog::stdout(LogFormat::Combined))
        .with(cors)
        .with(auth)
        .with(Compress::new())
        .get("/", whoami)
        .get("/report", report)
}

fn main() {
    common::serve("middleware", app());
}
