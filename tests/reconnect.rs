//! Reconnects and bounded connects, over real sockets: a trickling upgrade
//! answer, an OAuth outage behind a valid token, background refresh
//! failures, a panic in the socket thread, out-of-range settings.
//!
//! Every wait is bounded (a hung test fails within the watchdog), and tests
//! synchronise on channels and on the emulator's observations. Timing
//! goals (how fast a reconnect is) are measured by `examples/soak.rs` and
//! the benchmark, not asserted here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use zoom_ws::mock::{MockZoom, TokenFailure};
use zoom_ws::{Backoff, Client, ClientBuilder, Error, HttpTimeouts, StateChange};

mod common;
use common::{builder, event, watchdog, WAIT};

/// A WebSocket endpoint that reads the upgrade request and then trickles
/// a valid-looking answer, one byte every 200 ms, forever: a middlebox
/// that keeps a connection alive without ever completing it. Reports each
/// accepted connection, and when the client closed it.
struct Trickler {
    port: u16,
    accepted: Receiver<usize>,
    closed: Receiver<usize>,
}

impl Trickler {
    fn start() -> Trickler {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (accepted_tx, accepted) = crossbeam_channel::unbounded();
        let (closed_tx, closed) = crossbeam_channel::unbounded();
        thread::spawn(move || {
            for (n, sock) in listener.incoming().enumerate() {
                let Ok(sock) = sock else { return };
                if accepted_tx.send(n).is_err() {
                    return;
                }
                let closed_tx = closed_tx.clone();
                thread::spawn(move || trickle(sock, n, closed_tx));
            }
        });
        Trickler {
            port,
            accepted,
            closed,
        }
    }
}

fn trickle(mut sock: TcpStream, n: usize, closed: Sender<usize>) {
    let mut buf = [0u8; 4096];
    let _ = sock.read(&mut buf);
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    for b in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Pad: "
        .iter()
        .chain(std::iter::repeat(&b'a'))
    {
        if sock.write_all(&[*b]).is_err() {
            break;
        }
        // The read doubles as the pause, and sees the client's close.
        match sock.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            _ => break,
        }
    }
    let _ = closed.send(n);
}

#[test]
fn a_trickled_upgrade_costs_one_connect_timeout_then_a_new_attempt() {
    let zoom = MockZoom::start().unwrap();
    let trickler = Trickler::start();
    let url = format!("ws://127.0.0.1:{}/ws", trickler.port);
    let b = builder(&zoom)
        .url(url)
        .connect_timeout(Duration::from_millis(600))
        .first_connect_timeout(Duration::from_secs(60))
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ));
    let client = thread::spawn(move || b.connect());
    // Three attempts, each given up (and its socket closed) after the
    // connect timeout, however the peer keeps trickling.
    for n in 0..3 {
        assert_eq!(trickler.accepted.recv_timeout(WAIT), Ok(n), "attempt {n}");
        assert_eq!(
            trickler.closed.recv_timeout(WAIT),
            Ok(n),
            "attempt {n} closed by the client"
        );
    }
    // Nothing left open on the server side, and connect() is still trying.
    assert!(!client.is_finished());
    drop(client); // ends with first_connect_timeout; not waited for
}

#[test]
fn an_oauth_outage_behind_a_valid_token_does_not_delay_reconnects() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    let requests = zoom.token_requests().len();
    zoom.fail_token_requests(u32::MAX, TokenFailure::status(503));
    for n in 2..=6 {
        zoom.drop_connections();
        assert!(zoom.wait_for_connections(n, WAIT), "reconnect {n}");
    }
    zoom.send_event_json(&event(1));
    let ev = client.events().recv_timeout(WAIT).unwrap();
    assert_eq!(ev.timestamp_ms(), Some(1));
    assert_eq!(zoom.token_requests().len(), requests, "no OAuth round trip");
    client.close().unwrap();
}

#[test]
fn a_background_refresh_failure_is_visible_and_ends_the_stream_only_when_the_token_runs_out() {
    // Tokens live 2 s; refreshes from then on fail with an error retrying
    // cannot fix (a proxy's 403 page: no OAuth error code).
    let zoom = MockZoom::builder()
        .token_lifetime(Duration::from_secs(2))
        .start()
        .unwrap();
    // The socket thread notices a fatal token error at its next heartbeat.
    let client = builder(&zoom)
        .heartbeat_interval(Duration::from_millis(200))
        .connect()
        .unwrap();
    let first = client.token_source().current().expect("a token");
    zoom.fail_token_requests(
        u32::MAX,
        TokenFailure::status(403).body("<html>Forbidden by proxy</html>"),
    );
    // The refresh fails ahead of expiry; the stream goes on.
    assert!(zoom.wait_for_token_requests(2, WAIT));
    zoom.send_event_json(&event(2));
    assert_eq!(
        client.events().recv_timeout(WAIT).unwrap().timestamp_ms(),
        Some(2)
    );
    // Then the token runs out: the stream ends with that error.
    let rest: Vec<_> = watchdog({
        let events = client.events().clone();
        move || events.iter().collect()
    });
    assert!(rest.is_empty());
    assert!(!first.is_valid(), "ended before the token expired");
    let err = client
        .error()
        .expect("the error is set when the iterator ends");
    assert!(matches!(err, Error::Http { status: 403, .. }), "{err:?}");
    assert!(client.refresh_error().is_some() || client.token_source().fatal_error().is_some());
    assert!(matches!(
        client.close(),
        Err(Error::Http { status: 403, .. })
    ));
}

#[test]
fn a_panic_in_the_socket_thread_ends_the_stream_with_an_error() {
    let zoom = MockZoom::start().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate_calls = calls.clone();
    let client = builder(&zoom)
        .connect_gate(move || {
            if gate_calls.fetch_add(1, Ordering::SeqCst) > 0 {
                panic!("a gate that fails");
            }
            true
        })
        .connect()
        .unwrap();
    zoom.drop_connections();
    let events = client.events().clone();
    let seen = watchdog(move || events.iter().count());
    assert_eq!(seen, 0);
    match client.error() {
        Some(Error::Panicked { thread, message }) => {
            assert_eq!(thread, "zoom-ws-socket");
            assert!(message.contains("a gate that fails"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let err = watchdog(move || client.close()).unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
}

#[test]
fn a_closed_gate_keeps_the_client_from_connecting_until_it_opens() {
    let zoom = MockZoom::start().unwrap();
    let open = Arc::new(AtomicUsize::new(1));
    let gate = open.clone();
    let client = builder(&zoom)
        .connect_gate(move || gate.load(Ordering::SeqCst) == 1)
        .connect()
        .unwrap();
    open.store(0, Ordering::SeqCst);
    let attempts = zoom.connections().len();
    zoom.drop_connections();
    // Closed: no attempt goes out while it stays closed.
    assert!(!zoom.wait_for_connect_attempts(attempts + 1, Duration::from_millis(300)));
    open.store(1, Ordering::SeqCst);
    assert!(zoom.wait_for_connections(2, WAIT));
    client.close().unwrap();
}

#[test]
fn settings_out_of_range_are_config_errors_not_panics() {
    let zoom = MockZoom::start().unwrap();
    let max = Duration::MAX;
    let cases: Vec<(&str, ClientBuilder)> = vec![
        ("heartbeat_interval", builder(&zoom).heartbeat_interval(max)),
        (
            "heartbeat_interval",
            builder(&zoom).heartbeat_interval(Duration::ZERO),
        ),
        ("dead_link_timeout", builder(&zoom).dead_link_timeout(max)),
        ("connect_timeout", builder(&zoom).connect_timeout(max)),
        (
            "first_connect_timeout",
            builder(&zoom).first_connect_timeout(max),
        ),
        (
            "backoff.max",
            builder(&zoom).backoff(Backoff::new(Duration::from_secs(1), max)),
        ),
        (
            "backoff.initial",
            builder(&zoom).backoff(Backoff::new(Duration::ZERO, max)),
        ),
        (
            "http_timeouts.overall",
            builder(&zoom).http_timeouts(HttpTimeouts::new(Duration::from_secs(1), max)),
        ),
    ];
    for (name, b) in cases {
        match b.connect() {
            Err(Error::Config(msg)) => assert!(msg.contains(name), "{name}: {msg}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(zoom.connection_count(), 0);
}

#[test]
fn a_closer_stops_the_token_refresher_too() {
    let zoom = MockZoom::start().unwrap();
    let client = builder(&zoom).connect().unwrap();
    let tokens = client.token_source();
    client.closer().close();
    let events = client.events().clone();
    watchdog(move || events.iter().count());
    assert!(matches!(tokens.wait(Duration::ZERO), Err(Error::Closed)));
    client.close().unwrap();
}

#[test]
fn clients_share_one_token_stream() {
    // Two connections on one subscription: both stay up in this mode.
    let zoom = MockZoom::builder()
        .one_connection_per_subscription(false)
        .start()
        .unwrap();
    let first = builder(&zoom).connect().unwrap();
    let second = Client::builder()
        .token_source(first.token_source())
        .url(zoom.ws_url())
        .subscription_id(zoom.subscription_id())
        .connect()
        .unwrap();
    assert_eq!(
        zoom.token_requests().len(),
        1,
        "one refresh thread, one token"
    );
    // Closing the second leaves the first (and its tokens) running.
    second.close().unwrap();
    assert!(first.token_source().current().is_some());
    assert!(zoom.wait_for_live_connections(1, WAIT));
    zoom.send_event_json(&event(3));
    let first = watchdog(move || {
        // `for ev in &client` iterates the events.
        if let Some(ev) = (&first).into_iter().next() {
            assert_eq!(ev.timestamp_ms(), Some(3));
        }
        first
    });
    assert_eq!(first.delivered_events(), 1);
    first.close().unwrap();
    assert!(matches!(
        Client::builder()
            .credentials(zoom.credentials())
            .token_source(
                zoom_ws::TokenRefresher::start(zoom.credentials(), Default::default()).source()
            )
            .subscription_id("x")
            .connect(),
        Err(Error::Config(_))
    ));
}

#[test]
fn the_newest_state_changes_survive_when_nobody_reads_them() {
    let zoom = MockZoom::start().unwrap();
    // Connections dropped at once are failures: keep their backoff tiny.
    let client = builder(&zoom)
        .backoff(Backoff::new(
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .connect()
        .unwrap();
    // More than the 1024 changes the channel holds: 520 reconnects make
    // 1041 (a Disconnected and a Reconnected each, after the Connected).
    let deadline = std::time::Instant::now() + WAIT * 6;
    while client.reconnects() < 520 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            client.reconnects()
        );
        let n = zoom.connection_count();
        zoom.drop_connections();
        assert!(zoom.wait_for_connections(n + 1, WAIT));
    }
    let mut changes: Vec<_> = client.states().try_iter().collect();
    assert!(
        changes.len() >= 1024,
        "the queue was full: {}",
        changes.len()
    );
    assert!(
        !matches!(changes.first(), Some(StateChange::Connected { .. })),
        "the oldest were dropped"
    );
    if !matches!(changes.last(), Some(StateChange::Reconnected { .. })) {
        // The last reconnect's change may still be on its way.
        changes.push(client.states().recv_timeout(WAIT).unwrap());
    }
    assert!(
        matches!(changes.last(), Some(StateChange::Reconnected { .. })),
        "the newest are kept: {:?}",
        changes.last()
    );
    client.close().unwrap();
}
