//! c2sp.org/tlog-proof v1: an offline inclusion proof.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional)
//! index <n>
//! <base64 hash>             (zero or more, leaf sibling first)
//!
//! <signed checkpoint, verbatim>
//! ```
//!
//! signet puts the log entry itself in `extra`, so that a client can rebuild the leaf from it
//! after checking every field against the package it verified.

use base64::Engine as _;

use crate::checkpoint::SignedCheckpoint;
use crate::error::malformed;
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::note::VerifierKey;
use crate::{Error, Limits};

const HEADER: &str = "c2sp.org/tlog-proof@v1";
const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// A tlog-proof, unverified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data (not authenticated by itself).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof.
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// Parses a proof file.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<TlogProof, Error> {
        if input.len() > limits.max_proof_size {
            return Err(Error::TooLarge {
                what: "tlog-proof",
                limit: limits.max_proof_size,
            });
        }
        let s = std::str::from_utf8(input).map_err(|e| {
            malformed(
                "tlog-proof",
                format!("not UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        let (head, checkpoint) = s
            .split_once("\n\n")
            .ok_or_else(|| malformed("tlog-proof", "no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(malformed(
                "tlog-proof",
                format!("first line is not {HEADER}"),
            ));
        }
        let mut line = lines.next();
        let mut extra = None;
        if let Some(rest) = line.and_then(|l| l.strip_prefix("extra ")) {
            let bytes = B64
                .decode(rest)
                .ok()
                .filter(|b| B64.encode(b) == rest)
                .ok_or_else(|| malformed("tlog-proof", "extra is not canonical base64"))?;
            if bytes.len() > limits.max_entry_size {
                return Err(Error::TooLarge {
                    what: "tlog-proof extra data",
                    limit: limits.max_entry_size,
                });
            }
            extra = Some(bytes);
            line = lines.next();
        }
        let index_s = line
            .and_then(|l| l.strip_prefix("index "))
            .ok_or_else(|| malformed("tlog-proof", "no index line"))?;
        let index: u64 = index_s
            .parse()
            .ok()
            .filter(|n: &u64| n.to_string() == index_s)
            .ok_or_else(|| malformed("tlog-proof", format!("bad index {index_s:?}")))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() >= 64 {
                return Err(Error::TooLarge {
                    what: "inclusion proof hashes",
                    limit: 64,
                });
            }
            proof.push(
                Hash::from_base64(l)
                    .ok_or_else(|| malformed("tlog-proof", format!("bad proof hash {l:?}")))?,
            );
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// The proof file's text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", B64.encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Verifies the checkpoint with `key` and the inclusion of `entry` at `index` under it
    /// (steps 1, 2 and 4 of tlog-proof's verification; the client checks witness
    /// cosignatures on the checkpoint separately, `CosignatureVerifier::verify`).
    pub fn verify(
        &self,
        entry: &[u8],
        key: &VerifierKey,
        limits: &Limits,
    ) -> Result<SignedCheckpoint, Error> {
        let cp = SignedCheckpoint::verify(self.checkpoint.as_bytes(), key, limits)?;
        let c = cp.checkpoint();
        verify_inclusion(&leaf_hash(entry), self.index, c.size, &self.proof, &c.root)?;
        Ok(cp)
    }
}
