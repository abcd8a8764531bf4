//! The socket thread: connects, keeps the connection alive with Zoom's
//! heartbeat, reads frames, hands events to the channel, and reconnects.
//!
//! One thread owns the socket. It blocks in `read`, and the socket's read
//! timeout is set to the time left until its next deadline (the next
//! heartbeat, or the heartbeat ack it is waiting for), so an idle connection
//! wakes only for deadlines: no polling loop and no timer thread.
//!
//! Closing from another thread sets a flag and shuts down the read half of
//! the TCP socket, which wakes a blocked `read` at once (on Linux; elsewhere
//! at the next deadline). The thread then sends a Close frame (1000) on the
//! still-open write half and exits.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::backoff::Backoff;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::handshake;
use crate::oauth::{AccessToken, TokenSource};
use crate::state::StateChange;
use crate::sync::lock;
use crate::text::percent_encode;
use crate::tls::TlsConfig;
use crate::wire::{self, Inbound};

/// How far past the end of its wake window a read may still block before
/// the read timeout is set again. Re-arming costs a syscall; this keeps it
/// rare under load.
const SLACK: Duration = Duration::from_millis(5);

/// What the socket thread needs to know. Built and checked by the client builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub endpoint: Endpoint,
    pub subscription_id: Option<String>,
    pub heartbeat: Duration,
    pub dead_link_timeout: Duration,
    pub connect_timeout: Duration,
    pub first_connect_timeout: Duration,
    pub backoff: Backoff,
    pub healthy_after: Duration,
    pub max_message_size: usize,
    pub tls: TlsConfig,
    pub capacity: Option<usize>,
}

/// State shared by the client handle and the socket thread: the one place
/// the stop request, the counters and the outcome live.
#[derive(Debug)]
pub(crate) struct Shared {
    stop: AtomicBool,
    /// A clone of the live TCP socket, to wake a blocked read on stop.
    waker: Mutex<Option<TcpStream>>,
    /// Dropped (disconnected) to wake the thread out of a backoff wait.
    stop_tx: Mutex<Option<Sender<()>>>,
    pub connected: AtomicBool,
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    /// Frames logged and skipped (not JSON, unknown module, malformed event, binary).
    pub skipped: AtomicU64,
    pub reconnects: AtomicU64,
    /// The fatal error the thread stopped on, if any.
    pub fatal: Mutex<Option<Error>>,
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
            connected: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            fatal: Mutex::new(None),
            finished: (Mutex::new(false), Condvar::new()),
        };
        (Arc::new(shared), rx)
    }

    /// Asks the thread to stop, and wakes it wherever it waits.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.stop_tx).take();
        if let Some(sock) = lock(&self.waker).as_ref() {
            let _ = sock.shutdown(Shutdown::Read);
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
    /// garbage cannot flood the log.
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

/// The TCP socket under the WebSocket (and under TLS), with the read
/// timeout driven by a wake window and the stop-aware end of file.
///
/// Linux rounds a socket timeout up to its timer wheel's granularity, which
/// for long timeouts is up to 1/8 of the timeout (a 30 s timeout can fire
/// 2 s late). So a timeout is aimed at 15/16 of the time left before the
/// window's end, and any wake-up inside the window counts: the heartbeat
/// goes out on time, with one wake-up, instead of late.
struct Tcp {
    sock: TcpStream,
    shared: Arc<Shared>,
    /// Wake no earlier than `.0` and no later than `.1`.
    window: Option<(Instant, Instant)>,
    /// The read timeout currently set on the socket.
    timeout: Option<Duration>,
}

impl Tcp {
    fn arm(&mut self) -> io::Result<()> {
        let Some((earliest, latest)) = self.window else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= latest {
            // Due: let the caller act before blocking.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let fits = self.timeout.is_some_and(|t| {
            let ends = now + t;
            ends >= earliest && ends <= latest + SLACK
        });
        if !fits {
            let left = latest - now;
            let t = (left - left / 16)
                .max(earliest.saturating_duration_since(now))
                .max(Duration::from_millis(1));
            self.sock.set_read_timeout(Some(t))?;
            self.timeout = Some(t);
        }
        Ok(())
    }
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        match self.sock.read(buf) {
            // A read half shut down by `request_stop` reads as end of file:
            // report it as a timeout, so the WebSocket stays usable for the
            // Close frame.
            Ok(0) if self.shared.stopping() => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            other => other,
        }
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Plain TCP (loopback only) or TLS.
enum Stream {
    Plain(Tcp),
    Tls(Box<StreamOwned<ClientConnection, Tcp>>),
}

impl Stream {
    fn tcp(&mut self) -> &mut Tcp {
        match self {
            Stream::Plain(t) => t,
            Stream::Tls(s) => &mut s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

type Ws = WebSocket<Stream>;

/// The channels and handles the thread works with.
pub(crate) struct Thread {
    pub settings: Settings,
    pub tokens: TokenSource,
    pub shared: Arc<Shared>,
    pub stop_rx: Receiver<()>,
    pub events: Sender<Event>,
    pub states: Sender<StateChange>,
    /// Told once: the first connection is up, or failed.
    pub ready: Sender<Result<()>>,
}

/// Why a live connection ended.
enum Ended {
    /// Closed on request.
    Stopped,
    /// Lost; reconnect.
    Lost {
        reason: String,
        token_rejected: bool,
        /// When the connection was last known alive.
        last_alive: SystemTime,
        /// How long it was up.
        lived: Duration,
    },
    /// A fatal error (the token source failed for good).
    Fatal(Error),
}

impl Thread {
    pub fn spawn(self) -> io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("zoom-ws-socket".into())
            .spawn(move || self.run())
    }

    fn run(self) {
        let shared = self.shared.clone();
        let result = self.run_loop();
        shared.connected.store(false, Ordering::SeqCst);
        shared.set_waker(None);
        if let Err(e) = result {
            log::error!("zoom-ws: stopping: {e}");
            *lock(&shared.fatal) = Some(e);
        } else {
            log::debug!("zoom-ws: socket thread stopped");
        }
        // `self` was moved into run_loop and dropped there, with the event
        // sender: the user's iterator ends.
        *lock(&shared.finished.0) = true;
        shared.finished.1.notify_all();
    }

    /// Connects, serves, reconnects, until stopped (Ok) or a fatal error.
    fn run_loop(self) -> Result<()> {
        let started = Instant::now();
        let mut ready = Some(self.ready.clone());
        let mut attempt: u32 = 0;
        // Set while disconnected: when the old connection was last alive.
        let mut down_since: Option<SystemTime> = None;
        loop {
            if self.shared.stopping() {
                return Ok(());
            }
            let token = self.token();
            let attempted = token.as_ref().ok().cloned();
            let outcome = token.and_then(|token| self.connect(&token).map(|ws| (ws, token)));
            match outcome {
                Ok((ws, token)) => {
                    let at = SystemTime::now();
                    self.shared.connected.store(true, Ordering::SeqCst);
                    let change = match (ready.take(), down_since.take()) {
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
                    };
                    self.notify(change);
                    let ended = self.serve(ws);
                    self.shared.connected.store(false, Ordering::SeqCst);
                    self.shared.set_waker(None);
                    match ended {
                        Ended::Stopped => return Ok(()),
                        Ended::Fatal(e) => return Err(e),
                        Ended::Lost {
                            reason,
                            token_rejected,
                            last_alive,
                            lived,
                        } => {
                            log::warn!("zoom-ws: connection lost: {reason}");
                            if token_rejected {
                                self.tokens.force_refresh(&token);
                            }
                            if lived >= self.settings.healthy_after {
                                attempt = 0;
                            }
                            down_since = Some(last_alive);
                            self.notify(StateChange::Disconnected {
                                at: SystemTime::now(),
                                reason,
                            });
                        }
                    }
                }
                Err(_) if self.shared.stopping() => return Ok(()),
                Err(e) => {
                    if let Some(fatal) = self.tokens.fatal_error() {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(Err(fatal.duplicate()));
                        }
                        return Err(fatal);
                    }
                    if let Error::TokenRejected { .. } | Error::Upgrade { status: 401 | 403 } = e {
                        if let Some(token) = &attempted {
                            self.tokens.force_refresh(token);
                        }
                    }
                    if ready.is_some() {
                        // The first connection: fail fast on what retrying
                        // cannot fix, and give up at the deadline.
                        let give_up = match &e {
                            Error::TokenRejected { .. } | Error::Upgrade { status: 401 | 403 } => {
                                attempt >= 2
                            }
                            e => !e.is_transient(),
                        } || started.elapsed() >= self.settings.first_connect_timeout;
                        if give_up {
                            let _ = ready.take().map(|tx| tx.send(Err(e.duplicate())));
                            return Err(e);
                        }
                    }
                    log::warn!("zoom-ws: connecting failed (attempt {}): {e}", attempt + 1);
                }
            }
            // The first retry after a loss is immediate; then backoff.
            let delay = match attempt {
                0 => Duration::ZERO,
                n => self.settings.backoff.delay(n - 1),
            };
            attempt = attempt.saturating_add(1);
            if !delay.is_zero() {
                match self.stop_rx.recv_timeout(delay) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return Ok(()),
                }
            }
        }
    }

    fn notify(&self, change: StateChange) {
        if let Err(TrySendError::Full(_)) = self.states.try_send(change) {
            log::debug!("zoom-ws: state channel full, state change dropped");
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

    /// One connection attempt: TCP, TLS, upgrade, `build_connection`.
    fn connect(&self, token: &AccessToken) -> Result<Ws> {
        let s = &self.settings;
        let deadline = Instant::now() + s.connect_timeout;
        let ep = &s.endpoint;
        let addrs = (ep.host.as_str(), ep.port)
            .to_socket_addrs()
            .map_err(|e| Error::network(format!("resolving {}", ep.host), e))?;
        let mut last_err = None;
        let mut sock = None;
        for addr in addrs {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let sock = sock.ok_or_else(|| {
            Error::network(
                format!("connecting to {}", ep.host_header()),
                last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")),
            )
        })?;
        let _ = sock.set_nodelay(true);
        sock.set_read_timeout(Some(s.connect_timeout))
            .and_then(|_| sock.set_write_timeout(Some(s.connect_timeout)))
            .map_err(|e| Error::network("configuring the socket", e))?;
        self.shared.set_waker(sock.try_clone().ok());
        if self.shared.stopping() {
            return Err(Error::Closed);
        }
        let tcp = Tcp {
            sock,
            shared: self.shared.clone(),
            window: None,
            timeout: None,
        };
        let mut stream = if ep.secure {
            let name = ServerName::try_from(ep.host.clone())
                .map_err(|e| Error::Config(format!("WebSocket URL host {:?}: {e}", ep.host)))?;
            let conn =
                ClientConnection::new(s.tls.rustls_config(), name).map_err(|e| Error::Tls {
                    context: "starting TLS".into(),
                    source: Box::new(e),
                })?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };

        let path = self.request_path(token);
        let rest = handshake::client_handshake(&mut stream, &ep.host_header(), &path)
            .map_err(tls_error)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(s.max_message_size))
            .max_frame_size(Some(s.max_message_size));
        let mut ws = WebSocket::from_partially_read(stream, rest, Role::Client, Some(config));

        // Wait for build_connection. Events that come first (the spec says
        // they do not) are kept and delivered, not lost.
        ws.get_mut().tcp().window = Some((deadline, deadline));
        loop {
            match ws.read() {
                Ok(Message::Text(text)) => match wire::parse(&text) {
                    Inbound::Connected => break,
                    Inbound::TokenRejected(content) => {
                        return Err(Error::TokenRejected { content })
                    }
                    Inbound::Refused(content) => return Err(Error::Rejected { content }),
                    Inbound::Event(ev) => {
                        self.deliver(ev);
                        break;
                    }
                    Inbound::HeartbeatAck => {}
                    Inbound::Skip(why) => self.shared.skipped(&why),
                },
                Ok(Message::Close(frame)) => {
                    return Err(Error::WebSocket {
                        detail: format!(
                            "closed before build_connection ({})",
                            describe_close(frame.as_ref())
                        ),
                        source: None,
                    })
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                    if self.shared.stopping() {
                        // Closed while Zoom was confirming: the WebSocket is
                        // open, so close it properly.
                        close_gracefully(&mut ws);
                        return Err(Error::Closed);
                    }
                    return Err(Error::network(
                        "waiting for build_connection",
                        io::Error::new(io::ErrorKind::TimedOut, "no build_connection in time"),
                    ));
                }
                Err(e) => return Err(ws_error("waiting for build_connection", e)),
            }
        }
        Ok(ws)
    }

    /// `/ws?subscriptionId=..&access_token=..`. Holds the token: never log it.
    fn request_path(&self, token: &AccessToken) -> String {
        let base = &self.settings.endpoint.path_and_query;
        let mut path = base.clone();
        let mut sep = if base.contains('?') { '&' } else { '?' };
        if let Some(id) = &self.settings.subscription_id {
            path.push(sep);
            path.push_str("subscriptionId=");
            percent_encode(&mut path, id);
            sep = '&';
        }
        path.push(sep);
        path.push_str("access_token=");
        percent_encode(&mut path, token.secret().expose());
        path
    }

    /// Hands one event to the user, by the channel policy.
    fn deliver(&self, ev: Event) {
        match self.events.try_send(ev) {
            Ok(()) => {
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(ev)) => {
                let n = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    log::warn!(
                        "zoom-ws: event channel full: dropped {} ({n} dropped so far)",
                        ev.name()
                    );
                }
            }
            // Only when the client handle is gone; the thread is stopping.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Reads and heartbeats until the connection ends.
    fn serve(&self, mut ws: Ws) -> Ended {
        let s = &self.settings;
        let opened = Instant::now();
        // When a frame last arrived: taken from the loop's own clock reading
        // that follows it, so no clock call is added per frame.
        let mut last_alive = opened;
        let mut next_heartbeat = opened + s.heartbeat;
        let mut ack_deadline: Option<Instant> = None;
        // True when the last read ended in its timeout rather than a frame.
        let mut woken = false;
        let lost = |reason: String, token_rejected: bool, last_alive: Instant| Ended::Lost {
            reason,
            token_rejected,
            last_alive: SystemTime::now()
                .checked_sub(last_alive.elapsed())
                .unwrap_or_else(SystemTime::now),
            lived: opened.elapsed(),
        };
        if let Err(e) = ws
            .get_mut()
            .tcp()
            .sock
            .set_write_timeout(Some(s.dead_link_timeout.max(Duration::from_secs(1))))
        {
            return lost(format!("configuring the socket: {e}"), false, last_alive);
        }
        loop {
            if self.shared.stopping() {
                close_gracefully(&mut ws);
                return Ended::Stopped;
            }
            let now = Instant::now();
            if !woken {
                // The last read returned a frame (or none was made yet).
                last_alive = now;
            }
            // On a timeout wake-up, a heartbeat may go out up to 1/8 of the
            // interval early (see `Tcp`), so that it is never late.
            if now >= next_heartbeat || (woken && now >= next_heartbeat - s.heartbeat / 8) {
                if let Some(fatal) = self.tokens.fatal_error() {
                    close_gracefully(&mut ws);
                    return Ended::Fatal(fatal);
                }
                if let Err(e) = ws.send(Message::text(wire::HEARTBEAT)) {
                    return lost(
                        format!("sending a heartbeat: {}", ws_error("", e)),
                        false,
                        last_alive,
                    );
                }
                log::trace!("zoom-ws: heartbeat sent");
                next_heartbeat = now + s.heartbeat;
                ack_deadline.get_or_insert(now + s.dead_link_timeout);
            }
            if let Some(d) = ack_deadline {
                if now >= d {
                    return lost(
                        format!(
                            "dead link: no heartbeat ack or other frame within {} ms of a heartbeat",
                            s.dead_link_timeout.as_millis()
                        ),
                        false,
                        last_alive,
                    );
                }
            }
            let heartbeat_due = next_heartbeat - s.heartbeat / 8;
            let window = match ack_deadline {
                Some(d) => (d.min(heartbeat_due), d.min(next_heartbeat)),
                None => (heartbeat_due, next_heartbeat),
            };
            ws.get_mut().tcp().window = Some(window);
            let msg = match ws.read() {
                Ok(msg) => msg,
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                    woken = true;
                    continue;
                }
                Err(tungstenite::Error::ConnectionClosed) => {
                    return lost("closed by the server".into(), false, last_alive)
                }
                Err(e) => return lost(ws_error("reading", e).to_string(), false, last_alive),
            };
            // Any frame proves the link alive.
            woken = false;
            ack_deadline = None;
            match msg {
                Message::Text(text) => match wire::parse(&text) {
                    Inbound::Event(ev) => self.deliver(ev),
                    Inbound::HeartbeatAck => log::trace!("zoom-ws: heartbeat ack"),
                    Inbound::Connected => {}
                    Inbound::TokenRejected(content) => {
                        close_gracefully(&mut ws);
                        return lost(
                            format!("Zoom rejected the access token in-band ({content:?})"),
                            true,
                            Instant::now(),
                        );
                    }
                    Inbound::Refused(content) => {
                        close_gracefully(&mut ws);
                        return lost(
                            format!("Zoom refused the connection ({content:?})"),
                            false,
                            Instant::now(),
                        );
                    }
                    Inbound::Skip(why) => self.shared.skipped(&why),
                },
                Message::Binary(b) => self
                    .shared
                    .skipped(&format!("a binary frame of {} bytes", b.len())),
                Message::Close(frame) => {
                    // tungstenite queued the reply; send it.
                    let _ = ws.flush();
                    return lost(
                        format!("closed by the server ({})", describe_close(frame.as_ref())),
                        false,
                        Instant::now(),
                    );
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}

/// Sends Close (1000) and, over TLS, close_notify. Does not wait for the
/// server's reply: the read half may already be shut down.
fn close_gracefully(ws: &mut Ws) {
    let _ = ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }));
    let _ = ws.flush();
    if let Stream::Tls(s) = ws.get_mut() {
        s.conn.send_close_notify();
        while s.conn.wants_write() {
            if s.conn.write_tls(&mut s.sock).is_err() {
                break;
            }
        }
    }
    let _ = ws.get_mut().tcp().sock.shutdown(Shutdown::Write);
}

fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("code {}", u16::from(f.code)),
        Some(f) => format!("code {}, {:?}", u16::from(f.code), f.reason.as_str()),
        None => "no code".into(),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Turns a network error that carries a rustls error into [`Error::Tls`].
fn tls_error(e: Error) -> Error {
    match e {
        Error::Network { context, source }
            if source
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            Error::Tls {
                context,
                source: source.into_inner().expect("checked above"),
            }
        }
        e => e,
    }
}

fn ws_error(context: &str, e: tungstenite::Error) -> Error {
    match e {
        tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => Error::network(
            context,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server dropped the connection without a Close frame",
            ),
        ),
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => Error::network(
            context,
            io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the server dropped the connection without a Close frame",
            ),
        ),
        tungstenite::Error::Io(io) => tls_error(Error::network(context, io)),
        tungstenite::Error::Capacity(c) => Error::WebSocket {
            detail: format!(
                "{c} (raise the client's max_message_size if Zoom's messages are this large)"
            ),
            source: Some(Box::new(c)),
        },
        e => Error::WebSocket {
            detail: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp() -> (Tcp, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        let (shared, _) = Shared::new();
        let tcp = Tcp {
            sock,
            shared,
            window: None,
            timeout: None,
        };
        (tcp, peer)
    }

    #[test]
    fn read_timeout_aims_inside_the_wake_window() {
        let (mut tcp, _peer) = tcp();
        let now = Instant::now();
        tcp.window = Some((
            now + Duration::from_millis(875),
            now + Duration::from_secs(1),
        ));
        tcp.arm().unwrap();
        let t = tcp.sock.read_timeout().unwrap().unwrap();
        assert!(
            t >= Duration::from_millis(875) && t <= Duration::from_millis(940),
            "{t:?}"
        );
        // Still fits a moment later: no second setsockopt.
        tcp.sock
            .set_read_timeout(Some(Duration::from_secs(7)))
            .unwrap();
        tcp.arm().unwrap();
        assert_eq!(
            tcp.sock.read_timeout().unwrap(),
            Some(Duration::from_secs(7))
        );
        // A window that has ended reads as a timeout at once.
        tcp.window = Some((now, now));
        let e = tcp.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn end_of_file_after_stop_reads_as_a_timeout() {
        let (mut tcp, peer) = tcp();
        drop(peer);
        assert_eq!(tcp.read(&mut [0u8; 8]).unwrap(), 0);
        tcp.shared.request_stop();
        let e = tcp.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
