//! HTTP CONNECT proxies against a real one: Debian's `tinyproxy`, started by
//! each test on 127.0.0.1 with a generated configuration (its own port,
//! `ConnectPort`, `BasicAuth`, log and pid file in a temporary directory)
//! and killed when the test ends, also when it panics or hangs.
//!
//! Covered: events, the token request and a REST call through the proxy
//! over TLS (the emulator with TLS, reached with `CONNECT 127.0.0.1:port`);
//! `NO_PROXY` and the environment's loopback rule (the proxy sees nothing);
//! proxy authentication (right credentials work, wrong ones are a clear
//! error without them); a proxy that refuses `CONNECT` (403), fast; a proxy
//! that never answers, bounded by the connect timeout; the credentials in no
//! log line (the crate's and its dependencies', down to TRACE, `ureq_proto`
//! excepted as in `tests/secrets_on_the_wire.rs`), `Debug` output or error.
//!
//! Without tinyproxy, the tests that need it say so on stderr and pass,
//! except under CI (`CI=true`), where they fail. Environment variables are
//! never set: `Proxy::from_env_with` takes them from a map.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use log::LevelFilter;
use zoom_ws::mock::MockZoom;
use zoom_ws::rest::Api;
use zoom_ws::{
    fetch_token, Client, ClientBuilder, Error, HttpTimeouts, Proxy, RefreshOptions, TokenRefresher,
};

mod common;
use common::{event, WAIT};

const USER: &str = "proxy-user-4b1d";
const PASSWORD: &str = "proxy-pass-9c2e";
const WRONG_PASSWORD: &str = "wrong-pass-7a3f";

// ---------------------------------------------------------------- watchdog

/// tinyproxy processes by the test thread that started them, so that a
/// hung test's proxy is killed too.
static CHILDREN: Mutex<Vec<(ThreadId, Arc<Mutex<Child>>)>> = Mutex::new(Vec::new());

/// [`common::watchdog`], with the log capture installed, that also kills
/// the proxies of a test that hangs (its thread, and they, would outlive
/// the failure).
fn watchdog(test: impl FnOnce() + Send + 'static) {
    logs();
    let (id_tx, id_rx) = mpsc::channel();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        common::watchdog(move || {
            let _ = id_tx.send(thread::current().id());
            test();
        })
    }));
    if let Err(panic) = outcome {
        // A test that panicked has dropped its proxies already.
        if let Ok(id) = id_rx.try_recv() {
            for (owner, child) in CHILDREN.lock().unwrap().iter() {
                if *owner == id {
                    let mut child = child.lock().unwrap();
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic::resume_unwind(panic);
    }
}

/// Every log line of this binary: all targets down to TRACE, except
/// ureq's wire-level TRACE hex dumps (`ureq_proto`: documented, excluded).
fn logs() -> &'static common::logs::Capture {
    common::logs::capture(LevelFilter::Trace, &["ureq_proto"])
}

// ---------------------------------------------------------------- tinyproxy

/// The tinyproxy binary, if installed. Missing: loud on stderr and `None`,
/// or a failure under CI.
fn tinyproxy_binary() -> Option<PathBuf> {
    for candidate in ["tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"] {
        let found = Command::new(candidate)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(PathBuf::from(candidate));
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("tinyproxy is not installed, and CI=true: .ci/run installs it (apt-get install tinyproxy)");
    }
    eprintln!(
        "\n*** SKIPPED: tinyproxy is not installed; the proxy tests did not run. \
         Install it (apt-get install tinyproxy) to run them. ***\n"
    );
    None
}

/// What a test asks of its proxy.
#[derive(Default)]
struct Config {
    /// Ports `CONNECT` may reach; empty: every port.
    connect_ports: Vec<u16>,
    /// `BasicAuth user password`.
    auth: Option<(&'static str, &'static str)>,
}

/// A tinyproxy on 127.0.0.1, killed on drop.
struct Tinyproxy {
    child: Arc<Mutex<Child>>,
    port: u16,
    dir: PathBuf,
}

impl Tinyproxy {
    /// Starts one (a few tries, in case another process takes the free port
    /// first), or `None` without tinyproxy.
    fn start(config: Config) -> Option<Tinyproxy> {
        let binary = tinyproxy_binary()?;
        static N: AtomicUsize = AtomicUsize::new(0);
        for _ in 0..3 {
            let dir = std::env::temp_dir().join(format!(
                "zoom-ws-tinyproxy-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n\
                 LogLevel Info\nLogFile \"{log}\"\nPidFile \"{pid}\"\n",
                log = dir.join("tinyproxy.log").display(),
                pid = dir.join("tinyproxy.pid").display(),
            );
            for p in &config.connect_ports {
                conf.push_str(&format!("ConnectPort {p}\n"));
            }
            if let Some((user, password)) = config.auth {
                conf.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            let conf_path = dir.join("tinyproxy.conf");
            fs::write(&conf_path, conf).unwrap();
            let child = Command::new(&binary)
                .arg("-d")
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start tinyproxy");
            let child = Arc::new(Mutex::new(child));
            CHILDREN
                .lock()
                .unwrap()
                .push((thread::current().id(), child.clone()));
            let proxy = Tinyproxy { child, port, dir };
            if proxy.wait_listening() {
                return Some(proxy);
            }
            // Dropped: killed, directory removed; try another port.
        }
        panic!("tinyproxy did not start listening on 127.0.0.1 (three tries)");
    }

    /// Waits (bounded) until it accepts connections; false if it exited.
    fn wait_listening(&self) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Ok(Some(_)) = self.child.lock().unwrap().try_wait() {
                return false;
            }
            // Another process's start-up: nothing to wait on but time.
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The requests it has logged (`CONNECT 127.0.0.1:1234 HTTP/1.1`).
    fn requests(&self) -> Vec<String> {
        let log = fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.split_once("Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): "))
            .map(|(_, request)| request.to_owned())
            .collect()
    }

    /// How many `CONNECT`s to `127.0.0.1:port` it has logged.
    fn connects_to(&self, port: u16) -> usize {
        let wanted = format!("CONNECT 127.0.0.1:{port} ");
        self.requests()
            .iter()
            .filter(|r| r.starts_with(&wanted))
            .count()
    }

    /// Waits (bounded) for `n` logged `CONNECT`s to `127.0.0.1:port`:
    /// tinyproxy logs a request before it acts on it.
    fn wait_for_connects(&self, port: u16, n: usize) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.connects_to(port) >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Its whole log, for failure messages.
    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        drop(child);
        CHILDREN
            .lock()
            .unwrap()
            .retain(|(_, c)| !Arc::ptr_eq(c, &self.child));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- helpers

/// The emulator over TLS and a tinyproxy that lets `CONNECT` reach it
/// only, with `auth` if any; `None` without tinyproxy.
fn zoom_behind_tinyproxy(
    auth: Option<(&'static str, &'static str)>,
) -> Option<(MockZoom, u16, Tinyproxy)> {
    let zoom = tls_zoom();
    let port = zoom.addr().port();
    let tiny = Tinyproxy::start(Config {
        connect_ports: vec![port],
        auth,
    })?;
    Some((zoom, port, tiny))
}

fn tls_zoom() -> MockZoom {
    MockZoom::builder().tls(true).start().unwrap()
}

/// A client for `zoom` on `tokens` (fetched directly), without a proxy
/// setting yet; [`common::builder`] is the one with credentials.
fn on_tokens(zoom: &MockZoom, tokens: &TokenRefresher) -> ClientBuilder {
    Client::builder()
        .token_source(tokens.source())
        .url(zoom.ws_url())
        .subscription_id(zoom.subscription_id())
        .tls(zoom.tls_config())
}

/// Sends an event and checks it arrives.
fn assert_events_flow(zoom: &MockZoom, client: &Client, seq: u64) {
    zoom.send_event_json(&event(seq));
    let ev = client.events().recv_timeout(WAIT).expect("an event");
    assert_eq!(ev.timestamp_ms(), i64::try_from(seq).ok());
}

/// Token requests that connect directly, for tests about the WebSocket's
/// own way through the proxy.
fn direct_tokens(zoom: &MockZoom) -> TokenRefresher {
    let tokens = TokenRefresher::start(
        zoom.credentials(),
        RefreshOptions::with_tls(zoom.tls_config()).no_proxy(),
    );
    tokens
        .source()
        .wait(WAIT)
        .expect("a token, fetched directly");
    tokens
}

fn env(pairs: &[(&str, String)]) -> Option<Proxy> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Proxy::from_env_with(|name| map.get(name).cloned()).unwrap()
}

// ---------------------------------------------------------------- tests

/// Token request, WebSocket and a REST call on the client's tokens, all
/// through the proxy, TLS inside the tunnel.
#[test]
fn events_token_and_rest_through_the_proxy_over_tls() {
    watchdog(|| {
        let Some((zoom, port, tiny)) = zoom_behind_tinyproxy(None) else {
            return;
        };
        let client = common::builder(&zoom)
            .proxy(Proxy::new(&tiny.url()).unwrap())
            .connect()
            .unwrap_or_else(|e| panic!("{e}\n{}", tiny.log()));
        assert_events_flow(&zoom, &client, 1);
        // One CONNECT for the token request, one for the WebSocket.
        assert!(tiny.wait_for_connects(port, 2), "{}", tiny.log());
        assert_eq!(zoom.tokens_issued(), 1);

        // REST on the client's tokens follows the client's proxy.
        let tokens = client.token_source();
        assert_eq!(
            tokens.proxy().map(|p| p.port()),
            Some(tiny.port),
            "the token source carries the proxy"
        );
        let before = tiny.connects_to(port);
        let api = Api::builder(tokens).tls(zoom.tls_config()).build().unwrap();
        match api.get("/users/me").send() {
            // The emulator has no REST API: its 404, over TLS with the
            // emulator's certificate, through the tunnel.
            Err(Error::Http { status: 404, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(tiny.wait_for_connects(port, before + 1), "{}", tiny.log());

        // A reconnect goes through the proxy again.
        let before = tiny.connects_to(port);
        zoom.drop_connections();
        assert!(zoom.wait_for_connections(2, WAIT));
        assert_events_flow(&zoom, &client, 2);
        assert!(tiny.connects_to(port) > before, "{}", tiny.log());
        client.close().unwrap();
        assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));

        // fetch_token with the proxy in its options.
        let before = tiny.connects_to(port);
        let opts =
            RefreshOptions::with_tls(zoom.tls_config()).proxy(Proxy::new(&tiny.url()).unwrap());
        fetch_token(&zoom.credentials(), &opts).unwrap();
        assert!(tiny.wait_for_connects(port, before + 1), "{}", tiny.log());
    });
}

/// `NO_PROXY` entries and, for a proxy from the environment, loopback
/// destinations connect directly: the proxy sees nothing.
#[test]
fn no_proxy_and_loopback_bypass_the_proxy() {
    watchdog(|| {
        let Some((zoom, port, tiny)) = zoom_behind_tinyproxy(None) else {
            return;
        };
        let explicit = Proxy::new(&tiny.url())
            .unwrap()
            .no_proxy(&format!("example.com, 127.0.0.1:{port}"));
        let from_env = env(&[
            ("HTTPS_PROXY", tiny.url()),
            ("NO_PROXY", ".example.com".into()),
        ])
        .expect("HTTPS_PROXY is set");
        for (seq, proxy) in [explicit, from_env].into_iter().enumerate() {
            let client = common::builder(&zoom).proxy(proxy).connect().unwrap();
            assert_events_flow(&zoom, &client, seq as u64 + 1);
            let tokens = client.token_source();
            let api = Api::builder(tokens).tls(zoom.tls_config()).build().unwrap();
            assert!(matches!(
                api.get("/users/me").send(),
                Err(Error::Http { status: 404, .. })
            ));
            client.close().unwrap();
        }
        // The same client, NO_PROXY aside, does use it (see the test
        // above): here it saw no request at all, only the start-up probe.
        assert_eq!(tiny.requests(), Vec::<String>::new(), "{}", tiny.log());
        assert_eq!(zoom.connection_count(), 2);
    });
}

/// Right credentials open the tunnel; wrong or missing ones are an
/// `Error::Proxy` (tinyproxy: 401 for wrong ones, 407 for none) that names
/// the proxy, not the credentials, and says what to check.
#[test]
fn proxy_authentication() {
    watchdog(|| {
        let Some((zoom, port, tiny)) = zoom_behind_tinyproxy(Some((USER, PASSWORD))) else {
            return;
        };
        let right = Proxy::new(&tiny.url_with(USER, PASSWORD)).unwrap();
        let client = common::builder(&zoom)
            .proxy(right.clone())
            .connect()
            .unwrap_or_else(|e| panic!("{e}\n{}", tiny.log()));
        assert_events_flow(&zoom, &client, 1);
        assert!(tiny.wait_for_connects(port, 2), "{}", tiny.log());
        client.close().unwrap();

        let proxy_authority = format!("127.0.0.1:{}", tiny.port);
        let tokens = direct_tokens(&zoom);
        for wrong in [
            Proxy::new(&tiny.url_with(USER, WRONG_PASSWORD)).unwrap(),
            Proxy::new(&tiny.url()).unwrap(),
        ] {
            // The WebSocket (tokens fetched directly).
            let e = on_tokens(&zoom, &tokens)
                .proxy(wrong.clone())
                .connect()
                .unwrap_err();
            assert_proxy_refusal(&e, &proxy_authority, &[401, 407]);
            // The token request.
            let opts = RefreshOptions::with_tls(zoom.tls_config()).proxy(wrong);
            let e = fetch_token(&zoom.credentials(), &opts).unwrap_err();
            assert_proxy_refusal(&e, &proxy_authority, &[401, 407]);
        }
    });
}

/// `want`: the statuses the refusal may have (tinyproxy answers 407 to
/// missing credentials, 401 to wrong ones).
fn assert_proxy_refusal(e: &Error, proxy_authority: &str, want: &[u16]) {
    let shown = format!("{e} {e:?}");
    match e {
        Error::Proxy { proxy, status } => {
            assert_eq!(proxy, proxy_authority, "{shown}");
            assert!(want.contains(status), "{shown}");
            assert!(shown.contains(&format!("HTTP {status}")), "{shown}");
        }
        other => panic!("expected a proxy refusal ({want:?}), got {other:?}"),
    }
    assert!(!e.is_transient(), "{shown}");
    assert!(shown.contains(proxy_authority), "{shown}");
    for secret in [USER, PASSWORD, WRONG_PASSWORD] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

/// A proxy that refuses `CONNECT` to the port (not a `ConnectPort`) is an
/// `Error::Proxy` with its 403 at once, well inside the connect timeout.
#[test]
fn a_refused_connect_is_a_clear_error_at_once() {
    watchdog(|| {
        let zoom = tls_zoom();
        let Some(tiny) = Tinyproxy::start(Config {
            connect_ports: vec![443],
            ..Config::default()
        }) else {
            return;
        };
        let proxy = Proxy::new(&tiny.url()).unwrap();
        let proxy_authority = format!("127.0.0.1:{}", tiny.port);
        let tokens = direct_tokens(&zoom);
        let started = Instant::now();
        let e = on_tokens(&zoom, &tokens)
            .proxy(proxy.clone())
            .connect_timeout(Duration::from_secs(5))
            .first_connect_timeout(Duration::from_secs(20))
            .connect()
            .unwrap_err();
        assert_proxy_refusal(&e, &proxy_authority, &[403]);
        assert!(e.to_string().contains("does not allow"), "{e}");
        // Not retried until first_connect_timeout: refused for good.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(zoom.connection_count(), 0);

        let opts = RefreshOptions::with_tls(zoom.tls_config())
            .proxy(proxy)
            .timeouts(HttpTimeouts::new(
                Duration::from_secs(5),
                Duration::from_secs(10),
            ));
        let started = Instant::now();
        let e = fetch_token(&zoom.credentials(), &opts).unwrap_err();
        assert_proxy_refusal(&e, &proxy_authority, &[403]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(tiny.requests().len() >= 2, "{}", tiny.log());
    });
}

/// A proxy that accepts and never answers costs the connect timeout, no
/// more: for the WebSocket and for the token request. (No tinyproxy: a
/// listener that reads and stays silent.)
#[test]
fn a_silent_proxy_is_bounded_by_the_connect_timeout() {
    watchdog(|| {
        let zoom = tls_zoom();
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            silent.set_nonblocking(false).unwrap();
            let mut held = Vec::new();
            // Accepts the WebSocket's and the token request's connections,
            // reads their CONNECT, never answers; ends when told.
            for _ in 0..2 {
                let (mut s, _) = silent.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                held.push(s);
            }
            let _ = stop_rx.recv_timeout(WAIT);
        });
        let proxy = Proxy::new(&format!("http://{USER}:{PASSWORD}@{addr}")).unwrap();
        let tokens = direct_tokens(&zoom);
        let connect_timeout = Duration::from_millis(800);
        let started = Instant::now();
        let e = on_tokens(&zoom, &tokens)
            .proxy(proxy.clone())
            .connect_timeout(connect_timeout)
            .first_connect_timeout(Duration::from_millis(10))
            .backoff(zoom_ws::Backoff::new(
                Duration::from_secs(5),
                Duration::from_secs(5),
            ))
            .connect()
            .unwrap_err();
        let took = started.elapsed();
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, Error::Network { .. }), "{shown}");
        assert!(
            shown.contains("timed out") && shown.contains(&addr.to_string()),
            "{shown}"
        );
        assert!(took >= connect_timeout, "{took:?}");
        // One attempt (the first connect gives up after it), plus slack.
        assert!(took < connect_timeout + Duration::from_secs(4), "{took:?}");

        let opts = RefreshOptions::with_tls(zoom.tls_config())
            .proxy(proxy)
            .timeouts(HttpTimeouts::new(connect_timeout, Duration::from_secs(20)));
        let started = Instant::now();
        let e = fetch_token(&zoom.credentials(), &opts).unwrap_err();
        let took = started.elapsed();
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, Error::Network { .. }), "{shown}");
        assert!(shown.contains("connect timeout"), "{shown}");
        assert!(took < connect_timeout + Duration::from_secs(4), "{took:?}");
        for secret in [USER, PASSWORD] {
            assert!(!shown.contains(secret), "{shown}");
        }
        drop(stop_tx);
        holder.join().unwrap();
    });
}

/// The proxy credentials appear in no log line (every target, TRACE
/// included, `ureq_proto` aside), `Debug` output or error, on the whole
/// path: client, token source, REST, a failed connect.
#[test]
fn proxy_credentials_stay_out_of_logs_debug_and_errors() {
    watchdog(|| {
        let Some((zoom, _, tiny)) = zoom_behind_tinyproxy(Some((USER, PASSWORD))) else {
            return;
        };
        let proxy = Proxy::new(&tiny.url_with(USER, PASSWORD)).unwrap();
        let builder = common::builder(&zoom).proxy(proxy.clone());
        let mut shown = vec![format!("{proxy} {proxy:?}"), format!("{builder:?}")];
        let client = builder.clone().connect().unwrap();
        assert_events_flow(&zoom, &client, 1);
        shown.push(format!("{client:?}"));
        let tokens = client.token_source();
        shown.push(format!("{tokens:?} {:?}", tokens.proxy()));
        let api_builder = Api::builder(tokens).tls(zoom.tls_config());
        shown.push(format!("{api_builder:?}"));
        let api = api_builder.build().unwrap();
        shown.push(format!("{api:?}"));
        let e = api.get("/users/me").send().unwrap_err();
        shown.push(format!("{e} {e:?}"));
        let opts = RefreshOptions::with_tls(zoom.tls_config()).proxy(proxy);
        shown.push(format!("{opts:?}"));
        client.close().unwrap();
        // A failing one: wrong password.
        let wrong = Proxy::new(&tiny.url_with(USER, WRONG_PASSWORD)).unwrap();
        let e = builder.proxy(wrong).connect().unwrap_err();
        shown.push(format!("{e} {e:?}"));
        assert!(matches!(e, Error::Proxy { status: 401, .. }), "{e:?}");

        let b64 = |user: &str, password: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        };
        let needles = [
            USER.to_owned(),
            PASSWORD.to_owned(),
            WRONG_PASSWORD.to_owned(),
            b64(USER, PASSWORD),
            b64(USER, WRONG_PASSWORD),
        ];
        let lines = logs().lines();
        assert!(
            lines.iter().any(|l| l.contains("through the proxy")),
            "the proxy path was logged and captured"
        );
        for text in lines.iter().chain(shown.iter()) {
            for needle in &needles {
                assert!(!text.contains(needle.as_str()), "leaked in: {text}");
            }
        }
    });
}
