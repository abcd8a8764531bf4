//! No Zoom account needed: starts the built-in Zoom emulator on 127.0.0.1
//! over TLS (with a generated test CA), connects a client to it exactly as
//! it would connect to Zoom, plays a realistic meeting, prints the events,
//! and exits.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Midway, the emulator drops the connection abruptly, to show the client
//! reconnecting and reporting the gap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use zoom_ws::mock::MockZoom;
use zoom_ws::typed::Typed;
use zoom_ws::{Client, StateChange};

#[path = "support/stderr_log.rs"]
mod stderr_log;

fn main() -> Result<(), zoom_ws::Error> {
    // The demo prints its own story; the logs stay at ERROR unless RUST_LOG says.
    stderr_log::init_with(log::LevelFilter::Error);
    let zoom = MockZoom::builder().tls(true).start()?;
    println!(
        "emulator: token endpoint {}, WebSocket {}",
        zoom.token_url(),
        zoom.ws_url()
    );

    let client = Client::builder()
        .credentials(zoom.credentials())
        .subscription_id(zoom.subscription_id())
        .url(zoom.ws_url())
        .extra_root_pem(zoom.ca_pem().unwrap_or_default())
        .connect()?;
    println!("connected over TLS; playing a meeting\n");

    let script = meeting_script();
    let total = script.len();
    let dropper = {
        let zoom = &zoom;
        move |i: usize| {
            if i == total / 2 {
                zoom.drop_connections();
            }
        }
    };

    let mut received = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, ev) in script.iter().enumerate() {
                dropper(i);
                // Zoom never re-sends what it sent while nobody was connected:
                // wait for the reconnect before going on, as a real meeting
                // would not (the gap is reported below).
                zoom.wait_for_live_connections(1, Duration::from_secs(10));
                zoom.send_event(ev);
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        while received < total {
            crossbeam_channel::select! {
                recv(client.events()) -> ev => match ev {
                    Ok(ev) => {
                        received += 1;
                        println!("{}", describe(&ev));
                    }
                    Err(_) => break,
                },
                recv(client.states()) -> change => {
                    if let Ok(change) = change {
                        match change {
                            StateChange::Disconnected { reason, .. } => println!("  ~ disconnected: {reason}"),
                            StateChange::Reconnected { gap, .. } => println!("  ~ reconnected; gap of {} ms to backfill over REST", gap.as_millis()),
                            StateChange::Connected { .. } => {}
                            _ => {}
                        }
                    }
                }
                default(Duration::from_secs(10)) => break,
            }
        }
    });
    println!(
        "\n{received} of {total} events received; {} heartbeat(s) acknowledged, {} token request(s)",
        zoom.heartbeat_count(),
        zoom.token_requests().len()
    );
    client.close()?;
    println!(
        "closed cleanly (close code {:?})",
        zoom.wait_for_close_code(Duration::from_secs(5))
    );
    Ok(())
}

/// A meeting id for display; `?` when the event had none.
fn id(id: Option<zoom_ws::typed::ZoomId>) -> String {
    id.map_or_else(|| "?".into(), |id| id.to_string())
}

/// One line per event, from the typed views.
fn describe(ev: &zoom_ws::Event) -> String {
    let body = match ev.typed() {
        Ok(Typed::MeetingCreated(p)) => format!(
            "\"{}\" scheduled by {}",
            p.object.topic.unwrap_or_default(),
            p.operator.unwrap_or_default()
        ),
        Ok(Typed::MeetingStarted(p)) => format!(
            "meeting {} \"{}\" started",
            id(p.object.id),
            p.object.topic.unwrap_or_default()
        ),
        Ok(Typed::ParticipantJoined(p)) => format!(
            "{} joined",
            p.object.participant.user_name.unwrap_or_default()
        ),
        Ok(Typed::ParticipantLeft(p)) => format!(
            "{} left ({})",
            p.object.participant.user_name.unwrap_or_default(),
            p.object.participant.leave_reason.unwrap_or_default()
        ),
        Ok(Typed::MeetingEnded(p)) => format!("meeting {} ended", id(p.object.id)),
        Ok(Typed::RecordingCompleted(p)) => format!(
            "recording ready: {} files, {} bytes",
            p.object.recording_files.len(),
            p.object.total_size.unwrap_or_default()
        ),
        Ok(_) => ev.payload().chars().take(80).collect(),
        Err(e) => format!("(unreadable payload: {e})"),
    };
    format!("{:<28} {body}", ev.name())
}

fn meeting_script() -> Vec<serde_json::Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let meeting = json!({"id": 85012345678u64, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "z8yCxjabcdEFGHfp8uQ", "topic": "Weekly sync", "type": 2, "timezone": "Europe/Paris", "duration": 30});
    let people = ["Ada Lovelace", "Grace Hopper", "Zoë Ng", "Linus"];
    let mut events = vec![
        json!({"event": "meeting.created", "payload": {"account_id": "AAAAAABBBB", "operator": "ada@example.com", "object": meeting}}),
        json!({"event": "meeting.started", "payload": {"account_id": "AAAAAABBBB", "object": meeting}}),
    ];
    for (i, name) in people.iter().enumerate() {
        events.push(json!({"event": "meeting.participant_joined", "payload": {"account_id": "AAAAAABBBB", "object": {
            "id": "85012345678", "uuid": meeting["uuid"], "host_id": meeting["host_id"], "topic": "Weekly sync",
            "participant": {"user_id": format!("1677{i}"), "user_name": name, "join_time": "2026-11-25T10:00:00Z"}}}}));
    }
    for (i, name) in people.iter().enumerate().rev() {
        events.push(json!({"event": "meeting.participant_left", "payload": {"account_id": "AAAAAABBBB", "object": {
            "id": 85012345678u64, "uuid": meeting["uuid"], "topic": "Weekly sync",
            "participant": {"user_id": format!("1677{i}"), "user_name": name, "leave_time": "2026-11-25T10:30:00Z", "leave_reason": "left the meeting"}}}}));
    }
    events.push(json!({"event": "meeting.ended", "payload": {"account_id": "AAAAAABBBB", "object": meeting}}));
    events.push(json!({"event": "recording.completed", "download_token": "demo-download-token", "payload": {"account_id": "AAAAAABBBB", "object": {
        "id": 85012345678u64, "uuid": meeting["uuid"], "topic": "Weekly sync", "total_size": 52428800, "recording_count": 2,
        "recording_files": [
            {"id": "f1", "file_type": "MP4", "file_size": 50331648, "recording_type": "shared_screen_with_speaker_view", "status": "completed"},
            {"id": "f2", "file_type": "M4A", "file_size": 2097152, "recording_type": "audio_only", "status": "completed"}]}}}));
    for (i, ev) in events.iter_mut().enumerate() {
        ev["event_ts"] = json!(now + i as u64 * 1000);
    }
    events
}
