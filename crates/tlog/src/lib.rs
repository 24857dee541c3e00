//! A transparency log of package versions in the C2SP formats, as a library with no server
//! dependencies: RFC 6962 Merkle hashing and proofs over a tile-backed tree,
//! c2sp.org/tlog-checkpoint, c2sp.org/signed-note (Ed25519), c2sp.org/tlog-tiles paths and
//! entry bundles, c2sp.org/tlog-proof, and the log entry of a NuGet package version.
//!
//! c2sp.org/tlog-cosignature (Ed25519 witness cosignatures) and the checks of
//! c2sp.org/tlog-witness's `add-checkpoint` are here too, without I/O.
//!
//! The server appends entries and signs checkpoints with it; the client checks proofs and
//! consistency; the monitor walks entry bundles. Independent check: Go's
//! `golang.org/x/mod/sumdb/{note,tlog}` verifies what this crate writes (`tests/go_reference.rs`).

mod checkpoint;
mod cosignature;
mod entry;
mod error;
mod merkle;
mod monitor;
mod note;
mod proof;
mod tile;
mod witness;

pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use cosignature::{COSIGNATURE_V1, CosignatureVerifier, CosignerKey, cosigned_message};
pub use entry::{Entry, encode_bundle, parse_bundle};
pub use error::Error;
pub use merkle::{
    CompactRange, Hash, HashSource, MemoryHashes, consistency_proof, empty_root, hashes_needed,
    inclusion_proof, leaf_hash, node_hash, subtree_hash, tree_hash, verify_consistency,
    verify_inclusion,
};
pub use monitor::{MAX_ENTRIES_PER_STEP, Misbehaviour, MonitorState, MonitorStep, monitor_step};
pub use note::{Note, NoteSignature, NoteSigner, SigningKey, VerifierKey, key_id};
pub use proof::TlogProof;
pub use tile::{
    Growth, TILE_WIDTH, TileHashReader, TileId, TileKind, grow, level_count, tile_at, tile_bytes,
};
pub use witness::{
    Accepted, AddCheckpoint, MAX_PROOF_LINES, WitnessedTree, check_add_checkpoint, refusal_status,
    submitted_origin,
};

/// Limits for every parser of this crate; exceeding one is [`Error::TooLarge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Size of a signed note (checkpoint). signed-note asks verifiers to accept at least 16
    /// signatures of up to ~5 kB each.
    pub max_note_size: usize,
    /// Signature lines on a note.
    pub max_signatures: usize,
    /// Extension lines on a checkpoint.
    pub max_checkpoint_extensions: usize,
    /// Size of a tlog-proof file.
    pub max_proof_size: usize,
    /// Size of one log entry (signet's are under 250 bytes; bundles allow 65,535).
    pub max_entry_size: usize,
    /// Tiles one proof or consistency check may fetch.
    pub max_tiles_per_operation: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_note_size: 128 * 1024,
            max_signatures: 64,
            max_checkpoint_extensions: 16,
            max_proof_size: 160 * 1024,
            max_entry_size: 1024,
            max_tiles_per_operation: 1024,
        }
    }
}
