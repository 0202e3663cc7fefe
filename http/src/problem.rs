//! `Problem`: an error that says what went wrong and, apart from it, what
//! to do about it, for the one-off failures of remote APIs and command-line
//! values (Gerrit's and Zuul's answers, a bad `--gerrit`). Typed error
//! enums elsewhere offer the same `hint()`; `perfkit_ops::report_error`
//! prints every hint on its own `hint:` line.

use std::fmt;

/// A failure message and its hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    message: String,
    hint: String,
}

impl Problem {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_stays_out_of_the_message() {
        let p = Problem::new("Zuul answered 404", "check `--tenant`");
        assert_eq!(p.to_string(), "Zuul answered 404");
        assert_eq!(p.hint().as_deref(), Some("check `--tenant`"));
    }
}
