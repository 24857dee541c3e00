//! The accounts domain's stores below [`Registry`](crate::Registry): browser sessions
//! ([`sessions`]), two-factor sign-in with TOTP and recovery codes ([`totp`]), and the account
//! page's listings (here). Each owns its queries (`impl Db` blocks); the tables are created
//! with the core schema in `db`. The use cases that combine them, with the injected clock and
//! randomness, are `Registry` methods in `registry/accounts.rs`, `registry/sessions.rs` and
//! `registry/twofactor.rs`; the pages that call those live in `web/`.

pub(crate) mod sessions;
pub(crate) mod totp;

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

impl Db {
    /// The organizations `user_id` belongs to: (name, role), by name.
    pub(crate) async fn organizations_of(
        &self,
        user_id: i64,
    ) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT a.name, m.role FROM organization_members m JOIN accounts a \
             ON a.id = m.organization_id WHERE m.user_id = $1 ORDER BY a.name_lower",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("role")?)))
            .collect()
    }

    /// The packages `user_id` owns, directly or through an organization it belongs to:
    /// (package id, owning account), by id.
    pub(crate) async fn packages_of(&self, user_id: i64) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT p.package_id, a.name FROM package_owners o JOIN packages p \
             ON p.id = o.package_id JOIN accounts a ON a.id = o.account_id \
             WHERE o.account_id = $1 OR o.account_id IN \
             (SELECT organization_id FROM organization_members WHERE user_id = $1) \
             ORDER BY p.id_lower, a.name_lower",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("package_id")?, r.try_get("name")?)))
            .collect()
    }
}
