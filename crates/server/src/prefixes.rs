//! Package id prefix reservation, as NuGet.org has it: an account (usually an organization)
//! reserves a prefix such as `Contoso.`; a new id that starts with it (compared in lower case)
//! may be pushed only by that account, and the mirror never takes such an id from an upstream
//! (an enterprise's own namespace cannot be filled from NuGet.org: dependency confusion).

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

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
    pub(crate) async fn reserved_prefixes(&self) -> Result<Vec<ReservedPrefix>, Error> {
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
pub(crate) fn valid_prefix(p: &str) -> bool {
    p.chars().count() >= 2
        && p.len() <= 100
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}
