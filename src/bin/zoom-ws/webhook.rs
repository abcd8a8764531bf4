//! `zoom-ws webhook`: a minimal Zoom webhook receiver on a blocking std
//! `TcpListener`; prints each verified event as one line of compact JSON on
//! stdout. Also `cargo run --example webhook` (examples/webhook.rs).
//!
//! Contract (also in `--help`): any path; POST only (else 405). A verified
//! event: 200, and the event on stdout as one line of compact JSON, flushed.
//! A verified `endpoint.url_validation` challenge: 200 with the JSON answer,
//! nothing on stdout. Bad or missing signature, or a stale timestamp: 401.
//! A malformed request (bad HTTP, no Content-Length, a signed body that is
//! not an event): 400; a body over 4 MiB: 413. Nothing reaches stdout for a
//! refused delivery; diagnostics go to stderr. One thread per connection (at
//! most 64, then 503), one request per connection, 10 s read timeout and
//! 30 s overall per request: every read waits at most for what is left of
//! the 30 s, so a slow client holds its slot no longer.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use zoom_ws::webhook::{Delivery, Verifier};
use zoom_ws::{Error, WebhookError};

use crate::args::{Command, Opt};

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_CONNECTIONS: usize = 64;
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

pub static COMMAND: Command = Command {
    name: "webhook",
    about: "receive Zoom webhooks, verify them, print each event as a JSON line",
    usage: "",
    opts: &[
        Opt {
            flag: "",
            env: Some("ZOOM_WEBHOOK_SECRET_TOKEN"),
            value: Some("TOKEN"),
            help: "the app's Secret Token (required; no flag: ps would show it)",
        },
        Opt {
            flag: "addr",
            env: Some("ZOOM_WEBHOOK_ADDR"),
            value: Some("HOST:PORT"),
            help: "where to listen, default 127.0.0.1:8080 (port 0: any free port)",
        },
    ],
    notes: "\
Put it behind a TLS-terminating reverse proxy: Zoom only delivers to https://
endpoints. The address it listens on goes to stderr.

Any path; POST only (else 405). A verified event: 200, and the event on stdout
as one line of compact JSON, flushed. A verified endpoint.url_validation
challenge: 200 with the JSON answer, nothing on stdout. Bad or missing
signature, or a stale timestamp: 401. A malformed request (bad HTTP, no
Content-Length, a signed body that is not an event): 400; a body over 4 MiB:
413. Nothing reaches stdout for a refused delivery; diagnostics go to stderr.
One thread per connection (at most 64, then 503), one request per connection,
10 s read timeout and 30 s overall per request.

A missing secret token, or an address it cannot listen on, prints one line on
stderr and exits 1; a usage error exits 2.",
};

/// `zoom-ws webhook ARGS`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match COMMAND.parse_or_exit(args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let Some(secret) = args.lookup("ZOOM_WEBHOOK_SECRET_TOKEN") else {
        eprintln!("zoom-ws webhook: ZOOM_WEBHOOK_SECRET_TOKEN is not set (the app's Secret Token, in the Zoom App Marketplace under Features > Access)");
        return ExitCode::FAILURE;
    };
    let addr = args.value("addr").unwrap_or_else(|| DEFAULT_ADDR.into());
    let listener = match TcpListener::bind(addr.trim()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zoom-ws webhook: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => eprintln!("zoom-ws webhook: listening on http://{bound}"),
        Err(_) => eprintln!("zoom-ws webhook: listening on http://{addr}"),
    }

    let verifier = Arc::new(Verifier::new(secret));
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("zoom-ws webhook: accept: {e}");
                thread::sleep(Duration::from_millis(100)); // e.g. out of file descriptors
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            let _ = respond(&mut stream, 503, "text/plain", b"busy\n");
            continue;
        }
        let (verifier, active) = (Arc::clone(&verifier), Arc::clone(&active));
        let spawned = thread::Builder::new()
            .name("webhook-conn".into())
            .spawn(move || {
                serve(stream, &verifier);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            eprintln!("zoom-ws webhook: cannot spawn a thread: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// One request on one connection, answered and closed.
fn serve(mut stream: TcpStream, verifier: &Verifier) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".into(), |a| a.to_string());
    if stream.set_read_timeout(Some(IO_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return;
    }
    let (status, content_type, body): (u16, &str, Vec<u8>) = match read_request(&mut stream) {
        Err(Refusal(status, why)) => {
            eprintln!("zoom-ws webhook: {peer}: {status}: {why}");
            (status, "text/plain", format!("{why}\n").into_bytes())
        }
        Ok(req) => handle(&req, verifier, &peer),
    };
    if let Err(e) = respond(&mut stream, status, content_type, &body) {
        eprintln!("zoom-ws webhook: {peer}: writing the response: {e}");
    }
}

/// Verifies and dispatches a well-formed request.
fn handle(req: &Request, verifier: &Verifier, peer: &str) -> (u16, &'static str, Vec<u8>) {
    match verifier.receive(|name| req.header(name), &req.body) {
        Ok(Delivery::UrlValidation(answer)) => {
            eprintln!("zoom-ws webhook: {peer}: answered URL validation");
            (200, "application/json", answer.to_json().into_bytes())
        }
        Ok(Delivery::Event(event)) => {
            let mut out = io::stdout().lock();
            let printed = writeln!(out, "{}", compact(event.json())).and_then(|()| out.flush());
            match printed {
                Ok(()) => (200, "text/plain", Vec::new()),
                Err(e) => {
                    // Not acknowledged: Zoom retries later.
                    eprintln!("zoom-ws webhook: writing to stdout: {e}");
                    (500, "text/plain", b"cannot record the event\n".to_vec())
                }
            }
        }
        Ok(_) => (200, "text/plain", Vec::new()),
        Err(e @ Error::Webhook(WebhookError::MalformedBody(_))) => {
            eprintln!("zoom-ws webhook: {peer}: 400: {e}");
            (400, "text/plain", b"malformed body\n".to_vec())
        }
        Err(e @ Error::Webhook(_)) => {
            eprintln!("zoom-ws webhook: {peer}: 401: {e}");
            (401, "text/plain", b"unauthorized\n".to_vec())
        }
        Err(e) => {
            eprintln!("zoom-ws webhook: {peer}: 500: {e}");
            (500, "text/plain", b"internal error\n".to_vec())
        }
    }
}

struct Request {
    /// Header names lowercased, values trimmed, in arrival order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request was refused before verification: status and a short reason.
struct Refusal(u16, String);

fn refuse(status: u16, why: impl Into<String>) -> Refusal {
    Refusal(status, why.into())
}

/// Reads one HTTP/1.x request: head up to 16 KiB, then a Content-Length body
/// up to 4 MiB. No chunked bodies (Zoom sends Content-Length).
fn read_request(stream: &mut TcpStream) -> Result<Request, Refusal> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let io_err = |e: io::Error| refuse(400, format!("reading the request: {e}"));

    let mut buf = Vec::with_capacity(4096);
    // Where the search for the blank line resumes: each read scans only
    // the new bytes (and the 3 before them), not the whole buffer again.
    let mut scanned = 0;
    let head_end = loop {
        if let Some(i) = buf[scanned..].windows(4).position(|w| w == b"\r\n\r\n") {
            break scanned + i;
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > MAX_HEAD {
            return Err(refuse(431, "request head too large"));
        }
        if read_some(stream, &mut buf, deadline).map_err(io_err)? == 0 {
            return Err(refuse(400, "connection closed before the end of the head"));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| refuse(400, "request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(400, "bad request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(refuse(400, "not HTTP/1.x"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(refuse(400, "bad header line"));
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(refuse(400, "bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    if method != "POST" {
        // Not echoed: the method is the client's text.
        return Err(refuse(405, "method not allowed: POST only"));
    }
    if values(&headers, "transfer-encoding").next().is_some() {
        return Err(refuse(
            400,
            "Transfer-Encoding is not supported: send Content-Length",
        ));
    }
    let length = {
        let mut lengths = values(&headers, "content-length");
        match (lengths.next(), lengths.next()) {
            (Some(v), None) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse::<usize>()
                .map_err(|_| refuse(413, "body too large"))?,
            (None, _) => return Err(refuse(400, "no Content-Length")),
            _ => return Err(refuse(400, "bad Content-Length")),
        }
    };
    if length > MAX_BODY {
        return Err(refuse(413, "body too large"));
    }
    if values(&headers, "expect").any(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(io_err)?;
    }

    let mut body = buf.split_off(head_end + 4);
    if body.len() > length {
        return Err(refuse(
            400,
            "more bytes than Content-Length (pipelining is not supported)",
        ));
    }
    while body.len() < length {
        if read_some(stream, &mut body, deadline).map_err(io_err)? == 0 {
            return Err(refuse(400, "connection closed before the end of the body"));
        }
        if body.len() > length {
            return Err(refuse(400, "more bytes than Content-Length"));
        }
    }
    Ok(Request { headers, body })
}

/// The values of header `name` (lowercase).
fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One read of up to 8 KiB appended to `buf`. The read waits at most
/// until `deadline` (and at most `IO_TIMEOUT`), so a slow client cannot
/// hold its connection slot past the request deadline.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<usize> {
    let too_long = || io::Error::new(io::ErrorKind::TimedOut, "request took too long");
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_long());
        }
        stream.set_read_timeout(Some(left.min(IO_TIMEOUT)))?;
        match stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) && Instant::now() >= deadline =>
            {
                return Err(too_long())
            }
            Err(e) => return Err(e),
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let allow = if status == 405 { "Allow: POST\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// The JSON text without whitespace outside strings: one line, every byte
/// of every string (escapes included) kept as it came.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\r' | '\n') {
            out.push(c);
            in_string = c == '"';
        }
    }
    out
}
