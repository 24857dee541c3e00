//! The [`Registry`] services over `lifecycle`: here, in the services layer, so that
//! `lifecycle` stays below `registry`.

use crate::Error;
use crate::auth::hash_password;
use crate::registry::Registry;

impl Registry {
    /// Disables `user`: their sessions end and their API keys stop working at once; they
    /// cannot sign in until [`Registry::enable_user`].
    pub async fn disable_user(&self, user: &str) -> Result<(), Error> {
        let id = self.db.user_id_any(user).await?;
        self.db.disable(id, self.clock.now().unix_micros()).await?;
        tracing::info!(user, "user disabled");
        Ok(())
    }

    /// Re-enables a disabled user (their old sessions stay ended).
    pub async fn enable_user(&self, user: &str) -> Result<(), Error> {
        let id = self.db.user_id_any(user).await?;
        self.db.enable(id).await?;
        tracing::info!(user, "user enabled");
        Ok(())
    }

    /// Lifts the failed-attempt limits on `user`'s sign-in (web, two-factor codes, HTTP Basic)
    /// on every server, whoever made the failures; limits on the clients that made them stay.
    pub async fn unlock_sign_in(&self, user: &str) -> Result<(), Error> {
        self.db.user_id_any(user).await?;
        let name = user.trim().to_lowercase();
        self.db
            .unlock_sign_in(&name, self.clock.now().unix_micros())
            .await?;
        tracing::info!(user, "sign-in limits lifted by an administrator");
        Ok(())
    }

    /// When an administrator last lifted the sign-in limits of the user named `user` (as
    /// typed: trimmed and lower-cased here, as [`Registry::unlock_sign_in`] stores it), in µs.
    pub(crate) async fn sign_in_unlocked_at(&self, user: &str) -> Result<Option<i64>, Error> {
        let lower = user.trim().to_lowercase();
        self.db.sign_in_unlocked_at(&lower).await
    }

    /// Whether `user` is disabled.
    pub async fn is_disabled(&self, user: &str) -> Result<bool, Error> {
        let id = self.db.user_id_any(user).await?;
        self.db.is_disabled(id).await
    }

    /// An administrator sets a new password for `user`; every session of the user ends.
    pub async fn reset_password(&self, user: &str, password: &str) -> Result<(), Error> {
        if password.is_empty() {
            return Err(Error::Invalid("the password is empty".into()));
        }
        let id = self.db.user_id_any(user).await?;
        let hash = hash_password(password, self.rng.as_ref())?;
        self.db.reset_password(id, &hash).await?;
        tracing::info!(user, "password reset by an administrator");
        Ok(())
    }

    /// Removes `user` from `organization` (never the last administrator). Their keys acting
    /// for the organization stop working at once.
    pub async fn remove_member(&self, organization: &str, user: &str) -> Result<(), Error> {
        let org = match self.db.find_account(organization).await? {
            Some((id, kind)) if kind == "organization" => id,
            _ => return Err(Error::NotFound(format!("no organization {organization:?}"))),
        };
        let id = self.db.user_id_any(user).await?;
        self.db.remove_member(org, id).await?;
        tracing::info!(organization, user, "member removed");
        Ok(())
    }
}
