//! Measures one rustls 0.23 crypto provider (ring or aws-lc-rs, chosen by the
//! cargo feature this binary was built with) for Osprey's TLS provider choice.
//! Client and server run fully in memory in one thread: bytes go through two
//! `Vec<u8>` buffers with `read_tls` / `process_new_packets` / `write_tls`, no
//! sockets. Every call into the server connection is timed (thread CPU time from
//! `CLOCK_THREAD_CPUTIME_ID`, and wall time), so the "server" figures count only
//! the server's work; the "total" figures are the whole round (client + server).
//! One invocation runs one timed round per scenario asked for and prints one TSV
//! line per scenario; `run.sh` interleaves invocations of the two binaries and
//! `report.py` turns the lines into RESULTS.md.

#[cfg(all(feature = "ring", feature = "aws-lc-rs"))]
compile_error!("enable exactly one of the features `ring` and `aws-lc-rs`, not both");
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("enable one of the features `ring` or `aws-lc-rs`");

use std::io::{self, Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig, ServerConnection,
    SupportedCipherSuite, SupportedProtocolVersion,
};

#[cfg(feature = "aws-lc-rs")]
use rustls::crypto::aws_lc_rs as provider;
#[cfg(feature = "ring")]
use rustls::crypto::ring as provider;

#[cfg(feature = "aws-lc-rs")]
const PROVIDER: &str = "aws-lc-rs";
#[cfg(feature = "ring")]
const PROVIDER: &str = "ring";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Bulk scenarios move this much plaintext from server to client per
/// connection, and use `BULK_CONNS` connections per round (~1 s per round).
const BULK_BYTES: usize = 256 << 20;
const BULK_CONNS: u32 = 4;
/// ... in application writes of this size (one full TLS record each).
const BULK_WRITE: usize = 16 << 10;

// ---------------------------------------------------------------------------
// Timing

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Time accumulated inside server calls.
#[derive(Default)]
struct ServerTime {
    cpu: Duration,
    wall: Duration,
    /// Number of timed sections, to judge the timer's own overhead.
    sections: u64,
}

impl ServerTime {
    fn timed<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // The slow CPU-clock syscalls go outside the (cheap, vDSO) wall reads,
        // so the wall figure carries almost no timer cost.
        let c0 = thread_cpu();
        let w0 = Instant::now();
        let r = f();
        let w1 = Instant::now();
        let c1 = thread_cpu();
        self.cpu += c1 - c0;
        self.wall += w1 - w0;
        self.sections += 1;
        r
    }
}

/// What the timer itself costs, measured on empty sections just before a
/// round (`CLOCK_THREAD_CPUTIME_ID` is a real syscall on this VM, ~0.4 us).
#[derive(Clone, Copy)]
struct TimerCost {
    /// CPU time an empty section reports: the timer's bias inside each section.
    inside: Duration,
    /// Thread CPU time one whole empty `timed` call takes: its bias on the total.
    whole: Duration,
}

fn timer_cost() -> TimerCost {
    const N: u32 = 50_000;
    let mut t = ServerTime::default();
    let c0 = thread_cpu();
    for _ in 0..N {
        t.timed(|| std::hint::black_box(()));
    }
    let whole = (thread_cpu() - c0) / N;
    TimerCost {
        inside: t.cpu / N,
        whole,
    }
}

// ---------------------------------------------------------------------------
// Certificates

struct Creds {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca: CertificateDer<'static>,
}

fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "tls-provider-bench CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

/// A CA and a leaf for "localhost", both with keys from `make_key`.
fn make_creds(make_key: &dyn Fn() -> Result<KeyPair>) -> Result<Creds> {
    let ca_key = make_key()?;
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = make_key()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    Ok(Creds {
        chain: vec![leaf_cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        ca: ca_cert.der().clone(),
    })
}

fn ecdsa_p256_key() -> Result<KeyPair> {
    Ok(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?)
}

/// RSA-2048 key. rcgen cannot generate RSA keys with its ring backend, so for
/// both providers alike the key comes from `openssl genpkey` (PKCS#8 PEM on its
/// stdout, nothing written to disk) and rcgen only loads it.
fn rsa_2048_key() -> Result<KeyPair> {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .map_err(|e| format!("running `openssl genpkey` for the RSA-2048 key: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let pem = String::from_utf8(out.stdout)?;
    Ok(KeyPair::from_pem_and_sign_algo(
        &pem,
        &rcgen::PKCS_RSA_SHA256,
    )?)
}

// ---------------------------------------------------------------------------
// Configurations

fn crypto(
    suites: Option<Vec<SupportedCipherSuite>>,
    kx: Vec<&'static dyn SupportedKxGroup>,
) -> Arc<CryptoProvider> {
    let base = provider::default_provider();
    Arc::new(CryptoProvider {
        cipher_suites: suites.unwrap_or(base.cipher_suites.clone()),
        kx_groups: kx,
        ..base
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Resume {
    /// No session state anywhere: every handshake is a full one.
    None,
    /// TLS 1.3 stateless tickets from the provider's `Ticketer`.
    Tickets,
    /// TLS 1.2 session IDs in a `ServerSessionMemoryCache`.
    SessionCache,
}

struct Setup {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
    expect: HandshakeKind,
}

fn setup(
    creds: &Creds,
    versions: &[&'static SupportedProtocolVersion],
    suites: Option<Vec<SupportedCipherSuite>>,
    kx: Vec<&'static dyn SupportedKxGroup>,
    resume: Resume,
) -> Result<Setup> {
    let crypto = crypto(suites, kx);

    let mut server = ServerConfig::builder_with_provider(crypto.clone())
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(creds.chain.clone(), creds.key.clone_key())?;
    match resume {
        Resume::None => {
            server.session_storage = Arc::new(NoServerSessionStorage {});
            server.send_tls13_tickets = 0;
        }
        Resume::Tickets => {
            server.session_storage = Arc::new(NoServerSessionStorage {});
            server.ticketer = provider::Ticketer::new()?;
            // One fresh ticket per connection: a TLS 1.3 client uses each once.
            server.send_tls13_tickets = 1;
        }
        Resume::SessionCache => {
            server.session_storage = ServerSessionMemoryCache::new(1024);
            server.send_tls13_tickets = 0;
        }
    }

    let mut roots = RootCertStore::empty();
    roots.add(creds.ca.clone())?;
    let mut client = ClientConfig::builder_with_provider(crypto)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = match resume {
        Resume::None => Resumption::disabled(),
        Resume::Tickets => Resumption::in_memory_sessions(64),
        Resume::SessionCache => Resumption::in_memory_sessions(64)
            .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly),
    };

    Ok(Setup {
        client: Arc::new(client),
        server: Arc::new(server),
        name: ServerName::try_from("localhost")?,
        expect: if resume == Resume::None {
            HandshakeKind::Full
        } else {
            HandshakeKind::Resumed
        },
    })
}

// ---------------------------------------------------------------------------
// In-memory transport

/// Feeds all of `buf` to a connection, processing after every `read_tls`.
fn feed<C, S>(conn: &mut C, buf: &mut Vec<u8>) -> Result<()>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<S>>,
    S: rustls::SideData,
{
    let mut rd: &[u8] = buf;
    while !rd.is_empty() {
        conn.read_tls(&mut rd)?;
        conn.process_new_packets()?;
    }
    buf.clear();
    Ok(())
}

fn drain<C, S>(conn: &mut C, out: &mut Vec<u8>) -> Result<()>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<S>>,
    S: rustls::SideData,
{
    while conn.wants_write() {
        conn.write_tls(out)?;
    }
    Ok(())
}

/// Runs one handshake to completion (including the server's post-handshake
/// NewSessionTicket, which the client reads). Only the server's side is put
/// into `st`: creating the `ServerConnection` when the ClientHello arrives,
/// dropping `prev` (the previous handshake's server connection, so its
/// teardown is counted without a timed section of its own), and every
/// read_tls / process_new_packets / write_tls on it. That is two timed sections
/// per handshake, one per client flight.
fn handshake(
    s: &Setup,
    st: &mut ServerTime,
    c2s: &mut Vec<u8>,
    s2c: &mut Vec<u8>,
    mut prev: Option<ServerConnection>,
) -> Result<(ClientConnection, ServerConnection)> {
    let mut client = ClientConnection::new(s.client.clone(), s.name.clone())?;
    let mut server: Option<ServerConnection> = None;
    loop {
        drain(&mut client, c2s)?;
        if !c2s.is_empty() {
            st.timed(|| -> Result<()> {
                drop(prev.take());
                let srv = match &mut server {
                    Some(srv) => srv,
                    None => server.insert(ServerConnection::new(s.server.clone())?),
                };
                feed(srv, c2s)?;
                drain(srv, s2c)
            })?;
        }
        if !s2c.is_empty() {
            feed(&mut client, s2c)?;
        }
        let srv = server.as_ref().ok_or("client sent nothing")?;
        if !client.is_handshaking()
            && !srv.is_handshaking()
            && !client.wants_write()
            && !srv.wants_write()
            && c2s.is_empty()
            && s2c.is_empty()
        {
            break;
        }
    }
    let server = server.unwrap();
    if server.handshake_kind() != Some(s.expect) {
        return Err(format!(
            "expected a {:?} handshake, server did {:?}",
            s.expect,
            server.handshake_kind()
        )
        .into());
    }
    Ok((client, server))
}

// ---------------------------------------------------------------------------
// Scenarios

struct Outcome {
    /// Handshakes, or bytes for bulk scenarios.
    units: u64,
    server: ServerTime,
    /// Thread CPU and wall time of the timed part (client + server).
    total_cpu: Duration,
    total_wall: Duration,
    /// What was negotiated (first timed connection).
    detail: String,
}

fn describe(server: &ServerConnection) -> String {
    format!(
        "{:?}/{:?}/{}",
        server.protocol_version().unwrap(),
        server.negotiated_cipher_suite().unwrap().suite(),
        server
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name()))
            .unwrap_or_else(|| "no-kx(resumed)".into()),
    )
}

fn run_handshakes(s: &Setup, warmup: u64, iters: u64) -> Result<Outcome> {
    let mut c2s = Vec::with_capacity(64 << 10);
    let mut s2c = Vec::with_capacity(64 << 10);
    let mut scratch = ServerTime::default();
    // The resumed scenarios need one full handshake first to prime the
    // client's session store.
    if s.expect == HandshakeKind::Resumed {
        let prime = Setup {
            client: s.client.clone(),
            server: s.server.clone(),
            name: s.name.clone(),
            expect: HandshakeKind::Full,
        };
        handshake(&prime, &mut scratch, &mut c2s, &mut s2c, None)?;
    }
    let mut prev = None;
    for _ in 0..warmup {
        prev = Some(handshake(s, &mut scratch, &mut c2s, &mut s2c, prev)?.1);
    }
    drop(prev);
    let mut st = ServerTime::default();
    let mut detail = String::new();
    let mut prev = None;
    let (w0, c0) = (Instant::now(), thread_cpu());
    for i in 0..iters {
        let (_client, srv) = handshake(s, &mut st, &mut c2s, &mut s2c, prev)?;
        if i == 0 {
            detail = describe(&srv);
        }
        prev = Some(srv);
    }
    let (total_cpu, total_wall) = (thread_cpu() - c0, w0.elapsed());
    Ok(Outcome {
        units: iters,
        server: st,
        total_cpu,
        total_wall,
        detail,
    })
}

/// Server writes per timed section in the bulk scenarios (64 x 16 KiB = 1 MiB,
/// like one large response), so the timer's cost is spread over 1 MiB.
const BULK_BATCH: usize = 64;

fn run_bulk(s: &Setup, bytes: usize) -> Result<Outcome> {
    let mut c2s = Vec::with_capacity(64 << 10);
    let mut s2c = Vec::with_capacity(2 << 20);
    let mut scratch = ServerTime::default();
    let (mut client, mut server) = handshake(s, &mut scratch, &mut c2s, &mut s2c, None)?;
    let detail = describe(&server);

    let chunk: Vec<u8> = (0..BULK_WRITE).map(|i| (i * 31 % 251) as u8).collect();
    let mut sink = vec![0u8; BULK_WRITE];
    let mut pass = |n: usize, st: &mut ServerTime| -> Result<u64> {
        let mut received = 0u64;
        let mut sent = 0;
        while sent < n {
            let batch = BULK_BATCH.min((n - sent) / BULK_WRITE).max(1);
            // Server: encrypt `batch` records into s2c.
            st.timed(|| -> Result<()> {
                for _ in 0..batch {
                    server.writer().write_all(&chunk)?;
                    drain(&mut server, &mut s2c)?;
                }
                Ok(())
            })?;
            sent += batch * chunk.len();
            // Client: decrypt them, emptying its plaintext buffer as it goes.
            let mut rd: &[u8] = &s2c;
            while !rd.is_empty() {
                client.read_tls(&mut rd)?;
                client.process_new_packets()?;
                loop {
                    match client.reader().read(&mut sink) {
                        Ok(0) => break,
                        Ok(k) => received += k as u64,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            s2c.clear();
        }
        Ok(received)
    };
    // Warm-up: 16 MiB, untimed.
    let warm = pass(16 << 20, &mut scratch)?;
    assert_eq!(warm, 16 << 20);
    let mut st = ServerTime::default();
    let (w0, c0) = (Instant::now(), thread_cpu());
    let received = pass(bytes, &mut st)?;
    let (total_cpu, total_wall) = (thread_cpu() - c0, w0.elapsed());
    if received != bytes as u64 {
        return Err(format!("client received {received} bytes, server sent {bytes}").into());
    }
    Ok(Outcome {
        units: bytes as u64,
        server: st,
        total_cpu,
        total_wall,
        detail,
    })
}

struct Scenario {
    name: &'static str,
    /// Handshakes per round (ignored for bulk).
    iters: u64,
    bulk: bool,
    /// Provider-specific scenarios return None where unsupported.
    build: fn(&Certs) -> Result<Option<Setup>>,
}

struct Certs {
    ecdsa: Creds,
    /// Made on first use: only the RSA scenario needs it (openssl takes a while).
    rsa: std::cell::OnceCell<Creds>,
}

impl Certs {
    fn rsa(&self) -> Result<&Creds> {
        if self.rsa.get().is_none() {
            let _ = self.rsa.set(make_creds(&rsa_2048_key)?);
        }
        Ok(self.rsa.get().unwrap())
    }
}

fn x25519() -> Vec<&'static dyn SupportedKxGroup> {
    vec![provider::kx_group::X25519]
}

use provider::cipher_suite as cs;

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn bulk13(c: &Certs, suite: SupportedCipherSuite) -> Result<Option<Setup>> {
    setup(&c.ecdsa, TLS13, Some(vec![suite]), x25519(), Resume::None).map(Some)
}

#[cfg(feature = "aws-lc-rs")]
fn mlkem(c: &Certs) -> Result<Option<Setup>> {
    setup(
        &c.ecdsa,
        TLS13,
        None,
        vec![provider::kx_group::X25519MLKEM768],
        Resume::None,
    )
    .map(Some)
}
#[cfg(feature = "ring")]
fn mlkem(_: &Certs) -> Result<Option<Setup>> {
    Ok(None) // ring has no ML-KEM
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "full-tls13-x25519-ecdsa-p256",
            iters: 5000,
            bulk: false,
            build: |c| setup(&c.ecdsa, TLS13, None, x25519(), Resume::None).map(Some),
        },
        Scenario {
            // Same, but the client offers only TLS13_AES_128_GCM_SHA256 (what
            // browsers put first), so the key schedule uses SHA-256, not SHA-384.
            name: "full-tls13-x25519-ecdsa-p256-sha256",
            iters: 5000,
            bulk: false,
            build: |c| {
                let suite = cs::TLS13_AES_128_GCM_SHA256;
                setup(&c.ecdsa, TLS13, Some(vec![suite]), x25519(), Resume::None).map(Some)
            },
        },
        Scenario {
            name: "full-tls13-x25519-rsa2048",
            iters: 1500,
            bulk: false,
            build: |c| setup(c.rsa()?, TLS13, None, x25519(), Resume::None).map(Some),
        },
        Scenario {
            name: "full-tls12-ecdhe-ecdsa-aes128gcm",
            iters: 5000,
            bulk: false,
            build: |c| {
                let suite = cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
                setup(&c.ecdsa, TLS12, Some(vec![suite]), x25519(), Resume::None).map(Some)
            },
        },
        Scenario {
            name: "resumed-tls13-ticket",
            iters: 6000,
            bulk: false,
            build: |c| setup(&c.ecdsa, TLS13, None, x25519(), Resume::Tickets).map(Some),
        },
        Scenario {
            name: "resumed-tls13-ticket-sha256",
            iters: 6000,
            bulk: false,
            build: |c| {
                let suite = cs::TLS13_AES_128_GCM_SHA256;
                setup(
                    &c.ecdsa,
                    TLS13,
                    Some(vec![suite]),
                    x25519(),
                    Resume::Tickets,
                )
                .map(Some)
            },
        },
        Scenario {
            name: "resumed-tls12-session-cache",
            iters: 40000,
            bulk: false,
            build: |c| {
                let suite = cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
                setup(
                    &c.ecdsa,
                    TLS12,
                    Some(vec![suite]),
                    x25519(),
                    Resume::SessionCache,
                )
                .map(Some)
            },
        },
        Scenario {
            name: "bulk-tls13-aes128gcm",
            iters: 0,
            bulk: true,
            build: |c| bulk13(c, cs::TLS13_AES_128_GCM_SHA256),
        },
        Scenario {
            name: "bulk-tls13-aes256gcm",
            iters: 0,
            bulk: true,
            build: |c| bulk13(c, cs::TLS13_AES_256_GCM_SHA384),
        },
        Scenario {
            name: "bulk-tls13-chacha20poly1305",
            iters: 0,
            bulk: true,
            build: |c| bulk13(c, cs::TLS13_CHACHA20_POLY1305_SHA256),
        },
        Scenario {
            name: "full-tls13-x25519mlkem768-ecdsa-p256",
            iters: 4000,
            bulk: false,
            build: mlkem,
        },
    ]
}

// ---------------------------------------------------------------------------
// Main

const USAGE: &str = "\
usage: tls-provider-bench [--scenario NAME]... [--scale F] [--list] [--timer-cost]
  --scenario NAME   run only this scenario (repeatable; default: all)
  --scale F         multiply every scenario's iterations (and bulk bytes per
                    connection; default 4 connections x 256 MiB) by F
  --list            print the scenario names and default iterations
  --timer-cost      print what one timed section costs (ns) and exit
Prints one TSV line per scenario with these columns:
  provider scenario units unit server_cpu_s server_cpu_raw_s server_wall_s
  total_cpu_s total_wall_s sections timer_inside_ns timer_whole_ns negotiated
units are handshakes or bytes. server_cpu_raw_s is the thread CPU time summed
over the timed server sections; server_cpu_s is that minus sections x
timer_inside_ns (the timer's own bias, measured on empty sections just before
the round); total_cpu_s is the round's thread CPU time (client + server) minus
sections x timer_whole_ns. Wall times are raw.";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() -> Result<()> {
    let mut only: Vec<String> = Vec::new();
    let mut scale = 1.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scenario" => only.push(args.next().ok_or("--scenario needs a name")?),
            "--scale" => scale = args.next().ok_or("--scale needs a number")?.parse()?,
            "--list" => {
                for s in scenarios() {
                    let iters = if s.bulk {
                        format!("{BULK_CONNS} x {BULK_BYTES} bytes")
                    } else {
                        s.iters.to_string()
                    };
                    println!("{}\t{}", s.name, iters);
                }
                return Ok(());
            }
            "--timer-cost" => {
                let t = timer_cost();
                println!(
                    "{PROVIDER}\tinside {} ns\twhole {} ns",
                    t.inside.as_nanos(),
                    t.whole.as_nanos()
                );
                return Ok(());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}").into()),
        }
    }
    let all = scenarios();
    for name in &only {
        if !all.iter().any(|s| s.name == name) {
            return Err(format!("unknown scenario {name:?} (see --list)").into());
        }
    }

    let certs = Certs {
        ecdsa: make_creds(&ecdsa_p256_key)?,
        rsa: std::cell::OnceCell::new(),
    };

    for sc in all
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|n| n == s.name))
    {
        let Some(setup) = (sc.build)(&certs)? else {
            continue; // not supported by this provider
        };
        let cost = timer_cost();
        let out = if sc.bulk {
            let bytes = ((BULK_BYTES as f64 * scale) as usize / BULK_WRITE).max(1) * BULK_WRITE;
            let mut sum = run_bulk(&setup, bytes)?;
            for _ in 1..BULK_CONNS {
                let o = run_bulk(&setup, bytes)?;
                sum.units += o.units;
                sum.server.cpu += o.server.cpu;
                sum.server.wall += o.server.wall;
                sum.server.sections += o.server.sections;
                sum.total_cpu += o.total_cpu;
                sum.total_wall += o.total_wall;
            }
            sum
        } else {
            let iters = ((sc.iters as f64 * scale) as u64).max(1);
            run_handshakes(&setup, (iters / 10).max(1), iters)?
        };
        let n = out.server.sections as u32;
        let server_cpu = out.server.cpu.saturating_sub(cost.inside * n);
        let total_cpu = out.total_cpu.saturating_sub(cost.whole * n);
        println!(
            "{}\t{}\t{}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{}\t{}\t{}\t{}",
            PROVIDER,
            sc.name,
            out.units,
            if sc.bulk { "bytes" } else { "handshakes" },
            secs(server_cpu),
            secs(out.server.cpu),
            secs(out.server.wall),
            secs(total_cpu),
            secs(out.total_wall),
            out.server.sections,
            cost.inside.as_nanos(),
            cost.whole.as_nanos(),
            out.detail,
        );
        io::stdout().flush()?;
    }
    Ok(())
}
