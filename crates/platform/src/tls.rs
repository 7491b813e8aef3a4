//! The process's TLS crypto provider. reqwest (`rustls-no-provider`) and
//! tonic (`tls-ring`) both need rustls' process-wide provider installed
//! before their first client or server; everything that builds one calls
//! [`install_crypto_provider`] first. We use ring (docs/decisions.md, ring
//! not aws-lc), so aws-lc is never compiled. Also the extra trust roots a
//! tenant's `ca_file` adds.

use std::fmt;
use std::sync::Once;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

static INSTALL: Once = Once::new();

pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // An error means another part of the process installed one first; that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Extra trust roots from a config's `ca_file`: read and parsed once when the
/// config is validated, then shared (`Arc`) by every client that trusts them.
/// Keeps the PEM text too, for tonic, which takes its roots as PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificates {
    pem: Vec<u8>,
    certificates: Vec<CertificateDer<'static>>,
}

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
        Ok(Self { pem, certificates })
    }

    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
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
