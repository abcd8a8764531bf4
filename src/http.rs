//! The crate's one way to make HTTP requests (token endpoint, REST API):
//! a ureq agent wired to our own rustls configuration, plus the helpers every
//! caller needs (error mapping, a size-capped body read, `Retry-After`).
//!
//! # The agent
//!
//! [`agent`] builds a ureq 3 agent whose TLS is **our** [`TlsConfig`]: a
//! connector chained after ureq's `TcpConnector` wraps the socket in rustls
//! with the `Arc<ClientConfig>` the WebSocket also uses, so extra roots from
//! `TlsConfig::with_extra_roots_pem` *add* to the webpki defaults, and the
//! ring provider is used explicitly (ureq's own `RustlsConnector` would fall
//! back on the process-wide provider and can only replace the root bundle).
//!
//! Settings, and why:
//! - `timeout_connect` and `timeout_global` from [`HttpTimeouts`] (ureq has
//!   no timeouts by default).
//! - `http_status_as_error(false)`: 4xx/5xx come back as responses, so that
//!   Zoom's error JSON can be read and classified.
//! - The proxy of [`ProxyConfig`] (see [`crate::proxy`]: the environment
//!   by default, read once when the agent is built), through ureq's own
//!   `ConnectProxyConnector`; [`ProxyRoute`] decides per connection which
//!   destinations use it (ureq's own `NO_PROXY` matching is narrower than
//!   ours and never skips loopback), so ureq gets the proxy without
//!   exemptions and never reads the environment itself.
//! - No redirects: Zoom's token endpoint and REST API do not redirect, and a
//!   request carrying credentials should not follow one. A 3xx comes back as
//!   a response and is reported as an unexpected status.
//! - ureq's resolver, followed by [`Endpoint::check_resolved`] for plain
//!   `http://` URLs (loopback hosts only): `localhost` must resolve to
//!   loopback addresses only, or the request is refused with
//!   [`Error::Config`] before it connects.
//!
//! # Logging
//!
//! ureq's DEBUG log shows method, URL without query, and an allow-list of
//! headers (never `Authorization`). Its TRACE level, and that of
//! `ureq_proto`, hex-dumps the raw wire bytes, which include the
//! `Authorization` header and response bodies with access tokens: keep the
//! targets `ureq` and `ureq_proto` below TRACE in production. The crate
//! cannot change its dependencies' logging; the rule its examples' logger
//! (`examples/support/stderr_log.rs`) follows, and yours should: the targets
//! `ureq`, `ureq_proto`, `tungstenite` and `rustls` stay at DEBUG or below
//! unless the filter names that target itself, so `RUST_LOG=trace` never
//! dumps a credential (with `env_logger`, add `ureq=debug,ureq_proto=debug,tungstenite=debug`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::config::Config;
use ureq::http::uri::Scheme;
use ureq::http::Uri;
use ureq::http::{HeaderMap, Response};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::{Duration as UDuration, Instant as UInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};
use ureq::{Agent, Body, ProxyProtocol};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::proxy::{Proxy, ProxyConfig};
use crate::tls::TlsConfig;

/// Timeouts of every HTTP request the crate makes (token endpoint, REST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpTimeouts {
    /// TCP + TLS connect. Default 10 s.
    pub connect: Duration,
    /// The whole request, from connect to the last byte of the body. Default 30 s.
    pub overall: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(10),
            overall: Duration::from_secs(30),
        }
    }
}

impl HttpTimeouts {
    /// Timeouts with these bounds.
    pub fn new(connect: Duration, overall: Duration) -> Self {
        HttpTimeouts { connect, overall }
    }
}

/// Default cap on a response body read with [`read_body`]: 1 MiB. Token and
/// error answers are a few hundred bytes; REST answers are paged.
pub(crate) const MAX_BODY: u64 = 1 << 20;

/// The longest `Retry-After` [`retry_after`] reports: one hour. A server
/// asking for more gets an hour: long enough to respect any real rate
/// limit, short enough that a typo or a hostile server cannot park a client
/// for days.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Builds the ureq agent for every HTTP request of the crate: our rustls
/// configuration, the given timeouts, no status-as-error, the proxy of
/// `proxy` (resolved here if it is the environment), no redirects. See the
/// module docs.
///
/// The connector chain: [`ProxyRoute`] (a tunnel through the proxy with
/// ureq's `ConnectProxyConnector`, or a direct TCP connection), then
/// `TcpConnector` (which only passes on what the route made), then
/// [`RustlsOwnConfig`], so TLS to the destination, ours, runs inside the
/// tunnel. ureq opens the connection to the proxy itself by running this
/// same chain for the proxy's `http://` URI without a proxy.
pub(crate) fn agent(tls: &TlsConfig, timeouts: &HttpTimeouts, proxy: &ProxyConfig) -> Agent {
    let mut route = proxy.resolve();
    let ureq_proxy = match route.proxy().map(to_ureq) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            if let Some(p) = route.proxy() {
                route = ProxyConfig::unusable(p, "ureq refused its host or credentials");
            }
            None
        }
    };
    let proxy_authority = ureq_proxy
        .as_ref()
        .and_then(|p| p.uri().authority())
        .map(|a| a.as_str().to_owned());
    let config = Agent::config_builder()
        .timeout_connect(Some(timeouts.connect))
        .timeout_global(Some(timeouts.overall))
        .http_status_as_error(false)
        .proxy(ureq_proxy)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("zoom-ws/", env!("CARGO_PKG_VERSION")))
        .build();
    let resolver = LoopbackChecked {
        resolver: DefaultResolver::default(),
        proxy_authority,
        route: route.clone(),
    };
    let connector = ()
        .chain(ProxyRoute {
            config: route,
            tunnel: ConnectProxyConnector::default(),
        })
        .chain(TcpConnector::default())
        .chain(RustlsOwnConfig {
            config: tls.rustls_config(),
        });

    Agent::with_parts(config, connector, resolver)
}

/// Our proxy as ureq's: the same host, port and credentials, no
/// exemptions (those are [`ProxyRoute`]'s).
fn to_ureq(proxy: &Proxy) -> Result<ureq::Proxy, ureq::Error> {
    let host = if proxy.host().contains(':') {
        format!("[{}]", proxy.host())
    } else {
        proxy.host().to_owned()
    };
    let mut builder = ureq::Proxy::builder(ProxyProtocol::Http)
        .host(&host)
        .port(proxy.port());
    if let Some((user, password)) = proxy.credentials() {
        builder = builder.username(user).password(password);
    }
    builder.build()
}

/// ureq's default resolver, then [`Endpoint::check_resolved`] for plain
/// `http` URLs. The proxy's own `http://` URI is exempt: it is not a
/// destination, and what crosses it to a TLS destination is TLS.
#[derive(Debug)]
struct LoopbackChecked {
    resolver: DefaultResolver,
    /// The authority of the proxy's URI (credentials included), if any.
    proxy_authority: Option<String>,
    /// The proxy setting: an unusable one fails the requests that would
    /// have used it, before any lookup.
    route: ProxyConfig,
}

impl Resolver for LoopbackChecked {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let secure = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        if let Err(e) = self.route.route(secure, host, port) {
            return Err(refused(config_text(e)));
        }
        let addrs = self.resolver.resolve(uri, config, timeout)?;
        let is_proxy = self.proxy_authority.is_some()
            && uri.authority().map(|a| a.as_str()) == self.proxy_authority.as_deref();
        if !is_proxy {
            check_resolved(uri, &addrs)?;
        }
        Ok(addrs)
    }
}

/// First in the connector chain: decides per connection whether it goes
/// through the proxy ([`ProxyConfig::route`]). Through it, ureq's
/// `ConnectProxyConnector` opens the tunnel; directly, this connects TCP
/// itself, because ureq leaves the destination unresolved whenever the
/// agent has a proxy.
struct ProxyRoute {
    config: ProxyConfig,
    tunnel: ConnectProxyConnector,
}

impl std::fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Connector<()> for ProxyRoute {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if details.config.proxy().is_none() {
            // No proxy, or ureq connecting to the proxy itself: TcpConnector's job.
            return Ok(None);
        }
        let uri = details.uri;
        let secure = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        match self.config.route(secure, host, port) {
            Err(e) => Err(refused(config_text(e))),
            Ok(Some(proxy)) => {
                log::debug!("zoom-ws: connecting to {host}:{port} through the proxy {proxy}");
                match Connector::<()>::connect(&self.tunnel, details, None) {
                    Ok(tunnel) => Ok(tunnel.map(|t| match t {
                        Either::A(unit) => unit.boxed(),
                        Either::B(tunnel) => tunnel,
                    })),
                    Err(e) => Err(through(e, &proxy)),
                }
            }
            Ok(None) => {
                let addrs =
                    details
                        .resolver
                        .resolve(details.uri, details.config, details.timeout)?;
                let direct = ConnectionDetails {
                    uri: details.uri,
                    addrs,
                    config: details.config,
                    request_level: details.request_level,
                    resolver: details.resolver,
                    now: details.now,
                    timeout: details.timeout,
                    current_time: details.current_time.clone(),
                    run_connector: details.run_connector.clone(),
                    register_shutdown: details.register_shutdown.clone(),
                };
                Ok(TcpConnector::default()
                    .connect(&direct, None::<()>)?
                    .map(Transport::boxed))
            }
        }
    }
}

/// The text of an [`Error::Config`] (any other error's `Display`), for a
/// [`Refused`] or a [`ProxyConfig::Invalid`].
pub(crate) fn config_text(e: Error) -> String {
    match e {
        Error::Config(why) => why,
        other => other.to_string(),
    }
}

/// A [`Refused`] connection, as the I/O error ureq carries to [`map_error`].
fn refused(why: String) -> ureq::Error {
    ureq::Error::Io(io::Error::new(
        io::ErrorKind::PermissionDenied,
        Refused(why),
    ))
}

/// Names the proxy in a failure to open a tunnel through it. A refusal
/// (`proxy server responded 407/...`) becomes a [`ProxyRefused`], which
/// [`map_error`] turns into [`Error::Proxy`].
fn through(e: ureq::Error, proxy: &Proxy) -> ureq::Error {
    let wrap = |kind: io::ErrorKind, why: String| ureq::Error::Io(io::Error::new(kind, why));
    match e {
        ureq::Error::ConnectProxyFailed(reason) => {
            let status = reason
                .strip_prefix("proxy server responded ")
                .and_then(|s| s.get(..3))
                .and_then(|s| s.parse::<u16>().ok());
            match status {
                Some(status) => ureq::Error::Io(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    ProxyRefused {
                        proxy: proxy.authority(),
                        status,
                    },
                )),
                None => wrap(
                    io::ErrorKind::ConnectionAborted,
                    format!("the proxy {proxy} did not answer CONNECT"),
                ),
            }
        }
        ureq::Error::Io(e) => wrap(e.kind(), format!("through the proxy {proxy}: {e}")),
        ureq::Error::HostNotFound => wrap(
            io::ErrorKind::NotFound,
            format!("the proxy {proxy}: host not found (DNS)"),
        ),
        ureq::Error::ConnectionFailed => wrap(
            io::ErrorKind::ConnectionRefused,
            format!("the proxy {proxy}: connection failed"),
        ),
        ureq::Error::Protocol(_) => wrap(
            io::ErrorKind::InvalidData,
            format!("the proxy {proxy} answered CONNECT with something that is not HTTP/1.1"),
        ),
        other => other,
    }
}

/// A proxy's refusal of `CONNECT`, on its way through ureq.
#[derive(Debug)]
struct ProxyRefused {
    proxy: String,
    status: u16,
}

impl std::fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the proxy {} answered CONNECT with {}",
            self.proxy, self.status
        )
    }
}

impl std::error::Error for ProxyRefused {}

/// [`Endpoint::check_resolved`] for the scheme and host of `uri`. A refusal
/// travels through ureq as an I/O error carrying [`Refused`], which
/// [`map_error`] turns back into [`Error::Config`].
fn check_resolved(uri: &Uri, addrs: &[std::net::SocketAddr]) -> Result<(), ureq::Error> {
    if uri.scheme() == Some(&Scheme::HTTPS) {
        return Ok(());
    }
    let host = uri.authority().map_or("", |a| a.as_str());
    // Scheme and authority only: the path and query are nobody's business.
    let checked = Endpoint::parse(&format!("http://{host}/"), "https", "http", "the URL")
        .and_then(|endpoint| endpoint.check_resolved(addrs));
    checked.map_err(|e| refused(config_text(e)))
}

/// Why [`check_resolved`] refused a connection.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// What a request talks to, for error messages: only a description and the
/// host (never the path, the query string or credentials).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// "the token endpoint", "the Zoom API".
    pub what: &'a str,
    /// `host` or `host:port`.
    pub host: &'a str,
    /// The timeouts in force, named in timeout errors.
    pub timeouts: HttpTimeouts,
}

impl Target<'_> {
    fn context(&self, verb: &str) -> String {
        format!("{verb} {} at {}", self.what, self.host)
    }
}

/// Maps a ureq error to the crate's error, with a context naming the target.
pub(crate) fn map_error(e: ureq::Error, target: &Target<'_>) -> Error {
    let connecting = target.context("connecting to");
    let calling = target.context("calling");
    match e {
        ureq::Error::Timeout(t) => {
            let (ctx, detail) = match t {
                ureq::Timeout::Connect | ureq::Timeout::Resolve => (
                    connecting,
                    format!(
                        "timed out after {:?} (connect timeout)",
                        target.timeouts.connect
                    ),
                ),
                ureq::Timeout::Global | ureq::Timeout::PerCall => (
                    calling,
                    format!(
                        "no complete answer within {:?} (overall timeout)",
                        target.timeouts.overall
                    ),
                ),
                other => (calling, format!("{other} timeout expired")),
            };
            Error::network(ctx, io::Error::new(io::ErrorKind::TimedOut, detail))
        }
        ureq::Error::Rustls(e) => Error::Tls {
            context: connecting,
            source: Box::new(e),
        },
        ureq::Error::Tls(why) => Error::Tls {
            context: connecting,
            source: why.into(),
        },
        ureq::Error::Io(e) if e.get_ref().is_some_and(|i| i.is::<ProxyRefused>()) => {
            match e.get_ref().and_then(|i| i.downcast_ref::<ProxyRefused>()) {
                Some(r) => Error::Proxy {
                    proxy: r.proxy.clone(),
                    status: r.status,
                },
                None => Error::network(connecting, e),
            }
        }
        ureq::Error::Io(e) if e.get_ref().is_some_and(|i| i.is::<Refused>()) => {
            let why = e.get_ref().map(ToString::to_string).unwrap_or_default();
            Error::Config(format!("{} at {}: {why}", target.what, target.host))
        }
        ureq::Error::Io(e) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => Error::Tls {
                context: connecting,
                source: Box::new(tls.clone()),
            },
            None => {
                let ctx = if is_connect_failure(e.kind()) {
                    connecting
                } else {
                    calling
                };
                Error::network(ctx, e)
            }
        },
        ureq::Error::HostNotFound => Error::network(
            connecting,
            io::Error::new(io::ErrorKind::NotFound, "host not found (DNS)"),
        ),
        ureq::Error::ConnectionFailed => Error::network(
            connecting,
            io::Error::new(io::ErrorKind::ConnectionRefused, "connection failed"),
        ),
        ureq::Error::Protocol(e) => Error::invalid(
            target.context("reading the answer of"),
            format!(
                "not valid HTTP/1.1: {}",
                crate::text::summary(e.to_string().as_bytes(), 120, &[])
            ),
        ),
        ureq::Error::LargeResponseHeader(size, max) => Error::invalid(
            target.context("reading the answer of"),
            format!("response header of {size} bytes exceeds {max}"),
        ),
        ureq::Error::BodyExceedsLimit(max) => Error::invalid(
            target.context("reading the answer of"),
            format!("body larger than {max} bytes"),
        ),
        ureq::Error::StatusCode(status) => Error::Http {
            status,
            code: None,
            message: String::new(),
            retry_after: None,
        },
        // Never includes the URL itself: it may carry a query string.
        ureq::Error::BadUri(_) => Error::Config(format!("the URL of {} is not valid", target.what)),
        ureq::Error::Http(e) => {
            Error::Config(format!("building the request to {}: {e}", target.what))
        }
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            Error::invalid(target.context("calling"), "unexpected redirect".to_owned())
        }
        other => Error::network(calling, io::Error::other(other.to_string())),
    }
}

fn is_connect_failure(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NotConnected
    )
}

/// Reads the whole body, refusing more than `limit` bytes (a hostile or
/// broken server cannot make us allocate without bound).
pub(crate) fn read_body(
    response: &mut Response<Body>,
    limit: u64,
    target: &Target<'_>,
) -> Result<Vec<u8>, Error> {
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::Io(io) if !is_connect_failure(io.kind()) => {
                Error::network(target.context("reading the answer of"), io)
            }
            other => map_error(other, target),
        })
}

/// The `Retry-After` of a response, if it is delta-seconds. An HTTP date is
/// treated as absent (no clock to compare it with that we trust more than
/// our own backoff). Capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// Parses a `Retry-After` value: delta-seconds only (`"120"`). Anything
/// else, including an HTTP date, is `None`. Capped at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: a parse failure can only be an overflow.
    let secs = v.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// ureq connector: wraps the chained TCP transport in rustls with our own
/// `ClientConfig` when the URL is `https`. Plain `http` passes through
/// (the endpoints only allow it for loopback hosts).
struct RustlsOwnConfig {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for RustlsOwnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsOwnConfig").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for RustlsOwnConfig {
    type Out = Either<In, RustlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            // Nothing to wrap: TcpConnector comes first, so this means no
            // connection was made. ureq reports it.
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host name in the URL for TLS"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        // The connect budget was set when the TCP connect began: the
        // handshake gets what is left of it.
        sock.set_timeout(remaining(
            details.timeout,
            details.now,
            (details.current_time)(),
        ));
        conn.complete_io(&mut sock).map_err(io_to_ureq)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(RustlsTransport {
            buffers,
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// What is left at `now` of a timeout set at `since`.
fn remaining(mut timeout: NextTimeout, since: UInstant, now: UInstant) -> NextTimeout {
    if let (UDuration::Exact(limit), UInstant::Exact(since), UInstant::Exact(now)) =
        (timeout.after, since, now)
    {
        timeout.after =
            UDuration::Exact(limit.saturating_sub(now.saturating_duration_since(since)));
    }
    timeout
}

/// Keeps a rustls error (bad certificate, handshake) recognisable, instead of
/// an opaque `io::Error`.
fn io_to_ureq(e: io::Error) -> ureq::Error {
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(tls) = inner.downcast::<rustls::Error>() {
                return ureq::Error::Rustls(*tls);
            }
        }
        return ureq::Error::Tls("TLS error");
    }
    ureq::Error::from(e)
}

/// A rustls stream over the chained transport.
struct RustlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for RustlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsTransport")
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}

impl Transport for RustlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        io::Write::write_all(&mut self.stream, output).map_err(io_to_ureq)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = io::Read::read(&mut self.stream, input).map_err(io_to_ureq)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// `Authorization: Basic base64(user:password)`. The result holds the
/// password: never log it.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    )
}

/// `application/x-www-form-urlencoded` body from key-value pairs.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode_into(&mut out, k);
        out.push('=');
        form_encode_into(&mut out, v);
    }
    out
}

fn form_encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_delta_seconds_only() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("1.5"), None);
        assert_eq!(parse_retry_after(""), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[
                ("grant_type", "account_credentials"),
                ("account_id", "a b&c=d/é")
            ]),
            "grant_type=account_credentials&account_id=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[test]
    fn plain_http_must_resolve_to_loopback() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let target = Target {
            what: "the token endpoint",
            host: "localhost:8080",
            timeouts: HttpTimeouts::default(),
        };
        check_resolved(&uri("http://localhost:8080/t"), &[addr("127.0.0.1:8080")]).unwrap();
        check_resolved(&uri("http://[::1]:8080/t"), &[addr("[::1]:8080")]).unwrap();
        check_resolved(&uri("https://zoom.us/t"), &[addr("10.0.0.1:443")]).unwrap();
        for (u, addrs) in [
            (
                "http://localhost:8080/t?q=secret",
                vec![addr("10.1.2.3:8080")],
            ),
            (
                "http://localhost:8080/t",
                vec![addr("127.0.0.1:8080"), addr("[2001:db8::1]:8080")],
            ),
            // Never reached (Endpoint refuses the URL first), refused anyway.
            ("http://zoom.us/t", vec![addr("10.1.2.3:80")]),
        ] {
            let e = map_error(check_resolved(&uri(u), &addrs).unwrap_err(), &target);
            let shown = e.to_string();
            assert!(matches!(e, Error::Config(_)), "{u}: {e:?}");
            assert!(!e.is_transient());
            assert!(!shown.contains("secret"), "{shown}");
            assert!(
                shown.starts_with("invalid configuration: the token endpoint at localhost:8080"),
                "{shown}"
            );
        }
    }

    /// A GET to a loopback server that answers one request with 204, on an
    /// agent with this proxy setting, gets the 204.
    fn assert_gets_204_from_loopback(proxy: &ProxyConfig) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        });
        let agent = agent(&TlsConfig::default(), &HttpTimeouts::default(), proxy);
        let response = agent
            .get(format!("http://127.0.0.1:{port}/x").as_str())
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        server.join().unwrap();
    }

    /// The agent's resolver is the checked one: a real request to a
    /// loopback server goes through.
    #[test]
    fn agent_connects_through_the_checked_resolver() {
        assert_gets_204_from_loopback(&ProxyConfig::Off);
    }

    /// With a proxy configured, a plain-text (loopback) URL still connects
    /// directly: the route's own direct connection, since ureq leaves the
    /// destination unresolved when the agent has a proxy.
    #[test]
    fn plain_text_bypasses_the_proxy() {
        // Nothing listens there: using the proxy would fail.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy::new(&format!("http://{}", closed.local_addr().unwrap())).unwrap();
        drop(closed);
        assert_gets_204_from_loopback(&ProxyConfig::Use(proxy));
    }

    /// A TLS destination goes through the proxy with ureq's CONNECT (the
    /// proxy's own `http://` URI, credentials and all, is exempt from the
    /// plain-text check), and a refusal is an `Error::Proxy` without the
    /// credentials.
    #[test]
    fn tls_destinations_tunnel_and_refusals_are_proxy_errors() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let (head, _) = crate::handshake::read_head(&mut s).unwrap();
            let _ = s.write_all(
                b"HTTP/1.0 407 Proxy Authentication Required\r\nConnection: close\r\n\r\n",
            );
            String::from_utf8(head).unwrap()
        });
        let proxy = Proxy::new(&format!("http://proxy-user:proxy-p%40ss@{addr}")).unwrap();
        let agent = agent(
            &TlsConfig::default(),
            &HttpTimeouts::default(),
            &ProxyConfig::Use(proxy),
        );
        let target = Target {
            what: "the Zoom API",
            host: "api.zoom.invalid",
            timeouts: HttpTimeouts::default(),
        };
        let e = map_error(
            agent
                .get("https://api.zoom.invalid/v2/users/me")
                .call()
                .unwrap_err(),
            &target,
        );
        let head = server.join().unwrap();
        assert!(
            head.starts_with("CONNECT api.zoom.invalid:443 HTTP/1.1\r\n"),
            "{head}"
        );
        // base64("proxy-user:proxy-p@ss")
        assert!(
            head.contains("Proxy-Authorization: Basic cHJveHktdXNlcjpwcm94eS1wQHNz\r\n"),
            "{head}"
        );
        match &e {
            Error::Proxy { proxy, status: 407 } => assert_eq!(proxy, &addr.to_string()),
            other => panic!("{other:?}"),
        }
        let shown = format!("{e} {e:?} {agent:?}");
        assert!(
            !shown.contains("proxy-p") && !shown.contains("cHJveHkt"),
            "{shown}"
        );
    }

    /// An unusable environment setting fails every request with a
    /// configuration error, before anything is sent.
    #[test]
    fn an_invalid_proxy_setting_fails_requests() {
        let agent = agent(
            &TlsConfig::default(),
            &HttpTimeouts::default(),
            &ProxyConfig::unusable(
                &Proxy::new("http://a:1").unwrap(),
                "HTTPS_PROXY is not usable",
            ),
        );
        let target = Target {
            what: "the token endpoint",
            host: "zoom.invalid",
            timeouts: HttpTimeouts::default(),
        };
        let e = map_error(
            agent
                .post("https://zoom.invalid/oauth/token")
                .send("")
                .unwrap_err(),
            &target,
        );
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(e.to_string().contains("HTTPS_PROXY"), "{e}");
    }

    #[test]
    fn basic_auth_header() {
        // RFC 7617's example.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
