//! Prints a Video SDK API JWT, for `Authorization: Bearer <jwt>` on
//! `https://api.zoom.us/v2/videosdk/...` requests.
//!
//! ```text
//! ZOOM_API_KEY=.. ZOOM_API_SECRET=.. cargo run --example jwt
//! curl -H "Authorization: Bearer $(ZOOM_API_KEY=.. ZOOM_API_SECRET=.. cargo run -q --example jwt)" \
//!     https://api.zoom.us/v2/videosdk/sessions
//! ```
//!
//! Environment: `ZOOM_API_KEY` and `ZOOM_API_SECRET` (the Video SDK key and
//! secret), optional `ZOOM_JWT_LIFETIME_SECS` (default 3600). The token goes
//! to stdout and nothing else does; a missing variable prints one line on
//! stderr and exits 1.

use std::process::ExitCode;
use std::time::Duration;

use zoom_ws::jwt::{ApiToken, DEFAULT_LIFETIME};
use zoom_ws::Secret;

fn main() -> ExitCode {
    match run() {
        Ok(token) => {
            println!("{}", token.expose());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zoom-ws jwt: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Secret, String> {
    let key = required("ZOOM_API_KEY")?;
    let secret = Secret::new(required("ZOOM_API_SECRET")?);
    let lifetime = match std::env::var("ZOOM_JWT_LIFETIME_SECS") {
        Ok(s) => s
            .trim()
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("ZOOM_JWT_LIFETIME_SECS is not a number of seconds: {s:?}"))?,
        Err(_) => DEFAULT_LIFETIME,
    };
    ApiToken::new(key, secret)
        .lifetime(lifetime)
        .sign()
        .map_err(|e| e.to_string())
}

fn required(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("{name} is not set (the Video SDK key and secret are in the Zoom App Marketplace, under the Video SDK app's credentials)")),
    }
}
