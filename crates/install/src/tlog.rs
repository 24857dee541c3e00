//! The client's transparency-log check (issue 17): a package from a source whose log is
//! pinned must be in that log under a checkpoint signed by the pinned key, and every
//! checkpoint seen must be consistent with the newest one stored for that log (per user, per
//! log: `<state dir>/<SHA-256 of the origin>/checkpoint`). A failure keeps the evidence — the
//! stored checkpoint, the one served, the proof and the consistency proof — in a file beside
//! it, as Go's checksum-database client does. With witnesses pinned, the checkpoint must also
//! carry valid cosignatures (c2sp.org/tlog-cosignature) by K of them.

use std::path::{Path, PathBuf};

use signet_feed::Source;
use signet_tlog::{
    CosignatureVerifier, Entry, Limits, Note, SignedCheckpoint, TileHashReader, TileId, TlogProof,
    VerifierKey,
};

/// How a failure is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogPolicy {
    /// A failure refuses the package.
    Require,
    /// A failure is a warning.
    Warn,
}

/// A source's pinned log, ready to check against.
#[derive(Clone, Debug)]
pub struct LogPin {
    /// URL prefix (`…/tlog/`).
    pub prefix: String,
    /// The pinned verifier key (its name is the origin).
    pub key: VerifierKey,
    /// The policy.
    pub policy: LogPolicy,
    /// Where checkpoints and evidence are kept.
    pub state_dir: PathBuf,
    /// Pinned witnesses (label, cosignature key); empty: no cosignatures needed.
    pub witnesses: Vec<(String, CosignatureVerifier)>,
    /// How many of `witnesses` must have cosigned the checkpoint.
    pub witness_threshold: usize,
}

/// Checks that `checkpoint` (a signed note) carries valid cosignatures by at least
/// `threshold` of `witnesses`; the error names which witnesses signed and which did not.
pub fn check_witnesses(
    checkpoint: &str,
    witnesses: &[(String, CosignatureVerifier)],
    threshold: usize,
) -> Result<(), String> {
    if threshold == 0 {
        return Ok(());
    }
    let note = Note::parse(checkpoint.as_bytes(), &Limits::default())
        .map_err(|e| format!("bad checkpoint: {e}"))?;
    let mut signed = Vec::new();
    let mut missing = Vec::new();
    // A cosignature does not sign the key's name: the same key pinned under two names (or a
    // line copied under another name) is still one witness. Counted by public key.
    let mut signers: std::collections::HashSet<[u8; 32]> = std::collections::HashSet::new();
    for (label, key) in witnesses {
        match key.verify(&note) {
            Ok(_) if !signers.insert(*key.public_key()) => {
                missing.push(format!("{label} (the same key as another pinned witness)"))
            }
            Ok(_) => signed.push(label.as_str()),
            Err(signet_tlog::Error::UnknownSigner(_)) => {
                missing.push(format!("{label} (no cosignature)"))
            }
            Err(e) => missing.push(format!("{label} ({e})")),
        }
    }
    if signers.len() >= threshold {
        return Ok(());
    }
    Err(format!(
        "the log's checkpoint is cosigned by {} of the pinned witnesses, {threshold} required: signed by {}; not by {}",
        signed.len(),
        if signed.is_empty() {
            "none".to_owned()
        } else {
            signed.join(", ")
        },
        if missing.is_empty() {
            "none".to_owned()
        } else {
            missing.join(", ")
        },
    ))
}

/// What a package must match in its log entry.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// Package id.
    pub id: &'a str,
    /// Normalised version.
    pub version: &'a str,
    /// base64 SHA-512 content hash of the verified bytes.
    pub content_hash: &'a str,
}

/// A failed check, with where its evidence was written.
#[derive(Clone, Debug)]
pub struct LogFailure {
    /// What went wrong.
    pub message: String,
    /// The evidence file, when one could be written.
    pub evidence: Option<PathBuf>,
    /// The log could not be reached (its proof could not be fetched): a caller checking many
    /// packages against it need not wait on it again.
    pub unreachable: bool,
}

impl std::fmt::Display for LogFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(p) = &self.evidence {
            write!(f, " (evidence kept in {})", p.display())?;
        }
        Ok(())
    }
}

/// The per-user state directory of transparency logs: `$XDG_STATE_HOME/signet/tlog`, else
/// `~/.local/state/signet/tlog`.
pub fn default_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("signet").join("tlog"))
}

/// The directory of one log's state: named by the SHA-256 of its verifier key (origin, key ID
/// and key), so that another log reusing an origin never meets this one's checkpoints.
pub fn log_dir(state_dir: &Path, key: &VerifierKey) -> PathBuf {
    let h = signet_common::HashAlgorithm::Sha256.digest(key.to_string().as_bytes());
    state_dir.join(hex_of(&h))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Largest proof document read.
const MAX_PROOF: u64 = 160 * 1024;
/// Largest tile read (8 KiB of hashes).
const MAX_TILE: u64 = 8 * 1024;

#[derive(Default)]
struct Evidence {
    stored: Option<String>,
    served: Option<String>,
    proof: Option<String>,
    consistency: Option<String>,
    /// The proof request failed (not a 404: the log did not answer).
    unreachable: bool,
}

/// Checks one package against its source's pinned log; on success the newest checkpoint is
/// stored. `now_unix` names the evidence file.
pub fn check_package(
    source: &Source,
    pin: &LogPin,
    expected: &Expected<'_>,
    now_unix: i64,
) -> Result<(), LogFailure> {
    let mut ev = Evidence::default();
    let r = check(source, pin, expected, &mut ev);
    r.map_err(|message| {
        let evidence = write_evidence(pin, expected, &message, &ev, now_unix);
        LogFailure {
            message,
            evidence,
            unreachable: ev.unreachable,
        }
    })
}

fn check(
    source: &Source,
    pin: &LogPin,
    expected: &Expected<'_>,
    ev: &mut Evidence,
) -> Result<(), String> {
    let limits = Limits::default();
    let url = format!(
        "{}proof/{}/{}",
        pin.prefix,
        expected.id.to_lowercase(),
        expected.version.to_lowercase()
    );
    let text = match source.fetch(&url, MAX_PROOF) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(format!(
                "the feed serves no transparency-log proof for the package ({url}): it is not in the log"
            ));
        }
        Err(e) => {
            ev.unreachable = true;
            return Err(format!(
                "cannot fetch the transparency-log proof {url}: {e}"
            ));
        }
    };
    ev.proof = Some(String::from_utf8_lossy(&text).into_owned());
    let proof =
        TlogProof::parse(&text, &limits).map_err(|e| format!("bad transparency-log proof: {e}"))?;
    ev.served = Some(proof.checkpoint.clone());
    let entry_bytes = proof
        .extra
        .clone()
        .ok_or("the transparency-log proof carries no entry")?;
    let entry = Entry::decode(&entry_bytes).map_err(|e| format!("bad log entry: {e}"))?;
    use base64::Engine as _;
    let content_hash = base64::engine::general_purpose::STANDARD.encode(entry.content_hash);
    if !entry.id.eq_ignore_ascii_case(expected.id)
        || !entry.version.eq_ignore_ascii_case(expected.version)
        || content_hash != expected.content_hash
    {
        return Err(format!(
            "the log entry is for {} {} with content hash {content_hash}, not the package checked ({} {} with content hash {}): the package is not the one the feed logged",
            entry.id, entry.version, expected.id, expected.version, expected.content_hash
        ));
    }
    let served = proof.verify(&entry_bytes, &pin.key, &limits).map_err(|e| {
        format!(
            "transparency-log proof does not verify under the pinned key {}: {e}",
            pin.key
        )
    })?;
    // The witnesses pinned with the log: their cosignatures say the checkpoint is the one
    // they saw, consistent with every one they cosigned before (no view split for us alone).
    check_witnesses(&proof.checkpoint, &pin.witnesses, pin.witness_threshold)?;
    // Consistency with the newest checkpoint stored for this log.
    let dir = log_dir(&pin.state_dir, &pin.key);
    let stored_path = dir.join("checkpoint");
    let stored = match std::fs::read(&stored_path) {
        Ok(b) => {
            ev.stored = Some(String::from_utf8_lossy(&b).into_owned());
            Some(
                SignedCheckpoint::verify(&b, &pin.key, &limits).map_err(|e| {
                    format!(
                        "the stored checkpoint {} does not verify: {e}",
                        stored_path.display()
                    )
                })?,
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", stored_path.display())),
    };
    let newest = match stored {
        None => served,
        Some(old) => {
            let (a, b) = (old.checkpoint(), served.checkpoint());
            if a.size == b.size {
                if a.root != b.root {
                    return Err(format!(
                        "split view: the log served a tree of size {} with root {}, but a tree of that size with root {} was seen before",
                        b.size, b.root, a.root
                    ));
                }
                old
            } else {
                let (small, large) = if a.size < b.size { (a, b) } else { (b, a) };
                let tiles = TileHashReader::new(large.size, limits, |id: &TileId| {
                    let url = format!("{}{}", pin.prefix, id.path());
                    source
                        .fetch(&url, MAX_TILE)
                        .map_err(|e| signet_tlog::Error::BadTile {
                            path: id.path(),
                            reason: e.to_string(),
                        })?
                        .ok_or_else(|| signet_tlog::Error::BadTile {
                            path: id.path(),
                            reason: "not served".into(),
                        })
                });
                let cproof = signet_tlog::consistency_proof(&tiles, small.size, large.size)
                    .map_err(|e| format!("cannot build a consistency proof from {} to {} from the log's tiles: {e}", small.size, large.size))?;
                ev.consistency = Some(
                    cproof
                        .iter()
                        .map(|h| h.to_base64())
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                signet_tlog::verify_consistency(small.size, large.size, &cproof, &small.root, &large.root)
                    .map_err(|_| format!(
                        "split view: the log's tree of size {} (root {}) is not a prefix of its tree of size {} (root {}); one of them was shown to this client only",
                        small.size, small.root, large.size, large.root
                    ))?;
                if b.size > a.size { served } else { old }
            }
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(&dir)
        .and_then(|mut t| {
            std::io::Write::write_all(&mut t, newest.to_text().as_bytes())?;
            t.as_file().sync_all()?;
            Ok(t)
        })
        .map_err(|e| format!("cannot store the checkpoint: {e}"))?;
    tmp.persist(&stored_path)
        .map_err(|e| format!("cannot store the checkpoint: {}", e.error))?;
    Ok(())
}

fn write_evidence(
    pin: &LogPin,
    expected: &Expected<'_>,
    message: &str,
    ev: &Evidence,
    now_unix: i64,
) -> Option<PathBuf> {
    let dir = log_dir(&pin.state_dir, &pin.key);
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!(
        "evidence-{now_unix}-{}-{}.txt",
        expected.id.to_lowercase(),
        expected.version.to_lowercase()
    ));
    let section = |title: &str, body: &Option<String>| {
        format!(
            "==> {title}\n{}\n",
            body.as_deref().unwrap_or("(none)").trim_end()
        )
    };
    let text = format!(
        "signet transparency-log evidence\nlog: {}\nkey: {}\npackage: {} {} (content hash {})\nproblem: {message}\n\n{}{}{}{}",
        pin.prefix,
        pin.key,
        expected.id,
        expected.version,
        expected.content_hash,
        section("checkpoint stored before", &ev.stored),
        section("checkpoint served", &ev.served),
        section("tlog-proof served", &ev.proof),
        section(
            "consistency proof computed from the served tiles",
            &ev.consistency
        ),
    );
    std::fs::write(&path, text).ok()?;
    Some(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use signet_tlog::{CosignerKey, SigningKey};

    /// One witness's key pinned under two names, its line copied under the second name (the
    /// key ID recomputed: the signed message does not name the key), counts once.
    #[test]
    fn one_key_under_two_names_is_one_witness() {
        let log = SigningKey::from_seed("log.test/tlog", [1; 32]).unwrap();
        let text = "log.test/tlog\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let mut note = Note::sign(text, &log).unwrap();
        let w1 = CosignerKey::from_seed("w1.test", [2; 32]).unwrap();
        let line = w1.cosign(&note.text, 1_800_000_000).unwrap();
        let renamed =
            signet_tlog::CosignatureVerifier::new("w9.other", *w1.verifier().public_key()).unwrap();
        note.signatures.push(line.clone());
        note.signatures.push(signet_tlog::NoteSignature {
            name: renamed.name().to_owned(),
            id: renamed.id(),
            signature: line.signature.clone(),
        });
        let pinned = vec![
            ("a".to_owned(), w1.verifier().clone()),
            ("b".to_owned(), renamed),
        ];
        let checkpoint = note.to_text();
        let err = check_witnesses(&checkpoint, &pinned, 2).unwrap_err();
        assert!(err.contains("cosigned by 1 of"), "{err}");
        assert!(err.contains("the same key as another"), "{err}");
        assert!(check_witnesses(&checkpoint, &pinned, 1).is_ok());
    }
}
