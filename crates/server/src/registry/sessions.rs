//! The [`Registry`] services over `accounts::sessions`: starting, finding and ending browser
//! sessions at the injected clock's time, with tokens from the injected randomness. The web
//! pages hold only the cookie.

use crate::Error;
use crate::accounts::sessions::{
    ABSOLUTE_MICROS, IDLE_MICROS, NewSession, PENDING_MICROS, SessionRow, TOUCH_MICROS, token_hash,
};
use crate::clock::random_hex;
use crate::registry::Registry;

impl Registry {
    /// Starts a session for `user_id` (expired sessions of anyone are deleted first). A
    /// pending session (the password was right, the second factor is awaited) signs nobody in
    /// until it is replaced, and lasts 10 minutes; a full one lasts 7 days at most.
    pub(crate) async fn start_session(
        &self,
        user_id: i64,
        two_factor: bool,
        pending: bool,
    ) -> Result<NewSession, Error> {
        let token = random_hex(self.rng.as_ref(), 32)?;
        let now = self.clock.now().unix_micros();
        let lifetime = if pending {
            PENDING_MICROS
        } else {
            ABSOLUTE_MICROS
        };
        self.db.delete_expired_sessions(now).await?;
        self.db
            .insert_session(
                &token_hash(&token),
                user_id,
                now,
                now.saturating_add(lifetime),
                two_factor,
                pending,
            )
            .await?;
        Ok(NewSession {
            token,
            max_age_secs: lifetime / 1_000_000,
        })
    }

    /// Ends the session whose token is `token` (sign-out; nothing if there is none).
    pub(crate) async fn end_session(&self, token: &str) -> Result<(), Error> {
        self.db.delete_session(&token_hash(token)).await
    }

    /// The live session (not expired, not idle too long) whose token is `token`, with the
    /// token's digest; an expired one is deleted, and a live one's activity recorded (at most
    /// once a minute).
    pub(crate) async fn live_session(
        &self,
        token: &str,
    ) -> Result<Option<(String, SessionRow)>, Error> {
        let hash = token_hash(token);
        let Some(row) = self.db.find_session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now().unix_micros();
        if row.expires_at <= now || row.last_seen_at.saturating_add(IDLE_MICROS) <= now {
            self.db.delete_session(&hash).await?;
            return Ok(None);
        }
        if now.saturating_sub(row.last_seen_at) >= TOUCH_MICROS {
            self.db.touch_session(&hash, now).await?;
        }
        Ok(Some((hash, row)))
    }

    /// Finishes a two-factor sign-in: the pending session (`pending_hash`, its token's digest)
    /// is replaced, not upgraded, by a new full session that passed a second factor.
    pub(crate) async fn replace_pending_session(
        &self,
        pending_hash: &str,
        user_id: i64,
    ) -> Result<NewSession, Error> {
        self.db.delete_session(pending_hash).await?;
        self.start_session(user_id, true, false).await
    }

    /// After two-factor sign-in was turned on in the session `token_hash` (its token's
    /// digest): that session counts as having passed a second factor, and every other session
    /// of `user_id` ends (one signed in with the password alone, perhaps by whoever knew it,
    /// would otherwise stay).
    pub(crate) async fn keep_only_enrolling_session(
        &self,
        user_id: i64,
        token_hash: &str,
    ) -> Result<(), Error> {
        self.db.set_session_two_factor(token_hash).await?;
        self.db.delete_other_sessions(user_id, token_hash).await
    }
}
