//! The listener: one port for both endpoints, a thread per connection, a
//! minimal HTTP/1.1 (one request per connection, `Content-Length` bodies,
//! `Connection: close`), plain or TLS, routed to [`super::oauth`] or
//! [`super::ws`].

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};

use super::state::Shared;
use super::{oauth, ws};
use crate::handshake::read_head;

/// How long a client may take over its TLS handshake and HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request body read (token requests are a few dozen bytes).
const MAX_BODY: usize = 64 * 1024;

/// Starts the accept thread. The listener lives in it and is closed when it ends.
pub(crate) fn spawn_accept(
    shared: Arc<Shared>,
    listener: TcpListener,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("zoom-mock-accept".into())
        .spawn(move || accept_loop(&shared, listener))
}

/// Wakes the accept thread so that it sees the stop flag.
pub(crate) fn wake_accept(shared: &Shared) {
    let _ = TcpStream::connect_timeout(&shared.addr, Duration::from_secs(1));
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                log::warn!("zoom mock: accept failed: {e}");
                // Back off a little so that a persistent error (out of file
                // descriptors) does not spin; this is no polling loop.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let handle = match tcp.try_clone() {
            Ok(h) => h,
            Err(e) => {
                log::warn!("zoom mock: cannot clone an accepted socket: {e}");
                continue;
            }
        };
        let id = shared.update(|s| {
            let id = s.next_id;
            s.next_id += 1;
            s.sockets.insert(id, handle);
            s.threads.retain(|t| !t.is_finished());
            id
        });
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("zoom-mock-conn-{id}"))
            .spawn(move || {
                handle_connection(&conn_shared, tcp, id);
                conn_shared.update(|s| s.sockets.remove(&id));
            });
        match spawned {
            Ok(t) => shared.update(|s| s.threads.push(t)),
            Err(e) => {
                log::warn!("zoom mock: cannot start a connection thread: {e}");
                if let Some(sock) = shared.update(|s| s.sockets.remove(&id)) {
                    let _ = sock.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
    log::debug!("zoom mock: listener on {} closed", shared.addr);
}

/// A client connection during its HTTP phase.
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Transport {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(t) => t,
            Transport::Tls(s) => &s.sock,
        }
    }

    /// Flushes and, for TLS, says goodbye with close_notify.
    pub(crate) fn finish(mut self) {
        if let Transport::Tls(s) = &mut self {
            s.conn.send_close_notify();
        }
        let _ = self.flush();
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(t) => t.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(t) => t.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(t) => t.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// An HTTP request head.
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn parse(head: &[u8]) -> Option<Request> {
        let head = std::str::from_utf8(head).ok()?;
        let mut lines = head.split("\r\n");
        let mut parts = lines.next()?.split(' ');
        let method = parts.next()?.to_owned();
        let target = parts.next()?;
        if !parts.next()?.starts_with("HTTP/1.") {
            return None;
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Some(Request {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
        })
    }

    /// A header's value; `name` in lower case.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response, always with `Connection: close`.
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Response {
    /// A JSON response.
    pub(crate) fn json(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A Zoom-style error: `{"reason":..,"error":..}`.
    pub(crate) fn error(status: u16, error: &str, reason: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({ "reason": reason, "error": error }).to_string(),
        )
    }

    pub(crate) fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.body.len()
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        w.write_all(out.as_bytes())?;
        w.flush()
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Decodes `a=b&c=d` (form body or query string): `+` is a space, `%XX` a byte.
pub(crate) fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `%XX` decoded (by the crate's one percent-decoder), `+` a space: form
/// encoding, where a plus is sent as `%2B`.
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&crate::text::percent_decode(&s.replace('+', " "))).into_owned()
}

/// One accepted connection, start to end. Errors are the client's problem:
/// logged, and the connection dropped.
fn handle_connection(shared: &Arc<Shared>, tcp: TcpStream, id: u64) {
    if let Err(e) = serve(shared, tcp, id) {
        log::debug!("zoom mock: connection {id} ended: {e}");
    }
}

fn serve(shared: &Arc<Shared>, tcp: TcpStream, id: u64) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(HTTP_TIMEOUT))?;
    tcp.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let mut transport = match &shared.tls {
        None => Transport::Plain(tcp),
        Some(config) => {
            let mut conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
            let mut tcp = tcp;
            while conn.is_handshaking() {
                if let Err(e) = conn.complete_io(&mut tcp) {
                    return Err(io::Error::new(e.kind(), format!("TLS handshake: {e}")));
                }
            }
            Transport::Tls(Box::new(StreamOwned::new(conn, tcp)))
        }
    };
    let (head, rest) = read_head(&mut transport)?;
    let Some(req) = Request::parse(&head) else {
        Response::error(400, "invalid_request", "malformed HTTP request")
            .write_to(&mut transport)?;
        transport.finish();
        return Ok(());
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", oauth::PATH) => {
            let response = match read_body(&mut transport, &req, rest) {
                Ok(body) => oauth::handle(shared, &req, &body),
                Err(response) => response,
            };
            response.write_to(&mut transport)?;
            transport.finish();
        }
        ("GET", ws::PATH) => ws::serve(shared, transport, &req, rest, id)?,
        (_, oauth::PATH) | (_, ws::PATH) => {
            Response::error(405, "invalid_request", "method not allowed")
                .write_to(&mut transport)?;
            transport.finish();
        }
        _ => {
            Response::error(404, "not_found", "no such endpoint on the Zoom emulator")
                .write_to(&mut transport)?;
            transport.finish();
        }
    }
    Ok(())
}

/// The body: `Content-Length` bytes, the first of them already read with the head.
fn read_body(r: &mut impl Read, req: &Request, mut rest: Vec<u8>) -> Result<Vec<u8>, Response> {
    if req.header("transfer-encoding").is_some() {
        return Err(Response::error(
            411,
            "invalid_request",
            "the Zoom emulator needs a Content-Length body",
        ));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Response::error(400, "invalid_request", "bad Content-Length"))?,
    };
    if len > MAX_BODY {
        return Err(Response::error(413, "invalid_request", "body too large"));
    }
    if rest.len() < len {
        let have = rest.len();
        rest.resize(len, 0);
        r.read_exact(&mut rest[have..]).map_err(|_| {
            Response::error(400, "invalid_request", "body shorter than Content-Length")
        })?;
    }
    rest.truncate(len);
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            form_decode("grant_type=account_credentials&account_id=a%2Bb+c&x"),
            vec![
                ("grant_type".into(), "account_credentials".into()),
                ("account_id".into(), "a+b c".into()),
                ("x".into(), String::new()),
            ]
        );
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%e9"), "\u{fffd}");
        assert_eq!(percent_decode("%\u{e9}x"), "%\u{e9}x");
    }

    #[test]
    fn request_parsing() {
        let r = Request::parse(b"GET /ws?a=b HTTP/1.1\r\nUpgrade: WebSocket\r\n\r\n").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("GET", "/ws", "a=b")
        );
        assert_eq!(r.header("upgrade"), Some("WebSocket"));
        assert!(Request::parse(b"garbage\r\n\r\n").is_none());
        assert!(Request::parse(&[0xff, 0xfe]).is_none());
    }
}
