//! The connection's policy as plain data and plain functions: the heartbeat
//! schedule with its dead-link deadline, and the reconnect decision. Both
//! take the time (and, for jitter, a random number) as arguments, so they
//! are tested without sockets and without sleeps; the I/O shell around them
//! is `session.rs` and `mod.rs`.

use std::time::{Duration, Instant};

use crate::backoff::Backoff;

/// The dead-link timeout when none is configured: one and a half heartbeat
/// intervals, at most 10 s. A silent server is then replaced within the
/// heartbeat interval plus this: 2.5 s for a 1 s heartbeat (2 s on
/// average), 40 s at Zoom's 30 s. Zoom acks a heartbeat within a round
/// trip, so half an interval more than the interval itself is slack enough.
pub(crate) fn default_dead_link_timeout(heartbeat: Duration) -> Duration {
    (heartbeat + heartbeat / 2).min(Duration::from_secs(10))
}

/// A confirmed connection that lived this long (or got a heartbeat ack) was
/// healthy: the reconnect after it is immediate, whatever came before.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(1);

/// What the session loop should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send a heartbeat, then ask again.
    Heartbeat,
    /// No ack nor any frame within the dead-link timeout of a heartbeat.
    DeadLink,
    /// Read, waking no earlier than `earliest` and no later than `latest`
    /// when nothing arrives.
    Wait {
        /// Any wake-up from here on is on time.
        earliest: Instant,
        /// The deadline itself.
        latest: Instant,
    },
}

/// The heartbeat schedule of one connection.
///
/// A heartbeat is due `interval` after the previous one. Because Linux
/// rounds long socket timeouts up by as much as 1/8, a wake-up by timeout
/// counts from 1/8 of the interval early (so the heartbeat is never late);
/// one driven by a frame waits for the exact time. After a heartbeat, any
/// frame before the dead-link deadline proves the link alive.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    interval: Duration,
    dead_link: Duration,
    next_heartbeat: Instant,
    ack_deadline: Option<Instant>,
}

impl Schedule {
    /// The schedule of a connection confirmed at `now`.
    pub fn new(now: Instant, interval: Duration, dead_link: Duration) -> Self {
        Schedule {
            interval,
            dead_link,
            next_heartbeat: now + interval,
            ack_deadline: None,
        }
    }

    /// A frame arrived: the link is alive.
    pub fn frame(&mut self) {
        self.ack_deadline = None;
    }

    /// A heartbeat went out at `now`.
    pub fn heartbeat_sent(&mut self, now: Instant) {
        self.next_heartbeat = now + self.interval;
        self.ack_deadline.get_or_insert(now + self.dead_link);
    }

    /// What is due at `now`. `woken` is true when the last read ended in
    /// its timeout rather than with a frame.
    pub fn due(&self, now: Instant, woken: bool) -> Due {
        if self.ack_deadline.is_some_and(|d| now >= d) {
            return Due::DeadLink;
        }
        let early = self.next_heartbeat - self.interval / 8;
        if now >= self.next_heartbeat || (woken && now >= early) {
            return Due::Heartbeat;
        }
        match self.ack_deadline {
            Some(d) => Due::Wait {
                earliest: d.min(early),
                latest: d.min(self.next_heartbeat),
            },
            None => Due::Wait {
                earliest: early,
                latest: self.next_heartbeat,
            },
        }
    }
}

/// How a connection attempt or a connection ended, as the reconnect policy
/// sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The attempt never reached a connection Zoom confirmed.
    AttemptFailed,
    /// A confirmed connection ended.
    Ended {
        /// From Zoom's confirmation to the end.
        lived: Duration,
        /// A heartbeat ack arrived on it.
        acked: bool,
        /// The server ended it (a Close frame, a reset, a refusal), as
        /// opposed to a dead link or an oversized frame.
        by_server: bool,
    },
}

/// What to do after an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// How long to wait before the next attempt.
    pub delay: Duration,
    /// This is the first of a run of confirmed connections that the server
    /// ended almost at once: what two clients on one subscription look like.
    pub kicked: bool,
}

/// The reconnect decision.
///
/// - A confirmed connection that lived [`HEALTHY_AFTER`] (or got a
///   heartbeat ack) was healthy: the next attempt is immediate and the
///   failure count starts over.
/// - Failures are attempts that never got confirmed, and confirmed
///   connections that ended sooner. After the first, the retry is
///   immediate too; after the `n`-th (`n >= 2`), the delay is
///   `backoff.delay(n - 2)`: full jitter, capped.
/// - A confirmed connection the server ends almost at once is most likely
///   kicked by another client on the same subscription (Zoom closes the
///   older connection): [`Decision::kicked`] says so once per run, and the
///   growing backoff lets two such clients settle instead of kicking each
///   other many times a second.
#[derive(Debug, Clone)]
pub(crate) struct Reconnect {
    backoff: Backoff,
    failures: u32,
    kicks: u32,
}

impl Reconnect {
    pub fn new(backoff: Backoff) -> Self {
        Reconnect {
            backoff,
            failures: 0,
            kicks: 0,
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The decision after `outcome`. `jitter` is uniform in `[0, 1]`.
    pub fn next(&mut self, outcome: Outcome, jitter: f64) -> Decision {
        let mut kicked = false;
        match outcome {
            Outcome::Ended { lived, acked, .. } if acked || lived >= HEALTHY_AFTER => {
                self.failures = 0;
                self.kicks = 0;
            }
            Outcome::Ended { by_server, .. } => {
                self.failures = self.failures.saturating_add(1);
                if by_server {
                    self.kicks = self.kicks.saturating_add(1);
                    kicked = self.kicks == 1;
                }
            }
            Outcome::AttemptFailed => self.failures = self.failures.saturating_add(1),
        }
        let delay = match self.failures {
            0 | 1 => Duration::ZERO,
            n => self.backoff.bound(n - 2).mul_f64(jitter.clamp(0.0, 1.0)),
        };
        Decision { delay, kicked }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn healthy(lived_ms: u64) -> Outcome {
        Outcome::Ended {
            lived: MS * lived_ms as u32,
            acked: false,
            by_server: true,
        }
    }

    #[test]
    fn dead_link_follows_the_heartbeat() {
        assert_eq!(default_dead_link_timeout(Duration::from_secs(1)), MS * 1500);
        assert_eq!(
            default_dead_link_timeout(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        assert_eq!(default_dead_link_timeout(MS * 100), MS * 150);
    }

    #[test]
    fn heartbeat_on_the_interval_or_early_on_a_timeout_wake_up() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, Duration::from_secs(8), Duration::from_secs(2));
        // A frame at 6.9 s: wait for the window [7 s, 8 s].
        assert_eq!(
            s.due(t0 + MS * 6900, false),
            Due::Wait {
                earliest: t0 + Duration::from_secs(7),
                latest: t0 + Duration::from_secs(8)
            }
        );
        // Woken by the timeout at 7.5 s: on time.
        assert_eq!(s.due(t0 + MS * 7500, true), Due::Heartbeat);
        // Woken by a frame at 7.5 s: not yet.
        assert!(matches!(s.due(t0 + MS * 7500, false), Due::Wait { .. }));
        assert_eq!(s.due(t0 + Duration::from_secs(8), false), Due::Heartbeat);
    }

    #[test]
    fn dead_link_deadline_per_heartbeat() {
        let t0 = Instant::now();
        let hb = Duration::from_secs(1);
        let mut s = Schedule::new(t0, hb, Duration::from_secs(2));
        let sent = t0 + hb;
        s.heartbeat_sent(sent);
        // Waiting for the ack: the next wake-up is the next heartbeat
        // (before the 2 s deadline).
        assert_eq!(
            s.due(sent + MS, false),
            Due::Wait {
                earliest: sent + MS * 875,
                latest: sent + hb
            }
        );
        // The next heartbeat goes out; the deadline stays that of the first.
        s.heartbeat_sent(sent + hb);
        assert_eq!(
            s.due(sent + hb + MS, false),
            Due::Wait {
                earliest: sent + MS * 1875,
                latest: sent + Duration::from_secs(2)
            }
        );
        assert_eq!(s.due(sent + Duration::from_secs(2), true), Due::DeadLink);
        // A frame clears it.
        s.frame();
        assert!(matches!(s.due(sent + hb + MS, false), Due::Wait { .. }));
    }

    #[test]
    fn silent_server_is_declared_dead_within_heartbeat_plus_timeout() {
        for hb_ms in [100u32, 1000, 30_000] {
            let hb = MS * hb_ms;
            let dead = default_dead_link_timeout(hb);
            let t0 = Instant::now();
            let mut s = Schedule::new(t0, hb, dead);
            // Simulate a server that never answers: step from deadline to deadline.
            let mut now = t0;
            let mut woken = false;
            loop {
                match s.due(now, woken) {
                    Due::Heartbeat => s.heartbeat_sent(now),
                    Due::DeadLink => break,
                    Due::Wait { latest, .. } => {
                        now = latest;
                        woken = true;
                    }
                }
                assert!(now - t0 <= hb + dead, "{hb_ms} ms: {:?}", now - t0);
            }
            assert!(now - t0 <= hb + dead);
        }
    }

    #[test]
    fn healthy_connection_means_an_immediate_reconnect() {
        let mut r = Reconnect::new(Backoff::default());
        for _ in 0..5 {
            r.next(Outcome::AttemptFailed, 1.0);
        }
        assert_eq!(r.failures(), 5);
        let d = r.next(healthy(1000), 1.0);
        assert_eq!(d.delay, Duration::ZERO);
        assert_eq!(r.failures(), 0);
        // An ack makes a short connection healthy too.
        r.next(Outcome::AttemptFailed, 1.0);
        let d = r.next(
            Outcome::Ended {
                lived: MS,
                acked: true,
                by_server: true,
            },
            1.0,
        );
        assert_eq!((d.delay, r.failures()), (Duration::ZERO, 0));
    }

    #[test]
    fn backoff_grows_only_across_consecutive_failures() {
        let b = Backoff {
            initial: MS * 100,
            max: Duration::from_secs(1),
        };
        let mut r = Reconnect::new(b);
        let delays: Vec<_> = (0..7)
            .map(|_| r.next(Outcome::AttemptFailed, 1.0).delay)
            .collect();
        assert_eq!(
            delays,
            [0, 100, 200, 400, 800, 1000, 1000].map(|ms| MS * ms)
        );
        // Full jitter: the delay is the bound times the draw.
        assert_eq!(r.next(Outcome::AttemptFailed, 0.25).delay, MS * 250);
        assert_eq!(r.next(healthy(5000), 0.25).delay, Duration::ZERO);
        assert_eq!(r.next(Outcome::AttemptFailed, 1.0).delay, Duration::ZERO);
    }

    #[test]
    fn kick_loop_backs_off_and_is_named_once() {
        let mut r = Reconnect::new(Backoff::default());
        let kicked_early = healthy(20);
        let decisions: Vec<_> = (0..6).map(|_| r.next(kicked_early, 1.0)).collect();
        assert_eq!(
            decisions.iter().filter(|d| d.kicked).count(),
            1,
            "{decisions:?}"
        );
        assert!(decisions[0].kicked);
        assert!(
            decisions[5].delay >= Duration::from_secs(2),
            "{decisions:?}"
        );
        // A dead link is no kick, but an early one is still a failure.
        let mut r = Reconnect::new(Backoff::default());
        let d = r.next(
            Outcome::Ended {
                lived: MS,
                acked: false,
                by_server: false,
            },
            1.0,
        );
        assert!(!d.kicked && r.failures() == 1);
    }

    #[test]
    fn two_kicking_clients_settle() {
        // Two clients on one subscription, where each new connection closes
        // the other: count connections over 30 s of simulated time.
        let b = Backoff::default();
        let mut a = Reconnect::new(b);
        let mut c = Reconnect::new(b);
        let mut t = Duration::ZERO;
        let mut holder_since = Duration::ZERO;
        let mut upgrades = 1;
        // `c` has just been kicked by `a`.
        let mut next_c = t + c.next(healthy(0), 0.5).delay;
        let mut next_a = Duration::MAX;
        while t < Duration::from_secs(30) {
            t = next_c.min(next_a);
            upgrades += 1;
            let lived = t - holder_since;
            holder_since = t;
            if t == next_c {
                // c connects and kicks a.
                next_c = Duration::MAX;
                next_a = t + a.next(healthy(lived.as_millis() as u64), 0.5).delay + MS;
            } else {
                next_a = Duration::MAX;
                next_c = t + c.next(healthy(lived.as_millis() as u64), 0.5).delay + MS;
            }
        }
        assert!(upgrades < 40, "{upgrades} upgrades in 30 s");
    }
}
