//! [`Event`]: one Zoom event, exactly as Zoom sent it.
//!
//! The same type comes out of the WebSocket stream and out of
//! [`crate::webhook`], so handler code does not care which transport
//! delivered an event.
//!
//! An `Event` is parsed once, shallowly: the envelope's `event` name and
//! `event_ts` are read, the `payload` is located but left as raw JSON text.
//! Nothing is lost (the complete JSON is kept) and nothing is parsed twice
//! unless asked: [`Event::payload_value`], [`Event::parse_payload`] and
//! [`Event::typed`] parse on demand. This keeps the per-event cost at one
//! allocation and one pass over the text, and makes events cheap to move
//! between threads.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// One Zoom event: `{"event": ..., "event_ts": ..., "payload": {...}, ...}`.
///
/// ```
/// let ev = zoom_ws::Event::from_json(
///     r#"{"event":"meeting.started","event_ts":1626230691572,"payload":{"object":{"id":"1"}}}"#.to_string(),
/// )?;
/// assert_eq!(ev.name(), "meeting.started");
/// assert_eq!(ev.timestamp_ms(), Some(1626230691572));
/// assert_eq!(ev.payload(), r#"{"object":{"id":"1"}}"#);
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Clone)]
pub struct Event {
    json: String,
    name: Name,
    ts: Option<i64>,
    payload: Option<Range<usize>>,
    /// Set by the socket thread: one refcount per event.
    subscription: Option<Arc<str>>,
    /// Set by the socket thread: where `json`'s buffer goes when the event
    /// is dropped, so that the thread that allocated it reuses it (see
    /// `Drop`).
    recycle: Option<SyncSender<String>>,
}

/// The largest buffer that goes back to the socket thread; a larger one is
/// freed where the event is dropped.
const MAX_RECYCLED: usize = 4096;

/// Hands `json`'s buffer back to the socket thread that allocated it, if
/// the event came from one and its pool has room; otherwise it is freed
/// here as usual. Freed on the user's thread, the buffers of a fast stream
/// went into the socket thread's allocator arena while that thread was
/// allocating from it: contention on the arena's lock, 0.4 futex calls per
/// event on a quiet 2-core machine (BENCHMARKS.md).
impl Drop for Event {
    fn drop(&mut self) {
        if let Some(home) = &self.recycle {
            let cap = self.json.capacity();
            if cap > 0 && cap <= MAX_RECYCLED {
                let _ = home.try_send(std::mem::take(&mut self.json));
            }
        }
    }
}

/// Equal when Zoom sent the same JSON; where it came from
/// ([`Event::subscription_id`]) is not compared.
impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        (&self.json, &self.name, self.ts, &self.payload)
            == (&other.json, &other.name, other.ts, &other.payload)
    }
}

impl Eq for Event {}

/// The event name: a slice of `json`, or a copy when it had escapes.
#[derive(Clone, PartialEq, Eq)]
enum Name {
    At(Range<usize>),
    Owned(Box<str>),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, deserialize_with = "liberal_ts")]
    event_ts: Option<i64>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

impl Event {
    /// Parses the complete JSON of one event object. Fails if it is not a
    /// JSON object with a string `event` field. `event_ts` may be a number or
    /// a string of digits (liberal: Zoom documents milliseconds as a number).
    ///
    /// The error ([`Error::InvalidResponse`]), like those of the parsing
    /// methods below, says what is wrong and where (line, column) without
    /// quoting the JSON: it may be server text holding anything.
    pub fn from_json(json: String) -> Result<Event> {
        match Event::scan(&json) {
            Some((name, ts, payload)) => Ok(Event::of(json, name, ts, payload)),
            None => Event::from_json_serde(json),
        }
    }

    /// An event of its JSON and the fields found in it; no subscription, no
    /// buffer to hand back.
    fn of(json: String, name: Name, ts: Option<i64>, payload: Option<Range<usize>>) -> Event {
        Event {
            json,
            name,
            ts,
            payload,
            subscription: None,
            recycle: None,
        }
    }

    /// The common case without serde: [`crate::json::object`] checks the
    /// JSON and finds the three fields; `None` for whatever it leaves to
    /// serde_json (an escaped name, a `event_ts` that is not a plain
    /// integer, invalid JSON, ...). Gives what [`Event::from_json_serde`]
    /// gives, field for field.
    fn scan(json: &str) -> Option<(Name, Option<i64>, Option<Range<usize>>)> {
        let f = crate::json::object(json, ["event", "event_ts", "payload"], None, Vec::new())?;
        let [name, ts, payload] = f.ranges;
        let name = Name::At(crate::json::plain_str(json, name?)?);
        let ts = match ts {
            None => None,
            Some(r) => match &json[r] {
                "null" => None,
                v => Some(crate::json::small_int(v)?),
            },
        };
        // `"payload": null` is an absent payload, as for serde's `Option`.
        let payload = payload.filter(|r| &json[r.clone()] != "null");
        Some((name, ts, payload))
    }

    /// [`Event::from_json`] by serde_json alone.
    fn from_json_serde(json: String) -> Result<Event> {
        let (name, ts, payload) = {
            let env: Envelope<'_> = serde_json::from_str(&json)
                .map_err(|e| Error::invalid("in a Zoom event", crate::text::json_error(&e)))?;
            let name = match env.event {
                Cow::Borrowed(s) => Name::At(offset_of(&json, s)),
                Cow::Owned(s) => Name::Owned(s.into_boxed_str()),
            };
            let payload = env.payload.map(|p| offset_of(&json, p.get()));
            (name, env.event_ts, payload)
        };
        Ok(Event::of(json, name, ts, payload))
    }

    /// The event name, such as `meeting.started`.
    pub fn name(&self) -> &str {
        match &self.name {
            Name::At(r) => &self.json[r.clone()],
            Name::Owned(s) => s,
        }
    }

    /// `event_ts`: when Zoom says the event happened, in epoch milliseconds.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.ts
    }

    /// The `payload` object as raw JSON text (`null` if the event had none).
    pub fn payload(&self) -> &str {
        match &self.payload {
            Some(r) => &self.json[r.clone()],
            None => "null",
        }
    }

    /// The `payload` parsed into a `serde_json::Value`.
    pub fn payload_value(&self) -> Result<serde_json::Value> {
        self.parse_payload()
    }

    /// The `payload` parsed into any deserializable type.
    pub fn parse_payload<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(self.payload()).map_err(|e| {
            let context = if crate::text::is_plain_name(self.name(), 64) {
                format!("in the payload of {}", self.name())
            } else {
                // Server text of any shape (it could echo anything): not quoted.
                "in the payload of an event with an unusual name".to_owned()
            };
            Error::invalid(context, crate::text::json_error(&e))
        })
    }

    /// The complete event parsed into a `serde_json::Value`.
    pub fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.json)
            .map_err(|e| Error::invalid("in a Zoom event", crate::text::json_error(&e)))
    }

    // `Event::typed` is in src/typed.rs, beside the typed views.

    /// The complete event JSON, exactly as received (for WebSocket events:
    /// after the second decoding of `content`).
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The id of the WebSocket subscription the event came in on, for
    /// events from a [`Client`](crate::Client) (several clients can share
    /// one channel: `ClientBuilder::share_events_with`); `None` for events
    /// parsed here or received by webhook.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription.as_deref()
    }

    #[cfg(feature = "stream")]
    pub(crate) fn set_subscription(&mut self, id: Option<Arc<str>>) {
        self.subscription = id;
    }

    /// Where the JSON's buffer goes back to when the event is dropped.
    #[cfg(feature = "stream")]
    pub(crate) fn set_recycle(&mut self, home: Option<SyncSender<String>>) {
        self.recycle = home;
    }

    /// The complete event JSON, consuming the event.
    pub fn into_json(mut self) -> String {
        std::mem::take(&mut self.json)
    }
}

/// Byte range of `part` inside `whole`; `part` must borrow from `whole`.
fn offset_of(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    debug_assert!(start + part.len() <= whole.len());
    start..start + part.len()
}

impl fmt::Display for Event {
    /// The complete event JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &crate::text::truncate(self.name(), 80))
            .field("event_ts", &self.ts)
            .field("payload", &crate::text::truncate(self.payload(), 80))
            .finish()
    }
}

/// `event_ts` as an integer, a float, or a string of digits; anything else is
/// treated as absent rather than failing the whole event.
fn liberal_ts<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    struct Ts;
    impl<'de> Visitor<'de> for Ts {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a timestamp")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
            Ok(i64::try_from(v).ok())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
            Ok(v.is_finite().then_some(v as i64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            Ok(v.trim().parse().ok())
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(
            self,
            mut s: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            while s.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(Ts)
}

impl FromStr for Event {
    type Err = Error;

    /// [`Event::from_json`] of a copy of `json`.
    ///
    /// ```
    /// let ev: zoom_ws::Event = r#"{"event":"meeting.started","payload":{}}"#.parse()?;
    /// assert_eq!(ev.name(), "meeting.started");
    /// # Ok::<_, zoom_ws::Error>(())
    /// ```
    fn from_str(json: &str) -> Result<Event> {
        Event::from_json(json.to_owned())
    }
}

impl TryFrom<String> for Event {
    type Error = Error;

    /// [`Event::from_json`]: keeps the string, no copy.
    fn try_from(json: String) -> Result<Event> {
        Event::from_json(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_and_locates_parts() {
        let json = r#"{"event":"meeting.started","event_ts":1626230691572,"payload":{"account_id":"A","object":{"id":1234567890}},"download_token":"x","extra":[1,2]}"#;
        let ev = Event::from_json(json.to_string()).unwrap();
        assert_eq!(ev.name(), "meeting.started");
        assert_eq!(ev.timestamp_ms(), Some(1626230691572));
        assert_eq!(
            ev.payload(),
            r#"{"account_id":"A","object":{"id":1234567890}}"#
        );
        assert_eq!(ev.json(), json);
        assert_eq!(ev.to_string(), json);
        assert_eq!(ev.payload_value().unwrap()["object"]["id"], 1234567890);
    }

    #[test]
    fn liberal_fields() {
        let ev = Event::from_json(r#"{"event":"a\u002eb","event_ts":"17"}"#.into()).unwrap();
        assert_eq!(ev.name(), "a.b");
        assert_eq!(ev.timestamp_ms(), Some(17));
        assert_eq!(ev.payload(), "null");
        let ev =
            Event::from_json(r#"{"payload":{},"event_ts":{"x":1},"event":"x"}"#.into()).unwrap();
        assert_eq!(
            (ev.name(), ev.timestamp_ms(), ev.payload()),
            ("x", None, "{}")
        );
        let ev = Event::from_json(r#"{"event":"x","event_ts":1.5e3}"#.into()).unwrap();
        assert_eq!(ev.timestamp_ms(), Some(1500));
    }

    #[test]
    fn rejects_non_events() {
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"event":1}"#,
            r#"{"event":"x""#,
            "Invalid Token",
        ] {
            let e = Event::from_json(bad.into()).unwrap_err();
            assert!(matches!(e, Error::InvalidResponse { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_quote_no_values() {
        let secret = "SECRET-9876";
        let big = "v".repeat(1 << 20);
        for bad in [
            format!(r#""{secret}{big}""#),
            format!(r#"{{"event":["{secret}{big}"]}}"#),
            format!(r#"{{"{secret}{big}":1}}"#),
            format!(r#"{{"event":"x","payload":{{"{secret}":"#),
        ] {
            let e = Event::from_json(bad).unwrap_err().to_string();
            assert!(!e.contains(secret) && e.len() < 300, "{e}");
        }
        let ev = Event::from_json(format!(
            r#"{{"event":"meeting.started\n{big}","payload":{{"object":{{"id":["{secret}"]}}}}}}"#
        ))
        .unwrap();
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            object: O,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct O {
            id: String,
        }
        let e = ev.parse_payload::<P>().unwrap_err().to_string();
        assert!(!e.contains(secret) && e.len() < 400, "{e}");
        assert!(e.contains("an event with an unusual name"), "{e}");
        // Names are quoted only when of Zoom's shape (fuzzing found an
        // error quoting a name that carried a secret: fuzz/corpus/webhook/crash-*).
        let payload = r#"{"object":{"id":["x"]}}"#;
        for (name, quoted) in [
            ("meeting.participant_joined", true),
            ("recording.completed-2", true),
            ("token-SECRET-9876", false),
            ("a b", false),
            ("", false),
            (&"x".repeat(65), false),
        ] {
            let ev =
                Event::from_json(format!(r#"{{"event":{name:?},"payload":{payload}}}"#)).unwrap();
            let e = ev.parse_payload::<P>().unwrap_err().to_string();
            if !name.is_empty() {
                assert_eq!(e.contains(name), quoted, "{name:?}: {e}");
            }
            assert!(!e.contains(secret), "{e}");
        }
    }

    /// The hand-written scan gives what serde_json gives, field for field,
    /// or leaves the input to serde_json; never a different event.
    #[test]
    fn scan_agrees_with_serde() {
        let seeds = [
            r#"{"event":"meeting.started","event_ts":1626230691572,"payload":{"account_id":"A","object":{"id":1234567890,"t":"2024-05-17T15:00:00Z","f":-1.5e3,"b":[true,false,null]}},"download_token":"x"}"#,
            r#" { "payload" : null , "event_ts" : -0 , "event" : "a.b" } "#,
            r#"{"event":"x","event_ts":"17","payload":{"s":"é"q\"}}"#,
            r#"{"event":"a.b","event_ts":null}"#,
            r#"{"event":"x","event_ts":99999999999999999999,"payload":[]}"#,
            r#"["x",1,{}]"#,
            "{\"event\":\"x\",\"payload\":{\"n\":\"Zo\u{eb} \u{1F600} \u{65e5}\u{672c}\"}}",
        ];
        let mut rng = crate::json::tests::Rng(0x2545_F491_4F6C_DD1D);
        let mut scanned = 0;
        for m in crate::json::tests::with_mutations(&seeds, 4000, &mut rng) {
            let serde = Event::from_json_serde(m.clone());
            match (Event::scan(&m), serde) {
                (Some((name, ts, payload)), Ok(ev)) => {
                    scanned += 1;
                    let fast = Event::of(m.clone(), name, ts, payload);
                    assert!(fast == ev, "{m:?}: {fast:?} vs {ev:?}");
                }
                (Some(_), Err(e)) => panic!("{m:?} scanned, but serde_json says {e}"),
                (None, _) => {}
            }
        }
        // Most valid inputs take the fast path.
        assert!(scanned > 2000, "{scanned}");
    }

    #[cfg(feature = "stream")]
    #[test]
    fn a_dropped_event_hands_its_buffer_back_once() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let mut a = Event::from_json(r#"{"event":"x"}"#.to_string()).unwrap();
        a.set_recycle(Some(tx));
        let b = a.clone();
        let c = a.clone().into_json();
        assert_eq!(c, a.json());
        drop(a);
        // The pool (of one) is full: the clone's buffer is freed here.
        drop(b);
        assert_eq!(rx.try_recv().unwrap(), r#"{"event":"x"}"#);
        assert!(rx.try_recv().is_err());
        // Larger buffers are not kept.
        let mut big = Event::from_json(format!(r#"{{"event":"{}"}}"#, "x".repeat(5000))).unwrap();
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        big.set_recycle(Some(tx));
        drop(big);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn debug_is_short() {
        let big = format!(r#"{{"event":"x","payload":{{"s":"{}"}}}}"#, "é".repeat(500));
        let ev = Event::from_json(big).unwrap();
        assert!(format!("{ev:?}").len() < 300);
        // A server-chosen name is cut too (and escaped: no line breaks).
        let big = format!(r#"{{"event":"a\nb{}"}}"#, "é".repeat(1 << 16));
        let shown = format!("{:?}", Event::from_json(big).unwrap());
        assert!(shown.len() < 400 && !shown.contains('\n'), "{shown}");
    }
}
