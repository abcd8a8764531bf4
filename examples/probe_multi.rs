//! Asks Zoom what it does with two sockets on one subscription: kick the
//! old one, let both receive, split the events between them, or refuse
//! the new one. Nobody has published the answer; the HA design holds
//! under all four, but the takeover and handover figures depend on it.
//!
//! ```text
//! ZOOM_ACCOUNT_ID=.. ZOOM_CLIENT_ID=.. ZOOM_CLIENT_SECRET=.. ZOOM_SUBSCRIPTION_ID=.. \
//!     cargo run --example probe_multi
//! cargo run --example probe_multi -- --emulator split   # the logic, against the emulator
//! ```
//!
//! It opens socket A, then socket B on the same subscription (one token
//! stream, neither reconnects), and watches for `ZOOM_PROBE_SECS` (default
//! 120). Under "both" and "split" it needs events meanwhile: start and end
//! a meeting, or anything else the subscription carries. Then it prints
//! one verdict line on stdout: `kick`, `refuse`, `both`, `split`, or
//! `inconclusive`, with the evidence on stderr. Use a test subscription:
//! events that reach only one of the two sockets are not printed.
//! Optional: `ZOOM_WS_URL`, `ZOOM_CA_FILE`, `RUST_LOG`.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zoom_ws::mock::{MockZoom, MultiConnection};
use zoom_ws::{Client, ClientBuilder, Credentials, StateChange, TokenRefresher};

#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> ExitCode {
    stderr_log::init();
    match run() {
        Ok(verdict) => {
            println!("{verdict}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zoom-ws probe_multi: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A connect gate that lets exactly one attempt through: a kicked socket
/// must not come back and kick the other (that would be a kick loop).
fn once() -> impl Fn() -> bool + Send + Sync + 'static {
    let used = AtomicBool::new(false);
    move || !used.swap(true, Ordering::SeqCst)
}

fn run() -> Result<&'static str, zoom_ws::Error> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let args: Vec<String> = std::env::args().collect();
    let emulated = args.iter().position(|a| a == "--emulator").map(|i| {
        args.get(i + 1)
            .map(String::as_str)
            .unwrap_or("kick")
            .to_owned()
    });

    // Against the emulator: it plays the mode and sends an event every 100 ms.
    let mut zoom: Option<Arc<MockZoom>> = None;
    let (credentials, mut template, subscription, window) = match &emulated {
        Some(mode) => {
            let mode = match mode.as_str() {
                "kick" => MultiConnection::Kick,
                "both" => MultiConnection::Both,
                "split" => MultiConnection::Split,
                "refuse" => MultiConnection::Refuse,
                other => {
                    return Err(zoom_ws::Error::Config(format!(
                        "--emulator {other:?}: kick, both, split or refuse"
                    )))
                }
            };
            let z = Arc::new(MockZoom::builder().multi_connection(mode).start()?);
            let builder = Client::builder().url(z.ws_url());
            let out = (
                z.credentials(),
                builder,
                z.subscription_id().to_owned(),
                Duration::from_secs(3),
            );
            zoom = Some(z);
            out
        }
        None => {
            let mut builder = Client::builder();
            if let Some(url) = env("ZOOM_WS_URL") {
                builder = builder.url(url);
            }
            if let Some(path) = env("ZOOM_CA_FILE") {
                let pem = std::fs::read(&path)
                    .map_err(|e| zoom_ws::Error::Config(format!("ZOOM_CA_FILE {path:?}: {e}")))?;
                builder = builder.extra_root_pem(pem);
            }
            let secs = env("ZOOM_PROBE_SECS")
                .and_then(|s| s.parse().ok())
                .unwrap_or(120);
            let sub = env("ZOOM_SUBSCRIPTION_ID")
                .ok_or_else(|| zoom_ws::Error::Config("ZOOM_SUBSCRIPTION_ID is required".into()))?;
            (
                Credentials::from_env()?,
                builder,
                sub,
                Duration::from_secs(secs),
            )
        }
    };
    let refresh = match &zoom {
        Some(z) => zoom_ws::RefreshOptions::with_tls(z.tls_config()),
        None => zoom_ws::RefreshOptions::default(),
    };
    let refresher = TokenRefresher::start(credentials, refresh);
    template = template
        .subscription_id(subscription)
        .token_source(refresher.source())
        .first_connect_timeout(Duration::from_secs(20));
    let socket = |template: &ClientBuilder| template.clone().connect_gate(once()).connect();

    let sender_stop = Arc::new(AtomicBool::new(false));
    if let Some(z) = &zoom {
        let (z, stop) = (z.clone(), sender_stop.clone());
        std::thread::spawn(move || {
            let mut seq = 0u64;
            while !stop.load(Ordering::SeqCst) {
                z.send_event_json(&format!(
                    r#"{{"event":"meeting.started","event_ts":{seq},"payload":{{"object":{{"id":"{seq}"}}}}}}"#
                ));
                seq += 1;
                std::thread::sleep(Duration::from_millis(100)); // the event rate
            }
        });
    }

    let a = socket(&template)?;
    eprintln!("socket A connected");
    std::thread::sleep(Duration::from_secs(1)); // let A settle before B: part of the probe
    let b = match socket(&template) {
        Ok(b) => b,
        Err(zoom_ws::Error::Rejected { content }) => {
            eprintln!("socket B refused by Zoom: {content:?}");
            sender_stop.store(true, Ordering::SeqCst);
            return Ok("refuse");
        }
        Err(e) => return Err(e),
    };
    eprintln!("socket B connected; watching for {} s", window.as_secs());

    // What A received before B was up tells nothing.
    let before = a.events().try_iter().count();
    eprintln!("{before} events on A before B connected");
    let (mut on_a, mut on_b) = (HashSet::new(), HashSet::new());
    let deadline = Instant::now() + window;
    let mut kicked: Option<String> = None;
    while Instant::now() < deadline {
        crossbeam_channel::select! {
            recv(a.events()) -> ev => if let Ok(ev) = ev { on_a.insert(ev.into_json()); },
            recv(b.events()) -> ev => if let Ok(ev) = ev { on_b.insert(ev.into_json()); },
            recv(a.states()) -> s => if let Ok(StateChange::Disconnected { reason, .. }) = s {
                kicked = Some(format!("A: {reason}"));
            },
            recv(b.states()) -> s => if let Ok(StateChange::Disconnected { reason, .. }) = s {
                eprintln!("B lost its connection: {reason}");
            },
            default(Duration::from_millis(200)) => {}
        }
        if kicked.is_some() && !on_b.is_empty() {
            break;
        }
    }
    sender_stop.store(true, Ordering::SeqCst);
    let both = on_a.intersection(&on_b).count();
    eprintln!(
        "events: {} on A, {} on B, {both} on both; A disconnected: {}",
        on_a.len(),
        on_b.len(),
        kicked.as_deref().unwrap_or("no")
    );
    let verdict = if let Some(why) = &kicked {
        eprintln!("Zoom closed the older socket when the new one opened ({why})");
        "kick"
    } else if on_a.is_empty() && on_b.is_empty() {
        eprintln!("no events arrived: trigger some (start a meeting) and run it again");
        "inconclusive"
    } else if both > 0 && both + 1 >= on_a.len().min(on_b.len()) {
        // Every event of the quieter socket (give or take one in flight as
        // the window closed) reached the other one too.
        "both"
    } else if both == 0 && !on_a.is_empty() && !on_b.is_empty() {
        "split"
    } else {
        eprintln!("a mix: some events on both, some on one");
        "inconclusive"
    };
    drop((a, b));
    refresher.stop();
    Ok(verdict)
}
