//! Package owners with consent (NuGet.org's ownership requests): adding an owner creates a
//! request that the invited account — the user, or an administrator of the invited
//! organization — accepts or declines. Only an accepted request makes the account an owner:
//! named in the repository signature's `nuget-package-owners`, able to push, and able to be the
//! required signer. Removing an owner never leaves a package without one, also when two
//! removals race on PostgreSQL (the package row is locked first).

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

/// The owner-request table (run after the core schema).
pub(crate) const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS owner_requests (
        package_id BIGINT NOT NULL REFERENCES packages(id),
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        requested_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (package_id, account_id))"];

/// A pending ownership request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OwnerRequest {
    /// The package id.
    pub package: String,
    /// The invited account (a user or an organization).
    pub account: String,
    /// Who asked.
    pub requested_by: String,
}

/// What [`Registry::add_owner`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnerRequestOutcome {
    /// A request was created (or was already pending): the account must accept it.
    Requested,
    /// The account already owns the package; nothing changed.
    AlreadyOwner,
}

impl Db {
    pub(crate) async fn package_row(&self, id_lower: &str) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT id FROM packages WHERE id_lower = $1")
            .bind(id_lower)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    pub(crate) async fn create_owner_request(
        &self,
        package: i64,
        account: i64,
        by: &str,
        now: i64,
    ) -> Result<OwnerRequestOutcome, Error> {
        let owner = sqlx::query(
            "SELECT 1 AS one FROM package_owners WHERE package_id = $1 AND account_id = $2",
        )
        .bind(package)
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        if owner.is_some() {
            return Ok(OwnerRequestOutcome::AlreadyOwner);
        }
        sqlx::query(
            "INSERT INTO owner_requests (package_id, account_id, requested_by, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (package_id, account_id) DO NOTHING",
        )
        .bind(package)
        .bind(account)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(OwnerRequestOutcome::Requested)
    }

    /// Pending requests for `accounts`.
    pub(crate) async fn owner_requests_for(
        &self,
        accounts: &[i64],
    ) -> Result<Vec<OwnerRequest>, Error> {
        let mut out = Vec::new();
        for account in accounts {
            let rows = sqlx::query(
                "SELECT p.package_id AS package, a.name AS account, r.requested_by \
                 FROM owner_requests r JOIN packages p ON p.id = r.package_id \
                 JOIN accounts a ON a.id = r.account_id WHERE r.account_id = $1 \
                 ORDER BY p.id_lower",
            )
            .bind(*account)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                out.push(OwnerRequest {
                    package: r.try_get("package")?,
                    account: r.try_get("account")?,
                    requested_by: r.try_get("requested_by")?,
                });
            }
        }
        Ok(out)
    }

    /// Pending requests of one package.
    pub(crate) async fn owner_requests_of(&self, package: i64) -> Result<Vec<OwnerRequest>, Error> {
        let rows = sqlx::query(
            "SELECT p.package_id AS package, a.name AS account, r.requested_by \
             FROM owner_requests r JOIN packages p ON p.id = r.package_id \
             JOIN accounts a ON a.id = r.account_id WHERE r.package_id = $1 \
             ORDER BY a.name_lower",
        )
        .bind(package)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OwnerRequest {
                    package: r.try_get("package")?,
                    account: r.try_get("account")?,
                    requested_by: r.try_get("requested_by")?,
                })
            })
            .collect()
    }

    /// Deletes the request; with `accept`, makes the account an owner in the same
    /// transaction. False when there was no such request.
    pub(crate) async fn answer_owner_request(
        &self,
        package: i64,
        account: i64,
        accept: bool,
    ) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("DELETE FROM owner_requests WHERE package_id = $1 AND account_id = $2")
            .bind(package)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        if accept {
            sqlx::query(
                "INSERT INTO package_owners (package_id, account_id) VALUES ($1, $2) \
                 ON CONFLICT (package_id, account_id) DO NOTHING",
            )
            .bind(package)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes `account` from the package's owners; a package keeps at least one owner. The
    /// package row is locked first (`UPDATE … SET id = id`: a row lock on PostgreSQL, the
    /// write lock on SQLite), so two concurrent removals take turns and the second sees the
    /// first one's result; a pending request for the account is withdrawn too.
    pub async fn remove_owner(&self, id_lower: &str, account: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let locked = sqlx::query("UPDATE packages SET id = id WHERE id_lower = $1")
            .bind(id_lower)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no package {id_lower}")));
        }
        let withdrawn = sqlx::query(
            "DELETE FROM owner_requests WHERE account_id = $1 AND package_id = \
             (SELECT id FROM packages WHERE id_lower = $2)",
        )
        .bind(account)
        .bind(id_lower)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query(
            "DELETE FROM package_owners WHERE account_id = $1 AND package_id = \
             (SELECT id FROM packages WHERE id_lower = $2)",
        )
        .bind(account)
        .bind(id_lower)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            if withdrawn.rows_affected() > 0 {
                tx.commit().await?;
                return Ok(());
            }
            return Err(Error::NotFound(format!(
                "the account is not an owner of {id_lower}"
            )));
        }
        let left = sqlx::query(
            "SELECT 1 AS one FROM package_owners o JOIN packages p ON p.id = o.package_id \
             WHERE p.id_lower = $1",
        )
        .bind(id_lower)
        .fetch_optional(&mut *tx)
        .await?;
        if left.is_none() {
            return Err(Error::Conflict(format!(
                "cannot remove the last owner of {id_lower}"
            )));
        }
        tx.commit().await?;
        Ok(())
    }
}
