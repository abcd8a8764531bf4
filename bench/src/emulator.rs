//! The emulator, in its own process: `bench __emulator [tls]`. Prints
//! `EMULATOR {json}` with where it is, then obeys one command per stdin line
//! and answers each with one line.

use super::*;

pub fn main(args: &[String]) -> Res<()> {
    let tls = args.iter().any(|a| a == "tls");
    let zoom = MockZoom::builder()
        .tls(tls)
        .client_secret(SECRET)
        .start()
        .map_err(|e| format!("starting the emulator: {e}"))?;
    let ca_file = match zoom.ca_pem() {
        Some(pem) => {
            let path =
                std::env::temp_dir().join(format!("zoom-ws-bench-{}-ca.pem", std::process::id()));
            std::fs::write(&path, pem).map_err(|e| format!("writing the CA: {e}"))?;
            Some(path)
        }
        None => None,
    };
    let info = json!({
        "token_url": zoom.token_url(),
        "ws_url": zoom.ws_url(),
        "client_id": zoom.client_id(),
        "client_secret": SECRET,
        "account_id": zoom.account_id(),
        "subscription_id": zoom.subscription_id(),
        "ca_file": ca_file.as_ref().map(|p| p.display().to_string()),
    });
    println!("EMULATOR {info}");
    let result = serve(&zoom);
    if let Some(path) = ca_file {
        let _ = std::fs::remove_file(path);
    }
    zoom.stop();
    result
}

fn serve(zoom: &MockZoom) -> Res<()> {
    let mut batches: HashMap<u64, FrameBatch> = HashMap::new();
    let stdin = io::stdin();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> u64 { words.get(i).and_then(|w| w.parse().ok()).unwrap_or(0) };
        let reply = match words.first().copied() {
            Some("prepare") => {
                let n = num(1);
                let mut batch = FrameBatch::with_capacity(n as usize * 760);
                batch.push_events_numbered(EVENT_TEMPLATE, 1, n);
                let bytes = batch.byte_len();
                batches.insert(n, batch);
                format!("OK {bytes}")
            }
            Some("wait_live") => {
                let ok =
                    zoom.wait_for_live_connections(num(1) as usize, Duration::from_millis(num(2)));
                if ok { "OK" } else { "ERR" }.to_string()
            }
            Some("send") => {
                // Pre-serialised (`prepare`) if possible, else generated
                // chunk by chunk from the template.
                let n = num(1);
                let cpu0 = procfs::process_cpu_ns();
                let t0 = Instant::now();
                let conns = match batches.get(&n) {
                    Some(batch) => zoom.send_batch(batch),
                    None => zoom.send_events_bulk(EVENT_TEMPLATE, 1, n),
                };
                let secs = t0.elapsed().as_secs_f64();
                let cpu = (procfs::process_cpu_ns() - cpu0) as f64 / 1e9;
                format!("SENT {conns} {secs} {cpu}")
            }
            Some("paced") => paced(zoom, num(1), num(2)),
            Some("close") => {
                let at = now_us();
                let n = zoom.close_connections(1000, "bench: clean close");
                format!("CLOSED {at} {n}")
            }
            Some("drop") => {
                let at = now_us();
                let n = zoom.drop_connections();
                format!("CLOSED {at} {n}")
            }
            Some("silent") => {
                let at = now_us();
                let n = zoom.go_silent();
                format!("CLOSED {at} {n}")
            }
            Some("stats") => format!(
                "STATS {} {} {}",
                zoom.token_requests().len(),
                zoom.connection_count(),
                zoom.heartbeat_count()
            ),
            Some("tokens") => {
                let reqs = zoom.token_requests();
                let first = reqs.first().map(|r| r.at);
                let list: Vec<String> = reqs
                    .iter()
                    .map(|r| {
                        format!(
                            "{}@{:.1}ms",
                            r.status,
                            first.map_or(0.0, |f| (r.at - f).as_secs_f64() * 1e3)
                        )
                    })
                    .collect();
                format!("TOKENS {}", list.join(" "))
            }
            Some("quit") | None => break,
            Some(other) => format!("ERR unknown command {other}"),
        };
        println!("{reply}");
    }
    Ok(())
}

/// `rate` events per second for `secs` seconds, each stamped with the
/// wall clock right before it is written.
fn paced(zoom: &MockZoom, rate: u64, secs: u64) -> String {
    // The frame text, wrapped and encoded as Zoom does, cut at the stamp.
    let event = EVENT_TEMPLATE.replace("{seq}", &format!("0,\"sent_us\":{SENT_MARK}"));
    let content = serde_json::to_string(&event).expect("a string encodes");
    let text = format!(r#"{{"module":"message","content":{content}}}"#);
    let (head, tail) = text
        .split_once(SENT_MARK)
        .expect("the mark survives encoding");
    let total = rate * secs;
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let start = Instant::now() + Duration::from_millis(10);
    let mut frame = String::with_capacity(text.len() + 20);
    let mut sent = 0;
    // How late the sender woke: this machine's scheduling noise, which
    // the latencies measured downstream also suffer.
    let mut late = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + period * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        late.push(due.elapsed().as_secs_f64() * 1e6);
        frame.clear();
        frame.push_str(head);
        let _ = write!(frame, "{}", now_us());
        frame.push_str(tail);
        if zoom.send_text(&frame) > 0 {
            sent += 1;
        }
    }
    let late = sorted(late);
    format!(
        "SENT {sent} {:.0} {:.0}",
        percentile(&late, 99.0),
        percentile(&late, 100.0)
    )
}
