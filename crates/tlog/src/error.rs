//! The crate's one error type, grouped by phase: parsing (with what was parsed and why),
//! limits, signatures and keys, proofs, and hash sources.

/// Everything that can go wrong in `signet-tlog`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Input is not in the expected format.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which format (`signed note`, `checkpoint`, `tlog-proof`, `tile path`, `log entry`, …).
        what: &'static str,
        /// Why, with the offending line or offset where it helps.
        reason: String,
    },
    /// Input exceeds one of the [`crate::Limits`].
    #[error("{what} exceeds its limit of {limit}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// The limit's value.
        limit: usize,
    },
    /// A key (signing key, verifier key) cannot be used.
    #[error("bad key: {0}")]
    Key(String),
    /// No signature from a known key on the note.
    #[error("the note has no signature by {0}")]
    UnknownSigner(String),
    /// A signature by a known key (name and key ID match) does not verify.
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    /// The checkpoint's origin is not the one expected.
    #[error("checkpoint origin is {found:?}, expected {expected:?}")]
    WrongOrigin {
        /// Expected origin.
        expected: String,
        /// What the checkpoint says.
        found: String,
    },
    /// An inclusion proof does not lead to the root.
    #[error("inclusion proof of entry {index} in a tree of size {size} does not verify")]
    BadInclusionProof {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof does not link the two roots: the trees are not one a prefix of the other.
    #[error(
        "the tree of size {old} is not a prefix of the tree of size {new}: consistency proof does not verify"
    )]
    Inconsistent {
        /// Smaller tree size.
        old: u64,
        /// Larger tree size.
        new: u64,
    },
    /// A witness does not know the checkpoint's origin (tlog-witness: 404).
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// A witness's last cosigned size is not the request's `old` size (tlog-witness: 409,
    /// answered with `stored`).
    #[error("the witness's last cosigned size for this log is {stored}, not {old}")]
    OldSizeMismatch {
        /// The size the request assumed.
        old: u64,
        /// The size the witness cosigned last.
        stored: u64,
    },
    /// Arguments out of range (an index outside the tree, a smaller tree larger than the other).
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// A hash source cannot provide a hash the computation needs.
    #[error("hash not available: level {level}, index {index}{}", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    MissingHash {
        /// Tile level.
        level: u8,
        /// Index at that level.
        index: u64,
        /// Why (a fetch error, …).
        reason: String,
    },
    /// A tile has the wrong length or does not match the tree.
    #[error("bad tile {path}: {reason}")]
    BadTile {
        /// The tile's path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The crypto library failed (not an input problem).
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}

pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        reason: reason.into(),
    }
}
