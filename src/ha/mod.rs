//! High availability and fan-out on Redis (cargo feature `redis`).
//!
//! Zoom delivers a subscription's events only while a connection is open,
//! never re-sends what it missed, and (by third-party accounts) keeps one
//! connection per subscription. This module lets several processes share
//! that one connection safely and many consumers read what it delivers:
//!
//! - [`Relay`]: run one per machine. The one holding the subscription's
//!   *lease* connects to Zoom and appends every event to the feed's Redis
//!   stream; the others stand by, warm, and take over when the lease
//!   expires (crash) or is handed over (SIGTERM, make-before-break).
//! - Every event is appended once per distinct content: the dedup id is
//!   the SHA-256 of its canonical JSON ([`event_id`]), checked and
//!   appended in one Lua call. Overlapping relays (two sockets during a
//!   handover, two subscriptions with the same events) cost nothing.
//! - Windows in which events may have been lost are entries too
//!   ([`Gap`]), so a consumer can backfill them over the REST API.
//! - [`GroupReader`]: a consumer-group member with explicit acks (at least
//!   once); [`TailReader`]: follows new entries.
//!
//! Everything is blocking and runtime-free, on the `redis` crate without
//! its async features. Keys: see [`Keys`]. README's section "High
//! availability and fan-out (Redis)" has the picture, the guarantees and
//! the failure table.

use std::time::SystemTime;

mod append;
mod buffer;
mod consumer;
mod dedup;
mod entry;
mod keys;
mod lease;
mod plan;
mod redis_link;
mod relay;
mod wake;

pub use append::Retention;
pub use consumer::{Delivery, GroupOptions, GroupReader, GroupStart, TailReader};
pub use dedup::{canonical_json, event_id, id_of};
pub use entry::{Entry, EventEntry, Gap, GapReason, Leader};
pub use keys::Keys;
pub use redis_link::RedisConfig;
pub use relay::{Relay, RelayBuilder, RelayStatus, Role};

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    ms_of(SystemTime::now())
}

/// Milliseconds since the epoch of a `SystemTime` (0 before 1970).
pub(crate) fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
