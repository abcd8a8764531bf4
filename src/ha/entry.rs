//! [`Entry`]: what the stream of a feed holds, and how each kind is laid
//! out in stream fields.
//!
//! | `kind` | fields |
//! |---|---|
//! | `event` | `id`, `event`, `event_ts`, `account_id`, `recv_ms`, `epoch`, `node`, `sub`, `json` |
//! | `gap` | `from_ms`, `to_ms`, `reason`, `epoch`, `node`, `sub` |
//! | `leader` | `epoch`, `node`, `sub`, `at_ms` |
//!
//! Absent values (an event without `event_ts` or `account_id`) are empty
//! strings. Unknown kinds read as [`Entry::Other`], so an older consumer
//! survives a newer relay.

use std::borrow::Cow;
use std::fmt;

use crate::event::Event;

/// One entry of a feed's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// A Zoom event, appended once per distinct content (dedup window).
    Event(EventEntry),
    /// A time window in which events may have been lost: backfill it over
    /// the REST API.
    Gap(Gap),
    /// A relay took a subscription's lease.
    Leader(Leader),
    /// An entry of a kind this version does not know (its `kind` field).
    Other(String),
}

/// A Zoom event as appended by a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventEntry {
    /// The dedup id: SHA-256 of the event's canonical JSON ([`super::event_id`]).
    /// Use it to deduplicate on the consumer side (delivery is at least once).
    pub id: String,
    /// The event itself, its JSON verbatim.
    pub event: Event,
    /// `payload.account_id`, if the event had one.
    pub account_id: Option<String>,
    /// When the relay received it (epoch ms, the relay's clock).
    pub recv_ms: i64,
    /// The lease term it was received in.
    pub epoch: u64,
    /// The relay that received it.
    pub node: String,
    /// The subscription it came on.
    pub subscription: String,
}

/// A window of possibly lost events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// Start (epoch ms): the last moment everything received before was
    /// appended, less a safety margin.
    pub from_ms: i64,
    /// End (epoch ms): when a connection was up again.
    pub to_ms: i64,
    /// Why.
    pub reason: GapReason,
    /// The term of the relay that recorded it.
    pub epoch: u64,
    /// The relay that recorded it.
    pub node: String,
    /// The subscription.
    pub subscription: String,
}

/// Why a [`Gap`] happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapReason {
    /// Another relay's lease expired (crash, freeze, partition) and this
    /// one took over.
    Takeover,
    /// A graceful handover that could not overlap the connections (Zoom
    /// refused the new one while the old was open).
    Handover,
    /// The leader's own connection to Zoom was lost and re-established.
    Reconnect,
    /// The relay had fenced itself off (Redis unreachable past the
    /// self-fence deadline) and took the lease again.
    RedisOutage,
    /// A reason this version does not know.
    Other(String),
}

impl GapReason {
    /// The reason as written in the stream.
    pub fn as_str(&self) -> &str {
        match self {
            GapReason::Takeover => "takeover",
            GapReason::Handover => "handover",
            GapReason::Reconnect => "reconnect",
            GapReason::RedisOutage => "redis_outage",
            GapReason::Other(s) => s,
        }
    }

    fn parse(s: &str) -> GapReason {
        match s {
            "takeover" => GapReason::Takeover,
            "handover" => GapReason::Handover,
            "reconnect" => GapReason::Reconnect,
            "redis_outage" => GapReason::RedisOutage,
            other => GapReason::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for GapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relay took a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leader {
    /// The new term.
    pub epoch: u64,
    /// The relay.
    pub node: String,
    /// The subscription.
    pub subscription: String,
    /// When (epoch ms).
    pub at_ms: i64,
}

impl Entry {
    /// The stream fields of this entry, `kind` first; the texts it holds
    /// (the event's JSON above all) are borrowed, not copied.
    pub(crate) fn to_fields(&self) -> Vec<(&'static str, Cow<'_, str>)> {
        match self {
            Entry::Event(e) => vec![
                ("kind", "event".into()),
                ("id", e.id.as_str().into()),
                ("event", e.event.name().into()),
                (
                    "event_ts",
                    e.event
                        .timestamp_ms()
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                        .into(),
                ),
                ("account_id", e.account_id.as_deref().unwrap_or("").into()),
                ("recv_ms", e.recv_ms.to_string().into()),
                ("epoch", e.epoch.to_string().into()),
                ("node", e.node.as_str().into()),
                ("sub", e.subscription.as_str().into()),
                ("json", e.event.json().into()),
            ],
            Entry::Gap(g) => vec![
                ("kind", "gap".into()),
                ("from_ms", g.from_ms.to_string().into()),
                ("to_ms", g.to_ms.to_string().into()),
                ("reason", g.reason.as_str().into()),
                ("epoch", g.epoch.to_string().into()),
                ("node", g.node.as_str().into()),
                ("sub", g.subscription.as_str().into()),
            ],
            Entry::Leader(l) => vec![
                ("kind", "leader".into()),
                ("epoch", l.epoch.to_string().into()),
                ("node", l.node.as_str().into()),
                ("sub", l.subscription.as_str().into()),
                ("at_ms", l.at_ms.to_string().into()),
            ],
            Entry::Other(kind) => vec![("kind", kind.as_str().into())],
        }
    }

    /// Reads an entry from its stream fields. `Err` names what is wrong
    /// (a missing field, an event whose JSON does not parse).
    pub(crate) fn from_fields(fields: &[(String, String)]) -> Result<Entry, String> {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let need = |name: &str| get(name).ok_or_else(|| format!("no field {name:?}"));
        let int = |name: &str| -> Result<i64, String> {
            need(name)?
                .parse()
                .map_err(|_| format!("field {name:?} is not an integer"))
        };
        let epoch = || -> Result<u64, String> {
            need("epoch")?
                .parse()
                .map_err(|_| "field \"epoch\" is not an integer".to_owned())
        };
        let text = |name: &str| get(name).unwrap_or_default().to_owned();
        match need("kind")? {
            "event" => {
                let event = Event::from_json(need("json")?.to_owned())
                    .map_err(|e| format!("field \"json\": {e}"))?;
                Ok(Entry::Event(EventEntry {
                    id: need("id")?.to_owned(),
                    event,
                    account_id: get("account_id")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    recv_ms: int("recv_ms").unwrap_or_default(),
                    epoch: epoch().unwrap_or_default(),
                    node: text("node"),
                    subscription: text("sub"),
                }))
            }
            "gap" => Ok(Entry::Gap(Gap {
                from_ms: int("from_ms")?,
                to_ms: int("to_ms")?,
                reason: GapReason::parse(need("reason")?),
                epoch: epoch().unwrap_or_default(),
                node: text("node"),
                subscription: text("sub"),
            })),
            "leader" => Ok(Entry::Leader(Leader {
                epoch: epoch()?,
                node: text("node"),
                subscription: text("sub"),
                at_ms: int("at_ms").unwrap_or_default(),
            })),
            other => Ok(Entry::Other(other.to_owned())),
        }
    }
}

/// `payload.account_id` of an event, if it is a string.
pub(crate) fn account_id(event: &Event) -> Option<String> {
    // A cheap look first: most events carry it near the start of the payload.
    if !event.payload().contains("\"account_id\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct P {
        account_id: Option<String>,
    }
    event.parse_payload::<P>().ok()?.account_id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(fields: Vec<(&'static str, Cow<'_, str>)>) -> Vec<(String, String)> {
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn every_kind_round_trips_through_fields() {
        let event = Event::from_json(
            r#"{"event":"meeting.started","event_ts":5,"payload":{"account_id":"A","object":{}}}"#
                .into(),
        )
        .unwrap();
        let entries = [
            Entry::Event(EventEntry {
                id: "ab".into(),
                account_id: account_id(&event),
                event,
                recv_ms: 9,
                epoch: 3,
                node: "n".into(),
                subscription: "s".into(),
            }),
            Entry::Gap(Gap {
                from_ms: 1,
                to_ms: 2,
                reason: GapReason::RedisOutage,
                epoch: 4,
                node: "n".into(),
                subscription: "s".into(),
            }),
            Entry::Leader(Leader {
                epoch: 5,
                node: "n".into(),
                subscription: "s".into(),
                at_ms: 7,
            }),
            Entry::Other("future".into()),
        ];
        for e in entries {
            assert_eq!(Entry::from_fields(&owned(e.to_fields())).unwrap(), e);
        }
        if let Entry::Event(e) = Entry::from_fields(&owned(vec![
            ("kind", "event".into()),
            ("id", "x".into()),
            ("json", r#"{"event":"a"}"#.into()),
        ]))
        .unwrap()
        {
            assert_eq!((e.account_id, e.event.name()), (None, "a"));
        } else {
            panic!("not an event");
        }
        assert!(Entry::from_fields(&owned(vec![("kind", "event".into())])).is_err());
        assert!(Entry::from_fields(&[]).is_err());
    }
}
