//! Retrying an operation through connection loss, with Curator's retry policies.
//!
//! An operation that fails with a retryable error ([`Error::is_retryable`]: connection loss,
//! a timeout, a throttled or moved session) may or may not have happened; reads and
//! idempotent writes can simply be sent again. [`Client::retry`] does so as the policy says,
//! waiting for the connection to come back first; any other error, or the policy giving up,
//! ends it with the last error.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{Client, Error, ErrorKind, Result};

/// When to try again and after how long: Curator's `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Again and again while the session lives, 200 ms apart (Curator's `RetryForever`;
    /// the retries end with the session, which no retry can bring back). The recipes' default
    /// ([`ClientBuilder::retry_policy`](crate::ClientBuilder::retry_policy)).
    UntilSessionEnds,
    /// Never again (Curator's `RetryNTimes(0, ..)`).
    Never,
    /// Up to `times` more tries, `sleep` apart (`RetryNTimes`; `RetryOneTime` is 1).
    NTimes {
        /// Retries after the first try.
        times: u32,
        /// The pause before each.
        sleep: Duration,
    },
    /// Up to `max_retries` more tries; before retry n (from 0) a pause of `base` times a
    /// random whole number in `1..2^(n+1)`, at most `max_sleep`
    /// (`ExponentialBackoffRetry` and `BoundedExponentialBackoffRetry`).
    ExponentialBackoff {
        /// The unit of the pause.
        base: Duration,
        /// Retries after the first try.
        max_retries: u32,
        /// The longest pause.
        max_sleep: Duration,
    },
    /// Tries again, `sleep` apart, until `max_elapsed` has passed since the first try
    /// (`RetryUntilElapsed`).
    UntilElapsed {
        /// How long to keep trying.
        max_elapsed: Duration,
        /// The pause before each retry.
        sleep: Duration,
    },
}

/// The pause of [`RetryPolicy::UntilSessionEnds`]: short, since a lost connection is waited
/// for anyway; long enough not to spin on a throttled server.
const UNTIL_SESSION_ENDS_SLEEP: Duration = Duration::from_millis(200);

impl RetryPolicy {
    /// Curator's usual choice: `ExponentialBackoffRetry(1000, 3)` (pauses of about 1-2 s,
    /// 1-4 s, 1-8 s).
    pub const fn curator_default() -> RetryPolicy {
        RetryPolicy::ExponentialBackoff {
            base: Duration::from_millis(1000),
            max_retries: 3,
            max_sleep: Duration::from_millis(i32::MAX as u64),
        }
    }

    /// The pause before retry `retry` (0 for the first retry) after `elapsed` since the
    /// first try, or `None` to give up; `random` is a uniformly random number.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_client::RetryPolicy;
    /// let policy = RetryPolicy::ExponentialBackoff {
    ///     base: Duration::from_millis(100),
    ///     max_retries: 3,
    ///     max_sleep: Duration::from_millis(500),
    /// };
    /// // Retry 2 multiplies the base by a number in 1..8; the cap is 500 ms.
    /// assert_eq!(policy.sleep_before(2, Duration::ZERO, 3), Some(Duration::from_millis(300)));
    /// assert_eq!(policy.sleep_before(2, Duration::ZERO, 7), Some(Duration::from_millis(500)));
    /// assert_eq!(policy.sleep_before(3, Duration::ZERO, 0), None);
    /// ```
    pub fn sleep_before(&self, retry: u32, elapsed: Duration, random: u64) -> Option<Duration> {
        match *self {
            RetryPolicy::UntilSessionEnds => Some(UNTIL_SESSION_ENDS_SLEEP),
            RetryPolicy::Never => None,
            RetryPolicy::NTimes { times, sleep } => (retry < times).then_some(sleep),
            RetryPolicy::ExponentialBackoff {
                base,
                max_retries,
                max_sleep,
            } => {
                if retry >= max_retries {
                    return None;
                }
                // Curator caps the exponent (at 29) so the range stays an int.
                let range = 1u64 << (retry.min(29) + 1);
                let factor = (random % range).max(1);
                let sleep = base.saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX));
                Some(sleep.min(max_sleep))
            }
            RetryPolicy::UntilElapsed { max_elapsed, sleep } => {
                (elapsed + sleep < max_elapsed).then_some(sleep)
            }
        }
    }
}

impl Client {
    /// Runs `op` (which sends the request afresh each time it is called) until it succeeds,
    /// fails with an error that is not retryable, or `policy` gives up; before each retry it
    /// pauses as the policy says and waits until the client is connected again. Use it for
    /// reads and for writes that may safely happen twice (a create that may find its own node
    /// must treat `NodeExists` accordingly).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::RetryPolicy;
    /// let (data, _stat) = client
    ///     .retry(RetryPolicy::curator_default(), || client.get_data("/app/config"))
    ///     .await?;
    /// # let _ = data; Ok(()) }
    /// ```
    pub async fn retry<T, F, Fut>(&self, policy: RetryPolicy, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retry_with(policy, op, || self.wait_connected(), random).await
    }
}

/// The retries of one operation so far, against its policy.
#[derive(Debug)]
struct RetryCount {
    policy: RetryPolicy,
    started: Instant,
    retries: u32,
}

impl RetryCount {
    fn new(policy: RetryPolicy) -> RetryCount {
        RetryCount {
            policy,
            started: Instant::now(),
            retries: 0,
        }
    }

    /// After a failure with `err`: the pause before the next try, or the error to end with
    /// (`err` itself when it is not retryable or the policy gives up).
    fn next(&mut self, err: Error, random: u64) -> Result<Duration> {
        if !err.is_retryable() {
            return Err(err);
        }
        let elapsed = self.started.elapsed();
        let Some(sleep) = self.policy.sleep_before(self.retries, elapsed, random) else {
            tracing::debug!(%err, retries = self.retries, "retries exhausted");
            return Err(err);
        };
        tracing::debug!(%err, retry = self.retries, sleep_ms = sleep.as_millis() as u64, "retrying");
        self.retries += 1;
        Ok(sleep)
    }
}

/// The loop of [`Client::retry`], with the reconnect wait and the randomness passed in.
async fn retry_with<T, F, Fut, W, WFut>(
    policy: RetryPolicy,
    mut op: F,
    mut reconnected: W,
    mut random: impl FnMut() -> u64,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
    W: FnMut() -> WFut,
    WFut: Future<Output = Result<()>>,
{
    let mut count = RetryCount::new(policy);
    loop {
        let err = match op().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let lost = err == ErrorKind::ConnectionLoss;
        tokio::time::sleep(count.next(err, random())?).await;
        if lost {
            reconnected().await?;
        }
    }
}

/// The retries of one step of a recipe, under the client's policy
/// ([`ClientBuilder::retry_policy`](crate::ClientBuilder::retry_policy)), or until the session
/// ends for cleanup that must not give up.
#[derive(Debug)]
pub(crate) struct Retries<'a> {
    client: &'a Client,
    count: RetryCount,
}

impl<'a> Retries<'a> {
    /// Under the client's policy.
    pub(crate) fn new(client: &'a Client) -> Retries<'a> {
        Retries {
            client,
            count: RetryCount::new(client.retry_policy()),
        }
    }

    /// Until the session ends, whatever the client's policy (deleting a recipe's own nodes).
    pub(crate) fn until_session_ends(client: &'a Client) -> Retries<'a> {
        Retries {
            client,
            count: RetryCount::new(RetryPolicy::UntilSessionEnds),
        }
    }

    /// After a failure with `err`: `Ok` once it is time to try again (paused as the policy
    /// says, then connected again or, as Curator's `blockUntilConnectedOrTimedOut`, tired of
    /// waiting after a session timeout: the try then fails at once and counts), or the error to
    /// give up with (`err` when it is not retryable or the retries are exhausted; the session's
    /// end while waiting).
    pub(crate) async fn pause_or_fail(&mut self, err: Error) -> Result<()> {
        let sleep = self.count.next(err, random())?;
        tokio::time::sleep(sleep).await;
        let timeout_ms = self.client.session().negotiated_timeout_ms.max(1000);
        let wait = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(1000));
        match tokio::time::timeout(wait, self.client.wait_connected()).await {
            Ok(connected) => connected,
            Err(_still_disconnected) => Ok(()),
        }
    }
}

pub(crate) fn random() -> u64 {
    let mut bytes = [0u8; 8];
    // Without an OS source of randomness the pause is the shortest: still a valid choice.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn policies_pause_and_give_up_as_curators_do() {
        let ms = Duration::from_millis;
        let n = RetryPolicy::NTimes {
            times: 2,
            sleep: ms(10),
        };
        assert_eq!(n.sleep_before(0, ms(0), 0), Some(ms(10)));
        assert_eq!(n.sleep_before(2, ms(0), 0), None);
        assert_eq!(RetryPolicy::Never.sleep_before(0, ms(0), 0), None);
        let exp = RetryPolicy::curator_default();
        // Retry 0: 1000 ms times 1 (a random 0 or 1, at least 1).
        assert_eq!(exp.sleep_before(0, ms(0), 0), Some(ms(1000)));
        assert_eq!(exp.sleep_before(0, ms(0), 5), Some(ms(1000)));
        assert_eq!(exp.sleep_before(1, ms(0), 3), Some(ms(3000)));
        assert_eq!(exp.sleep_before(3, ms(0), 3), None);
        let until = RetryPolicy::UntilElapsed {
            max_elapsed: ms(100),
            sleep: ms(30),
        };
        assert_eq!(until.sleep_before(9, ms(60), 0), Some(ms(30)));
        assert_eq!(until.sleep_before(0, ms(70), 0), None);
    }

    #[tokio::test]
    async fn retries_retryable_errors_only_and_waits_for_the_connection() {
        let policy = RetryPolicy::NTimes {
            times: 3,
            sleep: Duration::from_millis(10),
        };
        let tries = AtomicU32::new(0);
        let reconnects = AtomicU32::new(0);
        let op = || async {
            match tries.fetch_add(1, Ordering::SeqCst) {
                0 => Err(ErrorKind::ConnectionLoss.into()),
                1 => Err(ErrorKind::Timeout.into()),
                _ => Ok("done"),
            }
        };
        let reconnected = || async {
            reconnects.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        assert_eq!(retry_with(policy, op, reconnected, || 0).await, Ok("done"));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(
            reconnects.load(Ordering::SeqCst),
            1,
            "only after a connection loss"
        );

        // Not retryable: at once. The policy exhausted: the last error.
        tries.store(0, Ordering::SeqCst);
        let no_node = || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::from(ErrorKind::NoNode))
        };
        assert_eq!(
            retry_with(policy, no_node, || async { Ok(()) }, || 0).await,
            Err(ErrorKind::NoNode.into())
        );
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        tries.store(0, Ordering::SeqCst);
        let lost = || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::from(ErrorKind::Timeout))
        };
        assert_eq!(
            retry_with(policy, lost, || async { Ok(()) }, || 0).await,
            Err(ErrorKind::Timeout.into())
        );
        assert_eq!(
            tries.load(Ordering::SeqCst),
            4,
            "the first try and 3 retries"
        );
        // A session that ended while waiting for the connection ends the retries.
        let gone = retry_with(
            policy,
            || async { Err::<(), _>(Error::from(ErrorKind::ConnectionLoss)) },
            || async { Err(ErrorKind::SessionExpired.into()) },
            || 0,
        )
        .await;
        assert_eq!(gone, Err(ErrorKind::SessionExpired.into()));
    }
}
