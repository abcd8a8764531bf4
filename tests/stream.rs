//! The event stream against the built-in emulator, over real sockets.
//!
//! Every wait is bounded (the watchdog: a hung test fails within seconds
//! rather than stalling CI), and tests synchronise on channels and on the
//! emulator's observations, never on sleeps.

use std::time::{Duration, Instant};

use zoom_ws::mock::MockZoom;
use zoom_ws::{Client, ClientBuilder, StateChange};

mod common;
use common::{builder, event, watchdog, WAIT};

fn next_event(client: &Client) -> zoom_ws::Event {
    client
        .events()
        .recv_timeout(WAIT)
        .expect("an event within the watchdog")
}

#[test]
fn happy_path_plain() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    assert!(client.is_connected());
    zoom.send_event_json(&event(1));
    let ev = next_event(&client);
    assert_eq!(ev.name(), "meeting.participant_joined");
    assert_eq!(ev.timestamp_ms(), Some(1));
    assert_eq!(ev.json(), event(1));
    client.close().unwrap();
    assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));
}

#[test]
fn happy_path_tls() {
    let zoom = MockZoom::builder().tls(true).start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    zoom.send_event_json(&event(7));
    assert_eq!(next_event(&client).timestamp_ms(), Some(7));
    match client.states().recv_timeout(WAIT).unwrap() {
        StateChange::Connected { .. } => {}
        other => panic!("{other:?}"),
    }
    drop(client);
    assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));
}

#[test]
fn order_and_exactly_once_for_thousands_of_events() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    let n = 5000u64;
    let template = event(0).replace(r#""event_ts":0"#, r#""event_ts":{seq}"#);
    zoom.send_events_bulk(&template, 0, n);
    for seq in 0..n {
        assert_eq!(next_event(&client).timestamp_ms(), Some(seq as i64));
    }
    // A heartbeat round trip after the burst: anything duplicated would be
    // queued by now.
    assert!(
        client
            .events()
            .recv_timeout(Duration::from_millis(50))
            .is_err(),
        "no duplicates"
    );
    assert_eq!(client.delivered_events(), n);
}

/// Waits for the next state change that is not `Connected`.
fn next_change(client: &Client) -> StateChange {
    loop {
        match client
            .states()
            .recv_timeout(WAIT)
            .expect("a state change within the watchdog")
        {
            StateChange::Connected { .. } => continue,
            other => return other,
        }
    }
}

fn expect_reconnect(zoom: &MockZoom, client: &Client, reason_part: &str) {
    match next_change(client) {
        StateChange::Disconnected { reason, .. } => {
            assert!(
                reason.contains(reason_part),
                "{reason:?} should mention {reason_part:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    match next_change(client) {
        StateChange::Reconnected {
            gap,
            down_since,
            at,
        } => {
            assert!(down_since <= at);
            assert!(gap < WAIT, "{gap:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(zoom.wait_for_live_connections(1, WAIT));
    // Streaming continues on the new connection.
    zoom.send_event_json(&event(42));
    assert_eq!(next_event(client).timestamp_ms(), Some(42));
}

#[test]
fn heartbeat_cadence() {
    let zoom = MockZoom::start().unwrap();
    let every = Duration::from_millis(100);
    let client = builder(&zoom).heartbeat_interval(every).connect().unwrap();
    assert!(zoom.wait_for_heartbeats(9, WAIT));
    let beats = zoom.heartbeats();
    // Times are taken where the emulator receives them, so single gaps
    // carry both sides' scheduling noise on a loaded machine (tens of ms):
    // bound each from above only, and the mean from below (not early, no
    // bursts). The exact cadence is measured by the benchmark, not here.
    for pair in beats.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap < every * 20, "{gap:?}");
    }
    let intervals = (beats.len() - 1) as u32;
    let mean = (beats[beats.len() - 1].at - beats[0].at) / intervals;
    assert!(
        mean >= every * 3 / 4,
        "mean {mean:?} of {intervals} intervals"
    );
    // Heartbeats are acknowledged: the link stays the same.
    assert_eq!(zoom.connection_count(), 1);
    drop(client);
}

#[test]
fn clean_server_close_reconnects_without_oauth() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    assert_eq!(zoom.close_connections(1001, "going away"), 1);
    expect_reconnect(&zoom, &client, "1001");
    assert_eq!(
        zoom.token_requests().len(),
        1,
        "the cached token was reused"
    );
    assert_eq!(client.reconnects(), 1);
}

#[test]
fn abrupt_drop_reconnects() {
    let zoom = MockZoom::builder().tls(true).start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    assert_eq!(zoom.drop_connections(), 1);
    expect_reconnect(&zoom, &client, "");
    assert_eq!(zoom.token_requests().len(), 1);
}

#[test]
fn silent_server_is_detected_and_replaced() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom)
        .heartbeat_interval(Duration::from_millis(100))
        .dead_link_timeout(Duration::from_millis(200))
        .connect()
        .unwrap();
    assert_eq!(zoom.go_silent(), 1);
    expect_reconnect(&zoom, &client, "dead link");
}

#[test]
fn in_band_token_rejection_brings_a_fresh_token() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    assert_eq!(zoom.reject_token("message", "Invalid Token"), 1);
    expect_reconnect(&zoom, &client, "rejected the access token");
    let conns = zoom.connections();
    let accepted: Vec<_> = conns
        .iter()
        .filter(|c| c.outcome == zoom_ws::mock::ConnectOutcome::Accepted)
        .collect();
    assert_eq!(accepted.len(), 2);
    assert_ne!(
        accepted[0].token, accepted[1].token,
        "reconnected with a new token"
    );
    assert_eq!(zoom.token_requests().len(), 2);
}

#[test]
fn refused_upgrade_401_is_a_token_problem() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    zoom.refuse_upgrades(1, 401);
    zoom.close_connections(1000, "");
    assert!(zoom.wait_for_connections(2, WAIT));
    assert!(
        zoom.wait_for_token_requests(2, WAIT),
        "a 401 upgrade forces a refresh"
    );
    zoom.send_event_json(&event(5));
    assert_eq!(next_event(&client).timestamp_ms(), Some(5));
}

#[test]
fn garbage_frames_are_survived_on_the_same_connection() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    zoom.send_text("not json at all");
    zoom.send_text("[1,2,3]");
    zoom.send_text(r#"{"module":"surprise","content":"x"}"#);
    zoom.send_text(r#"{"module":"message","content":"{\"no_event\":true}"}"#);
    zoom.send_text(r#"{"module":"message","content":"{broken"}"#);
    zoom.send_text(r#"{"module":"message","content":{"event":"as.object","payload":{}}}"#);
    zoom.send_binary(&[0, 159, 146, 150]);
    zoom.send_event_json(&event(9));
    assert_eq!(next_event(&client).name(), "as.object");
    assert_eq!(next_event(&client).timestamp_ms(), Some(9));
    assert_eq!(zoom.connection_count(), 1, "no reconnect for bad frames");
    assert_eq!(client.skipped_frames(), 6);
    assert!(client.is_connected());
}

#[test]
fn oversize_frame_is_survived() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom)
        .max_message_size(64 * 1024)
        .connect()
        .unwrap();
    let big = format!(
        r#"{{"event":"big","payload":{{"s":"{}"}}}}"#,
        "x".repeat(200 * 1024)
    );
    zoom.send_event_json(&big);
    expect_reconnect(&zoom, &client, "");
}

#[test]
fn close_sends_1000_and_joins_promptly() {
    let zoom = MockZoom::builder().tls(true).start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    let started = Instant::now();
    client.close().unwrap();
    // Joined: both threads are gone, and the close was not a heartbeat away.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));
}

/// Events the server sends after the client's Close and before its
/// answering Close (in flight as the client closes: Zoom never sends them
/// again) are delivered before the iterator ends: the client reads on
/// until the closing handshake completes.
#[test]
fn events_in_flight_at_close_are_delivered() {
    for tls in [false, true] {
        watchdog(move || {
            let zoom = MockZoom::builder().tls(tls).start().unwrap();
            let client = builder(&zoom).connect().unwrap();
            zoom.hold_close_answers(true);
            let closer = client.closer();
            let closing = std::thread::spawn(move || closer.close());
            assert!(zoom.wait_for_client_closes(1, WAIT));
            for seq in 1..=5 {
                assert_eq!(zoom.send_event_json(&event(seq)), 1, "tls {tls}");
            }
            zoom.hold_close_answers(false);
            // Ends when the socket thread does.
            let seen: Vec<_> = client.events().iter().map(|e| e.timestamp_ms()).collect();
            closing.join().unwrap();
            assert_eq!(seen, (1..=5).map(Some).collect::<Vec<_>>(), "tls {tls}");
            assert_eq!(zoom.client_closes()[0].code, Some(1000));
            client.close().unwrap();
        });
    }
}

#[test]
fn closer_from_another_thread_ends_the_iterator() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    let closer = client.closer();
    zoom.send_event_json(&event(1));
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::scope(|s| {
        s.spawn(|| {
            let seen: Vec<_> = client.events().iter().collect();
            done_tx.send(seen.len()).unwrap();
        });
        assert!(zoom.wait_for_live_connections(1, WAIT));
        closer.close();
        let seen = done_rx
            .recv_timeout(WAIT)
            .expect("the iterator ends after close");
        assert!(seen <= 1);
    });
    client.close().unwrap();
    assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));
}

#[test]
fn dropping_never_hangs() {
    // While connected and idle, while the server is silent, and while
    // waiting in backoff for a server that refuses upgrades.
    let zoom = MockZoom::start().unwrap();
    let idle = builder(&zoom).connect().unwrap();
    watchdog(move || drop(idle));

    let silent = builder(&zoom).connect().unwrap();
    zoom.go_silent();
    watchdog(move || drop(silent));

    let zoom = MockZoom::start().unwrap();
    let refused = builder(&zoom)
        .backoff(zoom_ws::Backoff::new(
            Duration::from_secs(30),
            Duration::from_secs(60),
        ))
        .connect()
        .unwrap();
    zoom.refuse_upgrades(u32::MAX, 503);
    zoom.drop_connections();
    assert!(zoom.wait_for_connect_attempts(2, WAIT));
    watchdog(move || drop(refused));
}

#[test]
fn bad_credentials_fail_connect_fast() {
    let zoom = MockZoom::start().unwrap();
    let bad = zoom_ws::Credentials::account_credentials(
        zoom.account_id(),
        zoom.client_id(),
        "wrong-secret",
    )
    .with_token_url(zoom.token_url())
    .unwrap();
    let started = Instant::now();
    let err = builder(&zoom).credentials(bad).connect().unwrap_err();
    assert!(matches!(err, zoom_ws::Error::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("ZOOM_CLIENT_ID"), "{err}");
    assert!(!err.to_string().contains("wrong-secret"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        zoom.token_requests().len(),
        1,
        "no retries of bad credentials"
    );
    assert_eq!(zoom.connection_count(), 0);
}

#[test]
fn unknown_subscription_fails_connect() {
    let zoom = MockZoom::start().unwrap();
    let err = builder(&zoom)
        .subscription_id("not-mine")
        .connect()
        .unwrap_err();
    assert!(matches!(err, zoom_ws::Error::Rejected { .. }), "{err:?}");
}

#[test]
fn credentials_revoked_while_running_end_the_stream() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    zoom.send_event_json(&event(1));
    zoom.fail_token_requests(
        u32::MAX,
        zoom_ws::mock::TokenFailure::status(401)
            .body(r#"{"reason":"Invalid client_id or client_secret","error":"invalid_client"}"#),
    );
    zoom.reject_token("message", "Token is invalid");
    // The queued event is still delivered, then the iterator ends.
    let seen: Vec<_> = client.events().iter().take(10).collect();
    assert_eq!(seen.len(), 1);
    let err = client.close().unwrap_err();
    assert!(matches!(err, zoom_ws::Error::Auth { .. }), "{err:?}");
}

#[test]
fn slow_consumer_with_a_bounded_channel_drops_and_counts() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom)
        .channel(zoom_ws::ChannelPolicy::DropNewest { capacity: 10 })
        .heartbeat_interval(Duration::from_millis(50))
        .connect()
        .unwrap();
    let template = event(0).replace(r#""event_ts":0"#, r#""event_ts":{seq}"#);
    zoom.send_events_bulk(&template, 0, 100);
    // Nobody reads: heartbeats go on regardless.
    let beats = zoom.heartbeat_count();
    assert!(zoom.wait_for_heartbeats(beats + 3, WAIT));
    let deadline = Instant::now() + WAIT;
    while client.delivered_events() + client.dropped_events() < 100 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(client.dropped_events(), 90);
    let first: Vec<_> = client
        .events()
        .try_iter()
        .map(|e| e.timestamp_ms())
        .collect();
    assert_eq!(
        first,
        (0..10).map(Some).collect::<Vec<_>>(),
        "the oldest are kept"
    );
    assert_eq!(zoom.connection_count(), 1);
}

#[test]
fn close_while_zoom_confirms_a_reconnect_still_sends_1000() {
    // The close lands while the socket thread may still wait for
    // build_connection on the new connection: a race that once dropped
    // the connection without a Close frame in about 1 run in 14.
    for _ in 0..20 {
        let zoom = MockZoom::start().unwrap();
        let client = builder(&zoom).connect().unwrap();
        zoom.drop_connections();
        assert!(zoom.wait_for_connections(2, WAIT));
        client.close().unwrap();
        assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));
    }
}

#[test]
fn clients_share_one_event_channel_and_each_event_names_its_subscription() {
    let za = MockZoom::builder()
        .subscription_id("sub-a")
        .start()
        .unwrap();
    let zb = MockZoom::builder()
        .subscription_id("sub-b")
        .start()
        .unwrap();
    let a = builder(&za).connect().unwrap();
    let b = builder(&zb).share_events_with(&a).connect().unwrap();
    let events = a.events().clone();
    let seen = |ev: zoom_ws::Event| (ev.subscription_id().map(str::to_owned), ev.timestamp_ms());
    let tagged = |sub: &str, seq: i64| (Some(sub.to_owned()), Some(seq));

    za.send_event_json(&event(1));
    assert_eq!(seen(next_event(&a)), tagged("sub-a", 1));
    zb.send_event_json(&event(2));
    assert_eq!(
        seen(next_event(&a)),
        tagged("sub-b", 2),
        "b's event in a's receiver"
    );
    za.send_event_json(&event(3));
    assert_eq!(
        seen(next_event(&b)),
        tagged("sub-a", 3),
        "a's event in b's receiver"
    );
    assert_eq!((a.delivered_events(), b.delivered_events()), (2, 1));

    // Closing one leaves the other's events flowing.
    a.close().unwrap();
    assert_eq!(za.wait_for_close_code(WAIT), Some(1000));
    zb.send_event_json(&event(4));
    assert_eq!(seen(events.recv_timeout(WAIT).unwrap()), tagged("sub-b", 4));
    // The iteration ends when the last one stops.
    b.close().unwrap();
    assert_eq!(
        events.recv_timeout(WAIT),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected)
    );
    // Parsed events come from no subscription.
    assert_eq!(
        zoom_ws::Event::from_json(event(5))
            .unwrap()
            .subscription_id(),
        None
    );
}

#[test]
fn sharing_refuses_a_byte_bounded_channel_another_policy_and_a_stopped_client() {
    use zoom_ws::{ChannelPolicy, Error};
    let zoom = MockZoom::start().unwrap();
    let config_error = |b: ClientBuilder, part: &str| match b.connect() {
        Err(Error::Config(m)) => assert!(m.contains(part), "{m}"),
        other => panic!("expected a configuration error about {part:?}, got {other:?}"),
    };
    let bounded = builder(&zoom)
        .channel(ChannelPolicy::Bounded {
            max_events: 10,
            max_bytes: 16 << 20,
        })
        .connect()
        .unwrap();
    config_error(builder(&zoom).share_events_with(&bounded), "byte limit");
    config_error(
        builder(&zoom)
            .share_events_with(&bounded)
            .channel(ChannelPolicy::DropNewest { capacity: 10 }),
        "own policy",
    );
    bounded.close().unwrap();
    // Stopped: its thread has dropped every sender, and so its channel
    // cannot come back to life.
    let stopped = builder(&zoom).connect().unwrap();
    let events = stopped.events().clone();
    stopped.closer().close();
    assert_eq!(
        events.recv_timeout(WAIT),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected)
    );
    config_error(builder(&zoom).share_events_with(&stopped), "stopped");
    stopped.close().unwrap();
}

#[test]
fn events_name_the_subscription_of_the_url_too() {
    let zoom = MockZoom::start().unwrap();
    let client = Client::builder()
        .credentials(zoom.credentials())
        .url(format!(
            "{}?subscriptionId={}",
            zoom.ws_url(),
            zoom.subscription_id()
        ))
        .connect()
        .unwrap();
    zoom.send_event_json(&event(1));
    assert_eq!(
        next_event(&client).subscription_id(),
        Some(zoom.subscription_id())
    );
    client.close().unwrap();
}
