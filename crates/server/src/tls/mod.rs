//! TLS configuration for a listener: certificates chosen by SNI, optional
//! client authentication, session resumption, and reload without a restart.
//!
//! A [`TlsConfig`] is built once from PEM (files or bytes) and shared by every
//! connection a listener accepts. Each accept takes the *current* rustls
//! `ServerConfig` (one atomic load), so a reload ([`TlsConfig::reload`], on
//! SIGHUP or when a file changes on disk) affects the next handshake and never
//! an open connection. A new set of files that does not parse, or whose key
//! does not match its certificate, is refused and the old set stays in use.
//!
//! The defaults are what a scanner grades A+ (docs/tls.md has the reasons):
//! TLS 1.2 and 1.3 only, forward-secret AEAD suites only (rustls offers no
//! other), the server's order of preference, resumption by tickets with
//! rotating keys and by a bounded session cache, and ALPN `h2` then
//! `http/1.1` (HTTP/2 is preferred; `TlsBuilder::alpn` changes the list).
//!
//! The bytes themselves are moved by the TLS transport
//! (`transport::tls`); this module only decides what a handshake offers.

mod names;
mod watch;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::server::{ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub(crate) use watch::Reloader;

/// Sessions a TLS listener remembers for TLS 1.2 resumption by session id
/// (tickets, used by TLS 1.3 and most 1.2 clients, cost the server no
/// memory). An entry is about 200 bytes, so the cache stays under 4 MiB;
/// nginx's `ssl_session_cache shared:SSL:10m` holds about 40,000.
pub const TLS_SESSION_CACHE: usize = 20_000;

/// ALPN protocols offered by default, in order of preference: HTTP/2
/// (RFC 9113 §3.2), then HTTP/1.1.
pub const DEFAULT_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The cryptography behind every TLS listener (docs/tls.md: measured
/// against aws-lc-rs on this project's machines).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a TLS configuration could not be built (or reloaded).
#[derive(Debug)]
pub struct TlsError(String);

impl TlsError {
    fn new(message: impl Into<String>) -> TlsError {
        TlsError(message.into())
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// Where PEM comes from: a file (re-read on reload) or bytes.
#[derive(Clone, Debug)]
enum Pem {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Pem {
    fn read(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::File(path) => fs::read(path)
                .map_err(|e| TlsError::new(format!("cannot read {}: {e}", path.display()))),
            Pem::Bytes(bytes) => Ok(bytes.clone()),
        }
    }

    fn name(&self) -> String {
        match self {
            Pem::File(path) => path.display().to_string(),
            Pem::Bytes(_) => "PEM given in code".into(),
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Pem::File(path) => Some(path),
            Pem::Bytes(_) => None,
        }
    }
}

/// Builds a [`TlsConfig`].
#[derive(Clone, Debug)]
pub struct TlsBuilder {
    pairs: Vec<(Pem, Pem)>,
    client_ca: Option<Pem>,
    alpn: Vec<Vec<u8>>,
    session_cache: usize,
}

impl TlsBuilder {
    /// Adds a certificate chain (PEM, leaf first) and its private key (PEM:
    /// PKCS#8, PKCS#1 RSA or SEC1 EC) from files. Repeatable: the certificate
    /// whose names match the client's SNI is chosen (wildcards included);
    /// the first pair serves clients without SNI or with an unknown name.
    pub fn cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.pairs
            .push((Pem::File(cert.into()), Pem::File(key.into())));
        self
    }

    /// Like [`TlsBuilder::cert_files`], from PEM bytes (not reloadable).
    pub fn cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.pairs
            .push((Pem::Bytes(cert.into()), Pem::Bytes(key.into())));
        self
    }

    /// Requires every client to present a certificate signed by one of the
    /// certificate authorities in this PEM file; the handshake fails otherwise.
    pub fn client_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(Pem::File(path.into()));
        self
    }

    /// Like [`TlsBuilder::client_ca_file`], from PEM bytes.
    pub fn client_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca = Some(Pem::Bytes(pem.into()));
        self
    }

    /// The ALPN protocols offered, in order of preference (default
    /// [`DEFAULT_ALPN`]). A client that offers only others is refused, as
    /// RFC 7301 §3.2 says.
    pub fn alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Entries in the session cache (default [`TLS_SESSION_CACHE`]).
    pub fn session_cache(mut self, entries: usize) -> Self {
        self.session_cache = entries;
        self
    }

    /// Reads and checks everything: each file parses, each key matches its
    /// certificate, the client CA file holds at least one certificate.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        if self.pairs.is_empty() {
            return Err(TlsError::new("no certificate and key given"));
        }
        let provider = provider();
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| TlsError::new(format!("cannot make a session ticketer: {e}")))?;
        let sessions: Arc<dyn StoresServerSessions + Send + Sync> =
            ServerSessionMemoryCache::new(self.session_cache);
        let parts = Parts {
            provider,
            ticketer,
            sessions,
        };
        parts.warm_tickets();
        let stamps = stamps(&self);
        let config = parts.make(&self)?;
        Ok(TlsConfig {
            shared: Arc::new(Shared {
                source: self,
                parts,
                current: ArcSwap::new(config),
                stamps: Mutex::new(stamps),
            }),
        })
    }
}

/// A TLS listener's configuration; cheap to clone (clones share it, and a
/// reload through one is seen by all).
#[derive(Clone)]
pub struct TlsConfig {
    shared: Arc<Shared>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("source", &self.shared.source)
            .finish_non_exhaustive()
    }
}

struct Shared {
    source: TlsBuilder,
    parts: Parts,
    current: ArcSwap<ServerConfig>,
    /// What the files looked like when last read.
    stamps: Mutex<Vec<Stamp>>,
}

impl TlsConfig {
    /// A builder with the defaults.
    pub fn builder() -> TlsBuilder {
        TlsBuilder {
            pairs: Vec::new(),
            client_ca: None,
            alpn: DEFAULT_ALPN.iter().map(|p| p.to_vec()).collect(),
            session_cache: TLS_SESSION_CACHE,
        }
    }

    /// One certificate chain and key from PEM files, with the defaults.
    pub fn from_files(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<TlsConfig, TlsError> {
        TlsConfig::builder().cert_files(cert, key).build()
    }

    /// The rustls configuration new handshakes use.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.shared.current.load_full()
    }

    /// Re-reads the files: on success new handshakes use them; on failure
    /// the configuration in use is kept and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamps = stamps(&self.shared.source);
        // Remember what was tried, so that a broken file is reported once,
        // not at every check, and tried again when it changes.
        *self.shared.stamps.lock().unwrap_or_else(|e| e.into_inner()) = stamps;
        let config = self.shared.parts.make(&self.shared.source)?;
        self.shared.current.store(config);
        Ok(())
    }

    /// Reloads if a file changed since it was last read (its size, time or
    /// inode: an editor's save and an atomic rename both count). `None` when
    /// nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = stamps(&self.shared.source);
        let changed = *self.shared.stamps.lock().unwrap_or_else(|e| e.into_inner()) != now;
        changed.then(|| self.reload())
    }

    /// Keeps the session-ticket keys ready for the `fork` model's children
    /// (called by the reloader).
    pub(crate) fn warm_tickets(&self) {
        self.shared.parts.warm_tickets();
    }

    /// The files this configuration reads (for messages).
    pub fn files(&self) -> Vec<PathBuf> {
        files(&self.shared.source).map(Path::to_path_buf).collect()
    }

    /// Whether two handles share one configuration.
    pub(crate) fn same(&self, other: &TlsConfig) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// What every configuration made from one builder shares: kept across
/// reloads, so that tickets and sessions issued before a certificate change
/// still resume.
struct Parts {
    provider: Arc<CryptoProvider>,
    ticketer: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions + Send + Sync>,
}

/// Plaintext size of the ticket made to warm the ticket keys (see
/// [`Parts::warm_tickets`]): larger than any session rustls puts in a
/// ticket, client certificate chains included.
const TICKET_WARMUP: usize = 16 * 1024;

impl Parts {
    /// rustls's ticket keys accept only tickets no longer than the longest
    /// they have made, and rotate (every 6 hours) when next used. In the
    /// `fork` model every connection is served by a new child, whose copy of
    /// the keys has made nothing: every ticket would be refused, and after a
    /// rotation each child would make keys of its own. So the parent makes a
    /// large ticket when the configuration is built and at every reload
    /// check: the keys children inherit accept tickets of any size rustls
    /// makes, and rotate in the parent, where every later child sees it.
    fn warm_tickets(&self) {
        let _ = self.ticketer.encrypt(&[0; TICKET_WARMUP]);
    }

    /// Reads every file and makes a rustls configuration.
    fn make(&self, source: &TlsBuilder) -> Result<Arc<ServerConfig>, TlsError> {
        let mut by_name = names::ByName::default();
        for (cert, key) in &source.pairs {
            by_name.add(self.certified_key(cert, key)?);
        }
        let versions = &[&rustls::version::TLS13, &rustls::version::TLS12];
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::new(format!("TLS versions: {e}")))?;
        let builder = match &source.client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(pem)? {
                    roots.add(cert).map_err(|e| {
                        TlsError::new(format!("{}: not a CA certificate: {e}", pem.name()))
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                )
                .build()
                .map_err(|e| TlsError::new(format!("{}: {e}", pem.name())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let resolver: Arc<dyn ResolvesServerCert> = Arc::new(by_name);
        let mut config = builder.with_cert_resolver(resolver);
        // The server's order of preference (AES-GCM on hardware with AES
        // instructions, then ChaCha20), not the client's.
        config.ignore_client_order = true;
        config.alpn_protocols = source.alpn.clone();
        config.session_storage = self.sessions.clone();
        config.ticketer = self.ticketer.clone();
        Ok(Arc::new(config))
    }

    fn certified_key(&self, cert: &Pem, key: &Pem) -> Result<CertifiedKey, TlsError> {
        let chain = certificates(cert)?;
        let key_pem = key.read()?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| TlsError::new(format!("{}: no private key found ({e})", key.name())))?;
        let signing = self
            .provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| TlsError::new(format!("{}: unusable private key: {e}", key.name())))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| {
            TlsError::new(format!(
                "{} does not match the certificate in {} ({e})",
                key.name(),
                cert.name()
            ))
        })?;
        Ok(certified)
    }
}

/// Every certificate in a PEM source, at least one.
fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = pem.read()?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(format!("{}: bad PEM ({e})", pem.name())))?;
    if chain.is_empty() {
        return Err(TlsError::new(format!(
            "{}: no certificate found",
            pem.name()
        )));
    }
    Ok(chain)
}

fn files(source: &TlsBuilder) -> impl Iterator<Item = &Path> {
    source
        .pairs
        .iter()
        .flat_map(|(c, k)| [c, k])
        .chain(source.client_ca.iter())
        .filter_map(Pem::path)
}

/// What a file looked like: enough to see it was rewritten or replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamps(source: &TlsBuilder) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    files(source)
        .map(|path| match fs::metadata(path) {
            Ok(m) => Stamp {
                modified: m.modified().ok(),
                len: m.len(),
                inode: m.ino(),
            },
            Err(_) => Stamp {
                modified: None,
                len: 0,
                inode: 0,
            },
        })
        .collect()
}
