//! perfkit-http: the HTTP layer perfkit's remote APIs share (Zuul's
//! builds API and log servers, Gerrit): one retry policy that knows
//! whether a request may be repeated and honours `Retry-After`, timeouts,
//! same-origin redirects. See `docs/ARCHITECTURE.md`.

pub mod env_file;
mod fetch;
pub mod retry;

pub use fetch::{FetchError, Fetcher, HttpOptions};
pub use retry::{Failed, Failure, Repeat, RetryPolicy, Stopped};
