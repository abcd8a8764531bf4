//! Zoom's WebSocket wire protocol: the JSON frames, both ways.
//!
//! Every frame is a text frame holding a JSON object with a `module` field
//! (ZOOM.md section 2). Server to client:
//!
//! | module | meaning |
//! |---|---|
//! | `build_connection` | first frame after the upgrade; `success: false` means refused |
//! | `heartbeat` | ack of our heartbeat, `content: "live"` |
//! | `message` | an event; `content` is the event JSON **as a string** (encoded twice), or an object |
//!
//! Liberal where the spec is unverified: `success` absent means true (and
//! `"true"`/`"false"` strings are accepted); `content` may be a string or an
//! object; `header` and other fields are ignored; unknown modules are
//! reported, not fatal. An in-band token rejection (`content` equal to
//! "Invalid Token" or "Token is invalid", any case, any module) is recognised
//! before anything else.
//!
//! Server text in what this module returns is tamed: a refusal's `content`
//! is cut to its first line and [`MAX_CONTENT_CHARS`] characters with
//! control characters replaced, and a [`Inbound::Skip`] reason never quotes
//! the frame (JSON errors are described by [`crate::text::json_error`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::Event;

/// The heartbeat we send (Zoom's heartbeat is this JSON, not a WebSocket ping).
pub(crate) const HEARTBEAT: &str = r#"{"module":"heartbeat"}"#;

/// What one inbound text frame means.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// `build_connection` with `success` true (or absent).
    Connected,
    /// `build_connection` with `success` false, not about the token. The
    /// `content`, cut and printable (see [`quote`]).
    Refused(String),
    /// The token was rejected: in-band text, or `build_connection` refused
    /// for a token reason ("token is empty", ...). The `content`, cut and
    /// printable (see [`quote`]).
    TokenRejected(String),
    /// A heartbeat ack.
    HeartbeatAck,
    /// An event.
    Event(Event),
    /// Something to log and skip: unknown module, malformed frame or content.
    /// The reason quotes no frame text beyond a module name of Zoom's shape
    /// (at most 40 characters of `a-z 0-9 . _ -`).
    Skip(String),
}

/// A frame whose `content` is a JSON string (every frame Zoom is known to
/// send): `content` is unescaped in the same pass that reads the frame.
#[derive(Deserialize)]
struct TextFrame<'a> {
    #[serde(borrow, default)]
    module: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "liberal_bool")]
    success: Option<bool>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// Any other frame: `content` kept as raw JSON (an object, say).
#[derive(Deserialize)]
struct AnyFrame<'a> {
    #[serde(borrow, default)]
    module: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "liberal_bool")]
    success: Option<bool>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

/// `content`, as text or as raw JSON.
enum Content<'a> {
    Text(Cow<'a, str>),
    Json(&'a RawValue),
    Absent,
}

impl Content<'_> {
    /// The content as owned text: the string itself, or the raw JSON.
    fn into_string(self) -> String {
        match self {
            Content::Text(s) => s.into_owned(),
            Content::Json(raw) => raw.get().to_owned(),
            Content::Absent => String::new(),
        }
    }
}

/// [`TextFrame`] without serde, in the same pass that decodes `content`
/// ([`crate::json::object`]); `None` for whatever it leaves to serde_json
/// (a `content` that is not a string, an escaped `module`, a `success` that
/// is not a plain boolean, invalid JSON, ...). Gives what serde_json gives.
fn fast_text_frame(text: &str, buf: Vec<u8>) -> Option<TextFrame<'_>> {
    let f = crate::json::object(text, ["module", "success", "content"], Some(2), buf)?;
    let [module, success, content] = f.ranges;
    let is_null = |r: &std::ops::Range<usize>| &text[r.clone()] == "null";
    let module = match module {
        Some(r) if is_null(&r) => None,
        Some(r) => Some(Cow::Borrowed(&text[crate::json::plain_str(text, r)?])),
        None => None,
    };
    let success = match success.map(|r| &text[r]) {
        None | Some("null") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return None,
    };
    let content = match content {
        None => None,
        Some(r) if is_null(&r) => None,
        // Decoded: it was a string.
        Some(_) => Some(f.decoded?),
    };
    Some(TextFrame {
        module,
        success,
        content,
    })
}

/// Texts Zoom has used for an in-band token rejection (ZoomNet issues 322, 429).
const REJECTIONS: [&str; 2] = ["invalid token", "token is invalid"];

/// Parses one text frame. One pass over the text for the usual frame (the
/// event's JSON is unescaped while the frame is read); a second only for a
/// frame whose `content` is not a string.
pub(crate) fn parse(text: &str) -> Inbound {
    parse_into(text, Vec::new())
}

/// [`parse`], decoding an event's JSON into `buf` if it has the room (a
/// buffer handed back by a dropped event: see `Event`'s `Drop`).
pub(crate) fn parse_into(text: &str, buf: Vec<u8>) -> Inbound {
    let frame = match fast_text_frame(text, buf) {
        Some(f) => Ok(f),
        None => serde_json::from_str::<TextFrame<'_>>(text),
    };
    let (module, success, content) = match frame {
        Ok(f) => (
            f.module,
            f.success,
            f.content.map_or(Content::Absent, Content::Text),
        ),
        Err(_) => match serde_json::from_str::<AnyFrame<'_>>(text) {
            Ok(f) => (
                f.module,
                f.success,
                f.content.map_or(Content::Absent, Content::Json),
            ),
            Err(e) => {
                return Inbound::Skip(format!(
                    "not a JSON object frame ({})",
                    crate::text::json_error(&e)
                ))
            }
        },
    };
    let module = module.as_deref().unwrap_or("");
    // Events are long strings: only short ones are compared with the
    // rejection texts.
    if let Content::Text(s) = &content {
        if s.len() < 64 && is_token_rejection(s) {
            return Inbound::TokenRejected(quote(s.as_bytes()));
        }
    }
    match module {
        "message" => {
            let json = match content {
                Content::Text(s) => s.into_owned(),
                Content::Json(raw) if raw.get().starts_with('{') => raw.get().to_owned(),
                _ => return Inbound::Skip("message frame without event content".into()),
            };
            match Event::from_json(json) {
                Ok(ev) => Inbound::Event(ev),
                Err(e) => Inbound::Skip(format!("message frame with malformed event: {e}")),
            }
        }
        "heartbeat" => Inbound::HeartbeatAck,
        "build_connection" => {
            if success.unwrap_or(true) {
                return Inbound::Connected;
            }
            let content = content.into_string();
            if content.to_ascii_lowercase().contains("token") {
                Inbound::TokenRejected(quote(content.as_bytes()))
            } else {
                Inbound::Refused(quote(content.as_bytes()))
            }
        }
        "" => Inbound::Skip("a frame without a module".into()),
        // A module name of another shape could be anything the server
        // echoes (a token): described, not quoted.
        other if crate::text::is_plain_name(other, 40) => {
            Inbound::Skip(format!("unknown module {other:?}"))
        }
        other => Inbound::Skip(format!(
            "an unknown module named by {} bytes not of the shape of Zoom's",
            other.len()
        )),
    }
}

/// The most of a server's `content` that [`Inbound::Refused`] and
/// [`Inbound::TokenRejected`] carry, in characters.
pub(crate) const MAX_CONTENT_CHARS: usize = 300;

/// A server's `content`, made fit for an error, a log line or a state
/// change: its first line, control characters replaced, at most
/// [`MAX_CONTENT_CHARS`] characters. This module does not know the token:
/// the socket thread scrubs it.
fn quote(content: &[u8]) -> String {
    crate::text::summary(content, MAX_CONTENT_CHARS, &[])
}

/// True for Zoom's in-band token rejection texts, in any case.
pub(crate) fn is_token_rejection(content: &str) -> bool {
    let c = content.trim();
    REJECTIONS.iter().any(|r| c.eq_ignore_ascii_case(r))
}

fn liberal_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct B;
    impl<'de> Visitor<'de> for B {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(match v.trim() {
                s if s.eq_ignore_ascii_case("false") => Some(false),
                s if s.eq_ignore_ascii_case("true") => Some(true),
                _ => None,
            })
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v != 0))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v != 0))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            while s.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(B)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_connection() {
        assert!(matches!(
            parse(r#"{"module":"build_connection","success":true,"content":"ok"}"#),
            Inbound::Connected
        ));
        assert!(matches!(
            parse(r#"{"module":"build_connection"}"#),
            Inbound::Connected
        ));
        match parse(
            r#"{"module":"build_connection","success":false,"content":"token is empty","header":{}}"#,
        ) {
            Inbound::TokenRejected(c) => assert_eq!(c, "token is empty"),
            other => panic!("{other:?}"),
        }
        match parse(
            r#"{"module":"build_connection","success":"false","content":"subscription not found"}"#,
        ) {
            Inbound::Refused(c) => assert_eq!(c, "subscription not found"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heartbeat_ack() {
        assert!(matches!(
            parse(r#"{"module":"heartbeat","success":true,"content":"live","header":{}}"#),
            Inbound::HeartbeatAck
        ));
    }

    #[test]
    fn events_double_encoded_or_object() {
        let text = r#"{"module":"message","content":"{\"event\":\"meeting.started\",\"event_ts\":5,\"payload\":{\"object\":{\"id\":1}}}"}"#;
        match parse(text) {
            Inbound::Event(ev) => {
                assert_eq!(ev.name(), "meeting.started");
                assert_eq!(ev.payload(), r#"{"object":{"id":1}}"#);
            }
            other => panic!("{other:?}"),
        }
        match parse(r#"{"content":{"event":"x","payload":{}},"module":"message","success":true}"#) {
            Inbound::Event(ev) => assert_eq!(ev.json(), r#"{"event":"x","payload":{}}"#),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_rejection_anywhere_any_case() {
        for t in [
            r#"{"module":"message","content":"Invalid Token"}"#,
            r#"{"module":"heartbeat","success":false,"content":"TOKEN IS INVALID"}"#,
            r#"{"module":"whatever","content":" invalid token "}"#,
        ] {
            assert!(matches!(parse(t), Inbound::TokenRejected(_)), "{t}");
        }
    }

    #[test]
    fn server_text_is_cut_and_never_quoted_by_serde() {
        let secret = "SECRET-1234";
        let mib = 1 << 20;
        // A 1 MiB JSON string frame, a frame with a 1 MiB value of the wrong
        // type, a message whose event has one: each Skip text is short and
        // quotes nothing.
        let frames = [
            format!(r#""{secret}{}""#, "x".repeat(mib)),
            format!(
                r#"{{"module":"message","success":["{secret}{}"]}}"#,
                "x".repeat(mib)
            ),
            format!(r#"{{"module":{{"x":"{secret}{}"}}}}"#, "x".repeat(mib)),
            format!(
                r#"{{"module":"message","content":"{{\"event\":[\"{secret}{}\"]}}"}}"#,
                "x".repeat(mib)
            ),
            format!(
                r#"{{"module":"message","content":"{secret}{}"}}"#,
                "x".repeat(mib)
            ),
            format!(r#"{{"module":"{secret}{}"}}"#, "x".repeat(mib)),
        ];
        for frame in &frames {
            match parse(frame) {
                Inbound::Skip(why) => {
                    assert!(
                        why.len() < 1024,
                        "{} bytes: {}",
                        why.len(),
                        truncate(&why, 200)
                    );
                    assert!(
                        !why.contains("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                        "{why}"
                    );
                    assert!(!why.contains(secret), "{why}");
                }
                other => panic!("{other:?}"),
            }
        }
        // Refusals: first line, printable, at most 300 characters.
        let long = format!(
            r#"{{"module":"build_connection","success":false,"content":"no such subscription \u0007{}\nsecond line"}}"#,
            "y".repeat(mib)
        );
        match parse(&long) {
            Inbound::Refused(c) => {
                assert!(c.chars().count() <= MAX_CONTENT_CHARS + 3, "{}", c.len());
                assert!(c.starts_with("no such subscription  yyy"), "{c}");
                assert!(c.ends_with("..."), "{c}");
                assert!(!c.chars().any(char::is_control));
            }
            other => panic!("{other:?}"),
        }
        let token = format!(
            r#"{{"module":"build_connection","success":false,"content":"token expired\r\nX-Injected: {}"}}"#,
            "z".repeat(mib)
        );
        match parse(&token) {
            Inbound::TokenRejected(c) => assert_eq!(c, "token expired..."),
            other => panic!("{other:?}"),
        }
    }

    fn truncate(s: &str, n: usize) -> &str {
        crate::text::truncate(s, n)
    }

    /// The hand-written frame scan gives what serde_json gives, or leaves
    /// the frame to serde_json.
    #[test]
    fn fast_frames_agree_with_serde() {
        let event = r#"{"event":"meeting.started","event_ts":5,"payload":{"object":{"id":1,"name":"caf\u00e9 \"x\""}}}"#;
        let framed = format!(
            r#"{{"module":"message","content":{}}}"#,
            serde_json::to_string(event).unwrap()
        );
        let seeds = [
            framed.as_str(),
            r#"{"module":"heartbeat","success":true,"content":"live","header":{}}"#,
            r#"{"module":"build_connection","success":false,"content":"token is empty","header":{}}"#,
            r#"{"content":"x\ud83d\ude00y","module":null,"success":null}"#,
            r#"{"module":"message","content":{"event":"x"}}"#,
            "{\"module\":\"message\",\"content\":\"{\\\"event\\\":\\\"x\\\",\\\"payload\\\":{\\\"n\\\":\\\"Zo\u{eb} \u{1F600} \u{65e5}\u{672c}\\\"}}\"}",
        ];
        let mut rng = crate::json::tests::Rng(0xD1B5_4A32_D192_ED03);
        let mut fast = 0;
        let inputs = crate::json::tests::with_mutations(&seeds, 4000, &mut rng);
        for (i, m) in inputs.iter().enumerate() {
            let serde = serde_json::from_str::<TextFrame<'_>>(m);
            // No buffer, or a reused one (its old bytes invalid UTF-8)
            // shorter or longer than the content.
            let buf = vec![0xff; i % 3 * m.len() / 2];
            match (fast_text_frame(m, buf), serde) {
                (Some(f), Ok(s)) => {
                    fast += 1;
                    assert_eq!(
                        (f.module, f.success, f.content),
                        (s.module, s.success, s.content),
                        "{m:?}"
                    );
                }
                (Some(_), Err(e)) => panic!("{m:?} scanned, but serde_json says {e}"),
                (None, _) => {}
            }
        }
        assert!(fast > 2000, "{fast}");
    }

    #[test]
    fn garbage_is_skipped() {
        for t in [
            "",
            "not json",
            "[1,2]",
            r#"{"module":"message"}"#,
            r#"{"module":"message","content":"not json"}"#,
            r#"{"module":"message","content":"{\"no_event\":1}"}"#,
            r#"{"module":"message","content":42}"#,
            r#"{"module":"surprise","content":"x"}"#,
            r#"{"module":1}"#,
            r#"{"module":"message","content":"\ud800"}"#,
        ] {
            assert!(matches!(parse(t), Inbound::Skip(_)), "{t}");
        }
    }
}
