//! The [`Registry`] services over `retention`: here, in the services layer, so that
//! `retention` stays below `registry`.

use crate::Error;
use crate::db::VersionRow;
use crate::registry::Registry;
use crate::retention::{Planned, RetentionAction, RetentionPlan, RetentionRule, parse_rules};
use signet_feed::{NuGetVersion, VersionRange};
use std::collections::BTreeMap;

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
