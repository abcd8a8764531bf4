//! Prints Zoom events as they happen, one line of compact JSON per event.
//!
//! ```text
//! ZOOM_ACCOUNT_ID=.. ZOOM_CLIENT_ID=.. ZOOM_CLIENT_SECRET=.. ZOOM_SUBSCRIPTION_ID=.. \
//!     cargo run --example listen
//! ```
//!
//! Environment:
//! - `ZOOM_ACCOUNT_ID` (absent: the client_credentials grant), `ZOOM_CLIENT_ID`,
//!   `ZOOM_CLIENT_SECRET`, `ZOOM_SUBSCRIPTION_ID`
//! - optional: `ZOOM_WS_URL` (default wss://ws.zoom.us/ws; the client appends
//!   the query), `ZOOM_OAUTH_URL` (default https://zoom.us/oauth/token),
//!   `ZOOM_CA_FILE` (PEM of extra trusted roots), `ZOOM_HEARTBEAT_SECS`
//!   (default 30), `RUST_LOG` (log level, to stderr).
//! - proxy: `HTTPS_PROXY` (or `ALL_PROXY`), such as
//!   `http://user:password@proxy:3128`, and `NO_PROXY` (see `zoom_ws::proxy`):
//!   the token request and the WebSocket go through it.
//!
//! stdout carries only events, flushed as soon as no further event is
//! waiting; everything else goes to stderr. SIGINT and SIGTERM close the
//! connection cleanly (Close 1000) and exit 0. A fatal error prints one line
//! on stderr and exits 1.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use zoom_ws::{Client, Credentials, StateChange};

#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> ExitCode {
    stderr_log::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-ws listen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), zoom_ws::Error> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut builder = Client::builder().credentials(Credentials::from_env()?);
    if let Some(id) = env("ZOOM_SUBSCRIPTION_ID") {
        builder = builder.subscription_id(id);
    }
    if let Some(url) = env("ZOOM_WS_URL") {
        builder = builder.url(url);
    }
    if let Some(path) = env("ZOOM_CA_FILE") {
        let pem = std::fs::read(&path)
            .map_err(|e| zoom_ws::Error::Config(format!("ZOOM_CA_FILE {path:?}: {e}")))?;
        builder = builder.extra_root_pem(pem);
    }
    if let Some(secs) = env("ZOOM_HEARTBEAT_SECS") {
        let secs: f64 = secs
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                zoom_ws::Error::Config(format!(
                    "ZOOM_HEARTBEAT_SECS {secs:?} is not a positive number"
                ))
            })?;
        builder = builder.heartbeat_interval(Duration::from_secs_f64(secs));
    }

    // Signals must be caught before connecting, so that an early SIGTERM
    // still closes cleanly.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| zoom_ws::Error::Config(format!("installing signal handlers: {e}")))?;
    let client = builder.connect()?;
    let closer = client.closer();
    let signal_handle = signals.handle();
    let signal_thread = std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            log::info!("signal {sig}: closing");
            closer.close();
        }
    });
    let states = client.states().clone();
    std::thread::spawn(move || {
        for change in states {
            match change {
                StateChange::Disconnected { reason, .. } => log::warn!("disconnected: {reason}"),
                StateChange::Reconnected { gap, .. } => {
                    log::warn!(
                        "reconnected; events during the last {} ms may be lost",
                        gap.as_millis()
                    )
                }
                other => log::info!("{other:?}"),
            }
        }
    });

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let events = client.events();
    for ev in events {
        let written = if ev.json().contains(['\n', '\r']) {
            // Zoom sends compact JSON; re-serialise anything that is not.
            match ev.to_value() {
                Ok(v) => writeln!(out, "{v}"),
                Err(_) => writeln!(out, "{}", ev.json().replace(['\n', '\r'], " ")),
            }
        } else {
            writeln!(out, "{}", ev.json())
        };
        // Flush once no further event is waiting: prompt for a trickle, one
        // write for a burst.
        let flushed = written.and_then(|_| {
            if events.is_empty() {
                out.flush()
            } else {
                Ok(())
            }
        });
        if let Err(e) = flushed {
            // stdout closed (a pipe reader went away): stop quietly.
            log::info!("stdout: {e}; closing");
            break;
        }
    }
    let _ = out.flush();
    signal_handle.close();
    let _ = signal_thread.join();
    client.close()
}
