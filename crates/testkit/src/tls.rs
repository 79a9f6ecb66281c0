//! TLS for tests: a certificate authority made on the fly, the certificates
//! it signs (server names, wildcards, client certificates), and a rustls
//! client that trusts it.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;

use crate::{ClientStream, RawClient};

/// A TLS client stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

impl ClientStream for TlsStream {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// A certificate authority for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate (PEM), what clients trust.
    pub pem: String,
    /// For an intermediate CA: its certificate, appended after every leaf it
    /// issues (a full chain); empty for a root.
    chain: String,
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate chain: the leaf, then any intermediate CAs.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

impl Issued {
    /// Writes `<stem>.crt` and `<stem>.key` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
            chain: String::new(),
        }
    }

    /// An intermediate CA signed by this one: the leaves it issues carry it
    /// in their chain, and clients trusting only this CA accept them when
    /// the server sends the full chain.
    pub fn intermediate(&self, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("CA key");
        let cert = params.signed_by(&key, &self.issuer).expect("intermediate");
        TestCa {
            chain: cert.pem() + &self.chain,
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names, wildcards, IP
    /// addresses), with a new ECDSA P-256 key.
    pub fn issue(&self, names: &[&str]) -> Issued {
        self.issue_with(names, KeyPair::generate().expect("key"), false)
    }

    /// A server certificate for `names` with the key in `key_pem` (RSA or
    /// Ed25519 keys made by openssl, say).
    pub fn issue_for_key(&self, names: &[&str], key_pem: &str) -> Issued {
        let key = KeyPair::from_pem(key_pem).expect("key PEM");
        self.issue_with(names, key, false)
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue_with(&[name], KeyPair::generate().expect("key"), true)
    }

    fn issue_with(&self, names: &[&str], key: KeyPair, client: bool) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].clone());
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Issued {
            cert_pem: cert.pem() + &self.chain,
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes this CA's certificate to `dir/ca.pem` (for `curl --cacert`)
    /// and returns the path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("write the CA certificate");
        path
    }

    /// A client configuration trusting this CA, offering `alpn`, with
    /// `client` as its certificate if given.
    pub fn client_config(&self, alpn: &[&[u8]], client: Option<&Issued>) -> Arc<ClientConfig> {
        client_config(&self.pem, alpn, client)
    }
}

/// A rustls client configuration trusting the CA in `ca_pem`.
pub fn client_config(ca_pem: &str, alpn: &[&[u8]], client: Option<&Issued>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(issued) => {
            let chain = CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client certificate");
            let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Connects to `addr` as `name` (a DNS name is sent as SNI; an IP address
/// is not) and completes the handshake.
pub fn connect(addr: SocketAddr, name: &str, config: Arc<ClientConfig>) -> io::Result<TlsStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let server_name = ServerName::try_from(name.to_owned()).map_err(io::Error::other)?;
    let conn = ClientConnection::new(config, server_name).map_err(io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

impl RawClient<TlsStream> {
    /// Connects over TLS (see [`connect`]); panics if the handshake fails.
    pub fn connect_tls(addr: SocketAddr, name: &str, config: Arc<ClientConfig>) -> Self {
        RawClient::over(connect(addr, name, config).expect("TLS handshake"))
    }
}
