//! The dedup id of an event: SHA-256 of its canonical JSON.
//!
//! Canonical means: object keys sorted recursively (by their UTF-8 bytes)
//! by this module's own function, no whitespace, strings escaped as
//! serde_json escapes them, numbers as serde_json prints them. The order
//! does not depend on serde_json's map type, which feature unification
//! (`preserve_order` elsewhere in an application's tree) would silently
//! change.
//!
//! The whole event is hashed, not `event + event_ts + object.id`: two
//! participants joining one meeting in the same millisecond would collide,
//! and a false dedup is a silent loss, worse than a duplicate.

use std::fmt::Write as _;

use serde_json::Value;

use crate::error::{Error, Result};

/// The dedup id of an event given as JSON text: 64 lowercase hex digits of
/// the SHA-256 of its [canonical form](canonical_json). Fails only if the
/// text is not JSON.
///
/// ```
/// let a = zoom_ws::ha::event_id(r#"{"event":"x","payload":{"b":1,"a":[true,null]}}"#)?;
/// let b = zoom_ws::ha::event_id(r#"{ "payload": {"a":[true, null], "b":1}, "event":"x" }"#)?;
/// assert_eq!(a, b);
/// assert_eq!(a.len(), 64);
/// # Ok::<_, zoom_ws::Error>(())
/// ```
pub fn event_id(json: &str) -> Result<String> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid("in an event to deduplicate", crate::text::json_error(&e)))?;
    Ok(id_of(&value))
}

/// The dedup id of an already parsed event.
pub fn id_of(value: &Value) -> String {
    let canonical = canonical_json(value);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// `value` as compact JSON with the keys of every object sorted by their
/// UTF-8 bytes.
///
/// ```
/// let v = serde_json::json!({"b": {"d": 1, "c": 2}, "a": "é"});
/// assert_eq!(zoom_ws::ha::canonical_json(&v), r#"{"a":"é","b":{"c":2,"d":1}}"#);
/// ```
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers print the same whatever the map type.
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's escaping of a string never fails.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a = r#"{"z":1,"a":{"y":[{"b":2,"a":1}],"x":"\u00e9"},"m":null}"#;
        let b = "{ \"m\" : null, \"a\": {\"x\":\"é\", \"y\":[{\"a\":1,\"b\":2}]}, \"z\":1 }";
        assert_eq!(event_id(a).unwrap(), event_id(b).unwrap());
        assert_eq!(
            canonical_json(&serde_json::from_str(a).unwrap()),
            r#"{"a":{"x":"é","y":[{"a":1,"b":2}]},"m":null,"z":1}"#
        );
    }

    #[test]
    fn any_difference_changes_the_id() {
        let base = r#"{"event":"meeting.participant_joined","event_ts":1,"payload":{"object":{"id":1,"participant":{"user_id":"a"}}}}"#;
        let other = base.replace("\"a\"", "\"b\"");
        assert_ne!(event_id(base).unwrap(), event_id(&other).unwrap());
        // Array order is data.
        assert_ne!(event_id("[1,2]").unwrap(), event_id("[2,1]").unwrap());
        // A known vector: SHA-256 of the canonical text "{}".
        assert_eq!(
            event_id("{ }").unwrap(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(event_id("not json").is_err());
    }

    #[test]
    fn keys_sort_by_bytes() {
        let v = serde_json::json!({"é": 1, "z": 2, "Z": 3, "": 4});
        assert_eq!(canonical_json(&v), r#"{"":4,"Z":3,"z":2,"é":1}"#);
    }
}
