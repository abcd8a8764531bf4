//! [`Error`]: the one error type of the crate.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

/// Shorthand for `Result<T, zoom_ws::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in zoom-ws.
///
/// Messages say what to check. None of them ever contains a client secret or
/// an access token. [`Error::is_transient`] tells a failure worth retrying
/// (network, timeout, 5xx, 429) from one that is not (bad credentials,
/// configuration).
///
/// Wrapped errors of dependencies are reachable through
/// [`std::error::Error::source`] only; their types are not part of the API.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or invalid. The message names it.
    Config(String),
    /// Zoom's token endpoint rejected the credentials or the grant
    /// (`invalid_client`, `unsupported_grant_type`, other OAuth errors). Fatal:
    /// retrying will not help.
    Auth {
        /// HTTP status of the answer.
        status: u16,
        /// The OAuth `error` code, such as `invalid_client`.
        code: String,
        /// Zoom's `reason` text.
        reason: String,
    },
    /// An HTTP answer with an unexpected status (token endpoint or REST API).
    /// Transient for 5xx and 429.
    Http {
        /// HTTP status.
        status: u16,
        /// Zoom's error code, if the body had one (`error` for OAuth, `code` for REST).
        code: Option<String>,
        /// Zoom's message, or a summary of the body.
        message: String,
        /// The `Retry-After` the server asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The network failed: connect, read, write, or a timeout. Transient.
    Network {
        /// What was being done ("connecting to the token endpoint", ...).
        context: String,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// A TLS failure during a connection (bad certificate, handshake). Transient,
    /// since a captive portal or proxy can cause it, but usually configuration:
    /// check the trusted roots.
    Tls {
        /// What was being done.
        context: String,
        /// The rustls error.
        source: Source,
    },
    /// A server answered something that could not be understood (not JSON,
    /// missing fields, a broken WebSocket upgrade). Transient.
    InvalidResponse {
        /// What was being read.
        context: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The WebSocket upgrade was refused with an HTTP status. 401 and 403 are
    /// treated as a token problem.
    Upgrade {
        /// HTTP status of the refusal.
        status: u16,
    },
    /// An HTTP proxy refused to open the tunnel (`CONNECT`) with this
    /// status: 407 or 401 (it wants other credentials), 403 (it does not allow the
    /// destination or port), 5xx (it could not reach the destination:
    /// transient). Never carries the proxy's credentials.
    Proxy {
        /// The proxy, `host:port`.
        proxy: String,
        /// HTTP status of its answer to `CONNECT`.
        status: u16,
    },
    /// Zoom answered `build_connection` with `success: false` for a reason
    /// other than the token (for example a wrong subscription id).
    Rejected {
        /// Zoom's `content` text.
        content: String,
    },
    /// Zoom rejected the access token in-band ("Invalid Token", "Token is
    /// invalid"). The client reacts with a fresh token and a reconnect.
    TokenRejected {
        /// Zoom's `content` text.
        content: String,
    },
    /// A WebSocket protocol error (bad frame, oversize message, ...).
    WebSocket {
        /// What happened.
        detail: String,
        /// The tungstenite error, if any.
        source: Option<Source>,
    },
    /// A JWT could not be decoded or verified.
    Jwt(JwtError),
    /// A webhook delivery could not be verified.
    Webhook(WebhookError),
    /// The client (or the token source) was closed.
    Closed,
    /// One of the client's threads panicked (a bug in zoom-ws: please
    /// report it). The stream has ended.
    Panicked {
        /// The thread's name (`zoom-ws-socket`, `zoom-ws-oauth`).
        thread: String,
        /// The panic's message, cut to 300 characters.
        message: String,
    },
}

/// Why a JWT was refused by [`crate::jwt`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    Malformed(String),
    /// The header names an algorithm other than HS256.
    Algorithm(String),
    /// The signature does not match the secret.
    Signature,
    /// `exp` is in the past.
    Expired {
        /// The token's `exp`, in epoch seconds.
        exp: i64,
        /// The time it was checked against, in epoch seconds.
        now: i64,
    },
    /// `nbf` is in the future (checked on request: `Validation::check_nbf`).
    NotYetValid {
        /// The token's `nbf`, in epoch seconds.
        nbf: i64,
        /// The time it was checked against, in epoch seconds.
        now: i64,
    },
    /// `iat` is in the future (checked on request: `Validation::check_iat`).
    IssuedInFuture {
        /// The token's `iat`, in epoch seconds.
        iat: i64,
        /// The time it was checked against, in epoch seconds.
        now: i64,
    },
    /// `exp - iat` is longer than allowed (checked on request:
    /// `Validation::max_lifetime`).
    LifetimeTooLong {
        /// The token's `exp - iat`, in seconds (saturated).
        lifetime_secs: i64,
        /// The longest lifetime allowed, in seconds.
        max_secs: u64,
    },
}

/// Why a webhook delivery was refused by [`crate::webhook`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// The `x-zm-signature` header is missing.
    MissingSignature,
    /// The `x-zm-signature` header is not of the form `v0=<64 hex digits>`.
    MalformedSignature,
    /// The `x-zm-request-timestamp` header is missing.
    MissingTimestamp,
    /// The `x-zm-request-timestamp` header is not epoch seconds in decimal digits.
    MalformedTimestamp,
    /// The signature does not match: the body was changed, or the secret token
    /// is not the one Zoom signs with. (The two cannot be told apart.)
    SignatureMismatch,
    /// The signature is valid but the timestamp is further from now, in the
    /// past or in the future, than the allowed age (replay protection; or
    /// this server's clock is off).
    Stale {
        /// The delivery's timestamp, epoch seconds.
        timestamp: i64,
        /// The time it was checked against, epoch seconds.
        now: i64,
        /// The allowed age, seconds.
        max_age_secs: u64,
    },
    /// The body is not the JSON that was expected.
    MalformedBody(String),
}

impl Error {
    /// True for failures worth retrying with backoff: network errors and
    /// timeouts, TLS failures, unreadable answers, 5xx, 429 and 408.
    /// False for bad credentials, configuration, refusals and closed clients.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network { .. } | Error::Tls { .. } | Error::InvalidResponse { .. } => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::WebSocket { .. } | Error::TokenRejected { .. } => true,
            Error::Upgrade { status } | Error::Proxy { status, .. } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }

    /// The `Retry-After` delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A copy of this error for a second reader (the token source hands the
    /// same fatal error to every caller). Wrapped sources become text.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Config(s) => Error::Config(s.clone()),
            Error::Auth {
                status,
                code,
                reason,
            } => Error::Auth {
                status: *status,
                code: code.clone(),
                reason: reason.clone(),
            },
            Error::Http {
                status,
                code,
                message,
                retry_after,
            } => Error::Http {
                status: *status,
                code: code.clone(),
                message: message.clone(),
                retry_after: *retry_after,
            },
            Error::Network { context, source } => Error::Network {
                context: context.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Tls { context, source } => Error::Tls {
                context: context.clone(),
                source: source.to_string().into(),
            },
            Error::InvalidResponse { context, detail } => Error::invalid(context, detail),
            Error::Upgrade { status } => Error::Upgrade { status: *status },
            Error::Proxy { proxy, status } => Error::Proxy {
                proxy: proxy.clone(),
                status: *status,
            },
            Error::Rejected { content } => Error::Rejected {
                content: content.clone(),
            },
            Error::TokenRejected { content } => Error::TokenRejected {
                content: content.clone(),
            },
            Error::WebSocket { detail, source } => Error::WebSocket {
                detail: detail.clone(),
                source: source.as_ref().map(|s| s.to_string().into()),
            },
            Error::Jwt(e) => Error::Jwt(e.clone()),
            Error::Webhook(e) => Error::Webhook(e.clone()),
            Error::Closed => Error::Closed,
            Error::Panicked { thread, message } => Error::Panicked {
                thread: thread.clone(),
                message: message.clone(),
            },
        }
    }

    /// The error for a caught panic of `thread`.
    pub(crate) fn panicked(thread: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Error::Panicked {
            thread: thread.into(),
            message: crate::text::truncate(&message, 300).to_owned(),
        }
    }

    pub(crate) fn network(context: impl Into<String>, source: io::Error) -> Self {
        Error::Network {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(context: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::InvalidResponse {
            context: context.into(),
            detail: detail.into(),
        }
    }
}

/// What to tell the user for an OAuth error code.
fn auth_hint(code: &str) -> &'static str {
    match code {
        "invalid_client" => "check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET",
        "unsupported_grant_type" => {
            "check the app type: Server-to-Server apps need ZOOM_ACCOUNT_ID (account_credentials), general apps must not set it (client_credentials)"
        }
        "invalid_request" => "check ZOOM_ACCOUNT_ID and the token endpoint URL",
        "unauthorized_client" => "check that the app is activated and allowed this grant",
        "access_denied" => "check that the app is activated and the account allows it",
        _ => "check the app's credentials and type in the Zoom App Marketplace",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(what) => write!(f, "invalid configuration: {what}"),
            Error::Auth {
                status,
                code,
                reason,
            } => {
                let what = if code == "invalid_client" {
                    "the client credentials"
                } else {
                    "the token request"
                };
                write!(
                    f,
                    "Zoom rejected {what} ({code}, HTTP {status}{}{reason}): {}",
                    if reason.is_empty() { "" } else { ", " },
                    auth_hint(code)
                )
            }
            Error::Http {
                status,
                code,
                message,
                retry_after,
            } => {
                write!(f, "HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, " (code {code})")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(d) = retry_after {
                    write!(f, " (retry after {} s)", d.as_secs())?;
                }
                Ok(())
            }
            Error::Network { context, source } => write!(f, "network error {context}: {source}"),
            Error::Tls { context, source } => write!(
                f,
                "TLS error {context}: {source} (if a proxy or private CA is in the way, add its root with extra_root_pem)"
            ),
            Error::InvalidResponse { context, detail } => {
                write!(f, "unexpected answer {context}: {detail}")
            }
            Error::Upgrade { status } => {
                write!(f, "Zoom refused the WebSocket upgrade with HTTP {status}")?;
                if *status == 401 || *status == 403 {
                    f.write_str(" (the access token was not accepted)")?;
                }
                Ok(())
            }
            Error::Proxy { proxy, status } => {
                write!(
                    f,
                    "the proxy {proxy} refused to open a tunnel (CONNECT) with HTTP {status}"
                )?;
                f.write_str(match status {
                    401 | 407 => {
                        ": it did not accept the credentials; check the user and password in the proxy URL"
                    }
                    403 => ": it does not allow this destination or port",
                    500.. => ": it could not reach the destination",
                    _ => "",
                })
            }
            Error::Rejected { content } => write!(
                f,
                "Zoom refused the WebSocket connection: {content:?} (check ZOOM_SUBSCRIPTION_ID and the app's event subscription)"
            ),
            Error::TokenRejected { content } => {
                write!(f, "Zoom rejected the access token in-band: {content:?}")
            }
            Error::WebSocket { detail, .. } => write!(f, "WebSocket error: {detail}"),
            Error::Jwt(e) => write!(f, "JWT refused: {e}"),
            Error::Webhook(e) => write!(f, "webhook delivery refused: {e}"),
            Error::Closed => f.write_str("the client is closed"),
            Error::Panicked { thread, message } => write!(
                f,
                "the {thread} thread panicked ({message}); this is a bug in zoom-ws, please report it"
            ),
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "malformed token: {why}"),
            JwtError::Algorithm(alg) => write!(f, "algorithm {alg:?} is not HS256"),
            JwtError::Signature => f.write_str("signature does not match the secret"),
            JwtError::Expired { exp, now } => {
                write!(f, "expired at {exp} (now {now}, epoch seconds)")
            }
            JwtError::NotYetValid { nbf, now } => {
                write!(f, "not valid before {nbf} (now {now}, epoch seconds)")
            }
            JwtError::IssuedInFuture { iat, now } => {
                write!(
                    f,
                    "issued in the future at {iat} (now {now}, epoch seconds)"
                )
            }
            JwtError::LifetimeTooLong {
                lifetime_secs,
                max_secs,
            } => write!(
                f,
                "lives {lifetime_secs} s (exp - iat), more than the allowed {max_secs} s"
            ),
        }
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::MissingSignature => f.write_str("no x-zm-signature header"),
            WebhookError::MalformedSignature => {
                f.write_str("x-zm-signature header is not v0=<64 hex digits>")
            }
            WebhookError::MissingTimestamp => f.write_str("no x-zm-request-timestamp header"),
            WebhookError::MalformedTimestamp => {
                f.write_str("x-zm-request-timestamp header is not epoch seconds")
            }
            WebhookError::SignatureMismatch => f.write_str(
                "signature mismatch (body altered, or not the app's secret token: check ZOOM_WEBHOOK_SECRET_TOKEN)",
            ),
            WebhookError::Stale {
                timestamp,
                now,
                max_age_secs,
            } => write!(
                f,
                "timestamp {timestamp} is {} s {} now ({now}), more than the allowed {max_age_secs} s (a replay, or a clock out of sync)",
                now.abs_diff(*timestamp),
                if timestamp > now { "ahead of" } else { "before" }
            ),
            WebhookError::MalformedBody(why) => write!(f, "malformed body: {why}"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Network { source, .. } => Some(source),
            Error::Tls { source, .. } => Some(source.as_ref()),
            Error::WebSocket {
                source: Some(s), ..
            } => Some(s.as_ref()),
            Error::Jwt(e) => Some(e),
            Error::Webhook(e) => Some(e),
            _ => None,
        }
    }
}

impl StdError for JwtError {}
impl StdError for WebhookError {}

impl From<JwtError> for Error {
    fn from(e: JwtError) -> Self {
        Error::Jwt(e)
    }
}

impl From<WebhookError> for Error {
    fn from(e: WebhookError) -> Self {
        Error::Webhook(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_message_tells_what_to_check() {
        let e = Error::Auth {
            status: 401,
            code: "invalid_client".into(),
            reason: "Invalid client_id or client_secret".into(),
        };
        let s = e.to_string();
        assert!(
            s.starts_with("Zoom rejected the client credentials (invalid_client"),
            "{s}"
        );
        assert!(
            s.contains("check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET"),
            "{s}"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn classification() {
        let http = |status| Error::Http {
            status,
            code: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(http(503).is_transient());
        assert!(http(429).is_transient());
        assert!(!http(404).is_transient());
        assert!(Error::network("x", io::ErrorKind::TimedOut.into()).is_transient());
        assert!(!Error::Config("x".into()).is_transient());
        assert!(!Error::Closed.is_transient());
    }
}
