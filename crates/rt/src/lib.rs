//! Osprey's runtime: every syscall and every `unsafe` block in the project.
//!
//! The protocol crates are sans-IO and the web layer never touches a socket; this
//! crate is where bytes meet the kernel. It offers:
//!
//! - [`net`]: listeners (IPv4/IPv6, `SO_REUSEADDR`, `SO_REUSEPORT`, backlog),
//!   accepted sockets with `TCP_NODELAY`, the fd limit;
//! - [`io`]: the socket interface transports write through ([`io::Io`]);
//! - [`sendfile`]: file ranges to a socket without a copy through user space;
//! - [`process`]: `fork`, reaping children, leaving a child without unwinding;
//! - [`signals`]: SIGTERM/SIGINT as a flag plus a pipe an event loop can poll;
//! - [`timer`]: a hashed timing wheel, one entry per connection, cheap resets;
//! - [`date`]: the `Date` header value, formatted once a second per thread;
//! - [`mem`]: giving freed heap memory back to the system after a burst;
//! - [`workers`]: a small pool of threads for blocking work;
//! - [`event`]: the mio event loop vocabulary (Poll, Registry, Token, Interest,
//!   Events, Waker), re-exported so the server depends on this crate alone.
//!
//! Each `unsafe` block carries a `// SAFETY:` comment.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod date;
pub mod io;
pub mod mem;
pub mod net;
pub mod process;
pub mod sendfile;
pub mod signals;
pub mod timer;
pub mod workers;

/// The event loop vocabulary: mio's five nouns and its network types.
pub mod event {
    pub use mio::event::{Event, Source};
    pub use mio::net::{TcpListener, TcpStream, UnixStream};
    pub use mio::unix::SourceFd;
    pub use mio::{Events, Interest, Poll, Registry, Token, Waker};
}
