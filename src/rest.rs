//! REST calls to the Zoom API with the same token as the WebSocket.
//!
//! [`Api`] is a small blocking helper over ureq: `GET`, `POST`, `PATCH`,
//! `PUT` and `DELETE` of JSON against `https://api.zoom.us/v2`, with
//! Zoom's `next_page_token` pagination as an iterator, retries of 429 and
//! 5xx, and errors that carry Zoom's `code` and `message`.
//!
//! ```no_run
//! use zoom_ws::rest::Api;
//!
//! let client = zoom_ws::Client::builder()
//!     .credentials(zoom_ws::Credentials::from_env()?)
//!     .subscription_id("my-subscription")
//!     .connect()?;
//! // The client's own tokens, kept fresh by its refresh thread.
//! let api = Api::new(client.token_source());
//!
//! let me = api.get("/users/me").send()?;
//! println!("signed in as {}", me["email"]);
//!
//! // Every scheduled meeting, 300 a page, fetched as the loop goes.
//! for meeting in api
//!     .get("/users/me/meetings")
//!     .query("type", "scheduled")
//!     .pages("meetings")
//!     .page_size(300)
//! {
//!     let meeting = meeting?;
//!     println!("{} {}", meeting["id"], meeting["topic"]);
//! }
//! # Ok::<_, zoom_ws::Error>(())
//! ```
//!
//! # Tokens
//!
//! - **Server-to-Server OAuth** ([`Api::new`], [`Api::builder`]): the
//!   [`TokenSource`] of a [`Client`](crate::Client)
//!   ([`Client::token_source`](crate::Client::token_source)) or of a
//!   [`TokenRefresher`](crate::TokenRefresher). Each call takes the current
//!   token (waiting up to [`ApiBuilder::token_wait`] for one if there is
//!   none); the API never fetches tokens itself, so the WebSocket and the
//!   REST calls share one token stream. A `401` makes the call report the
//!   token with [`TokenSource::force_refresh`], wait (bounded) for its
//!   successor and try again, once. The WebSocket then no longer uses the
//!   refused token either.
//! - **Video SDK API JWT** ([`Api::with_jwt`], [`Api::jwt_builder`]): a
//!   token signed with the Video SDK key and secret ([`crate::jwt::ApiToken`]),
//!   re-signed when less than a tenth of its lifetime (at most 5 minutes)
//!   is left. A `401` is returned as is: re-signing with the same secret
//!   would not help.
//!
//! The token goes in `Authorization: Bearer <token>`, never in a URL, an
//! error or a log line; a server's error text that quotes it is scrubbed.
//!
//! # Base URL
//!
//! An override from [`ApiBuilder::base_url`] if set; otherwise `api_url`
//! of the current OAuth token plus `/v2` (Zoom sends `https://api.zoom.us`,
//! other Zoom clouds send theirs); otherwise [`DEFAULT_API_URL`]. Paths are
//! relative to it: `api.get("/users/me")`. The base must be `https://`;
//! `http://` is accepted for loopback hosts only (tests, a local emulator).
//!
//! The bearer goes wherever the base points, so a token answer's `api_url`
//! is taken only from a token endpoint one can trust with it: from a token
//! endpoint on Zoom's own hosts (`zoom.us`, `zoomgov.com` and their
//! subdomains, which the default [`DEFAULT_TOKEN_URL`](crate::DEFAULT_TOKEN_URL)
//! is), only an `https://` URL on those hosts is taken; anything else is
//! dropped with a WARN and the default base is used. A token endpoint
//! elsewhere (loopback, or one configured with
//! [`Credentials::with_token_url`](crate::Credentials::with_token_url): a
//! proxy, an emulator) already holds the credentials, and its `api_url` is
//! taken as it is.
//!
//! # Paths
//!
//! Paths are sent as given, so put ids that come from elsewhere (user
//! input, an event) through [`segment`], which percent-encodes everything
//! but RFC 3986's unreserved characters, `/` included:
//! `api.get(format!("/meetings/{}", rest::segment(id)))`. Zoom asks for
//! meeting UUIDs that start with `/` or contain `//` to be encoded twice:
//! `segment(&segment(uuid))`.
//!
//! A path that could address something else on the API host with the
//! account's token is refused with [`Error::Config`] before any token is
//! taken or request sent: an absolute URL (`https://...`, `//host`), a
//! `.` or `..` segment in any encoding (`..`, `%2e%2E`, `.%2e`, also once
//! the segment is percent-decoded up to three times, and split at an encoded
//! `/` or `\`, since Zoom decodes twice), a `#`, a space or a control
//! character.
//!
//! # Retries
//!
//! - `429`: retried after the server's `Retry-After`, or the [`Backoff`]
//!   delay when that is longer, up to [`ApiBuilder::max_retries`] times
//!   (default 3). A `Retry-After` longer than [`ApiBuilder::max_retry_wait`]
//!   (default 60 s; Zoom's daily limits ask for hours) is not waited for:
//!   the error is returned at once, with [`Error::retry_after`] set.
//! - `5xx`, `408` and network failures: retried after a [`Backoff`] delay
//!   (exponential, full jitter), for every method except `POST`. A `POST`
//!   is retried only on `429` and on failures to connect, where Zoom has
//!   certainly not acted on it: retrying a `POST` that may have been
//!   processed could create a meeting twice.
//! - Any other status is returned at once as [`Error::Http`].
//!
//! The calling thread sleeps between attempts; every attempt is bounded by
//! [`ApiBuilder::timeouts`].
//!
//! # Answers and errors
//!
//! A 2xx answer is parsed as JSON; an empty body (`204 No Content`) is
//! [`Value::Null`]. Bodies larger than [`ApiBuilder::max_body`] (1 MiB by
//! default; Zoom pages answers) are refused. A failure is
//! [`Error::Http`] with the status, Zoom's `code` as a string (`"3001"`),
//! Zoom's `message` (followed by the field errors of a validation failure),
//! and the `Retry-After` delay.
//!
//! # Logging
//!
//! Target `zoom_ws::rest`, DEBUG: method, path (without the query string),
//! status and duration of each request, and each retry. Never tokens.
//! ureq's own TRACE level dumps the raw request, `Authorization` included:
//! keep the targets `ureq` and `ureq_proto` at DEBUG or below.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ureq::http::{HeaderValue, Method, Request};

use crate::backoff::Backoff;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::http::HttpTimeouts;
use crate::http::{self, Target};
use crate::jwt::{ApiToken, CLOCK_SKEW, DEFAULT_LIFETIME};
use crate::oauth::{AccessToken, TokenSource};
use crate::proxy::{Proxy, ProxyConfig};
use crate::secret::Secret;
use crate::tls::TlsConfig;

/// Zoom's REST API: the base URL when neither an override nor the token's
/// `api_url` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.zoom.us/v2";

/// Default of [`ApiBuilder::max_retries`]: 3 retries, so 4 attempts at most.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Default of [`ApiBuilder::max_retry_wait`]: 60 s.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Default of [`Pages::max_pages`]: 1000 pages.
pub const DEFAULT_MAX_PAGES: u32 = 1000;

/// Default of [`ApiBuilder::token_wait`]: 30 s.
pub const DEFAULT_TOKEN_WAIT: Duration = Duration::from_secs(30);

/// A JWT is re-signed when this much of its lifetime is left, at most.
const MAX_JWT_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How much of a server's error message goes into an error.
pub(crate) const MAX_MESSAGE_CHARS: usize = 300;

/// What requests talk to, in error messages.
const WHAT: &str = "the Zoom API";

/// A blocking client of Zoom's REST API. Cheap to clone (the clones share
/// one connection pool), `Send` and `Sync`.
///
/// See the [module docs](self) for tokens, retries and errors. `Debug`
/// shows neither tokens nor secrets.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Auth,
    /// A checked override of the base URL.
    base_url: Option<Endpoint>,
    agent: ureq::Agent,
    timeouts: HttpTimeouts,
    backoff: Backoff,
    max_retries: u32,
    max_retry_wait: Duration,
    token_wait: Duration,
    max_body: u64,
}

enum Auth {
    OAuth(TokenSource),
    Jwt(JwtSigner),
}

/// Signs Video SDK API JWTs and keeps the current one until it nears expiry.
struct JwtSigner {
    signer: ApiToken,
    lifetime: Duration,
    current: Mutex<Option<(Secret, Instant)>>,
}

impl JwtSigner {
    /// The current JWT, or a fresh one when it is close to expiry. An empty
    /// secret is an [`Error::Config`], before anything is sent.
    fn token(&self) -> Result<Secret> {
        let mut current = crate::sync::lock(&self.current);
        let margin = (self.lifetime / 10).min(MAX_JWT_MARGIN);
        if let Some((token, expires_at)) = current.as_ref() {
            if expires_at.saturating_duration_since(Instant::now()) > margin {
                return Ok(token.clone());
            }
        }
        let token = self.signer.sign()?;
        // `iat` is backdated by CLOCK_SKEW, so the token lives that much less.
        let expires_at = Instant::now() + self.lifetime.saturating_sub(CLOCK_SKEW);
        *current = Some((token.clone(), expires_at));
        Ok(token)
    }

    /// Drops the current JWT: the next call signs a new one.
    fn forget(&self) {
        *crate::sync::lock(&self.current) = None;
    }
}

/// The token of one attempt.
struct Bearer {
    secret: Secret,
    /// The OAuth token it came from (for `api_url` and `force_refresh`).
    token: Option<AccessToken>,
}

/// A failed attempt before any status was read.
struct Failure {
    error: Error,
    /// True when the request certainly never reached the server.
    nothing_sent: bool,
}

impl Api {
    /// An API client on the Server-to-Server OAuth tokens of `tokens`, with
    /// every default: base URL from the token's `api_url` (else
    /// [`DEFAULT_API_URL`]), the TLS configuration the tokens are fetched
    /// with ([`TokenSource::tls_config`]: a client's extra roots serve its
    /// REST calls too) and [`HttpTimeouts`].
    ///
    /// With a [`Client`](crate::Client): `Api::new(client.token_source())`.
    pub fn new(tokens: TokenSource) -> Api {
        Api::builder(tokens)
            .build()
            .expect("the default settings are valid")
    }

    /// An API client that signs Video SDK API JWTs with `api_key` and
    /// `api_secret` (lifetime one hour), with every default. An empty
    /// secret makes every call fail with [`Error::Config`] before anything
    /// is sent.
    pub fn with_jwt(api_key: impl Into<String>, api_secret: impl Into<Secret>) -> Api {
        Api::jwt_builder(api_key, api_secret)
            .build()
            .expect("the default settings are valid")
    }

    /// A builder for an API client on the OAuth tokens of `tokens`, with
    /// their TLS configuration ([`TokenSource::tls_config`]).
    pub fn builder(tokens: TokenSource) -> ApiBuilder {
        ApiBuilder::new(AuthConfig::OAuth(tokens))
    }

    /// A builder for an API client that signs Video SDK API JWTs.
    pub fn jwt_builder(api_key: impl Into<String>, api_secret: impl Into<Secret>) -> ApiBuilder {
        ApiBuilder::new(AuthConfig::Jwt {
            api_key: api_key.into(),
            secret: api_secret.into(),
        })
    }

    /// A `GET` of `path` (relative to the base URL, such as `"/users/me"`).
    pub fn get(&self, path: impl Into<String>) -> ApiRequest {
        self.request(Method::GET, path)
    }

    /// A `POST` of `path`. Add the body with [`ApiRequest::json`].
    pub fn post(&self, path: impl Into<String>) -> ApiRequest {
        self.request(Method::POST, path)
    }

    /// A `PATCH` of `path`. Add the body with [`ApiRequest::json`].
    pub fn patch(&self, path: impl Into<String>) -> ApiRequest {
        self.request(Method::PATCH, path)
    }

    /// A `PUT` of `path`. Add the body with [`ApiRequest::json`].
    pub fn put(&self, path: impl Into<String>) -> ApiRequest {
        self.request(Method::PUT, path)
    }

    /// A `DELETE` of `path`.
    pub fn delete(&self, path: impl Into<String>) -> ApiRequest {
        self.request(Method::DELETE, path)
    }

    fn request(&self, method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest {
            api: self.clone(),
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    /// The token for the next attempt.
    fn bearer(&self) -> Result<Bearer> {
        match &self.inner.auth {
            Auth::OAuth(tokens) => {
                let token = tokens.wait(self.inner.token_wait)?;
                Ok(Bearer {
                    secret: token.secret().clone(),
                    token: Some(token),
                })
            }
            Auth::Jwt(signer) => Ok(Bearer {
                secret: signer.token()?,
                token: None,
            }),
        }
    }

    /// The base URL for a request made with `bearer`.
    fn base(&self, bearer: &Bearer) -> Result<Endpoint> {
        if let Some(base) = &self.inner.base_url {
            return Ok(base.clone());
        }
        match bearer.token.as_ref().and_then(AccessToken::api_url) {
            Some(api_url) => {
                let url = api_url.trim().trim_end_matches('/');
                let url = if url.ends_with("/v2") {
                    url.to_owned()
                } else {
                    format!("{url}/v2")
                };
                parse_base(&url, "the api_url of the token answer")
            }
            None => parse_base(DEFAULT_API_URL, "the default API URL"),
        }
    }

    /// One call, with retries: the body of a 2xx answer.
    fn execute(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let inner = &*self.inner;
        check_path(path)?;
        let idempotent = *method != Method::POST;
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            let bearer = self.bearer()?;
            let base = self.base(&bearer)?;
            let url = join_url(&base.url, path, query);
            let host = base.host_header();
            let target = Target {
                what: WHAT,
                host: &host,
                timeouts: inner.timeouts,
            };
            let started = Instant::now();
            let (status, retry_after, bytes) =
                match self.send_once(method, &url, &bearer.secret, body, &target) {
                    Ok(answer) => answer,
                    Err(Failure {
                        error,
                        nothing_sent,
                    }) => {
                        let retry = matches!(error, Error::Network { .. })
                            && (idempotent || nothing_sent)
                            && attempt < inner.max_retries;
                        if !retry {
                            return Err(error);
                        }
                        let delay = inner.backoff.delay(attempt);
                        attempt += 1;
                        log::debug!(
                            "{method} {path}: {error}; retry {attempt}/{} in {} ms",
                            inner.max_retries,
                            delay.as_millis()
                        );
                        std::thread::sleep(delay);
                        continue;
                    }
                };
            log::debug!(
                "{method} {path}: HTTP {status} in {} ms",
                started.elapsed().as_millis()
            );
            if (200..300).contains(&status) {
                return Ok(bytes);
            }
            let error = api_error(status, &bytes, retry_after, &[bearer.secret.expose()]);
            if status == 401 {
                match (&inner.auth, &bearer.token) {
                    (Auth::OAuth(tokens), Some(token)) if !refreshed => {
                        refreshed = true;
                        log::debug!(
                            "{method} {path}: access token {} refused, retrying once with a new one",
                            token.generation()
                        );
                        tokens.force_refresh(token);
                        tokens.wait_for_newer(token.generation(), inner.token_wait)?;
                        continue;
                    }
                    (Auth::Jwt(signer), _) => signer.forget(),
                    _ => {}
                }
                return Err(error);
            }
            let retryable = status == 429 || ((status >= 500 || status == 408) && idempotent);
            if !retryable || attempt >= inner.max_retries {
                return Err(error);
            }
            let delay = inner
                .backoff
                .delay(attempt)
                .max(retry_after.unwrap_or_default());
            if delay > inner.max_retry_wait {
                log::debug!(
                    "{method} {path}: HTTP {status} asks to wait {} s, more than max_retry_wait",
                    delay.as_secs()
                );
                return Err(error);
            }
            attempt += 1;
            log::debug!(
                "{method} {path}: HTTP {status}; retry {attempt}/{} in {} ms",
                inner.max_retries,
                delay.as_millis()
            );
            std::thread::sleep(delay);
        }
    }

    /// One attempt: status, `Retry-After` and the (capped) body.
    fn send_once(
        &self,
        method: &Method,
        url: &str,
        token: &Secret,
        body: Option<&[u8]>,
        target: &Target<'_>,
    ) -> std::result::Result<(u16, Option<Duration>, Vec<u8>), Failure> {
        let config = |error: Error| Failure {
            error,
            nothing_sent: true,
        };
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| {
                config(Error::Config(
                    "the access token is not a valid HTTP header value".into(),
                ))
            })?;
        authorization.set_sensitive(true);
        let builder = Request::builder()
            .method(method.clone())
            .uri(url)
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        let built = match body {
            Some(body) => builder
                .header("Content-Type", "application/json")
                .body(body)
                .map(|request| self.inner.agent.run(request)),
            None => builder
                .body(())
                .map(|request| self.inner.agent.run(request)),
        };
        let mut response = built
            .map_err(|_| {
                // Never quotes the URL: its query may hold anything.
                config(Error::Config(format!(
                    "the URL of a request to {WHAT} is not valid (percent-encode the path)"
                )))
            })?
            .map_err(|e| Failure {
                nothing_sent: nothing_sent(&e),
                error: http::map_error(e, target),
            })?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let bytes =
            http::read_body(&mut response, self.inner.max_body, target).map_err(|error| {
                Failure {
                    error,
                    nothing_sent: false,
                }
            })?;
        Ok((status, retry_after, bytes))
    }
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Api");
        match &inner.auth {
            Auth::OAuth(tokens) => d.field("auth", &"oauth").field("tokens", tokens),
            Auth::Jwt(signer) => d
                .field("auth", &"jwt")
                .field("jwt_lifetime", &signer.lifetime),
        };
        d.field("base_url", &inner.base_url.as_ref().map(|e| e.url.as_str()))
            .field("timeouts", &inner.timeouts)
            .field("max_retries", &inner.max_retries)
            .finish_non_exhaustive()
    }
}

/// How an [`ApiBuilder`] authenticates.
enum AuthConfig {
    OAuth(TokenSource),
    Jwt { api_key: String, secret: Secret },
}

/// Settings of an [`Api`], from [`Api::builder`] or [`Api::jwt_builder`].
/// Every setting has a default. `Debug` shows no secret.
pub struct ApiBuilder {
    auth: AuthConfig,
    proxy: ProxyConfig,
    base_url: Option<String>,
    tls: TlsConfig,
    timeouts: HttpTimeouts,
    backoff: Backoff,
    max_retries: u32,
    max_retry_wait: Duration,
    token_wait: Duration,
    max_body: u64,
    jwt_lifetime: Duration,
}

impl ApiBuilder {
    fn new(auth: AuthConfig) -> Self {
        // On a token source's tokens, its proxy (already resolved) and its
        // TLS configuration.
        let (proxy, tls) = match &auth {
            AuthConfig::OAuth(tokens) => {
                (tokens.proxy_config().clone(), tokens.tls_config().clone())
            }
            AuthConfig::Jwt { .. } => (ProxyConfig::Env, TlsConfig::default()),
        };
        ApiBuilder {
            auth,
            proxy,
            base_url: None,
            tls,
            timeouts: HttpTimeouts::default(),
            backoff: Backoff::default(),
            max_retries: DEFAULT_MAX_RETRIES,
            max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
            token_wait: DEFAULT_TOKEN_WAIT,
            max_body: http::MAX_BODY,
            jwt_lifetime: DEFAULT_LIFETIME,
        }
    }

    /// The base URL every path is relative to, such as
    /// `"https://api.zoom.us/v2"`. Default: the OAuth token's `api_url` plus
    /// `/v2`, else [`DEFAULT_API_URL`]. Must be `https://`, or `http://`
    /// with a loopback host; checked by [`ApiBuilder::build`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Trusted roots. Default: the token source's
    /// ([`TokenSource::tls_config`]) on OAuth tokens, the Mozilla roots
    /// with a JWT.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Calls go through this proxy (see [`crate::proxy`]). Default: the
    /// token source's proxy ([`TokenSource::proxy`]), or the environment's
    /// for JWT clients.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyConfig::Use(proxy);
        self
    }

    /// Calls connect directly, whatever the token source or `HTTPS_PROXY`
    /// say.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyConfig::Off;
        self
    }

    /// Timeouts of each attempt. Default [`HttpTimeouts::default`]: 10 s to
    /// connect, 30 s for the whole attempt.
    pub fn timeouts(mut self, timeouts: HttpTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Delays between retries. Default [`Backoff::default`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retries after a 429, a 5xx or a network failure. Default
    /// [`DEFAULT_MAX_RETRIES`] (3); 0 turns retries off. The one retry after
    /// a token refresh (401) is not counted.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The longest wait before a retry. A `Retry-After` asking for more
    /// makes the call fail at once with the 429 (see
    /// [`Error::retry_after`]). Default [`DEFAULT_MAX_RETRY_WAIT`] (60 s).
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// How long a call waits for an OAuth token when the source has none
    /// (at start-up, or after a 401). Default [`DEFAULT_TOKEN_WAIT`] (30 s).
    pub fn token_wait(mut self, wait: Duration) -> Self {
        self.token_wait = wait;
        self
    }

    /// The largest response body accepted, in bytes. Default 1 MiB.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// Lifetime (`exp - iat`) of the Video SDK JWTs the API signs. Default
    /// one hour; must be longer than the 30 s `iat` is backdated by. Has no
    /// effect with OAuth tokens.
    pub fn jwt_lifetime(mut self, lifetime: Duration) -> Self {
        self.jwt_lifetime = lifetime;
        self
    }

    /// Checks the settings and builds the API client. An invalid base URL
    /// or JWT lifetime is an [`Error::Config`].
    pub fn build(self) -> Result<Api> {
        let base_url = match &self.base_url {
            Some(url) => Some(parse_base(url.trim(), "the REST API base URL")?),
            None => None,
        };
        let auth = match self.auth {
            AuthConfig::OAuth(tokens) => Auth::OAuth(tokens),
            AuthConfig::Jwt { api_key, secret } => {
                if self.jwt_lifetime <= CLOCK_SKEW {
                    return Err(Error::Config(format!(
                        "the JWT lifetime must be longer than {} s",
                        CLOCK_SKEW.as_secs()
                    )));
                }
                Auth::Jwt(JwtSigner {
                    signer: ApiToken::new(api_key, secret).lifetime(self.jwt_lifetime),
                    lifetime: self.jwt_lifetime,
                    current: Mutex::new(None),
                })
            }
        };
        Ok(Api {
            inner: Arc::new(Inner {
                auth,
                base_url,
                agent: http::agent(&self.tls, &self.timeouts, &self.proxy),
                timeouts: self.timeouts,
                backoff: self.backoff,
                max_retries: self.max_retries,
                max_retry_wait: self.max_retry_wait,
                token_wait: self.token_wait,
                max_body: self.max_body,
            }),
        })
    }
}

impl fmt::Debug for ApiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            AuthConfig::OAuth(_) => "oauth",
            AuthConfig::Jwt { .. } => "jwt",
        };
        f.debug_struct("ApiBuilder")
            .field("auth", &auth)
            .field("base_url", &self.base_url)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("timeouts", &self.timeouts)
            .field("backoff", &self.backoff)
            .field("max_retries", &self.max_retries)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("token_wait", &self.token_wait)
            .field("max_body", &self.max_body)
            .field("jwt_lifetime", &self.jwt_lifetime)
            .finish()
    }
}

/// One request, from [`Api::get`] and friends: add query parameters and a
/// body, then [`send`](ApiRequest::send) it or iterate its
/// [`pages`](ApiRequest::pages).
#[must_use = "a request does nothing until it is sent"]
pub struct ApiRequest {
    api: Api,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    /// The JSON body, or why it could not be serialised.
    body: Option<std::result::Result<Vec<u8>, String>>,
}

impl ApiRequest {
    /// Adds a query parameter (percent-encoded here). Repeating a name
    /// sends it twice.
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((name.into(), value.to_string()));
        self
    }

    /// Sets the JSON body (`Content-Type: application/json`). A value that
    /// cannot be serialised (a map with non-string keys) makes the call fail
    /// with [`Error::Config`].
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = Some(serde_json::to_vec(body).map_err(|e| e.to_string()));
        self
    }

    /// Sends the request: the answer's JSON, [`Value::Null`] for an empty
    /// body (`204 No Content`).
    pub fn send(self) -> Result<Value> {
        self.send_as()
    }

    /// The serialised JSON body, if any; a body that failed to serialise is
    /// reported here, when the request is sent.
    fn body_bytes(&self) -> Result<Option<&[u8]>> {
        match &self.body {
            Some(Ok(bytes)) => Ok(Some(bytes.as_slice())),
            Some(Err(e)) => Err(Error::Config(format!(
                "the JSON body of {} {} could not be serialised: {e}",
                self.method, self.path
            ))),
            None => Ok(None),
        }
    }

    /// Sends the request and deserialises the answer into `T` (an empty
    /// body deserialises as JSON `null`: use `()` or `Option<_>` for calls
    /// that answer `204`).
    pub fn send_as<T: DeserializeOwned>(self) -> Result<T> {
        let bytes = self
            .api
            .execute(&self.method, &self.path, &self.query, self.body_bytes()?)?;
        parse_answer(&bytes, &self.method, &self.path)
    }

    /// The items of a paginated list, as JSON values: the array named
    /// `field` (`"meetings"`, `"users"`, `"participants"`) of each page,
    /// following `next_page_token`. See [`Pages`].
    pub fn pages(self, field: impl Into<String>) -> Pages<Value> {
        self.pages_as(field)
    }

    /// Like [`ApiRequest::pages`], each item deserialised into `T`.
    pub fn pages_as<T: DeserializeOwned>(self, field: impl Into<String>) -> Pages<T> {
        Pages {
            request: self,
            field: field.into(),
            page_size: None,
            sent_token: None,
            next_token: None,
            items: Vec::new().into_iter(),
            total_records: None,
            fetched: 0,
            max_pages: DEFAULT_MAX_PAGES,
            started: false,
            done: false,
            item: PhantomData,
        }
    }
}

impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.query.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ApiRequest")
            .field("method", &self.method.as_str())
            .field("path", &self.path)
            .field("query", &names)
            .field("body", &self.body.is_some())
            .finish_non_exhaustive()
    }
}

/// The items of a paginated list, fetched a page at a time as the iteration
/// goes (from [`ApiRequest::pages`]).
///
/// Each page is the request with `next_page_token` set to the token of the
/// page before (and `page_size` if set); the items are the array named by
/// the field. The iteration ends after the page whose `next_page_token` is
/// empty or absent.
///
/// Items are `Result`s:
/// - a page that fails (after the retries of the [module docs](self)) is
///   an `Err` item, and the last one;
/// - an item that does not deserialise into `T` is an `Err` item, and the
///   iteration goes on;
/// - a page without the field is an empty page when its `total_records` is
///   absent or 0, and an error otherwise (most likely a misspelt field);
/// - a page that hands back the `next_page_token` it was asked with is an
///   error (it would loop forever);
/// - after [`Pages::max_pages`] pages (default [`DEFAULT_MAX_PAGES`], 1000)
///   with a `next_page_token` still coming, the next item is an error and
///   the last one: a server that never ends the list (new tokens forever)
///   cannot keep the loop going.
///
/// Zoom's page tokens expire after 15 minutes: iterate without long pauses.
#[must_use = "iterators are lazy: no page is fetched until the iteration starts"]
pub struct Pages<T = Value> {
    request: ApiRequest,
    field: String,
    page_size: Option<u32>,
    /// The token the last page was fetched with.
    sent_token: Option<String>,
    /// The token of the next page.
    next_token: Option<String>,
    items: std::vec::IntoIter<Value>,
    total_records: Option<u64>,
    /// Pages fetched so far, and the cap.
    fetched: u32,
    max_pages: u32,
    started: bool,
    done: bool,
    item: PhantomData<fn() -> T>,
}

impl<T> Pages<T> {
    /// Sets `page_size` on every page request (Zoom's default is 30, most
    /// list endpoints allow up to 300).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// The most pages fetched. Default [`DEFAULT_MAX_PAGES`] (1000: 300,000
    /// items at Zoom's largest page size). Asking for page `max_pages + 1`
    /// yields an error instead (see [`Pages`]). 0 counts as 1.
    pub fn max_pages(mut self, max: u32) -> Self {
        self.max_pages = max.max(1);
        self
    }

    /// `total_records` of the last page fetched, if it had one.
    pub fn total_records(&self) -> Option<u64> {
        self.total_records
    }

    /// Fetches the next page into `self.items`.
    fn fetch(&mut self) -> Result<()> {
        let request = &self.request;
        if self.fetched >= self.max_pages {
            return Err(Error::invalid(
                format!("from {WHAT} ({} {})", request.method, request.path),
                format!(
                    "still more pages after {} (max_pages): stopped",
                    self.max_pages
                ),
            ));
        }
        self.fetched += 1;
        let mut query: Vec<(String, String)> = request
            .query
            .iter()
            .filter(|(k, _)| {
                k != "next_page_token" && !(self.page_size.is_some() && k == "page_size")
            })
            .cloned()
            .collect();
        if let Some(size) = self.page_size {
            query.push(("page_size".into(), size.to_string()));
        }
        if let Some(token) = &self.next_token {
            query.push(("next_page_token".into(), token.clone()));
        }
        let bytes = request.api.execute(
            &request.method,
            &request.path,
            &query,
            request.body_bytes()?,
        )?;
        let context = || format!("from {WHAT} ({} {})", request.method, request.path);
        let page: Value = parse_answer(&bytes, &request.method, &request.path)?;
        let Value::Object(mut page) = page else {
            return Err(Error::invalid(context(), "a page is not a JSON object"));
        };
        self.total_records = page.get("total_records").and_then(Value::as_u64);
        let items = match page.remove(&self.field) {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) if self.total_records.unwrap_or(0) == 0 => Vec::new(),
            None | Some(Value::Null) => {
                return Err(Error::invalid(
                    context(),
                    format!(
                    "the page has no {:?} array but total_records is {} (is the field name right?)",
                    self.field,
                    self.total_records.unwrap_or(0)
                ),
                ))
            }
            Some(_) => {
                return Err(Error::invalid(
                    context(),
                    format!("{:?} is not an array", self.field),
                ))
            }
        };
        let next = match page.get("next_page_token") {
            Some(Value::String(token)) if !token.is_empty() => Some(token.clone()),
            _ => None,
        };
        if next.is_some() && next == self.next_token {
            return Err(Error::invalid(
                context(),
                "the page repeats the next_page_token it was fetched with",
            ));
        }
        self.sent_token = self.next_token.take();
        self.done = next.is_none();
        self.next_token = next;
        self.items = items.into_iter();
        Ok(())
    }
}

impl<T: DeserializeOwned> Iterator for Pages<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.items.next() {
                return Some(serde_json::from_value(item).map_err(|e| {
                    Error::invalid(
                        format!(
                            "from {WHAT} ({} {}), an item of {:?}",
                            self.request.method, self.request.path, self.field
                        ),
                        crate::text::json_error(&e),
                    )
                }));
            }
            if self.done {
                return None;
            }
            self.started = true;
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("request", &self.request)
            .field("field", &self.field)
            .field("page_size", &self.page_size)
            .field("started", &self.started)
            .field("done", &self.done)
            .field("total_records", &self.total_records)
            .field("pages", &self.fetched)
            .field("max_pages", &self.max_pages)
            .finish_non_exhaustive()
    }
}

/// Parses a base URL: `https://`, or `http://` for loopback; no query.
fn parse_base(url: &str, what: &str) -> Result<Endpoint> {
    let endpoint = Endpoint::parse(url, "https", "http", what)?;
    if endpoint.path_and_query.contains(['?', '#']) {
        return Err(Error::Config(format!(
            "{what} {url:?}: must not have a query string"
        )));
    }
    Ok(endpoint)
}

/// The `api_url` of a token answer from the token endpoint at
/// `token_host` (`host` or `host:port`), if it may be used as the REST base
/// (see [the module docs](self#base-url)); `None` (and a WARN) if not.
pub(crate) fn vet_api_url(api_url: String, token_host: &str) -> Option<String> {
    if !is_zoom_host(host_of(token_host)) {
        return Some(api_url);
    }
    if is_zoom_api_url(&api_url) {
        return Some(api_url);
    }
    log::warn!(
        "the token endpoint at {token_host} sent api_url {:?}, not a Zoom API host: using {DEFAULT_API_URL}",
        crate::text::summary(api_url.as_bytes(), 100, &[])
    );
    None
}

/// True for an `https://` URL on one of Zoom's hosts.
pub(crate) fn is_zoom_api_url(url: &str) -> bool {
    Endpoint::parse(url.trim(), "https", "https", "api_url")
        .is_ok_and(|e| e.secure && is_zoom_host(&e.host))
}

/// The host of a `host`, `host:port` or `[v6]:port` text.
fn host_of(host_port: &str) -> &str {
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    }
}

/// `zoom.us`, `zoomgov.com` or a subdomain of either, in any case, with or
/// without a final dot.
fn is_zoom_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    ["zoom.us", "zoomgov.com"].iter().any(|zoom| {
        host == *zoom
            || host
                .strip_suffix(zoom)
                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
    })
}

/// Percent-encodes one path segment: every byte but RFC 3986's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, `/` included, so an id
/// from user input or an event stays one segment.
///
/// ```
/// use zoom_ws::rest::segment;
///
/// assert_eq!(segment("85012345678"), "85012345678");
/// assert_eq!(segment("/ab//c=="), "%2Fab%2F%2Fc%3D%3D");
/// assert_eq!(segment("x/../../users/me"), "x%2F..%2F..%2Fusers%2Fme");
/// // Zoom wants UUIDs that start with `/` or contain `//` encoded twice:
/// assert_eq!(segment(&segment("/ab")), "%252Fab");
/// ```
///
/// `.` and `..` are unreserved and stay as they are. A request whose
/// segment is, or decodes to, a dot segment (`..`, `../x` encoded as
/// `..%2Fx`) is refused with [`Error::Config`] when it is sent (see [the
/// module docs](self#paths)): the id was hostile or broken either way.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::text::percent_encode(&mut out, s);
    out
}

/// How many rounds of percent-decoding [`check_path`] looks through.
const DECODE_ROUNDS: usize = 3;

/// Refuses paths that could send the token somewhere else on the API host
/// or beyond: absolute URLs, dot segments in any encoding, `#`, spaces and
/// control characters. Checked before any token is taken.
fn check_path(path: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::Config(format!(
            "the API path {:?} {why}",
            crate::text::truncate(path, 200)
        )))
    };
    if path.contains("://") || path.starts_with("//") {
        return refuse("must be relative to the base URL, such as \"/users/me\"");
    }
    if path.chars().any(|c| c.is_control() || c == ' ' || c == '#') {
        return refuse(
            "has a space, a control character or a '#': percent-encode it (rest::segment)",
        );
    }
    let path_only = path.split('?').next().unwrap_or("");
    for seg in path_only.split('/') {
        let mut text = seg.to_owned();
        for _ in 0..=DECODE_ROUNDS {
            if text
                .split(['/', '\\'])
                .any(|part| part == "." || part == "..")
            {
                return refuse(
                    "has a '.' or '..' segment (perhaps percent-encoded): it would address another resource; encode ids with rest::segment",
                );
            }
            // Invalid UTF-8 once decoded becomes U+FFFD.
            let decoded = String::from_utf8_lossy(&crate::text::percent_decode(&text)).into_owned();
            if decoded == text {
                break;
            }
            text = decoded;
        }
    }
    Ok(())
}

/// `base` + `path` + the percent-encoded query.
fn join_url(base: &str, path: &str, query: &[(String, String)]) -> String {
    let mut url = base.trim_end_matches('/').to_owned();
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(path);
    let mut separator = if path.contains('?') { '&' } else { '?' };
    for (name, value) in query {
        url.push(separator);
        separator = '&';
        crate::text::percent_encode(&mut url, name);
        url.push('=');
        crate::text::percent_encode(&mut url, value);
    }
    url
}

/// True when a ureq error means the request never left: no connection.
fn nothing_sent(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
        ),
        _ => false,
    }
}

/// A 2xx body as `T`; an empty body as JSON `null`.
pub(crate) fn parse_answer<T: DeserializeOwned>(
    bytes: &[u8],
    method: &Method,
    path: &str,
) -> Result<T> {
    let result = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_value(Value::Null)
    } else {
        serde_json::from_slice(bytes)
    };
    result.map_err(|e| {
        Error::invalid(
            format!("from {WHAT} ({method} {path})"),
            format!(
                "the answer is not the JSON expected: {}",
                crate::text::json_error(&e)
            ),
        )
    })
}

/// Zoom's error answer: `{"code":124,"message":"Invalid access token."}`,
/// plus `errors` for validation failures.
#[derive(Deserialize)]
struct ZoomError {
    code: Option<Value>,
    message: Option<Value>,
    errors: Option<Vec<Map<String, Value>>>,
}

/// [`Error::Http`] for a non-2xx answer, every `scrub` string removed.
pub(crate) fn api_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    scrub: &[&str],
) -> Error {
    let parsed: Option<ZoomError> = serde_json::from_slice(body).ok();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let code = parsed
        .as_ref()
        .and_then(|p| p.code.as_ref())
        .and_then(text)
        .map(|c| crate::text::summary(c.as_bytes(), 64, scrub));
    let mut message = match &parsed {
        Some(p) => p.message.as_ref().and_then(text).unwrap_or_default(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    // Validation failures (code 300) name the fields.
    let fields: Vec<String> = parsed
        .as_ref()
        .and_then(|p| p.errors.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let field = e.get("field").and_then(text);
            let msg = e.get("message").and_then(text);
            match (field, msg) {
                (Some(f), Some(m)) => Some(format!("{f}: {m}")),
                (None, Some(m)) => Some(m),
                (Some(f), None) => Some(f),
                (None, None) => None,
            }
        })
        .collect();
    if !fields.is_empty() {
        if !message.is_empty() {
            message.push(' ');
        }
        message.push_str(&format!("({})", fields.join("; ")));
    }
    Error::Http {
        status,
        code,
        message: crate::text::summary(message.as_bytes(), MAX_MESSAGE_CHARS, scrub),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn urls() {
        let base = "https://api.zoom.us/v2";
        assert_eq!(
            join_url(base, "/users/me", &[]),
            "https://api.zoom.us/v2/users/me"
        );
        assert_eq!(
            join_url("https://api.zoom.us/v2/", "users/me", &[]),
            "https://api.zoom.us/v2/users/me"
        );
        assert_eq!(
            join_url(
                base,
                "/report/meetings",
                &q(&[("from", "2024-01-01"), ("q", "a b&c=d/é~")])
            ),
            "https://api.zoom.us/v2/report/meetings?from=2024-01-01&q=a%20b%26c%3Dd%2F%C3%A9~"
        );
        assert_eq!(
            join_url(base, "/x?type=live", &q(&[("page_size", "3")])),
            "https://api.zoom.us/v2/x?type=live&page_size=3"
        );
        assert!(check_path("https://evil.example/x").is_err());
        assert!(check_path("//evil.example/x").is_err());
        assert!(check_path("/users/me").is_ok());
    }

    #[test]
    fn dot_segments_in_any_encoding() {
        for bad in [
            "/meetings/../users/x",
            "/meetings/..",
            "../users",
            "/meetings/./x",
            "/a/%2e%2e/b",
            "/a/%2E%2E/b",
            "/a/.%2e/b",
            "/a/%2E./b",
            "/a/%2e/b",
            "/a/..%2fusers",
            "/a/..%2Fusers",
            "/a/..%5cusers",
            "/a/%252e%252e/b",
            "/a/%25252E%25252e/b",
            "/a/x%252F..%252Fy",
            "/a/..?x=1",
            "/a b",
            "/a\r\nHost: evil",
            "/a#/../b",
            "/a/\u{0}",
        ] {
            match check_path(bad) {
                Err(Error::Config(why)) => assert!(!why.contains('\r'), "{why}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for ok in [
            "/users/me",
            "users/me",
            "/a/...",
            "/a/.b/c.",
            "/a/%2e%2e%2e",
            "/x?next=../y",
            "/past_meetings/ab%252F%252Fcd%253D%253D/instances",
            "/a/%zz/%2",
            "",
            "/",
        ] {
            check_path(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        assert_eq!(segment("a/b?c#d e.~"), "a%2Fb%3Fc%23d%20e.~");
        // An id through segment() is one harmless segment, or refused when
        // a server decoding it would see a dot segment.
        for id in ["/", "x\r\n#", "é", "a//b==", "%2", "..."] {
            check_path(&format!("/meetings/{}", segment(id))).unwrap();
        }
        for id in ["..", ".", "../x", "a/./b", "%2e%2e", "%2e"] {
            assert!(check_path(&format!("/meetings/{}", segment(id))).is_err());
        }
    }

    #[test]
    fn api_url_from_a_zoom_token_endpoint_must_be_zoom() {
        let vet = |url: &str, host: &str| vet_api_url(url.to_owned(), host);
        for ok in [
            "https://api.zoom.us",
            "https://api.zoom.us/",
            "https://API.Zoom.US.",
            "https://api.zoomgov.com",
            "https://eu01api.zoom.us:443/v2",
        ] {
            assert_eq!(vet(ok, "zoom.us").as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "http://api.zoom.us",
            "https://evilzoom.us",
            "https://zoom.us.evil.example",
            "https://api.zoom.us@evil.example",
            "https://evil.example/api.zoom.us",
            "https://.zoom.us",
            "http://127.0.0.1:9",
            "not a url",
            "https://api.zoom.us\r\nX: y",
        ] {
            for host in ["zoom.us", "ZOOM.US:443", "zoomgov.com", "eu01.zoom.us"] {
                assert_eq!(vet(bad, host), None, "{bad} from {host}");
            }
        }
        // A token endpoint elsewhere (loopback, configured): taken as is.
        for host in [
            "127.0.0.1:8080",
            "[::1]:9",
            "localhost",
            "oauth-proxy.example:8443",
        ] {
            assert_eq!(
                vet("http://127.0.0.1:9", host).as_deref(),
                Some("http://127.0.0.1:9")
            );
        }
        assert_eq!(host_of("[::1]:9"), "::1");
        assert_eq!(host_of("zoom.us:443"), "zoom.us");
        assert_eq!(host_of("zoom.us"), "zoom.us");
    }

    /// A foreign api_url in a token answer from zoom.us receives nothing:
    /// the base falls back to the default, and the foreign server sees no
    /// connection. (A test cannot get a token from zoom.us itself; the
    /// token below is what parse_token builds from such an answer.)
    #[test]
    fn foreign_api_url_receives_nothing() {
        let foreign = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        foreign.set_nonblocking(true).unwrap();
        let foreign_url = format!("http://{}", foreign.local_addr().unwrap());
        let token = |api_url: Option<String>| Bearer {
            secret: Secret::new("t"),
            token: Some(AccessToken {
                token: Secret::new("t"),
                token_type: "bearer".into(),
                scopes: Vec::new(),
                api_url,
                expires_at: Instant::now() + Duration::from_secs(60),
                generation: 1,
            }),
        };
        let api = Api::with_jwt("k", "s");
        let vetted = token(vet_api_url(foreign_url.clone(), "zoom.us"));
        assert_eq!(api.base(&vetted).unwrap().url, DEFAULT_API_URL);
        // Unvetted, it would have been the base: the check is what matters.
        let unvetted = token(Some(foreign_url.clone()));
        assert_eq!(
            api.base(&unvetted).unwrap().url,
            format!("{foreign_url}/v2")
        );
        assert!(matches!(
            foreign.accept(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ));
    }

    #[test]
    fn bases() {
        assert!(parse_base("https://api.zoom.us/v2", "b").is_ok());
        assert!(parse_base("http://127.0.0.1:8080/v2", "b").is_ok());
        let e = parse_base("http://api.zoom.us/v2", "b").unwrap_err();
        assert!(e.to_string().contains("only for loopback"), "{e}");
        assert!(parse_base("https://api.zoom.us/v2?x=1", "b").is_err());
    }

    #[test]
    fn zoom_errors() {
        let e = api_error(
            404,
            br#"{"code":3001,"message":"Meeting does not exist: 123."}"#,
            None,
            &[],
        );
        match &e {
            Error::Http {
                status: 404,
                code: Some(code),
                message,
                retry_after: None,
            } => {
                assert_eq!(code, "3001");
                assert_eq!(message, "Meeting does not exist: 123.");
            }
            other => panic!("{other:?}"),
        }
        assert!(!e.is_transient());

        let e = api_error(
            400,
            br#"{"code":300,"message":"Validation Failed.","errors":[{"field":"settings.x","message":"Invalid field."}]}"#,
            None,
            &[],
        );
        assert!(
            e.to_string()
                .ends_with("Validation Failed. (settings.x: Invalid field.)"),
            "{e}"
        );

        let e = api_error(
            401,
            br#"{"code":"124","message":"bad tok-en"}"#,
            None,
            &["tok-en"],
        );
        assert_eq!(e.to_string(), "HTTP 401 (code 124): bad ***");

        let e = api_error(
            502,
            b"<html>Bad Gateway</html>\n",
            Some(Duration::from_secs(2)),
            &[],
        );
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(e.to_string().contains("<html>Bad Gateway</html>"), "{e}");

        let e = api_error(500, b"", None, &[]);
        assert_eq!(e.to_string(), "HTTP 500");
    }

    #[test]
    fn answers() {
        let m = Method::GET;
        assert_eq!(parse_answer::<Value>(b"", &m, "/x").unwrap(), Value::Null);
        assert_eq!(
            parse_answer::<Value>(b" \r\n", &m, "/x").unwrap(),
            Value::Null
        );
        parse_answer::<()>(b"", &m, "/x").unwrap();
        assert_eq!(
            parse_answer::<Value>(br#"{"a":1}"#, &m, "/x").unwrap()["a"],
            1
        );
        let e = parse_answer::<Value>(b"<html>", &m, "/x").unwrap_err();
        assert!(matches!(e, Error::InvalidResponse { .. }), "{e:?}");
    }

    #[test]
    fn jwt_is_reused_until_near_expiry() {
        let signer = |lifetime| JwtSigner {
            signer: ApiToken::new("k", "s").lifetime(lifetime),
            lifetime,
            current: Mutex::new(None),
        };
        let s = signer(DEFAULT_LIFETIME);
        let a = s.token().unwrap();
        assert_eq!(a, s.token().unwrap());
        // Expired by hand: the next one is new (iat may tie within a second,
        // so compare the stored expiry rather than the text).
        *s.current.lock().unwrap() = Some((a, Instant::now()));
        s.token().unwrap();
        let left = s.current.lock().unwrap().as_ref().unwrap().1 - Instant::now();
        assert!(left > Duration::from_secs(3000), "{left:?}");
        s.forget();
        assert!(s.current.lock().unwrap().is_none());
    }
}
