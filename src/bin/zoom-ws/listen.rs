//! `zoom-ws listen`: prints Zoom events as they happen, one line of compact
//! JSON per event. Also `cargo run --example listen` (examples/listen.rs).
//!
//! stdout carries only events, flushed as soon as no further event is
//! waiting; everything else goes to stderr. SIGINT and SIGTERM close the
//! connection cleanly (Close 1000) and exit 0. A fatal error prints one line
//! on stderr and exits 1; a usage error exits 2.

use std::ffi::OsString;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use zoom_ws::{Client, Credentials, Error, StateChange};

use crate::args::{Args, Command, Opt};
use crate::stderr_log;

pub static COMMAND: Command = Command {
    name: "listen",
    about: "print Zoom WebSocket events as JSON lines",
    usage: "",
    opts: &[
        Opt {
            flag: "account-id",
            env: Some("ZOOM_ACCOUNT_ID"),
            value: Some("ID"),
            help: "Server-to-Server OAuth account (unset: the client_credentials grant)",
        },
        Opt {
            flag: "client-id",
            env: Some("ZOOM_CLIENT_ID"),
            value: Some("ID"),
            help: "the app's client id (required)",
        },
        Opt {
            flag: "",
            env: Some("ZOOM_CLIENT_SECRET"),
            value: Some("SECRET"),
            help: "the app's client secret (required; no flag: ps would show it)",
        },
        Opt {
            flag: "subscription-id",
            env: Some("ZOOM_SUBSCRIPTION_ID"),
            value: Some("ID"),
            help: "the WebSocket subscription (required unless the URL carries it)",
        },
        Opt {
            flag: "url",
            env: Some("ZOOM_WS_URL"),
            value: Some("URL"),
            help: "WebSocket endpoint, default wss://ws.zoom.us/ws (the query is appended)",
        },
        Opt {
            flag: "oauth-url",
            env: Some("ZOOM_OAUTH_URL"),
            value: Some("URL"),
            help: "token endpoint, default https://zoom.us/oauth/token",
        },
        Opt {
            flag: "ca-file",
            env: Some("ZOOM_CA_FILE"),
            value: Some("PEM"),
            help: "extra trusted roots, added to the Mozilla roots",
        },
        Opt {
            flag: "heartbeat-secs",
            env: Some("ZOOM_HEARTBEAT_SECS"),
            value: Some("SECS"),
            help: "heartbeat interval, default 30",
        },
        Opt {
            flag: "no-proxy",
            env: None,
            value: None,
            help: "connect directly, whatever HTTPS_PROXY and ALL_PROXY say",
        },
        Opt {
            flag: "",
            env: Some("HTTPS_PROXY"),
            value: Some("URL"),
            help: "HTTP CONNECT proxy (or ALL_PROXY; http://user:password@host:port)",
        },
        Opt {
            flag: "",
            env: Some("NO_PROXY"),
            value: Some("LIST"),
            help: "hosts, domain suffixes, IPs and CIDR ranges that bypass the proxy",
        },
        Opt {
            flag: "",
            env: Some("RUST_LOG"),
            value: Some("SPEC"),
            help: "log level to stderr, default info (`debug`, `zoom_ws=debug,warn`)",
        },
    ],
    notes: "\
stdout carries only events, one line of compact JSON each, flushed as soon as
no further event is waiting; logs go to stderr. SIGINT and SIGTERM close the
connection cleanly (Close 1000) and exit 0. A fatal error (bad credentials, an
unknown subscription, a configuration error) prints one line on stderr and
exits 1; a usage error exits 2.",
};

/// `zoom-ws listen ARGS`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match COMMAND.parse_or_exit(args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    stderr_log::init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-ws listen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    let mut builder = Client::builder().credentials(Credentials::from_lookup(|k| args.lookup(k))?);
    if let Some(id) = args.value("subscription-id") {
        builder = builder.subscription_id(id);
    }
    if let Some(url) = args.value("url") {
        builder = builder.url(url);
    }
    if let Some(path) = args.value("ca-file") {
        let pem =
            std::fs::read(&path).map_err(|e| Error::Config(format!("CA file {path:?}: {e}")))?;
        builder = builder.extra_root_pem(pem);
    }
    if let Some(secs) = args.value("heartbeat-secs") {
        let secs: f64 = secs
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                Error::Config(format!(
                    "heartbeat interval {secs:?} is not a positive number of seconds"
                ))
            })?;
        builder = builder.heartbeat_interval(Duration::from_secs_f64(secs));
    }
    if args.on("no-proxy") {
        builder = builder.no_proxy();
    }

    // Signals must be caught before connecting, so that an early SIGTERM
    // still closes cleanly.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Config(format!("installing signal handlers: {e}")))?;
    let client = builder.connect()?;
    // Closer::close takes locks: it runs on this thread, woken by the
    // signal, never in the handler.
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
