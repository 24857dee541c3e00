//! Cosignatures of the log's checkpoints, from the witnesses `[transparency_log] witnesses`
//! names (the log's side of c2sp.org/tlog-witness).
//!
//! After a checkpoint is signed, each witness that has not cosigned the newest checkpoint
//! gets `POST <url>/add-checkpoint` with the consistency proof from the size it cosigned last
//! (as far as this server knows: 0 after a start; a 409 answer names the witness's size, and
//! the request is sent once more from there). A cosignature is kept only when it verifies
//! under the witness key configured for it. `/tlog/checkpoint` and the proofs serve the
//! checkpoint with the cosignatures it has: a witness that is down, slow or refusing never
//! holds the log back (requests are bounded by a timeout and a response size, and a failing
//! witness is asked again after a back-off of up to a minute).

use std::time::Duration;

use signet_tlog::{AddCheckpoint, CosignatureVerifier, Limits, MemoryHashes, Note};
use tokio::time::Instant;

use super::store::StoredCheckpoint;
use super::tlog_err;
use crate::Error;
use crate::registry::Registry;

/// Largest witness response read.
const MAX_RESPONSE: usize = 16 * 1024;

/// Longest back-off after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A witness the log asks for cosignatures.
#[derive(Clone, Debug)]
pub struct WitnessEndpoint {
    /// A label for logs and errors.
    pub name: String,
    /// The submission prefix (`…/add-checkpoint` is appended), without a trailing slash.
    pub url: String,
    /// The witness's cosignature key.
    pub key: CosignatureVerifier,
}

impl WitnessEndpoint {
    /// Checks and builds an endpoint from the configuration's strings.
    pub fn new(name: &str, url: &str, key: &str) -> Result<Self, Error> {
        let key = CosignatureVerifier::parse(key)
            .map_err(|e| Error::Config(format!("witness {name:?}: key: {e}")))?;
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::Config(format!("witness {name:?}: url {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "witness {name:?}: url {url:?} is not http(s)"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            key,
        })
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Known {
    /// The size the witness cosigned last, as far as this server knows.
    size: u64,
    failures: u32,
    retry_at: Option<Instant>,
}

/// The configured witnesses and what this server knows of each.
#[derive(Debug)]
pub struct Witnesses {
    endpoints: Vec<WitnessEndpoint>,
    client: reqwest::Client,
    known: std::sync::Mutex<Vec<Known>>,
    /// One collection at a time.
    running: tokio::sync::Mutex<()>,
    /// Wakes the collector ([`run_cosigner`]) before its next tick: a proof request that
    /// finds the newest checkpoint not yet cosigned.
    wake: tokio::sync::Notify,
}

impl Witnesses {
    /// Witnesses asked with `timeout` per request.
    pub fn new(endpoints: Vec<WitnessEndpoint>, timeout: Duration) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("witness HTTP client: {e}")))?;
        let known = vec![Known::default(); endpoints.len()];
        Ok(Self {
            endpoints,
            client,
            known: std::sync::Mutex::new(known),
            running: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// How many witnesses are configured.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Witnesses that have not cosigned (`have`: the verifier keys that did) and are not
    /// backing off after failures: those a collection would ask now.
    fn askable(&self, have: &[(String, String)]) -> usize {
        let now = Instant::now();
        self.endpoints
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                let key = e.key.to_string();
                !have.iter().any(|(k, _)| *k == key)
                    && self.known(*i).retry_at.is_none_or(|t| t <= now)
            })
            .count()
    }

    fn known(&self, i: usize) -> Known {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(i)
            .copied()
            .unwrap_or_default()
    }

    fn set_known(&self, i: usize, f: impl FnOnce(&mut Known)) {
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(i)
        {
            f(k);
        }
    }

    fn failed(&self, i: usize) {
        self.set_known(i, |k| {
            k.failures = k.failures.saturating_add(1);
            let secs = 1u64 << k.failures.min(6);
            k.retry_at = Some(Instant::now() + Duration::from_secs(secs).min(MAX_BACKOFF));
        });
    }
}

/// What one request to a witness came to.
enum Submitted {
    /// The cosignature line, verified.
    Cosigned(String),
    /// 409: the witness's size.
    Conflict(u64),
}

async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_RESPONSE {
            return Err(format!("answer larger than {MAX_RESPONSE} bytes"));
        }
    }
    Ok(out)
}

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

/// How long a proof request waits for the witnesses the collector is asking.
const PROOF_WAIT: Duration = Duration::from_secs(1);

/// Collects cosignatures every `interval` until the process ends (after each checkpoint the
/// checkpointer signs; witnesses that failed are asked again after their back-off), and at
/// once when a proof request wakes it.
pub async fn run_cosigner(registry: std::sync::Arc<Registry>, interval: Duration) {
    if registry.witnesses.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let woken = registry.witnesses.as_ref().map(|w| w.wake.notified());
        match woken {
            Some(woken) => {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = woken => {}
                }
            }
            None => return,
        }
        if let Err(e) = registry.tlog_collect_cosignatures().await {
            tracing::warn!(error = %e, "collecting cosignatures failed");
        }
    }
}
