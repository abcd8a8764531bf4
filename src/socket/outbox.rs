//! The socket thread's side of the two channels: events by the channel
//! policy, and state changes in a bounded queue that keeps the newest.
//! Neither ever blocks the socket thread.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::Shared;
use crate::event::Event;
use crate::state::StateChange;

/// How many state changes wait for a reader before the oldest are dropped.
pub(crate) const STATES_CAPACITY: usize = 1024;

/// Under the unbounded policy, a WARN when the backlog first reaches each
/// of these many events (and again after it has drained below half).
const BACKLOG_WARNINGS: [usize; 4] = [10_000, 100_000, 1_000_000, 10_000_000];

/// How often (in events) the unbounded backlog is measured.
const BACKLOG_CHECK_EVERY: u64 = 1024;

/// At most this many buffers of dropped events wait to be reused (about
/// 50 KiB of Zoom's usual events, at most 256 KiB: see
/// `event::MAX_RECYCLED`).
const RECYCLED_BUFFERS: usize = 64;

/// At most this many events wait in [`Outbox::stage`] before they are
/// handed over anyway (about 50 µs of parsing at full rate).
pub(crate) const STAGE_MAX: usize = 32;

/// The limits of the event channel, from [`crate::ChannelPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// At most this many events wait (None: unbounded).
    pub events: Option<usize>,
    /// At most this many bytes of event JSON wait (None: unbounded).
    pub bytes: Option<usize>,
}

/// Sends events and state changes for the socket thread.
pub(crate) struct Outbox {
    events: Sender<Event>,
    states: Sender<StateChange>,
    /// A receiver of the states channel, to drop the oldest when it is full.
    states_oldest: Receiver<StateChange>,
    shared: Arc<Shared>,
    limits: Limits,
    /// With a byte limit: the sizes of the events sent and maybe still
    /// queued, oldest first, and their sum.
    sizes: VecDeque<usize>,
    queued_bytes: usize,
    /// The next unbounded backlog warning to give (index into BACKLOG_WARNINGS).
    next_warning: usize,
    /// What each event says it came from ([`Event::subscription_id`]).
    subscription: Option<Arc<str>>,
    /// Events parsed and not handed over yet, oldest first (see `stage`).
    staged: Vec<Event>,
    /// Event buffers handed back by dropped events ([`Outbox::spare`]).
    recycle: (SyncSender<String>, mpsc::Receiver<String>),
}

impl Outbox {
    pub fn new(
        events: Sender<Event>,
        states: Sender<StateChange>,
        states_oldest: Receiver<StateChange>,
        shared: Arc<Shared>,
        limits: Limits,
        subscription: Option<Arc<str>>,
    ) -> Self {
        Outbox {
            events,
            states,
            states_oldest,
            shared,
            limits,
            sizes: VecDeque::new(),
            queued_bytes: 0,
            next_warning: 0,
            subscription,
            staged: Vec::new(),
            recycle: mpsc::sync_channel(RECYCLED_BUFFERS),
        }
    }

    /// A buffer of an event the user has dropped, to decode the next one
    /// into (empty when none came back): the socket thread reuses what it
    /// allocated instead of freeing it on the user's thread.
    pub fn spare(&self) -> Vec<u8> {
        self.recycle
            .1
            .try_recv()
            .map(String::into_bytes)
            .unwrap_or_default()
    }

    /// Keeps an event until [`Outbox::flush`]. The socket thread stages the
    /// events of one read of the socket and hands them over together before
    /// it reads again, so a consumer that keeps up is woken once per read,
    /// not once per event. True when [`STAGE_MAX`] are staged: flush now.
    pub fn stage(&mut self, ev: Event) -> bool {
        self.staged.push(ev);
        self.staged.len() >= STAGE_MAX
    }

    /// Hands over the staged events, in order, by the channel policy.
    pub fn flush(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let mut staged = std::mem::take(&mut self.staged);
        for ev in staged.drain(..) {
            self.deliver(ev);
        }
        self.staged = staged;
    }

    /// Hands one event to the user, by the channel policy: never blocks;
    /// an event over a limit is dropped and counted.
    pub fn deliver(&mut self, mut ev: Event) {
        ev.set_subscription(self.subscription.clone());
        ev.set_recycle(Some(self.recycle.0.clone()));
        if let Some(max) = self.limits.bytes {
            // The channel is FIFO: whatever left it is the oldest sent.
            let queued = self.events.len();
            while self.sizes.len() > queued {
                self.queued_bytes -= self.sizes.pop_front().unwrap_or(0);
            }
            let size = ev.json().len();
            if self.queued_bytes + size > max {
                return self.drop_event(&ev, "byte limit");
            }
            match self.events.try_send(ev) {
                Ok(()) => {
                    self.sizes.push_back(size);
                    self.queued_bytes += size;
                    self.delivered();
                }
                Err(e) => self.failed(e),
            }
            return;
        }
        match self.events.try_send(ev) {
            Ok(()) => self.delivered(),
            Err(e) => self.failed(e),
        }
    }

    fn delivered(&mut self) {
        let n = self.shared.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        if self.limits.events.is_none() && n % BACKLOG_CHECK_EVERY == 0 {
            self.check_backlog();
        }
    }

    /// Under the unbounded policy: WARN once as the backlog crosses each
    /// threshold; re-armed when it drains below half of the last one.
    fn check_backlog(&mut self) {
        let queued = self.events.len();
        if self.next_warning > 0 && queued < BACKLOG_WARNINGS[self.next_warning - 1] / 2 {
            self.next_warning -= 1;
        }
        if let Some(&threshold) = BACKLOG_WARNINGS.get(self.next_warning) {
            if queued >= threshold {
                log::warn!(
                    "zoom-ws: {queued} events wait for the consumer (unbounded channel: memory grows; see ChannelPolicy)"
                );
                self.next_warning += 1;
            }
        }
    }

    fn failed(&self, e: TrySendError<Event>) {
        match e {
            TrySendError::Full(ev) => self.drop_event(&ev, "full"),
            // Only when the client handle is gone; the thread is stopping.
            TrySendError::Disconnected(_) => {}
        }
    }

    fn drop_event(&self, ev: &Event, why: &str) {
        let n = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            log::warn!(
                "zoom-ws: event channel {why}: dropped {:?} ({n} dropped so far)",
                crate::text::truncate(ev.name(), 80)
            );
        }
    }

    /// Publishes a state change. When nobody reads and the queue is full,
    /// the oldest change is dropped (and counted): the newest, such as the
    /// last gap to backfill, are the ones that matter.
    pub fn notify(&self, change: StateChange) {
        let mut change = change;
        loop {
            match self.states.try_send(change) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    change = back;
                    if self.states_oldest.try_recv().is_ok() {
                        let n = self.shared.dropped_states.fetch_add(1, Ordering::Relaxed) + 1;
                        if n.is_power_of_two() {
                            log::debug!(
                                "zoom-ws: state channel full: dropped the oldest change ({n} so far)"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: usize) -> Event {
        let json = format!(r#"{{"event":"e","payload":{{"pad":"{}"}}}}"#, "x".repeat(n));
        Event::from_json(json).unwrap()
    }

    fn outbox(events: Option<usize>, bytes: Option<usize>) -> (Outbox, Receiver<Event>) {
        let (tx, rx) = match events {
            Some(n) => crossbeam_channel::bounded(n),
            None => crossbeam_channel::unbounded(),
        };
        let (stx, srx) = crossbeam_channel::bounded(2);
        let (shared, _) = Shared::new();
        (
            Outbox::new(tx, stx, srx, shared, Limits { events, bytes }, None),
            rx,
        )
    }

    #[test]
    fn byte_limit_drops_the_newest_and_frees_as_the_user_reads() {
        let (mut out, rx) = outbox(None, Some(1000));
        let size = ev(100).json().len();
        for _ in 0..20 {
            out.deliver(ev(100));
        }
        let fit = 1000 / size;
        assert_eq!(rx.len(), fit);
        assert_eq!(
            out.shared.dropped.load(Ordering::Relaxed) as usize,
            20 - fit
        );
        // Reading makes room again.
        for _ in 0..3 {
            rx.try_recv().unwrap();
        }
        for _ in 0..3 {
            out.deliver(ev(100));
        }
        assert_eq!(rx.len(), fit);
        assert!(out.queued_bytes <= 1000);
    }

    #[test]
    fn count_limit_drops_the_newest() {
        let (mut out, rx) = outbox(Some(2), None);
        for n in 1..=4 {
            out.deliver(ev(n));
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(out.shared.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(rx.try_recv().unwrap().json(), ev(1).json());
    }

    #[test]
    fn dropped_events_hand_their_buffers_back() {
        let (mut out, rx) = outbox(None, None);
        assert!(out.spare().is_empty());
        out.deliver(ev(10));
        out.deliver(ev(20));
        let len = ev(10).json().len();
        drop(rx.try_recv().unwrap());
        let buf = out.spare();
        assert!(buf.capacity() >= len, "{}", buf.capacity());
        assert!(out.spare().is_empty());
        // The next frame is decoded into it.
        let text = format!(
            r#"{{"module":"message","content":{}}}"#,
            serde_json::to_string(ev(5).json()).unwrap()
        );
        match crate::wire::parse_into(&text, buf) {
            crate::wire::Inbound::Event(e) => assert_eq!(e, ev(5)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn staged_events_go_out_in_order_on_flush() {
        let (mut out, rx) = outbox(Some(3), None);
        for n in 1..STAGE_MAX {
            assert!(!out.stage(ev(n)));
        }
        assert!(rx.is_empty(), "nothing is handed over before the flush");
        assert!(out.stage(ev(STAGE_MAX)));
        out.flush();
        // The policy applies at the flush: the channel holds 3.
        let got: Vec<usize> = rx.try_iter().map(|e| e.json().len()).collect();
        assert_eq!(
            got,
            [ev(1).json().len(), ev(2).json().len(), ev(3).json().len()]
        );
        assert_eq!(
            out.shared.dropped.load(Ordering::Relaxed) as usize,
            STAGE_MAX - 3
        );
        out.flush();
        assert!(rx.is_empty());
    }

    #[test]
    fn states_keep_the_newest() {
        let (out, _rx) = outbox(None, None);
        let at = std::time::SystemTime::UNIX_EPOCH;
        for n in 0..5u64 {
            out.notify(StateChange::Disconnected {
                at: at + std::time::Duration::from_secs(n),
                reason: n.to_string(),
            });
        }
        let kept: Vec<_> = out
            .states_oldest
            .try_iter()
            .map(|c| match c {
                StateChange::Disconnected { reason, .. } => reason,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kept, ["3", "4"]);
        assert_eq!(out.shared.dropped_states.load(Ordering::Relaxed), 3);
    }
}
