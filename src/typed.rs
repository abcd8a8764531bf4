//! Typed views of the common Zoom events.
//!
//! [`crate::Event::typed`] parses the payload of `meeting.created`,
//! `meeting.started`, `meeting.ended`, `meeting.participant_joined`,
//! `meeting.participant_left`, `recording.completed` and `user.created` into
//! the structs below. Every field Zoom may omit is an `Option`, unknown fields
//! are ignored here (the [`crate::Event`] itself keeps them), and
//! `payload.object.id`, a number in some events and a string in others, is a
//! [`ZoomId`] that accepts both (`None` when absent).
//!
//! ```
//! use zoom_ws::{Event, typed::{Typed, ZoomId}};
//! let ev = Event::from_json(r#"{"event":"meeting.started","event_ts":1,
//!     "payload":{"account_id":"A","object":{"id":1234567890,"uuid":"u==","topic":"Standup"}}}"#.into())?;
//! match ev.typed()? {
//!     Typed::MeetingStarted(p) => {
//!         assert_eq!(p.object.id, Some(ZoomId::Number(1234567890)));
//!         assert_eq!(p.object.topic.as_deref(), Some("Standup"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<_, zoom_ws::Error>(())
//! ```

use std::fmt;

use serde::Deserialize;

use crate::error::Result;
use crate::event::Event;

/// An id that Zoom sends as a number in some events and as a string in others.
///
/// The typed views hold it as `Option<ZoomId>`: `None` when the event has no
/// id (or `null`), never an empty string standing in for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(untagged)]
pub enum ZoomId {
    /// Sent as a JSON number.
    Number(i64),
    /// Sent as a JSON string.
    Text(String),
}

impl fmt::Display for ZoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoomId::Number(n) => write!(f, "{n}"),
            ZoomId::Text(s) => f.write_str(s),
        }
    }
}

/// The `payload` of an event: the account, who did it, and the object.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Payload<T> {
    /// The account the event belongs to.
    pub account_id: Option<String>,
    /// Email of the user who caused the event, when Zoom says.
    pub operator: Option<String>,
    /// Id of the user who caused the event, when Zoom says.
    pub operator_id: Option<String>,
    /// The meeting, recording or user.
    pub object: T,
}

/// A meeting (`meeting.created`, `meeting.started`, `meeting.ended`).
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Meeting {
    /// Meeting number.
    pub id: Option<ZoomId>,
    /// Meeting instance UUID (opaque, may end in `==`).
    pub uuid: Option<String>,
    /// User id of the host.
    pub host_id: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// Meeting type (1 instant, 2 scheduled, 3/8 recurring, ...).
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    /// Start time, ISO 8601.
    pub start_time: Option<String>,
    /// End time, ISO 8601 (`meeting.ended`).
    pub end_time: Option<String>,
    /// Scheduled duration, minutes.
    pub duration: Option<i64>,
    /// Time zone name.
    pub timezone: Option<String>,
}

/// A participant, inside [`MeetingParticipant`].
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Participant {
    /// Participant id within the meeting.
    pub user_id: Option<String>,
    /// Display name.
    pub user_name: Option<String>,
    /// Zoom user id, for participants who are users of the account.
    pub id: Option<String>,
    /// Participant UUID.
    pub participant_uuid: Option<String>,
    /// Email, when known.
    pub email: Option<String>,
    /// Join time, ISO 8601 (`meeting.participant_joined`).
    pub join_time: Option<String>,
    /// Leave time, ISO 8601 (`meeting.participant_left`).
    pub leave_time: Option<String>,
    /// Why the participant left (`meeting.participant_left`).
    pub leave_reason: Option<String>,
}

/// The object of `meeting.participant_joined` and `meeting.participant_left`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct MeetingParticipant {
    /// Meeting number.
    pub id: Option<ZoomId>,
    /// Meeting instance UUID.
    pub uuid: Option<String>,
    /// User id of the host.
    pub host_id: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// The participant.
    #[serde(default)]
    pub participant: Participant,
}

/// One file of a recording.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct RecordingFile {
    /// File id.
    pub id: Option<String>,
    /// `MP4`, `M4A`, `CHAT`, `TRANSCRIPT`, ...
    pub file_type: Option<String>,
    /// Size in bytes.
    pub file_size: Option<u64>,
    /// Download URL (needs the event's `download_token` or an access token).
    pub download_url: Option<String>,
    /// Web player URL.
    pub play_url: Option<String>,
    /// `shared_screen_with_speaker_view`, `audio_only`, ...
    pub recording_type: Option<String>,
    /// `completed`, ...
    pub status: Option<String>,
    /// Start, ISO 8601.
    pub recording_start: Option<String>,
    /// End, ISO 8601.
    pub recording_end: Option<String>,
}

/// The object of `recording.completed`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Recording {
    /// Meeting number.
    pub id: Option<ZoomId>,
    /// Meeting instance UUID.
    pub uuid: Option<String>,
    /// User id of the host.
    pub host_id: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// Start time, ISO 8601.
    pub start_time: Option<String>,
    /// Duration, minutes.
    pub duration: Option<i64>,
    /// Total size of all files, bytes.
    pub total_size: Option<u64>,
    /// Number of files.
    pub recording_count: Option<u64>,
    /// Share URL.
    pub share_url: Option<String>,
    /// The files.
    #[serde(default)]
    pub recording_files: Vec<RecordingFile>,
}

/// The object of `user.created`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// User id.
    pub id: Option<ZoomId>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// User type (1 basic, 2 licensed, ...).
    #[serde(rename = "type")]
    pub kind: Option<i64>,
}

/// A common event with its payload parsed; [`Typed::Other`] for the rest.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Typed {
    /// `meeting.created`
    MeetingCreated(Payload<Meeting>),
    /// `meeting.started`
    MeetingStarted(Payload<Meeting>),
    /// `meeting.ended`
    MeetingEnded(Payload<Meeting>),
    /// `meeting.participant_joined`
    ParticipantJoined(Payload<MeetingParticipant>),
    /// `meeting.participant_left`
    ParticipantLeft(Payload<MeetingParticipant>),
    /// `recording.completed`. The event's top-level `download_token` is not
    /// copied here: read it with [`Event::to_value`] when needed.
    RecordingCompleted(Payload<Recording>),
    /// `user.created`
    UserCreated(Payload<User>),
    /// Any other event: use [`Event::payload_value`] or [`Event::parse_payload`].
    Other,
}

impl Event {
    /// Typed access to the common events (meetings, participants, recordings,
    /// users); [`Typed::Other`] for the rest. See [`crate::typed`].
    ///
    /// Fails if a common event's payload does not have the documented shape
    /// (an `object` that is not an object, an id that is neither a number nor
    /// a string, ...). Missing fields are `None`, not an error.
    pub fn typed(&self) -> Result<Typed> {
        Ok(match self.name() {
            "meeting.created" => Typed::MeetingCreated(self.parse_payload()?),
            "meeting.started" => Typed::MeetingStarted(self.parse_payload()?),
            "meeting.ended" => Typed::MeetingEnded(self.parse_payload()?),
            "meeting.participant_joined" => Typed::ParticipantJoined(self.parse_payload()?),
            "meeting.participant_left" => Typed::ParticipantLeft(self.parse_payload()?),
            "recording.completed" => Typed::RecordingCompleted(self.parse_payload()?),
            "user.created" => Typed::UserCreated(self.parse_payload()?),
            _ => Typed::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(json: &str) -> Typed {
        Event::from_json(json.to_string()).unwrap().typed().unwrap()
    }

    #[test]
    fn ids_as_number_or_string() {
        let a = typed(r#"{"event":"meeting.ended","payload":{"object":{"id":85012345678}}}"#);
        let b = typed(r#"{"event":"meeting.ended","payload":{"object":{"id":"85012345678"}}}"#);
        match (a, b) {
            (Typed::MeetingEnded(a), Typed::MeetingEnded(b)) => {
                assert_eq!(a.object.id, Some(ZoomId::Number(85012345678)));
                assert_eq!(b.object.id, Some(ZoomId::Text("85012345678".into())));
                assert_eq!(a.object.id.unwrap().to_string(), "85012345678");
                assert_eq!(b.object.id.unwrap().to_string(), "85012345678");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn participant_and_recording() {
        match typed(
            r#"{"event":"meeting.participant_joined","payload":{"account_id":"A","object":{"id":"1","uuid":"u==","participant":{"user_id":"16778240","user_name":"Zoë","join_time":"2024-01-01T00:00:00Z"}}}}"#,
        ) {
            Typed::ParticipantJoined(p) => {
                assert_eq!(p.account_id.as_deref(), Some("A"));
                assert_eq!(p.object.participant.user_name.as_deref(), Some("Zoë"));
            }
            other => panic!("{other:?}"),
        }
        match typed(
            r#"{"event":"recording.completed","download_token":"t","payload":{"object":{"id":1,"recording_files":[{"id":"f","file_type":"MP4","file_size":123}]}}}"#,
        ) {
            Typed::RecordingCompleted(p) => {
                assert_eq!(p.object.recording_files[0].file_size, Some(123))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            typed(r#"{"event":"meeting.deleted"}"#),
            Typed::Other
        ));
    }

    #[test]
    fn missing_ids_are_none_not_empty() {
        for name in [
            "meeting.created",
            "meeting.started",
            "meeting.ended",
            "meeting.participant_joined",
            "meeting.participant_left",
            "recording.completed",
            "user.created",
        ] {
            for object in ["{}", r#"{"id":null}"#] {
                let json = format!(r#"{{"event":"{name}","payload":{{"object":{object}}}}}"#);
                let id = match typed(&json) {
                    Typed::MeetingCreated(p)
                    | Typed::MeetingStarted(p)
                    | Typed::MeetingEnded(p) => p.object.id,
                    Typed::ParticipantJoined(p) | Typed::ParticipantLeft(p) => {
                        let who = p.object.participant;
                        assert_eq!(
                            (who.id, who.user_id, who.participant_uuid),
                            (None, None, None)
                        );
                        p.object.id
                    }
                    Typed::RecordingCompleted(p) => {
                        assert!(p.object.recording_files.is_empty());
                        p.object.id
                    }
                    Typed::UserCreated(p) => p.object.id,
                    other => panic!("{name}: {other:?}"),
                };
                assert_eq!(id, None, "{json}");
            }
        }
        match typed(
            r#"{"event":"recording.completed","payload":{"object":{"recording_files":[{}]}}}"#,
        ) {
            Typed::RecordingCompleted(p) => assert_eq!(p.object.recording_files[0].id, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let ev = Event::from_json(
            r#"{"event":"meeting.started","payload":{"object":{"id":[1]}}}"#.into(),
        )
        .unwrap();
        assert!(ev.typed().is_err());
        let ev = Event::from_json(r#"{"event":"user.created","payload":null}"#.into()).unwrap();
        assert!(ev.typed().is_err());
    }
}
