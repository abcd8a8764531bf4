//! The lease of one Zoom subscription: who may hold its connection.
//!
//! - *acquire* (Lua, atomic): when the lease key is absent, or its holder
//!   offers a handover, `INCR` the feed's epoch and `SET` the lease to
//!   `"<epoch>:<node>"` with the TTL. Returns how it was taken and the
//!   previous holder's last-alive time (for the gap entry). The
//!   last-alive time stays as it was until the new holder is connected
//!   (a holder that dies before connecting must not move it); only the
//!   very first term of a subscription starts it at now.
//! - *renew* (Lua): `PEXPIRE` and record the last-alive time, only if the
//!   lease still holds this token. 0 when someone else holds it.
//! - *release* (Lua): `DEL`, only if the lease still holds this token.
//! - *offer handover* (Lua): the holder marks its own token as up for grabs.
//!
//! The epoch is the fencing token: it only grows, and every entry a relay
//! appends carries the epoch of the term it was received in.

use std::sync::OnceLock;
use std::time::Duration;

use redis::{Connection, Script, Value};

use super::keys::Keys;

/// One term of a lease, held by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term {
    pub epoch: u64,
    /// `"<epoch>:<node>"`, the value of the lease key.
    pub token: String,
}

/// How a lease was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// It was free (expired, released, or never held).
    Free,
    /// Its holder offered a handover.
    Handover,
}

/// A successful acquire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Acquired {
    pub term: Term,
    pub how: Taken,
    /// The previous holder's last-alive time (ms), if one was recorded.
    pub prev_alive_ms: Option<i64>,
}

const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
local how
if not cur then
  how = 'free'
elseif redis.call('GET', KEYS[4]) == cur then
  how = 'handover'
else
  return false
end
local epoch = redis.call('INCR', KEYS[2])
local token = epoch .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
redis.call('DEL', KEYS[4])
local alive = redis.call('GET', KEYS[3])
if not alive then
  redis.call('SET', KEYS[3], ARGV[3])
end
return {how, epoch, token, alive or ''}
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if ARGV[3] ~= '' then
    redis.call('SET', KEYS[2], ARGV[3])
  end
  return 1
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('DEL', KEYS[3])
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[2], ARGV[2])
  end
  return 1
end
return 0
";

const OFFER: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

fn script(cell: &'static OnceLock<Script>, code: &str) -> &'static Script {
    cell.get_or_init(|| Script::new(code))
}

static ACQUIRE_SCRIPT: OnceLock<Script> = OnceLock::new();
static RENEW_SCRIPT: OnceLock<Script> = OnceLock::new();
static RELEASE_SCRIPT: OnceLock<Script> = OnceLock::new();
static OFFER_SCRIPT: OnceLock<Script> = OnceLock::new();

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Takes the lease of `sub` if it is free or offered. `None` if another
/// node holds it.
pub(crate) fn acquire(
    conn: &mut Connection,
    keys: &Keys,
    sub: &str,
    node: &str,
    ttl: Duration,
) -> redis::RedisResult<Option<Acquired>> {
    let reply: Value = script(&ACQUIRE_SCRIPT, ACQUIRE)
        .key(keys.lease(sub))
        .key(keys.epoch())
        .key(keys.alive(sub))
        .key(keys.handover(sub))
        .arg(node)
        .arg(ms(ttl))
        .arg(super::now_ms())
        .invoke(conn)?;
    Ok(parse_acquired(&reply))
}

fn parse_acquired(reply: &Value) -> Option<Acquired> {
    let Value::Array(items) = reply else {
        return None;
    };
    let text = |i: usize| {
        items
            .get(i)
            .and_then(super::redis_link::text)
            .unwrap_or_default()
    };
    let how = match text(0).as_str() {
        "handover" => Taken::Handover,
        _ => Taken::Free,
    };
    let epoch = text(1).parse().ok()?;
    Some(Acquired {
        term: Term {
            epoch,
            token: text(2),
        },
        how,
        prev_alive_ms: text(3).parse().ok(),
    })
}

/// Extends the lease by `ttl` and records `alive_ms` (if given: only a
/// connected holder moves it), if `term` still holds it. False if
/// another node holds it (or nobody: it expired).
pub(crate) fn renew(
    conn: &mut Connection,
    keys: &Keys,
    sub: &str,
    term: &Term,
    ttl: Duration,
    alive_ms: Option<i64>,
) -> redis::RedisResult<bool> {
    let alive_ms = alive_ms.map(|ms| ms.to_string()).unwrap_or_default();
    let held: i64 = script(&RENEW_SCRIPT, RENEW)
        .key(keys.lease(sub))
        .key(keys.alive(sub))
        .arg(&term.token)
        .arg(ms(ttl))
        .arg(alive_ms)
        .invoke(conn)?;
    Ok(held == 1)
}

/// Gives the lease up, if `term` still holds it, recording `alive_ms`
/// (if given).
pub(crate) fn release(
    conn: &mut Connection,
    keys: &Keys,
    sub: &str,
    term: &Term,
    alive_ms: Option<i64>,
) -> redis::RedisResult<bool> {
    let alive_ms = alive_ms.map(|ms| ms.to_string()).unwrap_or_default();
    let released: i64 = script(&RELEASE_SCRIPT, RELEASE)
        .key(keys.lease(sub))
        .key(keys.alive(sub))
        .key(keys.handover(sub))
        .arg(&term.token)
        .arg(alive_ms)
        .invoke(conn)?;
    Ok(released == 1)
}

/// Offers the lease to a standby (make-before-break handover), for `ttl`.
pub(crate) fn offer_handover(
    conn: &mut Connection,
    keys: &Keys,
    sub: &str,
    term: &Term,
    ttl: Duration,
) -> redis::RedisResult<bool> {
    let offered: i64 = script(&OFFER_SCRIPT, OFFER)
        .key(keys.lease(sub))
        .key(keys.handover(sub))
        .arg(&term.token)
        .arg(ms(ttl))
        .invoke(conn)?;
    Ok(offered == 1)
}

/// The new holder tells the old one it may close now: its own connection
/// is up (or was refused, so the old one must make room).
pub(crate) fn mark_handed(
    conn: &mut Connection,
    keys: &Keys,
    sub: &str,
    epoch: u64,
    ttl: Duration,
) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(keys.handed(sub))
        .arg(epoch)
        .arg("PX")
        .arg(ms(ttl))
        .query(conn)
}

/// The epoch of the latest holder that marked its connection up, if any.
pub(crate) fn handed(conn: &mut Connection, keys: &Keys, sub: &str) -> redis::RedisResult<u64> {
    let v: Option<u64> = redis::cmd("GET").arg(keys.handed(sub)).query(conn)?;
    Ok(v.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_acquire_reply() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            bulk("handover"),
            Value::Int(7),
            bulk("7:b"),
            bulk("1700"),
        ]);
        let a = parse_acquired(&reply).unwrap();
        assert_eq!(a.term.epoch, 7);
        assert_eq!(a.term.token, "7:b");
        assert_eq!(a.how, Taken::Handover);
        assert_eq!(a.prev_alive_ms, Some(1700));
        let fresh = Value::Array(vec![bulk("free"), Value::Int(1), bulk("1:a"), bulk("")]);
        let a = parse_acquired(&fresh).unwrap();
        assert_eq!((a.how, a.prev_alive_ms), (Taken::Free, None));
        assert_eq!(parse_acquired(&Value::Nil), None);
    }
}
