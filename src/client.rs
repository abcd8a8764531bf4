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
use crate::proxy::{Proxy, ProxyConfig};
use crate::socket::{self, policy, Gate, Limits, Outbox, Settings, Shared, STATES_CAPACITY};
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
    /// with the backlog (an event costs its JSON text plus about 110 bytes),
    /// and a WARN is logged as the backlog first reaches 10,000, 100,000,
    /// 1,000,000 and 10,000,000 events. The default: Zoom never re-sends an
    /// event, so dropping one is worse than buffering it.
    #[default]
    Unbounded,
    /// At most `capacity` events wait; when the channel is full, the newest
    /// event is dropped, counted in [`Client::dropped_events`], and logged at
    /// WARN (at the 1st, 2nd, 4th, 8th, ... drop).
    DropNewest {
        /// How many events may wait.
        capacity: usize,
    },
    /// At most `max_events` events and `max_bytes` bytes of event JSON
    /// wait; an event that would exceed either is dropped, counted and
    /// logged as with [`ChannelPolicy::DropNewest`]. Bounds memory however
    /// large Zoom's events are (a `recording.completed` with many files).
    Bounded {
        /// How many events may wait.
        max_events: usize,
        /// How many bytes of event JSON may wait.
        max_bytes: usize,
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
    token_source: Option<TokenSource>,
    subscription_id: Option<String>,
    url: String,
    heartbeat: Duration,
    dead_link_timeout: Option<Duration>,
    connect_timeout: Duration,
    first_connect_timeout: Duration,
    backoff: Backoff,
    gate: Option<Gate>,
    max_message_size: usize,
    /// None: not set ([`ChannelPolicy::Unbounded`], or the shared channel's).
    channel: Option<ChannelPolicy>,
    share_events: Option<EventChannel>,
    tls: Option<TlsConfig>,
    extra_roots_pem: Vec<Vec<u8>>,
    http_timeouts: HttpTimeouts,
    proxy: ProxyConfig,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            credentials: None,
            token_source: None,
            subscription_id: None,
            url: DEFAULT_WS_URL.into(),
            heartbeat: Duration::from_secs(30),
            dead_link_timeout: None,
            connect_timeout: Duration::from_secs(10),
            first_connect_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            gate: None,
            max_message_size: 16 << 20,
            channel: None,
            share_events: None,
            tls: None,
            extra_roots_pem: Vec::new(),
            http_timeouts: HttpTimeouts::default(),
            proxy: ProxyConfig::Env,
        }
    }
}

impl ClientBuilder {
    /// The app's OAuth credentials (required, unless a
    /// [token source](ClientBuilder::token_source) is given). See
    /// [`Credentials::from_env`]. The client then runs its own token-refresh
    /// thread.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Takes tokens from an existing source instead of fetching its own:
    /// several clients (one per subscription), and REST calls, then share
    /// one refresh thread and one token stream. The source's owner
    /// ([`TokenRefresher`], or the [`Client`] that made it) keeps it
    /// running; closing this client leaves it alone.
    ///
    /// ```no_run
    /// let first = zoom_ws::Client::builder()
    ///     .credentials(zoom_ws::Credentials::from_env()?)
    ///     .subscription_id("subscription-a")
    ///     .connect()?;
    /// let second = zoom_ws::Client::builder()
    ///     .token_source(first.token_source())
    ///     .subscription_id("subscription-b")
    ///     .connect()?;
    /// # Ok::<_, zoom_ws::Error>(())
    /// ```
    pub fn token_source(mut self, tokens: TokenSource) -> Self {
        self.token_source = Some(tokens);
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
    /// the connection is declared dead and replaced. Default: one and a
    /// half heartbeat intervals, at most 10 s (1.5 s for a 1 s heartbeat,
    /// 10 s at the default 30 s). A dead link is therefore noticed within
    /// `heartbeat_interval + dead_link_timeout`.
    pub fn dead_link_timeout(mut self, timeout: Duration) -> Self {
        self.dead_link_timeout = Some(timeout);
        self
    }

    /// Bound of one connection attempt, every phase included: name
    /// resolution, TCP (several addresses are raced, the next one started
    /// 250 ms after the previous, so a black-holed address does not starve
    /// the others), TLS, the upgrade and Zoom's `build_connection`. A peer
    /// that trickles its answer costs at most this, then a new attempt.
    /// Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`ClientBuilder::connect`] keeps retrying transient failures
    /// before it gives up. Default 30 s. Bad credentials fail at once.
    /// `connect` returns at the latest after this plus two
    /// `connect_timeout`s (an attempt under way is finished, and the
    /// first token may take one `connect_timeout` to arrive).
    pub fn first_connect_timeout(mut self, timeout: Duration) -> Self {
        self.first_connect_timeout = timeout;
        self
    }

    /// Retry delays after failures. Default 250 ms to 30 s.
    ///
    /// The rule, which keeps the stream deaf as briefly as possible without
    /// storms:
    /// - A connection Zoom confirmed that then served for 1 s (or got a
    ///   heartbeat ack) was healthy: the reconnect after it is immediate,
    ///   whatever happened before.
    /// - Failures are attempts that never got confirmed, and confirmed
    ///   connections that ended within that second. The retry after the
    ///   first failure is immediate; after the `n`-th, the delay is uniform
    ///   in `[0, min(max, initial * 2^(n-2))]` (full jitter).
    /// - Confirmed connections that the server ends almost at once are
    ///   what two processes on one subscription look like (Zoom keeps one
    ///   connection per subscription): the client logs one WARN naming
    ///   that cause, and the growing backoff lets the two settle.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A check run on the socket thread before every connection attempt
    /// (the first and every reconnect): the attempt goes ahead only when it
    /// returns `true`; otherwise the thread asks again 100 ms later (a close
    /// interrupts the wait). For fencing: a high-availability relay renews
    /// its lease here, so that only the lease holder ever connects. Keep it
    /// quick: it delays every reconnect by its own duration.
    pub fn connect_gate(mut self, gate: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.gate = Some(std::sync::Arc::new(gate));
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
    /// With [`ClientBuilder::share_events_with`], the shared channel's
    /// policy applies: leave this unset, or set the same.
    pub fn channel(mut self, policy: ChannelPolicy) -> Self {
        self.channel = Some(policy);
        self
    }

    /// Sends this client's events into the event channel of `other`, so
    /// that one loop reads the events of several subscriptions:
    /// [`Client::events`] of both is the same receiver, and each event
    /// says where it came from ([`Event::subscription_id`]). The
    /// iteration ends when every client sending into the channel has
    /// stopped; closing one leaves the others' events flowing. State
    /// changes ([`Client::states`]) and the counters stay per client.
    ///
    /// The channel keeps the policy `other` was built with (each client
    /// counts the events it dropped). A [`ChannelPolicy::Bounded`] channel
    /// cannot be shared: its byte count is kept by one sender. If `other`
    /// has stopped by the time of [`ClientBuilder::connect`], that is an
    /// [`Error::Config`].
    ///
    /// ```no_run
    /// let a = zoom_ws::Client::builder()
    ///     .credentials(zoom_ws::Credentials::from_env()?)
    ///     .subscription_id("subscription-a")
    ///     .connect()?;
    /// let b = zoom_ws::Client::builder()
    ///     .token_source(a.token_source())
    ///     .subscription_id("subscription-b")
    ///     .share_events_with(&a)
    ///     .connect()?;
    /// for ev in a.events() {
    ///     println!("{:?} {}", ev.subscription_id(), ev.name());
    /// }
    /// # drop(b);
    /// # Ok::<_, zoom_ws::Error>(())
    /// ```
    pub fn share_events_with(mut self, other: &Client) -> Self {
        self.share_events = Some(EventChannel {
            events: other.events.clone(),
            shared: other.shared.clone(),
            limits: other.limits,
        });
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

    /// The WebSocket and the token requests go through this HTTP proxy
    /// (`CONNECT`), loopback destinations included, except those its
    /// [`Proxy::no_proxy`] list names. Default: the proxy the environment
    /// names (`HTTPS_PROXY`, `ALL_PROXY`, with `NO_PROXY`; never for
    /// loopback destinations), read once by [`ClientBuilder::connect`].
    /// REST clients on [`Client::token_source`] follow the same setting.
    /// With a [token source](ClientBuilder::token_source), the token
    /// requests follow that source's setting, the WebSocket this one.
    /// See [`crate::proxy`].
    ///
    /// ```no_run
    /// let client = zoom_ws::Client::builder()
    ///     .credentials(zoom_ws::Credentials::from_env()?)
    ///     .subscription_id("my-subscription")
    ///     .proxy(zoom_ws::Proxy::new("http://user:password@proxy.bank.example:3128")?)
    ///     .connect()?;
    /// # Ok::<_, zoom_ws::Error>(())
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyConfig::Use(proxy);
        self
    }

    /// Connects directly, whatever `HTTPS_PROXY` and `ALL_PROXY` say.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyConfig::Off;
        self
    }

    /// Timeouts of the token requests. Default: connect 10 s, overall 30 s.
    /// Ignored with a [token source](ClientBuilder::token_source).
    pub fn http_timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        self.http_timeouts = timeouts;
        self
    }

    /// The limits of a new channel with `policy`.
    fn limits(&self, policy: ChannelPolicy) -> Result<Limits> {
        Ok(match policy {
            ChannelPolicy::Unbounded => Limits {
                events: None,
                bytes: None,
            },
            ChannelPolicy::DropNewest { capacity: 0 }
            | ChannelPolicy::Bounded { max_events: 0, .. } => {
                return Err(Error::Config("channel capacity must be at least 1".into()))
            }
            ChannelPolicy::Bounded { max_bytes, .. } if max_bytes < self.max_message_size => {
                return Err(Error::Config(format!(
                    "channel max_bytes ({max_bytes}) must be at least max_message_size ({}), or the largest events could never be delivered",
                    self.max_message_size
                )))
            }
            ChannelPolicy::DropNewest { capacity } => Limits {
                events: Some(capacity),
                bytes: None,
            },
            ChannelPolicy::Bounded {
                max_events,
                max_bytes,
            } => Limits {
                events: Some(max_events),
                bytes: Some(max_bytes),
            },
        })
    }

    fn settings(&self) -> Result<(Tokens, Settings)> {
        let tokens = match (&self.credentials, &self.token_source) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "set either .credentials(..) or .token_source(..), not both".into(),
                ))
            }
            (Some(c), None) => Tokens::Own(c.clone()),
            (None, Some(t)) => Tokens::Shared(t.clone()),
            (None, None) => {
                return Err(Error::Config(
                    "no credentials: call .credentials(Credentials::from_env()?)".into(),
                ))
            }
        };
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
        let limits = match (&self.share_events, self.channel) {
            (None, policy) => self.limits(policy.unwrap_or_default())?,
            (Some(shared), None) => shared.limits,
            (Some(shared), Some(policy)) if self.limits(policy)? == shared.limits => shared.limits,
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "share_events_with: the shared channel keeps its own policy; set .channel(..) on the client that owns it".into(),
                ))
            }
        };
        if self.share_events.is_some() && limits.bytes.is_some() {
            return Err(Error::Config(
                "share_events_with: a channel with a byte limit (ChannelPolicy::Bounded) cannot be shared; use DropNewest".into(),
            ));
        }
        if self.max_message_size < 1024 {
            return Err(Error::Config(
                "max_message_size must be at least 1024 bytes".into(),
            ));
        }
        let heartbeat = in_range(self.heartbeat, "heartbeat_interval", MS * 10, HOUR)?;
        let dead_link_timeout = match self.dead_link_timeout {
            Some(d) => in_range(d, "dead_link_timeout", MS * 10, HOUR)?,
            None => policy::default_dead_link_timeout(heartbeat),
        };
        let backoff = self.backoff;
        in_range(backoff.initial, "backoff.initial", MS, HOUR)?;
        in_range(backoff.max, "backoff.max", backoff.initial, HOUR)?;
        // Read once; an unusable environment proxy fails here if the
        // WebSocket would use it (and the token requests that would, later).
        let proxy = self.proxy.resolve();
        proxy.route(endpoint.secure, &endpoint.host, endpoint.port)?;
        let http = self.http_timeouts;
        in_range(http.connect, "http_timeouts.connect", MS * 10, HOUR)?;
        in_range(http.overall, "http_timeouts.overall", MS * 10, DAY)?;
        let settings = Settings {
            endpoint,
            subscription_id,
            heartbeat,
            dead_link_timeout,
            connect_timeout: in_range(self.connect_timeout, "connect_timeout", MS * 10, HOUR)?,
            first_connect_timeout: in_range(
                self.first_connect_timeout,
                "first_connect_timeout",
                MS * 10,
                DAY,
            )?,
            backoff,
            max_message_size: self.max_message_size,
            tls,
            proxy,
            limits,
            gate: self.gate.clone(),
        };
        Ok((tokens, settings))
    }

    /// Starts the token-refresh thread and the socket thread, and returns
    /// once the first connection is up and Zoom has confirmed it.
    ///
    /// Fails fast on configuration errors, rejected credentials and a
    /// refused subscription; retries transient failures (network, 5xx, 429)
    /// with backoff for up to `first_connect_timeout`.
    pub fn connect(self) -> Result<Client> {
        let (tokens, settings) = self.settings()?;
        let (events_tx, events) = match &self.share_events {
            None => match settings.limits.events {
                None => crossbeam_channel::unbounded(),
                Some(n) => crossbeam_channel::bounded(n),
            },
            Some(other) => match lock(&other.shared.events_tx).clone() {
                Some(tx) => (tx, other.events.clone()),
                None => return Err(Error::Config(
                    "share_events_with: that client has stopped, and its event channel is closed"
                        .into(),
                )),
            },
        };
        // What each event says it came from: the id, or the URL's.
        let subscription: Option<Arc<str>> = settings
            .subscription_id
            .clone()
            .or_else(|| query_param(&settings.endpoint.path_and_query, "subscriptionId"))
            .map(Arc::from);
        let (tokens, refresher) = match tokens {
            Tokens::Own(credentials) => {
                let refresher = TokenRefresher::start(
                    credentials,
                    RefreshOptions::with_tls(settings.tls.clone())
                        .timeouts(self.http_timeouts)
                        .backoff(self.backoff)
                        .proxy_config(settings.proxy.clone()),
                );
                (refresher.source(), Some(refresher))
            }
            Tokens::Shared(source) => (source, None),
        };
        // A bad credential fails here, before any thread touches the socket.
        tokens.wait(settings.first_connect_timeout)?;
        let (states_tx, states) = crossbeam_channel::bounded(STATES_CAPACITY);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let (shared, stop_rx) = Shared::new();
        // For clients that will share this channel; gone when the thread ends.
        *lock(&shared.events_tx) = Some(events_tx.clone());
        if let Some(refresher) = &refresher {
            shared.on_stop(Box::new(refresher.stopper()));
        }
        let wait_for = settings.first_connect_timeout + settings.connect_timeout * 2;
        // A stop wakes the socket thread at once wherever it waits, but a
        // write blocked on a full socket buffer ends only at its timeout
        // (within connect_timeout while connecting); on a connection the
        // thread then waits for Zoom's answering Close (DRAIN_FOR).
        let close_bound =
            settings.connect_timeout.max(crate::socket::DRAIN_FOR) + Duration::from_secs(2);
        let out = Outbox::new(
            events_tx,
            states_tx,
            states.clone(),
            shared.clone(),
            settings.limits,
            subscription,
        );
        let limits = settings.limits;
        let thread = socket::Thread {
            settings,
            tokens: tokens.clone(),
            shared: shared.clone(),
            stop_rx,
            ready: ready_tx,
        };
        let socket = thread
            .spawn(out)
            .map_err(|e| Error::network("starting the socket thread", e))?;
        let mut client = Client {
            events,
            limits,
            states,
            shared,
            tokens,
            socket: Some(socket),
            refresher,
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

/// Another client's event channel, for [`ClientBuilder::share_events_with`].
#[derive(Clone)]
struct EventChannel {
    events: Receiver<Event>,
    /// The other client's socket state, which holds a sender while its
    /// thread runs.
    shared: Arc<Shared>,
    limits: Limits,
}

/// The decoded value of `name` in the query of `path_and_query`, if any.
fn query_param(path_and_query: &str, name: &str) -> Option<String> {
    let (_, query) = path_and_query.split_once('?')?;
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix(name)?.strip_prefix('=')?;
        Some(String::from_utf8_lossy(&crate::text::percent_decode(value)).into_owned())
    })
}

/// Where a client's tokens come from.
enum Tokens {
    /// Its own refresh thread, with these credentials.
    Own(Credentials),
    /// A source someone else runs.
    Shared(TokenSource),
}

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// `d` if it lies in `[min, max]`, else a configuration error naming the setting.
fn in_range(d: Duration, name: &str, min: Duration, max: Duration) -> Result<Duration> {
    if d < min || d > max {
        return Err(Error::Config(format!(
            "{name} must be between {min:?} and {max:?} (got {d:?})"
        )));
    }
    Ok(d)
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
            .field("share_events", &self.share_events.is_some())
            .field("proxy", &self.proxy)
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
/// `zoom-ws-oauth` refreshes the access token before it expires (unless the
/// client takes its tokens from a shared [`TokenSource`]). Dropping the
/// client, or calling [`Client::close`], sends a Close frame (1000), stops
/// both threads and joins them. [`Closer`] stops it from another thread
/// while this one iterates.
pub struct Client {
    events: Receiver<Event>,
    /// The limits of the event channel, for clients that share it.
    limits: Limits,
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
    /// fatal error: see [`Client::close`] for which), or with
    /// [`ClientBuilder::share_events_with`] when every client sending into
    /// the channel has. Events already queued are still delivered after a
    /// stop.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Connection state changes: connected, disconnected (with the reason),
    /// reconnected (with the gap). Reading them is optional: at most 1024
    /// wait, and when nobody reads, the oldest are dropped to make room, so
    /// the newest (the last gap to backfill) are always there.
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
    /// stream may still be running when this returns `None`). Set before
    /// the event iterator ends, so a loop over [`Client::events`] can ask
    /// it right after.
    pub fn error(&self) -> Option<Error> {
        lock(&self.shared.fatal).as_ref().map(Error::duplicate)
    }

    /// A background token refresh failure that retrying may not fix (say
    /// `invalid_client` after the app's secret was rotated): logged at
    /// ERROR, and here until a refresh succeeds. The stream goes on while
    /// the current token is valid, and ends with this error if it runs out
    /// first. See [`TokenSource::refresh_error`].
    pub fn refresh_error(&self) -> Option<Error> {
        self.tokens.refresh_error()
    }

    /// Sends a Close frame (1000), stops both threads and joins them.
    /// Events that arrive before Zoom's answering Close (sent before Zoom
    /// read the client's) are still delivered; a server that does not
    /// answer delays the close by at most 2 s.
    ///
    /// Returns `Ok(())` if the client was running or closed on request, or
    /// the fatal error that had ended the stream (bad credentials, a panic
    /// in one of its threads, ...).
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
                // Stuck in a blocked write: it ends on its own when that
                // times out, and sees the stop flag.
                log::warn!(
                    "zoom-ws: the socket thread did not stop within {} s; leaving it to finish",
                    self.close_bound.as_secs()
                );
            }
        }
    }
}

/// `for ev in &client { ... }`: the same as iterating [`Client::events`].
impl<'a> IntoIterator for &'a Client {
    type Item = Event;
    type IntoIter = crossbeam_channel::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
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
/// frame and exits, the token refresher the client owns stops, the event
/// iterator ends once the queued events are read, and the [`Client`]
/// (dropped or [`Client::close`]d by its owner) joins the threads.
///
/// It takes locks, so it is not for a signal handler itself: call it from
/// a thread that waits for signals, as `zoom-ws listen`
/// (src/bin/zoom-ws/listen.rs) does with signal-hook's `Signals` iterator.
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

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn query_params_are_found_by_whole_name_and_decoded() {
        let q = "/ws?subscriptionIdx=no&subscriptionId=s%2Fb%20c&x";
        assert_eq!(query_param(q, "subscriptionId").as_deref(), Some("s/b c"));
        assert_eq!(query_param(q, "x"), None, "a name without a value");
        assert_eq!(query_param("/ws", "subscriptionId"), None);
    }
}
