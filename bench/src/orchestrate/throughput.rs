//! The throughput phase: interleaved repetitions of every client (discard,
//! bare loop, zoom-ws, Node), each measured by itself (rate and CPU from its
//! first event to its last) and from outside through `/proc/<pid>` (CPU and
//! wake-ups per thread; syscalls too with `--syscalls`), then the ratios
//! against Node and the bare loop with their spread over the repetitions.

use super::*;

/// One throughput run: the client connects, the emulator sends `n`
/// events, the client reports.
#[derive(Debug, Clone)]
pub(super) struct Rate {
    pub events_per_sec: f64,
    pub cpu_per_million: f64,
    pub emulator_per_sec: f64,
    pub events: f64,
    /// Per thread name, from outside, over the run: `{cpu_ms, wakeups, preempted}`.
    pub threads: Value,
    /// Per syscall (perf stat tracepoints), over the client's whole life.
    pub syscalls: Vec<(String, f64)>,
}

/// The events counted with `--syscalls` (perf stat tracepoints).
const SYSCALL_EVENTS: &[&str] = &[
    "raw_syscalls:sys_enter",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_futex",
    "syscalls:sys_enter_sched_yield",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_sendto",
];

/// True if `perf stat` can count syscall tracepoints here.
pub(super) fn perf_stat_works() -> bool {
    Command::new("perf")
        .args(["stat", "-x,", "-e", SYSCALL_EVENTS[0], "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn perf_stat_file() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "zoom-ws-bench-{}-{}.perfstat",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// `perf stat -x,` output: (event, count) per line.
fn read_perf_stat(path: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.get(2)?.to_string(), f.first()?.parse().ok()?))
        })
        .collect()
}

pub(super) fn run_count(
    ctx: &Ctx,
    emu: &mut Emulator,
    who: Who,
    n: u64,
    timeout: Duration,
) -> Res<Rate> {
    emu.idle()?;
    let stat = ctx.syscalls.then(perf_stat_file);
    let wrap = stat.as_ref().map(|path| {
        let mut w = vec![
            "perf".to_string(),
            "stat".into(),
            "-x,".into(),
            "-o".into(),
            path.display().to_string(),
        ];
        for e in SYSCALL_EVENTS {
            w.push("-e".into());
            w.push((*e).into());
        }
        w.push("--".into());
        w
    });
    let mut client = ctx.client_wrapped(who, "count", n, emu, wrap)?;
    // Under valgrind (BENCH_WRAP_...), a client starts and runs far slower.
    let slow = std::env::var(format!("BENCH_WRAP_{}", who.wrap_name()))
        .is_ok_and(|w| w.contains("valgrind"));
    let timeout = if slow { timeout * 50 } else { timeout };
    client.expect(
        "READY",
        if slow {
            timeout
        } else {
            Duration::from_secs(30)
        },
    )?;
    // The bare and discarding clients are READY on the upgrade: wait
    // until the emulator counts the connection, or it sends to nobody.
    if emu.cmd("wait_live 1 10000", "", Duration::from_secs(15))? != "OK" {
        return Err(format!("{}: the emulator saw no connection", who.label()));
    }
    let base = format!("/proc/{}", client.measured_pid());
    let before = procfs::threads_of(&base);
    let sent = emu.cmd(&format!("send {n}"), "SENT", timeout)?;
    client.expect("COUNTED", timeout)?;
    let after = procfs::threads_of(&base);
    // The Rust clients wait for this before they close (and end threads).
    client.send("measured")?;
    let result = client.result(timeout)?;
    // Ends the client (and perf stat, which then writes its file).
    drop(client);
    let sent: Vec<f64> = sent
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let secs = result["secs"].as_f64().unwrap_or(f64::NAN);
    let count = result["count"].as_f64().unwrap_or(f64::NAN);
    let cpu = result["cpu_secs"].as_f64().unwrap_or(f64::NAN);
    let emu_secs = sent.get(1).copied().unwrap_or(f64::NAN);
    Ok(Rate {
        // The first event starts the clock: count - 1 intervals.
        events_per_sec: (count - 1.0) / secs,
        cpu_per_million: cpu / count * 1e6,
        emulator_per_sec: n as f64 / emu_secs,
        events: count,
        threads: procfs::thread_deltas(&before, &after),
        syscalls: stat.map(|p| read_perf_stat(&p)).unwrap_or_default(),
    })
}

fn median_rate(v: &[Rate]) -> Option<Rate> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.events_per_sec.total_cmp(&b.events_per_sec));
    v.get(v.len() / 2).cloned()
}

/// Median and range of some ratios: "1.62 (1.51–1.70)".
fn spread(mut v: Vec<f64>) -> Option<(f64, String)> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v[v.len() / 2];
    let text = if v.len() == 1 {
        format!("{m:.2}")
    } else {
        format!("{m:.2} ({:.2}–{:.2})", v[0], v[v.len() - 1])
    };
    Some((m, text))
}

/// Per-thread CPU and wake-ups per event, added up over runs: "CPU µs per
/// event by thread: a 1.20, b 0.30; wake-ups per 1k events: a 0.5, b 2.0;
/// preempted per 1k events: ...".
fn breakdown(runs: &[Rate]) -> String {
    let events: f64 = runs.iter().map(|r| r.events).sum();
    let mut by: Vec<(String, [f64; 3])> = Vec::new();
    for r in runs {
        let Some(m) = r.threads.as_object() else {
            continue;
        };
        for (name, v) in m {
            let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
            let add = [f("cpu_ms"), f("wakeups"), f("preempted")];
            match by.iter_mut().find(|(n, _)| n == name) {
                Some((_, a)) => (0..3).for_each(|i| a[i] += add[i]),
                None => by.push((name.clone(), add)),
            }
        }
    }
    by.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    // The busiest three threads by name; the rest together.
    let mut shown: Vec<(String, [f64; 3])> = by.iter().take(3).cloned().collect();
    if by.len() > 3 {
        let mut rest = [0.0; 3];
        for (_, a) in &by[3..] {
            (0..3).for_each(|i| rest[i] += a[i]);
        }
        shown.push((format!("{} others", by.len() - 3), rest));
    }
    let list = |i: usize, scale: f64, digits: usize| {
        shown
            .iter()
            .map(|(n, a)| format!("{n} {:.*}", digits, a[i] * scale / events))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total_cpu: f64 = by.iter().map(|(_, a)| a[0]).sum::<f64>() * 1e3 / events;
    let mut s = format!(
        "CPU µs per event {total_cpu:.2} ({}); wake-ups per 1k events: {}; preempted per 1k events: {}",
        list(0, 1e3, 2),
        list(1, 1e3, 1),
        list(2, 1e3, 1)
    );
    let mut sys: Vec<(String, f64)> = Vec::new();
    for r in runs {
        for (name, v) in &r.syscalls {
            match sys.iter_mut().find(|(n, _)| n == name) {
                Some((_, a)) => *a += v,
                None => sys.push((name.clone(), *v)),
            }
        }
    }
    if !sys.is_empty() {
        let per: Vec<String> = sys
            .iter()
            .map(|(n, v)| {
                let short = n
                    .trim_start_matches("syscalls:sys_enter_")
                    .replace("raw_syscalls:sys_enter", "all syscalls");
                format!("{short} {:.3}", v / events)
            })
            .collect();
        let _ = write!(
            s,
            "; syscalls per event (perf stat, whole process life): {}",
            per.join(", ")
        );
    }
    s
}

/// Runs the phase for every transport asked for, and fills the table.
pub(super) fn phase(ctx: &Ctx, opts: &Opts, table: &mut Table, notes: &mut Vec<String>) -> Res<()> {
    let n = opts.events;
    let n_python = (n / 5).max(1000);
    let n_python_default = (n / 100).max(1000);
    for tls in opts.transports() {
        let t = if tls { "TLS" } else { "plain" };
        let mut emu = Emulator::start(&ctx.exe, tls)?;
        for k in [n, n_python, n_python_default] {
            emu.cmd(&format!("prepare {k}"), "OK", Duration::from_secs(60))?;
        }
        let timeout = Duration::from_secs(60 + n / 10_000);
        let mut runs: HashMap<Who, Vec<Rate>> = HashMap::new();
        // Per repetition, by client: a missing run leaves a gap (None), so
        // that ratios pair runs of the same repetition.
        let mut reps: Vec<HashMap<Who, Rate>> = Vec::new();
        let mut whos = vec![Who::Discard, Who::Bare, Who::ZoomWs];
        if ctx.node {
            whos.push(Who::Node);
        }
        // Interleaved repetitions: drift in the machine hits all alike.
        for rep in 0..opts.reps {
            let mut this = HashMap::new();
            for &who in &whos {
                eprintln!(
                    "bench: throughput {t} {} ({}/{})",
                    who.label(),
                    rep + 1,
                    opts.reps
                );
                if let Some(r) = report(who.label(), run_count(ctx, &mut emu, who, n, timeout)) {
                    eprintln!(
                        "bench:   {} events/s, {} CPU s per 1M events; emulator {} events/s",
                        fmt_num(r.events_per_sec),
                        fmt_num(r.cpu_per_million),
                        fmt_num(r.emulator_per_sec)
                    );
                    runs.entry(who).or_default().push(r.clone());
                    this.insert(who, r);
                }
            }
            reps.push(this);
        }
        for (who, on, count) in [
            (Who::Python, ctx.python, n_python),
            (Who::PythonDefault, ctx.python && !tls, n_python_default),
        ] {
            if on {
                eprintln!("bench: throughput {t} {}", who.label());
                let timeout = Duration::from_secs(60 + count / 2_000);
                if let Some(r) = report(who.label(), run_count(ctx, &mut emu, who, count, timeout))
                {
                    runs.entry(who).or_default().push(r);
                }
            }
        }
        if let Some(r) = runs.get(&Who::PythonDefault).and_then(|v| v.first()) {
            notes.push(format!(
                "throughput {t}, Python websocket-client as it comes (UTF-8 validated in pure Python), {n_python_default} events: {} events/s, {} CPU s per 1M events; the table's Python column passes skip_utf8_validation=True",
                fmt_num(r.events_per_sec),
                fmt_num(r.cpu_per_million)
            ));
        }
        let get = |w: Who| runs.get(&w).and_then(|v| median_rate(v));
        let (z, b, d, nd, py) = (
            get(Who::ZoomWs),
            get(Who::Bare),
            get(Who::Discard),
            get(Who::Node),
            get(Who::Python),
        );
        // Ratios within each repetition, then their median and range.
        let ratios = |other: Who, f: fn(&Rate) -> f64| {
            spread(
                reps.iter()
                    .filter_map(|r| Some(f(r.get(&Who::ZoomWs)?) / f(r.get(&other)?)))
                    .collect(),
            )
        };
        let rate = |r: &Rate| r.events_per_sec;
        let cpu = |r: &Rate| r.cpu_per_million;
        let text = |x: &Option<(f64, String)>| x.as_ref().map(|x| x.1.clone()).unwrap_or_default();
        let (tb, tn) = (ratios(Who::Bare, rate), ratios(Who::Node, rate));
        let (cb, cn) = (ratios(Who::Bare, cpu), ratios(Who::Node, cpu));
        let ratio_py = |f: fn(&Rate) -> f64| match (&z, &py) {
            (Some(z), Some(p)) => format!("{:.2}", f(z) / f(p)),
            _ => String::new(),
        };
        let cell = |r: &Option<Rate>, f: fn(&Rate) -> f64| r.as_ref().map(f);
        table.row_with_ratios(
            &format!("throughput, {t} (events/s)"),
            [
                cell(&z, rate),
                cell(&b, rate),
                cell(&nd, rate),
                cell(&py, rate),
            ],
            [text(&tb), text(&tn), ratio_py(rate)],
            "≥ 1.5 × Node",
            match &tn {
                Some((m, _)) => verdict(*m >= 1.5),
                None => "",
            },
        );
        table.row_with_ratios(
            &format!("CPU per 1M events, {t} (s)"),
            [cell(&z, cpu), cell(&b, cpu), cell(&nd, cpu), cell(&py, cpu)],
            [text(&cb), text(&cn), ratio_py(cpu)],
            "≤ 0.7 × Node",
            match &cn {
                Some((m, _)) => verdict(*m <= 0.7),
                None => "",
            },
        );
        if let Some(d) = &d {
            table.text_row(
                &format!(
                    "emulator, {t}: discarding client's rate / emulator's send rate (events/s)"
                ),
                format!(
                    "{} / {}",
                    fmt_num(d.events_per_sec),
                    fmt_num(d.emulator_per_sec)
                ),
                "not the bottleneck",
                verdict(
                    z.as_ref()
                        .is_none_or(|z| d.events_per_sec > 2.0 * z.events_per_sec),
                ),
            );
        }
        let per_rep = |w: Who| {
            reps.iter()
                .map(|r| r.get(&w).map_or("-".into(), |r| fmt_num(r.events_per_sec)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        notes.push(format!(
            "throughput {t}: {n} events ({n_python} for Python), {} interleaved repetitions; events/s per repetition: zoom-ws {}; bare loop {}; Node {}; discard {}. The table shows each client's median run, and the ratios' median (range) over the repetitions",
            opts.reps,
            per_rep(Who::ZoomWs),
            per_rep(Who::Bare),
            per_rep(Who::Node),
            per_rep(Who::Discard),
        ));
        for who in [Who::ZoomWs, Who::Bare, Who::Node, Who::Python, Who::Discard] {
            if let Some(v) = runs.get(&who) {
                notes.push(format!(
                    "breakdown {t}, {} (from /proc/<pid>, over the runs): {}",
                    who.label(),
                    breakdown(v)
                ));
            }
        }
    }
    Ok(())
}
