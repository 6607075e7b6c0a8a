//! How fast paywatch may ask a node: at most `max_rps` requests a second
//! (one token bucket shared by every request to the node, block prefetch
//! included, so catch-up slows to the limit instead of hammering), and no
//! request at all while the node has asked for a pause (HTTP 429 and its
//! `Retry-After`, or a provider's "limit exceeded" answer).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The pause after a rate-limit answer that names none.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause honoured: a node asking for more is asked again then.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

pub struct Limits {
    bucket: Option<DefaultDirectRateLimiter>,
    /// No request before this instant.
    paused_until: Mutex<Option<Instant>>,
}

impl Limits {
    pub fn new(max_rps: Option<u32>) -> Self {
        Limits {
            bucket: max_rps
                .and_then(NonZeroU32::new)
                // No burst: a provider counts requests per second, and
                // any second holds at most `max_rps` + 1 of them.
                .map(|n| RateLimiter::direct(Quota::per_second(n).allow_burst(NonZeroU32::MIN))),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may go out.
    pub async fn ready(&self) {
        loop {
            let until = *self.paused_until.lock().expect("limits lock");
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(bucket) = &self.bucket {
            bucket.until_ready().await;
        }
    }

    /// The node asked for a pause of `after` (1 s when it named none, 5
    /// minutes at most).
    pub fn pause(&self, after: Option<Duration>) {
        let until = Instant::now() + after.unwrap_or(DEFAULT_PAUSE).min(MAX_PAUSE);
        let mut slot = self.paused_until.lock().expect("limits lock");
        if slot.is_none_or(|t| t < until) {
            *slot = Some(until);
        }
    }
}

/// `Retry-After` as delay-seconds. The other form, an HTTP date, is read
/// as no value (the default pause).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a node's error text says it refuses for the request rate:
/// Infura's and Alchemy's "limit exceeded" / "compute units", QuickNode's
/// and others' "rate limit", TronGrid's "request rate exceeded", a plain
/// "too many requests".
pub fn says_rate_limited(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "limit exceeded",
        "rate limit",
        "ratelimit",
        "too many requests",
        "request rate exceeded",
        "exceeded the limit",
        "compute units per second",
        "exceeds the limit",
        "frequency limit",
    ]
    .iter()
    .any(|p| t.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_rate_limit_messages_are_recognised() {
        for text in [
            "daily request count exceeded, request rate limited",
            "project ID request rate exceeded",
            "Your app has exceeded its compute units per second capacity",
            "limit exceeded (code -32005)",
            "Too Many Requests",
            "The key exceeds the frequency limit(15), and the query server is suspended for 5s",
        ] {
            assert!(says_rate_limited(text), "{text}");
        }
        for text in ["header not found", "execution reverted", "Block not found"] {
            assert!(!says_rate_limited(text), "{text}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_and_the_bucket_spaces_them() {
        let limits = Limits::new(Some(10));
        let t0 = Instant::now();
        limits.pause(Some(Duration::from_secs(2)));
        limits.ready().await;
        assert!(t0.elapsed() >= Duration::from_secs(2));
        // A shorter pause asked later does not shorten the first.
        limits.pause(Some(Duration::from_secs(5)));
        limits.pause(Some(Duration::from_secs(1)));
        let t1 = Instant::now();
        limits.ready().await;
        assert!(t1.elapsed() >= Duration::from_secs(5));
        // A pause is capped.
        limits.pause(Some(Duration::from_secs(3600)));
        let t2 = Instant::now();
        limits.ready().await;
        assert!(t2.elapsed() <= MAX_PAUSE + Duration::from_secs(1));
    }
}
