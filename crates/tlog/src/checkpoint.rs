//! c2sp.org/tlog-checkpoint: the note text `origin\nsize\nbase64(root)\n[extension lines]`.

use crate::error::malformed;
use crate::merkle::Hash;
use crate::note::{Note, NoteSigner, VerifierKey};
use crate::{Error, Limits};

/// A checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Extension lines (opaque; signet writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Parses a checkpoint body (the note text).
    pub fn parse(text: &str, limits: &Limits) -> Result<Checkpoint, Error> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("checkpoint", "does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("checkpoint", "empty origin line"));
        }
        let size_s = lines
            .next()
            .ok_or_else(|| malformed("checkpoint", "no size line"))?;
        let size: u64 = size_s
            .parse()
            .ok()
            .filter(|n: &u64| n.to_string() == size_s)
            .ok_or_else(|| malformed("checkpoint", format!("bad tree size {size_s:?}")))?;
        let root_s = lines
            .next()
            .ok_or_else(|| malformed("checkpoint", "no root hash line"))?;
        let root = Hash::from_base64(root_s)
            .ok_or_else(|| malformed("checkpoint", format!("bad root hash {root_s:?}")))?;
        let mut extensions = Vec::new();
        for l in lines {
            if l.is_empty() {
                return Err(malformed("checkpoint", "empty extension line"));
            }
            if extensions.len() >= limits.max_checkpoint_extensions {
                return Err(Error::TooLarge {
                    what: "checkpoint extension lines",
                    limit: limits.max_checkpoint_extensions,
                });
            }
            extensions.push(l.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Signs the checkpoint into a signed note.
    pub fn sign(&self, signer: &dyn NoteSigner) -> Result<SignedCheckpoint, Error> {
        let note = Note::sign(&self.to_text(), signer)?;
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note,
        })
    }
}

/// A checkpoint with its signed note; made only by signing or by verifying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint and verifies it with `key`, whose name must be the origin
    /// (tlog-checkpoint: the key name SHOULD match the origin; signet's logs do, and a
    /// client pins both).
    pub fn verify(input: &[u8], key: &VerifierKey, limits: &Limits) -> Result<Self, Error> {
        let note = Note::parse(input, limits)?;
        let checkpoint = Checkpoint::parse(&note.text, limits)?;
        if checkpoint.origin != key.name() {
            return Err(Error::WrongOrigin {
                expected: key.name().to_owned(),
                found: checkpoint.origin,
            });
        }
        note.verify(key)?;
        Ok(Self { checkpoint, note })
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note, as served.
    pub fn to_text(&self) -> String {
        self.note.to_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SigningKey;

    #[test]
    fn spec_example_parses() {
        let c = Checkpoint::parse(
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(c.size, 20852163);
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        for bad in [
            "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
            "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",
            "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ] {
            assert!(
                Checkpoint::parse(bad, &Limits::default()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn signed_round_trip_and_origin_binding() {
        let k = SigningKey::from_seed("nuget.example/log", [1; 32]).unwrap();
        let c = Checkpoint {
            origin: "nuget.example/log".into(),
            size: 3,
            root: crate::merkle::leaf_hash(b"x"),
            extensions: vec![],
        };
        let s = c.sign(&k).unwrap();
        let v = SignedCheckpoint::verify(s.to_text().as_bytes(), k.verifier(), &Limits::default())
            .unwrap();
        assert_eq!(v.checkpoint(), &c);
        let other = SigningKey::from_seed("other.example/log", [1; 32]).unwrap();
        let s2 = Checkpoint {
            origin: "other.example/log".into(),
            ..c
        }
        .sign(&other)
        .unwrap();
        assert!(matches!(
            SignedCheckpoint::verify(s2.to_text().as_bytes(), k.verifier(), &Limits::default()),
            Err(Error::WrongOrigin { .. })
        ));
    }
}
