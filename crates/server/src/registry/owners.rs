//! The [`Registry`] services over `owners`: here, in the services layer, so that
//! `owners` stays below `registry`.

use crate::Error;
use crate::owners::{OwnerRequest, OwnerRequestOutcome};
use crate::registry::Registry;

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
