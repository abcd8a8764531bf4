//! The WebSocket's way through an HTTP proxy: a `CONNECT` tunnel (RFC 9110
//! section 9.3.6), opened on the TCP connection to the proxy before
//! anything else. TLS, the upgrade and `build_connection` then run inside
//! it exactly as on a direct connection, so the proxy sees the host and
//! port, never the token.
//!
//! Bounded by the caller: the `Tcp` under the stream ends every read at the
//! attempt's deadline, and its write timeout is set before the request.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::transport::Tcp;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::handshake::read_head;
use crate::proxy::{authority, Proxy};

/// The most of a proxy's status line quoted in an error, in characters.
const MAX_QUOTED: usize = 80;

/// Opens the tunnel to `ep` on `tcp`, connected to `proxy`, by `deadline`
/// (the reads are bounded by the window the caller set; the write is
/// bounded here).
pub(super) fn tunnel(tcp: &mut Tcp, proxy: &Proxy, ep: &Endpoint, deadline: Instant) -> Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    tcp.sock
        .set_write_timeout(Some(left.max(Duration::from_millis(1))))
        .map_err(|e| Error::network("configuring the socket", e))?;
    open(tcp, proxy, &ep.host, ep.port)
}

/// Asks `proxy` (at the other end of `stream`) for a tunnel to
/// `host:port`, with `Proxy-Authorization: Basic` when the proxy has
/// credentials. Ok once it answers 2xx; [`Error::Proxy`] for any other
/// status. Errors name the proxy and the destination, never the
/// credentials.
fn open<S: Read + Write>(stream: &mut S, proxy: &Proxy, host: &str, port: u16) -> Result<()> {
    let target = authority(host, port);
    let mut request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: zoom-ws/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let auth = proxy.basic_auth();
    if let Some(auth) = &auth {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth.expose());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let failed = |doing: &str, e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::network(
            format!("{doing} the proxy {proxy} for {target} (timed out)"),
            io::Error::new(io::ErrorKind::TimedOut, "no answer to CONNECT in time"),
        ),
        _ => Error::network(format!("{doing} the proxy {proxy} for {target}"), e),
    };
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| failed("sending CONNECT to", e))?;
    let (head, rest) = read_head(stream).map_err(|e| failed("reading the answer of", e))?;
    let head = String::from_utf8_lossy(&head);
    let status_line = head.split("\r\n").next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.split(' ').nth(1))
        .filter(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) if rest.is_empty() => {
            log::debug!("zoom-ws: tunnel to {target} open through the proxy {proxy}");
            Ok(())
        }
        // Nothing may come before our TLS hello (or upgrade request).
        Some(200..=299) => Err(Error::invalid(
            format!("from the proxy {proxy} for {target}"),
            "bytes after the answer to CONNECT, before the tunnel was used",
        )),
        Some(status) => Err(Error::Proxy {
            proxy: proxy.authority(),
            status,
        }),
        None => {
            // A broken proxy might echo the request, credentials and all.
            let mut secrets = Vec::new();
            if let (Some(header), Some((user, password))) = (&auth, proxy.credentials()) {
                secrets.extend([header.expose().trim_start_matches("Basic "), user, password]);
            }
            secrets.retain(|s| !s.is_empty());
            Err(Error::invalid(
                format!("from the proxy {proxy} for {target}"),
                format!(
                    "not an HTTP answer to CONNECT: {:?}",
                    crate::text::summary(status_line.as_bytes(), MAX_QUOTED, &secrets)
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::Canned;

    fn proxy() -> Proxy {
        Proxy::new("http://proxy-user:proxy-pass@proxy.example:3128").unwrap()
    }

    #[test]
    fn sends_connect_with_credentials_and_accepts_2xx() {
        let mut s = Canned::new(b"HTTP/1.1 200 Connection established\r\n\r\n");
        open(&mut s, &proxy(), "ws.zoom.us", 443).unwrap();
        let sent = String::from_utf8(s.output).unwrap();
        assert!(
            sent.starts_with("CONNECT ws.zoom.us:443 HTTP/1.1\r\nHost: ws.zoom.us:443\r\n"),
            "{sent}"
        );
        // base64("proxy-user:proxy-pass")
        assert!(
            sent.contains("\r\nProxy-Authorization: Basic cHJveHktdXNlcjpwcm94eS1wYXNz\r\n"),
            "{sent}"
        );
        assert!(sent.ends_with("\r\n\r\n"));

        let mut s = Canned::new(b"HTTP/1.0 204 Tunnel\r\nVia: x\r\n\r\n");
        let plain = Proxy::new("http://proxy.example:3128").unwrap();
        open(&mut s, &plain, "::1", 8443).unwrap();
        let sent = String::from_utf8(s.output).unwrap();
        assert!(sent.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"));
        assert!(!sent.contains("Proxy-Authorization"));
    }

    #[test]
    fn refusals_are_proxy_errors_without_credentials() {
        for (answer, status, transient) in [
            (
                &b"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n"[..],
                407,
                false,
            ),
            (
                b"HTTP/1.1 403 Access violation\r\nContent-Length: 3\r\n\r\nno!",
                403,
                false,
            ),
            (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", 502, true),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, false),
        ] {
            let e = open(&mut Canned::new(answer), &proxy(), "ws.zoom.us", 443).unwrap_err();
            let shown = format!("{e} {e:?}");
            match e {
                Error::Proxy {
                    ref proxy,
                    status: s,
                } => {
                    assert_eq!((proxy.as_str(), s), ("proxy.example:3128", status));
                }
                ref other => panic!("{other:?}"),
            }
            assert_eq!(e.is_transient(), transient, "{shown}");
            assert!(
                !shown.contains("proxy-pass") && !shown.contains("proxy-user"),
                "{shown}"
            );
        }
        let e = open(
            &mut Canned::new(b"HTTP/1.1 407 x\r\n\r\n"),
            &proxy(),
            "ws.zoom.us",
            443,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("proxy.example:3128") && e.contains("407"), "{e}");
        assert!(e.contains("check the user and password"), "{e}");
    }

    #[test]
    fn garbage_is_scrubbed_and_early_bytes_refused() {
        let echo = b"CONNECT ws.zoom.us:443 Proxy-Authorization: Basic cHJveHktdXNlcjpwcm94eS1wYXNz proxy-pass\r\n\r\n";
        let e = open(&mut Canned::new(echo), &proxy(), "ws.zoom.us", 443)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an HTTP answer to CONNECT"), "{e}");
        assert!(!e.contains("cHJveHkt") && !e.contains("proxy-pass"), "{e}");
        // Bytes read together with the answer are refused (bytes left in
        // the socket fail the TLS handshake that reads them).
        let mut early = Canned::new(b"HTTP/1.1 200 OK\r\n\r\nEARLY");
        early.whole = true;
        let e = open(&mut early, &proxy(), "ws.zoom.us", 443).unwrap_err();
        assert!(matches!(e, Error::InvalidResponse { .. }), "{e:?}");
        let e = open(
            &mut Canned::new(b"HTTP/1.1 20"),
            &proxy(),
            "ws.zoom.us",
            443,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Network { .. }), "{e:?}");
        assert!(e.to_string().contains("proxy.example:3128"), "{e}");
    }
}
