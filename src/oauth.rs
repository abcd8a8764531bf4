//! OAuth access tokens: fetching them from Zoom's token endpoint, and the
//! refresh thread that keeps a valid one at hand.
//!
//! STUB: being written (issue 2). The public API below is fixed; bodies are
//! placeholders.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// Timeouts of every HTTP request the crate makes (token endpoint, REST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// TCP + TLS connect. Default 10 s.
    pub connect: Duration,
    /// The whole request, from connect to the last byte of the body. Default 30 s.
    pub overall: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(10),
            overall: Duration::from_secs(30),
        }
    }
}

/// An OAuth access token and what came with it. `Debug` redacts the token.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub(crate) token: Secret,
    pub(crate) token_type: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) api_url: Option<String>,
    pub(crate) expires_at: Instant,
    pub(crate) generation: u64,
}

impl AccessToken {
    /// The token itself.
    pub fn secret(&self) -> &Secret {
        &self.token
    }
    /// `token_type` as Zoom sent it (`bearer`).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// `api_url` from the token response, if Zoom sent one.
    pub fn api_url(&self) -> Option<&str> {
        self.api_url.as_deref()
    }
    /// When the token expires.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
    /// Time left before expiry (zero once expired).
    pub fn expires_in(&self) -> Duration {
        self.expires_at.saturating_duration_since(Instant::now())
    }
    /// Counts the tokens a source has published: 1 for the first.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Options of the refresh thread.
#[derive(Debug, Clone, Default)]
pub struct RefreshOptions {
    /// TLS roots for the token endpoint.
    pub tls: TlsConfig,
    /// Request timeouts.
    pub timeouts: HttpTimeouts,
    /// Retry delays for transient failures.
    pub backoff: Backoff,
}

/// Fetches one token, once, with no retries.
pub fn fetch_token(_creds: &Credentials, _opts: &RefreshOptions) -> Result<AccessToken> {
    Err(Error::Closed)
}

/// Owns the token-refresh thread. Dropping it stops and joins the thread.
#[derive(Debug)]
pub struct TokenRefresher {
    source: TokenSource,
}

impl TokenRefresher {
    /// Starts the refresh thread. It fetches a token at once.
    pub fn start(_creds: Credentials, _opts: RefreshOptions) -> Self {
        TokenRefresher {
            source: TokenSource { _shared: Arc::new(()) },
        }
    }

    /// A cheap, cloneable reader of the current token.
    pub fn source(&self) -> TokenSource {
        self.source.clone()
    }

    /// Stops the thread and joins it.
    pub fn stop(self) {}
}

/// Reads the token the refresh thread publishes. Cheap to clone; every
/// method returns without network I/O.
#[derive(Debug, Clone)]
pub struct TokenSource {
    _shared: Arc<()>,
}

impl TokenSource {
    /// The current token if it is still valid.
    pub fn current(&self) -> Option<AccessToken> {
        None
    }

    /// Waits up to `timeout` for a valid token. Returns the fatal error if
    /// the refresh thread has stopped on one, `Error::Closed` if it was
    /// stopped, and the last transient error (or a timeout) when the time is up.
    pub fn wait(&self, _timeout: Duration) -> Result<AccessToken> {
        Err(Error::Closed)
    }

    /// Asks for a new token because `rejected` was refused by Zoom. Returns at
    /// once. Coalesces: if a token newer than `rejected` exists or a refresh
    /// is under way, nothing more is asked.
    pub fn force_refresh(&self, _rejected: &AccessToken) {}

    /// The fatal error the refresh thread stopped on, if any.
    pub fn fatal_error(&self) -> Option<Error> {
        None
    }
}
