//! Clients under test, in their own process: `bench __client KIND MODE N`.
//! Settings from the environment (as for the Node and Python clients).
//! Prints `READY` once connected, `RESULT {json}` at the end, and then
//! waits for stdin to close, so that the parent can measure it from outside.

use super::*;

pub struct Env {
    pub token_url: String,
    pub ws_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub account_id: String,
    pub subscription_id: String,
    pub ca_file: Option<String>,
}

impl Env {
    fn from_env() -> Res<Env> {
        let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        Ok(Env {
            token_url: var("ZOOM_TOKEN_URL")?,
            ws_url: var("ZOOM_WS_URL")?,
            client_id: var("ZOOM_CLIENT_ID")?,
            client_secret: var("ZOOM_CLIENT_SECRET")?,
            account_id: var("ZOOM_ACCOUNT_ID")?,
            subscription_id: var("ZOOM_SUBSCRIPTION_ID")?,
            ca_file: std::env::var("ZOOM_CA_FILE").ok().filter(|s| !s.is_empty()),
        })
    }

    fn credentials(&self) -> Res<Credentials> {
        Credentials::account_credentials(
            &self.account_id,
            &self.client_id,
            self.client_secret.as_str(),
        )
        .with_token_url(&self.token_url)
        .map_err(|e| e.to_string())
    }

    fn tls(&self) -> Res<zoom_ws::TlsConfig> {
        match &self.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                zoom_ws::TlsConfig::with_extra_roots_pem(&pem).map_err(|e| e.to_string())
            }
            None => Ok(zoom_ws::TlsConfig::default()),
        }
    }

    /// A zoom-ws client with the defaults, pointed at the emulator.
    fn zoom_ws(&self) -> Res<zoom_ws::ClientBuilder> {
        let mut b = Client::builder()
            .credentials(self.credentials()?)
            .subscription_id(&self.subscription_id)
            .url(&self.ws_url);
        if self.ca_file.is_some() {
            b = b.tls(self.tls()?);
        }
        Ok(b)
    }
}

pub fn main(args: &[String]) -> Res<()> {
    // Lines from the parent arrive on COMMANDS; the parent going away
    // (stdin closed) ends this process too.
    let (tx, rx) = crossbeam_channel::unbounded();
    let _ = COMMANDS.set(rx);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
        std::process::exit(3);
    });
    let env = Env::from_env()?;
    let kind = args.first().map(String::as_str).unwrap_or("");
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let result = match (kind, mode) {
        ("zoomws", "count") => zoomws_count(&env, n)?,
        ("zoomws", "latency") => zoomws_latency(&env, n)?,
        ("zoomws", "reconnect") => zoomws_reconnect(&env, n)?,
        ("zoomws", "deadlink") => zoomws_deadlink(&env, n)?,
        ("zoomws", "reconnect-same") => zoomws_reconnect_same(&env, n)?,
        ("zoomws", "idle") => zoomws_idle(&env, n)?,
        ("zoomws", "memory") => zoomws_memory(&env, n)?,
        ("bare", "count") => bare::count(&env, n, false)?,
        ("bare", "latency") => bare::count(&env, n, true)?,
        ("discard", "count") => bare::discard(&env, n)?,
        _ => return Err(format!("unknown client {kind} {mode}")),
    };
    println!("RESULT {result}");
    // Stay until the parent has measured this process from outside; it
    // closes stdin (and the stdin thread then ends the process).
    let _ = await_parent();
    Ok(())
}

fn ready() {
    println!("READY");
}

/// The last event of a count arrived: the parent takes its outside
/// measurement now, while every thread still runs, and says when it is done.
fn counted() {
    println!("COUNTED");
    let _ = await_parent();
}

static COMMANDS: std::sync::OnceLock<Receiver<String>> = std::sync::OnceLock::new();

/// Waits for the parent's next line.
fn await_parent() -> Res<String> {
    COMMANDS
        .get()
        .ok_or("no command channel")?
        .recv_timeout(Duration::from_secs(60))
        .map_err(|e| format!("waiting for the parent: {e}"))
}

const WAIT: Duration = Duration::from_secs(60);

fn zoomws_count(env: &Env, n: u64) -> Res<Value> {
    let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
    ready();
    let events = client.events();
    let mut result = timed_count(n, || events.recv_timeout(WAIT).map(|ev| ev.name().len()))?;
    result["dropped"] = client.dropped_events().into();
    client.close().map_err(|e| e.to_string())?;
    Ok(result)
}

/// Receives `n` events through `next` (which gives an event's name
/// length), timed from the first one's arrival (wall clock and process
/// CPU), then says COUNTED and checks the names. Both counting clients
/// share it: the zoom-ws one and the bare loop's consumer.
fn timed_count(n: u64, mut next: impl FnMut() -> Result<usize, RecvTimeoutError>) -> Res<Value> {
    let mut names = next().map_err(|e| format!("first event: {e}"))?;
    let t0 = Instant::now();
    let cpu0 = procfs::process_cpu_ns();
    let mut count = 1;
    while count < n {
        names += next().map_err(|e| format!("after {count} events: {e}"))?;
        count += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (procfs::process_cpu_ns() - cpu0) as f64 / 1e9;
    counted();
    if names != "meeting.participant_joined".len() * n as usize {
        return Err("unexpected event names".into());
    }
    Ok(json!({"count": count, "secs": secs, "cpu_secs": cpu}))
}

/// `"sent_us":<digits>` from an event's JSON.
fn sent_us(json: &str) -> Option<u64> {
    let at = json.find("\"sent_us\":")? + "\"sent_us\":".len();
    let digits: &str = &json[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn zoomws_latency(env: &Env, n: u64) -> Res<Value> {
    let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
    ready();
    let mut lat = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for ev in client.events().iter().take(n as usize) {
        let now = now_us();
        let sent = sent_us(ev.json()).ok_or("an event without sent_us")?;
        lat.push(now.saturating_sub(sent) as f64);
        if t0.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    client.close().map_err(|e| e.to_string())?;
    Ok(latency_result(lat))
}

/// Percentiles; BENCH_LATENCY_DUMP=path also writes every latency, in
/// arrival order, one per line.
fn latency_result(lat: Vec<f64>) -> Value {
    if let Ok(path) = std::env::var("BENCH_LATENCY_DUMP") {
        let text: String = lat.iter().map(|l| format!("{l}\n")).collect();
        let _ = std::fs::write(format!("{path}.{}", std::process::id()), text);
    }
    let lat = sorted(lat);
    json!({
        "count": lat.len(),
        "p50_us": percentile(&lat, 50.0), "p99_us": percentile(&lat, 99.0),
        "max_us": lat.last().copied().unwrap_or(f64::NAN),
    })
}

/// Waits for the next `Reconnected` and prints its time.
fn await_reconnect(client: &Client) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.states().recv_timeout(left) {
            Ok(StateChange::Reconnected { at, gap, .. }) => {
                println!("RECONNECTED {} {}", system_us(at), gap.as_micros());
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => return Err(format!("no reconnect: {e}")),
        }
    }
}

/// `trials` times: a fresh client (attempt counter at zero, as for a
/// connection that had been up a while), READY, wait for the emulator to
/// close it and for the client to be back.
fn zoomws_reconnect(env: &Env, trials: u64) -> Res<Value> {
    for _ in 0..trials {
        let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
        ready();
        await_reconnect(&client)?;
        // The parent counts token requests until it says "next".
        await_parent()?;
        client.close().map_err(|e| e.to_string())?;
    }
    Ok(json!({"trials": trials}))
}

/// One client, `trials` losses in a row (a flapping server).
fn zoomws_reconnect_same(env: &Env, trials: u64) -> Res<Value> {
    let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
    ready();
    for _ in 0..trials {
        await_reconnect(&client)?;
    }
    client.close().map_err(|e| e.to_string())?;
    Ok(json!({"trials": trials}))
}

pub const DEADLINK_HEARTBEAT: Duration = Duration::from_secs(1);
pub const DEADLINK_TIMEOUT: Duration = Duration::from_secs(2);

fn zoomws_deadlink(env: &Env, trials: u64) -> Res<Value> {
    for _ in 0..trials {
        let client = env
            .zoom_ws()?
            .heartbeat_interval(DEADLINK_HEARTBEAT)
            .dead_link_timeout(DEADLINK_TIMEOUT)
            .connect()
            .map_err(|e| e.to_string())?;
        ready();
        await_reconnect(&client)?;
        client.close().map_err(|e| e.to_string())?;
    }
    Ok(json!({"trials": trials}))
}

fn zoomws_idle(env: &Env, secs: u64) -> Res<Value> {
    let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
    // The user's thread, blocked on the event channel as an app would be.
    let events = client.events().clone();
    let user = std::thread::Builder::new()
        .name("bench-user".into())
        .spawn(move || events.iter().count())
        .map_err(|e| e.to_string())?;
    ready();
    std::thread::sleep(Duration::from_secs(1));
    let before = procfs::threads();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let elapsed = t0.elapsed().as_secs_f64();
    let after = procfs::threads();
    let rss = procfs::status_kib("VmRSS:");
    let hwm = procfs::status_kib("VmHWM:");
    let anon = procfs::status_kib("RssAnon:");
    let file = procfs::status_kib("RssFile:");
    let threads = procfs::thread_deltas(&before, &after);
    client.close().map_err(|e| e.to_string())?;
    let _ = user.join();
    Ok(json!({
        "secs": elapsed, "rss_kib": rss, "hwm_kib": hwm, "rss_anon_kib": anon,
        "rss_file_kib": file, "threads": threads,
        "rss_by_mapping": procfs::rss_by_mapping("/proc/self").iter().take(8)
            .map(|(n, k)| format!("{n} {k} KiB")).collect::<Vec<_>>(),
    }))
}

/// Reads a burst slowly: 1 ms of sleep every 50 events (at most 50k
/// events/s), so the backlog builds up in the channel.
fn zoomws_memory(env: &Env, n: u64) -> Res<Value> {
    let client = env.zoom_ws()?.connect().map_err(|e| e.to_string())?;
    let rss_connected = procfs::status_kib("VmRSS:");
    ready();
    let events = client.events();
    let mut peak_backlog = 0;
    let mut peak_rss = 0;
    let mut count = 0;
    while count < n {
        events
            .recv_timeout(WAIT)
            .map_err(|e| format!("after {count} events: {e}"))?;
        count += 1;
        if count % 50 == 0 {
            peak_backlog = peak_backlog.max(events.len());
            if count % 5000 == 0 {
                peak_rss = peak_rss.max(procfs::status_kib("VmRSS:"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let rss_after = procfs::status_kib("VmRSS:");
    let hwm = procfs::status_kib("VmHWM:");
    let rss_trimmed = trim_heap().then(|| procfs::status_kib("VmRSS:"));
    client.close().map_err(|e| e.to_string())?;
    Ok(json!({
        "count": count, "rss_connected_kib": rss_connected, "peak_rss_kib": peak_rss.max(rss_after),
        "rss_after_kib": rss_after, "hwm_kib": hwm, "peak_backlog": peak_backlog,
        "rss_trimmed_kib": rss_trimmed,
    }))
}

/// Asks glibc to hand freed heap back to the OS (`malloc_trim(0)`), to
/// tell memory still in use from memory the allocator keeps cached.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only walks glibc's own heap structures, under
    // glibc's locks; it takes no pointer from us.
    unsafe { malloc_trim(0) };
    true
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() -> bool {
    false
}

// -----------------------------------------------------------------------
// The limit: a bare tungstenite read loop, and a client that discards.

mod bare {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, StreamOwned};
    use tungstenite::protocol::Role;
    use tungstenite::{Message, WebSocket};

    pub enum Stream {
        Plain(TcpStream),
        Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    }

    impl Read for Stream {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self {
                Stream::Plain(s) => s.read(buf),
                Stream::Tls(s) => s.read(buf),
            }
        }
    }

    impl Write for Stream {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self {
                Stream::Plain(s) => s.write(buf),
                Stream::Tls(s) => s.write(buf),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            match self {
                Stream::Plain(s) => s.flush(),
                Stream::Tls(s) => s.flush(),
            }
        }
    }

    /// Token, TCP (+ TLS), and a minimal upgrade. Returns the stream
    /// and the bytes read past the response head.
    pub fn connect(env: &Env) -> Res<(Stream, Vec<u8>)> {
        let tls = env.tls()?;
        let token = zoom_ws::fetch_token(
            &env.credentials()?,
            &zoom_ws::RefreshOptions::with_tls(tls.clone()),
        )
        .map_err(|e| e.to_string())?;
        let (secure, rest) = if let Some(r) = env.ws_url.strip_prefix("wss://") {
            (true, r)
        } else {
            (false, env.ws_url.strip_prefix("ws://").ok_or("bad ws url")?)
        };
        let (host, path) = rest.split_once('/').ok_or("bad ws url")?;
        let tcp = TcpStream::connect(host).map_err(|e| format!("{host}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut stream = if secure {
            let name = ServerName::try_from(host.split(':').next().unwrap_or(host).to_owned())
                .map_err(|e| e.to_string())?;
            let conn =
                ClientConnection::new(tls.rustls_config(), name).map_err(|e| e.to_string())?;
            Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let request = format!(
            "GET /{path}?subscriptionId={}&access_token={} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            env.subscription_id,
            token.secret().expose()
        );
        stream
            .write_all(request.as_bytes())
            .and_then(|_| stream.flush())
            .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the upgrade".into());
            }
            got.extend_from_slice(&buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                if !got.starts_with(b"HTTP/1.1 101") {
                    return Err("upgrade refused".into());
                }
                return Ok((stream, got.split_off(end + 4)));
            }
        }
    }

    use crate::parse::{BareEnvelope as Envelope, BareFrame as Frame};

    /// What the bare loop hands over: the event's JSON (its one
    /// allocation) and what the consumer checks.
    struct Ev {
        #[allow(dead_code)]
        json: String,
        name_len: usize,
        sent_us: u64,
    }

    /// Reads frames, parses each and its `content` (serde_json, borrowing
    /// wherever it can: one allocation per event, for the unescaped
    /// `content` that is handed over), and sends it over a crossbeam
    /// channel to a counting thread. Nothing of a frame is held while the
    /// next is read, and tungstenite reads in its default 128 KiB.
    pub fn count(env: &Env, n: u64, latency: bool) -> Res<Value> {
        let (stream, rest) = connect(env)?;
        let mut ws = WebSocket::from_partially_read(stream, rest, Role::Client, None);
        let (tx, rx) = crossbeam_channel::unbounded::<Ev>();
        let reader = std::thread::Builder::new()
            .name("bare-reader".into())
            .spawn(move || -> Res<()> {
                loop {
                    let json = {
                        let text = match ws.read() {
                            Ok(Message::Text(t)) => t,
                            Ok(Message::Close(_)) => return Ok(()),
                            Ok(_) => continue,
                            Err(e) => return Err(e.to_string()),
                        };
                        let frame: Frame<'_> =
                            serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
                        if frame.module != "message" {
                            continue;
                        }
                        frame.content.ok_or("no content")?.into_owned()
                    };
                    let (name_len, sent_us) = {
                        let env: Envelope<'_> =
                            serde_json::from_str(&json).map_err(|e| e.to_string())?;
                        // Latency runs only: the stamp rides along.
                        let sent = if latency {
                            super::sent_us(&json).unwrap_or(0)
                        } else {
                            0
                        };
                        (env.event.len(), sent)
                    };
                    let ev = Ev {
                        json,
                        name_len,
                        sent_us,
                    };
                    if tx.send(ev).is_err() {
                        return Ok(());
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        ready();
        if latency {
            let mut lat = Vec::with_capacity(n as usize);
            for ev in rx.iter().take(n as usize) {
                lat.push(now_us().saturating_sub(ev.sent_us) as f64);
            }
            return Ok(latency_result(lat));
        }
        let result = timed_count(n, || rx.recv_timeout(WAIT).map(|ev| ev.name_len))?;
        drop(rx);
        drop(reader); // detached: the process exits next
        Ok(result)
    }

    /// Reads the stream and only walks the frame headers: the
    /// emulator's rate with a client that costs next to nothing.
    pub fn discard(env: &Env, n: u64) -> Res<Value> {
        let (mut stream, rest) = connect(env)?;
        ready();
        let mut counter = FrameCounter {
            total: n + 1, // build_connection first
            ..FrameCounter::default()
        };
        counter.feed(&rest);
        let mut buf = vec![0u8; 256 * 1024];
        while !counter.done() {
            let got = stream.read(&mut buf).map_err(|e| e.to_string())?;
            if got == 0 {
                return Err(format!("closed after {} frames", counter.frames));
            }
            counter.feed(&buf[..got]);
        }
        let secs = counter.t0.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let cpu = (procfs::process_cpu_ns() - counter.cpu0) as f64 / 1e9;
        counted();
        Ok(json!({"count": n, "secs": secs, "cpu_secs": cpu}))
    }

    /// Walks frame headers across reads, skipping payloads.
    #[derive(Default)]
    struct FrameCounter {
        total: u64,
        frames: u64,
        header: Vec<u8>,
        skip: usize,
        t0: Option<Instant>,
        cpu0: u64,
    }

    impl FrameCounter {
        fn done(&self) -> bool {
            self.frames >= self.total && self.skip == 0
        }

        fn feed(&mut self, mut bytes: &[u8]) {
            while !bytes.is_empty() {
                if self.skip > 0 {
                    let k = self.skip.min(bytes.len());
                    bytes = &bytes[k..];
                    self.skip -= k;
                    continue;
                }
                self.header.push(bytes[0]);
                bytes = &bytes[1..];
                if let Some((len, payload)) = header_size(&self.header) {
                    if self.header.len() == len {
                        self.header.clear();
                        self.skip = payload;
                        self.frames += 1;
                        if self.frames == 2 {
                            // The first event: the clock starts.
                            self.t0 = Some(Instant::now());
                            self.cpu0 = procfs::process_cpu_ns();
                        }
                    }
                }
            }
        }
    }

    /// (header length, payload length) once the header bytes tell both.
    fn header_size(h: &[u8]) -> Option<(usize, usize)> {
        if h.len() < 2 {
            return None;
        }
        let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
        match h[1] & 0x7F {
            126 if h.len() >= 4 => Some((4 + mask, u16::from_be_bytes([h[2], h[3]]) as usize)),
            127 if h.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                Some((10 + mask, u64::from_be_bytes(b) as usize))
            }
            126 | 127 => None,
            len => Some((2 + mask, len as usize)),
        }
    }
}
