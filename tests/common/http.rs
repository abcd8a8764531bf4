//! A scripted HTTP/1.1 server on 127.0.0.1 (port 0), plain or TLS, for
//! playing a token endpoint, api.zoom.us or a hostile server: each request
//! (one per connection, `Content-Length` bodies) is answered by a handler
//! or a script, and recorded, before its answer is written: a call that has
//! returned has its requests on record. Stopped and joined on drop.

use std::fmt::Display;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::WAIT;

/// The largest request head read.
const MAX_HEAD: usize = 64 * 1024;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// When its head had arrived.
    pub at: Instant,
    pub method: String,
    /// The request target as sent, query included.
    pub target: String,
    /// The target without its query.
    pub path: String,
    /// The query, decoded (`+` a space, `%XX` a byte).
    pub query: Vec<(String, String)>,
    /// Header names lowercased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The token of `Authorization: Bearer <token>`; panics without one.
    pub fn bearer(&self) -> &str {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_else(|| panic!("no Bearer authorization in {self:?}"))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body (sent as `application/json`).
    Respond(u16, Vec<(&'static str, String)>, String),
    /// Read the request, then never answer: the connection stays open
    /// until the server stops.
    Hang,
}

/// A JSON answer: `status` and `body` (a `&str`, or a `serde_json::Value`).
pub fn json(status: u16, body: impl Display) -> Reply {
    Reply::Respond(status, Vec::new(), body.to_string())
}

type Handler = Box<dyn FnMut(&Request) -> Reply + Send>;

/// The server. Requests are served one after the other, on one thread.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    requests: Receiver<Request>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Answers each request with `handler`.
    pub fn start(handler: impl FnMut(&Request) -> Reply + Send + 'static) -> Server {
        Server::spawn(Box::new(handler), None)
    }

    /// [`Server::start`] over TLS with this server configuration.
    pub fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        handler: impl FnMut(&Request) -> Reply + Send + 'static,
    ) -> Server {
        Server::spawn(Box::new(handler), Some(tls))
    }

    /// Request `i` gets `script[i]`; the last entry repeats.
    pub fn script(script: Vec<Reply>) -> Server {
        Server::start(scripted(script))
    }

    /// [`Server::script`] over TLS.
    pub fn script_tls(script: Vec<Reply>, tls: Arc<rustls::ServerConfig>) -> Server {
        Server::start_tls(tls, scripted(script))
    }

    /// Every request gets `status` and `body`.
    pub fn canned(status: u16, body: impl Display) -> Server {
        Server::script(vec![json(status, body)])
    }

    fn spawn(mut handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (tx, requests) = mpsc::channel();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let is_tls = tls.is_some();
        let thread = {
            let (count, stop) = (count.clone(), stop.clone());
            thread::Builder::new()
                .name("test-http-server".into())
                .spawn(move || serve(listener, &mut handler, tls, &tx, &count, &stop))
                .unwrap()
        };
        Server {
            addr,
            tls: is_tls,
            requests,
            count,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (`https://` over TLS), no trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The next request, or a test failure after [`WAIT`].
    pub fn next_request(&self) -> Request {
        self.requests
            .recv_timeout(WAIT)
            .expect("the server saw no request in time")
    }

    /// True if no request arrives within `window` (a bounded negative check).
    pub fn quiet_for(&self, window: Duration) -> bool {
        matches!(
            self.requests.recv_timeout(window),
            Err(RecvTimeoutError::Timeout)
        )
    }

    /// The requests recorded since the last call (or the last
    /// [`Server::next_request`]).
    pub fn seen(&self) -> Vec<Request> {
        self.requests.try_iter().collect()
    }

    /// How many requests were recorded in all.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn scripted(script: Vec<Reply>) -> impl FnMut(&Request) -> Reply + Send + 'static {
    assert!(!script.is_empty());
    let mut served = 0usize;
    move |_| {
        let reply = script[served.min(script.len() - 1)].clone();
        served += 1;
        reply
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn serve(
    listener: TcpListener,
    handler: &mut Handler,
    tls: Option<Arc<rustls::ServerConfig>>,
    record: &Sender<Request>,
    count: &AtomicUsize,
    stop: &AtomicBool,
) {
    // Connections that are never answered, kept open until the end.
    let mut hung: Vec<Box<dyn Stream>> = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(tcp) = conn else { continue };
        let _ = tcp.set_read_timeout(Some(WAIT));
        let _ = tcp.set_write_timeout(Some(WAIT));
        let mut stream: Box<dyn Stream> = match &tls {
            Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                Ok(c) => Box::new(rustls::StreamOwned::new(c, tcp)),
                Err(_) => continue,
            },
            None => Box::new(tcp),
        };
        // A client that gave up (TLS refused, say) sends nothing usable.
        let Ok(request) = read_request(&mut stream) else {
            continue;
        };
        let reply = handler(&request);
        count.fetch_add(1, Ordering::SeqCst);
        let _ = record.send(request);
        match reply {
            Reply::Hang => hung.push(stream),
            Reply::Respond(status, headers, body) => {
                let mut head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    reason(status),
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body.as_bytes());
                let _ = stream.flush();
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// Reads one request: the head, then a `Content-Length` body.
fn read_request(stream: &mut dyn Stream) -> io::Result<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if buf.len() > MAX_HEAD {
            return Err(io::ErrorKind::InvalidData.into());
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // Scan the new bytes, and the 3 before them.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            break from + i + 4;
        }
    };
    let at = Instant::now();
    let mut body = buf.split_off(head_end);
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if body.len() < length {
        let mut rest = vec![0u8; length - body.len()];
        stream.read_exact(&mut rest)?;
        body.extend_from_slice(&rest);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), decode_query(q)),
        None => (target.clone(), Vec::new()),
    };
    Ok(Request {
        at,
        method,
        target,
        path,
        query,
        headers,
        body,
    })
}

/// `a=b&c=d` decoded: `+` is a space, `%XX` a byte (lossy UTF-8).
fn decode_query(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let pair = bytes.get(i + 1).copied().and_then(hex);
            let pair = pair.zip(bytes.get(i + 2).copied().and_then(hex));
            match (bytes[i], pair) {
                (b'%', Some((hi, lo))) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                (b'+', _) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}
