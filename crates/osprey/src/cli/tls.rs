//! `osprey serve`'s HTTPS flags: certificate pairs, a development
//! certificate, client certificates, a redirecting cleartext listener, HSTS.
//!
//! `--tls-self-signed` makes a certificate for localhost, 127.0.0.1 and ::1
//! (rcgen, ECDSA P-256) the first time and keeps it in a state directory, so
//! that a browser told to trust it once keeps trusting it across restarts;
//! its path and SHA-256 fingerprint are printed at every start.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use osprey::TlsConfig;
use sha2::{Digest, Sha256};

use super::serve::{usage, Failure};

/// The names the development certificate is valid for.
const SELF_SIGNED_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// HTTPS options of `osprey serve`.
#[derive(Args, Debug, Default)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM, leaf first; repeatable,
    /// each paired with the --tls-key in the same position: the certificate
    /// matching the client's SNI is chosen, the first one otherwise).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Vec<PathBuf>,
    /// The private key (PEM: PKCS#8, RSA or EC) of the --tls-cert in the
    /// same position.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Vec<PathBuf>,
    /// Serve HTTPS with a certificate for localhost, 127.0.0.1 and ::1,
    /// made once and kept in --tls-state-dir.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Where --tls-self-signed keeps its certificate (default:
    /// $XDG_STATE_HOME/osprey, or ~/.local/state/osprey).
    #[arg(long, value_name = "DIR")]
    pub tls_state_dir: Option<PathBuf>,
    /// Require client certificates signed by a CA in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Also listen on ADDR in cleartext, answering every request with a
    /// 308 redirect to the https URL.
    #[arg(long, value_name = "ADDR")]
    pub redirect_http: Option<SocketAddr>,
    /// Send Strict-Transport-Security (one year): browsers will reach this
    /// host only over HTTPS from then on.
    #[arg(long)]
    pub hsts: bool,
}

impl TlsArgs {
    /// Whether HTTPS was asked for.
    pub fn enabled(&self) -> bool {
        self.tls_self_signed || !self.tls_cert.is_empty()
    }

    /// The TLS configuration, and lines to print once listening.
    pub fn config(&self) -> Result<Option<(TlsConfig, Vec<String>)>, Failure> {
        if !self.enabled() {
            for (given, flag) in [
                (!self.tls_key.is_empty(), "--tls-key"),
                (self.tls_client_ca.is_some(), "--tls-client-ca"),
                (self.redirect_http.is_some(), "--redirect-http"),
                (self.hsts, "--hsts"),
            ] {
                if given {
                    return Err(usage(format!(
                        "{flag} needs HTTPS: add --tls-cert and --tls-key, or --tls-self-signed"
                    )));
                }
            }
            return Ok(None);
        }
        let mut notes = Vec::new();
        let pairs: Vec<(PathBuf, PathBuf)> = if self.tls_self_signed {
            let dir = match &self.tls_state_dir {
                Some(d) => d.clone(),
                None => default_state_dir()?,
            };
            let (cert, key, made) = self_signed(&dir)?;
            notes.push(format!(
                "tls: {} self-signed certificate for {}: {}",
                if made { "made a" } else { "reusing the" },
                SELF_SIGNED_NAMES.join(", "),
                cert.display()
            ));
            notes.push(format!("tls: SHA-256 fingerprint {}", fingerprint(&cert)?));
            vec![(cert, key)]
        } else {
            if self.tls_cert.len() != self.tls_key.len() {
                return Err(usage(format!(
                    "{} --tls-cert but {} --tls-key: give one key per certificate",
                    self.tls_cert.len(),
                    self.tls_key.len()
                )));
            }
            self.tls_cert
                .iter()
                .cloned()
                .zip(self.tls_key.iter().cloned())
                .collect()
        };
        let mut builder = TlsConfig::builder();
        for (cert, key) in pairs {
            builder = builder.cert_files(cert, key);
        }
        if let Some(ca) = &self.tls_client_ca {
            builder = builder.client_ca_file(ca);
        }
        let config = builder.build().map_err(|e| usage(format!("TLS: {e}")))?;
        Ok(Some((config, notes)))
    }
}

fn default_state_dir() -> Result<PathBuf, Failure> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(state).join("osprey"));
    }
    match std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/osprey")),
        None => Err(usage(
            "--tls-self-signed: no HOME or XDG_STATE_HOME; give --tls-state-dir",
        )),
    }
}

/// The development certificate in `dir`, made if missing. Returns the
/// certificate and key paths, and whether they were made now.
fn self_signed(dir: &Path) -> Result<(PathBuf, PathBuf, bool), Failure> {
    let cert = dir.join("self-signed.crt");
    let key = dir.join("self-signed.key");
    if cert.exists() && key.exists() {
        return Ok((cert, key, false));
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        usage(format!("--tls-self-signed: {what} {}: {e}", dir.display()))
    };
    create_private_dir(dir).map_err(|e| fail("cannot create", &e))?;
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| fail("cannot make a certificate in", &e))?;
    write_private(&key, made.signing_key.serialize_pem().as_bytes())
        .map_err(|e| fail("cannot write the key in", &e))?;
    fs::write(&cert, made.cert.pem()).map_err(|e| fail("cannot write the certificate in", &e))?;
    Ok((cert, key, true))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes a file only its owner may read (a private key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// The SHA-256 fingerprint of the first certificate in a PEM file, as
/// browsers show it (`AB:CD:…`).
fn fingerprint(cert: &Path) -> Result<String, Failure> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(cert)
        .map_err(|e| usage(format!("{}: {e}", cert.display())))?;
    let hex: Vec<String> = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(hex.join(":"))
}
