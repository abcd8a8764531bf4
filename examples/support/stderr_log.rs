#![allow(dead_code)] // each example uses part of it
//! A tiny `log` backend for the examples: writes to stderr, level from
//! RUST_LOG (`error`, `warn`, `info`, `debug`, `trace`, optionally per target
//! as `zoom_ws=debug,warn`). Default: `info` (or as the example says) for
//! zoom_ws, `warn` for the rest.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLog {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

impl StderrLog {
    fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .filter(|(t, _)| target.starts_with(t.as_str()))
            .max_by_key(|(t, _)| t.len())
            .map(|(_, l)| *l)
            .unwrap_or(self.default)
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
