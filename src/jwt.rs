//! Video SDK JWTs: HS256 tokens signed with the Video SDK secret.
//!
//! Zoom's Video SDK uses two different tokens, both signed with the secret of
//! the Video SDK key:
//!
//! - [`ApiToken`]: the **API JWT** for `https://api.zoom.us/v2/videosdk/...`
//!   REST calls, sent as `Authorization: Bearer <jwt>`. Payload
//!   `{"iss": api_key, "iat", "exp"}`.
//! - [`SessionToken`]: the **session JWT** an SDK client joins a session with.
//!   Payload `app_key`, `tpc` (the session name), `role_type`, optionally
//!   `session_key`, `user_identity` and `version`, then `iat`, `exp`.
//!
//! Both have the header `{"alg":"HS256","typ":"JWT"}` and are encoded as
//! base64url without padding (RFC 7515).
//!
//! # Time
//!
//! Times are epoch seconds. Every function that needs the clock has an `_at`
//! variant (or a `now` parameter) that takes it, so tests do not depend on
//! the system clock. Like Zoom's sample code, `iat` is backdated by
//! [`CLOCK_SKEW`] (30 s) so that a server whose clock runs a little behind
//! ours does not see a token issued in the future, and `exp` is
//! `iat + lifetime`: the lifetime Zoom measures (`exp - iat`) is exactly the
//! one you asked for.
//!
//! # Tokens are secrets
//!
//! Signed tokens are returned as [`Secret`]: a JWT is a bearer credential
//! until it expires. `Debug` and `Display` print `***`; call
//! [`Secret::expose`] where the token goes on the wire.
//!
//! # Verifying
//!
//! [`decode`] checks a token (structure, algorithm, signature, expiry) and
//! returns its claims. It is meant for tests, and for servers that hand out
//! session tokens and want to check one they issued. [`decode_with`] adds
//! opt-in checks ([`Validation`]: leeway, `nbf`, `iat` in the future, a
//! maximum lifetime). An empty secret is refused on both sides, signing and
//! verifying, with [`Error::Config`].
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use zoom_ws::{jwt, Secret};
//!
//! let secret = Secret::new("my-video-sdk-secret");
//! let token = jwt::ApiToken::new("my-video-sdk-key", secret.clone()).sign()?;
//! // Authorization: Bearer <token.expose()>
//! let claims = jwt::decode(token.expose(), &secret, SystemTime::now(), Duration::ZERO)?;
//! assert_eq!(claims["iss"], "my-video-sdk-key");
//! # Ok::<_, zoom_ws::Error>(())
//! ```

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, JwtError, Result};
use crate::hmac;
use crate::secret::Secret;
use crate::time::epoch_secs;

/// The header of every token this module signs, as it is encoded.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Default lifetime of a token (`exp - iat`): one hour.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// How far `iat` is backdated to absorb clock differences: 30 seconds, as in
/// Zoom's sample code.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// The claims of a decoded token, in a JSON object.
pub type Claims = Map<String, Value>;

/// Seconds of `d`, saturated to `i64`.
fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `(iat, exp)` for a token made at `now` that lives `lifetime`.
fn times(now: SystemTime, lifetime: Duration) -> (i64, i64) {
    let iat = epoch_secs(now).saturating_sub(secs(CLOCK_SKEW));
    (iat, iat.saturating_add(secs(lifetime)))
}

/// The error for an empty secret, on either side: anyone can sign with it.
fn empty_secret() -> Error {
    Error::Config("the JWT secret is empty: anyone could sign such tokens".into())
}

/// Signs `payload` (a JSON value that serialises to an object) with HS256.
/// An empty secret is refused with [`Error::Config`].
fn sign<T: Serialize>(payload: &T, secret: &Secret) -> Result<Secret> {
    if secret.is_empty() {
        return Err(empty_secret());
    }
    // Serialising plain structs of strings and integers cannot fail.
    let payload = serde_json::to_vec(payload).unwrap_or_default();
    let mut token = URL_SAFE_NO_PAD.encode(HEADER);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let tag = hmac::sign(secret.expose().as_bytes(), &[token.as_bytes()]);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut token);
    Ok(Secret::new(token))
}

/// Builder of the **API JWT** for Video SDK REST calls.
///
/// Payload `{"iss": api_key, "iat": now - 30 s, "exp": iat + lifetime}`, in
/// that order; header `{"alg":"HS256","typ":"JWT"}`. The lifetime defaults
/// to [`DEFAULT_LIFETIME`] (one hour). `Debug` does not print the secret.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use zoom_ws::jwt::ApiToken;
///
/// let api = ApiToken::new("my-key", "my-secret").lifetime(Duration::from_secs(600));
/// let token = api.sign_at(UNIX_EPOCH + Duration::from_secs(1_700_000_000))?;
/// assert_eq!(token.expose().split('.').count(), 3);
/// assert_eq!(format!("{token:?}"), "Secret(***)");
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ApiToken {
    api_key: String,
    secret: Secret,
    lifetime: Duration,
}

#[derive(Serialize)]
struct ApiClaims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
}

impl ApiToken {
    /// A builder for the Video SDK key `api_key` and its secret.
    pub fn new(api_key: impl Into<String>, secret: impl Into<Secret>) -> Self {
        ApiToken {
            api_key: api_key.into(),
            secret: secret.into(),
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Sets the lifetime (`exp - iat`). Default [`DEFAULT_LIFETIME`], one hour.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Signs a token issued now (system clock).
    pub fn sign(&self) -> Result<Secret> {
        self.sign_at(SystemTime::now())
    }

    /// Signs a token issued at `now`: `iat = now - 30 s`, `exp = iat + lifetime`.
    /// An empty secret is refused with [`Error::Config`].
    pub fn sign_at(&self, now: SystemTime) -> Result<Secret> {
        let (iat, exp) = times(now, self.lifetime);
        let claims = ApiClaims {
            iss: &self.api_key,
            iat,
            exp,
        };
        sign(&claims, &self.secret)
    }
}

/// The role of a session JWT's holder (`role_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Role {
    /// `role_type: 0`.
    #[default]
    Participant,
    /// `role_type: 1`: the host of the session.
    Host,
}

impl Role {
    /// The number Zoom expects in `role_type`: 1 for the host, 0 for a participant.
    pub fn role_type(self) -> u8 {
        match self {
            Role::Participant => 0,
            Role::Host => 1,
        }
    }
}

/// Builder of the **session JWT** a Video SDK client joins a session with.
///
/// Payload, in this order: `app_key`, `tpc` (the session name), `role_type`,
/// `session_key` and `user_identity` if set, `version` (1 unless changed),
/// any [extra claims](SessionToken::claim), `iat` (now - 30 s), `exp`
/// (`iat + lifetime`). Defaults: [`Role::Participant`], `version` 1, lifetime
/// [`DEFAULT_LIFETIME`] (one hour).
///
/// Zoom's Video SDK docs set limits on some fields (such as the session
/// name's length and the lifetime); check them there: they are not checked
/// here.
/// `Debug` does not print the secret.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use zoom_ws::jwt::{self, Role, SessionToken};
/// use zoom_ws::Secret;
///
/// let secret = Secret::new("my-video-sdk-secret");
/// let token = SessionToken::new("my-video-sdk-key", secret.clone(), "weekly-standup")
///     .role(Role::Host)
///     .user_identity("user-42")
///     .sign()?;
/// let claims = jwt::decode(token.expose(), &secret, SystemTime::now(), Duration::ZERO)?;
/// assert_eq!(claims["tpc"], "weekly-standup");
/// assert_eq!(claims["role_type"], 1);
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionToken {
    app_key: String,
    secret: Secret,
    session_name: String,
    role: Role,
    session_key: Option<String>,
    user_identity: Option<String>,
    version: Option<u32>,
    extra: Vec<(String, Value)>,
    lifetime: Duration,
}

#[derive(Serialize)]
struct SessionClaims<'a> {
    app_key: &'a str,
    tpc: &'a str,
    role_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_identity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(flatten)]
    extra: Extra<'a>,
    iat: i64,
    exp: i64,
}

/// Extra claims, serialised in the order they were added.
struct Extra<'a>(&'a [(String, Value)]);

impl Serialize for Extra<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// Claim names the builder sets itself; [`SessionToken::claim`] ignores them.
const SESSION_CLAIMS: [&str; 8] = [
    "app_key",
    "tpc",
    "role_type",
    "session_key",
    "user_identity",
    "version",
    "iat",
    "exp",
];

impl SessionToken {
    /// A builder for the Video SDK key `app_key`, its secret, and the session
    /// name (`tpc`).
    pub fn new(
        app_key: impl Into<String>,
        secret: impl Into<Secret>,
        session_name: impl Into<String>,
    ) -> Self {
        SessionToken {
            app_key: app_key.into(),
            secret: secret.into(),
            session_name: session_name.into(),
            role: Role::Participant,
            session_key: None,
            user_identity: None,
            version: Some(1),
            extra: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Sets the role (`role_type`). Default [`Role::Participant`].
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Sets `session_key`. Not set by default.
    pub fn session_key(mut self, session_key: impl Into<String>) -> Self {
        self.session_key = Some(session_key.into());
        self
    }

    /// Sets `user_identity`. Not set by default.
    pub fn user_identity(mut self, user_identity: impl Into<String>) -> Self {
        self.user_identity = Some(user_identity.into());
        self
    }

    /// Sets `version`, or leaves it out with `None`. Default `Some(1)`, as in
    /// Zoom's sample code.
    pub fn version(mut self, version: Option<u32>) -> Self {
        self.version = version;
        self
    }

    /// Adds a claim this builder has no method for (for example
    /// `geo_regions` or `cloud_recording_option`). Claims are written in the
    /// order they were added, after `version` and before `iat`; adding a name
    /// twice keeps the last value. Names the builder sets itself (`app_key`,
    /// `tpc`, `role_type`, `session_key`, `user_identity`, `version`, `iat`,
    /// `exp`) are ignored: use the dedicated methods.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if SESSION_CLAIMS.contains(&name.as_str()) {
            return self;
        }
        let value = value.into();
        match self.extra.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.extra.push((name, value)),
        }
        self
    }

    /// Sets the lifetime (`exp - iat`). Default [`DEFAULT_LIFETIME`], one hour.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Signs a token issued now (system clock).
    pub fn sign(&self) -> Result<Secret> {
        self.sign_at(SystemTime::now())
    }

    /// Signs a token issued at `now`: `iat = now - 30 s`, `exp = iat + lifetime`.
    /// An empty secret is refused with [`Error::Config`].
    pub fn sign_at(&self, now: SystemTime) -> Result<Secret> {
        let (iat, exp) = times(now, self.lifetime);
        let claims = SessionClaims {
            app_key: &self.app_key,
            tpc: &self.session_name,
            role_type: self.role.role_type(),
            session_key: self.session_key.as_deref(),
            user_identity: self.user_identity.as_deref(),
            version: self.version,
            extra: Extra(&self.extra),
            iat,
            exp,
        };
        sign(&claims, &self.secret)
    }
}

/// At most 32 characters of an untrusted string, for an error message.
fn shorten(s: &str) -> String {
    s.chars().take(32).collect()
}

fn malformed(why: &str) -> JwtError {
    JwtError::Malformed(why.to_owned())
}

/// Decodes one base64url part (no padding).
fn base64_part(part: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(format!("{what} is not base64url without padding")))
}

/// Parses a decoded part as a JSON object.
fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, JwtError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed(format!("{what} is not a JSON object"))),
    }
}

/// Checks an HS256 token against `secret` and returns its claims:
/// [`decode_with`] with [`Validation::default`] and this `leeway`.
///
/// In this order:
/// 1. three base64url parts (no padding) separated by dots, the header a JSON
///    object, else [`JwtError::Malformed`] (the payload's JSON is only read
///    once the signature is known to be good);
/// 2. the header's `alg` is `HS256`, else [`JwtError::Algorithm`] (`none`
///    and every other algorithm are refused; a header with `crit` is
///    [`JwtError::Malformed`]);
/// 3. the signature matches, compared in constant time, else
///    [`JwtError::Signature`];
/// 4. the payload is a JSON object with a numeric `exp`, else
///    [`JwtError::Malformed`] (a token without `exp` never expires, so it is
///    refused);
/// 5. `now < exp + leeway`, else [`JwtError::Expired`]. Pass
///    `Duration::ZERO` for no leeway.
///
/// Only `exp` is checked: `iat`, `nbf`, `iss` and the rest are returned for
/// the caller to judge (or checked by [`decode_with`], on request). An
/// empty `secret` is refused with [`Error::Config`]: anyone can sign with
/// it. Never panics, whatever the input (a huge `exp` such as `u64::MAX`
/// saturates). Errors are [`Error::Jwt`] and never
/// contain the token or the secret.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use zoom_ws::jwt::{self, ApiToken};
/// use zoom_ws::{Error, JwtError, Secret};
///
/// let secret = Secret::new("s3cret");
/// let issued = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let token = ApiToken::new("key", secret.clone()).sign_at(issued)?;
///
/// let claims = jwt::decode(token.expose(), &secret, issued, Duration::ZERO)?;
/// assert_eq!(claims["iat"], 1_700_000_000 - 30);
///
/// let later = issued + Duration::from_secs(2 * 3600);
/// let err = jwt::decode(token.expose(), &secret, later, Duration::ZERO).unwrap_err();
/// assert!(matches!(err, Error::Jwt(JwtError::Expired { .. })));
/// # Ok::<_, zoom_ws::Error>(())
/// ```
pub fn decode(token: &str, secret: &Secret, now: SystemTime, leeway: Duration) -> Result<Claims> {
    decode_with(token, secret, now, &Validation::default().leeway(leeway))
}

/// Like [`decode`], with the checks of `validation` on top of the
/// structure, algorithm, signature and `exp` checks.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use zoom_ws::jwt::{self, ApiToken, Validation};
/// use zoom_ws::{Error, JwtError, Secret};
///
/// let secret = Secret::new("s3cret");
/// let issued = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let token = ApiToken::new("key", secret.clone())
///     .lifetime(Duration::from_secs(2 * 24 * 3600))
///     .sign_at(issued)?;
///
/// let strict = Validation::default()
///     .leeway(Duration::from_secs(60))
///     .check_iat(true)
///     .max_lifetime(Some(Duration::from_secs(24 * 3600)));
/// let err = jwt::decode_with(token.expose(), &secret, issued, &strict).unwrap_err();
/// assert!(matches!(err, Error::Jwt(JwtError::LifetimeTooLong { .. })));
/// # Ok::<_, zoom_ws::Error>(())
/// ```
pub fn decode_with(
    token: &str,
    secret: &Secret,
    now: SystemTime,
    validation: &Validation,
) -> Result<Claims> {
    if secret.is_empty() {
        return Err(empty_secret());
    }
    Ok(decode_jwt(token, secret, now, validation)?)
}

/// Checks [`decode_with`] makes beyond structure, algorithm, signature and
/// `exp`, all opt-in. Defaults ([`Validation::default`]): no leeway, `nbf`
/// and `iat` not checked, no maximum lifetime: exactly the checks of
/// [`decode`].
///
/// `Debug` shows the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Validation {
    /// Tolerance for clock differences, applied to every time check. Default 0.
    pub leeway: Duration,
    /// Refuse a token whose `nbf` (not before) is after `now + leeway`, and
    /// one whose `nbf` is present but not a number. Default false.
    pub check_nbf: bool,
    /// Refuse a token without a numeric `iat`, or issued after
    /// `now + leeway` (in the future). Default false.
    pub check_iat: bool,
    /// Refuse a token whose lifetime `exp - iat` is longer than this (and
    /// one without a numeric `iat`, whose lifetime is unknown). Default
    /// `None`: any lifetime. Zoom's Video SDK tokens live at most 48 hours.
    pub max_lifetime: Option<Duration>,
}

impl Validation {
    /// Sets [`Validation::leeway`].
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets [`Validation::check_nbf`].
    pub fn check_nbf(mut self, check: bool) -> Self {
        self.check_nbf = check;
        self
    }

    /// Sets [`Validation::check_iat`].
    pub fn check_iat(mut self, check: bool) -> Self {
        self.check_iat = check;
        self
    }

    /// Sets [`Validation::max_lifetime`].
    pub fn max_lifetime(mut self, max: Option<Duration>) -> Self {
        self.max_lifetime = max;
        self
    }
}

/// A numeric claim as epoch seconds: an integer, or a float floored;
/// saturating at the `i64` bounds (`u64::MAX` is `i64::MAX`). `Ok(None)` if
/// absent, `Malformed` if present but not a number.
fn time_claim(claims: &Claims, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.as_u64().is_some() {
                Ok(Some(i64::MAX))
            } else {
                // A float; `as` saturates (JSON has no NaN).
                Ok(n.as_f64().map(|f| f.floor() as i64))
            }
        }
        Some(_) => Err(JwtError::Malformed(format!("{name} is not a number"))),
    }
}

fn decode_jwt(
    token: &str,
    secret: &Secret,
    now: SystemTime,
    validation: &Validation,
) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };

    let header_json = json_object(&base64_part(header, "header")?, "header")?;
    let payload_bytes = base64_part(payload, "payload")?;
    let tag = base64_part(signature, "signature")?;

    match header_json.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(alg)) => return Err(JwtError::Algorithm(shorten(alg))),
        Some(other) => return Err(JwtError::Algorithm(shorten(&other.to_string()))),
        None => return Err(malformed("header has no alg")),
    }
    if header_json.contains_key("crit") {
        return Err(malformed("header has crit extensions, none are supported"));
    }

    let signed = &token[..header.len() + 1 + payload.len()];
    if !hmac::verify(secret.expose().as_bytes(), &[signed.as_bytes()], &tag) {
        return Err(JwtError::Signature);
    }

    let claims = json_object(&payload_bytes, "payload")?;
    let exp = time_claim(&claims, "exp")?.ok_or_else(|| malformed("payload has no exp"))?;
    let now = epoch_secs(now);
    let leeway = secs(validation.leeway);
    if now >= exp.saturating_add(leeway) {
        return Err(JwtError::Expired { exp, now });
    }
    if validation.check_nbf {
        if let Some(nbf) = time_claim(&claims, "nbf")? {
            if nbf > now.saturating_add(leeway) {
                return Err(JwtError::NotYetValid { nbf, now });
            }
        }
    }
    let needs_iat = validation.check_iat || validation.max_lifetime.is_some();
    if needs_iat {
        let iat = time_claim(&claims, "iat")?.ok_or_else(|| malformed("payload has no iat"))?;
        if validation.check_iat && iat > now.saturating_add(leeway) {
            return Err(JwtError::IssuedInFuture { iat, now });
        }
        if let Some(max) = validation.max_lifetime {
            // i128: exp - iat cannot overflow, whatever the two are.
            let lifetime = i128::from(exp) - i128::from(iat);
            if lifetime > i128::from(max.as_secs()) {
                return Err(JwtError::LifetimeTooLong {
                    lifetime_secs: i64::try_from(lifetime).unwrap_or(i64::MAX),
                    max_secs: max.as_secs(),
                });
            }
        }
    }
    Ok(claims)
}
