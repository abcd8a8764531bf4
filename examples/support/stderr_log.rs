#![allow(dead_code)] // each user (the command, the examples) uses part of it
//! A tiny `log` backend for the `zoom-ws` command and the examples: writes
//! to stderr, level from RUST_LOG (`error`, `warn`, `info`, `debug`,
//! `trace`, optionally per target as `zoom_ws=debug,warn`). Default: `info`
//! (or as the caller says) for zoom_ws, `warn` for the rest. A target spec
//! applies to the target and the modules under it (`zoom_ws` covers
//! `zoom_ws::rest`, not `zoom_wsx`).
//!
//! TRACE of the dependencies that log raw wire bytes is never let through
//! by accident: the targets `ureq`, `ureq_proto` (hex dumps of the token
//! request, Basic credential included, and of the token answer),
//! `tungstenite` (whole frames, a recording's `download_token`) and `rustls`
//! are clamped to DEBUG unless RUST_LOG names that target itself:
//! `RUST_LOG=trace` gives TRACE for everything else, `RUST_LOG=trace,ureq_proto=trace`
//! opens `ureq_proto` too (and only it).

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Targets that log secrets at TRACE: clamped to DEBUG unless named.
const WIRE_LEVEL_TARGETS: [&str; 4] = ["ureq", "ureq_proto", "tungstenite", "rustls"];

struct StderrLog {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

/// True if `target` is `module` or a module under it.
fn is_under(target: &str, module: &str) -> bool {
    target
        .strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

impl StderrLog {
    fn level_for(&self, target: &str) -> LevelFilter {
        let spec = self
            .targets
            .iter()
            .filter(|(t, _)| is_under(target, t))
            .max_by_key(|(t, _)| t.len());
        let level = spec.map_or(self.default, |(_, l)| *l);
        let named = |root: &str| spec.is_some_and(|(t, _)| is_under(t, root));
        match WIRE_LEVEL_TARGETS
            .iter()
            .find(|root| is_under(target, root))
        {
            Some(root) if !named(root) => level.min(LevelFilter::Debug),
            _ => level,
        }
    }
}

impl Log for StderrLog {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level_for(m.target())
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let tag = match r.level() {
                Level::Error => "ERROR",
                Level::Warn => "WARN ",
                Level::Info => "INFO ",
                Level::Debug => "DEBUG",
                Level::Trace => "TRACE",
            };
            eprintln!("{tag} {}: {}", r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

/// Installs the logger. Call once, first thing in `main`.
pub fn init() {
    init_with(LevelFilter::Info);
}

/// Like [`init`], with another default level for zoom_ws.
pub fn init_with(zoom_ws_default: LevelFilter) {
    let spec = std::env::var("RUST_LOG").unwrap_or_default();
    let mut logger = StderrLog {
        default: LevelFilter::Warn,
        targets: vec![("zoom_ws".into(), zoom_ws_default)],
    };
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((target, level)) => {
                if let Ok(l) = level.parse() {
                    logger.targets.push((target.to_string(), l));
                }
            }
            None => {
                if let Ok(l) = part.parse() {
                    logger.default = l;
                    logger.targets.retain(|(t, _)| t != "zoom_ws");
                }
            }
        }
    }
    let max = logger
        .targets
        .iter()
        .map(|(_, l)| *l)
        .chain([logger.default])
        .max()
        .unwrap_or(LevelFilter::Warn);
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logger(default: LevelFilter, targets: &[(&str, LevelFilter)]) -> StderrLog {
        StderrLog {
            default,
            targets: targets.iter().map(|(t, l)| (t.to_string(), *l)).collect(),
        }
    }

    #[test]
    fn wire_targets_need_naming_for_trace() {
        use LevelFilter::{Debug, Info, Trace, Warn};
        let all = logger(Trace, &[]);
        assert_eq!(all.level_for("zoom_ws::socket"), Trace);
        assert_eq!(all.level_for("ureq_proto::client"), Debug);
        assert_eq!(all.level_for("ureq::unversioned::transport"), Debug);
        assert_eq!(all.level_for("tungstenite::protocol"), Debug);
        assert_eq!(all.level_for("rustls::conn"), Debug);
        assert_eq!(all.level_for("ureqx"), Trace);
        // Named: opened, and only that one.
        let named = logger(
            Trace,
            &[("ureq_proto", Trace), ("tungstenite::protocol", Trace)],
        );
        assert_eq!(named.level_for("ureq_proto::client"), Trace);
        assert_eq!(named.level_for("ureq::tls"), Debug);
        assert_eq!(named.level_for("tungstenite::protocol::frame"), Trace);
        assert_eq!(named.level_for("tungstenite::handshake"), Debug);
        // `ureq` does not name `ureq_proto`.
        let ureq = logger(Warn, &[("ureq", Trace)]);
        assert_eq!(ureq.level_for("ureq::pool"), Trace);
        assert_eq!(ureq.level_for("ureq_proto::client"), Warn);
        // Levels below TRACE are as asked.
        assert_eq!(logger(Info, &[]).level_for("ureq_proto"), Info);
        assert_eq!(
            logger(Warn, &[("zoom_ws", Debug)]).level_for("zoom_ws::rest"),
            Debug
        );
    }
}
