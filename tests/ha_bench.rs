//! Figures for BENCHMARKS.md (ignored by `cargo test`): run in release
//! mode on a quiet machine, one at a time:
//!
//! ```text
//! cargo build --release --examples
//! cargo test --release --test ha_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! - throughput: emulator -> relay -> Redis -> consumer group member (acks)
//! - Redis round trips per event
//! - takeover gap after SIGKILL of a leader process (default settings)
//! - handover on SIGTERM (kick mode): events lost
//! - memory of a relay process

mod ha_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_support::{now_ms, RedisServer, Sender, Sent};
use zoom_ws::ha::{Entry, GroupOptions, GroupReader, GroupStart, Relay, Role};
use zoom_ws::mock::{MockZoom, MultiConnection};
use zoom_ws::Client;

#[test]
#[ignore]
fn throughput_through_relay_redis_and_consumer() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let zoom = MockZoom::start().unwrap();
    let relay = Relay::builder(redis.config(), zoom.credentials(), zoom.subscription_id())
        .client(Client::builder().url(zoom.ws_url()))
        .start()
        .unwrap();
    assert!(relay.wait_until(Duration::from_secs(20), |s| s.role == Role::Leader));
    let opts = GroupOptions {
        count: 500,
        start: GroupStart::Beginning,
        ..GroupOptions::default()
    };
    let mut reader =
        GroupReader::new(redis.config(), zoom.subscription_id(), "bench", "c1", opts).unwrap();
    let n: u64 = 100_000;
    // A realistic event (~600 bytes), unique by seq.
    let template = r#"{"event":"meeting.participant_joined","event_ts":{seq},"payload":{"account_id":"AAAAAAAAAAAAAAAAAAAAAA","object":{"uuid":"4444AAAiAAAAAAAAAAAAAA==","participant":{"leave_time":"","user_id":"16778240","user_name":"Participant {seq}","registrant_id":"abcdefghij0-klmnopq23456","participant_user_id":"DYHrdpjrS3uaOf7dPkkg8w","id":"iFxeBPYun6SAiWUzBcEkX","join_time":"2026-12-01T09:00:00Z","email":"participant{seq}@example.com","participant_uuid":"55555AAAiAAAAAAAAAAAAA","customer_key":"349589LkJyeW"},"id":"85012345678","topic":"Weekly all hands","host_id":"uLoRgfbbTayCX6r2Q_qQsQ","duration":60,"start_time":"2026-12-01T09:00:00Z","timezone":"UTC","type":2}}}"#;
    let calls_before = relay.status().redis_calls;
    let started = Instant::now();
    let sender = std::thread::spawn({
        let zoom = Arc::new(zoom);
        let z = zoom.clone();
        move || {
            z.send_events_bulk(template, 1, n);
            zoom
        }
    });
    let mut consumed = 0u64;
    let mut relay_done: Option<f64> = None;
    while consumed < n {
        if let Some(d) = reader.read().unwrap() {
            if matches!(d.entry, Entry::Event(_)) {
                consumed += 1;
            }
            reader.ack(&d).unwrap();
        }
        if relay_done.is_none() && relay.status().appended >= n {
            relay_done = Some(started.elapsed().as_secs_f64());
        }
        assert!(started.elapsed() < Duration::from_secs(300));
    }
    let secs = started.elapsed().as_secs_f64();
    let relay_secs = relay_done.unwrap_or(secs);
    let zoom = sender.join().unwrap();
    let status = relay.status();
    let calls = status.redis_calls - calls_before;
    println!(
        "THROUGHPUT {n} events: relay appended them at {:.0} events/s; {:.0} events/s end to end \
         (emulator -> relay -> Redis -> consumer, acked one by one); \
         relay appended {} in {} Redis calls ({:.4} round trips per event, pipelined batches of up to 256)",
        n as f64 / relay_secs,
        n as f64 / secs,
        status.appended,
        calls,
        calls as f64 / n as f64
    );
    // A trickle: 100 events/s for 5 s, each appended on its own.
    let calls_before = relay.status().redis_calls;
    let appended_before = relay.status().appended;
    for seq in 0..500u64 {
        zoom.send_event_json(&ha_support::event_json(10_000_000 + seq));
        std::thread::sleep(Duration::from_millis(10)); // the event rate
    }
    assert!(relay.wait_until(Duration::from_secs(20), |s| s.appended
        >= appended_before + 500));
    let calls = relay.status().redis_calls - calls_before;
    println!(
        "TRICKLE 500 events at 100/s: {calls} Redis calls ({:.2} round trips per event, renews included)",
        calls as f64 / 500.0
    );
    drop(zoom);
    relay.stop().unwrap();
}

/// Where `cargo build --release --examples` put the relay.
fn relay_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("relay");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release --examples` first",
        bin.display()
    );
    bin
}

fn spawn_relay(redis: &RedisServer, zoom: &MockZoom, node: &str) -> Child {
    Command::new(relay_binary())
        .env("ZOOM_ACCOUNT_ID", zoom.account_id())
        .env("ZOOM_CLIENT_ID", zoom.client_id())
        .env("ZOOM_CLIENT_SECRET", "mock-client-secret")
        .env("ZOOM_OAUTH_URL", zoom.token_url())
        .env("ZOOM_WS_URL", zoom.ws_url())
        .env("ZOOM_SUBSCRIPTION_ID", zoom.subscription_id())
        .env("ZOOM_REDIS_URL", redis.url())
        .env("ZOOM_NODE", node)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The node of the current lease holder.
fn holder(redis: &RedisServer, zoom: &MockZoom) -> Option<String> {
    let key = format!("zoomws:{{{0}}}:lease:{0}", zoom.subscription_id());
    let v: Option<String> = redis::cmd("GET").arg(key).query(&mut redis.conn()).ok()?;
    v.and_then(|t| t.split_once(':').map(|(_, n)| n.to_owned()))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Two relay processes with the default settings (TTL 5 s, renew 1 s,
/// poll 250 ms); events every 10 ms; the leader is killed (`signal`) and
/// the window without a connection measured.
fn failover(signal: &str, mode: MultiConnection) {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let zoom = Arc::new(MockZoom::builder().multi_connection(mode).start().unwrap());
    let mut children: Vec<(String, Child)> = ["r1", "r2"]
        .iter()
        .map(|n| (n.to_string(), spawn_relay(&redis, &zoom, n)))
        .collect();
    assert!(zoom.wait_for_live_connections(1, Duration::from_secs(30)));
    let leader = holder(&redis, &zoom).expect("a holder");
    let idx = children.iter().position(|(n, _)| *n == leader).unwrap();
    let sender = Sender::start(zoom.clone(), 0, Duration::from_millis(10));
    std::thread::sleep(Duration::from_secs(3)); // steady state before the failure
    let rss = rss_kib(children[idx].1.id());
    let accepted_before = zoom.connection_count();
    let t0 = Instant::now();
    let killed_ms = now_ms();
    let ok = Command::new("kill")
        .arg(signal)
        .arg(children[idx].1.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    // The new leader's connection.
    assert!(zoom.wait_for_connections(accepted_before + 1, Duration::from_secs(30)));
    let new_conn = t0.elapsed();
    std::thread::sleep(Duration::from_secs(2)); // events after the failover
    let sent = sender.stop();
    // Let the new leader append what it received.
    let taken = sent.iter().filter(|s| s.taken > 0).count();
    let mut entries = Vec::new();
    ha_support::eventually(Duration::from_secs(20), || {
        entries = ha_support::read_all(&redis, zoom.subscription_id());
        let v = ha_support::verdict(&sent, &entries);
        sent.len() - v.in_gap.len() - v.lost.len() >= taken
    });
    let v = ha_support::verdict(&sent, &entries);
    let unsent: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.taken == 0 && s.at_ms >= killed_ms)
        .collect();
    let window = match (unsent.first(), unsent.last()) {
        (Some(a), Some(b)) => b.at_ms - a.at_ms + 10,
        _ => 0,
    };
    println!(
        "FAILOVER {signal} {mode:?}: new connection {} ms after the signal; {} of {} events missing \
         ({} inside recorded gaps, {} lost outside any gap, {} duplicated); \
         no socket for ~{window} ms; gaps {:?}; leader RSS before: {rss} KiB",
        new_conn.as_millis(),
        v.in_gap.len() + v.lost.len(),
        sent.len(),
        v.in_gap.len(),
        v.lost.len(),
        v.duplicated.len(),
        v.gaps.iter().map(|g| (g.to_ms - g.from_ms, g.reason.as_str().to_owned())).collect::<Vec<_>>()
    );
    for (_, c) in &mut children {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
    }
    for (_, c) in &mut children {
        let _ = c.wait();
    }
}

#[test]
#[ignore]
fn takeover_after_sigkill_of_the_leader() {
    failover("-KILL", MultiConnection::Kick);
}

#[test]
#[ignore]
fn handover_on_sigterm_kick_mode() {
    failover("-TERM", MultiConnection::Kick);
}

#[test]
#[ignore]
fn relay_memory() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let zoom = MockZoom::start().unwrap();
    let mut child = spawn_relay(&redis, &zoom, "m1");
    assert!(zoom.wait_for_live_connections(1, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_secs(2)); // settled
    let idle = rss_kib(child.id());
    let template = r#"{"event":"meeting.participant_joined","event_ts":{seq},"payload":{"account_id":"A","object":{"id":"{seq}","participant":{"user_name":"P {seq}"}}}}"#;
    zoom.send_events_bulk(template, 1, 100_000);
    let mut peak = 0;
    ha_support::eventually(Duration::from_secs(120), || {
        peak = peak.max(rss_kib(child.id()));
        let n: usize = redis::cmd("XLEN")
            .arg(format!("zoomws:{{{0}}}:events", zoom.subscription_id()))
            .query(&mut redis.conn())
            .unwrap_or(0);
        n >= 100_001
    });
    let after = rss_kib(child.id());
    println!("MEMORY relay process RSS: idle {idle} KiB, peak while appending 100k events {peak} KiB, after {after} KiB");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}
