//! `Buffer`: events a relay could not append yet (Redis unreachable),
//! bounded, oldest first; what did not fit is counted and its time range
//! kept, so that it can be recorded as a gap once Redis is back.

use std::collections::VecDeque;

use super::entry::Entry;

/// Bounded, first in first out.
#[derive(Debug)]
pub(crate) struct Buffer {
    entries: VecDeque<Entry>,
    capacity: usize,
    /// Events that did not fit: how many, and their first and last
    /// receive times (ms).
    dropped: Option<(u64, i64, i64)>,
    /// Events dropped since the start.
    dropped_total: u64,
}

impl Buffer {
    pub(crate) fn new(capacity: usize) -> Buffer {
        Buffer {
            entries: VecDeque::new(),
            capacity,
            dropped: None,
            dropped_total: 0,
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.dropped.is_none()
    }

    /// Keeps `entry` if there is room; else counts it as dropped (the
    /// newest is dropped: what is kept stays contiguous in time).
    /// `recv_ms` is when it was received. False if dropped.
    pub(crate) fn push(&mut self, entry: Entry, recv_ms: i64) -> bool {
        if self.entries.len() < self.capacity {
            self.entries.push_back(entry);
            return true;
        }
        self.dropped_total += 1;
        self.dropped = Some(match self.dropped {
            None => (1, recv_ms, recv_ms),
            Some((n, from, to)) => (n + 1, from.min(recv_ms), to.max(recv_ms)),
        });
        false
    }

    /// Events dropped since the start.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Up to `n` of the oldest entries, left in place (remove them with
    /// [`Buffer::consume`] once appended).
    pub(crate) fn front(&self, n: usize) -> Vec<Entry> {
        self.entries.iter().take(n).cloned().collect()
    }

    /// Removes the `n` oldest entries.
    pub(crate) fn consume(&mut self, n: usize) {
        self.entries.drain(..n.min(self.entries.len()));
    }

    /// Takes the record of dropped events: (count, first ms, last ms).
    pub(crate) fn take_dropped(&mut self) -> Option<(u64, i64, i64)> {
        self.dropped.take()
    }

    /// Puts a dropped record back (its gap entry could not be appended).
    pub(crate) fn restore_dropped(&mut self, dropped: (u64, i64, i64)) {
        let (n, from, to) = dropped;
        self.dropped = Some(match self.dropped {
            None => dropped,
            Some((m, f, t)) => (n + m, from.min(f), to.max(t)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo_counts_what_does_not_fit() {
        let mut b = Buffer::new(2);
        assert!(b.is_empty());
        assert!(b.push(Entry::Other("a".into()), 1));
        assert!(b.push(Entry::Other("b".into()), 2));
        assert!(!b.push(Entry::Other("c".into()), 3));
        assert!(!b.push(Entry::Other("d".into()), 5));
        assert_eq!(b.queued(), 2);
        assert_eq!(
            b.front(5),
            [Entry::Other("a".into()), Entry::Other("b".into())]
        );
        b.consume(1);
        assert_eq!(b.front(5), [Entry::Other("b".into())]);
        assert_eq!(b.take_dropped(), Some((2, 3, 5)));
        b.restore_dropped((1, 2, 9));
        assert_eq!(b.take_dropped(), Some((1, 2, 9)));
        b.consume(9);
        assert!(b.is_empty());
    }
}
