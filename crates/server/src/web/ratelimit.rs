//! Failed-attempt limits for sign-in and second-factor codes, in memory (per server process):
//! at most [`MAX_FAILURES`] attempts that did not succeed per key in a sliding [`WINDOW_MICROS`]; past that every
//! attempt is refused with 429 until the oldest failure leaves the window. Keys are a client
//! address (`ip:…`) and a user name (`user:…`); a success clears the user's failures.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::Error;

/// Failures allowed per key in the window.
pub(crate) const MAX_FAILURES: usize = 5;
/// The window: 15 minutes.
pub(crate) const WINDOW_MICROS: i64 = 15 * 60 * 1_000_000;
/// Keys remembered before old ones are swept (bounds memory under a spray of names).
const MAX_KEYS: usize = 100_000;

/// Failure times per key.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl RateLimiter {
    /// Counts an attempt under every key and refuses it (`TooManyRequests`) when a key had
    /// [`MAX_FAILURES`] attempts in the window already. Check and count happen under one
    /// lock, so a concurrent burst is counted attempt by attempt: of 40 simultaneous wrong
    /// passwords, 5 are checked and 35 refused (a check-then-act race would check all 40).
    /// A successful attempt is taken back with [`RateLimiter::forgive`].
    pub(crate) fn attempt(&self, keys: &[String], now: i64) -> Result<(), Error> {
        let Ok(mut map) = self.failures.lock() else {
            // A poisoned lock: refuse rather than stop counting.
            return Err(Error::TooManyRequests {
                retry_after_secs: 60,
            });
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, times| times.iter().any(|t| now.saturating_sub(*t) < WINDOW_MICROS));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        let mut wait = 0i64;
        for key in keys {
            let times = map.entry(key.clone()).or_default();
            times.retain(|t| now.saturating_sub(*t) < WINDOW_MICROS);
            if times.len() >= MAX_FAILURES {
                // Accepted again once enough attempts have aged out of the window.
                let mut sorted = times.clone();
                sorted.sort_unstable();
                let pivot = sorted.len().saturating_sub(MAX_FAILURES);
                let oldest = sorted.get(pivot).copied().unwrap_or(now);
                wait = wait.max(oldest.saturating_add(WINDOW_MICROS).saturating_sub(now));
            }
        }
        if wait > 0 {
            let secs = u64::try_from(wait.saturating_add(999_999) / 1_000_000).unwrap_or(1);
            return Err(Error::TooManyRequests {
                retry_after_secs: secs.max(1),
            });
        }
        for key in keys {
            map.entry(key.clone()).or_default().push(now);
        }
        Ok(())
    }

    /// Takes back the attempt counted at `now` under every key (it succeeded).
    pub(crate) fn forgive(&self, keys: &[String], now: i64) {
        if let Ok(mut map) = self.failures.lock() {
            for key in keys {
                if let Some(times) = map.get_mut(key)
                    && let Some(i) = times.iter().rposition(|t| *t == now)
                {
                    times.swap_remove(i);
                }
            }
        }
    }

    /// Forgets the failures of `key`.
    pub(crate) fn reset(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn five_failures_then_refused_until_the_window_passes() {
        let l = RateLimiter::default();
        let keys = vec!["user:alice".to_owned()];
        let t0 = 1_000_000_000;
        for i in 0..5 {
            l.attempt(&keys, t0 + i).unwrap();
        }
        match l.attempt(&keys, t0 + 10) {
            Err(Error::TooManyRequests { retry_after_secs }) => {
                assert_eq!(retry_after_secs, 900)
            }
            other => panic!("{other:?}"),
        }
        // Another key is not affected; the window passing clears it.
        l.attempt(&["user:bob".to_owned()], t0 + 10).unwrap();
        l.attempt(&keys, t0 + WINDOW_MICROS + 5).unwrap();
        l.reset("user:alice");
        l.attempt(&keys, t0 + 21).unwrap();
        // A forgiven attempt does not count.
        let k = vec!["ip:x".to_owned()];
        for i in 0..10 {
            l.attempt(&k, t0 + i).unwrap();
            l.forgive(&k, t0 + i);
        }
    }
}
