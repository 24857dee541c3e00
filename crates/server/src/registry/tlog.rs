//! The [`Registry`] services over `tlog`: here, in the services layer, so that
//! `tlog` stays below `registry`.

use crate::Error;
use crate::registry::Registry;
use crate::tlog::{
    BLOB_PREFIX, CheckpointOutcome, LogKey, MAX_STEP, StoredCheckpoint, content_hash_of_body,
    entry_for, tlog_err,
};
use signet_tlog::{Checkpoint, MemoryHashes, TileId, TileKind, TlogProof};
use std::sync::Arc;

impl Registry {
    /// Turns the log's checkpoints on with this key.
    pub fn with_transparency_log(mut self, key: LogKey) -> Self {
        self.tlog = Some(Arc::new(key));
        self
    }

    /// The log key, when checkpoints are on.
    pub fn transparency_log(&self) -> Option<&LogKey> {
        self.tlog.as_deref()
    }

    /// Appends every version that has no entry yet (versions stored before the log existed),
    /// oldest first, in batches; each append is its own transaction. Returns how many.
    pub async fn tlog_backfill(&self) -> Result<u64, Error> {
        let mut n = 0u64;
        loop {
            let batch = self.db.tlog_unlogged_versions(256).await?;
            if batch.is_empty() {
                return Ok(n);
            }
            for v in batch {
                let content_hash = self.blob_content_hash(&v.blob_key).await?;
                let entry = entry_for(
                    &v.id_lower,
                    &v.version_lower,
                    &content_hash,
                    v.author.as_deref(),
                    v.repository.as_deref(),
                    v.published_at,
                )?;
                if self.db.tlog_append_backfill(v.version_row, &entry).await? {
                    n += 1;
                }
            }
        }
    }

    async fn blob_content_hash(&self, key: &str) -> Result<String, Error> {
        let body = self
            .blobs
            .get(key)
            .await?
            .ok_or_else(|| Error::NotFound(format!("package file {key} is missing")))?;
        content_hash_of_body(body).await
    }

    /// One checkpoint step: when entries were appended since the newest checkpoint, writes
    /// the tiles and entry bundles of the new size to the blob store, proves the new tree
    /// consistent with the newest checkpoint, signs and stores the checkpoint.
    pub async fn tlog_checkpoint(&self) -> Result<CheckpointOutcome, Error> {
        let key = self
            .tlog
            .as_ref()
            .ok_or_else(|| Error::Config("the transparency log has no key".into()))?;
        let latest = self.db.tlog_latest_checkpoint().await?;
        let old = latest.as_ref().map_or(0, |c| c.size);
        let size = self.db.tlog_size().await?;
        if latest.is_some() && size <= old {
            return Ok(CheckpointOutcome::UpToDate(old));
        }
        let new = size.min(old.saturating_add(MAX_STEP));
        let needed = signet_tlog::hashes_needed(|s| {
            signet_tlog::grow(s, old, new)?;
            signet_tlog::consistency_proof(s, old, new)
        })
        .map_err(tlog_err)?;
        let mut hashes = MemoryHashes::new();
        self.db.tlog_load_hashes(&needed, &mut hashes).await?;
        let growth = signet_tlog::grow(&hashes, old, new).map_err(tlog_err)?;
        for (l, i, h) in &growth.hashes {
            hashes.insert(*l, *i, *h);
        }
        if let Some(prev) = &latest {
            let proof = signet_tlog::consistency_proof(&hashes, old, new).map_err(tlog_err)?;
            if let Err(e) =
                signet_tlog::verify_consistency(old, new, &proof, &prev.root, &growth.root)
            {
                tracing::error!(error = %e, old, new, "the log's entries do not extend its newest checkpoint: not signing");
                return Err(tlog_err(e));
            }
        }
        for (id, tile) in &growth.tiles {
            self.put_tile(id, &signet_tlog::tile_bytes(tile)).await?;
        }
        for id in &growth.bundles {
            let entries = self
                .db
                .tlog_entries(id.index * signet_tlog::TILE_WIDTH, u64::from(id.width))
                .await?;
            let bundle =
                signet_tlog::encode_bundle(entries.iter().map(Vec::as_slice)).map_err(tlog_err)?;
            self.put_tile(id, &bundle).await?;
        }
        let cp = Checkpoint {
            origin: key.origin().to_owned(),
            size: new,
            root: growth.root,
            extensions: Vec::new(),
        }
        .sign(key.signer.as_ref())
        .map_err(tlog_err)?;
        let stored = StoredCheckpoint {
            size: new,
            root: growth.root,
            note: cp.to_text(),
        };
        self.db
            .tlog_store_checkpoint(&growth.hashes, &stored, self.clock.now().unix_micros())
            .await?;
        Ok(CheckpointOutcome::Signed(new))
    }

    async fn put_tile(&self, id: &TileId, bytes: &[u8]) -> Result<(), Error> {
        let tmp = self.new_upload()?;
        std::fs::write(tmp.path(), bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io("write a tile", e))?;
        self.blobs
            .put_file(&format!("{BLOB_PREFIX}{}", id.path()), tmp.path())
            .await
    }

    /// The newest signed checkpoint.
    pub async fn tlog_latest(&self) -> Result<Option<StoredCheckpoint>, Error> {
        self.db.tlog_latest_checkpoint().await
    }

    /// A tile or entry bundle, by its tlog-tiles path (`tile/…`).
    pub async fn tlog_tile(&self, path: &str) -> Result<Option<crate::BlobBody>, Error> {
        let id = TileId::parse(path).map_err(|e| Error::NotFound(e.to_string()))?;
        if let TileKind::Hashes(l) = id.kind
            && l > 7
        {
            return Ok(None);
        }
        self.blobs.get(&format!("{BLOB_PREFIX}{}", id.path())).await
    }

    /// The tlog-proof of a version under the newest checkpoint, with the entry as `extra`.
    /// `None` when the version is unknown; `Err(NotFound)` while no checkpoint covers it yet.
    pub async fn tlog_proof(&self, id: &str, version: &str) -> Result<Option<String>, Error> {
        let Some((index, entry)) = self
            .db
            .tlog_entry_of(&id.to_lowercase(), &version.to_lowercase())
            .await?
        else {
            return Ok(None);
        };
        let mut cp = self
            .db
            .tlog_latest_checkpoint()
            .await?
            .filter(|c| c.size > index);
        if cp.is_none() && self.tlog.is_some() {
            // Appended since the last checkpoint (a push or a mirror fetch a moment ago): sign
            // one now rather than make the client wait for the next tick. Safe to run beside
            // the checkpointer: a step signs what the entries fix, and stores once.
            self.tlog_checkpoint().await?;
            cp = self
                .db
                .tlog_latest_checkpoint()
                .await?
                .filter(|c| c.size > index);
        }
        let mut cp = cp.ok_or_else(|| {
            Error::NotFound(
                "the version is not in a signed checkpoint yet: retry in a few seconds".into(),
            )
        })?;
        // The newest checkpoint may still be waiting for its witnesses: the collector is
        // woken and given a moment (bounded; those backing off after failures are not waited
        // for), rather than the proof served without.
        let mut lines = self.tlog_wait_for_cosignatures(cp.size).await?;
        // The checkpoint with the most cosignatures of the two that matter: the newest, and
        // the newest cosigned one.
        if let Some(s) = self.db.tlog_newest_cosigned().await?
            && s > index
            && s != cp.size
        {
            let other = self.db.tlog_cosignatures(s).await?;
            if other.len() > lines.len()
                && let Some(c) = self.db.tlog_checkpoint_at(s).await?
            {
                cp = c;
                lines = other;
            }
        }
        for (_, line) in &lines {
            cp.note.push_str(line);
        }
        let needed =
            signet_tlog::hashes_needed(|s| signet_tlog::inclusion_proof(s, index, cp.size))
                .map_err(tlog_err)?;
        let mut hashes = MemoryHashes::new();
        self.db.tlog_load_hashes(&needed, &mut hashes).await?;
        let proof = signet_tlog::inclusion_proof(&hashes, index, cp.size).map_err(tlog_err)?;
        // Check before serving: a proof that does not verify is a server bug, not a 200.
        signet_tlog::verify_inclusion(
            &signet_tlog::leaf_hash(&entry),
            index,
            cp.size,
            &proof,
            &cp.root,
        )
        .map_err(tlog_err)?;
        Ok(Some(
            TlogProof {
                extra: Some(entry),
                index,
                proof,
                checkpoint: cp.note,
            }
            .to_text(),
        ))
    }
}

impl crate::tlog::LogWork for Registry {
    fn checkpoint_step(&self) -> impl Future<Output = Result<CheckpointOutcome, Error>> + Send {
        self.tlog_checkpoint()
    }

    fn log_size(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        self.db.tlog_size()
    }

    fn log_witnesses(&self) -> Option<&crate::tlog::witnesses::Witnesses> {
        self.witnesses.as_deref()
    }

    fn collect_cosignatures_step(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        self.tlog_collect_cosignatures()
    }
}
