//! The [`Registry`] services over `accounts::totp`: two-factor sign-in's use cases (enrol,
//! confirm, check a sign-in's second factor, turn off, new recovery codes) with secrets and
//! codes from the injected randomness, checked at the injected clock's time. No HTTP here:
//! the pages in `web/twofactor.rs` call these.

use crate::Error;
use crate::accounts::totp::{
    Factor, RECOVERY_BYTES, RECOVERY_CODES, SECRET_BYTES, TotpRow, format_recovery, matching_step,
    normalize_recovery, recovery_hash, secret_base32,
};
use crate::registry::Registry;

/// What the two-factor settings page shows of a user's credentials.
#[derive(Clone, Debug)]
pub(crate) struct TwoFactorSettings {
    /// Whether two-factor sign-in is on.
    pub(crate) enabled: bool,
    /// The secret (base32) of an enrolment started and not confirmed yet: it is stored
    /// already, so showing it again creates nothing.
    pub(crate) pending_secret: Option<String>,
    /// Recovery codes not used yet.
    pub(crate) recovery_codes_left: i64,
}

impl Registry {
    /// Whether `user_id` signs in with a second factor.
    pub(crate) async fn two_factor_enabled(&self, user_id: i64) -> Result<bool, Error> {
        self.db.totp_enabled(user_id).await
    }

    /// The state of `user_id`'s two-factor sign-in, for its settings page.
    pub(crate) async fn two_factor_settings(
        &self,
        user_id: i64,
    ) -> Result<TwoFactorSettings, Error> {
        let row = self.db.totp_row(user_id).await?;
        let recovery_codes_left = self.db.recovery_codes_left(user_id).await?;
        Ok(TwoFactorSettings {
            enabled: row.as_ref().is_some_and(|r| r.enabled),
            pending_secret: row.filter(|r| !r.enabled).map(|r| r.secret),
            recovery_codes_left,
        })
    }

    /// Starts (or restarts) enrolment with a fresh secret; `Conflict` if two-factor sign-in
    /// is already on.
    pub(crate) async fn start_two_factor(&self, user_id: i64) -> Result<(), Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        self.rng.fill(&mut bytes)?;
        let secret = secret_base32(bytes);
        let now = self.clock.now().unix_micros();
        if !self.db.put_pending_totp(user_id, &secret, now).await? {
            return Err(Error::Conflict(
                "two-factor sign-in is already on; turn it off first".into(),
            ));
        }
        Ok(())
    }

    /// The step `code` is valid for at the registry's time, if any.
    fn totp_step(&self, row: &TotpRow, account: &str, code: &str) -> Result<Option<i64>, Error> {
        let now = u64::try_from(self.clock.now().unix_seconds()).unwrap_or(0);
        matching_step(row, account, code, now)
    }

    /// Confirms enrolment with a current code: two-factor sign-in is on from now, and the new
    /// recovery codes are returned (shown once; only digests are stored). `Invalid` for a
    /// wrong or used code.
    pub(crate) async fn confirm_two_factor(
        &self,
        user_id: i64,
        account: &str,
        code: &str,
    ) -> Result<Vec<String>, Error> {
        let row = self
            .db
            .totp_row(user_id)
            .await?
            .filter(|row| !row.enabled)
            .ok_or_else(|| {
                Error::Conflict("there is no enrolment to confirm; start again".into())
            })?;
        let step = self.totp_step(&row, account, code)?;
        let Some(step) = step else {
            return Err(Error::Invalid("the code is not valid".into()));
        };
        if !self.db.take_step(user_id, step, false, true).await? {
            return Err(Error::Invalid("the code is not valid".into()));
        }
        self.new_recovery_codes(user_id).await
    }

    /// Makes a fresh set of recovery codes (the old ones stop working).
    pub(crate) async fn new_recovery_codes(&self, user_id: i64) -> Result<Vec<String>, Error> {
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let mut bytes = [0u8; RECOVERY_BYTES];
            self.rng.fill(&mut bytes)?;
            codes.push(format_recovery(&bytes));
        }
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        self.db.replace_recovery_codes(user_id, &hashes).await?;
        Ok(codes)
    }

    /// Checks a sign-in's second factor: a current TOTP code not used before, or an unused
    /// recovery code (which is then used up). `None` when neither.
    pub(crate) async fn verify_second_factor(
        &self,
        user_id: i64,
        account: &str,
        code: &str,
    ) -> Result<Option<Factor>, Error> {
        let Some(row) = self.db.totp_row(user_id).await?.filter(|row| row.enabled) else {
            return Ok(None);
        };
        if let Some(step) = self.totp_step(&row, account, code)? {
            return Ok(self
                .db
                .take_step(user_id, step, true, false)
                .await?
                .then_some(Factor::Code));
        }
        let normalized = normalize_recovery(code);
        if normalized.len() != RECOVERY_BYTES * 8 / 5 {
            return Ok(None);
        }
        let now = self.clock.now().unix_micros();
        Ok(self
            .db
            .use_recovery_code(user_id, &recovery_hash(&normalized), now)
            .await?
            .then_some(Factor::RecoveryCode))
    }

    /// Turns two-factor sign-in off; needs a current TOTP code (not a recovery code).
    pub(crate) async fn disable_two_factor(
        &self,
        user_id: i64,
        account: &str,
        code: &str,
    ) -> Result<(), Error> {
        let row = self
            .db
            .totp_row(user_id)
            .await?
            .filter(|row| row.enabled)
            .ok_or_else(|| Error::Conflict("two-factor sign-in is not on".into()))?;
        let ok = match self.totp_step(&row, account, code)? {
            Some(step) => self.db.take_step(user_id, step, true, false).await?,
            None => false,
        };
        if !ok {
            return Err(Error::Invalid(
                "the code is not valid: enter the current code from your authenticator".into(),
            ));
        }
        self.db.delete_totp(user_id).await
    }
}
