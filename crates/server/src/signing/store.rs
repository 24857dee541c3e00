//! The signing tables and their queries: registered certificates and their links to
//! accounts, per-package required signers, organization policies, what each stored version
//! was signed with, and the repository certificates the server has announced.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::Error;
use crate::db::Db;

/// The signing tables, idempotent (run after the core schema). `{BLOB}` as in `db.rs`.
pub(crate) const SCHEMA: &[&str] = &[
    // Global, unique by fingerprint (spec server §1.1); `status` is the recheck job's verdict:
    // good, unknown, revoked or invalid; `chain` holds the issuers seen with it (DER,
    // concatenated), for revocation checks.
    "CREATE TABLE IF NOT EXISTS certificates (
        id BIGINT PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        der {BLOB} NOT NULL,
        chain {BLOB},
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        not_before BIGINT NOT NULL,
        not_after BIGINT NOT NULL,
        status TEXT NOT NULL,
        status_detail TEXT,
        revoked_at BIGINT,
        checked_at BIGINT,
        created_at BIGINT NOT NULL)",
    // An account's registration of a certificate; `active = 0` is a deactivated one (deleted
    // after it signed packages: still listed, no longer accepted).
    "CREATE TABLE IF NOT EXISTS account_certificates (
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        certificate_id BIGINT NOT NULL REFERENCES certificates(id),
        active BIGINT NOT NULL,
        added_at BIGINT NOT NULL,
        PRIMARY KEY (account_id, certificate_id))",
    // The package's required signer (absent: any owner). `account_id` NULL never occurs.
    "CREATE TABLE IF NOT EXISTS package_required_signers (
        package_id BIGINT PRIMARY KEY REFERENCES packages(id),
        account_id BIGINT NOT NULL REFERENCES accounts(id))",
    // Organization policies (Stage 3 of the 2017 plan): all packages author-signed.
    "CREATE TABLE IF NOT EXISTS account_policies (
        account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
        require_signed BIGINT NOT NULL)",
    // What a stored version carries: its author signer (if any), the timestamp, and the
    // repository certificate that signed the stored bytes; `flag` is set by the recheck job.
    "CREATE TABLE IF NOT EXISTS version_signatures (
        version_id BIGINT PRIMARY KEY REFERENCES package_versions(id),
        author_fingerprint TEXT,
        author_subject TEXT,
        author_issuer TEXT,
        author_not_before BIGINT,
        author_not_after BIGINT,
        timestamp_at BIGINT,
        timestamp_subject TEXT,
        repository_fingerprint TEXT,
        repository_signed_at BIGINT,
        flag TEXT)",
    "CREATE INDEX IF NOT EXISTS version_signatures_author ON version_signatures (author_fingerprint)",
    // The server's administrators (the signing status page).
    "CREATE TABLE IF NOT EXISTS site_admins (
        user_id BIGINT PRIMARY KEY REFERENCES accounts(id))",
    // Every repository certificate this server has signed with, newest last.
    "CREATE TABLE IF NOT EXISTS repository_certificates (
        fingerprint TEXT PRIMARY KEY,
        der {BLOB} NOT NULL,
        added_at BIGINT NOT NULL)",
];

/// A certificate to insert (or find by fingerprint).
#[derive(Clone, Debug)]
pub(crate) struct NewCertificate {
    pub id: i64,
    /// Whether `chain` replaces a stored one: true only for the chain of a signature that
    /// verified on push; a registration fills an empty chain only, and only with a path
    /// that reached the server's roots (issue 13: one account's upload must not change what
    /// the recheck believes about a certificate registered elsewhere).
    pub chain_verified_by_push: bool,
    pub fingerprint: String,
    pub der: Vec<u8>,
    pub chain: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub now: i64,
}

/// A certificate row with an account's link to it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CertificateRow {
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// notBefore (µs).
    pub not_before: i64,
    /// notAfter (µs).
    pub not_after: i64,
    /// The recheck job's verdict: `good`, `unknown`, `revoked` or `invalid`.
    pub status: String,
    /// Why (revocation reason, chain problem), when known.
    pub status_detail: Option<String>,
    /// Revocation time (µs), when revoked.
    pub revoked_at: Option<i64>,
    /// Last recheck (µs).
    pub checked_at: Option<i64>,
    /// The account's registration is active (false: deactivated).
    pub active: bool,
    /// Versions of the account's packages whose author signature used it.
    pub signed_versions: i64,
    /// Why no push signed with it can ever be accepted (no code-signing EKU, a weak key,
    /// self-issued or chaining to an untrusted root), when that is so.
    pub cannot_sign: Option<String>,
    /// The DER (for the evaluation behind `cannot_sign`).
    #[serde(skip)]
    pub(crate) der: Vec<u8>,
    /// The verified issuers known for it.
    #[serde(skip)]
    pub(crate) chain: Vec<u8>,
}

/// A certificate to recheck.
#[derive(Clone, Debug)]
pub(crate) struct RecheckRow {
    pub id: i64,
    pub fingerprint: String,
    pub der: Vec<u8>,
    pub chain: Vec<u8>,
}

/// What a stored version was signed with.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VersionSignature {
    /// Author signer fingerprint (SHA-256, lower-case hex), when author-signed.
    pub author_fingerprint: Option<String>,
    /// Author signer subject.
    pub author_subject: Option<String>,
    /// Author signer issuer.
    pub author_issuer: Option<String>,
    /// Author signer notBefore (µs).
    pub author_not_before: Option<i64>,
    /// Author signer notAfter (µs).
    pub author_not_after: Option<i64>,
    /// The author signature's timestamp (µs, upper limit of its accuracy).
    pub timestamp_at: Option<i64>,
    /// The timestamping certificate's subject.
    pub timestamp_subject: Option<String>,
    /// Fingerprint of the repository certificate that signed the stored bytes.
    pub repository_fingerprint: Option<String>,
    /// When the repository signature was made (µs).
    pub repository_signed_at: Option<i64>,
    /// Set by the revocation recheck: why this version's signature is no longer trusted.
    pub flag: Option<String>,
}

fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, Error> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

fn opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, Error> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

fn signature_row(r: &AnyRow) -> Result<VersionSignature, Error> {
    Ok(VersionSignature {
        author_fingerprint: opt_text(r, "author_fingerprint")?,
        author_subject: opt_text(r, "author_subject")?,
        author_issuer: opt_text(r, "author_issuer")?,
        author_not_before: opt_i64(r, "author_not_before")?,
        author_not_after: opt_i64(r, "author_not_after")?,
        timestamp_at: opt_i64(r, "timestamp_at")?,
        timestamp_subject: opt_text(r, "timestamp_subject")?,
        repository_fingerprint: opt_text(r, "repository_fingerprint")?,
        repository_signed_at: opt_i64(r, "repository_signed_at")?,
        flag: opt_text(r, "flag")?,
    })
}

const SIGNATURE_COLUMNS: &str = "s.author_fingerprint, s.author_subject, s.author_issuer, \
    s.author_not_before, s.author_not_after, s.timestamp_at, s.timestamp_subject, \
    s.repository_fingerprint, s.repository_signed_at, s.flag";

/// Inserts (or replaces) a version's signature row inside the push or backfill transaction.
pub(crate) async fn put_version_signature(
    conn: &mut sqlx::AnyConnection,
    version_row: i64,
    s: &VersionSignature,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM version_signatures WHERE version_id = $1")
        .bind(version_row)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO version_signatures (version_id, author_fingerprint, author_subject, \
         author_issuer, author_not_before, author_not_after, timestamp_at, timestamp_subject, \
         repository_fingerprint, repository_signed_at, flag) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(version_row)
    .bind(s.author_fingerprint.clone())
    .bind(s.author_subject.clone())
    .bind(s.author_issuer.clone())
    .bind(s.author_not_before)
    .bind(s.author_not_after)
    .bind(s.timestamp_at)
    .bind(s.timestamp_subject.clone())
    .bind(s.repository_fingerprint.clone())
    .bind(s.repository_signed_at)
    .bind(s.flag.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// [`Db::upsert_certificate`] on a connection (the push transaction records its signer).
pub(crate) async fn upsert_certificate(
    conn: &mut sqlx::AnyConnection,
    c: &NewCertificate,
) -> Result<i64, Error> {
    sqlx::query(
        "INSERT INTO certificates (id, fingerprint, der, chain, subject, issuer, not_before, \
         not_after, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'unknown', $9) \
         ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(c.id)
    .bind(&c.fingerprint)
    .bind(c.der.clone())
    .bind(c.chain.clone())
    .bind(&c.subject)
    .bind(&c.issuer)
    .bind(c.not_before)
    .bind(c.not_after)
    .bind(c.now)
    .execute(&mut *conn)
    .await?;
    if !c.chain.is_empty() {
        let sql = if c.chain_verified_by_push {
            "UPDATE certificates SET chain = $1 WHERE fingerprint = $2"
        } else {
            "UPDATE certificates SET chain = $1 WHERE fingerprint = $2 \
             AND (chain IS NULL OR length(chain) = 0)"
        };
        sqlx::query(sql)
            .bind(c.chain.clone())
            .bind(&c.fingerprint)
            .execute(&mut *conn)
            .await?;
    }
    let row = sqlx::query("SELECT id FROM certificates WHERE fingerprint = $1")
        .bind(&c.fingerprint)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get("id")?)
}

/// The versions mirrored from an upstream now in passthrough mode: they carry the upstream's
/// repository signature on purpose, so the backfill leaves them alone (switching the upstream
/// to `resign` hands them to the backfill). The tables are the mirror's; only the backfill's
/// queries here read them.
pub(crate) const PASSTHROUGH_VERSIONS: &str = "SELECT m.version_id FROM mirrored_versions m \
    JOIN upstreams u ON u.name_lower = LOWER(m.upstream) WHERE u.mode = 'passthrough'";

impl Db {
    /// Inserts the certificate unless its fingerprint is known; returns its row id either way.
    /// A known certificate gets `chain` when it had none.
    pub(crate) async fn upsert_certificate(&self, c: &NewCertificate) -> Result<i64, Error> {
        let mut conn = self.pool.acquire().await?;
        upsert_certificate(&mut conn, c).await
    }

    /// Links (or re-activates) a certificate on an account.
    pub(crate) async fn link_certificate(
        &self,
        account: i64,
        certificate: i64,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO account_certificates (account_id, certificate_id, active, added_at) \
             VALUES ($1, $2, 1, $3) ON CONFLICT (account_id, certificate_id) \
             DO UPDATE SET active = 1",
        )
        .bind(account)
        .bind(certificate)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An account's certificates (active and deactivated), with how many versions of the
    /// account's packages each signed.
    pub(crate) async fn account_certificates(
        &self,
        account: i64,
    ) -> Result<Vec<CertificateRow>, Error> {
        let rows = sqlx::query(
            "SELECT c.fingerprint, c.subject, c.issuer, c.not_before, c.not_after, c.status, \
             c.status_detail, c.revoked_at, c.checked_at, ac.active, c.der, c.chain, \
             (SELECT COUNT(*) FROM version_signatures s \
               JOIN package_versions v ON v.id = s.version_id \
               JOIN package_owners o ON o.package_id = v.package_id \
               WHERE s.author_fingerprint = c.fingerprint AND o.account_id = ac.account_id) \
               AS signed_versions \
             FROM account_certificates ac JOIN certificates c ON c.id = ac.certificate_id \
             WHERE ac.account_id = $1 ORDER BY ac.added_at, c.fingerprint",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CertificateRow {
                    fingerprint: r.try_get("fingerprint")?,
                    subject: r.try_get("subject")?,
                    issuer: r.try_get("issuer")?,
                    not_before: r.try_get("not_before")?,
                    not_after: r.try_get("not_after")?,
                    status: r.try_get("status")?,
                    status_detail: opt_text(r, "status_detail")?,
                    revoked_at: opt_i64(r, "revoked_at")?,
                    checked_at: opt_i64(r, "checked_at")?,
                    active: r.try_get::<i64, _>("active")? != 0,
                    signed_versions: r.try_get("signed_versions")?,
                    cannot_sign: None,
                    der: r.try_get("der")?,
                    chain: r
                        .try_get::<Option<Vec<u8>>, _>("chain")?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Removes the account's link, or deactivates it when `keep` (it signed packages).
    /// Returns false when the account had no such certificate.
    pub(crate) async fn unlink_certificate(
        &self,
        account: i64,
        fingerprint: &str,
        keep: bool,
    ) -> Result<bool, Error> {
        let sql = if keep {
            "UPDATE account_certificates SET active = 0 WHERE account_id = $1 AND certificate_id \
             = (SELECT id FROM certificates WHERE fingerprint = $2)"
        } else {
            "DELETE FROM account_certificates WHERE account_id = $1 AND certificate_id \
             = (SELECT id FROM certificates WHERE fingerprint = $2)"
        };
        let r = sqlx::query(sql)
            .bind(account)
            .bind(fingerprint)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Fingerprints of the account's active certificates that are not revoked.
    pub(crate) async fn active_fingerprints(&self, account: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT c.fingerprint FROM account_certificates ac \
             JOIN certificates c ON c.id = ac.certificate_id \
             WHERE ac.account_id = $1 AND ac.active = 1 AND c.status <> 'revoked'",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("fingerprint")?)).collect()
    }

    /// Fingerprints of the account's active registrations whose certificate is revoked.
    pub(crate) async fn revoked_fingerprints(&self, account: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT c.fingerprint FROM account_certificates ac \
             JOIN certificates c ON c.id = ac.certificate_id \
             WHERE ac.account_id = $1 AND ac.active = 1 AND c.status = 'revoked'",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("fingerprint")?)).collect()
    }

    /// Owner accounts of a package: (id, name, kind).
    pub(crate) async fn owner_accounts(
        &self,
        id_lower: &str,
    ) -> Result<Vec<(i64, String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, a.kind FROM package_owners o \
             JOIN packages p ON p.id = o.package_id JOIN accounts a ON a.id = o.account_id \
             WHERE p.id_lower = $1 ORDER BY a.name_lower",
        )
        .bind(id_lower)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("kind")?)))
            .collect()
    }

    /// The package's required signer: (account id, name).
    pub(crate) async fn required_signer(
        &self,
        id_lower: &str,
    ) -> Result<Option<(i64, String)>, Error> {
        let row = sqlx::query(
            "SELECT a.id, a.name FROM package_required_signers r \
             JOIN packages p ON p.id = r.package_id JOIN accounts a ON a.id = r.account_id \
             WHERE p.id_lower = $1",
        )
        .bind(id_lower)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .transpose()
    }

    /// Sets (`Some`) or clears the required signer; false when the package does not exist.
    pub(crate) async fn set_required_signer(
        &self,
        id_lower: &str,
        account: Option<i64>,
    ) -> Result<bool, Error> {
        let Some(row) = sqlx::query("SELECT id FROM packages WHERE id_lower = $1")
            .bind(id_lower)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(false);
        };
        let package: i64 = row.try_get("id")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM package_required_signers WHERE package_id = $1")
            .bind(package)
            .execute(&mut *tx)
            .await?;
        if let Some(account) = account {
            sqlx::query(
                "INSERT INTO package_required_signers (package_id, account_id) VALUES ($1, $2)",
            )
            .bind(package)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the account requires all its packages to be author-signed.
    pub(crate) async fn requires_signed(&self, account: i64) -> Result<bool, Error> {
        let row = sqlx::query("SELECT require_signed FROM account_policies WHERE account_id = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("require_signed")? != 0,
            None => false,
        })
    }

    /// Sets the account's require-signed policy.
    pub(crate) async fn set_requires_signed(&self, account: i64, on: bool) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO account_policies (account_id, require_signed) VALUES ($1, $2) \
             ON CONFLICT (account_id) DO UPDATE SET require_signed = excluded.require_signed",
        )
        .bind(account)
        .bind(i64::from(on))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One version's signature row.
    pub(crate) async fn version_signature(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<VersionSignature>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNATURE_COLUMNS} FROM version_signatures s \
             JOIN package_versions v ON v.id = s.version_id \
             JOIN packages p ON p.id = v.package_id \
             WHERE p.id_lower = $1 AND v.version_lower = $2"
        )))
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(signature_row).transpose()
    }

    /// Every certificate that is not revoked (revoked is final: CAs drop old entries).
    pub(crate) async fn certificates_to_recheck(&self) -> Result<Vec<RecheckRow>, Error> {
        let rows = sqlx::query(
            "SELECT id, fingerprint, der, chain FROM certificates WHERE status <> 'revoked' \
             ORDER BY fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecheckRow {
                    id: r.try_get("id")?,
                    fingerprint: r.try_get("fingerprint")?,
                    der: r.try_get("der")?,
                    chain: r
                        .try_get::<Option<Vec<u8>>, _>("chain")?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Records a recheck verdict.
    pub(crate) async fn set_certificate_status(
        &self,
        id: i64,
        status: &str,
        detail: Option<&str>,
        revoked_at: Option<i64>,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE certificates SET status = $1, status_detail = $2, revoked_at = $3, \
             checked_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(detail)
        .bind(revoked_at)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Flags the versions author-signed with `fingerprint` whose timestamp is at or after
    /// `since` (or that have no timestamp); returns how many were newly flagged.
    /// Flags the versions `fingerprint` signed at or after `since` that carry no flag yet;
    /// returns them as (package id, version).
    pub(crate) async fn flag_signed_since(
        &self,
        fingerprint: &str,
        since: i64,
        flag: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT s.version_id, p.package_id, v.version FROM version_signatures s \
             JOIN package_versions v ON v.id = s.version_id \
             JOIN packages p ON p.id = v.package_id \
             WHERE s.author_fingerprint = $1 \
             AND (s.timestamp_at IS NULL OR s.timestamp_at >= $2) AND s.flag IS NULL",
        )
        .bind(fingerprint)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let mut flagged = Vec::with_capacity(rows.len());
        for r in &rows {
            let version_id: i64 = r.try_get("version_id")?;
            let done = sqlx::query(
                "UPDATE version_signatures SET flag = $1 WHERE version_id = $2 AND flag IS NULL",
            )
            .bind(flag)
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                flagged.push((r.try_get("package_id")?, r.try_get("version")?));
            }
        }
        tx.commit().await?;
        Ok(flagged)
    }

    /// The accounts a certificate is registered to (active or not).
    pub(crate) async fn certificate_accounts(&self, fingerprint: &str) -> Result<Vec<i64>, Error> {
        let rows = sqlx::query(
            "SELECT ac.account_id FROM account_certificates ac \
             JOIN certificates c ON c.id = ac.certificate_id WHERE c.fingerprint = $1",
        )
        .bind(fingerprint)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("account_id")?)).collect()
    }

    /// Records a repository certificate (idempotent).
    pub(crate) async fn add_repository_certificate(
        &self,
        fingerprint: &str,
        der: &[u8],
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO repository_certificates (fingerprint, der, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(fingerprint)
        .bind(der.to_vec())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every repository certificate, oldest first: (fingerprint, DER).
    pub(crate) async fn repository_certificates(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let rows = sqlx::query(
            "SELECT fingerprint, der FROM repository_certificates ORDER BY added_at, fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("fingerprint")?, r.try_get("der")?)))
            .collect()
    }

    /// Versions whose stored bytes lack a repository signature by `fingerprint`, in a stable
    /// order after `after` (a version row id; resumable): (row id, id_lower, version_lower,
    /// blob key), at most `limit`.
    pub(crate) async fn versions_needing_signature(
        &self,
        fingerprint: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, String, String)>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT v.id, p.id_lower, v.version_lower, v.blob_key FROM package_versions v \
             JOIN packages p ON p.id = v.package_id \
             LEFT JOIN version_signatures s ON s.version_id = v.id \
             WHERE v.id > $1 AND (s.repository_fingerprint IS NULL \
               OR s.repository_fingerprint <> $2) AND v.id NOT IN ({PASSTHROUGH}) \
             ORDER BY v.id LIMIT $3",
            PASSTHROUGH = PASSTHROUGH_VERSIONS
        )))
        .bind(after)
        .bind(fingerprint)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("id_lower")?,
                    r.try_get("version_lower")?,
                    r.try_get("blob_key")?,
                ))
            })
            .collect()
    }

    /// How many versions lack a repository signature by `fingerprint`.
    pub(crate) async fn count_needing_signature(&self, fingerprint: &str) -> Result<i64, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM package_versions v \
             LEFT JOIN version_signatures s ON s.version_id = v.id \
             WHERE (s.repository_fingerprint IS NULL OR s.repository_fingerprint <> $1) \
             AND v.id NOT IN ({PASSTHROUGH})",
            PASSTHROUGH = PASSTHROUGH_VERSIONS
        )))
        .bind(fingerprint)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Replaces a version's blob and signature row in one transaction (backfill); false when
    /// the version's blob changed meanwhile (another backfill won).
    pub(crate) async fn replace_signed_blob(
        &self,
        version_row: i64,
        old_blob: &str,
        new_blob: &str,
        size: i64,
        signature: &VersionSignature,
    ) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE package_versions SET blob_key = $1, size = $2 WHERE id = $3 AND blob_key = $4",
        )
        .bind(new_blob)
        .bind(size)
        .bind(version_row)
        .bind(old_blob)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        put_version_signature(&mut tx, version_row, signature).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Db {
    /// An account's name by row id.
    pub(crate) async fn account_name(&self, id: i64) -> Result<String, Error> {
        let row = sqlx::query("SELECT name FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {id}")))?;
        Ok(row.try_get("name")?)
    }
}

impl Db {
    /// Every version's signature row of a package, by lower-case version.
    pub(crate) async fn version_signatures_of(
        &self,
        id_lower: &str,
    ) -> Result<Vec<(String, VersionSignature)>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT v.version_lower, {SIGNATURE_COLUMNS} FROM version_signatures s \
             JOIN package_versions v ON v.id = s.version_id \
             JOIN packages p ON p.id = v.package_id WHERE p.id_lower = $1"
        )))
        .bind(id_lower)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version_lower")?, signature_row(r)?)))
            .collect()
    }

    /// Makes a user a site administrator (idempotent).
    pub(crate) async fn add_site_admin(&self, user: i64) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO site_admins (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a user is a site administrator.
    pub(crate) async fn is_site_admin(&self, user: i64) -> Result<bool, Error> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM site_admins WHERE user_id = $1")
                .bind(user)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Stored versions, and signer certificates by recheck status.
    pub(crate) async fn signing_counts(&self) -> Result<(i64, Vec<(String, i64)>), Error> {
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM package_versions")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM certificates GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let by_status = rows
            .iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect::<Result<_, Error>>()?;
        Ok((total, by_status))
    }
}
