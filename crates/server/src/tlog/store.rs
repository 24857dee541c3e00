//! The transparency log's tables and queries.
//!
//! - `tlog_state`: one row (`id = 1`) holding the log's size. Every append updates it first,
//!   so appends take turns: a row lock on PostgreSQL (held to the commit, across replicas),
//!   the database write lock on SQLite. Indexes are therefore dense and never reused.
//! - `tlog_entries`: entry `idx` of the log, its bytes and leaf hash, and the version row it
//!   logs (one entry per version, ever).
//! - `tlog_hashes`: the complete subtree hashes at tile levels ≥ 1 (level `L`, index `i` =
//!   MTH of leaves `i·256^L .. (i+1)·256^L`), written by the checkpointer.
//! - `tlog_checkpoints`: every signed checkpoint, by size.
//! - `tlog_cosignatures`: witnesses' cosignature lines, by checkpoint size and witness key
//!   (only lines that verified under the configured witness key are stored).

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::Error;
use crate::db::Db;
use signet_tlog::{Hash, MemoryHashes};

pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tlog_state (
        id BIGINT PRIMARY KEY,
        size BIGINT NOT NULL)",
    "INSERT INTO tlog_state (id, size) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS tlog_entries (
        idx BIGINT PRIMARY KEY,
        version_id BIGINT NOT NULL UNIQUE,
        entry {BLOB} NOT NULL,
        leaf_hash {BLOB} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tlog_hashes (
        level BIGINT NOT NULL,
        idx BIGINT NOT NULL,
        hash {BLOB} NOT NULL,
        PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS tlog_checkpoints (
        size BIGINT PRIMARY KEY,
        root {BLOB} NOT NULL,
        note TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tlog_cosignatures (
        size BIGINT NOT NULL,
        witness TEXT NOT NULL,
        line TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (size, witness))",
];

fn u64_of(v: i64) -> Result<u64, Error> {
    u64::try_from(v)
        .map_err(|_| Error::Crypto("transparency log: negative size in the database".into()))
}

fn i64_of(v: u64) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::Crypto("transparency log: size beyond 2^63".into()))
}

fn hash_of(row: &AnyRow, col: &str) -> Result<Hash, Error> {
    let b: Vec<u8> = row.try_get(col)?;
    Hash::from_slice(&b)
        .ok_or_else(|| Error::Crypto("transparency log: a stored hash is not 32 bytes".into()))
}

/// Appends `entry` for `version_id` inside the transaction that makes the version visible;
/// returns its index.
pub(crate) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    version_id: i64,
    entry: &[u8],
) -> Result<u64, Error> {
    let row = sqlx::query("UPDATE tlog_state SET size = size + 1 WHERE id = 1 RETURNING size")
        .fetch_one(&mut **tx)
        .await?;
    let size: i64 = row.try_get("size")?;
    let idx = size - 1;
    sqlx::query(
        "INSERT INTO tlog_entries (idx, version_id, entry, leaf_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(idx)
    .bind(version_id)
    .bind(entry.to_vec())
    .bind(signet_tlog::leaf_hash(entry).0.to_vec())
    .execute(&mut **tx)
    .await?;
    u64_of(idx)
}

/// A stored checkpoint.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note.
    pub note: String,
}

impl Db {
    /// The log's size: entries committed.
    pub async fn tlog_size(&self) -> Result<u64, Error> {
        let row = sqlx::query("SELECT size FROM tlog_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        u64_of(row.try_get("size")?)
    }

    /// The newest checkpoint, if any.
    pub async fn tlog_latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let row =
            sqlx::query("SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(StoredCheckpoint {
                size: u64_of(r.try_get("size")?)?,
                root: hash_of(&r, "root")?,
                note: r.try_get("note")?,
            })
        })
        .transpose()
    }

    /// The checkpoint of exactly `size`, if one was signed.
    pub(crate) async fn tlog_checkpoint_at(
        &self,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, Error> {
        let row = sqlx::query("SELECT size, root, note FROM tlog_checkpoints WHERE size = $1")
            .bind(i64_of(size)?)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(StoredCheckpoint {
                size: u64_of(r.try_get("size")?)?,
                root: hash_of(&r, "root")?,
                note: r.try_get("note")?,
            })
        })
        .transpose()
    }

    /// The cosignature lines of the checkpoint of `size`: (witness key, line), by key.
    pub(crate) async fn tlog_cosignatures(
        &self,
        size: u64,
    ) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT witness, line FROM tlog_cosignatures WHERE size = $1 ORDER BY witness",
        )
        .bind(i64_of(size)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("witness")?, r.try_get("line")?)))
            .collect()
    }

    /// The largest checkpoint size with a cosignature.
    pub(crate) async fn tlog_newest_cosigned(&self) -> Result<Option<u64>, Error> {
        let row = sqlx::query("SELECT MAX(size) AS size FROM tlog_cosignatures")
            .fetch_one(&self.pool)
            .await?;
        let size: Option<i64> = row.try_get("size")?;
        size.map(u64_of).transpose()
    }

    /// Stores a witness's cosignature line (a second one for the same size is ignored).
    pub(crate) async fn tlog_store_cosignature(
        &self,
        size: u64,
        witness: &str,
        line: &str,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO tlog_cosignatures (size, witness, line, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size, witness) DO NOTHING",
        )
        .bind(i64_of(size)?)
        .bind(witness)
        .bind(line)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Loads the hashes of the given (level, start, count) ranges that are stored (level 0
    /// from the entries, levels ≥ 1 from `tlog_hashes`); ranges are merged per level first.
    pub(crate) async fn tlog_load_hashes(
        &self,
        ranges: &[(u8, u64, u64)],
        into: &mut MemoryHashes,
    ) -> Result<(), Error> {
        // Merge touching ranges, per level (they come sorted).
        let mut merged: Vec<(u8, u64, u64)> = Vec::new();
        for &(l, s, c) in ranges {
            match merged.last_mut() {
                Some((ml, ms, mc)) if *ml == l && *ms + *mc >= s => {
                    *mc = (*mc).max(s + c - *ms);
                }
                _ => merged.push((l, s, c)),
            }
        }
        for (level, start, count) in merged {
            let (lo, hi) = (i64_of(start)?, i64_of(start.saturating_add(count))?);
            let rows = if level == 0 {
                sqlx::query(
                    "SELECT idx, leaf_hash AS hash FROM tlog_entries WHERE idx >= $1 AND idx < $2",
                )
                .bind(lo)
                .bind(hi)
                .fetch_all(&self.pool)
                .await?
            } else {
                sqlx::query(
                    "SELECT idx, hash FROM tlog_hashes WHERE level = $1 AND idx >= $2 AND idx < $3",
                )
                .bind(i64::from(level))
                .bind(lo)
                .bind(hi)
                .fetch_all(&self.pool)
                .await?
            };
            for r in rows {
                into.insert(level, u64_of(r.try_get("idx")?)?, hash_of(&r, "hash")?);
            }
        }
        Ok(())
    }

    /// Entries `start .. start + count`, in order.
    pub(crate) async fn tlog_entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, Error> {
        let rows =
            sqlx::query("SELECT entry FROM tlog_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(i64_of(start)?)
                .bind(i64_of(start.saturating_add(count))?)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<Vec<u8>, _>("entry")?))
            .collect()
    }

    /// Stores new level ≥ 1 hashes and the checkpoint, in one transaction. A checkpoint of the
    /// same size stored meanwhile by another server is kept (Ed25519 is deterministic: it is
    /// the same note).
    pub(crate) async fn tlog_store_checkpoint(
        &self,
        hashes: &[(u8, u64, Hash)],
        checkpoint: &StoredCheckpoint,
        now: i64,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        for (level, idx, h) in hashes {
            sqlx::query("INSERT INTO tlog_hashes (level, idx, hash) VALUES ($1, $2, $3) ON CONFLICT (level, idx) DO NOTHING")
                .bind(i64::from(*level))
                .bind(i64_of(*idx)?)
                .bind(h.0.to_vec())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO tlog_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .bind(i64_of(checkpoint.size)?)
            .bind(checkpoint.root.0.to_vec())
            .bind(&checkpoint.note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The log index and entry of a version, by id and version (lower case).
    pub async fn tlog_entry_of(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<(u64, Vec<u8>)>, Error> {
        let row = sqlx::query(
            "SELECT e.idx, e.entry FROM tlog_entries e JOIN package_versions v ON v.id = e.version_id \
             JOIN packages p ON p.id = v.package_id WHERE p.id_lower = $1 AND v.version_lower = $2",
        )
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((u64_of(r.try_get("idx")?)?, r.try_get("entry")?)))
            .transpose()
    }

    /// Versions not in the log yet (the backfill at upgrade), oldest first: (row id, id,
    /// version, blob key, author fingerprint, repository fingerprint, published µs).
    pub(crate) async fn tlog_unlogged_versions(&self, limit: i64) -> Result<Vec<Unlogged>, Error> {
        let rows = sqlx::query(
            "SELECT v.id, p.id_lower, v.version_lower, v.blob_key, v.published_at, \
             s.author_fingerprint, s.repository_fingerprint FROM package_versions v \
             JOIN packages p ON p.id = v.package_id \
             LEFT JOIN version_signatures s ON s.version_id = v.id \
             WHERE NOT EXISTS (SELECT 1 FROM tlog_entries e WHERE e.version_id = v.id) \
             ORDER BY v.published_at, v.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Unlogged {
                    version_row: r.try_get("id")?,
                    id_lower: r.try_get("id_lower")?,
                    version_lower: r.try_get("version_lower")?,
                    blob_key: r.try_get("blob_key")?,
                    published_at: r.try_get("published_at")?,
                    author: r.try_get("author_fingerprint")?,
                    repository: r.try_get("repository_fingerprint")?,
                })
            })
            .collect()
    }

    /// Benchmark only (`examples/serve_bench.rs tlog`): one transaction that appends an
    /// entry for a version row that does not exist, exactly as the push transaction appends.
    #[doc(hidden)]
    pub async fn tlog_append_for_benchmark(
        &self,
        version_row: i64,
        entry: &[u8],
    ) -> Result<u64, Error> {
        let mut tx = self.pool.begin().await?;
        let i = append(&mut tx, version_row, entry).await?;
        tx.commit().await?;
        Ok(i)
    }

    /// Appends a backfilled entry in its own transaction (a version logged meanwhile by
    /// another server is skipped: `version_id` is unique, and the transaction rolls back).
    pub(crate) async fn tlog_append_backfill(
        &self,
        version_row: i64,
        entry: &[u8],
    ) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        // Write first (SQLite takes the write lock now), then check.
        let r = append(&mut tx, version_row, entry).await;
        match r {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            Err(Error::Database(e))
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// A version that has no log entry yet.
#[derive(Clone, Debug)]
pub(crate) struct Unlogged {
    pub version_row: i64,
    pub id_lower: String,
    pub version_lower: String,
    pub blob_key: String,
    pub published_at: i64,
    pub author: Option<String>,
    pub repository: Option<String>,
}
