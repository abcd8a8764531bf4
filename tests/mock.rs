//! The emulator itself, tested with a raw client: std sockets, a hand-made
//! HTTP request and upgrade, and tungstenite's protocol layer (or raw bytes)
//! on top. Nothing of the crate's client is used, so these tests pin what
//! the emulator does on the wire.
//!
//! Watchdog: every socket has a read timeout and every wait on the emulator
//! is bounded, so a hang fails a test within seconds. Tests synchronise on
//! the emulator's observations, never on sleeps.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;
use zoom_ws::mock::{
    ConnectOutcome, MockZoom, MultiConnection, TokenFailure, ALREADY_CONNECTED, INVALID_TOKEN,
    TOKEN_IS_INVALID,
};

/// The bound on anything that should happen at once.
const WAIT: Duration = Duration::from_secs(10);

// ----- a raw client -----

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(t) => t,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A connection to the emulator, TLS if it is, trusting its CA.
fn connect(zoom: &MockZoom) -> Stream {
    let tcp = TcpStream::connect(zoom.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_write_timeout(Some(WAIT)).unwrap();
    if !zoom.is_tls() {
        return Stream::Plain(tcp);
    }
    let config = zoom.tls_config().rustls_config();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
}

/// Reads an HTTP head, byte by byte: nothing after it is consumed.
fn read_head(s: &mut impl Read) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("an HTTP head within the watchdog");
        assert_eq!(n, 1, "connection closed during the HTTP head");
        buf.push(byte[0]);
    }
    String::from_utf8(buf).unwrap()
}

fn status_of(head: &str) -> u16 {
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

struct HttpAnswer {
    status: u16,
    head: String,
    json: Value,
}

/// A raw HTTP request; reads the answer to the end (`Connection: close`).
fn http(zoom: &MockZoom, request: &str) -> HttpAnswer {
    let mut s = connect(zoom);
    s.write_all(request.as_bytes()).unwrap();
    s.flush().unwrap();
    let head = read_head(&mut s);
    let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    HttpAnswer {
        status: status_of(&head),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        head,
    }
}

/// `POST /oauth/token` with Basic auth (if any) and a form body.
fn post_token(zoom: &MockZoom, auth: Option<(&str, &str)>, form: &str) -> HttpAnswer {
    let auth = auth
        .map(|(id, secret)| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            format!("Authorization: Basic {b64}\r\n")
        })
        .unwrap_or_default();
    http(
        zoom,
        &format!(
            "POST /oauth/token HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            zoom.addr(),
            form.len()
        ),
    )
}

fn good_auth(zoom: &MockZoom) -> Option<(&str, &str)> {
    Some((zoom.client_id(), "mock-client-secret"))
}

fn account_form(zoom: &MockZoom) -> String {
    format!(
        "grant_type=account_credentials&account_id={}",
        zoom.account_id()
    )
}

type Ws = WebSocket<Stream>;

/// Sends the upgrade for `query`; returns the status line's code and, on
/// 101, the WebSocket.
fn upgrade(zoom: &MockZoom, query: &str) -> (u16, Option<Ws>) {
    let mut s = connect(zoom);
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    write!(
        s,
        "GET /ws?{query} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n",
        zoom.addr()
    )
    .unwrap();
    s.flush().unwrap();
    let head = read_head(&mut s);
    let status = status_of(&head);
    if status != 101 {
        return (status, None);
    }
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    (
        status,
        Some(WebSocket::from_raw_socket(s, Role::Client, None)),
    )
}

fn ws_connect(zoom: &MockZoom, token: &str) -> Ws {
    let query = format!(
        "subscriptionId={}&access_token={token}",
        zoom.subscription_id()
    );
    upgrade(zoom, &query).1.expect("101 Switching Protocols")
}

/// The next text frame, parsed.
fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a frame within the watchdog") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A connected, accepted WebSocket, past its `build_connection`.
fn accepted(zoom: &MockZoom) -> Ws {
    let token = zoom.issue_token();
    let mut ws = ws_connect(zoom, token.expose());
    let first = next_json(&mut ws);
    assert_eq!(first["module"], "build_connection");
    assert_eq!(first["success"], true);
    ws
}

fn heartbeat(ws: &mut Ws) {
    ws.send(Message::text(r#"{"module":"heartbeat"}"#)).unwrap();
}

/// True if a read ends the connection without a Close frame.
fn ends_without_close(ws: &mut Ws) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => return false,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the connection did not end within the watchdog")
            }
            Err(_) => return true,
        }
    }
}

// ----- token endpoint -----

#[test]
fn token_endpoint_issues_tokens_for_good_credentials() {
    let zoom = MockZoom::start().unwrap();
    let a = post_token(&zoom, good_auth(&zoom), &account_form(&zoom));
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(header(&a.head, "content-type")
        .unwrap()
        .contains("application/json"));
    let token = a.json["access_token"].as_str().unwrap();
    assert!(token.len() >= 32);
    assert_eq!(a.json["token_type"], "bearer");
    assert_eq!(a.json["expires_in"], 3600);
    assert!(a.json["scope"].is_string());
    assert_eq!(a.json["api_url"], zoom.api_base());

    let b = post_token(&zoom, good_auth(&zoom), "grant_type=client_credentials");
    assert_eq!(b.status, 200);
    assert_ne!(
        b.json["access_token"], a.json["access_token"],
        "fresh tokens"
    );

    assert_eq!(zoom.tokens_issued(), 2);
    assert_eq!(zoom.issued_tokens()[0].expose(), token);
    let requests = zoom.token_requests();
    assert_eq!(requests[0].grant_type, "account_credentials");
    assert_eq!(requests[0].account_id.as_deref(), Some(zoom.account_id()));
    assert_eq!(requests[0].client_id.as_deref(), Some(zoom.client_id()));
    assert!(!requests[0].params_in_query);
    assert_eq!(requests[1].grant_type, "client_credentials");
    assert_eq!(requests[1].status, 200);
}

#[test]
fn token_endpoint_refuses_bad_credentials_and_grants() {
    let zoom = MockZoom::start().unwrap();
    let form = account_form(&zoom);

    let wrong = post_token(&zoom, Some((zoom.client_id(), "wrong")), &form);
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json,
        json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
    );
    assert_eq!(post_token(&zoom, None, &form).status, 401);

    let grant = post_token(&zoom, good_auth(&zoom), "grant_type=password");
    assert_eq!(grant.status, 400);
    assert_eq!(grant.json["error"], "unsupported_grant_type");

    let no_account = post_token(&zoom, good_auth(&zoom), "grant_type=account_credentials");
    assert_eq!(no_account.status, 400);
    assert_eq!(no_account.json["error"], "invalid_request");

    assert_eq!(zoom.tokens_issued(), 0);
    let statuses: Vec<u16> = zoom.token_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 400, 400]);
}

#[test]
fn token_endpoint_failure_injection() {
    let zoom = MockZoom::start().unwrap();
    let form = account_form(&zoom);
    zoom.fail_token_requests(
        2,
        TokenFailure::status(503).retry_after(Duration::from_secs(7)),
    );
    for _ in 0..2 {
        let a = post_token(&zoom, good_auth(&zoom), &form);
        assert_eq!(a.status, 503);
        assert_eq!(header(&a.head, "retry-after"), Some("7"));
        assert!(a.json["error"].is_string());
    }
    assert_eq!(post_token(&zoom, good_auth(&zoom), &form).status, 200);

    zoom.fail_token_requests(1, TokenFailure::status(429).body(r#"{"custom":true}"#));
    let a = post_token(&zoom, good_auth(&zoom), &form);
    assert_eq!(a.status, 429);
    assert_eq!(a.json, json!({"custom": true}));
    assert_eq!(header(&a.head, "retry-after"), None);
    assert_eq!(zoom.tokens_issued(), 1);
    assert!(zoom.wait_for_token_requests(4, WAIT));
}

#[test]
fn token_lifetime_is_configurable_and_expiry_refuses_the_socket() {
    let zoom = MockZoom::builder()
        .token_lifetime(Duration::from_secs(60))
        .start()
        .unwrap();
    let a = post_token(&zoom, good_auth(&zoom), &account_form(&zoom));
    assert_eq!(a.json["expires_in"], 60);

    zoom.set_token_lifetime(Duration::ZERO);
    let expired = post_token(&zoom, good_auth(&zoom), &account_form(&zoom));
    assert_eq!(expired.json["expires_in"], 0);
    let mut ws = ws_connect(&zoom, expired.json["access_token"].as_str().unwrap());
    let first = next_json(&mut ws);
    assert_eq!(first["success"], false);
    assert_eq!(first["content"], INVALID_TOKEN);
}

#[test]
fn http_garbage_and_unknown_paths_are_answered() {
    let zoom = MockZoom::start().unwrap();
    assert_eq!(http(&zoom, "NONSENSE\r\n\r\n").status, 400);
    assert_eq!(http(&zoom, "GET /nowhere HTTP/1.1\r\n\r\n").status, 404);
    assert_eq!(http(&zoom, "GET /oauth/token HTTP/1.1\r\n\r\n").status, 405);
    assert_eq!(http(&zoom, "GET /ws HTTP/1.1\r\n\r\n").status, 400);
    // Still serving.
    assert_eq!(
        post_token(&zoom, good_auth(&zoom), &account_form(&zoom)).status,
        200
    );
}

// ----- WebSocket endpoint -----

#[test]
fn build_connection_first_then_heartbeat_ack() {
    let zoom = MockZoom::start().unwrap();
    let token = zoom.issue_token();
    let mut ws = ws_connect(&zoom, token.expose());
    let first = next_json(&mut ws);
    assert_eq!(first["module"], "build_connection");
    assert_eq!(first["success"], true);
    assert!(zoom.wait_for_connections(1, WAIT));
    let info = &zoom.connections()[0];
    assert_eq!(info.outcome, ConnectOutcome::Accepted);
    assert_eq!(&info.token, &token);
    assert_eq!(info.subscription_id, zoom.subscription_id());
    assert!(
        !format!("{info:?}").contains(token.expose()),
        "no token in Debug"
    );

    heartbeat(&mut ws);
    assert_eq!(
        next_json(&mut ws),
        json!({"module": "heartbeat", "success": true, "content": "live", "header": {}})
    );
    assert!(zoom.wait_for_heartbeats(1, WAIT));
    assert_eq!(zoom.heartbeats()[0].connection, info.id);

    // Other client frames are recorded, WebSocket pings answered.
    ws.send(Message::text(r#"{"module":"other"}"#)).unwrap();
    assert!(zoom.wait_for_texts(1, WAIT));
    assert_eq!(zoom.received_texts(), [r#"{"module":"other"}"#]);
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    loop {
        if let Message::Pong(p) = ws.read().unwrap() {
            assert_eq!(&p[..], b"p");
            break;
        }
    }
}

#[test]
fn event_arrives_double_encoded() {
    let zoom = MockZoom::start().unwrap();
    let mut ws = accepted(&zoom);
    let event = json!({
        "event": "meeting.started",
        "event_ts": 1626230691572u64,
        "payload": {"account_id": "A", "object": {"id": "1234567890", "topic": "My \"Meeting\" ✓"}},
    });
    assert_eq!(zoom.send_event(&event), 1);
    let frame = next_json(&mut ws);
    assert_eq!(frame["module"], "message");
    let content = frame["content"].as_str().expect("content is a JSON string");
    assert_eq!(serde_json::from_str::<Value>(content).unwrap(), event);

    let raw = r#"{"event":"x","not json"#;
    assert_eq!(zoom.send_event_json(raw), 1);
    assert_eq!(next_json(&mut ws)["content"], raw);
}

#[test]
fn bulk_and_batched_events_arrive_in_order() {
    let zoom = Arc::new(MockZoom::start().unwrap());
    let mut ws = accepted(&zoom);
    let n = 20_000u64;
    let pad = "x".repeat(500);
    let template = format!(r#"{{"event":"meeting.updated","event_ts":{{seq}},"pad":"{pad}"}}"#);
    // Sent from another thread: 10+ MB do not fit the socket buffers.
    let sender = {
        let zoom = Arc::clone(&zoom);
        std::thread::spawn(move || zoom.send_events_bulk(&template, 1, n))
    };
    for seq in 1..=n {
        let frame = next_json(&mut ws);
        let event: Value = serde_json::from_str(frame["content"].as_str().unwrap()).unwrap();
        assert_eq!(event["event_ts"], seq);
    }
    assert_eq!(sender.join().unwrap(), 1);

    let mut batch = zoom_ws::mock::FrameBatch::new();
    batch
        .push_event_json(r#"{"event":"a"}"#)
        .push_text("raw")
        .push_events_numbered(r#"{"event":"b","n":{seq}}"#, 7, 2);
    assert_eq!(zoom.send_batch(&batch), 1);
    assert_eq!(next_json(&mut ws)["content"], r#"{"event":"a"}"#);
    assert_eq!(ws.read().unwrap(), Message::text("raw"));
    assert_eq!(next_json(&mut ws)["content"], r#"{"event":"b","n":7}"#);
    assert_eq!(next_json(&mut ws)["content"], r#"{"event":"b","n":8}"#);
}

#[test]
fn raw_text_and_binary_frames() {
    let zoom = MockZoom::start().unwrap();
    let mut ws = accepted(&zoom);
    assert_eq!(zoom.send_text("not json at all"), 1);
    assert_eq!(ws.read().unwrap(), Message::text("not json at all"));
    assert_eq!(zoom.send_binary(&[0, 1, 2]), 1);
    assert_eq!(ws.read().unwrap(), Message::binary(vec![0u8, 1, 2]));
}

#[test]
fn silence_keeps_tcp_open_and_resume_ends_it() {
    let zoom = MockZoom::start().unwrap();
    let mut ws = accepted(&zoom);
    assert_eq!(zoom.go_silent(), 1);
    heartbeat(&mut ws);
    assert!(
        zoom.wait_for_heartbeats(1, WAIT),
        "heartbeats are still read"
    );
    assert_eq!(zoom.send_event(&json!({"event": "lost"})), 0);
    assert_eq!(zoom.live_connections(), 1, "TCP stays open");
    // Nothing arrives: a bounded wait for absence.
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    match ws.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a silent server sent {other:?}"),
    }
    ws.get_ref().tcp().set_read_timeout(Some(WAIT)).unwrap();

    assert_eq!(zoom.resume(), 1);
    heartbeat(&mut ws);
    assert_eq!(
        next_json(&mut ws)["content"],
        "live",
        "acks resume; none was queued"
    );
    assert_eq!(zoom.send_event(&json!({"event": "back"})), 1);
    assert_eq!(next_json(&mut ws)["module"], "message");
}

#[test]
fn abrupt_drop_sends_no_close_frame() {
    let zoom = MockZoom::start().unwrap();
    let mut ws = accepted(&zoom);
    assert!(zoom.wait_for_live_connections(1, WAIT));
    assert_eq!(zoom.drop_connections(), 1);
    assert!(ends_without_close(&mut ws));
    assert!(zoom.wait_for_live_connections(0, WAIT));
    assert!(zoom.client_closes().is_empty());
}

#[test]
fn clean_close_with_a_chosen_code() {
    let zoom = MockZoom::start().unwrap();
    let mut ws = accepted(&zoom);
    assert_eq!(zoom.close_connections(4001, "going away"), 1);
    assert_eq!(zoom.live_connections(), 0);
    match ws.read().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 4001);
            assert_eq!(f.reason.as_str(), "going away");
        }
        other => panic!("{other:?}"),
    }
    // tungstenite answers the Close; the server then ends the connection.
    loop {
        match ws.read() {
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
            Ok(_) => {}
        }
    }
    assert!(zoom.wait_for_client_closes(1, WAIT));
    let closes = zoom.client_closes();
    assert_eq!(closes.len(), 1);
    assert!(closes[0].reply, "the client answered the server's Close");
    assert_eq!(zoom.wait_for_close_code(Duration::from_millis(10)), None);
}

#[test]
fn client_close_code_is_recorded_and_echoed() {
    let zoom = MockZoom::start().unwrap();
    let mut ws = accepted(&zoom);
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .unwrap();
    loop {
        match ws.read() {
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
            Ok(_) => {}
        }
    }
    assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));
    let close = &zoom.client_closes()[0];
    assert_eq!(close.reason, "bye");
    assert!(!close.reply);
}

#[test]
fn in_band_token_rejection_marks_the_token_invalid() {
    let zoom = MockZoom::start().unwrap();
    let token = zoom.issue_token();
    let mut ws = ws_connect(&zoom, token.expose());
    assert_eq!(next_json(&mut ws)["success"], true);
    assert_eq!(zoom.reject_token("message", TOKEN_IS_INVALID), 1);
    let frame = next_json(&mut ws);
    assert_eq!(
        frame,
        json!({"module": "message", "success": false, "content": "Token is invalid", "header": {}})
    );
    // The connection stays open until told otherwise.
    assert_eq!(zoom.live_connections(), 1);

    let mut again = ws_connect(&zoom, token.expose());
    let first = next_json(&mut again);
    assert_eq!(first["module"], "build_connection");
    assert_eq!(first["success"], false);
    assert_eq!(first["content"], INVALID_TOKEN);
    assert!(matches!(again.read(), Ok(Message::Close(_))), "then closed");
    assert_eq!(zoom.connections()[1].outcome, ConnectOutcome::InvalidToken);
}

#[test]
fn refused_tokens_and_subscriptions() {
    let zoom = MockZoom::start().unwrap();
    let (_, ws) = upgrade(&zoom, &format!("subscriptionId={}", zoom.subscription_id()));
    let mut ws = ws.unwrap();
    let first = next_json(&mut ws);
    assert_eq!(
        first,
        json!({"module": "build_connection", "success": false, "content": "token is empty", "header": {}})
    );
    assert!(matches!(ws.read(), Ok(Message::Close(_))));

    let mut ws = ws_connect(&zoom, "never-issued");
    assert_eq!(next_json(&mut ws)["content"], INVALID_TOKEN);

    let token = zoom.issue_token();
    let (_, ws) = upgrade(
        &zoom,
        &format!("subscriptionId=other&access_token={}", token.expose()),
    );
    assert_eq!(next_json(&mut ws.unwrap())["success"], false);

    zoom.revoke_tokens();
    let mut ws = ws_connect(&zoom, token.expose());
    assert_eq!(next_json(&mut ws)["content"], INVALID_TOKEN);

    let outcomes: Vec<ConnectOutcome> = zoom.connections().iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [
            ConnectOutcome::EmptyToken,
            ConnectOutcome::InvalidToken,
            ConnectOutcome::UnknownSubscription,
            ConnectOutcome::InvalidToken,
        ]
    );
    assert_eq!(zoom.connection_count(), 0);
}

#[test]
fn upgrades_refused_with_an_http_status() {
    let zoom = MockZoom::start().unwrap();
    let token = zoom.issue_token();
    let query = format!(
        "subscriptionId={}&access_token={}",
        zoom.subscription_id(),
        token.expose()
    );
    zoom.refuse_upgrades(2, 401);
    assert_eq!(upgrade(&zoom, &query).0, 401);
    assert_eq!(upgrade(&zoom, &query).0, 401);
    assert_eq!(upgrade(&zoom, &query).0, 101);
    assert!(zoom.wait_for_connections(1, WAIT));
    assert_eq!(zoom.connections()[0].outcome, ConnectOutcome::Refused(401));
}

#[test]
fn a_new_connection_replaces_the_old_one_unless_configured() {
    let zoom = MockZoom::start().unwrap();
    let mut old = accepted(&zoom);
    let _new = accepted(&zoom);
    match old.read().unwrap() {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("{other:?}"),
    }
    assert!(zoom.wait_for_live_connections(1, WAIT));

    let zoom = MockZoom::builder()
        .one_connection_per_subscription(false)
        .start()
        .unwrap();
    let mut a = accepted(&zoom);
    let mut b = accepted(&zoom);
    assert_eq!(zoom.live_connections(), 2);
    assert_eq!(zoom.send_text("both"), 2);
    assert_eq!(a.read().unwrap(), Message::text("both"));
    assert_eq!(b.read().unwrap(), Message::text("both"));
}

#[test]
fn split_mode_load_balances_events_between_sockets() {
    let zoom = MockZoom::builder()
        .multi_connection(MultiConnection::Split)
        .start()
        .unwrap();
    let mut a = accepted(&zoom);
    let mut b = accepted(&zoom);
    assert_eq!(zoom.live_connections(), 2);
    let mut batch = zoom_ws::mock::FrameBatch::new();
    for i in 0..4 {
        batch.push_text(&format!("e{i}"));
    }
    assert_eq!(zoom.send_batch(&batch), 2);
    let read_two = |ws: &mut Ws| -> Vec<String> {
        (0..2)
            .map(|_| ws.read().unwrap().into_text().unwrap().to_string())
            .collect()
    };
    let mut got = read_two(&mut a);
    got.extend(read_two(&mut b));
    got.sort();
    // Each event went to exactly one socket, two each.
    assert_eq!(got, ["e0", "e1", "e2", "e3"]);
    // Alone again, a socket gets everything.
    drop(b);
    assert!(zoom.wait_for_live_connections(1, WAIT));
    assert_eq!(zoom.send_text("x"), 1);
    assert_eq!(zoom.send_text("y"), 1);
    assert_eq!(a.read().unwrap(), Message::text("x"));
    assert_eq!(a.read().unwrap(), Message::text("y"));
}

#[test]
fn refuse_mode_turns_the_new_socket_away_while_one_is_open() {
    let zoom = MockZoom::builder()
        .multi_connection(MultiConnection::Refuse)
        .start()
        .unwrap();
    let mut old = accepted(&zoom);
    let token = zoom.issue_token();
    let mut new = ws_connect(&zoom, token.expose());
    let first = next_json(&mut new);
    assert_eq!(first["module"], "build_connection");
    assert_eq!(first["success"], false);
    assert_eq!(first["content"], ALREADY_CONNECTED);
    assert!(matches!(new.read(), Ok(Message::Close(_))));
    assert_eq!(
        zoom.connections().last().unwrap().outcome,
        ConnectOutcome::AlreadyConnected
    );
    assert_eq!(zoom.live_connections(), 1);
    assert_eq!(zoom.send_text("still here"), 1);
    assert_eq!(old.read().unwrap(), Message::text("still here"));
    // Once the old one is gone, a new one is accepted.
    drop(old);
    assert!(zoom.wait_for_live_connections(0, WAIT));
    let _again = accepted(&zoom);
    assert_eq!(zoom.connection_count(), 2);
}

#[test]
fn multi_connection_mode_switches_at_run_time() {
    let zoom = MockZoom::start().unwrap();
    assert_eq!(zoom.multi_connection(), MultiConnection::Kick);
    zoom.set_multi_connection(MultiConnection::Both);
    let _a = accepted(&zoom);
    let _b = accepted(&zoom);
    assert_eq!(zoom.live_connections(), 2);
    zoom.set_one_connection_per_subscription(true);
    assert_eq!(zoom.multi_connection(), MultiConnection::Kick);
    let _c = accepted(&zoom);
    assert!(zoom.wait_for_live_connections(1, WAIT));
}

#[test]
fn garbage_from_a_client_drops_only_that_connection() {
    let zoom = MockZoom::start().unwrap();
    // An unmasked frame: a protocol error.
    let mut ws = accepted(&zoom);
    ws.get_mut().write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let mut rest = Vec::new();
    let _ = ws.get_mut().read_to_end(&mut rest);
    // Close 1002 (0x03EA), then the end of the stream.
    assert_eq!(&rest[..4], &[0x88, 0x10, 0x03, 0xEA]);

    // A frame announcing 2^62 bytes: refused from its header, no allocation.
    let mut ws = accepted(&zoom);
    let mut huge = vec![0x82, 0xFF];
    huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    ws.get_mut().write_all(&huge).unwrap();
    assert!(matches!(ws.read(), Ok(Message::Close(_)) | Err(_)));

    // Random bytes right after the TLS-less upgrade.
    let mut ws = accepted(&zoom);
    ws.get_mut().write_all(&[0xFF; 64]).unwrap();
    assert!(matches!(ws.read(), Ok(Message::Close(_)) | Err(_)));

    assert!(zoom.wait_for_live_connections(0, WAIT));
    let mut ws = accepted(&zoom);
    heartbeat(&mut ws);
    assert_eq!(next_json(&mut ws)["content"], "live", "still serving");
}

// ----- TLS -----

#[test]
fn tls_with_the_generated_ca() {
    let zoom = MockZoom::builder().tls(true).start().unwrap();
    assert!(zoom.token_url().starts_with("https://127.0.0.1:"));
    assert!(zoom.ws_url().starts_with("wss://127.0.0.1:"));
    assert!(zoom.ca_pem().unwrap().contains("BEGIN CERTIFICATE"));
    assert_eq!(zoom.tls_config().extra_roots(), 1);

    let a = post_token(&zoom, good_auth(&zoom), &account_form(&zoom));
    assert_eq!(a.status, 200);
    assert_eq!(a.json["api_url"], zoom.api_base());
    let mut ws = ws_connect(&zoom, a.json["access_token"].as_str().unwrap());
    assert_eq!(next_json(&mut ws)["success"], true);
    heartbeat(&mut ws);
    assert_eq!(next_json(&mut ws)["content"], "live");
    let big = json!({"event": "recording.completed", "pad": "y".repeat(100_000)});
    assert_eq!(zoom.send_event(&big), 1);
    let frame = next_json(&mut ws);
    assert_eq!(
        serde_json::from_str::<Value>(frame["content"].as_str().unwrap()).unwrap(),
        big
    );
    assert_eq!(zoom.close_connections(1000, ""), 1);
    assert!(matches!(ws.read(), Ok(Message::Close(_))));

    // Without the CA, the handshake fails.
    let tcp = TcpStream::connect(zoom.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let config = zoom_ws::TlsConfig::default().rustls_config();
    let conn = ClientConnection::new(config, ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    let e = s
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .and_then(|()| s.flush());
    let e = e.and_then(|()| s.read(&mut [0u8; 16]).map(drop));
    assert!(e.is_err(), "an untrusted server certificate must fail");
}

#[test]
fn tls_bulk_events() {
    let zoom = Arc::new(MockZoom::builder().tls(true).start().unwrap());
    let mut ws = accepted(&zoom);
    let n = 5_000u64;
    let sender = {
        let zoom = Arc::clone(&zoom);
        std::thread::spawn(move || zoom.send_events_bulk(r#"{"event":"e","event_ts":{seq}}"#, 0, n))
    };
    let (mut seq, mut acks) = (0, 0);
    while seq < n || acks == 0 {
        let frame = next_json(&mut ws);
        if frame["module"] == "heartbeat" {
            // Answered in the middle of a burst, between two chunks.
            acks += 1;
            continue;
        }
        let event: Value = serde_json::from_str(frame["content"].as_str().unwrap()).unwrap();
        assert_eq!(event["event_ts"], seq);
        if seq == n / 2 {
            heartbeat(&mut ws);
        }
        seq += 1;
    }
    assert_eq!(acks, 1);
    assert_eq!(sender.join().unwrap(), 1);
    assert!(zoom.wait_for_heartbeats(1, WAIT));
}

// ----- life cycle -----

#[test]
fn stop_closes_the_listener_and_every_connection() {
    let zoom = MockZoom::start().unwrap();
    let addr = zoom.addr();
    let mut ws = accepted(&zoom);
    // A client stuck in its HTTP request must not hold up stop.
    let mut stuck = TcpStream::connect(addr).unwrap();
    stuck.set_read_timeout(Some(WAIT)).unwrap();
    stuck.write_all(b"POST /oauth/token HTTP/1.1\r\n").unwrap();

    zoom.stop();
    assert!(ends_without_close(&mut ws));
    assert_eq!(stuck.read(&mut [0u8; 16]).unwrap_or(0), 0);
    assert!(TcpStream::connect(addr).is_err(), "listener closed");
    zoom.stop(); // idempotent
    drop(zoom);
}

#[test]
fn accessors_and_debug() {
    let zoom = MockZoom::builder()
        .client_id("cid")
        .client_secret("very-secret-value")
        .subscription_id("sub")
        .start()
        .unwrap();
    assert_eq!(zoom.api_base(), format!("http://{}", zoom.addr()));
    assert_eq!(
        zoom.token_url(),
        format!("http://{}/oauth/token", zoom.addr())
    );
    assert_eq!(zoom.ws_url(), format!("ws://{}/ws", zoom.addr()));
    assert_eq!(zoom.ca_pem(), None);
    assert_eq!(zoom.subscription_id(), "sub");
    let creds = zoom.credentials();
    assert_eq!(creds.token_url(), zoom.token_url());
    assert_eq!(creds.client_id(), "cid");
    let token = zoom.issue_token();
    let shown = format!("{zoom:?} {creds:?} {:?}", zoom.issued_tokens());
    assert!(!shown.contains("very-secret-value"), "{shown}");
    assert!(!shown.contains(token.expose()), "{shown}");
    let a = post_token(
        &zoom,
        Some(("cid", "very-secret-value")),
        "grant_type=client_credentials",
    );
    assert_eq!(a.status, 200);
}
