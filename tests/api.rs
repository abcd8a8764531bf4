//! The public API's conventions, as a user of the crate sees them: the
//! re-exported channel crate, the thread-safety of the handles, `Event`'s
//! conversions, and typed views without made-up ids.

use std::time::Duration;

use zoom_ws::crossbeam_channel::{self, select};
use zoom_ws::mock::MockZoom;
use zoom_ws::typed::{Typed, ZoomId};
use zoom_ws::{Client, Closer, Error, Event, StateChange};

mod common;

/// Compiles only if `T` is `Send + Sync`.
fn send_sync<T: Send + Sync>() {}

#[test]
fn handles_and_events_are_send_and_sync() {
    send_sync::<Client>();
    send_sync::<Closer>();
    send_sync::<Event>();
    send_sync::<Error>();
}

#[test]
fn the_receivers_are_the_reexported_crate_s() {
    // Type-checks only if the receivers are `zoom_ws::crossbeam_channel`'s.
    let _: fn(&Client) -> &crossbeam_channel::Receiver<Event> = Client::events;
    let _: fn(&Client) -> &crossbeam_channel::Receiver<StateChange> = Client::states;
}

#[test]
fn select_over_events_states_and_a_channel_of_ones_own() {
    let zoom = MockZoom::start().unwrap();
    let client = common::builder(&zoom).connect().unwrap();
    let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
    zoom.send_event_json(r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{}}}"#);
    let deadline = crossbeam_channel::after(Duration::from_secs(20));
    let mut states = 0;
    let ev = loop {
        select! {
            recv(client.events()) -> ev => break ev.expect("the stream ended"),
            recv(client.states()) -> st => { st.expect("the states ended"); states += 1; }
            recv(stop) -> _ => unreachable!("nobody stops"),
            recv(deadline) -> _ => panic!("no event within 20 s"),
        }
    };
    assert_eq!(ev.name(), "meeting.started");
    // Connected was reported before the event, or is still queued.
    assert!(states >= 1 || client.states().try_recv().is_ok());
    client.close().unwrap();
}

#[test]
fn events_parse_from_str_and_from_string() {
    let json = r#"{"event":"meeting.ended","event_ts":5,"payload":{"object":{"id":"9"}}}"#;
    let a: Event = json.parse().unwrap();
    let b = Event::try_from(json.to_string()).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        (a.name(), a.timestamp_ms(), a.json()),
        ("meeting.ended", Some(5), json)
    );

    for bad in ["", "not json", "[]", r#"{"event":3}"#] {
        let e = bad.parse::<Event>().unwrap_err();
        assert!(matches!(e, Error::InvalidResponse { .. }), "{bad}: {e}");
        let e = Event::try_from(bad.to_string()).unwrap_err();
        assert!(matches!(e, Error::InvalidResponse { .. }), "{bad}: {e}");
    }
}

#[test]
fn typed_ids_are_none_when_absent() {
    let ev: Event = r#"{"event":"meeting.started","payload":{"object":{"topic":"t"}}}"#
        .parse()
        .unwrap();
    match ev.typed().unwrap() {
        Typed::MeetingStarted(p) => {
            assert_eq!(p.object.id, None);
            assert_eq!(p.object.topic.as_deref(), Some("t"));
        }
        other => panic!("{other:?}"),
    }
    let ev: Event = r#"{"event":"user.created","payload":{"object":{"id":"u1"}}}"#
        .parse()
        .unwrap();
    match ev.typed().unwrap() {
        Typed::UserCreated(p) => assert_eq!(p.object.id, Some(ZoomId::Text("u1".into()))),
        other => panic!("{other:?}"),
    }
}
