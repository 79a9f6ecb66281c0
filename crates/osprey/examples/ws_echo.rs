//! A WebSocket echo server: every text and binary message comes back as it
//! was sent, on any path. permessage-deflate (RFC 7692) is accepted when the
//! client offers it, unless `--no-deflate`.
//!
//! `cargo run --release --example ws_echo -- --listen 127.0.0.1:9001 --model reactor`
//!
//! Options besides the shared ones (`--listen`, `--model`, `--workers`,
//! `--tls-cert`/`--tls-key`): `--no-deflate`, `--max-message BYTES` (16 MiB by
//! default; larger messages close the connection with 1009),
//! `--ping-interval-ms` and `--pong-timeout-ms` (the server's keepalive, see
//! `osprey::config::WS_PING_INTERVAL`). A plain GET without the handshake gets
//! 426. Under the `iterative` model one client is served at a time.

mod common;

use std::time::Duration;

use clap::Parser;
use osprey::websocket::{self, Conn, DeflateSettings, Message, Settings};
use osprey::{Config, Request};

#[derive(Parser)]
struct EchoArgs {
    #[command(flatten)]
    common: common::Args,
    /// Decline permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = osprey::websocket::limits::MAX_MESSAGE)]
    max_message: usize,
    /// Ping a client silent for this long (milliseconds).
    #[arg(long)]
    ping_interval_ms: Option<u64>,
    /// Close a client that answers nothing this long after a ping.
    #[arg(long)]
    pong_timeout_ms: Option<u64>,
}

fn main() {
    let args = EchoArgs::parse();
    let settings = Settings {
        max_message: args.max_message,
        max_frame: args.max_message as u64,
        deflate: DeflateSettings {
            enabled: !args.no_deflate,
            ..DeflateSettings::default()
        },
        ..Settings::default()
    };
    let mut config = Config::default();
    if let Some(ms) = args.ping_interval_ms {
        config.ws_ping_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = args.pong_timeout_ms {
        config.ws_pong_timeout = Duration::from_millis(ms);
    }
    let echo = websocket::endpoint(|_: &mut Request| {
        |ws: &mut Conn<'_>, msg: Message| {
            let _ = ws.send(msg);
        }
    })
    .settings(settings);
    args.common.serve("ws_echo", echo, config);
}
