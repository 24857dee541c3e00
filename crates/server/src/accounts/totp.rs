//! Two-factor sign-in's credentials: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of skew either way) and single-use recovery codes, and their store. The use cases
//! (enrol, confirm, verify, turn off) are `Registry` methods in `registry/twofactor.rs`, which
//! bring the injected clock and randomness; the enrolment page's view (the authenticator's
//! label, the QR code) is in `web/totp.rs`.
//!
//! A code is accepted at most once: the last accepted step is stored per user, and a code is
//! only accepted for a later step (RFC 6238 §5.2), by one conditional UPDATE, so two requests
//! racing with the same code cannot both pass.

use sqlx::Row as _;
use totp_rs::{Builder, Secret, Totp};

use crate::Error;
use crate::db::Db;

/// The issuer shown by authenticator apps when the server's address names no host.
pub(crate) const DEFAULT_ISSUER: &str = "signet";
/// Recovery codes made at enrolment.
pub(crate) const RECOVERY_CODES: usize = 10;
/// Bytes of a TOTP secret (160 bits, RFC 4226 §4's recommendation).
pub(crate) const SECRET_BYTES: usize = 20;
/// Bytes of a recovery code (80 bits: 16 base32 characters).
pub(crate) const RECOVERY_BYTES: usize = 10;

/// A user's TOTP row.
#[derive(Clone, Debug)]
pub(crate) struct TotpRow {
    pub(crate) secret: String,
    pub(crate) enabled: bool,
}

impl Db {
    /// Whether `user_id` signs in with a second factor.
    pub(crate) async fn totp_enabled(&self, user_id: i64) -> Result<bool, Error> {
        Ok(self
            .totp_row(user_id)
            .await?
            .is_some_and(|r: TotpRow| r.enabled))
    }

    pub(crate) async fn totp_row(&self, user_id: i64) -> Result<Option<TotpRow>, Error> {
        let row = sqlx::query("SELECT secret, enabled FROM totp_credentials WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(TotpRow {
                secret: r.try_get("secret")?,
                enabled: r.try_get::<i64, _>("enabled")? != 0,
            })
        })
        .transpose()
    }

    /// Stores a new, not yet confirmed secret; never replaces an enabled one. False if the
    /// user already has two-factor sign-in on.
    pub(crate) async fn put_pending_totp(
        &self,
        user_id: i64,
        secret: &str,
        now: i64,
    ) -> Result<bool, Error> {
        let r = sqlx::query(
            "INSERT INTO totp_credentials (user_id, secret, enabled, last_step, created_at) \
             VALUES ($1, $2, 0, NULL, $3) ON CONFLICT (user_id) DO UPDATE \
             SET secret = excluded.secret, last_step = NULL, created_at = excluded.created_at \
             WHERE totp_credentials.enabled = 0",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Takes time step `step` for `user_id` if it is later than the last one taken, on a row
    /// whose `enabled` is `enabled`; with `enable`, the row becomes enabled. False if the step
    /// was already used (or an earlier one is newer).
    pub(crate) async fn take_step(
        &self,
        user_id: i64,
        step: i64,
        enabled: bool,
        enable: bool,
    ) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE totp_credentials SET last_step = $1, enabled = $2 WHERE user_id = $3 \
             AND enabled = $4 AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step)
        .bind(i64::from(enabled || enable))
        .bind(user_id)
        .bind(i64::from(enabled))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces the user's recovery codes (digests).
    pub(crate) async fn replace_recovery_codes(
        &self,
        user_id: i64,
        hashes: &[String],
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for h in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Uses one recovery code; false if unknown or already used.
    pub(crate) async fn use_recovery_code(
        &self,
        user_id: i64,
        hash: &str,
        now: i64,
    ) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 \
             AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Recovery codes not used yet.
    pub(crate) async fn recovery_codes_left(&self, user_id: i64) -> Result<i64, Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Turns two-factor sign-in off: the secret and the recovery codes go.
    pub(crate) async fn delete_totp(&self, user_id: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The TOTP for a stored secret, labelled with the account name and `issuer`.
fn totp(secret_b32: &str, account: &str, issuer: &str) -> Result<Totp, Error> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|e| Error::Crypto(format!("stored TOTP secret: {e}")))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .map_err(|e| Error::Crypto(format!("TOTP: {e}")))
}

/// A new secret from `bytes` ([`SECRET_BYTES`] random bytes), base32 as stored.
pub(crate) fn secret_base32(bytes: Vec<u8>) -> String {
    Secret::from(bytes).to_base32()
}

/// The `otpauth://totp/…` URI of a stored secret (Key Uri Format), labelled with the account
/// name and `issuer`: what an authenticator app reads.
pub(crate) fn otpauth_uri(secret_b32: &str, account: &str, issuer: &str) -> Result<String, Error> {
    totp(secret_b32, account, issuer)?
        .to_url()
        .map_err(|e| Error::Crypto(format!("TOTP URI: {e}")))
}

/// Digits only, without spaces: the form people type codes in.
fn digits(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The step `code` is valid for at `now_secs` (Unix seconds), if any.
pub(crate) fn matching_step(
    row: &TotpRow,
    account: &str,
    code: &str,
    now_secs: u64,
) -> Result<Option<i64>, Error> {
    let code = digits(code);
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    // The label does not enter the code: any issuer checks the same.
    Ok(totp(&row.secret, account, DEFAULT_ISSUER)?
        .check(&code, now_secs)
        .and_then(|step| i64::try_from(step).ok()))
}

/// What a second factor was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Factor {
    /// A TOTP code.
    Code,
    /// A recovery code (now used up).
    RecoveryCode,
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// 10 bytes as 16 base32 characters in groups of four: `abcd-efgh-ijkl-mnop`.
pub(crate) fn format_recovery(bytes: &[u8; RECOVERY_BYTES]) -> String {
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(*b);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16u32 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let index = usize::try_from((bits >> (75 - 5 * i)) & 31).unwrap_or(0);
        out.push(char::from(BASE32.get(index).copied().unwrap_or(b'a')));
    }
    out
}

/// A typed recovery code without separators, lower case.
pub(crate) fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The stored form of a recovery code: SHA-256 of its normalized text (80 random bits, so a
/// fast hash is enough).
pub(crate) fn recovery_hash(code: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        normalize_recovery(code).as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn recovery_codes_format_and_normalize() {
        let c = format_recovery(&[0xff; 10]);
        assert_eq!(c, "7777-7777-7777-7777");
        let c = format_recovery(&[0; 10]);
        assert_eq!(c, "aaaa-aaaa-aaaa-aaaa");
        let c = format_recovery(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(c.len(), 19);
        assert_eq!(
            recovery_hash(&c),
            recovery_hash(&c.to_uppercase().replace('-', " "))
        );
    }

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8
        // digits); the 6-digit code is its last six digits.
        let secret = secret_base32(b"12345678901234567890".to_vec());
        let t = totp(&secret, "alice", "signet").unwrap();
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.check("287082", 59), Some(1));
        let row = TotpRow {
            secret: secret.clone(),
            enabled: true,
        };
        assert_eq!(
            matching_step(&row, "alice", " 287 082 ", 59).unwrap(),
            Some(1)
        );
        assert_eq!(matching_step(&row, "alice", "28708", 59).unwrap(), None);
        let uri = otpauth_uri(&secret, "alice", "nuget.contoso.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/nuget.contoso.com:alice?"),
            "{uri}"
        );
        assert!(uri.contains("issuer=nuget.contoso.com"), "{uri}");
    }
}
