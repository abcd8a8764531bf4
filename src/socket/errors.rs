//! Turning what the network and the server said into the crate's errors
//! and log text: scrubbed of the token, cut, printable.

use std::io;

use tungstenite::protocol::CloseFrame;

use crate::error::Error;
use crate::oauth::AccessToken;

/// How much of a server's text (a close reason, a refusal, a skipped
/// frame's description) goes into a log line, an error or a state change.
pub(crate) const MAX_SERVER_TEXT: usize = 300;

/// Server text made safe to log: the access token removed (raw and
/// percent-encoded), control characters replaced, cut to
/// [`MAX_SERVER_TEXT`] characters.
pub(crate) fn scrub(text: &str, token: &AccessToken) -> String {
    let raw = token.secret().expose();
    let mut encoded = String::new();
    crate::text::percent_encode(&mut encoded, raw);
    crate::text::summary(text.as_bytes(), MAX_SERVER_TEXT, &[raw, &encoded])
}

/// A close frame in words, its reason scrubbed.
pub(crate) fn describe_close(frame: Option<&CloseFrame>, token: &AccessToken) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("code {}", u16::from(f.code)),
        Some(f) => format!(
            "code {}, {:?}",
            u16::from(f.code),
            scrub(f.reason.as_str(), token)
        ),
        None => "no code".into(),
    }
}

/// A read timeout, as the platform reports it.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Turns a network error that carries a rustls error into [`Error::Tls`].
pub(crate) fn tls_error(e: Error) -> Error {
    match e {
        Error::Network { context, source }
            if source
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            match source.into_inner() {
                Some(inner) => Error::Tls {
                    context,
                    source: inner,
                },
                None => Error::network(context, io::Error::other("TLS failure")),
            }
        }
        e => e,
    }
}

/// A tungstenite error as the crate's. Never quotes frame contents.
pub(crate) fn ws_error(context: &str, e: tungstenite::Error) -> Error {
    let dropped = |kind| {
        Error::network(
            context,
            io::Error::new(
                kind,
                "the server dropped the connection without a Close frame",
            ),
        )
    };
    match e {
        tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            dropped(io::ErrorKind::UnexpectedEof)
        }
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => dropped(io::ErrorKind::ConnectionReset),
        tungstenite::Error::Io(io) => tls_error(Error::network(context, io)),
        tungstenite::Error::Capacity(c) => Error::WebSocket {
            detail: format!(
                "{c} (raise the client's max_message_size if Zoom's messages are this large)"
            ),
            source: Some(Box::new(c)),
        },
        e => Error::WebSocket {
            detail: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}
