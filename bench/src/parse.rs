//! `bench __parse VARIANT N`: the JSON work of one event frame, alone, N
//! times, for callgrind (instruction counts do not depend on the machine's
//! load): `valgrind --tool=callgrind target/release/zoom-ws-bench __parse crate 20000`.
//! - `bare`: the bare loop's parsing (frame with `content` unescaped in the
//!   same pass, then the event's envelope checked and borrowed from it);
//! - `crate`: the socket thread's own parsing (`zoom_ws::__parse_frame`:
//!   src/wire.rs and src/event.rs).

use super::*;
use std::borrow::Cow;

/// The bare loop's frame: `content` unescaped in the same pass. Also used
/// by the bare loop itself (client.rs), so both measure the same parsing.
#[derive(Deserialize)]
pub(crate) struct BareFrame<'a> {
    #[serde(borrow)]
    pub module: Cow<'a, str>,
    #[serde(borrow, default)]
    pub content: Option<Cow<'a, str>>,
}

/// The bare loop's event envelope, checked and borrowed from its JSON:
/// nothing copied, nothing allocated.
#[derive(Deserialize)]
pub(crate) struct BareEnvelope<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[allow(dead_code)]
    event_ts: i64,
    #[serde(borrow)]
    #[allow(dead_code)]
    payload: &'a RawValue,
}

pub fn main(args: &[String]) -> Res<()> {
    let variant = args.first().map(String::as_str).unwrap_or("crate");
    let n: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let event = EVENT_TEMPLATE.replace("{seq}", "123456");
    let content = serde_json::to_string(&event).map_err(|e| e.to_string())?;
    let text = format!(r#"{{"module":"message","content":{content}}}"#);
    let e = |e: serde_json::Error| e.to_string();
    let mut check = 0usize;
    let t0 = Instant::now();
    for _ in 0..n {
        check += match variant {
            "bare" => {
                let f: BareFrame<'_> = serde_json::from_str(&text).map_err(e)?;
                let module = f.module.len();
                let json = f.content.unwrap_or_default().into_owned();
                let ev: BareEnvelope<'_> = serde_json::from_str(&json).map_err(e)?;
                ev.event.len() + module
            }
            "crate" => {
                let ev = zoom_ws::__parse_frame(&text).ok_or("not an event")?;
                ev.name().len() + 7
            }
            other => return Err(format!("unknown variant {other} (bare, crate)")),
        };
    }
    println!(
        "{variant}: {:.3} µs per event frame ({} bytes, event {} bytes), check {check}",
        t0.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64,
        text.len(),
        event.len()
    );
    Ok(())
}
