//! The mirror's tables and queries: upstreams and their pinned repository certificates, the
//! provenance of each mirrored version, refusals, and administrators' quarantine releases.

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

use super::{Provenance, Refused, Upstream, UpstreamSettings};

/// The mirror tables, idempotent (run after the core schema). `{BLOB}` as in `db.rs`.
pub(crate) const SCHEMA: &[&str] = &[
    // One row per upstream; `account_id` is the account (kind 'upstream') that owns the
    // package ids taken from it, so that no local account can push into them and the push
    // transaction's ownership rule protects locally owned ids from the mirror.
    "CREATE TABLE IF NOT EXISTS upstreams (
        name_lower TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        service_index TEXT NOT NULL,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        settings_json TEXT NOT NULL,
        mode TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        synced_at BIGINT NOT NULL)",
    // The repository certificates an upstream is trusted for, as its RepositorySignatures
    // resource announced them when pinned (`signet admin upstream add/sync`).
    "CREATE TABLE IF NOT EXISTS upstream_certificates (
        upstream TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        content_url TEXT NOT NULL,
        pinned_at BIGINT NOT NULL,
        PRIMARY KEY (upstream, fingerprint))",
    // Where a mirrored version came from (written in the transaction that makes it visible).
    "CREATE TABLE IF NOT EXISTS mirrored_versions (
        version_id BIGINT PRIMARY KEY REFERENCES package_versions(id),
        upstream TEXT NOT NULL,
        upstream_repository_fingerprint TEXT NOT NULL,
        upstream_author_fingerprint TEXT,
        upstream_repository_signed_at BIGINT,
        package_hash TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        upstream_sha256 TEXT NOT NULL,
        fetched_at BIGINT NOT NULL,
        upstream_listed BIGINT NOT NULL,
        mismatch TEXT,
        upstream_owners TEXT NOT NULL)",
    // What the mirror refused to store, for administrators.
    "CREATE TABLE IF NOT EXISTS mirror_refusals (
        id BIGINT PRIMARY KEY,
        upstream TEXT NOT NULL,
        package_id TEXT NOT NULL,
        version TEXT NOT NULL,
        kind TEXT NOT NULL,
        code TEXT,
        reason TEXT NOT NULL,
        at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS mirror_refusals_at ON mirror_refusals (at)",
    // Versions an administrator let through quarantine before their minimum age.
    "CREATE TABLE IF NOT EXISTS mirror_releases (
        id_lower TEXT NOT NULL,
        version_lower TEXT NOT NULL,
        released_by TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (id_lower, version_lower))",
];

/// A pinned certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedCertificate {
    /// SHA-256, lower-case hex.
    pub fingerprint: String,
    /// Subject as announced.
    pub subject: String,
    /// Issuer as announced.
    pub issuer: String,
    /// Validity start as announced.
    pub not_before: String,
    /// Validity end as announced.
    pub not_after: String,
    /// Where the upstream serves it.
    pub content_url: String,
}

fn pinned_row(c: &sqlx::any::AnyRow) -> Result<PinnedCertificate, Error> {
    Ok(PinnedCertificate {
        fingerprint: c.try_get("fingerprint")?,
        subject: c.try_get("subject")?,
        issuer: c.try_get("issuer")?,
        not_before: c.try_get("not_before")?,
        not_after: c.try_get("not_after")?,
        content_url: c.try_get("content_url")?,
    })
}

fn upstream_row(r: &sqlx::any::AnyRow) -> Result<Upstream, Error> {
    let settings: String = r.try_get("settings_json")?;
    Ok(Upstream {
        name: r.try_get("name")?,
        service_index: r.try_get("service_index")?,
        account_id: r.try_get("account_id")?,
        settings: serde_json::from_str::<UpstreamSettings>(&settings).map_err(|e| {
            Error::Config(format!(
                "the stored settings of an upstream do not parse: {e}"
            ))
        })?,
        certificates: Vec::new(),
        synced_at: r.try_get("synced_at")?,
    })
}

impl Db {
    /// Creates an upstream with its account and pinned certificates, in one transaction;
    /// `Conflict` when the name exists (or another kind of account has the account name).
    /// Returns the account id (an earlier upstream's account of that name is taken back).
    pub(crate) async fn add_upstream(
        &self,
        upstream: &Upstream,
        account_name: &str,
        now: i64,
    ) -> Result<i64, Error> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM upstreams WHERE name_lower = $1")
            .bind(upstream.name.to_lowercase())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(Error::Conflict(format!(
                "an upstream named {:?} exists",
                upstream.name
            )));
        }
        // An upstream removed and added again takes its account back (and with it the ids
        // mirrored from it before).
        let account = sqlx::query("SELECT id, kind FROM accounts WHERE name_lower = $1")
            .bind(account_name.to_lowercase())
            .fetch_optional(&mut *tx)
            .await?;
        let account_id = match account {
            Some(row) if row.try_get::<String, _>("kind")? == "upstream" => {
                row.try_get::<i64, _>("id")?
            }
            Some(_) => {
                return Err(Error::Conflict(format!(
                    "the account name {account_name:?} is taken"
                )));
            }
            None => {
                sqlx::query(
                    "INSERT INTO accounts (id, name, name_lower, kind, created_at) \
                     VALUES ($1, $2, $3, 'upstream', $4)",
                )
                .bind(upstream.account_id)
                .bind(account_name)
                .bind(account_name.to_lowercase())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                upstream.account_id
            }
        };
        sqlx::query(
            "INSERT INTO upstreams (name_lower, name, service_index, account_id, settings_json, \
             mode, created_at, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(upstream.name.to_lowercase())
        .bind(&upstream.name)
        .bind(&upstream.service_index)
        .bind(account_id)
        .bind(settings_json(&upstream.settings)?)
        .bind(upstream.settings.mode.name())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        put_certificates(&mut tx, &upstream.name, &upstream.certificates, now).await?;
        tx.commit().await?;
        Ok(account_id)
    }

    /// Replaces an upstream's pinned certificates (`sync`).
    pub(crate) async fn repin_upstream(
        &self,
        name: &str,
        certificates: &[PinnedCertificate],
        now: i64,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE upstreams SET synced_at = $1 WHERE name_lower = $2")
            .bind(now)
            .bind(name.to_lowercase())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no upstream named {name:?}")));
        }
        sqlx::query("DELETE FROM upstream_certificates WHERE upstream = $1")
            .bind(name.to_lowercase())
            .execute(&mut *tx)
            .await?;
        put_certificates(&mut tx, name, certificates, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an upstream's settings.
    pub(crate) async fn set_upstream_settings(
        &self,
        name: &str,
        settings: &UpstreamSettings,
    ) -> Result<(), Error> {
        let r =
            sqlx::query("UPDATE upstreams SET settings_json = $1, mode = $2 WHERE name_lower = $3")
                .bind(settings_json(settings)?)
                .bind(settings.mode.name())
                .bind(name.to_lowercase())
                .execute(&self.pool)
                .await?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no upstream named {name:?}")));
        }
        Ok(())
    }

    /// Every upstream with its pinned certificates, oldest first (the order ids are matched
    /// in).
    pub(crate) async fn upstreams(&self) -> Result<Vec<Upstream>, Error> {
        let rows = sqlx::query(
            "SELECT name, service_index, account_id, settings_json, synced_at FROM upstreams \
             ORDER BY created_at, name_lower",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(upstream_row)
            .collect::<Result<Vec<_>, _>>()?;
        let certs = sqlx::query(
            "SELECT upstream, fingerprint, subject, issuer, not_before, not_after, content_url \
             FROM upstream_certificates ORDER BY fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        for c in &certs {
            let upstream: String = c.try_get("upstream")?;
            if let Some(u) = out.iter_mut().find(|u| u.name.to_lowercase() == upstream) {
                u.certificates.push(pinned_row(c)?);
            }
        }
        Ok(out)
    }

    /// The pinned certificates of upstreams in passthrough mode: this server announces them
    /// beside its own, since the packages it serves from those upstreams carry their
    /// repository signatures.
    pub(crate) async fn passthrough_certificates(&self) -> Result<Vec<PinnedCertificate>, Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT c.fingerprint, c.subject, c.issuer, c.not_before, c.not_after, \
             c.content_url FROM upstream_certificates c JOIN upstreams u \
             ON u.name_lower = c.upstream WHERE u.mode = 'passthrough' ORDER BY c.fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pinned_row).collect()
    }

    /// Removes an upstream's definition and pins (its mirrored versions stay, owned by its
    /// account).
    pub(crate) async fn remove_upstream(&self, name: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM upstream_certificates WHERE upstream = $1")
            .bind(name.to_lowercase())
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM upstreams WHERE name_lower = $1")
            .bind(name.to_lowercase())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no upstream named {name:?}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a refusal.
    pub(crate) async fn record_refusal(&self, id: i64, r: &Refused) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO mirror_refusals (id, upstream, package_id, version, kind, code, reason, \
             at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(&r.upstream)
        .bind(&r.id)
        .bind(&r.version)
        .bind(&r.kind)
        .bind(r.code.clone())
        .bind(&r.reason)
        .bind(r.at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Refusals since `since` (µs), newest first, at most `limit`.
    pub(crate) async fn refusals(&self, since: i64, limit: i64) -> Result<Vec<Refused>, Error> {
        let rows = sqlx::query(
            "SELECT upstream, package_id, version, kind, code, reason, at FROM mirror_refusals \
             WHERE at >= $1 ORDER BY at DESC LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Refused {
                    upstream: r.try_get("upstream")?,
                    id: r.try_get("package_id")?,
                    version: r.try_get("version")?,
                    kind: r.try_get("kind")?,
                    code: r.try_get("code")?,
                    reason: r.try_get("reason")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Lets a version through quarantine.
    pub(crate) async fn release_version(
        &self,
        id_lower: &str,
        version_lower: &str,
        by: &str,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO mirror_releases (id_lower, version_lower, released_by, at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id_lower, version_lower) DO NOTHING",
        )
        .bind(id_lower)
        .bind(version_lower)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether an administrator released the version from quarantine.
    pub(crate) async fn is_released(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM mirror_releases WHERE id_lower = $1 AND version_lower = $2",
        )
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The provenance of a mirrored version (`None`: not mirrored).
    pub(crate) async fn provenance(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<Provenance>, Error> {
        let row = sqlx::query(
            "SELECT m.upstream, m.upstream_repository_fingerprint, m.upstream_author_fingerprint, \
             m.upstream_repository_signed_at, m.package_hash, m.content_hash, m.upstream_sha256, \
             m.fetched_at, m.upstream_listed, m.mismatch, m.upstream_owners FROM mirrored_versions m \
             JOIN package_versions v ON v.id = m.version_id JOIN packages p ON p.id = v.package_id \
             WHERE p.id_lower = $1 AND v.version_lower = $2",
        )
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Provenance {
                upstream: r.try_get("upstream")?,
                upstream_repository_fingerprint: r.try_get("upstream_repository_fingerprint")?,
                upstream_author_fingerprint: r.try_get("upstream_author_fingerprint")?,
                upstream_repository_signed_at: r.try_get("upstream_repository_signed_at")?,
                package_hash: r.try_get("package_hash")?,
                content_hash: r.try_get("content_hash")?,
                upstream_sha256: r.try_get("upstream_sha256")?,
                fetched_at: r.try_get("fetched_at")?,
                upstream_listed: r.try_get::<i64, _>("upstream_listed")? != 0,
                mismatch: r.try_get("mismatch")?,
                upstream_owners: serde_json::from_str(&r.try_get::<String, _>("upstream_owners")?)
                    .unwrap_or_default(),
            })
        })
        .transpose()
    }

    /// Records that the upstream served other bytes for a mirrored version (the cached copy
    /// stays what is served).
    pub(crate) async fn record_mismatch(
        &self,
        id_lower: &str,
        version_lower: &str,
        text: &str,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE mirrored_versions SET mismatch = $1 WHERE version_id = (SELECT v.id FROM \
             package_versions v JOIN packages p ON p.id = v.package_id WHERE p.id_lower = $2 \
             AND v.version_lower = $3)",
        )
        .bind(text)
        .bind(id_lower)
        .bind(version_lower)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks mirrored versions of `id_lower` listed or unlisted as the upstream lists them:
    /// `listed` holds the versions the upstream lists. Returns how many changed.
    pub(crate) async fn follow_upstream_listing(
        &self,
        id_lower: &str,
        listed: &[String],
    ) -> Result<u64, Error> {
        let rows = sqlx::query(
            "SELECT v.id, v.version_lower, m.upstream_listed FROM mirrored_versions m \
             JOIN package_versions v ON v.id = m.version_id JOIN packages p ON p.id = v.package_id \
             WHERE p.id_lower = $1",
        )
        .bind(id_lower)
        .fetch_all(&self.pool)
        .await?;
        let mut changed = 0;
        for r in &rows {
            let version: String = r.try_get("version_lower")?;
            let was = r.try_get::<i64, _>("upstream_listed")? != 0;
            let now = listed.contains(&version);
            if was != now {
                let id: i64 = r.try_get("id")?;
                sqlx::query(
                    "UPDATE mirrored_versions SET upstream_listed = $1 WHERE version_id = $2",
                )
                .bind(i64::from(now))
                .bind(id)
                .execute(&self.pool)
                .await?;
                crate::listing::set_listed(self, id_lower, &version, now).await?;
                changed += 1;
            }
        }
        Ok(changed)
    }
}

fn settings_json(s: &UpstreamSettings) -> Result<String, Error> {
    serde_json::to_string(s).map_err(|e| Error::Config(format!("upstream settings: {e}")))
}

async fn put_certificates(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    upstream: &str,
    certificates: &[PinnedCertificate],
    now: i64,
) -> Result<(), Error> {
    for c in certificates {
        sqlx::query(
            "INSERT INTO upstream_certificates (upstream, fingerprint, subject, issuer, \
             not_before, not_after, content_url, pinned_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (upstream, fingerprint) DO NOTHING",
        )
        .bind(upstream.to_lowercase())
        .bind(c.fingerprint.to_lowercase())
        .bind(&c.subject)
        .bind(&c.issuer)
        .bind(&c.not_before)
        .bind(&c.not_after)
        .bind(&c.content_url)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Inserts the provenance of a mirrored version (inside the commit transaction).
pub(crate) async fn put_provenance(
    conn: &mut sqlx::AnyConnection,
    version_row: i64,
    p: &Provenance,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO mirrored_versions (version_id, upstream, upstream_repository_fingerprint, \
         upstream_author_fingerprint, upstream_repository_signed_at, package_hash, content_hash, \
         upstream_sha256, fetched_at, upstream_listed, mismatch, upstream_owners) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(version_row)
    .bind(&p.upstream)
    .bind(&p.upstream_repository_fingerprint)
    .bind(p.upstream_author_fingerprint.clone())
    .bind(p.upstream_repository_signed_at)
    .bind(&p.package_hash)
    .bind(&p.content_hash)
    .bind(&p.upstream_sha256)
    .bind(p.fetched_at)
    .bind(i64::from(p.upstream_listed))
    .bind(p.mismatch.clone())
    .bind(serde_json::to_string(&p.upstream_owners).unwrap_or_else(|_| "[]".into()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
