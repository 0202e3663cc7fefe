//! HTTP for the collector: one client with connect and read timeouts, and
//! GETs that are retried by the shared [`RetryPolicy`] (connection errors,
//! timeouts, 5xx, 429 — honouring `Retry-After`), while a 404 or another
//! 4xx answers at once. Redirects are followed only on the origin asked
//! for: a job chooses its log and artifact URLs, and a redirect must not
//! take the collector to other (internal) hosts; [`Origins`] says which
//! origins may be asked at all. Bodies are decoded as they stream
//! (`Content-Encoding: gzip`, gzip files: [`crate::decode`]) with a cap
//! on the decoded bytes, and one request (its retries and body included)
//! ends at a deadline however slowly the server drips.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, HeaderValue, LOCATION};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode, Url};
use tokio::io::AsyncWriteExt;

use crate::decode::{BodyDecoder, DecodeError};
use crate::origins::{NotPublic, Origins};
use crate::retry::{Failed, Failure, Repeat, RetryPolicy, Stopped, error_chain};

/// Redirects followed for one request (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// How the collector talks HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How often a GET is sent, and the waits between.
    pub retry: RetryPolicy,
    /// Longest silence while waiting for a response or its body.
    pub timeout: Duration,
    /// Longest time one request may take, every retry and the whole body
    /// included.
    pub deadline: Duration,
    /// Most bytes one body may have once decoded.
    pub max_bytes: u64,
    /// Which origins may be asked.
    pub origins: Origins,
}

/// Why a GET did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// 404 or 410: the file is not there (answered at once, not retried).
    NotFound,
    /// A status that retrying would not change (e.g. 403).
    Status(StatusCode),
    /// A redirect that was not followed: to another origin, or one too many.
    Redirect(String),
    /// What stayed after every retry: connection errors, timeouts, 5xx, 429.
    Transport(String),
    /// A local file could not be written.
    Local(String),
    /// The decoded body is larger than the cap (bytes).
    TooLarge(u64),
    /// The body is compressed but cut short or corrupt, or in an encoding
    /// perfkit does not read.
    Corrupt(String),
    /// The URL's origin may not be asked (see [`Origins`]).
    Refused(String),
    /// The request (retries and body included) took longer than this.
    Deadline(Duration),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NotFound => write!(f, "not found (404)"),
            FetchError::Status(s) => write!(f, "HTTP {s}"),
            FetchError::Transport(m) | FetchError::Redirect(m) => write!(f, "{m}"),
            FetchError::Local(m) | FetchError::Corrupt(m) | FetchError::Refused(m) => {
                write!(f, "{m}")
            }
            FetchError::TooLarge(max) => write!(
                f,
                "larger than {} once decoded (the download cap, `--max-download`)",
                crate::size::shown_size(*max)
            ),
            FetchError::Deadline(d) => write!(
                f,
                "not done within {} s (the deadline of one download, `--deadline`)",
                d.as_secs()
            ),
        }
    }
}

/// One attempt's failure.
type Attempt<T> = Result<T, Failed<FetchError>>;

/// A client plus the retry policy.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    options: HttpOptions,
}

impl Fetcher {
    pub fn new(options: HttpOptions) -> anyhow::Result<Fetcher> {
        let client = Client::builder()
            .user_agent(concat!("perfkit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .read_timeout(options.timeout)
            .redirect(same_origin_redirects())
            .dns_resolver(options.origins.resolver())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(Fetcher { client, options })
    }

    /// The whole body of `url`, its `Content-Encoding` decoded.
    pub async fn get_bytes(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        self.within_deadline(self.retrying(async |_| {
            let response = self.send(url).await?;
            let mut body = Vec::new();
            stream_body(response, false, self.options.max_bytes, async |bytes| {
                body.extend_from_slice(&bytes);
                Ok(())
            })
            .await?;
            Ok(body)
        }))
        .await
    }

    /// Streams `url` into `dest` (created or truncated), decoded: its
    /// `Content-Encoding`, and a gzip file as what it holds. Returns the
    /// decoded size.
    pub async fn download(&self, url: &Url, dest: &Path) -> Result<u64, FetchError> {
        self.within_deadline(self.retrying(async |_| {
            let response = self.send(url).await?;
            write_body(response, dest, self.options.max_bytes).await
        }))
        .await
    }

    async fn within_deadline<T>(
        &self,
        request: impl Future<Output = Result<T, FetchError>>,
    ) -> Result<T, FetchError> {
        tokio::time::timeout(self.options.deadline, request)
            .await
            .unwrap_or(Err(FetchError::Deadline(self.options.deadline)))
    }

    /// `attempt` under the policy; what stays after the last retry says
    /// how many attempts were made.
    async fn retrying<T>(
        &self,
        attempt: impl AsyncFnMut(u32) -> Attempt<T>,
    ) -> Result<T, FetchError> {
        match self.options.retry.run(Repeat::Idempotent, attempt).await {
            Ok(value) => Ok(value),
            Err(Stopped::Exhausted { error, attempts }) => Err(FetchError::Transport(format!(
                "{error} (after {attempts} attempts)"
            ))),
            Err(Stopped::Final(error) | Stopped::Unsure(error)) => Err(error),
        }
    }

    async fn send(&self, url: &Url) -> Attempt<Response> {
        if let Some(why) = self.options.origins.refusal(url) {
            return Err(Failed::final_error(FetchError::Refused(why)));
        }
        let request = self
            .client
            .get(url.clone())
            // gzip is decoded here (and log servers that store files
            // compressed send it whatever is asked); nothing else is.
            .header(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let response = request.send().await.map_err(|e| transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            return Err(Failed::final_error(unfollowed(&response)));
        }
        if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Err(Failed::final_error(FetchError::NotFound));
        }
        Err(Failed {
            failure: Failure::of_status(status, response.headers()),
            error: FetchError::Status(status),
        })
    }
}

/// Follows redirects that stay on the first URL's origin (scheme, host,
/// port); stops at any other, leaving the 3xx answer to [`unfollowed`].
fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        // `previous` starts with the URL first asked for.
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Why a 3xx answer was not followed, naming the target's origin only.
fn unfollowed(response: &Response) -> FetchError {
    let status = response.status();
    let target = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| response.url().join(l).ok());
    FetchError::Redirect(match target {
        Some(t) if t.origin() != response.url().origin() => format!(
            "HTTP {status}: redirected to {}, another origin (not followed)",
            t.origin().ascii_serialization()
        ),
        Some(_) => format!("HTTP {status}: more than {MAX_REDIRECTS} redirects"),
        None => format!("HTTP {status} without a usable Location"),
    })
}

async fn write_body(response: Response, dest: &Path, max_bytes: u64) -> Attempt<u64> {
    let local = |e: std::io::Error| {
        Failed::final_error(FetchError::Local(format!(
            "cannot write `{}`: {e}",
            dest.display()
        )))
    };
    let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
    let size = stream_body(response, true, max_bytes, async |bytes| {
        file.write_all(&bytes).await.map_err(local)
    })
    .await?;
    file.flush().await.map_err(local)?;
    Ok(size)
}

/// Streams a body through its decoder into `sink`; returns the decoded size.
async fn stream_body(
    mut response: Response,
    files: bool,
    max_bytes: u64,
    mut sink: impl AsyncFnMut(Vec<u8>) -> Attempt<()>,
) -> Attempt<u64> {
    let encoding = response
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let gzip = match encoding.as_deref() {
        None | Some("" | "identity") => false,
        Some("gzip" | "x-gzip") => true,
        Some(other) => {
            return Err(Failed::final_error(FetchError::Corrupt(format!(
                "came with `Content-Encoding: {}`, which perfkit does not decode (gzip only)",
                perfkit_schema::shown(other)
            ))));
        }
    };
    let decoding = |e: DecodeError| {
        Failed::final_error(match e {
            DecodeError::TooLarge => FetchError::TooLarge(max_bytes),
            DecodeError::Corrupt(m) => FetchError::Corrupt(m),
        })
    };
    let mut decoder = BodyDecoder::new(gzip, files, max_bytes);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => sink(decoder.feed(&chunk).map_err(decoding)?).await?,
            Ok(None) => break,
            Err(e) => return Err(transport(&e)),
        }
    }
    sink(decoder.finish().map_err(decoding)?).await?;
    Ok(decoder.decoded())
}

/// A transport error in one line: what went wrong, then the causes below
/// reqwest's own message (which repeats the URL the caller names anyway).
fn transport(e: &reqwest::Error) -> Failed<FetchError> {
    // The resolver refused the host: the same answer every time.
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<NotPublic>() {
            return Failed::final_error(FetchError::Refused(refused.0.clone()));
        }
        cause = c.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transfer failed"
    };
    let detail = std::error::Error::source(e)
        .map(error_chain)
        .unwrap_or_default();
    Failed {
        failure: Failure::of_error(e),
        error: FetchError::Transport(if detail.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {detail}")
        }),
    }
}
