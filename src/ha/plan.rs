//! The leader's decisions as plain data and plain functions, testable
//! without Redis or Zoom: what a renew's outcome means, when to fence
//! itself off, and which gap a new term must record.

use std::time::{Duration, Instant};

use super::entry::{Gap, GapReason};
use super::lease::{Acquired, Taken};

/// How a renew went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renewed {
    /// The lease is still ours, extended.
    Held,
    /// Another node holds it, or nobody (it expired).
    Lost,
    /// Redis did not answer.
    Failed,
}

/// What the leader must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Carry on.
    Continue,
    /// Redis is back: append what was buffered.
    Flush,
    /// Close the Zoom connection now: the lease is someone else's.
    CloseLost,
    /// Close the Zoom connection now: Redis has been unreachable up to the
    /// self-fence deadline, and a standby may take the lease soon.
    CloseFenced,
    /// The lease went to the standby we offered it to: wait until its
    /// connection is up, then close.
    AwaitHanded,
}

/// The leader's view of its term.
#[derive(Debug, Clone)]
pub(crate) struct Leadership {
    /// When the last successful renew (or the acquire) started.
    pub last_ok: Instant,
    /// Close this long after `last_ok` without a successful renew.
    pub fence_after: Duration,
    /// A handover is offered.
    pub handing_over: bool,
    /// The lease is known to be someone else's.
    pub lost: bool,
    /// Closed by the self-fence.
    pub fenced: bool,
}

impl Leadership {
    pub(crate) fn new(acquired_at: Instant, fence_after: Duration) -> Leadership {
        Leadership {
            last_ok: acquired_at,
            fence_after,
            handing_over: false,
            lost: false,
            fenced: false,
        }
    }

    /// The self-fence deadline.
    pub(crate) fn fence_at(&self) -> Instant {
        self.last_ok + self.fence_after
    }

    /// A renew that started at `started` ended with `outcome`, seen at `now`;
    /// `buffered` tells whether events wait for Redis.
    pub(crate) fn on_renew(
        &mut self,
        outcome: Renewed,
        started: Instant,
        now: Instant,
        buffered: bool,
    ) -> Next {
        match outcome {
            Renewed::Held => {
                self.last_ok = self.last_ok.max(started);
                if buffered {
                    Next::Flush
                } else {
                    Next::Continue
                }
            }
            Renewed::Lost => {
                let first = !self.lost;
                self.lost = true;
                match (self.handing_over, first) {
                    (true, _) => Next::AwaitHanded,
                    (false, true) => Next::CloseLost,
                    (false, false) => Next::Continue,
                }
            }
            Renewed::Failed => self.check_fence(now),
        }
    }

    /// [`Next::CloseFenced`] once, when `now` reaches the deadline.
    pub(crate) fn check_fence(&mut self, now: Instant) -> Next {
        if !self.fenced && !self.lost && now >= self.fence_at() {
            self.fenced = true;
            Next::CloseFenced
        } else {
            Next::Continue
        }
    }
}

/// The gap a new term records once its connection is up at `connected_ms`:
/// from the previous holder's last-alive time (less `margin`, for frames
/// that were in flight in its socket) to now. `None` for the very first
/// term of a subscription (nothing was alive before), and for a
/// handover whose connections overlapped (`first_attempt_ok`).
/// `refused_at_ms`: under a handover, when the first attempt was refused
/// (the old leader closed after that).
pub(crate) fn gap_of_new_term(
    acquired: &Acquired,
    was_fenced: bool,
    first_attempt_ok: bool,
    refused_at_ms: Option<i64>,
    connected_ms: i64,
    margin: Duration,
) -> Option<(i64, i64, GapReason)> {
    let margin = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    if acquired.how == Taken::Handover {
        if first_attempt_ok {
            return None;
        }
        let from = refused_at_ms
            .or(acquired.prev_alive_ms)
            .unwrap_or(connected_ms)
            .saturating_sub(margin);
        return Some((from, connected_ms, GapReason::Handover));
    }
    let alive = acquired.prev_alive_ms?;
    let reason = if was_fenced {
        GapReason::RedisOutage
    } else {
        GapReason::Takeover
    };
    Some((
        alive.saturating_sub(margin),
        connected_ms.max(alive),
        reason,
    ))
}

/// Builds the gap entry.
pub(crate) fn gap(
    (from_ms, to_ms, reason): (i64, i64, GapReason),
    epoch: u64,
    node: &str,
    sub: &str,
) -> Gap {
    Gap {
        from_ms,
        to_ms,
        reason,
        epoch,
        node: node.to_owned(),
        subscription: sub.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lease::Term;
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn renews_keep_the_term_and_flush_after_an_outage() {
        let t0 = Instant::now();
        let mut l = Leadership::new(t0, S * 3);
        assert_eq!(
            l.on_renew(Renewed::Held, t0 + S, t0 + S, false),
            Next::Continue
        );
        assert_eq!(l.last_ok, t0 + S);
        // Redis down: nothing until the deadline, then one fence.
        assert_eq!(
            l.on_renew(Renewed::Failed, t0 + S * 2, t0 + S * 3, true),
            Next::Continue
        );
        assert_eq!(l.check_fence(t0 + S * 4), Next::CloseFenced);
        assert_eq!(l.check_fence(t0 + S * 5), Next::Continue);
        // Back: flush.
        assert_eq!(
            l.on_renew(Renewed::Held, t0 + S * 5, t0 + S * 5, true),
            Next::Flush
        );
    }

    #[test]
    fn a_lost_lease_closes_at_once_unless_handed_over() {
        let t0 = Instant::now();
        let mut l = Leadership::new(t0, S);
        assert_eq!(l.on_renew(Renewed::Lost, t0, t0, false), Next::CloseLost);
        assert_eq!(l.on_renew(Renewed::Lost, t0, t0, false), Next::Continue);
        // A lost lease is never fenced on top.
        assert_eq!(l.check_fence(t0 + S * 9), Next::Continue);
        let mut l = Leadership::new(t0, S);
        l.handing_over = true;
        assert_eq!(l.on_renew(Renewed::Lost, t0, t0, false), Next::AwaitHanded);
    }

    fn acquired(how: Taken, prev_alive_ms: Option<i64>) -> Acquired {
        Acquired {
            term: Term {
                epoch: 2,
                token: "2:b".into(),
            },
            how,
            prev_alive_ms,
        }
    }

    #[test]
    fn gaps_of_new_terms() {
        let m = Duration::from_millis(250);
        // (how, previous last-alive, was fenced, first attempt ok,
        // refused at, expected gap); every term connected at 9000.
        let cases = [
            // The first term ever: nothing was lost.
            (Taken::Free, None, false, true, None, None),
            // A takeover: from the old holder's last-alive time.
            (
                Taken::Free,
                Some(5000),
                false,
                true,
                None,
                Some((4750, 9000, GapReason::Takeover)),
            ),
            (
                Taken::Free,
                Some(5000),
                true,
                true,
                None,
                Some((4750, 9000, GapReason::RedisOutage)),
            ),
            // Handover: none if the connections overlapped, else from the refusal.
            (Taken::Handover, Some(5000), false, true, None, None),
            (
                Taken::Handover,
                Some(5000),
                false,
                false,
                Some(8000),
                Some((7750, 9000, GapReason::Handover)),
            ),
        ];
        for (how, alive, fenced, first_ok, refused, want) in cases {
            assert_eq!(
                gap_of_new_term(&acquired(how, alive), fenced, first_ok, refused, 9000, m),
                want,
                "{how:?} alive {alive:?} fenced {fenced} first ok {first_ok}"
            );
        }
    }
}
