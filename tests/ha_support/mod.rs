//! Shared by the Redis tests: a real `redis-server` per test, on a Unix
//! socket in a temporary directory, killed on drop (also when the test
//! panics); a watchdog that ends a hung test binary in seconds; and the
//! emulator-side bookkeeping of what was sent.
//!
//! Without `redis-server` on the PATH the tests say so loudly and skip,
//! except under CI (`CI=true`), where they fail.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use zoom_ws::ha::{Entry, RedisConfig, TailReader};

#[path = "../../examples/support/stderr_log.rs"]
mod stderr_log;

/// Logs to stderr (shown for failing tests) if RUST_LOG is set.
pub fn log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var("RUST_LOG").is_ok() {
        ONCE.call_once(stderr_log::init);
    }
}

/// Process ids of every redis-server started, for the watchdog to kill.
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);

pub const WAIT: Duration = Duration::from_secs(20);

/// A redis-server for one test.
pub struct RedisServer {
    dir: PathBuf,
    child: Option<Child>,
    aof: bool,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True if redis-server can run; otherwise prints why (loudly), or panics
/// under CI.
pub fn redis_available() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if in_ci() {
            panic!("redis-server is not installed, and CI=true: .ci/run must install it");
        }
        eprintln!(
            "\n**********\nSKIPPED: redis-server is not on the PATH (apt-get install -y redis-server); \
             this Redis test did not run\n**********\n"
        );
    }
    ok
}

impl RedisServer {
    /// Starts one with no persistence. `None` (after a loud message) if
    /// redis-server is not installed and this is not CI.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(false)
    }

    /// Starts one; `aof` keeps the data over a restart (appendfsync always).
    pub fn start_with(aof: bool) -> Option<RedisServer> {
        if !redis_available() {
            return None;
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "zoomws-redis-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer {
            dir,
            child: None,
            aof,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .arg("--logfile")
            .arg("");
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        PIDS.lock().unwrap().push(child.id());
        // Ready when it says so (no polling): read its log until then.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line
                    .to_ascii_lowercase()
                    .contains("ready to accept connections")
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = child.kill();
            panic!("redis-server did not become ready within 10 s");
        }
        self.child = Some(child);
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Short timeouts, as the relays of the tests use.
    pub fn config(&self) -> RedisConfig {
        RedisConfig::new(&self.url())
            .unwrap()
            .connect_timeout(Duration::from_millis(300))
            .timeout(Duration::from_millis(300))
    }

    /// A raw connection, for assertions.
    pub fn conn(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).unwrap();
        let conn = c
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL, and waits for the end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(self.socket());
        }
    }

    /// Kills and starts it again on the same socket (the data survives
    /// only with AOF).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGSTOP: connections stay open, nothing is answered.
    pub fn pause(&self) {
        signal(self.pid(), "-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.pid(), "-CONT");
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid} failed");
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            signal(self.pid(), "-CONT");
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Ends the test binary (killing every redis-server it started) if the
/// test is not done within `secs`. Disarmed on drop.
pub struct Watchdog(Option<crossbeam_channel::Sender<()>>);

pub fn watchdog(secs: u64) -> Watchdog {
    log();
    let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    std::thread::spawn(move || {
        if let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_secs(secs))
        {
            eprintln!("WATCHDOG: test {name} still running after {secs} s: aborting");
            for pid in PIDS.lock().unwrap().iter() {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
            std::process::exit(101);
        }
    });
    Watchdog(Some(tx))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every entry of a feed, oldest first.
pub fn read_all(redis: &RedisServer, feed: &str) -> Vec<Entry> {
    let mut reader =
        TailReader::after(redis.config(), feed, "0", Duration::from_millis(10)).unwrap();
    let mut out = Vec::new();
    while let Some(d) = reader.read().unwrap() {
        out.push(d.entry);
    }
    out
}

/// Waits until `done` holds, checking every 20 ms (for states that have
/// no notification, such as what another process appended to Redis).
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (blocking reads, no polling) until the feed holds at least `n`
/// event entries; returns every entry read. Fails the test on timeout.
pub fn wait_for_events(redis: &RedisServer, feed: &str, n: usize, timeout: Duration) -> Vec<Entry> {
    let deadline = Instant::now() + timeout;
    let mut reader =
        TailReader::after(redis.config(), feed, "0", Duration::from_millis(200)).unwrap();
    let mut out = Vec::new();
    let mut events = 0;
    while events < n {
        assert!(
            Instant::now() < deadline,
            "only {events} of {n} events in the stream after {timeout:?}"
        );
        match reader.read() {
            Ok(Some(d)) => {
                if matches!(d.entry, Entry::Event(_)) {
                    events += 1;
                }
                out.push(d.entry);
            }
            Ok(None) => {}
            // Redis restarting in the test: read on.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    out
}

/// One event the emulator was asked to send.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub seq: u64,
    /// Just before the send.
    pub at_ms: i64,
    /// How many connections took it.
    pub taken: usize,
}

/// A participant event, unique by `seq`.
pub fn event_json(seq: u64) -> String {
    format!(
        r#"{{"event":"meeting.participant_joined","event_ts":{},"payload":{{"account_id":"acct","object":{{"id":"85012345678","participant":{{"user_id":"u{seq}","seq":{seq}}}}}}}}}"#,
        now_ms()
    )
}

pub fn send(zoom: &zoom_ws::mock::MockZoom, seq: u64) -> Sent {
    let at_ms = now_ms();
    let taken = zoom.send_event_json(&event_json(seq));
    Sent { seq, at_ms, taken }
}

/// Sends one event every `every` from a thread until stopped; returns
/// what it sent.
pub struct Sender {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Sent>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Sender {
    pub fn start(zoom: Arc<zoom_ws::mock::MockZoom>, first: u64, every: Duration) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            let mut seq = first;
            while !s.load(Ordering::SeqCst) {
                let one = send(&zoom, seq);
                v.lock().unwrap().push(one);
                seq += 1;
                std::thread::sleep(every); // the event rate, not a synchronisation
            }
        });
        Sender { stop, sent, thread }
    }

    pub fn stop(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.sent.lock().unwrap().clone()
    }
}

/// The `seq` of an event entry.
pub fn seq_of(entry: &Entry) -> Option<u64> {
    let Entry::Event(e) = entry else { return None };
    let v = e.event.payload_value().ok()?;
    v["object"]["participant"]["seq"].as_u64()
}

/// What the stream says about the events sent.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Sent, not in the stream, and inside no gap entry: silently lost.
    pub lost: Vec<u64>,
    pub lost_sent: Vec<Sent>,
    /// In the stream more than once.
    pub duplicated: Vec<u64>,
    /// Not in the stream but inside a recorded gap.
    pub in_gap: Vec<u64>,
    pub gaps: Vec<zoom_ws::ha::Gap>,
}

impl Verdict {
    pub fn assert_exactly_once_or_in_a_gap(&self) {
        assert!(
            self.lost.is_empty() && self.duplicated.is_empty(),
            "lost outside any gap: {} events, first {:?}, last {:?}; duplicated: {:?}; gaps: {:?}",
            self.lost.len(),
            self.lost_sent.first(),
            self.lost_sent.last(),
            self.duplicated,
            self.gaps
        );
    }
}

pub fn verdict(sent: &[Sent], entries: &[Entry]) -> Verdict {
    let mut count = std::collections::HashMap::<u64, usize>::new();
    let mut gaps = Vec::new();
    for e in entries {
        if let Some(seq) = seq_of(e) {
            *count.entry(seq).or_default() += 1;
        }
        if let Entry::Gap(g) = e {
            gaps.push(g.clone());
        }
    }
    let mut v = Verdict {
        gaps,
        ..Verdict::default()
    };
    for s in sent {
        match count.get(&s.seq).copied().unwrap_or(0) {
            0 if v
                .gaps
                .iter()
                .any(|g| g.from_ms <= s.at_ms && s.at_ms <= g.to_ms) =>
            {
                v.in_gap.push(s.seq)
            }
            0 => {
                v.lost.push(s.seq);
                v.lost_sent.push(*s);
            }
            1 => {}
            _ => v.duplicated.push(s.seq),
        }
    }
    v
}
