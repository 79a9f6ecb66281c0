//! Uploads streamed to disk, never held in memory.
//!
//! `cargo run --release --example upload -- --dir /tmp/uploads --listen 127.0.0.1:8080`
//!
//! - `PUT /files/:name` writes the request body to `DIR/name` as it arrives
//!   and answers `201 Created` with `{"name": …, "bytes": …}` (`200 OK` when
//!   it replaced a file). The route streams its body and blocks (it writes a
//!   file), so it runs on a worker thread and reads the body with
//!   `std::io::Read`; the server stops reading the socket whenever the body's
//!   buffer is full, so a 1 GiB upload costs a few hundred KiB of memory. The
//!   body goes to a temporary file first and is renamed into place only once
//!   complete: an interrupted upload leaves nothing behind.
//! - `GET /files/:name` serves it back (sendfile).
//!
//! Names are letters, digits, `.`, `_` and `-`, not starting with `.`, at most
//! 255 bytes; anything else is a 400. `curl -T big.iso
//! http://127.0.0.1:8080/files/big.iso` uploads a file.

mod common;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use osprey::{blocking, streaming, Config, Error, Json, Request, Response, Router, Status};

#[derive(Parser)]
struct Options {
    /// Where uploads are stored (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Largest upload accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = 16 << 30)]
    max_upload: u64,
    #[command(flatten)]
    common: common::Args,
}

/// A file name that cannot leave the directory or hide in it.
fn safe_name(name: &str) -> Result<&str, Error> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(Error::bad_request(
            "a file name is letters, digits, '.', '_' and '-', not starting with '.'",
        ))
    }
}

/// Writes the body to a temporary file beside the target, then renames it.
fn store(dir: &Path, name: &str, body: &mut impl Read, seq: u64) -> io::Result<(u64, bool)> {
    let temp = dir.join(format!(".{name}.{}.{seq}.part", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])?;
            total += n as u64;
        }
        file.sync_data()?;
        let target = dir.join(name);
        let existed = target.exists();
        fs::rename(&temp, &target)?;
        Ok((total, existed))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn main() {
    let args = Options::parse();
    if let Err(e) = fs::create_dir_all(&args.dir) {
        eprintln!("upload: cannot create {}: {e}", args.dir.display());
        std::process::exit(2);
    }
    let dir: Arc<Path> = args.dir.into();
    let uploads = Arc::new(AtomicU64::new(0));

    let put_dir = dir.clone();
    let put = move |req: &mut Request| -> Result<Response, Error> {
        let name = safe_name(req.param("name").unwrap_or(""))?.to_string();
        let Some(mut body) = req.body_stream() else {
            return Err(Error::new(
                Status::LENGTH_REQUIRED,
                "send the file as the body",
            ));
        };
        let seq = uploads.fetch_add(1, Ordering::Relaxed);
        match store(&put_dir, &name, &mut body, seq) {
            Ok((bytes, replaced)) => {
                let status = if replaced {
                    Status::OK
                } else {
                    Status::CREATED
                };
                let json = Json(serde_json::json!({ "name": name, "bytes": bytes }));
                Ok(osprey::IntoResponse::into_response(json)
                    .with_status(status)
                    .header("Location", format!("/files/{name}")))
            }
            // The client went away or broke the framing: the server answers
            // (or has closed) already; nothing was stored.
            Err(e) => Err(Error::bad_request(format!("upload incomplete: {e}"))),
        }
    };
    let get_dir = dir.clone();
    let get = move |req: &mut Request| -> Result<Response, Error> {
        let name = safe_name(req.param("name").unwrap_or(""))?;
        Response::file(get_dir.join(name))
            .map_err(|_| Error::new(Status::NOT_FOUND, "no such file"))
    };
    let app = Router::new()
        .put("/files/:name", blocking(streaming(put)))
        .get("/files/:name", get);

    let mut config = Config::default();
    config.limits.max_body = args.max_upload;
    args.common.serve("upload", app, config);
}
