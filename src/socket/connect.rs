//! One connection attempt: resolve, TCP, TLS, the WebSocket upgrade and
//! Zoom's `build_connection`, every phase inside one deadline
//! (`connect_timeout`), so that a trickling or black-holed peer costs at
//! most that, then a new attempt. A failed attempt closes its socket at once.

use std::io;
use std::time::Instant;

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::errors::{describe_close, is_timeout, scrub, tls_error, ws_error};
use super::session::close_gracefully;
use super::transport::{self, Stream, Tcp};
use super::{Outbox, Thread, Ws};
use crate::error::{Error, Result};
use crate::handshake;
use crate::oauth::AccessToken;
use crate::text::percent_encode;
use crate::wire::{self, Inbound};

impl Thread {
    /// One attempt, bounded by `connect_timeout`. On success the WebSocket
    /// is open and Zoom has confirmed it; events that arrived before the
    /// confirmation have been delivered.
    pub(super) fn connect(&self, token: &AccessToken, out: &mut Outbox) -> Result<Ws> {
        let s = &self.settings;
        let deadline = Instant::now() + s.connect_timeout;
        let ep = &s.endpoint;
        let interrupted = |e: io::Error, context: String| {
            if self.shared.stopping() {
                Error::Closed
            } else {
                Error::network(context, e)
            }
        };
        // Through a proxy, TCP goes to the proxy and a tunnel to Zoom comes first.
        let proxy = s.proxy.route(ep.secure, &ep.host, ep.port)?;
        let (host, port, via) = match &proxy {
            Some(p) => (p.host(), p.port(), format!("the proxy {p} for ")),
            None => (ep.host.as_str(), ep.port, String::new()),
        };
        let addrs = transport::resolve(host, port, deadline, &self.stop_rx)
            .map_err(|e| interrupted(e, format!("resolving {via}{}", ep.host)))?;
        if proxy.is_none() {
            // ws:// is for loopback only: so must be every address it resolved to.
            ep.check_resolved(&addrs)?;
        }
        let sock = transport::connect_tcp(addrs, deadline, &self.stop_rx)
            .map_err(|e| interrupted(e, format!("connecting to {via}{}", ep.host_header())))?;
        let _ = sock.set_nodelay(true);
        self.shared.set_waker(sock.try_clone().ok());
        let mut tcp = Tcp::new(sock, self.shared.clone());
        // Every read of the tunnel, TLS, the upgrade and build_connection
        // waits at most until the deadline, however the peer trickles its bytes.
        tcp.window = Some((deadline, deadline));
        if let Some(p) = &proxy {
            if let Err(e) = super::proxy::tunnel(&mut tcp, p, ep, deadline) {
                let _ = tcp.sock.shutdown(std::net::Shutdown::Both);
                return Err(self.abandoned(e));
            }
        }
        let mut stream = Stream::new(tcp, ep, &s.tls)?;
        match self.open(&mut stream, token, deadline) {
            Ok(rest) => self.confirm(stream, rest, token, out),
            Err(e) => {
                stream.abort();
                Err(self.abandoned(e))
            }
        }
    }

    /// The error of an attempt whose socket was just ended: `Closed` if a
    /// stop ended it; no socket to wake any more.
    fn abandoned(&self, e: Error) -> Error {
        self.shared.set_waker(None);
        if self.shared.stopping() {
            Error::Closed
        } else {
            e
        }
    }

    /// TLS (inside the first write) and the upgrade. Returns the bytes read
    /// past the upgrade answer.
    fn open(&self, stream: &mut Stream, token: &AccessToken, deadline: Instant) -> Result<Vec<u8>> {
        if self.shared.stopping() {
            return Err(Error::Closed);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .tcp()
            .sock
            .set_write_timeout(Some(left.max(std::time::Duration::from_millis(1))))
            .map_err(|e| Error::network("configuring the socket", e))?;
        let path = self.request_path(token);
        handshake::client_handshake(stream, &self.settings.endpoint.host_header(), &path)
            .map_err(tls_error)
    }

    /// Waits for `build_connection`. Events that come first (the spec says
    /// they do not) are delivered, not lost.
    fn confirm(
        &self,
        stream: Stream,
        rest: Vec<u8>,
        token: &AccessToken,
        out: &mut Outbox,
    ) -> Result<Ws> {
        let s = &self.settings;
        let config = WebSocketConfig::default()
            .max_message_size(Some(s.max_message_size))
            .max_frame_size(Some(s.max_message_size));
        let mut ws = WebSocket::from_partially_read(stream, rest, Role::Client, Some(config));
        let fail = |mut ws: Ws, e: Error| {
            close_gracefully(&mut ws);
            ws.get_mut().abort();
            Err(self.abandoned(e))
        };
        loop {
            let frame = match ws.read() {
                Ok(Message::Text(text)) => wire::parse(&text),
                Ok(Message::Close(frame)) => {
                    let detail = format!(
                        "closed before build_connection ({})",
                        describe_close(frame.as_ref(), token)
                    );
                    let _ = ws.flush();
                    return fail(
                        ws,
                        Error::WebSocket {
                            detail,
                            source: None,
                        },
                    );
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                    if self.shared.stopping() {
                        // Closed while Zoom was confirming: the WebSocket is
                        // open, so close it properly.
                        return fail(ws, Error::Closed);
                    }
                    let e = Error::network(
                        "waiting for build_connection",
                        io::Error::new(io::ErrorKind::TimedOut, "no build_connection in time"),
                    );
                    return fail(ws, e);
                }
                Err(e) => {
                    ws.get_mut().abort();
                    return Err(self.abandoned(ws_error("waiting for build_connection", e)));
                }
            };
            match frame {
                Inbound::Connected => return Ok(ws),
                Inbound::Event(ev) => {
                    out.deliver(ev);
                    return Ok(ws);
                }
                Inbound::TokenRejected(content) => {
                    let content = scrub(&content, token);
                    return fail(ws, Error::TokenRejected { content });
                }
                Inbound::Refused(content) => {
                    let content = scrub(&content, token);
                    return fail(ws, Error::Rejected { content });
                }
                Inbound::HeartbeatAck => {}
                Inbound::Skip(why) => self.shared.skipped(&scrub(&why, token)),
            }
        }
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
}
