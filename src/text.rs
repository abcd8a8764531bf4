//! Text helpers with one home: cutting strings at a character boundary,
//! quoting what a server sent (scrubbed, cut, printable), and percent-encoding.

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

    #[test]
    fn percent_encoding() {
        let mut s = String::new();
        percent_encode(&mut s, "aZ9-._~ +/=&é");
        assert_eq!(s, "aZ9-._~%20%2B%2F%3D%26%C3%A9");
    }
}
