//! The WebSocket opening handshake (RFC 6455 section 4), written here rather
//! than taken from tungstenite: the request carries the access token in its
//! query string, and tungstenite logs the whole request at TRACE. Doing the
//! upgrade ourselves keeps the token out of every log, and lets a refusal's
//! HTTP status (401/403: a token problem) reach the caller.

use std::io::{self, Read, Write};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// The GUID of RFC 6455 that turns a key into an accept value.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest response head we read before giving up.
const MAX_HEAD: usize = 16 * 1024;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

/// A fresh random `Sec-WebSocket-Key`.
fn random_key() -> String {
    let mut nonce = [0u8; 16];
    // Without OS randomness the key is still unique enough for the upgrade
    // check; it carries no security.
    let _ = SystemRandom::new().fill(&mut nonce);
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// Sends the upgrade request for `host_header` + `path_and_query` and reads
/// the answer. Returns the bytes read past the response head (the start of
/// the first frame, if the server was quick). Never puts `path_and_query`
/// (which holds the token) into an error.
pub(crate) fn client_handshake<S: Read + Write>(
    stream: &mut S,
    host_header: &str,
    path_and_query: &str,
) -> Result<Vec<u8>> {
    let key = random_key();
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host_header}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nUser-Agent: zoom-ws/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|_| stream.flush())
        .map_err(|e| io_error("sending the WebSocket upgrade", e))?;

    let (head, rest) =
        read_head(stream).map_err(|e| io_error("reading the WebSocket upgrade answer", e))?;
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            // A server may echo the request line, token and all.
            let secrets = query_values(path_and_query);
            Error::invalid(
                "to the WebSocket upgrade",
                format!(
                    "bad status line {:?}",
                    crate::text::summary(status_line.as_bytes(), MAX_QUOTED, &secrets)
                ),
            )
        })?;
    if status != 101 {
        return Err(Error::Upgrade { status });
    }
    let mut accept = None;
    let mut upgrade_ok = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("sec-websocket-accept") {
                accept = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("upgrade") {
                upgrade_ok = value.eq_ignore_ascii_case("websocket");
            }
        }
    }
    if !upgrade_ok {
        return Err(Error::invalid(
            "to the WebSocket upgrade",
            "101 without Upgrade: websocket",
        ));
    }
    if accept.as_deref() != Some(accept_key(&key).as_str()) {
        return Err(Error::invalid(
            "to the WebSocket upgrade",
            "wrong or missing Sec-WebSocket-Accept",
        ));
    }
    Ok(rest)
}

/// The most of a server's status line quoted in an error, in characters.
const MAX_QUOTED: usize = 80;

/// Every query value of `path_and_query` of 8 characters or more (the
/// access token among them), for scrubbing server text that might echo the
/// request. Shorter values are left alone: scrubbing `s` would mangle the
/// whole text and hide nothing.
fn query_values(path_and_query: &str) -> Vec<&str> {
    let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v))
        .filter(|v| v.len() >= 8)
        .collect()
}

/// Reads up to and including the blank line that ends an HTTP head. Returns
/// the head and whatever was read after it.
pub(crate) fn read_head<S: Read>(stream: &mut S) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the HTTP head",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let start = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf[start..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = start + i + 4;
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP head larger than 16 KiB",
            ));
        }
    }
}

fn io_error(context: &str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::network(
            format!("{context} (timed out)"),
            io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"),
        ),
        _ => Error::network(context, e),
    }
}

/// A stream for tests of HTTP head exchanges (this upgrade, the proxy's
/// `CONNECT`): plays a canned answer, one byte a read unless `whole` (to
/// exercise the head scanner across reads), and records what was written.
#[cfg(test)]
pub(crate) struct Canned {
    pub input: std::io::Cursor<Vec<u8>>,
    pub output: Vec<u8>,
    pub whole: bool,
}

#[cfg(test)]
impl Canned {
    pub fn new(answer: &[u8]) -> Self {
        Canned {
            input: std::io::Cursor::new(answer.to_vec()),
            output: Vec::new(),
            whole: false,
        }
    }
}

#[cfg(test)]
impl Read for Canned {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = if self.whole { b.len() } else { b.len().min(1) };
        self.input.read(&mut b[..n])
    }
}

#[cfg(test)]
impl Write for Canned {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn rfc6455_example_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn answer_to(request: &[u8], status: &str) -> Vec<u8> {
        let req = String::from_utf8_lossy(request);
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        format!("HTTP/1.1 {status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\nXY", accept_key(key)).into_bytes()
    }

    #[test]
    fn checks_status_and_accept_and_keeps_the_rest() {
        // First pass learns the key the client sends, second pass answers it.
        let mut probe = Canned::new(b"");
        let _ = client_handshake(&mut probe, "h", "/ws?access_token=TOKEN");
        let req = String::from_utf8(probe.output.clone()).unwrap();
        assert!(req.starts_with("GET /ws?access_token=TOKEN HTTP/1.1\r\nHost: h\r\n"));

        let mut s = Canned::new(b"");
        // The key is random per call: answer with a wrong accept first.
        s.input = Cursor::new(answer_to(&probe.output, "101 Switching Protocols"));
        let e = client_handshake(&mut s, "h", "/ws?access_token=TOKEN").unwrap_err();
        assert!(e.to_string().contains("Sec-WebSocket-Accept"), "{e}");
        assert!(!e.to_string().contains("TOKEN"));
    }

    #[test]
    fn refusal_status_is_reported() {
        let mut s = Canned::new(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        match client_handshake(&mut s, "h", "/ws?access_token=TOKEN") {
            Err(Error::Upgrade { status: 401 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_status_line_is_scrubbed_cut_and_printable() {
        let mut answer =
            b"HTTP/1.1 GET /ws?subscriptionId=s&access_token=TOKEN-abc \x1b[2J".to_vec();
        answer.extend_from_slice(&[b'x'; 5000]);
        answer.extend_from_slice(b"\xff\r\n\r\n");
        let mut s = Canned::new(&answer);
        let e = client_handshake(&mut s, "h", "/ws?subscriptionId=s&access_token=TOKEN-abc")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("TOKEN-abc"), "{e}");
        assert!(!e.contains('\x1b'), "{e}");
        assert!(e.len() < 200, "{e}");
        assert!(e.contains("access_token=***"), "{e}");
        assert_eq!(
            query_values("/ws?a=1&b=&c&access_token=TTTTTTTT"),
            vec!["TTTTTTTT"]
        );
        assert!(query_values("/ws").is_empty());
    }

    #[test]
    fn eof_and_oversize_heads_are_errors() {
        let mut s = Canned::new(b"HTTP/1.1 101");
        assert!(matches!(
            client_handshake(&mut s, "h", "/"),
            Err(Error::Network { .. })
        ));
        let mut big = b"HTTP/1.1 101 OK\r\nX: ".to_vec();
        big.resize(20_000, b'a');
        let mut s = Canned::new(&big);
        assert!(matches!(
            client_handshake(&mut s, "h", "/"),
            Err(Error::Network { .. })
        ));
    }
}
