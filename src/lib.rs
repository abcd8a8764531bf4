//! zoom-ws: Zoom's real-time events over Zoom WebSockets, for plain blocking Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
mod credentials;
mod endpoint;
mod error;
mod event;
mod handshake;
mod hmac;
mod oauth;
mod secret;
mod tls;
pub mod jwt;
pub mod typed;
pub mod webhook;

pub use backoff::Backoff;
pub use credentials::{Credentials, Grant, DEFAULT_TOKEN_URL};
pub use error::{Error, JwtError, Result, WebhookError};
pub use event::Event;
pub use oauth::{
    fetch_token, AccessToken, HttpTimeouts, RefreshOptions, TokenRefresher, TokenSource,
};
pub use secret::Secret;
pub use tls::TlsConfig;
