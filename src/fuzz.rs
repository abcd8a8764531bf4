//! Not part of the API (no semver promise): one entry point per parser that
//! reads bytes from outside, for the cargo-fuzz targets in `fuzz/` and for
//! `tests/fuzz_corpus.rs`, which replays the committed corpus on stable.
//!
//! Each entry point takes arbitrary bytes and must never panic. Each also
//! checks the promises its parser makes about what it hands on (texts short
//! and printable, no secret quoted, an event surviving the frame round
//! trip byte for byte, no challenge answer of the wrong shape): a broken
//! promise is an `assert!` failure, which the fuzzer reports as a crash.

use std::io::{self, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ureq::http::Method;

use crate::error::Error;
use crate::event::Event;
use crate::jwt::{self, Validation};
use crate::secret::Secret;
#[cfg(feature = "webhook")]
use crate::webhook::{self, Delivery, Verifier};
use crate::wire::{self, Inbound};

/// The secret the entry points use (client secret, token, webhook secret,
/// JWT secret). Seeds put it into inputs, and the fuzzer learns it from the
/// comparisons; no error may quote it. Its capitals keep it from being an
/// event name of Zoom's shape (which errors quote).
pub const SECRET: &str = "fuzz-secret-Qx7Lm2";

/// The time the time-dependent parsers are checked at (2024-07-11, the
/// time of the webhook test vector).
const NOW_SECS: u64 = 1_720_705_455;

/// The longest error text any parser may produce, in bytes.
const MAX_ERROR: usize = 1024;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// An error's Display and Debug: short, and without [`SECRET`].
fn check_error(e: &Error) {
    let shown = e.to_string();
    assert!(shown.len() < MAX_ERROR, "error of {} bytes", shown.len());
    assert!(!shown.contains(SECRET), "secret in an error: {shown}");
    let debug = format!("{e:?}");
    assert!(
        !debug.contains(SECRET),
        "secret in an error's Debug: {debug}"
    );
}

/// Text a server sent, cut and made printable.
fn check_printable(text: &str, max_chars: usize) {
    assert!(
        text.chars().count() <= max_chars,
        "{} characters",
        text.chars().count()
    );
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?}"
    );
}

/// Everything one can ask of an event; errors checked.
fn check_event(ev: &Event) {
    for result in [ev.payload_value().map(drop), ev.to_value().map(drop)] {
        if let Err(e) = result {
            check_error(&e);
        }
    }
    if let Err(e) = ev.typed() {
        check_error(&e);
    }
    let _ = (ev.name(), ev.timestamp_ms(), ev.payload());
    assert!(
        format!("{ev:?}").len() < MAX_ERROR,
        "Debug of an event is long"
    );
}

/// One WebSocket text frame through the socket thread's parser.
pub fn wire_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match wire::parse(text) {
        Inbound::Refused(content) | Inbound::TokenRejected(content) => {
            check_printable(&content, wire::MAX_CONTENT_CHARS + 3);
        }
        Inbound::Skip(why) => {
            assert!(why.len() < MAX_ERROR, "Skip text of {} bytes", why.len());
            // Only an unknown module's (cut, escaped) name is quoted.
            assert!(
                !why.contains(SECRET) || why.starts_with("unknown module"),
                "{why}"
            );
        }
        Inbound::Event(ev) => check_event(&ev),
        Inbound::Connected | Inbound::HeartbeatAck => {}
    }
}

/// An event's JSON through `Event::from_json`, `typed()` and friends; an
/// event also goes through the wire as Zoom sends it (JSON in a JSON
/// string) and must come out byte for byte.
pub fn event(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ev = match Event::from_json(text.to_owned()) {
        Ok(ev) => ev,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    assert_eq!(ev.json(), text);
    check_event(&ev);
    let content = serde_json::to_string(text).unwrap_or_default();
    let frame = format!(r#"{{"module":"message","content":{content}}}"#);
    match wire::parse(&frame) {
        Inbound::Event(back) => assert!(back == ev, "the frame round trip changed the event"),
        other => panic!("a valid event did not survive the frame: {other:?}"),
    }
}

/// A stream that serves `input` in chunks of `chunk` bytes and swallows
/// what is written.
struct Canned<'a> {
    input: &'a [u8],
    chunk: usize,
}

impl Read for Canned<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Canned<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A WebSocket upgrade answer (first byte: the read size) through the
/// crate's own handshake; the token is in the request, never in an error.
pub fn upgrade_response(data: &[u8]) {
    let Some((&chunk, answer)) = data.split_first() else {
        return;
    };
    let mut stream = Canned {
        input: answer,
        chunk: usize::from(chunk).max(1),
    };
    let path = format!("/ws?subscriptionId=fuzz-subscription&access_token={SECRET}");
    if let Err(e) = crate::handshake::client_handshake(&mut stream, "ws.zoom.us", &path) {
        check_error(&e);
    }
}

#[cfg(feature = "webhook")]
/// A webhook delivery: first byte a mode (bit 0: sign the body with the
/// secret, so that parsing is reached), then the timestamp header, a
/// newline, the signature header, a newline, the body.
pub fn webhook(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let ts = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let sig = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let verifier = Verifier::new(SECRET);
    let sig = if mode & 1 == 1 {
        verifier.signature(&ts, body)
    } else {
        sig
    };
    let headers = |name: &str| match name {
        webhook::SIGNATURE_HEADER => Some(sig.as_str()),
        webhook::TIMESTAMP_HEADER => Some(ts.as_str()),
        _ => None,
    };
    match verifier.receive_at(headers, body, now()) {
        Ok(Delivery::UrlValidation(answer)) => {
            let token = &answer.plain_token;
            assert!(
                (1..=webhook::MAX_PLAIN_TOKEN_LEN).contains(&token.len()),
                "answered a plainToken of {} bytes",
                token.len()
            );
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=')),
                "answered {token:?}"
            );
            assert_eq!(answer.encrypted_token.len(), 64);
            // The answer is no delivery signature: not for this delivery,
            // and (no ':' in the token) not for any.
            let as_sig = format!("v0={}", answer.encrypted_token);
            assert!(verifier
                .verify_at(Some(&ts), Some(&as_sig), body, now())
                .is_err());
        }
        Ok(Delivery::Event(ev)) => check_event(&ev),
        Err(e) => check_error(&e),
    }
}

/// A JWT through `jwt::decode_with`. First byte: bit 0 set, the rest is a
/// header and a payload (split at the first newline) signed here with the
/// secret, so that claims checks are reached; else the rest is the token.
/// Bits 1-5 pick the validation options.
pub fn jwt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode & 1 == 1 {
        let mut parts = rest.splitn(2, |&b| b == b'\n');
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let tag = crate::hmac::sign(SECRET.as_bytes(), &[token.as_bytes()]);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    } else {
        String::from_utf8_lossy(rest).into_owned()
    };
    let validation = Validation::default()
        .leeway(Duration::from_secs(u64::from((mode >> 1) & 3) * 30))
        .check_nbf(mode & 8 != 0)
        .check_iat(mode & 16 != 0)
        .max_lifetime((mode & 32 != 0).then_some(Duration::from_secs(24 * 3600)));
    let secret = Secret::new(SECRET);
    let at = if mode & 64 != 0 { UNIX_EPOCH } else { now() };
    match jwt::decode_with(&token, &secret, at, &validation) {
        Ok(claims) => {
            assert!(claims.contains_key("exp"));
            if validation.check_iat || validation.max_lifetime.is_some() {
                assert!(claims.contains_key("iat"));
            }
        }
        // The header's own `alg` is quoted (cut): the token's text, not
        // a secret of ours, whatever it says.
        Err(Error::Jwt(crate::error::JwtError::Algorithm(alg))) => {
            assert!(alg.chars().count() <= 32, "alg of {} characters", alg.len());
        }
        Err(e) => {
            check_error(&e);
            if token.len() >= 16 {
                assert!(!e.to_string().contains(&token), "the token in an error");
            }
        }
    }
}

/// A 2xx answer of the token endpoint (as if from zoom.us) through the
/// OAuth token parser.
pub fn token_answer(data: &[u8]) {
    match crate::oauth::fuzz_parse_token(data, &[SECRET]) {
        Ok(token) => {
            assert!(!token.secret().expose().trim().is_empty());
            if let Some(api_url) = token.api_url() {
                // From zoom.us, only Zoom's own API hosts are taken.
                assert!(crate::rest::is_zoom_api_url(api_url), "{api_url}");
            }
        }
        Err(e) => check_error(&e),
    }
}

/// A REST answer: the first two bytes a status, the rest the body, through
/// the error parser (any status) and the answer parser.
pub fn rest_error(data: &[u8]) {
    let (status, body) = match data {
        [a, b, body @ ..] => (u16::from_be_bytes([*a, *b]) % 600, body),
        _ => (500, data),
    };
    let e = crate::rest::api_error(status, body, None, &[SECRET]);
    match &e {
        Error::Http { code, message, .. } => {
            check_printable(message, crate::rest::MAX_MESSAGE_CHARS + 3);
            if let Some(code) = code {
                check_printable(code, 64 + 3);
            }
        }
        other => panic!("not an HTTP error: {other:?}"),
    }
    check_error(&e);
    if let Err(e) = crate::rest::parse_answer::<serde_json::Value>(body, &Method::GET, "/fuzz") {
        check_error(&e);
    }
}
