//! One-time results of a form post, shown by the page the post redirects to
//! (post/redirect/get): a new API key's secret, fresh recovery codes. Reloading that page, or
//! going back to it, shows nothing and creates nothing.
//!
//! Kept in memory per server process (as the sign-in limits are), keyed by the session's
//! token digest, for [`TTL_MICROS`]; taking one removes it. Secrets never go into a URL, a
//! cookie or the database. Behind a load balancer without sticky sessions the redirected GET
//! may reach another process, which then shows no result: the key or the codes must be made
//! again (the page says where).

use std::collections::HashMap;
use std::sync::Mutex;

use signet_common::Secret;

/// How long a result waits for its page (the redirect follows at once; a slow browser or a
/// debugger gets a minute or two).
pub(crate) const TTL_MICROS: i64 = 5 * 60 * 1_000_000;
/// Sessions with a result waiting before the oldest are dropped (bounds memory).
const MAX_ENTRIES: usize = 10_000;

/// A result to show once.
#[derive(Debug)]
pub(crate) enum Flash {
    /// The secret of the API key just created.
    NewApiKey(Secret),
    /// Recovery codes just made (enrolment, or a fresh set).
    RecoveryCodes(Vec<Secret>),
}

/// Results waiting for their page, by session token digest.
#[derive(Debug, Default)]
pub(crate) struct Flashes {
    entries: Mutex<HashMap<String, (i64, Flash)>>,
}

impl Flashes {
    /// Keeps `flash` for the session `token_hash` (replacing what it had waiting).
    pub(crate) fn put(&self, token_hash: &str, flash: Flash, now: i64) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        map.retain(|_, (at, _)| now.saturating_sub(*at) < TTL_MICROS);
        if map.len() >= MAX_ENTRIES
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(token_hash.to_owned(), (now, flash));
    }

    /// Takes the session's waiting result, if it is still fresh.
    pub(crate) fn take(&self, token_hash: &str, now: i64) -> Option<Flash> {
        let mut map = self.entries.lock().ok()?;
        let (at, flash) = map.remove(token_hash)?;
        (now.saturating_sub(at) < TTL_MICROS).then_some(flash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_once_and_only_while_fresh() {
        let f = Flashes::default();
        f.put("s1", Flash::NewApiKey(Secret::new("k")), 0);
        assert!(f.take("s2", 1).is_none());
        assert!(matches!(f.take("s1", 1), Some(Flash::NewApiKey(_))));
        assert!(f.take("s1", 2).is_none());
        f.put("s1", Flash::RecoveryCodes(Vec::new()), 0);
        assert!(f.take("s1", TTL_MICROS).is_none());
    }
}
