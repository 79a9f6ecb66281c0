//! `osprey serve`: the folder as a [`StaticFiles`] handler behind the
//! middleware the flags ask for, on the chosen model.
//!
//! Middleware order, outermost first: the access log (so it records every
//! answer, 401s and preflights included), CORS (a preflight is answered
//! before authentication: browsers never send credentials with one), Basic
//! authentication, then compression nearest the files.

use std::path::Path;

use osprey::middleware::access_log::{AccessLog, LogFormat};
use osprey::middleware::auth::BasicAuth;
use osprey::middleware::compress::Compress;
use osprey::middleware::cors::Cors;
use osprey::{Config, Router, Server, StaticFiles};

use super::{LogFormatArg, ServeArgs};

/// Why serving failed.
pub enum Failure {
    /// Something the user asked for cannot be done (exit status 2).
    Usage(String),
    /// The server failed while running (exit status 1).
    Runtime(String),
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// The handler for `args`: the folder and the middleware around it.
pub fn app(args: &ServeArgs) -> Result<Router, Failure> {
    let dir = &args.dir;
    let mut files = StaticFiles::new(dir)
        .map_err(|e| usage(format!("cannot serve {}: {}", dir.display(), describe(&e))))?
        .index(&args.index)
        .browse(args.browse)
        .spa(args.spa)
        .hidden(args.hidden);
    for rule in &args.cache_control {
        let (pattern, value) = rule
            .split_once('=')
            .ok_or_else(|| usage(format!("--cache-control `{rule}`: expected PATTERN=VALUE")))?;
        let value = value.trim();
        if osprey::HeaderValue::try_from(value).is_err() {
            return Err(usage(format!(
                "--cache-control `{rule}`: not a valid header value"
            )));
        }
        files = files.cache_control(pattern.trim(), value);
    }
    let mut app = Router::new();
    if !args.quiet {
        let format = match args.log_format {
            LogFormatArg::Common => LogFormat::Common,
            LogFormatArg::Combined => LogFormat::Combined,
            LogFormatArg::Json => LogFormat::Json,
        };
        let log = match args.access_log.as_deref() {
            None | Some("-") => AccessLog::stdout(format),
            Some(path) => AccessLog::file(Path::new(path), format).map_err(|e| {
                usage(format!(
                    "cannot open the access log {path}: {}",
                    describe(&e)
                ))
            })?,
        };
        app = app.with(log);
    }
    if !args.cors.is_empty() {
        let mut cors = Cors::new();
        for origin in &args.cors {
            cors = cors.allow_origin(origin);
        }
        app = app.with(cors);
    }
    if !args.auth.is_empty() {
        let mut auth = BasicAuth::new("osprey");
        for entry in &args.auth {
            let (user, hash) = entry.split_once(':').ok_or_else(|| {
                usage(format!(
                    "--auth: expected USER:HASH, got `{}`",
                    redact(entry)
                ))
            })?;
            auth = auth
                .user(user, hash)
                .map_err(|e| usage(format!("--auth for user `{user}`: {e}")))?;
        }
        app = app.with(auth);
    }
    if args.compress {
        app = app.with(Compress::new());
    }
    Ok(app.fallback(files))
}

/// A credential argument shown without its secret part.
fn redact(entry: &str) -> String {
    entry.chars().take(3).chain("…".chars()).collect()
}

/// An I/O error in a few words (no "(os error 2)").
fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such folder".into(),
        PermissionDenied => "permission denied".into(),
        AddrInUse => "the address is already in use".into(),
        AddrNotAvailable => "the address is not available on this machine".into(),
        NotADirectory => "not a folder".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

fn config(args: &ServeArgs) -> Config {
    let mut config = Config::default();
    if let Some(n) = args.max_body {
        config.limits.max_body = n;
    }
    if let Some(n) = args.max_connections {
        config.max_connections = n;
    }
    if let Some(d) = args.header_timeout {
        config.header_timeout = d;
    }
    if let Some(d) = args.keep_alive_timeout {
        config.keep_alive_timeout = d;
    }
    if let Some(d) = args.write_timeout {
        config.write_timeout = d;
    }
    if let Some(d) = args.shutdown_grace {
        config.shutdown_grace = d;
    }
    config
}

/// Serves until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let app = app(&args)?;
    let mut builder = Server::builder()
        .model(args.model)
        .config(config(&args))
        .handler(app);
    for addr in &args.listen {
        builder = builder.listen(*addr);
    }
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    let server = builder.bind().map_err(|e| {
        let addrs: Vec<String> = args.listen.iter().map(|a| a.to_string()).collect();
        usage(format!(
            "cannot listen on {}: {}",
            addrs.join(", "),
            describe(&e)
        ))
    })?;
    for addr in server.local_addrs() {
        println!("listening on http://{addr}");
    }
    println!(
        "serving {} with the {} model; press Ctrl+C to stop",
        args.dir.display(),
        server.model()
    );
    server.run().map_err(|e| Failure::Runtime(e.to_string()))
}
