//! The socket thread: connects, keeps the connection alive with Zoom's
//! heartbeat, reads frames, hands events to the channel, and reconnects.
//!
//! One thread owns the socket. It blocks in `read`, and the socket's read
//! timeout is set to the time left until its next deadline (the next
//! heartbeat, or the heartbeat ack it is waiting for), so an idle connection
//! wakes only for deadlines: no polling loop and no timer thread.
//!
//! The decisions are plain data and plain functions in [`policy`] (the
//! heartbeat schedule, dead-link deadlines, the reconnect decision); the
//! I/O shell around them is [`transport`] (resolve, TCP, TLS, the read
//! timeout), [`connect`] (one attempt, bounded by `connect_timeout`),
//! [`session`] (one confirmed connection) and this file (the loop of
//! attempts). [`outbox`] sends events and state changes without blocking.
//!
//! Closing from another thread sets a flag and shuts down the read half of
//! the TCP socket, which wakes a blocked `read` at once (on Linux; elsewhere
//! at the next deadline). The thread then sends a Close frame (1000), reads
//! on until Zoom's answering Close so that nothing in flight is lost
//! (`session::start_close`), and exits.

mod connect;
mod errors;
mod outbox;
pub(crate) mod policy;
mod proxy;
mod session;
mod transport;

pub(crate) use session::DRAIN_FOR;

use std::net::{Shutdown, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use tungstenite::WebSocket;

use crate::backoff::{random_unit, Backoff};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::oauth::{AccessToken, TokenSource};
use crate::proxy::ProxyConfig;
use crate::state::StateChange;
use crate::sync::lock;
use crate::tls::TlsConfig;

pub(crate) use outbox::{Limits, Outbox, STATES_CAPACITY};
use policy::{Outcome, Reconnect};
use session::Ended;
use transport::Stream;

type Ws = WebSocket<Stream>;

/// Asked before every connection attempt; see `ClientBuilder::connect_gate`.
pub(crate) type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

/// How long the thread waits before asking a closed gate again.
pub(crate) const GATE_RETRY: Duration = Duration::from_millis(100);

/// What the socket thread needs to know. Built and checked by the client builder.
#[derive(Clone)]
pub(crate) struct Settings {
    pub endpoint: Endpoint,
    pub subscription_id: Option<String>,
    pub heartbeat: Duration,
    pub dead_link_timeout: Duration,
    pub connect_timeout: Duration,
    pub first_connect_timeout: Duration,
    pub backoff: Backoff,
    pub max_message_size: usize,
    pub tls: TlsConfig,
    /// Resolved: never `ProxyConfig::Env`.
    pub proxy: ProxyConfig,
    pub limits: Limits,
    pub gate: Option<Gate>,
}

/// State shared by the client handle and the socket thread: the one place
/// the stop request, the counters and the outcome live.
pub(crate) struct Shared {
    stop: AtomicBool,
    /// A clone of the live TCP socket, to wake a blocked read on stop.
    waker: Mutex<Option<TcpStream>>,
    /// Dropped (disconnected) to wake the thread out of a wait.
    stop_tx: Mutex<Option<Sender<()>>>,
    /// Also run on stop: stops the token refresher the client owns.
    on_stop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    pub connected: AtomicBool,
    pub dropped: AtomicU64,
    pub dropped_states: AtomicU64,
    pub delivered: AtomicU64,
    /// Frames logged and skipped (not JSON, unknown module, malformed event, binary).
    pub skipped: AtomicU64,
    pub reconnects: AtomicU64,
    /// The fatal error the thread stopped on, if any.
    pub fatal: Mutex<Option<Error>>,
    /// A sender of the event channel for clients that share it
    /// (`ClientBuilder::share_events_with`); taken when the thread ends, so
    /// that the channel closes with the last thread sending into it.
    pub events_tx: Mutex<Option<Sender<Event>>>,
    /// Set when the thread has finished, for a bounded join.
    finished: (Mutex<bool>, Condvar),
}

impl Shared {
    pub fn new() -> (Arc<Shared>, Receiver<()>) {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let shared = Shared {
            stop: AtomicBool::new(false),
            waker: Mutex::new(None),
            stop_tx: Mutex::new(Some(tx)),
            on_stop: Mutex::new(None),
            connected: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            dropped_states: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            fatal: Mutex::new(None),
            events_tx: Mutex::new(None),
            finished: (Mutex::new(false), Condvar::new()),
        };
        (Arc::new(shared), rx)
    }

    /// Runs `f` (once) when a stop is requested.
    pub fn on_stop(&self, f: Box<dyn FnOnce() + Send>) {
        *lock(&self.on_stop) = Some(f);
    }

    /// Asks the thread to stop, and wakes it wherever it waits.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.stop_tx).take();
        if let Some(sock) = lock(&self.waker).as_ref() {
            let _ = sock.shutdown(Shutdown::Read);
        }
        let on_stop = lock(&self.on_stop).take();
        if let Some(f) = on_stop {
            f();
        }
    }

    /// Waits up to `timeout` for the thread to finish. True if it has.
    pub fn wait_finished(&self, timeout: Duration) -> bool {
        let (lock_, cv) = &self.finished;
        let guard = lock(lock_);
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |done| !*done)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    /// Counts a skipped frame and logs it: at WARN for the first ten and
    /// then at every power of two, at DEBUG otherwise, so that a stream of
    /// garbage cannot flood the log. `why` is already scrubbed and cut.
    fn skipped(&self, why: &str) {
        let n = self.skipped.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 10 || n.is_power_of_two() {
            log::warn!("zoom-ws: skipped a frame ({n} so far): {why}");
        } else {
            log::debug!("zoom-ws: skipped a frame ({n} so far): {why}");
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn set_waker(&self, sock: Option<TcpStream>) {
        *lock(&self.waker) = sock;
    }
}

/// The channels and handles the thread works with.
pub(crate) struct Thread {
    pub settings: Settings,
    pub tokens: TokenSource,
    pub shared: Arc<Shared>,
    pub stop_rx: Receiver<()>,
    /// Told once: the first connection is up, or failed.
    pub ready: Sender<Result<()>>,
}

impl Thread {
    /// Starts the thread. It owns `out`, and drops it (ending the user's
    /// iterators) only after the outcome is stored.
    pub fn spawn(self, out: Outbox) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("zoom-ws-socket".into())
            .spawn(move || self.run(out))
    }

    fn run(self, mut out: Outbox) {
        let ready = self.ready.clone();
        let result = catch_unwind(AssertUnwindSafe(|| self.run_loop(&mut out)))
            .unwrap_or_else(|panic| Err(Error::panicked("zoom-ws-socket", &*panic)));
        self.shared.connected.store(false, Ordering::SeqCst);
        self.shared.set_waker(None);
        match result {
            Err(Error::Closed) | Ok(()) => log::debug!("zoom-ws: socket thread stopped"),
            Err(e) => {
                // A first connect still waiting returns it to its caller,
                // who reports it: logged at ERROR only when nobody else will.
                if ready.try_send(Err(e.duplicate())).is_ok() {
                    log::debug!("zoom-ws: the first connection failed: {e}");
                } else {
                    log::error!("zoom-ws: stopping: {e}");
                }
                *lock(&self.shared.fatal) = Some(e);
            }
        }
        *lock(&self.shared.finished.0) = true;
        self.shared.finished.1.notify_all();
        // The outcome is stored: now end the user's iterators.
        lock(&self.shared.events_tx).take();
        drop(out);
    }

    /// Connects, serves, reconnects, until stopped (Ok) or a fatal error.
    fn run_loop(&self, out: &mut Outbox) -> Result<()> {
        let started = Instant::now();
        let mut ready = Some(self.ready.clone());
        let mut policy = Reconnect::new(self.settings.backoff);
        // Set while disconnected: when the old connection was last alive.
        let mut down_since: Option<SystemTime> = None;
        loop {
            if self.shared.stopping() {
                return Ok(());
            }
            if let Some(gate) = &self.settings.gate {
                if !gate() {
                    self.pause(GATE_RETRY)?;
                    continue;
                }
            }
            let token = self.token();
            let attempted = token.as_ref().ok().cloned();
            let outcome = token.and_then(|token| self.connect(&token, out).map(|ws| (ws, token)));
            let decision = match outcome {
                Ok((ws, token)) => {
                    let at = SystemTime::now();
                    self.shared.connected.store(true, Ordering::SeqCst);
                    out.notify(match (ready.take(), down_since.take()) {
                        (Some(tx), _) => {
                            let _ = tx.send(Ok(()));
                            log::info!("zoom-ws: connected");
                            StateChange::Connected { at }
                        }
                        (None, Some(since)) => {
                            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                            let gap = at.duration_since(since).unwrap_or_default();
                            log::info!(
                                "zoom-ws: reconnected after a gap of {} ms",
                                gap.as_millis()
                            );
                            StateChange::Reconnected {
                                at,
                                down_since: since,
                                gap,
                            }
                        }
                        (None, None) => StateChange::Connected { at },
                    });
                    let ended = self.serve(ws, &token, out);
                    self.shared.connected.store(false, Ordering::SeqCst);
                    self.shared.set_waker(None);
                    let loss = match ended {
                        Ended::Stopped => return Ok(()),
                        Ended::Fatal(e) => return Err(e),
                        Ended::Lost(loss) => loss,
                    };
                    log::warn!("zoom-ws: connection lost: {}", loss.reason);
                    if loss.token_rejected {
                        self.tokens.force_refresh(&token);
                    }
                    down_since = Some(wall_clock(loss.last_alive));
                    out.notify(StateChange::Disconnected {
                        at: SystemTime::now(),
                        reason: loss.reason,
                    });
                    let decision = policy.next(loss.outcome, random_unit());
                    if decision.kicked {
                        log::warn!(
                            "zoom-ws: Zoom closed a connection right after confirming it: most likely another client connected with the same subscription id (Zoom keeps one connection per subscription); backing off"
                        );
                    }
                    decision
                }
                Err(Error::Closed) if self.shared.stopping() => return Ok(()),
                Err(e) => {
                    if let Some(fatal) = self.tokens.fatal_error() {
                        return Err(fatal);
                    }
                    let token_problem = matches!(
                        e,
                        Error::TokenRejected { .. } | Error::Upgrade { status: 401 | 403 }
                    );
                    if token_problem {
                        if let Some(token) = &attempted {
                            self.tokens.force_refresh(token);
                        }
                    }
                    if ready.is_some() {
                        // The first connection: fail fast on what retrying
                        // cannot fix, and give up at the deadline.
                        let give_up = if token_problem {
                            policy.failures() >= 2
                        } else {
                            !e.is_transient()
                        } || started.elapsed() >= self.settings.first_connect_timeout;
                        if give_up {
                            return Err(e);
                        }
                    }
                    let decision = policy.next(Outcome::AttemptFailed, random_unit());
                    log::warn!(
                        "zoom-ws: connecting failed (attempt {}), retrying in {} ms: {e}",
                        policy.failures(),
                        decision.delay.as_millis()
                    );
                    decision
                }
            };
            self.pause(decision.delay)?;
        }
    }

    /// Waits `delay`, or until a stop (then `Err(Closed)`).
    fn pause(&self, delay: Duration) -> Result<()> {
        if delay.is_zero() {
            return Ok(());
        }
        match self.stop_rx.recv_timeout(delay) {
            Err(RecvTimeoutError::Timeout) => Ok(()),
            _ => Err(Error::Closed),
        }
    }

    /// A valid token that Zoom has not refused (the token source no
    /// longer hands out a token reported with `force_refresh`), waiting for
    /// the refresh thread if there is none, up to the connect timeout.
    fn token(&self) -> Result<AccessToken> {
        let deadline = Instant::now() + self.settings.connect_timeout;
        loop {
            if self.shared.stopping() {
                return Err(Error::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Short slices, so that a stop request is seen between them.
            match self.tokens.wait(left.min(Duration::from_millis(100))) {
                Ok(token) => return Ok(token),
                Err(e) if !e.is_transient() || left.is_zero() => return Err(e),
                Err(_) => {}
            }
        }
    }
}

/// The wall-clock time of an `Instant` in the past.
fn wall_clock(t: Instant) -> SystemTime {
    SystemTime::now()
        .checked_sub(t.elapsed())
        .unwrap_or_else(SystemTime::now)
}
