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

use signet_tlog::CosignatureVerifier;
use tokio::time::Instant;

use crate::Error;

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
pub(crate) struct Known {
    /// The size the witness cosigned last, as far as this server knows.
    pub(crate) size: u64,
    pub(crate) failures: u32,
    pub(crate) retry_at: Option<Instant>,
}

/// The configured witnesses and what this server knows of each.
#[derive(Debug)]
pub struct Witnesses {
    pub(crate) endpoints: Vec<WitnessEndpoint>,
    pub(crate) client: reqwest::Client,
    known: std::sync::Mutex<Vec<Known>>,
    /// One collection at a time.
    pub(crate) running: tokio::sync::Mutex<()>,
    /// Wakes the collector ([`run_cosigner`]) before its next tick: a proof request that
    /// finds the newest checkpoint not yet cosigned.
    pub(crate) wake: tokio::sync::Notify,
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
    pub(crate) fn askable(&self, have: &[(String, String)]) -> usize {
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

    pub(crate) fn known(&self, i: usize) -> Known {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(i)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn set_known(&self, i: usize, f: impl FnOnce(&mut Known)) {
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(i)
        {
            f(k);
        }
    }

    pub(crate) fn failed(&self, i: usize) {
        self.set_known(i, |k| {
            k.failures = k.failures.saturating_add(1);
            let secs = 1u64 << k.failures.min(6);
            k.retry_at = Some(Instant::now() + Duration::from_secs(secs).min(MAX_BACKOFF));
        });
    }
}

/// What one request to a witness came to.
pub(crate) enum Submitted {
    /// The cosignature line, verified.
    Cosigned(String),
    /// 409: the witness's size.
    Conflict(u64),
}

pub(crate) async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_RESPONSE {
            return Err(format!("answer larger than {MAX_RESPONSE} bytes"));
        }
    }
    Ok(out)
}

/// How long a proof request waits for the witnesses the collector is asking.
pub(crate) const PROOF_WAIT: Duration = Duration::from_secs(1);

/// Collects cosignatures every `interval` until the process ends (after each checkpoint the
/// checkpointer signs; witnesses that failed are asked again after their back-off), and at
/// once when a proof request wakes it.
pub async fn run_cosigner<R: super::LogWork>(registry: std::sync::Arc<R>, interval: Duration) {
    if registry.log_witnesses().is_none() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let woken = registry.log_witnesses().map(|w| w.wake.notified());
        match woken {
            Some(woken) => {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = woken => {}
                }
            }
            None => return,
        }
        if let Err(e) = registry.collect_cosignatures_step().await {
            tracing::warn!(error = %e, "collecting cosignatures failed");
        }
    }
}
