//! [`Credentials`]: who the app is, and where it gets its tokens.

use std::fmt;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Zoom's OAuth token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://zoom.us/oauth/token";

/// The OAuth grant used to obtain access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// `grant_type=account_credentials`: Server-to-Server OAuth apps. Needs the
    /// account id.
    AccountCredentials {
        /// The Zoom account id (`ZOOM_ACCOUNT_ID`).
        account_id: String,
    },
    /// `grant_type=client_credentials`: general apps, no account id.
    ClientCredentials,
}

/// An app's OAuth credentials and token endpoint.
///
/// `Debug` shows the client id and redacts the secret.
///
/// ```
/// let creds = zoom_ws::Credentials::account_credentials("acct", "id", "secret");
/// assert!(!format!("{creds:?}").contains("secret\""));
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) grant: Grant,
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) token_url: Endpoint,
}

impl Credentials {
    /// Credentials of a Server-to-Server OAuth app (`account_credentials` grant).
    pub fn account_credentials(
        account_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Self::new(
            Grant::AccountCredentials {
                account_id: account_id.into(),
            },
            client_id,
            client_secret,
        )
    }

    /// Credentials of a general app (`client_credentials` grant).
    pub fn client_credentials(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Self::new(Grant::ClientCredentials, client_id, client_secret)
    }

    fn new(grant: Grant, client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Credentials {
            grant,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_url: Endpoint::parse(DEFAULT_TOKEN_URL, "https", "http", "token URL")
                .expect("the default token URL is valid"),
        }
    }

    /// Reads Zoom's usual environment variables:
    ///
    /// | variable | |
    /// |---|---|
    /// | `ZOOM_ACCOUNT_ID` | set: `account_credentials` grant; absent or empty: `client_credentials` |
    /// | `ZOOM_CLIENT_ID` | required |
    /// | `ZOOM_CLIENT_SECRET` | required |
    /// | `ZOOM_OAUTH_URL` | optional token endpoint, default [`DEFAULT_TOKEN_URL`] |
    ///
    /// A missing or empty required variable is an [`Error::Config`] that names it.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`Credentials::from_env`], reading from any key-value source.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let required = |key: &'static str| {
            get(key).ok_or_else(|| Error::Config(format!("{key} is not set (or is empty)")))
        };
        let client_id = required("ZOOM_CLIENT_ID")?;
        let secret = required("ZOOM_CLIENT_SECRET")?;
        let creds = match get("ZOOM_ACCOUNT_ID") {
            Some(account) => Self::account_credentials(account.trim(), client_id.trim(), secret),
            None => Self::client_credentials(client_id.trim(), secret),
        };
        match get("ZOOM_OAUTH_URL") {
            Some(url) => creds.with_token_url(url.trim()),
            None => Ok(creds),
        }
    }

    /// Uses another token endpoint (tests, proxies, other Zoom clouds). It
    /// must be `https://`; `http://` is accepted only for loopback hosts.
    pub fn with_token_url(mut self, url: impl AsRef<str>) -> Result<Self> {
        self.token_url = Endpoint::parse(url.as_ref(), "https", "http", "token URL")?;
        Ok(self)
    }

    /// The grant these credentials use.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> &str {
        &self.token_url.url
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("grant", &self.grant)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("token_url", &self.token_url.url)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn grant_follows_account_id() {
        let c = Credentials::from_lookup(env(&[
            ("ZOOM_ACCOUNT_ID", "acc"),
            ("ZOOM_CLIENT_ID", "cid"),
            ("ZOOM_CLIENT_SECRET", "sec"),
        ]))
        .unwrap();
        assert_eq!(
            c.grant(),
            &Grant::AccountCredentials {
                account_id: "acc".into()
            }
        );
        let c = Credentials::from_lookup(env(&[
            ("ZOOM_ACCOUNT_ID", ""),
            ("ZOOM_CLIENT_ID", "cid"),
            ("ZOOM_CLIENT_SECRET", "sec"),
        ]))
        .unwrap();
        assert_eq!(c.grant(), &Grant::ClientCredentials);
        assert_eq!(c.token_url(), DEFAULT_TOKEN_URL);
    }

    #[test]
    fn missing_key_is_named() {
        let e = Credentials::from_lookup(env(&[("ZOOM_CLIENT_ID", "cid")])).unwrap_err();
        assert!(e.to_string().contains("ZOOM_CLIENT_SECRET"), "{e}");
        let e =
            Credentials::from_lookup(env(&[("ZOOM_CLIENT_ID", " "), ("ZOOM_CLIENT_SECRET", "s")]))
                .unwrap_err();
        assert!(e.to_string().contains("ZOOM_CLIENT_ID"), "{e}");
    }

    #[test]
    fn token_url_must_be_https_unless_loopback() {
        let c = Credentials::client_credentials("id", "sec");
        assert!(c.clone().with_token_url("http://127.0.0.1:1/t").is_ok());
        let e = c
            .with_token_url("http://example.com/t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("loopback"), "{e}");
    }

    #[test]
    fn debug_redacts_secret() {
        let c = Credentials::account_credentials("acc", "cid", "very-secret-value");
        let s = format!("{c:?} {c:#?}");
        assert!(!s.contains("very-secret-value"), "{s}");
        assert!(s.contains("cid"));
    }
}
