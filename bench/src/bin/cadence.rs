//! Measures the heartbeat cadence as the emulator sees it: connects a client
//! with the given interval and prints the gaps between the heartbeats that
//! arrive.
//!
//! ```text
//! cargo run --release -p zoom-ws-bench --bin cadence -- 1 10   # 1 s interval, 10 heartbeats
//! cargo run --release -p zoom-ws-bench --bin cadence -- 30 4   # the default 30 s, 4 heartbeats (2 minutes)
//! ```

use std::time::Duration;

use zoom_ws::{mock::MockZoom, Client};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().unwrap_or_else(|| "1".into()).parse()?;
    let count: usize = args.next().unwrap_or_else(|| "10".into()).parse()?;
    let every = Duration::from_secs_f64(secs);
    let zoom = MockZoom::start()?;
    let client = Client::builder()
        .credentials(zoom.credentials())
        .url(zoom.ws_url())
        .subscription_id(zoom.subscription_id())
        .heartbeat_interval(every)
        .connect()?;
    let bound = every * (count as u32 + 2) + Duration::from_secs(10);
    if !zoom.wait_for_heartbeats(count, bound) {
        return Err(format!("fewer than {count} heartbeats within {bound:?}").into());
    }
    let beats = zoom.heartbeats();
    let gaps: Vec<f64> = beats
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    let min = gaps.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = gaps.iter().cloned().fold(0.0, f64::max);
    let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
    println!(
        "interval {every:?}: {} gaps between heartbeats, as the emulator received them",
        gaps.len()
    );
    println!("  min {min:.2} ms, mean {mean:.2} ms, max {max:.2} ms");
    println!(
        "  all: {}",
        gaps.iter()
            .map(|g| format!("{g:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    client.close()?;
    Ok(())
}
