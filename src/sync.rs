//! The one poison-ignoring mutex lock.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning: the crate's shared state is plain
/// data, consistent between statements, so a panic elsewhere while holding
/// the lock does not make it unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
