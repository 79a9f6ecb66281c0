//! TLS over TCP: rustls's sans-IO connection between the socket and the
//! protocol machine.
//!
//! Ciphertext is read from the socket straight into rustls
//! (`read_tls`), decrypted (`process_new_packets`), and the plaintext is
//! handed to the machine. Output goes the other way: the machine's queue is
//! encrypted into records only once the records before it have reached the
//! socket, so a connection holds at most `Config::tls_buffer` of ciphertext
//! besides its plaintext output queue, and a file body is read
//! ([`FILE_PIECE`] at a time) only when the socket took the previous piece:
//! a 1 GiB file streams in flat memory, without `sendfile`, which cannot
//! encrypt.
//!
//! Before the handshake, the connection is [`Tls::handshake`]'s alone: the
//! driver runs no protocol machine until it completes, and nothing the
//! client sends is taken as a request until then. Two things are answered
//! that rustls would only meet with an alert: plain HTTP sent to the TLS port
//! gets a readable `400` (as nginx does), and a client that stalls the
//! handshake is cut by the handshake timeout (the driver's deadline).
//!
//! At the end: `close_notify` before our FIN (RFC 8446 §6.1), and a peer
//! that closes TCP without its `close_notify` has truncated the stream: the
//! read fails, so a body cut short is never taken as complete.

use std::io::{self, IoSlice, Read, Write};

use osprey_h1::Pending;
use osprey_web::TlsInfo;
use rustls::ServerConnection;

use super::{Flushed, Io, Out, Transport};

/// Largest piece of a file encrypted at once (one full TLS record's
/// plaintext, RFC 8446 §5.1).
const FILE_PIECE: usize = 16 * 1024;

/// What is sent to a client that speaks plain HTTP to the TLS port.
pub(crate) const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 73\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: use an https:// address to reach this server.\r\n\r\n";

/// A server-side TLS connection.
pub(crate) struct Tls {
    conn: ServerConnection,
    /// Nothing has been read yet: the first bytes are looked at before rustls
    /// sees them.
    first_read: bool,
    /// Our close_notify was queued.
    closed: bool,
    /// The peer's FIN was read.
    eof: bool,
    /// The last socket read came back short: what arrived has been taken.
    drained: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

/// The socket as rustls's writer.
struct Socket<'a>(&'a mut dyn Io);

/// The socket as rustls's reader, noting whether a read came back short
/// (the socket is empty for now: no need to ask again until it says so).
struct Reading<'a> {
    io: &'a mut dyn Io,
    short: bool,
}

impl Read for Reading<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.io.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_vectored(&[IoSlice::new(buf)], false)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs, false)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A TLS failure the peer has been told about (an alert, or the plain-HTTP
/// refusal): the driver lingers so that our answer is not lost to a reset.
fn refused(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Tls {
    /// A connection that will handshake with `config`, holding at most
    /// `buffer` bytes of records to send.
    pub fn new(config: std::sync::Arc<rustls::ServerConfig>, buffer: usize) -> io::Result<Tls> {
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(buffer));
        Ok(Tls {
            conn,
            first_read: true,
            closed: false,
            eof: false,
            drained: false,
        })
    }

    /// Writes queued records until done or the socket is full.
    fn flush(&mut self, io: &mut dyn Io) -> io::Result<(Flushed, u64)> {
        let mut written = 0u64;
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Socket(io)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if would_block(&e) => return Ok((Flushed::Blocked, written)),
                Err(e) => return Err(e),
            }
        }
        Ok((Flushed::All, written))
    }

    /// Reads ciphertext once and decrypts it. `Ok(false)`: nothing arrived.
    /// After the peer's FIN, rustls's plaintext reader tells a clean end
    /// (close_notify seen) from a truncation; during the handshake a FIN is
    /// an error.
    fn receive(&mut self, io: &mut dyn Io) -> io::Result<bool> {
        if self.first_read {
            return self.receive_first(io);
        }
        let mut socket = Reading { io, short: false };
        let n = loop {
            match self.conn.read_tls(&mut socket) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if would_block(&e) => {
                    self.drained = true;
                    return Ok(false);
                }
                other => break other?,
            }
        };
        self.drained = socket.short;
        if n == 0 {
            self.eof = true;
            if self.conn.is_handshaking() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.decrypt(io)?;
        Ok(true)
    }

    /// The first read: a TLS connection begins with a handshake record
    /// (content type 22, RFC 8446 §5.1); a client speaking plain HTTP begins
    /// with a method name, and is told in plain HTTP.
    fn receive_first(&mut self, io: &mut dyn Io) -> io::Result<bool> {
        let mut first = [0u8; 4096];
        let n = loop {
            match io.read(&mut first) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if would_block(&e) => return Ok(false),
                other => break other?,
            }
        };
        self.first_read = false;
        self.drained = n < first.len();
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if first[0].is_ascii_uppercase() {
            let _ = io.write_vectored(&[IoSlice::new(PLAIN_HTTP_REFUSAL)], false);
            return Err(refused("plain HTTP sent to a TLS port"));
        }
        let mut rest = &first[..n];
        while !rest.is_empty() {
            if self.conn.read_tls(&mut rest)? == 0 {
                break;
            }
            self.decrypt(io)?;
        }
        Ok(true)
    }

    /// Processes received records; on a TLS error, sends rustls's alert.
    fn decrypt(&mut self, io: &mut dyn Io) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.flush(io);
                Err(refused(e))
            }
        }
    }

    /// What the handshake settled, for the requests' `ConnectionInfo`.
    fn settled(&self) -> TlsInfo {
        let conn = &self.conn;
        let mut info = TlsInfo::default();
        info.server_name = conn.server_name().map(str::to_owned);
        info.alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        info.version = conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        });
        info.cipher_suite = conn.negotiated_cipher_suite().map(|s| {
            let name = s.suite().as_str().unwrap_or("unknown");
            // rustls names TLS 1.3 suites TLS13_*; IANA names them TLS_*.
            name.strip_prefix("TLS13_")
                .map_or_else(|| name.to_owned(), |rest| format!("TLS_{rest}"))
        });
        info.client_certificates = conn
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default();
        info
    }

    /// Encrypts output until the record buffer is full or the queue empty.
    fn encrypt(&mut self, out: &mut Out) -> io::Result<()> {
        loop {
            let taken = match out.front() {
                None => return Ok(()),
                Some(Pending::File { file, offset, len }) => {
                    let mut piece = [0u8; FILE_PIECE];
                    let want = len.min(FILE_PIECE as u64) as usize;
                    let n = osprey_rt::sendfile::read_at(file, &mut piece[..want], offset)?;
                    if n == 0 {
                        return Err(super::file_too_short());
                    }
                    self.conn.writer().write(&piece[..n])?
                }
                Some(Pending::Bytes(_)) => {
                    let mut slices = [IoSlice::new(&[]); 16];
                    let n = out.io_slices(&mut slices);
                    self.conn.writer().write_vectored(&slices[..n])?
                }
            };
            if taken == 0 {
                // The record buffer is full.
                return Ok(());
            }
            out.advance(taken as u64);
        }
    }
}

impl Transport for Tls {
    fn handshake(&mut self, io: &mut dyn Io) -> io::Result<bool> {
        loop {
            if let (Flushed::Blocked, _) = self.flush(io)? {
                // The client has our flight to read before it answers.
                return Ok(false);
            }
            if !self.conn.is_handshaking() {
                return Ok(true);
            }
            if !self.receive(io)? {
                return Ok(false);
            }
            if self.conn.is_handshaking() && !self.conn.wants_write() && !self.conn.wants_read() {
                return Err(refused("TLS handshake cannot proceed"));
            }
        }
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        Some(self.settled())
    }

    fn read(&mut self, io: &mut dyn Io, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            match self.conn.reader().read(&mut buf[filled..]) {
                // close_notify received and everything before it read: a
                // clean end of input.
                Ok(0) if filled == 0 => return Ok(0),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() || n == 0 {
                        return Ok(filled);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.eof => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if filled > 0 {
                        Ok(filled)
                    } else {
                        Err(io::ErrorKind::UnexpectedEof.into())
                    };
                }
                // TCP ended without close_notify: a truncated stream.
                Err(e) if filled == 0 => return Err(e),
                Err(_) => return Ok(filled),
            }
            // Post-handshake messages (tickets, key updates) may want out.
            if self.conn.wants_write() {
                self.flush(io)?;
            }
            // rustls decrypts every complete record it holds, so with no
            // plaintext left and the socket emptied by the last read, asking
            // the socket again would only return "nothing yet" (one syscall
            // per request saved).
            if self.drained && !self.eof {
                self.drained = false;
                return if filled > 0 {
                    Ok(filled)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            if !self.receive(io)? {
                return if filled > 0 {
                    Ok(filled)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
        }
    }

    fn write(&mut self, io: &mut dyn Io, out: &mut Out) -> io::Result<(Flushed, u64)> {
        let mut written = 0;
        loop {
            let (flushed, n) = self.flush(io)?;
            written += n;
            if flushed == Flushed::Blocked || out.is_empty() {
                return Ok((flushed, written));
            }
            self.encrypt(out)?;
        }
    }

    fn has_pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    fn goodbye(&mut self, io: &mut dyn Io) {
        if !self.closed && !self.conn.is_handshaking() {
            self.closed = true;
            self.conn.send_close_notify();
        }
        let _ = self.flush(io);
    }

    fn close_write(&mut self, io: &mut dyn Io) -> io::Result<()> {
        self.goodbye(io);
        io.shutdown_write()
    }
}
