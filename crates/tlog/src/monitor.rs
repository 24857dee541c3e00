//! A monitor's step: from the state of its last run (a verified checkpoint and the tree's
//! right edge), read the new checkpoint and the new entries, check that the entries extend
//! the old tree to exactly the new root, and return them.
//!
//! Rebuilding the new root from the old right edge and the new entries checks, at once, that
//! the new tree extends the old one (no fork) and that the entries read are the ones the
//! checkpoint commits to (no entry hidden from monitors).

use crate::checkpoint::SignedCheckpoint;
use crate::entry::parse_bundle;
use crate::merkle::{CompactRange, Hash, leaf_hash};
use crate::note::VerifierKey;
use crate::tile::{TILE_WIDTH, TileId, TileKind, tile_at};
use crate::{Error, Limits};

/// What a monitor keeps between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorState {
    /// The newest checkpoint verified, as served.
    pub checkpoint: String,
    /// The right edge of its tree.
    pub edge: CompactRange,
}

/// Why a log misbehaved: each is evidence against the log, signed by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// The new checkpoint is smaller than one seen before.
    Shrank {
        /// Size seen before.
        old: u64,
        /// Size now.
        new: u64,
    },
    /// A checkpoint of the same size has another root.
    Forked {
        /// Tree size.
        size: u64,
    },
    /// The entries after the old tree do not lead to the new root: the new tree does not
    /// extend the old one, or the entries served are not those the checkpoint commits to.
    NotAnExtension {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
}

impl std::fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shrank { old, new } => write!(f, "the log shrank from {old} to {new} entries"),
            Self::Forked { size } => write!(f, "two different trees of size {size} were signed"),
            Self::NotAnExtension { old, new } => write!(
                f,
                "the log's tree of size {new} does not extend its tree of size {old} with the entries it serves"
            ),
        }
    }
}

/// The outcome of one step.
#[derive(Clone, Debug)]
pub enum MonitorStep {
    /// The log is consistent: the new entries (index, bytes) and the new state.
    Advanced {
        /// New entries in order.
        entries: Vec<(u64, Vec<u8>)>,
        /// State to keep.
        state: MonitorState,
    },
    /// The log misbehaved: what, and the two signed checkpoints.
    Misbehaved {
        /// What.
        what: Misbehaviour,
        /// The checkpoint kept from before.
        old: String,
        /// The checkpoint served now.
        new: String,
    },
}

/// Maximum entries one step reads (a later run goes on from there).
pub const MAX_ENTRIES_PER_STEP: u64 = 1 << 20;

/// One step. `checkpoint` is the served checkpoint; `fetch` returns an entry bundle's bytes.
/// Errors are failures to read or verify (a bad signature is an error, not a misbehaviour:
/// it is no evidence against the log's key).
pub fn monitor_step(
    state: Option<&MonitorState>,
    checkpoint: &[u8],
    key: &VerifierKey,
    limits: &Limits,
    fetch: &mut dyn FnMut(&TileId) -> Result<Vec<u8>, Error>,
) -> Result<MonitorStep, Error> {
    let new = SignedCheckpoint::verify(checkpoint, key, limits)?;
    let (old_cp, mut edge) = match state {
        Some(s) => (
            Some(SignedCheckpoint::verify(
                s.checkpoint.as_bytes(),
                key,
                limits,
            )?),
            s.edge.clone(),
        ),
        None => (None, CompactRange::new()),
    };
    let old_size = edge.size();
    let new_size = new.checkpoint().size;
    let misbehaved = |what| {
        Ok(MonitorStep::Misbehaved {
            what,
            old: state.map(|s| s.checkpoint.clone()).unwrap_or_default(),
            new: new.to_text(),
        })
    };
    if let Some(old) = &old_cp {
        if edge.root() != old.checkpoint().root || old.checkpoint().size != old_size {
            return Err(crate::error::malformed(
                "monitor state",
                "the kept right edge is not the kept checkpoint's tree",
            ));
        }
        if new_size < old_size {
            return misbehaved(Misbehaviour::Shrank {
                old: old_size,
                new: new_size,
            });
        }
        if new_size == old_size && new.checkpoint().root != old.checkpoint().root {
            return misbehaved(Misbehaviour::Forked { size: new_size });
        }
    }
    if new_size - old_size > MAX_ENTRIES_PER_STEP {
        return Err(Error::TooLarge {
            what: "entries in one monitor step",
            limit: MAX_ENTRIES_PER_STEP as usize,
        });
    }
    let mut entries = Vec::new();
    let mut i = old_size;
    while i < new_size {
        let b = i / TILE_WIDTH;
        let id = tile_at(TileKind::Entries, b, new_size).ok_or_else(|| {
            Error::OutOfRange(format!("no entry bundle {b} in a tree of size {new_size}"))
        })?;
        let bytes = fetch(&id)?;
        let bundle = parse_bundle(&bytes, limits)?;
        if bundle.len() != usize::from(id.width) {
            return Err(Error::BadTile {
                path: id.path(),
                reason: format!("{} entries, expected {}", bundle.len(), id.width),
            });
        }
        let skip = usize::try_from(i - b * TILE_WIDTH).unwrap_or(usize::MAX);
        for e in bundle.into_iter().skip(skip) {
            edge.append(leaf_hash(e));
            entries.push((i, e.to_vec()));
            i += 1;
        }
    }
    if edge.root() != new.checkpoint().root {
        return misbehaved(Misbehaviour::NotAnExtension {
            old: old_size,
            new: new_size,
        });
    }
    Ok(MonitorStep::Advanced {
        entries,
        state: MonitorState {
            checkpoint: new.to_text(),
            edge,
        },
    })
}

impl MonitorState {
    /// The state as text: the right edge (size, then one base64 hash a line), a blank line,
    /// then the checkpoint.
    pub fn to_text(&self) -> String {
        let mut s = format!("signet-tlog-monitor v1\n{}\n", self.edge.size());
        for h in self.edge.hashes() {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses [`MonitorState::to_text`].
    pub fn parse(text: &str) -> Result<MonitorState, Error> {
        if text.len() > 256 * 1024 {
            return Err(Error::TooLarge {
                what: "monitor state",
                limit: 256 * 1024,
            });
        }
        let bad = |why: &str| crate::error::malformed("monitor state", why.to_owned());
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line"))?;
        let mut lines = head.lines();
        if lines.next() != Some("signet-tlog-monitor v1") {
            return Err(bad("not a monitor state file"));
        }
        let size: u64 = lines
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| bad("no size"))?;
        let hashes: Vec<Hash> = lines
            .take(64)
            .map(|l| Hash::from_base64(l).ok_or_else(|| bad("bad hash")))
            .collect::<Result<_, _>>()?;
        Ok(MonitorState {
            checkpoint: checkpoint.to_owned(),
            edge: CompactRange::from_parts(size, &hashes)?,
        })
    }
}
