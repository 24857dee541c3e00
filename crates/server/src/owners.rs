//! Package owners with consent (NuGet.org's ownership requests): adding an owner creates a
//! request that the invited account — the user, or an administrator of the invited
//! organization — accepts or declines. Only an accepted request makes the account an owner:
//! named in the repository signature's `nuget-package-owners`, able to push, and able to be the
//! required signer. Removing an owner never leaves a package without one, also when two
//! removals race on PostgreSQL (the package row is locked first).

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;
use crate::registry::Registry;

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
    async fn package_row(&self, id_lower: &str) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT id FROM packages WHERE id_lower = $1")
            .bind(id_lower)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    async fn create_owner_request(
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
    async fn owner_requests_for(&self, accounts: &[i64]) -> Result<Vec<OwnerRequest>, Error> {
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
    async fn owner_requests_of(&self, package: i64) -> Result<Vec<OwnerRequest>, Error> {
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
    async fn answer_owner_request(
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

impl Registry {
    /// Asks `account` (a user or an organization) to become an owner of package `id`, on
    /// behalf of `requested_by`. The account is not an owner until it accepts
    /// ([`Registry::answer_owner_request`]).
    pub async fn add_owner(
        &self,
        id: &str,
        account: &str,
        requested_by: &str,
    ) -> Result<OwnerRequestOutcome, Error> {
        let r = self.add_owner_checked(id, account, requested_by).await;
        self.audit_result(
            requested_by,
            crate::audit::AuditAction::OwnerRequest,
            &format!("{id} owner {account}"),
            &r,
        )
        .await;
        r
    }

    async fn add_owner_checked(
        &self,
        id: &str,
        account: &str,
        requested_by: &str,
    ) -> Result<OwnerRequestOutcome, Error> {
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        let package = self
            .db
            .package_row(&id.to_lowercase())
            .await?
            .ok_or_else(|| Error::NotFound(format!("no package {id}")))?;
        let outcome = self
            .db
            .create_owner_request(
                package,
                account_id,
                requested_by,
                self.clock.now().unix_micros(),
            )
            .await?;
        tracing::info!(
            id,
            account,
            by = requested_by,
            ?outcome,
            "ownership requested"
        );
        Ok(outcome)
    }

    /// The ownership requests `user` may answer: those for the user, and those for the
    /// organizations the user administers.
    pub async fn owner_requests(&self, user: &str) -> Result<Vec<OwnerRequest>, Error> {
        let Some(u) = self.db.find_user(user).await? else {
            return Err(Error::NotFound(format!("no user {user:?}")));
        };
        let mut accounts = vec![u.id];
        accounts.extend(self.db.administered_organizations(u.id).await?);
        self.db.owner_requests_for(&accounts).await
    }

    /// Pending ownership requests of package `id` (the package page lists them).
    pub async fn pending_owners(&self, id: &str) -> Result<Vec<OwnerRequest>, Error> {
        match self.db.package_row(&id.to_lowercase()).await? {
            Some(p) => self.db.owner_requests_of(p).await,
            None => Ok(Vec::new()),
        }
    }

    /// `user` accepts (or declines) the request for `account` to own `id`: 403 unless `user`
    /// is that account or an administrator of that organization; 404 without a request.
    pub async fn answer_owner_request(
        &self,
        user: &str,
        id: &str,
        account: &str,
        accept: bool,
    ) -> Result<(), Error> {
        let r = self
            .answer_owner_request_checked(user, id, account, accept)
            .await;
        let action = if accept {
            crate::audit::AuditAction::OwnerAccept
        } else {
            crate::audit::AuditAction::OwnerDecline
        };
        self.audit_result(user, action, &format!("{id} owner {account}"), &r)
            .await;
        r
    }

    async fn answer_owner_request_checked(
        &self,
        user: &str,
        id: &str,
        account: &str,
        accept: bool,
    ) -> Result<(), Error> {
        if !self.can_manage_account(user, account).await? {
            return Err(Error::Forbidden(format!(
                "only {account} (or an administrator of the organization) can answer this \
                 ownership request"
            )));
        }
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        let package = self
            .db
            .package_row(&id.to_lowercase())
            .await?
            .ok_or_else(|| Error::NotFound(format!("no package {id}")))?;
        if !self
            .db
            .answer_owner_request(package, account_id, accept)
            .await?
        {
            return Err(Error::NotFound(format!(
                "no pending request for {account} to own {id}"
            )));
        }
        tracing::info!(id, account, by = user, accept, "ownership request answered");
        Ok(())
    }
}
