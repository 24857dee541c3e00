//! Retention (issue 19): rules that unlist or delete old versions, and the tombstones deleted
//! versions leave.
//!
//! Rules are `[[retention]]` tables of the configuration, tried in order; the first whose
//! `packages` glob matches an id applies to it. A rule keeps the newest `keep_stable` stable
//! and `keep_prerelease` prerelease versions (absent: all of that kind) and, with
//! `older_than_days`, everything younger; the rest is unlisted (`action = "unlist"`, the
//! default) or deleted (`"delete"`). A version a kept version needs is kept: for each
//! dependency of a kept version, when no kept version satisfies its range, the lowest version
//! that does (the one a restore picks) is kept too, until nothing changes.
//!
//! A deleted version leaves a tombstone with its content hash (NuGet's signature-independent
//! SHA-512): the same id and version can be pushed (or mirrored) again only with the same
//! content, never other bytes (NuGet.org does not reuse a version either). The package and its
//! owners stay, so the id is not freed for another account.

use serde::Deserialize;
use sqlx::Row as _;

use crate::Error;
use crate::auth::IdGlob;
use crate::db::{Db, VersionRow};

pub(crate) const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS deleted_versions (
        id_lower TEXT NOT NULL,
        version_lower TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        deleted_at BIGINT NOT NULL,
        PRIMARY KEY (id_lower, version_lower))"];

/// One `[[retention]]` rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Package ids it applies to (`*` wildcard).
    pub packages: String,
    /// Newest stable versions kept (absent: all).
    pub keep_stable: Option<usize>,
    /// Newest prerelease versions kept (absent: all).
    pub keep_prerelease: Option<usize>,
    /// Only versions published longer ago than this are touched.
    pub older_than_days: Option<u64>,
    /// `unlist` (default) or `delete`.
    pub action: Option<String>,
}

/// What retention does to a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RetentionAction {
    /// Unlisted: still downloadable by exact version.
    Unlist,
    /// Deleted: gone, a tombstone left.
    Delete,
}

/// One step of a plan.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    /// The package id.
    pub id: String,
    /// The version (normalised).
    pub version: String,
    /// What is done.
    pub action: RetentionAction,
    /// The rule (its `packages` glob).
    pub rule: String,
}

/// A plan, and the versions kept only because a kept version depends on them.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPlan {
    /// What would be done.
    pub steps: Vec<Planned>,
    /// `id version` kept as a dependency of a kept version.
    pub kept_as_dependencies: Vec<String>,
}

pub(crate) struct ParsedRule<'a> {
    pub(crate) rule: &'a RetentionRule,
    pub(crate) glob: IdGlob,
    pub(crate) action: RetentionAction,
}

pub(crate) fn parse_rules(rules: &[RetentionRule]) -> Result<Vec<ParsedRule<'_>>, Error> {
    rules
        .iter()
        .map(|r| {
            let glob = IdGlob::parse(&r.packages)
                .map_err(|e| Error::Config(format!("[[retention]] packages: {e}")))?;
            let action = match r.action.as_deref() {
                None | Some("unlist") => RetentionAction::Unlist,
                Some("delete") => RetentionAction::Delete,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "[[retention]] action {other:?}: unlist or delete"
                    )));
                }
            };
            Ok(ParsedRule {
                rule: r,
                glob,
                action,
            })
        })
        .collect()
}

impl Db {
    /// Every stored version of every package (for planning).
    pub(crate) async fn all_versions(&self) -> Result<Vec<VersionRow>, Error> {
        let sql = format!(
            "SELECT {} FROM package_versions v JOIN packages p ON p.id = v.package_id",
            crate::db::VERSION_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(crate::db::version_row).collect()
    }

    /// The tombstone of a deleted version: its content hash.
    pub(crate) async fn tombstone(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<String>, Error> {
        let row = sqlx::query(
            "SELECT content_hash FROM deleted_versions WHERE id_lower = $1 AND version_lower = $2",
        )
        .bind(id_lower.to_owned())
        .bind(version_lower.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("content_hash"))
            .transpose()
            .map_err(Error::from)
    }

    /// Deletes one version's rows (its signature record, download count, mirror provenance)
    /// and leaves a tombstone, in one transaction; returns the blob key to delete after it.
    pub(crate) async fn delete_version(
        &self,
        id_lower: &str,
        version_lower: &str,
        content_hash: &str,
        now: i64,
    ) -> Result<Option<String>, Error> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(
            "SELECT v.id, v.package_id, v.blob_key FROM package_versions v JOIN packages p \
             ON p.id = v.package_id WHERE p.id_lower = $1 AND v.version_lower = $2",
        )
        .bind(id_lower.to_owned())
        .bind(version_lower.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let version_id: i64 = row.try_get("id")?;
        let package_id: i64 = row.try_get("package_id")?;
        let blob_key: String = row.try_get("blob_key")?;
        // Every table that refers to a version row.
        for sql in [
            "DELETE FROM version_signatures WHERE version_id = $1",
            "DELETE FROM mirrored_versions WHERE version_id = $1",
            "DELETE FROM download_counts WHERE package_version_id = $1",
        ] {
            sqlx::query(sql).bind(version_id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM package_versions WHERE id = $1")
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO deleted_versions (id_lower, version_lower, content_hash, deleted_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id_lower, version_lower) DO UPDATE SET \
             content_hash = excluded.content_hash, deleted_at = excluded.deleted_at",
        )
        .bind(id_lower.to_owned())
        .bind(version_lower.to_owned())
        .bind(content_hash.to_owned())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        crate::catalog::refresh_listing(&mut tx, package_id).await?;
        tx.commit().await?;
        Ok(Some(blob_key))
    }
}
