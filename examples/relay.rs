//! A high-availability relay: run one on each of several machines. The one
//! holding the subscription's lease in Redis connects to Zoom and appends
//! every event to the feed's Redis stream; the others stand by and take
//! over when it dies. SIGTERM hands over gracefully (make-before-break:
//! zero loss where Zoom replaces an old socket with a new one).
//!
//! ```text
//! ZOOM_ACCOUNT_ID=.. ZOOM_CLIENT_ID=.. ZOOM_CLIENT_SECRET=.. ZOOM_SUBSCRIPTION_ID=.. \
//! ZOOM_REDIS_URL=redis://127.0.0.1/ cargo run --example relay
//! ```
//!
//! Environment:
//! - `ZOOM_ACCOUNT_ID` (absent: the client_credentials grant), `ZOOM_CLIENT_ID`,
//!   `ZOOM_CLIENT_SECRET`, `ZOOM_SUBSCRIPTION_ID` (required)
//! - `ZOOM_REDIS_URL` (default `redis://127.0.0.1/`; `redis+unix:///path` too)
//! - optional: `ZOOM_FEED` (default: the subscription id), `ZOOM_NODE`
//!   (default: host, pid, random), `ZOOM_LEASE_TTL_MS` (default 5000; renew
//!   every TTL/5, self-fence at 70 % of it), `ZOOM_WS_URL`, `ZOOM_OAUTH_URL`,
//!   `ZOOM_CA_FILE` (PEM of extra trusted roots, for Zoom and the token
//!   endpoint), `RUST_LOG`.
//!
//! Everything goes to stderr: role changes, and a status line every 10 s.
//! SIGTERM: hand over and exit 0. SIGINT: close, release the lease, exit 0.
//! A fatal error prints one line and exits 1.

use std::process::ExitCode;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use zoom_ws::ha::{RedisConfig, Relay, Role};
use zoom_ws::{Client, Credentials, RefreshOptions, TlsConfig};

#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> ExitCode {
    stderr_log::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-ws relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config(msg: String) -> zoom_ws::Error {
    zoom_ws::Error::Config(msg)
}

fn run() -> Result<(), zoom_ws::Error> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let subscription = env("ZOOM_SUBSCRIPTION_ID")
        .ok_or_else(|| config("ZOOM_SUBSCRIPTION_ID is required".into()))?;
    let redis_url = env("ZOOM_REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1/".into());
    let redis = RedisConfig::new(&redis_url)?;
    let mut client = Client::builder();
    let mut refresh = RefreshOptions::default();
    if let Some(url) = env("ZOOM_WS_URL") {
        client = client.url(url);
    }
    if let Some(path) = env("ZOOM_CA_FILE") {
        let pem =
            std::fs::read(&path).map_err(|e| config(format!("ZOOM_CA_FILE {path:?}: {e}")))?;
        let tls = TlsConfig::with_extra_roots_pem(&pem)?;
        client = client.tls(tls.clone());
        refresh = RefreshOptions::with_tls(tls);
    }
    let mut builder = Relay::builder(redis, Credentials::from_env()?, subscription)
        .client(client)
        .refresh_options(refresh);
    if let Some(feed) = env("ZOOM_FEED") {
        builder = builder.feed(feed);
    }
    if let Some(node) = env("ZOOM_NODE") {
        builder = builder.node(node);
    }
    if let Some(ms) = env("ZOOM_LEASE_TTL_MS") {
        let ms: u64 = ms.parse().ok().filter(|ms| *ms >= 100).ok_or_else(|| {
            config(format!(
                "ZOOM_LEASE_TTL_MS {ms:?}: a number of ms, at least 100"
            ))
        })?;
        builder = builder
            .lease_ttl(Duration::from_millis(ms))
            .renew_every(Duration::from_millis(ms / 5))
            .self_fence_after(Duration::from_millis(ms * 7 / 10));
    }

    // Signals are caught before the relay starts, so an early SIGTERM still
    // hands over.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| config(format!("installing signal handlers: {e}")))?;
    let relay = builder.start()?;
    log::info!("relay {} on standby", relay.node());
    let (sig_tx, sig_rx) = crossbeam_channel::bounded(1);
    let handle = signals.handle();
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = sig_tx.send(sig);
        }
    });
    let mut role = Role::Standby;
    let mut last_status = std::time::Instant::now();
    loop {
        // A signal at once; otherwise a look at the status every 200 ms.
        if let Ok(sig) = sig_rx.recv_timeout(Duration::from_millis(200)) {
            handle.close();
            return if sig == SIGTERM {
                log::info!("SIGTERM: handing over");
                relay.handover(Duration::from_secs(30))
            } else {
                log::info!("SIGINT: stopping");
                relay.stop()
            };
        }
        let status = relay.status();
        if status.role != role {
            log::info!(
                "role: {:?} -> {:?} (epoch {})",
                role,
                status.role,
                status.epoch
            );
            role = status.role;
        }
        if role == Role::Stopped {
            handle.close();
            return match status.error {
                Some(e) => Err(config(format!("the relay stopped: {e}"))),
                None => Ok(()),
            };
        }
        if last_status.elapsed() >= Duration::from_secs(10) {
            last_status = std::time::Instant::now();
            log::info!(
                "{:?}: received {}, appended {}, duplicates {}, buffered {}, gaps {}",
                status.role,
                status.received,
                status.appended,
                status.duplicates,
                status.buffered,
                status.gaps
            );
        }
    }
}
