//! The orchestrator: runs the phases, prints the table.

use super::*;

mod throughput;

/// A child process spoken to by lines.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Res<Proc> {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    /// The pid of the client itself: below a `perf` or `strace` wrapper,
    /// its child.
    fn measured_pid(&self) -> u32 {
        let mut pid = self.child.id();
        for _ in 0..4 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if !matches!(comm.trim(), "perf" | "strace") {
                break;
            }
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            match children
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
            {
                Some(c) => pid = c,
                None => break,
            }
        }
        pid
    }

    fn send(&mut self, line: &str) -> Res<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// The rest of the next line starting with `prefix` (others are
    /// passed to stderr), within `timeout`.
    fn expect(&self, prefix: &str, timeout: Duration) -> Res<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match line.strip_prefix(prefix) {
                    Some(rest) => return Ok(rest.trim().to_owned()),
                    None => eprintln!("[{}] {line}", self.name),
                },
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{}: no {prefix} within {timeout:?}", self.name))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{}: exited before {prefix}", self.name))
                }
            }
        }
    }

    fn command(&mut self, line: &str, reply: &str, timeout: Duration) -> Res<String> {
        self.send(line)?;
        self.expect(reply, timeout)
    }

    fn result(&self, timeout: Duration) -> Res<Value> {
        let line = self.expect("RESULT", timeout)?;
        serde_json::from_str(&line).map_err(|e| format!("{}: bad RESULT: {e}", self.name))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running emulator and the environment that points a client at it.
struct Emulator {
    proc: Proc,
    info: Value,
}

impl Emulator {
    fn start(exe: &Path, tls: bool) -> Res<Emulator> {
        let mut cmd = Command::new(exe);
        cmd.arg("__emulator");
        if tls {
            cmd.arg("tls");
        }
        let proc = Proc::spawn(if tls { "emulator-tls" } else { "emulator" }, cmd)?;
        let line = proc.expect("EMULATOR", Duration::from_secs(30))?;
        let info = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        Ok(Emulator { proc, info })
    }

    fn env(&self, cmd: &mut Command) {
        let s = |k: &str| self.info[k].as_str().unwrap_or("").to_owned();
        cmd.env("ZOOM_TOKEN_URL", s("token_url"))
            .env("ZOOM_OAUTH_URL", s("token_url"))
            .env("ZOOM_WS_URL", s("ws_url"))
            .env("ZOOM_CLIENT_ID", s("client_id"))
            .env("ZOOM_CLIENT_SECRET", s("client_secret"))
            .env("ZOOM_ACCOUNT_ID", s("account_id"))
            .env("ZOOM_SUBSCRIPTION_ID", s("subscription_id"));
        if let Some(ca) = self.info["ca_file"].as_str() {
            cmd.env("ZOOM_CA_FILE", ca).env("NODE_EXTRA_CA_CERTS", ca);
        }
    }

    fn cmd(&mut self, line: &str, reply: &str, timeout: Duration) -> Res<String> {
        self.proc.command(line, reply, timeout)
    }

    /// No connection left from an earlier client (sends go to every
    /// live connection).
    fn idle(&mut self) -> Res<()> {
        match self
            .cmd("wait_live 0 10000", "", Duration::from_secs(15))?
            .as_str()
        {
            "OK" => Ok(()),
            other => Err(format!("emulator: connections still open ({other})")),
        }
    }

    fn stats(&mut self) -> Res<(u64, u64, u64)> {
        let s = self.cmd("stats", "STATS", Duration::from_secs(5))?;
        let v: Vec<u64> = s
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        Ok((
            v.first().copied().unwrap_or(0),
            v.get(1).copied().unwrap_or(0),
            v.get(2).copied().unwrap_or(0),
        ))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Who {
    ZoomWs,
    Bare,
    Discard,
    Node,
    /// websocket-client with `skip_utf8_validation=True`.
    Python,
    /// websocket-client as it comes (pure-Python UTF-8 validation).
    PythonDefault,
}

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::ZoomWs => "zoom-ws",
            Who::Bare => "bare loop",
            Who::Discard => "discard",
            Who::Node => "Node ws",
            Who::Python => "Python websocket-client",
            Who::PythonDefault => "Python websocket-client, default UTF-8 check",
        }
    }

    /// The suffix of its `BENCH_WRAP_` variable.
    fn wrap_name(self) -> &'static str {
        match self {
            Who::ZoomWs => "ZOOMWS",
            Who::Bare => "BARE",
            Who::Discard => "DISCARD",
            Who::Node => "NODE",
            Who::Python | Who::PythonDefault => "PYTHON",
        }
    }
}

struct Ctx {
    exe: PathBuf,
    bench_dir: PathBuf,
    node: bool,
    python: bool,
    /// Count syscalls of the throughput runs with `perf stat`.
    syscalls: bool,
}

impl Ctx {
    fn client(&self, who: Who, mode: &str, n: u64, emu: &Emulator) -> Res<Proc> {
        self.client_wrapped(who, mode, n, emu, None)
    }

    /// A client, run under `wrap` (a command and its arguments, the
    /// client's command line appended) unless BENCH_WRAP_<CLIENT> is set.
    fn client_wrapped(
        &self,
        who: Who,
        mode: &str,
        n: u64,
        emu: &Emulator,
        wrap: Option<Vec<String>>,
    ) -> Res<Proc> {
        let (prog, args): (PathBuf, Vec<String>) = match who {
            Who::ZoomWs | Who::Bare | Who::Discard => {
                let kind = match who {
                    Who::ZoomWs => "zoomws",
                    Who::Bare => "bare",
                    _ => "discard",
                };
                (
                    self.exe.clone(),
                    vec!["__client".into(), kind.into(), mode.into(), n.to_string()],
                )
            }
            Who::Node => (
                "node".into(),
                vec![
                    self.bench_dir.join("node_client.js").display().to_string(),
                    mode.into(),
                    n.to_string(),
                ],
            ),
            Who::Python | Who::PythonDefault => (
                self.bench_dir.join(".venv/bin/python"),
                vec![
                    self.bench_dir
                        .join("python_client.py")
                        .display()
                        .to_string(),
                    mode.into(),
                    n.to_string(),
                ],
            ),
        };
        // BENCH_WRAP_ZOOMWS="perf record -g -o zoomws.data --" (or
        // BENCH_WRAP_BARE, _DISCARD, _NODE, _PYTHON) runs that client
        // under a profiler or a counter.
        let words: Vec<String> = match std::env::var(format!("BENCH_WRAP_{}", who.wrap_name())) {
            Ok(w) if !w.trim().is_empty() => w.split_whitespace().map(String::from).collect(),
            _ => wrap.unwrap_or_default(),
        };
        let mut words = words.iter();
        let mut cmd = match words.next() {
            Some(w) => {
                let mut c = Command::new(w);
                c.args(words).arg(&prog);
                c
            }
            None => Command::new(&prog),
        };
        cmd.args(&args);
        if who == Who::Python || who == Who::PythonDefault {
            cmd.env("PY_SKIP_UTF8", if who == Who::Python { "1" } else { "0" });
        }
        emu.env(&mut cmd);
        Proc::spawn(who.label(), cmd)
    }
}

struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
    count: u64,
    /// How late the emulator's sender woke, p99 and max (µs).
    sender_late_p99: f64,
    sender_late_max: f64,
}

fn run_latency(ctx: &Ctx, emu: &mut Emulator, who: Who, rate: u64, secs: u64) -> Res<Latency> {
    emu.idle()?;
    let n = rate * secs;
    let client = ctx.client(who, "latency", n, emu)?;
    client.expect("READY", Duration::from_secs(30))?;
    let sent = emu.cmd(
        &format!("paced {rate} {secs}"),
        "SENT",
        Duration::from_secs(secs + 30),
    )?;
    let late: Vec<f64> = sent
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let r = client.result(Duration::from_secs(30))?;
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    Ok(Latency {
        p50: f("p50_us"),
        p99: f("p99_us"),
        max: f("max_us"),
        count: r["count"].as_u64().unwrap_or(0),
        sender_late_p99: late.get(1).copied().unwrap_or(f64::NAN),
        sender_late_max: late.get(2).copied().unwrap_or(f64::NAN),
    })
}

struct Gaps {
    clean: Vec<f64>,
    abrupt: Vec<f64>,
    oauth_requests: u64,
}

/// `trials` clean closes, then `trials` abrupt drops; gap = from the
/// emulator's close to the client's `Reconnected.at`.
fn run_reconnect(ctx: &Ctx, emu: &mut Emulator, trials: u64) -> Res<Gaps> {
    emu.idle()?;
    let mut client = ctx.client(Who::ZoomWs, "reconnect", trials * 2, emu)?;
    let mut gaps = Gaps {
        clean: Vec::new(),
        abrupt: Vec::new(),
        oauth_requests: 0,
    };
    for i in 0..trials * 2 {
        client.expect("READY", Duration::from_secs(30))?;
        let (tokens_before, ..) = emu.stats()?;
        let how = if i < trials { "close" } else { "drop" };
        let closed = emu.cmd(how, "CLOSED", Duration::from_secs(5))?;
        let closed_at: u64 = first_num(&closed)?;
        let back = client.expect("RECONNECTED", Duration::from_secs(30))?;
        let at: u64 = first_num(&back)?;
        let (tokens_after, ..) = emu.stats()?;
        if tokens_after != tokens_before {
            eprintln!(
                "bench:   token requests so far: {}",
                emu.cmd("tokens", "TOKENS", Duration::from_secs(5))?
            );
            eprintln!(
                "bench: reconnect trial {i}: {} token request(s) between the close and the new connection",
                tokens_after - tokens_before
            );
        }
        gaps.oauth_requests += tokens_after - tokens_before;
        client.send("next")?;
        let gap_ms = at.saturating_sub(closed_at) as f64 / 1000.0;
        if i < trials {
            gaps.clean.push(gap_ms);
        } else {
            gaps.abrupt.push(gap_ms);
        }
    }
    client.result(Duration::from_secs(30))?;
    let list = |v: &[f64]| {
        v.iter()
            .map(|g| format!("{g:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!("bench:   clean close gaps (ms): {}", list(&gaps.clean));
    eprintln!("bench:   abrupt drop gaps (ms): {}", list(&gaps.abrupt));
    Ok(gaps)
}

/// One client closed `trials` times, 1 s apart: the gaps, in ms.
fn run_reconnect_same(ctx: &Ctx, emu: &mut Emulator, trials: u64) -> Res<Vec<f64>> {
    emu.idle()?;
    let client = ctx.client(Who::ZoomWs, "reconnect-same", trials, emu)?;
    client.expect("READY", Duration::from_secs(30))?;
    let mut out = Vec::new();
    for _ in 0..trials {
        std::thread::sleep(Duration::from_secs(1));
        let closed = emu.cmd("close", "CLOSED", Duration::from_secs(5))?;
        let back = client.expect("RECONNECTED", Duration::from_secs(60))?;
        out.push(first_num(&back)?.saturating_sub(first_num(&closed)?) as f64 / 1000.0);
    }
    client.result(Duration::from_secs(30))?;
    Ok(out)
}

fn run_deadlink(ctx: &Ctx, emu: &mut Emulator, trials: u64) -> Res<Vec<f64>> {
    emu.idle()?;
    let client = ctx.client(Who::ZoomWs, "deadlink", trials, emu)?;
    let mut out = Vec::new();
    for _ in 0..trials {
        client.expect("READY", Duration::from_secs(30))?;
        // A moment in, so the silence does not start on a heartbeat.
        std::thread::sleep(Duration::from_millis(300));
        let closed = emu.cmd("silent", "CLOSED", Duration::from_secs(5))?;
        let back = client.expect("RECONNECTED", Duration::from_secs(30))?;
        out.push(first_num(&back)?.saturating_sub(first_num(&closed)?) as f64 / 1000.0);
    }
    client.result(Duration::from_secs(30))?;
    Ok(out)
}

/// Idle figures per minute, from a result with `secs`, `threads` and RSS.
struct IdleFigures {
    /// CPU ms of the crate's threads (socket + oauth).
    cpu: f64,
    /// Their wake-ups.
    wakeups: f64,
    cpu_all: f64,
    wakeups_all: f64,
    rss: f64,
    anon: f64,
    file: f64,
}

impl IdleFigures {
    fn of(r: &Value) -> IdleFigures {
        let per_min = 60.0 / r["secs"].as_f64().unwrap_or(f64::NAN);
        let th = &r["threads"];
        let crate_threads = ["zoom-ws-socket", "zoom-ws-oauth"];
        let sum = |key: &str| -> f64 {
            crate_threads
                .iter()
                .map(|n| th[*n][key].as_f64().unwrap_or(0.0))
                .sum()
        };
        let all = |key: &str| -> f64 {
            th.as_object()
                .map(|m| m.values().map(|v| v[key].as_f64().unwrap_or(0.0)).sum())
                .unwrap_or(f64::NAN)
        };
        let mib = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) / 1024.0;
        IdleFigures {
            cpu: sum("cpu_ms") * per_min,
            wakeups: sum("wakeups") * per_min,
            cpu_all: all("cpu_ms") * per_min,
            wakeups_all: all("wakeups") * per_min,
            rss: mib("rss_kib"),
            anon: mib("rss_anon_kib"),
            file: mib("rss_file_kib"),
        }
    }
}

/// Starts zoom-ws's examples/listen (built if missing, with this binary's
/// profile, into the same target directory) against `emu`, output
/// discarded, and waits for its connection.
fn start_listen(ctx: &Ctx, emu: &mut Emulator) -> Res<Child> {
    let path = ctx.exe.with_file_name("examples").join("listen");
    if !path.exists() {
        eprintln!("bench: building examples/listen");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["build", "-p", "zoom-ws", "--example", "listen"];
        if !cfg!(debug_assertions) {
            args.push("--release");
        }
        let ok = Command::new(cargo)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !path.exists() {
            return Err("cannot build examples/listen".into());
        }
    }
    emu.idle()?;
    let mut cmd = Command::new(&path);
    emu.env(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", path.display()))?;
    if emu.cmd("wait_live 1 20000", "", Duration::from_secs(25))? != "OK" {
        let _ = child.kill();
        let _ = child.wait();
        return Err("examples/listen did not connect".into());
    }
    Ok(child)
}

fn first_num(s: &str) -> Res<u64> {
    s.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("not a number: {s:?}"))
}

struct Opts {
    phases: Vec<String>,
    events: u64,
    reps: usize,
    idle_secs: u64,
    alternatives: bool,
    quick: bool,
    plain: bool,
    tls: bool,
    syscalls: bool,
}

impl Opts {
    fn transports(&self) -> Vec<bool> {
        [(self.plain, false), (self.tls, true)]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, tls)| *tls)
            .collect()
    }
}

fn parse(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        phases: Vec::new(),
        events: 1_000_000,
        reps: 3,
        idle_secs: 60,
        alternatives: true,
        quick: false,
        plain: true,
        tls: true,
        syscalls: false,
    };
    let mut it = args.iter();
    let mut idle = true;
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Res<u64> {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--events" => o.events = value("--events")?,
            "--reps" => o.reps = value("--reps")?.max(1) as usize,
            "--idle-secs" => o.idle_secs = value("--idle-secs")?,
            "--no-idle" => idle = false,
            "--no-alternatives" => o.alternatives = false,
            "--plain-only" => o.tls = false,
            "--tls-only" => o.plain = false,
            "--syscalls" => o.syscalls = true,
            "-h" | "--help" => {
                return Err("usage: bench [throughput|latency|reconnect|deadlink|idle|memory]... [--quick] [--events N] [--reps N] [--idle-secs N] [--no-idle] [--no-alternatives] [--plain-only | --tls-only] [--syscalls]".into())
            }
            p @ ("throughput" | "latency" | "reconnect" | "deadlink" | "idle" | "memory") => {
                o.phases.push(p.to_owned())
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if o.quick {
        o.events = o.events.min(100_000);
        o.reps = 1;
        o.idle_secs = o.idle_secs.min(5);
    }
    if o.phases.is_empty() {
        o.phases = [
            "throughput",
            "latency",
            "reconnect",
            "deadlink",
            "idle",
            "memory",
        ]
        .map(String::from)
        .to_vec();
    }
    if !idle {
        o.phases.retain(|p| p != "idle");
    }
    Ok(o)
}

/// bench/ beside Cargo.toml; installs the alternatives if missing.
fn setup_alternatives(bench_dir: &Path) -> (bool, bool) {
    let node_ok = |d: &Path| d.join("node_modules/ws/package.json").exists();
    let py_ok = |d: &Path| d.join(".venv/bin/python").exists();
    if !node_ok(bench_dir) || !py_ok(bench_dir) {
        eprintln!("bench: installing the alternatives with bench/setup.sh");
        let status = Command::new("bash")
            .arg(bench_dir.join("setup.sh"))
            .stdout(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("bench: bench/setup.sh failed; skipping what it did not install");
        }
    }
    let has = |prog: &str| {
        Command::new(prog)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    (
        node_ok(bench_dir) && has("node"),
        py_ok(bench_dir) && has(&bench_dir.join(".venv/bin/python").display().to_string()),
    )
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(String::new(), |kib| {
            format!(", {} GiB RAM", kib / (1 << 20))
        });
    let version = |prog: &str, arg: &str| {
        Command::new(prog)
            .arg(arg)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{cores} cores, {model}{mem}, Linux {}; {}; node {}",
        kernel.trim(),
        version("rustc", "--version"),
        version("node", "--version"),
    )
}

/// Figures collected for the table: (row, column) -> value text.
#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

struct Row {
    measure: String,
    cells: [String; 4], // zoom-ws, bare, Node, Python
    ratios: [String; 3],
    target: String,
    verdict: String,
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 100_000.0 {
        let n = v.round() as u64;
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => {
            format!("{:.2}", a / b)
        }
        _ => String::new(),
    }
}

impl Table {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        measure: &str,
        zoom: Option<f64>,
        bare: Option<f64>,
        node: Option<f64>,
        python: Option<f64>,
        target: &str,
        verdict: &str,
    ) {
        let cell = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
        self.rows.push(Row {
            measure: measure.into(),
            cells: [cell(zoom), cell(bare), cell(node), cell(python)],
            ratios: [ratio(zoom, bare), ratio(zoom, node), ratio(zoom, python)],
            target: target.into(),
            verdict: verdict.into(),
        });
    }

    /// A row whose ratio cells are given (median and range, say).
    fn row_with_ratios(
        &mut self,
        measure: &str,
        cells: [Option<f64>; 4],
        ratios: [String; 3],
        target: &str,
        verdict: &str,
    ) {
        let cell = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
        self.rows.push(Row {
            measure: measure.into(),
            cells: cells.map(cell),
            ratios,
            target: target.into(),
            verdict: verdict.into(),
        });
    }

    fn text_row(&mut self, measure: &str, zoom: String, target: &str, verdict: &str) {
        self.rows.push(Row {
            measure: measure.into(),
            cells: [zoom, String::new(), String::new(), String::new()],
            ratios: Default::default(),
            target: target.into(),
            verdict: verdict.into(),
        });
    }

    fn print(&self) {
        println!("| measure | zoom-ws | bare loop | Node ws | Python websocket-client | zoom-ws / bare | zoom-ws / Node | zoom-ws / Python | target | met |");
        println!("|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.measure,
                r.cells[0],
                r.cells[1],
                r.cells[2],
                r.cells[3],
                r.ratios[0],
                r.ratios[1],
                r.ratios[2],
                r.target,
                r.verdict
            );
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

fn report<T>(what: &str, r: Res<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("bench: {what} failed: {e}");
            None
        }
    }
}

pub fn main(args: &[String]) -> Res<()> {
    let opts = parse(args)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // This package's folder: setup.sh and the Node and Python clients.
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (node, python) = if opts.alternatives {
        setup_alternatives(&bench_dir)
    } else {
        (false, false)
    };
    let syscalls = opts.syscalls && throughput::perf_stat_works();
    if opts.syscalls && !syscalls {
        eprintln!("bench: --syscalls: perf stat cannot count syscall tracepoints here; skipped");
    }
    let ctx = Ctx {
        exe,
        bench_dir,
        node,
        python,
        syscalls,
    };
    let started = Instant::now();
    let has = |p: &str| opts.phases.iter().any(|x| x == p);
    let mut table = Table::default();
    let mut notes: Vec<String> = Vec::new();
    eprintln!("bench: {}", machine());
    let load_before = loadavg();
    if load_before > 0.5 {
        eprintln!("bench: warning: load average {load_before:.2} before the start: other work on this machine skews the figures");
    }

    if has("throughput") {
        throughput::phase(&ctx, &opts, &mut table, &mut notes)?;
    }

    if has("latency") {
        let (rate, secs) = if opts.quick { (1000, 2) } else { (1000, 10) };
        for tls in opts.transports() {
            let t = if tls { "TLS" } else { "plain" };
            let mut emu = Emulator::start(&ctx.exe, tls)?;
            let mut got: HashMap<Who, Latency> = HashMap::new();
            let mut late_notes = Vec::new();
            let whos: &[Who] = if tls {
                &[Who::ZoomWs, Who::Bare]
            } else {
                &[Who::ZoomWs, Who::Bare, Who::Node, Who::Python]
            };
            for &who in whos {
                let on = match who {
                    Who::Node => ctx.node,
                    Who::Python => ctx.python,
                    _ => true,
                };
                if on {
                    eprintln!("bench: latency {t} {}", who.label());
                    if let Some(l) =
                        report(who.label(), run_latency(&ctx, &mut emu, who, rate, secs))
                    {
                        if l.count < rate * secs {
                            notes.push(format!(
                                "latency {t} {}: only {} events",
                                who.label(),
                                l.count
                            ));
                        }
                        eprintln!(
                            "bench:   p50 {} µs, p99 {} µs, max {} µs; the emulator's timer woke late by {} µs at p99, {} µs at most",
                            fmt_num(l.p50),
                            fmt_num(l.p99),
                            fmt_num(l.max),
                            fmt_num(l.sender_late_p99),
                            fmt_num(l.sender_late_max)
                        );
                        late_notes.push(format!(
                            "{} {}/{}",
                            who.label(),
                            fmt_num(l.sender_late_p99),
                            fmt_num(l.sender_late_max)
                        ));
                        got.insert(who, l);
                    }
                }
            }
            notes.push(format!(
                "latency {t}: the emulator's sleep-until-due timer woke late (p99/max µs) during the run of: {} (scheduling noise on this machine, not part of the figures: each event is stamped after the wake-up)",
                late_notes.join(", ")
            ));
            let pick = |who: Who, f: fn(&Latency) -> f64| got.get(&who).map(f);
            for (label, f) in [
                ("p50", (|l: &Latency| l.p50) as fn(&Latency) -> f64),
                ("p99", |l: &Latency| l.p99),
                ("max", |l: &Latency| l.max),
            ] {
                let z = pick(Who::ZoomWs, f);
                let (target, ok) = if label == "p99" {
                    ("< 1000 µs", verdict(z.is_some_and(|v| v < 1000.0)))
                } else {
                    ("", "")
                };
                table.row(
                    &format!("latency {label} at {rate}/s, {t} (µs)"),
                    z,
                    pick(Who::Bare, f),
                    pick(Who::Node, f),
                    pick(Who::Python, f),
                    target,
                    ok,
                );
            }
        }
    }

    if has("reconnect") {
        let trials = if opts.quick { 5 } else { 20 };
        let mut emu = Emulator::start(&ctx.exe, false)?;
        eprintln!("bench: reconnect, {trials} clean + {trials} abrupt");
        if let Some(g) = report("reconnect", run_reconnect(&ctx, &mut emu, trials)) {
            let clean = sorted(g.clean);
            let abrupt = sorted(g.abrupt);
            let p50 = percentile(&clean, 50.0);
            table.text_row(
                "reconnect gap after a clean close, p50 / max (ms)",
                format!("{} / {}", fmt_num(p50), fmt_num(percentile(&clean, 100.0))),
                "p50 < 20 ms",
                verdict(p50 < 20.0),
            );
            table.text_row(
                "reconnect gap after an abrupt drop, p50 / max (ms)",
                format!(
                    "{} / {}",
                    fmt_num(percentile(&abrupt, 50.0)),
                    fmt_num(percentile(&abrupt, 100.0))
                ),
                "",
                "",
            );
            let same_trials = if opts.quick { 3 } else { 5 };
            eprintln!("bench: reconnect, one client closed {same_trials} times, 1 s apart");
            if let Some(v) = report(
                "reconnect, same client",
                run_reconnect_same(&ctx, &mut emu, same_trials),
            ) {
                table.text_row(
                    &format!("reconnect gaps, one client closed {same_trials} times 1 s apart, in order (ms)"),
                    v.iter().map(|g| fmt_num(*g)).collect::<Vec<_>>().join(", "),
                    "",
                    "",
                );
            }
            table.text_row(
                "token requests on the reconnect path",
                g.oauth_requests.to_string(),
                "0",
                verdict(g.oauth_requests == 0),
            );
        }
    }

    if has("deadlink") {
        let trials = if opts.quick { 1 } else { 3 };
        let mut emu = Emulator::start(&ctx.exe, false)?;
        eprintln!("bench: dead link, {trials} trials");
        if let Some(v) = report("dead link", run_deadlink(&ctx, &mut emu, trials)) {
            let v = sorted(v);
            let bound =
                (client::DEADLINK_HEARTBEAT + client::DEADLINK_TIMEOUT).as_secs_f64() * 1000.0;
            let max = percentile(&v, 100.0);
            table.text_row(
                &format!(
                    "dead link (heartbeat {} s, dead-link timeout {} s): silence to new connection, min / max (ms)",
                    client::DEADLINK_HEARTBEAT.as_secs(),
                    client::DEADLINK_TIMEOUT.as_secs()
                ),
                format!("{} / {}", fmt_num(v[0]), fmt_num(max)),
                &format!("≤ {bound:.0} ms"),
                verdict(max <= bound),
            );
        }
    }

    if has("idle") {
        let secs = opts.idle_secs;
        eprintln!("bench: idle for {secs} s (the bench's own client, and examples/listen)");
        let mut emu = Emulator::start(&ctx.exe, false)?;
        let mut emu2 = Emulator::start(&ctx.exe, false)?;
        // examples/listen: an unmodified app, measured from outside.
        let listen = report("examples/listen", start_listen(&ctx, &mut emu2));
        let run = (|| -> Res<(Value, u64, Option<Value>)> {
            emu.idle()?;
            let client = ctx.client(Who::ZoomWs, "idle", secs, &emu)?;
            client.expect("READY", Duration::from_secs(30))?;
            let (.., hb0) = emu.stats()?;
            let outside = listen.as_ref().map(|l| {
                let base = format!("/proc/{}", l.id());
                std::thread::sleep(Duration::from_secs(1));
                let before = procfs::threads_of(&base);
                let t0 = Instant::now();
                std::thread::sleep(Duration::from_secs(secs));
                let after = procfs::threads_of(&base);
                json!({
                    "secs": t0.elapsed().as_secs_f64(),
                    "threads": procfs::thread_deltas(&before, &after),
                    "rss_kib": procfs::status_kib_of(&base, "VmRSS:"),
                    "rss_anon_kib": procfs::status_kib_of(&base, "RssAnon:"),
                    "rss_file_kib": procfs::status_kib_of(&base, "RssFile:"),
                })
            });
            let r = client.result(Duration::from_secs(secs + 30))?;
            let (.., hb1) = emu.stats()?;
            Ok((r, hb1 - hb0, outside))
        })();
        if let Some(mut child) = listen {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((r, heartbeats, outside)) = report("idle", run) {
            let IdleFigures {
                cpu,
                wakeups,
                rss,
                anon,
                file,
                ..
            } = IdleFigures::of(&r);
            let user_wakeups = r["threads"]["bench-user"]["wakeups"]
                .as_f64()
                .unwrap_or(0.0);
            let listen_figures = outside.as_ref().map(IdleFigures::of);
            let lf = |f: fn(&IdleFigures) -> String| {
                listen_figures
                    .as_ref()
                    .map_or(String::new(), |x| format!("; examples/listen: {}", f(x)))
            };
            table.text_row(
                "idle, default heartbeat: CPU of the client's threads (ms per minute)",
                format!(
                    "{cpu:.3}{}",
                    lf(|x| format!("{:.3} (all its threads: {:.3})", x.cpu, x.cpu_all))
                ),
                "< 5 ms",
                verdict(cpu < 5.0 && listen_figures.as_ref().is_none_or(|x| x.cpu < 5.0)),
            );
            table.text_row(
                "idle: wake-ups per minute of the client's threads (socket + oauth)",
                format!(
                    "{}{}",
                    fmt_num(wakeups),
                    lf(|x| format!(
                        "{} (all its threads: {})",
                        fmt_num(x.wakeups),
                        fmt_num(x.wakeups_all)
                    ))
                ),
                "≤ 4",
                verdict(wakeups <= 4.0 && listen_figures.as_ref().is_none_or(|x| x.wakeups <= 4.0)),
            );
            table.text_row(
                "idle: RSS of the client process, total (private + mapped files) (MiB)",
                format!(
                    "{rss:.2} ({anon:.2} + {file:.2}){}",
                    lf(|x| format!("{:.2} ({:.2} + {:.2})", x.rss, x.anon, x.file))
                ),
                "< 4 MiB",
                verdict(rss < 4.0),
            );
            notes.push(format!(
                "idle: {:.1} s measured, {heartbeats} heartbeats; the user's thread woke {user_wakeups} times; per thread: {}; resident by mapping: {}",
                r["secs"].as_f64().unwrap_or(f64::NAN),
                r["threads"],
                r["rss_by_mapping"]
            ));
            if let Some(o) = &outside {
                notes.push(format!(
                    "idle, examples/listen (measured from outside through /proc/<pid>): {o}"
                ));
            }
        }
    }

    if has("memory") {
        let count = if opts.quick { 20_000 } else { 100_000 };
        let mut emu = Emulator::start(&ctx.exe, false)?;
        eprintln!("bench: memory, {count} events to a slow consumer");
        let run = (|| -> Res<Value> {
            emu.cmd(&format!("prepare {count}"), "OK", Duration::from_secs(60))?;
            emu.idle()?;
            let client = ctx.client(Who::ZoomWs, "memory", count, &emu)?;
            client.expect("READY", Duration::from_secs(30))?;
            emu.cmd(&format!("send {count}"), "SENT", Duration::from_secs(60))?;
            client.result(Duration::from_secs(120))
        })();
        if let Some(r) = report("memory", run) {
            let mib = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) / 1024.0;
            table.text_row(
                &format!("memory: {count}-event burst, slow consumer, unbounded channel: RSS connected / peak / after reading all (MiB); peak backlog (events)"),
                format!(
                    "{:.1} / {:.1} / {:.1} ({:.1} after malloc_trim); {}",
                    mib("rss_connected_kib"),
                    mib("hwm_kib"),
                    mib("rss_after_kib"),
                    mib("rss_trimmed_kib"),
                    r["peak_backlog"]
                ),
                "",
                "",
            );
        }
    }

    println!();
    println!("Machine: {}", machine());
    println!();
    table.print();
    println!();
    for n in notes {
        println!("- {n}");
    }
    println!(
        "- total time: {:.0} s; 1-minute load average {load_before:.2} at the start, {:.2} at the end (the benchmark itself adds about 2)",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    Ok(())
}
