//! zoom-ws: Zoom's real-time events over Zoom WebSockets, for plain blocking Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
mod client;
mod credentials;
mod endpoint;
mod error;
mod event;
mod handshake;
mod hmac;
mod http;
pub mod jwt;
mod oauth;
mod secret;
mod socket;
mod state;
mod tls;
pub mod typed;
pub mod webhook;
mod wire;

pub use backoff::Backoff;
pub use client::{ChannelPolicy, Client, ClientBuilder, Closer, DEFAULT_WS_URL};
pub use credentials::{Credentials, Grant, DEFAULT_TOKEN_URL};
pub use error::{Error, JwtError, Result, WebhookError};
pub use event::Event;
pub use oauth::{
    fetch_token, AccessToken, HttpTimeouts, RefreshOptions, TokenRefresher, TokenSource,
};
pub use secret::Secret;
pub use state::StateChange;
pub use tls::TlsConfig;
