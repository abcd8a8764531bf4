//! What the integration tests share: the bounds of every wait and the
//! watchdog, a client builder for the emulator, a seeded random number
//! generator, a scripted HTTP(S) server ([`http`]) and a log capture
//! ([`logs`]). Each test file takes it with `mod common;` and uses a part.
#![allow(dead_code)] // each test file uses part of it

pub mod http;
pub mod logs;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use zoom_ws::mock::MockZoom;
use zoom_ws::{Client, ClientBuilder};

/// Generous bound of one wait for anything that should happen "at once"
/// (the machine is shared and noisy).
pub const WAIT: Duration = Duration::from_secs(10);

/// Bound of a whole test run under [`watchdog`].
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Runs `test` on its own thread and returns what it returns; a panic in
/// it fails the caller with the same panic, and a test still running after
/// [`WATCHDOG`] fails it as hung: a hang costs seconds, not the CI's
/// timeout.
pub fn watchdog<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let out = test();
        let _ = done_tx.send(());
        out
    });
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(()) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(_) => unreachable!("the test ended without reporting"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("test hung for more than {WATCHDOG:?}"),
    }
}

/// A client builder for `zoom`: its credentials, URL, subscription and TLS.
pub fn builder(zoom: &MockZoom) -> ClientBuilder {
    Client::builder()
        .credentials(zoom.credentials())
        .url(zoom.ws_url())
        .subscription_id(zoom.subscription_id())
        .tls(zoom.tls_config())
}

/// A participant-joined event whose `event_ts` and object id are `seq`.
pub fn event(seq: u64) -> String {
    format!(
        r#"{{"event":"meeting.participant_joined","event_ts":{seq},"payload":{{"account_id":"A","object":{{"id":{seq},"participant":{{"user_name":"p{seq}"}}}}}}}}"#
    )
}

/// A tiny deterministic PRNG (xorshift64): property tests without a
/// dependency, reproducible from the seed (which must not be 0).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform enough in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`.
    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len() as u64) as usize]
    }
}
