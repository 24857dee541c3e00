//! The transparency log of every version this server accepts (issue 17): one entry per
//! version, appended in the transaction that makes the version visible (`db::commit_push`,
//! pushes and mirrored copies alike), checkpoints signed every few seconds, tiles and entry
//! bundles written to the blob store as immutable objects, and an inclusion proof
//! (c2sp.org/tlog-proof) per version. Formats and arithmetic are `signet-tlog`'s.
//!
//! Why this is consistent: entries are rows whose index comes from one counter row that each
//! append updates first (appends take turns, on every replica sharing the database), and are
//! never changed; a checkpoint is computed from those rows only, so two checkpoints are
//! always of one history. Before signing, the checkpointer still proves the new tree
//! consistent with the newest stored checkpoint and refuses to sign otherwise. Tiles are
//! written before the checkpoint row, so a checkpoint never names tiles that are missing
//! (after a crash, tiles for an unsigned size may exist: their content is fixed by the
//! entries, so they are rewritten identically).

pub(crate) mod store;
pub mod witnesses;

use std::sync::Arc;

use signet_tlog::{Entry, NoteSigner, SigningKey, VerifierKey};

pub use store::StoredCheckpoint;
pub use witnesses::{WitnessEndpoint, Witnesses, run_cosigner};

use crate::Error;

/// The development key's file name in the data directory.
pub const DEV_KEY_FILE: &str = "tlog-dev.key";

/// Blob keys of tiles: `tlog/` + the tlog-tiles path.
pub const BLOB_PREFIX: &str = "tlog/";

/// At most this many entries go into one checkpoint step (a backfill of a large feed is
/// checkpointed in several steps, bounding memory).
pub(crate) const MAX_STEP: u64 = 1 << 16;

/// The service-index resource type announcing the log.
pub const RESOURCE_TYPE: &str = "signet/TransparencyLog/1.0.0";

pub(crate) fn tlog_err(e: signet_tlog::Error) -> Error {
    Error::Crypto(format!("transparency log: {e}"))
}

/// The log's signing key and origin (the key's name).
pub struct LogKey {
    pub(crate) signer: Arc<dyn NoteSigner>,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey({})", self.signer.verifier())
    }
}

impl LogKey {
    /// A log key from a signer; the origin is its key name.
    pub fn new(signer: Arc<dyn NoteSigner>) -> Self {
        Self { signer }
    }

    /// Reads a key file (`PRIVATE+KEY+name+id+key`, Go's note signer format).
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read the log key {}", path.display()), e))?;
        let key = SigningKey::parse(&text)
            .map_err(|e| Error::Config(format!("log key {}: {e}", path.display())))?;
        Ok(Self::new(Arc::new(key)))
    }

    /// The development key of a zero-config feed: `path` if it exists, else a new key named
    /// `origin` from `seed`, written there (0600). The origin stays the one of the first start.
    pub fn development(
        path: &std::path::Path,
        origin: &str,
        seed: [u8; 32],
    ) -> Result<Self, Error> {
        if path.exists() {
            return Self::from_file(path);
        }
        let key = SigningKey::from_seed(origin, seed)
            .map_err(|e| Error::Config(format!("log origin {origin:?}: {e}")))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        use std::io::Write as _;
        f.write_all(format!("{}\n", key.to_key_string()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        Ok(Self::new(Arc::new(key)))
    }

    /// An Ed25519 key on a PKCS#11 token (`[transparency_log] pkcs11_*`), named `origin`:
    /// every checkpoint signature is a `C_Sign` on the token; the key never leaves it.
    pub fn from_token(
        which: &signet_pkcs11::TokenKey,
        pin: Option<signet_pkcs11::Pin>,
        origin: &str,
    ) -> Result<Self, Error> {
        let key = signet_pkcs11::Pkcs11Ed25519Key::open(which, pin)
            .map_err(|e| Error::Config(format!("transparency log key on the token: {e}")))?;
        let verifier = VerifierKey::new(origin, key.public_key())
            .map_err(|e| Error::Config(format!("log origin {origin:?}: {e}")))?;
        Ok(Self::new(Arc::new(TokenLogSigner { key, verifier })))
    }

    /// The verifier key clients pin.
    pub fn verifier(&self) -> &VerifierKey {
        self.signer.verifier()
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        self.signer.verifier().name()
    }
}

/// A log key on a token, as a note signer.
struct TokenLogSigner {
    key: signet_pkcs11::Pkcs11Ed25519Key,
    verifier: VerifierKey,
}

impl NoteSigner for TokenLogSigner {
    fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    fn sign(&self, text: &[u8]) -> Result<[u8; 64], signet_tlog::Error> {
        self.key
            .sign(text)
            .map_err(|e| signet_tlog::Error::Key(format!("{}: {e}", self.key.describe())))
    }
}

/// The origin a development log takes from the server's public URL: scheme-less, no trailing
/// slash, `/tlog` appended (tlog-tiles: the origin is the prefix URL without its scheme).
pub fn origin_for(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, r)| r)
        .trim_end_matches('/');
    format!("{rest}/tlog")
}

/// Builds the log entry of a version.
pub(crate) fn entry_for(
    id: &str,
    version: &str,
    content_hash_b64: &str,
    author_hex: Option<&str>,
    repository_hex: Option<&str>,
    now_micros: i64,
) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    let ch = base64::engine::general_purpose::STANDARD
        .decode(content_hash_b64)
        .ok()
        .and_then(|v| <[u8; 64]>::try_from(v).ok())
        .ok_or_else(|| Error::Crypto("a content hash is not 64 bytes of base64".into()))?;
    let fp = |h: Option<&str>| -> Result<Option<[u8; 32]>, Error> {
        h.map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| Error::Crypto(format!("fingerprint {h:?} is not SHA-256 hex")))
        })
        .transpose()
    };
    let time_ms = u64::try_from(now_micros / 1000).unwrap_or(0);
    let e = Entry::new(
        id,
        version,
        ch,
        fp(author_hex)?,
        fp(repository_hex)?,
        time_ms,
    )
    .map_err(tlog_err)?;
    Ok(e.encode())
}

/// The content hash (base64 SHA-512, signature-independent) of a package.
pub(crate) fn content_hash_of<R: std::io::Read + std::io::Seek>(
    reader: R,
) -> Result<String, Error> {
    let mut p = signet_nupkg::Package::open(reader, &signet_nupkg::Limits::default())
        .map_err(|e| Error::Invalid(format!("cannot read the package: {e}")))?;
    p.content_hash()
        .map_err(|e| Error::Invalid(format!("cannot hash the package: {e}")))
}

/// The content hash of a stored package (see [`crate::blob::read_blocking`]).
pub(crate) async fn content_hash_of_body(body: crate::BlobBody) -> Result<String, Error> {
    crate::blob::read_blocking(body, content_hash_of).await
}

/// What one checkpoint step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// The newest checkpoint already covers every entry.
    UpToDate(u64),
    /// A checkpoint of this size was signed and stored.
    Signed(u64),
}

/// The work the background loops ([`run_checkpointer`], [`witnesses::run_cosigner`]) drive.
/// The server's `Registry` implements it, in the services layer above this module: the loops
/// live here (their public path) without this module depending on that layer.
pub trait LogWork: Send + Sync {
    /// One bounded checkpoint step (`Registry::tlog_checkpoint`).
    fn checkpoint_step(&self) -> impl Future<Output = Result<CheckpointOutcome, Error>> + Send;
    /// The number of entries in the log.
    fn log_size(&self) -> impl Future<Output = Result<u64, Error>> + Send;
    /// The configured witnesses, if any.
    fn log_witnesses(&self) -> Option<&witnesses::Witnesses>;
    /// Asks the witnesses for cosignatures (`Registry::tlog_collect_cosignatures`).
    fn collect_cosignatures_step(&self) -> impl Future<Output = Result<usize, Error>> + Send;
}

/// Runs checkpoint steps every `interval` until the process ends (errors are logged and
/// retried at the next tick).
pub async fn run_checkpointer<R: LogWork>(registry: Arc<R>, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match registry.checkpoint_step().await {
                Ok(CheckpointOutcome::Signed(n)) => {
                    tracing::debug!(size = n, "signed a checkpoint");
                    // A bounded step may leave more to do: go on at once.
                    if registry.log_size().await.is_ok_and(|s| s > n) {
                        continue;
                    }
                }
                Ok(CheckpointOutcome::UpToDate(_)) => {}
                Err(e) => tracing::warn!(error = %e, "transparency log checkpoint failed"),
            }
            break;
        }
    }
}
