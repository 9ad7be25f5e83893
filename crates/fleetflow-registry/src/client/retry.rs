//! The one retry driver. Every request path (the `/v2/` ping, token requests, API
//! requests, blob upload sessions, resumed downloads) runs its attempts through
//! [`Retry::run`]: exponential backoff from a base delay with jitter, capped at
//! [`MAX_WAIT`], or the registry's `Retry-After` (seconds or an HTTP date) when it gave
//! one.

use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// No wait between attempts is longer than this, whatever the registry asks.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);

/// What one attempt came to.
pub(crate) enum Attempt<T, E> {
    /// Final, whatever it is.
    Done(Result<T, E>),
    /// Worth another attempt, after the registry's hint if it gave one; returned as it
    /// is when no attempt is left (so a caller still sees the last answer).
    Again(Result<T, E>, Option<Duration>),
}

/// Why an attempt failed, for code that uses `?` inside an attempt.
pub(crate) enum Failure<E> {
    /// Worth another attempt (after the hint, if any).
    Transient(E, Option<Duration>),
    /// Final.
    Final(E),
}

impl<T, E> From<Result<T, Failure<E>>> for Attempt<T, E> {
    fn from(r: Result<T, Failure<E>>) -> Self {
        match r {
            Ok(v) => Attempt::Done(Ok(v)),
            Err(Failure::Final(e)) => Attempt::Done(Err(e)),
            Err(Failure::Transient(e, hint)) => Attempt::Again(Err(e), hint),
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Attempts after the first.
    pub(crate) retries: u32,
    /// The first backoff; it doubles each retry.
    pub(crate) base: Duration,
}

impl Retry {
    /// A single attempt.
    pub(crate) const ONCE: Retry = Retry {
        retries: 0,
        base: Duration::ZERO,
    };

    /// Run `attempt` (called with 0, 1, ...) until it is done or no retry is left.
    pub(crate) async fn run<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        let mut n = 0;
        loop {
            match attempt(n).await {
                Attempt::Done(r) => return r,
                Attempt::Again(r, _) if n >= self.retries => return r,
                Attempt::Again(_, hint) => {
                    tokio::time::sleep(self.delay(n, hint)).await;
                    n += 1;
                }
            }
        }
    }

    /// The wait after failed attempt `n` (0-based): the registry's hint, else
    /// `base * 2^n` plus up to a quarter of it at random; never over [`MAX_WAIT`].
    pub(crate) fn delay(&self, n: u32, hint: Option<Duration>) -> Duration {
        hint.unwrap_or_else(|| {
            let exp = self.base.saturating_mul(1 << n.min(6));
            exp + exp.mul_f64(random_fraction() / 4.0)
        })
        .min(MAX_WAIT)
    }
}

/// A number in [0, 1), different on every call (no RNG crate needed for jitter).
fn random_fraction() -> f64 {
    use std::hash::BuildHasher as _;
    let bits = std::collections::hash_map::RandomState::new().hash_one(SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Statuses worth another attempt.
pub(crate) fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// The `Retry-After` of an answer, as a wait from now.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, SystemTime::now())
}

/// `Retry-After: <seconds>` or `Retry-After: <HTTP-date>` (RFC 9110; all three date
/// forms), as a wait from `now`. A date in the past means no wait.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn retry_after_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // IMF-fixdate, RFC 850 and asctime forms, 3 s after `now`.
        for date in [
            "Sun, 06 Nov 1994 08:49:40 GMT",
            "Sunday, 06-Nov-94 08:49:40 GMT",
            "Sun Nov  6 08:49:40 1994",
        ] {
            assert_eq!(
                parse_retry_after(date, now),
                Some(Duration::from_secs(3)),
                "{date}"
            );
        }
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let r = Retry {
            retries: 10,
            base: Duration::from_millis(100),
        };
        for n in 0..4 {
            let d = r.delay(n, None);
            let exp = Duration::from_millis(100 << n);
            assert!(d >= exp && d <= exp + exp / 4, "attempt {n}: {d:?}");
        }
        // The exponent stops at 2^6; a slow base still never waits over MAX_WAIT.
        assert!(r.delay(20, None) <= Duration::from_millis(6400 + 1600));
        let slow = Retry {
            retries: 10,
            base: Duration::from_secs(1),
        };
        assert_eq!(slow.delay(6, None), MAX_WAIT);
        assert_eq!(
            r.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(r.delay(0, Some(Duration::from_secs(3600))), MAX_WAIT);
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_until_done_or_out_of_attempts() {
        let r = Retry {
            retries: 3,
            base: Duration::from_millis(10),
        };
        let calls = AtomicU32::new(0);
        let got: Result<u32, &str> = r
            .run(|n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Attempt::Again(Err("busy"), None)
                    } else {
                        Attempt::Done(Ok(n))
                    }
                }
            })
            .await;
        assert_eq!((got, calls.load(Ordering::SeqCst)), (Ok(2), 3));

        // Out of attempts: the last answer comes back, after honouring the hint.
        let started = tokio::time::Instant::now();
        let got: Result<u32, &str> = r
            .run(|n| async move { Attempt::Again(Ok(n), Some(Duration::from_secs(5))) })
            .await;
        assert_eq!(got, Ok(3));
        assert!(started.elapsed() >= Duration::from_secs(15));

        // A final failure is not retried.
        let calls = AtomicU32::new(0);
        let got: Result<(), &str> = r
            .run(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Attempt::Done(Err("no")) }
            })
            .await;
        assert_eq!((got, calls.load(Ordering::SeqCst)), (Err("no"), 1));
    }
}
