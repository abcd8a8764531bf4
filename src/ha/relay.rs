//! [`Relay`]: one per machine; the one holding a subscription's lease
//! connects to Zoom and appends every event to the feed's stream, the
//! others stand by.
//!
//! One thread (`zoom-ws-relay`) runs the lease and the appends; the Zoom
//! client it owns while leading brings its socket thread, and the relay's
//! token-refresh thread keeps a token ready even while standing by. The
//! decisions live in `plan.rs` as plain functions; this file is the shell
//! around Redis and the client.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, never, select, Receiver, Sender};

use super::append::{self, Appended, Retention};
use super::buffer::Buffer;
use super::dedup::event_id;
use super::entry::{account_id, Entry, EventEntry, GapReason, Leader};
use super::keys::{check_name, Keys};
use super::lease::{self, Acquired, Term};
use super::plan::{self, Leadership, Next, Renewed};
use super::redis_link::{Link, RedisConfig};
use super::wake::{self, Waker};
use crate::backoff::{random_unit, Backoff};
use crate::client::{Client, ClientBuilder};
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::oauth::{RefreshOptions, TokenRefresher, TokenSource};
use crate::state::StateChange;
use crate::sync::lock;

/// What a relay is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Role {
    /// Waiting for the lease (polling it).
    #[default]
    Standby,
    /// Holding the lease, opening the Zoom connection.
    Connecting,
    /// Holding the lease with the Zoom connection up: forwarding events.
    Leader,
    /// Offered the lease to a standby; closes once the standby is connected.
    HandingOver,
    /// Closed its connection because Redis was unreachable up to the
    /// self-fence deadline; waits for Redis to flush what it buffered.
    Fenced,
    /// Stopped (on request, or on a fatal error: [`RelayStatus::error`]).
    Stopped,
}

/// A snapshot of a relay's state and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStatus {
    /// What it is doing.
    pub role: Role,
    /// The epoch of its current (or last) term; 0 before its first.
    pub epoch: u64,
    /// How many terms it has held.
    pub terms: u64,
    /// Events received from Zoom.
    pub received: u64,
    /// Events it appended to the stream.
    pub appended: u64,
    /// Events it found already in the stream (dedup).
    pub duplicates: u64,
    /// Events waiting in memory for Redis.
    pub buffered: usize,
    /// Events that did not fit in the buffer (recorded as a gap).
    pub dropped: u64,
    /// Gap entries it appended.
    pub gaps: u64,
    /// Redis round trips made (lease, appends, gaps).
    pub redis_calls: u64,
    /// The fatal error it stopped on, if any.
    pub error: Option<String>,
}

/// Configuration of a [`Relay`]. See [`Relay::builder`].
#[derive(Clone)]
pub struct RelayBuilder {
    redis: RedisConfig,
    credentials: Credentials,
    subscription: String,
    feed: Option<String>,
    node: Option<String>,
    client: ClientBuilder,
    refresh: RefreshOptions,
    lease_ttl: Duration,
    renew_every: Duration,
    fence_after: Option<Duration>,
    poll_every: Duration,
    handover_wait: Duration,
    dedup_window: Duration,
    retention: Retention,
    buffer: usize,
    gap_margin: Duration,
    batch: usize,
}

impl RelayBuilder {
    /// The feed (stream) to append to. Default: the subscription id.
    /// Relays of several subscriptions with the same events may share one
    /// feed: each subscription has its own lease, the feed is deduplicated.
    pub fn feed(mut self, feed: impl Into<String>) -> Self {
        self.feed = Some(feed.into());
        self
    }

    /// This relay's name in leases and entries. Default: `$HOSTNAME` (or
    /// `relay`), the process id and four random hex digits.
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The client settings (URL, TLS, heartbeat, ...). The relay sets the
    /// subscription, the token source (its own refresh thread, from the
    /// credentials) and the connect gate itself. Default `Client::builder()`.
    pub fn client(mut self, client: ClientBuilder) -> Self {
        self.client = client;
        self
    }

    /// Options of the relay's token-refresh thread (TLS for the token
    /// endpoint, timeouts). Default: the defaults.
    pub fn refresh_options(mut self, options: RefreshOptions) -> Self {
        self.refresh = options;
        self
    }

    /// How long a lease lasts without a renew. Default 5 s: a crashed
    /// leader is replaced within about this long, plus a poll and a connect.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// How often the leader renews. Default 1 s.
    pub fn renew_every(mut self, every: Duration) -> Self {
        self.renew_every = every;
        self
    }

    /// How long after the start of its last successful renew a leader that
    /// cannot reach Redis closes its Zoom connection. Default 70 % of the
    /// TTL (3.5 s for 5 s): shorter than the TTL, so the connection is
    /// closed before a standby can take the lease and connect.
    pub fn self_fence_after(mut self, after: Duration) -> Self {
        self.fence_after = Some(after);
        self
    }

    /// How often a standby tries to take the lease (plus up to 40 % of
    /// jitter). Default 250 ms.
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// How long a handover waits for a standby to connect before the
    /// leader closes anyway and releases the lease. Default 10 s.
    pub fn handover_wait(mut self, wait: Duration) -> Self {
        self.handover_wait = wait;
        self
    }

    /// How long an event's dedup marker lives. Default 15 minutes. With a
    /// webhook feeding the same feed (Zoom redelivers for up to 85
    /// minutes), make it longer than 90 minutes.
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// How much of the stream Redis keeps. Default `MAXLEN ~ 1,000,000`.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How many events wait in memory while Redis is unreachable. Default
    /// 100,000; beyond, events are dropped and recorded as a gap.
    pub fn buffer_capacity(mut self, events: usize) -> Self {
        self.buffer = events;
        self
    }

    /// Subtracted from a previous holder's last-alive time when a gap is
    /// recorded, for frames that were in flight in its socket. Default 250 ms.
    pub fn gap_margin(mut self, margin: Duration) -> Self {
        self.gap_margin = margin;
        self
    }

    /// Checks the settings, starts the token-refresh thread and the relay
    /// thread, and returns at once (as a standby).
    pub fn start(self) -> Result<Relay> {
        let feed = self
            .feed
            .clone()
            .unwrap_or_else(|| self.subscription.clone());
        let keys = Keys::new(&feed)?;
        check_name("subscription id", &self.subscription)?;
        let node = match &self.node {
            Some(n) => n.clone(),
            None => default_node(),
        };
        check_name("node", &node)?;
        let positive = |d: Duration, name: &str| {
            if d.is_zero() {
                Err(Error::Config(format!("{name} must be greater than zero")))
            } else {
                Ok(())
            }
        };
        positive(self.lease_ttl, "lease_ttl")?;
        positive(self.renew_every, "renew_every")?;
        positive(self.poll_every, "poll_every")?;
        positive(self.dedup_window, "dedup_window")?;
        let fence_after = self.fence_after.unwrap_or(self.lease_ttl.mul_f64(0.7));
        if self.renew_every >= fence_after || fence_after >= self.lease_ttl {
            return Err(Error::Config(
                "need renew_every < self_fence_after < lease_ttl".into(),
            ));
        }
        if self.buffer == 0 {
            return Err(Error::Config("buffer_capacity must be at least 1".into()));
        }
        let redis_at = self.redis.address().to_owned();
        let refresher = TokenRefresher::start(self.credentials.clone(), self.refresh.clone());
        let shared = Arc::new(Shared::default());
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let worker = Worker {
            link: Link::new(self.redis.clone()),
            keys: keys.clone(),
            node: node.clone(),
            fence_after,
            tokens: refresher.source(),
            shared: shared.clone(),
            commands: command_rx,
            buffer: Buffer::new(self.buffer),
            was_fenced: false,
            waker: Waker::start(
                self.redis.clone(),
                super::wake::channel(&keys, &self.subscription),
            ),
            settings: self,
        };
        let thread = std::thread::Builder::new()
            .name("zoom-ws-relay".into())
            .spawn(move || {
                let _refresher = refresher;
                worker.run()
            })
            .map_err(|e| Error::network("starting the relay thread", e))?;
        log::info!(
            "zoom-ws ha: relay {node} started on feed {} (Redis at {})",
            keys.feed(),
            redis_at
        );
        Ok(Relay {
            shared,
            commands,
            thread: Some(thread),
            node,
        })
    }
}

impl fmt::Debug for RelayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayBuilder")
            .field("redis", &self.redis)
            .field("subscription", &self.subscription)
            .field("feed", &self.feed)
            .field("node", &self.node)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

/// `$HOSTNAME-<pid>-<4 hex>`, with anything a key cannot hold replaced.
fn default_node() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "relay".into());
    let host: String = host
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tag = (random_unit() * 65535.0) as u32;
    format!("{host}-{}-{tag:04x}", std::process::id())
}

/// One relay: a standby that becomes the leader of its subscription when
/// the lease is free. See the [module docs](super).
///
/// ```no_run
/// use zoom_ws::ha::{RedisConfig, Relay};
/// let relay = Relay::builder(
///     RedisConfig::new("redis://127.0.0.1/")?,
///     zoom_ws::Credentials::from_env()?,
///     std::env::var("ZOOM_SUBSCRIPTION_ID").unwrap_or_default(),
/// )
/// .start()?;
/// // ... on SIGTERM:
/// relay.handover(std::time::Duration::from_secs(15))?;
/// # Ok::<_, zoom_ws::Error>(())
/// ```
///
/// Dropping it stops it as [`Relay::stop`] does.
pub struct Relay {
    shared: Arc<Shared>,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    node: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// Close, append what is left, release the lease, stop.
    Stop,
    /// Offer the lease, wait for the standby's connection, close, stop.
    Handover,
    /// Stop at once: no flush, no release (a crash, for tests).
    Kill,
}

#[derive(Default)]
struct Shared {
    status: Mutex<RelayStatus>,
    changed: Condvar,
    /// Frozen (tests): no renew, no append, no connect.
    frozen: AtomicBool,
    thawed: Condvar,
    freeze_lock: Mutex<()>,
    /// Stopping or killed: the connect gate says no.
    stopping: AtomicBool,
    /// Killed (tests): stop without a flush or a release.
    killed: AtomicBool,
    /// The time (ms) up to which every event received was appended.
    drained_ms: AtomicI64,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut RelayStatus)) {
        f(&mut lock(&self.status));
        self.changed.notify_all();
    }
}

impl Relay {
    /// A relay for `subscription`, with the lease and the stream in the
    /// Redis at `redis`.
    pub fn builder(
        redis: RedisConfig,
        credentials: Credentials,
        subscription: impl Into<String>,
    ) -> RelayBuilder {
        RelayBuilder {
            redis,
            credentials,
            subscription: subscription.into(),
            feed: None,
            node: None,
            client: Client::builder(),
            refresh: RefreshOptions::default(),
            lease_ttl: Duration::from_secs(5),
            renew_every: Duration::from_secs(1),
            fence_after: None,
            poll_every: Duration::from_millis(250),
            handover_wait: Duration::from_secs(10),
            dedup_window: Duration::from_secs(15 * 60),
            retention: Retention::default(),
            buffer: 100_000,
            gap_margin: Duration::from_millis(250),
            batch: 256,
        }
    }

    /// This relay's node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Its state and counters now.
    pub fn status(&self) -> RelayStatus {
        lock(&self.shared.status).clone()
    }

    /// Waits until `done` holds for the status, up to `timeout`. False on
    /// timeout.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&RelayStatus) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut status = lock(&self.shared.status);
        loop {
            if done(&status) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            status = self
                .shared
                .changed
                .wait_timeout(status, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Graceful handover (SIGTERM, a rolling deploy): make-before-break.
    /// The lease is offered to a standby, which takes it and connects; this
    /// relay closes its connection only once the standby's is up, appends
    /// what it still received, and stops. Without a standby it closes after
    /// the builder's `handover_wait` and releases the lease. Waits up to
    /// `timeout` for all that.
    pub fn handover(mut self, timeout: Duration) -> Result<()> {
        let _ = self.commands.send(Command::Handover);
        self.join(timeout)
    }

    /// Closes the connection, appends what is left, releases the lease (a
    /// standby takes over at its next poll; the window is recorded as a
    /// gap), and stops. Waits up to 10 s.
    pub fn stop(mut self) -> Result<()> {
        let _ = self.commands.send(Command::Stop);
        self.join(Duration::from_secs(10))
    }

    fn join(&mut self, timeout: Duration) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let stopped = self.wait_until(timeout, |s| s.role == Role::Stopped);
        if stopped {
            let _ = thread.join();
        } else {
            log::warn!(
                "zoom-ws ha: relay {} did not stop within {timeout:?}",
                self.node
            );
        }
        match self.status().error {
            Some(e) => Err(Error::Config(format!("relay stopped: {e}"))),
            None if stopped => Ok(()),
            None => Err(Error::network(
                "stopping the relay",
                std::io::Error::new(std::io::ErrorKind::TimedOut, "did not stop in time"),
            )),
        }
    }

    /// Not part of the API: stops at once without appending what is
    /// queued or releasing the lease, as a crash would (tests).
    #[doc(hidden)]
    pub fn __kill(mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.killed.store(true, Ordering::SeqCst);
        let _ = self.commands.send(Command::Kill);
        self.thaw();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Not part of the API: freezes (true) or thaws (false) the relay
    /// thread and its connect gate, as SIGSTOP would, except that the
    /// socket thread keeps reading (tests).
    #[doc(hidden)]
    pub fn __freeze(&self, frozen: bool) {
        if frozen {
            let _guard = lock(&self.shared.freeze_lock);
            self.shared.frozen.store(true, Ordering::SeqCst);
        } else {
            self.thaw();
        }
    }

    fn thaw(&self) {
        let _guard = lock(&self.shared.freeze_lock);
        self.shared.frozen.store(false, Ordering::SeqCst);
        self.shared.thawed.notify_all();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.commands.send(Command::Stop);
            let _ = self.join(Duration::from_secs(10));
        }
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("node", &self.node)
            .field("status", &self.status())
            .finish()
    }
}

/// The relay thread.
struct Worker {
    settings: RelayBuilder,
    link: Link,
    keys: Keys,
    node: String,
    fence_after: Duration,
    tokens: TokenSource,
    shared: Arc<Shared>,
    commands: Receiver<Command>,
    buffer: Buffer,
    /// The last term ended in a self-fence (the next one records a
    /// `redis_outage` gap).
    was_fenced: bool,
    /// Wakes a standby when the lease is released or offered.
    waker: Waker,
}

/// How a phase ended.
enum Ended {
    /// Back to standby.
    Standby,
    /// The relay stops (stop, handover done, kill, fatal error).
    Stop,
}

/// The connect gate's state, shared with the socket thread.
struct Gate {
    link: Mutex<Link>,
    keys: Keys,
    sub: String,
    term: Term,
    ttl: Duration,
    shared: Arc<Shared>,
    /// Set when a renew found the lease lost: this term never connects again.
    lost: AtomicBool,
}

impl Gate {
    /// Renews before a connection attempt: true only if the lease is ours.
    fn allow(&self) -> bool {
        let s = &self.shared;
        if s.frozen.load(Ordering::SeqCst)
            || s.stopping.load(Ordering::SeqCst)
            || self.lost.load(Ordering::SeqCst)
        {
            return false;
        }
        let renewed = lock(&self.link).run("renewing before connecting", |c| {
            lease::renew(c, &self.keys, &self.sub, &self.term, self.ttl, None)
        });
        s.update(|st| st.redis_calls += 1);
        match renewed {
            Ok(true) => true,
            Ok(false) => {
                log::warn!("zoom-ws ha: lease lost before connecting; not connecting");
                self.lost.store(true, Ordering::SeqCst);
                false
            }
            Err(_) => false,
        }
    }
}

impl Worker {
    fn run(mut self) {
        let mut pending_stop = false;
        loop {
            let ended = match self.standby() {
                Some(acquired) => self.lead(acquired),
                None => Ended::Stop,
            };
            match ended {
                Ended::Stop => break,
                Ended::Standby if pending_stop => break,
                Ended::Standby => {}
            }
            pending_stop = self.shared.stopping.load(Ordering::SeqCst);
        }
        self.shared.update(|s| s.role = Role::Stopped);
        log::info!("zoom-ws ha: relay {} stopped", self.node);
    }

    fn set_role(&self, role: Role) {
        self.shared.update(|s| s.role = role);
    }

    fn call(&self) {
        self.shared.update(|s| s.redis_calls += 1);
    }

    /// Blocks while frozen. False if told to stop meanwhile.
    fn wait_thawed(&self) -> bool {
        let mut guard = lock(&self.shared.freeze_lock);
        while self.shared.frozen.load(Ordering::SeqCst) {
            guard = self
                .shared
                .thawed
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(guard);
        !self.shared.killed.load(Ordering::SeqCst)
    }

    /// Polls the lease until it is ours (`Some`) or the relay must stop.
    fn standby(&mut self) -> Option<Acquired> {
        loop {
            // Fenced until what it buffered is in Redis.
            self.set_role(if self.buffer.is_empty() {
                Role::Standby
            } else {
                Role::Fenced
            });
            if !self.wait_thawed() {
                return None;
            }
            if let Some(fatal) = self.tokens.fatal_error() {
                self.fail(&fatal);
                return None;
            }
            // A fenced relay first hands in what it buffered.
            if !self.buffer.is_empty() {
                self.flush();
            }
            let s = &self.settings;
            let (keys, sub, node, ttl) = (&self.keys, &s.subscription, &self.node, s.lease_ttl);
            let got = if self.buffer.is_empty() {
                let r = self.link.run("acquiring the lease", |c| {
                    lease::acquire(c, keys, sub, node, ttl)
                });
                self.call();
                r.ok().flatten()
            } else {
                None
            };
            if let Some(acquired) = got {
                return Some(acquired);
            }
            let delay = self.settings.poll_every.mul_f64(1.0 + 0.4 * random_unit());
            select! {
                recv(self.commands) -> c => match c {
                    Ok(Command::Handover) | Ok(Command::Stop) | Ok(Command::Kill) | Err(_) => {
                        self.shared.stopping.store(true, Ordering::SeqCst);
                        if !self.buffer.is_empty() {
                            self.flush();
                        }
                        return None;
                    }
                },
                recv(after(delay)) -> _ => {}
                recv(self.waker.receiver()) -> _ => {
                    log::debug!("zoom-ws ha: relay {}: woken by a lease change", self.node);
                }
            }
        }
    }

    fn fail(&self, e: &Error) {
        log::error!("zoom-ws ha: relay {} stops: {e}", self.node);
        let text = e.to_string();
        self.shared.update(|s| s.error = Some(text));
    }

    /// One term, from the acquired lease to the end of the connection.
    fn lead(&mut self, acquired: Acquired) -> Ended {
        let term = acquired.term.clone();
        let epoch = term.epoch;
        log::info!(
            "zoom-ws ha: relay {} holds the lease of {} (epoch {epoch}{})",
            self.node,
            self.settings.subscription,
            if acquired.how == lease::Taken::Handover {
                ", handed over"
            } else {
                ""
            }
        );
        // Not connected in this term yet: renews leave last-alive alone.
        self.shared.drained_ms.store(0, Ordering::SeqCst);
        self.shared.update(|s| {
            s.role = Role::Connecting;
            s.epoch = epoch;
            s.terms += 1;
        });
        let mut leadership = Leadership::new(Instant::now(), self.fence_after);
        self.append_plain(&Entry::Leader(Leader {
            epoch,
            node: self.node.clone(),
            subscription: self.settings.subscription.clone(),
            at_ms: super::now_ms(),
        }));
        let gate = Arc::new(Gate {
            link: Mutex::new(Link::new(self.settings.redis.clone())),
            keys: self.keys.clone(),
            sub: self.settings.subscription.clone(),
            term: term.clone(),
            ttl: self.settings.lease_ttl,
            shared: self.shared.clone(),
            lost: AtomicBool::new(false),
        });

        // Connect on a helper thread, renewing meanwhile.
        let mut attempt: u32 = 0;
        let mut refused_at_ms: Option<i64> = None;
        let mut marked_handed = false;
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        };
        let client = loop {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let builder = self.client_builder(&gate);
            let spawned = std::thread::Builder::new()
                .name("zoom-ws-relay-connect".into())
                .spawn(move || {
                    let _ = tx.send(builder.connect());
                });
            if let Err(e) = spawned {
                self.fail(&Error::network("starting the connect thread", e));
                self.release(&term);
                return Ended::Stop;
            }
            let outcome = match self.wait_connected(&rx, &term, &mut leadership) {
                Ok(outcome) => outcome,
                Err(ended) => {
                    self.release(&term);
                    return ended;
                }
            };
            match outcome {
                Ok(client) => break client,
                Err(e) if !e.is_transient() && !matches!(e, Error::Rejected { .. }) => {
                    self.fail(&e);
                    self.release(&term);
                    return Ended::Stop;
                }
                Err(e) => {
                    log::warn!("zoom-ws ha: connecting as leader failed: {e}");
                    if acquired.how == lease::Taken::Handover && !marked_handed {
                        // The old leader must make room (Zoom refuses a
                        // second socket): tell it to close.
                        refused_at_ms.get_or_insert_with(super::now_ms);
                        marked_handed = self.mark_handed(epoch);
                    }
                    attempt += 1;
                    let delay = backoff.delay(attempt.saturating_sub(1));
                    if self.sleep_renewing(delay, &term, &mut leadership).is_err() {
                        self.release(&term);
                        return Ended::Stop;
                    }
                    if leadership.lost || leadership.fenced {
                        self.was_fenced = leadership.fenced;
                        return Ended::Standby;
                    }
                }
            }
        };
        let connected_ms = super::now_ms();
        if acquired.how == lease::Taken::Handover && !marked_handed {
            self.mark_handed(epoch);
        }
        if let Some(g) = plan::gap_of_new_term(
            &acquired,
            self.was_fenced,
            attempt == 0,
            refused_at_ms,
            connected_ms,
            self.settings.gap_margin,
        ) {
            self.append_gap(g, epoch);
        }
        self.was_fenced = false;
        self.shared.drained_ms.store(connected_ms, Ordering::SeqCst);
        self.set_role(Role::Leader);
        self.serve(client, &term, leadership)
    }

    fn client_builder(&self, gate: &Arc<Gate>) -> ClientBuilder {
        let gate = gate.clone();
        self.settings
            .client
            .clone()
            .subscription_id(self.settings.subscription.clone())
            .token_source(self.tokens.clone())
            .connect_gate(move || gate.allow())
    }

    /// Waits for the connect thread while renewing. `Err` if the relay must
    /// stop or step down (the lease was lost or fenced).
    fn wait_connected(
        &mut self,
        rx: &Receiver<Result<Client>>,
        term: &Term,
        leadership: &mut Leadership,
    ) -> std::result::Result<Result<Client>, Ended> {
        let mut next_renew = Instant::now() + self.settings.renew_every;
        loop {
            if !self.wait_thawed() {
                return Err(Ended::Stop);
            }
            select! {
                recv(rx) -> r => return Ok(r.unwrap_or(Err(Error::Closed))),
                recv(self.commands) -> c => match c {
                    Ok(Command::Kill) => return Err(Ended::Stop),
                    _ => {
                        self.shared.stopping.store(true, Ordering::SeqCst);
                        return Err(Ended::Stop);
                    }
                },
                recv(after(next_renew.saturating_duration_since(Instant::now()))) -> _ => {
                    next_renew = Instant::now() + self.settings.renew_every;
                    let next = self.renew(term, leadership);
                    if matches!(next, Next::CloseLost | Next::CloseFenced | Next::AwaitHanded) {
                        self.was_fenced = leadership.fenced;
                        // A connection that comes up later is closed by
                        // dropping it with the receiver's thread.
                        return Err(Ended::Standby);
                    }
                }
            }
        }
    }

    /// Sleeps `delay` while renewing. `Err` if the relay must stop.
    fn sleep_renewing(
        &mut self,
        delay: Duration,
        term: &Term,
        leadership: &mut Leadership,
    ) -> std::result::Result<(), ()> {
        let until = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if now >= until || leadership.lost || leadership.fenced {
                return Ok(());
            }
            let wait = (until - now).min(self.settings.renew_every);
            select! {
                recv(self.commands) -> _ => {
                    self.shared.stopping.store(true, Ordering::SeqCst);
                    return Err(());
                },
                recv(after(wait)) -> _ => {}
            }
            if leadership.last_ok.elapsed() >= self.settings.renew_every {
                self.renew(term, leadership);
            }
        }
    }

    /// One renew and the bookkeeping of its outcome.
    fn renew(&mut self, term: &Term, leadership: &mut Leadership) -> Next {
        let started = Instant::now();
        let alive = Some(self.shared.drained_ms.load(Ordering::SeqCst)).filter(|ms| *ms > 0);
        let (keys, sub, ttl) = (
            &self.keys,
            &self.settings.subscription,
            self.settings.lease_ttl,
        );
        let r = self.link.run("renewing the lease", |c| {
            lease::renew(c, keys, sub, term, ttl, alive)
        });
        self.call();
        let outcome = match r {
            Ok(true) => Renewed::Held,
            Ok(false) => Renewed::Lost,
            Err(_) => Renewed::Failed,
        };
        let next = leadership.on_renew(outcome, started, Instant::now(), !self.buffer.is_empty());
        if next == Next::Flush {
            self.flush();
        }
        next
    }

    /// Leads with the connection up until it ends.
    fn serve(&mut self, client: Client, term: &Term, mut leadership: Leadership) -> Ended {
        let events = client.events().clone();
        let states = client.states().clone();
        let closer = client.closer();
        let mut client = Some(client);
        let mut next_renew = Instant::now() + self.settings.renew_every;
        let mut handover_deadline: Option<Instant> = None;
        let mut handed_poll = Instant::now();
        let mut stop_after = false;
        let mut killed = false;
        // Why the connection is being closed, once it is.
        let mut closing: Option<&'static str> = None;
        let mut batch: Vec<Event> = Vec::with_capacity(self.settings.batch);
        loop {
            if !self.wait_thawed() {
                killed = true;
                break;
            }
            let now = Instant::now();
            let mut wake = next_renew;
            if !leadership.fenced && !leadership.lost {
                wake = wake.min(leadership.fence_at());
            }
            if let Some(d) = handover_deadline {
                wake = wake.min(d).min(handed_poll);
            }
            let timer = after(wake.saturating_duration_since(now));
            let states_rx = if closing.is_none() { &states } else { &never() };
            select! {
                recv(events) -> ev => match ev {
                    Ok(ev) => {
                        batch.push(ev);
                        while batch.len() < self.settings.batch {
                            match events.try_recv() {
                                Ok(ev) => batch.push(ev),
                                Err(_) => break,
                            }
                        }
                        self.store(&mut batch, term.epoch, &events);
                    }
                    // The socket thread ended: closed by us, or a fatal error.
                    Err(_) => break,
                },
                recv(states_rx) -> change => {
                    if let Ok(StateChange::Reconnected { at, down_since, .. }) = change {
                        let g = (
                            super::ms_of(down_since)
                                .saturating_sub(self.settings.gap_margin.as_millis() as i64),
                            super::ms_of(at),
                            GapReason::Reconnect,
                        );
                        self.append_gap(g, term.epoch);
                    }
                },
                recv(self.commands) -> c => match c {
                    Ok(Command::Kill) => { killed = true; break; }
                    Ok(Command::Handover) if closing.is_none() && handover_deadline.is_none() => {
                        self.shared.stopping.store(true, Ordering::SeqCst);
                        let (keys, sub, wait) = (&self.keys, &self.settings.subscription, self.settings.handover_wait);
                        let offered = self.link.run("offering a handover", |c| {
                            lease::offer_handover(c, keys, sub, term, wait)
                        });
                        self.call();
                        stop_after = true;
                        if matches!(offered, Ok(true)) {
                            let _ = self.link.run("announcing the handover", |c| wake::publish(c, keys, sub));
                            self.call();
                            log::info!("zoom-ws ha: relay {} offers its lease for a handover", self.node);
                            leadership.handing_over = true;
                            handover_deadline = Some(Instant::now() + wait);
                            self.set_role(Role::HandingOver);
                        } else {
                            closing = Some("handover impossible (Redis unreachable or lease lost)");
                            closer.close();
                        }
                    }
                    Ok(Command::Handover) | Ok(Command::Stop) | Err(_) => {
                        self.shared.stopping.store(true, Ordering::SeqCst);
                        stop_after = true;
                        if closing.is_none() {
                            closing = Some("stopping");
                            closer.close();
                        }
                    }
                },
                recv(timer) -> _ => {}
            }
            let now = Instant::now();
            let mut fence_now = false;
            if now >= next_renew && (leadership.handing_over || !leadership.lost) {
                next_renew = now + self.settings.renew_every;
                // Idle and nothing buffered: everything received is in.
                if events.is_empty() && self.buffer.is_empty() && closing.is_none() {
                    self.shared
                        .drained_ms
                        .store(super::now_ms(), Ordering::SeqCst);
                }
                let next = self.renew(term, &mut leadership);
                match next {
                    Next::CloseLost if closing.is_none() => {
                        log::warn!(
                            "zoom-ws ha: relay {}: the lease has another holder; closing at once",
                            self.node
                        );
                        closing = Some("lease lost");
                        closer.close();
                    }
                    Next::AwaitHanded => handed_poll = now,
                    _ => {}
                }
                fence_now = next == Next::CloseFenced;
            }
            if closing.is_none()
                && (fence_now || leadership.check_fence(Instant::now()) == Next::CloseFenced)
            {
                log::warn!(
                    "zoom-ws ha: relay {}: Redis unreachable for {:?}; closing the Zoom connection (self-fence)",
                    self.node,
                    self.fence_after
                );
                closing = Some("self-fence");
                self.set_role(Role::Fenced);
                closer.close();
            }
            if let Some(deadline) = handover_deadline {
                if closing.is_none() && leadership.lost && now >= handed_poll {
                    handed_poll = now + Duration::from_millis(50);
                    let (keys, sub) = (&self.keys, &self.settings.subscription);
                    let handed = self
                        .link
                        .run("checking the handover", |c| lease::handed(c, keys, sub));
                    self.call();
                    if handed.is_ok_and(|e| e > term.epoch) {
                        log::info!(
                            "zoom-ws ha: relay {}: the new leader is connected; closing",
                            self.node
                        );
                        closing = Some("handed over");
                        closer.close();
                    }
                }
                if closing.is_none() && now >= deadline {
                    log::warn!("zoom-ws ha: relay {}: no standby connected within the handover wait; closing", self.node);
                    closing = Some("handover timed out");
                    closer.close();
                }
            }
        }
        if killed {
            self.shared.stopping.store(true, Ordering::SeqCst);
            drop(client.take());
            return Ended::Stop;
        }
        // The client stopped: join it, then append what it had queued.
        let error = client.take().and_then(|c| c.close().err());
        let rest: Vec<Event> = events.try_iter().collect();
        if !rest.is_empty() {
            let mut rest = rest;
            self.store(&mut rest, term.epoch, &events);
        }
        if let Some(e) = &error {
            if closing.is_none() {
                self.fail(e);
                stop_after = true;
            }
        }
        self.shared.update(|s| s.buffered = self.buffer.queued());
        if leadership.fenced {
            self.was_fenced = true;
            self.set_role(Role::Fenced);
            return if stop_after {
                Ended::Stop
            } else {
                Ended::Standby
            };
        }
        // Append what the buffer holds, then give the lease back (unless
        // it is someone else's already).
        if !self.buffer.is_empty() {
            self.flush();
        }
        if !leadership.lost {
            self.release(term);
        }
        if stop_after {
            Ended::Stop
        } else {
            Ended::Standby
        }
    }

    /// Appends a batch of events (or buffers it while Redis is away).
    fn store(&mut self, batch: &mut Vec<Event>, epoch: u64, queue: &Receiver<Event>) {
        let recv_ms = super::now_ms();
        let n = batch.len() as u64;
        let entries: Vec<Entry> = batch
            .drain(..)
            .filter_map(|event| {
                let id = match event_id(event.json()) {
                    Ok(id) => id,
                    Err(e) => {
                        log::warn!("zoom-ws ha: an event that is not JSON skipped: {e}");
                        return None;
                    }
                };
                Some(Entry::Event(EventEntry {
                    id,
                    account_id: account_id(&event),
                    event,
                    recv_ms,
                    epoch,
                    node: self.node.clone(),
                    subscription: self.settings.subscription.clone(),
                }))
            })
            .collect();
        self.shared.update(|s| s.received += n);
        if self.buffer.is_empty() && self.append_events(&entries) {
            if queue.is_empty() {
                self.shared
                    .drained_ms
                    .store(super::now_ms(), Ordering::SeqCst);
            }
            return;
        }
        for e in entries {
            self.buffer.push(e, recv_ms);
        }
        let (len, dropped) = (self.buffer.queued(), self.buffer.dropped_total());
        self.shared.update(|s| {
            s.buffered = len;
            s.dropped = dropped;
        });
    }

    /// One round trip for the batch. False if Redis did not take it.
    fn append_events(&mut self, entries: &[Entry]) -> bool {
        if entries.is_empty() {
            return true;
        }
        let (keys, window, retention) = (
            &self.keys,
            self.settings.dedup_window,
            self.settings.retention,
        );
        let r = self.link.run("appending events", |c| {
            append::append_events(c, keys, entries, window, retention)
        });
        self.call();
        match r {
            Ok(outcomes) => {
                let new = outcomes
                    .iter()
                    .filter(|o| matches!(o, Appended::New(_)))
                    .count() as u64;
                let dup = outcomes.len() as u64 - new;
                self.shared.update(|s| {
                    s.appended += new;
                    s.duplicates += dup;
                });
                true
            }
            Err(_) => false,
        }
    }

    /// Appends what the buffer holds, oldest first, and the gap of what
    /// did not fit. Stops at the first failure.
    fn flush(&mut self) {
        while self.buffer.queued() > 0 {
            let chunk = self.buffer.front(self.settings.batch);
            if !self.append_events(&chunk) {
                return;
            }
            self.buffer.consume(chunk.len());
            let len = self.buffer.queued();
            self.shared.update(|s| s.buffered = len);
        }
        if let Some(dropped) = self.buffer.take_dropped() {
            let (n, from, to) = dropped;
            log::warn!("zoom-ws ha: {n} events did not fit in the buffer; recording a gap");
            let epoch = lock(&self.shared.status).epoch;
            if !self.append_gap((from, to, GapReason::RedisOutage), epoch) {
                self.buffer.restore_dropped(dropped);
                return;
            }
        }
        self.shared
            .drained_ms
            .store(super::now_ms(), Ordering::SeqCst);
        log::info!("zoom-ws ha: relay {}: buffered events appended", self.node);
    }

    fn append_plain(&mut self, entry: &Entry) -> bool {
        let (keys, retention) = (&self.keys, self.settings.retention);
        let r = self.link.run("appending an entry", |c| {
            append::append_plain(c, keys, entry, retention)
        });
        self.call();
        r.is_ok()
    }

    fn append_gap(&mut self, g: (i64, i64, GapReason), epoch: u64) -> bool {
        log::warn!(
            "zoom-ws ha: events may be lost from {} to {} ({}): recorded as a gap",
            g.0,
            g.1,
            g.2
        );
        let entry = Entry::Gap(plan::gap(g, epoch, &self.node, &self.settings.subscription));
        let ok = self.append_plain(&entry);
        if ok {
            self.shared.update(|s| s.gaps += 1);
        }
        ok
    }

    fn mark_handed(&mut self, epoch: u64) -> bool {
        let (keys, sub, ttl) = (
            &self.keys,
            &self.settings.subscription,
            self.settings.handover_wait,
        );
        let r = self.link.run("marking the handover", |c| {
            lease::mark_handed(c, keys, sub, epoch, ttl)
        });
        self.call();
        r.is_ok()
    }

    fn release(&mut self, term: &Term) {
        // Only a term that was connected moves the last-alive time.
        let drained = self.shared.drained_ms.load(Ordering::SeqCst);
        let alive = match (drained, self.buffer.is_empty()) {
            (0, _) => None,
            (_, true) => Some(super::now_ms()),
            (ms, false) => Some(ms),
        };
        let (keys, sub) = (&self.keys, &self.settings.subscription);
        let r = self.link.run("releasing the lease", |c| {
            lease::release(c, keys, sub, term, alive)
        });
        self.call();
        if matches!(r, Ok(true)) {
            let _ = self
                .link
                .run("announcing the release", |c| wake::publish(c, keys, sub));
            self.call();
            log::info!("zoom-ws ha: relay {} released the lease", self.node);
        }
    }
}
