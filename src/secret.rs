//! [`Secret`]: a string that never prints itself.

use std::fmt;

/// A secret string (client secret, access token, webhook secret token, JWT).
///
/// `Debug` and `Display` print `***`, so a secret can sit inside any struct
/// that derives `Debug`, or be formatted into an error or a log line by
/// accident, without leaking. The only way to the text is [`Secret::expose`],
/// which is easy to find in a review.
///
/// ```
/// let s = zoom_ws::Secret::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into().into_boxed_str())
    }

    /// The secret text. Every call site is a place where the secret leaves
    /// its wrapper: keep it out of anything that is logged or displayed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True if the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

/// Replaces every occurrence of `secret` in `text` with `***`. Used on text
/// that came from elsewhere (a server's error message, a URL) before it goes
/// into an error or a log line.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("s3cr3t-value");
        let shown = format!("{s:?} {s} {:?} {:#?}", Some(&s), vec![s.clone()]);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(s.expose(), "s3cr3t-value");
    }

    #[test]
    fn scrub_replaces_all() {
        assert_eq!(scrub("a tok b tok", "tok"), "a *** b ***");
        assert_eq!(scrub("abc", ""), "abc");
    }
}
