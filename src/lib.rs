//! zoom-ws: Zoom's real-time events over Zoom WebSockets, for plain blocking Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
mod credentials;
mod endpoint;
mod handshake;
mod error;
mod oauth;
mod secret;
mod tls;

pub use backoff::Backoff;
pub use credentials::{Credentials, Grant, DEFAULT_TOKEN_URL};
pub use error::{Error, JwtError, Result, WebhookError};
pub use oauth::{fetch_token, AccessToken, HttpTimeouts, RefreshOptions, TokenRefresher, TokenSource};
pub use secret::Secret;
pub use tls::TlsConfig;
