//! Package id prefix reservation, as NuGet.org has it: an account (usually an organization)
//! reserves a prefix such as `Contoso.`; a new id that starts with it (compared in lower case)
//! may be pushed only by that account, and the mirror never takes such an id from an upstream
//! (an enterprise's own namespace cannot be filled from NuGet.org: dependency confusion).

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;
use crate::registry::Registry;

/// The table, idempotent.
pub(crate) const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS reserved_prefixes (
        prefix_lower TEXT PRIMARY KEY,
        prefix TEXT NOT NULL,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        created_at BIGINT NOT NULL)"];

/// A reserved prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedPrefix {
    /// As reserved.
    pub prefix: String,
    /// The account that holds it.
    pub account_id: i64,
    /// Its name.
    pub account: String,
}

impl Db {
    async fn reserved_prefixes(&self) -> Result<Vec<ReservedPrefix>, Error> {
        let rows = sqlx::query(
            "SELECT r.prefix, r.account_id, a.name FROM reserved_prefixes r \
             JOIN accounts a ON a.id = r.account_id ORDER BY r.prefix_lower",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReservedPrefix {
                    prefix: r.try_get("prefix")?,
                    account_id: r.try_get("account_id")?,
                    account: r.try_get("name")?,
                })
            })
            .collect()
    }
}

/// A prefix: package-id characters only, at least two of them.
fn valid_prefix(p: &str) -> bool {
    p.chars().count() >= 2
        && p.len() <= 100
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl Registry {
    /// Reserves `prefix` for `account` (a user or an organization); `Conflict` when another
    /// account holds it.
    pub async fn reserve_prefix(&self, account: &str, prefix: &str) -> Result<(), Error> {
        if !valid_prefix(prefix) {
            return Err(Error::Invalid(format!(
                "invalid prefix {prefix:?}: package-id characters, at least two"
            )));
        }
        let (account_id, kind) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        if kind != "user" && kind != "organization" {
            return Err(Error::Invalid(format!(
                "{account:?} is not a user or an organization"
            )));
        }
        let r = sqlx::query(
            "INSERT INTO reserved_prefixes (prefix_lower, prefix, account_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (prefix_lower) DO NOTHING",
        )
        .bind(prefix.to_lowercase())
        .bind(prefix)
        .bind(account_id)
        .bind(self.clock.now().unix_micros())
        .execute(&self.db.pool)
        .await?;
        if r.rows_affected() == 0 {
            let holder = self
                .prefix_holder(prefix)
                .await?
                .map(|p| p.account)
                .unwrap_or_default();
            if !holder.eq_ignore_ascii_case(account) {
                return Err(Error::Conflict(format!(
                    "the prefix {prefix:?} is reserved by {holder:?}"
                )));
            }
        }
        Ok(())
    }

    /// Every reserved prefix.
    pub async fn reserved_prefixes(&self) -> Result<Vec<ReservedPrefix>, Error> {
        self.db.reserved_prefixes().await
    }

    /// The reservation an id falls under (the longest prefix it starts with), if any.
    pub async fn prefix_holder(&self, id: &str) -> Result<Option<ReservedPrefix>, Error> {
        let id = id.to_lowercase();
        Ok(self
            .db
            .reserved_prefixes()
            .await?
            .into_iter()
            .filter(|p| id.starts_with(&p.prefix.to_lowercase()))
            .max_by_key(|p| p.prefix.len()))
    }
}
