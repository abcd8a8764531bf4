//! The benchmark of issue 4: zoom-ws against the raw limit (a bare
//! tungstenite read loop) and the alternatives (Node's `ws`, Python's
//! `websocket-client`), side by side, against the built-in Zoom emulator on
//! 127.0.0.1. Prints a markdown table; BENCHMARKS.md explains it.
//!
//! ```text
//! bench/setup.sh                                  # once: ws and websocket-client, locally
//! cargo run --release -p zoom-ws-bench             # everything, about 4.5 minutes
//! cargo run --release -p zoom-ws-bench -- --quick  # smaller counts, short idle: a smoke check
//! cargo run --release -p zoom-ws-bench -- throughput latency --no-alternatives
//! ```
//!
//! Phases (default: all): `throughput`, `latency`, `reconnect`, `deadlink`,
//! `idle`, `memory`. Options: `--quick`, `--events N` (throughput count,
//! default 1,000,000), `--reps N` (repetitions of each Rust throughput run,
//! median reported, default 3), `--idle-secs N` (default 60), `--no-idle`,
//! `--no-alternatives`.
//!
//! Every measured party runs in its own process, so that CPU time, wake-ups
//! and RSS are its own: the emulator is this binary re-executed as
//! `bench __emulator`, each Rust client is `bench __client ...`, and Node and
//! Python are their own processes. The parent only orchestrates, over the
//! children's stdin and stdout (one line per message), with a timeout on
//! every wait, so no phase can hang.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use zoom_ws::mock::{FrameBatch, MockZoom};
use zoom_ws::{Client, Credentials, StateChange};

/// One `meeting.participant_joined`, about 600 bytes; `{seq}` becomes the
/// sequence number.
const EVENT_TEMPLATE: &str = r#"{"event":"meeting.participant_joined","event_ts":1715958070123,"payload":{"account_id":"D8cJuqWVQ623CI4Q8yQK0Q","object":{"uuid":"4444AAAiAAAAAiAiAiiAii==","id":"85746065432","host_id":"z8yCxjabcdEFGHfp8uQ","topic":"Weekly sync","type":2,"start_time":"2024-05-17T15:00:00Z","timezone":"America/Los_Angeles","duration":60,"participant":{"user_id":"16778240","user_name":"Jill Chill","id":"iFxeBPYun6SAiWUzBcEkX","participant_uuid":"55555AAAiAAAAAiAiAiiAii","join_time":"2024-05-17T15:01:10Z","email":"jill.chill@example.com","participant_user_id":"rstuvwxyza789-cde","phone_number":"8615250064084","seq":{seq}}}}}"#;

/// The marker replaced by the send time (wall-clock microseconds) in
/// latency events.
const SENT_MARK: &str = "{sent}";

const SECRET: &str = "bench-client-secret";

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("__emulator") => emulator::main(&args[1..]),
        Some("__client") => client::main(&args[1..]),
        Some("__parse") => parse::main(&args[1..]),
        _ => orchestrate::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Measuring this process: CPU (ns, from schedstat), wake-ups, RSS.

mod procfs {
    use std::fs;

    /// One thread of this process.
    #[derive(Debug, Clone, Default)]
    pub struct ThreadStat {
        pub tid: u32,
        pub name: String,
        /// CPU time, ns (/proc/self/task/<tid>/schedstat, first field).
        pub cpu_ns: u64,
        /// Voluntary context switches: each one is a sleep, so a wake-up.
        pub voluntary: u64,
        pub nonvoluntary: u64,
    }

    pub fn threads() -> Vec<ThreadStat> {
        threads_of("/proc/self")
    }

    /// The threads of the process at `base` (`/proc/<pid>`).
    pub fn threads_of(base: &str) -> Vec<ThreadStat> {
        let Ok(dir) = fs::read_dir(format!("{base}/task")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let path = entry.path();
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let name = fs::read_to_string(path.join("comm"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            let cpu_ns = fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            let status = fs::read_to_string(path.join("status")).unwrap_or_default();
            out.push(ThreadStat {
                tid,
                name,
                cpu_ns,
                voluntary: field(&status, "voluntary_ctxt_switches:"),
                nonvoluntary: field(&status, "nonvoluntary_ctxt_switches:"),
            });
        }
        out
    }

    /// CPU time of every live thread of this process, ns.
    pub fn process_cpu_ns() -> u64 {
        threads().iter().map(|t| t.cpu_ns).sum()
    }

    fn field(status: &str, name: &str) -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Resident KiB per mapped file (`[anon]` for private memory, `[stack]`,
    /// ...), largest first, from /proc/self/smaps.
    pub fn rss_by_mapping(base: &str) -> Vec<(String, u64)> {
        let smaps = fs::read_to_string(format!("{base}/smaps")).unwrap_or_default();
        let mut by: Vec<(String, u64)> = Vec::new();
        let mut current = String::new();
        for line in smaps.lines() {
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
                // "start-end perms offset dev inode [path]"
                let path = words.nth(4).unwrap_or("[anon]");
                current = path.rsplit('/').next().unwrap_or(path).to_owned();
            } else if first == "Rss:" {
                let kib: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                match by.iter_mut().find(|(n, _)| *n == current) {
                    Some((_, k)) => *k += kib,
                    None => by.push((current.clone(), kib)),
                }
            }
        }
        by.retain(|(_, k)| *k > 0);
        by.sort_by_key(|b| std::cmp::Reverse(b.1));
        by
    }

    /// A `kB` field of /proc/self/status (VmRSS, VmHWM), in KiB.
    pub fn status_kib(name: &str) -> u64 {
        status_kib_of("/proc/self", name)
    }

    pub fn status_kib_of(base: &str, name: &str) -> u64 {
        let status = fs::read_to_string(format!("{base}/status")).unwrap_or_default();
        field(&status, name)
    }

    /// Per-thread CPU (ms), wake-ups and preemptions between two snapshots,
    /// by thread name (threads of the same name added up).
    pub fn thread_deltas(before: &[ThreadStat], after: &[ThreadStat]) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for a in after {
            let Some(b) = before.iter().find(|b| b.tid == a.tid) else {
                continue;
            };
            let entry = out.entry(a.name.clone()).or_insert_with(
                || serde_json::json!({"cpu_ms": 0.0, "wakeups": 0, "preempted": 0}),
            );
            let add = |v: &serde_json::Value, d: f64| v.as_f64().unwrap_or(0.0) + d;
            entry["cpu_ms"] = add(&entry["cpu_ms"], (a.cpu_ns - b.cpu_ns) as f64 / 1e6).into();
            entry["wakeups"] = add(&entry["wakeups"], (a.voluntary - b.voluntary) as f64).into();
            entry["preempted"] = add(
                &entry["preempted"],
                (a.nonvoluntary - b.nonvoluntary) as f64,
            )
            .into();
        }
        serde_json::Value::Object(out)
    }
}

/// Wall-clock microseconds since the epoch: comparable across processes.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn system_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `q`-th percentile (0..=100) of sorted values, nearest rank.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

// ---------------------------------------------------------------------------
// The emulator, in its own process: `bench __emulator [tls]`. Prints
// `EMULATOR {json}` with where it is, then obeys one command per stdin line
// and answers each with one line.

mod emulator {
    use super::*;

    pub fn main(args: &[String]) -> Res<()> {
        let tls = args.iter().any(|a| a == "tls");
        let zoom = MockZoom::builder()
            .tls(tls)
            .client_secret(SECRET)
            .start()
            .map_err(|e| format!("starting the emulator: {e}"))?;
        let ca_file = match zoom.ca_pem() {
            Some(pem) => {
                let path = std::env::temp_dir()
                    .join(format!("zoom-ws-bench-{}-ca.pem", std::process::id()));
                std::fs::write(&path, pem).map_err(|e| format!("writing the CA: {e}"))?;
                Some(path)
            }
            None => None,
        };
        let info = json!({
            "token_url": zoom.token_url(),
            "ws_url": zoom.ws_url(),
            "client_id": zoom.client_id(),
            "client_secret": SECRET,
            "account_id": zoom.account_id(),
            "subscription_id": zoom.subscription_id(),
            "ca_file": ca_file.as_ref().map(|p| p.display().to_string()),
        });
        println!("EMULATOR {info}");
        let result = serve(&zoom);
        if let Some(path) = ca_file {
            let _ = std::fs::remove_file(path);
        }
        zoom.stop();
        result
    }

    fn serve(zoom: &MockZoom) -> Res<()> {
        let mut batches: HashMap<u64, FrameBatch> = HashMap::new();
        let stdin = io::stdin();
        for line in stdin.lock().lines() {
            let line = line.map_err(|e| e.to_string())?;
            let words: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| -> u64 { words.get(i).and_then(|w| w.parse().ok()).unwrap_or(0) };
            let reply = match words.first().copied() {
                Some("prepare") => {
                    let n = num(1);
                    let mut batch = FrameBatch::with_capacity(n as usize * 760);
                    batch.push_events_numbered(EVENT_TEMPLATE, 1, n);
                    let bytes = batch.byte_len();
                    batches.insert(n, batch);
                    format!("OK {bytes}")
                }
                Some("wait_live") => {
                    let ok = zoom
                        .wait_for_live_connections(num(1) as usize, Duration::from_millis(num(2)));
                    if ok { "OK" } else { "ERR" }.to_string()
                }
                Some("send") => {
                    // Pre-serialised (`prepare`) if possible, else generated
                    // chunk by chunk from the template.
                    let n = num(1);
                    let cpu0 = procfs::process_cpu_ns();
                    let t0 = Instant::now();
                    let conns = match batches.get(&n) {
                        Some(batch) => zoom.send_batch(batch),
                        None => zoom.send_events_bulk(EVENT_TEMPLATE, 1, n),
                    };
                    let secs = t0.elapsed().as_secs_f64();
                    let cpu = (procfs::process_cpu_ns() - cpu0) as f64 / 1e9;
                    format!("SENT {conns} {secs} {cpu}")
                }
                Some("paced") => paced(zoom, num(1), num(2)),
                Some("close") => {
                    let at = now_us();
                    let n = zoom.close_connections(1000, "bench: clean close");
                    format!("CLOSED {at} {n}")
                }
                Some("drop") => {
                    let at = now_us();
                    let n = zoom.drop_connections();
                    format!("CLOSED {at} {n}")
                }
                Some("silent") => {
                    let at = now_us();
                    let n = zoom.go_silent();
                    format!("CLOSED {at} {n}")
                }
                Some("stats") => format!(
                    "STATS {} {} {}",
                    zoom.token_requests().len(),
                    zoom.connection_count(),
                    zoom.heartbeat_count()
                ),
                Some("tokens") => {
                    let reqs = zoom.token_requests();
                    let first = reqs.first().map(|r| r.at);
                    let list: Vec<String> = reqs
                        .iter()
                        .map(|r| {
                            format!(
                                "{}@{:.1}ms",
                                r.status,
                                first.map_or(0.0, |f| (r.at - f).as_secs_f64() * 1e3)
                            )
                        })
                        .collect();
                    format!("TOKENS {}", list.join(" "))
                }
                Some("quit") | None => break,
                Some(other) => format!("ERR unknown command {other}"),
            };
            println!("{reply}");
        }
        Ok(())
    }

    /// `rate` events per second for `secs` seconds, each stamped with the
    /// wall clock right before it is written.
    fn paced(zoom: &MockZoom, rate: u64, secs: u64) -> String {
        // The frame text, wrapped and encoded as Zoom does, cut at the stamp.
        let event = EVENT_TEMPLATE.replace("{seq}", &format!("0,\"sent_us\":{SENT_MARK}"));
        let content = serde_json::to_string(&event).expect("a string encodes");
        let text = format!(r#"{{"module":"message","content":{content}}}"#);
        let (head, tail) = text
            .split_once(SENT_MARK)
            .expect("the mark survives encoding");
        let total = rate * secs;
        let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let start = Instant::now() + Duration::from_millis(10);
        let mut frame = String::with_capacity(text.len() + 20);
        let mut sent = 0;
        // How late the sender woke: this machine's scheduling noise, which
        // the latencies measured downstream also suffer.
        let mut late = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = start + period * i as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            late.push(due.elapsed().as_secs_f64() * 1e6);
            frame.clear();
            frame.push_str(head);
            let _ = write!(frame, "{}", now_us());
            frame.push_str(tail);
            if zoom.send_text(&frame) > 0 {
                sent += 1;
            }
        }
        let late = sorted(late);
        format!(
            "SENT {sent} {:.0} {:.0}",
            percentile(&late, 99.0),
            percentile(&late, 100.0)
        )
    }
}

// ---------------------------------------------------------------------------
// Clients under test, in their own process: `bench __client KIND MODE N`.
// Settings from the environment (as for the Node and Python clients).
// Prints `READY` once connected, `RESULT {json}` at the end.

mod client {
    use super::*;

    pub struct Env {
        pub token_url: String,
        pub ws_url: String,
        pub client_id: String,
        pub client_secret: String,
        pub account_id: String,
        pub subscription_id: String,
        pub ca_file: Option<String>,
    }

    impl Env {
        fn from_env() -> Res<Env> {
            let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
            Ok(Env {
                token_url: var("ZOOM_TOKEN_URL")?,
                ws_url: var("ZOOM_WS_URL")?,
                client_id: var("ZOOM_CLIENT_ID")?,
                client_secret: var("ZOOM_CLIENT_SECRET")?,
                account_id: var("ZOOM_ACCOUNT_ID")?,
                subscription_id: var("ZOOM_SUBSCRIPTION_ID")?,
                ca_file: std::env::var("ZOOM_CA_FILE").ok().filter(|s| !s.is_empty()),
            })
        }

        fn credentials(&self) -> Res<Credentials> {
            Credentials::account_credentials(
                &self.account_id,
                &self.client_id,
                self.client_secret.as_str(),
            )
            .with_token_url(&self.token_url)
            .map_err(|e| e.to_string())
        }

        fn tls(&self) -> Res<zoom_ws::TlsConfig> {
            match &self.ca_file {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                    zoom_ws::TlsConfig::with_extra_roots_pem(&pem).map_err(|e| e.to_string())
                }
                None => Ok(zoom_ws::TlsConfig::default()),
            }
        }

        /// A zoom-ws client with the defaults, pointed at the emulator.
        fn zoom_ws(&self) -> Res<zoom_ws::ClientBuilder> {
            let mut b = Client::builder()
                .credentials(self.credentials()?)
                .subscription_id(&self.subscription_id)
                .url(&self.ws_url);
            if let Some(path) = &self.ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                b = b.extra_root_pem(pem);
            }
            Ok(b)
        }
    }

    pub fn main(args: &[String]) -> Res<()> {
        // Lines from the parent arrive on COMMANDS; the parent going away
        // (stdin closed) ends this process too.
        let (tx, rx) = crossbeam_channel::unbounded();
        let _ = COMMANDS.set(rx);
        std::thread::spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
            std::process::exit(3);
        });
        let env = Env::from_env()?;
        let kind = args.first().map(String::as_str).unwrap_or("");
        let mode = args.get(1).map(String::as_str).unwrap_or("");
        let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        let result = match (kind, mode) {
            ("zoomws", "count") => zoomws_count(&env, n)?,
            ("zoomws", "latency") => zoomws_latency(&env, n)?,
            ("zoomws", "reconnect") => zoomws_reconnect(&env, n)?,
            ("zoomws", "deadlink") => zoomws_deadlink(&env, n)?,
            ("zoomws", "reconnect-same") => zoomws_reconnect_same(&env, n)?,
            ("zoomws", "idle") => zoomws_idle(&env, n)?,
            ("zoomws", "memory") => zoomws_memory(&env, n)?,
            ("bare", "count") => bare::count(&env, n, false)?,
            ("bare", "latency") => bare::count(&env, n, true)?,
            ("discard", "count") => bare::discard(&env, n)?,
            _ => return Err(format!("unknown client {kind} {mode}")),
        };
        println!("RESULT {result}");
        Ok(())
    }

    fn ready() {
        println!("READY");
    }

    static COMMANDS: std::sync::OnceLock<Receiver<String>> = std::sync::OnceLock::new();

    /// Waits for the parent's next line.
    fn await_parent() -> Res<String> {
        COMMANDS
            .get()
            .ok_or("no command channel")?
            .recv_timeout(Duration::from_secs(60))
            .map_err(|e| format!("waiting for the parent: {e}"))
    }

    const WAIT: Duration = Duration::from_secs(60);

    fn zoomws_count(env: &Env, n: u64) -> Res<Value> {
        let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
        ready();
        let events = client.events();
        let first = events
            .recv_timeout(WAIT)
            .map_err(|e| format!("first event: {e}"))?;
        let t0 = Instant::now();
        let cpu0 = procfs::process_cpu_ns();
        let mut names = first.name().len();
        let mut count = 1;
        while count < n {
            let ev = events
                .recv_timeout(WAIT)
                .map_err(|e| format!("after {count} events: {e}"))?;
            names += ev.name().len();
            count += 1;
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = (procfs::process_cpu_ns() - cpu0) as f64 / 1e9;
        if names != "meeting.participant_joined".len() * n as usize {
            return Err("unexpected event names".into());
        }
        let dropped = client.dropped_events();
        client.close().map_err(|e| e.to_string())?;
        Ok(json!({"count": count, "secs": secs, "cpu_secs": cpu, "dropped": dropped}))
    }

    /// `"sent_us":<digits>` from an event's JSON.
    fn sent_us(json: &str) -> Option<u64> {
        let at = json.find("\"sent_us\":")? + "\"sent_us\":".len();
        let digits: &str = &json[at..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    }

    fn zoomws_latency(env: &Env, n: u64) -> Res<Value> {
        let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
        ready();
        let mut lat = Vec::with_capacity(n as usize);
        let t0 = Instant::now();
        for ev in client.events().iter().take(n as usize) {
            let now = now_us();
            let sent = sent_us(ev.json()).ok_or("an event without sent_us")?;
            lat.push(now.saturating_sub(sent) as f64);
            if t0.elapsed() > Duration::from_secs(120) {
                break;
            }
        }
        client.close().map_err(|e| e.to_string())?;
        Ok(latency_result(lat))
    }

    /// Percentiles; BENCH_LATENCY_DUMP=path also writes every latency, in
    /// arrival order, one per line.
    fn latency_result(lat: Vec<f64>) -> Value {
        if let Ok(path) = std::env::var("BENCH_LATENCY_DUMP") {
            let text: String = lat.iter().map(|l| format!("{l}\n")).collect();
            let _ = std::fs::write(format!("{path}.{}", std::process::id()), text);
        }
        let lat = sorted(lat);
        json!({
            "count": lat.len(),
            "p50_us": percentile(&lat, 50.0), "p99_us": percentile(&lat, 99.0),
            "max_us": lat.last().copied().unwrap_or(f64::NAN),
        })
    }

    /// Waits for the next `Reconnected` and prints its time.
    fn await_reconnect(client: &Client) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match client.states().recv_timeout(left) {
                Ok(StateChange::Reconnected { at, gap, .. }) => {
                    println!("RECONNECTED {} {}", system_us(at), gap.as_micros());
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => return Err(format!("no reconnect: {e}")),
            }
        }
    }

    /// `trials` times: a fresh client (attempt counter at zero, as for a
    /// connection that had been up a while), READY, wait for the emulator to
    /// close it and for the client to be back.
    fn zoomws_reconnect(env: &Env, trials: u64) -> Res<Value> {
        for _ in 0..trials {
            let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
            ready();
            await_reconnect(&client)?;
            // The parent counts token requests until it says "next".
            await_parent()?;
            client.close().map_err(|e| e.to_string())?;
        }
        Ok(json!({"trials": trials}))
    }

    /// One client, `trials` losses in a row (a flapping server).
    fn zoomws_reconnect_same(env: &Env, trials: u64) -> Res<Value> {
        let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
        ready();
        for _ in 0..trials {
            await_reconnect(&client)?;
        }
        client.close().map_err(|e| e.to_string())?;
        Ok(json!({"trials": trials}))
    }

    pub const DEADLINK_HEARTBEAT: Duration = Duration::from_secs(1);
    pub const DEADLINK_TIMEOUT: Duration = Duration::from_secs(2);

    fn zoomws_deadlink(env: &Env, trials: u64) -> Res<Value> {
        for _ in 0..trials {
            let client = env
                .zoom_ws()?
                .heartbeat_interval(DEADLINK_HEARTBEAT)
                .dead_link_timeout(DEADLINK_TIMEOUT)
                .connect()
                .map_err(|e| e.to_string())?;
            ready();
            await_reconnect(&client)?;
            client.close().map_err(|e| e.to_string())?;
        }
        Ok(json!({"trials": trials}))
    }

    fn zoomws_idle(env: &Env, secs: u64) -> Res<Value> {
        let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
        // The user's thread, blocked on the event channel as an app would be.
        let events = client.events().clone();
        let user = std::thread::Builder::new()
            .name("bench-user".into())
            .spawn(move || events.iter().count())
            .map_err(|e| e.to_string())?;
        ready();
        std::thread::sleep(Duration::from_secs(1));
        let before = procfs::threads();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(secs));
        let elapsed = t0.elapsed().as_secs_f64();
        let after = procfs::threads();
        let rss = procfs::status_kib("VmRSS:");
        let hwm = procfs::status_kib("VmHWM:");
        let anon = procfs::status_kib("RssAnon:");
        let file = procfs::status_kib("RssFile:");
        let threads = procfs::thread_deltas(&before, &after);
        client.close().map_err(|e| e.to_string())?;
        let _ = user.join();
        Ok(json!({
            "secs": elapsed, "rss_kib": rss, "hwm_kib": hwm, "rss_anon_kib": anon,
            "rss_file_kib": file, "threads": threads,
            "rss_by_mapping": procfs::rss_by_mapping("/proc/self").iter().take(8)
                .map(|(n, k)| format!("{n} {k} KiB")).collect::<Vec<_>>(),
        }))
    }

    /// Reads a burst slowly: 1 ms of sleep every 50 events (at most 50k
    /// events/s), so the backlog builds up in the channel.
    fn zoomws_memory(env: &Env, n: u64) -> Res<Value> {
        let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
        let rss_connected = procfs::status_kib("VmRSS:");
        ready();
        let events = client.events();
        let mut peak_backlog = 0;
        let mut peak_rss = 0;
        let mut count = 0;
        while count < n {
            events
                .recv_timeout(WAIT)
                .map_err(|e| format!("after {count} events: {e}"))?;
            count += 1;
            if count % 50 == 0 {
                peak_backlog = peak_backlog.max(events.len());
                if count % 5000 == 0 {
                    peak_rss = peak_rss.max(procfs::status_kib("VmRSS:"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let rss_after = procfs::status_kib("VmRSS:");
        let hwm = procfs::status_kib("VmHWM:");
        let rss_trimmed = trim_heap().then(|| procfs::status_kib("VmRSS:"));
        client.close().map_err(|e| e.to_string())?;
        Ok(json!({
            "count": count, "rss_connected_kib": rss_connected, "peak_rss_kib": peak_rss.max(rss_after),
            "rss_after_kib": rss_after, "hwm_kib": hwm, "peak_backlog": peak_backlog,
            "rss_trimmed_kib": rss_trimmed,
        }))
    }

    /// Asks glibc to hand freed heap back to the OS (`malloc_trim(0)`), to
    /// tell memory still in use from memory the allocator keeps cached.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trim_heap() -> bool {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own heap structures, under
        // glibc's locks; it takes no pointer from us.
        unsafe { malloc_trim(0) };
        true
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn trim_heap() -> bool {
        false
    }

    // -----------------------------------------------------------------------
    // The limit: a bare tungstenite read loop, and a client that discards.

    mod bare {
        use super::*;
        use rustls::pki_types::ServerName;
        use rustls::{ClientConnection, StreamOwned};
        use std::borrow::Cow;
        use tungstenite::protocol::Role;
        use tungstenite::{Message, WebSocket};

        pub enum Stream {
            Plain(TcpStream),
            Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
        }

        impl Read for Stream {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self {
                    Stream::Plain(s) => s.read(buf),
                    Stream::Tls(s) => s.read(buf),
                }
            }
        }

        impl Write for Stream {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                match self {
                    Stream::Plain(s) => s.write(buf),
                    Stream::Tls(s) => s.write(buf),
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                match self {
                    Stream::Plain(s) => s.flush(),
                    Stream::Tls(s) => s.flush(),
                }
            }
        }

        /// Token, TCP (+ TLS), and a minimal upgrade. Returns the stream
        /// and the bytes read past the response head.
        pub fn connect(env: &Env) -> Res<(Stream, Vec<u8>)> {
            let tls = env.tls()?;
            let token = zoom_ws::fetch_token(
                &env.credentials()?,
                &zoom_ws::RefreshOptions {
                    tls: tls.clone(),
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
            let (secure, rest) = if let Some(r) = env.ws_url.strip_prefix("wss://") {
                (true, r)
            } else {
                (false, env.ws_url.strip_prefix("ws://").ok_or("bad ws url")?)
            };
            let (host, path) = rest.split_once('/').ok_or("bad ws url")?;
            let tcp = TcpStream::connect(host).map_err(|e| format!("{host}: {e}"))?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let mut stream = if secure {
                let name = ServerName::try_from(host.split(':').next().unwrap_or(host).to_owned())
                    .map_err(|e| e.to_string())?;
                let conn =
                    ClientConnection::new(tls.rustls_config(), name).map_err(|e| e.to_string())?;
                Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
            } else {
                Stream::Plain(tcp)
            };
            let request = format!(
                "GET /{path}?subscriptionId={}&access_token={} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                env.subscription_id,
                token.secret().expose()
            );
            stream
                .write_all(request.as_bytes())
                .and_then(|_| stream.flush())
                .map_err(|e| e.to_string())?;
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed during the upgrade".into());
                }
                got.extend_from_slice(&buf[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    if !got.starts_with(b"HTTP/1.1 101") {
                        return Err("upgrade refused".into());
                    }
                    return Ok((stream, got.split_off(end + 4)));
                }
            }
        }

        #[derive(Deserialize)]
        struct Frame<'a> {
            #[serde(borrow)]
            module: Cow<'a, str>,
            #[serde(borrow, default)]
            content: Option<Cow<'a, str>>,
        }

        /// What the bare loop hands over: the event name, its timestamp and
        /// the payload as raw JSON.
        #[derive(Deserialize)]
        struct Ev {
            event: String,
            #[allow(dead_code)]
            event_ts: i64,
            #[allow(dead_code)]
            payload: Box<RawValue>,
            #[serde(skip)]
            sent_us: u64,
        }

        /// Reads frames, parses each and its `content` into [`Ev`], and
        /// sends it over a crossbeam channel to a counting thread.
        pub fn count(env: &Env, n: u64, latency: bool) -> Res<Value> {
            let (stream, rest) = connect(env)?;
            let mut ws = WebSocket::from_partially_read(stream, rest, Role::Client, None);
            let (tx, rx) = crossbeam_channel::unbounded::<Ev>();
            let reader = std::thread::Builder::new()
                .name("bare-reader".into())
                .spawn(move || -> Res<()> {
                    loop {
                        let text = match ws.read() {
                            Ok(Message::Text(t)) => t,
                            Ok(Message::Close(_)) => return Ok(()),
                            Ok(_) => continue,
                            Err(e) => return Err(e.to_string()),
                        };
                        let frame: Frame<'_> =
                            serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
                        if frame.module != "message" {
                            continue;
                        }
                        let content = frame.content.ok_or("no content")?;
                        let mut ev: Ev =
                            serde_json::from_str(&content).map_err(|e| e.to_string())?;
                        if latency {
                            // Latency runs only: the stamp rides along.
                            ev.sent_us = super::sent_us(&content).unwrap_or(0);
                        }
                        if tx.send(ev).is_err() {
                            return Ok(());
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
            ready();
            if latency {
                let mut lat = Vec::with_capacity(n as usize);
                for ev in rx.iter().take(n as usize) {
                    lat.push(now_us().saturating_sub(ev.sent_us) as f64);
                }
                return Ok(latency_result(lat));
            }
            let first = rx
                .recv_timeout(WAIT)
                .map_err(|e| format!("first event: {e}"))?;
            let t0 = Instant::now();
            let cpu0 = procfs::process_cpu_ns();
            let mut names = first.event.len();
            let mut count = 1;
            while count < n {
                let ev = rx
                    .recv_timeout(WAIT)
                    .map_err(|e| format!("after {count} events: {e}"))?;
                names += ev.event.len();
                count += 1;
            }
            let secs = t0.elapsed().as_secs_f64();
            let cpu = (procfs::process_cpu_ns() - cpu0) as f64 / 1e9;
            if names != "meeting.participant_joined".len() * n as usize {
                return Err("unexpected event names".into());
            }
            drop(rx);
            drop(reader); // detached: the process exits next
            Ok(json!({"count": count, "secs": secs, "cpu_secs": cpu}))
        }

        /// Reads the stream and only walks the frame headers: the
        /// emulator's rate with a client that costs next to nothing.
        pub fn discard(env: &Env, n: u64) -> Res<Value> {
            let (mut stream, rest) = connect(env)?;
            ready();
            let mut counter = FrameCounter {
                total: n + 1, // build_connection first
                ..FrameCounter::default()
            };
            counter.feed(&rest);
            let mut buf = vec![0u8; 256 * 1024];
            while !counter.done() {
                let got = stream.read(&mut buf).map_err(|e| e.to_string())?;
                if got == 0 {
                    return Err(format!("closed after {} frames", counter.frames));
                }
                counter.feed(&buf[..got]);
            }
            let secs = counter.t0.map_or(0.0, |t| t.elapsed().as_secs_f64());
            let cpu = (procfs::process_cpu_ns() - counter.cpu0) as f64 / 1e9;
            Ok(json!({"count": n, "secs": secs, "cpu_secs": cpu}))
        }

        /// Walks frame headers across reads, skipping payloads.
        #[derive(Default)]
        struct FrameCounter {
            total: u64,
            frames: u64,
            header: Vec<u8>,
            skip: usize,
            t0: Option<Instant>,
            cpu0: u64,
        }

        impl FrameCounter {
            fn done(&self) -> bool {
                self.frames >= self.total && self.skip == 0
            }

            fn feed(&mut self, mut bytes: &[u8]) {
                while !bytes.is_empty() {
                    if self.skip > 0 {
                        let k = self.skip.min(bytes.len());
                        bytes = &bytes[k..];
                        self.skip -= k;
                        continue;
                    }
                    self.header.push(bytes[0]);
                    bytes = &bytes[1..];
                    if let Some((len, payload)) = header_size(&self.header) {
                        if self.header.len() == len {
                            self.header.clear();
                            self.skip = payload;
                            self.frames += 1;
                            if self.frames == 2 {
                                // The first event: the clock starts.
                                self.t0 = Some(Instant::now());
                                self.cpu0 = procfs::process_cpu_ns();
                            }
                        }
                    }
                }
            }
        }

        /// (header length, payload length) once the header bytes tell both.
        fn header_size(h: &[u8]) -> Option<(usize, usize)> {
            if h.len() < 2 {
                return None;
            }
            let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
            match h[1] & 0x7F {
                126 if h.len() >= 4 => Some((4 + mask, u16::from_be_bytes([h[2], h[3]]) as usize)),
                127 if h.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&h[2..10]);
                    Some((10 + mask, u64::from_be_bytes(b) as usize))
                }
                126 | 127 => None,
                len => Some((2 + mask, len as usize)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// `bench __parse VARIANT N`: the JSON work of one event frame, alone, N
// times, for callgrind (instruction counts do not depend on the machine's
// load): `valgrind --tool=callgrind target/release/zoom-ws-bench __parse crate 20000`.
// - `bare`: the bare loop's parsing (frame with `content` unescaped in the
//   same pass, then the event into event/event_ts/RawValue payload);
// - `crate`: the socket thread's own parsing (`zoom_ws::__parse_frame`:
//   src/wire.rs and src/event.rs).

mod parse {
    use super::*;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct BareFrame<'a> {
        #[serde(borrow)]
        module: Cow<'a, str>,
        #[serde(borrow, default)]
        content: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct BareEvent {
        event: String,
        #[allow(dead_code)]
        event_ts: i64,
        #[allow(dead_code)]
        payload: Box<RawValue>,
    }

    pub fn main(args: &[String]) -> Res<()> {
        let variant = args.first().map(String::as_str).unwrap_or("crate");
        let n: u64 = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let event = EVENT_TEMPLATE.replace("{seq}", "123456");
        let content = serde_json::to_string(&event).map_err(|e| e.to_string())?;
        let text = format!(r#"{{"module":"message","content":{content}}}"#);
        let e = |e: serde_json::Error| e.to_string();
        let mut check = 0usize;
        let t0 = Instant::now();
        for _ in 0..n {
            check += match variant {
                "bare" => {
                    let f: BareFrame<'_> = serde_json::from_str(&text).map_err(e)?;
                    let ev: BareEvent =
                        serde_json::from_str(f.content.as_deref().unwrap_or("")).map_err(e)?;
                    ev.event.len() + f.module.len()
                }
                "crate" => {
                    let ev = zoom_ws::__parse_frame(&text).ok_or("not an event")?;
                    ev.name().len() + 7
                }
                other => return Err(format!("unknown variant {other} (bare, crate)")),
            };
        }
        println!(
            "{variant}: {:.3} µs per event frame ({} bytes, event {} bytes), check {check}",
            t0.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64,
            text.len(),
            event.len()
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The orchestrator: runs the phases, prints the table.

mod orchestrate {
    use super::*;

    /// A child process spoken to by lines.
    struct Proc {
        name: String,
        child: Child,
        stdin: Option<ChildStdin>,
        lines: Receiver<String>,
    }

    impl Proc {
        fn spawn(name: &str, mut cmd: Command) -> Res<Proc> {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let (tx, lines) = crossbeam_channel::unbounded();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Ok(Proc {
                name: name.to_owned(),
                stdin: child.stdin.take(),
                child,
                lines,
            })
        }

        fn send(&mut self, line: &str) -> Res<()> {
            let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
            writeln!(stdin, "{line}")
                .and_then(|_| stdin.flush())
                .map_err(|e| format!("{}: {e}", self.name))
        }

        /// The rest of the next line starting with `prefix` (others are
        /// passed to stderr), within `timeout`.
        fn expect(&self, prefix: &str, timeout: Duration) -> Res<String> {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) => match line.strip_prefix(prefix) {
                        Some(rest) => return Ok(rest.trim().to_owned()),
                        None => eprintln!("[{}] {line}", self.name),
                    },
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(format!("{}: no {prefix} within {timeout:?}", self.name))
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(format!("{}: exited before {prefix}", self.name))
                    }
                }
            }
        }

        fn command(&mut self, line: &str, reply: &str, timeout: Duration) -> Res<String> {
            self.send(line)?;
            self.expect(reply, timeout)
        }

        fn result(&self, timeout: Duration) -> Res<Value> {
            let line = self.expect("RESULT", timeout)?;
            serde_json::from_str(&line).map_err(|e| format!("{}: bad RESULT: {e}", self.name))
        }
    }

    impl Drop for Proc {
        fn drop(&mut self) {
            self.stdin.take();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A running emulator and the environment that points a client at it.
    struct Emulator {
        proc: Proc,
        info: Value,
    }

    impl Emulator {
        fn start(exe: &Path, tls: bool) -> Res<Emulator> {
            let mut cmd = Command::new(exe);
            cmd.arg("__emulator");
            if tls {
                cmd.arg("tls");
            }
            let proc = Proc::spawn(if tls { "emulator-tls" } else { "emulator" }, cmd)?;
            let line = proc.expect("EMULATOR", Duration::from_secs(30))?;
            let info = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            Ok(Emulator { proc, info })
        }

        fn env(&self, cmd: &mut Command) {
            let s = |k: &str| self.info[k].as_str().unwrap_or("").to_owned();
            cmd.env("ZOOM_TOKEN_URL", s("token_url"))
                .env("ZOOM_OAUTH_URL", s("token_url"))
                .env("ZOOM_WS_URL", s("ws_url"))
                .env("ZOOM_CLIENT_ID", s("client_id"))
                .env("ZOOM_CLIENT_SECRET", s("client_secret"))
                .env("ZOOM_ACCOUNT_ID", s("account_id"))
                .env("ZOOM_SUBSCRIPTION_ID", s("subscription_id"));
            if let Some(ca) = self.info["ca_file"].as_str() {
                cmd.env("ZOOM_CA_FILE", ca).env("NODE_EXTRA_CA_CERTS", ca);
            }
        }

        fn cmd(&mut self, line: &str, reply: &str, timeout: Duration) -> Res<String> {
            self.proc.command(line, reply, timeout)
        }

        /// No connection left from an earlier client (sends go to every
        /// live connection).
        fn idle(&mut self) -> Res<()> {
            match self
                .cmd("wait_live 0 10000", "", Duration::from_secs(15))?
                .as_str()
            {
                "OK" => Ok(()),
                other => Err(format!("emulator: connections still open ({other})")),
            }
        }

        fn stats(&mut self) -> Res<(u64, u64, u64)> {
            let s = self.cmd("stats", "STATS", Duration::from_secs(5))?;
            let v: Vec<u64> = s
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            Ok((
                v.first().copied().unwrap_or(0),
                v.get(1).copied().unwrap_or(0),
                v.get(2).copied().unwrap_or(0),
            ))
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    enum Who {
        ZoomWs,
        Bare,
        Discard,
        Node,
        /// websocket-client with `skip_utf8_validation=True`.
        Python,
        /// websocket-client as it comes (pure-Python UTF-8 validation).
        PythonDefault,
    }

    impl Who {
        fn label(self) -> &'static str {
            match self {
                Who::ZoomWs => "zoom-ws",
                Who::Bare => "bare loop",
                Who::Discard => "discard",
                Who::Node => "Node ws",
                Who::Python => "Python websocket-client",
                Who::PythonDefault => "Python websocket-client, default UTF-8 check",
            }
        }
    }

    struct Ctx {
        exe: PathBuf,
        bench_dir: PathBuf,
        node: bool,
        python: bool,
    }

    impl Ctx {
        fn client(&self, who: Who, mode: &str, n: u64, emu: &Emulator) -> Res<Proc> {
            let mut cmd = match who {
                Who::ZoomWs | Who::Bare | Who::Discard => {
                    let kind = match who {
                        Who::ZoomWs => "zoomws",
                        Who::Bare => "bare",
                        _ => "discard",
                    };
                    // BENCH_WRAP_ZOOMWS="perf record -g -o zoomws.data --" (or
                    // BENCH_WRAP_BARE, ...) runs that client under a profiler.
                    let wrap = std::env::var(format!("BENCH_WRAP_{}", kind.to_uppercase()))
                        .unwrap_or_default();
                    let mut words = wrap.split_whitespace();
                    let mut c = match words.next() {
                        Some(prog) => {
                            let mut c = Command::new(prog);
                            c.args(words).arg(&self.exe);
                            c
                        }
                        None => Command::new(&self.exe),
                    };
                    c.args(["__client", kind, mode, &n.to_string()]);
                    c
                }
                Who::Node => {
                    let mut c = Command::new("node");
                    c.arg(self.bench_dir.join("node_client.js"))
                        .args([mode, &n.to_string()]);
                    c
                }
                Who::Python | Who::PythonDefault => {
                    let mut c = Command::new(self.bench_dir.join(".venv/bin/python"));
                    c.arg(self.bench_dir.join("python_client.py"))
                        .args([mode, &n.to_string()])
                        .env("PY_SKIP_UTF8", if who == Who::Python { "1" } else { "0" });
                    c
                }
            };
            emu.env(&mut cmd);
            Proc::spawn(who.label(), cmd)
        }
    }

    /// One throughput run: the client connects, the emulator sends `n`
    /// events, the client reports.
    #[derive(Debug, Clone, Copy)]
    struct Rate {
        events_per_sec: f64,
        cpu_per_million: f64,
        emulator_per_sec: f64,
    }

    fn run_count(ctx: &Ctx, emu: &mut Emulator, who: Who, n: u64, timeout: Duration) -> Res<Rate> {
        emu.idle()?;
        let client = ctx.client(who, "count", n, emu)?;
        client.expect("READY", Duration::from_secs(30))?;
        let sent = emu.cmd(&format!("send {n}"), "SENT", timeout)?;
        let result = client.result(timeout)?;
        let sent: Vec<f64> = sent
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let secs = result["secs"].as_f64().unwrap_or(f64::NAN);
        let count = result["count"].as_f64().unwrap_or(f64::NAN);
        let cpu = result["cpu_secs"].as_f64().unwrap_or(f64::NAN);
        let emu_secs = sent.get(1).copied().unwrap_or(f64::NAN);
        Ok(Rate {
            // The first event starts the clock: count - 1 intervals.
            events_per_sec: (count - 1.0) / secs,
            cpu_per_million: cpu / count * 1e6,
            emulator_per_sec: n as f64 / emu_secs,
        })
    }

    fn median(mut v: Vec<Rate>) -> Option<Rate> {
        v.sort_by(|a, b| a.events_per_sec.total_cmp(&b.events_per_sec));
        v.get(v.len() / 2).copied()
    }

    struct Latency {
        p50: f64,
        p99: f64,
        max: f64,
        count: u64,
        /// How late the emulator's sender woke, p99 and max (µs).
        sender_late_p99: f64,
        sender_late_max: f64,
    }

    fn run_latency(ctx: &Ctx, emu: &mut Emulator, who: Who, rate: u64, secs: u64) -> Res<Latency> {
        emu.idle()?;
        let n = rate * secs;
        let client = ctx.client(who, "latency", n, emu)?;
        client.expect("READY", Duration::from_secs(30))?;
        let sent = emu.cmd(
            &format!("paced {rate} {secs}"),
            "SENT",
            Duration::from_secs(secs + 30),
        )?;
        let late: Vec<f64> = sent
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let r = client.result(Duration::from_secs(30))?;
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        Ok(Latency {
            p50: f("p50_us"),
            p99: f("p99_us"),
            max: f("max_us"),
            count: r["count"].as_u64().unwrap_or(0),
            sender_late_p99: late.get(1).copied().unwrap_or(f64::NAN),
            sender_late_max: late.get(2).copied().unwrap_or(f64::NAN),
        })
    }

    struct Gaps {
        clean: Vec<f64>,
        abrupt: Vec<f64>,
        oauth_requests: u64,
    }

    /// `trials` clean closes, then `trials` abrupt drops; gap = from the
    /// emulator's close to the client's `Reconnected.at`.
    fn run_reconnect(ctx: &Ctx, emu: &mut Emulator, trials: u64) -> Res<Gaps> {
        emu.idle()?;
        let mut client = ctx.client(Who::ZoomWs, "reconnect", trials * 2, emu)?;
        let mut gaps = Gaps {
            clean: Vec::new(),
            abrupt: Vec::new(),
            oauth_requests: 0,
        };
        for i in 0..trials * 2 {
            client.expect("READY", Duration::from_secs(30))?;
            let (tokens_before, ..) = emu.stats()?;
            let how = if i < trials { "close" } else { "drop" };
            let closed = emu.cmd(how, "CLOSED", Duration::from_secs(5))?;
            let closed_at: u64 = first_num(&closed)?;
            let back = client.expect("RECONNECTED", Duration::from_secs(30))?;
            let at: u64 = first_num(&back)?;
            let (tokens_after, ..) = emu.stats()?;
            if tokens_after != tokens_before {
                eprintln!(
                    "bench:   token requests so far: {}",
                    emu.cmd("tokens", "TOKENS", Duration::from_secs(5))?
                );
                eprintln!(
                    "bench: reconnect trial {i}: {} token request(s) between the close and the new connection",
                    tokens_after - tokens_before
                );
            }
            gaps.oauth_requests += tokens_after - tokens_before;
            client.send("next")?;
            let gap_ms = at.saturating_sub(closed_at) as f64 / 1000.0;
            if i < trials {
                gaps.clean.push(gap_ms);
            } else {
                gaps.abrupt.push(gap_ms);
            }
        }
        client.result(Duration::from_secs(30))?;
        let list = |v: &[f64]| {
            v.iter()
                .map(|g| format!("{g:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!("bench:   clean close gaps (ms): {}", list(&gaps.clean));
        eprintln!("bench:   abrupt drop gaps (ms): {}", list(&gaps.abrupt));
        Ok(gaps)
    }

    /// One client closed `trials` times, 1 s apart: the gaps, in ms.
    fn run_reconnect_same(ctx: &Ctx, emu: &mut Emulator, trials: u64) -> Res<Vec<f64>> {
        emu.idle()?;
        let client = ctx.client(Who::ZoomWs, "reconnect-same", trials, emu)?;
        client.expect("READY", Duration::from_secs(30))?;
        let mut out = Vec::new();
        for _ in 0..trials {
            std::thread::sleep(Duration::from_secs(1));
            let closed = emu.cmd("close", "CLOSED", Duration::from_secs(5))?;
            let back = client.expect("RECONNECTED", Duration::from_secs(60))?;
            out.push(first_num(&back)?.saturating_sub(first_num(&closed)?) as f64 / 1000.0);
        }
        client.result(Duration::from_secs(30))?;
        Ok(out)
    }

    fn run_deadlink(ctx: &Ctx, emu: &mut Emulator, trials: u64) -> Res<Vec<f64>> {
        emu.idle()?;
        let client = ctx.client(Who::ZoomWs, "deadlink", trials, emu)?;
        let mut out = Vec::new();
        for _ in 0..trials {
            client.expect("READY", Duration::from_secs(30))?;
            // A moment in, so the silence does not start on a heartbeat.
            std::thread::sleep(Duration::from_millis(300));
            let closed = emu.cmd("silent", "CLOSED", Duration::from_secs(5))?;
            let back = client.expect("RECONNECTED", Duration::from_secs(30))?;
            out.push(first_num(&back)?.saturating_sub(first_num(&closed)?) as f64 / 1000.0);
        }
        client.result(Duration::from_secs(30))?;
        Ok(out)
    }

    /// Idle figures per minute, from a result with `secs`, `threads` and RSS.
    struct IdleFigures {
        /// CPU ms of the crate's threads (socket + oauth).
        cpu: f64,
        /// Their wake-ups.
        wakeups: f64,
        cpu_all: f64,
        wakeups_all: f64,
        rss: f64,
        anon: f64,
        file: f64,
    }

    impl IdleFigures {
        fn of(r: &Value) -> IdleFigures {
            let per_min = 60.0 / r["secs"].as_f64().unwrap_or(f64::NAN);
            let th = &r["threads"];
            let crate_threads = ["zoom-ws-socket", "zoom-ws-oauth"];
            let sum = |key: &str| -> f64 {
                crate_threads
                    .iter()
                    .map(|n| th[*n][key].as_f64().unwrap_or(0.0))
                    .sum()
            };
            let all = |key: &str| -> f64 {
                th.as_object()
                    .map(|m| m.values().map(|v| v[key].as_f64().unwrap_or(0.0)).sum())
                    .unwrap_or(f64::NAN)
            };
            let mib = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) / 1024.0;
            IdleFigures {
                cpu: sum("cpu_ms") * per_min,
                wakeups: sum("wakeups") * per_min,
                cpu_all: all("cpu_ms") * per_min,
                wakeups_all: all("wakeups") * per_min,
                rss: mib("rss_kib"),
                anon: mib("rss_anon_kib"),
                file: mib("rss_file_kib"),
            }
        }
    }

    /// Starts zoom-ws's examples/listen (built if missing, with this binary's
    /// profile, into the same target directory) against `emu`, output
    /// discarded, and waits for its connection.
    fn start_listen(ctx: &Ctx, emu: &mut Emulator) -> Res<Child> {
        let path = ctx.exe.with_file_name("examples").join("listen");
        if !path.exists() {
            eprintln!("bench: building examples/listen");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut args = vec!["build", "-p", "zoom-ws", "--example", "listen"];
            if !cfg!(debug_assertions) {
                args.push("--release");
            }
            let ok = Command::new(cargo)
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .is_ok_and(|s| s.success());
            if !ok || !path.exists() {
                return Err("cannot build examples/listen".into());
            }
        }
        emu.idle()?;
        let mut cmd = Command::new(&path);
        emu.env(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", path.display()))?;
        if emu.cmd("wait_live 1 20000", "", Duration::from_secs(25))? != "OK" {
            let _ = child.kill();
            let _ = child.wait();
            return Err("examples/listen did not connect".into());
        }
        Ok(child)
    }

    fn first_num(s: &str) -> Res<u64> {
        s.split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("not a number: {s:?}"))
    }

    struct Opts {
        phases: Vec<String>,
        events: u64,
        reps: usize,
        idle_secs: u64,
        alternatives: bool,
        quick: bool,
        plain: bool,
        tls: bool,
    }

    impl Opts {
        fn transports(&self) -> Vec<bool> {
            [(self.plain, false), (self.tls, true)]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, tls)| *tls)
                .collect()
        }
    }

    fn parse(args: &[String]) -> Res<Opts> {
        let mut o = Opts {
            phases: Vec::new(),
            events: 1_000_000,
            reps: 3,
            idle_secs: 60,
            alternatives: true,
            quick: false,
            plain: true,
            tls: true,
        };
        let mut it = args.iter();
        let mut idle = true;
        while let Some(a) = it.next() {
            let mut value = |name: &str| -> Res<u64> {
                it.next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .ok_or_else(|| format!("{name} needs a number"))
            };
            match a.as_str() {
                "--quick" => o.quick = true,
                "--events" => o.events = value("--events")?,
                "--reps" => o.reps = value("--reps")?.max(1) as usize,
                "--idle-secs" => o.idle_secs = value("--idle-secs")?,
                "--no-idle" => idle = false,
                "--no-alternatives" => o.alternatives = false,
                "--plain-only" => o.tls = false,
                "--tls-only" => o.plain = false,
                "-h" | "--help" => {
                    return Err("usage: bench [throughput|latency|reconnect|deadlink|idle|memory]... [--quick] [--events N] [--reps N] [--idle-secs N] [--no-idle] [--no-alternatives] [--plain-only | --tls-only]".into())
                }
                p @ ("throughput" | "latency" | "reconnect" | "deadlink" | "idle" | "memory") => {
                    o.phases.push(p.to_owned())
                }
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        if o.quick {
            o.events = o.events.min(100_000);
            o.reps = 1;
            o.idle_secs = o.idle_secs.min(5);
        }
        if o.phases.is_empty() {
            o.phases = [
                "throughput",
                "latency",
                "reconnect",
                "deadlink",
                "idle",
                "memory",
            ]
            .map(String::from)
            .to_vec();
        }
        if !idle {
            o.phases.retain(|p| p != "idle");
        }
        Ok(o)
    }

    /// bench/ beside Cargo.toml; installs the alternatives if missing.
    fn setup_alternatives(bench_dir: &Path) -> (bool, bool) {
        let node_ok = |d: &Path| d.join("node_modules/ws/package.json").exists();
        let py_ok = |d: &Path| d.join(".venv/bin/python").exists();
        if !node_ok(bench_dir) || !py_ok(bench_dir) {
            eprintln!("bench: installing the alternatives with bench/setup.sh");
            let status = Command::new("bash")
                .arg(bench_dir.join("setup.sh"))
                .stdout(Stdio::null())
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!("bench: bench/setup.sh failed; skipping what it did not install");
            }
        }
        let has = |prog: &str| {
            Command::new(prog)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        (
            node_ok(bench_dir) && has("node"),
            py_ok(bench_dir) && has(&bench_dir.join(".venv/bin/python").display().to_string()),
        )
    }

    fn loadavg() -> f64 {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(f64::NAN)
    }

    fn machine() -> String {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .map_or(String::new(), |kib| {
                format!(", {} GiB RAM", kib / (1 << 20))
            });
        let version = |prog: &str, arg: &str| {
            Command::new(prog)
                .arg(arg)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        format!(
            "{cores} cores, {model}{mem}, Linux {}; {}; node {}",
            kernel.trim(),
            version("rustc", "--version"),
            version("node", "--version"),
        )
    }

    /// Figures collected for the table: (row, column) -> value text.
    #[derive(Default)]
    struct Table {
        rows: Vec<Row>,
    }

    struct Row {
        measure: String,
        cells: [String; 4], // zoom-ws, bare, Node, Python
        ratios: [String; 3],
        target: String,
        verdict: String,
    }

    fn fmt_num(v: f64) -> String {
        if !v.is_finite() {
            "n/a".into()
        } else if v >= 100_000.0 {
            let n = v.round() as u64;
            let s = n.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        } else if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    }

    fn ratio(a: Option<f64>, b: Option<f64>) -> String {
        match (a, b) {
            (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => {
                format!("{:.2}", a / b)
            }
            _ => String::new(),
        }
    }

    impl Table {
        #[allow(clippy::too_many_arguments)]
        fn row(
            &mut self,
            measure: &str,
            zoom: Option<f64>,
            bare: Option<f64>,
            node: Option<f64>,
            python: Option<f64>,
            target: &str,
            verdict: &str,
        ) {
            let cell = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
            self.rows.push(Row {
                measure: measure.into(),
                cells: [cell(zoom), cell(bare), cell(node), cell(python)],
                ratios: [ratio(zoom, bare), ratio(zoom, node), ratio(zoom, python)],
                target: target.into(),
                verdict: verdict.into(),
            });
        }

        fn text_row(&mut self, measure: &str, zoom: String, target: &str, verdict: &str) {
            self.rows.push(Row {
                measure: measure.into(),
                cells: [zoom, String::new(), String::new(), String::new()],
                ratios: Default::default(),
                target: target.into(),
                verdict: verdict.into(),
            });
        }

        fn print(&self) {
            println!("| measure | zoom-ws | bare loop | Node ws | Python websocket-client | zoom-ws / bare | zoom-ws / Node | zoom-ws / Python | target | met |");
            println!("|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
            for r in &self.rows {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.measure,
                    r.cells[0],
                    r.cells[1],
                    r.cells[2],
                    r.cells[3],
                    r.ratios[0],
                    r.ratios[1],
                    r.ratios[2],
                    r.target,
                    r.verdict
                );
            }
        }
    }

    fn verdict(ok: bool) -> &'static str {
        if ok {
            "yes"
        } else {
            "**no**"
        }
    }

    fn report<T>(what: &str, r: Res<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("bench: {what} failed: {e}");
                None
            }
        }
    }

    pub fn main(args: &[String]) -> Res<()> {
        let opts = parse(args)?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // This package's folder: setup.sh and the Node and Python clients.
        let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let (node, python) = if opts.alternatives {
            setup_alternatives(&bench_dir)
        } else {
            (false, false)
        };
        let ctx = Ctx {
            exe,
            bench_dir,
            node,
            python,
        };
        let started = Instant::now();
        let has = |p: &str| opts.phases.iter().any(|x| x == p);
        let n = opts.events;
        // The alternatives are slower: fewer events, same stream.
        let n_node = n;
        let n_python = (n / 5).max(1000);
        let n_python_default = (n / 100).max(1000);
        let mut table = Table::default();
        let mut notes: Vec<String> = Vec::new();
        eprintln!("bench: {}", machine());
        let load_before = loadavg();
        if load_before > 0.5 {
            eprintln!("bench: warning: load average {load_before:.2} before the start: other work on this machine skews the figures");
        }

        if has("throughput") {
            for tls in opts.transports() {
                let t = if tls { "TLS" } else { "plain" };
                let mut emu = Emulator::start(&ctx.exe, tls)?;
                emu.cmd(&format!("prepare {n}"), "OK", Duration::from_secs(60))?;
                for k in [n_python, n_python_default] {
                    if k != n {
                        emu.cmd(&format!("prepare {k}"), "OK", Duration::from_secs(60))?;
                    }
                }
                let timeout = Duration::from_secs(30 + n / 20_000);
                let mut runs: HashMap<&str, Vec<Rate>> = HashMap::new();
                // Interleaved repetitions: drift in the machine hits all alike.
                for rep in 0..opts.reps {
                    for who in [Who::Discard, Who::Bare, Who::ZoomWs] {
                        eprintln!(
                            "bench: throughput {t} {} ({}/{})",
                            who.label(),
                            rep + 1,
                            opts.reps
                        );
                        if let Some(r) =
                            report(who.label(), run_count(&ctx, &mut emu, who, n, timeout))
                        {
                            eprintln!(
                                "bench:   {} events/s, {} CPU s per 1M events; emulator {} events/s",
                                fmt_num(r.events_per_sec),
                                fmt_num(r.cpu_per_million),
                                fmt_num(r.emulator_per_sec)
                            );
                            runs.entry(who.label()).or_default().push(r);
                        }
                    }
                }
                let mut alt: HashMap<&str, Rate> = HashMap::new();
                for (who, on, count) in [
                    (Who::Node, ctx.node, n_node),
                    (Who::Python, ctx.python, n_python),
                    (Who::PythonDefault, ctx.python && !tls, n_python_default),
                ] {
                    if on {
                        eprintln!("bench: throughput {t} {}", who.label());
                        let timeout = Duration::from_secs(60 + count / 2_000);
                        if let Some(r) =
                            report(who.label(), run_count(&ctx, &mut emu, who, count, timeout))
                        {
                            alt.insert(who.label(), r);
                        }
                    }
                }
                if let Some(r) = alt.get(Who::PythonDefault.label()) {
                    notes.push(format!(
                        "throughput {t}, Python websocket-client as it comes (UTF-8 validated in pure Python), {n_python_default} events: {} events/s, {} CPU s per 1M events; the table's Python column passes skip_utf8_validation=True",
                        fmt_num(r.events_per_sec),
                        fmt_num(r.cpu_per_million)
                    ));
                }
                let get = |k: &str| runs.get(k).cloned().and_then(median);
                let (z, b, d) = (get("zoom-ws"), get("bare loop"), get("discard"));
                let (nd, py) = (
                    alt.get("Node ws").copied(),
                    alt.get("Python websocket-client").copied(),
                );
                let ok = match (z, b, nd) {
                    (Some(z), Some(b), nd) => {
                        z.events_per_sec >= 0.9 * b.events_per_sec
                            && nd.is_none_or(|nd| z.events_per_sec >= 10.0 * nd.events_per_sec)
                    }
                    _ => false,
                };
                table.row(
                    &format!("throughput, {t} (events/s)"),
                    z.map(|r| r.events_per_sec),
                    b.map(|r| r.events_per_sec),
                    nd.map(|r| r.events_per_sec),
                    py.map(|r| r.events_per_sec),
                    "≥ 0.9 × bare, ≥ 10 × Node",
                    verdict(ok),
                );
                table.row(
                    &format!("CPU per 1M events, {t} (s)"),
                    z.map(|r| r.cpu_per_million),
                    b.map(|r| r.cpu_per_million),
                    nd.map(|r| r.cpu_per_million),
                    py.map(|r| r.cpu_per_million),
                    "",
                    "",
                );
                if let Some(d) = d {
                    table.text_row(
                        &format!("emulator, {t}: discarding client's rate / emulator's send rate (events/s)"),
                        format!("{} / {}", fmt_num(d.events_per_sec), fmt_num(d.emulator_per_sec)),
                        "not the bottleneck",
                        verdict(z.is_none_or(|z| d.events_per_sec > 2.0 * z.events_per_sec)),
                    );
                }
                if let (Some(zs), Some(bs)) = (runs.get("zoom-ws"), runs.get("bare loop")) {
                    let ratios: Vec<String> = zs
                        .iter()
                        .zip(bs)
                        .map(|(z, b)| format!("{:.2}", z.events_per_sec / b.events_per_sec))
                        .collect();
                    notes.push(format!(
                        "throughput {t}: zoom-ws / bare loop in each interleaved repetition: {}",
                        ratios.join(", ")
                    ));
                }
                let send_rates: Vec<String> = [z, b]
                    .iter()
                    .flatten()
                    .map(|r| fmt_num(r.emulator_per_sec))
                    .collect();
                notes.push(format!(
                    "throughput {t}: {n} events ({} for Python), median of {} runs for the Rust clients; emulator send rate while feeding zoom-ws / bare: {}",
                    n_python,
                    opts.reps,
                    send_rates.join(" / ")
                ));
            }
        }

        if has("latency") {
            let (rate, secs) = if opts.quick { (1000, 2) } else { (1000, 10) };
            for tls in opts.transports() {
                let t = if tls { "TLS" } else { "plain" };
                let mut emu = Emulator::start(&ctx.exe, tls)?;
                let mut got: HashMap<Who, Latency> = HashMap::new();
                let mut late_notes = Vec::new();
                let whos: &[Who] = if tls {
                    &[Who::ZoomWs, Who::Bare]
                } else {
                    &[Who::ZoomWs, Who::Bare, Who::Node, Who::Python]
                };
                for &who in whos {
                    let on = match who {
                        Who::Node => ctx.node,
                        Who::Python => ctx.python,
                        _ => true,
                    };
                    if on {
                        eprintln!("bench: latency {t} {}", who.label());
                        if let Some(l) =
                            report(who.label(), run_latency(&ctx, &mut emu, who, rate, secs))
                        {
                            if l.count < rate * secs {
                                notes.push(format!(
                                    "latency {t} {}: only {} events",
                                    who.label(),
                                    l.count
                                ));
                            }
                            eprintln!(
                                "bench:   p50 {} µs, p99 {} µs, max {} µs; the emulator's timer woke late by {} µs at p99, {} µs at most",
                                fmt_num(l.p50),
                                fmt_num(l.p99),
                                fmt_num(l.max),
                                fmt_num(l.sender_late_p99),
                                fmt_num(l.sender_late_max)
                            );
                            late_notes.push(format!(
                                "{} {}/{}",
                                who.label(),
                                fmt_num(l.sender_late_p99),
                                fmt_num(l.sender_late_max)
                            ));
                            got.insert(who, l);
                        }
                    }
                }
                notes.push(format!(
                    "latency {t}: the emulator's sleep-until-due timer woke late (p99/max µs) during the run of: {} (scheduling noise on this machine, not part of the figures: each event is stamped after the wake-up)",
                    late_notes.join(", ")
                ));
                let pick = |who: Who, f: fn(&Latency) -> f64| got.get(&who).map(f);
                for (label, f) in [
                    ("p50", (|l: &Latency| l.p50) as fn(&Latency) -> f64),
                    ("p99", |l: &Latency| l.p99),
                    ("max", |l: &Latency| l.max),
                ] {
                    let z = pick(Who::ZoomWs, f);
                    let (target, ok) = if label == "p99" {
                        ("< 1000 µs", verdict(z.is_some_and(|v| v < 1000.0)))
                    } else {
                        ("", "")
                    };
                    table.row(
                        &format!("latency {label} at {rate}/s, {t} (µs)"),
                        z,
                        pick(Who::Bare, f),
                        pick(Who::Node, f),
                        pick(Who::Python, f),
                        target,
                        ok,
                    );
                }
            }
        }

        if has("reconnect") {
            let trials = if opts.quick { 5 } else { 20 };
            let mut emu = Emulator::start(&ctx.exe, false)?;
            eprintln!("bench: reconnect, {trials} clean + {trials} abrupt");
            if let Some(g) = report("reconnect", run_reconnect(&ctx, &mut emu, trials)) {
                let clean = sorted(g.clean);
                let abrupt = sorted(g.abrupt);
                let p50 = percentile(&clean, 50.0);
                table.text_row(
                    "reconnect gap after a clean close, p50 / max (ms)",
                    format!("{} / {}", fmt_num(p50), fmt_num(percentile(&clean, 100.0))),
                    "p50 < 20 ms",
                    verdict(p50 < 20.0),
                );
                table.text_row(
                    "reconnect gap after an abrupt drop, p50 / max (ms)",
                    format!(
                        "{} / {}",
                        fmt_num(percentile(&abrupt, 50.0)),
                        fmt_num(percentile(&abrupt, 100.0))
                    ),
                    "",
                    "",
                );
                let same_trials = if opts.quick { 3 } else { 5 };
                eprintln!("bench: reconnect, one client closed {same_trials} times, 1 s apart");
                if let Some(v) = report(
                    "reconnect, same client",
                    run_reconnect_same(&ctx, &mut emu, same_trials),
                ) {
                    table.text_row(
                        &format!("reconnect gaps, one client closed {same_trials} times 1 s apart, in order (ms)"),
                        v.iter().map(|g| fmt_num(*g)).collect::<Vec<_>>().join(", "),
                        "",
                        "",
                    );
                }
                table.text_row(
                    "token requests on the reconnect path",
                    g.oauth_requests.to_string(),
                    "0",
                    verdict(g.oauth_requests == 0),
                );
            }
        }

        if has("deadlink") {
            let trials = if opts.quick { 1 } else { 3 };
            let mut emu = Emulator::start(&ctx.exe, false)?;
            eprintln!("bench: dead link, {trials} trials");
            if let Some(v) = report("dead link", run_deadlink(&ctx, &mut emu, trials)) {
                let v = sorted(v);
                let bound =
                    (client::DEADLINK_HEARTBEAT + client::DEADLINK_TIMEOUT).as_secs_f64() * 1000.0;
                let max = percentile(&v, 100.0);
                table.text_row(
                    &format!(
                        "dead link (heartbeat {} s, dead-link timeout {} s): silence to new connection, min / max (ms)",
                        client::DEADLINK_HEARTBEAT.as_secs(),
                        client::DEADLINK_TIMEOUT.as_secs()
                    ),
                    format!("{} / {}", fmt_num(v[0]), fmt_num(max)),
                    &format!("≤ {bound:.0} ms"),
                    verdict(max <= bound),
                );
            }
        }

        if has("idle") {
            let secs = opts.idle_secs;
            eprintln!("bench: idle for {secs} s (the bench's own client, and examples/listen)");
            let mut emu = Emulator::start(&ctx.exe, false)?;
            let mut emu2 = Emulator::start(&ctx.exe, false)?;
            // examples/listen: an unmodified app, measured from outside.
            let listen = report("examples/listen", start_listen(&ctx, &mut emu2));
            let run = (|| -> Res<(Value, u64, Option<Value>)> {
                emu.idle()?;
                let client = ctx.client(Who::ZoomWs, "idle", secs, &emu)?;
                client.expect("READY", Duration::from_secs(30))?;
                let (.., hb0) = emu.stats()?;
                let outside = listen.as_ref().map(|l| {
                    let base = format!("/proc/{}", l.id());
                    std::thread::sleep(Duration::from_secs(1));
                    let before = procfs::threads_of(&base);
                    let t0 = Instant::now();
                    std::thread::sleep(Duration::from_secs(secs));
                    let after = procfs::threads_of(&base);
                    json!({
                        "secs": t0.elapsed().as_secs_f64(),
                        "threads": procfs::thread_deltas(&before, &after),
                        "rss_kib": procfs::status_kib_of(&base, "VmRSS:"),
                        "rss_anon_kib": procfs::status_kib_of(&base, "RssAnon:"),
                        "rss_file_kib": procfs::status_kib_of(&base, "RssFile:"),
                    })
                });
                let r = client.result(Duration::from_secs(secs + 30))?;
                let (.., hb1) = emu.stats()?;
                Ok((r, hb1 - hb0, outside))
            })();
            if let Some(mut child) = listen {
                let _ = child.kill();
                let _ = child.wait();
            }
            if let Some((r, heartbeats, outside)) = report("idle", run) {
                let IdleFigures {
                    cpu,
                    wakeups,
                    rss,
                    anon,
                    file,
                    ..
                } = IdleFigures::of(&r);
                let user_wakeups = r["threads"]["bench-user"]["wakeups"]
                    .as_f64()
                    .unwrap_or(0.0);
                let listen_figures = outside.as_ref().map(IdleFigures::of);
                let lf = |f: fn(&IdleFigures) -> String| {
                    listen_figures
                        .as_ref()
                        .map_or(String::new(), |x| format!("; examples/listen: {}", f(x)))
                };
                table.text_row(
                    "idle, default heartbeat: CPU of the client's threads (ms per minute)",
                    format!(
                        "{cpu:.3}{}",
                        lf(|x| format!("{:.3} (all its threads: {:.3})", x.cpu, x.cpu_all))
                    ),
                    "< 5 ms",
                    verdict(cpu < 5.0 && listen_figures.as_ref().is_none_or(|x| x.cpu < 5.0)),
                );
                table.text_row(
                    "idle: wake-ups per minute of the client's threads (socket + oauth)",
                    format!(
                        "{}{}",
                        fmt_num(wakeups),
                        lf(|x| format!(
                            "{} (all its threads: {})",
                            fmt_num(x.wakeups),
                            fmt_num(x.wakeups_all)
                        ))
                    ),
                    "≤ 4",
                    verdict(
                        wakeups <= 4.0 && listen_figures.as_ref().is_none_or(|x| x.wakeups <= 4.0),
                    ),
                );
                table.text_row(
                    "idle: RSS of the client process, total (private + mapped files) (MiB)",
                    format!(
                        "{rss:.2} ({anon:.2} + {file:.2}){}",
                        lf(|x| format!("{:.2} ({:.2} + {:.2})", x.rss, x.anon, x.file))
                    ),
                    "< 4 MiB",
                    verdict(rss < 4.0),
                );
                notes.push(format!(
                    "idle: {:.1} s measured, {heartbeats} heartbeats; the user's thread woke {user_wakeups} times; per thread: {}; resident by mapping: {}",
                    r["secs"].as_f64().unwrap_or(f64::NAN),
                    r["threads"],
                    r["rss_by_mapping"]
                ));
                if let Some(o) = &outside {
                    notes.push(format!(
                        "idle, examples/listen (measured from outside through /proc/<pid>): {o}"
                    ));
                }
            }
        }

        if has("memory") {
            let count = if opts.quick { 20_000 } else { 100_000 };
            let mut emu = Emulator::start(&ctx.exe, false)?;
            eprintln!("bench: memory, {count} events to a slow consumer");
            let run = (|| -> Res<Value> {
                emu.cmd(&format!("prepare {count}"), "OK", Duration::from_secs(60))?;
                emu.idle()?;
                let client = ctx.client(Who::ZoomWs, "memory", count, &emu)?;
                client.expect("READY", Duration::from_secs(30))?;
                emu.cmd(&format!("send {count}"), "SENT", Duration::from_secs(60))?;
                client.result(Duration::from_secs(120))
            })();
            if let Some(r) = report("memory", run) {
                let mib = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) / 1024.0;
                table.text_row(
                    &format!("memory: {count}-event burst, slow consumer, unbounded channel: RSS connected / peak / after reading all (MiB); peak backlog (events)"),
                    format!(
                        "{:.1} / {:.1} / {:.1} ({:.1} after malloc_trim); {}",
                        mib("rss_connected_kib"),
                        mib("hwm_kib"),
                        mib("rss_after_kib"),
                        mib("rss_trimmed_kib"),
                        r["peak_backlog"]
                    ),
                    "",
                    "",
                );
            }
        }

        println!();
        println!("Machine: {}", machine());
        println!();
        table.print();
        println!();
        for n in notes {
            println!("- {n}");
        }
        println!(
            "- total time: {:.0} s; 1-minute load average {load_before:.2} at the start, {:.2} at the end (the benchmark itself adds about 2)",
            started.elapsed().as_secs_f64(),
            loadavg()
        );
        Ok(())
    }
}
