//! A chat room over WebSocket: `examples/www` as static files (with
//! `chat.html`, the room's page) and `/ws?name=NAME`, the room. Every text
//! message a member sends goes to every member, the sender included, as
//! `NAME: TEXT`; joins and departures are announced as `* NAME joined` and
//! `* NAME left`.
//!
//! `cargo run --release --example chat -- --listen 127.0.0.1:8080`, then open
//! <http://127.0.0.1:8080/chat.html> in two windows.
//!
//! Slow clients: messages are handed to each member through its
//! `websocket::Sender`, whose queue is bounded (`--send-queue`, default
//! `osprey::websocket::SEND_QUEUE`). A member whose queue is full — it is not
//! reading what the room sends — is disconnected with 1008 (policy
//! violation, "too slow") and leaves the room, so it never holds the others
//! up nor grows the server's memory: the room stays as fast as its fastest
//! readers. Dropping messages instead would leave that member with a silent
//! gap in the conversation; a closed connection is something its page can
//! show and recover from by reconnecting.
//!
//! The room lives in this process's memory: it needs a model where every
//! connection shares it (`threads`, `epoll`, `reactor`). Under `fork` every
//! connection is a room of its own, and `iterative` serves one at a time.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Parser;
use osprey::websocket::{
    CloseCode, Conn, DeflateSettings, Message, Sender, Settings, TrySendError, WsHandler,
};
use osprey::{Config, Request, Router, StaticFiles};

#[derive(Parser)]
struct ChatArgs {
    #[command(flatten)]
    common: common::Args,
    /// The folder served as static files (with chat.html).
    #[arg(long, default_value = "examples/www")]
    dir: PathBuf,
    /// Messages queued for one member before it counts as too slow.
    #[arg(long, default_value_t = osprey::websocket::SEND_QUEUE)]
    send_queue: usize,
    /// Largest message accepted from a member, in bytes (1009 beyond).
    #[arg(long, default_value_t = 64 * 1024)]
    max_message: usize,
    /// Decline permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
}

/// Longest name kept (longer ones are cut).
const MAX_NAME: usize = 32;

/// The members: id, name, and the handle to send to them.
#[derive(Default)]
struct Room {
    members: Vec<(u64, String, Sender)>,
    next_id: u64,
}

impl Room {
    /// Sends `text` to every member; a member too slow to take it is
    /// disconnected (1008) and removed, and the others are told. Never
    /// waits: `try_send` only queues.
    fn broadcast(&mut self, text: &str) {
        let mut notice = Some(text.to_owned());
        while let Some(text) = notice.take() {
            let mut slow = Vec::new();
            self.members
                .retain(|(_, name, sender)| match sender.try_send(text.as_str()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        sender.close(CloseCode::POLICY, "too slow");
                        slow.push(name.clone());
                        false
                    }
                    Err(TrySendError::Closed(_)) => false,
                });
            if !slow.is_empty() {
                notice = Some(format!("* {} too slow, disconnected", slow.join(", ")));
            }
        }
    }
}

/// One member's connection.
struct Member {
    id: u64,
    name: String,
    room: Arc<Mutex<Room>>,
}

impl Member {
    fn say(&self, text: &str) {
        let mut room = self.room.lock().unwrap_or_else(|e| e.into_inner());
        room.broadcast(text);
    }
}

impl WsHandler for Member {
    fn on_open(&mut self, ws: &mut Conn<'_>) {
        {
            let mut room = self.room.lock().unwrap_or_else(|e| e.into_inner());
            room.members.push((self.id, self.name.clone(), ws.sender()));
        }
        self.say(&format!("* {} joined", self.name));
    }

    fn on_message(&mut self, ws: &mut Conn<'_>, message: Message) {
        match message {
            Message::Text(text) => self.say(&format!("{}: {}", self.name, text)),
            Message::Binary(_) => {
                // RFC 6455 §7.4.1: 1003, a type of data we do not accept.
                let _ = ws.close(CloseCode::UNSUPPORTED, "text only");
            }
        }
    }

    fn on_close(&mut self, _: Option<CloseCode>, _: &str) {
        let was_member = {
            let mut room = self.room.lock().unwrap_or_else(|e| e.into_inner());
            let before = room.members.len();
            room.members.retain(|(id, _, _)| *id != self.id);
            room.members.len() != before
        };
        if was_member {
            self.say(&format!("* {} left", self.name));
        }
    }
}

fn main() {
    let args = ChatArgs::parse();
    let settings = Settings {
        max_message: args.max_message,
        max_frame: args.max_message as u64,
        deflate: DeflateSettings {
            enabled: !args.no_deflate,
            ..DeflateSettings::default()
        },
        ..Settings::default()
    };
    let files = StaticFiles::new(&args.dir).unwrap_or_else(|e| {
        eprintln!("chat: cannot serve {}: {e}", args.dir.display());
        std::process::exit(2);
    });
    let room = Arc::new(Mutex::new(Room::default()));
    let send_queue = args.send_queue;
    let app = Router::new()
        .get("/ws", move |req: &mut Request| -> osprey::Response {
            let upgrade = match osprey::websocket::Upgrade::from_request(req) {
                Ok(u) => u,
                Err(refusal) => return refusal,
            };
            let mut name: String = req
                .query_get("name")
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME)
                .collect();
            if name.trim().is_empty() {
                name = "anonymous".into();
            }
            let id = {
                let mut r = room.lock().unwrap_or_else(|e| e.into_inner());
                r.next_id += 1;
                r.next_id
            };
            upgrade
                .settings(settings)
                .send_queue(send_queue)
                .accept(Member {
                    id,
                    name,
                    room: room.clone(),
                })
        })
        .fallback(files);
    args.common.serve("chat", app, Config::default());
}
