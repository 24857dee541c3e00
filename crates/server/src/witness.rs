//! `signet log witness`: an independent cosigner of transparency logs (c2sp.org/tlog-witness,
//! issue 17). It knows a list of logs (origin and verifier keys), and for each the size, root
//! and signed checkpoint it cosigned last, in a state file. `POST /add-checkpoint` checks a
//! new checkpoint against that state (`signet_tlog::check_add_checkpoint`: the log's
//! signature, the old size, the consistency proof), and answers with its Ed25519 cosignature
//! (c2sp.org/tlog-cosignature) once the new state is on disk. `GET /<sha256(origin)>/checkpoint`
//! serves the last cosigned checkpoint (the protocol's monitoring prefix).
//!
//! Why the state cannot roll back: every request checks and updates it while holding one
//! mutex, and the file is replaced atomically (a temporary file in the same directory,
//! fsync, rename, fsync of the directory) before the cosignature leaves; the in-memory copy
//! changes only after the file did. A second witness process on the same state file is
//! refused at start (an exclusive lock on `<state>.lock`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use signet_tlog::{
    AddCheckpoint, CosignerKey, Hash, Limits, VerifierKey, WitnessedTree, check_add_checkpoint,
    refusal_status, submitted_origin,
};
use tokio::net::TcpListener;

use crate::Error;
use crate::clock::Clock;
use crate::http::ConnectionLimits;

/// The state file's format line.
const STATE_FORMAT: &str = "signet-witness-state/1";

/// Time a client has to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A log the witness cosigns: its origin and the keys its checkpoints are signed with.
#[derive(Clone, Debug)]
pub struct WitnessedLog {
    /// The checkpoint origin line.
    pub origin: String,
    /// Trusted verifier keys (a checkpoint needs a valid signature by one of them).
    pub keys: Vec<VerifierKey>,
}

impl WitnessedLog {
    /// A log named by its verifier key (the key name is the origin, as signet's logs have).
    pub fn from_vkey(vkey: &str) -> Result<Self, Error> {
        let key = VerifierKey::parse(vkey)
            .map_err(|e| Error::Config(format!("log key {vkey:?}: {e}")))?;
        Ok(Self {
            origin: key.name().to_owned(),
            keys: vec![key],
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StateFile {
    format: String,
    logs: BTreeMap<String, LogState>,
}

/// What the witness keeps per log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LogState {
    size: u64,
    /// base64 root hash.
    root: String,
    /// The signed checkpoint as received, with this witness's cosignature appended.
    checkpoint: String,
}

/// The witness: key, logs, state.
pub struct Witness {
    key: CosignerKey,
    logs: BTreeMap<String, Vec<VerifierKey>>,
    path: PathBuf,
    state: Mutex<BTreeMap<String, LogState>>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    _lock: std::fs::File,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Witness({}, {} logs)",
            self.key.verifier(),
            self.logs.len()
        )
    }
}

/// The answer to an `add-checkpoint` that the witness could process: its cosignature
/// line(s), or a refusal whose status [`signet_tlog::refusal_status`] gives.
pub type AddOutcome = Result<String, signet_tlog::Error>;

impl Witness {
    /// Opens the witness: takes the state file's lock, reads the state (none yet: empty).
    pub fn open(
        key: CosignerKey,
        logs: Vec<WitnessedLog>,
        state_path: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let mut by_origin: BTreeMap<String, Vec<VerifierKey>> = BTreeMap::new();
        for l in logs {
            by_origin.entry(l.origin).or_default().extend(l.keys);
        }
        if by_origin.is_empty() {
            return Err(Error::Config("the witness knows no log".into()));
        }
        let lock_path = sibling(state_path, ".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("open {}", lock_path.display()), e))?;
        lock.try_lock().map_err(|_| {
            Error::Config(format!(
                "{} is locked: another witness uses the state file {}",
                lock_path.display(),
                state_path.display()
            ))
        })?;
        let state = match std::fs::read(state_path) {
            Ok(bytes) => {
                let f: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Config(format!(
                        "{} is not a witness state: {e}",
                        state_path.display()
                    ))
                })?;
                if f.format != STATE_FORMAT {
                    return Err(Error::Config(format!(
                        "{}: unknown format {:?}",
                        state_path.display(),
                        f.format
                    )));
                }
                for (origin, s) in &f.logs {
                    Hash::from_base64(&s.root).ok_or_else(|| {
                        Error::Config(format!(
                            "{}: bad root hash for {origin:?}",
                            state_path.display()
                        ))
                    })?;
                }
                f.logs
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io(format!("read {}", state_path.display()), e)),
        };
        Ok(Self {
            key,
            logs: by_origin,
            path: state_path.to_owned(),
            state: Mutex::new(state),
            clock,
            limits: Limits::default(),
            _lock: lock,
        })
    }

    /// The witness's cosignature verifier key.
    pub fn verifier(&self) -> String {
        self.key.verifier().to_string()
    }

    /// Largest request body read.
    pub fn max_body(&self) -> usize {
        self.limits.max_note_size + 64 * (signet_tlog::MAX_PROOF_LINES + 1)
    }

    /// The size cosigned last for `origin` (0: never).
    pub fn size_of(&self, origin: &str) -> u64 {
        self.lock_state().get(origin).map_or(0, |s| s.size)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LogState>> {
        // The map only ever holds what is on disk (it changes after the file did), so a
        // panic elsewhere cannot have left it half-updated.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Processes an `add-checkpoint` body (blocking: it writes the state file). `Err` is a
    /// failure of the witness itself (500); `Ok(Err)` a refusal.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<AddOutcome, Error> {
        let req = match AddCheckpoint::parse(body, &self.limits) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let origin = match submitted_origin(&req, &self.limits) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        let keys = self.logs.get(&origin).map_or(&[][..], Vec::as_slice);
        // Check and update under one lock: no request can roll back another's update.
        let mut state = self.lock_state();
        let stored = match state.get(&origin) {
            Some(s) => Some(WitnessedTree {
                size: s.size,
                root: Hash::from_base64(&s.root)
                    .ok_or_else(|| Error::Crypto("witness state: bad root hash".into()))?,
            }),
            None => None,
        };
        let accepted = match check_add_checkpoint(&req, keys, stored, &self.limits) {
            Ok(a) => a,
            Err(e) => {
                if matches!(e, signet_tlog::Error::Inconsistent { .. }) {
                    // Signed by the log and inconsistent with what it showed before: evidence.
                    tracing::warn!(origin = %origin, error = %e, checkpoint = ?String::from_utf8_lossy(&req.checkpoint), "a log's checkpoint is not consistent with the one cosigned before");
                }
                return Ok(Err(e));
            }
        };
        let now = u64::try_from(self.clock.now().unix_micros() / 1_000_000)
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| Error::Crypto("the clock is before 1970".into()))?;
        let cosig = self
            .key
            .cosign(&accepted.note.text, now)
            .map_err(|e| Error::Crypto(format!("cosign: {e}")))?;
        // The same tree again: nothing to store (a resubmission must not cost a state write).
        let unchanged = state.get(&origin).is_some_and(|s| {
            s.size == accepted.tree.size && s.root == accepted.tree.root.to_base64()
        });
        if unchanged {
            return Ok(Ok(cosig.to_line()));
        }
        // What the read endpoint serves: the log's own signature and this witness's, never
        // other lines a submitter added.
        let mut note = accepted.note;
        note.signatures
            .retain(|s| keys.iter().any(|k| k.name() == s.name && k.id() == s.id));
        note.signatures.push(cosig.clone());
        let mut next = state.clone();
        next.insert(
            origin,
            LogState {
                size: accepted.tree.size,
                root: accepted.tree.root.to_base64(),
                checkpoint: note.to_text(),
            },
        );
        self.persist(&next)?;
        *state = next;
        Ok(Ok(cosig.to_line()))
    }

    /// The checkpoint cosigned last for the log whose origin hashes (SHA-256, lower-case hex)
    /// to `origin_hash`.
    pub fn checkpoint_by_hash(&self, origin_hash: &str) -> Option<String> {
        let state = self.lock_state();
        state.iter().find_map(|(origin, s)| {
            let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, origin.as_bytes());
            (hex::encode(h.as_ref()) == origin_hash).then(|| s.checkpoint.clone())
        })
    }

    /// Writes the state file atomically: temporary file, fsync, rename, fsync the directory.
    fn persist(&self, logs: &BTreeMap<String, LogState>) -> Result<(), Error> {
        let file = StateFile {
            format: STATE_FORMAT.to_owned(),
            logs: logs.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::Crypto(format!("witness state: {e}")))?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, &bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            #[cfg(unix)]
            std::fs::File::open(dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            Error::io(
                format!("write the witness state {}", self.path.display()),
                e,
            )
        })
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn add_checkpoint(
    State(w): State<Arc<Witness>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    let plain = "text/plain; charset=utf-8";
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > w.max_body() as u64) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            plain,
            format!("the body is larger than {} bytes\n", w.max_body()),
        );
    }
    let bytes =
        match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, w.max_body())).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    plain,
                    format!(
                        "the body is unreadable or larger than {} bytes\n",
                        w.max_body()
                    ),
                );
            }
            Err(_) => {
                return text(
                    StatusCode::REQUEST_TIMEOUT,
                    plain,
                    "the body took too long\n".into(),
                );
            }
        };
    let witness = Arc::clone(&w);
    let outcome = tokio::task::spawn_blocking(move || witness.add_checkpoint(&bytes)).await;
    match outcome {
        Ok(Ok(Ok(lines))) => text(StatusCode::OK, plain, lines),
        Ok(Ok(Err(e))) => {
            let status =
                StatusCode::from_u16(refusal_status(&e)).unwrap_or(StatusCode::BAD_REQUEST);
            match e {
                signet_tlog::Error::OldSizeMismatch { stored, .. } => {
                    text(status, "text/x.tlog.size", format!("{stored}\n"))
                }
                e => text(status, plain, format!("{e}\n")),
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "add-checkpoint failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                plain,
                "the witness failed to store its state\n".into(),
            )
        }
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain,
            "the witness failed\n".into(),
        ),
    }
}

async fn monitoring_checkpoint(
    State(w): State<Arc<Witness>>,
    UrlPath(origin_hash): UrlPath<String>,
) -> Response {
    match w.checkpoint_by_hash(&origin_hash) {
        Some(cp) => text(StatusCode::OK, "text/plain; charset=utf-8", cp),
        None => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no checkpoint cosigned for that log\n".into(),
        ),
    }
}

/// The witness's routes: `POST /add-checkpoint`, `GET /<origin hash>/checkpoint`.
pub fn router(witness: Arc<Witness>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(monitoring_checkpoint))
        .with_state(witness)
}

/// Serves the witness on `listener` until `shutdown` (the feed's accept loop: connection
/// limit, header and idle timeouts).
pub async fn serve(
    listener: TcpListener,
    witness: Arc<Witness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let limits = ConnectionLimits {
        max_connections: 256,
        ..ConnectionLimits::default()
    };
    crate::http::serve_router(
        listener,
        router(witness),
        limits,
        shutdown,
        Duration::from_secs(5),
    )
    .await
}

/// `signet log witness --config FILE`: TOML, every key optional (flags override).
///
/// ```toml
/// listen = "127.0.0.1:7380"
/// key_path = "witness.key"          # PRIVATE+KEY+<name>+<id>+<base64(0x04||seed)>
/// state_path = "witness-state.json"
/// [[log]]
/// key = "nuget.example/tlog+1a2b3c4d+AQ…"   # origin = the key's name unless `origin` says
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Listen address.
    pub listen: Option<String>,
    /// The cosigning key file.
    pub key_path: Option<PathBuf>,
    /// The state file.
    pub state_path: Option<PathBuf>,
    /// The logs cosigned.
    #[serde(default, rename = "log")]
    pub logs: Vec<WitnessLogConfig>,
}

/// One `[[log]]` of [`WitnessConfig`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessLogConfig {
    /// The origin line (default: the key's name).
    pub origin: Option<String>,
    /// The log's verifier key (`name+id+key`).
    pub key: String,
}

impl WitnessConfig {
    /// Reads a configuration file; relative paths are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut c: WitnessConfig =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in c.key_path.iter_mut().chain(c.state_path.iter_mut()) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// The logs, keys parsed.
    pub fn witnessed_logs(&self) -> Result<Vec<WitnessedLog>, Error> {
        self.logs
            .iter()
            .map(|l| {
                let mut log = WitnessedLog::from_vkey(&l.key)?;
                if let Some(o) = &l.origin {
                    o.clone_into(&mut log.origin);
                }
                Ok(log)
            })
            .collect()
    }
}
