//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; also
//! compiled for this crate's tests, which check the same properties on
//! chosen inputs).
//!
//! [`tls_connection`] drives one connection of a TLS listener — the real
//! driver, transport and HTTP/1.1 machine, over an in-memory socket — with
//! bytes an attacker chooses, before and during the handshake. The
//! properties: it never panics, the handler never runs (a request is only
//! ever read from decrypted records, and no handshake can complete without
//! a real client's keys), and nothing but TLS records — or, for input that
//! begins like plain HTTP, the fixed plaintext 400 — is ever written.

use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use osprey_web::{ConnectionInfo, Request, Response, Timer};

use crate::config::Config;
use crate::conn::{Connection, Env, Readiness, Turn};
use crate::machine::{Offload, Pools};
use crate::service::Service;
use crate::timers::Timers;
use crate::tls::TlsConfig;
use crate::transport::{AnyTransport, Io};

/// The certificate of the fuzzed listener (self-signed, for `fuzz.test`).
pub const CERT_PEM: &str = include_str!("fuzz.crt");
/// Its private key.
pub const KEY_PEM: &str = include_str!("fuzz.key");

/// What the handler answers: it must never reach the socket, encrypted or
/// not, in this harness.
const SECRET: &str = "SECRET-PLAINTEXT-ANSWER";

static HANDLER_RAN: AtomicBool = AtomicBool::new(false);

/// An in-memory socket: the peer's bytes arrive `step` at a time.
struct Memory<'a> {
    input: &'a [u8],
    /// How much of `input` the "network" has delivered so far.
    delivered: usize,
    read: usize,
    written: Vec<u8>,
}

impl Io for Memory<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read == self.input.len() {
            return Ok(0);
        }
        let available = &self.input[self.read..self.delivered];
        if available.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.read += n;
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>], _more: bool) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.written.extend_from_slice(b);
            n += b.len();
        }
        Ok(n)
    }
    fn sendfile(&mut self, _: &std::fs::File, _: u64, _: u64) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct NoWorkers;

impl Offload for NoWorkers {
    fn spawn(&mut self, _job: Box<dyn FnOnce() + Send>) -> Result<(), ()> {
        Err(())
    }
}

struct Fixture {
    tls: TlsConfig,
    service: Service,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tls = TlsConfig::builder()
            .cert_pem(CERT_PEM, KEY_PEM)
            .build()
            .expect("the fuzzing certificate");
        let handler = |_: &mut Request| {
            HANDLER_RAN.store(true, Ordering::SeqCst);
            Response::text(SECRET)
        };
        Fixture {
            tls,
            service: Service::new(Arc::new(handler), Config::default()),
        }
    })
}

/// What one fuzzed connection did.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the server wrote.
    pub written: Vec<u8>,
    /// Whether the handler was called.
    pub handler_ran: bool,
    /// Whether the connection ended (closed or lingering).
    pub ended: bool,
}

/// Runs a TLS connection over `data` (layout `[step] bytes…`: the bytes are
/// delivered `step + 1` at a time, a turn of the driver after each) and
/// returns what it did, without checking anything.
pub fn run_tls_connection(data: &[u8]) -> Outcome {
    let fixture = fixture();
    let (step, input) = match data.split_first() {
        Some((&s, rest)) => (s as usize + 1, rest),
        None => (1, data),
    };
    HANDLER_RAN.store(false, Ordering::SeqCst);
    let config = &fixture.service.config;
    let now = Instant::now();
    let addr = "127.0.0.1:443".parse().expect("address");
    let transport =
        AnyTransport::for_listener(Some(&fixture.tls), config).expect("a TLS connection");
    let mut conn = Connection::new(transport, ConnectionInfo::new(addr, addr), now);
    let mut socket = Memory {
        input,
        delivered: 0,
        read: 0,
        written: Vec::new(),
    };
    let mut pools = Pools::default();
    let timer = Timer::new(Timers::for_thread());
    let make_waker = Waker::noop;
    let mut ended = false;
    // Deliver, turn; then turns until nothing moves (bounded).
    let rounds = input.len() / step + 4;
    for _ in 0..rounds {
        socket.delivered = (socket.delivered + step).min(input.len());
        let mut env = Env {
            service: &fixture.service,
            date: b"Thu, 01 Jan 2026 00:00:00 GMT",
            now: now + Duration::from_millis(1),
            workers: &mut NoWorkers,
            event_loop: true,
            pools: &mut pools,
            timer: &timer,
            make_waker: &|| make_waker().clone(),
        };
        let mut ready = Readiness {
            readable: true,
            writable: true,
            closed: socket.delivered == input.len(),
        };
        match conn.turn(&mut socket, &mut env, &mut ready) {
            Turn::Closed => {
                ended = true;
                break;
            }
            Turn::Wait { .. } | Turn::Requeue => {}
        }
    }
    conn.release(&mut pools, config);
    Outcome {
        written: socket.written,
        handler_ran: HANDLER_RAN.load(Ordering::SeqCst),
        ended,
    }
}

/// The fuzz target: runs [`run_tls_connection`] and panics if a property
/// fails (see the module's doc).
pub fn tls_connection(data: &[u8]) {
    let outcome = run_tls_connection(data);
    assert!(
        !outcome.handler_ran,
        "a request was served before any handshake"
    );
    let written = &outcome.written;
    if written.starts_with(b"HTTP/1.1 400") {
        assert_eq!(
            written.as_slice(),
            crate::transport::tls::PLAIN_HTTP_REFUSAL,
            "plaintext other than the refusal"
        );
        let first = data.get(1).copied().unwrap_or(0);
        assert!(
            first.is_ascii_uppercase(),
            "refused input that did not look like HTTP"
        );
        return;
    }
    assert_only_records(written);
}

/// Panics unless `bytes` is a sequence of TLS records (RFC 8446 §5.1:
/// content type, legacy version, length ≤ 2^14 + 256), the last possibly
/// cut short by the end of the run.
fn assert_only_records(mut bytes: &[u8]) {
    while bytes.len() >= 5 {
        let (kind, version, len) = (
            bytes[0],
            u16::from_be_bytes([bytes[1], bytes[2]]),
            u16::from_be_bytes([bytes[3], bytes[4]]) as usize,
        );
        assert!(
            (20..=23).contains(&kind),
            "not a TLS record: content type {kind} in {bytes:02x?}"
        );
        assert!(
            version == 0x0303 || version == 0x0301,
            "record version {version:#06x}"
        );
        assert!(len <= (1 << 14) + 256, "record of {len} bytes");
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the handler's answer in clear"
        );
        bytes = &bytes[(5 + len).min(bytes.len())..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real client's first flight (its ClientHello).
    fn client_hello() -> Vec<u8> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        use rustls_pki_types::pem::PemObject;
        roots
            .add(rustls_pki_types::CertificateDer::from_pem_slice(CERT_PEM.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut client =
            rustls::ClientConnection::new(Arc::new(config), "fuzz.test".try_into().unwrap())
                .unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        hello
    }

    #[test]
    fn client_hello_gets_a_server_flight_and_nothing_in_clear() {
        let hello = client_hello();
        for step in [0u8, 7, 255] {
            let data = [&[step][..], &hello].concat();
            let outcome = run_tls_connection(&data);
            assert!(!outcome.handler_ran);
            // ServerHello: a handshake record.
            assert_eq!(outcome.written.first(), Some(&22), "step {step}");
            tls_connection(&data);
        }
    }

    #[test]
    fn plain_http_gets_the_refusal_only() {
        let data = b"\x03GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let outcome = run_tls_connection(data);
        assert_eq!(outcome.written, crate::transport::tls::PLAIN_HTTP_REFUSAL);
        assert!(outcome.ended && !outcome.handler_ran);
        tls_connection(data);
    }

    #[test]
    fn garbage_before_and_during_the_handshake() {
        let hello = client_hello();
        // A small deterministic generator: the same inputs on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..300 {
            let len = (next() % 600) as usize;
            let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let data = match i % 3 {
                // Noise alone.
                0 => [&[next() as u8][..], &noise].concat(),
                // A ClientHello, then noise where the client's next flight goes.
                1 => [&[next() as u8][..], &hello, &noise].concat(),
                // A ClientHello with bytes flipped.
                _ => {
                    let mut h = hello.clone();
                    for _ in 0..4 {
                        let at = (next() as usize) % h.len();
                        h[at] ^= next() as u8 | 1;
                    }
                    [&[next() as u8][..], &h].concat()
                }
            };
            tls_connection(&data);
        }
    }

    #[test]
    fn the_harness_sees_an_answer_in_clear() {
        // The property checker itself can fail: plaintext in the output is
        // not a record sequence.
        let r = std::panic::catch_unwind(|| assert_only_records(b"HTTP/1.1 200 OK\r\n"));
        assert!(r.is_err());
    }
}
