//! Choosing a certificate by the name the client asked for (SNI, RFC 6066
//! §3).
//!
//! Each certificate serves the DNS names in its subjectAltName extension,
//! wildcards included (`*.example.com` covers `a.example.com`, not
//! `example.com` nor `a.b.example.com`: RFC 6125 §6.4.3). rustls-webpki
//! decides whether a name matches, so the rule is the one clients apply when
//! they check the certificate. The first certificate is the default: for
//! clients that send no SNI (an IP address in the URL) or a name no
//! certificate has.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, DnsName, ServerName};

/// Certificates in the order given; the first is the default.
#[derive(Debug, Default)]
pub(super) struct ByName {
    keys: Vec<Arc<CertifiedKey>>,
}

impl ByName {
    pub fn add(&mut self, key: CertifiedKey) {
        self.keys.push(Arc::new(key));
    }

    /// The certificate for `name`, or the default.
    fn choose(&self, name: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let wanted = name.and_then(|n| DnsName::try_from(n).ok());
        if let Some(dns) = wanted {
            let server_name = ServerName::DnsName(dns);
            if let Some(key) = self
                .keys
                .iter()
                .find(|key| serves(key.end_entity_cert().ok(), &server_name))
            {
                return Some(key);
            }
        }
        self.keys.first()
    }
}

fn serves(leaf: Option<&CertificateDer<'_>>, name: &ServerName<'_>) -> bool {
    let Some(leaf) = leaf else { return false };
    webpki::EndEntityCert::try_from(leaf)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(name).is_ok())
}

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name()).cloned()
    }
}
