//! What a request's connection knows: the addresses at both ends, and — on a
//! TLS connection — what the handshake settled. The server makes one
//! [`ConnectionInfo`] per connection and every request on it shares it.

use std::net::SocketAddr;

/// The connection a request came on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Our address (the listener's, or the interface a wildcard listener
    /// accepted on).
    pub local: SocketAddr,
    /// The client's address.
    pub peer: SocketAddr,
    /// What the TLS handshake settled; `None` on a cleartext connection.
    /// (Boxed: every idle connection holds a `ConnectionInfo`.)
    pub tls: Option<Box<TlsInfo>>,
}

impl ConnectionInfo {
    /// A cleartext connection between `local` and `peer`.
    pub fn new(local: SocketAddr, peer: SocketAddr) -> ConnectionInfo {
        ConnectionInfo {
            local,
            peer,
            tls: None,
        }
    }
}

/// What a TLS handshake settled, as a handler may want to know it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The application protocol agreed with ALPN (`http/1.1`, `h2`).
    pub alpn: Option<Vec<u8>>,
    /// The protocol version (`TLSv1.3`).
    pub version: Option<String>,
    /// The cipher suite's IANA name.
    pub cipher_suite: Option<String>,
    /// The client's certificate chain (DER, leaf first), when it presented
    /// one.
    pub client_certificates: Vec<Vec<u8>>,
}
