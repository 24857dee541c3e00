//! c2sp.org/tlog-cosignature, the Ed25519 type (`cosignature/v1`): what a witness adds to a
//! checkpoint it verified.
//!
//! - key ID: SHA-256(name || 0x0A || 0x04 || public key)[:4] (signature type 0x04);
//! - verifier key: `name+hex(keyid)+base64(0x04||public key)`;
//! - signature line blob: key ID (4) || timestamp (u64, big-endian, POSIX seconds) || Ed25519
//!   signature (64) over `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body
//!   (the note text, final newline included, no signature lines).
//!
//! Signing keys are kept as `PRIVATE+KEY+name+hex(keyid)+base64(0x04||seed)`, the note
//! signer form with the cosignature type byte.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::Error;
use crate::note::{
    Note, NoteSignature, check_key_name, key_id_of, parse_skey, parse_vkey, skey_string,
    vkey_string, zeroizing,
};

/// The signature type byte of Ed25519 cosignatures.
pub const COSIGNATURE_V1: u8 = 0x04;

/// Length of a cosignature after its key ID: timestamp and Ed25519 signature.
const SIG_LEN: usize = 8 + 64;

/// The message an Ed25519 cosignature signs: the header line, the time line, the checkpoint
/// body.
pub fn cosigned_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// A witness's cosignature verifier key: name, key ID and Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    id: [u8; 4],
    public_key: [u8; 32],
}

impl CosignatureVerifier {
    /// From a name and a raw public key (the ID is derived).
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, Error> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id_of(COSIGNATURE_V1, name, &public_key),
            public_key,
        })
    }

    /// Parses `name+hex(keyid)+base64(0x04||pubkey)`; the ID must be the one the key derives.
    pub fn parse(vkey: &str) -> Result<Self, Error> {
        let (name, id, public_key) =
            parse_vkey(vkey, COSIGNATURE_V1, "Ed25519 cosignature (witness) key")?;
        Ok(Self {
            name,
            id,
            public_key,
        })
    }

    /// Key name (the witness's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// The Ed25519 public key. The signed message does not name the key, so one key under two
    /// names is one witness: count witnesses by this.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// Verifies this witness's cosignature on `note` (a checkpoint): signature lines with
    /// another name or key ID are ignored; one with this name and ID must verify. Returns the
    /// cosignature's timestamp (the newest, if the witness signed more than once).
    pub fn verify(&self, note: &Note) -> Result<u64, Error> {
        let mut newest = None;
        for s in &note.signatures {
            if s.name != self.name || s.id != self.id {
                continue;
            }
            let ts = self.verify_one(&note.text, &s.signature)?;
            newest = Some(newest.map_or(ts, |n: u64| n.max(ts)));
        }
        newest.ok_or_else(|| Error::UnknownSigner(self.to_string()))
    }

    fn verify_one(&self, text: &str, blob: &[u8]) -> Result<u64, Error> {
        let bad = || Error::BadSignature(self.to_string());
        if blob.len() != SIG_LEN {
            return Err(bad());
        }
        let (ts, sig) = blob.split_at(8);
        let ts = u64::from_be_bytes(<[u8; 8]>::try_from(ts).map_err(|_| bad())?);
        // A checkpoint cosignature carries a time (not 0) that fits in 63 bits.
        if ts == 0 || ts > i64::MAX as u64 {
            return Err(bad());
        }
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(&cosigned_message(text, ts), sig)
            .map_err(|_| bad())?;
        Ok(ts)
    }
}

impl std::fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&vkey_string(
            COSIGNATURE_V1,
            &self.name,
            self.id,
            &self.public_key,
        ))
    }
}

/// A witness's Ed25519 cosigning key.
pub struct CosignerKey {
    pair: Ed25519KeyPair,
    seed: zeroizing::Seed,
    verifier: CosignatureVerifier,
}

impl std::fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CosignerKey({})", self.verifier)
    }
}

impl CosignerKey {
    /// From a name and a 32-byte seed (randomness is the caller's).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, Error> {
        check_key_name(name)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| Error::Key("Ed25519 seed refused".into()))?;
        let pk = <[u8; 32]>::try_from(pair.public_key().as_ref())
            .map_err(|_| Error::Crypto("Ed25519 public key length"))?;
        Ok(Self {
            pair,
            seed: zeroizing::Seed(seed),
            verifier: CosignatureVerifier::new(name, pk)?,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex(keyid)+base64(0x04||seed)`.
    pub fn parse(skey: &str) -> Result<Self, Error> {
        let (name, id_hex, seed) = parse_skey(skey, COSIGNATURE_V1)?;
        let key = Self::from_seed(&name, seed)?;
        if hex::encode(key.verifier.id) != id_hex {
            return Err(Error::Key("the key ID does not match the key".into()));
        }
        Ok(key)
    }

    /// The key string [`CosignerKey::parse`] reads (secret: write it to a private file).
    pub fn to_key_string(&self) -> String {
        skey_string(
            COSIGNATURE_V1,
            &self.verifier.name,
            self.verifier.id,
            &self.seed.0,
        )
    }

    /// The verifier key clients pin.
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }

    /// A cosignature of the checkpoint body `checkpoint_text` at `timestamp` (POSIX seconds,
    /// 1 ..= 2^63 - 1).
    pub fn cosign(&self, checkpoint_text: &str, timestamp: u64) -> Result<NoteSignature, Error> {
        if timestamp == 0 || timestamp > i64::MAX as u64 {
            return Err(Error::OutOfRange(format!(
                "cosignature timestamp {timestamp}"
            )));
        }
        let sig = self
            .pair
            .sign(&cosigned_message(checkpoint_text, timestamp));
        let mut blob = Vec::with_capacity(SIG_LEN);
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(sig.as_ref());
        Ok(NoteSignature {
            name: self.verifier.name.clone(),
            id: self.verifier.id,
            signature: blob,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checkpoint, Limits, SigningKey};

    #[test]
    fn cosign_verify_round_trip() {
        let log = SigningKey::from_seed("log.example/x", [1; 32]).unwrap();
        let w = CosignerKey::from_seed("witness.example/w1", [2; 32]).unwrap();
        assert_eq!(
            CosignerKey::parse(&w.to_key_string()).unwrap().verifier(),
            w.verifier()
        );
        let v = CosignatureVerifier::parse(&w.verifier().to_string()).unwrap();
        assert_eq!(&v, w.verifier());
        // The Ed25519 note key and the cosignature key of one seed and name differ in ID.
        let as_note = SigningKey::from_seed("witness.example/w1", [2; 32]).unwrap();
        use crate::NoteSigner as _;
        assert_ne!(as_note.verifier().id(), v.id());
        assert!(CosignatureVerifier::parse(&as_note.verifier().to_string()).is_err());

        let cp = Checkpoint {
            origin: "log.example/x".into(),
            size: 5,
            root: crate::leaf_hash(b"r"),
            extensions: vec![],
        }
        .sign(&log)
        .unwrap();
        let mut note = Note::parse(cp.to_text().as_bytes(), &Limits::default()).unwrap();
        assert!(matches!(v.verify(&note), Err(Error::UnknownSigner(_))));
        note.signatures
            .push(w.cosign(&note.text, 1_700_000_000).unwrap());
        let reparsed = Note::parse(note.to_text().as_bytes(), &Limits::default()).unwrap();
        assert_eq!(v.verify(&reparsed).unwrap(), 1_700_000_000);
        reparsed.verify(log.verifier()).unwrap();
        // Another time in the blob than the one signed: refused.
        let mut forged = reparsed.clone();
        if let Some(s) = forged.signatures.last_mut() {
            s.signature[7] ^= 1;
        }
        assert!(matches!(v.verify(&forged), Err(Error::BadSignature(_))));
        assert!(w.cosign(&note.text, 0).is_err());
    }
}
