//! Command-line parsing (clap) and the two commands.

mod serve;
mod tls;
mod units;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use units::{parse_duration, parse_size};

/// Exit status for errors in what the user asked for.
const USAGE_ERROR: i32 = 2;

/// A fast, strict HTTP server written from raw sockets up.
#[derive(Parser)]
#[command(name = "osprey", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a folder over HTTP or HTTPS (GET and HEAD, ranges, validators,
    /// precompressed files, optional listing, compression, CORS and auth).
    Serve(Box<ServeArgs>),
    /// Read a password from stdin and print a hash for `serve --auth USER:HASH`
    /// (argon2id by default).
    HashPassword(HashArgs),
}

/// `osprey serve` options. Limits and timeouts default to the values listed in
/// docs/security.md.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The folder to serve.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Address to listen on (repeatable; port 0 picks a free port and prints it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: Vec<std::net::SocketAddr>,
    /// Concurrency model: iterative, fork, threads, epoll or reactor.
    #[arg(long, default_value = "reactor")]
    pub model: osprey::Model,
    /// Event loops for the reactor model (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// List the contents of folders that have no index file (HTML, or JSON with ?format=json).
    #[arg(long)]
    pub browse: bool,
    /// Single-page app: paths that match no file are answered with the root index.html.
    #[arg(long)]
    pub spa: bool,
    /// The file served for a folder.
    #[arg(long, value_name = "NAME", default_value = "index.html")]
    pub index: String,
    /// Serve dotfiles (hidden by default: 404).
    #[arg(long)]
    pub hidden: bool,
    /// A Cache-Control rule, PATTERN=VALUE (repeatable; first match wins), e.g.
    /// '/assets/**=public, max-age=31536000, immutable' or '*.html=no-cache'.
    #[arg(long = "cache-control", value_name = "PATTERN=VALUE")]
    pub cache_control: Vec<String>,
    /// Compress responses on the fly (gzip, br, zstd) for clients that accept it.
    #[arg(long)]
    pub compress: bool,
    /// Where to write the access log: a file, or stdout when given without a path.
    /// Without this flag requests are logged to stdout.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "-")]
    pub access_log: Option<String>,
    /// Do not log requests.
    #[arg(long, conflicts_with = "access_log")]
    pub quiet: bool,
    /// Access log format.
    #[arg(long, value_enum, default_value = "common")]
    pub log_format: LogFormatArg,
    /// Allow cross-origin requests from ORIGIN (repeatable; '*' for any).
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Vec<String>,
    /// Require HTTP Basic authentication: USER:HASH with a hash from
    /// `osprey hash-password` (argon2 or bcrypt; repeatable).
    #[arg(long, value_name = "USER:HASH")]
    pub auth: Vec<String>,
    /// Largest request body, e.g. 8M (served files never need one; uploads would).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_body: Option<u64>,
    /// Connections held at once.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Time for a client to send a request head, e.g. 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub header_timeout: Option<std::time::Duration>,
    /// How long an idle keep-alive connection is kept, e.g. 15s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub keep_alive_timeout: Option<std::time::Duration>,
    /// How long a write may make no progress before the client is dropped, e.g. 30s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub write_timeout: Option<std::time::Duration>,
    /// How long shutdown waits for requests in flight, e.g. 30s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_grace: Option<std::time::Duration>,
    /// Time for a client to complete the TLS handshake, e.g. 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub tls_handshake_timeout: Option<std::time::Duration>,
    /// HTTP/2 with prior knowledge on cleartext listeners (h2c): on or off.
    #[arg(
        long,
        value_name = "on|off",
        value_parser = parse_on_off,
        default_value = "on",
        action = clap::ArgAction::Set
    )]
    pub h2c: bool,
    #[command(flatten)]
    pub tls: tls::TlsArgs,
}

/// `on` or `off`.
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

/// `--log-format` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormatArg {
    /// Common Log Format.
    Common,
    /// Combined Log Format (Common + Referer and User-Agent).
    Combined,
    /// One JSON object per line.
    Json,
}

#[derive(Args, Debug)]
struct HashArgs {
    /// Make a bcrypt hash instead of argon2id.
    #[arg(long)]
    bcrypt: bool,
}

/// Runs the command line; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    USAGE_ERROR
                } else {
                    0
                };
            }
            return fail(&one_line(&e.to_string()));
        }
    };
    match cli.command {
        Command::Serve(args) => match serve::run(*args) {
            Ok(()) => 0,
            Err(serve::Failure::Usage(msg)) => fail(&msg),
            Err(serve::Failure::Runtime(msg)) => {
                eprintln!("osprey: {msg}");
                1
            }
        },
        Command::HashPassword(args) => hash_password(args),
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{first} (see osprey --help)")
}

fn fail(message: &str) -> i32 {
    eprintln!("osprey: {message}");
    USAGE_ERROR
}

/// Reads one line (the password) from stdin and prints its hash.
fn hash_password(args: HashArgs) -> i32 {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    if stdin.lock().read_line(&mut line).is_err() {
        return fail("cannot read the password from stdin");
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return fail("the password is empty");
    }
    let hash = if args.bcrypt {
        osprey::middleware::auth::hash_password_bcrypt(password)
    } else {
        osprey::middleware::auth::hash_password(password)
    };
    println!("{hash}");
    0
}
