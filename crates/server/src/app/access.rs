//! The private feed's state (`[access] read`): the mode, the cache of verified credentials and
//! the argon2 permits. The check itself is `http/access.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Who may read the feed (`[access] read`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadAccess {
    /// Anyone who reaches the server reads every package (the default).
    #[default]
    Public,
    /// Every document but [`OPEN_PATHS`] and [`OPEN_PREFIXES`] needs credentials.
    Authenticated,
}

impl ReadAccess {
    /// Parses `public` or `authenticated`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "authenticated" => Some(Self::Authenticated),
            _ => None,
        }
    }
}

/// argon2 verifications run at once for Basic credentials: half the cores, at least one;
/// more wait (a flood of guesses from many addresses and names, each within the rate limit,
/// cannot take every core).
pub(crate) fn hashing_permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
/// How long a request waits for a hashing permit before it is refused with 429.
pub(crate) const HASHING_WAIT: Duration = Duration::from_secs(10);
/// How long a verified (user, password) is remembered: 5 minutes.
pub(crate) const CACHE_MICROS: i64 = 5 * 60 * 1_000_000;
/// Remembered credentials before expired ones are swept.
const CACHE_MAX: usize = 10_000;
/// The private-feed state inside [`AppState`].
#[derive(Debug)]
pub(crate) struct Access {
    pub(crate) mode: ReadAccess,
    /// SHA-256 of a verified credential → when it stops being trusted (µs).
    verified: Mutex<HashMap<[u8; 32], i64>>,
    pub(crate) hashing: tokio::sync::Semaphore,
}

impl Access {
    pub(crate) fn new(mode: ReadAccess) -> Self {
        Self {
            mode,
            verified: Mutex::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(hashing_permits()),
        }
    }

    pub(crate) fn remembered(&self, digest: &[u8; 32], now: i64) -> bool {
        self.verified
            .lock()
            .ok()
            .and_then(|m| m.get(digest).copied())
            .is_some_and(|until| until > now)
    }

    pub(crate) fn remember(&self, digest: [u8; 32], now: i64) {
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= CACHE_MAX {
                m.retain(|_, until| *until > now);
                if m.len() >= CACHE_MAX {
                    m.clear();
                }
            }
            m.insert(digest, now.saturating_add(CACHE_MICROS));
        }
    }
}

impl Default for Access {
    fn default() -> Self {
        Self::new(ReadAccess::Public)
    }
}
