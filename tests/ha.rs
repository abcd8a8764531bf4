//! The Redis side of `zoom_ws::ha` against a real redis-server: consumer
//! groups, redelivery, the tail reader, and the dedup append through a
//! relay. Each test starts its own redis-server (see ha_support).

mod ha_support;

use std::time::Duration;

use ha_support::{watchdog, RedisServer, WAIT};
use zoom_ws::ha::{Entry, GroupOptions, GroupReader, GroupStart, TailReader};

const FEED: &str = "feed-1";

/// Appends `n` event entries the way a relay lays them out.
fn add_events(redis: &RedisServer, first: u64, n: u64) {
    let mut conn = redis.conn();
    for seq in first..first + n {
        let json = ha_support::event_json(seq);
        let id = zoom_ws::ha::event_id(&json).unwrap();
        let _: String = redis::cmd("XADD")
            .arg(format!("zoomws:{{{FEED}}}:events"))
            .arg("*")
            .arg("kind")
            .arg("event")
            .arg("id")
            .arg(id)
            .arg("json")
            .arg(json)
            .query(&mut conn)
            .unwrap();
    }
}

fn options() -> GroupOptions {
    GroupOptions {
        block: Duration::from_millis(200),
        claim_idle: Duration::from_millis(300),
        claim_every: Duration::from_millis(100),
        ..GroupOptions::default()
    }
}

/// Reads `n` deliveries (acking them if `ack`), failing after [`WAIT`].
fn take(reader: &mut GroupReader, n: usize, ack: bool) -> Vec<u64> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut seqs = Vec::new();
    while seqs.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n}",
            seqs.len()
        );
        if let Some(d) = reader.read().unwrap() {
            seqs.push(ha_support::seq_of(&d.entry).expect("an event"));
            if ack {
                reader.ack(&d).unwrap();
            }
        }
    }
    seqs
}

#[test]
fn two_groups_both_see_every_entry_and_members_share_one_group() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut billing = GroupReader::new(redis.config(), FEED, "billing", "b1", options()).unwrap();
    let few = GroupOptions {
        count: 3,
        ..options()
    };
    let mut audit = GroupReader::new(redis.config(), FEED, "audit", "a1", few.clone()).unwrap();
    let mut audit2 = GroupReader::new(redis.config(), FEED, "audit", "a2", few).unwrap();
    add_events(&redis, 1, 20);
    let mut b = take(&mut billing, 20, true);
    b.sort();
    assert_eq!(b, (1..=20).collect::<Vec<_>>());
    // The audit group's two members share the entries: each entry goes to
    // one of them.
    let (mut a, mut per_member) = (Vec::new(), [0, 0]);
    let deadline = std::time::Instant::now() + WAIT;
    while a.len() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 20",
            a.len()
        );
        for (i, member) in [&mut audit, &mut audit2].into_iter().enumerate() {
            if let Some(d) = member.read().unwrap() {
                a.push(ha_support::seq_of(&d.entry).unwrap());
                per_member[i] += 1;
                member.ack(&d).unwrap();
            }
        }
    }
    a.sort();
    assert_eq!(a, (1..=20).collect::<Vec<_>>(), "each entry once per group");
    assert!(per_member[0] > 0 && per_member[1] > 0, "{per_member:?}");
    // Nothing left for anybody.
    assert_eq!(billing.read().unwrap(), None);
    assert_eq!(audit.read().unwrap(), None);
}

#[test]
fn a_member_killed_before_acking_gets_its_entries_redelivered_to_another() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut doomed = GroupReader::new(redis.config(), FEED, "g", "doomed", options()).unwrap();
    add_events(&redis, 1, 5);
    let got = take(&mut doomed, 5, false);
    assert_eq!(got.len(), 5);
    drop(doomed); // dies without acking
    let mut heir = GroupReader::new(redis.config(), FEED, "g", "heir", options()).unwrap();
    // The heir claims them once they have been idle for claim_idle.
    let mut claimed = take(&mut heir, 5, true);
    claimed.sort();
    assert_eq!(claimed, [1, 2, 3, 4, 5]);
    // Acked: a third member finds nothing to claim.
    let mut third = GroupReader::new(redis.config(), FEED, "g", "third", options()).unwrap();
    std::thread::sleep(Duration::from_millis(400)); // past claim_idle: a timing goal of Redis, not a sync
    assert_eq!(third.read().unwrap(), None);
}

#[test]
fn a_restarted_member_reads_its_own_pending_entries_first() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut opts = options();
    opts.claim_idle = Duration::from_secs(3600);
    let mut before = GroupReader::new(redis.config(), FEED, "g", "c1", opts.clone()).unwrap();
    add_events(&redis, 1, 3);
    take(&mut before, 3, false);
    drop(before);
    add_events(&redis, 4, 2);
    let mut after = GroupReader::new(redis.config(), FEED, "g", "c1", opts).unwrap();
    let d = after.read().unwrap().unwrap();
    assert_eq!(ha_support::seq_of(&d.entry), Some(1));
    assert!(d.deliveries >= 2, "a redelivery: {d:?}");
    after.ack(&d).unwrap();
    let rest = take(&mut after, 4, true);
    assert_eq!(rest, [2, 3, 4, 5], "own pending first, then new ones");
}

#[test]
fn group_from_the_beginning_and_tail_reader_from_now() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    add_events(&redis, 1, 3);
    let mut opts = options();
    opts.start = GroupStart::Beginning;
    let mut old = GroupReader::new(redis.config(), FEED, "late", "c", opts).unwrap();
    let mut tail = TailReader::new(redis.config(), FEED, Duration::from_millis(200)).unwrap();
    assert_eq!(take(&mut old, 3, true), [1, 2, 3]);
    assert_eq!(
        tail.read().unwrap(),
        None,
        "the tail starts after what is there"
    );
    add_events(&redis, 4, 2);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let Some(d) = tail.read().unwrap() {
            seen.push(ha_support::seq_of(&d.entry).unwrap());
        }
    }
    assert_eq!(seen, [4, 5]);
}

#[test]
fn readers_survive_a_redis_restart() {
    let _w = watchdog(60);
    let Some(mut redis) = RedisServer::start_with(true) else {
        return;
    };
    let mut reader = GroupReader::new(redis.config(), FEED, "g", "c", options()).unwrap();
    add_events(&redis, 1, 2);
    assert_eq!(take(&mut reader, 2, true), [1, 2]);
    redis.restart();
    // The first read after the restart may fail (the connection is gone);
    // the next reconnects.
    add_events(&redis, 3, 1);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(std::time::Instant::now() < deadline);
        // Ok(None) or an error (the connection is gone): read again.
        if let Ok(Some(d)) = reader.read() {
            assert_eq!(ha_support::seq_of(&d.entry), Some(3));
            break;
        }
    }
}

#[test]
fn unreadable_entries_come_as_other_and_can_be_acked() {
    let _w = watchdog(60);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut reader = GroupReader::new(redis.config(), FEED, "g", "c", options()).unwrap();
    let mut conn = redis.conn();
    let _: String = redis::cmd("XADD")
        .arg(format!("zoomws:{{{FEED}}}:events"))
        .arg("*")
        .arg("kind")
        .arg("event")
        .arg("id")
        .arg("x")
        .arg("json")
        .arg("not json")
        .query(&mut conn)
        .unwrap();
    let d = loop {
        if let Some(d) = reader.read().unwrap() {
            break d;
        }
    };
    assert!(
        matches!(&d.entry, Entry::Other(why) if why.contains("unreadable")),
        "{d:?}"
    );
    reader.ack(&d).unwrap();
}
