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

use std::collections::BTreeMap;

use serde::Deserialize;
use sqlx::Row as _;

use crate::Error;
use crate::auth::IdGlob;
use crate::db::{Db, VersionRow};
use crate::registry::Registry;
use signet_feed::{NuGetVersion, VersionRange};

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

struct ParsedRule<'a> {
    rule: &'a RetentionRule,
    glob: IdGlob,
    action: RetentionAction,
}

fn parse_rules(rules: &[RetentionRule]) -> Result<Vec<ParsedRule<'_>>, Error> {
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
    async fn all_versions(&self) -> Result<Vec<VersionRow>, Error> {
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
    async fn delete_version(
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

impl Registry {
    /// What the rules would do now (nothing is changed).
    pub async fn retention_plan(&self, rules: &[RetentionRule]) -> Result<RetentionPlan, Error> {
        let rules = parse_rules(rules)?;
        let now = self.clock.now().unix_micros();
        let mut by_id: BTreeMap<String, Vec<VersionRow>> = BTreeMap::new();
        for row in self.db.all_versions().await? {
            by_id
                .entry(row.package_id.to_lowercase())
                .or_default()
                .push(row);
        }
        // Candidates per rule; everything else is kept.
        let mut candidates: Vec<(VersionRow, usize)> = Vec::new();
        let mut kept: Vec<VersionRow> = Vec::new();
        for rows in by_id.values_mut() {
            rows.sort_by_cached_key(|r| std::cmp::Reverse(NuGetVersion::parse(&r.version).ok()));
            let Some(first) = rows.first() else { continue };
            let Some((index, rule)) = rules
                .iter()
                .enumerate()
                .find(|(_, r)| r.glob.matches(&first.package_id.to_lowercase()))
            else {
                kept.append(rows);
                continue;
            };
            let (mut stable, mut pre) = (0usize, 0usize);
            for row in rows.drain(..) {
                let (seen, keep) = if row.prerelease {
                    (&mut pre, rule.rule.keep_prerelease)
                } else {
                    (&mut stable, rule.rule.keep_stable)
                };
                *seen += 1;
                let young = rule.rule.older_than_days.is_some_and(|d| {
                    let age = i64::try_from(d)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(86_400_000_000);
                    now.saturating_sub(row.published_at) < age
                });
                let touched = keep.is_some_and(|k| *seen > k) && !young;
                let moot = rule.action == RetentionAction::Unlist && !row.listed;
                if touched && !moot {
                    candidates.push((row, index));
                } else {
                    kept.push(row);
                }
            }
        }
        // Keep what kept versions depend on (the version a restore would pick), to a fixpoint.
        let mut kept_as_dependencies = Vec::new();
        let mut pending: Vec<VersionRow> = kept.clone();
        while let Some(row) = pending.pop() {
            for group in &row.dependencies {
                for dep in &group.dependencies {
                    let dep_id = dep.id.to_lowercase();
                    let range = match dep.range.as_deref() {
                        Some(r) => VersionRange::parse(r).ok(),
                        None => VersionRange::parse("0.0.0").ok(),
                    };
                    let Some(range) = range else { continue };
                    let satisfied = |r: &VersionRow| {
                        r.package_id.eq_ignore_ascii_case(&dep_id)
                            && NuGetVersion::parse(&r.version).is_ok_and(|v| range.satisfies(&v))
                    };
                    if kept.iter().any(satisfied) {
                        continue;
                    }
                    let lowest = candidates
                        .iter()
                        .enumerate()
                        .filter(|(_, (r, _))| satisfied(r))
                        .min_by_key(|(_, (r, _))| NuGetVersion::parse(&r.version).ok())
                        .map(|(i, _)| i);
                    if let Some(i) = lowest {
                        let (saved, _) = candidates.remove(i);
                        kept_as_dependencies
                            .push(format!("{} {}", saved.package_id, saved.version));
                        kept.push(saved.clone());
                        pending.push(saved);
                    }
                }
            }
        }
        let mut steps: Vec<Planned> = candidates
            .into_iter()
            .filter_map(|(row, index)| {
                let rule = rules.get(index)?;
                Some(Planned {
                    id: row.package_id,
                    version: row.version,
                    action: rule.action,
                    rule: rule.rule.packages.clone(),
                })
            })
            .collect();
        steps.sort_by(|a, b| {
            (a.id.to_lowercase(), &a.version).cmp(&(b.id.to_lowercase(), &b.version))
        });
        kept_as_dependencies.sort();
        Ok(RetentionPlan {
            steps,
            kept_as_dependencies,
        })
    }

    /// Carries out `plan`: unlists, or deletes (tombstone first, in the transaction that
    /// removes the rows; the file after it). Returns how many steps were done.
    pub async fn apply_retention(&self, plan: &RetentionPlan) -> Result<usize, Error> {
        let mut done = 0;
        for step in &plan.steps {
            let id_lower = step.id.to_lowercase();
            let Ok(version) = NuGetVersion::parse(&step.version) else {
                continue;
            };
            match step.action {
                RetentionAction::Unlist => {
                    if self
                        .db
                        .set_listed(&id_lower, &version.lower(), false)
                        .await?
                    {
                        done += 1;
                    }
                }
                RetentionAction::Delete => {
                    let Some(row) = self.db.version(&id_lower, &version.lower()).await? else {
                        continue;
                    };
                    let content_hash = self.stored_content_hash(&row.blob_key).await?;
                    let deleted = self
                        .db
                        .delete_version(
                            &id_lower,
                            &version.lower(),
                            &content_hash,
                            self.clock.now().unix_micros(),
                        )
                        .await?;
                    if let Some(blob) = deleted {
                        self.forget_blob(&id_lower, &version.lower());
                        self.package_event("package.deleted", &step.id, &step.version)
                            .await;
                        if let Err(e) = self.blobs.delete(&blob).await {
                            tracing::warn!(blob = %blob, error = %e, "cannot delete a retired package file (collect-orphans removes it later)");
                        }
                        done += 1;
                    }
                }
            }
            self.audit(crate::audit::AuditEvent {
                actor: "retention",
                action: crate::audit::AuditAction::Retention,
                target: &format!("{} {}", step.id, step.version),
                outcome: crate::audit::AuditOutcome::Ok,
                client: None,
                detail: &format!("{:?} by the rule {}", step.action, step.rule),
            })
            .await;
        }
        Ok(done)
    }

    /// NuGet's content hash of a stored package file.
    async fn stored_content_hash(&self, blob_key: &str) -> Result<String, Error> {
        let Some(body) = self.blobs.get(blob_key).await? else {
            return Err(Error::NotFound(format!(
                "the package file {blob_key} is missing"
            )));
        };
        crate::tlog::content_hash_of_body(body).await
    }

    /// Refuses `id version` with `content_hash` when a deleted version with other content
    /// left its tombstone (a push, or a mirrored copy).
    pub(crate) async fn check_tombstone(
        &self,
        id: &str,
        version: &NuGetVersion,
        content_hash: impl AsyncFnOnce() -> Result<String, Error>,
    ) -> Result<(), Error> {
        let Some(deleted) = self
            .db
            .tombstone(&id.to_lowercase(), &version.lower())
            .await?
        else {
            return Ok(());
        };
        if content_hash().await? == deleted {
            return Ok(());
        }
        Err(Error::Conflict(format!(
            "{id} {} was deleted from this feed; it can come back only with the content it had \
             (a version is never reused for other bytes)",
            version.normalized()
        )))
    }
}
