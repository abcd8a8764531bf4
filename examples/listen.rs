//! Prints Zoom events as they happen, one line of compact JSON per event:
//! `zoom-ws listen`, as an example (the code is src/bin/zoom-ws/listen.rs).
//!
//! ```text
//! ZOOM_ACCOUNT_ID=.. ZOOM_CLIENT_ID=.. ZOOM_CLIENT_SECRET=.. ZOOM_SUBSCRIPTION_ID=.. \
//!     cargo run --example listen
//! cargo run --example listen -- --help    # every variable and flag
//! ```
//!
//! stdout carries only events, flushed as soon as no further event is
//! waiting; everything else goes to stderr. SIGINT and SIGTERM close the
//! connection cleanly (Close 1000) and exit 0. A fatal error prints one line
//! on stderr and exits 1.

#[path = "../src/bin/zoom-ws/args.rs"]
mod args;
#[path = "../src/bin/zoom-ws/listen.rs"]
mod listen;
#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> std::process::ExitCode {
    listen::main(std::env::args_os().skip(1))
}
