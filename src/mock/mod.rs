//! A local Zoom emulator (cargo feature `mock`): Zoom's OAuth token endpoint
//! and WebSocket endpoint on 127.0.0.1, plain or TLS, with controls to inject
//! every failure Zoom is known (or suspected) to produce, and observations
//! to check what a client did. For tests, demos and benchmarks, offline.
//!
//! # Testing your own Zoom-event code
//!
//! Start a [`MockZoom`], point the client at it, send events, and assert on
//! what your code did with them:
//!
//! ```
//! use std::time::Duration;
//! use zoom_ws::mock::MockZoom;
//!
//! let zoom = MockZoom::start()?;
//! let client = zoom_ws::Client::builder()
//!     .credentials(zoom.credentials())
//!     .subscription_id(zoom.subscription_id())
//!     .url(zoom.ws_url())
//!     .connect()?;
//! assert!(zoom.wait_for_connections(1, Duration::from_secs(10)));
//!
//! zoom.send_event(&serde_json::json!({
//!     "event": "meeting.started",
//!     "event_ts": 1626230691572u64,
//!     "payload": {"account_id": "acct", "object": {"id": "1234567890", "topic": "My Meeting"}},
//! }));
//! let event = client.events().recv_timeout(Duration::from_secs(10)).unwrap();
//! assert_eq!(event.name(), "meeting.started");
//! client.close()?;
//! # Ok::<_, zoom_ws::Error>(())
//! ```
//!
//! For TLS, build it with `MockZoom::builder().tls(true).start()` and give
//! the client [`MockZoom::tls_config`] (or [`MockZoom::ca_pem`] as an extra
//! root): the emulator generates a throwaway CA at start-up.
//!
//! # Fault injection
//!
//! | Zoom behaviour | control |
//! |---|---|
//! | token endpoint down, rate limited | [`MockZoom::fail_token_requests`] |
//! | token expiry | [`MockZoom::set_token_lifetime`], [`MockZoom::revoke_tokens`] |
//! | token rejected in-band on a live socket | [`MockZoom::reject_token`] |
//! | upgrade refused with an HTTP status | [`MockZoom::refuse_upgrades`] |
//! | server closes with a close code | [`MockZoom::close_connections`] |
//! | TCP connection lost | [`MockZoom::drop_connections`] |
//! | dead link: TCP open, nothing flows | [`MockZoom::go_silent`], [`MockZoom::resume`] |
//! | odd frames | [`MockZoom::send_text`], [`MockZoom::send_binary`] |
//! | two sockets on one subscription | [`MockZoomBuilder::multi_connection`], [`MockZoom::set_multi_connection`] |
//!
//! Tests synchronise on the `wait_for_*` methods (a Condvar, no polling),
//! each bounded by a timeout so that a bug fails a test instead of hanging it.
//!
//! # Performance
//!
//! Frames are encoded once into WebSocket bytes; [`MockZoom::send_batch`]
//! and [`MockZoom::send_events_bulk`] write them in chunks of about 256 KiB
//! (one syscall each), so the emulator sends a million 600-byte events far
//! faster than a client parses them. A single [`MockZoom::send_event`] is
//! written on the calling thread before it returns: no queue, no polling
//! interval. A client that does not read makes sends block (TCP back
//! pressure), as a real server would; [`MockZoom::stop`] unblocks them.
//!
//! # Zoom's behaviour modelled, and what is assumed
//!
//! See ZOOM.md in the repository. Assumptions where Zoom's behaviour is
//! unverified: the `content` of a successful `build_connection`
//! (`"Connected successfully"`); the text refusing an unknown subscription
//! id (`"Invalid subscriptionId"`); that the server sends a Close frame with
//! code 1000 after a refused `build_connection`; that a new connection closes
//! the older one of the same subscription, with code 1000 (configurable:
//! [`MockZoomBuilder::multi_connection`] also models both receiving, split
//! delivery, and refusing the new one); that event frames
//! carry neither `success` nor `header`. Token expiry is only checked when a
//! connection opens: a live connection is not closed when its token expires.
//!
//! # Logging
//!
//! Through `log`, targets under `zoom_ws::mock`. INFO: connections accepted,
//! refused, closed. DEBUG: token requests, frames from the client. Never a
//! client secret or a token.

mod frames;
mod messages;
mod multi;
mod oauth;
mod observe;
mod server;
mod state;
mod tls;
mod ws;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::tls::TlsConfig;

pub use messages::{FrameBatch, SEQ_PLACEHOLDER};
pub use multi::{MultiConnection, ALREADY_CONNECTED};
pub use observe::{
    ClientClose, ConnectOutcome, ConnectionInfo, Heartbeat, TokenFailure, TokenRequest,
};

use messages::NumberedTemplate;
use state::{Config, Shared};
use ws::Conn;

/// Zoom's 2023 text for a rejected token, for [`MockZoom::reject_token`].
pub const INVALID_TOKEN: &str = "Invalid Token";

/// Zoom's 2025 text for a rejected token, for [`MockZoom::reject_token`].
pub const TOKEN_IS_INVALID: &str = "Token is invalid";

/// Configuration of a [`MockZoom`]; every setting has a default.
///
/// ```
/// use std::time::Duration;
/// let zoom = zoom_ws::mock::MockZoom::builder()
///     .tls(true)
///     .client_id("my-id")
///     .client_secret("my-secret")
///     .token_lifetime(Duration::from_secs(5))
///     .start()?;
/// assert!(zoom.ws_url().starts_with("wss://127.0.0.1:"));
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MockZoomBuilder {
    tls: bool,
    client_id: String,
    client_secret: Secret,
    account_id: String,
    subscription_id: String,
    token_lifetime: Duration,
    multi: MultiConnection,
}

impl Default for MockZoomBuilder {
    fn default() -> Self {
        MockZoomBuilder {
            tls: false,
            client_id: "mock-client-id".into(),
            client_secret: Secret::new("mock-client-secret"),
            account_id: "mock-account-id".into(),
            subscription_id: "mock-subscription-id".into(),
            token_lifetime: Duration::from_secs(3600),
            multi: MultiConnection::Kick,
        }
    }
}

impl MockZoomBuilder {
    /// Serve HTTPS and WSS with a CA generated at start-up. Default false:
    /// plain HTTP and WS.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// The OAuth client id the token endpoint accepts. Default `mock-client-id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The OAuth client secret the token endpoint accepts. Default
    /// `mock-client-secret`.
    pub fn client_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.client_secret = secret.into();
        self
    }

    /// The account id the `account_credentials` grant must name. Default
    /// `mock-account-id`.
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }

    /// The subscription id the WebSocket endpoint accepts. Default
    /// `mock-subscription-id`.
    pub fn subscription_id(mut self, id: impl Into<String>) -> Self {
        self.subscription_id = id.into();
        self
    }

    /// How long issued tokens stay valid (`expires_in`, in whole seconds, in
    /// the token response). Default 3600 s, as Zoom.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Whether a new connection closes the older ones of its subscription
    /// (code 1000). Default true: third-party docs say Zoom does so
    /// (unverified). True is [`MultiConnection::Kick`], false
    /// [`MultiConnection::Both`]; [`MockZoomBuilder::multi_connection`] has
    /// all four behaviours.
    pub fn one_connection_per_subscription(mut self, on: bool) -> Self {
        self.multi = if on {
            MultiConnection::Kick
        } else {
            MultiConnection::Both
        };
        self
    }

    /// What happens when a second socket opens on the subscription: kick
    /// the old one (the default), both receive, split the events, or refuse
    /// the new one. See [`MultiConnection`].
    pub fn multi_connection(mut self, mode: MultiConnection) -> Self {
        self.multi = mode;
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// Fails only if the port cannot be bound ([`Error::Network`]) or the
    /// TLS certificates cannot be generated ([`Error::Tls`]).
    pub fn start(self) -> Result<MockZoom> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::network("binding the Zoom emulator to 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::network("reading the Zoom emulator's address", e))?;
        let (server_tls, ca_pem, tls_config) = if self.tls {
            let generated = tls::MockTls::generate()?;
            let client = TlsConfig::with_extra_roots_pem(generated.ca_pem.as_bytes())?;
            (Some(generated.server), Some(generated.ca_pem), Some(client))
        } else {
            (None, None, None)
        };
        let config = Config {
            client_id: self.client_id,
            client_secret: self.client_secret,
            account_id: self.account_id,
            subscription_id: self.subscription_id,
        };
        let shared = Arc::new(Shared::new(
            config,
            addr,
            server_tls,
            self.token_lifetime,
            self.multi,
        ));
        let accept = server::spawn_accept(Arc::clone(&shared), listener)
            .map_err(|e| Error::network("starting the Zoom emulator's thread", e))?;
        let zoom = MockZoom {
            shared,
            accept: Mutex::new(Some(accept)),
            ca_pem,
            tls_config,
        };
        log::info!("zoom mock: listening on {}", zoom.api_base());
        Ok(zoom)
    }
}

/// The Zoom emulator: a token endpoint and a WebSocket endpoint on
/// 127.0.0.1, one port for both. See the [module docs](self).
///
/// Dropping it (or [`MockZoom::stop`]) closes the listener, drops every
/// connection and joins every thread. It is `Send + Sync`: share it with an
/// `Arc` to send from another thread.
///
/// Every `send_*` method writes to the live connections (accepted, not
/// closing, not dropped, not silent) on the calling thread before it
/// returns, and returns how many connections took it. Under
/// [`MultiConnection::Split`] each frame goes to one of them instead, and
/// the count is of the connections that took their share without failure.
pub struct MockZoom {
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
    ca_pem: Option<String>,
    tls_config: Option<TlsConfig>,
}

impl MockZoom {
    /// A plain (HTTP, WS) emulator with the default settings.
    pub fn start() -> Result<MockZoom> {
        Self::builder().start()
    }

    /// A builder for other settings (TLS, credentials, token lifetime).
    pub fn builder() -> MockZoomBuilder {
        MockZoomBuilder::default()
    }

    /// Stops serving: closes the listener, drops every connection without a
    /// Close frame, and joins every thread. Idempotent; also done on drop.
    pub fn stop(&self) {
        if !self.shared.stopping.swap(true, Ordering::SeqCst) {
            server::wake_accept(&self.shared);
        }
        let accept = self
            .accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(accept) = accept {
            let _ = accept.join();
        }
        let (sockets, threads, live) = self.shared.update(|s| {
            (
                std::mem::take(&mut s.sockets),
                std::mem::take(&mut s.threads),
                std::mem::take(&mut s.live),
            )
        });
        for conn in &live {
            conn.abort();
        }
        for socket in sockets.values() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        for thread in threads {
            let _ = thread.join();
        }
        if !live.is_empty() || !sockets.is_empty() {
            log::debug!("zoom mock: stopped");
        }
    }

    // ----- where it is -----

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// True for the TLS variant.
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    /// `http(s)://127.0.0.1:<port>`, also the `api_url` of token responses.
    pub fn api_base(&self) -> String {
        api_base(&self.shared)
    }

    /// `http(s)://127.0.0.1:<port>/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.api_base(), oauth::PATH)
    }

    /// `ws(s)://127.0.0.1:<port>/ws`, without a query: the client appends
    /// `?subscriptionId=..&access_token=..`.
    pub fn ws_url(&self) -> String {
        let scheme = if self.is_tls() { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.shared.addr, ws::PATH)
    }

    /// The generated CA certificate (PEM) for the TLS variant: the one root
    /// a client must trust.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// A TLS configuration that trusts the emulator: the default roots plus
    /// the generated CA (TLS variant), or just the defaults (plain).
    pub fn tls_config(&self) -> TlsConfig {
        self.tls_config.clone().unwrap_or_default()
    }

    /// Server-to-Server credentials (`account_credentials` grant) the token
    /// endpoint accepts, pointing at [`MockZoom::token_url`].
    pub fn credentials(&self) -> Credentials {
        let c = &self.shared.config;
        Credentials::account_credentials(&c.account_id, &c.client_id, c.client_secret.clone())
            .with_token_url(self.token_url())
            .expect("a loopback http(s) URL is a valid token URL")
    }

    /// General-app credentials (`client_credentials` grant) the token
    /// endpoint accepts, pointing at [`MockZoom::token_url`].
    pub fn client_credentials(&self) -> Credentials {
        let c = &self.shared.config;
        Credentials::client_credentials(&c.client_id, c.client_secret.clone())
            .with_token_url(self.token_url())
            .expect("a loopback http(s) URL is a valid token URL")
    }

    /// The subscription id the WebSocket endpoint accepts.
    pub fn subscription_id(&self) -> &str {
        &self.shared.config.subscription_id
    }

    /// The OAuth client id the token endpoint accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.config.client_id
    }

    /// The account id the `account_credentials` grant must name.
    pub fn account_id(&self) -> &str {
        &self.shared.config.account_id
    }

    // ----- sending -----

    /// Sends an event to every live connection, wrapped as Zoom does:
    /// `{"module":"message","content":"<event as a JSON string>"}`.
    pub fn send_event(&self, event: &serde_json::Value) -> usize {
        self.send_event_json(&event.to_string())
    }

    /// Sends an event given as JSON text (not checked: a malformed event is
    /// a legitimate test input), wrapped as Zoom does.
    pub fn send_event_json(&self, event_json: &str) -> usize {
        let mut batch = FrameBatch::new();
        batch.push_event_json(event_json);
        self.send_batch(&batch)
    }

    /// Sends `count` events made from `template`, in which every
    /// [`SEQ_PLACEHOLDER`] (`{seq}`) becomes `first_seq`, `first_seq + 1`,
    /// ... The frames are generated in chunks of about 256 KiB, each written
    /// with one syscall, so memory stays flat for any `count`. Returns how
    /// many connections took every event.
    ///
    /// ```
    /// # let zoom = zoom_ws::mock::MockZoom::start()?;
    /// let template = r#"{"event":"meeting.started","event_ts":{seq},"payload":{"object":{"id":"{seq}"}}}"#;
    /// zoom.send_events_bulk(template, 1, 1_000_000);
    /// # Ok::<_, zoom_ws::Error>(())
    /// ```
    pub fn send_events_bulk(&self, template: &str, first_seq: u64, count: u64) -> usize {
        let conns = self.shared.live();
        if conns.is_empty() {
            return 0;
        }
        let template = NumberedTemplate::new(template);
        let mut ok = vec![true; conns.len()];
        let mut chunk = Vec::with_capacity(messages::CHUNK + 4096);
        let end = first_seq.saturating_add(count);
        let mut seq = first_seq;
        while seq < end {
            chunk.clear();
            while seq < end && chunk.len() < messages::CHUNK {
                template.push(&mut chunk, seq);
                seq += 1;
            }
            if !self.write(&conns, &mut ok, &chunk) {
                break;
            }
        }
        ok.iter().filter(|ok| **ok).count()
    }

    /// Sends frames prepared beforehand, in chunks of about 256 KiB (one
    /// syscall each). Returns how many connections took every frame.
    pub fn send_batch(&self, batch: &FrameBatch) -> usize {
        let conns = self.shared.live();
        let mut ok = vec![true; conns.len()];
        for chunk in batch.chunks() {
            if !self.write(&conns, &mut ok, chunk) {
                break;
            }
        }
        ok.iter().filter(|ok| **ok).count()
    }

    /// Sends a raw text frame, as is.
    pub fn send_text(&self, text: &str) -> usize {
        let mut batch = FrameBatch::new();
        batch.push_text(text);
        self.send_batch(&batch)
    }

    /// Sends a binary frame (Zoom never does).
    pub fn send_binary(&self, data: &[u8]) -> usize {
        let mut batch = FrameBatch::new();
        batch.push_binary(data);
        self.send_batch(&batch)
    }

    // ----- connection faults -----

    /// Closes every live connection cleanly: a Close frame with `code` and
    /// `reason`, then the end of the sending direction. Returns how many.
    pub fn close_connections(&self, code: u16, reason: &str) -> usize {
        let n = self
            .shared
            .live()
            .iter()
            .filter(|c| c.close(code, reason))
            .count();
        self.shared.notify();
        n
    }

    /// Drops every connection abruptly: TCP shut down, no Close frame, no
    /// TLS close_notify. Returns how many.
    pub fn drop_connections(&self) -> usize {
        let conns: Vec<Arc<Conn>> = self.shared.lock().live.clone();
        let mut n = 0;
        for conn in conns.iter().filter(|c| !c.is_dead()) {
            conn.abort();
            n += 1;
        }
        self.shared.notify();
        n
    }

    /// Makes every live connection a dead link: TCP stays open, heartbeats
    /// are read (and recorded) but not acknowledged, and nothing is sent on
    /// it (events, pongs, close replies) until [`MockZoom::resume`].
    /// Connections opened later are not affected. Returns how many.
    pub fn go_silent(&self) -> usize {
        self.shared
            .live()
            .iter()
            .filter(|c| !c.set_silent(true))
            .count()
    }

    /// Ends [`MockZoom::go_silent`] on the connections still open. Returns how many.
    pub fn resume(&self) -> usize {
        let conns: Vec<Arc<Conn>> = self.shared.lock().live.clone();
        conns.iter().filter(|c| c.set_silent(false)).count()
    }

    /// While `hold` is true, a client's Close is recorded at once but
    /// answered only when this is set back to false (or after 10 s): the
    /// connection keeps taking frames meanwhile ([`MockZoom::send_event`]
    /// still reaches it), as a real server's does until it has read the
    /// Close. Models the events in flight as a client closes.
    pub fn hold_close_answers(&self, hold: bool) {
        self.shared.update(|s| s.hold_close_answers = hold);
    }

    /// Rejects the tokens of the live connections in-band, as Zoom does: sends
    /// `{"module":<module>,"success":false,"content":<content>,"header":{}}`
    /// on each (use [`INVALID_TOKEN`] or [`TOKEN_IS_INVALID`], any module),
    /// and marks their tokens invalid, so a reconnect with the same token is
    /// refused. The connections stay open: whether Zoom closes them is
    /// unverified; follow with [`MockZoom::close_connections`] to model that.
    /// Returns how many connections got the frame.
    pub fn reject_token(&self, module: &str, content: &str) -> usize {
        let conns = self.shared.live();
        self.shared.update(|s| {
            for c in &conns {
                s.revoke_token(&c.token);
            }
        });
        let frame = messages::failure(module, content);
        conns.iter().filter(|c| c.send(&frame)).count()
    }

    /// Refuses the next `times` upgrades with HTTP `status` (and a JSON
    /// body) instead of switching protocols. `times == 0` cancels.
    pub fn refuse_upgrades(&self, times: u32, status: u16) {
        self.shared
            .update(|s| s.upgrade_refusals = (times > 0).then_some((times, status)));
    }

    /// Switches [`MockZoomBuilder::one_connection_per_subscription`] at run time.
    pub fn set_one_connection_per_subscription(&self, on: bool) {
        self.set_multi_connection(if on {
            MultiConnection::Kick
        } else {
            MultiConnection::Both
        });
    }

    /// Switches [`MockZoomBuilder::multi_connection`] at run time (for
    /// connections opened from now on; open ones stay open).
    pub fn set_multi_connection(&self, mode: MultiConnection) {
        self.shared.update(|s| s.multi = mode);
    }

    /// The current [`MultiConnection`] behaviour.
    pub fn multi_connection(&self) -> MultiConnection {
        self.shared.lock().multi
    }

    // ----- token faults -----

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.update(|s| s.token_lifetime = lifetime);
    }

    /// Fails the next `times` token requests as `failure` says, before any
    /// credential check. `times == 0` cancels.
    pub fn fail_token_requests(&self, times: u32, failure: TokenFailure) {
        self.shared
            .update(|s| s.token_failures = (times > 0).then_some((times, failure)));
    }

    /// Makes every token issued so far invalid for new connections (live
    /// connections stay up: see [`MockZoom::reject_token`]).
    pub fn revoke_tokens(&self) {
        self.shared.update(|s| s.revoke_all());
    }

    /// Issues a valid token directly, without a token request (for raw
    /// clients that skip OAuth).
    pub fn issue_token(&self) -> Secret {
        self.shared.update(|s| s.issue_token().0)
    }

    // ----- observations -----

    /// How many tokens the token endpoint (or [`MockZoom::issue_token`]) issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().issued.len()
    }

    /// Every token issued, oldest first.
    pub fn issued_tokens(&self) -> Vec<Secret> {
        self.shared.lock().issued.clone()
    }

    /// Every request to the token endpoint, oldest first.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().token_requests.clone()
    }

    /// Every heartbeat received, oldest first.
    pub fn heartbeats(&self) -> Vec<Heartbeat> {
        self.shared.lock().heartbeats.clone()
    }

    /// How many heartbeats were received.
    pub fn heartbeat_count(&self) -> usize {
        self.shared.lock().heartbeats.len()
    }

    /// Every attempt to open a WebSocket, accepted or not, oldest first.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.lock().connections.clone()
    }

    /// How many connections were accepted (`build_connection` success).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().accepted_count()
    }

    /// How many accepted connections are open now (not closing, not dropped).
    pub fn live_connections(&self) -> usize {
        self.shared.lock().live_count()
    }

    /// Every Close frame received from clients, oldest first.
    pub fn client_closes(&self) -> Vec<ClientClose> {
        self.shared.lock().closes.clone()
    }

    /// Every text frame from clients other than heartbeats, oldest first
    /// (the first 16 MiB of them: a flood is counted, not kept).
    pub fn received_texts(&self) -> Vec<String> {
        self.shared.lock().texts.clone()
    }

    // ----- waiting -----

    /// Waits until at least `n` connections were accepted in total. False on timeout.
    pub fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.accepted_count() >= n)
    }

    /// Waits until at least `n` upgrade attempts were seen in total, accepted
    /// or not. False on timeout.
    pub fn wait_for_connect_attempts(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.connections.len() >= n)
    }

    /// Waits until exactly `n` accepted connections are open. False on timeout.
    pub fn wait_for_live_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.live_count() == n)
    }

    /// Waits until at least `n` heartbeats were received in total. False on timeout.
    pub fn wait_for_heartbeats(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.heartbeats.len() >= n)
    }

    /// Waits until at least `n` token requests were seen in total. False on timeout.
    pub fn wait_for_token_requests(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.token_requests.len() >= n)
    }

    /// Waits until at least `n` non-heartbeat text frames were received in
    /// total. False on timeout.
    pub fn wait_for_texts(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.texts_seen >= n)
    }

    /// Waits until at least `n` Close frames were received from clients in
    /// total (answers to the emulator's included). False on timeout.
    pub fn wait_for_client_closes(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.closes.len() >= n)
    }

    /// Waits until a client has started a closing handshake with a code (not
    /// answering one the emulator sent), and returns the latest such code.
    /// `None` on timeout.
    pub fn wait_for_close_code(&self, timeout: Duration) -> Option<u16> {
        let mut code = None;
        self.shared.wait_until(timeout, |s| {
            code = s
                .closes
                .iter()
                .rev()
                .find(|c| !c.reply)
                .and_then(|c| c.code);
            code.is_some()
        });
        code
    }
}

impl MockZoom {
    /// Writes whole frames to the connections still marked ok: each frame
    /// to all of them, or under [`MultiConnection::Split`] to one of them,
    /// round robin. False once none is ok.
    fn write(&self, conns: &[Arc<Conn>], ok: &mut [bool], bytes: &[u8]) -> bool {
        if conns.len() < 2 || self.shared.lock().multi != MultiConnection::Split {
            return write_to_all(conns, ok, bytes);
        }
        for frame in multi::split_frames(bytes) {
            // The next connection still ok takes the frame; one whose write
            // fails is skipped from then on.
            loop {
                if !ok.iter().any(|ok| *ok) {
                    return false;
                }
                let i = self.shared.round_robin.fetch_add(1, Ordering::Relaxed) % conns.len();
                if ok[i] {
                    ok[i] = conns[i].send(frame);
                    if ok[i] {
                        break;
                    }
                }
            }
        }
        ok.iter().any(|ok| *ok)
    }
}

/// Writes `bytes` to each connection still marked ok; false once none is.
fn write_to_all(conns: &[Arc<Conn>], ok: &mut [bool], bytes: &[u8]) -> bool {
    for (conn, ok) in conns.iter().zip(ok.iter_mut()) {
        if *ok {
            *ok = conn.send(bytes);
        }
    }
    ok.iter().any(|ok| *ok)
}

/// `http(s)://127.0.0.1:<port>`.
pub(crate) fn api_base(shared: &Shared) -> String {
    let scheme = if shared.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", shared.addr)
}

impl Drop for MockZoom {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for MockZoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockZoom")
            .field("addr", &self.shared.addr)
            .field("tls", &self.is_tls())
            .field("client_id", &self.shared.config.client_id)
            .field("subscription_id", &self.shared.config.subscription_id)
            .finish_non_exhaustive()
    }
}
