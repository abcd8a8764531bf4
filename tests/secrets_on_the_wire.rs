//! No access token or client secret in any log line (the crate's and its
//! dependencies', down to TRACE), error, state change or `Debug` output, on
//! the whole WebSocket path: token fetch, connect, events, in-band
//! rejection, reconnect, close.
//!
//! One exception is documented in the crate docs and excluded here: ureq's
//! wire-level TRACE (target `ureq_proto`) hex-dumps the raw token request
//! and response.

use zoom_ws::mock::MockZoom;
use zoom_ws::StateChange;

mod common;
use common::{builder, WAIT};

#[test]
fn no_token_or_secret_anywhere() {
    let capture = common::logs::capture(log::LevelFilter::Trace, &["ureq_proto"]);

    let secret = "client-secret-that-must-not-leak";
    let zoom = MockZoom::builder()
        .tls(true)
        .client_secret(secret)
        .start()
        .unwrap();
    let builder = builder(&zoom);
    let mut shown = vec![format!("{builder:?}")];
    let client = builder.clone().connect().unwrap();
    shown.push(format!("{client:?}"));
    shown.push(format!("{:?}", client.token_source().current()));

    zoom.send_event_json(r#"{"event":"meeting.started","event_ts":1,"payload":{}}"#);
    shown.push(format!("{:?}", client.events().recv_timeout(WAIT).unwrap()));
    zoom.reject_token("message", "Invalid Token");
    assert!(zoom.wait_for_connections(2, WAIT));
    zoom.drop_connections();
    assert!(zoom.wait_for_connections(3, WAIT));
    shown.push(format!(
        "{:?}",
        client.states().try_iter().collect::<Vec<StateChange>>()
    ));
    client.close().unwrap();

    // A failing connect: its error, too.
    zoom.revoke_tokens();
    let bad = zoom_ws::Credentials::account_credentials(
        zoom.account_id(),
        zoom.client_id(),
        "wrong-secret-value",
    )
    .with_token_url(zoom.token_url())
    .unwrap();
    let err = builder.credentials(bad).connect().unwrap_err();
    shown.push(format!("{err} {err:?}"));

    let tokens: Vec<String> = zoom
        .issued_tokens()
        .iter()
        .map(|t| t.expose().to_string())
        .collect();
    assert!(tokens.len() >= 2, "{tokens:?}");
    let lines = capture.lines();
    assert!(
        lines.iter().any(|l| l.contains("tungstenite")),
        "tungstenite's TRACE output was captured"
    );
    for text in lines.iter().chain(shown.iter()) {
        for needle in tokens
            .iter()
            .map(String::as_str)
            .chain([secret, "wrong-secret-value"])
        {
            assert!(!text.contains(needle), "leaked in: {text}");
        }
    }
}
