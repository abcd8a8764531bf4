//! Reading a feed: [`GroupReader`], a consumer-group member with explicit
//! acks (at least once), and [`TailReader`], which follows new entries
//! only. Each holds its own connection, with a read timeout above its
//! BLOCK time, since a blocking read occupies the connection.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use redis::Value;

use super::entry::Entry;
use super::keys::{check_name, Keys};
use super::redis_link::{text, Link, RedisConfig};
use crate::error::{Error, Result};

/// One stream entry handed to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The entry's stream id (`<ms>-<seq>`), for [`GroupReader::ack`] and
    /// as a replay cursor.
    pub stream_id: String,
    /// What the entry holds. An entry that could not be read (a field
    /// missing, JSON that does not parse) comes as [`Entry::Other`] with
    /// the reason, so it can still be acked.
    pub entry: Entry,
    /// How often the group delivered it (1 the first time; more after a
    /// member died before acking). Always 1 from a [`TailReader`].
    pub deliveries: u64,
}

/// Where a new consumer group starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupStart {
    /// With entries appended after the group is created (`$`). The default.
    #[default]
    New,
    /// With the oldest entry still in the stream (`0`).
    Beginning,
}

/// Settings of a [`GroupReader`].
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// How long one read blocks for new entries. Default 1 s.
    pub block: Duration,
    /// Entries fetched per read. Default 100.
    pub count: usize,
    /// An entry pending this long with another (presumably dead) member is
    /// claimed (`XAUTOCLAIM`). Default 30 s.
    pub claim_idle: Duration,
    /// How often to look for such entries. Default 5 s.
    pub claim_every: Duration,
    /// Where a group created by this reader starts. Default [`GroupStart::New`].
    pub start: GroupStart,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            block: Duration::from_secs(1),
            count: 100,
            claim_idle: Duration::from_secs(30),
            claim_every: Duration::from_secs(5),
            start: GroupStart::New,
        }
    }
}

/// A member of a consumer group on a feed: each entry goes to one member
/// of the group; every group sees every entry. Delivery is at least once:
/// an entry not acked is delivered again (to this member after a restart,
/// its own pending entries first; to another member once it has been
/// pending for [`GroupOptions::claim_idle`]). Deduplicate events by
/// [`EventEntry::id`](super::EventEntry::id).
///
/// ```no_run
/// use zoom_ws::ha::{Entry, GroupOptions, GroupReader, RedisConfig};
/// let redis = RedisConfig::new("redis://127.0.0.1/")?;
/// let mut reader = GroupReader::new(redis, "my-feed", "billing", "worker-1", GroupOptions::default())?;
/// loop {
///     let Some(d) = reader.read()? else { continue }; // None: nothing within the block time
///     if let Entry::Event(e) = &d.entry {
///         println!("{}", e.event.json());
///     }
///     reader.ack(&d)?;
/// }
/// # Ok::<_, zoom_ws::Error>(())
/// ```
pub struct GroupReader {
    link: Link,
    keys: Keys,
    group: String,
    consumer: String,
    options: GroupOptions,
    /// Reading own pending entries from this id; `None` once they are done.
    pending_from: Option<String>,
    claim_cursor: String,
    next_claim: Instant,
    ready: VecDeque<Delivery>,
    group_exists: bool,
}

impl GroupReader {
    /// A member `consumer` of `group` on `feed`. Creates the group (and
    /// the stream) if needed; connects on first use.
    pub fn new(
        redis: RedisConfig,
        feed: &str,
        group: &str,
        consumer: &str,
        options: GroupOptions,
    ) -> Result<GroupReader> {
        check_name("group", group)?;
        check_name("consumer", consumer)?;
        if options.count == 0 || options.block.is_zero() {
            return Err(Error::Config(
                "GroupOptions: count and block must be greater than zero".into(),
            ));
        }
        let mut reader = GroupReader {
            link: Link::for_blocking(redis, options.block),
            keys: Keys::new(feed)?,
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            pending_from: Some("0".into()),
            claim_cursor: "0-0".into(),
            next_claim: Instant::now(),
            options,
            ready: VecDeque::new(),
            group_exists: false,
        };
        reader.ensure_group()?;
        Ok(reader)
    }

    fn ensure_group(&mut self) -> Result<()> {
        if self.group_exists {
            return Ok(());
        }
        let start = match self.options.start {
            GroupStart::New => "$",
            GroupStart::Beginning => "0",
        };
        let (stream, group) = (self.keys.events(), self.group.clone());
        self.link.run("creating the consumer group", |c| {
            match redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&stream)
                .arg(&group)
                .arg(start)
                .arg("MKSTREAM")
                .query::<()>(c)
            {
                Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
                other => other,
            }
        })?;
        self.group_exists = true;
        Ok(())
    }

    /// The next entry for this member: first its own pending entries
    /// (delivered before, never acked), then entries stranded with dead
    /// members, then new ones, blocking up to [`GroupOptions::block`].
    /// `Ok(None)` when nothing came within that time. An error (Redis
    /// unreachable) is worth retrying: the reader reconnects on the next
    /// call.
    pub fn read(&mut self) -> Result<Option<Delivery>> {
        if let Some(d) = self.ready.pop_front() {
            return Ok(Some(d));
        }
        self.ensure_group()?;
        if let Some(from) = self.pending_from.clone() {
            let got = self.read_group(&from, false)?;
            match got.last() {
                Some(last) => self.pending_from = Some(last.stream_id.clone()),
                None => self.pending_from = None,
            }
            self.ready.extend(got);
            if let Some(d) = self.ready.pop_front() {
                return Ok(Some(d));
            }
        }
        if Instant::now() >= self.next_claim {
            self.next_claim = Instant::now() + self.options.claim_every;
            let claimed = self.claim()?;
            self.ready.extend(claimed);
            if let Some(d) = self.ready.pop_front() {
                return Ok(Some(d));
            }
        }
        let got = self.read_group(">", true)?;
        self.ready.extend(got);
        Ok(self.ready.pop_front())
    }

    /// Acknowledges an entry: the group will not deliver it again.
    pub fn ack(&mut self, delivery: &Delivery) -> Result<()> {
        self.ack_ids(std::slice::from_ref(&delivery.stream_id))
    }

    fn ack_ids(&mut self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (stream, group) = (self.keys.events(), &self.group);
        self.link.run("acknowledging", |c| {
            redis::cmd("XACK")
                .arg(&stream)
                .arg(group)
                .arg(ids)
                .query::<i64>(c)
        })?;
        Ok(())
    }

    fn read_group(&mut self, from: &str, block: bool) -> Result<Vec<Delivery>> {
        let (stream, group, consumer) = (self.keys.events(), &self.group, &self.consumer);
        let (count, block_ms) = (self.options.count, self.options.block.as_millis() as u64);
        let reply: Result<Value> = self.link.run("reading the group", |c| {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(group)
                .arg(consumer)
                .arg("COUNT")
                .arg(count);
            if block {
                cmd.arg("BLOCK").arg(block_ms);
            }
            cmd.arg("STREAMS").arg(&stream).arg(from).query(c)
        });
        let reply = match reply {
            Err(e) if e.to_string().contains("NOGROUP") => {
                // The stream or group was deleted (or Redis lost its data).
                self.group_exists = false;
                return Err(e);
            }
            other => other?,
        };
        let (entries, gone) = parse_read_reply(&reply);
        // Own pending entries that were trimmed or deleted meanwhile: ack
        // them, nothing is left to deliver.
        self.ack_ids(&gone)?;
        let mut out = entries;
        if !block {
            // Redelivery of own pending entries: count them as such.
            for d in &mut out {
                d.deliveries = d.deliveries.max(2);
            }
        }
        Ok(out)
    }

    fn claim(&mut self) -> Result<Vec<Delivery>> {
        let (stream, group, consumer) = (self.keys.events(), &self.group, &self.consumer);
        let idle = self.options.claim_idle.as_millis() as u64;
        let (count, cursor) = (self.options.count, self.claim_cursor.clone());
        let reply: Value = self.link.run("claiming stranded entries", |c| {
            redis::cmd("XAUTOCLAIM")
                .arg(&stream)
                .arg(group)
                .arg(consumer)
                .arg(idle)
                .arg(&cursor)
                .arg("COUNT")
                .arg(count)
                .query(c)
        })?;
        let Value::Array(parts) = reply else {
            return Ok(Vec::new());
        };
        self.claim_cursor = parts.first().and_then(text).unwrap_or_else(|| "0-0".into());
        let (mut entries, _) = parts.get(1).map(parse_entries).unwrap_or_default();
        for d in &mut entries {
            d.deliveries = 2;
        }
        if !entries.is_empty() {
            log::info!(
                "zoom-ws ha: consumer {} claimed {} entries stranded in group {}",
                self.consumer,
                entries.len(),
                self.group
            );
        }
        Ok(entries)
    }
}

impl fmt::Debug for GroupReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupReader")
            .field("redis", self.link.config())
            .field("feed", &self.keys.feed())
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

/// Follows a feed from now on (`XREAD BLOCK`), without a group and without
/// acks: every tail reader sees every entry appended while it reads.
pub struct TailReader {
    link: Link,
    keys: Keys,
    block: Duration,
    count: usize,
    /// The last id seen; `None` until the start position is known.
    last: Option<String>,
    ready: VecDeque<Delivery>,
}

impl TailReader {
    /// A reader of entries appended to `feed` from now on, blocking up to
    /// `block` per read.
    pub fn new(redis: RedisConfig, feed: &str, block: Duration) -> Result<TailReader> {
        if block.is_zero() {
            return Err(Error::Config(
                "TailReader: block must be greater than zero".into(),
            ));
        }
        let mut reader = TailReader {
            link: Link::for_blocking(redis, block),
            keys: Keys::new(feed)?,
            block,
            count: 100,
            last: None,
            ready: VecDeque::new(),
        };
        reader.start()?;
        Ok(reader)
    }

    /// A reader that starts after `stream_id` (a replay cursor; `"0"` for
    /// the oldest entry kept).
    pub fn after(
        redis: RedisConfig,
        feed: &str,
        stream_id: &str,
        block: Duration,
    ) -> Result<TailReader> {
        let mut reader = TailReader::new(redis, feed, block)?;
        reader.last = Some(stream_id.to_owned());
        Ok(reader)
    }

    /// The position to start from: the newest entry now (what `$` means,
    /// fixed once, so nothing appended between two reads is missed).
    fn start(&mut self) -> Result<()> {
        let stream = self.keys.events();
        let reply: Value = self.link.run("finding the end of the stream", |c| {
            redis::cmd("XREVRANGE")
                .arg(&stream)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(c)
        })?;
        let (entries, _) = parse_entries(&reply);
        self.last = Some(
            entries
                .first()
                .map(|d| d.stream_id.clone())
                .unwrap_or_else(|| "0-0".into()),
        );
        Ok(())
    }

    /// The next entry, blocking up to the block time; `Ok(None)` if none came.
    pub fn read(&mut self) -> Result<Option<Delivery>> {
        if let Some(d) = self.ready.pop_front() {
            return Ok(Some(d));
        }
        if self.last.is_none() {
            self.start()?;
        }
        let from = self.last.clone().unwrap_or_else(|| "0-0".into());
        let (stream, count, block_ms) = (
            self.keys.events(),
            self.count,
            self.block.as_millis() as u64,
        );
        let reply: Value = self.link.run("reading the stream", |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&stream)
                .arg(&from)
                .query(c)
        })?;
        let (entries, _) = parse_read_reply(&reply);
        if let Some(last) = entries.last() {
            self.last = Some(last.stream_id.clone());
        }
        self.ready.extend(entries);
        Ok(self.ready.pop_front())
    }
}

impl fmt::Debug for TailReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailReader")
            .field("redis", self.link.config())
            .field("feed", &self.keys.feed())
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

/// The entries of an `XREAD`/`XREADGROUP` reply for one stream (RESP2
/// `[[stream, entries]]` or RESP3 map), and the ids whose entry is gone.
fn parse_read_reply(reply: &Value) -> (Vec<Delivery>, Vec<String>) {
    let streams: Vec<&Value> = match reply {
        Value::Array(items) => items
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) => pair.get(1),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs.iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    let mut all = (Vec::new(), Vec::new());
    for entries in streams {
        let (d, gone) = parse_entries(entries);
        all.0.extend(d);
        all.1.extend(gone);
    }
    all
}

/// `[[id, [field, value, ...]], ...]`; an entry with nil fields (trimmed
/// or deleted since it was delivered) goes to the second list.
fn parse_entries(entries: &Value) -> (Vec<Delivery>, Vec<String>) {
    let mut out = Vec::new();
    let mut gone = Vec::new();
    let Value::Array(items) = entries else {
        return (out, gone);
    };
    for item in items {
        let Value::Array(pair) = item else { continue };
        let Some(id) = pair.first().and_then(text) else {
            continue;
        };
        let fields: Vec<(String, String)> = match pair.get(1) {
            Some(Value::Array(kv)) => kv
                .chunks(2)
                .filter_map(|c| Some((text(c.first()?)?, text(c.get(1)?)?)))
                .collect(),
            Some(Value::Map(kv)) => kv
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect(),
            _ => {
                gone.push(id);
                continue;
            }
        };
        let entry = Entry::from_fields(&fields).unwrap_or_else(|why| {
            log::warn!("zoom-ws ha: stream entry {id} unreadable: {why}");
            Entry::Other(format!("unreadable: {why}"))
        });
        out.push(Delivery {
            stream_id: id,
            entry,
            deliveries: 1,
        });
    }
    (out, gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_read_replies_with_gone_entries() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("kind"), bulk("leader"), bulk("epoch"), bulk("3")]),
        ]);
        let gone = Value::Array(vec![bulk("2-0"), Value::Nil]);
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("zoomws:{f}:events"),
            Value::Array(vec![entry, gone]),
        ])]);
        let (d, g) = parse_read_reply(&reply);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].stream_id, "1-0");
        assert!(matches!(&d[0].entry, Entry::Leader(l) if l.epoch == 3));
        assert_eq!(g, ["2-0"]);
        assert_eq!(parse_read_reply(&Value::Nil), (Vec::new(), Vec::new()));
    }
}
