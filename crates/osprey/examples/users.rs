//! The smallest routed app: `GET /users/:id` answers JSON.
//!
//! `cargo run --example users -- --listen 127.0.0.1:8080`, then
//! `curl http://127.0.0.1:8080/users/42` → `{"id":"42","name":"alice"}`.

mod common;

use osprey::{Json, Request, Router};
use serde::Serialize;

#[derive(Serialize)]
struct User {
    id: String,
    name: &'static str,
}

fn user(req: &mut Request) -> Json<User> {
    let id = req.param("id").unwrap_or_default().to_string();
    Json(User { id, name: "alice" })
}

fn main() {
    common::serve("users", Router::new().get("/users/:id", user));
}
