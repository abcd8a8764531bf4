//! The REST helper against a local server playing api.zoom.us (and a local
//! token endpoint): pagination, retries of 429 and 5xx, the one token
//! refresh after a 401, Zoom's error fields, Video SDK JWTs, and tokens kept
//! out of errors and Debug.
//!
//! Each test starts its own scripted servers on 127.0.0.1 (port 0) and stops
//! them on drop, and runs under a watchdog: a hang fails in seconds. Threads
//! synchronise through channels, never through sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::{json, Value};
use zoom_ws::jwt;
use zoom_ws::rest::{Api, ApiBuilder};
use zoom_ws::{
    Backoff, Credentials, Error, HttpTimeouts, RefreshOptions, Secret, TokenRefresher, TokenSource,
};

mod common;
use common::http::{Reply, Request, Server};
use common::{watchdog, WAIT};

/// Access tokens handed out are `TOKEN-<n>`.
const TOKEN: &str = "at-TOKEN-5e6f7a8b";

/// A JSON answer.
fn reply(status: u16, body: Value) -> Reply {
    common::http::json(status, body)
}

// ---------------------------------------------------------------- tokens

/// A token endpoint handing out `TOKEN-1`, `TOKEN-2`, ... with `api_url`
/// pointing at `api`, and a refresh thread on it.
struct Tokens {
    server: Server,
    refresher: TokenRefresher,
}

impl Tokens {
    fn start(api: &Server) -> Tokens {
        let api_url = api.url();
        let issued = AtomicUsize::new(0);
        let server = Server::start(move |_| {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            reply(
                200,
                json!({"access_token": format!("{TOKEN}-{n}"), "token_type": "bearer",
                       "expires_in": 3600, "scope": "meeting:read:admin", "api_url": api_url}),
            )
        });
        let creds = Credentials::account_credentials("acct", "client", "client-secret")
            .with_token_url(format!("{}/oauth/token", server.url()))
            .unwrap();
        let refresher = TokenRefresher::start(
            creds,
            RefreshOptions::default()
                .timeouts(timeouts())
                .backoff(fast_backoff()),
        );
        Tokens { server, refresher }
    }

    fn source(&self) -> TokenSource {
        self.refresher.source()
    }
}

fn timeouts() -> HttpTimeouts {
    HttpTimeouts::new(Duration::from_secs(2), Duration::from_secs(5))
}

fn fast_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(20))
}

/// An OAuth API client with fast retries, base URL from the token's api_url.
fn oauth_api(tokens: &Tokens) -> ApiBuilder {
    Api::builder(tokens.source())
        .timeouts(timeouts())
        .backoff(fast_backoff())
        .token_wait(Duration::from_secs(5))
}

fn http_error(e: &Error) -> (u16, Option<&str>, &str) {
    match e {
        Error::Http {
            status,
            code,
            message,
            ..
        } => (*status, code.as_deref(), message.as_str()),
        other => panic!("expected Error::Http, got {other:?}"),
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn pages_follow_next_page_token_with_the_current_token() {
    watchdog(|| {
        let api_server = Server::start(|r| {
            let page = |ids: &[u64], next: &str| {
                let meetings: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
                reply(
                    200,
                    json!({"page_size": 2, "total_records": 5, "next_page_token": next, "meetings": meetings}),
                )
            };
            match r.query("next_page_token") {
                None => page(&[1, 2], "tok-page-2"),
                Some("tok-page-2") => page(&[3, 4], "tok-page-3"),
                Some("tok-page-3") => page(&[5], ""),
                Some(other) => reply(400, json!({"code": 300, "message": other})),
            }
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();

        #[derive(Deserialize)]
        struct Meeting {
            id: u64,
        }
        let mut pages = api
            .get("/users/me/meetings")
            .query("type", "scheduled")
            .pages_as::<Meeting>("meetings")
            .page_size(2);
        let ids: Vec<u64> = pages.by_ref().map(|m| m.unwrap().id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(pages.total_records(), Some(5));
        assert!(pages.next().is_none());

        let seen = api_server.seen();
        assert_eq!(seen.len(), 3, "{seen:?}");
        let tokens_sent: Vec<Option<&str>> =
            seen.iter().map(|r| r.query("next_page_token")).collect();
        assert_eq!(tokens_sent, [None, Some("tok-page-2"), Some("tok-page-3")]);
        for r in &seen {
            assert_eq!(r.method, "GET");
            // The base came from the token's api_url, plus /v2.
            assert_eq!(r.path, "/v2/users/me/meetings");
            assert_eq!(r.query("type"), Some("scheduled"));
            assert_eq!(r.query("page_size"), Some("2"));
            assert_eq!(
                r.header("authorization"),
                Some(&*format!("Bearer {TOKEN}-1"))
            );
            assert_eq!(r.header("accept"), Some("application/json"));
        }
        assert_eq!(tokens.server.seen().len(), 1, "one token for everything");
    });
}

#[test]
fn retry_after_is_honoured_then_success() {
    watchdog(|| {
        let calls = AtomicUsize::new(0);
        let api_server = Server::start(move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::Respond(
                    429,
                    vec![("Retry-After", "1".into())],
                    json!({"code": 429, "message": "You have reached the maximum per-second rate limit."}).to_string(),
                )
            } else {
                reply(200, json!({"id": "me"}))
            }
        });
        let tokens = Tokens::start(&api_server);
        // Backoff alone would retry within 20 ms.
        let api = oauth_api(&tokens).build().unwrap();
        tokens.source().wait(WAIT).unwrap();
        let started = Instant::now();
        let me = api.get("/users/me").send().unwrap();
        assert_eq!(me["id"], "me");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "retried after {:?}, before Retry-After",
            started.elapsed()
        );
        assert_eq!(api_server.seen().len(), 2);
    });
}

#[test]
fn retry_after_longer_than_max_retry_wait_fails_at_once() {
    watchdog(|| {
        let api_server = Server::start(|_| {
            Reply::Respond(
                429,
                vec![("Retry-After", "3600".into())],
                json!({"code": 429, "message": "daily limit"}).to_string(),
            )
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens)
            .max_retry_wait(Duration::from_secs(5))
            .build()
            .unwrap();
        let e = api.get("/users/me").send().unwrap_err();
        assert_eq!(http_error(&e), (429, Some("429"), "daily limit"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
        assert_eq!(api_server.seen().len(), 1);
    });
}

#[test]
fn server_errors_are_retried_with_backoff_up_to_the_cap() {
    watchdog(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let api_server = {
            let calls = calls.clone();
            Server::start(move |r| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if r.path.ends_with("/flaky") && n >= 2 {
                    reply(200, json!({"ok": true}))
                } else {
                    reply(503, json!({"code": 503, "message": "Service unavailable"}))
                }
            })
        };
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).max_retries(3).build().unwrap();

        // Two 503s, then success.
        assert_eq!(api.get("/flaky").send().unwrap()["ok"], true);
        assert_eq!(api_server.seen().len(), 3);

        // Always 503: 1 attempt + 3 retries, then the error.
        calls.store(0, Ordering::SeqCst);
        let e = api.get("/down").send().unwrap_err();
        assert_eq!(http_error(&e), (503, Some("503"), "Service unavailable"));
        assert!(e.is_transient());
        assert_eq!(api_server.seen().len(), 4);

        // A POST is not retried on a 5xx: Zoom may have acted on it.
        let e = api
            .post("/users/me/meetings")
            .json(&json!({"topic": "t"}))
            .send()
            .unwrap_err();
        assert_eq!(http_error(&e).0, 503);
        assert_eq!(api_server.seen().len(), 1);
    });
}

#[test]
fn unauthorized_refreshes_once_and_retries_with_the_new_token() {
    watchdog(|| {
        let api_server = Server::start(|r| {
            if r.bearer() == format!("{TOKEN}-1") {
                reply(
                    401,
                    json!({"code": 124, "message": "Invalid access token."}),
                )
            } else {
                reply(200, json!({"id": "me"}))
            }
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();
        assert_eq!(api.get("/users/me").send().unwrap()["id"], "me");

        let seen = api_server.seen();
        let bearers: Vec<&str> = seen.iter().map(Request::bearer).collect();
        assert_eq!(bearers, [format!("{TOKEN}-1"), format!("{TOKEN}-2")]);
        assert_eq!(tokens.server.seen().len(), 2, "exactly one refresh");
        // The refused token is retired for every user of the source.
        assert_eq!(tokens.source().current().unwrap().generation(), 2);
    });
}

#[test]
fn unauthorized_twice_is_an_error_after_one_refresh() {
    watchdog(|| {
        let api_server = Server::start(|_| {
            reply(
                401,
                json!({"code": 124, "message": "Invalid access token."}),
            )
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();
        let e = api.get("/users/me").send().unwrap_err();
        assert_eq!(http_error(&e), (401, Some("124"), "Invalid access token."));
        assert!(!e.is_transient());
        assert_eq!(api_server.seen().len(), 2);
        assert_eq!(tokens.server.seen().len(), 2, "exactly one refresh");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
    });
}

#[test]
fn zoom_error_code_and_message_are_kept() {
    watchdog(|| {
        let api_server = Server::start(|r| {
            reply(
                404,
                json!({"code": 3001, "message": format!("Meeting does not exist: {}.", r.bearer())}),
            )
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();
        let e = api.get("/meetings/123").send().unwrap_err();
        // The server quoted the token: it is scrubbed.
        assert_eq!(
            http_error(&e),
            (404, Some("3001"), "Meeting does not exist: ***.")
        );
        assert!(!e.is_transient());
        assert_eq!(api_server.seen().len(), 1, "a 404 is not retried");
        let shown = format!("{e} {e:?} {api:?}");
        assert!(!shown.contains(TOKEN), "{shown}");
    });
}

#[test]
fn json_bodies_and_empty_answers() {
    watchdog(|| {
        let api_server = Server::start(|r| match r.method.as_str() {
            "POST" => {
                let sent: Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(r.header("content-type"), Some("application/json"));
                reply(201, json!({"id": 85746065, "topic": sent["topic"]}))
            }
            _ => Reply::Respond(204, Vec::new(), String::new()),
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();

        #[derive(Deserialize)]
        struct Created {
            id: u64,
            topic: String,
        }
        let created: Created = api
            .post("/users/me/meetings")
            .json(&json!({"topic": "Weekly sync", "type": 2}))
            .send_as()
            .unwrap();
        assert_eq!(
            (created.id, created.topic.as_str()),
            (85746065, "Weekly sync")
        );

        let patched = api
            .patch("/meetings/85746065")
            .json(&json!({"topic": "Renamed"}))
            .send()
            .unwrap();
        assert_eq!(patched, Value::Null);
        api.delete("/meetings/85746065")
            .query("schedule_for_reminder", false)
            .send_as::<()>()
            .unwrap();

        let seen = api_server.seen();
        let calls: Vec<(&str, &str)> = seen
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                ("POST", "/v2/users/me/meetings"),
                ("PATCH", "/v2/meetings/85746065"),
                ("DELETE", "/v2/meetings/85746065")
            ]
        );
        assert_eq!(seen[1].body, br#"{"topic":"Renamed"}"#);
        assert_eq!(seen[2].query("schedule_for_reminder"), Some("false"));
        assert!(seen[2].body.is_empty());
    });
}

#[test]
fn jwt_mode_sends_a_verifiable_hs256_token() {
    watchdog(|| {
        let api_server = Server::start(|_| reply(200, json!({"sessions": []})));
        let lifetime = Duration::from_secs(600);
        let api = Api::jwt_builder("sdk-key", "sdk-secret-7c6b")
            .base_url(format!("{}/v2", api_server.url()))
            .jwt_lifetime(lifetime)
            .timeouts(timeouts())
            .build()
            .unwrap();
        let sessions: Vec<Value> = api
            .get("/videosdk/sessions")
            .pages("sessions")
            .map(Result::unwrap)
            .collect();
        assert!(sessions.is_empty());
        api.get("/videosdk/sessions").send().unwrap();

        let seen = api_server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].path, "/v2/videosdk/sessions");
        let token = seen[0].bearer();
        assert_eq!(token, seen[1].bearer(), "a valid JWT is reused");
        let claims = jwt::decode(
            token,
            &Secret::new("sdk-secret-7c6b"),
            SystemTime::now(),
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(claims["iss"], "sdk-key");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(exp - iat, lifetime.as_secs() as i64);
        let header = token.split('.').next().unwrap();
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header, json!({"alg": "HS256", "typ": "JWT"}));

        let shown = format!("{api:?}");
        assert!(!shown.contains("sdk-secret"), "{shown}");
        assert!(!shown.contains(token), "{shown}");
    });
}

#[test]
fn pagination_errors_surface_as_items() {
    watchdog(|| {
        let api_server = Server::start(|r| match r.query("next_page_token") {
            None => reply(
                200,
                json!({"total_records": 3, "next_page_token": "p2", "users": [{"id": "a"}]}),
            ),
            Some(_) => reply(
                400,
                json!({"code": 300, "message": "The next page token is invalid or expired."}),
            ),
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();
        let items: Vec<_> = api.get("/users").pages("users").collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap()["id"], "a");
        let e = items[1].as_ref().unwrap_err();
        assert_eq!(http_error(e).1, Some("300"));

        // A misspelt field on a non-empty list is an error, not silence.
        let mut wrong = api.get("/users").pages("user");
        assert!(matches!(
            wrong.next(),
            Some(Err(Error::InvalidResponse { .. }))
        ));
        assert!(wrong.next().is_none());
    });
}

#[test]
fn base_urls_are_checked() {
    let jwt = || Api::jwt_builder("k", "s");
    let e = jwt().base_url("http://api.zoom.us/v2").build().unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(e.to_string().contains("loopback"), "{e}");
    jwt().base_url("https://api.zoom.us/v2").build().unwrap();
    jwt().base_url("http://127.0.0.1:9/v2").build().unwrap();
    jwt().base_url("http://[::1]:9/v2").build().unwrap();
    let e = jwt()
        .jwt_lifetime(Duration::from_secs(10))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let e = Api::with_jwt("k", "s")
        .get("https://evil.example/steal")
        .send()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
}

/// Issue 9: a dot segment in any encoding is refused before anything is
/// sent (no token request either), with the OAuth and the JWT client.
#[test]
fn dot_segment_paths_are_refused_with_nothing_sent() {
    watchdog(|| {
        let api_server = Server::start(|_| reply(200, json!({})));
        let tokens = Tokens::start(&api_server);
        // Let the token endpoint answer once, then count from there
        // (seen() drains what it returns).
        tokens.source().wait(WAIT).unwrap();
        assert_eq!(tokens.server.seen().len(), 1);
        let oauth = oauth_api(&tokens).build().unwrap();
        let jwt = Api::jwt_builder("k", "s")
            .base_url(format!("{}/v2", api_server.url()))
            .timeouts(timeouts())
            .build()
            .unwrap();
        let id = "x/../../users/someone-else";
        for path in [
            "/meetings/../users/x".to_owned(),
            "/meetings/%2e%2e/users/x".to_owned(),
            "/meetings/%2E%2e/users/x".to_owned(),
            "/meetings/.%2E/users/x".to_owned(),
            "/meetings/..%2Fusers%2Fx".to_owned(),
            "/meetings/%252e%252E/users/x".to_owned(),
            "/meetings/./x".to_owned(),
            format!("/meetings/{id}"),
            format!("/meetings/{}", zoom_ws::rest::segment(id)),
            "/meetings/x\r\nX-Injected: 1".to_owned(),
            "/meetings/x y".to_owned(),
        ] {
            for api in [&oauth, &jwt] {
                let e = api.get(path.as_str()).send().unwrap_err();
                assert!(matches!(e, Error::Config(_)), "{path:?}: {e:?}");
                let e = api.delete(path.as_str()).send().unwrap_err();
                assert!(matches!(e, Error::Config(_)), "{path:?}: {e:?}");
                let mut pages = api.get(path.as_str()).pages("users");
                assert!(matches!(pages.next(), Some(Err(Error::Config(_)))));
                assert!(pages.next().is_none());
            }
        }
        assert_eq!(api_server.seen().len(), 0);
        assert_eq!(tokens.server.seen().len(), 0);

        // The same id, encoded, is one harmless segment when it has no dots.
        let id = "ab//cd==";
        oauth
            .get(format!("/meetings/{}", zoom_ws::rest::segment(id)))
            .send()
            .unwrap();
        let seen = api_server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/v2/meetings/ab%2F%2Fcd%3D%3D");
    });
}

/// A server that hands out a new next_page_token forever is stopped by the
/// page cap.
#[test]
fn endless_pages_stop_at_max_pages() {
    watchdog(|| {
        let n = AtomicUsize::new(0);
        let api_server = Server::start(move |_| {
            let page = n.fetch_add(1, Ordering::SeqCst);
            reply(
                200,
                json!({"total_records": 1_000_000, "next_page_token": format!("p{page}"), "users": [{"id": page}]}),
            )
        });
        let tokens = Tokens::start(&api_server);
        let api = oauth_api(&tokens).build().unwrap();
        let items: Vec<_> = api.get("/users").pages("users").max_pages(5).collect();
        assert_eq!(items.len(), 6, "{items:?}");
        for (i, item) in items[..5].iter().enumerate() {
            assert_eq!(item.as_ref().unwrap()["id"], i);
        }
        let e = items[5].as_ref().unwrap_err();
        assert!(e.to_string().contains("max_pages"), "{e}");
        assert_eq!(api_server.seen().len(), 5);
        assert_eq!(zoom_ws::rest::DEFAULT_MAX_PAGES, 1000);
    });
}

/// An empty Video SDK secret: Error::Config at the call, nothing sent.
#[test]
fn empty_jwt_secret_sends_nothing() {
    watchdog(|| {
        let api_server = Server::start(|_| reply(200, json!({})));
        let api = Api::jwt_builder("k", "")
            .base_url(format!("{}/v2", api_server.url()))
            .timeouts(timeouts())
            .build()
            .unwrap();
        let e = api.get("/videosdk/sessions").send().unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        let e = Api::with_jwt("k", "").get("/x").send().unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert_eq!(api_server.seen().len(), 0);
    });
}

#[test]
fn api_new_uses_the_tls_configuration_of_the_client() {
    watchdog(|| {
        // A TLS server trusted only through the client's extra root: the
        // emulator, whose token answers name itself as `api_url`.
        let zoom = zoom_ws::mock::MockZoom::builder()
            .tls(true)
            .start()
            .unwrap();
        let client = zoom_ws::Client::builder()
            .credentials(zoom.credentials())
            .url(zoom.ws_url())
            .subscription_id(zoom.subscription_id())
            .extra_root_pem(zoom.ca_pem().unwrap())
            .connect()
            .unwrap();
        // The emulator has no REST endpoints: its 404 means the TLS
        // handshake with the client's roots succeeded.
        let e = Api::new(client.token_source())
            .get("/users/me")
            .send()
            .unwrap_err();
        assert_eq!(http_error(&e).0, 404, "{e:?}");
        // The control: the Mozilla roots alone do not trust the emulator.
        let api = Api::builder(client.token_source())
            .tls(zoom_ws::TlsConfig::default())
            .max_retries(0)
            .build()
            .unwrap();
        let e = api.get("/users/me").send().unwrap_err();
        assert!(matches!(e, Error::Tls { .. }), "{e:?}");
        client.close().unwrap();
    });
}
