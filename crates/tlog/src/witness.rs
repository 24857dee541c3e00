//! c2sp.org/tlog-witness: the `add-checkpoint` request body and a witness's checks of it, in
//! the order the protocol gives their status codes. No I/O: the caller keeps the state (and
//! checks and updates it under one lock), signs, and answers.
//!
//! ```text
//! old <size>
//! <base64 consistency proof hash>     (zero to 63 lines)
//!
//! <signed checkpoint>
//! ```
//!
//! Which [`Error`] means which answer ([`refusal_status`]): an unknown origin 404
//! ([`Error::UnknownLog`]); no signature by a trusted key, or one that does not verify, 403;
//! a malformed body or `old` above the checkpoint's size 400; `old` not the size the witness
//! cosigned last 409 ([`Error::OldSizeMismatch`], answered with that size); a proof that does
//! not verify, a non-empty proof from 0, another root at the same size, or a size-0 checkpoint
//! whose root is not the empty tree's, 422 ([`Error::Inconsistent`]).

use crate::checkpoint::Checkpoint;
use crate::error::malformed;
use crate::merkle::{Hash, empty_root, verify_consistency};
use crate::note::{Note, VerifierKey};
use crate::{Error, Limits};

/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// An `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the proof starts from (the client's idea of the witness's).
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: Vec<u8>,
}

fn decimal(s: &str) -> Option<u64> {
    s.parse().ok().filter(|n: &u64| n.to_string() == s)
}

impl AddCheckpoint {
    /// Parses a request body (at most the note limit plus the proof lines).
    pub fn parse(body: &[u8], limits: &Limits) -> Result<AddCheckpoint, Error> {
        let max = limits.max_note_size + 64 * (MAX_PROOF_LINES + 1);
        if body.len() > max {
            return Err(Error::TooLarge {
                what: "add-checkpoint body",
                limit: max,
            });
        }
        let what = "add-checkpoint body";
        let mut rest = body;
        let next_line = |rest: &mut &[u8]| -> Result<String, Error> {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| malformed(what, "a line does not end with a newline"))?;
            let (line, tail) = rest.split_at(nl);
            *rest = tail.get(1..).unwrap_or_default();
            std::str::from_utf8(line)
                .map(str::to_owned)
                .map_err(|_| malformed(what, "a header line is not UTF-8"))
        };
        let first = next_line(&mut rest)?;
        let old_s = first
            .strip_prefix("old ")
            .ok_or_else(|| malformed(what, "the first line is not `old <size>`"))?;
        let old =
            decimal(old_s).ok_or_else(|| malformed(what, format!("bad old size {old_s:?}")))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if proof.len() >= MAX_PROOF_LINES {
                return Err(Error::TooLarge {
                    what: "consistency proof lines",
                    limit: MAX_PROOF_LINES,
                });
            }
            proof.push(
                Hash::from_base64(&line)
                    .ok_or_else(|| malformed(what, format!("bad proof hash {line:?}")))?,
            );
        }
        Ok(AddCheckpoint {
            old,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("old {}\n", self.old);
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// What a witness keeps per log: the size and root it cosigned last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WitnessedTree {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// A checkpoint that passed every check: cosign `note.text` and store `tree`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The submitted note (all its signatures, as received).
    pub note: Note,
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// The new state for the log.
    pub tree: WitnessedTree,
}

/// The origin of a submitted checkpoint (for finding the log's keys and state before
/// [`check_add_checkpoint`]); a malformed note or checkpoint is an error.
pub fn submitted_origin(req: &AddCheckpoint, limits: &Limits) -> Result<String, Error> {
    let note = Note::parse(&req.checkpoint, limits)?;
    Ok(Checkpoint::parse(&note.text, limits)?.origin)
}

/// A witness's checks of `req` for a log it trusts with `keys`, whose last cosigned tree is
/// `stored` (`None`: never cosigned, size 0).
pub fn check_add_checkpoint(
    req: &AddCheckpoint,
    keys: &[VerifierKey],
    stored: Option<WitnessedTree>,
    limits: &Limits,
) -> Result<Accepted, Error> {
    let note = Note::parse(&req.checkpoint, limits)?;
    let checkpoint = Checkpoint::parse(&note.text, limits)?;
    if keys.is_empty() {
        return Err(Error::UnknownLog(checkpoint.origin));
    }
    // Signatures of unknown keys are ignored; a known key's must verify; one must.
    let mut signed = false;
    for k in keys {
        match note.verify(k) {
            Ok(()) => signed = true,
            Err(Error::UnknownSigner(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if !signed {
        return Err(Error::UnknownSigner(format!(
            "any trusted key of {}",
            checkpoint.origin
        )));
    }
    let new = checkpoint.size;
    if req.old > new {
        return Err(Error::OutOfRange(format!(
            "old size {} is larger than the checkpoint's size {new}",
            req.old
        )));
    }
    let stored_size = stored.map_or(0, |t| t.size);
    if req.old != stored_size {
        return Err(Error::OldSizeMismatch {
            old: req.old,
            stored: stored_size,
        });
    }
    if new == 0 && checkpoint.root != empty_root() {
        return Err(Error::Inconsistent { old: 0, new: 0 });
    }
    match stored {
        // Never cosigned (or cosigned the empty tree): no proof needed, none accepted.
        None => {
            if !req.proof.is_empty() {
                return Err(Error::Inconsistent { old: 0, new });
            }
        }
        Some(t) if t.size == 0 => {
            if !req.proof.is_empty() {
                return Err(Error::Inconsistent { old: 0, new });
            }
        }
        Some(t) => verify_consistency(t.size, new, &req.proof, &t.root, &checkpoint.root)?,
    }
    let tree = WitnessedTree {
        size: new,
        root: checkpoint.root,
    };
    Ok(Accepted {
        note,
        checkpoint,
        tree,
    })
}

/// The HTTP status c2sp.org/tlog-witness gives a refusal of [`check_add_checkpoint`] or
/// [`AddCheckpoint::parse`].
pub fn refusal_status(e: &Error) -> u16 {
    match e {
        Error::UnknownLog(_) => 404,
        Error::UnknownSigner(_) | Error::BadSignature(_) | Error::WrongOrigin { .. } => 403,
        Error::OldSizeMismatch { .. } => 409,
        Error::Inconsistent { .. } => 422,
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryHashes, NoteSigner as _, SigningKey, consistency_proof, leaf_hash};

    fn tree(n: u64, salt: u8) -> MemoryHashes {
        let mut m = MemoryHashes::new();
        for i in 0..n {
            let g = if i >= 2 { salt } else { 0 };
            m.insert(0, i, leaf_hash(&[i as u8, g]));
        }
        m
    }

    fn signed(key: &SigningKey, m: &MemoryHashes, n: u64) -> Vec<u8> {
        Checkpoint {
            origin: key.verifier().name().to_owned(),
            size: n,
            root: crate::tree_hash(m, n).unwrap(),
            extensions: vec![],
        }
        .sign(key)
        .unwrap()
        .to_text()
        .into_bytes()
    }

    #[test]
    fn body_round_trip_and_malformed() {
        let l = Limits::default();
        let r = AddCheckpoint {
            old: 7,
            proof: vec![leaf_hash(b"a"), leaf_hash(b"b")],
            checkpoint: b"o\n1\nx\n\n- sig\n".to_vec(),
        };
        assert_eq!(AddCheckpoint::parse(&r.to_bytes(), &l).unwrap(), r);
        for bad in [
            &b"old 07\n\nx"[..],
            b"old 1",
            b"old -1\n\n",
            b"new 1\n\n",
            b"old 1\nnot base64\n\n",
            b"old 1\n",
        ] {
            assert!(AddCheckpoint::parse(bad, &l).is_err(), "{bad:?}");
        }
        let mut many = "old 1\n".to_owned();
        for _ in 0..64 {
            many.push_str(&leaf_hash(b"x").to_base64());
            many.push('\n');
        }
        many.push('\n');
        assert!(matches!(
            AddCheckpoint::parse(many.as_bytes(), &l),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn checks_in_protocol_order() {
        let l = Limits::default();
        let key = SigningKey::from_seed("log.example/a", [3; 32]).unwrap();
        let keys = vec![key.verifier().clone()];
        let good = tree(10, 0);
        let fork = tree(10, 9);
        let req = |old, proof, cp| AddCheckpoint {
            old,
            proof,
            checkpoint: cp,
        };
        // First contact: old 0, no proof.
        let a =
            check_add_checkpoint(&req(0, vec![], signed(&key, &good, 4)), &keys, None, &l).unwrap();
        assert_eq!(a.tree.size, 4);
        let st = Some(a.tree);
        // Extends with a proof.
        let p = consistency_proof(&good, 4, 10).unwrap();
        let b = check_add_checkpoint(&req(4, p, signed(&key, &good, 10)), &keys, st, &l).unwrap();
        assert_eq!(b.tree.size, 10);
        // Stale old: 409 with the stored size.
        let e = check_add_checkpoint(&req(0, vec![], signed(&key, &good, 10)), &keys, st, &l)
            .unwrap_err();
        assert_eq!(e, Error::OldSizeMismatch { old: 0, stored: 4 });
        assert_eq!(refusal_status(&e), 409);
        // A fork: the proof of the forked tree does not link to the stored root: 422.
        let p = consistency_proof(&fork, 4, 10).unwrap();
        let e =
            check_add_checkpoint(&req(4, p, signed(&key, &fork, 10)), &keys, st, &l).unwrap_err();
        assert_eq!(refusal_status(&e), 422);
        // Same size, another root: 422.
        let e = check_add_checkpoint(&req(4, vec![], signed(&key, &fork, 4)), &keys, st, &l)
            .unwrap_err();
        assert_eq!(refusal_status(&e), 422);
        let e = check_add_checkpoint(
            &req(10, vec![], signed(&key, &fork, 10)),
            &keys,
            Some(b.tree),
            &l,
        )
        .unwrap_err();
        assert_eq!(refusal_status(&e), 422);
        // Smaller than stored: old (stored) above the size: 400.
        let e = check_add_checkpoint(
            &req(10, vec![], signed(&key, &good, 4)),
            &keys,
            Some(b.tree),
            &l,
        )
        .unwrap_err();
        assert_eq!(refusal_status(&e), 400);
        // Unknown log, unknown key, bad signature.
        let e = check_add_checkpoint(&req(0, vec![], signed(&key, &good, 4)), &[], None, &l)
            .unwrap_err();
        assert_eq!(refusal_status(&e), 404);
        let other = SigningKey::from_seed("log.example/a", [4; 32]).unwrap();
        let e = check_add_checkpoint(&req(0, vec![], signed(&other, &good, 4)), &keys, None, &l)
            .unwrap_err();
        assert_eq!(refusal_status(&e), 403);
        let mut tampered = signed(&key, &good, 4);
        tampered[15] ^= 1;
        let e = check_add_checkpoint(&req(0, vec![], tampered), &keys, None, &l).unwrap_err();
        assert!(matches!(refusal_status(&e), 403 | 400), "{e}");
        // A proof from 0: 422. Size 0 with a root that is not the empty tree's: 422.
        let e = check_add_checkpoint(
            &req(0, vec![leaf_hash(b"x")], signed(&key, &good, 4)),
            &keys,
            None,
            &l,
        )
        .unwrap_err();
        assert_eq!(refusal_status(&e), 422);
        let zero = Checkpoint {
            origin: "log.example/a".into(),
            size: 0,
            root: leaf_hash(b"x"),
            extensions: vec![],
        }
        .sign(&key)
        .unwrap()
        .to_text()
        .into_bytes();
        let e = check_add_checkpoint(&req(0, vec![], zero), &keys, None, &l).unwrap_err();
        assert_eq!(refusal_status(&e), 422);
    }
}
