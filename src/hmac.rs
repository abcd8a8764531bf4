//! HMAC-SHA256 and hex, the only place that names the crypto provider.
//!
//! JWTs ([`crate::jwt`]) and webhooks ([`crate::webhook`]) go through these
//! functions, so swapping `ring` for another provider is a change to this file
//! alone.

use ring::hmac;

/// Length of an HMAC-SHA256 tag in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// HMAC-SHA256 of the concatenation of `parts`, keyed with `secret`.
pub(crate) fn sign(secret: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// True if `tag` is the HMAC-SHA256 of the concatenation of `parts` under
/// `secret`. The comparison takes the same time wherever the first differing
/// byte is (ring's `hmac::verify`).
pub(crate) fn verify(secret: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let verified = match parts {
        [one] => hmac::verify(&key, one, tag),
        _ => hmac::verify(&key, &parts.concat(), tag),
    };
    verified.is_ok()
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// The bytes of a hex string (either case); `None` for an odd length or a
/// character that is not a hex digit.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let tag = sign(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex(&tag), expected);
        assert!(verify(b"Jefe", &[b"what do ya want for nothing?"], &tag));
        assert!(verify(
            b"Jefe",
            &[b"what do ya ", b"want for nothing?"],
            &tag
        ));
        assert!(!verify(b"Jefe", &[b"what do ya want for nothing!"], &tag));
        assert!(!verify(b"jefe", &[b"what do ya want for nothing?"], &tag));
        assert!(!verify(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &tag[..31]
        ));
    }

    #[test]
    fn hex_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)).unwrap(), bytes);
        assert_eq!(unhex("ABcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(unhex(""), Some(vec![]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }
}
