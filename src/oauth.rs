//! OAuth access tokens: fetching them from Zoom's token endpoint, and the
//! refresh thread that keeps a valid one at hand.
//!
//! # The request
//!
//! `POST` to the credentials' token URL with
//! `Authorization: Basic base64(client_id:client_secret)` and a form body:
//! `grant_type=account_credentials&account_id=<id>` for Server-to-Server
//! apps, `grant_type=client_credentials` for general apps. Zoom has no
//! refresh tokens: refreshing means asking again, and a new token does not
//! invalidate the old one.
//!
//! # Errors
//!
//! - A 4xx (other than 408 and 429) carrying an OAuth `error` code
//!   (`invalid_client`, `unsupported_grant_type`, `invalid_request`, ...) is
//!   [`Error::Auth`]: fatal, its message says what to check.
//! - 5xx, 429 and 408 are [`Error::Http`], transient; `Retry-After`
//!   (delta-seconds) is kept in [`Error::retry_after`].
//! - Any other status (a 4xx without an `error` code, a 3xx) is
//!   [`Error::Http`] and not transient.
//! - Network failures and timeouts are [`Error::Network`]; TLS failures
//!   (an untrusted certificate, say) are [`Error::Tls`]. Their context names
//!   the endpoint's host only, never the path, query string or credentials.
//! - A success whose body is not a JSON token answer is
//!   [`Error::InvalidResponse`].
//!
//! # The refresh thread
//!
//! [`TokenRefresher::start`] spawns a thread named `zoom-ws-oauth` that
//! fetches a token at once and then keeps one valid; readers get a
//! [`TokenSource`]. Timing rules:
//!
//! - **Ahead of expiry.** A token with lifetime `L` (Zoom's `expires_in`) is
//!   replaced `min(5 min, L / 10)` before it expires, counted from the start
//!   of the request that fetched it: 55 minutes after the fetch for Zoom's
//!   one-hour tokens, 1.8 s for a 2 s token.
//! - **Floor.** Two scheduled token requests that succeed are never started
//!   less than 1 s apart, so a server answering `expires_in: 0` or `1` costs
//!   at most one request a second, never a storm. `expires_in` of 0 or less
//!   counts as 1 s; a missing or unreadable one as Zoom's documented 3600 s;
//!   more than a day counts as a day.
//! - **Transient failures** (network, TLS, 5xx, 429, unreadable answers) are
//!   retried after [`Backoff::delay`] (full jitter, capped), never sooner than
//!   250 ms after the previous request, and not before a `Retry-After` the
//!   server sent, as long as the current token stays valid that long (a
//!   `Retry-After` beyond the token's expiry is cut to it). The previous
//!   token is served as long as it is valid.
//! - **Failures retrying cannot fix** ([`Error::Auth`], such as
//!   `invalid_client` after a secret rotation, or an [`Error::Http`] that is
//!   not transient, such as a proxy's 403 page) are fatal when there is no
//!   valid token: at start-up (so bad credentials fail fast), or once the
//!   current token has expired or was rejected. While a valid token remains,
//!   they are logged at ERROR, kept in [`TokenSource::refresh_error`], and
//!   retried with backoff; the stream goes on. A fatal error ends the
//!   thread: [`TokenSource::fatal_error`] and [`TokenSource::wait`] report it.
//! - **Forced refreshes** ([`TokenSource::force_refresh`], after Zoom
//!   rejected a token) coalesce: while a newer token exists or a request is
//!   under way or scheduled for retry, nothing more is asked; otherwise the
//!   thread fetches at once, without waiting for the 1 s floor: one request
//!   per rejected token.
//! - **Panics** in the thread are caught and become the fatal error
//!   ([`Error::Panicked`]).
//! - **Stop** is prompt: the thread waits on a channel, not in a sleep, and a
//!   request in flight is interrupted ([`ureq::Agent::shutdown`]).
//!
//! # Logging
//!
//! Through `log`, target `zoom_ws::oauth`: DEBUG when a token is fetched
//! (generation, lifetime, next refresh), WARN on a transient failure, ERROR
//! on a fatal one. No level ever shows the client secret or a token.
//!
//! **ureq's TRACE level is not safe**: ureq, and `ureq_proto` in particular,
//! hex-dump the raw bytes of requests and responses at TRACE, and those bytes
//! contain the `Authorization: Basic` header (the client secret) and the
//! token response (the access token). Keep the targets `ureq` and
//! `ureq_proto` at DEBUG or below, for instance with `env_logger`:
//! `RUST_LOG=trace,ureq=debug,ureq_proto=debug`.

use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use serde::Deserialize;
use serde_json::Value;

use crate::backoff::Backoff;
use crate::credentials::{Credentials, Grant};
use crate::error::{Error, Result};
use crate::http::{self, HttpTimeouts, Target};
use crate::proxy::{Proxy, ProxyConfig};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// A token is replaced at most this long before it expires (Zoom's one-hour
/// tokens: 5 minutes early).
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Fewest time between the starts of two successful scheduled token requests.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Fewest time between the start of a failed request and its retry.
const MIN_RETRY_DELAY: Duration = Duration::from_millis(250);
/// Lifetime assumed when `expires_in` is missing or unreadable (Zoom's documented value).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Bounds of the lifetime taken from `expires_in`.
const MIN_LIFETIME: Duration = Duration::from_secs(1);
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How much of a server's error text goes into an error message.
const MAX_REASON_CHARS: usize = 300;

/// An OAuth access token and what came with it. `Debug` redacts the token.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub(crate) token: Secret,
    pub(crate) token_type: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) api_url: Option<String>,
    pub(crate) expires_at: Instant,
    pub(crate) generation: u64,
}

impl AccessToken {
    /// The token itself.
    pub fn secret(&self) -> &Secret {
        &self.token
    }
    /// `token_type` as Zoom sent it (`bearer`).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// `api_url` from the token response, if Zoom sent one.
    pub fn api_url(&self) -> Option<&str> {
        self.api_url.as_deref()
    }
    /// When the token expires.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
    /// Time left before expiry (zero once expired).
    pub fn expires_in(&self) -> Duration {
        self.expires_at.saturating_duration_since(Instant::now())
    }
    /// Counts the tokens a source has published: 1 for the first. A token
    /// from [`fetch_token`] has generation 0.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// True while the token has not expired.
    pub fn is_valid(&self) -> bool {
        self.expires_at > Instant::now()
    }
}

/// Options of the refresh thread.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RefreshOptions {
    /// TLS roots for the token endpoint.
    pub tls: TlsConfig,
    /// Request timeouts.
    pub timeouts: HttpTimeouts,
    /// Retry delays for transient failures.
    pub backoff: Backoff,
    /// The proxy: the environment unless [`RefreshOptions::proxy`] or
    /// [`RefreshOptions::no_proxy`] says otherwise.
    pub(crate) proxy: ProxyConfig,
}

impl RefreshOptions {
    /// The defaults with these TLS settings.
    pub fn with_tls(tls: TlsConfig) -> Self {
        RefreshOptions {
            tls,
            ..RefreshOptions::default()
        }
    }

    /// These request timeouts.
    pub fn timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// These retry delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Token requests go through this proxy (see [`crate::proxy`]) instead
    /// of the one the environment names, if any.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyConfig::Use(proxy);
        self
    }

    /// Token requests connect directly, whatever `HTTPS_PROXY` says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyConfig::Off;
        self
    }

    /// The proxy setting as the client resolved it.
    pub(crate) fn proxy_config(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }
}

/// Fetches one token, once, with no retries. The token has generation 0.
///
/// Errors are classified as described in the [module docs](self): bad
/// credentials are [`Error::Auth`], and [`Error::is_transient`] tells
/// whether trying again later may help.
pub fn fetch_token(creds: &Credentials, opts: &RefreshOptions) -> Result<AccessToken> {
    let agent = http::agent(&opts.tls, &opts.timeouts, &opts.proxy);
    request_token(&agent, creds, opts.timeouts, 0).map(|f| f.token)
}

/// A token and the lifetime the server gave it (after clamping).
struct Fetched {
    token: AccessToken,
    lifetime: Duration,
}

/// One request to the token endpoint.
fn request_token(
    agent: &ureq::Agent,
    creds: &Credentials,
    timeouts: HttpTimeouts,
    generation: u64,
) -> Result<Fetched> {
    let host = creds.token_url.host_header();
    let target = Target {
        what: "the token endpoint",
        host: &host,
        timeouts,
    };
    let form = match &creds.grant {
        Grant::AccountCredentials { account_id } => http::form_encode(&[
            ("grant_type", "account_credentials"),
            ("account_id", account_id),
        ]),
        Grant::ClientCredentials => http::form_encode(&[("grant_type", "client_credentials")]),
    };
    let secret = creds.client_secret.expose();
    let authorization = http::basic_auth(&creds.client_id, secret);
    let started = Instant::now();
    let mut response = agent
        .post(creds.token_url.url.as_str())
        .header("Authorization", authorization.as_str())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .send(form.as_bytes())
        .map_err(|e| http::map_error(e, &target))?;
    let status = response.status().as_u16();
    let retry_after = http::retry_after(response.headers());
    let body = http::read_body(&mut response, http::MAX_BODY, &target)?;
    // The Basic header's base64 is as secret as the secret itself.
    let basic_b64 = authorization.trim_start_matches("Basic ");
    let scrub = [secret, basic_b64];
    if (200..300).contains(&status) {
        parse_token(&body, &target, started, generation, &scrub)
    } else {
        Err(classify_failure(
            status,
            &body,
            retry_after,
            &target,
            &scrub,
        ))
    }
}

/// The fields of a token answer. Every field is a loose `Value`, so that a
/// wrongly typed field never puts its content into a serde error message.
#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<Value>,
    token_type: Option<Value>,
    expires_in: Option<Value>,
    scope: Option<Value>,
    api_url: Option<Value>,
}

/// An OAuth (or Zoom REST) error answer.
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<Value>,
    reason: Option<Value>,
    error_description: Option<Value>,
    message: Option<Value>,
}

fn parse_token(
    body: &[u8],
    target: &Target<'_>,
    started: Instant,
    generation: u64,
    scrub: &[&str],
) -> Result<Fetched> {
    let context = format!("from the token endpoint at {}", target.host);
    let parsed: TokenBody = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        // A body that mentions a token, or is JSON at all (a bare string
        // may be the token itself), is never quoted; serde's own message
        // would quote a string value whole, so it is described instead.
        let quoted = if e.is_data() || text.to_ascii_lowercase().contains("token") {
            format!("{} bytes, not shown", body.len())
        } else {
            format!("{:?}", crate::text::summary(body, 120, scrub))
        };
        Error::invalid(
            &context,
            format!(
                "expected a JSON token answer ({}): {quoted}",
                crate::text::json_error(&e)
            ),
        )
    })?;
    let token = match parsed.access_token {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) => return Err(Error::invalid(&context, "access_token is empty")),
        Some(_) => return Err(Error::invalid(&context, "access_token is not a string")),
        None => return Err(Error::invalid(&context, "no access_token in the answer")),
    };
    let lifetime = match parsed.expires_in.as_ref().and_then(seconds) {
        Some(secs) if secs <= 0.0 => {
            log::warn!(
                "token endpoint at {} sent expires_in {secs}: taking it as 1 s",
                target.host
            );
            MIN_LIFETIME
        }
        Some(secs) => Duration::from_secs_f64(secs.min(MAX_LIFETIME.as_secs_f64()))
            .clamp(MIN_LIFETIME, MAX_LIFETIME),
        None => {
            log::warn!(
                "token endpoint at {} sent no usable expires_in: assuming {} s",
                target.host,
                DEFAULT_LIFETIME.as_secs()
            );
            DEFAULT_LIFETIME
        }
    };
    let scopes = match parsed.scope {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let token_type = match parsed.token_type {
        Some(Value::String(s)) => s,
        _ => "bearer".to_owned(),
    };
    let api_url = match parsed.api_url {
        // Where the bearer will go: only Zoom's hosts from Zoom's endpoint.
        Some(Value::String(s)) if !s.is_empty() => crate::rest::vet_api_url(s, target.host),
        _ => None,
    };
    Ok(Fetched {
        token: AccessToken {
            token: Secret::new(token),
            token_type,
            scopes,
            api_url,
            expires_at: started + lifetime,
            generation,
        },
        lifetime,
    })
}

/// `expires_in` as seconds: a number, or a number in a string.
fn seconds(v: &Value) -> Option<f64> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    secs.is_finite().then_some(secs)
}

fn classify_failure(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    target: &Target<'_>,
    scrub: &[&str],
) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let text = |v: &Option<Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    let (code, reason) = match &parsed {
        Some(p) => (
            text(&p.error),
            text(&p.reason)
                .or_else(|| text(&p.error_description))
                .or_else(|| text(&p.message)),
        ),
        None => (None, None),
    };
    let reason = reason.map(|r| crate::text::summary(r.as_bytes(), MAX_REASON_CHARS, scrub));
    let code = code.map(|c| crate::text::summary(c.as_bytes(), 64, scrub));
    let transient_status = status >= 500 || status == 429 || status == 408;
    if let (Some(code), true) = (&code, (400..500).contains(&status) && !transient_status) {
        return Error::Auth {
            status,
            code: code.clone(),
            reason: reason.unwrap_or_default(),
        };
    }
    let detail = match reason {
        Some(r) => r,
        None if parsed.is_some() || body.is_empty() => String::new(),
        None => crate::text::summary(body, 120, scrub),
    };
    let message = if detail.is_empty() {
        format!("from the token endpoint at {}", target.host)
    } else {
        format!("from the token endpoint at {}: {detail}", target.host)
    };
    Error::Http {
        status,
        code,
        message,
        retry_after,
    }
}

/// Everything the refresh thread and the readers share. One place, one lock.
#[derive(Default)]
struct State {
    /// The last token published.
    token: Option<AccessToken>,
    /// How many tokens were published.
    generation: u64,
    /// Highest generation reported rejected by Zoom: never handed out again.
    rejected: u64,
    /// The last failure since the last success.
    last_error: Option<Error>,
    /// The last failure since the last success, if retrying may not fix it.
    refresh_error: Option<Error>,
    /// The failure the thread stopped on.
    fatal: Option<Error>,
    /// The refresher was stopped (or dropped).
    stopped: bool,
    /// A request is under way, requested, or scheduled for retry.
    refreshing: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    crate::sync::lock(&shared.0)
}

/// Owns the token-refresh thread. Dropping it stops and joins the thread.
pub struct TokenRefresher {
    source: TokenSource,
    /// Dropping it tells the thread to stop.
    stop_tx: Option<Sender<()>>,
    /// Interrupts a request in flight on stop.
    agent: ureq::Agent,
    thread: Option<JoinHandle<()>>,
}

impl TokenRefresher {
    /// Starts the refresh thread. It fetches a token at once.
    ///
    /// If the thread cannot be spawned, the source reports that as its
    /// fatal error.
    pub fn start(creds: Credentials, opts: RefreshOptions) -> Self {
        let shared: Shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let (refresh_tx, refresh_rx) = bounded(1);
        let (stop_tx, stop_rx) = bounded(1);
        // The environment is read once, here: the source hands the same
        // setting to REST clients on its tokens.
        let proxy = opts.proxy.resolve();
        let agent = http::agent(&opts.tls, &opts.timeouts, &proxy);
        let tls = opts.tls.clone();
        let worker = Worker {
            creds,
            opts,
            agent: agent.clone(),
            shared: shared.clone(),
            stop_rx,
            refresh_rx,
        };
        let thread = std::thread::Builder::new()
            .name("zoom-ws-oauth".into())
            .spawn(move || {
                let shared = worker.shared.clone();
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| worker.run())) {
                    let error = Error::panicked("zoom-ws-oauth", &*panic);
                    log::error!("{error}");
                    let mut state = lock(&shared);
                    state.fatal = Some(error);
                    state.refreshing = false;
                    shared.1.notify_all();
                }
            });
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                let error = Error::network("starting the token refresh thread", e);
                log::error!("{error}");
                lock(&shared).fatal = Some(error);
                None
            }
        };
        TokenRefresher {
            source: TokenSource {
                shared,
                refresh_tx,
                tls,
                proxy,
            },
            stop_tx: Some(stop_tx),
            agent,
            thread,
        }
    }

    /// A cheap, cloneable reader of the current token.
    pub fn source(&self) -> TokenSource {
        self.source.clone()
    }

    /// Stops the thread from anywhere without joining it (the refresher's
    /// owner joins it later, or on drop).
    pub(crate) fn stopper(&self) -> impl FnOnce() + Send + 'static {
        let shared = self.source.shared.clone();
        let stop_tx = self.stop_tx.clone();
        let agent = self.agent.clone();
        move || {
            {
                let mut state = lock(&shared);
                state.stopped = true;
                shared.1.notify_all();
            }
            if let Some(tx) = stop_tx {
                let _ = tx.try_send(());
            }
            agent.shutdown();
        }
    }

    /// Stops the thread and joins it. A request in flight is interrupted.
    /// Sources still held afterwards answer [`Error::Closed`] (or the fatal
    /// error the thread had stopped on).
    pub fn stop(self) {
        // Drop does the work.
    }

    fn shutdown(&mut self) {
        self.stopper()();
        drop(self.stop_tx.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the token refresh thread panicked");
            }
        }
    }
}

impl Drop for TokenRefresher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for TokenRefresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRefresher")
            .field("source", &self.source)
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// Reads the token the refresh thread publishes. Cheap to clone; every
/// method returns without network I/O.
#[derive(Clone)]
pub struct TokenSource {
    shared: Shared,
    /// Bounded(1): a full channel already holds a request, which is the
    /// whole point.
    refresh_tx: Sender<()>,
    /// The TLS settings the tokens are fetched with, for REST calls and
    /// other clients on the same tokens.
    tls: TlsConfig,
    /// The proxy setting the tokens are fetched with (resolved), for REST
    /// calls on the same tokens.
    proxy: ProxyConfig,
}

impl TokenSource {
    /// The current token if it is still valid, was not reported rejected,
    /// and the source is neither stopped nor failed: what [`TokenSource::wait`]
    /// with a zero timeout would return.
    pub fn current(&self) -> Option<AccessToken> {
        let state = lock(&self.shared);
        usable(&state, state.rejected).ok().flatten()
    }

    /// Waits up to `timeout` for a valid token. Returns the fatal error if
    /// the refresh thread has stopped on one, `Error::Closed` if it was
    /// stopped, and the last transient error (or a timeout) when the time is up.
    ///
    /// A token reported with [`TokenSource::force_refresh`] is not returned
    /// again: `wait` then waits for its successor.
    pub fn wait(&self, timeout: Duration) -> Result<AccessToken> {
        self.wait_inner(None, timeout)
    }

    /// Like [`TokenSource::wait`], for a token newer than generation `than`
    /// (for example the one a connection was opened with).
    pub fn wait_for_newer(&self, than: u64, timeout: Duration) -> Result<AccessToken> {
        self.wait_inner(Some(than), timeout)
    }

    fn wait_inner(&self, than: Option<u64>, timeout: Duration) -> Result<AccessToken> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = lock(&self.shared);
        loop {
            let floor = than.unwrap_or(0).max(state.rejected);
            if let Some(token) = usable(&state, floor)? {
                return Ok(token);
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => {
                    return Err(match &state.last_error {
                        Some(e) => e.duplicate(),
                        None => Error::network(
                            "waiting for an access token",
                            io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("no token within {timeout:?}"),
                            ),
                        ),
                    });
                }
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            state = self
                .shared
                .1
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Asks for a new token because `rejected` was refused by Zoom. Returns at
    /// once. Coalesces: if a token newer than `rejected` exists or a refresh
    /// is under way, nothing more is asked.
    ///
    /// `rejected` is no longer handed out by [`TokenSource::current`] or
    /// [`TokenSource::wait`]. The request goes out at once (not held back
    /// by the 1 s floor between scheduled refreshes), except while a failed
    /// request waits for its retry (the backoff and `Retry-After` stand).
    pub fn force_refresh(&self, rejected: &AccessToken) {
        let mut state = lock(&self.shared);
        if rejected.generation == 0 || rejected.generation > state.generation {
            // Not a token of this source.
            return;
        }
        state.rejected = state.rejected.max(rejected.generation);
        if state.generation > rejected.generation
            || state.refreshing
            || state.stopped
            || state.fatal.is_some()
        {
            return;
        }
        state.refreshing = true;
        drop(state);
        log::debug!(
            "token generation {} rejected: asking for a new one",
            rejected.generation
        );
        match self.refresh_tx.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => lock(&self.shared).refreshing = false,
        }
    }

    /// The TLS settings this source fetches tokens with: REST calls on its
    /// tokens use the same ([`crate::rest::Api::new`]).
    pub fn tls_config(&self) -> &TlsConfig {
        &self.tls
    }

    /// The proxy this source fetches tokens through, if any (from the
    /// environment or set explicitly): REST calls on its tokens use the
    /// same ([`crate::rest::Api::new`]).
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.proxy()
    }

    /// The proxy setting, resolved, for REST clients on these tokens.
    pub(crate) fn proxy_config(&self) -> &ProxyConfig {
        &self.proxy
    }

    /// The last background refresh failure that retrying may not fix
    /// (`invalid_client` after a secret rotation, a proxy's 403), while a
    /// valid token keeps the stream going; `None` once a refresh succeeds.
    /// It becomes the fatal error if the token runs out before a refresh
    /// succeeds.
    pub fn refresh_error(&self) -> Option<Error> {
        lock(&self.shared)
            .refresh_error
            .as_ref()
            .map(Error::duplicate)
    }

    /// The fatal error the refresh thread stopped on, if any.
    pub fn fatal_error(&self) -> Option<Error> {
        lock(&self.shared).fatal.as_ref().map(Error::duplicate)
    }

    /// How many tokens have been published so far (0 before the first).
    pub fn generation(&self) -> u64 {
        lock(&self.shared).generation
    }
}

/// The token to hand out, if any: `Err` for a fatal error or a stopped
/// source, `Ok(None)` for "not yet".
fn usable(state: &State, newer_than: u64) -> Result<Option<AccessToken>> {
    if let Some(e) = &state.fatal {
        return Err(e.duplicate());
    }
    if state.stopped {
        return Err(Error::Closed);
    }
    Ok(state
        .token
        .as_ref()
        .filter(|t| t.generation > newer_than && t.is_valid())
        .cloned())
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("TokenSource")
            .field("generation", &state.generation)
            .field(
                "expires_in",
                &state.token.as_ref().map(AccessToken::expires_in),
            )
            .field("refreshing", &state.refreshing)
            .field("stopped", &state.stopped)
            .field("failed", &state.fatal.is_some())
            .finish()
    }
}

/// When to fetch the successor of a token with lifetime `lifetime`,
/// counted from the start of the request that fetched it.
fn refresh_delay(lifetime: Duration) -> Duration {
    let margin = (lifetime / 10).min(MAX_REFRESH_MARGIN);
    lifetime.saturating_sub(margin).max(MIN_REFRESH_INTERVAL)
}

/// The refresh thread's side.
struct Worker {
    creds: Credentials,
    opts: RefreshOptions,
    agent: ureq::Agent,
    shared: Shared,
    stop_rx: Receiver<()>,
    refresh_rx: Receiver<()>,
}

impl Worker {
    fn run(self) {
        let host = self.creds.token_url.host_header();
        let mut next_at = Instant::now();
        // Failed attempts since the last success.
        let mut attempt: u32 = 0;
        loop {
            if !self.sleep_until(&mut next_at, attempt > 0) {
                return;
            }
            let generation = {
                let mut state = lock(&self.shared);
                if state.stopped {
                    return;
                }
                state.refreshing = true;
                state.generation + 1
            };
            let started = Instant::now();
            let result = request_token(&self.agent, &self.creds, self.opts.timeouts, generation);
            let mut state = lock(&self.shared);
            if state.stopped {
                return;
            }
            match result {
                Ok(Fetched { token, lifetime }) => {
                    let delay = refresh_delay(lifetime);
                    log::debug!(
                        "access token {generation} from {host}: expires in {:.1} s, next refresh in {:.1} s, {} scope(s)",
                        lifetime.as_secs_f64(),
                        delay.saturating_sub(started.elapsed()).as_secs_f64(),
                        token.scopes.len(),
                    );
                    state.token = Some(token);
                    state.generation = generation;
                    state.last_error = None;
                    state.refresh_error = None;
                    state.refreshing = false;
                    self.shared.1.notify_all();
                    attempt = 0;
                    next_at = started + delay.max(MIN_REFRESH_INTERVAL);
                }
                Err(e) => {
                    // How long the token in hand stays usable (valid, not rejected).
                    let valid_left = state
                        .token
                        .as_ref()
                        .filter(|t| t.generation > state.rejected && t.is_valid())
                        .map(|t| (t.generation, t.expires_in()));
                    let transient = e.is_transient();
                    if !transient && valid_left.is_none() {
                        if state.generation == 0 {
                            // No token yet: whoever waits for the first one
                            // (`connect`, `wait`) gets this error and reports it.
                            log::debug!("access token request failed, giving up: {e}");
                        } else {
                            log::error!("access token request failed, giving up: {e}");
                        }
                        state.fatal = Some(e);
                        state.refreshing = false;
                        self.shared.1.notify_all();
                        return;
                    }
                    let delay = retry_delay(
                        self.opts.backoff.delay(attempt),
                        e.retry_after(),
                        valid_left.map(|(_, left)| left),
                    );
                    attempt = attempt.saturating_add(1);
                    let serving = valid_left
                        .map(|(generation, left)| {
                            format!(
                                "; token {generation} stays valid for {:.0} s",
                                left.as_secs_f64()
                            )
                        })
                        .unwrap_or_default();
                    if transient {
                        log::warn!(
                            "access token request failed (attempt {attempt}), retrying in {:.1} s{serving}: {e}",
                            delay.as_secs_f64()
                        );
                    } else {
                        log::error!(
                            "access token refresh failed (attempt {attempt}) with an error retrying may not fix, retrying in {:.1} s{serving}; the stream stops when the token runs out: {e}",
                            delay.as_secs_f64()
                        );
                        state.refresh_error = Some(e.duplicate());
                    }
                    state.last_error = Some(e);
                    self.shared.1.notify_all();
                    // Counted from the answer, as Retry-After is.
                    next_at = Instant::now() + delay;
                }
            }
        }
    }

    /// Waits until `next_at`, or until a forced refresh moves it earlier.
    /// False when told to stop.
    fn sleep_until(&self, next_at: &mut Instant, retrying: bool) -> bool {
        loop {
            let now = Instant::now();
            if now >= *next_at {
                return true;
            }
            select! {
                recv(self.stop_rx) -> _ => return false,
                recv(self.refresh_rx) -> msg => {
                    if msg.is_err() {
                        return false;
                    }
                    // A request queued before the last success is stale, and a
                    // failed request keeps its backoff.
                    if retrying || !lock(&self.shared).refreshing {
                        continue;
                    }
                    *next_at = now;
                }
                default(*next_at - now) => {}
            }
        }
    }
}

/// When to retry a failed token request, counted from its answer: the
/// backoff's draw, at least [`MIN_RETRY_DELAY`], and not before the
/// server's `Retry-After`, except that with a token in hand (`valid_left`)
/// the retry is never later than its expiry, where the next try decides
/// whether the failure is fatal.
fn retry_delay(
    backoff: Duration,
    retry_after: Option<Duration>,
    valid_left: Option<Duration>,
) -> Duration {
    let delay = backoff
        .max(MIN_RETRY_DELAY)
        .max(retry_after.unwrap_or_default());
    match valid_left {
        Some(left) => delay.min(left.max(MIN_RETRY_DELAY)),
        None => delay,
    }
}

/// Not part of the API: [`parse_token`] on its own, for the fuzz targets
/// (`zoom_ws::__fuzz`), as if `zoom.us` had answered with `body`.
pub(crate) fn fuzz_parse_token(body: &[u8], scrub: &[&str]) -> Result<AccessToken> {
    let target = Target {
        what: "the token endpoint",
        host: "zoom.us",
        timeouts: HttpTimeouts::default(),
    };
    parse_token(body, &target, Instant::now(), 1, scrub).map(|f| f.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target<'static> {
        Target {
            what: "the token endpoint",
            host: "zoom.us",
            timeouts: HttpTimeouts::default(),
        }
    }

    fn parse(body: &str) -> Result<Fetched> {
        parse_token(body.as_bytes(), &target(), Instant::now(), 1, &["sekrit"])
    }

    #[test]
    fn retry_floor_and_retry_after_capped_by_the_token() {
        let ms = Duration::from_millis;
        // Full jitter may draw 80 ms: never sooner than 250 ms.
        assert_eq!(retry_delay(ms(80), None, None), ms(250));
        assert_eq!(retry_delay(ms(900), None, Some(ms(60_000))), ms(900));
        // Retry-After honoured while the token lasts...
        assert_eq!(
            retry_delay(ms(80), Some(ms(5_000)), Some(ms(60_000))),
            ms(5_000)
        );
        // ...and cut to its expiry beyond that.
        assert_eq!(
            retry_delay(ms(80), Some(ms(3_600_000)), Some(ms(60_000))),
            ms(60_000)
        );
        // No token in hand: nothing to lose by waiting as asked.
        assert_eq!(retry_delay(ms(2_000), Some(ms(7_000)), None), ms(7_000));
        assert_eq!(retry_delay(ms(2_000), None, None), ms(2_000));
    }

    #[test]
    fn refresh_rule() {
        assert_eq!(
            refresh_delay(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_delay(Duration::from_secs(600)),
            Duration::from_secs(540)
        );
        assert_eq!(
            refresh_delay(Duration::from_secs(2)),
            Duration::from_millis(1800)
        );
        assert_eq!(refresh_delay(Duration::from_secs(1)), MIN_REFRESH_INTERVAL);
        assert_eq!(refresh_delay(Duration::ZERO), MIN_REFRESH_INTERVAL);
    }

    #[test]
    fn token_fields() {
        let f = parse(r#"{"access_token":"abc","token_type":"bearer","expires_in":3600,"scope":"a b  c","api_url":"https://api.zoom.us","extra":1}"#).unwrap();
        assert_eq!(f.token.secret().expose(), "abc");
        assert_eq!(f.token.scopes(), ["a", "b", "c"]);
        assert_eq!(f.token.api_url(), Some("https://api.zoom.us"));
        assert_eq!(f.lifetime, Duration::from_secs(3600));
        let f = parse(r#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(
            (f.lifetime, f.token.token_type()),
            (DEFAULT_LIFETIME, "bearer")
        );
        assert_eq!(
            parse(r#"{"access_token":"a","expires_in":0}"#)
                .unwrap()
                .lifetime,
            MIN_LIFETIME
        );
        assert_eq!(
            parse(r#"{"access_token":"a","expires_in":-5}"#)
                .unwrap()
                .lifetime,
            MIN_LIFETIME
        );
        assert_eq!(
            parse(r#"{"access_token":"a","expires_in":"60"}"#)
                .unwrap()
                .lifetime,
            Duration::from_secs(60)
        );
        assert_eq!(
            parse(r#"{"access_token":"a","expires_in":1e300}"#)
                .unwrap()
                .lifetime,
            MAX_LIFETIME
        );
    }

    #[test]
    fn bad_token_bodies() {
        for body in [
            "",
            "<html>",
            "[]",
            "null",
            r#"{"access_token":""}"#,
            r#"{"access_token":5}"#,
            r#"{"token_type":"bearer"}"#,
        ] {
            let e = parse(body)
                .err()
                .unwrap_or_else(|| panic!("{body} accepted"));
            assert!(matches!(e, Error::InvalidResponse { .. }), "{body}: {e:?}");
        }
        let e = parse("access_token=leaky&x=1").err().unwrap().to_string();
        assert!(!e.contains("leaky"), "{e}");
    }

    #[test]
    fn failure_classes() {
        let c = |status, body: &str, ra| {
            classify_failure(status, body.as_bytes(), ra, &target(), &["sekrit"])
        };
        let e = c(
            401,
            r#"{"reason":"Invalid client_id or client_secret sekrit","error":"invalid_client"}"#,
            None,
        );
        assert!(
            matches!(&e, Error::Auth { status: 401, code, .. } if code == "invalid_client"),
            "{e:?}"
        );
        assert!(!e.to_string().contains("sekrit"));
        let e = c(
            429,
            r#"{"error":"rate_limited"}"#,
            Some(Duration::from_secs(1)),
        );
        assert!(
            e.is_transient() && e.retry_after() == Some(Duration::from_secs(1)),
            "{e:?}"
        );
        let e = c(503, "<html>down</html>", None);
        assert!(e.is_transient(), "{e:?}");
        assert!(e.to_string().contains("<html>down</html>"), "{e}");
        let e = c(404, "", None);
        assert!(
            matches!(e, Error::Http { status: 404, .. }) && !e.is_transient(),
            "{e:?}"
        );
    }
}
