//! RFC 6455 framing, server side: frames to the client are built once into
//! bytes (final, unmasked), frames from the client are parsed (masked) with a
//! size bound, so a misbehaving client cannot make the emulator allocate
//! without limit.

use std::fmt;

pub(crate) const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// The largest message accepted from a client. Clients send heartbeats of a
/// few bytes; anything near this is a bug worth a dropped connection.
pub(crate) const MAX_CLIENT_MESSAGE: usize = 1024 * 1024;

/// Appends the header of one final, unmasked frame with a payload of `len` bytes.
pub(crate) fn push_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends one final, unmasked frame.
pub(crate) fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    push_header(out, opcode, payload.len());
    out.extend_from_slice(payload);
}

/// One final, unmasked frame.
pub(crate) fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    push_frame(&mut out, opcode, payload);
    out
}

/// A Close frame with `code` and `reason` (cut to the 123 bytes a control
/// frame allows, on a character boundary).
pub(crate) fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(OP_CLOSE, &payload)
}

/// A complete message from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// Close code (absent in an empty Close frame) and reason.
    Close(Option<u16>, String),
}

/// Why the client's bytes are not a valid WebSocket stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    Unmasked,
    ReservedBits,
    UnknownOpcode(u8),
    TooLarge(u64),
    BadControlFrame,
    UnexpectedContinuation,
    ExpectedContinuation,
    InvalidUtf8,
    BadClosePayload,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Unmasked => f.write_str("unmasked frame from the client"),
            FrameError::ReservedBits => f.write_str("reserved bits set"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            FrameError::TooLarge(n) => {
                write!(
                    f,
                    "message of {n} bytes exceeds the limit of {MAX_CLIENT_MESSAGE}"
                )
            }
            FrameError::BadControlFrame => f.write_str("fragmented or oversize control frame"),
            FrameError::UnexpectedContinuation => f.write_str("continuation without a start"),
            FrameError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            FrameError::InvalidUtf8 => f.write_str("text that is not UTF-8"),
            FrameError::BadClosePayload => f.write_str("malformed Close payload"),
        }
    }
}

/// Turns the client's byte stream into messages. Holds at most one frame
/// plus one read's worth of bytes, and at most [`MAX_CLIENT_MESSAGE`] of a
/// fragmented message.
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    pos: usize,
    max: usize,
    /// Opcode and payload so far of a fragmented message.
    partial: Option<(u8, Vec<u8>)>,
}

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        FrameReader {
            buf: Vec::with_capacity(4096),
            pos: 0,
            max,
            partial: None,
        }
    }

    /// Adds bytes read from the client.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        loop {
            let Some((fin, opcode, payload)) = self.next_frame()? else {
                return Ok(None);
            };
            match opcode {
                OP_CLOSE | OP_PING | OP_PONG => {
                    if !fin || payload.len() > 125 {
                        return Err(FrameError::BadControlFrame);
                    }
                    return control(opcode, payload).map(Some);
                }
                OP_TEXT | OP_BINARY => {
                    if self.partial.is_some() {
                        return Err(FrameError::ExpectedContinuation);
                    }
                    if fin {
                        return data(opcode, payload).map(Some);
                    }
                    self.partial = Some((opcode, payload));
                }
                OP_CONTINUATION => {
                    let Some((first, mut so_far)) = self.partial.take() else {
                        return Err(FrameError::UnexpectedContinuation);
                    };
                    let total = so_far.len() as u64 + payload.len() as u64;
                    if total > self.max as u64 {
                        return Err(FrameError::TooLarge(total));
                    }
                    so_far.extend_from_slice(&payload);
                    if fin {
                        return data(first, so_far).map(Some);
                    }
                    self.partial = Some((first, so_far));
                }
                other => return Err(FrameError::UnknownOpcode(other)),
            }
        }
    }

    /// The next complete frame: FIN, opcode, unmasked payload.
    fn next_frame(&mut self) -> Result<Option<(bool, u8, Vec<u8>)>, FrameError> {
        let b = &self.buf[self.pos..];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        let fin = b[0] & 0x80 != 0;
        let opcode = b[0] & 0x0F;
        if b[1] & 0x80 == 0 {
            return Err(FrameError::Unmasked);
        }
        let (len, mut at) = match b[1] & 0x7F {
            126 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(None);
                }
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (u64::from(n), 2),
        };
        // Refused from the header alone, before anything is buffered for it.
        if len > self.max as u64 {
            return Err(FrameError::TooLarge(len));
        }
        let len = len as usize;
        if b.len() < at + 4 + len {
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        at += 4;
        let payload = b[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ mask[i % 4])
            .collect();
        self.pos += at + len;
        Ok(Some((fin, opcode, payload)))
    }
}

fn data(opcode: u8, payload: Vec<u8>) -> Result<Message, FrameError> {
    if opcode == OP_TEXT {
        String::from_utf8(payload)
            .map(Message::Text)
            .map_err(|_| FrameError::InvalidUtf8)
    } else {
        Ok(Message::Binary(payload))
    }
}

fn control(opcode: u8, payload: Vec<u8>) -> Result<Message, FrameError> {
    Ok(match opcode {
        OP_PING => Message::Ping(payload),
        OP_PONG => Message::Pong(payload),
        _ => match payload.len() {
            0 => Message::Close(None, String::new()),
            1 => return Err(FrameError::BadClosePayload),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                let reason =
                    std::str::from_utf8(&payload[2..]).map_err(|_| FrameError::BadClosePayload)?;
                Message::Close(Some(code), reason.to_owned())
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = Vec::new();
        push_header(&mut out, first_byte & 0x0F, payload.len());
        out[0] = first_byte;
        out[1] |= 0x80;
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn header_lengths() {
        for (len, header) in [
            (0usize, 2usize),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
        ] {
            let f = frame(OP_BINARY, &vec![0u8; len]);
            assert_eq!(f.len(), header + len, "{len}");
        }
    }

    #[test]
    fn parses_split_and_pipelined_frames() {
        let mut bytes = client_frame(0x81, br#"{"module":"heartbeat"}"#);
        bytes.extend(client_frame(0x89, b"p"));
        bytes.extend(client_frame(0x88, &[0x03, 0xE8, b'b', b'y', b'e']));
        let mut r = FrameReader::new(MAX_CLIENT_MESSAGE);
        let mut got = Vec::new();
        for b in bytes.chunks(3) {
            r.push(b);
            while let Some(m) = r.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                Message::Text(r#"{"module":"heartbeat"}"#.into()),
                Message::Ping(b"p".to_vec()),
                Message::Close(Some(1000), "bye".into()),
            ]
        );
    }

    #[test]
    fn fragments_are_joined() {
        let mut r = FrameReader::new(MAX_CLIENT_MESSAGE);
        r.push(&client_frame(0x01, b"he"));
        r.push(&client_frame(0x89, b""));
        r.push(&client_frame(0x80, b"llo"));
        assert_eq!(r.next_message().unwrap(), Some(Message::Ping(vec![])));
        assert_eq!(
            r.next_message().unwrap(),
            Some(Message::Text("hello".into()))
        );
        assert_eq!(r.next_message().unwrap(), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (vec![0x81, 0x01, b'x'], FrameError::Unmasked),
            (vec![0xF1, 0x80, 0, 0, 0, 0], FrameError::ReservedBits),
            (client_frame(0x83, b""), FrameError::UnknownOpcode(3)),
            (client_frame(0x80, b"x"), FrameError::UnexpectedContinuation),
            (client_frame(0x81, &[0xFF]), FrameError::InvalidUtf8),
            (client_frame(0x88, &[3]), FrameError::BadClosePayload),
            (client_frame(0x09, b""), FrameError::BadControlFrame),
            (
                vec![0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                FrameError::TooLarge(u64::MAX >> 1),
            ),
        ];
        for (bytes, want) in cases {
            let mut r = FrameReader::new(MAX_CLIENT_MESSAGE);
            r.push(&bytes);
            assert_eq!(r.next_message(), Err(want));
        }
    }

    #[test]
    fn fragmented_message_is_bounded() {
        let mut r = FrameReader::new(10);
        r.push(&client_frame(0x01, b"123456"));
        r.push(&client_frame(0x00, b"123456"));
        assert_eq!(r.next_message(), Err(FrameError::TooLarge(12)));
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let f = close_frame(4000, &"é".repeat(100));
        assert_eq!(f[1] as usize, f.len() - 2);
        assert!(f.len() - 2 <= 125);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }
}
