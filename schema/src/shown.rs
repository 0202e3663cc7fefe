//! Untrusted text (Rally names, messages, Zuul and Gerrit values) for the
//! terminal and logs: control characters are escaped so a crafted report
//! cannot move the cursor, clear the screen or hide text. Every crate that
//! prints or logs such text uses this one function.

use std::borrow::Cow;

/// `text` with its control characters escaped (`\u{1b}`, `\n`, …).
pub fn shown(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}
