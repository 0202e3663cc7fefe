//! perfkit-http: the HTTP layer perfkit's remote APIs share (Zuul's
//! builds API and log servers, Gerrit): one retry policy that knows
//! whether a request may be repeated and honours `Retry-After`, timeouts,
//! same-origin redirects; and the URL type that never prints credentials.
//! See `docs/ARCHITECTURE.md`.
//!
//! The client (`Fetcher`, `retry`) is the default `client` feature; without
//! it only the URL type, `Problem` and [`env_file`] build (the fuzz targets).

#[cfg(feature = "client")]
mod decode;
pub mod env_file;
#[cfg(feature = "client")]
mod fetch;
#[cfg(feature = "client")]
mod origins;
mod problem;
#[cfg(feature = "client")]
pub mod retry;
mod safe_url;
pub mod size;

#[cfg(feature = "client")]
pub use fetch::{FetchError, Fetcher, HttpOptions};
#[cfg(feature = "client")]
pub use origins::{OriginPattern, Origins};
pub use problem::Problem;
#[cfg(feature = "client")]
pub use retry::{Failed, Failure, Repeat, RetryPolicy, Stopped};
pub use safe_url::{DisplaySafeUrl, UrlArgError, UserName};
