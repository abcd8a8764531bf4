//! `zoom-ws emulator`: the built-in Zoom emulator as a standalone server,
//! for trying `zoom-ws listen` (or any client, in any language) without
//! Zoom. Also `cargo run --example emulator` (examples/emulator.rs).

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use zoom_ws::mock::MockZoom;

use crate::args::{Command, Opt};
use crate::stderr_log;

pub static COMMAND: Command = Command {
    name: "emulator",
    about: "run a local Zoom emulator (token endpoint and WebSocket) on 127.0.0.1",
    usage: "",
    opts: &[
        Opt {
            flag: "plain",
            env: None,
            value: None,
            help: "ws:// and http:// instead of TLS with a generated test CA",
        },
        Opt {
            flag: "",
            env: Some("RUST_LOG"),
            value: Some("SPEC"),
            help: "log level to stderr, default warn",
        },
    ],
    notes: "\
It prints the environment for `zoom-ws listen` (export ZOOM_...=... lines; with
TLS the test CA is written for ZOOM_CA_FILE to ca.pem in a new private directory
with a random name under the temporary directory, removed at the end), then
reads commands from stdin, one per line:

  {\"event\":...}   a JSON object: sent as an event to every connection
  drop            drop the connections abruptly
  close [CODE]    close them cleanly (default 1000)
  silent, resume  stop and restart answering heartbeats
  reject          reject the token in-band
  stats           connections, heartbeats, token requests, close codes

It exits 0 at the end of stdin, 1 if it cannot start.",
};

/// `zoom-ws emulator ARGS`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match COMMAND.parse_or_exit(args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    stderr_log::init_with(log::LevelFilter::Warn);
    match run(args.on("plain")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoom-ws emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(plain: bool) -> Result<(), Box<dyn std::error::Error>> {
    // A test secret for a local emulator, printed on purpose.
    let secret = "emulator-client-secret";
    let zoom = MockZoom::builder()
        .tls(!plain)
        .client_secret(secret)
        .start()?;
    println!("export ZOOM_ACCOUNT_ID={}", zoom.account_id());
    println!("export ZOOM_CLIENT_ID={}", zoom.client_id());
    println!("export ZOOM_CLIENT_SECRET={}", secret);
    println!("export ZOOM_SUBSCRIPTION_ID={}", zoom.subscription_id());
    println!("export ZOOM_OAUTH_URL={}", zoom.token_url());
    println!("export ZOOM_WS_URL={}", zoom.ws_url());
    let ca_dir = match zoom.ca_pem() {
        Some(pem) => {
            let (dir, path) = write_private(pem.as_bytes())?;
            println!("export ZOOM_CA_FILE={}", path.display());
            Some(dir)
        }
        None => None,
    };
    println!("# ready: type event JSON, or drop | close [code] | silent | resume | reject | stats");
    let served = serve(&zoom);
    if let Some(dir) = ca_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    served
}

/// Runs stdin's commands until its end.
fn serve(zoom: &MockZoom) -> Result<(), Box<dyn std::error::Error>> {
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        match words.next() {
            None => {}
            Some(w) if w.starts_with('{') => {
                let n = zoom.send_event_json(line.trim());
                println!("# sent to {n} connection(s)");
            }
            Some("drop") => println!("# dropped {}", zoom.drop_connections()),
            Some("close") => {
                let code = words.next().and_then(|c| c.parse().ok()).unwrap_or(1000);
                println!("# closed {}", zoom.close_connections(code, ""));
            }
            Some("silent") => println!("# silent on {}", zoom.go_silent()),
            Some("resume") => println!("# resumed {}", zoom.resume()),
            Some("reject") => println!(
                "# rejected on {}",
                zoom.reject_token("message", "Invalid Token")
            ),
            Some("stats") => {
                // The clients' Close codes, `none` for a Close without one.
                let codes: Vec<String> = zoom
                    .client_closes()
                    .iter()
                    .map(|c| c.code.map_or_else(|| "none".into(), |c| c.to_string()))
                    .collect();
                println!(
                    "# connections {}, live {}, heartbeats {}, token requests {}, close codes [{}]",
                    zoom.connection_count(),
                    zoom.live_connections(),
                    zoom.heartbeat_count(),
                    zoom.token_requests().len(),
                    codes.join(", ")
                )
            }
            Some(other) => println!("# unknown command {other:?}"),
        }
    }
    Ok(())
}

/// Writes `pem` to `ca.pem` in a new directory only this user can enter
/// (0700 on Unix), under the temporary directory, with a random name.
/// Creating the directory fails if anything (a symlink included) already has
/// that name, and the file is created new inside it, so nothing planted by
/// another user is followed or overwritten. Returns the directory and the
/// file.
fn write_private(pem: &[u8]) -> std::io::Result<(PathBuf, PathBuf)> {
    use std::hash::{BuildHasher, Hasher};
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    let mut attempts = 0;
    let dir = loop {
        // RandomState is seeded from the OS's randomness: an unguessable name.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let dir = std::env::temp_dir().join(format!("zoom-ws-emulator-{random:016x}"));
        match builder.create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let path = dir.join("ca.pem");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&path).and_then(|mut f| f.write_all(pem));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok((dir, path))
}
