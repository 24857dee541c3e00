//! The audit log (issue 19): security-relevant actions, appended with who, when, what, on
//! what, how it ended and from where — never a secret (no password, key, code or token is
//! ever passed in). Read with `signet admin audit-log`; entries older than
//! `[audit] retention_days` are deleted by `Registry::prune_audit_log` (the server runs it
//! hourly).
//!
//! Writing an entry never fails the action it records: a database that refuses the entry is
//! logged as an error and the action stands (the alternative, refusing pushes and sign-ins
//! because the log table is unavailable, would make the log a way to stop the feed).

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_log (
        id BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL,
        client TEXT NOT NULL,
        detail TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
    "CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, at)",
];

tokio::task_local! {
    /// The address of the client whose request is being answered, set around every request
    /// by the HTTP layer ([`with_client`]): an entry written deep inside a service (a push,
    /// an owner request) names it without every signature on the way carrying it.
    static CLIENT: Option<std::net::IpAddr>;
}

/// The address of the client whose request is being answered, if any.
pub(crate) fn request_client() -> Option<String> {
    CLIENT
        .try_with(|c| *c)
        .ok()
        .flatten()
        .map(|ip| ip.to_string())
}

/// Runs `f` with `client` as the address the entries written inside it name (those whose
/// event gives none).
pub(crate) async fn with_client<F: std::future::Future>(
    client: Option<std::net::IpAddr>,
    f: F,
) -> F::Output {
    CLIENT.scope(client, f).await
}

/// An age such as `90m`, `24h` or `7d`, in microseconds (`signet admin audit-log --since`
/// and the audit page).
pub fn parse_age(text: &str) -> Result<i64, Error> {
    let text = text.trim();
    let wrong = || Error::Invalid(format!("{text:?} is not an age such as 90m, 24h or 7d"));
    let (number, unit_micros) = [
        ('m', 60_000_000i64),
        ('h', 3_600_000_000),
        ('d', 86_400_000_000),
    ]
    .into_iter()
    .find_map(|(unit, micros)| text.strip_suffix(unit).map(|n| (n, micros)))
    .ok_or_else(wrong)?;
    let n: u32 = number.parse().map_err(|_| wrong())?;
    Ok(i64::from(n).saturating_mul(unit_micros))
}

/// The actor of an attempt that proved nobody's identity (a failed sign-in). Not a possible
/// account name (account names have no parentheses), so it never mixes with a real user's
/// entries.
pub const ANONYMOUS: &str = "(anonymous)";

/// The target of a failed sign-in whose name is no account: what was typed is not kept (people
/// type their password into the name field).
pub const UNKNOWN_ACCOUNT: &str = "(no such account)";

/// Longest text kept in one field (a refusal's reason can be long).
const FIELD_MAX: usize = 500;

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A web sign-in (password step).
    SignIn,
    /// An API key (`X-NuGet-ApiKey`) that did not authenticate.
    ApiKeyAuth,
    /// HTTP Basic credentials that did not authenticate (a private feed).
    BasicAuth,
    /// A package push.
    Push,
    /// A version unlisted.
    Unlist,
    /// A version listed again.
    Relist,
    /// An owner requested for a package.
    OwnerRequest,
    /// An owner request accepted.
    OwnerAccept,
    /// An owner request declined.
    OwnerDecline,
    /// A command of `signet admin` that changes the server.
    AdminCommand,
    /// A version unlisted or deleted by a retention rule.
    Retention,
    /// The second step of a web sign-in (an authenticator or recovery code).
    SignInCode,
    /// Two-factor sign-in turned on.
    TwoFactorOn,
    /// Two-factor sign-in turned off.
    TwoFactorOff,
    /// A new set of recovery codes (the old ones stop working).
    RecoveryCodes,
    /// An API key created.
    ApiKeyCreate,
    /// An API key revoked.
    ApiKeyRevoke,
    /// A signing certificate registered for an account.
    CertificateRegister,
    /// A signing certificate removed from an account.
    CertificateDelete,
    /// A package's required signer set or cleared.
    SigningRule,
    /// An owner removed from a package.
    OwnerRemove,
}

impl AuditAction {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::ApiKeyAuth => "api-key-auth",
            Self::BasicAuth => "basic-auth",
            Self::Push => "push",
            Self::Unlist => "unlist",
            Self::Relist => "relist",
            Self::OwnerRequest => "owner-request",
            Self::OwnerAccept => "owner-accept",
            Self::OwnerDecline => "owner-decline",
            Self::AdminCommand => "admin",
            Self::Retention => "retention",
            Self::SignInCode => "sign-in-code",
            Self::TwoFactorOn => "2fa-on",
            Self::TwoFactorOff => "2fa-off",
            Self::RecoveryCodes => "recovery-codes",
            Self::ApiKeyCreate => "api-key-create",
            Self::ApiKeyRevoke => "api-key-revoke",
            Self::CertificateRegister => "certificate-register",
            Self::CertificateDelete => "certificate-delete",
            Self::SigningRule => "signing-rule",
            Self::OwnerRemove => "owner-remove",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// Done.
    Ok,
    /// Refused (wrong credentials, no right, a push rule).
    Refused,
    /// Failed for another reason.
    Failed,
}

impl AuditOutcome {
    /// The outcome of `r`: refusals are the 4xx errors.
    pub fn of<T>(r: &Result<T, Error>) -> Self {
        match r {
            Ok(_) => Self::Ok,
            Err(e) if (400..500).contains(&e.status()) => Self::Refused,
            Err(_) => Self::Failed,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// One entry to append.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    /// Who: an account name, or `admin (command line)`.
    pub actor: &'a str,
    /// What.
    pub action: AuditAction,
    /// On what: a package and version, an account.
    pub target: &'a str,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The client's address, where there is one.
    pub client: Option<&'a str>,
    /// Anything else worth keeping (a refusal's reason, a command's arguments); never a
    /// secret.
    pub detail: &'a str,
}

/// One entry read back.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// The client's address, or empty.
    pub client: String,
    /// More.
    pub detail: String,
}

/// `text` cut to [`FIELD_MAX`] bytes and stripped of control characters (an entry is read on
/// a terminal).
fn field(text: &str) -> String {
    let clean = signet_common::terminal_safe(text);
    let mut end = clean.len().min(FIELD_MAX);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean.get(..end).unwrap_or_default().to_owned()
}

impl Db {
    pub(crate) async fn append_audit(
        &self,
        id: i64,
        at: i64,
        e: &AuditEvent<'_>,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, outcome, client, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(at)
        .bind(field(e.actor))
        .bind(e.action.as_str())
        .bind(field(e.target))
        .bind(e.outcome.as_str())
        .bind(field(e.client.unwrap_or_default()))
        .bind(field(e.detail))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn audit_entries(
        &self,
        since: i64,
        actor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, String, String, String, String)>, Error> {
        let rows = match actor {
            Some(a) => {
                sqlx::query(
                    "SELECT at, actor, action, target, outcome, client, detail FROM audit_log \
                     WHERE at >= $1 AND lower(actor) = $2 ORDER BY at DESC, id LIMIT $3",
                )
                .bind(since)
                .bind(a.to_lowercase())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT at, actor, action, target, outcome, client, detail FROM audit_log \
                     WHERE at >= $1 ORDER BY at DESC, id LIMIT $2",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("at")?,
                    r.try_get("actor")?,
                    r.try_get("action")?,
                    r.try_get("target")?,
                    r.try_get("outcome")?,
                    r.try_get("client")?,
                    r.try_get("detail")?,
                ))
            })
            .collect()
    }

    pub(crate) async fn prune_audit(&self, before: i64) -> Result<u64, Error> {
        let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
