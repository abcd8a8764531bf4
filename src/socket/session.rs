//! One confirmed connection: reads frames, hands events over, keeps the
//! heartbeat by the [`Schedule`], until the connection ends.

use std::net::Shutdown;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::errors::{describe_close, is_timeout, scrub, ws_error};
use super::policy::{Due, Outcome, Schedule};
use super::transport::Stream;
use super::{Outbox, Thread, Ws};
use crate::error::Error;
use crate::oauth::AccessToken;
use crate::wire::{self, Inbound};

/// Why a confirmed connection ended.
pub(super) enum Ended {
    /// Closed on request.
    Stopped,
    /// Lost; reconnect.
    Lost(Loss),
    /// A fatal error (the token source failed for good).
    Fatal(Error),
}

/// A lost connection, as the run loop and the reconnect policy need it.
pub(super) struct Loss {
    /// Why, in words, scrubbed.
    pub reason: String,
    /// Zoom rejected the token in-band: fetch a new one.
    pub token_rejected: bool,
    /// When the connection was last known alive.
    pub last_alive: Instant,
    /// What the reconnect policy needs.
    pub outcome: Outcome,
}

impl Thread {
    /// Reads and heartbeats until the connection ends. Every event read
    /// is handed over before this returns.
    pub(super) fn serve(&self, ws: Ws, token: &AccessToken, out: &mut Outbox) -> Ended {
        let ended = self.session(ws, token, out);
        out.flush();
        ended
    }

    fn session(&self, mut ws: Ws, token: &AccessToken, out: &mut Outbox) -> Ended {
        let s = &self.settings;
        let opened = Instant::now();
        let mut schedule = Schedule::new(opened, s.heartbeat, s.dead_link_timeout);
        // When a frame last arrived: taken from the loop's own clock reading
        // that follows it, so no clock call is added per frame.
        let mut last_alive = opened;
        // The clock is read again only after a read of the socket or a
        // timeout: frames that come out of a buffer already read take
        // microseconds, and a clock call per frame was 2-3 % of the socket
        // thread's time at full rate.
        let mut now = opened;
        let mut reads_seen = u64::MAX;
        // True when the last read ended in its timeout rather than a frame.
        let mut woken = false;
        let mut acked = false;
        let lost = |reason: String, by_server: bool, last_alive: Instant, acked: bool| {
            Ended::Lost(Loss {
                reason,
                token_rejected: false,
                last_alive,
                outcome: Outcome::Ended {
                    lived: opened.elapsed(),
                    acked,
                    by_server,
                },
            })
        };
        if let Err(e) = ws
            .get_mut()
            .tcp()
            .sock
            .set_write_timeout(Some(s.dead_link_timeout.max(Duration::from_secs(1))))
        {
            return lost(format!("configuring the socket: {e}"), false, opened, acked);
        }
        // Set once a close on request has sent its Close: read on until
        // Zoom's answering Close, at most until then (see `start_close`).
        let mut closing: Option<Instant> = None;
        loop {
            if closing.is_none() && self.shared.stopping() {
                closing = Some(start_close(&mut ws));
            }
            let reads = ws.get_mut().tcp().reads;
            if reads != reads_seen || woken {
                now = Instant::now();
                reads_seen = reads;
            }
            if let Some(until) = closing {
                if now >= until {
                    end_connection(&mut ws);
                    return Ended::Stopped;
                }
            } else if !woken {
                // The last read returned a frame (or none was made yet).
                last_alive = now;
            }
            // No heartbeat once closing: nothing may follow a Close.
            match (closing, schedule.due(now, woken)) {
                (Some(_), _) => {}
                (None, Due::Heartbeat) => {
                    if let Some(fatal) = self.tokens.fatal_error() {
                        close_gracefully(&mut ws);
                        return Ended::Fatal(fatal);
                    }
                    if let Err(e) = ws.send(Message::text(wire::HEARTBEAT)) {
                        let e = ws_error("sending a heartbeat", e);
                        return lost(e.to_string(), true, last_alive, acked);
                    }
                    log::trace!("zoom-ws: heartbeat sent");
                    schedule.heartbeat_sent(now);
                    continue;
                }
                (None, Due::DeadLink) => {
                    let reason = format!(
                        "dead link: no heartbeat ack or other frame within {} ms of a heartbeat",
                        s.dead_link_timeout.as_millis()
                    );
                    ws.get_mut().abort();
                    return lost(reason, false, last_alive, acked);
                }
                (None, Due::Wait { earliest, latest }) => {
                    ws.get_mut().tcp().window = Some((earliest, latest));
                }
            }
            let msg = match ws.read() {
                Ok(msg) => msg,
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                    let tcp = ws.get_mut().tcp();
                    if tcp.held {
                        // Not a timeout: the next read would go to the
                        // socket, so the staged events go out first.
                        (tcp.hold, tcp.held) = (false, false);
                        out.flush();
                    } else if closing.is_some() {
                        // Nothing queued yet (see `start_close`).
                        std::thread::sleep(DRAIN_POLL);
                    } else {
                        woken = true;
                    }
                    continue;
                }
                Err(_) if closing.is_some() => {
                    end_connection(&mut ws);
                    return Ended::Stopped;
                }
                Err(tungstenite::Error::ConnectionClosed) => {
                    return lost("closed by the server".into(), true, last_alive, acked)
                }
                Err(e) => {
                    // An oversized frame says nothing about the server's
                    // intent nor the link.
                    let by_server = !matches!(e, tungstenite::Error::Capacity(_));
                    let e = ws_error("reading", e);
                    ws.get_mut().abort();
                    return lost(e.to_string(), by_server, last_alive, acked);
                }
            };
            // Any frame proves the link alive.
            woken = false;
            schedule.frame();
            match msg {
                Message::Text(text) => match wire::parse_into(&text, out.spare()) {
                    // Staged until the socket is read again (or 32 wait).
                    Inbound::Event(ev) => {
                        let tcp = ws.get_mut().tcp();
                        if out.stage(ev) {
                            out.flush();
                            (tcp.hold, tcp.held) = (false, false);
                        } else {
                            tcp.hold = true;
                        }
                    }
                    Inbound::HeartbeatAck => {
                        acked = true;
                        log::trace!("zoom-ws: heartbeat ack");
                    }
                    Inbound::Connected => {}
                    // Closing anyway: read on for Zoom's answer.
                    Inbound::TokenRejected(_) | Inbound::Refused(_) if closing.is_some() => {}
                    Inbound::TokenRejected(content) => {
                        close_gracefully(&mut ws);
                        let reason = format!(
                            "Zoom rejected the access token in-band ({:?})",
                            scrub(&content, token)
                        );
                        let mut ended = lost(reason, true, Instant::now(), acked);
                        if let Ended::Lost(loss) = &mut ended {
                            loss.token_rejected = true;
                        }
                        return ended;
                    }
                    Inbound::Refused(content) => {
                        close_gracefully(&mut ws);
                        let reason =
                            format!("Zoom refused the connection ({:?})", scrub(&content, token));
                        return lost(reason, true, Instant::now(), acked);
                    }
                    Inbound::Skip(why) => self.shared.skipped(&scrub(&why, token)),
                },
                Message::Binary(b) => self
                    .shared
                    .skipped(&format!("a binary frame of {} bytes", b.len())),
                // Zoom's answer: the closing handshake is complete.
                Message::Close(_) if closing.is_some() => {
                    end_connection(&mut ws);
                    return Ended::Stopped;
                }
                Message::Close(frame) => {
                    // tungstenite queued the reply; send it.
                    let _ = ws.flush();
                    let reason = format!(
                        "closed by the server ({})",
                        describe_close(frame.as_ref(), token)
                    );
                    return lost(reason, true, Instant::now(), acked);
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}

/// Starts a close on request that loses nothing Zoom already sent: sends
/// Close (1000); the session then reads on until Zoom's Close answers it
/// (WebSocket's closing handshake: Zoom sends nothing after that), handing
/// over the events that arrive meanwhile, for at most [`DRAIN_FOR`] (the
/// instant returned), and ends the connection as [`close_gracefully`]
/// does. Events in flight as the client closes were sent once and never
/// again (they matter most in a handover, where another connection takes
/// over from the next one).
///
/// The stop shut the socket's read half down to wake the thread: Linux
/// still queues what arrives on an established connection and a read then
/// returns it, or end of file at once when nothing is queued (which
/// [`super::transport::Tcp`] reports as a timeout); hence reads
/// [`DRAIN_POLL`] apart. The write half stays open until the end: data
/// arriving after both halves are shut down would reset the connection.
fn start_close(ws: &mut Ws) -> Instant {
    let _ = ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }));
    let _ = ws.flush();
    ws.get_mut().tcp().poll_reads(DRAIN_POLL);
    Instant::now() + DRAIN_FOR
}

/// How long a close on request waits for Zoom's answering Close, reading
/// the events that arrive meanwhile. Zoom answers within a round trip; a
/// server that never answers delays a close by this much.
pub(crate) const DRAIN_FOR: Duration = Duration::from_secs(2);

/// The pause between reads of a closing connection (see [`start_close`]).
const DRAIN_POLL: Duration = Duration::from_millis(2);

/// Sends Close (1000) and ends the connection (see [`end_connection`]).
/// Does not wait for the server's reply: used where the connection is given
/// up (a token failure, a refusal), not on a close on request.
pub(super) fn close_gracefully(ws: &mut Ws) {
    let _ = ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }));
    let _ = ws.flush();
    end_connection(ws);
}

/// Over TLS, sends close_notify; then ends the write half.
fn end_connection(ws: &mut Ws) {
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
