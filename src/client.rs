//! [`Client`]: the handle that owns the socket thread and the token-refresh
//! thread, and [`ClientBuilder`], its configuration.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::backoff::Backoff;
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::http::HttpTimeouts;
use crate::oauth::{RefreshOptions, TokenRefresher, TokenSource};
use crate::socket::{self, Settings, Shared};
use crate::state::StateChange;
use crate::sync::lock;
use crate::tls::TlsConfig;

/// Zoom's WebSocket endpoint.
pub const DEFAULT_WS_URL: &str = "wss://ws.zoom.us/ws";

/// How events wait between the socket thread and the user.
///
/// A slow consumer never delays heartbeats or drops the connection under
/// either policy: the socket thread never blocks on the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChannelPolicy {
    /// No bound: every event is kept until the user reads it; memory grows
    /// with the backlog (an event costs its JSON text plus about 80 bytes).
    /// The default: Zoom never re-sends an event, so dropping one is worse
    /// than buffering it.
    #[default]
    Unbounded,
    /// At most `capacity` events wait; when the channel is full, the newest
    /// event is dropped, counted in [`Client::dropped_events`], and logged at
    /// WARN (at the 1st, 2nd, 4th, 8th, ... drop).
    DropNewest {
        /// How many events may wait.
        capacity: usize,
    },
}

/// Configuration of a [`Client`]. Every setting has a default except the
/// credentials and the subscription id.
///
/// ```no_run
/// use std::time::Duration;
/// let client = zoom_ws::Client::builder()
///     .credentials(zoom_ws::Credentials::from_env()?)
///     .subscription_id("my-subscription")
///     .heartbeat_interval(Duration::from_secs(30))
///     .connect()?;
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    credentials: Option<Credentials>,
    subscription_id: Option<String>,
    url: String,
    heartbeat: Duration,
    dead_link_timeout: Duration,
    connect_timeout: Duration,
    first_connect_timeout: Duration,
    backoff: Backoff,
    healthy_after: Duration,
    max_message_size: usize,
    channel: ChannelPolicy,
    tls: Option<TlsConfig>,
    extra_roots_pem: Vec<Vec<u8>>,
    http_timeouts: HttpTimeouts,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            subscription_id: None,
            url: DEFAULT_WS_URL.into(),
            heartbeat: Duration::from_secs(30),
            dead_link_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            first_connect_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            healthy_after: Duration::from_secs(30),
            max_message_size: 16 << 20,
            channel: ChannelPolicy::Unbounded,
            tls: None,
            extra_roots_pem: Vec::new(),
            http_timeouts: HttpTimeouts::default(),
        }
    }
}

impl ClientBuilder {
    /// The app's OAuth credentials (required). See [`Credentials::from_env`].
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The WebSocket subscription's id (required, unless the URL already
    /// carries `subscriptionId=`).
    pub fn subscription_id(mut self, id: impl Into<String>) -> Self {
        self.subscription_id = Some(id.into());
        self
    }

    /// The WebSocket endpoint. Default [`DEFAULT_WS_URL`]. The client appends
    /// `subscriptionId` and `access_token` to the query. Must be `wss://`;
    /// `ws://` is accepted only for loopback hosts (tests, the emulator).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// How often to send Zoom's heartbeat. Default 30 s, as Zoom asks.
    ///
    /// Never late: the socket's read timeout is aimed a little early,
    /// because Linux rounds long socket timeouts up by as much as 1/8 (a
    /// 30 s timeout can fire 2 s late). On an idle connection a heartbeat
    /// goes out between 7/8 of the interval and the interval after the
    /// previous one (about 28.1 to 28.7 s for 30 s, and 960 ms for 1 s, on
    /// a 250 Hz kernel); on a busy one, exactly on the interval.
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long after a heartbeat to wait for its ack (or any frame) before
    /// the connection is declared dead and replaced. Default 10 s. A dead
    /// link is therefore noticed within `heartbeat_interval +
    /// dead_link_timeout`.
    pub fn dead_link_timeout(mut self, timeout: Duration) -> Self {
        self.dead_link_timeout = timeout;
        self
    }

    /// Bound of one connection attempt: TCP, TLS, upgrade and Zoom's
    /// `build_connection`. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`ClientBuilder::connect`] keeps retrying transient failures
    /// before it gives up. Default 30 s. Bad credentials fail at once.
    pub fn first_connect_timeout(mut self, timeout: Duration) -> Self {
        self.first_connect_timeout = timeout;
        self
    }

    /// Retry delays after a lost connection: the first retry is immediate,
    /// then exponential with full jitter between these bounds. Default
    /// 250 ms to 30 s. The backoff resets once a connection has stayed up
    /// for 30 s.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The largest message accepted, in bytes. Default 16 MiB. A larger
    /// frame is refused from its header, before any allocation; the
    /// connection is then replaced.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How events wait for the user. Default [`ChannelPolicy::Unbounded`].
    pub fn channel(mut self, policy: ChannelPolicy) -> Self {
        self.channel = policy;
        self
    }

    /// TLS settings for both the token endpoint and the WebSocket. Default:
    /// the Mozilla roots.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Trusts the certificates in this PEM in addition to the default roots
    /// (a corporate proxy's CA, a test CA). Checked by `connect`.
    pub fn extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Timeouts of the token requests. Default: connect 10 s, overall 30 s.
    pub fn http_timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        self.http_timeouts = timeouts;
        self
    }

    fn settings(&self) -> Result<(Credentials, Settings)> {
        let credentials = self.credentials.clone().ok_or_else(|| {
            Error::Config("no credentials: call .credentials(Credentials::from_env()?)".into())
        })?;
        let endpoint = Endpoint::parse(&self.url, "wss", "ws", "WebSocket URL")?;
        let subscription_id = self
            .subscription_id
            .clone()
            .filter(|s| !s.trim().is_empty());
        if subscription_id.is_none() && !endpoint.path_and_query.contains("subscriptionId=") {
            return Err(Error::Config(
                "no subscription id: set ZOOM_SUBSCRIPTION_ID or call .subscription_id(..)".into(),
            ));
        }
        let positive = |d: Duration, name: &str| {
            if d.is_zero() {
                Err(Error::Config(format!("{name} must be greater than zero")))
            } else {
                Ok(d)
            }
        };
        let tls = match (&self.tls, self.extra_roots_pem.is_empty()) {
            (Some(tls), true) => tls.clone(),
            (Some(_), false) => {
                return Err(Error::Config(
                    "set either .tls(..) or .extra_root_pem(..), not both".into(),
                ))
            }
            (None, true) => TlsConfig::default(),
            (None, false) => TlsConfig::with_extra_roots_pem(&self.extra_roots_pem.concat())?,
        };
        let capacity = match self.channel {
            ChannelPolicy::Unbounded => None,
            ChannelPolicy::DropNewest { capacity: 0 } => {
                return Err(Error::Config("channel capacity must be at least 1".into()))
            }
            ChannelPolicy::DropNewest { capacity } => Some(capacity),
        };
        if self.max_message_size < 1024 {
            return Err(Error::Config(
                "max_message_size must be at least 1024 bytes".into(),
            ));
        }
        let settings = Settings {
            endpoint,
            subscription_id,
            heartbeat: positive(self.heartbeat, "heartbeat_interval")?,
            dead_link_timeout: positive(self.dead_link_timeout, "dead_link_timeout")?,
            connect_timeout: positive(self.connect_timeout, "connect_timeout")?,
            first_connect_timeout: positive(self.first_connect_timeout, "first_connect_timeout")?,
            backoff: self.backoff,
            healthy_after: self.healthy_after,
            max_message_size: self.max_message_size,
            tls,
            capacity,
        };
        Ok((credentials, settings))
    }

    /// Starts the token-refresh thread and the socket thread, and returns
    /// once the first connection is up and Zoom has confirmed it.
    ///
    /// Fails fast on configuration errors, rejected credentials and a
    /// refused subscription; retries transient failures (network, 5xx, 429)
    /// with backoff for up to `first_connect_timeout`.
    pub fn connect(self) -> Result<Client> {
        let (credentials, settings) = self.settings()?;
        let refresher = TokenRefresher::start(
            credentials,
            RefreshOptions {
                tls: settings.tls.clone(),
                timeouts: self.http_timeouts,
                backoff: self.backoff,
            },
        );
        let tokens = refresher.source();
        // A bad credential fails here, before any thread touches the socket.
        if let Err(e) = tokens.wait(settings.first_connect_timeout) {
            refresher.stop();
            return Err(e);
        }
        let (events_tx, events) = match settings.capacity {
            None => crossbeam_channel::unbounded(),
            Some(n) => crossbeam_channel::bounded(n),
        };
        let (states_tx, states) = crossbeam_channel::bounded(1024);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (shared, stop_rx) = Shared::new();
        let wait_for = settings.first_connect_timeout + settings.connect_timeout * 2;
        // A stop wakes the socket thread at once, except in the middle of a
        // TCP connect or a DNS lookup, which no timeout of ours interrupts.
        let close_bound = settings.connect_timeout + Duration::from_secs(2);
        let thread = socket::Thread {
            settings,
            tokens: tokens.clone(),
            shared: shared.clone(),
            stop_rx,
            events: events_tx,
            states: states_tx,
            ready: ready_tx,
        };
        let socket = match thread.spawn() {
            Ok(handle) => handle,
            Err(e) => {
                refresher.stop();
                return Err(Error::network("starting the socket thread", e));
            }
        };
        let mut client = Client {
            events,
            states,
            shared,
            tokens,
            socket: Some(socket),
            refresher: Some(refresher),
            close_bound,
        };
        let started = Instant::now();
        match ready_rx.recv_timeout(wait_for) {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => {
                client.shutdown();
                Err(e)
            }
            Err(_) => {
                client.shutdown();
                Err(lock(&client.shared.fatal).take().unwrap_or_else(|| {
                    Error::network(
                        "connecting",
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no connection within {} s", started.elapsed().as_secs()),
                        ),
                    )
                }))
            }
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("credentials", &self.credentials)
            .field("subscription_id", &self.subscription_id)
            .field("url", &self.url)
            .field("heartbeat", &self.heartbeat)
            .field("dead_link_timeout", &self.dead_link_timeout)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// A connection to a Zoom WebSocket subscription, kept alive and
/// reconnected in the background.
///
/// ```no_run
/// let client = zoom_ws::Client::builder()
///     .credentials(zoom_ws::Credentials::from_env()?)
///     .subscription_id(std::env::var("ZOOM_SUBSCRIPTION_ID").unwrap_or_default())
///     .connect()?;
/// for ev in client.events() {
///     println!("{} {}", ev.name(), ev.payload());
/// }
/// client.close()?; // Ok if closed on request, else the fatal error that ended the stream
/// # Ok::<_, zoom_ws::Error>(())
/// ```
///
/// Two threads run behind the handle: `zoom-ws-socket` owns the socket,
/// `zoom-ws-oauth` refreshes the access token before it expires. Dropping
/// the client, or calling [`Client::close`], sends a Close frame (1000),
/// stops both threads and joins them. [`Closer`] stops it from another
/// thread (a signal handler, say) while this one iterates.
pub struct Client {
    events: Receiver<Event>,
    states: Receiver<StateChange>,
    shared: Arc<Shared>,
    tokens: TokenSource,
    socket: Option<JoinHandle<()>>,
    refresher: Option<TokenRefresher>,
    /// How long a close waits for the socket thread before leaving it.
    close_bound: Duration,
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The events, in the order Zoom sent them. Iterating blocks until the
    /// next event; the iteration ends when the client stops (closed, or a
    /// fatal error: see [`Client::close`] for which). Events already queued
    /// are still delivered after a stop.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Connection state changes: connected, disconnected (with the reason),
    /// reconnected (with the gap). Reading them is optional: at most 1024
    /// wait, newer ones are dropped when nobody reads.
    pub fn states(&self) -> &Receiver<StateChange> {
        &self.states
    }

    /// A handle that stops the client from any thread.
    pub fn closer(&self) -> Closer {
        Closer {
            shared: self.shared.clone(),
        }
    }

    /// The access tokens this client uses, for REST calls with the same
    /// token (see [`crate::rest`]).
    pub fn token_source(&self) -> TokenSource {
        self.tokens.clone()
    }

    /// True while a connection is up.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }

    /// Events dropped because the channel was full (only with
    /// [`ChannelPolicy::DropNewest`]).
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Frames skipped so far: not JSON, an unknown module, a malformed
    /// event, a binary frame. Each is logged (WARN for the first ten, then
    /// at powers of two) and the connection goes on.
    pub fn skipped_frames(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Events handed to the channel so far.
    pub fn delivered_events(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// How many times the connection was re-established.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// The fatal error that ended the stream, if one did (a copy; the
    /// stream may still be running when this returns `None`).
    pub fn error(&self) -> Option<Error> {
        lock(&self.shared.fatal).as_ref().map(Error::duplicate)
    }

    /// Sends a Close frame (1000), stops both threads and joins them.
    /// Returns `Ok(())` if the client was running or closed on request, or
    /// the fatal error that had ended the stream (bad credentials, ...).
    pub fn close(mut self) -> Result<()> {
        self.shutdown();
        match lock(&self.shared.fatal).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        self.shared.request_stop();
        // Stopping the refresher first also wakes a socket thread that waits
        // for a token.
        if let Some(refresher) = self.refresher.take() {
            refresher.stop();
        }
        if let Some(handle) = self.socket.take() {
            if self.shared.wait_finished(self.close_bound) {
                if handle.join().is_err() {
                    log::error!("zoom-ws: the socket thread panicked");
                }
            } else {
                // Stuck in a DNS lookup or a TCP connect: it ends on its own
                // when that returns, and sees the stop flag.
                log::warn!(
                    "zoom-ws: the socket thread did not stop within {} s; leaving it to finish",
                    self.close_bound.as_secs()
                );
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.is_connected())
            .field("queued_events", &self.events.len())
            .field("delivered_events", &self.delivered_events())
            .field("dropped_events", &self.dropped_events())
            .field("reconnects", &self.reconnects())
            .finish_non_exhaustive()
    }
}

/// Stops a [`Client`] from another thread. Cheap to clone.
///
/// [`Closer::close`] returns at once: the socket thread sends its Close
/// frame and exits, the event iterator ends once the queued events are read,
/// and the [`Client`] (dropped or [`Client::close`]d by its owner) joins the
/// threads.
#[derive(Clone)]
pub struct Closer {
    shared: Arc<Shared>,
}

impl Closer {
    /// Asks the client to stop.
    pub fn close(&self) {
        self.shared.request_stop();
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closer").finish_non_exhaustive()
    }
}
