//! One retry policy for every HTTP request perfkit makes: a bounded number
//! of attempts, exponential backoff with a cap, and the server's
//! `Retry-After` honoured. Whether a failed attempt is sent again depends
//! on whether the request may be repeated ([`Repeat`]): a read is retried
//! after anything that may pass (no connection, a timeout, a lost answer,
//! 429, 5xx); a request that must not act twice (Gerrit's review POST) is
//! sent again only when it certainly did not reach the server or the
//! server turned it away (no connection, 429, 503). One sent but
//! unanswered ([`Stopped::Unsure`]) is never resent: the caller finds out
//! by reading what the server has.

use std::error::Error;
use std::fmt::Display;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Whether a request may be sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Sending it twice does no harm (a GET).
    Idempotent,
    /// Sending it twice could act twice (a POST that posts a message).
    NotIdempotent,
}

/// Why one attempt failed, as far as sending it again goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made: the server never saw the request.
    NotSent,
    /// The server turned the request away before acting on it (429, 503).
    Refused { retry_after: Option<Duration> },
    /// Sent, but no complete answer came (a timeout, a lost connection, a
    /// 5xx other than 503): the server may have acted on it.
    Unanswered { retry_after: Option<Duration> },
    /// Sending it again would get the same answer (a 4xx, a bad request, a
    /// local error).
    Final,
}

impl Failure {
    /// What a non-success status means: 429 and 503 are refusals, any
    /// other 5xx may come after the request was acted on, the rest is final.
    pub fn of_status(status: StatusCode, headers: &HeaderMap) -> Failure {
        let retry_after = retry_after(headers);
        match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                Failure::Refused { retry_after }
            }
            s if s.is_server_error() => Failure::Unanswered { retry_after },
            _ => Failure::Final,
        }
    }

    /// What a transport error means: a request that could not be built is
    /// final, one that could not connect was never sent, any other (a
    /// timeout, a connection lost, a body cut short) is unanswered.
    pub fn of_error(e: &reqwest::Error) -> Failure {
        if e.is_builder() {
            Failure::Final
        } else if e.is_connect() {
            Failure::NotSent
        } else {
            Failure::Unanswered { retry_after: None }
        }
    }

    /// Whether sending the request again is safe and may help.
    pub fn may_retry(self, repeat: Repeat) -> bool {
        match self {
            Failure::NotSent | Failure::Refused { .. } => true,
            Failure::Unanswered { .. } => repeat == Repeat::Idempotent,
            Failure::Final => false,
        }
    }

    fn retry_after(self) -> Option<Duration> {
        match self {
            Failure::Refused { retry_after } | Failure::Unanswered { retry_after } => retry_after,
            Failure::NotSent | Failure::Final => None,
        }
    }
}

/// A failed attempt: why (for the policy) and the error to report.
#[derive(Debug)]
pub struct Failed<E> {
    pub failure: Failure,
    pub error: E,
}

impl<E> Failed<E> {
    /// An error that retrying would not change.
    pub fn final_error(error: E) -> Failed<E> {
        Failed {
            failure: Failure::Final,
            error,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send it again after this wait.
    Retry(Duration),
    /// It might pass, but every attempt is used.
    Exhausted,
    /// It may have been acted on and must not act twice: not sent again.
    Unsure,
    /// Retrying would not help.
    Final,
}

/// Why [`RetryPolicy::run`] stopped without a result.
#[derive(Debug)]
pub enum Stopped<E> {
    /// An error that retrying would not change.
    Final(E),
    /// The last error after `attempts` attempts.
    Exhausted { error: E, attempts: u32 },
    /// A request that must not act twice was sent and got no answer: the
    /// server may have acted on it. Only [`Repeat::NotIdempotent`] ends so.
    Unsure(E),
}

/// How often and how patiently a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all: the first and the retries (at least one is made).
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub first_backoff: Duration,
    /// Longest wait between two attempts, whatever `Retry-After` asks for.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry `retry` (0 for the first): the server's
    /// `Retry-After` when it gave one, else `first_backoff` × 2^`retry`;
    /// never more than `max_backoff`.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = || self.first_backoff.saturating_mul(1 << retry.min(16));
        retry_after.unwrap_or_else(backoff).min(self.max_backoff)
    }

    /// What to do after `failure` on attempt `attempt` (0 for the first).
    pub fn decide(&self, repeat: Repeat, failure: Failure, attempt: u32) -> Decision {
        if failure == Failure::Final {
            Decision::Final
        } else if !failure.may_retry(repeat) {
            Decision::Unsure
        } else if attempt + 1 >= self.attempts {
            Decision::Exhausted
        } else {
            Decision::Retry(self.wait(attempt, failure.retry_after()))
        }
    }

    /// Calls `attempt` (with its number, 0 for the first) until it
    /// succeeds or the policy stops, waiting between attempts and saying
    /// so in the log.
    pub async fn run<T, E: Display>(
        &self,
        repeat: Repeat,
        mut attempt: impl AsyncFnMut(u32) -> Result<T, Failed<E>>,
    ) -> Result<T, Stopped<E>> {
        let mut number = 0;
        loop {
            let Failed { failure, error } = match attempt(number).await {
                Ok(value) => return Ok(value),
                Err(failed) => failed,
            };
            match self.decide(repeat, failure, number) {
                Decision::Retry(wait) => {
                    tracing::info!(
                        "{}; retrying in {:.1} s",
                        perfkit_schema::shown(&error.to_string()),
                        wait.as_secs_f64()
                    );
                    tokio::time::sleep(wait).await;
                    number += 1;
                }
                Decision::Exhausted => {
                    return Err(Stopped::Exhausted {
                        error,
                        attempts: number + 1,
                    });
                }
                Decision::Unsure => return Err(Stopped::Unsure(error)),
                Decision::Final => return Err(Stopped::Final(error)),
            }
        }
    }
}

/// The `Retry-After` header of an answer, as a wait from now.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// `Retry-After` (RFC 9110 §10.2.3) as a wait from `now`: delay-seconds,
/// or an HTTP-date (a date already past is no wait). Anything else: `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// An error and its causes in one line, each cause once (reqwest's own
/// message says only "error sending request").
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        attempts: 4,
        first_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(30),
    };
    const SOON: Option<Duration> = Some(Duration::from_secs(2));

    #[test]
    fn reads_are_retried_after_anything_that_may_pass() {
        for failure in [
            Failure::NotSent,
            Failure::Refused { retry_after: None },
            Failure::Unanswered { retry_after: None },
        ] {
            assert!(
                matches!(
                    POLICY.decide(Repeat::Idempotent, failure, 0),
                    Decision::Retry(_)
                ),
                "{failure:?}"
            );
        }
        assert_eq!(
            POLICY.decide(Repeat::Idempotent, Failure::Final, 0),
            Decision::Final
        );
    }

    #[test]
    fn a_request_that_may_have_acted_is_never_sent_again() {
        let post = Repeat::NotIdempotent;
        assert_eq!(
            POLICY.decide(post, Failure::NotSent, 0),
            Decision::Retry(Duration::from_millis(500))
        );
        assert_eq!(
            POLICY.decide(post, Failure::Refused { retry_after: SOON }, 1),
            Decision::Retry(Duration::from_secs(2))
        );
        // Sent but unanswered: unsure on any attempt, even with attempts left.
        for attempt in [0, 3] {
            let unanswered = Failure::Unanswered { retry_after: SOON };
            assert_eq!(POLICY.decide(post, unanswered, attempt), Decision::Unsure);
        }
        assert_eq!(POLICY.decide(post, Failure::Final, 0), Decision::Final);
    }

    #[test]
    fn statuses_and_errors_are_classified() {
        let none = HeaderMap::new();
        let class = |code: u16| Failure::of_status(StatusCode::from_u16(code).unwrap(), &none);
        assert_eq!(class(429), Failure::Refused { retry_after: None });
        assert_eq!(class(503), Failure::Refused { retry_after: None });
        for code in [500, 502, 504] {
            assert_eq!(class(code), Failure::Unanswered { retry_after: None });
        }
        for code in [400, 401, 403, 404, 409] {
            assert_eq!(class(code), Failure::Final);
        }
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            Failure::of_status(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Failure::Refused {
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let refused = Failure::Refused { retry_after: None };
        assert!(matches!(
            POLICY.decide(Repeat::Idempotent, refused, 2),
            Decision::Retry(_)
        ));
        assert_eq!(
            POLICY.decide(Repeat::Idempotent, refused, 3),
            Decision::Exhausted
        );
        assert_eq!(
            POLICY.decide(Repeat::NotIdempotent, Failure::NotSent, 3),
            Decision::Exhausted
        );
        let once = RetryPolicy {
            attempts: 1,
            ..POLICY
        };
        assert_eq!(
            once.decide(Repeat::Idempotent, refused, 0),
            Decision::Exhausted
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_the_server_says_when() {
        let waits: Vec<Duration> = (0..8).map(|n| POLICY.wait(n, None)).collect();
        assert_eq!(waits[0], Duration::from_millis(500));
        assert_eq!(waits[1], Duration::from_secs(1));
        assert_eq!(waits[3], Duration::from_secs(4));
        assert_eq!(waits[7], Duration::from_secs(30), "capped");
        assert_eq!(POLICY.wait(u32::MAX, None), Duration::from_secs(30));
        // Retry-After replaces the backoff, shorter or longer, within the cap.
        assert_eq!(POLICY.wait(3, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(POLICY.wait(0, SOON), Duration::from_secs(2));
        assert_eq!(
            POLICY.wait(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let parse = |v: &str| parse_retry_after(v, now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        // IMF-fixdate, and the obsolete RFC 850 and asctime forms.
        for date in [
            "Sun, 06 Nov 1994 08:50:07 GMT",
            "Sunday, 06-Nov-94 08:50:07 GMT",
            "Sun Nov  6 08:50:07 1994",
        ] {
            assert_eq!(parse(date), Some(Duration::from_secs(30)), "{date}");
        }
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:00:00 GMT"),
            Some(Duration::ZERO),
            "a date already past"
        );
        for junk in ["", "-1", "1.5", "soon", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            assert_eq!(parse(junk), None, "{junk:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn error_chains_are_one_line_each_cause_once() {
        let inner = Layer("Connection refused (os error 111)", None);
        let middle = Layer("tcp connect error", Some(Box::new(inner)));
        let repeated = Layer("tcp connect error", Some(Box::new(middle)));
        let top = Layer("error sending request", Some(Box::new(repeated)));
        assert_eq!(
            error_chain(&top),
            "error sending request: tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }

    #[tokio::test]
    async fn run_retries_then_reports_why_it_stopped() {
        let policy = RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let ok = policy
            .run(Repeat::Idempotent, async |n| {
                calls += 1;
                if n < 2 {
                    Err(Failed {
                        failure: Failure::Unanswered { retry_after: None },
                        error: "lost",
                    })
                } else {
                    Ok(n)
                }
            })
            .await;
        assert!(matches!(ok, Ok(2)), "{ok:?}");
        assert_eq!(calls, 3);

        let gave_up = policy
            .run(Repeat::Idempotent, async |_| -> Result<(), _> {
                Err(Failed {
                    failure: Failure::Refused { retry_after: None },
                    error: "busy",
                })
            })
            .await;
        assert!(matches!(
            gave_up,
            Err(Stopped::Exhausted {
                error: "busy",
                attempts: 3
            })
        ));

        let mut posts = 0;
        let unsure = policy
            .run(Repeat::NotIdempotent, async |_| -> Result<(), _> {
                posts += 1;
                Err(Failed {
                    failure: Failure::Unanswered { retry_after: None },
                    error: "timed out",
                })
            })
            .await;
        assert!(matches!(unsure, Err(Stopped::Unsure("timed out"))));
        assert_eq!(posts, 1, "sent once");

        let refused = policy
            .run(Repeat::Idempotent, async |_| -> Result<(), _> {
                Err(Failed::final_error("403"))
            })
            .await;
        assert!(matches!(refused, Err(Stopped::Final("403"))));
    }
}
