//! One-time results of a form post, shown by the page the post redirects to
//! (post/redirect/get): a new API key's secret, fresh recovery codes, a registered
//! certificate's fingerprint and warnings. Reloading that page, or
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
    /// A certificate just registered: its fingerprint as shown, and the warnings about it.
    CertificateRegistered {
        /// The account it was registered to (only that account's page shows it).
        account: String,
        /// The fingerprint, as the page shows it.
        fingerprint: String,
        /// What the registration warned about.
        warnings: Vec<String>,
    },
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

    /// Takes the session's waiting result if it is fresh and `wanted` (a page takes only
    /// the kind it shows; another kind stays for its own page).
    pub(crate) fn take_if(
        &self,
        token_hash: &str,
        now: i64,
        wanted: impl Fn(&Flash) -> bool,
    ) -> Option<Flash> {
        let mut map = self.entries.lock().ok()?;
        let (at, flash) = map.get(token_hash)?;
        if now.saturating_sub(*at) >= TTL_MICROS {
            map.remove(token_hash);
            return None;
        }
        if !wanted(flash) {
            return None;
        }
        map.remove(token_hash).map(|(_, flash)| flash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_once_and_only_while_fresh() {
        let f = Flashes::default();
        f.put("s1", Flash::NewApiKey(Secret::new("k")), 0);
        assert!(f.take_if("s2", 1, |_| true).is_none());
        assert!(matches!(
            f.take_if("s1", 1, |_| true),
            Some(Flash::NewApiKey(_))
        ));
        assert!(f.take_if("s1", 2, |_| true).is_none());
        f.put("s1", Flash::RecoveryCodes(Vec::new()), 0);
        assert!(f.take_if("s1", TTL_MICROS, |_| true).is_none());
        // A page that shows another kind leaves it waiting.
        f.put("s1", Flash::NewApiKey(Secret::new("k")), 0);
        assert!(
            f.take_if("s1", 1, |f| matches!(f, Flash::RecoveryCodes(_)))
                .is_none()
        );
        assert!(matches!(
            f.take_if("s1", 1, |_| true),
            Some(Flash::NewApiKey(_))
        ));
    }
}
