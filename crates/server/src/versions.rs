//! The push commit: a new version with everything that belongs to it, in one transaction
//! (search terms and listing, the signature, the signer certificate, the mirror provenance,
//! the transparency-log entry). It sits above the stores it
//! calls, so that `db` needs none of them.

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;
use crate::inspect::{DepGroup, Metadata};

/// A version to insert (the push transaction).
#[derive(Clone, Debug)]
pub struct NewVersion {
    /// Fresh row id for the package, used only if the id is new.
    pub new_package_row: i64,
    /// Fresh row id for the version.
    pub version_row: i64,
    /// Package id as pushed.
    pub id: String,
    /// Normalised version.
    pub version: String,
    /// As written in the nuspec.
    pub original_version: String,
    /// Has release labels.
    pub prerelease: bool,
    /// SemVer 2.0.0-only.
    pub semver2: bool,
    /// File size.
    pub size: i64,
    /// Blob key (already written).
    pub blob_key: String,
    /// The nuspec bytes.
    pub nuspec: Vec<u8>,
    /// Display metadata.
    pub metadata: Metadata,
    /// Dependency groups.
    pub dependencies: Vec<DepGroup>,
    /// Now (µs).
    pub now: i64,
    /// The user pushing.
    pub pusher: i64,
    /// The account that becomes owner of a new id, and must own an existing one.
    pub owner: i64,
    /// What the stored bytes are signed with (written in the same transaction).
    pub signature: Option<crate::signing::VersionSignature>,
    /// The author signer certificate, with the chain its verified signature carried
    /// (recorded in the same transaction; a dry run never gets here).
    pub(crate) signer: Option<crate::signing::store::NewCertificate>,
    /// Where a mirrored version came from (`None` for pushes).
    pub(crate) mirrored: Option<crate::mirror::Provenance>,
    /// The version's transparency-log entry, appended in the same transaction.
    pub(crate) tlog_entry: Vec<u8>,
}

/// Which of the two push scopes the key has; the transaction decides which one applies.
#[derive(Clone, Copy, Debug)]
pub struct PushRights {
    /// May create a new package id.
    pub push_new: bool,
    /// May add a version to an owned package.
    pub push_version: bool,
}

impl Db {
    /// The push transaction: creates the package (owned by `v.owner`) if the id is new, or
    /// checks that `v.owner` (or an organization the pusher belongs to) owns it, then inserts
    /// the version. Nothing is visible until the commit; a duplicate version is a `Conflict`.
    pub async fn commit_push(&self, v: &NewVersion, rights: PushRights) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let id_lower = v.id.to_lowercase();
        // A write first, so that SQLite takes the write lock now (waiting for others) instead
        // of failing a read-then-write upgrade with SQLITE_BUSY.
        sqlx::query(
            "INSERT INTO packages (id, package_id, id_lower, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id_lower) DO NOTHING",
        )
        .bind(v.new_package_row)
        .bind(&v.id)
        .bind(&id_lower)
        .bind(v.now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT id FROM packages WHERE id_lower = $1")
            .bind(&id_lower)
            .fetch_one(&mut *tx)
            .await?;
        let package_row: i64 = row.try_get("id")?;
        if package_row == v.new_package_row {
            if !rights.push_new {
                return Err(Error::Forbidden(
                    "the API key may not push new package ids (scope push-new)".into(),
                ));
            }
            sqlx::query("INSERT INTO package_owners (package_id, account_id) VALUES ($1, $2)")
                .bind(package_row)
                .bind(v.owner)
                .execute(&mut *tx)
                .await?;
        } else {
            let owner = sqlx::query(
                "SELECT 1 AS one FROM package_owners WHERE package_id = $1 AND (account_id = $2 \
                 OR ($2 = $3 AND account_id IN (SELECT organization_id FROM \
                 organization_members WHERE user_id = $3)))",
            )
            .bind(package_row)
            .bind(v.owner)
            .bind(v.pusher)
            .fetch_optional(&mut *tx)
            .await?;
            if owner.is_none() {
                return Err(Error::Forbidden(format!(
                    "the package id {} belongs to another account",
                    v.id
                )));
            }
            if !rights.push_version {
                return Err(Error::Forbidden(
                    "the API key may not push new versions (scope push-version)".into(),
                ));
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO package_versions (id, package_id, id_as_pushed, version, version_lower, \
             original_version, prerelease, semver2, listed, size, blob_key, nuspec, metadata_json, \
             dependencies_json, published_at, pushed_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(v.version_row)
        .bind(package_row)
        .bind(&v.id)
        .bind(&v.version)
        .bind(v.version.to_lowercase())
        .bind(&v.original_version)
        .bind(i64::from(v.prerelease))
        .bind(i64::from(v.semver2))
        .bind(v.size)
        .bind(&v.blob_key)
        .bind(v.nuspec.clone())
        .bind(serde_json::to_string(&v.metadata).unwrap_or_default())
        .bind(serde_json::to_string(&v.dependencies).unwrap_or_default())
        .bind(v.now)
        .bind(v.pusher)
        .execute(&mut *tx)
        .await
        .map_err(Error::from);
        match inserted {
            Err(e) if e.is_unique_violation() => {
                return Err(Error::Conflict(format!(
                    "{} {} already exists",
                    v.id, v.version
                )));
            }
            other => other?,
        };
        crate::catalog::add_terms(&mut tx, package_row, &v.id, &v.metadata).await?;
        crate::catalog::refresh_listing(&mut tx, package_row).await?;
        if let Some(sig) = &v.signature {
            crate::signing::store::put_version_signature(&mut tx, v.version_row, sig).await?;
        }
        if let Some(signer) = &v.signer {
            crate::signing::store::upsert_certificate(&mut tx, signer).await?;
        }
        if let Some(provenance) = &v.mirrored {
            crate::mirror::store::put_provenance(&mut tx, v.version_row, provenance).await?;
        }
        // Last, so that the log's counter row is held for the shortest time: appends from
        // every server take turns on it (tlog/store.rs).
        crate::tlog::store::append(&mut tx, v.version_row, &v.tlog_entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
