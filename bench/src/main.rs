//! The benchmark of issue 4: zoom-ws against the raw limit (a bare
//! tungstenite read loop) and the alternatives (Node's `ws`, Python's
//! `websocket-client`), side by side, against the built-in Zoom emulator on
//! 127.0.0.1. Prints a markdown table; BENCHMARKS.md explains it.
//!
//! ```text
//! bench/setup.sh                                        # once: ws and websocket-client, locally
//! cargo run --release -p zoom-ws-bench                  # everything, about 4.5 minutes
//! cargo run --release -p zoom-ws-bench -- --quick       # smaller counts, short idle: a smoke check
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
//!
//! Files: `procfs` (measuring a process), `emulator` and `client` (the
//! child processes), `parse` (the per-frame JSON work alone, for
//! callgrind), `orchestrate` (the phases and the table). This package is
//! not published; it lives in the workspace so that the library's `cargo
//! test` does not build it.

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

mod client;
mod emulator;
mod orchestrate;
mod parse;
mod procfs;

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

/// Wall-clock microseconds since the epoch: comparable across processes.
fn now_us() -> u64 {
    system_us(SystemTime::now())
}

/// `t` in microseconds since the epoch (0 before it).
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
