//! Browser sessions' store: a session is a random 256-bit token whose SHA-256 is the key of
//! its `sessions` row, with idle and absolute expiry. The cookie that carries the token, and
//! the extractors pages use, are in `web/session.rs`; the use cases (start, look up, end) are
//! `Registry` methods in `registry/sessions.rs`.

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

/// A session ends after this long without a request (12 hours).
pub(crate) const IDLE_MICROS: i64 = 12 * 3600 * 1_000_000;
/// A session ends this long after sign-in, however busy (7 days).
pub(crate) const ABSOLUTE_MICROS: i64 = 7 * 86_400 * 1_000_000;
/// A half-finished sign-in (password right, second factor awaited) lasts 10 minutes.
pub(crate) const PENDING_MICROS: i64 = 10 * 60 * 1_000_000;
/// `last_seen_at` is written at most once a minute per session.
pub(crate) const TOUCH_MICROS: i64 = 60 * 1_000_000;

/// A session row joined with its user.
#[derive(Clone, Debug)]
pub(crate) struct SessionRow {
    pub(crate) user_id: i64,
    pub(crate) user_name: String,
    pub(crate) last_seen_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) two_factor: bool,
    pub(crate) pending: bool,
    pub(crate) site_admin: bool,
}

impl Db {
    /// Stores a new session (its token's digest only).
    pub(crate) async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
        two_factor: bool,
        pending: bool,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, \
             two_factor, pending) VALUES ($1, $2, $3, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(i64::from(two_factor))
        .bind(i64::from(pending))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this digest.
    pub(crate) async fn find_session(&self, token_hash: &str) -> Result<Option<SessionRow>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT s.user_id, a.name, s.last_seen_at, s.expires_at, s.two_factor, s.pending, \
             (SELECT COUNT(*) FROM site_admins sa WHERE sa.user_id = s.user_id) AS site_admin \
             FROM sessions s JOIN accounts a ON a.id = s.user_id WHERE s.token_hash = $1 \
             AND {}",
            crate::lifecycle::NOT_DISABLED
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SessionRow {
            user_id: r.try_get("user_id")?,
            user_name: r.try_get("name")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
            two_factor: r.try_get::<i64, _>("two_factor")? != 0,
            pending: r.try_get::<i64, _>("pending")? != 0,
            site_admin: r.try_get::<i64, _>("site_admin")? != 0,
        }))
    }

    /// Ends every session of `user` but the one with `keep` (its token digest).
    pub(crate) async fn delete_other_sessions(&self, user: i64, keep: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records activity on a session.
    pub(crate) async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), Error> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a session as having passed a second factor.
    pub(crate) async fn set_session_two_factor(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("UPDATE sessions SET two_factor = 1 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a session (sign-out, or found expired).
    pub(crate) async fn delete_session(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes every session past its absolute or idle expiry.
    pub(crate) async fn delete_expired_sessions(&self, now: i64) -> Result<(), Error> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now.saturating_sub(IDLE_MICROS))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// SHA-256 of a token, hex: what the database keeps.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// A session just started: the token for the cookie (only its digest is stored) and how long
/// the cookie should last.
#[derive(Debug)]
pub(crate) struct NewSession {
    /// The session token (256 random bits, hex).
    pub(crate) token: String,
    /// The cookie's `Max-Age`: the session's absolute lifetime in seconds.
    pub(crate) max_age_secs: i64,
}
