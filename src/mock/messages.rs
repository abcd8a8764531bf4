//! Zoom's frames as the emulator sends them, built once into WebSocket bytes,
//! and [`FrameBatch`]: many frames in one buffer, written with few syscalls.

use std::fmt;
use std::io::Write as _;

use super::frames::{self, OP_BINARY, OP_TEXT};

/// The placeholder that [`FrameBatch::push_events_numbered`] and
/// [`MockZoom::send_events_bulk`](super::MockZoom::send_events_bulk) replace
/// with a sequence number, wherever it appears in the event template.
pub const SEQ_PLACEHOLDER: &str = "{seq}";

/// Frames are written in chunks of about this size, cut on frame
/// boundaries, so that a heartbeat ack can slip in between two chunks.
pub(crate) const CHUNK: usize = 256 * 1024;

/// `content` of a successful `build_connection`. Unverified: no capture of
/// Zoom's text exists (ZOOM.md section 2), so a client must not rely on it.
pub(crate) const BUILD_CONNECTION_OK: &str = "Connected successfully";

pub(crate) fn build_connection_ok() -> Vec<u8> {
    zoom_frame("build_connection", true, BUILD_CONNECTION_OK)
}

/// A `success: false` frame of any module, as Zoom sends for a refused
/// `build_connection` or a token rejected in-band.
pub(crate) fn failure(module: &str, content: &str) -> Vec<u8> {
    zoom_frame(module, false, content)
}

/// `{"module":..,"success":..,"content":..,"header":{}}`, fields in Zoom's order.
fn zoom_frame(module: &str, success: bool, content: &str) -> Vec<u8> {
    let text = format!(
        r#"{{"module":{},"success":{success},"content":{},"header":{{}}}}"#,
        json_string(module),
        json_string(content)
    );
    frames::frame(OP_TEXT, text.as_bytes())
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

pub(crate) fn heartbeat_ack() -> Vec<u8> {
    frames::frame(
        OP_TEXT,
        br#"{"module":"heartbeat","success":true,"content":"live","header":{}}"#,
    )
}

/// The text of an event frame: the event JSON as a JSON string (encoded
/// twice), as Zoom does. Event frames carry no `success`/`header`: whether
/// Zoom's do is unverified, and a client must not require them.
fn event_text(event_json: &str) -> String {
    let content = json_string(event_json);
    let mut text = String::with_capacity(content.len() + 32);
    text.push_str(r#"{"module":"message","content":"#);
    text.push_str(&content);
    text.push('}');
    text
}

/// An event template cut at its sequence placeholders, already encoded.
pub(crate) struct NumberedTemplate {
    parts: Vec<Vec<u8>>,
    fixed_len: usize,
}

impl NumberedTemplate {
    pub(crate) fn new(event_template: &str) -> Self {
        // The placeholder has no character JSON escapes, so it survives the
        // double encoding unchanged and can be cut out of the encoded text.
        let text = event_text(event_template);
        let parts: Vec<Vec<u8>> = text
            .split(SEQ_PLACEHOLDER)
            .map(|p| p.as_bytes().to_vec())
            .collect();
        let fixed_len = parts.iter().map(Vec::len).sum();
        NumberedTemplate { parts, fixed_len }
    }

    /// Appends the frame for sequence number `seq`.
    pub(crate) fn push(&self, out: &mut Vec<u8>, seq: u64) {
        let mut digits = [0u8; 20];
        let n = {
            let mut cursor = &mut digits[..];
            let _ = write!(cursor, "{seq}");
            20 - cursor.len()
        };
        let digits = &digits[..n];
        let len = self.fixed_len + (self.parts.len() - 1) * digits.len();
        frames::push_header(out, OP_TEXT, len);
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(digits);
            }
            out.extend_from_slice(part);
        }
    }
}

/// Many server frames in one buffer, encoded once: a benchmark prepares its
/// events up front and hands them over with
/// [`MockZoom::send_batch`](super::MockZoom::send_batch), which writes them
/// in chunks of about 256 KiB (one syscall each, cut on frame boundaries).
///
/// ```
/// use zoom_ws::mock::FrameBatch;
/// let mut batch = FrameBatch::new();
/// batch.push_event_json(r#"{"event":"meeting.started","payload":{}}"#);
/// batch.push_events_numbered(r#"{"event":"meeting.ended","event_ts":{seq}}"#, 1, 10);
/// assert_eq!(batch.len(), 11);
/// ```
#[derive(Clone, Default)]
pub struct FrameBatch {
    bytes: Vec<u8>,
    frames: usize,
    /// Offsets where a chunk ends, each on a frame boundary.
    cuts: Vec<usize>,
}

impl FrameBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `bytes` bytes of frames.
    pub fn with_capacity(bytes: usize) -> Self {
        FrameBatch {
            bytes: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Adds an event, wrapped as Zoom does:
    /// `{"module":"message","content":"<event as a JSON string>"}`.
    pub fn push_event(&mut self, event: &serde_json::Value) -> &mut Self {
        self.push_event_json(&event.to_string())
    }

    /// Adds an event given as JSON text, wrapped as Zoom does. The text is
    /// not checked: a malformed event is a legitimate test input.
    pub fn push_event_json(&mut self, event_json: &str) -> &mut Self {
        self.push_text(&event_text(event_json))
    }

    /// Adds `count` events made from `template`, in which every
    /// [`SEQ_PLACEHOLDER`] (`{seq}`) becomes `first`, `first + 1`, ...
    pub fn push_events_numbered(&mut self, template: &str, first: u64, count: u64) -> &mut Self {
        let template = NumberedTemplate::new(template);
        for seq in first..first.saturating_add(count) {
            template.push(&mut self.bytes, seq);
            self.frame_added();
        }
        self
    }

    /// Adds a raw text frame, sent as is.
    pub fn push_text(&mut self, text: &str) -> &mut Self {
        frames::push_frame(&mut self.bytes, OP_TEXT, text.as_bytes());
        self.frame_added();
        self
    }

    /// Adds a binary frame.
    pub fn push_binary(&mut self, data: &[u8]) -> &mut Self {
        frames::push_frame(&mut self.bytes, OP_BINARY, data);
        self.frame_added();
        self
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames
    }

    /// True if the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// The size of all frames, in bytes, as they go on the wire (before TLS).
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Removes every frame, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.cuts.clear();
        self.frames = 0;
    }

    fn frame_added(&mut self) {
        self.frames += 1;
        let last = self.cuts.last().copied().unwrap_or(0);
        if self.bytes.len() - last >= CHUNK {
            self.cuts.push(self.bytes.len());
        }
    }

    /// The frames in chunks of about [`CHUNK`] bytes, each ending on a
    /// frame boundary.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.cuts
            .iter()
            .copied()
            .chain(std::iter::once(self.bytes.len()))
            .filter_map(move |end| {
                let chunk = &self.bytes[start..end];
                start = end;
                (!chunk.is_empty()).then_some(chunk)
            })
    }
}

impl fmt::Debug for FrameBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameBatch")
            .field("frames", &self.frames)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Unwraps unmasked server frames (payload lengths < 2^16 only).
    fn payloads(mut b: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let (len, at) = match b[1] {
                126 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
                n => (usize::from(n), 2),
            };
            out.push(String::from_utf8(b[at..at + len].to_vec()).unwrap());
            b = &b[at + len..];
        }
        out
    }

    #[test]
    fn event_is_encoded_twice() {
        let mut batch = FrameBatch::new();
        batch.push_event(&json!({"event": "meeting.started", "payload": {"topic": "a \"b\""}}));
        let text = &payloads(&batch.bytes)[0];
        let frame: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(frame["module"], "message");
        let content = frame["content"].as_str().unwrap();
        let event: serde_json::Value = serde_json::from_str(content).unwrap();
        assert_eq!(event["payload"]["topic"], "a \"b\"");
    }

    #[test]
    fn numbered_events_carry_their_number() {
        let mut batch = FrameBatch::new();
        batch.push_events_numbered(r#"{"event":"x","event_ts":{seq},"id":"n{seq}"}"#, 98, 3);
        let texts = payloads(&batch.bytes);
        assert_eq!(texts.len(), 3);
        for (text, seq) in texts.iter().zip(98..) {
            let frame: serde_json::Value = serde_json::from_str(text).unwrap();
            let event: serde_json::Value =
                serde_json::from_str(frame["content"].as_str().unwrap()).unwrap();
            assert_eq!(event["event_ts"], seq);
            assert_eq!(event["id"], format!("n{seq}"));
        }
    }

    #[test]
    fn chunks_end_on_frame_boundaries() {
        let mut batch = FrameBatch::new();
        let event = format!(
            r#"{{"event":"x","event_ts":{{seq}},"pad":"{}"}}"#,
            "p".repeat(600)
        );
        batch.push_events_numbered(&event, 0, 2000);
        let chunks: Vec<&[u8]> = batch.chunks().collect();
        assert!(chunks.len() > 1);
        assert_eq!(
            chunks.iter().map(|c| c.len()).sum::<usize>(),
            batch.byte_len()
        );
        let frames: usize = chunks.iter().map(|c| payloads(c).len()).sum();
        assert_eq!(frames, 2000);
    }
}
