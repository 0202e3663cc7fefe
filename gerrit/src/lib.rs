//! perfkit-gerrit: posting a patchset's verdict on its Gerrit change,
//! exactly once per result. [`client`] makes the few Gerrit REST calls
//! (reads retried, a review never resent once it may have arrived);
//! [`message`] writes the review message and reads back the result marker
//! of earlier ones; [`credentials`] finds the account's HTTP password in
//! the environment, a file or `~/.netrc`. See `docs/ARCHITECTURE.md`.
//!
//! The REST client is the default `client` feature; without it the message,
//! its marker reader and the credential readers build alone (the fuzz
//! targets do).

pub mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod credentials;
pub mod message;
pub mod suspect;

#[cfg(feature = "client")]
pub use client::{ChangeRef, Gerrit, Posted};
