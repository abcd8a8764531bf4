//! A minimal Zoom webhook receiver on a blocking std `TcpListener`: prints
//! each verified event as one line of compact JSON on stdout. `zoom-ws
//! webhook`, as an example (the code, and its contract, are in
//! src/bin/zoom-ws/webhook.rs).
//!
//! ```text
//! ZOOM_WEBHOOK_SECRET_TOKEN=.. cargo run --example webhook
//! ```
//!
//! Put it behind a TLS-terminating reverse proxy: Zoom only delivers to
//! `https://` endpoints.

#[path = "../src/bin/zoom-ws/args.rs"]
mod args;
#[path = "../src/bin/zoom-ws/webhook.rs"]
mod webhook;

fn main() -> std::process::ExitCode {
    webhook::main(std::env::args_os().skip(1))
}
