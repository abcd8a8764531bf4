//! Zoom webhooks: verify a delivery, answer URL validation, parse the event.
//!
//! Pure functions for any HTTP server: the crate runs no server. Hand the
//! two headers and the **raw body bytes** to a [`Verifier`] (hashing a
//! re-serialised body fails: Zoom escapes astral characters as surrogate
//! pairs but sends other non-ASCII characters raw).
//!
//! A delivery is authentic if `x-zm-signature` is
//! `v0=` + hex(HMAC-SHA256(secret token, `v0:` + `x-zm-request-timestamp` +
//! `:` + body)) and the timestamp is within [`DEFAULT_MAX_AGE`] (5 minutes,
//! configurable with [`Verifier::max_age`]) of now, in either direction.
//!
//! Zoom signs its `endpoint.url_validation` challenge like any other
//! delivery; the answer is a JSON body with the plain token and its HMAC
//! ([`UrlValidation`]), sent with status 200 within 3 seconds.
//! [`Verifier::receive`] does all of this in one call, and it is the only
//! way to get an answer: it verifies the delivery first, so the crate never
//! computes the HMAC of a string an unauthenticated sender chose.
//!
//! ```
//! use std::collections::HashMap;
//! use zoom_ws::webhook::{Delivery, Verifier};
//!
//! let verifier = Verifier::new("4fv1RkqGQUq5sWbEz6hA5A"); // ZOOM_WEBHOOK_SECRET_TOKEN
//!
//! // What an HTTP server received (here: made up with the same secret).
//! let body = br#"{"payload":{"plainToken":"xys8n8PGS7mAU0m5-YJjRA"},"event_ts":1720705455858,"event":"endpoint.url_validation"}"#;
//! let ts = std::time::SystemTime::now()
//!     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
//! let mut headers = HashMap::new();
//! headers.insert("x-zm-request-timestamp", ts.clone());
//! headers.insert("x-zm-signature", verifier.signature(&ts, body));
//!
//! match verifier.receive(|name| headers.get(name).map(String::as_str), body)? {
//!     Delivery::UrlValidation(answer) => {
//!         // respond 200 with `answer.to_json()` as an application/json body
//!         assert_eq!(answer.plain_token, "xys8n8PGS7mAU0m5-YJjRA");
//!     }
//!     Delivery::Event(event) => panic!("not an event: {event:?}"),
//!     _ => {} // Delivery is non-exhaustive
//! }
//!
//! // The same challenge with a forged signature gets no answer.
//! headers.insert("x-zm-signature", format!("v0={}", "0".repeat(64)));
//! assert!(verifier.receive(|name| headers.get(name).map(String::as_str), body).is_err());
//! # Ok::<_, zoom_ws::Error>(())
//! ```
//!
//! # Why answers come only from verified deliveries
//!
//! The answer to a challenge is HMAC-SHA256(secret token, plainToken), and
//! a delivery's signature is HMAC-SHA256(secret token, `v0:{ts}:{body}`)
//! under the same key. Answering an unverified challenge whose plainToken
//! is `v0:<now>:<forged event JSON>` would hand the sender a valid
//! `x-zm-signature` for the forged event. So an answer is computed only
//! inside [`Verifier::receive`], after the signature and timestamp checks,
//! and only for a plainToken of the shape Zoom sends (1 to
//! [`MAX_PLAIN_TOKEN_LEN`] characters of base64url, `A-Z a-z 0-9 - _`, and
//! `=` padding): such a token never contains the `:` every signed delivery
//! text has, so no answer is ever a valid delivery signature. Any other
//! plainToken is [`WebhookError::MalformedBody`].
//!
//! An `Err` is [`Error::Webhook`]: answer 401 for everything but
//! [`WebhookError::MalformedBody`] (a signed body that is not an event: 400).
//! Stale deliveries have a valid signature: checking the time after the
//! signature makes [`WebhookError::Stale`] mean "authentic but too old or
//! too new" (a replay, or a clock that is off).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, WebhookError};
use crate::event::Event;
use crate::hmac;
use crate::secret::Secret;
use crate::time::epoch_secs;

/// The signature header, `v0=<64 hex digits>` (lowercase, as HTTP/2 sends it;
/// header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-zm-signature";

/// The timestamp header, epoch seconds as decimal digits.
pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";

/// Default for [`Verifier::max_age`]: 5 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// The `event` of Zoom's URL validation challenge.
pub const URL_VALIDATION_EVENT: &str = "endpoint.url_validation";

/// The longest URL validation `plainToken` answered: 128 characters. Zoom's
/// are 22 (16 random bytes in base64url); see the [module docs](self).
pub const MAX_PLAIN_TOKEN_LEN: usize = 128;

/// Checks webhook deliveries against the app's secret token.
///
/// `Debug` does not print the secret token.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use zoom_ws::webhook::Verifier;
///
/// let verifier = Verifier::new("4fv1RkqGQUq5sWbEz6hA5A").max_age(Duration::from_secs(60));
/// let body = br#"{"payload":{"plainToken":"xys8n8PGS7mAU0m5-YJjRA"},"event_ts":1720705455858,"event":"endpoint.url_validation"}"#;
/// let now = UNIX_EPOCH + Duration::from_secs(1720705460);
/// verifier.verify_at(
///     Some("1720705455"),
///     Some("v0=93a1a675965ceb9c5a50c5dfb31f20e50f763be37a54ef74cd2d16a1a8e5c0d6"),
///     body,
///     now,
/// )?;
/// assert!(!format!("{verifier:?}").contains("4fv1"));
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    secret: Secret,
    max_age: Duration,
}

/// What an authentic delivery asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Delivery {
    /// Zoom's URL validation challenge: answer 200 with
    /// [`UrlValidation::to_json`] as an `application/json` body.
    UrlValidation(UrlValidation),
    /// An event.
    Event(Event),
}

/// The answer to a URL validation challenge:
/// `{"plainToken":"...","encryptedToken":"<hex HMAC-SHA256(secret token, plainToken)>"}`.
///
/// Neither field is secret: both go back to Zoom in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlValidation {
    /// The challenge's `payload.plainToken`.
    #[serde(rename = "plainToken")]
    pub plain_token: String,
    /// Lowercase hex of HMAC-SHA256(secret token, plain token).
    #[serde(rename = "encryptedToken")]
    pub encrypted_token: String,
}

impl UrlValidation {
    /// The response body: `{"plainToken":"...","encryptedToken":"..."}`.
    pub fn to_json(&self) -> String {
        // Serialising two strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Verifier {
    /// A verifier for the app's secret token (the Zoom App Marketplace's
    /// "Secret Token", usually `ZOOM_WEBHOOK_SECRET_TOKEN`), with the default
    /// maximum age of 5 minutes.
    pub fn new(secret_token: impl Into<Secret>) -> Self {
        Verifier {
            secret: secret_token.into(),
            max_age: DEFAULT_MAX_AGE,
        }
    }

    /// Sets how far the delivery's timestamp may be from now, in the past or
    /// in the future, before it is refused as [`WebhookError::Stale`].
    /// Default [`DEFAULT_MAX_AGE`], 5 minutes. It bounds replays of captured
    /// deliveries; make it larger only if the server's clock cannot be kept
    /// in sync.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// [`Verifier::verify_at`] with the system clock.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        raw_body: &[u8],
    ) -> Result<()> {
        self.verify_at(timestamp, signature, raw_body, SystemTime::now())
    }

    /// Checks a delivery: `timestamp` and `signature` are the values of the
    /// `x-zm-request-timestamp` and `x-zm-signature` headers (`None` if
    /// absent), `raw_body` the body exactly as received, `now` the current
    /// time.
    ///
    /// In this order, each failure a distinct [`WebhookError`]:
    /// - signature header absent: [`MissingSignature`](WebhookError::MissingSignature);
    ///   not `v0=` and 64 hex digits: [`MalformedSignature`](WebhookError::MalformedSignature);
    /// - timestamp header absent: [`MissingTimestamp`](WebhookError::MissingTimestamp);
    ///   not decimal digits: [`MalformedTimestamp`](WebhookError::MalformedTimestamp);
    /// - HMAC differs (compared in constant time):
    ///   [`SignatureMismatch`](WebhookError::SignatureMismatch);
    /// - timestamp more than `max_age` before or after `now`:
    ///   [`Stale`](WebhookError::Stale).
    ///
    /// Surrounding whitespace in the header values is ignored. An empty
    /// secret token is refused with [`Error::Config`]: it would make every
    /// forged signature easy.
    pub fn verify_at(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        raw_body: &[u8],
        now: SystemTime,
    ) -> Result<()> {
        if self.secret.is_empty() {
            return Err(Error::Config("the webhook secret token is empty".into()));
        }
        let tag = parse_signature(signature)?;
        let (ts_text, ts) = parse_timestamp(timestamp)?;
        let parts: [&[u8]; 4] = [b"v0:", ts_text.as_bytes(), b":", raw_body];
        if !hmac::verify(self.secret.expose().as_bytes(), &parts, &tag) {
            return Err(WebhookError::SignatureMismatch.into());
        }
        let now = epoch_secs(now);
        let max_age_secs = self.max_age.as_secs();
        if now.abs_diff(ts) > max_age_secs {
            return Err(WebhookError::Stale {
                timestamp: ts,
                now,
                max_age_secs,
            }
            .into());
        }
        Ok(())
    }

    /// [`Verifier::receive_at`] with the system clock.
    pub fn receive<'h>(
        &self,
        headers: impl FnMut(&str) -> Option<&'h str>,
        raw_body: &[u8],
    ) -> Result<Delivery> {
        self.receive_at(headers, raw_body, SystemTime::now())
    }

    /// Verifies a delivery, then tells a URL validation challenge (answered
    /// here) from an event.
    ///
    /// `headers` looks a header up by its lowercase name ([`SIGNATURE_HEADER`],
    /// [`TIMESTAMP_HEADER`]); it must match names case-insensitively if the
    /// server keeps their original case. Errors: those of
    /// [`Verifier::verify_at`], then [`WebhookError::MalformedBody`] if the
    /// body is not a JSON event object, or a challenge without a string
    /// `payload.plainToken` of the shape Zoom sends (1 to
    /// [`MAX_PLAIN_TOKEN_LEN`] base64url characters: see the
    /// [module docs](self)).
    pub fn receive_at<'h>(
        &self,
        mut headers: impl FnMut(&str) -> Option<&'h str>,
        raw_body: &[u8],
        now: SystemTime,
    ) -> Result<Delivery> {
        let signature = headers(SIGNATURE_HEADER);
        let timestamp = headers(TIMESTAMP_HEADER);
        self.verify_at(timestamp, signature, raw_body, now)?;
        let event = parse_event(raw_body)?;
        Ok(match challenge_token(&event)? {
            Some(plain_token) => Delivery::UrlValidation(self.answer(plain_token)),
            None => Delivery::Event(event),
        })
    }

    /// The answer to a verified challenge. Private on purpose: a public
    /// way to HMAC an arbitrary string with the secret token would be a
    /// signing oracle (see the [module docs](self)). `plain_token` has been
    /// checked by [`challenge_token`].
    fn answer(&self, plain_token: String) -> UrlValidation {
        let tag = hmac::sign(self.secret.expose().as_bytes(), &[plain_token.as_bytes()]);
        UrlValidation {
            plain_token,
            encrypted_token: hmac::hex(&tag),
        }
    }

    /// The `x-zm-signature` value Zoom would send for `raw_body` at
    /// `timestamp`: `v0=<hex>`. For tests, and for tools that replay or
    /// forward deliveries.
    ///
    /// ```
    /// let v = zoom_ws::webhook::Verifier::new("4fv1RkqGQUq5sWbEz6hA5A");
    /// let body = br#"{"payload":{"plainToken":"xys8n8PGS7mAU0m5-YJjRA"},"event_ts":1720705455858,"event":"endpoint.url_validation"}"#;
    /// assert_eq!(
    ///     v.signature("1720705455", body),
    ///     "v0=93a1a675965ceb9c5a50c5dfb31f20e50f763be37a54ef74cd2d16a1a8e5c0d6"
    /// );
    /// ```
    pub fn signature(&self, timestamp: &str, raw_body: &[u8]) -> String {
        let parts: [&[u8]; 4] = [b"v0:", timestamp.as_bytes(), b":", raw_body];
        let tag = hmac::sign(self.secret.expose().as_bytes(), &parts);
        format!("v0={}", hmac::hex(&tag))
    }
}

/// The 32 bytes of a `v0=<64 hex digits>` header.
fn parse_signature(header: Option<&str>) -> Result<Vec<u8>, WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?.trim();
    header
        .strip_prefix("v0=")
        .filter(|hex| hex.len() == 2 * hmac::TAG_LEN)
        .and_then(hmac::unhex)
        .ok_or(WebhookError::MalformedSignature)
}

/// The trimmed text and the value of a timestamp header (decimal digits only).
fn parse_timestamp(header: Option<&str>) -> Result<(&str, i64), WebhookError> {
    let text = header.ok_or(WebhookError::MissingTimestamp)?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::MalformedTimestamp);
    }
    let value = text.parse().map_err(|_| WebhookError::MalformedTimestamp)?;
    Ok((text, value))
}

/// Parses a webhook body into an [`Event`]. **Does not verify anything**:
/// call [`Verifier::verify`] on the raw body first (or use
/// [`Verifier::receive`], which does both).
///
/// Fails with [`WebhookError::MalformedBody`] if the body is not UTF-8 JSON
/// with a string `event` field.
///
/// ```
/// let body = br#"{"event":"meeting.ended","event_ts":1626230691572,"payload":{"object":{"id":1}}}"#;
/// let event = zoom_ws::webhook::parse_event(body)?;
/// assert_eq!(event.name(), "meeting.ended");
/// assert_eq!(event.json().as_bytes(), body);
/// # Ok::<_, zoom_ws::Error>(())
/// ```
pub fn parse_event(raw_body: &[u8]) -> Result<Event> {
    let text = String::from_utf8(raw_body.to_vec())
        .map_err(|_| WebhookError::MalformedBody("not UTF-8".into()))?;
    Event::from_json(text).map_err(|e| {
        let detail = match e {
            Error::InvalidResponse { detail, .. } => detail,
            other => other.to_string(),
        };
        WebhookError::MalformedBody(detail).into()
    })
}

/// The checked `payload.plainToken` of a URL validation challenge, `None`
/// for any other event.
fn challenge_token(event: &Event) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Challenge {
        #[serde(rename = "plainToken")]
        plain_token: String,
    }
    if event.name() != URL_VALIDATION_EVENT {
        return Ok(None);
    }
    let challenge: Challenge = serde_json::from_str(event.payload()).map_err(|_| {
        WebhookError::MalformedBody("URL validation without a string payload.plainToken".into())
    })?;
    if !is_zoom_plain_token(&challenge.plain_token) {
        return Err(WebhookError::MalformedBody(format!(
            "URL validation plainToken is not what Zoom sends (1 to {MAX_PLAIN_TOKEN_LEN} base64url characters)"
        ))
        .into());
    }
    Ok(Some(challenge.plain_token))
}

/// True for 1 to [`MAX_PLAIN_TOKEN_LEN`] characters of `A-Z a-z 0-9 - _ =`.
fn is_zoom_plain_token(token: &str) -> bool {
    (1..=MAX_PLAIN_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_token_shape() {
        for ok in ["xys8n8PGS7mAU0m5-YJjRA", "a", "A_b-c==", &"x".repeat(128)] {
            assert!(is_zoom_plain_token(ok), "{ok}");
        }
        for bad in [
            "",
            "v0:1720705455:{}",
            "a b",
            "a:b",
            "a/b+c",
            "é",
            "a\n",
            &"x".repeat(129),
        ] {
            assert!(!is_zoom_plain_token(bad), "{bad}");
        }
    }
}
