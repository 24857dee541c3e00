//! Two-factor sign-in with TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step
//! of skew either way) and single-use recovery codes. No HTTP here: the pages in
//! `twofactor.rs` call these functions.
//!
//! A code is accepted at most once: the last accepted step is stored per user, and a code is
//! only accepted for a later step (RFC 6238 §5.2), by one conditional UPDATE, so two requests
//! racing with the same code cannot both pass. The secret comes from the injected
//! [`Random`](crate::Random) and codes are checked at the injected clock's time.

use sqlx::Row as _;
use totp_rs::{Builder, Secret, Totp};

use crate::Error;
use crate::db::Db;
use crate::registry::Registry;

/// The issuer shown by authenticator apps when the server's address names no host.
const DEFAULT_ISSUER: &str = "signet";
/// Recovery codes made at enrolment.
pub(crate) const RECOVERY_CODES: usize = 10;
/// Bytes of a TOTP secret (160 bits, RFC 4226 §4's recommendation).
const SECRET_BYTES: usize = 20;
/// Bytes of a recovery code (80 bits: 16 base32 characters).
const RECOVERY_BYTES: usize = 10;

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
    async fn put_pending_totp(&self, user_id: i64, secret: &str, now: i64) -> Result<bool, Error> {
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
    async fn take_step(
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
    async fn replace_recovery_codes(&self, user_id: i64, hashes: &[String]) -> Result<(), Error> {
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
    async fn use_recovery_code(&self, user_id: i64, hash: &str, now: i64) -> Result<bool, Error> {
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
    async fn delete_totp(&self, user_id: i64) -> Result<(), Error> {
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

/// The issuer an authenticator app shows for this server: the host of its public URL
/// (`nuget.contoso.com`), so that accounts on two servers can be told apart. A port is left
/// out: the otpauth label separates issuer and account with a colon, so an issuer cannot hold
/// one (Key Uri Format).
pub(crate) fn issuer_for(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if host.is_empty() || host.contains(':') {
        DEFAULT_ISSUER.to_owned()
    } else {
        host.to_owned()
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

/// What the enrolment page shows.
#[derive(Clone, Debug)]
pub(crate) struct Enrolment {
    /// The secret, base32 (typed into an authenticator by hand).
    pub(crate) secret: String,
    /// The `otpauth://totp/…` URI (a link, and what the QR code carries).
    pub(crate) uri: String,
    /// The URI as a QR code: an inline SVG drawn on the server (the pages run no scripts).
    pub(crate) qr_svg: String,
}

/// The enrolment view of a stored secret, for the server whose authenticator label is
/// `issuer` ([`issuer_for`]).
pub(crate) fn enrolment(secret_b32: &str, account: &str, issuer: &str) -> Result<Enrolment, Error> {
    let t = totp(secret_b32, account, issuer)?;
    let uri = t
        .to_url()
        .map_err(|e| Error::Crypto(format!("TOTP URI: {e}")))?;
    Ok(Enrolment {
        secret: secret_b32.to_owned(),
        qr_svg: qr_svg(&uri)?,
        uri,
    })
}

/// Modules of quiet zone around a QR code (ISO/IEC 18004 asks for four).
const QUIET_ZONE: usize = 4;

/// `text` as a QR code in an SVG element: one path of unit squares on a white square, with a
/// quiet zone, scaled by CSS. Medium error correction (the URI is ~120 bytes: a 33×33 to
/// 37×37 symbol that phone cameras read at once).
fn qr_svg(text: &str) -> Result<String, Error> {
    use std::fmt::Write as _;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| Error::Crypto(format!("QR code: {e}")))?;
    let width = code.width();
    let size = width + 2 * QUIET_ZONE;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\" class=\"qr\" id=\"totp-qr\" role=\"img\" \
         aria-label=\"QR code of the authenticator link\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

/// Starts (or restarts) enrolment with a fresh secret; `Conflict` if two-factor sign-in is
/// already on.
pub(crate) async fn start(r: &Registry, user_id: i64) -> Result<(), Error> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    r.rng.fill(&mut bytes)?;
    let secret = Secret::from(bytes).to_base32();
    let now = r.clock.now().unix_micros();
    if !r.db.put_pending_totp(user_id, &secret, now).await? {
        return Err(Error::Conflict(
            "two-factor sign-in is already on; turn it off first".into(),
        ));
    }
    Ok(())
}

/// Digits only, without spaces: the form people type codes in.
fn digits(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The step `code` is valid for at the registry's time, if any.
fn matching_step(
    r: &Registry,
    row: &TotpRow,
    account: &str,
    code: &str,
) -> Result<Option<i64>, Error> {
    let code = digits(code);
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let now = u64::try_from(r.clock.now().unix_seconds()).unwrap_or(0);
    // The label does not enter the code: any issuer checks the same.
    Ok(totp(&row.secret, account, DEFAULT_ISSUER)?
        .check(&code, now)
        .and_then(|step| i64::try_from(step).ok()))
}

/// Confirms enrolment with a current code: two-factor sign-in is on from now, and the new
/// recovery codes are returned (shown once; only digests are stored). `Invalid` for a wrong
/// or used code.
pub(crate) async fn confirm(
    r: &Registry,
    user_id: i64,
    account: &str,
    code: &str,
) -> Result<Vec<String>, Error> {
    let row = r
        .db
        .totp_row(user_id)
        .await?
        .filter(|row| !row.enabled)
        .ok_or_else(|| Error::Conflict("there is no enrolment to confirm; start again".into()))?;
    let step = matching_step(r, &row, account, code)?;
    let Some(step) = step else {
        return Err(Error::Invalid("the code is not valid".into()));
    };
    if !r.db.take_step(user_id, step, false, true).await? {
        return Err(Error::Invalid("the code is not valid".into()));
    }
    new_recovery_codes(r, user_id).await
}

/// Makes a fresh set of recovery codes (the old ones stop working).
pub(crate) async fn new_recovery_codes(r: &Registry, user_id: i64) -> Result<Vec<String>, Error> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; RECOVERY_BYTES];
        r.rng.fill(&mut bytes)?;
        codes.push(format_recovery(&bytes));
    }
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    r.db.replace_recovery_codes(user_id, &hashes).await?;
    Ok(codes)
}

/// What a second factor was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Factor {
    /// A TOTP code.
    Code,
    /// A recovery code (now used up).
    RecoveryCode,
}

/// Checks a sign-in's second factor: a current TOTP code not used before, or an unused
/// recovery code (which is then used up). `None` when neither.
pub(crate) async fn verify(
    r: &Registry,
    user_id: i64,
    account: &str,
    code: &str,
) -> Result<Option<Factor>, Error> {
    let Some(row) = r.db.totp_row(user_id).await?.filter(|row| row.enabled) else {
        return Ok(None);
    };
    if let Some(step) = matching_step(r, &row, account, code)? {
        return Ok(r
            .db
            .take_step(user_id, step, true, false)
            .await?
            .then_some(Factor::Code));
    }
    let normalized = normalize_recovery(code);
    if normalized.len() != RECOVERY_BYTES * 8 / 5 {
        return Ok(None);
    }
    let now = r.clock.now().unix_micros();
    Ok(r.db
        .use_recovery_code(user_id, &recovery_hash(&normalized), now)
        .await?
        .then_some(Factor::RecoveryCode))
}

/// Turns two-factor sign-in off; needs a current TOTP code (not a recovery code).
pub(crate) async fn disable(
    r: &Registry,
    user_id: i64,
    account: &str,
    code: &str,
) -> Result<(), Error> {
    let row =
        r.db.totp_row(user_id)
            .await?
            .filter(|row| row.enabled)
            .ok_or_else(|| Error::Conflict("two-factor sign-in is not on".into()))?;
    let ok = match matching_step(r, &row, account, code)? {
        Some(step) => r.db.take_step(user_id, step, true, false).await?,
        None => false,
    };
    if !ok {
        return Err(Error::Invalid(
            "the code is not valid: enter the current code from your authenticator".into(),
        ));
    }
    r.db.delete_totp(user_id).await
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// 10 bytes as 16 base32 characters in groups of four: `abcd-efgh-ijkl-mnop`.
fn format_recovery(bytes: &[u8; RECOVERY_BYTES]) -> String {
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
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The stored form of a recovery code: SHA-256 of its normalized text (80 random bits, so a
/// fast hash is enough).
fn recovery_hash(code: &str) -> String {
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
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let t = totp(&secret, "alice", "signet").unwrap();
        assert_eq!(t.generate(59).to_string(), "287082");
        assert_eq!(t.check("287082", 59), Some(1));
        let e = enrolment(&secret, "alice", "nuget.contoso.com").unwrap();
        assert!(
            e.uri.starts_with("otpauth://totp/nuget.contoso.com:alice?"),
            "{}",
            e.uri
        );
        assert!(e.uri.contains("issuer=nuget.contoso.com"), "{}", e.uri);
        assert!(e.qr_svg.starts_with("<svg ") && e.qr_svg.contains("<path "));
    }

    #[test]
    fn issuer_is_the_public_host() {
        for (url, issuer) in [
            ("https://nuget.contoso.com", "nuget.contoso.com"),
            ("http://127.0.0.1:5000", "127.0.0.1"),
            ("https://feed.example:8443/base/", "feed.example"),
            ("http://[::1]:5000", "signet"),
            ("", "signet"),
        ] {
            assert_eq!(issuer_for(url), issuer, "{url}");
        }
    }
}
