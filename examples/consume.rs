//! A consumer-group member on a feed: prints each event as one line of
//! compact JSON on stdout, then acknowledges it. Run several with the same
//! group to share the load, or with different groups to each see
//! everything. Delivery is at least once: a member that dies before
//! acking has its entries delivered again (to itself on restart, or to
//! another member once they have been pending for 30 s).
//!
//! ```text
//! ZOOM_REDIS_URL=redis://127.0.0.1/ ZOOM_FEED=my-subscription-id \
//! ZOOM_GROUP=billing ZOOM_CONSUMER=worker-1 cargo run --example consume
//! ```
//!
//! Environment: `ZOOM_REDIS_URL` (default `redis://127.0.0.1/`),
//! `ZOOM_FEED` (required: the relay's feed, by default its subscription
//! id), `ZOOM_GROUP` (default `consume`), `ZOOM_CONSUMER` (default: host and
//! pid), `ZOOM_FROM_START=1` (a new group starts at the oldest entry kept,
//! not at new ones), `RUST_LOG`.
//!
//! Gap entries (events may have been lost: backfill over REST) go to
//! stderr as `gap <from_ms> <to_ms> <reason>`; everything else too.
//! SIGINT/SIGTERM stop between two entries (unacked ones are redelivered).

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use zoom_ws::ha::{Entry, GroupOptions, GroupReader, GroupStart, RedisConfig};

#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> ExitCode {
    stderr_log::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-ws consume: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), zoom_ws::Error> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let redis =
        RedisConfig::new(&env("ZOOM_REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1/".into()))?;
    let feed =
        env("ZOOM_FEED").ok_or_else(|| zoom_ws::Error::Config("ZOOM_FEED is required".into()))?;
    let group = env("ZOOM_GROUP").unwrap_or_else(|| "consume".into());
    let consumer = env("ZOOM_CONSUMER").unwrap_or_else(|| {
        let host = env("HOSTNAME")
            .unwrap_or_else(|| "consumer".into())
            .replace(':', "_");
        format!("{host}-{}", std::process::id())
    });
    let options = GroupOptions {
        start: if env("ZOOM_FROM_START").is_some_and(|v| v == "1") {
            GroupStart::Beginning
        } else {
            GroupStart::New
        },
        ..GroupOptions::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| zoom_ws::Error::Config(format!("installing signal handlers: {e}")))?;
    }
    let mut reader = GroupReader::new(redis, &feed, &group, &consumer, options)?;
    log::info!("consumer {consumer} of group {group} on feed {feed}");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failing = false;
    while !stop.load(Ordering::SeqCst) {
        // Blocks up to 1 s; None when nothing came.
        let delivery = match reader.read() {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            // A signal interrupts the blocking read: stop quietly.
            Err(_) if stop.load(Ordering::SeqCst) => break,
            Err(e) => {
                if !failing {
                    log::warn!("reading: {e}; retrying");
                    failing = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(500)); // a retry pause, not a synchronisation
                continue;
            }
        };
        failing = false;
        match &delivery.entry {
            Entry::Event(e) => {
                let json = e.event.json().replace(['\n', '\r'], " ");
                if writeln!(out, "{json}").and_then(|_| out.flush()).is_err() {
                    break; // stdout closed: stop without acking this one
                }
            }
            Entry::Gap(g) => eprintln!("gap {} {} {}", g.from_ms, g.to_ms, g.reason),
            Entry::Leader(l) => log::info!("leader: epoch {} node {}", l.epoch, l.node),
            other => log::debug!("entry {}: {other:?}", delivery.stream_id),
        }
        reader.ack(&delivery)?;
    }
    Ok(())
}
