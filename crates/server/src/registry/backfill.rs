//! The [`Registry`] services over `signing::backfill`: here, in the services layer, so that
//! `signing::backfill` stays below `registry`.

use crate::Error;
use crate::blob::BlobBody;
use crate::clock::random_hex;
use crate::registry::Registry;
use crate::signing::backfill::{BATCH, BackfillProgress, One, author_part};
use futures_util::StreamExt as _;
use std::sync::Arc;
use tokio::io::AsyncWriteExt as _;

impl Registry {
    /// How many stored versions lack the current repository signature (`None`: repository
    /// signing is off).
    pub async fn backfill_remaining(&self) -> Result<Option<u64>, Error> {
        let Some(repo) = &self.signing.repository else {
            return Ok(None);
        };
        let n = self
            .db
            .count_needing_signature(&repo.certificate().fingerprint)
            .await?;
        Ok(Some(u64::try_from(n).unwrap_or_default()))
    }

    /// Repository-signs every version that lacks the current repository signature,
    /// `parallel` at a time, reporting progress after each. Refused when repository signing
    /// is off.
    pub async fn backfill(
        &self,
        parallel: usize,
        progress: &(dyn Fn(&BackfillProgress) + Sync),
    ) -> Result<BackfillProgress, Error> {
        let Some(repo) = &self.signing.repository else {
            return Err(Error::Config(
                "repository signing is off ([signing] repository_signing = false)".into(),
            ));
        };
        let fingerprint = repo.certificate().fingerprint.clone();
        let mut state = BackfillProgress {
            total: self.backfill_remaining().await?.unwrap_or_default(),
            ..BackfillProgress::default()
        };
        progress(&state);
        let mut after = 0i64;
        loop {
            let batch = self
                .db
                .versions_needing_signature(&fingerprint, after, BATCH)
                .await?;
            let Some(last) = batch.last() else { break };
            after = last.0;
            let mut results = futures_util::stream::iter(batch)
                .map(|(row, id_lower, version_lower, blob_key)| async move {
                    let r = self
                        .backfill_one(row, &id_lower, &version_lower, &blob_key)
                        .await;
                    (id_lower, version_lower, r)
                })
                .buffer_unordered(parallel.max(1));
            while let Some((id, version, r)) = results.next().await {
                match r {
                    Ok(One::Signed) => state.signed += 1,
                    Ok(One::Skipped) => state.skipped += 1,
                    Err(e) => {
                        tracing::warn!(%id, %version, error = %e, "backfill: cannot sign");
                        state.failed += 1;
                    }
                }
                progress(&state);
            }
        }
        Ok(state)
    }

    async fn backfill_one(
        &self,
        row: i64,
        id_lower: &str,
        version_lower: &str,
        blob_key: &str,
    ) -> Result<One, Error> {
        let Some(repo) = &self.signing.repository else {
            return Ok(One::Skipped);
        };
        let Some(body) = self.blobs.get(blob_key).await? else {
            return Err(Error::NotFound(format!(
                "the file of {id_lower} {version_lower} is missing"
            )));
        };
        let local = self.new_upload()?;
        let mut out = tokio::fs::File::from_std(
            local
                .as_file()
                .try_clone()
                .map_err(|e| Error::io("open a backfill file", e))?,
        );
        match body {
            BlobBody::Bytes(b) => out
                .write_all(&b)
                .await
                .map_err(|e| Error::io("write a backfill file", e))?,
            BlobBody::File { mut file, .. } => {
                tokio::io::copy(&mut file, &mut out)
                    .await
                    .map_err(|e| Error::io("copy a backfill file", e))?;
            }
            BlobBody::Stream { mut stream, .. } => {
                while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                    let chunk = chunk.map_err(|e| Error::io("read a blob", e))?;
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| Error::io("write a backfill file", e))?;
                }
            }
        }
        out.flush()
            .await
            .map_err(|e| Error::io("write a backfill file", e))?;
        drop(out);
        let existing = self.db.version_signature(id_lower, version_lower).await?;
        let owners = self.owners(id_lower).await?;
        let now = self.clock.now();
        let limits = self.limits;
        let dir = self.upload_dir.clone();
        let path = local.path().to_path_buf();
        // Signing is CPU work (RSA, hashing): off the runtime. The signer is shared.
        let setup = Arc::clone(&self.signing);
        let (signed, author) = tokio::task::spawn_blocking(move || {
            let repo = setup
                .repository
                .as_ref()
                .ok_or_else(|| Error::Config("repository signing is off".into()))?;
            let (signed, _) = repo.resign_stored(&path, &dir, &owners, now, &limits)?;
            let author = author_part(&path, &limits);
            Ok::<_, Error>((signed, author))
        })
        .await
        .map_err(|e| Error::io("signing task", std::io::Error::other(e)))??;
        let size = signed
            .as_file()
            .metadata()
            .map_err(|e| Error::io("read the signed file", e))?
            .len();
        let new_key = format!(
            "packages/{id_lower}/{version_lower}/{}.nupkg",
            random_hex(self.rng.as_ref(), 16)?
        );
        self.blobs.put_file(&new_key, signed.path()).await?;
        let mut signature = existing.unwrap_or(author);
        signature.repository_fingerprint = Some(repo.certificate().fingerprint.clone());
        signature.repository_signed_at = Some(now.unix_micros());
        let swapped = self
            .db
            .replace_signed_blob(
                row,
                blob_key,
                &new_key,
                i64::try_from(size).unwrap_or(i64::MAX),
                &signature,
            )
            .await;
        match swapped {
            Ok(true) => {
                if let Err(e) = self.blobs.delete(blob_key).await {
                    tracing::warn!(blob = %blob_key, error = %e, "backfill: cannot delete the old file");
                }
                self.forget_blob(id_lower, version_lower);
                Ok(One::Signed)
            }
            other => {
                let _ = self.blobs.delete(&new_key).await;
                other.map(|_| One::Skipped)
            }
        }
    }
}
