//! Zoom's real-time events over Zoom WebSockets, for plain blocking Rust.
//!
//! No async runtime: one thread owns the socket and keeps Zoom's heartbeat,
//! a second refreshes the OAuth token before it expires, and events reach you
//! on a [crossbeam channel](crossbeam_channel::Receiver).
//!
//! ```no_run
//! let client = zoom_ws::Client::builder()
//!     .credentials(zoom_ws::Credentials::from_env()?) // ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET
//!     .subscription_id(std::env::var("ZOOM_SUBSCRIPTION_ID").unwrap_or_default())
//!     .connect()?;
//! for ev in client.events() {
//!     println!("{} {}", ev.name(), ev.payload());
//! }
//! # Ok::<_, zoom_ws::Error>(())
//! ```
//!
//! # Events
//!
//! An [`Event`] keeps the complete JSON Zoom sent; its name, `event_ts` and
//! the raw `payload` are at hand without further parsing, and
//! [`Event::typed`] parses the common events into the structs of [`typed`].
//! Webhook deliveries parse into the same type ([`webhook`]).
//!
//! # Several subscriptions
//!
//! One client per subscription; they can share one token stream
//! ([`ClientBuilder::token_source`]) and one event channel
//! ([`ClientBuilder::share_events_with`]), each event saying where it came
//! from ([`Event::subscription_id`]).
//!
//! # Connection state and gaps
//!
//! Zoom does not re-send events that happen while no connection is open.
//! [`Client::states`] reports every [`StateChange`] with timestamps; a
//! [`StateChange::Reconnected`] carries the gap to backfill over the REST API.
//!
//! # Threads
//!
//! [`Client`], [`Closer`] and [`Event`] are `Send` and `Sync` (asserted at
//! compile time), as is [`Error`]: share a `Client` by reference or in an
//! `Arc`, hand a `Closer` to the thread that waits for a signal, move events
//! to worker threads. The receivers are crossbeam's, re-exported as
//! [`crossbeam_channel`] so that `select!` over events, states and your own
//! channels needs no version of its own.
//!
//! # Errors
//!
//! One [`Error`] enum. Fatal errors (bad credentials, a refused
//! subscription) make [`ClientBuilder::connect`] fail at once, or end the
//! event iterator; [`Client::close`] then returns the error. Transient ones
//! (network, 5xx, 429) are retried with exponential backoff and full jitter.
//! No error, `Debug` output or log line contains a client secret or an
//! access token ([`Secret`]).
//!
//! # TLS
//!
//! rustls with the `ring` provider, passed explicitly (never the process
//! default), and the Mozilla roots. [`ClientBuilder::extra_root_pem`] adds
//! roots (a proxy's CA, a test CA) to the defaults. One configuration
//! serves the token endpoint, the WebSocket and REST calls on the client's
//! tokens (`rest::Api::new(client.token_source())`).
//!
//! # Proxies
//!
//! The token request, REST calls and the WebSocket go through an HTTP
//! `CONNECT` proxy when one is set: by default the one the environment
//! names (`HTTPS_PROXY`, then `ALL_PROXY`, with `NO_PROXY` exemptions),
//! or [`ClientBuilder::proxy`] with a [`Proxy`], or none at all with
//! [`ClientBuilder::no_proxy`]. TLS runs inside the tunnel, end to end
//! with Zoom; the proxy's credentials (`http://user:password@host:port`)
//! go in `Proxy-Authorization: Basic` and are kept out of `Debug`, errors
//! and logs like every other secret. A refusal is [`Error::Proxy`] with
//! the proxy's status. Loopback destinations never use a proxy from the
//! environment, and plain-text ones (`ws://`, `http://`, loopback only)
//! never use any. [`proxy`] has the rules, `NO_PROXY`'s syntax included.
//!
//! # Logging
//!
//! Through the [`log`] facade; the crate never prints. ERROR: the stream
//! stopped on a fatal error. WARN: a lost connection, a skipped frame, a
//! failed token refresh. INFO: connected, reconnected with the gap. DEBUG and
//! TRACE: token refreshes, heartbeats. The crate keeps tokens out of its own
//! logs at every level, and does its own WebSocket upgrade so that
//! tungstenite never sees (and logs) the token-bearing URL. One caveat:
//! ureq, at TRACE, hex-dumps the raw bytes of the token request and
//! response (target `ureq_proto`), and tungstenite's TRACE shows whole
//! frames (a recording's `download_token`); keep the targets `ureq`,
//! `ureq_proto` and `tungstenite` below TRACE in production. The logger
//! of the `zoom-ws` command and the examples does so unless `RUST_LOG`
//! names the target itself
//! (`RUST_LOG=trace` leaves them at DEBUG; `RUST_LOG=trace,ureq_proto=trace`
//! opens that one).
//!
//! # Testing without Zoom
//!
//! The cargo feature `mock` adds `zoom_ws::mock`, a local Zoom emulator
//! (token endpoint and WebSocket endpoint, plain and TLS) with fault
//! injection, for your own tests.
//!
//! # The `zoom-ws` command
//!
//! `cargo install zoom-ws --features cli` installs a binary with four
//! subcommands: `listen` (events as JSON lines), `emulator`, `jwt` and
//! `webhook`; `zoom-ws COMMAND --help` lists each one's environment
//! variables and flags.
//!
//! # Features
//!
//! Webhook-only and JWT-only users can leave the WebSocket stack out
//! (`default-features = false, features = ["webhook"]`). Crates: the crates
//! compiled, zoom-ws included (`cargo tree -e normal,build --prefix none
//! --no-default-features --features X`, one line per crate, as in README):
//!
//! | Feature | Default | Adds | Brings in | Crates |
//! |---|---|---|---|---|
//! | (none) | | [`Event`], [`typed`], [`Error`], [`Secret`] | serde, serde_json | 12 |
//! | `webhook` | yes | `zoom_ws::webhook` | ring | 20 |
//! | `jwt` | yes | `zoom_ws::jwt` | ring, base64 | 21 |
//! | `stream` | yes | `Client`, `oauth`, `rest`; turns on `jwt` | tungstenite, ureq, rustls, webpki-roots, crossbeam-channel, log | 46 |
//! | `mock` | no | `zoom_ws::mock`; turns on `stream` | rcgen | 54 |
//! | `redis` | no | `zoom_ws::ha`; turns on `stream` | redis | 81 |
//! | `cli` | no | the `zoom-ws` binary (`cargo install zoom-ws --features cli`); turns on `stream`, `webhook`, `jwt`, `mock` | signal-hook | 57 |
//!
//! The default (`stream`, `webhook`, `jwt`) compiles 46 crates: `webhook`
//! and `jwt` add nothing that `stream` does not already bring.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Modules by feature. Always: events, errors, secrets. `stream`: the
// WebSocket client, OAuth and REST. `jwt`, `webhook`: HMAC-SHA256 only.
// Helpers used by every feature have parts only `stream` uses.
#[cfg(feature = "stream")]
mod backoff;
#[cfg(feature = "stream")]
mod client;
#[cfg(feature = "stream")]
mod credentials;
#[cfg(feature = "stream")]
mod endpoint;
#[cfg_attr(not(feature = "stream"), allow(dead_code))]
mod error;
mod event;
#[cfg(feature = "redis")]
pub mod ha;
#[cfg(feature = "stream")]
mod handshake;
#[cfg(any(feature = "jwt", feature = "webhook"))]
#[cfg_attr(not(feature = "webhook"), allow(dead_code))]
mod hmac;
#[cfg(feature = "stream")]
mod http;
mod json;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "stream")]
pub mod oauth;
#[cfg(feature = "stream")]
pub mod proxy;
#[cfg(feature = "stream")]
pub mod rest;
#[cfg_attr(not(feature = "stream"), allow(dead_code))]
mod secret;
#[cfg(feature = "stream")]
mod socket;
#[cfg(feature = "stream")]
mod state;
#[cfg(feature = "stream")]
mod sync;
#[cfg_attr(not(feature = "stream"), allow(dead_code))]
mod text;
#[cfg(any(feature = "jwt", feature = "webhook"))]
mod time;
#[cfg(feature = "stream")]
mod tls;
pub mod typed;
#[cfg(feature = "webhook")]
pub mod webhook;
#[cfg(feature = "stream")]
mod wire;

#[cfg(feature = "stream")]
pub use backoff::Backoff;
#[cfg(feature = "stream")]
pub use client::{ChannelPolicy, Client, ClientBuilder, Closer, DEFAULT_WS_URL};
#[cfg(feature = "stream")]
pub use credentials::{Credentials, Grant, DEFAULT_TOKEN_URL};
pub use error::{Error, JwtError, Result, WebhookError};
pub use event::Event;
#[cfg(feature = "stream")]
pub use http::HttpTimeouts;
#[cfg(feature = "stream")]
pub use oauth::{fetch_token, AccessToken, RefreshOptions, TokenRefresher, TokenSource};
#[cfg(feature = "stream")]
pub use proxy::Proxy;
pub use secret::Secret;
#[cfg(feature = "stream")]
pub use state::StateChange;
#[cfg(feature = "stream")]
pub use tls::TlsConfig;

/// The channel crate of [`Client::events`] and [`Client::states`],
/// re-exported so that `select!`, `Receiver` and `RecvTimeoutError` are the
/// version zoom-ws uses, whatever version your own Cargo.toml names.
#[cfg(feature = "stream")]
pub use crossbeam_channel;

// The thread-safety promised in the crate docs ("Threads"), checked by every
// build: a field that is not Send or Sync fails here.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Event>();
    send_sync::<Error>();
    #[cfg(feature = "stream")]
    send_sync::<Client>();
    #[cfg(feature = "stream")]
    send_sync::<Closer>();
};

/// The examples in README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Not part of the API (no semver promise): entry points into every parser
/// that reads outside bytes, for `fuzz/` and `tests/fuzz_corpus.rs`.
#[cfg(feature = "stream")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

/// Not part of the API (no semver promise): the per-frame parsing of the
/// socket thread, exposed for the benchmark's instruction counts.
#[cfg(feature = "stream")]
#[doc(hidden)]
pub fn __parse_frame(text: &str) -> Option<Event> {
    match wire::parse(text) {
        wire::Inbound::Event(ev) => Some(ev),
        _ => None,
    }
}
