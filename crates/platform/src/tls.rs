//! The process's TLS: its crypto provider (ring, so aws-lc is never
//! compiled; docs/decisions.md), the extra trust roots a tenant's `ca_file`
//! adds, and the one client configuration every HTTPS and gRPC client is
//! built from. That configuration (system roots through the platform
//! verifier, plus a bundle's roots) is built once per bundle and shared: a
//! thousand tenants hold one copy of the system roots, not a thousand.

use std::fmt;
use std::sync::{Arc, Once, OnceLock};

use rustls::ClientConfig;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls_platform_verifier::Verifier;

static INSTALL: Once = Once::new();

pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // An error means another part of the process installed one first; that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Extra trust roots from a config's `ca_file`: read and parsed once when the
/// config is validated, then shared (`Arc`) by every client that trusts them,
/// with the client configuration built from them on first use.
pub struct CaCertificates {
    pem: Vec<u8>,
    certificates: Vec<CertificateDer<'static>>,
    client_config: OnceLock<Result<Arc<ClientConfig>, String>>,
    h2_client_config: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl PartialEq for CaCertificates {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

impl Eq for CaCertificates {}

impl CaCertificates {
    /// Every certificate of a PEM bundle, each checked to be a usable trust
    /// anchor. The error says what is wrong with the bundle, never its text.
    pub fn from_pem(pem: Vec<u8>) -> Result<Self, String> {
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "holds a PEM certificate block that does not decode".to_owned())?;
        if certificates.is_empty() {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
        }
        let mut roots = rustls::RootCertStore::empty();
        for certificate in &certificates {
            roots
                .add(certificate.clone())
                .map_err(|err| format!("holds a certificate that is not a usable CA ({err})"))?;
        }
        Ok(Self {
            pem,
            certificates,
            client_config: OnceLock::new(),
            h2_client_config: OnceLock::new(),
        })
    }

    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// The TLS client configuration for servers trusted by the system's roots
/// and, when given, a `ca_file`'s: TLS 1.2 and 1.3, ALPN h2 then http/1.1
/// (gRPC clients narrow it to h2). Built once per bundle, then shared.
pub fn client_config(ca: Option<&CaCertificates>) -> Result<Arc<ClientConfig>, String> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let cell = ca.map_or(&SYSTEM, |ca| &ca.client_config);
    cell.get_or_init(|| build_client_config(ca)).clone()
}

/// [`client_config`] offering only h2 by ALPN, for gRPC connections that
/// take the configuration as it is. Also built once per bundle and shared.
pub fn h2_client_config(ca: Option<&CaCertificates>) -> Result<Arc<ClientConfig>, String> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let cell = ca.map_or(&SYSTEM, |ca| &ca.h2_client_config);
    cell.get_or_init(|| {
        let mut config = ClientConfig::clone(&*client_config(ca)?);
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    })
    .clone()
}

fn build_client_config(ca: Option<&CaCertificates>) -> Result<Arc<ClientConfig>, String> {
    install_crypto_provider();
    let provider = CryptoProvider::get_default()
        .cloned()
        .ok_or("no TLS crypto provider is installed")?;
    let verifier: Arc<dyn ServerCertVerifier> = match ca {
        None => Arc::new(Verifier::new(provider.clone()).map_err(|err| {
            format!(
                "cannot load the system's root certificates: {err}; install the \
                 ca-certificates package or set ca_file"
            )
        })?),
        Some(ca) => Arc::new(
            Verifier::new_with_extra_roots(ca.certificates.iter().cloned(), provider.clone())
                .map_err(|err| format!("ca_file holds no usable certificate: {err}"))?,
        ),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("cannot set up TLS: {err}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CaCertificates({} certificates)",
            self.certificates.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_a_usable_certificate_is_refused() {
        for bad in [
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        ] {
            assert!(CaCertificates::from_pem(bad.into()).is_err(), "{bad}");
        }
    }
}
