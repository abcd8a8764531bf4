//! Endpoint URLs: parsing, and the rule that plain text is for loopback only.
//!
//! A URL goes into a request line (`GET <path and query> HTTP/1.1`) and a
//! `Host` header, with the access token next to it: control characters
//! (CR and LF above all), spaces and `#` are refused anywhere in it, so no
//! configured URL can add a line to a request. Plain `ws://` and `http://`
//! are accepted for loopback hosts only; a host given by name (`localhost`)
//! must also resolve to loopback addresses only ([`Endpoint::check_resolved`]).

use std::net::{IpAddr, SocketAddr};

use crate::error::{Error, Result};

/// A checked endpoint URL, split into the parts a connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL as given.
    pub url: String,
    /// True for `https`/`wss`.
    pub secure: bool,
    /// Host name or IP address, without brackets.
    pub host: String,
    /// Port, explicit or the scheme's default.
    pub port: u16,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

impl Endpoint {
    /// Parses `url`, which must use `secure_scheme`, or `plain_scheme` with a
    /// loopback host (127.0.0.0/8, ::1, localhost). `what` names the setting
    /// in errors.
    pub fn parse(url: &str, secure_scheme: &str, plain_scheme: &str, what: &str) -> Result<Self> {
        let bad = |why: String| {
            Error::Config(format!(
                "{what} {:?}: {why}",
                crate::text::truncate(url, 200)
            ))
        };
        if let Some(c) = url
            .chars()
            .find(|c| c.is_control() || *c == ' ' || *c == '#')
        {
            return Err(bad(format!(
                "{c:?} is not allowed in a URL here (control characters, spaces and '#' are refused; percent-encode them)"
            )));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(format!("not a URL (expected {secure_scheme}://host/path)")))?;
        let scheme = scheme.to_ascii_lowercase();
        let secure = if scheme == secure_scheme {
            true
        } else if scheme == plain_scheme {
            false
        } else {
            return Err(bad(format!("scheme must be {secure_scheme}")));
        };
        let (authority, path_and_query) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad("user information in the URL is not supported".into()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host".into()))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad(format!("bad port {p:?}")))?,
            None if secure => 443,
            None => 80,
        };
        if !secure && !is_loopback(host) {
            return Err(bad(format!(
                "{plain_scheme}:// sends tokens in the clear and is accepted only for loopback hosts (127.0.0.1, ::1, localhost); use {secure_scheme}://"
            )));
        }
        Ok(Endpoint {
            url: url.to_owned(),
            secure,
            host: host.to_owned(),
            port,
            path_and_query,
        })
    }

    /// Checks the addresses `host` resolved to before a connection: Ok for a
    /// secure endpoint, or when every address is loopback. A plain-text
    /// endpoint whose name (`localhost`) resolves to anything else (a
    /// hostile resolver, a hosts file pointing elsewhere) would send the
    /// token in the clear across a network: [`Error::Config`].
    pub(crate) fn check_resolved(&self, addrs: &[SocketAddr]) -> Result<()> {
        if self.secure {
            return Ok(());
        }
        match addrs.iter().find(|a| !a.ip().is_loopback()) {
            None => Ok(()),
            Some(addr) => Err(Error::Config(format!(
                "{:?} resolved to {}, which is not a loopback address: plain-text URLs send tokens in the clear and are for loopback only",
                self.host,
                addr.ip()
            ))),
        }
    }

    /// `host:port` for the `Host` header (brackets around IPv6, port omitted
    /// when it is the scheme's default).
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.secure { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str) -> Result<Endpoint> {
        Endpoint::parse(url, "https", "http", "token URL")
    }

    #[test]
    fn parses_defaults() {
        let e = p("https://zoom.us/oauth/token").unwrap();
        assert_eq!((e.secure, e.host.as_str(), e.port), (true, "zoom.us", 443));
        assert_eq!(e.path_and_query, "/oauth/token");
        assert_eq!(e.host_header(), "zoom.us");
        let e = p("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (e.secure, e.port, e.path_and_query.as_str()),
            (false, 8080, "/")
        );
        assert_eq!(e.host_header(), "127.0.0.1:8080");
        let e = p("http://[::1]:9/x?y=1").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9));
        assert_eq!(e.host_header(), "[::1]:9");
        assert_eq!(p("http://localhost?a").unwrap().path_and_query, "/?a");
    }

    #[test]
    fn control_characters_spaces_and_hash_are_refused() {
        for url in [
            "https://zoom.us/oauth/token\r\nX-Injected: 1",
            "wss://ws.zoom.us/ws?subscriptionId=a\r\nHost: evil",
            "https://zoom.us/oauth/token HTTP/1.1",
            "https://zoom.us/oauth#frag",
            "https://zoom us/",
            "https://zo\u{0}om.us/",
            "https://zoom.us\n/",
            "https://zoom.us/\u{7f}",
            "https://zoom.us/x?a=\tb",
            "http://127.0.0.1:9/\r\n",
            " https://zoom.us/",
        ] {
            match Endpoint::parse(url, "https", "http", "URL")
                .or_else(|_| Endpoint::parse(url, "wss", "ws", "URL"))
            {
                Err(Error::Config(why)) => {
                    assert!(!why.contains('\r') && !why.contains('\n'), "{why}");
                }
                other => panic!("{url:?}: {other:?}"),
            }
        }
        let e = p("https://zoom.us/a\r\nb").unwrap_err().to_string();
        assert!(e.contains("not allowed"), "{e}");
        // Percent-encoded, they are plain text.
        assert!(p("https://zoom.us/a%0D%0Ab%20c%23d").is_ok());
    }

    #[test]
    fn plain_text_hosts_must_resolve_to_loopback() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let plain = p("http://localhost:8080/t").unwrap();
        plain
            .check_resolved(&[addr("127.0.0.1:8080"), addr("[::1]:8080")])
            .unwrap();
        plain.check_resolved(&[addr("127.9.9.9:8080")]).unwrap();
        for hostile in [
            vec![addr("10.0.0.1:8080")],
            vec![addr("127.0.0.1:8080"), addr("192.168.1.5:8080")],
            vec![addr("[::ffff:10.0.0.1]:8080")],
            vec![addr("[2001:db8::1]:8080")],
        ] {
            let e = plain.check_resolved(&hostile).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            assert!(e.to_string().contains("not a loopback address"), "{e}");
        }
        // Secure endpoints may resolve anywhere.
        p("https://zoom.us/oauth/token")
            .unwrap()
            .check_resolved(&[addr("10.0.0.1:443")])
            .unwrap();
    }

    #[test]
    fn plain_only_for_loopback() {
        let err = p("http://zoom.us/oauth/token").unwrap_err().to_string();
        assert!(err.contains("only for loopback"), "{err}");
        assert!(p("ftp://zoom.us").is_err());
        assert!(p("zoom.us").is_err());
        assert!(p("https://:443/").is_err());
        assert!(p("https://zoom.us:http/").is_err());
    }
}
