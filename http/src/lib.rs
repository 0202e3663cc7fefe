//! perfkit-http: the HTTP client perfkit's remote APIs share (Zuul's
//! builds API and log servers; Gerrit builds on it): timeouts, retries
//! with backoff that honour `Retry-After`, same-origin redirects.
//! See `docs/ARCHITECTURE.md`.

pub mod env_file;
mod fetch;

pub use fetch::{FetchError, Fetcher, HttpOptions};
