//! Appending to a feed's stream: events through dedup, one Lua call each
//! (`SET seen:<id> 1 NX PX <window>`, then `XADD ... MAXLEN ~ N` only if
//! the marker was new), several in one round trip; gap and leader entries
//! with a plain `XADD`.
//!
//! Appends are not lease-checked: every event a relay received is a
//! genuine Zoom event, and dedup makes overlap harmless.

use std::sync::OnceLock;
use std::time::Duration;

use redis::{Connection, Script, Value};

use super::entry::Entry;
use super::keys::Keys;
use super::redis_link::is_noscript;

/// How much of the stream Redis keeps. Trimming is approximate (`~`), as
/// Redis trims whole macro nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// About this many entries (`MAXLEN ~ n`). The default: 1,000,000.
    MaxLen(u64),
    /// Entries younger than this (`MINID ~ <now - age>`).
    MaxAge(Duration),
}

impl Default for Retention {
    fn default() -> Self {
        Retention::MaxLen(1_000_000)
    }
}

impl Retention {
    /// The `XADD` trim arguments: strategy and threshold.
    fn args(&self) -> (&'static str, String) {
        match *self {
            Retention::MaxLen(n) => ("MAXLEN", n.to_string()),
            Retention::MaxAge(age) => {
                let now = super::now_ms();
                let min = now.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
                ("MINID", format!("{}-0", min.max(0)))
            }
        }
    }
}

const APPEND: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  local args = {'XADD', KEYS[2], ARGV[2], '~', ARGV[3], '*'}
  for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
  return redis.call(unpack(args))
end
return false
";

static APPEND_SCRIPT: OnceLock<Script> = OnceLock::new();

fn append_script() -> &'static Script {
    APPEND_SCRIPT.get_or_init(|| Script::new(APPEND))
}

/// What happened to one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Added, with its stream id.
    New(String),
    /// Its dedup marker was already set: another relay (or this one, on a
    /// retry) appended it.
    Duplicate,
}

/// Appends events (each an [`Entry::Event`]) through dedup, in one round
/// trip, and returns one outcome per entry. Safe to retry as a whole: the
/// dedup marker makes a second append of the same event a no-op.
pub(crate) fn append_events(
    conn: &mut Connection,
    keys: &Keys,
    entries: &[Entry],
    window: Duration,
    retention: Retention,
) -> redis::RedisResult<Vec<Appended>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let script = append_script();
    let (strategy, threshold) = retention.args();
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    let stream = keys.events();
    let mut pipe = redis::pipe();
    for entry in entries {
        let Entry::Event(e) = entry else {
            continue;
        };
        let cmd = pipe
            .cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(2)
            .arg(keys.seen(&e.id))
            .arg(&stream)
            .arg(window_ms)
            .arg(strategy)
            .arg(&threshold);
        for (k, v) in entry.to_fields() {
            cmd.arg(k).arg(v);
        }
    }
    let replies: Vec<Value> = match pipe.query(conn) {
        Ok(r) => r,
        Err(e) if is_noscript(&e) => {
            // Redis restarted or flushed its scripts: load and retry once.
            script.load(conn)?;
            pipe.query(conn)?
        }
        Err(e) => return Err(e),
    };
    Ok(replies
        .into_iter()
        .map(|v| match v {
            Value::BulkString(b) => Appended::New(String::from_utf8_lossy(&b).into_owned()),
            Value::SimpleString(s) => Appended::New(s),
            _ => Appended::Duplicate,
        })
        .collect())
}

/// Appends a gap or leader entry (no dedup) and returns its stream id.
pub(crate) fn append_plain(
    conn: &mut Connection,
    keys: &Keys,
    entry: &Entry,
    retention: Retention,
) -> redis::RedisResult<String> {
    let (strategy, threshold) = retention.args();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(keys.events())
        .arg(strategy)
        .arg("~")
        .arg(threshold)
        .arg("*");
    for (k, v) in entry.to_fields() {
        cmd.arg(k).arg(v);
    }
    cmd.query(conn)
}
