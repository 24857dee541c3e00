//! Account lifecycle: removing an organization member, disabling and re-enabling a user, and
//! an administrator's password reset. A disabled user's sessions are deleted and their API
//! keys stop authenticating at once (the key and session lookups exclude disabled accounts;
//! an organization key also needs its user to still be a member).

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

/// Disabled accounts (run after the core schema): a separate table, so that existing
/// databases need no `ALTER TABLE`.
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS disabled_accounts (
        account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
        disabled_at BIGINT NOT NULL)",
    // An administrator's unlock of a user's failed-attempt limits: the limits live in each
    // server's memory, so the unlock is a row every server honours the next time it would
    // refuse that user (`web::count_attempt`).
    "CREATE TABLE IF NOT EXISTS sign_in_unlocks (
        name_lower TEXT PRIMARY KEY,
        unlocked_at BIGINT NOT NULL)",
];

pub(crate) use crate::db::NOT_DISABLED;

impl Db {
    /// When an administrator last unlocked `name_lower`'s sign-in limits (µs).
    pub(crate) async fn sign_in_unlocked_at(&self, name_lower: &str) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT unlocked_at FROM sign_in_unlocks WHERE name_lower = $1")
            .bind(name_lower.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("unlocked_at"))
            .transpose()
            .map_err(Error::from)
    }

    pub(crate) async fn unlock_sign_in(&self, name_lower: &str, now: i64) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO sign_in_unlocks (name_lower, unlocked_at) VALUES ($1, $2) \
             ON CONFLICT (name_lower) DO UPDATE SET unlocked_at = excluded.unlocked_at",
        )
        .bind(name_lower.to_owned())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the account is disabled.
    pub(crate) async fn is_disabled(&self, account: i64) -> Result<bool, Error> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM disabled_accounts WHERE account_id = $1")
                .bind(account)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    pub(crate) async fn disable(&self, account: i64, now: i64) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO disabled_accounts (account_id, disabled_at) VALUES ($1, $2) \
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn enable(&self, account: i64) -> Result<(), Error> {
        sqlx::query("DELETE FROM disabled_accounts WHERE account_id = $1")
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a password hash and ends every session of the user, in one transaction.
    pub(crate) async fn reset_password(&self, user: i64, hash: &str) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `user` from `organization`; never its last administrator. The organization's
    /// row is locked first so two concurrent removals take turns.
    pub(crate) async fn remove_member(&self, organization: i64, user: i64) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE accounts SET id = id WHERE id = $1")
            .bind(organization)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query(
            "DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization)
        .bind(user)
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Err(Error::NotFound(
                "the user is not a member of the organization".into(),
            ));
        }
        let admins = sqlx::query(
            "SELECT 1 AS one FROM organization_members WHERE organization_id = $1 \
             AND role = 'admin'",
        )
        .bind(organization)
        .fetch_optional(&mut *tx)
        .await?;
        if admins.is_none() {
            return Err(Error::Conflict(
                "cannot remove the organization's last administrator".into(),
            ));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn user_id_any(&self, name: &str) -> Result<i64, Error> {
        let row = sqlx::query("SELECT id FROM accounts WHERE name_lower = $1 AND kind = 'user'")
            .bind(name.to_lowercase())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {name:?}")))?;
        Ok(row.try_get("id")?)
    }
}
