//! Errors a handler returns, and what turns into a response.
//!
//! A handler may return anything that is [`IntoResponse`]: a [`Response`], a
//! [`Status`], text, [`Json`], [`Html`], or a `Result` of two of those — so `?`
//! works inside handlers. [`Error`] is the error type the request helpers
//! return (`req.json()` gives 400 or 415); its reply is a short text naming
//! the status and what was wrong, never the offending input.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::Serialize;

use crate::response::Response;
use osprey_proto::Status;

/// An error with the status it should be answered with.
///
/// ```
/// use osprey_web::{Error, IntoResponse, Status};
/// let resp = Error::new(Status::UNPROCESSABLE_CONTENT, "title is empty").into_response();
/// assert_eq!(resp.status, Status::UNPROCESSABLE_CONTENT);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: Cow<'static, str>,
}

impl Error {
    /// An error answered with `status` and a one-line `message`.
    pub fn new(status: Status, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(Status::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found() -> Error {
        Error::new(Status::NOT_FOUND, "")
    }

    /// The status this error is answered with.
    pub fn status(&self) -> Status {
        self.status
    }

    /// What was wrong (may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.status, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// An I/O error inside a handler is the server's problem: 500, and the details
/// stay in the server (they may name paths).
impl From<std::io::Error> for Error {
    fn from(_: std::io::Error) -> Error {
        Error::new(Status::INTERNAL_SERVER_ERROR, "")
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Error {
        Error::new(status, "")
    }
}

/// Anything a handler may return.
pub trait IntoResponse {
    /// Converts into the response to send.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    #[inline]
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let text = format!("{self}\n");
        Response::text(text).with_status(self.status)
    }
}

/// The status with its reason phrase as a text body.
impl IntoResponse for Status {
    fn into_response(self) -> Response {
        Response::status_text(self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl<T: IntoResponse> IntoResponse for (Status, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    #[inline]
    fn into_response(self) -> Response {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// A value sent as `application/json` (serde_json).
///
/// ```
/// use osprey_web::{IntoResponse, Json};
/// let resp = Json(serde_json::json!({"id": "42"})).into_response();
/// assert_eq!(resp.headers.get("content-type").unwrap().as_bytes(), b"application/json");
/// ```
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(&self.0)
    }
}

/// Text sent as `text/html; charset=utf-8`.
pub struct Html<T>(pub T);

impl<T: Into<Bytes>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        Response::html(self.0)
    }
}
