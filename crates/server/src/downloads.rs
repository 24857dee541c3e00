//! Download counts: `downloads` per version and `totalDownloads` per package in search results
//! (`../shared/spec/nuget-server.md` §6.5). A flat-container download only bumps a counter in
//! memory; [`Registry::flush_downloads`] adds the counts to the `download_counts` table, from
//! a background task every few seconds and at shutdown (`http::serve`), so a download never
//! waits on a database write. Several servers behind one database add up: the flush adds to
//! the stored count instead of overwriting it. Counts reach the documents after a flush.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use sqlx::Row as _;

use crate::Error;
use crate::db::Db;

/// The table, created with the rest of the schema (`Db::connect`).
pub(crate) const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS download_counts (
        package_version_id BIGINT PRIMARY KEY REFERENCES package_versions(id),
        count BIGINT NOT NULL)"];

/// Downloads not yet written to the database: (id lower, version lower) → count. Bounded by
/// the number of versions that exist, since only found files are counted.
#[derive(Debug, Default)]
pub(crate) struct PendingDownloads {
    counts: Mutex<HashMap<(String, String), i64>>,
}

impl PendingDownloads {
    pub(crate) fn record(&self, id_lower: String, version_lower: String) {
        if let Ok(mut m) = self.counts.lock() {
            let n = m.entry((id_lower, version_lower)).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// Everything pending, in key order (so that concurrent flushes from several servers
    /// touch rows in one order and cannot deadlock each other on PostgreSQL).
    pub(crate) fn take(&self) -> BTreeMap<(String, String), i64> {
        self.counts
            .lock()
            .map(|mut m| std::mem::take(&mut *m).into_iter().collect())
            .unwrap_or_default()
    }

    /// Puts back counts whose flush failed, to be written by the next one.
    pub(crate) fn restore(&self, counts: BTreeMap<(String, String), i64>) {
        if let Ok(mut m) = self.counts.lock() {
            for (key, n) in counts {
                let total = m.entry(key).or_insert(0);
                *total = total.saturating_add(n);
            }
        }
    }
}

/// One package's stored download counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadCounts {
    /// Normalised version, lower case → downloads.
    pub by_version: HashMap<String, i64>,
    /// All versions together, unlisted ones included (as `totalDownloads` counts them).
    pub total: i64,
}

impl DownloadCounts {
    /// Downloads of one version (`version_lower`: normalised, lower case).
    pub fn version(&self, version_lower: &str) -> i64 {
        self.by_version.get(version_lower).copied().unwrap_or(0)
    }
}

impl Db {
    /// Adds `counts` to the stored ones, in one transaction (all or nothing, so that a failed
    /// flush can be retried without counting twice). Versions that no longer exist are
    /// skipped.
    pub(crate) async fn add_downloads(
        &self,
        counts: &BTreeMap<(String, String), i64>,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        for ((id_lower, version_lower), n) in counts {
            // SQLite needs the WHERE clause here: without it, `ON CONFLICT` would parse as a
            // join constraint of the SELECT.
            sqlx::query(
                "INSERT INTO download_counts (package_version_id, count) \
                 SELECT v.id, $3 FROM package_versions v JOIN packages p ON p.id = v.package_id \
                 WHERE p.id_lower = $1 AND v.version_lower = $2 \
                 ON CONFLICT (package_version_id) \
                 DO UPDATE SET count = download_counts.count + excluded.count",
            )
            .bind(id_lower)
            .bind(version_lower)
            .bind(*n)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored counts of one package.
    pub(crate) async fn download_counts(&self, id_lower: &str) -> Result<DownloadCounts, Error> {
        let rows = sqlx::query(
            "SELECT v.version_lower, d.count FROM download_counts d \
             JOIN package_versions v ON v.id = d.package_version_id \
             JOIN packages p ON p.id = v.package_id WHERE p.id_lower = $1",
        )
        .bind(id_lower)
        .fetch_all(&self.pool)
        .await?;
        let mut out = DownloadCounts::default();
        for row in rows {
            let version: String = row.try_get("version_lower")?;
            let n: i64 = row.try_get("count")?;
            out.total = out.total.saturating_add(n);
            out.by_version.insert(version, n);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_are_taken_once_and_restored_on_failure() {
        let p = PendingDownloads::default();
        p.record("a".into(), "1.0.0".into());
        p.record("a".into(), "1.0.0".into());
        p.record("b".into(), "2.0.0".into());
        let taken = p.take();
        assert_eq!(taken.get(&("a".into(), "1.0.0".into())), Some(&2));
        assert_eq!(taken.len(), 2);
        assert!(p.take().is_empty());
        p.record("a".into(), "1.0.0".into());
        p.restore(taken);
        let again = p.take();
        assert_eq!(again.get(&("a".into(), "1.0.0".into())), Some(&3));
        assert_eq!(again.get(&("b".into(), "2.0.0".into())), Some(&1));
    }
}
