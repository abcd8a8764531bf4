//! The WebSocket endpoint, `GET /ws?subscriptionId=..&access_token=..`
//! (ZOOM.md sections 1 and 2): the upgrade, `build_connection`, heartbeat
//! acks, and [`Conn`], one accepted connection.
//!
//! Each connection has one reader thread and any number of writers (the
//! test's thread sending events, the reader answering heartbeats). The
//! reader never holds the write lock while it waits for the client, so a
//! frame handed to the emulator goes out at once:
//! - plain: the reader reads from its own clone of the socket; writers lock
//!   the other clone and write pre-built frames;
//! - TLS: the rustls state lives under the write lock. The reader waits on
//!   the raw socket without the lock, then locks to decrypt what it got;
//!   writers lock, encrypt and write.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use super::frames::{self, FrameReader, Message, MAX_CLIENT_MESSAGE, OP_CLOSE, OP_PONG};
use super::messages;
use super::multi::MultiConnection;
use super::observe::{ClientClose, ConnectOutcome, ConnectionInfo, Heartbeat};
use super::server::{form_decode, Request, Response, Transport};
use super::state::{Shared, TokenCheck};
use crate::handshake::accept_key;
use crate::secret::Secret;

/// The longest a held Close answer waits
/// ([`MockZoom::hold_close_answers`](super::MockZoom::hold_close_answers)).
const HOLD_CLOSE_AT_MOST: Duration = Duration::from_secs(10);

pub(crate) const PATH: &str = "/ws";

/// `content` of the refusal for a subscription id that is not the
/// emulator's. Unverified: Zoom's text for it has not been captured.
pub(crate) const UNKNOWN_SUBSCRIPTION: &str = "Invalid subscriptionId";

/// The write side of a connection.
enum Io {
    Plain(TcpStream),
    Tls {
        tls: Box<ServerConnection>,
        tcp: TcpStream,
    },
}

impl Io {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Io::Plain(tcp) => tcp.write_all(bytes),
            Io::Tls { tls, tcp } => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    // rustls takes plaintext up to its buffer limit, then
                    // wants the records written out first.
                    let n = tls.writer().write(rest)?;
                    rest = &rest[n..];
                    if n == 0 && !tls.wants_write() {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    flush_tls(tls, tcp)?;
                }
                Ok(())
            }
        }
    }

    /// Ends the sending direction: close_notify for TLS, then a TCP FIN.
    fn close_write(&mut self) -> io::Result<()> {
        let tcp = match self {
            Io::Plain(tcp) => tcp,
            Io::Tls { tls, tcp } => {
                tls.send_close_notify();
                flush_tls(tls, tcp)?;
                tcp
            }
        };
        tcp.shutdown(Shutdown::Write)
    }
}

fn flush_tls(tls: &mut ServerConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        if tls.write_tls(tcp)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// One upgraded connection.
pub(crate) struct Conn {
    pub id: u64,
    pub subscription_id: String,
    pub token: String,
    io: Mutex<Io>,
    /// A clone of the socket, to shut it down without the lock.
    tcp: TcpStream,
    tls: bool,
    silent: AtomicBool,
    /// A Close frame went out: no data frame may follow.
    closing: AtomicBool,
    /// Shut down, or a write failed.
    dead: AtomicBool,
}

impl Conn {
    fn io(&self) -> MutexGuard<'_, Io> {
        crate::sync::lock(&self.io)
    }

    /// True while it takes frames: not closing, not dropped.
    pub(crate) fn is_open(&self) -> bool {
        !self.closing.load(Ordering::SeqCst) && !self.dead.load(Ordering::SeqCst)
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Stops (true) or resumes (false) every write except an explicit close.
    /// Returns the previous value.
    pub(crate) fn set_silent(&self, silent: bool) -> bool {
        self.silent.swap(silent, Ordering::SeqCst)
    }

    /// Writes pre-built frames, unless the connection is silent, closing or
    /// dead. True if they were written.
    pub(crate) fn send(&self, bytes: &[u8]) -> bool {
        self.send_after(|| true, bytes)
    }

    /// Like [`Conn::send`], running `first` under the write lock before
    /// writing: whoever `first` makes the connection visible to cannot write
    /// to it before `bytes` are out. Nothing is written if `first` says false.
    fn send_after(&self, first: impl FnOnce() -> bool, bytes: &[u8]) -> bool {
        if self.silent.load(Ordering::SeqCst) || !self.is_open() {
            return false;
        }
        let mut io = self.io();
        // Checked again under the lock: a Close may have gone out meanwhile.
        if !self.is_open() {
            return false;
        }
        if !first() {
            return false;
        }
        match io.write_all(bytes) {
            Ok(()) => true,
            Err(e) => {
                drop(io);
                log::debug!("zoom mock: connection {}: write failed: {e}", self.id);
                self.abort();
                false
            }
        }
    }

    /// Starts the closing handshake: a Close frame with `code`, then the end
    /// of the sending direction. The reader runs on until the client answers
    /// or hangs up. False if a Close already went out or the connection is gone.
    pub(crate) fn close(&self, code: u16, reason: &str) -> bool {
        let mut io = self.io();
        if self.is_dead() || self.closing.swap(true, Ordering::SeqCst) {
            return false;
        }
        let sent = io
            .write_all(&frames::close_frame(code, reason))
            .and_then(|()| io.close_write());
        drop(io);
        if let Err(e) = sent {
            log::debug!("zoom mock: connection {}: close failed: {e}", self.id);
            self.abort();
        }
        true
    }

    /// Answers the client's Close (echoing its code), then hangs up.
    fn answer_close(&self, code: Option<u16>) {
        let mut io = self.io();
        if !self.is_dead() && !self.closing.swap(true, Ordering::SeqCst) {
            let frame = match code {
                // Codes that must not appear on the wire are answered with 1000.
                Some(c) if (1000..5000).contains(&c) && ![1004, 1005, 1006, 1015].contains(&c) => {
                    frames::close_frame(c, "")
                }
                Some(_) => frames::close_frame(1000, ""),
                None => frames::frame(OP_CLOSE, &[]),
            };
            let _ = io.write_all(&frame).and_then(|()| io.close_write());
        }
        drop(io);
        self.abort();
    }

    /// Drops the TCP connection at once: no Close frame, no close_notify.
    pub(crate) fn abort(&self) {
        self.dead.store(true, Ordering::SeqCst);
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// Decrypts `data` read from the socket and adds the plaintext to
    /// `frames`. True once the client sent close_notify.
    fn pull_tls(&self, mut data: &[u8], frames: &mut FrameReader) -> io::Result<bool> {
        if !self.tls {
            frames.push(data);
            return Ok(false);
        }
        let mut io = self.io();
        let Io::Tls { tls, tcp } = &mut *io else {
            frames.push(data);
            return Ok(false);
        };
        let mut closed = false;
        let mut plain = [0u8; 4096];
        loop {
            // Never with an empty slice: rustls reads that as the TCP EOF.
            if !data.is_empty() && tls.read_tls(&mut data)? == 0 {
                closed = true;
            }
            if let Err(e) = tls.process_new_packets() {
                let _ = flush_tls(tls, tcp); // the alert
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            loop {
                match tls.reader().read(&mut plain) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => frames.push(&plain[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if data.is_empty() || closed {
                break;
            }
        }
        // Whatever TLS itself has to say (alerts, key updates).
        flush_tls(tls, tcp)?;
        Ok(closed)
    }
}

/// Serves a `GET /ws` from the upgrade to the end of the connection.
pub(crate) fn serve(
    shared: &Arc<Shared>,
    mut transport: Transport,
    req: &Request,
    rest: Vec<u8>,
    id: u64,
) -> io::Result<()> {
    let at = Instant::now();
    let upgrade = req
        .header("upgrade")
        .is_some_and(|v| v.to_ascii_lowercase().contains("websocket"));
    let Some(key) = req.header("sec-websocket-key").filter(|_| upgrade) else {
        Response::error(400, "invalid_request", "not a WebSocket upgrade")
            .write_to(&mut transport)?;
        transport.finish();
        return Ok(());
    };
    let params = form_decode(&req.query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let subscription_id = param("subscriptionId");
    let token = param("access_token");
    let info = |outcome| ConnectionInfo {
        id,
        subscription_id: subscription_id.clone(),
        token: Secret::new(token.clone()),
        outcome,
        at,
    };

    // Refused before the upgrade, with an HTTP status. Unverified: no such
    // answer from Zoom has been captured (ZOOM.md section 2).
    let refused = shared.update(|s| {
        let (left, status) = s.upgrade_refusals.as_mut()?;
        let status = *status;
        *left = left.saturating_sub(1);
        if *left == 0 {
            s.upgrade_refusals = None;
        }
        s.connections.push(info(ConnectOutcome::Refused(status)));
        Some(status)
    });
    if let Some(status) = refused {
        log::info!("zoom mock: connection {id}: upgrade refused with HTTP {status}");
        Response::error(status, "invalid_token", "Invalid access token")
            .write_to(&mut transport)?;
        transport.finish();
        return Ok(());
    }

    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    );
    transport.write_all(answer.as_bytes())?;
    transport.flush()?;
    // From here on the connection lives as long as the client keeps it.
    transport.tcp().set_read_timeout(None)?;
    transport.tcp().set_write_timeout(None)?;
    let tls = matches!(transport, Transport::Tls(_));
    let (io, reader) = match transport {
        Transport::Plain(tcp) => (Io::Plain(tcp.try_clone()?), tcp),
        Transport::Tls(stream) => {
            let (tls, tcp) = stream.into_parts();
            let reader = tcp.try_clone()?;
            (
                Io::Tls {
                    tls: Box::new(tls),
                    tcp,
                },
                reader,
            )
        }
    };
    let conn = Arc::new(Conn {
        id,
        subscription_id: subscription_id.clone(),
        token: token.clone(),
        io: Mutex::new(io),
        tcp: reader.try_clone()?,
        tls,
        silent: AtomicBool::new(false),
        closing: AtomicBool::new(false),
        dead: AtomicBool::new(false),
    });

    let outcome = match shared.lock().check_token(&token) {
        TokenCheck::Empty => ConnectOutcome::EmptyToken,
        TokenCheck::Invalid => ConnectOutcome::InvalidToken,
        TokenCheck::Valid if subscription_id != shared.config.subscription_id => {
            ConnectOutcome::UnknownSubscription
        }
        TokenCheck::Valid => ConnectOutcome::Accepted,
    };
    // Accepted, unless another connection of the subscription is open and
    // the emulator refuses a second one (decided under the state lock,
    // together with making the connection live).
    let mut outcome = outcome;
    if outcome == ConnectOutcome::Accepted {
        // build_connection is the first frame. The connection becomes
        // reachable (live) under its write lock, before that frame goes
        // out: a test that sends an event as soon as its client saw
        // build_connection reaches it, and nothing can overtake the frame.
        // Lock order: connection, then state.
        let mut replaced: Vec<Arc<Conn>> = Vec::new();
        let mut refused = false;
        let sent = conn.send_after(
            || {
                replaced = shared.update(|s| {
                    let others: Vec<Arc<Conn>> = s
                        .live
                        .iter()
                        .filter(|c| c.subscription_id == subscription_id && c.is_open())
                        .cloned()
                        .collect();
                    if s.multi == MultiConnection::Refuse && !others.is_empty() {
                        refused = true;
                        s.connections.push(info(ConnectOutcome::AlreadyConnected));
                        return Vec::new();
                    }
                    s.live.push(Arc::clone(&conn));
                    s.connections.push(info(outcome));
                    match s.multi {
                        MultiConnection::Kick => others,
                        _ => Vec::new(),
                    }
                });
                !refused
            },
            &messages::build_connection_ok(),
        );
        if refused {
            outcome = ConnectOutcome::AlreadyConnected;
        } else if sent {
            log::info!("zoom mock: connection {id} accepted");
        }
        // One connection per subscription (Kick): the old one is closed.
        // Unverified (third-party docs only), hence configurable; the close
        // code is a guess.
        for old in replaced {
            log::info!("zoom mock: connection {} replaced by {id}", old.id);
            old.close(1000, "replaced by a new connection");
        }
        shared.notify();
    }
    if outcome != ConnectOutcome::Accepted {
        let content = match outcome {
            ConnectOutcome::EmptyToken => "token is empty",
            ConnectOutcome::UnknownSubscription => UNKNOWN_SUBSCRIPTION,
            ConnectOutcome::AlreadyConnected => super::ALREADY_CONNECTED,
            _ => super::INVALID_TOKEN,
        };
        log::info!("zoom mock: connection {id} refused: {content}");
        if outcome != ConnectOutcome::AlreadyConnected {
            shared.update(|s| s.connections.push(info(outcome)));
        }
        conn.send(&messages::failure("build_connection", content));
        // "The server then closes" [FORUM 69974]; how is unverified.
        conn.close(1000, "");
    }

    let mut frames = FrameReader::new(MAX_CLIENT_MESSAGE);
    frames.push(&rest);
    read_loop(shared, &conn, reader, frames);
    conn.abort();
    shared.update(|s| s.live.retain(|c| c.id != id));
    log::info!("zoom mock: connection {id} closed");
    Ok(())
}

/// Reads and answers the client's frames until it hangs up, sends garbage,
/// or the emulator stops.
fn read_loop(shared: &Shared, conn: &Conn, mut raw: TcpStream, mut frames: FrameReader) {
    let id = conn.id;
    let mut buf = vec![0u8; 16 * 1024];
    // Plaintext rustls may hold already, read along with the upgrade request.
    let mut eof = match conn.pull_tls(&[], &mut frames) {
        Ok(closed) => closed,
        Err(e) => {
            log::warn!("zoom mock: connection {id}: TLS error: {e}");
            return;
        }
    };
    loop {
        loop {
            match frames.next_message() {
                Ok(Some(message)) => {
                    if !handle(shared, conn, message) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("zoom mock: connection {id}: {e}; dropping the connection");
                    conn.close(1002, "protocol error");
                    return;
                }
            }
        }
        if eof {
            log::debug!("zoom mock: connection {id}: client closed TLS");
            return;
        }
        let n = match raw.read(&mut buf) {
            Ok(0) => {
                log::debug!("zoom mock: connection {id}: end of stream");
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("zoom mock: connection {id}: read failed: {e}");
                return;
            }
        };
        eof = match conn.pull_tls(&buf[..n], &mut frames) {
            Ok(closed) => closed,
            Err(e) => {
                log::warn!("zoom mock: connection {id}: TLS error: {e}; dropping the connection");
                return;
            }
        };
    }
}

/// Handles one client message. False when the connection is over.
fn handle(shared: &Shared, conn: &Conn, message: Message) -> bool {
    let id = conn.id;
    match message {
        Message::Text(text) => {
            let module = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("module")?.as_str().map(str::to_owned));
            if module.as_deref() == Some("heartbeat") {
                shared.update(|s| {
                    s.heartbeats.push(Heartbeat {
                        connection: id,
                        at: Instant::now(),
                    })
                });
                log::trace!("zoom mock: connection {id}: heartbeat");
                conn.send(&messages::heartbeat_ack());
            } else {
                match module {
                    Some(m) => log::debug!("zoom mock: connection {id}: frame of module {m:?}"),
                    None => log::warn!("zoom mock: connection {id}: text frame without a module"),
                }
                shared.update(|s| s.record_text(text));
            }
        }
        Message::Binary(data) => {
            log::warn!(
                "zoom mock: connection {id}: ignoring a binary frame of {} bytes",
                data.len()
            );
        }
        Message::Ping(payload) => {
            conn.send(&frames::frame(OP_PONG, &payload));
        }
        Message::Pong(_) => {}
        Message::Close(code, reason) => {
            let reply = conn.closing.load(Ordering::SeqCst);
            log::debug!("zoom mock: connection {id}: Close {code:?} from the client");
            shared.update(|s| {
                s.closes.push(ClientClose {
                    connection: id,
                    code,
                    reason,
                    reply,
                    at: Instant::now(),
                })
            });
            if conn.silent.load(Ordering::SeqCst) {
                // A silent server answers nothing: wait for the client to hang up.
                return true;
            }
            // Held: the connection stays open for frames sent meanwhile, as
            // Zoom's does until it has read the client's Close.
            shared.wait_until(HOLD_CLOSE_AT_MOST, |s| {
                !s.hold_close_answers || shared.stopping.load(Ordering::SeqCst)
            });
            conn.answer_close(code);
            return false;
        }
    }
    true
}
