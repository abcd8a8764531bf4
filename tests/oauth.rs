//! OAuth against a real local HTTP(S) server: the exact token request, error
//! classification, the refresh thread's timing, and secrets kept out of
//! Debug, Display and logs.
//!
//! Each test starts its own scripted server on 127.0.0.1 (port 0) and stops
//! it on drop. Every wait is bounded (`WAIT`), so a hang fails in seconds;
//! threads synchronise through channels, never through sleeps.

use std::io;
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use zoom_ws::{
    fetch_token, Backoff, Credentials, Error, HttpTimeouts, RefreshOptions, TlsConfig,
    TokenRefresher,
};

mod common;
use common::http::{json, Reply, Server};
use common::WAIT;

/// The client secret of every test: it must never show up anywhere.
const SECRET: &str = "cs-SECRET-9f8e7d6c5b4a";
/// Every access token the servers hand out starts with this.
const TOKEN_MARK: &str = "at-TOKEN-1a2b3c4d";

/// A token answer with token `TOKEN_MARK-<n>`.
fn token_reply(n: usize, expires_in: i64) -> Reply {
    json(
        200,
        format!(
            r#"{{"access_token":"{TOKEN_MARK}-{n}","token_type":"bearer","expires_in":{expires_in},"scope":"meeting:read:admin user:read:admin","api_url":"https://api.zoom.us","unknown_field":[1,2]}}"#
        ),
    )
}

/// The token URL on `server`, with a query that must never be logged.
fn token_url(server: &Server) -> String {
    format!("{}/oauth/token?not=logged", server.url())
}

// ---------------------------------------------------------------- logging

/// Every log line at DEBUG and above, from every test of this binary
/// (tests run in parallel; all of them use `SECRET` and `TOKEN_MARK`).
///
/// TRACE stays off on purpose: ureq's TRACE (target `ureq_proto`) hex-dumps
/// the raw wire bytes, Authorization header and token answer included. The
/// crate documents that and tells users to filter it; this test checks
/// every level the crate itself controls.
fn capture() -> &'static common::logs::Capture {
    common::logs::capture(log::LevelFilter::Debug, &[])
}

fn logged() -> Vec<String> {
    capture().lines()
}

// ---------------------------------------------------------------- helpers

fn account_creds(server: &Server) -> Credentials {
    capture();
    Credentials::account_credentials("acct id/1+x", "client-id-1", SECRET)
        .with_token_url(token_url(server))
        .unwrap()
}

fn client_creds(server: &Server) -> Credentials {
    capture();
    Credentials::client_credentials("client-id-2", SECRET)
        .with_token_url(token_url(server))
        .unwrap()
}

/// Fast retries, so that retry tests take milliseconds.
fn fast_opts() -> RefreshOptions {
    RefreshOptions::default()
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .timeouts(HttpTimeouts::new(
            Duration::from_secs(5),
            Duration::from_secs(5),
        ))
}

fn expected_basic(client_id: &str) -> String {
    let raw = format!("{client_id}:{SECRET}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "{what} shows the client secret: {text}"
    );
    assert!(!text.contains(TOKEN_MARK), "{what} shows a token: {text}");
    let basic = expected_basic("client-id-1");
    let b64 = basic.trim_start_matches("Basic ");
    assert!(!text.contains(b64), "{what} shows the Basic header: {text}");
}

// ---------------------------------------------------------------- the request

#[test]
fn account_credentials_request_is_exact() {
    let server = Server::script(vec![token_reply(1, 3600)]);
    let before = Instant::now();
    let token = fetch_token(&account_creds(&server), &fast_opts()).unwrap();

    let req = server.next_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/oauth/token?not=logged");
    assert_eq!(
        req.text(),
        "grant_type=account_credentials&account_id=acct+id%2F1%2Bx"
    );
    assert_eq!(
        req.header("authorization"),
        Some(expected_basic("client-id-1").as_str())
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("accept"), Some("application/json"));

    assert_eq!(token.secret().expose(), format!("{TOKEN_MARK}-1"));
    assert_eq!(token.token_type(), "bearer");
    assert_eq!(token.scopes(), ["meeting:read:admin", "user:read:admin"]);
    assert_eq!(token.api_url(), Some("https://api.zoom.us"));
    assert_eq!(token.generation(), 0);
    // Counted from the start of the request.
    let lifetime = token.expires_at() - before;
    assert!(
        lifetime >= Duration::from_secs(3600) && lifetime < Duration::from_secs(3605),
        "{lifetime:?}"
    );
}

#[test]
fn client_credentials_request_is_exact() {
    let server = Server::script(vec![token_reply(1, 3600)]);
    let token = fetch_token(&client_creds(&server), &fast_opts()).unwrap();
    let req = server.next_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.text(), "grant_type=client_credentials");
    assert_eq!(
        req.header("authorization"),
        Some(expected_basic("client-id-2").as_str())
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(token.secret().expose(), format!("{TOKEN_MARK}-1"));
}

// ---------------------------------------------------------------- refresh

#[test]
fn refreshes_ahead_of_expiry() {
    // A 2 s token is replaced 1.8 s after it was requested (lifetime / 10 early).
    let server = Server::script(vec![
        token_reply(1, 2),
        token_reply(2, 2),
        token_reply(3, 2),
    ]);
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let source = refresher.source();
    let first = source.wait(WAIT).unwrap();
    assert_eq!(first.generation(), 1);
    assert_eq!(first.secret().expose(), format!("{TOKEN_MARK}-1"));
    assert_eq!(source.current().unwrap().generation(), 1);

    let r1 = server.next_request();
    let r2 = server.next_request();
    let gap = r2.at - r1.at;
    assert!(
        gap >= Duration::from_millis(1500),
        "refreshed too early: {gap:?}"
    );
    assert!(r2.at < first.expires_at(), "refresh started after expiry");

    let second = source.wait_for_newer(1, WAIT).unwrap();
    let arrived = Instant::now();
    assert_eq!(second.generation(), 2);
    assert_eq!(second.secret().expose(), format!("{TOKEN_MARK}-2"));
    assert!(
        arrived < first.expires_at(),
        "the second token came {:?} after the first expired",
        arrived - first.expires_at()
    );
    assert!(second.expires_at() > first.expires_at());
    assert_eq!(source.generation(), 2);
    refresher.stop();
}

#[test]
fn forced_refreshes_coalesce() {
    let server = Server::script(vec![token_reply(1, 3600), token_reply(2, 3600)]);
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let source = refresher.source();
    let first = source.wait(WAIT).unwrap();
    let r1 = server.next_request();

    // Five threads report the same token rejected at the same moment.
    let barrier = Arc::new(Barrier::new(5));
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let (source, first, barrier) = (source.clone(), first.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                source.force_refresh(&first);
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    // The rejected token is not handed out any more.
    assert!(source.current().is_none_or(|t| t.generation() > 1));

    let second = source.wait(WAIT).unwrap();
    assert_eq!(second.generation(), 2);
    let r2 = server.next_request();
    // A rejected token is replaced at once: no 1 s floor for it.
    assert!(r2.at >= r1.at);

    // A late report of the old token changes nothing: a newer one exists.
    source.force_refresh(&first);
    assert!(
        server.quiet_for(Duration::from_millis(1500)),
        "the five forced refreshes (or the late one) made more than one request"
    );
    assert_eq!(source.current().unwrap().generation(), 2);
    refresher.stop();
}

#[test]
fn stop_is_prompt_even_mid_request() {
    // The server never answers; the overall timeout is long.
    let server = Server::script(vec![Reply::Hang]);
    let mut opts = fast_opts();
    opts.timeouts = HttpTimeouts::new(Duration::from_secs(30), Duration::from_secs(30));
    let refresher = TokenRefresher::start(account_creds(&server), opts);
    let source = refresher.source();
    server.next_request(); // the request is in flight
    let (done_tx, done_rx) = mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || {
        refresher.stop();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(WAIT)
        .expect("stop() hung on a request in flight");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(source.wait(Duration::ZERO), Err(Error::Closed)));
    assert!(source.current().is_none());
}

#[test]
fn stop_is_prompt_while_waiting_to_refresh() {
    let server = Server::script(vec![token_reply(1, 3600)]);
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let source = refresher.source();
    source.wait(WAIT).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        drop(refresher);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(WAIT)
        .expect("dropping the refresher hung");
    assert!(matches!(source.wait(WAIT), Err(Error::Closed)));
}

// ---------------------------------------------------------------- failures

fn assert_fatal_invalid_client(status: u16) {
    let server = Server::script(vec![json(
        status,
        r#"{"reason":"Invalid client_id or client_secret","error":"invalid_client"}"#,
    )]);
    let started = Instant::now();
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let source = refresher.source();
    let err = source.wait(WAIT).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    match &err {
        Error::Auth {
            status: s, code, ..
        } => assert_eq!((*s, code.as_str()), (status, "invalid_client")),
        other => panic!("expected Error::Auth, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("ZOOM_CLIENT_ID"), "{msg}");
    assert!(!err.is_transient());
    assert!(matches!(source.fatal_error(), Some(Error::Auth { .. })));
    // The thread ended on it: joining returns at once, and it asked once.
    refresher.stop();
    assert_eq!(server.seen().len(), 1, "retried a fatal error");
}

#[test]
fn invalid_client_400_is_fatal_after_one_request() {
    assert_fatal_invalid_client(400);
}

#[test]
fn invalid_client_401_is_fatal_after_one_request() {
    assert_fatal_invalid_client(401);
}

#[test]
fn unsupported_grant_type_is_fatal() {
    let server = Server::script(vec![json(
        400,
        r#"{"reason":"unsupported grant type","error":"unsupported_grant_type"}"#,
    )]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(
        matches!(&err, Error::Auth { status: 400, code, .. } if code == "unsupported_grant_type"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("ZOOM_ACCOUNT_ID"), "{msg}");
    assert!(!err.is_transient());

    // The refresh thread gives up on it too.
    let refresher = TokenRefresher::start(client_creds(&server), fast_opts());
    assert!(matches!(
        refresher.source().wait(WAIT),
        Err(Error::Auth { .. })
    ));
}

#[test]
fn other_4xx_without_oauth_error_is_not_transient() {
    let server = Server::script(vec![Reply::Respond(
        404,
        Vec::new(),
        "<html>Not Found</html>".into(),
    )]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, .. }), "{err:?}");
    assert!(!err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.contains("token endpoint") && msg.contains("Not Found"),
        "{msg}"
    );
}

#[test]
fn redirects_are_not_followed() {
    let server = Server::script(vec![
        Reply::Respond(302, vec![("Location", "/elsewhere".into())], String::new()),
        token_reply(1, 3600),
    ]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(matches!(err, Error::Http { status: 302, .. }), "{err:?}");
    assert!(!err.is_transient());
    server.next_request();
    assert!(server.seen().is_empty(), "followed the redirect");
}

#[test]
fn server_error_is_retried() {
    let server = Server::script(vec![
        json(503, r#"{"reason":"try later"}"#),
        json(500, "oops"),
        token_reply(1, 3600),
    ]);
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let token = refresher.source().wait(WAIT).unwrap();
    assert_eq!(token.generation(), 1);
    assert_eq!(token.secret().expose(), format!("{TOKEN_MARK}-1"));
    refresher.stop();
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::script(vec![
        Reply::Respond(
            429,
            vec![("Retry-After", "1".into())],
            r#"{"reason":"slow down","error":"rate_limited"}"#.into(),
        ),
        token_reply(1, 3600),
    ]);
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let source = refresher.source();
    let token = source.wait(WAIT).unwrap();
    assert_eq!(token.generation(), 1);
    let r1 = server.next_request();
    let r2 = server.next_request();
    // Backoff alone would retry within 10 ms.
    assert!(
        r2.at - r1.at >= Duration::from_secs(1),
        "Retry-After ignored: {:?}",
        r2.at - r1.at
    );
    refresher.stop();

    // fetch_token reports it.
    let server = Server::script(vec![Reply::Respond(
        429,
        vec![("Retry-After", "7".into())],
        String::new(),
    )]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

#[test]
fn wait_times_out_with_the_last_transient_error() {
    let server = Server::script(vec![json(503, r#"{"reason":"maintenance"}"#)]);
    let refresher = TokenRefresher::start(account_creds(&server), fast_opts());
    let source = refresher.source();
    server.next_request();
    // Once the first failure is in, wait reports it at the deadline.
    let deadline = Instant::now() + WAIT;
    let err = loop {
        assert!(Instant::now() < deadline, "no transient error reported");
        let e = source.wait(Duration::from_millis(50)).unwrap_err();
        if matches!(e, Error::Http { .. }) {
            break e;
        }
        assert!(matches!(e, Error::Network { .. }), "{e:?}");
    };
    assert!(matches!(err, Error::Http { status: 503, .. }), "{err:?}");
    assert!(err.to_string().contains("maintenance"), "{err}");
    assert!(source.fatal_error().is_none());
}

#[test]
fn garbage_body_is_a_clear_error() {
    let server = Server::script(vec![Reply::Respond(
        200,
        Vec::new(),
        "<html><body>Captive portal login</body></html>".into(),
    )]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("JSON") && msg.contains("Captive portal"),
        "{msg}"
    );

    let server = Server::script(vec![json(200, r#"{"token_type":"bearer"}"#)]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(err.to_string().contains("no access_token"), "{err}");

    let server = Server::script(vec![json(200, "x".repeat(2 << 20))]);
    let err = fetch_token(&client_creds(&server), &fast_opts()).unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[test]
fn silent_server_hits_the_overall_timeout() {
    let server = Server::script(vec![Reply::Hang]);
    let mut opts = fast_opts();
    opts.timeouts = HttpTimeouts::new(Duration::from_millis(500), Duration::from_millis(500));
    let started = Instant::now();
    let err = fetch_token(&client_creds(&server), &opts).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    match &err {
        Error::Network { source, .. } => assert_eq!(source.kind(), io::ErrorKind::TimedOut),
        other => panic!("expected a network timeout, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("token endpoint at 127.0.0.1:"), "{msg}");
    assert!(
        !msg.contains("not=logged"),
        "the query string leaked: {msg}"
    );
    assert!(err.is_transient());
}

#[test]
fn refused_connection_is_a_network_error_naming_the_host() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    capture();
    let creds = Credentials::client_credentials("id", SECRET)
        .with_token_url(format!("http://127.0.0.1:{port}/oauth/token?x=y"))
        .unwrap();
    let err = fetch_token(&creds, &fast_opts()).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "connecting to the token endpoint at 127.0.0.1:{port}"
        )),
        "{msg}"
    );
    assert!(!msg.contains("x=y"), "{msg}");
}

// ---------------------------------------------------------------- TLS

struct TestCa {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn test_ca() -> TestCa {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "zoom-ws oauth test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    TestCa {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

#[test]
fn tls_endpoint_trusted_through_extra_root() {
    let ca = test_ca();
    let server = Server::script_tls(vec![token_reply(1, 3600)], ca.server.clone());
    let creds = client_creds(&server);
    assert!(creds.token_url().starts_with("https://"));

    // Without the test CA: refused, and the message says what to do.
    let err = fetch_token(&creds, &fast_opts()).unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("certificate") && msg.contains("extra_root_pem"),
        "{msg}"
    );
    assert!(msg.contains("token endpoint at 127.0.0.1:"), "{msg}");

    // With it (added to the defaults): the token arrives over TLS.
    let opts =
        RefreshOptions::with_tls(TlsConfig::with_extra_roots_pem(ca.ca_pem.as_bytes()).unwrap())
            .timeouts(fast_opts().timeouts)
            .backoff(fast_opts().backoff);
    let token = fetch_token(&creds, &opts).unwrap();
    assert_eq!(token.secret().expose(), format!("{TOKEN_MARK}-1"));
    let req = server.next_request();
    assert_eq!(req.text(), "grant_type=client_credentials");
    assert_eq!(
        req.header("authorization"),
        Some(expected_basic("client-id-2").as_str())
    );

    // The refresh thread uses the same configuration.
    let refresher = TokenRefresher::start(creds, opts);
    assert!(refresher.source().wait(WAIT).is_ok());
}

// ---------------------------------------------------------------- secrets

#[test]
fn secrets_stay_out_of_debug_display_and_logs() {
    let basic = expected_basic("client-id-1");
    let b64 = basic.trim_start_matches("Basic ").to_owned();
    // Servers that echo the secret (and the Basic header) back in errors.
    let server = Server::script(vec![
        json(500, format!(r#"{{"reason":"boom {SECRET} {b64}"}}"#)),
        Reply::Respond(503, Vec::new(), format!("plain text {SECRET}")),
        token_reply(1, 3600),
    ]);
    let creds = account_creds(&server);
    assert_no_secret("Credentials Debug", &format!("{creds:?} {creds:#?}"));

    let refresher = TokenRefresher::start(creds.clone(), fast_opts());
    let source = refresher.source();
    let token = source.wait(WAIT).unwrap();
    assert_no_secret("AccessToken Debug", &format!("{token:?} {token:#?}"));
    assert_no_secret("TokenSource Debug", &format!("{source:?}"));
    assert_no_secret("TokenRefresher Debug", &format!("{refresher:?}"));
    refresher.stop();

    // Errors: echoed secrets are scrubbed; token bodies are never quoted.
    let failing = Server::script(vec![
        json(502, format!(r#"{{"reason":"{SECRET}"}}"#)),
        Reply::Respond(
            200,
            Vec::new(),
            format!("access_token={TOKEN_MARK}-9&expires_in=3600"),
        ),
        Reply::Respond(500, Vec::new(), b64.clone()),
        // Repeats: the refresh thread below stops on it.
        json(
            401,
            format!(r#"{{"reason":"bad {SECRET}","error":"invalid_client"}}"#),
        ),
    ]);
    let creds = account_creds(&failing);
    for _ in 0..4 {
        let err = fetch_token(&creds, &fast_opts()).unwrap_err();
        log::warn!("test logs the error: {err} / {err:?}");
        assert_no_secret("error", &format!("{err} {err:?} {err:#?}"));
    }
    let fatal = TokenRefresher::start(creds, fast_opts());
    assert!(fatal.source().wait(WAIT).is_err());
    drop(fatal);

    let lines = logged();
    assert!(
        lines.iter().any(|l| l.contains("access token 1 from")),
        "the capture saw no fetch: {lines:#?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("WARN zoom_ws::oauth")));
    // The fatal failure before any token is the waiter's to report: logged
    // at DEBUG (still scrubbed).
    assert!(lines
        .iter()
        .any(|l| l.starts_with("DEBUG zoom_ws::oauth") && l.contains("giving up")));
    for line in &lines {
        assert_no_secret("log line", line);
    }
}
