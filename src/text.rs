//! Text helpers with one home: cutting strings at a character boundary,
//! quoting what a server sent (scrubbed, cut, printable), describing a JSON
//! error without quoting the input, and percent-encoding and decoding.

/// At most `max` characters of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A short, printable summary of text a server sent, for a log line or an
/// error message: at most `max` characters of its first line, control
/// characters replaced, every `secrets` entry scrubbed, `...` when cut.
/// Call sites decide whether a body may be quoted at all (a success body may
/// hold a token).
pub(crate) fn summary(body: &[u8], max: usize, secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text = text.trim().to_owned();
    for s in secrets {
        text = crate::secret::scrub(&text, s);
    }
    let first_line = text.lines().next().unwrap_or("");
    let mut out: String = first_line
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if first_line.chars().count() > max || text.lines().nth(1).is_some() {
        out.push_str("...");
    }
    out
}

/// The longest [`json_error`] text, in characters.
const MAX_JSON_ERROR: usize = 200;

/// What is wrong with some JSON, without quoting any of it: serde's own
/// messages quote whole string values (`invalid type: string "<1 MiB>",
/// expected ...`) and unknown keys, and the input is server text that may
/// hold a token. Syntax errors keep serde_json's fixed wording; data errors
/// keep only their kind, the expected shape (ours, from the type) and field
/// names of our own types; then the line and column. At most 200 characters.
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let full = e.to_string();
    let position = if e.line() == 0 {
        String::new()
    } else {
        format!(" at line {} column {}", e.line(), e.column())
    };
    let message = full.strip_suffix(position.as_str()).unwrap_or(&full);
    let described = match e.classify() {
        // serde_json's fixed texts ("expected value", "EOF while parsing a
        // string", "trailing characters", ...): nothing from the input.
        Category::Syntax | Category::Eof => message.to_owned(),
        Category::Io => "I/O error".to_owned(),
        Category::Data => describe_data_error(message),
    };
    truncate(&format!("{described}{position}"), MAX_JSON_ERROR).to_owned()
}

/// A serde data error's message with every piece of input left out.
fn describe_data_error(message: &str) -> String {
    // What follows the last ", expected " is serde's `Expected` text, which
    // comes from the type being deserialised, never from the input.
    let expected = message
        .rfind(", expected ")
        .map(|i| &message[i..])
        .unwrap_or("");
    let kind_of = |rest: &str| {
        // `string "..."`, `integer `5``, `floating point `1.5``, `map`, ...
        let kind = rest
            .split(['`', '"'])
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        if !kind.is_empty()
            && kind.len() <= 20
            && kind.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ')
        {
            kind
        } else {
            "a value".to_owned()
        }
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let unexpected = &rest[..rest.len().saturating_sub(expected.len())];
            return format!("{prefix}{}{expected}", kind_of(unexpected));
        }
    }
    // Field names of our own types: `missing field `event``.
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        return message.to_owned();
    }
    // `invalid length 3, expected ...`: a number and our text.
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if rest
            .split(',')
            .next()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            return message.to_owned();
        }
    }
    // These quote the input's key or value: keep the kind only.
    for kind in ["unknown field", "unknown variant"] {
        if message.starts_with(kind) {
            return format!("{kind}{expected}");
        }
    }
    "invalid data".to_owned()
}

/// True for a name of the shape Zoom's names are (`meeting.participant_joined`,
/// `build_connection`): 1 to `max` bytes of `a-z 0-9 . _ -`. Server text of
/// any other shape could be anything (an echoed token): only names of this
/// shape are quoted in errors and logs.
pub(crate) fn is_plain_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Appends `s` to `out` with everything but RFC 3986's unreserved
/// characters as `%XX`.
pub(crate) fn percent_encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// `%XX` decoded to bytes (callers decide what invalid UTF-8 means); a `%`
/// not followed by two hex digits is kept as it is. `+` is not a space here.
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = bytes
            .get(i + 1)
            .copied()
            .and_then(hex)
            .zip(bytes.get(i + 2).copied().and_then(hex));
        match (bytes[i], pair) {
            (b'%', Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
        assert_eq!(truncate("", 0), "");
    }

    #[test]
    fn summary_is_short_scrubbed_and_printable() {
        let s = summary(b"<html>\x07bad sec-ret here\nmore", 20, &["sec-ret"]);
        assert_eq!(s, "<html> bad *** here...");
        assert_eq!(summary(b"  ok  ", 20, &[]), "ok");
    }

    fn json_err<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        json_error(&serde_json::from_str::<T>(json).unwrap_err())
    }

    #[test]
    fn json_errors_never_quote_the_input() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            event: String,
            n: Option<u8>,
            e: Option<E>,
            t: Option<(u8, u8)>,
        }
        #[derive(serde::Deserialize, Debug)]
        enum E {
            A,
        }
        let secret = "SECRET-TOKEN-1234";
        for (json, expected) in [
            (
                format!(r#""{secret}""#),
                "invalid type: string, expected struct S at line 1 column 19",
            ),
            (
                format!(r#"{{"event":1,"x":"{secret}"}}"#),
                "invalid type: integer, expected a string at line 1 column 10",
            ),
            (
                format!(r#"{{"event":"a","{secret}":1}}"#),
                "unknown field, expected one of `event`, `n`, `e`, `t` at line 1 column 32",
            ),
            (
                format!(r#"{{"event":"a","e":"{secret}"}}"#),
                "unknown variant, expected `A` at line 1 column 36",
            ),
            (
                r#"{"event":"a","n":300}"#.to_owned(),
                "invalid value: integer, expected u8 at line 1 column 20",
            ),
            (
                r#"{"event":"a","t":[1]}"#.to_owned(),
                "invalid length 1, expected a tuple of size 2 at line 1 column 20",
            ),
            (
                r#"{"n":1}"#.to_owned(),
                "missing field `event` at line 1 column 7",
            ),
            (
                format!(r#"{{"event":"{secret}"#),
                "EOF while parsing a string at line 1 column 27",
            ),
            (secret.to_string(), "expected value at line 1 column 1"),
        ] {
            let e = json_err::<S>(&json);
            assert_eq!(e, expected, "{json}");
            assert!(!e.contains("SECRET"), "{e}");
        }
        // From a Value: no position.
        let e = serde_json::from_value::<S>(serde_json::json!({"event": [secret]})).unwrap_err();
        assert_eq!(json_error(&e), "invalid type: sequence, expected a string");
        // A 1 MiB string value gives a short text.
        let big = format!(r#"{{"event":1,"x":"{}"}}"#, "x".repeat(1 << 20));
        assert!(json_err::<S>(&big).len() < 100);
        let big = format!(r#""{}""#, "x".repeat(1 << 20));
        assert!(json_err::<S>(&big).len() < 100);
    }

    #[test]
    fn percent_encoding() {
        let mut s = String::new();
        percent_encode(&mut s, "aZ9-._~ +/=&é");
        assert_eq!(s, "aZ9-._~%20%2B%2F%3D%26%C3%A9");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("p%40ss%3Aw%2Fd+%zz%4"), b"p@ss:w/d+%zz%4");
        assert_eq!(percent_decode("%C3%A9%ff"), b"\xc3\xa9\xff");
        let mut s = String::new();
        percent_encode(&mut s, "aZ9-._~ +/=&é");
        assert_eq!(percent_decode(&s), "aZ9-._~ +/=&é".as_bytes());
    }
}
