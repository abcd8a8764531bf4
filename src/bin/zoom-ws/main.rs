//! `zoom-ws`: the crate as a command, for pipelines and for trying Zoom
//! WebSockets without writing code.
//!
//! ```text
//! cargo install zoom-ws --features cli
//! zoom-ws listen | jq .event      # Zoom events as JSON lines
//! zoom-ws emulator                # a local Zoom to listen to
//! zoom-ws jwt                     # a Video SDK JWT
//! zoom-ws webhook                 # the verified webhook receiver
//! ```
//!
//! One file per subcommand; each is also an example (`cargo run --example
//! listen`, ...: examples/*.rs include these files). The command line is
//! parsed by hand (args.rs): a few flags each, no dependency needed.

mod args;
mod emulator;
mod jwt;
mod listen;
mod webhook;
// The logger the examples and some tests share: one home, in examples/.
#[path = "../../../examples/support/stderr_log.rs"]
mod stderr_log;

use std::ffi::OsString;
use std::process::ExitCode;

use args::Command;

/// A subcommand's entry point: its arguments, after its name.
type Main = fn(Vec<OsString>) -> ExitCode;

/// The subcommands, in the order the help lists them.
const COMMANDS: [(&Command, Main); 4] = [
    (&listen::COMMAND, |a| listen::main(a)),
    (&emulator::COMMAND, |a| emulator::main(a)),
    (&jwt::COMMAND, |a| jwt::main(a)),
    (&webhook::COMMAND, |a| webhook::main(a)),
];

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(first) = args.next() else {
        eprint!("{}", help());
        return ExitCode::from(args::USAGE);
    };
    let rest: Vec<OsString> = args.collect();
    let name = first.to_string_lossy();
    match &*name {
        "-h" | "--help" => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        "-V" | "--version" => {
            println!("zoom-ws {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        "help" => {
            // `zoom-ws help listen` is `zoom-ws listen --help`.
            return match rest.first().map(|a| a.to_string_lossy()) {
                None => {
                    print!("{}", help());
                    ExitCode::SUCCESS
                }
                Some(sub) => match COMMANDS.iter().find(|(c, _)| c.name == sub) {
                    Some((c, _)) => {
                        print!("{}", c.help());
                        ExitCode::SUCCESS
                    }
                    None => unknown(&sub),
                },
            };
        }
        _ => {}
    }
    match COMMANDS.iter().find(|(c, _)| c.name == name) {
        Some((_, run)) => run(rest),
        None => unknown(&name),
    }
}

fn unknown(name: &str) -> ExitCode {
    eprintln!("zoom-ws: unknown command {name:?} (see zoom-ws --help)");
    ExitCode::from(args::USAGE)
}

fn help() -> String {
    let mut h = format!(
        "zoom-ws {}: Zoom WebSocket events, webhooks and Video SDK JWTs\n\nUsage: zoom-ws COMMAND [OPTIONS]\n\nCommands:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (c, _) in COMMANDS {
        h.push_str(&format!("  {:9} {}\n", c.name, c.about));
    }
    h.push_str(
        "\n`zoom-ws COMMAND --help` lists each command's environment variables and flags\n(a flag overrides its variable).\n",
    );
    h
}
