#![allow(dead_code)] // each subcommand (and each example alias) uses part of it
//! The command line, by hand: a subcommand's options are a table
//! ([`Opt`]) from which both the parser and `--help` are made, so the help
//! always lists what is accepted. An option may stand for an environment
//! variable: the flag wins when both are given ([`Args::value`]).
//!
//! Accepted forms: `--name value`, `--name=value`, `--switch`, `-h` and
//! `--help`, and `--` to end the options. Anything else is a usage error
//! (exit status 2).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Exit status of a usage error (an unknown option, a missing value).
pub const USAGE: u8 = 2;

/// One option of a subcommand.
pub struct Opt {
    /// The flag without its dashes: `subscription-id`. Empty: an
    /// environment variable with no flag (secrets: a flag would show them
    /// to every user of the machine in `ps`).
    pub flag: &'static str,
    /// The environment variable the flag overrides, if any.
    pub env: Option<&'static str>,
    /// What the value is, for the help (`ID`); `None` for a switch.
    pub value: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

/// A subcommand: its name, what it does, its options, and more help.
pub struct Command {
    pub name: &'static str,
    /// One line: what it does.
    pub about: &'static str,
    /// Positional part of the usage line, after the options; empty: the
    /// command takes no positional argument.
    pub usage: &'static str,
    pub opts: &'static [Opt],
    /// Paragraphs after the options (the contract: what goes where, exit
    /// statuses).
    pub notes: &'static str,
}

/// What the command line asked for.
pub enum Parsed {
    /// Run with these arguments.
    Run(Args),
    /// `--help`: print the help and exit 0.
    Help,
}

/// The options given on the command line.
pub struct Args {
    command: &'static Command,
    given: Vec<(&'static str, Option<String>)>,
    /// Arguments that are not options.
    pub positional: Vec<String>,
}

impl Command {
    /// Parses `args` (without the program and subcommand names).
    pub fn parse(
        &'static self,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Parsed, String> {
        let mut out = Args {
            command: self,
            given: Vec::new(),
            positional: Vec::new(),
        };
        let mut args = args.into_iter();
        let mut options_ended = false;
        while let Some(arg) = args.next() {
            let arg = arg
                .into_string()
                .map_err(|a| format!("an argument is not UTF-8: {a:?}"))?;
            if options_ended || !arg.starts_with('-') || arg == "-" {
                if self.usage.is_empty() {
                    return Err(format!("unexpected argument {arg:?}"));
                }
                out.positional.push(arg);
                continue;
            }
            if arg == "--" {
                options_ended = true;
                continue;
            }
            if arg == "-h" || arg == "--help" {
                return Ok(Parsed::Help);
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("unknown option {arg:?}"));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let opt = self
                .opts
                .iter()
                .find(|o| !o.flag.is_empty() && o.flag == name)
                .ok_or_else(|| format!("unknown option --{name}"))?;
            let value = match (opt.value, inline) {
                (None, None) => None,
                (None, Some(_)) => return Err(format!("--{name} takes no value")),
                (Some(_), Some(v)) => Some(v),
                (Some(what), None) => match args.next().map(OsString::into_string) {
                    Some(Ok(v)) => Some(v),
                    Some(Err(v)) => {
                        return Err(format!("the value of --{name} is not UTF-8: {v:?}"))
                    }
                    None => return Err(format!("--{name} needs a value ({what})")),
                },
            };
            out.given.push((opt.flag, value));
        }
        Ok(Parsed::Run(out))
    }

    /// The `--help` text.
    pub fn help(&self) -> String {
        let mut h = format!(
            "zoom-ws {}: {}\n\nUsage: zoom-ws {}",
            self.name, self.about, self.name
        );
        if self.opts.iter().any(|o| !o.flag.is_empty()) {
            h.push_str(" [OPTIONS]");
        }
        if !self.usage.is_empty() {
            let _ = write!(h, " {}", self.usage);
        }
        h.push_str("\n\nOptions (a flag overrides its environment variable):\n");
        let rows: Vec<(String, &Opt)> = self
            .opts
            .iter()
            .map(|o| {
                let mut left = String::new();
                if !o.flag.is_empty() {
                    let _ = write!(left, "--{}", o.flag);
                    if let Some(v) = o.value {
                        let _ = write!(left, " {v}");
                    }
                }
                if let Some(env) = o.env {
                    if !left.is_empty() {
                        left.push_str(", ");
                    }
                    let _ = match (o.flag.is_empty(), o.value) {
                        (true, Some(v)) => write!(left, "{env}={v}"),
                        _ => write!(left, "{env}"),
                    };
                }
                (left, o)
            })
            .chain([(
                "-h, --help".to_owned(),
                &Opt {
                    flag: "",
                    env: None,
                    value: None,
                    help: "this help",
                },
            )])
            .collect();
        let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (left, opt) in rows {
            let _ = writeln!(h, "  {left:width$}  {}", opt.help);
        }
        if !self.notes.is_empty() {
            h.push('\n');
            h.push_str(self.notes.trim_end());
            h.push('\n');
        }
        h
    }

    /// Parses, or prints the help (exit 0) or a usage error (exit 2) and
    /// returns the exit code to end with.
    pub fn parse_or_exit(
        &'static self,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Args, ExitCode> {
        match self.parse(args) {
            Ok(Parsed::Run(args)) => Ok(args),
            Ok(Parsed::Help) => {
                print!("{}", self.help());
                Err(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!(
                    "zoom-ws {}: {e} (see zoom-ws {} --help)",
                    self.name, self.name
                );
                Err(ExitCode::from(USAGE))
            }
        }
    }
}

impl Args {
    /// The value of `--flag` if given (the last one wins), else of its
    /// environment variable; empty or blank counts as unset.
    pub fn value(&self, flag: &str) -> Option<String> {
        let given = self
            .given
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .and_then(|(_, v)| v.clone());
        let env = || {
            let opt = self.command.opts.iter().find(|o| o.flag == flag)?;
            std::env::var(opt.env?).ok()
        };
        given.or_else(env).filter(|v| !v.trim().is_empty())
    }

    /// The value of environment variable `name`, or of the flag that stands
    /// for it if given: for lookups by variable name, such as
    /// `Credentials::from_lookup`.
    pub fn lookup(&self, name: &str) -> Option<String> {
        let opt = self
            .command
            .opts
            .iter()
            .find(|o| o.env == Some(name) && !o.flag.is_empty());
        match opt {
            Some(opt) => self.value(opt.flag),
            None => std::env::var(name).ok().filter(|v| !v.trim().is_empty()),
        }
    }

    /// True if switch `--flag` was given.
    pub fn on(&self, flag: &str) -> bool {
        self.given.iter().any(|(f, _)| *f == flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static CMD: Command = Command {
        name: "t",
        about: "a test",
        usage: "[FILE]...",
        opts: &[
            Opt {
                flag: "url",
                env: Some("ZOOM_WS_TEST_ARGS_URL"),
                value: Some("URL"),
                help: "where",
            },
            Opt {
                flag: "plain",
                env: None,
                value: None,
                help: "no TLS",
            },
            Opt {
                flag: "",
                env: Some("ZOOM_WS_TEST_ARGS_SECRET"),
                value: Some("SECRET"),
                help: "env only",
            },
        ],
        notes: "",
    };

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        CMD.parse(args.iter().map(OsString::from))
    }

    fn run(args: &[&str]) -> Args {
        match parse(args) {
            Ok(Parsed::Run(a)) => a,
            Ok(Parsed::Help) => panic!("help"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn forms_and_errors() {
        let a = run(&["--url", "a", "--plain", "x", "--url=b", "--", "--plain"]);
        assert_eq!(a.value("url").as_deref(), Some("b"), "the last one wins");
        assert!(a.on("plain"));
        assert_eq!(a.positional, ["x", "--plain"]);
        assert!(matches!(parse(&["-h"]), Ok(Parsed::Help)));
        assert!(matches!(parse(&["--url", "a", "--help"]), Ok(Parsed::Help)));
        for (bad, says) in [
            (&["--nope"][..], "unknown option --nope"),
            (&["-x"], "unknown option \"-x\""),
            (&["--url"], "needs a value"),
            (&["--plain=1"], "takes no value"),
            // An environment-only option has no flag.
            (&["--=s"], "unknown option --"),
        ] {
            match parse(bad) {
                Err(e) => assert!(e.contains(says), "{bad:?}: {e}"),
                Ok(_) => panic!("{bad:?} accepted"),
            }
        }
    }

    #[test]
    fn flags_override_the_environment() {
        std::env::set_var("ZOOM_WS_TEST_ARGS_URL", "from-env");
        std::env::set_var("ZOOM_WS_TEST_ARGS_SECRET", "s");
        assert_eq!(run(&[]).value("url").as_deref(), Some("from-env"));
        let a = run(&["--url", "from-flag"]);
        assert_eq!(a.value("url").as_deref(), Some("from-flag"));
        assert_eq!(
            a.lookup("ZOOM_WS_TEST_ARGS_URL").as_deref(),
            Some("from-flag")
        );
        assert_eq!(a.lookup("ZOOM_WS_TEST_ARGS_SECRET").as_deref(), Some("s"));
        assert_eq!(run(&["--url", " "]).value("url"), None, "blank is unset");
    }

    #[test]
    fn help_lists_flags_and_variables() {
        let h = CMD.help();
        for part in [
            "--url URL, ZOOM_WS_TEST_ARGS_URL",
            "--plain",
            "ZOOM_WS_TEST_ARGS_SECRET=SECRET",
            "-h, --help",
        ] {
            assert!(h.contains(part), "{part:?} in {h}");
        }
    }
}
