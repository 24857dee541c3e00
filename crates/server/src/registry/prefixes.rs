//! The [`Registry`] services over `prefixes`: here, in the services layer, so that
//! `prefixes` stays below `registry`.

use crate::Error;
use crate::prefixes::{ReservedPrefix, valid_prefix};
use crate::registry::Registry;

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
