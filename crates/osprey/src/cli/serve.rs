//! `osprey serve`: the folder as a [`StaticFiles`] handler behind the
//! middleware the flags ask for, on the chosen model.
//!
//! Middleware order, outermost first: the access log (so it records every
//! answer, 401s and preflights included), CORS (a preflight is answered
//! before authentication: browsers never send credentials with one), Basic
//! authentication, then compression nearest the files. With HTTPS, the
//! redirect of cleartext requests comes right after the log, and HSTS after
//! it (browsers ignore HSTS over plain HTTP anyway, RFC 6797 §8.1).

use std::path::Path;

use osprey::middleware::access_log::{AccessLog, LogFormat};
use osprey::middleware::auth::BasicAuth;
use osprey::middleware::compress::Compress;
use osprey::middleware::cors::Cors;
use osprey::middleware::https_redirect::HttpsRedirect;
use osprey::middleware::security_headers::SecurityHeaders;
use osprey::{Config, Router, Server, StaticFiles};

use super::{LogFormatArg, ServeArgs};

/// Why serving failed.
pub enum Failure {
    /// Something the user asked for cannot be done (exit status 2).
    Usage(String),
    /// The server failed while running (exit status 1).
    Runtime(String),
}

pub(super) fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// How long `--hsts` tells browsers to use HTTPS only: one year, what
/// scanners expect for an A+ (and the HSTS preload list's minimum).
const HSTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// The handler for `args`: the folder and the middleware around it.
/// `https_port`: the port cleartext requests are redirected to, if any.
pub fn app(args: &ServeArgs, https_port: Option<u16>) -> Result<Router, Failure> {
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
    if let Some(port) = https_port {
        app = app.with(HttpsRedirect::to_port(port));
    }
    if args.tls.hsts {
        app = app.with(SecurityHeaders::new().hsts(HSTS_MAX_AGE));
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
    if let Some(d) = args.tls_handshake_timeout {
        config.tls_handshake_timeout = d;
    }
    config.h2c = args.h2c;
    config
}

/// Serves until SIGTERM or SIGINT (SIGHUP reloads certificates).
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let tls = args.tls.config()?;
    let mut builder = Server::builder().model(args.model).config(config(&args));
    for addr in &args.listen {
        builder = match &tls {
            Some((config, _)) => builder.listen_tls(*addr, config.clone()),
            None => builder.listen(*addr),
        };
    }
    if let Some(addr) = args.tls.redirect_http {
        builder = builder.listen(addr);
    }
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    let addrs = || {
        let all: Vec<String> = args
            .listen
            .iter()
            .chain(args.tls.redirect_http.iter())
            .map(|a| a.to_string())
            .collect();
        all.join(", ")
    };
    // The handler is set after binding: the redirect needs the port the
    // HTTPS listener got (port 0 picks one).
    let server = builder
        .bind()
        .map_err(|e| usage(format!("cannot listen on {}: {}", addrs(), describe(&e))))?;
    let https_port = tls
        .as_ref()
        .and(args.tls.redirect_http)
        .map(|_| server.local_addrs()[0].port());
    let server = server.handler(app(&args, https_port)?);
    let listeners = args.listen.len();
    for (i, addr) in server.local_addrs().iter().enumerate() {
        match (&tls, i < listeners) {
            (None, _) => println!("listening on http://{addr}"),
            (Some(_), true) => println!("listening on https://{addr}"),
            (Some(_), false) => println!("listening on http://{addr} (redirects to https)"),
        }
    }
    if let Some((_, notes)) = &tls {
        for note in notes {
            println!("{note}");
        }
    }
    println!(
        "serving {} with the {} model; press Ctrl+C to stop",
        args.dir.display(),
        server.model()
    );
    server.run().map_err(|e| Failure::Runtime(e.to_string()))
}
