//! The emulator's shared state: configuration, tokens, live connections,
//! observations, and the Condvar that test waiters block on. One Mutex
//! guards it all; nothing slow (no I/O) happens while it is held.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use super::multi::MultiConnection;
use super::observe::{ClientClose, ConnectionInfo, Heartbeat, TokenFailure, TokenRequest};
use super::ws::Conn;
use crate::secret::Secret;

/// How many bytes of client text frames are kept for
/// [`MockZoom::received_texts`](super::MockZoom::received_texts): a client
/// that floods the emulator must not make it grow without bound.
pub(crate) const MAX_KEPT_TEXT: usize = 16 * 1024 * 1024;

/// Fixed at start-up.
pub(crate) struct Config {
    pub client_id: String,
    pub client_secret: Secret,
    pub account_id: String,
    pub subscription_id: String,
}

/// Everything the threads of one emulator share.
pub(crate) struct Shared {
    pub config: Config,
    pub addr: SocketAddr,
    /// The server TLS configuration, for the TLS variant.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub stopping: AtomicBool,
    /// The next connection to get a frame under [`MultiConnection::Split`].
    pub round_robin: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
}

/// What an access token is worth on the WebSocket endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Empty,
    Valid,
    Invalid,
}

struct TokenState {
    expires_at: Instant,
    revoked: bool,
}

/// The mutable part.
pub(crate) struct State {
    pub token_lifetime: Duration,
    tokens: HashMap<String, TokenState>,
    pub issued: Vec<Secret>,
    pub token_requests: Vec<TokenRequest>,
    /// Failures still to inject, and how.
    pub token_failures: Option<(u32, TokenFailure)>,
    /// Upgrades still to refuse, and with which status.
    pub upgrade_refusals: Option<(u32, u16)>,
    /// What a second connection on the subscription does.
    pub multi: MultiConnection,
    /// A client's Close waits for its answer while set
    /// ([`MockZoom::hold_close_answers`](super::MockZoom::hold_close_answers)).
    pub hold_close_answers: bool,
    /// Upgraded, accepted connections whose reader still runs.
    pub live: Vec<Arc<Conn>>,
    pub connections: Vec<ConnectionInfo>,
    pub heartbeats: Vec<Heartbeat>,
    pub closes: Vec<ClientClose>,
    /// Non-heartbeat text frames, kept up to [`MAX_KEPT_TEXT`] bytes in all.
    pub texts: Vec<String>,
    texts_bytes: usize,
    /// Non-heartbeat text frames received, kept or not.
    pub texts_seen: usize,
    /// A handle on every accepted socket, to shut it down on stop.
    pub sockets: HashMap<u64, TcpStream>,
    /// Connection threads, joined on stop.
    pub threads: Vec<JoinHandle<()>>,
    pub next_id: u64,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        token_lifetime: Duration,
        multi: MultiConnection,
    ) -> Self {
        Shared {
            config,
            addr,
            tls,
            stopping: AtomicBool::new(false),
            round_robin: AtomicUsize::new(0),
            state: Mutex::new(State {
                token_lifetime,
                tokens: HashMap::new(),
                issued: Vec::new(),
                token_requests: Vec::new(),
                token_failures: None,
                upgrade_refusals: None,
                multi,
                hold_close_answers: false,
                live: Vec::new(),
                connections: Vec::new(),
                heartbeats: Vec::new(),
                closes: Vec::new(),
                texts: Vec::new(),
                texts_bytes: 0,
                texts_seen: 0,
                sockets: HashMap::new(),
                threads: Vec::new(),
                next_id: 1,
            }),
            changed: Condvar::new(),
        }
    }

    /// The state, for reading. A thread that panicked while holding the
    /// lock leaves plain data behind: carry on with it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Changes the state and wakes every waiter.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.changed.notify_all();
        r
    }

    /// Wakes every waiter (after a change made outside the lock, such as a
    /// connection starting to close).
    pub(crate) fn notify(&self) {
        let _guard = self.lock();
        self.changed.notify_all();
    }

    /// Blocks until `done` holds or `timeout` passes. True if it holds.
    pub(crate) fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&State) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The accepted connections that still take frames.
    pub(crate) fn live(&self) -> Vec<Arc<Conn>> {
        self.lock()
            .live
            .iter()
            .filter(|c| c.is_open())
            .cloned()
            .collect()
    }
}

impl State {
    /// A fresh token, valid for the current lifetime.
    pub(crate) fn issue_token(&mut self) -> (Secret, Duration) {
        let token = random_token(self.issued.len());
        let lifetime = self.token_lifetime;
        self.tokens.insert(
            token.clone(),
            TokenState {
                expires_at: Instant::now() + lifetime,
                revoked: false,
            },
        );
        let token = Secret::new(token);
        self.issued.push(token.clone());
        (token, lifetime)
    }

    pub(crate) fn check_token(&self, token: &str) -> TokenCheck {
        if token.is_empty() {
            return TokenCheck::Empty;
        }
        match self.tokens.get(token) {
            Some(t) if !t.revoked && Instant::now() < t.expires_at => TokenCheck::Valid,
            _ => TokenCheck::Invalid,
        }
    }

    pub(crate) fn revoke_token(&mut self, token: &str) {
        if let Some(t) = self.tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    pub(crate) fn revoke_all(&mut self) {
        for t in self.tokens.values_mut() {
            t.revoked = true;
        }
    }

    /// Records a client text frame; past [`MAX_KEPT_TEXT`] it is only counted.
    pub(crate) fn record_text(&mut self, text: String) {
        self.texts_seen += 1;
        if self.texts_bytes + text.len() <= MAX_KEPT_TEXT {
            self.texts_bytes += text.len();
            self.texts.push(text);
        } else if self.texts_bytes < MAX_KEPT_TEXT {
            self.texts_bytes = MAX_KEPT_TEXT;
            log::warn!("zoom mock: 16 MiB of client text frames kept; later ones are only counted");
        }
    }

    pub(crate) fn live_count(&self) -> usize {
        self.live.iter().filter(|c| c.is_open()).count()
    }

    pub(crate) fn accepted_count(&self) -> usize {
        self.connections
            .iter()
            .filter(|c| c.outcome == super::ConnectOutcome::Accepted)
            .count()
    }
}

/// 32 random bytes, base64url. Without OS randomness (never seen in
/// practice) a counter and the clock still make it unique per emulator.
fn random_token(counter: usize) -> String {
    let mut bytes = [0u8; 32];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("mock-token-{counter}-{nanos}");
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
