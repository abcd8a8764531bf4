//! `zoom-ws jwt`: prints a Video SDK JWT, an API token by default or a
//! session token with `--session`. Also `cargo run --example jwt`
//! (examples/jwt.rs).

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use zoom_ws::jwt::{ApiToken, Role, SessionToken, DEFAULT_LIFETIME};
use zoom_ws::Secret;

use crate::args::{Args, Command, Opt};

pub static COMMAND: Command = Command {
    name: "jwt",
    about: "print a Video SDK API JWT, or a session JWT with --session",
    usage: "",
    opts: &[
        Opt {
            flag: "api-key",
            env: Some("ZOOM_API_KEY"),
            value: Some("KEY"),
            help: "the Video SDK key (required)",
        },
        Opt {
            flag: "",
            env: Some("ZOOM_API_SECRET"),
            value: Some("SECRET"),
            help: "the Video SDK secret (required; no flag: ps would show it)",
        },
        Opt {
            flag: "lifetime-secs",
            env: Some("ZOOM_JWT_LIFETIME_SECS"),
            value: Some("SECS"),
            help: "exp - iat, default 3600",
        },
        Opt {
            flag: "session",
            env: None,
            value: Some("NAME"),
            help: "a session JWT for this session name (tpc) instead of an API JWT",
        },
        Opt {
            flag: "role",
            env: None,
            value: Some("ROLE"),
            help: "session JWT: host or participant (default)",
        },
        Opt {
            flag: "session-key",
            env: None,
            value: Some("KEY"),
            help: "session JWT: session_key",
        },
        Opt {
            flag: "user-identity",
            env: None,
            value: Some("ID"),
            help: "session JWT: user_identity",
        },
    ],
    notes: "\
The token goes to stdout and nothing else does. The API JWT is for
`Authorization: Bearer <jwt>` on https://api.zoom.us/v2/videosdk/... requests:

  curl -H \"Authorization: Bearer $(zoom-ws jwt)\" https://api.zoom.us/v2/videosdk/sessions

A missing key or secret, or a bad value, prints one line on stderr and exits
1; a usage error exits 2.",
};

/// Flags only a session JWT takes.
const SESSION_ONLY: [&str; 3] = ["role", "session-key", "user-identity"];

/// `zoom-ws jwt ARGS`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match COMMAND.parse_or_exit(args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.value("session").is_none() {
        if let Some(flag) = SESSION_ONLY.iter().find(|f| args.value(f).is_some()) {
            eprintln!("zoom-ws jwt: --{flag} is for session JWTs: add --session NAME (see zoom-ws jwt --help)");
            return ExitCode::from(crate::args::USAGE);
        }
    }
    match run(&args) {
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

fn run(args: &Args) -> Result<Secret, String> {
    const WHERE: &str = "the Video SDK key and secret are in the Zoom App Marketplace, under the Video SDK app's credentials";
    let key = args
        .value("api-key")
        .ok_or_else(|| format!("ZOOM_API_KEY is not set, nor --api-key ({WHERE})"))?;
    let secret = args
        .lookup("ZOOM_API_SECRET")
        .map(Secret::new)
        .ok_or_else(|| format!("ZOOM_API_SECRET is not set ({WHERE})"))?;
    let lifetime = match args.value("lifetime-secs") {
        Some(s) => s
            .trim()
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("the lifetime is not a number of seconds: {s:?}"))?,
        None => DEFAULT_LIFETIME,
    };
    let signed = match args.value("session") {
        None => ApiToken::new(key, secret).lifetime(lifetime).sign(),
        Some(name) => {
            let role = match args.value("role").as_deref().map(str::trim) {
                None | Some("participant") | Some("0") => Role::Participant,
                Some("host") | Some("1") => Role::Host,
                Some(other) => {
                    return Err(format!("--role {other:?}: expected host or participant"))
                }
            };
            let mut token = SessionToken::new(key, secret, name)
                .role(role)
                .lifetime(lifetime);
            if let Some(k) = args.value("session-key") {
                token = token.session_key(k);
            }
            if let Some(id) = args.value("user-identity") {
                token = token.user_identity(id);
            }
            token.sign()
        }
    };
    signed.map_err(|e| e.to_string())
}
