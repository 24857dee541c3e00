//! Failed-attempt limits for sign-in and second-factor codes, in memory (per server process):
//! at most a key's number of attempts that did not succeed in a sliding [`WINDOW_MICROS`];
//! past that every attempt is refused with 429 until the oldest failure leaves the window.
//! Each attempt counts under three keys (`web::limit_keys`):
//!
//! - `client:NAME@ADDR`, [`MAX_FAILURES`] (5): guessing one user's password from one client;
//! - `user:NAME`, [`MAX_USER_FAILURES`] (50): guessing it from many clients;
//! - `ip:ADDR`, [`MAX_CLIENT_FAILURES`] (20): one client spraying many users.
//!
//! So failures from one address cannot lock a user out of sign-in from another (it took 5
//! with a per-user key alone); it takes ten addresses, and an administrator lifts that at once
//! on every server (`signet admin unlock-user`, through the database: see
//! `web::count_attempt`). A success clears the user's own keys.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::Error;

/// Failures allowed per (user, client) in the window.
pub(crate) const MAX_FAILURES: usize = 5;
/// Failures allowed per user, from all clients together.
pub(crate) const MAX_USER_FAILURES: usize = 50;
/// Failures allowed per client address, for all users together.
pub(crate) const MAX_CLIENT_FAILURES: usize = 20;

/// The failures a key may have in the window.
fn max_for(key: &str) -> usize {
    if key.starts_with("user:") {
        MAX_USER_FAILURES
    } else if key.starts_with("ip:") {
        MAX_CLIENT_FAILURES
    } else {
        MAX_FAILURES
    }
}
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
            let max = max_for(key);
            if times.len() >= max {
                // Accepted again once enough attempts have aged out of the window.
                let mut sorted = times.clone();
                sorted.sort_unstable();
                let pivot = sorted.len().saturating_sub(max);
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

    /// Applies an administrator's unlock of the user keyed `name` made at `unlocked_at`:
    /// forgets that user's failures made up to then (`user:` and every `client:NAME@…`), not
    /// the addresses' and not failures since (an old unlock, read again after a restart or by
    /// another server, lifts nothing new). Returns whether any failure was forgotten.
    pub(crate) fn apply_unlock(&self, name: &str, unlocked_at: i64) -> bool {
        let Ok(mut map) = self.failures.lock() else {
            return false;
        };
        let (user_key, client_prefix) = (format!("user:{name}"), format!("client:{name}@"));
        let mut forgot = false;
        for (key, times) in map.iter_mut() {
            if *key == user_key || key.starts_with(&client_prefix) {
                let before = times.len();
                times.retain(|t| *t > unlocked_at);
                forgot |= times.len() < before;
            }
        }
        forgot
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn five_failures_then_refused_until_the_window_passes() {
        let l = RateLimiter::default();
        let keys = vec!["client:alice@x".to_owned()];
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
        l.attempt(&["client:bob@x".to_owned()], t0 + 10).unwrap();
        l.attempt(&keys, t0 + WINDOW_MICROS + 5).unwrap();
        l.reset("client:alice@x");
        l.attempt(&keys, t0 + 21).unwrap();
        // A forgiven attempt does not count.
        let k = vec!["ip:x".to_owned()];
        for i in 0..30 {
            l.attempt(&k, t0 + i).unwrap();
            l.forgive(&k, t0 + i);
        }
    }

    /// Keys have a bounded size whatever name is typed, the name's case and spaces do not
    /// make another user, and an IPv6 client is counted per /64.
    #[test]
    fn keys_are_bounded_and_ipv6_counts_per_64() {
        let huge = "a".repeat(2_000_000);
        let keys = crate::web::limit_keys("203.0.113.7", &huge);
        assert!(
            keys.iter().all(|k| k.len() < 100),
            "{:?}",
            keys.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(
            crate::web::limit_keys("203.0.113.7", " Alice "),
            crate::web::limit_keys("203.0.113.7", "alice")
        );
        assert_eq!(
            crate::web::limit_keys("2001:db8:1:2:aaaa::1", "alice"),
            crate::web::limit_keys("2001:db8:1:2:bbbb::9", "alice")
        );
        assert_ne!(
            crate::web::limit_keys("2001:db8:1:3::1", "alice"),
            crate::web::limit_keys("2001:db8:1:2::1", "alice")
        );
    }

    /// Failures from one address lock that (user, address) pair, not the user everywhere;
    /// the user's own limit takes many addresses; an unlock lifts the user's keys once.
    #[test]
    fn one_address_cannot_lock_a_user_out_and_an_unlock_lifts_the_rest() {
        let l = RateLimiter::default();
        let keys = |ip: &str| {
            vec![
                format!("ip:{ip}"),
                format!("client:alice@{ip}"),
                "user:alice".to_owned(),
            ]
        };
        let t0 = 1_000_000_000;
        for i in 0..5 {
            l.attempt(&keys("6.6.6.6"), t0 + i).unwrap();
        }
        assert!(l.attempt(&keys("6.6.6.6"), t0 + 10).is_err());
        l.attempt(&keys("10.0.0.7"), t0 + 11).unwrap();
        // Ten attackers' addresses reach the user's own limit...
        for a in 0..10 {
            for i in 0..5 {
                let _ = l.attempt(&keys(&format!("7.7.7.{a}")), t0 + 20 + i);
            }
        }
        assert!(l.attempt(&keys("10.0.0.8"), t0 + 100).is_err());
        // ...which an administrator's unlock lifts, once; the attackers stay limited.
        assert!(l.apply_unlock("alice", t0 + 150));
        assert!(!l.apply_unlock("alice", t0 + 150));
        l.attempt(&keys("10.0.0.8"), t0 + 200).unwrap();
        let mut spray_refused = false;
        for i in 0..25 {
            let k = vec![format!("ip:9.9.9.9"), format!("client:user{i}@9.9.9.9")];
            spray_refused |= l.attempt(&k, t0 + 300 + i).is_err();
        }
        assert!(spray_refused, "one address tried 25 users unchecked");
    }
}
