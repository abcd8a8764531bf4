//! JSON scanning for the event hot path, without serde: validates a JSON
//! object as serde_json would, locates the values of a few top-level keys,
//! and decodes one string value with a single allocation.
//!
//! Every function here answers `None` when it is not sure: invalid JSON,
//! and also valid JSON it does not handle (a key with an escape, a
//! duplicate wanted key, nesting deeper than [`MAX_DEPTH`], a lone
//! surrogate). The callers then ask serde_json, which gives the result or
//! the error. So a `Some` is always what serde_json would have produced,
//! and the tests below hold the two side by side on many inputs.
//!
//! Why: a Zoom event frame is JSON inside a JSON string. serde_json, driven
//! through `Deserialize`, spends about 24,000 instructions on one frame of
//! 724 bytes, unescaping `content` into a scratch buffer that grows by
//! reallocation (on the socket thread, while the user's thread frees the
//! previous events into the same allocator arena), copying it out, then
//! parsing it again; this module does the same work in half the
//! instructions and one allocation (BENCHMARKS.md, "Breakdown"). Strings
//! are scanned eight bytes at a time (SWAR), as serde_json also does.

use std::borrow::Cow;
use std::ops::Range;

/// Deeper nesting is left to serde_json (which has its own limit of 128).
pub(crate) const MAX_DEPTH: u32 = 64;

/// A byte of each lane.
const ONES: u64 = u64::MAX / 255;
const HIGHS: u64 = ONES << 7;

/// The high bit of every byte of `x` that is `"`, `\` or a control
/// character (below 0x20). Bits above the lowest one may be false
/// positives (a borrow carries up); the lowest one is exact.
#[inline(always)]
fn specials(x: u64) -> u64 {
    // x ^ 0x02 maps `"` (0x22) to 0x20 and keeps 0x00..=0x1f below 0x20,
    // while nothing else lands below 0x21: one "less than" test for both.
    let y = x ^ (ONES * 0x02);
    let below = y.wrapping_sub(ONES * 0x21) & !y;
    let s = x ^ (ONES * u64::from(b'\\'));
    let slash = s.wrapping_sub(ONES) & !s;
    (below | slash) & HIGHS
}

#[inline(always)]
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

#[inline(always)]
fn word(b: &[u8], i: usize) -> Option<u64> {
    let w: &[u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(*w))
}

/// The index of the next `"`, `\` or control byte at or after `i`.
#[inline(always)]
fn next_special(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(x) = word(b, i) {
        let m = specials(x);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < b.len() {
        if is_special(b[i]) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn hex4(b: &[u8], i: usize) -> Option<u16> {
    let digits = b.get(i..i + 4)?;
    let mut v = 0u16;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u16::from(n);
    }
    Some(v)
}

/// Past the escape at `i` (a `\`), checked as serde_json's `ignore_str`
/// checks it: one of `"\/bfnrt`, or `u` and four hex digits.
#[inline(never)]
fn skip_escape(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(i + 2),
        b'u' => hex4(b, i + 2).map(|_| i + 6),
        _ => None,
    }
}

/// Past the string whose opening quote is at `i - 1`, checked as
/// serde_json's `ignore_str` checks it (no control characters, valid
/// escapes); and whether it had an escape.
#[inline(always)]
fn skip_str(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = next_special(b, i)?;
        match b[i] {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i = skip_escape(b, i)?;
            }
            _ => return None,
        }
    }
}

/// Past the number at `i`, checked as serde_json checks it:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => {
            digits(&mut i);
        }
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    Some(i)
}

/// Past any JSON whitespace at `i`, and the byte there.
#[inline(always)]
fn ws(b: &[u8], mut i: usize) -> Option<(usize, u8)> {
    loop {
        let c = *b.get(i)?;
        if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            return Some((i, c));
        }
        i += 1;
    }
}

/// Past an object key (a string, not looked at) and its colon.
#[inline(always)]
fn skip_key(b: &[u8], i: usize) -> Option<usize> {
    let (i, c) = ws(b, i)?;
    if c != b'"' {
        return None;
    }
    let (i, _) = skip_str(b, i + 1)?;
    let (i, c) = ws(b, i)?;
    (c == b':').then_some(i + 1)
}

/// Past the value at `i` (after optional whitespace), checked as
/// serde_json's `ignore_value` checks it; nesting without recursion.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    // Bit n: the container at depth n + 1 is an object.
    let mut objects: u64 = 0;
    let mut depth: u32 = 0;
    loop {
        // A value starts here.
        let (at, c) = ws(b, i)?;
        i = at;
        match c {
            b'"' => i = skip_str(b, i + 1)?.0,
            b'{' | b'[' => {
                let close = c + 2; // `}` and `]` follow `{` and `[` by two
                let (at, next) = ws(b, i + 1)?;
                if next == close {
                    i = at + 1;
                } else {
                    if depth + 1 >= MAX_DEPTH {
                        return None;
                    }
                    objects = objects << 1 | u64::from(c == b'{');
                    depth += 1;
                    i = if c == b'{' { skip_key(b, at)? } else { at };
                    continue;
                }
            }
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = skip_number(b, i)?,
            _ => return None,
        }
        // A value ended: a comma, or the end of its container(s).
        loop {
            if depth == 0 {
                return Some(i);
            }
            let object = objects & 1 == 1;
            let (at, c) = ws(b, i)?;
            match c {
                b',' => {
                    i = if object { skip_key(b, at + 1)? } else { at + 1 };
                    break;
                }
                b'}' if object => {}
                b']' if !object => {}
                _ => return None,
            }
            i = at + 1;
            objects >>= 1;
            depth -= 1;
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// Decodes the string whose opening quote is at `i - 1`, as serde_json's
/// `parse_str` decodes it for a `&str`: borrowed without escapes, else one
/// allocation. Lone surrogates are left to serde_json (`None`). Returns the
/// index past the closing quote. `buf` is reused for the allocation if it
/// is large enough. Not inlined: its loop wants the registers.
#[inline(never)]
fn decode_str(text: &str, i: usize, buf: Vec<u8>) -> Option<(usize, Cow<'_, str>)> {
    let b = text.as_bytes();
    let start = i;
    let mut i = next_special(b, i)?;
    match b[i] {
        // Both ends are at ASCII quotes: char boundaries.
        b'"' => return Some((i + 1, Cow::Borrowed(text.get(start..i)?))),
        b'\\' => {}
        _ => return None,
    }
    // The decoded text is no longer than what is left of the input; 8
    // spare bytes let each step copy a whole word and keep a part of it.
    let need = b.len() - start + 8;
    let mut out = buf;
    // A reused buffer keeps its old bytes (the previous event's JSON): every
    // byte kept below is written first, so only the part past them is
    // zeroed, not the whole length again.
    out.truncate(need);
    if out.capacity() < need {
        // A buffer that came back too small gets room for a slightly
        // longer event too; a new one (no buffer came back: a backlog, say)
        // is exact, as the events waiting in the channel hold it.
        let room = if out.capacity() == 0 {
            0
        } else {
            need / 16 + 16
        };
        out.reserve_exact(need + room - out.len());
    }
    out.resize(need, 0);
    out[..i - start].copy_from_slice(&b[start..i]);
    let mut j = i - start;
    loop {
        // At a `\`.
        let e = *b.get(i + 1)?;
        if e == b'"' {
            out[j] = b'"';
            j += 1;
            i += 2;
        } else {
            let (past, c) = unescape(b, i)?;
            let mut buf = [0u8; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            out[j..j + bytes.len()].copy_from_slice(bytes);
            j += bytes.len();
            i = past;
        }
        // Copy up to the next special byte, a word at a time.
        let mut words = b[i..].chunks_exact(8);
        let mut found = false;
        for w in words.by_ref() {
            let x = u64::from_le_bytes(w.try_into().ok()?);
            out.get_mut(j..j + 8)?.copy_from_slice(w);
            let m = specials(x);
            if m != 0 {
                let k = (m.trailing_zeros() / 8) as usize;
                i += k;
                j += k;
                found = true;
                break;
            }
            i += 8;
            j += 8;
        }
        if !found {
            let at = next_special(b, i)?;
            out.get_mut(j..j + at - i)?.copy_from_slice(&b[i..at]);
            j += at - i;
            i = at;
        }
        match b[i] {
            b'\\' => {}
            b'"' => break,
            _ => return None,
        }
    }
    out.truncate(j);
    // Much more room than text (a large field after `content`, or a large
    // buffer reused for a small event): give it back.
    if out.capacity() > 2 * j + 64 {
        out.shrink_to_fit();
    }
    Some((i + 1, Cow::Owned(String::from_utf8(out).ok()?)))
}

/// The escape at `i` (a `\`) other than `\"`: the index past it and the
/// character, as serde_json decodes it (surrogate pairs joined; a lone
/// surrogate is `None`).
#[inline(never)]
fn unescape(b: &[u8], i: usize) -> Option<(usize, char)> {
    let c = match *b.get(i + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let n = hex4(b, i + 2)?;
            return match n {
                0xD800..=0xDBFF => {
                    if b.get(i + 6..i + 8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(b, i + 8)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let c = 0x10000 + ((u32::from(n) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    Some((i + 12, char::from_u32(c)?))
                }
                0xDC00..=0xDFFF => None,
                n => Some((i + 6, char::from_u32(u32::from(n))?)),
            };
        }
        _ => return None,
    };
    Some((i + 2, c))
}

/// The values of some top-level keys of a JSON object, as found by
/// [`object`].
pub(crate) struct Fields<'a, const N: usize> {
    /// Per wanted key: where its value is in the text (without whitespace).
    pub ranges: [Option<Range<usize>>; N],
    /// The decoded string value of the key asked to be decoded, if it was
    /// a string.
    pub decoded: Option<Cow<'a, str>>,
}

/// Checks that `text` is one JSON object (whitespace around it allowed) as
/// serde_json would accept it, and finds the values of `keys`. The string
/// value of `keys[decode]` is decoded in the same pass (see
/// [`Fields::decoded`]), into `buf` if it has the room. `None`: invalid, or
/// not handled here (a key with an escape, a wanted key twice, deep
/// nesting, a lone surrogate).
pub(crate) fn object<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
    decode: Option<usize>,
    buf: Vec<u8>,
) -> Option<Fields<'a, N>> {
    let mut buf = Some(buf);
    let b = text.as_bytes();
    let mut fields = Fields {
        ranges: std::array::from_fn(|_| None),
        decoded: None,
    };
    let (i, c) = ws(b, 0)?;
    if c != b'{' {
        return None;
    }
    let (mut i, c) = ws(b, i + 1)?;
    if c == b'}' {
        i += 1;
    } else {
        loop {
            let (at, c) = ws(b, i)?;
            if c != b'"' {
                return None;
            }
            let (past, escaped) = skip_str(b, at + 1)?;
            if escaped {
                // An escaped key might spell a wanted one.
                return None;
            }
            let key = &b[at + 1..past - 1];
            let (at, c) = ws(b, past)?;
            if c != b':' {
                return None;
            }
            let (start, c) = ws(b, at + 1)?;
            match keys.iter().position(|k| k.as_bytes() == key) {
                Some(k) => {
                    if fields.ranges[k].is_some() {
                        return None;
                    }
                    if decode == Some(k) && c == b'"' {
                        let (past, s) = decode_str(text, start + 1, buf.take()?)?;
                        fields.decoded = Some(s);
                        i = past;
                    } else {
                        i = skip_value(b, start)?;
                    }
                    fields.ranges[k] = Some(start..i);
                }
                None => i = skip_value(b, start)?,
            }
            let (at, c) = ws(b, i)?;
            i = at + 1;
            match c {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    // Nothing but whitespace after the object.
    match ws(b, i) {
        None => Some(fields),
        Some(_) => None,
    }
}

/// A string value without escapes, by its range in `text` (quotes
/// included): the range of its contents.
pub(crate) fn plain_str(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let v = text.as_bytes().get(r.clone())?;
    if v.len() >= 2 && v[0] == b'"' && !v[1..].contains(&b'\\') {
        Some(r.start + 1..r.end - 1)
    } else {
        None
    }
}

/// An integer as serde_json reads it into an `i64`, when it surely fits
/// (at most 18 digits); `None` for anything else.
pub(crate) fn small_int(v: &str) -> Option<i64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    /// What serde_json says about `text` as a value: valid or not.
    fn serde_valid(text: &str) -> bool {
        serde_json::from_str::<IgnoredAny>(text).is_ok()
    }

    fn skip_valid(text: &str) -> Option<bool> {
        let b = text.as_bytes();
        let i = skip_value(b, 0)?;
        Some(ws(b, i).is_none())
    }

    /// A small deterministic generator (xorshift), for mutations.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Variants of `seed`: bytes replaced, inserted, deleted, cut, from an
    /// alphabet of the bytes that matter to JSON.
    pub(crate) fn mutations(seed: &str, count: usize, rng: &mut Rng) -> Vec<String> {
        const ALPHABET: &[u8] = b"{}[]:,\"\\/ \t\n0123456789-+.eEtrufalsnbu\x01\x1fxA";
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let mut b = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len() + 1);
                let c = ALPHABET[rng.below(ALPHABET.len())];
                match rng.below(4) {
                    0 if at < b.len() => b[at] = c,
                    1 => b.insert(at, c),
                    2 if at < b.len() => {
                        b.remove(at);
                    }
                    _ => b.truncate(at),
                }
            }
            // Keep the bytes valid UTF-8, as the socket's text frames are.
            out.push(String::from_utf8_lossy(&b).into_owned());
        }
        out
    }

    /// Per seed, its `count` mutations and then the seed itself: the inputs
    /// of the differential tests (a scan against serde_json).
    pub(crate) fn with_mutations(seeds: &[&str], count: usize, rng: &mut Rng) -> Vec<String> {
        let mut out = Vec::with_capacity(seeds.len() * (count + 1));
        for seed in seeds {
            out.extend(mutations(seed, count, rng));
            out.push(seed.to_string());
        }
        out
    }

    #[test]
    fn values_are_checked_as_serde_json_checks_them() {
        let cases = [
            "1",
            "-0",
            "01",
            "1.",
            "1.5e",
            "1.5e+3",
            "-",
            "2E-7",
            "true",
            "tru",
            "nul",
            "null",
            "\"\\u00e9\"",
            "\"\\ud800\"",
            "\"\\uZZZZ\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "\"\u{e9}t\u{e9}\"",
            "[]",
            "[1,]",
            "[1 , 2 ]",
            "{}",
            "{\"a\":1,}",
            "{\"a\" : [ {\"b\":{}} , \"c\" ] }",
            "{1:2}",
            "{\"a\"}",
            "[[[[[[[[[[]]]]]]]]]]",
            "  [1]  x",
        ];
        for c in cases {
            if let Some(ok) = skip_valid(c) {
                assert_eq!(ok, serde_valid(c), "{c:?}");
            } else {
                assert!(!serde_valid(c) || c.contains('['), "{c:?}");
            }
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let seed = r#"{"a":[1,-2.5e3,true,false,null,{"b":"x\"y\\u0041"}],"c":{},"d":[]}"#;
        for m in mutations(seed, 20_000, &mut rng) {
            match skip_valid(&m) {
                Some(ok) => assert_eq!(ok, serde_valid(&m), "{m:?}"),
                None => assert!(!serde_valid(&m), "{m:?} is valid"),
            }
        }
    }

    #[test]
    fn decoding_matches_serde_json() {
        let cases = [
            r#""plain""#,
            r#""a\"b\\c\/d\be\ff\ng\rh\ti""#,
            r#""\u00e9\u20ac\ud83d\ude00""#,
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            r#""long enough to take the word-at-a-time path \" and \" again \" end""#,
            "\"caf\u{e9} \\\" \u{1F600} d\u{e9}j\u{e0}\"",
            r#""unterminated"#,
            r#""bad \q escape""#,
            "\"ctrl \u{1} inside\"",
        ];
        for c in cases {
            let mine = decode_str(c, 1, Vec::new()).map(|(_, s)| s);
            // A reused buffer's old bytes (here invalid UTF-8, longer or
            // shorter than the text) never show through.
            for old in [vec![0xff; 3], vec![0xff; 4096]] {
                let reused = decode_str(c, 1, old).map(|(_, s)| s);
                assert_eq!(reused, mine, "{c:?}");
            }
            let serde: Result<String, _> = serde_json::from_str(c);
            match (mine, serde) {
                (Some(m), Ok(s)) => assert_eq!(m, s, "{c:?}"),
                (None, Ok(s)) => {
                    assert!(c.contains("\\ud8"), "{c:?} should decode to {s:?}")
                }
                (Some(m), Err(e)) => panic!("{c:?} decoded to {m:?}; serde: {e}"),
                (None, Err(_)) => {}
            }
        }
    }

    #[test]
    fn objects_find_their_keys() {
        let text = r#" {"x":[1,{"event":2}], "event" : "a.b" ,"payload":{"k":"v"},"n":null} "#;
        let f = object(text, ["event", "payload", "n", "absent"], None, Vec::new()).unwrap();
        let get = |i: usize| f.ranges[i].clone().map(|r| &text[r]);
        assert_eq!(get(0), Some(r#""a.b""#));
        assert_eq!(get(1), Some(r#"{"k":"v"}"#));
        assert_eq!(get(2), Some("null"));
        assert_eq!(get(3), None);
        for bad in [
            r#"{"event":1,"event":2}"#,
            r#"{"ev\u0065nt":1}"#,
            r#"{"event":1}}"#,
            r#"["event"]"#,
            r#"{"event":1"#,
        ] {
            assert!(object(bad, ["event"], None, Vec::new()).is_none(), "{bad}");
        }
    }
}
