//! Runs the built-in Zoom emulator as a standalone server, for trying
//! `examples/listen.rs` (or any client, in any language) without Zoom:
//! `zoom-ws emulator`, as an example (the code is src/bin/zoom-ws/emulator.rs).
//!
//! ```text
//! cargo run --example emulator            # wss:// with a generated test CA
//! cargo run --example emulator -- --plain # ws://
//! ```
//!
//! It prints the environment for `listen`, then reads commands from stdin
//! (event JSON, `drop`, `close [code]`, `silent`, `resume`, `reject`,
//! `stats`: see `--help`), and exits at the end of stdin.

#[path = "../src/bin/zoom-ws/args.rs"]
mod args;
#[path = "../src/bin/zoom-ws/emulator.rs"]
mod emulator;
#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> std::process::ExitCode {
    emulator::main(std::env::args_os().skip(1))
}
