//! The [`Registry`] services over `tlog::witnesses`: here, in the services layer, so that
//! `tlog::witnesses` stays below `registry`.

use crate::Error;
use crate::registry::Registry;
use crate::tlog::store::StoredCheckpoint;
use crate::tlog::tlog_err;
use crate::tlog::witnesses::{
    Known, PROOF_WAIT, Submitted, WitnessEndpoint, Witnesses, read_bounded,
};
use signet_tlog::{AddCheckpoint, Limits, MemoryHashes, Note};
use std::time::Duration;
use tokio::time::Instant;

impl Registry {
    /// Asks witnesses for cosignatures of the log's checkpoints.
    pub fn with_witnesses(mut self, witnesses: Witnesses) -> Self {
        if !witnesses.endpoints.is_empty() {
            self.witnesses = Some(std::sync::Arc::new(witnesses));
        }
        self
    }

    /// The newest checkpoint with the cosignature lines stored for it.
    pub async fn tlog_latest_cosigned(&self) -> Result<Option<StoredCheckpoint>, Error> {
        let Some(mut cp) = self.db.tlog_latest_checkpoint().await? else {
            return Ok(None);
        };
        for (_, line) in self.db.tlog_cosignatures(cp.size).await? {
            cp.note.push_str(&line);
        }
        Ok(Some(cp))
    }

    /// The RFC 6962 consistency proof between two sizes (the larger one checkpointed).
    pub(crate) async fn tlog_consistency(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<signet_tlog::Hash>, Error> {
        let needed = signet_tlog::hashes_needed(|s| signet_tlog::consistency_proof(s, old, new))
            .map_err(tlog_err)?;
        let mut hashes = MemoryHashes::new();
        self.db.tlog_load_hashes(&needed, &mut hashes).await?;
        signet_tlog::consistency_proof(&hashes, old, new).map_err(tlog_err)
    }

    /// Asks every witness that has not cosigned the newest checkpoint (and is not backing off
    /// after failures) for its cosignature, all at once; returns how many cosignatures the
    /// newest checkpoint has now. Failures of witnesses are logged, not returned.
    pub async fn tlog_collect_cosignatures(&self) -> Result<usize, Error> {
        self.collect_cosignatures().await
    }

    /// Waits at most [`PROOF_WAIT`] for cosignatures of the checkpoint of `size` by the
    /// witnesses that can be asked now, having woken the collector; returns the lines there
    /// are then. Never contacts a witness itself: a slow or dead witness costs a proof request
    /// this wait at most, and only while it is not backing off.
    pub(crate) async fn tlog_wait_for_cosignatures(
        &self,
        size: u64,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut lines = self.db.tlog_cosignatures(size).await?;
        let Some(ws) = self.witnesses.clone() else {
            return Ok(lines);
        };
        if ws.askable(&lines) == 0 {
            return Ok(lines);
        }
        ws.wake.notify_one();
        let deadline = Instant::now() + PROOF_WAIT;
        while Instant::now() < deadline && ws.askable(&lines) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            lines = self.db.tlog_cosignatures(size).await?;
        }
        Ok(lines)
    }

    async fn collect_cosignatures(&self) -> Result<usize, Error> {
        let Some(ws) = self.witnesses.clone() else {
            return Ok(0);
        };
        let _one = ws.running.lock().await;
        let Some(latest) = self.db.tlog_latest_checkpoint().await? else {
            return Ok(0);
        };
        let have = self.db.tlog_cosignatures(latest.size).await?;
        let now = Instant::now();
        let asks = ws.endpoints.iter().enumerate().filter(|(i, e)| {
            let key = e.key.to_string();
            !have.iter().any(|(k, _)| *k == key) && ws.known(*i).retry_at.is_none_or(|t| t <= now)
        });
        let results =
            futures_util::future::join_all(asks.map(|(i, e)| self.ask_witness(&ws, i, e, &latest)))
                .await;
        let mut count = have.len();
        for r in results {
            match r {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    /// One witness: a request, and once more after a 409. `Ok(true)` when a cosignature was
    /// stored; `Err` only for the server's own failures (the database).
    async fn ask_witness(
        &self,
        ws: &Witnesses,
        i: usize,
        e: &WitnessEndpoint,
        cp: &StoredCheckpoint,
    ) -> Result<bool, Error> {
        for attempt in 0..2 {
            let old = ws.known(i).size;
            if old > cp.size {
                tracing::warn!(witness = %e.name, witness_size = old, size = cp.size, "the witness cosigned a larger tree of this log than the log has: not asking it");
                ws.failed(i);
                return Ok(false);
            }
            let proof = self.tlog_consistency(old, cp.size).await?;
            let body = AddCheckpoint {
                old,
                proof,
                checkpoint: cp.note.clone().into_bytes(),
            }
            .to_bytes();
            match self.submit(ws, e, cp, body).await {
                Ok(Submitted::Cosigned(line)) => {
                    self.db
                        .tlog_store_cosignature(
                            cp.size,
                            &e.key.to_string(),
                            &line,
                            self.clock.now().unix_micros(),
                        )
                        .await?;
                    ws.set_known(i, |k| {
                        *k = Known {
                            size: cp.size,
                            ..Known::default()
                        }
                    });
                    tracing::debug!(witness = %e.name, size = cp.size, "cosigned");
                    return Ok(true);
                }
                Ok(Submitted::Conflict(size)) => {
                    ws.set_known(i, |k| k.size = size);
                    if attempt == 0 {
                        continue;
                    }
                    tracing::warn!(witness = %e.name, witness_size = size, "the witness answered 409 twice");
                }
                Err(msg) => {
                    tracing::warn!(witness = %e.name, size = cp.size, error = %msg, "no cosignature from the witness");
                }
            }
            break;
        }
        ws.failed(i);
        Ok(false)
    }

    async fn submit(
        &self,
        ws: &Witnesses,
        e: &WitnessEndpoint,
        cp: &StoredCheckpoint,
        body: Vec<u8>,
    ) -> Result<Submitted, String> {
        let resp = ws
            .client
            .post(format!("{}/add-checkpoint", e.url))
            .body(body)
            .send()
            .await
            .map_err(|err| format!("request failed: {err}"))?;
        let status = resp.status().as_u16();
        let text = read_bounded(resp).await?;
        let text = String::from_utf8(text).map_err(|_| "the answer is not UTF-8".to_owned())?;
        match status {
            200 => {
                let mut combined = cp.note.clone();
                combined.push_str(&text);
                let note = Note::parse(combined.as_bytes(), &Limits::default())
                    .map_err(|err| format!("the answer is not signature lines: {err}"))?;
                e.key
                    .verify(&note)
                    .map_err(|err| format!("the cosignature does not verify: {err}"))?;
                let line = note
                    .signatures
                    .iter()
                    .find(|s| s.name == e.key.name() && s.id == e.key.id())
                    .map(signet_tlog::NoteSignature::to_line)
                    .ok_or("no cosignature by the configured key")?;
                Ok(Submitted::Cosigned(line))
            }
            409 => text
                .strip_suffix('\n')
                .and_then(|s| s.parse::<u64>().ok())
                .map(Submitted::Conflict)
                .ok_or_else(|| {
                    format!(
                        "409 without a size: {:?}",
                        text.chars().take(80).collect::<String>()
                    )
                }),
            s => Err(format!(
                "HTTP {s}: {}",
                text.trim().chars().take(200).collect::<String>()
            )),
        }
    }
}
