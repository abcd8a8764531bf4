//! [`TlsConfig`]: the one rustls configuration shared by the OAuth client,
//! the REST client and the WebSocket.
//!
//! rustls runs with the `ring` provider passed explicitly
//! (`builder_with_provider`), never the process-wide default, so an
//! application that also links aws-lc-rs does not panic, and this crate never
//! calls `install_default()`.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::{Error, Result};

/// Trusted roots and TLS settings for every connection the crate makes.
///
/// The default trusts the Mozilla root store (webpki-roots). Extra roots from
/// PEM (a corporate proxy's CA, a test CA) are **added** to those defaults;
/// they do not replace them.
///
/// ```
/// let tls = zoom_ws::TlsConfig::default();
/// assert_eq!(tls.extra_roots(), 0);
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    extra_roots: usize,
}

impl TlsConfig {
    /// Trusts the Mozilla roots plus every certificate in `pem` (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks). A PEM without any certificate,
    /// or with one rustls cannot use as a root, is an error.
    pub fn with_extra_roots_pem(pem: &[u8]) -> Result<Self> {
        Self::build(&parse_pem_certs(pem)?)
    }

    /// Wraps a rustls configuration built elsewhere. It should use an explicit
    /// crypto provider (`ClientConfig::builder_with_provider`).
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        TlsConfig {
            config,
            extra_roots: 0,
        }
    }

    /// How many roots were added to the defaults.
    pub fn extra_roots(&self) -> usize {
        self.extra_roots
    }

    /// The rustls configuration, for use with other clients.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    fn build(extra: &[CertificateDer<'static>]) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra {
            roots.add(cert.clone()).map_err(|e| {
                Error::Config(format!(
                    "extra TLS root is not a usable CA certificate: {e}"
                ))
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS protocol versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConfig {
            config: Arc::new(config),
            extra_roots: extra.len(),
        })
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self::build(&[]).expect("the default TLS configuration builds")
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("extra_roots", &self.extra_roots)
            .finish_non_exhaustive()
    }
}

/// Every certificate in a PEM text.
pub(crate) fn parse_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("extra TLS roots: bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(
            "extra TLS roots: no -----BEGIN CERTIFICATE----- block in the PEM".into(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_an_error() {
        let e = TlsConfig::with_extra_roots_pem(b"hello").unwrap_err();
        assert!(
            e.to_string().contains("no -----BEGIN CERTIFICATE-----"),
            "{e}"
        );
    }
}
