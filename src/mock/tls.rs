//! The emulator's TLS: a test CA and a server certificate for 127.0.0.1 and
//! localhost, generated with rcgen at start-up, and the rustls server
//! configuration built on the `ring` provider passed explicitly (never the
//! process default).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use crate::error::{Error, Result};

/// A fresh CA and the server configuration that presents a certificate it signed.
pub(crate) struct MockTls {
    /// The CA certificate, PEM: the one root a client must trust.
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

fn tls_error(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Tls {
        context: format!("generating the emulator's {context}"),
        source: Box::new(e),
    }
}

impl MockTls {
    pub(crate) fn generate() -> Result<Self> {
        // The CA. rcgen's default validity (1975 to 4096) keeps clock skew
        // out of the picture.
        let mut ca_params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| tls_error("CA parameters", e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "zoom-ws mock CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(|e| tls_error("CA key", e))?;
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| tls_error("CA certificate", e))?;
        let issuer = Issuer::new(ca_params, ca_key);

        // The server certificate.
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(|e| tls_error("server certificate parameters", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "zoom-ws mock server");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(|e| tls_error("server key", e))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| tls_error("server certificate", e))?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("TLS protocol versions", e))?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(|e| tls_error("server TLS configuration", e))?;
        Ok(MockTls {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }
}
