//! [`Keys`]: the Redis keys of one feed, all under one hash tag.

use crate::error::{Error, Result};

/// The Redis keys of one feed (one logical event stream), all under the
/// hash tag `{feed}` so that a Redis Cluster keeps them in one slot, as the
/// multi-key Lua scripts need.
///
/// | key | content |
/// |---|---|
/// | `zoomws:{feed}:events` | the stream |
/// | `zoomws:{feed}:epoch` | `INCR` counter: the fencing token of each lease term |
/// | `zoomws:{feed}:lease:<sub>` | `"<epoch>:<node>"`, expiring after the lease TTL |
/// | `zoomws:{feed}:alive:<sub>` | ms time up to which the holder had appended every event it received |
/// | `zoomws:{feed}:handover:<sub>` | the holder's token while it offers a handover |
/// | `zoomws:{feed}:handed:<sub>` | epoch of the new holder once its connection is up (or refused) |
/// | `zoomws:{feed}:seen:<id>` | dedup marker, expiring after the dedup window |
///
/// Pub/sub channel (not a key): `zoomws:{feed}:lease:<sub>:wake`, a
/// message on every release and handover offer, to wake the standbys.
///
/// ```
/// let keys = zoom_ws::ha::Keys::new("sub-1")?;
/// assert_eq!(keys.events(), "zoomws:{sub-1}:events");
/// assert_eq!(keys.lease("sub-1"), "zoomws:{sub-1}:lease:sub-1");
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `zoomws:{feed}:`
    prefix: String,
    feed: String,
}

impl Keys {
    /// The keys of `feed`. The name must be non-empty, at most 200 bytes,
    /// and free of `{`, `}` (they would break the hash tag) and of control
    /// characters.
    pub fn new(feed: &str) -> Result<Keys> {
        if feed.is_empty()
            || feed.len() > 200
            || feed.contains(['{', '}'])
            || feed.chars().any(char::is_control)
        {
            return Err(Error::Config(format!(
                "feed name {:?}: must be 1 to 200 bytes without braces or control characters",
                crate::text::truncate(feed, 40)
            )));
        }
        Ok(Keys {
            prefix: format!("zoomws:{{{feed}}}:"),
            feed: feed.to_owned(),
        })
    }

    /// The feed's name.
    pub fn feed(&self) -> &str {
        &self.feed
    }

    /// The stream of entries.
    pub fn events(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// The epoch counter (fencing token).
    pub fn epoch(&self) -> String {
        format!("{}epoch", self.prefix)
    }

    /// The lease of one subscription.
    pub fn lease(&self, subscription: &str) -> String {
        format!("{}lease:{subscription}", self.prefix)
    }

    /// The last-alive time of a subscription's holder.
    pub fn alive(&self, subscription: &str) -> String {
        format!("{}alive:{subscription}", self.prefix)
    }

    /// The handover offer of a subscription's holder.
    pub fn handover(&self, subscription: &str) -> String {
        format!("{}handover:{subscription}", self.prefix)
    }

    /// Set by the new holder once its connection is up after a handover.
    pub fn handed(&self, subscription: &str) -> String {
        format!("{}handed:{subscription}", self.prefix)
    }

    /// The dedup marker of an event id.
    pub fn seen(&self, id: &str) -> String {
        format!("{}seen:{id}", self.prefix)
    }
}

/// A subscription id or node name that goes into a key or a token: not
/// empty, at most 200 bytes, no braces, colons or control characters.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 200
        || name.contains(['{', '}', ':'])
        || name.chars().any(char::is_control)
    {
        return Err(Error::Config(format!(
            "{what} {:?}: must be 1 to 200 bytes without braces, colons or control characters",
            crate::text::truncate(name, 40)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hash_tag_per_feed() {
        let k = Keys::new("f").unwrap();
        for key in [
            k.events(),
            k.epoch(),
            k.lease("s"),
            k.alive("s"),
            k.handover("s"),
            k.handed("s"),
            k.seen("ab"),
        ] {
            assert!(key.starts_with("zoomws:{f}:"), "{key}");
        }
        for bad in ["", "a{b", "a}b", "a\nb"] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("node", "a:b").is_err());
        assert!(check_name("node", "host-1").is_ok());
    }
}
