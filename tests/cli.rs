//! The `zoom-ws` command as a user runs it: the built binary, against the
//! emulator (in-process, or its own `zoom-ws emulator`), with a clean
//! environment. Events on stdout as JSON lines, SIGTERM and SIGINT closing
//! with 1000 and exit 0, bad credentials in one line with exit 1, `--help`
//! listing the variables and flags, flags overriding the environment, the
//! JWTs, the webhook receiver.
//!
//! Every wait is bounded (`WAIT`): output is read by threads into
//! channels, the exit status is waited for on a thread, and a process
//! still running when its test ends is killed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use zoom_ws::mock::MockZoom;
use zoom_ws::Secret;

/// Bound of every wait.
const WAIT: Duration = Duration::from_secs(20);

/// `zoom-ws` with nothing from the test's environment (no RUST_LOG, no
/// proxy, no ZOOM_*), plus `vars`.
fn zoom_ws<'a>(args: &[&str], vars: impl IntoIterator<Item = (&'a str, String)>) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoom-ws"));
    cmd.args(args).env_clear();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Running::start(cmd)
}

/// The environment `listen` needs for `zoom`.
fn listen_env(zoom: &MockZoom) -> Vec<(&'static str, String)> {
    vec![
        ("ZOOM_ACCOUNT_ID", zoom.account_id().to_owned()),
        ("ZOOM_CLIENT_ID", zoom.client_id().to_owned()),
        ("ZOOM_CLIENT_SECRET", "mock-client-secret".to_owned()),
        ("ZOOM_SUBSCRIPTION_ID", zoom.subscription_id().to_owned()),
        ("ZOOM_OAUTH_URL", zoom.token_url()),
        ("ZOOM_WS_URL", zoom.ws_url()),
    ]
}

fn emulator(tls: bool) -> MockZoom {
    MockZoom::builder()
        .tls(tls)
        .client_secret("mock-client-secret")
        .start()
        .unwrap()
}

/// A running `zoom-ws`: its stdout and stderr line by line, its exit status,
/// all on channels. Killed on drop if still running.
struct Running {
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    status: Receiver<ExitStatus>,
    /// stderr lines read so far (by `stderr_until`), for failure messages.
    seen_stderr: Vec<String>,
    exited: bool,
}

/// What a finished run left: exit status, and its remaining output.
struct Finished {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting zoom-ws");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        let pid = child.id();
        let (tx, status) = mpsc::channel();
        thread::spawn(move || {
            if let Ok(s) = child.wait() {
                let _ = tx.send(s);
            }
        });
        Running {
            pid,
            stdin,
            stdout,
            stderr,
            status,
            seen_stderr: Vec::new(),
            exited: false,
        }
    }

    /// The next line on stdout.
    fn line(&mut self) -> String {
        match self.stdout.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(e) => {
                let stderr = self.drain_stderr();
                panic!("no line on stdout within {WAIT:?} ({e:?}); stderr: {stderr:#?}")
            }
        }
    }

    /// Reads stderr until a line containing `part`.
    fn stderr_until(&mut self, part: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(part) => return line,
                Ok(line) => self.seen_stderr.push(line),
                Err(e) => panic!(
                    "no {part:?} on stderr within {WAIT:?} ({e:?}); stderr: {:#?}",
                    self.seen_stderr
                ),
            }
        }
    }

    fn drain_stderr(&mut self) -> Vec<String> {
        let mut all = std::mem::take(&mut self.seen_stderr);
        all.extend(self.stderr.try_iter());
        all
    }

    /// Writes one line on stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap();
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with kill(1).
    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {}", self.pid);
    }

    /// Waits for the exit, then for the rest of the output (the pipes end
    /// with the process).
    fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        let status = match self.status.recv_timeout(WAIT) {
            Ok(s) => s,
            Err(_) => panic!(
                "zoom-ws did not exit within {WAIT:?}; stderr: {:#?}",
                self.drain_stderr()
            ),
        };
        self.exited = true;
        let rest = |rx: &Receiver<String>| {
            let deadline = Instant::now() + WAIT;
            let mut lines = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(line) => lines.push(line),
                    Err(RecvTimeoutError::Disconnected) => return lines,
                    Err(RecvTimeoutError::Timeout) => panic!("output still open after the exit"),
                }
            }
        };
        let stdout = rest(&self.stdout);
        let mut stderr = std::mem::take(&mut self.seen_stderr);
        stderr.extend(rest(&self.stderr));
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.exited && self.status.try_recv().is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
            let _ = self.status.recv_timeout(WAIT);
        }
    }
}

/// The one stderr line of a fatal error, checked to be the only line.
fn one_error_line(f: &Finished, command: &str) -> String {
    assert_eq!(f.status.code(), Some(1), "{:#?}", f.stderr);
    assert!(f.stdout.is_empty(), "stdout: {:#?}", f.stdout);
    let prefix = format!("zoom-ws {command}: ");
    let errors: Vec<&String> = f.stderr.iter().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(errors.len(), 1, "{:#?}", f.stderr);
    errors[0].clone()
}

/// A fresh directory under the temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "zoom-ws-cli-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- listen

#[test]
fn listen_prints_json_lines_and_a_signal_closes_with_1000() {
    for signal in ["TERM", "INT"] {
        let zoom = emulator(false);
        let mut listen = zoom_ws(&["listen"], listen_env(&zoom));
        assert!(
            zoom.wait_for_live_connections(1, WAIT),
            "{signal}: no connection"
        );

        let compact = r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{"id":1,"topic":"Zoë"}}}"#;
        let pretty = "{\n  \"event\": \"meeting.ended\",\n  \"event_ts\": 2,\n  \"payload\": {\"object\": {\"id\": 1}}\n}";
        assert_eq!(zoom.send_event_json(compact), 1);
        assert_eq!(zoom.send_event_json(pretty), 1);
        assert_eq!(listen.line(), compact, "as Zoom sent it, byte for byte");
        // Not compact: re-serialised on one line, the same JSON.
        let line = listen.line();
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(pretty).unwrap());
        assert_eq!(line, value.to_string());

        listen.signal(signal);
        let done = listen.finish();
        assert!(
            done.status.success(),
            "SIG{signal}: {:?} {:#?}",
            done.status,
            done.stderr
        );
        assert!(done.stdout.is_empty(), "{:#?}", done.stdout);
        assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000), "SIG{signal}");
        assert!(
            done.stderr.iter().any(|l| l.contains("closing")),
            "{:#?}",
            done.stderr
        );
    }
}

#[test]
fn listen_with_bad_credentials_prints_one_line_and_exits_1() {
    let zoom = emulator(false);
    let mut env = listen_env(&zoom);
    env.retain(|(k, _)| *k != "ZOOM_CLIENT_SECRET");
    env.push(("ZOOM_CLIENT_SECRET", "wrong-secret-4d5e6f".into()));
    let done = zoom_ws(&["listen"], env.clone()).finish();
    let line = one_error_line(&done, "listen");
    assert!(line.contains("invalid_client"), "{line}");
    assert!(
        !done
            .stderr
            .iter()
            .any(|l| l.contains("wrong-secret-4d5e6f")),
        "the secret leaked: {:#?}",
        done.stderr
    );
    assert_eq!(zoom.live_connections(), 0);

    // A missing variable: named.
    env.retain(|(k, _)| *k != "ZOOM_CLIENT_ID");
    let done = zoom_ws(&["listen"], env).finish();
    assert!(one_error_line(&done, "listen").contains("ZOOM_CLIENT_ID"));
}

#[test]
fn listen_flags_override_the_environment() {
    let zoom = emulator(true);
    let dir = TempDir::new("ca");
    let ca = dir.0.join("ca.pem");
    std::fs::write(&ca, zoom.ca_pem().unwrap()).unwrap();
    let mut env = listen_env(&zoom);
    // Every one of these would fail the run if it were used.
    env.retain(|(k, _)| !matches!(*k, "ZOOM_SUBSCRIPTION_ID" | "ZOOM_WS_URL"));
    env.extend([
        ("ZOOM_SUBSCRIPTION_ID", "not-this-subscription".to_owned()),
        ("ZOOM_WS_URL", "ws://127.0.0.1:1/nothing-here".to_owned()),
        ("ZOOM_CA_FILE", "/nonexistent/ca.pem".to_owned()),
        ("ZOOM_HEARTBEAT_SECS", "not-a-number".to_owned()),
    ]);
    let mut listen = zoom_ws(
        &[
            "listen",
            "--subscription-id",
            zoom.subscription_id(),
            &format!("--url={}", zoom.ws_url()),
            "--ca-file",
            ca.to_str().unwrap(),
            "--heartbeat-secs",
            "0.2",
        ],
        env.clone(),
    );
    // Heartbeats at 0.2 s: five well within the wait.
    assert!(
        zoom.wait_for_heartbeats(5, WAIT),
        "{:#?}",
        listen.drain_stderr()
    );
    zoom.send_event_json(r#"{"event":"meeting.started","payload":{}}"#);
    assert_eq!(listen.line(), r#"{"event":"meeting.started","payload":{}}"#);
    listen.signal("TERM");
    assert!(listen.finish().status.success());
    assert_eq!(zoom.wait_for_close_code(WAIT), Some(1000));

    // The control: without the flags, the environment is what counts.
    let done = zoom_ws(&["listen"], env).finish();
    assert!(one_error_line(&done, "listen").contains("/nonexistent/ca.pem"));
}

// ---------------------------------------------------------------- help

#[test]
fn help_lists_each_commands_variables_and_flags() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "listen",
            &[
                "ZOOM_ACCOUNT_ID",
                "ZOOM_CLIENT_ID",
                "ZOOM_CLIENT_SECRET",
                "ZOOM_SUBSCRIPTION_ID",
                "ZOOM_WS_URL",
                "ZOOM_OAUTH_URL",
                "ZOOM_CA_FILE",
                "ZOOM_HEARTBEAT_SECS",
                "RUST_LOG",
                "HTTPS_PROXY",
                "--subscription-id",
                "--url",
                "--heartbeat-secs",
                "--ca-file",
                "--oauth-url",
                "SIGTERM",
            ],
        ),
        (
            "emulator",
            &["--plain", "ZOOM_CA_FILE", "stats", "RUST_LOG"],
        ),
        (
            "jwt",
            &[
                "ZOOM_API_KEY",
                "ZOOM_API_SECRET",
                "ZOOM_JWT_LIFETIME_SECS",
                "--session",
                "--role",
                "--lifetime-secs",
            ],
        ),
        (
            "webhook",
            &["ZOOM_WEBHOOK_SECRET_TOKEN", "ZOOM_WEBHOOK_ADDR", "--addr"],
        ),
    ];
    for (command, parts) in cases {
        for how in [
            vec![command, "--help"],
            vec![command, "-h"],
            vec!["help", command],
        ] {
            let done = zoom_ws(&how, []).finish();
            assert!(done.status.success(), "{how:?}: {:?}", done.status);
            let help = done.stdout.join("\n");
            for part in parts {
                assert!(help.contains(part), "{how:?} lacks {part:?}:\n{help}");
            }
        }
    }
    let done = zoom_ws(&["--help"], []).finish();
    assert!(done.status.success());
    let help = done.stdout.join("\n");
    for (command, _) in cases {
        assert!(help.contains(command), "{help}");
    }
    // Usage errors: exit 2, one line, nothing on stdout.
    for bad in [
        &["listen", "--no-such-flag"][..],
        &["listen", "--url"],
        &["listen", "stray"],
        &["no-such-command"],
        &[],
    ] {
        let done = zoom_ws(bad, []).finish();
        assert_eq!(done.status.code(), Some(2), "{bad:?}: {:#?}", done.stderr);
        assert!(done.stdout.is_empty(), "{bad:?}");
    }
}

// ---------------------------------------------------------------- emulator

#[test]
fn emulator_and_listen_end_to_end() {
    let mut emu = zoom_ws(&["emulator"], []);
    let mut env: HashMap<String, String> = HashMap::new();
    loop {
        let line = emu.line();
        if line.starts_with("# ready") {
            break;
        }
        let (k, v) = line
            .strip_prefix("export ")
            .and_then(|kv| kv.split_once('='))
            .unwrap_or_else(|| panic!("not an export line: {line:?}"));
        env.insert(k.to_owned(), v.to_owned());
    }
    let ca = PathBuf::from(&env["ZOOM_CA_FILE"]);
    assert!(ca.is_file(), "{ca:?}");
    assert!(
        env["ZOOM_WS_URL"].starts_with("wss://127.0.0.1:"),
        "{env:?}"
    );

    let mut listen = zoom_ws(
        &["listen"],
        env.iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .chain([("RUST_LOG", "info".to_owned())]),
    );
    listen.stderr_until("connected");
    let event = r#"{"event":"meeting.participant_joined","event_ts":7,"payload":{"object":{"id":"85012345678","participant":{"user_name":"Zoë"}}}}"#;
    emu.send(event);
    assert_eq!(emu.line(), "# sent to 1 connection(s)");
    assert_eq!(listen.line(), event);

    listen.signal("TERM");
    let done = listen.finish();
    assert!(done.status.success(), "{:#?}", done.stderr);
    // The emulator saw the clean close.
    emu.send("stats");
    let stats = emu.line();
    assert!(stats.contains("close codes [1000]"), "{stats}");
    // The end of stdin ends it, and its CA directory goes with it.
    let done = emu.finish();
    assert!(done.status.success(), "{:#?}", done.stderr);
    assert!(
        !ca.exists() && !ca.parent().is_some_and(Path::exists),
        "{ca:?}"
    );
}

// ---------------------------------------------------------------- jwt

fn claims(token: &str, secret: &str) -> Value {
    let claims = zoom_ws::jwt::decode(
        token,
        &Secret::new(secret),
        SystemTime::now(),
        Duration::ZERO,
    )
    .unwrap();
    Value::Object(claims.into_iter().collect())
}

#[test]
fn jwt_prints_api_and_session_tokens() {
    let env = || {
        [
            ("ZOOM_API_KEY", "sdk-key".to_owned()),
            ("ZOOM_API_SECRET", "sdk-secret-1a2b".to_owned()),
            ("ZOOM_JWT_LIFETIME_SECS", "7200".to_owned()),
        ]
    };
    let done = zoom_ws(&["jwt"], env()).finish();
    assert!(done.status.success(), "{:#?}", done.stderr);
    assert_eq!(done.stdout.len(), 1, "the token and nothing else");
    let c = claims(&done.stdout[0], "sdk-secret-1a2b");
    assert_eq!(c["iss"], "sdk-key");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        7200
    );

    let done = zoom_ws(
        &[
            "jwt",
            "--session",
            "standup",
            "--role",
            "host",
            "--user-identity",
            "u-42",
            "--lifetime-secs=600",
        ],
        env(),
    )
    .finish();
    assert!(done.status.success(), "{:#?}", done.stderr);
    let c = claims(&done.stdout[0], "sdk-secret-1a2b");
    assert_eq!(
        (
            &c["app_key"],
            &c["tpc"],
            &c["role_type"],
            &c["user_identity"]
        ),
        (
            &"sdk-key".into(),
            &"standup".into(),
            &1.into(),
            &"u-42".into()
        )
    );
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);

    let done = zoom_ws(&["jwt"], [("ZOOM_API_KEY", "sdk-key".to_owned())]).finish();
    assert!(one_error_line(&done, "jwt").contains("ZOOM_API_SECRET"));
    let done = zoom_ws(&["jwt", "--role", "host"], env()).finish();
    assert_eq!(done.status.code(), Some(2), "--role without --session");
}

// ---------------------------------------------------------------- webhook

/// One POST to `addr`: the status and body of the answer.
fn post(addr: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut req = format!(
        "POST /zoom HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

#[test]
fn webhook_prints_verified_events_and_refuses_forgeries() {
    let secret = "webhook-secret-9z8y";
    let mut hook = zoom_ws(
        &["webhook", "--addr", "127.0.0.1:0"],
        [
            ("ZOOM_WEBHOOK_SECRET_TOKEN", secret.to_owned()),
            // Would fail the run if it were used.
            ("ZOOM_WEBHOOK_ADDR", "not an address".to_owned()),
        ],
    );
    let line = hook.stderr_until("listening on http://");
    let addr = line.rsplit("http://").next().unwrap().to_owned();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{line}"
    );

    let verifier = zoom_ws::webhook::Verifier::new(secret);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let body = "{\"event\": \"meeting.started\",\n \"event_ts\": 1, \"payload\": {\"object\": {\"id\": 1}}}";
    let signed = |body: &str| {
        vec![
            ("x-zm-request-timestamp", ts.clone()),
            ("x-zm-signature", verifier.signature(&ts, body.as_bytes())),
        ]
    };
    assert_eq!(post(&addr, &signed(body), body).0, 200);
    assert_eq!(
        hook.line(),
        r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{"id":1}}}"#
    );
    // A forgery: signed for another body.
    let forged = body.replace("meeting.started", "meeting.deleted");
    assert_eq!(post(&addr, &signed(body), &forged).0, 401);
    // Then a genuine one again: the forgery printed nothing in between.
    let second = r#"{"event":"meeting.ended","payload":{}}"#;
    assert_eq!(post(&addr, &signed(second), second).0, 200);
    assert_eq!(hook.line(), second);

    // A missing secret: one line, exit 1.
    let done = zoom_ws(&["webhook", "--addr", "127.0.0.1:0"], []).finish();
    assert!(one_error_line(&done, "webhook").contains("ZOOM_WEBHOOK_SECRET_TOKEN"));
}
