//! Measuring this process: CPU (ns, from schedstat), wake-ups, RSS.

use std::fs;

/// One thread of this process.
#[derive(Debug, Clone, Default)]
pub struct ThreadStat {
    pub tid: u32,
    pub name: String,
    /// CPU time, ns (/proc/self/task/<tid>/schedstat, first field).
    pub cpu_ns: u64,
    /// Voluntary context switches: each one is a sleep, so a wake-up.
    pub voluntary: u64,
    pub nonvoluntary: u64,
}

pub fn threads() -> Vec<ThreadStat> {
    threads_of("/proc/self")
}

/// The threads of the process at `base` (`/proc/<pid>`).
pub fn threads_of(base: &str) -> Vec<ThreadStat> {
    let Ok(dir) = fs::read_dir(format!("{base}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let name = fs::read_to_string(path.join("comm"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let cpu_ns = fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let status = fs::read_to_string(path.join("status")).unwrap_or_default();
        out.push(ThreadStat {
            tid,
            name,
            cpu_ns,
            voluntary: field(&status, "voluntary_ctxt_switches:"),
            nonvoluntary: field(&status, "nonvoluntary_ctxt_switches:"),
        });
    }
    out
}

/// CPU time of every live thread of this process, ns.
pub fn process_cpu_ns() -> u64 {
    threads().iter().map(|t| t.cpu_ns).sum()
}

fn field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident KiB per mapped file (`[anon]` for private memory, `[stack]`,
/// ...), largest first, from /proc/self/smaps.
pub fn rss_by_mapping(base: &str) -> Vec<(String, u64)> {
    let smaps = fs::read_to_string(format!("{base}/smaps")).unwrap_or_default();
    let mut by: Vec<(String, u64)> = Vec::new();
    let mut current = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            // "start-end perms offset dev inode [path]"
            let path = words.nth(4).unwrap_or("[anon]");
            current = path.rsplit('/').next().unwrap_or(path).to_owned();
        } else if first == "Rss:" {
            let kib: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match by.iter_mut().find(|(n, _)| *n == current) {
                Some((_, k)) => *k += kib,
                None => by.push((current.clone(), kib)),
            }
        }
    }
    by.retain(|(_, k)| *k > 0);
    by.sort_by_key(|b| std::cmp::Reverse(b.1));
    by
}

/// A `kB` field of /proc/self/status (VmRSS, VmHWM), in KiB.
pub fn status_kib(name: &str) -> u64 {
    status_kib_of("/proc/self", name)
}

pub fn status_kib_of(base: &str, name: &str) -> u64 {
    let status = fs::read_to_string(format!("{base}/status")).unwrap_or_default();
    field(&status, name)
}

/// Per-thread CPU (ms), wake-ups and preemptions between two snapshots,
/// by thread name (threads of the same name added up).
pub fn thread_deltas(before: &[ThreadStat], after: &[ThreadStat]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for a in after {
        // A thread that ended while it was being read has no name.
        let Some(b) = before.iter().find(|b| b.tid == a.tid && !a.name.is_empty()) else {
            continue;
        };
        let entry = out
            .entry(a.name.clone())
            .or_insert_with(|| serde_json::json!({"cpu_ms": 0.0, "wakeups": 0, "preempted": 0}));
        let add = |v: &serde_json::Value, d: f64| v.as_f64().unwrap_or(0.0) + d;
        let cpu = a.cpu_ns.saturating_sub(b.cpu_ns) as f64 / 1e6;
        entry["cpu_ms"] = add(&entry["cpu_ms"], cpu).into();
        let woke = a.voluntary.saturating_sub(b.voluntary) as f64;
        entry["wakeups"] = add(&entry["wakeups"], woke).into();
        let preempted = a.nonvoluntary.saturating_sub(b.nonvoluntary) as f64;
        entry["preempted"] = add(&entry["preempted"], preempted).into();
    }
    serde_json::Value::Object(out)
}
