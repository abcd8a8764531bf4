//! HTTP CONNECT proxies: [`Proxy`], from a URL or from the environment, and
//! the rule that decides which connections go through it.
//!
//! A proxy carries the token request, REST calls and the WebSocket alike:
//! each connection opens a tunnel with `CONNECT host:port`, and TLS runs
//! inside it, end to end with Zoom, so the proxy sees host names and ports,
//! never a token or a client secret. The proxy's own credentials travel in
//! `Proxy-Authorization: Basic` to the proxy (in the clear, as with every
//! `http://` proxy) and are secrets like the others: never in `Debug`,
//! `Display`, an error or a log line.
//!
//! # Which connections use it
//!
//! - **Plain-text destinations never do.** `ws://` and `http://` URLs are
//!   accepted for loopback hosts only, and a proxy would carry their tokens
//!   in the clear across the network: they always connect directly.
//! - **A proxy from the environment** ([`Proxy::from_env`], the default of
//!   [`ClientBuilder`](crate::ClientBuilder)) is not used for loopback
//!   destinations (`localhost`, `127.0.0.0/8`, `::1`), nor for those its
//!   `NO_PROXY` list names. A proxy cannot reach this machine's loopback
//!   anyway (its own loopback is another host), and the emulator, local
//!   relays and tests keep working whatever a developer's shell exports.
//!   Go's `net/http` has the same rule; curl has not.
//! - **An explicit proxy** ([`Proxy::new`], given to
//!   [`ClientBuilder::proxy`](crate::ClientBuilder::proxy)) is used for
//!   every TLS destination, loopback included, except those its own
//!   [`Proxy::no_proxy`] list names.
//!
//! # The environment
//!
//! The first of `HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`, `all_proxy` that
//! is set and not empty names the proxy; the first of `NO_PROXY`, `no_proxy`
//! that is set and not empty lists the exemptions. `HTTP_PROXY` is not read:
//! it is for plain-text destinations, which never use a proxy here (and a
//! CGI program can have it set from a request header). A variable that
//! names something unusable (not a URL, a `socks5://` or `https://` proxy)
//! fails every connection that would have used it with an
//! [`Error::Config`] naming the variable, never quoting its value (it may
//! hold a password): better than silently connecting directly in a network
//! that only lets the proxy out. Connections that would not have used it
//! (loopback, plain text, `NO_PROXY`) are not affected, and
//! [`ClientBuilder::no_proxy`](crate::ClientBuilder::no_proxy) ignores it.
//!
//! # NO_PROXY
//!
//! A list of entries separated by commas (or spaces), matched without
//! regard to case against the host as written in the URL, never against the
//! addresses it resolves to (no DNS lookup decides):
//!
//! - `*` alone: every destination connects directly.
//! - `example.com`, `.example.com`, `*.example.com`: `example.com` itself and
//!   every name under it (`api.example.com`), not `badexample.com` (curl's
//!   rule; Go's does not match `example.com` itself for `.example.com`).
//! - `10.1.2.3`, `::1`, `[::1]`: that IP address, when the URL's host is an
//!   IP address.
//! - `10.0.0.0/8`, `fd00::/8`: every IP address in that network (CIDR).
//! - `host:port`, `10.1.2.3:8443`, `[::1]:8443`: that host or address on that
//!   port only. Without a port an entry matches every port.
//!
//! Empty entries and entries that are neither (a CIDR with a bad prefix)
//! match nothing. A trailing dot on a name is ignored.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::endpoint::is_loopback;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The variables that may name the proxy, in the order they are read.
const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// The variables that may list the exemptions, in the order they are read.
const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// An HTTP proxy that tunnels connections with `CONNECT`, with optional
/// Basic credentials and a list of destinations that bypass it.
///
/// See the [module docs](self) for which connections use it and for the
/// `NO_PROXY` rules. `Debug` and `Display` show the proxy's host and port,
/// never its credentials.
///
/// ```
/// let proxy = zoom_ws::Proxy::new("http://alice:s3cr%40t@proxy.bank.example:3128")?
///     .no_proxy(".intranet.example, 10.0.0.0/8");
/// assert_eq!(proxy.to_string(), "http://proxy.bank.example:3128");
/// assert!(!format!("{proxy:?}").contains("s3cr"));
/// assert!(proxy.bypasses("wiki.intranet.example", 443));
/// assert!(!proxy.bypasses("ws.zoom.us", 443));
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    /// Host name or IP address, without brackets.
    host: String,
    port: u16,
    credentials: Option<Credentials>,
    /// The destinations that connect directly.
    bypass: Bypass,
}

/// Which destinations connect directly rather than through a proxy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bypass {
    /// `NO_PROXY` entries.
    exempt: Vec<Rule>,
    /// Loopback hosts too (a proxy from the environment).
    loopback: bool,
}

impl Bypass {
    /// The environment's: its `NO_PROXY` list, and loopback.
    fn from_env(lookup: &impl Fn(&str) -> Option<String>) -> Bypass {
        let list = NO_PROXY_VARS
            .iter()
            .find_map(|name| lookup(name).filter(|v| !v.trim().is_empty()))
            .unwrap_or_default();
        Bypass {
            exempt: rules(&list),
            loopback: true,
        }
    }

    fn everything(&self) -> bool {
        self.exempt.contains(&Rule::All)
    }

    /// `host` may be an IPv6 address with or without brackets.
    fn matches(&self, host: &str, port: u16) -> bool {
        let host = unbracket(host);
        (self.loopback && is_loopback(host.trim_end_matches('.')))
            || self.exempt.iter().any(|rule| rule.matches(host, port))
    }
}

/// The entries of a `NO_PROXY` list.
fn rules(list: &str) -> Vec<Rule> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(Rule::parse)
        .collect()
}

/// Basic credentials for the proxy, decoded.
#[derive(Clone)]
struct Credentials {
    user: Secret,
    password: Secret,
}

impl Proxy {
    /// A proxy from its URL: `http://host:port`, or
    /// `http://user:password@host:port` with Basic credentials (percent-encode
    /// `@`, `:`, `/` and `%` in them: `p%40ss` is `p@ss`). Without a scheme,
    /// `http://` is assumed (`proxy:3128`, as curl and Go read it); without a
    /// port, 80. A trailing `/` is allowed, nothing more after the port.
    ///
    /// `https://` (TLS to the proxy itself) and SOCKS proxies are not
    /// supported: [`Error::Config`]. So is anything that is not a host and
    /// port; the message never quotes the URL (it may hold a password).
    pub fn new(url: &str) -> Result<Proxy> {
        parse(url, "the proxy URL")
    }

    /// The proxy the process environment names, with its `NO_PROXY`
    /// exemptions: `Ok(None)` when no proxy variable is set, or `NO_PROXY`
    /// is `*`. See the [module docs](self) for the variables and the rules.
    pub fn from_env() -> Result<Option<Proxy>> {
        Self::from_env_with(env_var)
    }

    /// [`Proxy::from_env`] with the variables read through `lookup` (a name
    /// in, its value out) instead of the process environment: for tests,
    /// or settings that come from elsewhere.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let env = HashMap::from([
    ///     ("https_proxy", "http://proxy.bank.example:3128"),
    ///     ("NO_PROXY", ".bank.example,10.0.0.0/8"),
    /// ]);
    /// let proxy = zoom_ws::Proxy::from_env_with(|name| env.get(name).map(|v| v.to_string()))?
    ///     .expect("https_proxy is set");
    /// assert_eq!(proxy.port(), 3128);
    /// assert!(proxy.bypasses("10.1.2.3", 443));
    /// assert!(proxy.bypasses("localhost", 9000)); // loopback: never an environment proxy
    /// # Ok::<_, zoom_ws::Error>(())
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>> {
        let bypass = Bypass::from_env(&lookup);
        let Some((name, url)) = PROXY_VARS.iter().find_map(|name| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*name, v))
        }) else {
            return Ok(None);
        };
        if bypass.everything() {
            return Ok(None);
        }
        let mut proxy = parse(&url, name)?;
        proxy.bypass = bypass;
        Ok(Some(proxy))
    }

    /// Adds exemptions: destinations that connect directly, in `NO_PROXY`'s
    /// syntax (`".intranet.example, 10.0.0.0/8, localhost"`; see the
    /// [module docs](self)).
    pub fn no_proxy(mut self, list: &str) -> Proxy {
        self.bypass.exempt.extend(rules(list));
        self
    }

    /// The proxy's host name or IP address (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True if the URL carried credentials for the proxy.
    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// True if a connection to `host:port` bypasses this proxy: its
    /// exemption list names it, or it came from the environment and `host`
    /// is a loopback host. (Plain-text destinations bypass every proxy
    /// whatever this says: see the [module docs](self).) `host` may be an
    /// IPv6 address with or without brackets.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        self.bypass.matches(host, port)
    }

    /// `host:port`, brackets around an IPv6 address: the proxy's authority,
    /// for errors and the connection.
    pub(crate) fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The decoded user and password, for the `Proxy-Authorization`
    /// header. Every call site sends them to the proxy and nowhere else.
    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|c| (c.user.expose(), c.password.expose()))
    }

    /// `Basic base64(user:password)`, if there are credentials. Secret: for
    /// the `Proxy-Authorization` header only.
    pub(crate) fn basic_auth(&self) -> Option<Secret> {
        self.credentials()
            .map(|(user, password)| Secret::new(crate::http::basic_auth(user, password)))
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &format_args!("http://{}", self.authority()))
            .field("credentials", &self.credentials.is_some())
            .field("no_proxy", &self.bypass.exempt)
            .field("from_env", &self.bypass.loopback)
            .finish()
    }
}

/// A variable of the process environment (lossy UTF-8).
fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// `host:port`, brackets around an IPv6 address.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Parses a proxy URL. `what` names the setting in errors ("HTTPS_PROXY",
/// "the proxy URL"); the value itself is never quoted.
fn parse(url: &str, what: &str) -> Result<Proxy> {
    let bad = |why: &str| Error::Config(format!("{what} is not a usable proxy URL: {why}"));
    let url = url.trim();
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad("control characters and spaces are not allowed"));
    }
    let rest = match url.split_once("://") {
        None => url,
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => rest,
            "https" => {
                return Err(bad(
                    "https:// proxies (TLS to the proxy itself) are not supported; use http://host:port (what goes through the tunnel is TLS all the same)",
                ))
            }
            "socks" | "socks4" | "socks4a" | "socks5" | "socks5h" => {
                return Err(bad(
                    "SOCKS proxies are not supported; use an HTTP CONNECT proxy (http://host:port)",
                ))
            }
            _ => return Err(bad("the scheme must be http://")),
        },
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if !tail.is_empty() && tail != "/" {
        return Err(bad(
            "nothing may follow host:port (percent-encode '/', '?' and '#' in a password)",
        ));
    }
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let credentials = match userinfo {
        None => None,
        Some(info) => {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            let decode = |s: &str| {
                String::from_utf8(crate::text::percent_decode(s))
                    .map_err(|_| bad("the user or password is not UTF-8 once percent-decoded"))
            };
            let (user, password) = (decode(user)?, decode(password)?);
            (!user.is_empty() || !password.is_empty()).then(|| Credentials {
                user: Secret::new(user),
                password: Secret::new(password),
            })
        }
    };
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in the host"))?;
        if h.parse::<Ipv6Addr>().is_err() {
            return Err(bad("the host in [ ] is not an IPv6 address"));
        }
        match after {
            "" => (h, None),
            _ => (
                h,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected :port after ]"))?,
                ),
            ),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let name_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !host.contains(':') && !name_ok {
        return Err(bad(
            "the host is not a host name or IP address (percent-encode '@' and ':' in a password)",
        ));
    }
    let port = match port {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(bad("the port is not a number from 1 to 65535")),
        },
    };
    Ok(Proxy {
        host: host.to_owned(),
        port,
        credentials,
        bypass: Bypass::default(),
    })
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// `*`: everything.
    All,
    /// A name and every name under it; lower case, without leading `*.`
    /// or `.` and trailing `.`.
    Domain { name: String, port: Option<u16> },
    /// One IP address.
    Ip { ip: IpAddr, port: Option<u16> },
    /// A network: `prefix` leading bits of `net`.
    Net { net: IpAddr, prefix: u8 },
}

impl Rule {
    fn parse(entry: &str) -> Option<Rule> {
        let e = entry.trim();
        if e.is_empty() {
            return None;
        }
        if e == "*" {
            return Some(Rule::All);
        }
        if let Some((addr, bits)) = e.split_once('/') {
            let net = unbracket(addr).parse::<IpAddr>().ok()?;
            let prefix = bits.parse::<u8>().ok()?;
            let max = if net.is_ipv4() { 32 } else { 128 };
            return (prefix <= max).then_some(Rule::Net { net, prefix });
        }
        if let Ok(ip) = e.parse::<IpAddr>() {
            return Some(Rule::Ip { ip, port: None });
        }
        if let Some(v6) = e.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let ip = h.parse::<IpAddr>().ok()?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?.parse::<u16>().ok()?),
            };
            return Some(Rule::Ip { ip, port });
        }
        let (host, port) = match e.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
            None => (e, None),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Rule::Ip { ip, port });
        }
        let name = host.strip_prefix('*').unwrap_or(host);
        let name = name.strip_prefix('.').unwrap_or(name).trim_end_matches('.');
        if name.is_empty() {
            return None;
        }
        Some(Rule::Domain {
            name: name.to_ascii_lowercase(),
            port,
        })
    }

    /// `host` without brackets.
    fn matches(&self, host: &str, port: u16) -> bool {
        let ip = host.parse::<IpAddr>().ok();
        match self {
            Rule::All => true,
            Rule::Domain { name, port: p } => {
                // Bytes, not str slices: a host may hold multi-byte characters.
                let (h, n) = (host.trim_end_matches('.').as_bytes(), name.as_bytes());
                ip.is_none()
                    && p.is_none_or(|p| p == port)
                    && h.len() >= n.len()
                    && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
                    && (h.len() == n.len() || h[h.len() - n.len() - 1] == b'.')
            }
            Rule::Ip { ip: a, port: p } => ip == Some(*a) && p.is_none_or(|p| p == port),
            Rule::Net { net, prefix } => ip.is_some_and(|ip| in_network(ip, *net, *prefix)),
        }
    }
}

/// True if `ip` lies in the network of `prefix` leading bits of `net`.
fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// How a client, a token refresher or a REST client picks its proxy.
#[derive(Debug, Clone, Default)]
pub(crate) enum ProxyConfig {
    /// The environment ([`Proxy::from_env`]), read once by [`ProxyConfig::resolve`].
    #[default]
    Env,
    /// No proxy, whatever the environment says.
    Off,
    /// This proxy.
    Use(Proxy),
    /// The environment named a proxy that cannot be used: every connection
    /// that would have used it fails with this [`Error::Config`] text; the
    /// others (plain text, loopback, `NO_PROXY`) connect directly.
    Invalid { why: String, bypass: Bypass },
}

impl ProxyConfig {
    /// Reads the environment if this is [`ProxyConfig::Env`]; anything else
    /// is returned as it is. Done once, where a client's settings are
    /// built, so that every connection follows the same setting.
    pub(crate) fn resolve(&self) -> ProxyConfig {
        match self {
            ProxyConfig::Env => match Proxy::from_env_with(env_var) {
                Ok(Some(proxy)) => ProxyConfig::Use(proxy),
                Ok(None) => ProxyConfig::Off,
                Err(e) => ProxyConfig::Invalid {
                    why: crate::http::config_text(e),
                    bypass: Bypass::from_env(&env_var),
                },
            },
            other => other.clone(),
        }
    }

    /// `proxy`, which turned out unusable (`why`), with its exemptions.
    pub(crate) fn unusable(proxy: &Proxy, why: &str) -> ProxyConfig {
        ProxyConfig::Invalid {
            why: format!("the proxy {proxy} cannot be used: {why}"),
            bypass: proxy.bypass.clone(),
        }
    }

    /// The proxy in use, if one is.
    pub(crate) fn proxy(&self) -> Option<&Proxy> {
        match self {
            ProxyConfig::Use(proxy) => Some(proxy),
            _ => None,
        }
    }

    /// The proxy a connection to `host:port` goes through (`secure`: TLS),
    /// `None` for a direct connection, or the [`Error::Config`] of an
    /// unusable environment setting.
    pub(crate) fn route(&self, secure: bool, host: &str, port: u16) -> Result<Option<Proxy>> {
        match self {
            ProxyConfig::Env => self.resolve().route(secure, host, port),
            ProxyConfig::Off => Ok(None),
            ProxyConfig::Invalid { why, bypass } => {
                if secure && !bypass.matches(host, port) {
                    Err(Error::Config(why.clone()))
                } else {
                    Ok(None)
                }
            }
            ProxyConfig::Use(proxy) => {
                Ok((secure && !proxy.bypasses(host, port)).then(|| proxy.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<Proxy>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxy::from_env_with(|name| map.get(name).cloned())
    }

    #[test]
    fn parses_urls() {
        let p = Proxy::new("http://proxy.example:3128").unwrap();
        assert_eq!(
            (p.host(), p.port(), p.has_credentials()),
            ("proxy.example", 3128, false)
        );
        let p = Proxy::new("HTTP://Proxy.Example:3128/").unwrap();
        assert_eq!(p.port(), 3128);
        let p = Proxy::new("proxy.example:8080").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.example", 8080));
        assert_eq!(Proxy::new("http://10.0.0.1").unwrap().port(), 80);
        let p = Proxy::new("http://[::1]:3128").unwrap();
        assert_eq!((p.host(), p.port()), ("::1", 3128));
        assert_eq!(p.to_string(), "http://[::1]:3128");
        assert_eq!(p.authority(), "[::1]:3128");
        let p = Proxy::new("http://u%40corp:p%40ss%3Aw%2Fd%25@10.0.0.1:3128").unwrap();
        assert_eq!(p.credentials(), Some(("u@corp", "p@ss:w/d%")));
        // An unencoded '@' in the password: the last '@' ends the user information.
        let p = Proxy::new("http://user:p@ss@proxy:3128").unwrap();
        assert_eq!(p.credentials(), Some(("user", "p@ss")));
        assert_eq!(p.host(), "proxy");
        let p = Proxy::new("http://user@proxy:3128").unwrap();
        assert_eq!(p.credentials(), Some(("user", "")));
        assert!(!Proxy::new("http://@proxy:3128").unwrap().has_credentials());
        assert_eq!(
            Proxy::new("http://a:b@proxy:1")
                .unwrap()
                .basic_auth()
                .unwrap()
                .expose(),
            "Basic YTpi"
        );
    }

    #[test]
    fn refuses_what_it_cannot_use_without_quoting_it() {
        for url in [
            "https://user:hunter22@proxy:3128",
            "socks5://user:hunter22@proxy:1080",
            "ftp://user:hunter22@proxy:21",
            "http://uname-x:hunter22@proxy:3128/path",
            "http://user:hunt/er22@proxy:3128",
            "http://user:hunter22@proxy:0",
            "http://user:hunter22@proxy:99999",
            "http://user:hunter22@proxy:http",
            "http://user:hunter22@",
            "http://user:hunter22@[::1",
            "http://user:hunter22@[zz]:3128",
            "http://user:hunter22@pro xy:3128",
            "http://user:hunter22@proxy:3128\r\nX: y",
            "http://user:hunter22@pr\u{f6}xy:3128",
            "http://user:hunter22%ff@proxy:3128",
            "",
        ] {
            match Proxy::new(url) {
                Err(Error::Config(why)) => {
                    assert!(!why.contains("hunter"), "{url:?}: {why}");
                    assert!(!why.contains("uname-x"), "{url:?}: {why}");
                    assert!(
                        why.starts_with("the proxy URL is not a usable proxy URL"),
                        "{why}"
                    );
                }
                other => panic!("{url:?}: {other:?}"),
            }
        }
        let e = Proxy::new("https://proxy:3128").unwrap_err().to_string();
        assert!(e.contains("https:// proxies"), "{e}");
        let e = Proxy::new("socks5://proxy:1080").unwrap_err().to_string();
        assert!(e.contains("SOCKS"), "{e}");
    }

    #[test]
    fn credentials_never_show() {
        let p = Proxy::new("http://proxy-user-x:proxy-pass-y@proxy:3128")
            .unwrap()
            .no_proxy("example.com");
        let shown = format!(
            "{p} {p:?} {:?} {:?}",
            ProxyConfig::Use(p.clone()),
            Some(p.clone())
        );
        assert!(!shown.contains("proxy-user-x"), "{shown}");
        assert!(!shown.contains("proxy-pass-y"), "{shown}");
        assert!(shown.contains("proxy:3128"), "{shown}");
        assert!(shown.contains("credentials: true"), "{shown}");
        let b64 = p.basic_auth().unwrap();
        assert!(!format!("{b64:?} {b64}").contains("Basic"));
    }

    #[test]
    fn environment_order_and_empty_values() {
        assert!(env(&[]).unwrap().is_none());
        assert!(env(&[("HTTPS_PROXY", "  "), ("http_proxy", "http://h:1")])
            .unwrap()
            .is_none());
        let pick = |pairs: &[(&str, &str)]| env(pairs).unwrap().unwrap().host().to_owned();
        assert_eq!(
            pick(&[
                ("HTTPS_PROXY", "http://a:1"),
                ("https_proxy", "http://b:1"),
                ("ALL_PROXY", "http://c:1"),
                ("all_proxy", "http://d:1"),
            ]),
            "a"
        );
        assert_eq!(
            pick(&[("HTTPS_PROXY", ""), ("https_proxy", "http://b:1")]),
            "b"
        );
        assert_eq!(
            pick(&[("ALL_PROXY", "http://c:1"), ("all_proxy", "http://d:1")]),
            "c"
        );
        assert_eq!(pick(&[("all_proxy", "d:1")]), "d");
        // NO_PROXY before no_proxy; `*` turns the proxy off.
        let p = env(&[
            ("HTTPS_PROXY", "http://a:1"),
            ("NO_PROXY", "x.example"),
            ("no_proxy", "y.example"),
        ])
        .unwrap()
        .unwrap();
        assert!(p.bypasses("x.example", 443) && !p.bypasses("y.example", 443));
        let p = env(&[("HTTPS_PROXY", "http://a:1"), ("no_proxy", "y.example")])
            .unwrap()
            .unwrap();
        assert!(p.bypasses("y.example", 443));
        assert!(env(&[("HTTPS_PROXY", "http://a:1"), ("NO_PROXY", " * ")])
            .unwrap()
            .is_none());
        assert!(
            env(&[("HTTPS_PROXY", "http://a:1"), ("NO_PROXY", "a.example,*")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn environment_errors_name_the_variable_not_the_value() {
        let e = env(&[("https_proxy", "socks5://u:hunter22@h:1080")]).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("https_proxy is not a usable proxy URL"),
            "{shown}"
        );
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(matches!(e, Error::Config(_)));
        // ALL_PROXY is read after HTTPS_PROXY: a good HTTPS_PROXY wins over a SOCKS ALL_PROXY.
        assert!(env(&[("HTTPS_PROXY", "http://a:1"), ("ALL_PROXY", "socks5://b:1")]).is_ok());
    }

    #[test]
    fn loopback_skips_environment_proxies_only() {
        let from_env = env(&[("HTTPS_PROXY", "http://a:1")]).unwrap().unwrap();
        let explicit = Proxy::new("http://a:1").unwrap();
        for host in [
            "localhost",
            "LocalHost.",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
        ] {
            assert!(from_env.bypasses(host, 443), "{host}");
            assert!(!explicit.bypasses(host, 443), "{host}");
        }
        assert!(!from_env.bypasses("10.0.0.1", 443));
        assert!(!from_env.bypasses("localhost.example", 443));
        assert!(explicit
            .clone()
            .no_proxy("localhost")
            .bypasses("localhost", 1));
    }

    #[test]
    fn no_proxy_rules() {
        let p = Proxy::new("http://a:1").unwrap().no_proxy(
            "example.com, .corp.example,*.intranet.example  internal:8443 ,,10.1.2.3, \
             192.168.0.0/16 fd00::/8 [::2]:443 ::3 10.9.9.9:80 bad/99 10.0.0.0/33 zoom.us.",
        );
        let yes = [
            ("example.com", 443),
            ("EXAMPLE.com", 443),
            ("example.com.", 443),
            ("api.example.com", 443),
            ("a.b.example.com", 1),
            ("corp.example", 443),
            ("x.corp.example", 443),
            ("intranet.example", 443),
            ("x.intranet.example", 443),
            ("internal", 8443),
            ("svc.internal", 8443),
            ("10.1.2.3", 443),
            ("192.168.7.7", 443),
            ("fd12::1", 443),
            ("[fd12::1]", 443),
            ("::2", 443),
            ("::3", 9),
            ("10.9.9.9", 80),
            ("zoom.us", 443),
            ("ws.zoom.us", 443),
        ];
        for (host, port) in yes {
            assert!(p.bypasses(host, port), "{host}:{port} should bypass");
        }
        let no = [
            ("badexample.com", 443),
            ("example.com.evil", 443),
            ("xcorp.example", 443),
            ("internal", 443),
            ("10.1.2.4", 443),
            ("192.169.0.1", 443),
            ("fe80::1", 443),
            ("::2", 8443),
            ("10.9.9.9", 443),
            ("10.0.0.1", 443),
            ("zoom.us.example", 443),
            ("com", 443),
        ];
        for (host, port) in no {
            assert!(
                !p.bypasses(host, port),
                "{host}:{port} should use the proxy"
            );
        }
        // A domain entry never matches an IP address, nor the other way round.
        let p = Proxy::new("http://a:1").unwrap().no_proxy("3.4,2.3.4/32");
        assert!(!p.bypasses("1.2.3.4", 443));
        assert!(!p.bypasses("2.3.4.0", 443));
        // Multi-byte characters next to a suffix never split a character.
        let p = Proxy::new("http://a:1")
            .unwrap()
            .no_proxy("xample.com,é.com");
        assert!(!p.bypasses("é.example.com", 443));
        assert!(p.bypasses("a.é.com", 443));
        let all = Proxy::new("http://a:1").unwrap().no_proxy("*");
        assert!(all.bypasses("ws.zoom.us", 443));
        let wide = Proxy::new("http://a:1").unwrap().no_proxy("0.0.0.0/0");
        assert!(wide.bypasses("8.8.8.8", 443) && !wide.bypasses("::8", 443));
    }

    #[test]
    fn routes() {
        let p = Proxy::new("http://a:1").unwrap().no_proxy("skip.example");
        let use_it = ProxyConfig::Use(p);
        assert!(use_it.route(true, "ws.zoom.us", 443).unwrap().is_some());
        assert!(use_it.route(true, "127.0.0.1", 9).unwrap().is_some());
        assert!(
            use_it.route(false, "127.0.0.1", 9).unwrap().is_none(),
            "plain text never"
        );
        assert!(use_it.route(true, "skip.example", 443).unwrap().is_none());
        assert!(ProxyConfig::Off
            .route(true, "ws.zoom.us", 443)
            .unwrap()
            .is_none());
        // An unusable environment proxy fails only what would have used it.
        let lookup = |name: &str| match name {
            "ALL_PROXY" => Some("socks5://h:1080".to_owned()),
            "no_proxy" => Some(".corp.example".to_owned()),
            _ => None,
        };
        let invalid = ProxyConfig::Invalid {
            why: Proxy::from_env_with(lookup).unwrap_err().to_string(),
            bypass: Bypass::from_env(&lookup),
        };
        let e = invalid.route(true, "ws.zoom.us", 443).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(e.to_string().contains("ALL_PROXY"), "{e}");
        assert!(invalid.route(true, "127.0.0.1", 9).unwrap().is_none());
        assert!(invalid
            .route(true, "x.corp.example", 443)
            .unwrap()
            .is_none());
        assert!(invalid.route(false, "localhost", 80).unwrap().is_none());
        // NO_PROXY=* turns even an unusable proxy off.
        let all = |name: &str| match name {
            "HTTPS_PROXY" => Some("socks5://h:1080".to_owned()),
            "NO_PROXY" => Some("*".to_owned()),
            _ => None,
        };
        assert!(Proxy::from_env_with(all).unwrap().is_none());
        assert_eq!(use_it.resolve().proxy().map(Proxy::port), Some(1));
    }
}
