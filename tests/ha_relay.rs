//! Relays against the Zoom emulator and a real redis-server: one leader
//! among several in each multi-connection mode, takeover after a crash
//! and after a freeze, graceful handover, Redis restarts and outages.
//!
//! The invariant checked everywhere: every event the emulator sent is in
//! the stream exactly once (by content), or inside a recorded gap.
//! Settings are scaled down (lease 1.5 s) so the suite stays fast.

mod ha_support;

use std::sync::Arc;
use std::time::Duration;

use ha_support::{send, verdict, wait_for_events, watchdog, RedisServer, Sender, Sent, WAIT};
use zoom_ws::ha::{Entry, GapReason, Relay, RelayStatus, Role};
use zoom_ws::mock::{MockZoom, MultiConnection};
use zoom_ws::{Backoff, Client};

const MODES: [MultiConnection; 4] = [
    MultiConnection::Kick,
    MultiConnection::Both,
    MultiConnection::Split,
    MultiConnection::Refuse,
];

fn zoom(mode: MultiConnection) -> MockZoom {
    MockZoom::builder().multi_connection(mode).start().unwrap()
}

/// A relay with the test's short settings.
fn relay(redis: &RedisServer, zoom: &MockZoom, node: &str) -> Relay {
    relay_polling(redis, zoom, node, Duration::from_millis(50))
}

fn relay_polling(redis: &RedisServer, zoom: &MockZoom, node: &str, poll: Duration) -> Relay {
    Relay::builder(redis.config(), zoom.credentials(), zoom.subscription_id())
        .node(node)
        .client(
            Client::builder()
                .url(zoom.ws_url())
                .connect_timeout(Duration::from_secs(3))
                .first_connect_timeout(Duration::from_secs(3))
                .backoff(Backoff::new(
                    Duration::from_millis(20),
                    Duration::from_millis(300),
                )),
        )
        .lease_ttl(Duration::from_millis(1500))
        .renew_every(Duration::from_millis(200))
        .self_fence_after(Duration::from_millis(1000))
        .poll_every(poll)
        .handover_wait(Duration::from_secs(5))
        .start()
        .unwrap()
}

fn feed(zoom: &MockZoom) -> String {
    zoom.subscription_id().to_owned()
}

/// Waits until exactly one of `relays` leads; returns its index.
fn the_leader(relays: &[Option<Relay>]) -> usize {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let leaders: Vec<usize> = relays
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.status().role == Role::Leader))
            .map(|(i, _)| i)
            .collect();
        if leaders.len() == 1 {
            return leaders[0];
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no single leader: {:?}",
            relays
                .iter()
                .flatten()
                .map(|r| r.status())
                .collect::<Vec<RelayStatus>>()
        );
        // Each relay's status has its own condvar; wait on the first one
        // briefly rather than spin.
        if let Some(r) = relays.iter().flatten().next() {
            r.wait_until(Duration::from_millis(50), |s| s.role == Role::Leader);
        }
    }
}

/// Stops every relay still running; each must stop cleanly.
fn stop_all(relays: Vec<Option<Relay>>) {
    for r in relays.into_iter().flatten() {
        r.stop().unwrap();
    }
}

fn received(sent: &[Sent]) -> usize {
    sent.iter().filter(|s| s.taken > 0).count()
}

/// Waits until every event a socket took is in the stream (blocking
/// reads), then judges the stream; prints the relays' state if something
/// is lost.
fn settle(
    redis: &RedisServer,
    feed: &str,
    sent: &[Sent],
    relays: &[Option<Relay>],
) -> ha_support::Verdict {
    let deadline = std::time::Instant::now() + WAIT;
    let mut entries = Vec::new();
    let mut reader =
        zoom_ws::ha::TailReader::after(redis.config(), feed, "0", Duration::from_millis(100))
            .unwrap();
    loop {
        // Everything there is now, then a verdict.
        loop {
            match reader.read() {
                Ok(Some(d)) => entries.push(d.entry),
                Ok(None) => break,
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let v = verdict(sent, &entries);
        if v.lost.is_empty() || std::time::Instant::now() > deadline {
            if !v.lost.is_empty() {
                eprintln!(
                    "relays: {:?}",
                    relays
                        .iter()
                        .flatten()
                        .map(|r| r.status())
                        .collect::<Vec<_>>()
                );
            }
            return v;
        }
    }
}

/// Sends `n` events now, one by one, and returns them.
fn burst(zoom: &MockZoom, first: u64, n: u64) -> Vec<Sent> {
    (first..first + n).map(|seq| send(zoom, seq)).collect()
}

#[test]
fn one_leader_among_three_and_a_crash_takeover_in_every_mode() {
    let _w = watchdog(240);
    for mode in MODES {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let zoom = Arc::new(zoom(mode));
        let feed = feed(&zoom);
        let mut relays: Vec<Option<Relay>> = ["a", "b", "c"]
            .iter()
            .map(|n| Some(relay(&redis, &zoom, &format!("{n}{mode:?}"))))
            .collect();
        let leader = the_leader(&relays);
        assert!(zoom.wait_for_live_connections(1, WAIT));
        let mut sent = burst(&zoom, 0, 30);
        assert_eq!(
            received(&sent),
            30,
            "{mode:?}: the leader's socket took them"
        );
        let entries = wait_for_events(&redis, &feed, 30, WAIT);
        verdict(&sent, &entries).assert_exactly_once_or_in_a_gap();
        assert_eq!(zoom.live_connections(), 1, "{mode:?}: one Zoom connection");

        // Crash the leader while events keep coming.
        let sender = Sender::start(zoom.clone(), 1000, Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(100)); // some events before the crash
        relays[leader].take().unwrap().__kill();
        let next = the_leader(&relays);
        assert_ne!(next, leader);
        relays[next]
            .as_ref()
            .unwrap()
            .wait_until(WAIT, |s| s.appended > 20);
        sent.extend(sender.stop());
        let v = settle(&redis, &feed, &sent, &relays);
        assert!(
            v.gaps.iter().any(|g| g.reason == GapReason::Takeover),
            "{mode:?}: the takeover is recorded: {:?}",
            v.gaps
        );
        if mode == MultiConnection::Kick {
            assert!(zoom.wait_for_live_connections(1, WAIT));
            assert_eq!(
                zoom.live_connections(),
                1,
                "at most one Zoom connection after takeover"
            );
        }
        stop_all(relays);
    }
}

#[test]
fn a_frozen_leader_is_replaced_and_does_not_come_back() {
    let _w = watchdog(120);
    for mode in [MultiConnection::Kick, MultiConnection::Both] {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let zoom = Arc::new(zoom(mode));
        let feed = feed(&zoom);
        let relays: Vec<Option<Relay>> = vec![
            Some(relay(&redis, &zoom, "a")),
            Some(relay(&redis, &zoom, "b")),
        ];
        let leader = the_leader(&relays);
        let other = 1 - leader;
        let mut sent = burst(&zoom, 0, 10);
        wait_for_events(&redis, &feed, 10, WAIT);

        // Frozen: no renew, no append; its socket thread still reads.
        relays[leader].as_ref().unwrap().__freeze(true);
        let sender = Sender::start(zoom.clone(), 1000, Duration::from_millis(5));
        assert!(relays[other]
            .as_ref()
            .unwrap()
            .wait_until(WAIT, |s| s.role == Role::Leader && s.appended > 20));
        // Thawed: it finds the lease gone, closes, appends what it had
        // (duplicates under Both), and stands by.
        relays[leader].as_ref().unwrap().__freeze(false);
        assert!(relays[leader]
            .as_ref()
            .unwrap()
            .wait_until(WAIT, |s| s.role == Role::Standby));
        sent.extend(sender.stop());
        let v = settle(&redis, &feed, &sent, &relays);
        v.assert_exactly_once_or_in_a_gap();
        assert!(zoom.wait_for_live_connections(1, WAIT), "{mode:?}");
        // No kick loop: the thawed leader never reconnected.
        assert_eq!(
            zoom.connection_count(),
            2,
            "{mode:?}: {:?}",
            zoom.connections()
        );
        stop_all(relays);
    }
}

#[test]
fn a_graceful_handover_loses_nothing() {
    let _w = watchdog(180);
    for mode in MODES {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let zoom = Arc::new(zoom(mode));
        let feed = feed(&zoom);
        let mut relays: Vec<Option<Relay>> = vec![
            Some(relay(&redis, &zoom, "old")),
            Some(relay(&redis, &zoom, "new")),
        ];
        let leader = the_leader(&relays);
        let other = 1 - leader;
        let sender = Sender::start(zoom.clone(), 0, Duration::from_millis(3));
        assert!(relays[leader]
            .as_ref()
            .unwrap()
            .wait_until(WAIT, |s| s.appended > 20));
        relays[leader].take().unwrap().handover(WAIT).unwrap();
        assert!(relays[other]
            .as_ref()
            .unwrap()
            .wait_until(WAIT, |s| s.role == Role::Leader && s.appended > 20));
        let sent = sender.stop();
        let v = settle(&redis, &feed, &sent, &relays);
        // Under every behaviour, Split included: the old relay's client
        // reads on after its Close until Zoom's answering Close, so events
        // in flight to the old socket are delivered too.
        v.assert_exactly_once_or_in_a_gap();
        if mode == MultiConnection::Refuse {
            // Zoom refuses the second socket: one connect time is lost,
            // and recorded.
            assert!(
                v.gaps.iter().all(|g| g.reason == GapReason::Handover) && v.gaps.len() == 1,
                "{:?}",
                v.gaps
            );
        } else {
            assert!(
                v.gaps.is_empty(),
                "{mode:?}: a gap in a handover: {:?}",
                v.gaps
            );
            assert!(v.in_gap.is_empty());
            assert_eq!(
                received(&sent),
                sent.len(),
                "{mode:?}: every event found a socket"
            );
        }
        assert!(zoom.wait_for_live_connections(1, WAIT));
        let entries = ha_support::read_all(&redis, &feed);
        let leaders = entries
            .iter()
            .filter(|e| matches!(e, Entry::Leader(_)))
            .count();
        assert_eq!(leaders, 2, "{mode:?}");
        stop_all(relays);
    }
}

#[test]
fn a_redis_restart_mid_stream_loses_nothing() {
    let _w = watchdog(120);
    let Some(mut redis) = RedisServer::start_with(true) else {
        return;
    };
    let zoom = Arc::new(zoom(MultiConnection::Kick));
    let feed = feed(&zoom);
    let relays: Vec<Option<Relay>> = vec![
        Some(relay(&redis, &zoom, "a")),
        Some(relay(&redis, &zoom, "b")),
    ];
    let leader = the_leader(&relays);
    let sender = Sender::start(zoom.clone(), 0, Duration::from_millis(3));
    assert!(relays[leader]
        .as_ref()
        .unwrap()
        .wait_until(WAIT, |s| s.appended > 20));
    redis.restart();
    let before = relays[leader].as_ref().unwrap().status().appended;
    assert!(relays[leader]
        .as_ref()
        .unwrap()
        .wait_until(WAIT, |s| s.appended > before + 50));
    let sent = sender.stop();
    let v = settle(&redis, &feed, &sent, &relays);
    v.assert_exactly_once_or_in_a_gap();
    assert!(
        v.in_gap.is_empty(),
        "a short restart needs no gap: {:?}",
        v.gaps
    );
    assert_eq!(zoom.connection_count(), 1, "the Zoom connection stayed up");
    stop_all(relays);
}

#[test]
fn redis_unreachable_longer_than_the_ttl_fences_then_flushes() {
    let _w = watchdog(120);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let zoom = Arc::new(zoom(MultiConnection::Kick));
    let feed = feed(&zoom);
    let relays: Vec<Option<Relay>> = vec![
        Some(relay(&redis, &zoom, "a")),
        Some(relay(&redis, &zoom, "b")),
    ];
    let leader = the_leader(&relays);
    let l = relays[leader].as_ref().unwrap();
    let sender = Sender::start(zoom.clone(), 0, Duration::from_millis(3));
    assert!(l.wait_until(WAIT, |s| s.appended > 20));
    redis.pause();
    // The leader buffers, then closes its Zoom connection at the
    // self-fence deadline (before the TTL lets anyone else in).
    assert!(l.wait_until(WAIT, |s| s.role == Role::Fenced && s.buffered > 0));
    assert!(zoom.wait_for_live_connections(0, WAIT));
    // Unreachable past the TTL (1.5 s), as seen by Redis's clock too.
    std::thread::sleep(Duration::from_millis(1600)); // the outage itself: a duration under test, not a sync
    redis.resume();
    // Buffered events flushed through dedup; a leader is back.
    assert!(l.wait_until(WAIT, |s| s.buffered == 0 && s.role != Role::Fenced));
    let next = the_leader(&relays);
    assert!(zoom.wait_for_live_connections(1, WAIT));
    let before = relays[next].as_ref().unwrap().status().appended;
    assert!(relays[next]
        .as_ref()
        .unwrap()
        .wait_until(WAIT, |s| s.appended > before + 20));
    let sent = sender.stop();
    let v = settle(&redis, &feed, &sent, &relays);
    v.assert_exactly_once_or_in_a_gap();
    assert!(
        v.gaps
            .iter()
            .any(|g| matches!(g.reason, GapReason::RedisOutage | GapReason::Takeover)),
        "the outage is recorded: {:?}",
        v.gaps
    );
    assert!(
        !v.in_gap.is_empty(),
        "events sent while nobody was connected are inside the gap"
    );
    stop_all(relays);
}

#[test]
fn two_subscriptions_into_one_feed_dedup_and_survive_a_crash() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let zoom_a = Arc::new(
        MockZoom::builder()
            .subscription_id("sub-a")
            .start()
            .unwrap(),
    );
    let zoom_b = Arc::new(
        MockZoom::builder()
            .subscription_id("sub-b")
            .start()
            .unwrap(),
    );
    let shared = |zoom: &MockZoom, node: &str| {
        Relay::builder(redis.config(), zoom.credentials(), zoom.subscription_id())
            .feed("shared")
            .node(node)
            .client(Client::builder().url(zoom.ws_url()))
            .lease_ttl(Duration::from_millis(1500))
            .renew_every(Duration::from_millis(200))
            .start()
            .unwrap()
    };
    let a = shared(&zoom_a, "a");
    let b = shared(&zoom_b, "b");
    assert!(a.wait_until(WAIT, |s| s.role == Role::Leader));
    assert!(b.wait_until(WAIT, |s| s.role == Role::Leader));
    // The same events on both subscriptions: one copy in the feed.
    let mut sent = Vec::new();
    for seq in 0..20 {
        let json = ha_support::event_json(seq);
        let at_ms = ha_support::now_ms();
        let taken = zoom_a.send_event_json(&json) + zoom_b.send_event_json(&json);
        sent.push(Sent { seq, at_ms, taken });
    }
    assert!(b.wait_until(WAIT, |s| s.appended + s.duplicates == 20));
    assert!(a.wait_until(WAIT, |s| s.appended + s.duplicates == 20));
    assert_eq!(a.status().appended + b.status().appended, 20);
    // sub-a's relay crashes: sub-b still carries everything.
    a.__kill();
    for seq in 100..120 {
        let json = ha_support::event_json(seq);
        let at_ms = ha_support::now_ms();
        let taken = zoom_a.send_event_json(&json) + zoom_b.send_event_json(&json);
        sent.push(Sent { seq, at_ms, taken });
    }
    let v = settle(&redis, "shared", &sent, &[]);
    v.assert_exactly_once_or_in_a_gap();
    assert!(v.in_gap.is_empty() && v.gaps.is_empty(), "{:?}", v.gaps);
    b.stop().unwrap();
}

#[test]
fn a_release_wakes_a_standby_before_its_next_poll() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let zoom = zoom(MultiConnection::Kick);
    let a = relay(&redis, &zoom, "a");
    assert!(a.wait_until(WAIT, |s| s.role == Role::Leader));
    // b polls every 30 s: only the wake-up can make it lead within 10 s.
    let b = relay_polling(&redis, &zoom, "b", Duration::from_secs(30));
    assert!(b.wait_until(WAIT, |s| s.redis_calls >= 1), "b tried once");
    assert_eq!(b.status().role, Role::Standby);
    // b's wake-up subscription is up (a Redis state without a notification).
    let channel = format!("zoomws:{{{0}}}:lease:{0}:wake", zoom.subscription_id());
    assert!(ha_support::eventually(WAIT, || {
        let n: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query(&mut redis.conn())
            .unwrap();
        matches!(n.get(1), Some(redis::Value::Int(n)) if *n >= 1)
    }));
    let released = std::time::Instant::now();
    a.stop().unwrap();
    assert!(
        b.wait_until(Duration::from_secs(10), |s| s.role == Role::Leader),
        "not woken: {:?}",
        b.status()
    );
    assert!(released.elapsed() < Duration::from_secs(10));
    b.stop().unwrap();
}
