//! What the emulator saw: plain records returned by the
//! [`MockZoom`](super::MockZoom) observation methods.

use std::time::{Duration, Instant};

use crate::secret::Secret;

/// A request to the token endpoint, answered or not.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The `grant_type` parameter (empty if absent).
    pub grant_type: String,
    /// The `account_id` parameter, if any.
    pub account_id: Option<String>,
    /// The client id from the Basic `Authorization` header, if it could be read.
    pub client_id: Option<String>,
    /// True if the parameters came in the query string rather than the
    /// form body (Zoom documents both; a forum report saw 400 for the query).
    pub params_in_query: bool,
    /// The HTTP status the emulator answered with.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

/// How an upgrade to the WebSocket endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectOutcome {
    /// Upgraded; `build_connection` answered `success: true`.
    Accepted,
    /// Upgraded; no `access_token` in the query: `"token is empty"`, then closed.
    EmptyToken,
    /// Upgraded; unknown, expired, revoked or rejected token: `"Invalid Token"`,
    /// then closed.
    InvalidToken,
    /// Upgraded; the `subscriptionId` is not the emulator's: `success: false`,
    /// then closed.
    UnknownSubscription,
    /// Upgraded; another connection of the subscription is open and the
    /// emulator runs [`MultiConnection::Refuse`](super::MultiConnection::Refuse):
    /// `success: false` with [`ALREADY_CONNECTED`](super::ALREADY_CONNECTED),
    /// then closed.
    AlreadyConnected,
    /// Not upgraded: answered with this HTTP status
    /// ([`MockZoom::refuse_upgrades`](super::MockZoom::refuse_upgrades)).
    Refused(u16),
}

/// An attempt to open a WebSocket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The emulator's id for the connection (also in [`Heartbeat`] and [`ClientClose`]).
    pub id: u64,
    /// The `subscriptionId` of the query.
    pub subscription_id: String,
    /// The `access_token` of the query. `Debug` does not show it.
    pub token: Secret,
    /// What the emulator did with it.
    pub outcome: ConnectOutcome,
    /// When the upgrade request arrived.
    pub at: Instant,
}

/// A `{"module":"heartbeat"}` frame from a client.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Heartbeat {
    /// The connection it came on.
    pub connection: u64,
    /// When it arrived.
    pub at: Instant,
}

/// A Close frame from a client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientClose {
    /// The connection it came on.
    pub connection: u64,
    /// The close code, absent in an empty Close frame.
    pub code: Option<u16>,
    /// The close reason.
    pub reason: String,
    /// True if it answered a Close the emulator sent first; false if the
    /// client started the closing handshake.
    pub reply: bool,
    /// When it arrived.
    pub at: Instant,
}

/// How the token endpoint fails, for
/// [`MockZoom::fail_token_requests`](super::MockZoom::fail_token_requests).
///
/// ```
/// use std::time::Duration;
/// use zoom_ws::mock::TokenFailure;
/// let f = TokenFailure::status(429).retry_after(Duration::from_secs(2));
/// assert_eq!(f.http_status(), 429);
/// ```
#[derive(Debug, Clone)]
pub struct TokenFailure {
    pub(crate) status: u16,
    pub(crate) body: Option<String>,
    pub(crate) retry_after: Option<Duration>,
}

impl TokenFailure {
    /// Answers with `status` and a Zoom-style error body
    /// (`{"reason":"...","error":"..."}`) that fits the status.
    pub fn status(status: u16) -> Self {
        TokenFailure {
            status,
            body: None,
            retry_after: None,
        }
    }

    /// Answers with this body instead (sent as `application/json`, whatever it is).
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds a `Retry-After` header, in whole seconds.
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// The HTTP status it answers with.
    pub fn http_status(&self) -> u16 {
        self.status
    }
}
