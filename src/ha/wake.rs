//! `Waker`: a standby's wake-up on `PUBLISH` (a release or a handover
//! offer), so that it need not wait for its next poll. The poll stays the
//! safety net: a lost message (Redis restarting, the subscription
//! reconnecting) only costs one poll interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::keys::Keys;
use super::redis_link::RedisConfig;

/// How long one wait for a message blocks: also how long a stop waits
/// for the thread.
const READ_TIMEOUT: Duration = Duration::from_millis(300);

/// The channel a subscription's lease changes are announced on.
pub(crate) fn channel(keys: &Keys, sub: &str) -> String {
    format!("{}:wake", keys.lease(sub))
}

/// Announces a lease change (best effort: the poll is the safety net).
pub(crate) fn publish(
    conn: &mut redis::Connection,
    keys: &Keys,
    sub: &str,
) -> redis::RedisResult<i64> {
    redis::cmd("PUBLISH")
        .arg(channel(keys, sub))
        .arg("1")
        .query(conn)
}

/// A thread subscribed to the channel, on its own connection.
pub(crate) struct Waker {
    rx: Receiver<()>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Waker {
    pub(crate) fn start(config: RedisConfig, channel: String) -> Waker {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("zoom-ws-relay-wake".into())
            .spawn(move || listen(&config, &channel, &tx, &flag))
            .map_err(|e| log::warn!("zoom-ws ha: no wake-up thread ({e}); polling only"))
            .ok();
        Waker { rx, stop, thread }
    }

    /// Ready when a lease change was announced.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.rx
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listen(config: &RedisConfig, channel: &str, tx: &Sender<()>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let mut conn = match config.connect(READ_TIMEOUT) {
            Ok(c) => c,
            Err(_) => {
                // Redis away: the relay's own calls log it. Try again soon.
                std::thread::sleep(READ_TIMEOUT); // a retry pause, bounded
                continue;
            }
        };
        let mut pubsub = conn.as_pubsub();
        if pubsub.subscribe(channel).is_err() {
            continue;
        }
        while !stop.load(Ordering::SeqCst) {
            match pubsub.get_message() {
                Ok(_) => {
                    let _ = tx.try_send(());
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
    }
}
