//! A JSON CRUD API over an in-memory store.
//!
//! `cargo run --example todo_api -- --listen 127.0.0.1:8080`
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /todos` | 200, every todo as a JSON array, in id order |
//! | `POST /todos` `{"title": "milk"}` | 201, the new todo, `Location: /todos/ID` |
//! | `GET /todos/:id` | 200, the todo; 404 if there is none |
//! | `PUT /todos/:id` `{"title": "…", "done": true}` | 200, the replaced todo |
//! | `PATCH /todos/:id` `{"done": true}` | 200, the updated todo |
//! | `DELETE /todos/:id` | 204; 404 if there is none |
//!
//! Errors are JSON too: `{"error": "…"}` with 400 for a body that is not JSON
//! or not the expected shape (415 when it is not `application/json`), 404 for
//! an unknown or non-numeric id, and 422 with the offending fields when the
//! values break the rules (a title of 1 to 200 characters).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use osprey::{Error, IntoResponse, Json, Request, Response, Router, Status};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Longest title accepted, in characters.
const MAX_TITLE: usize = 200;
/// Todos the store holds at most: an in-memory demo must not grow without bound.
const MAX_TODOS: usize = 10_000;

#[derive(Clone, Serialize)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

/// A create or replace body: every field the client may set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TodoInput {
    title: String,
    #[serde(default)]
    done: bool,
}

/// A PATCH body: any subset of the fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TodoPatch {
    title: Option<String>,
    done: Option<bool>,
}

/// An error answered as `{"error": …}` (and `fields` for 422).
struct ApiError {
    status: Status,
    body: serde_json::Value,
}

impl ApiError {
    fn not_found() -> ApiError {
        ApiError {
            status: Status::NOT_FOUND,
            body: json!({"error": "no such todo"}),
        }
    }

    fn invalid_title() -> ApiError {
        ApiError {
            status: Status::UNPROCESSABLE_CONTENT,
            body: json!({
                "error": "validation failed",
                "fields": {"title": format!("must be 1 to {MAX_TITLE} characters")},
            }),
        }
    }
}

/// The request helpers' errors (400, 415) keep their status, in JSON.
impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError {
            status: e.status(),
            body: json!({"error": e.message()}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Response::json(&self.body).with_status(self.status)
    }
}

#[derive(Default)]
struct Store {
    todos: BTreeMap<u64, Todo>,
    next_id: u64,
}

type Shared = Arc<Mutex<Store>>;

fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

fn valid_title(title: &str) -> bool {
    let n = title.trim().chars().count();
    (1..=MAX_TITLE).contains(&n)
}

fn id_of(req: &Request) -> Result<u64, ApiError> {
    req.param("id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(ApiError::not_found)
}

fn list(store: &Shared) -> Json<Vec<Todo>> {
    Json(lock(store).todos.values().cloned().collect())
}

fn create(store: &Shared, req: &Request) -> Result<Response, ApiError> {
    let input: TodoInput = req.json()?;
    if !valid_title(&input.title) {
        return Err(ApiError::invalid_title());
    }
    let mut store = lock(store);
    if store.todos.len() >= MAX_TODOS {
        return Err(ApiError {
            status: Status::CONFLICT,
            body: json!({"error": "the store is full"}),
        });
    }
    store.next_id += 1;
    let todo = Todo {
        id: store.next_id,
        title: input.title.trim().to_string(),
        done: input.done,
    };
    store.todos.insert(todo.id, todo.clone());
    Ok(Response::json(&todo)
        .with_status(Status::CREATED)
        .header("Location", format!("/todos/{}", todo.id)))
}

fn get(store: &Shared, req: &Request) -> Result<Json<Todo>, ApiError> {
    let id = id_of(req)?;
    lock(store)
        .todos
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

fn replace(store: &Shared, req: &Request) -> Result<Json<Todo>, ApiError> {
    let id = id_of(req)?;
    let input: TodoInput = req.json()?;
    if !valid_title(&input.title) {
        return Err(ApiError::invalid_title());
    }
    let mut store = lock(store);
    let todo = store.todos.get_mut(&id).ok_or_else(ApiError::not_found)?;
    todo.title = input.title.trim().to_string();
    todo.done = input.done;
    Ok(Json(todo.clone()))
}

fn update(store: &Shared, req: &Request) -> Result<Json<Todo>, ApiError> {
    let id = id_of(req)?;
    let patch: TodoPatch = req.json()?;
    if patch.title.as_deref().is_some_and(|t| !valid_title(t)) {
        return Err(ApiError::invalid_title());
    }
    let mut store = lock(store);
    let todo = store.todos.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(title) = patch.title {
        todo.title = title.trim().to_string();
    }
    if let Some(done) = patch.done {
        todo.done = done;
    }
    Ok(Json(todo.clone()))
}

fn delete(store: &Shared, req: &Request) -> Result<Status, ApiError> {
    let id = id_of(req)?;
    match lock(store).todos.remove(&id) {
        Some(_) => Ok(Status::NO_CONTENT),
        None => Err(ApiError::not_found()),
    }
}

/// The API's routes over one store.
fn app() -> Router {
    let store = Shared::default();
    // Each route gets its own handle on the store.
    let with = |f: fn(&Shared, &Request) -> Response| {
        let store = store.clone();
        move |req: &mut Request| f(&store, req)
    };
    Router::new()
        .get("/todos", with(|s, _| list(s).into_response()))
        .post("/todos", with(|s, r| create(s, r).into_response()))
        .get("/todos/:id", with(|s, r| get(s, r).into_response()))
        .put("/todos/:id", with(|s, r| replace(s, r).into_response()))
        .patch("/todos/:id", with(|s, r| update(s, r).into_response()))
        .delete("/todos/:id", with(|s, r| delete(s, r).into_response()))
        .fallback(|_: &mut Request| ApiError {
            status: Status::NOT_FOUND,
            body: json!({"error": "no such route"}),
        })
}

fn main() {
    common::serve("todo_api", app());
}
