//! Hostile input from servers and from configuration (issue 9): server text
//! that echoes secrets or is huge, URLs that smuggle request lines, and
//! token answers that try to redirect the bearer.
//!
//! Servers are started here on 127.0.0.1 (port 0), answer a canned reply,
//! count what they receive and stop on drop. Every test runs under a
//! watchdog: a hang fails in seconds.

use std::time::Duration;

use zoom_ws::{Credentials, Error, HttpTimeouts, RefreshOptions};

mod common;
use common::http::Server;
use common::{watchdog, Rng};

// The examples' logger, compiled here so that `cargo test` runs its test
// `wire_targets_need_naming_for_trace`: TRACE of ureq, ureq_proto,
// tungstenite and rustls only when RUST_LOG names them.
#[path = "../examples/support/stderr_log.rs"]
mod stderr_log;

fn opts() -> RefreshOptions {
    RefreshOptions::default().timeouts(HttpTimeouts::new(
        Duration::from_secs(2),
        Duration::from_secs(5),
    ))
}

// ---------------------------------------------------------------- server text

/// A 2xx token answer that is not a token object must not be quoted: a
/// bare JSON string may be the token itself, and serde's error message
/// would quote it whole.
#[test]
fn token_answer_of_the_wrong_json_shape_is_not_quoted() {
    watchdog(|| {
        let token = format!("at-ECHOED-{}", "t".repeat(5000));
        for body in [
            format!("{token:?}"),
            format!("[{token:?}]"),
            format!(r#"{{"access_token":[{token:?}]}}"#),
            format!(r#"{{"expires_in":{token:?},"access_token":7}}"#),
        ] {
            let server = Server::canned(200, body.clone());
            let creds = Credentials::client_credentials("id", "client-secret")
                .with_token_url(format!("{}/oauth/token", server.url()))
                .unwrap();
            let e = zoom_ws::fetch_token(&creds, &opts()).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(matches!(e, Error::InvalidResponse { .. }), "{shown}");
            assert!(!shown.contains("ECHOED"), "{body:.40}: {shown}");
            assert!(shown.len() < 1024, "{body:.40}: {} bytes", shown.len());
            assert_eq!(server.count(), 1);
        }
    });
}

// ---------------------------------------------------------------- URLs

/// CRLF (or any control character, a space, a '#') in a configured URL
/// would put a line of the attacker's into the upgrade or token request,
/// next to the token: refused as configuration, and nothing connects.
#[test]
fn crlf_in_urls_is_refused_and_nothing_connects() {
    watchdog(|| {
        let server = Server::canned(200, "{}");
        let base = server.url();
        let ws = base.replacen("http://", "ws://", 1);
        let injected = [
            "/ws\r\nX-Injected: 1",
            "/ws?subscriptionId=s\r\n\r\nGET /evil HTTP/1.1",
            "/ws HTTP/1.1\r\nHost: evil",
            "/ws#x",
            "/w\ns",
            "/w\u{0}s",
        ];
        for bad in injected {
            let e = zoom_ws::Client::builder()
                .credentials(
                    Credentials::client_credentials("id", "secret")
                        .with_token_url(format!("{base}/oauth/token"))
                        .unwrap(),
                )
                .subscription_id("sub")
                .url(format!("{ws}{bad}"))
                .connect()
                .unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad:?}: {e:?}");
            assert!(!e.to_string().contains('\r'), "{e}");

            let e = Credentials::client_credentials("id", "secret")
                .with_token_url(format!("{base}/oauth/token{bad}"))
                .unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad:?}: {e:?}");

            let e = zoom_ws::rest::Api::jwt_builder("k", "s")
                .base_url(format!("{base}/v2{bad}"))
                .build()
                .unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad:?}: {e:?}");
        }
        assert_eq!(server.count(), 0);
    });
}

// ---------------------------------------------------------------- properties

/// Random JSON, on the shared PRNG.
trait JsonGen {
    fn ws(&mut self) -> &'static str;
    fn string(&mut self) -> (String, String);
    fn number(&mut self) -> String;
    fn value(&mut self, depth: u32) -> String;
    fn object(&mut self, depth: u32, fields: Vec<String>) -> String;
    fn event(&mut self) -> (String, String);
}

impl JsonGen for Rng {
    /// JSON whitespace, usually none.
    fn ws(&mut self) -> &'static str {
        ["", "", "", " ", "\n", "\t", "\r\n  "][self.below(7) as usize]
    }

    /// A JSON string literal and the text it stands for: raw ASCII and
    /// non-ASCII, the short escapes, \u escapes, surrogate pairs.
    fn string(&mut self) -> (String, String) {
        let (mut literal, mut text) = (String::from('"'), String::new());
        for _ in 0..self.below(12) {
            let (lit, chr): (&str, &str) = match self.below(12) {
                0 => ("\\\"", "\""),
                1 => ("\\\\", "\\"),
                2 => ("\\n", "\n"),
                3 => ("\\u0000", "\u{0}"),
                4 => ("\\u00e9", "é"),
                5 => ("\\ud83d\\ude00", "😀"),
                6 => ("\\/", "/"),
                7 => ("é会", "é会"),
                8 => ("😀", "😀"),
                9 => ("{\\\"event\\\":1}", "{\"event\":1}"),
                _ => {
                    let s = self.pick(&["a", "Zoom", "meeting.started", " ", "==", "0"]);
                    (s, s)
                }
            };
            literal.push_str(lit);
            text.push_str(chr);
        }
        literal.push('"');
        (literal, text)
    }

    fn number(&mut self) -> String {
        self.pick(&[
            "0",
            "-0",
            "1626230691572",
            "-17",
            "1.5e3",
            "18446744073709551615",
            "-9223372036854775808",
            "0.1",
            "1E-7",
        ])
        .to_owned()
    }

    fn value(&mut self, depth: u32) -> String {
        let kind = if depth == 0 {
            self.below(4)
        } else {
            self.below(6)
        };
        match kind {
            0 => self.string().0,
            1 => self.number(),
            2 => self.pick(&["true", "false", "null"]).to_owned(),
            3 => "{}".to_owned(),
            4 => {
                let items: Vec<String> = (0..self.below(4))
                    .map(|_| format!("{}{}{}", self.ws(), self.value(depth - 1), self.ws()))
                    .collect();
                format!("[{}]", items.join(","))
            }
            _ => self.object(depth - 1, Vec::new()),
        }
    }

    fn object(&mut self, depth: u32, mut fields: Vec<String>) -> String {
        for _ in 0..self.below(4) {
            let key = self.string().0;
            fields.push(format!(
                "{key}{}:{}{}",
                self.ws(),
                self.ws(),
                self.value(depth)
            ));
        }
        // Shuffle (Fisher-Yates).
        for i in (1..fields.len()).rev() {
            fields.swap(i, self.below(i as u64 + 1) as usize);
        }
        let sep = format!("{},{}", self.ws(), self.ws());
        format!("{{{}{}{}}}", self.ws(), fields.join(&sep), self.ws())
    }

    /// An event's JSON (no whitespace around it) and its name.
    fn event(&mut self) -> (String, String) {
        let (name_literal, name) = self.string();
        let mut fields = vec![format!("\"event\":{name_literal}")];
        if self.below(4) != 0 {
            let ts = if self.below(3) == 0 {
                format!("\"{}\"", self.number())
            } else {
                self.number()
            };
            fields.push(format!("\"event_ts\":{ts}"));
        }
        if self.below(5) != 0 {
            let payload = self.object(3, Vec::new());
            fields.push(format!("\"payload\":{payload}"));
        }
        let json = self.object(2, fields).trim().to_owned();
        (json, name)
    }
}

/// Any event survives the wire as Zoom sends it (JSON in a JSON string, or
/// an object) and comes out byte for byte, with its name decoded.
#[test]
fn any_event_survives_frame_wrap_then_parse() {
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    for i in 0..3000 {
        let (json, name) = rng.event();
        let Ok(direct) = zoom_ws::Event::from_json(json.clone()) else {
            panic!("case {i}: the generator made an invalid event: {json}");
        };
        assert_eq!(direct.name(), name, "case {i}: {json}");

        let content = serde_json::to_string(&json).unwrap();
        let (ws1, ws2) = (rng.ws(), rng.ws());
        let frames = [
            format!(r#"{{"module":"message","content":{content}}}"#),
            format!(
                r#"{{{ws1}"success":true,{ws2}"content":{content},"header":{{}},"module":"message"}}"#
            ),
            // Tolerated: content as an object.
            format!(r#"{{"module":"message","content":{ws1}{json}{ws2},"success":"true"}}"#),
        ];
        for frame in &frames {
            let ev = zoom_ws::__parse_frame(frame)
                .unwrap_or_else(|| panic!("case {i}: not an event: {frame}"));
            assert_eq!(ev.json(), json, "case {i}");
            assert_eq!(ev.name(), name, "case {i}");
            assert_eq!(ev.timestamp_ms(), direct.timestamp_ms(), "case {i}");
            assert_eq!(ev.payload(), direct.payload(), "case {i}");
        }
    }
}
