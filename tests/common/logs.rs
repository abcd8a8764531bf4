//! Captures the log lines of a whole test binary (tests run in parallel,
//! so a test that searches them sees its neighbours' too), for checking
//! that no secret reaches any log line.

use std::sync::{Mutex, OnceLock};

use log::{LevelFilter, Log, Metadata, Record};

/// The installed logger: every line at `max` and above, except the targets
/// under `skip`.
pub struct Capture {
    max: LevelFilter,
    skip: &'static [&'static str],
    lines: Mutex<Vec<String>>,
}

impl Log for Capture {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.max && !self.skip.iter().any(|t| m.target().starts_with(t))
    }

    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            let line = format!("{} {}: {}", r.level(), r.target(), r.args());
            self.lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(line);
        }
    }

    fn flush(&self) {}
}

impl Capture {
    /// Every line captured so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Installs the capture (once per test binary; later calls return the
/// first one, whatever they ask).
pub fn capture(max: LevelFilter, skip: &'static [&'static str]) -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture {
            max,
            skip,
            lines: Mutex::new(Vec::new()),
        }));
        log::set_logger(capture).expect("no other logger in this test binary");
        log::set_max_level(max);
        capture
    })
}
