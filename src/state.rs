//! [`StateChange`]: what happened to the connection, with timestamps.

use std::time::{Duration, SystemTime};

/// A change of the connection's state, on [`crate::Client::states`].
///
/// Zoom never re-sends events that happened while no connection was open, so
/// every [`StateChange::Reconnected`] marks a window in which events may have
/// been lost: from `down_since` to `at`. An app that must not miss anything
/// backfills that window over the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateChange {
    /// The first connection is up.
    Connected {
        /// When it became ready to deliver events.
        at: SystemTime,
    },
    /// The connection was lost. A reconnect follows unless the client is
    /// closing or the error is fatal.
    Disconnected {
        /// When the loss was noticed.
        at: SystemTime,
        /// Why, in words (never contains a token).
        reason: String,
    },
    /// A new connection is up after a loss.
    Reconnected {
        /// When the new connection became ready to deliver events.
        at: SystemTime,
        /// The last moment the old connection was known to be alive (its last
        /// frame received): events after this may have been lost.
        down_since: SystemTime,
        /// `at - down_since`: the length of the gap.
        gap: Duration,
    },
}
