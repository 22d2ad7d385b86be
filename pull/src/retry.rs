//! Waiting well: capped exponential back-off with full jitter, a client-side rate limiter
//! (sliding windows, e.g. 100 calls/minute and 1,500/hour for MDE), and an interruptible sleep
//! so that a stop request never waits for a back-off to end.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

/// Set once when the engine stops; every wait in the workers goes through it.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Sleeps up to `d`; returns true when stopped (early or not).
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self
                .cv
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Back-off before attempt `attempt` (1 = first retry): uniform in [0, min(max, base·2^(n-1))].
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    if ceiling.is_zero() {
        return ceiling;
    }
    // Full jitter spreads retries of many clients; a floor of a tenth keeps some spacing.
    let nanos = ceiling.as_nanos() as u64;
    Duration::from_nanos(rand::thread_rng().gen_range(nanos / 10..=nanos))
}

/// Client-side limiter: at most `limit` calls in every `window`, for each window given.
pub struct RateLimiter {
    windows: Vec<(Duration, usize)>,
    calls: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    pub fn new(windows: Vec<(Duration, u32)>) -> RateLimiter {
        RateLimiter {
            windows: windows
                .into_iter()
                .map(|(d, n)| (d, n.max(1) as usize))
                .collect(),
            calls: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until a call is allowed and records it. Returns false when stopped while waiting.
    pub fn acquire(&self, stop: &Stop) -> bool {
        loop {
            let wait = {
                let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let longest = self.windows.iter().map(|w| w.0).max().unwrap_or_default();
                while calls
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= longest)
                {
                    calls.pop_front();
                }
                let mut wait = Duration::ZERO;
                for (window, limit) in &self.windows {
                    let in_window = calls
                        .iter()
                        .rev()
                        .take_while(|t| now.duration_since(**t) < *window)
                        .count();
                    if in_window >= *limit {
                        // The call that leaves the window first frees a slot.
                        let oldest = calls[calls.len() - in_window];
                        wait = wait.max(*window - now.duration_since(oldest));
                    }
                }
                if wait.is_zero() {
                    calls.push_back(now);
                    return true;
                }
                wait
            };
            if stop.sleep(wait) {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped() {
        for n in 1..40 {
            assert!(
                backoff(Duration::from_millis(100), Duration::from_secs(2), n)
                    <= Duration::from_secs(2)
            );
        }
    }

    #[test]
    fn limiter_counts_calls() {
        let l = RateLimiter::new(vec![(Duration::from_secs(3600), 3)]);
        let stop = Stop::default();
        assert!(l.acquire(&stop) && l.acquire(&stop) && l.acquire(&stop));
        // The fourth call would wait an hour: a stop ends the wait.
        stop.stop();
        assert!(!l.acquire(&stop));
    }
}
