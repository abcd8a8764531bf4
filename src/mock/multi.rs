//! What the emulator does when a second socket opens on a subscription that
//! already has one: [`MultiConnection`]. Zoom's own behaviour is unverified
//! (one line in Zoom's skills repository says "opening a new connection will
//! close the existing one"), so the emulator offers all four, and
//! `examples/probe_multi.rs` asks the real Zoom.

/// How the emulator treats two or more sockets on one subscription, for
/// [`MockZoomBuilder::multi_connection`](super::MockZoomBuilder::multi_connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MultiConnection {
    /// **K**ick: the new connection closes the older ones (Close 1000,
    /// "replaced by a new connection"). The default: what third-party docs
    /// say Zoom does.
    #[default]
    Kick,
    /// **B**oth: every open connection receives every event.
    Both,
    /// **S**plit: events are load-balanced, each going to one open
    /// connection of the subscription, round robin.
    Split,
    /// **R**efuse: a new connection is answered `build_connection` with
    /// `success: false` and [`ALREADY_CONNECTED`] while another is open,
    /// then closed (Close 1000), as for any refused `build_connection`.
    Refuse,
}

/// `content` of the refusal under [`MultiConnection::Refuse`]. Invented:
/// no such answer from Zoom has been captured.
pub const ALREADY_CONNECTED: &str = "Connection already exists for this subscription";

/// Splits bytes made of whole server frames (final, unmasked, as the
/// emulator builds them) into the frames. Bytes that do not end on a frame
/// boundary end up in the last piece, unsplit.
pub(crate) fn split_frames(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = match frame_len(bytes) {
            Some(n) if n <= bytes.len() => n,
            _ => bytes.len(),
        };
        let (frame, rest) = bytes.split_at(len);
        out.push(frame);
        bytes = rest;
    }
    out
}

/// The length of the unmasked frame at the start of `b`, header included.
fn frame_len(b: &[u8]) -> Option<usize> {
    let short = usize::from(*b.get(1)? & 0x7F);
    let (header, payload): (usize, usize) = match short {
        126 => (4, usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]))),
        127 => {
            let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (10, usize::try_from(u64::from_be_bytes(bytes)).ok()?)
        }
        n => (2, n),
    };
    header.checked_add(payload)
}

#[cfg(test)]
mod tests {
    use super::super::frames::{push_frame, OP_TEXT};
    use super::*;

    #[test]
    fn splits_frames_of_every_header_size() {
        let mut bytes = Vec::new();
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            push_frame(&mut bytes, OP_TEXT, &vec![b'x'; len]);
        }
        let frames = split_frames(&bytes);
        let lens: Vec<usize> = frames.iter().map(|f| f.len()).collect();
        assert_eq!(lens, [2, 7, 127, 130, 304, 70_010]);
        assert_eq!(split_frames(&[0x81, 0x05, b'a']), [&[0x81, 0x05, b'a'][..]]);
        assert!(split_frames(&[]).is_empty());
    }
}
