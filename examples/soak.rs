//! Fault soak: the client against the built-in emulator with a seeded
//! random fault every 3-8 s, events offered at about 200/s to whatever
//! connection is open, and a ledger of what was sent on which connection.
//!
//! ```text
//! cargo run --release --example soak -- --secs 600 --seed 1
//! cargo run --release --example soak -- --two-clients --secs 30
//! ```
//!
//! Options: `--secs N` (default 600), `--seed N` (default 1), `--rate N`
//! events per second (default 200), `--heartbeat-ms N` (default 1000: the
//! silent-server fault is then noticed in about 3 s), `--tls`,
//! `--two-clients` (two clients on one subscription, where each new
//! connection closes the other's: counts their upgrades).
//!
//! Faults, drawn uniformly: a clean close (1001), a TCP reset, a silent
//! server (TCP open, nothing flows), an in-band token rejection, garbage
//! frames, a 20 MiB frame (over the client's 16 MiB limit), an OAuth outage
//! (the token endpoint answers 503 until the next fault, and the connection
//! is reset at its start), and a quiet slot.
//!
//! Report (stdout, Markdown): events offered, sent (written to an open
//! connection), received; lost = sent on a connection that stayed open at
//! least 300 ms after, yet never received; duplicated; invented (received,
//! never sent); the share of offered events that found a usable connection;
//! the reconnect gap per fault kind (fault to the next accepted upgrade:
//! median and max); token requests. Logs go to stderr (`RUST_LOG`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use zoom_ws::mock::{ConnectOutcome, ConnectionInfo, MockZoom, TokenFailure, INVALID_TOKEN};
use zoom_ws::{Client, ClientBuilder};

#[path = "support/stderr_log.rs"]
mod stderr_log;

/// An event sent within this long of its connection's end may be lost by
/// any client (it was in flight when the fault struck): not counted.
const IN_FLIGHT: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fault {
    CleanClose,
    Reset,
    Silent,
    TokenRejected,
    Garbage,
    Oversize,
    OauthOutage,
    Quiet,
}

impl Fault {
    const ALL: [Fault; 8] = [
        Fault::CleanClose,
        Fault::Reset,
        Fault::Silent,
        Fault::TokenRejected,
        Fault::Garbage,
        Fault::Oversize,
        Fault::OauthOutage,
        Fault::Quiet,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::CleanClose => "clean close",
            Fault::Reset => "TCP reset",
            Fault::Silent => "silent server",
            Fault::TokenRejected => "token rejection",
            Fault::Garbage => "garbage frames",
            Fault::Oversize => "20 MiB frame",
            Fault::OauthOutage => "OAuth outage",
            Fault::Quiet => "quiet",
        }
    }

    /// Whether the fault ends the connection it hits.
    fn ends_connection(self) -> bool {
        !matches!(self, Fault::Garbage | Fault::Quiet)
    }
}

/// splitmix64: a seeded, reproducible sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Args {
    secs: u64,
    seed: u64,
    rate: u64,
    heartbeat: Duration,
    tls: bool,
    two_clients: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        secs: 600,
        seed: 1,
        rate: 200,
        heartbeat: Duration::from_secs(1),
        tls: false,
        two_clients: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a whole number"))
        };
        match flag.as_str() {
            "--secs" => a.secs = num("--secs")?,
            "--seed" => a.seed = num("--seed")?,
            "--rate" => a.rate = num("--rate")?.max(1),
            "--heartbeat-ms" => a.heartbeat = Duration::from_millis(num("--heartbeat-ms")?),
            "--tls" => a.tls = true,
            "--two-clients" => a.two_clients = true,
            other => return Err(format!("unknown option {other:?} (see the file's docs)")),
        }
    }
    Ok(a)
}

fn main() {
    stderr_log::init();
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    let result = if args.two_clients {
        two_clients(&args)
    } else {
        soak(&args)
    };
    if let Err(e) = result {
        eprintln!("soak: {e}");
        std::process::exit(1);
    }
}

fn builder(zoom: &MockZoom, args: &Args) -> ClientBuilder {
    Client::builder()
        .credentials(zoom.credentials())
        .url(zoom.ws_url())
        .subscription_id(zoom.subscription_id())
        .tls(zoom.tls_config())
        .heartbeat_interval(args.heartbeat)
}

fn event(seq: u64) -> String {
    format!(
        r#"{{"event":"meeting.participant_joined","event_ts":{seq},"payload":{{"account_id":"soak","object":{{"id":{seq},"uuid":"soak-{seq}==","participant":{{"user_name":"participant {seq}","user_id":"u{seq}"}}}}}}}}"#
    )
}

/// One offered event: when, and the connection it was written to (None:
/// no usable connection took it).
struct Sent {
    at: Instant,
    conn: Option<u64>,
}

/// The id of the newest accepted connection, re-read only when the count
/// of accepted connections changed.
struct Latest {
    count: usize,
    id: Option<u64>,
}

impl Latest {
    fn get(&mut self, zoom: &MockZoom) -> Option<u64> {
        let count = zoom.connection_count();
        if count != self.count {
            self.count = count;
            self.id = zoom
                .connections()
                .iter()
                .rev()
                .find(|c| c.outcome == ConnectOutcome::Accepted)
                .map(|c| c.id);
        }
        self.id
    }
}

fn soak(args: &Args) -> Result<(), String> {
    let zoom = Arc::new(
        MockZoom::builder()
            .tls(args.tls)
            .start()
            .map_err(|e| e.to_string())?,
    );
    let client = builder(&zoom, args).connect().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let until = started + Duration::from_secs(args.secs);

    // The consumer: which sequence numbers arrived, how often.
    let events = client.events().clone();
    let consumer = thread::spawn(move || {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        for ev in events.iter() {
            let seq = ev.timestamp_ms().unwrap_or(-1);
            *seen.entry(seq as u64).or_default() += 1;
        }
        seen
    });

    // The sender: an event every 1/rate s to whatever connection is open.
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let sender = {
        let (zoom, stop, sent) = (zoom.clone(), stop.clone(), sent.clone());
        let every = Duration::from_secs(1) / args.rate as u32;
        thread::spawn(move || {
            let mut latest = Latest {
                count: usize::MAX,
                id: None,
            };
            let mut next = Instant::now();
            let mut seq = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let conn = latest.get(&zoom);
                let written = zoom.send_event_json(&event(seq));
                let at = Instant::now();
                // The client opens a new connection only after leaving the
                // old one, so the one written to is the newest accepted
                // (read again after the send in case it just changed).
                let conn = (written > 0).then(|| latest.get(&zoom).or(conn)).flatten();
                record(&sent, Sent { at, conn });
                seq += 1;
                next += every;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(d);
                }
            }
        })
    };

    // The faults.
    let mut rng = Rng(args.seed);
    let mut faults: Vec<(Fault, Instant)> = Vec::new();
    let big = "x".repeat(20 << 20);
    loop {
        let wait = Duration::from_millis(3000 + rng.below(5001));
        let fault = Fault::ALL[rng.below(Fault::ALL.len() as u64) as usize];
        let at = Instant::now() + wait;
        if at >= until {
            break;
        }
        thread::sleep(wait);
        // Faults last until the next one.
        zoom.fail_token_requests(0, TokenFailure::status(503));
        zoom.resume();
        let at = Instant::now();
        match fault {
            Fault::CleanClose => {
                zoom.close_connections(1001, "going away");
            }
            Fault::Reset => {
                zoom.drop_connections();
            }
            Fault::Silent => {
                zoom.go_silent();
            }
            Fault::TokenRejected => {
                zoom.reject_token("message", INVALID_TOKEN);
            }
            Fault::Garbage => {
                for junk in [
                    "not json",
                    "[1,2,3]",
                    r#"{"module":"surprise"}"#,
                    "{\"module\"",
                ] {
                    zoom.send_text(junk);
                }
                zoom.send_binary(&[0, 1, 2, 3]);
            }
            Fault::Oversize => {
                // Blocks until the client refuses the frame and closes: run
                // it aside so the schedule keeps going.
                let (zoom, big) = (zoom.clone(), big.clone());
                thread::spawn(move || zoom.send_text(&big));
            }
            Fault::OauthOutage => {
                zoom.fail_token_requests(u32::MAX, TokenFailure::status(503));
                zoom.drop_connections();
            }
            Fault::Quiet => {}
        }
        eprintln!(
            "soak: {:>6.1} s: {}",
            (at - started).as_secs_f64(),
            fault.name()
        );
        faults.push((fault, at));
    }
    if let Some(d) = until.checked_duration_since(Instant::now()) {
        thread::sleep(d);
    }
    zoom.fail_token_requests(0, TokenFailure::status(503));
    zoom.resume();
    stop.store(true, Ordering::SeqCst);
    sender.join().map_err(|_| "the sender panicked")?;
    let ended = Instant::now();
    // Let the last events arrive, then end the stream.
    thread::sleep(Duration::from_secs(2));
    let reconnects = client.reconnects();
    let skipped = client.skipped_frames();
    client.close().map_err(|e| e.to_string())?;
    let seen = consumer.join().map_err(|_| "the consumer panicked")?;
    let connections = zoom.connections();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    report(
        args,
        &Ledger {
            sent: &sent,
            seen: &seen,
            faults: &faults,
            connections: &connections,
            started,
            ended,
        },
        zoom.token_requests().len(),
        reconnects,
        skipped,
    );
    Ok(())
}

fn record(sent: &Mutex<Vec<Sent>>, s: Sent) {
    sent.lock().unwrap_or_else(|e| e.into_inner()).push(s);
}

struct Ledger<'a> {
    sent: &'a [Sent],
    seen: &'a HashMap<u64, u32>,
    faults: &'a [(Fault, Instant)],
    connections: &'a [ConnectionInfo],
    started: Instant,
    ended: Instant,
}

impl Ledger<'_> {
    /// When each accepted connection ended: the first connection-ending
    /// fault after it opened, or the next attempt (the client opens one
    /// only after leaving the last), whichever came first.
    fn ends(&self) -> HashMap<u64, Instant> {
        let mut ends = HashMap::new();
        for (i, c) in self.connections.iter().enumerate() {
            if c.outcome != ConnectOutcome::Accepted {
                continue;
            }
            let next = self.connections.get(i + 1).map_or(self.ended, |n| n.at);
            let fault = self
                .faults
                .iter()
                .filter(|(f, at)| f.ends_connection() && *at > c.at)
                .map(|(_, at)| *at)
                .next()
                .unwrap_or(self.ended);
            ends.insert(c.id, next.min(fault));
        }
        ends
    }

    /// Fault to the next accepted upgrade, per kind.
    fn gaps(&self) -> Vec<(Fault, Vec<Duration>)> {
        let mut by: HashMap<Fault, Vec<Duration>> = HashMap::new();
        for (fault, at) in self.faults.iter().filter(|(f, _)| f.ends_connection()) {
            if let Some(next) = self
                .connections
                .iter()
                .find(|c| c.outcome == ConnectOutcome::Accepted && c.at > *at)
            {
                by.entry(*fault).or_default().push(next.at - *at);
            }
        }
        let mut out: Vec<_> = by.into_iter().collect();
        out.sort();
        for (_, gaps) in &mut out {
            gaps.sort();
        }
        out
    }
}

fn report(args: &Args, l: &Ledger<'_>, token_requests: usize, reconnects: u64, skipped: u64) {
    let ends = l.ends();
    let offered = l.sent.len() as u64;
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut lost = 0u64;
    let mut in_flight = 0u64;
    let mut duplicated = 0u64;
    for (seq, s) in l.sent.iter().enumerate() {
        let copies = l.seen.get(&(seq as u64)).copied().unwrap_or(0);
        duplicated += u64::from(copies.saturating_sub(1));
        let Some(conn) = s.conn else { continue };
        sent += 1;
        if copies > 0 {
            received += 1;
        } else if ends
            .get(&conn)
            .is_some_and(|end| end.saturating_duration_since(s.at) >= IN_FLIGHT)
        {
            lost += 1;
        } else {
            in_flight += 1;
        }
    }
    // Received though never written to a connection.
    let invented = l
        .seen
        .keys()
        .filter(|seq| l.sent.get(**seq as usize).is_none_or(|s| s.conn.is_none()))
        .count();
    let secs = (l.ended - l.started).as_secs_f64();
    println!(
        "## Fault soak: {} s, seed {}, {} events/s offered, heartbeat {} ms{}\n",
        args.secs,
        args.seed,
        args.rate,
        args.heartbeat.as_millis(),
        if args.tls { ", TLS" } else { ", plain" }
    );
    println!("| measure | value |\n|---|--:|");
    println!("| events offered | {offered} |");
    println!("| sent (written to an open connection) | {sent} |");
    println!(
        "| received | {received} ({:.1} events/s) |",
        received as f64 / secs
    );
    println!("| lost (sent >= 300 ms before the connection ended, never received) | {lost} |");
    println!("| in flight at a fault (sent < 300 ms before it, never received) | {in_flight} |");
    println!("| duplicated | {duplicated} |");
    println!("| invented | {invented} |");
    println!(
        "| usable connection (share of offered events sent) | {:.2} % |",
        100.0 * sent as f64 / offered.max(1) as f64
    );
    println!("| faults | {} |", l.faults.len());
    println!("| reconnects | {reconnects} |");
    println!("| frames skipped | {skipped} |");
    println!("| token requests | {token_requests} |");
    println!("\n| fault | count | gap median (ms) | gap max (ms) |\n|---|--:|--:|--:|");
    for (fault, gaps) in l.gaps() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {} | {} | {:.1} | {:.1} |",
            fault.name(),
            gaps.len(),
            ms(gaps[gaps.len() / 2]),
            ms(gaps[gaps.len() - 1])
        );
    }
    let quiet = l
        .faults
        .iter()
        .filter(|(f, _)| !f.ends_connection())
        .count();
    println!("| garbage frames + quiet (no reconnect expected) | {quiet} | - | - |");
}

/// Two clients on one subscription where each new connection closes the
/// older one: counts upgrades per 5 s window.
fn two_clients(args: &Args) -> Result<(), String> {
    let zoom = MockZoom::builder()
        .tls(args.tls)
        .start()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let a = builder(&zoom, args).connect().map_err(|e| e.to_string())?;
    let b = builder(&zoom, args).connect().map_err(|e| e.to_string())?;
    thread::sleep(Duration::from_secs(args.secs));
    drop((a, b));
    let accepted: Vec<Duration> = zoom
        .connections()
        .iter()
        .filter(|c| c.outcome == ConnectOutcome::Accepted)
        .map(|c| c.at.saturating_duration_since(started))
        .collect();
    println!(
        "## Two clients on one subscription (a new connection closes the older): {} s\n",
        args.secs
    );
    println!("| window (s) | upgrades |\n|---|--:|");
    let mut from = 0;
    while from < args.secs {
        let to = (from + 5).min(args.secs);
        let n = accepted
            .iter()
            .filter(|t| t.as_secs() >= from && t.as_secs() < to)
            .count();
        println!("| {from}-{to} | {n} |");
        from = to;
    }
    println!("| total | {} |", accepted.len());
    Ok(())
}
