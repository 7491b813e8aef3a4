//! The process's TLS crypto provider. reqwest (`rustls-no-provider`) and
//! tonic (`tls-ring`) both need rustls' process-wide provider installed
//! before their first client or server; everything that builds one calls
//! [`install_crypto_provider`] first. We use ring (docs/decisions.md, ring
//! not aws-lc), so aws-lc is never compiled.

use std::sync::Once;

static INSTALL: Once = Once::new();

pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // An error means another part of the process installed one first; that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
