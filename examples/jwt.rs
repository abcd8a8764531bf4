//! Prints a Video SDK API JWT (or a session JWT with `--session NAME`):
//! `zoom-ws jwt`, as an example (the code is src/bin/zoom-ws/jwt.rs).
//!
//! ```text
//! ZOOM_API_KEY=.. ZOOM_API_SECRET=.. cargo run --example jwt
//! curl -H "Authorization: Bearer $(ZOOM_API_KEY=.. ZOOM_API_SECRET=.. cargo run -q --example jwt)" \
//!     https://api.zoom.us/v2/videosdk/sessions
//! ZOOM_API_KEY=.. ZOOM_API_SECRET=.. cargo run --example jwt -- --session standup --role host
//! ```
//!
//! The token goes to stdout and nothing else does; a missing variable
//! prints one line on stderr and exits 1.

#[path = "../src/bin/zoom-ws/args.rs"]
mod args;
#[path = "../src/bin/zoom-ws/jwt.rs"]
mod jwt;

fn main() -> std::process::ExitCode {
    jwt::main(std::env::args_os().skip(1))
}
