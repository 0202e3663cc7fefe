//! perfkit-http: the HTTP layer perfkit's remote APIs share (Zuul's
//! builds API and log servers, Gerrit): one retry policy that knows
//! whether a request may be repeated and honours `Retry-After`, timeouts,
//! same-origin redirects; and the URL type that never prints credentials.
//! See `docs/ARCHITECTURE.md`.

mod decode;
pub mod env_file;
mod fetch;
mod origins;
mod problem;
pub mod retry;
mod safe_url;
pub mod size;

pub use fetch::{FetchError, Fetcher, HttpOptions};
pub use origins::{OriginPattern, Origins};
pub use problem::Problem;
pub use retry::{Failed, Failure, Repeat, RetryPolicy, Stopped};
pub use safe_url::{DisplaySafeUrl, UrlArgError, UserName};
