//! One budget of in-flight requests and retries, shared by every request of a run.
//!
//! A report over a large organization sends hundreds of requests at once, and AWS throttles
//! without saying at what rate. Retrying each request on its own (as the SDK does) keeps the
//! pressure up: every partition keeps hammering while the service asks for less. Here all
//! requests share an adaptive limit on how many may be in flight: it halves when any request
//! is throttled and grows back by one per round of successes (additive increase,
//! multiplicative decrease, as TCP does). Each request is retried on throttling, 5xx
//! answers and dropped connections with exponential backoff and full jitter, up to a bounded
//! number of attempts; then the run fails naming the account, region and API.
//!
//! SDK clients used through a [`Budget`] must have the SDK's own retries disabled (see
//! [`crate::aws::Aws::discovery_config_for`]), or the attempts would multiply.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::Notify;

use super::errors::Call;
use crate::error::Error;

/// Attempts per request when the user does not say otherwise.
pub const DEFAULT_ATTEMPTS: u32 = 8;

const BASE_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// Error codes that mean "slow down", across the protocols AWS services speak.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes of transient server-side failures.
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServiceError",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// What a failed attempt calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The service asked us to slow down.
    Throttled,
    /// A 5xx answer, a timeout or a dropped connection: worth another try.
    Transient,
    /// Retrying cannot help.
    Fatal,
}

/// Counters a run reports at the end (and the benchmark reads).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

/// The shared limit on in-flight requests and the retry policy.
#[derive(Debug)]
pub struct Budget {
    limit: Limit,
    max_attempts: u32,
    pub stats: Stats,
}

impl Budget {
    pub fn new(concurrency: usize, max_attempts: u32) -> Self {
        Budget {
            limit: Limit::new(concurrency),
            max_attempts: max_attempts.max(1),
            stats: Stats::default(),
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The current limit on requests in flight (it shrinks under throttling).
    pub fn current_limit(&self) -> usize {
        self.limit.current()
    }

    /// Sends one request through the budget, retrying it as the failure allows.
    ///
    /// `op` is called once per attempt and must build a fresh request each time.
    pub async fn send<T, E, F, Fut>(&self, call: &Call, op: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.send_with(call, op, |_| None).await
    }

    /// Sends a paginated request page by page through the budget, handing each page to
    /// `visit`, until the service gives no next token.
    ///
    /// `request` builds the request for a page from its token (`None` for the first);
    /// `next_token` reads the token of the next page from an answer. A token repeated by
    /// the service fails the call instead of looping (see [`Call::next_token`]).
    pub async fn pages<P, E, Fut>(
        &self,
        call: &Call,
        request: impl Fn(Option<String>) -> Fut,
        next_token: impl Fn(&P) -> Option<&str>,
        visit: impl FnMut(&P) -> Result<(), Error>,
    ) -> Result<(), Error>
    where
        Fut: Future<Output = Result<P, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.pages_with(call, request, next_token, visit, |_| None)
            .await
    }

    /// Like [`Budget::pages`], with `special` as for [`Budget::send_with`].
    pub async fn pages_with<P, E, Fut>(
        &self,
        call: &Call,
        request: impl Fn(Option<String>) -> Fut,
        next_token: impl Fn(&P) -> Option<&str>,
        mut visit: impl FnMut(&P) -> Result<(), Error>,
        special: impl Fn(&SdkError<E, HttpResponse>) -> Option<Error>,
    ) -> Result<(), Error>
    where
        Fut: Future<Output = Result<P, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut token: Option<String> = None;
        loop {
            let page = self
                .send_with(call, || request(token.clone()), &special)
                .await?;
            visit(&page)?;
            token = call.next_token(token.as_deref(), next_token(&page))?;
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// Like [`Budget::send`], with `special` turning particular final errors (an unknown
    /// resource, say) into errors of their own.
    pub async fn send_with<T, E, F, Fut>(
        &self,
        call: &Call,
        mut op: F,
        special: impl Fn(&SdkError<E, HttpResponse>) -> Option<Error>,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut attempt = 1;
        loop {
            let slot = self.limit.acquire().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let result = op().await;
            drop(slot);

            let err = match result {
                Ok(value) => {
                    self.limit.on_success();
                    return Ok(value);
                }
                Err(err) => err,
            };
            let failure = classify(&err);
            if failure == Failure::Throttled {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                self.limit.on_throttle();
            }
            if failure == Failure::Fatal || attempt >= self.max_attempts {
                return Err(special(&err).unwrap_or_else(|| call.error_after(err, attempt)));
            }

            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            let delay = backoff(attempt, jitter());
            tracing::debug!(
                action = call.action,
                account = %call.account,
                region = %call.region,
                attempt,
                ?failure,
                ?delay,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Decides whether a failed attempt is worth repeating.
pub fn classify<E, R>(err: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if THROTTLING.contains(&code) {
                Failure::Throttled
            } else if TRANSIENT.contains(&code) {
                Failure::Transient
            } else {
                Failure::Fatal
            }
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Transient,
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            Failure::Transient
        }
        _ => Failure::Fatal,
    }
}

/// Exponential backoff with full jitter: a uniform delay in `[0, min(cap, base * 2^n))`.
///
/// `unit` is a random number in `[0, 1)`; full jitter spreads retries of requests that
/// failed together, so they do not come back together.
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let ceiling = BASE_DELAY.saturating_mul(1 << exponent).min(MAX_DELAY);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// A random number in `[0, 1)`, from the standard library's per-process random hasher seed
/// and a counter; good enough to spread retries, and no extra dependency.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// An adaptive limit on requests in flight.
#[derive(Debug)]
struct Limit {
    state: Mutex<LimitState>,
    changed: Notify,
    max: f64,
}

#[derive(Debug)]
struct LimitState {
    limit: f64,
    in_flight: usize,
}

/// A place among the requests in flight; gives itself back when dropped.
struct Slot<'a>(&'a Limit);

impl Limit {
    fn new(max: usize) -> Self {
        let max = max.max(1) as f64;
        Limit {
            state: Mutex::new(LimitState {
                limit: max,
                in_flight: 0,
            }),
            changed: Notify::new(),
            max,
        }
    }

    fn current(&self) -> usize {
        self.with_state(|s| s.limit as usize)
    }

    async fn acquire(&self) -> Slot<'_> {
        loop {
            // Register for a wake-up before looking, so a release in between is not missed.
            let changed = self.changed.notified();
            let taken = self.with_state(|s| {
                let free = s.in_flight < (s.limit.floor() as usize).max(1);
                if free {
                    s.in_flight += 1;
                }
                free
            });
            if taken {
                return Slot(self);
            }
            changed.await;
        }
    }

    fn on_success(&self) {
        let grew = self.with_state(|s| {
            let before = s.limit.floor();
            s.limit = (s.limit + 1.0 / s.limit).min(self.max);
            s.limit.floor() > before
        });
        if grew {
            self.changed.notify_waiters();
        }
    }

    fn on_throttle(&self) {
        self.with_state(|s| s.limit = (s.limit / 2.0).max(1.0));
    }

    fn release(&self) {
        self.with_state(|s| s.in_flight -= 1);
        self.changed.notify_waiters();
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut LimitState) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut state)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        assert_eq!(backoff(1, 0.999_999), BASE_DELAY.mul_f64(0.999_999));
        assert_eq!(backoff(3, 0.5), BASE_DELAY * 2);
        assert_eq!(backoff(30, 0.5), MAX_DELAY / 2);
        assert_eq!(backoff(4, 0.0), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_in_the_unit_interval_and_varies() {
        let draws: Vec<f64> = (0..200).map(|_| jitter()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let distinct: std::collections::BTreeSet<u64> =
            draws.iter().map(|d| (d * 1000.0) as u64).collect();
        assert!(
            distinct.len() > 100,
            "jitter is not spread: {}",
            distinct.len()
        );
    }

    #[test]
    fn throttling_halves_the_limit_and_successes_grow_it_back() {
        let limit = Limit::new(16);
        limit.on_throttle();
        assert_eq!(limit.current(), 8);
        limit.on_throttle();
        limit.on_throttle();
        limit.on_throttle();
        limit.on_throttle();
        assert_eq!(limit.current(), 1, "never below one");
        for _ in 0..200 {
            limit.on_success();
        }
        assert_eq!(
            limit.current(),
            16,
            "never above the configured concurrency"
        );
    }

    #[tokio::test]
    async fn no_more_than_the_limit_is_in_flight() {
        let limit = Arc::new(Limit::new(3));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (limit, in_flight, peak) = (limit.clone(), in_flight.clone(), peak.clone());
                tokio::spawn(async move {
                    let _slot = limit.acquire().await;
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
