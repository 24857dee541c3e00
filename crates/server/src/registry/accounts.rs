//! The [`Registry`] services a signed-in account's pages and the sign-in checks ask for: the
//! password check (argon2 off the async workers), the lookups behind the private feed's Basic
//! credential cache, and the account page's contents (over `accounts` and `db`).

use std::sync::Arc;

use crate::Error;
use crate::auth::{hash_password, verify_password};
use crate::db::{AccountRow, ApiKeyInfo};
use crate::owners::OwnerRequest;
use crate::registry::Registry;

/// What the account page shows besides the session's own state.
#[derive(Clone, Debug)]
pub(crate) struct AccountOverview {
    /// The user's API keys (no secrets), oldest first.
    pub(crate) keys: Vec<ApiKeyInfo>,
    /// Whether the user signs in with a second factor.
    pub(crate) two_factor_enabled: bool,
    /// The organizations the user belongs to: (name, role), by name.
    pub(crate) organizations: Vec<(String, String)>,
    /// Invitations to become an owner that the user can answer.
    pub(crate) owner_requests: Vec<OwnerRequest>,
    /// (package id, owning account) of the packages the user manages, by id.
    pub(crate) packages: Vec<(String, String)>,
}

impl Registry {
    /// Checks a user's password off the async workers: the user's id when `name` names an
    /// enabled user whose password this is. An unknown user costs the same time (a dummy hash
    /// is verified), and a disabled one fails like a wrong password.
    pub(crate) async fn check_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<i64>, Error> {
        let user = self.db.find_user(name).await?;
        let dummy = match self.dummy_hash.get() {
            Some(h) => h.clone(),
            None => {
                let rng = Arc::clone(&self.rng);
                let h = tokio::task::spawn_blocking(move || hash_password("signet", rng.as_ref()))
                    .await
                    .map_err(|e| Error::Crypto(format!("password task: {e}")))??;
                let _ = self.dummy_hash.set(h.clone());
                h
            }
        };
        let disabled = match &user {
            Some(u) => self.db.is_disabled(u.id).await?,
            None => false,
        };
        let (id, phc) = match user {
            // A disabled account costs the same time and fails like a wrong password.
            Some(u) if disabled => (None, u.password_hash.unwrap_or(dummy)),
            Some(u) => match u.password_hash {
                Some(h) => (Some(u.id), h),
                None => (None, dummy),
            },
            None => (None, dummy),
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
            .await
            .map_err(|e| Error::Crypto(format!("password task: {e}")))?;
        Ok(if ok { id } else { None })
    }

    /// A user by name (case-insensitive) with the stored password hash: what a remembered
    /// Basic credential is checked against (`http/access.rs`).
    pub(crate) async fn user_for_sign_in(&self, name: &str) -> Result<Option<AccountRow>, Error> {
        self.db.find_user(name).await
    }

    /// Whether the account `user_id` is disabled.
    pub(crate) async fn user_is_disabled(&self, user_id: i64) -> Result<bool, Error> {
        self.db.is_disabled(user_id).await
    }

    /// The account page's contents for the user `user_id` named `user_name`.
    pub(crate) async fn account_overview(
        &self,
        user_id: i64,
        user_name: &str,
    ) -> Result<AccountOverview, Error> {
        let keys = self.api_keys(user_name).await?;
        let two_factor_enabled = self.db.totp_enabled(user_id).await?;
        let organizations = self.db.organizations_of(user_id).await?;
        let owner_requests = self.owner_requests(user_name).await?;
        let packages = self.db.packages_of(user_id).await?;
        Ok(AccountOverview {
            keys,
            two_factor_enabled,
            organizations,
            owner_requests,
            packages,
        })
    }
}
