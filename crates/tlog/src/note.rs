//! c2sp.org/signed-note v1 with Ed25519 (signature type 0x01): notes, signing keys, verifier
//! keys (`name+hex(keyid)+base64(0x01||pubkey)`), and the key ID
//! SHA-256(name || 0x0A || 0x01 || pubkey)[:4].
//!
//! Ed25519 comes from aws-lc-rs, which signet already builds for everything else, instead of
//! the `signed_note` crate's ed25519-dalek stack.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;

use crate::error::malformed;
use crate::{Error, Limits};

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// The signature type byte of Ed25519 note signatures.
const ALG_ED25519: u8 = 0x01;

/// A signature line's em dash and space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Key names: non-empty, no Unicode spaces, no `+` (signed-note §Format).
pub(crate) fn check_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 256
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(Error::Key(format!("bad key name {name:?}")));
    }
    Ok(())
}

/// The key ID of an Ed25519 key.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    key_id_of(ALG_ED25519, name, public_key)
}

/// SHA-256(name || 0x0A || type || key)[:4], for a signature type byte.
pub(crate) fn key_id_of(alg: u8, name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(&[0x0A, alg]);
    ctx.update(public_key);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.as_ref().get(..4).unwrap_or(&[0; 4]));
    id
}

/// Parses a verifier key `name+hex(keyid)+base64(alg||pubkey)` of signature type `alg` with a
/// 32-byte key; the ID must be the one the key derives. Returns name, ID and key.
pub(crate) fn parse_vkey(
    vkey: &str,
    alg: u8,
    what: &str,
) -> Result<(String, [u8; 4], [u8; 32]), Error> {
    let vkey = vkey.trim();
    if vkey.len() > 512 {
        return Err(Error::Key("verifier key too long".into()));
    }
    // The base64 key may itself hold '+': split off name and ID only.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Key(format!("not name+id+key: {vkey:?}")));
    };
    check_key_name(name)?;
    let id = hex::decode(id_hex)
        .ok()
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .filter(|_| id_hex.len() == 8)
        .ok_or_else(|| Error::Key(format!("bad key ID {id_hex:?}")))?;
    let raw = B64
        .decode(key_b64)
        .map_err(|_| Error::Key("the key is not base64".into()))?;
    let Some((&found, pk)) = raw.split_first() else {
        return Err(Error::Key(format!("not an {what} (empty key)")));
    };
    if found != alg {
        return Err(Error::Key(format!(
            "not an {what}: signature type 0x{found:02x}, expected 0x{alg:02x}"
        )));
    }
    let public_key =
        <[u8; 32]>::try_from(pk).map_err(|_| Error::Key("an Ed25519 key is 32 bytes".into()))?;
    let derived = key_id_of(alg, name, &public_key);
    if derived != id {
        return Err(Error::Key(format!(
            "key ID {id_hex} is not the one the key derives ({})",
            hex::encode(derived)
        )));
    }
    Ok((name.to_owned(), id, public_key))
}

/// Parses a signing key `PRIVATE+KEY+name+hex(keyid)+base64(alg||seed)`: name, ID (hex) and seed.
pub(crate) fn parse_skey(skey: &str, alg: u8) -> Result<(String, String, [u8; 32]), Error> {
    let skey = skey.trim();
    let rest = skey
        .strip_prefix("PRIVATE+KEY+")
        .ok_or_else(|| Error::Key("a signing key starts with PRIVATE+KEY+".into()))?;
    let mut parts = rest.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Key("not PRIVATE+KEY+name+id+key".into()));
    };
    let raw = B64
        .decode(key_b64)
        .map_err(|_| Error::Key("the key is not base64".into()))?;
    let Some((&found, seed)) = raw.split_first() else {
        return Err(Error::Key("an empty signing key".into()));
    };
    if found != alg {
        return Err(Error::Key(format!(
            "signing key of signature type 0x{found:02x}, expected 0x{alg:02x}"
        )));
    }
    let seed =
        <[u8; 32]>::try_from(seed).map_err(|_| Error::Key("an Ed25519 seed is 32 bytes".into()))?;
    Ok((name.to_owned(), id_hex.to_owned(), seed))
}

/// The signing-key string `PRIVATE+KEY+name+hex(keyid)+base64(alg||seed)`.
pub(crate) fn skey_string(alg: u8, name: &str, id: [u8; 4], seed: &[u8; 32]) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(seed);
    format!("PRIVATE+KEY+{name}+{}+{}", hex::encode(id), B64.encode(raw))
}

/// The verifier-key string `name+hex(keyid)+base64(alg||pubkey)`.
pub(crate) fn vkey_string(alg: u8, name: &str, id: [u8; 4], public_key: &[u8; 32]) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(public_key);
    format!("{name}+{}+{}", hex::encode(id), B64.encode(raw))
}

/// An Ed25519 note verifier: key name, ID and public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    public_key: [u8; 32],
}

impl VerifierKey {
    /// From a name and a raw public key (the ID is derived).
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, Error> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &public_key),
            public_key,
        })
    }

    /// Parses `name+hex(keyid)+base64(0x01||pubkey)`; the ID must be the one the key derives.
    pub fn parse(vkey: &str) -> Result<Self, Error> {
        let (name, id, public_key) = parse_vkey(vkey, ALG_ED25519, "Ed25519 verifier key")?;
        Ok(Self {
            name,
            id,
            public_key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// Raw public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    pub(crate) fn verify(&self, text: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(text, sig)
            .is_ok()
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&vkey_string(
            ALG_ED25519,
            &self.name,
            self.id,
            &self.public_key,
        ))
    }
}

/// What signs notes. A KMS or PKCS#11 key implements it the same way.
pub trait NoteSigner: Send + Sync {
    /// The verifier key of this signer.
    fn verifier(&self) -> &VerifierKey;
    /// An Ed25519 signature over `text`.
    fn sign(&self, text: &[u8]) -> Result<[u8; 64], Error>;
}

/// An Ed25519 signing key held in memory, stored as Go's note signer key string
/// `PRIVATE+KEY+name+hex(keyid)+base64(0x01||seed)`.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    seed: zeroizing::Seed,
    verifier: VerifierKey,
}

pub(crate) mod zeroizing {
    /// The 32-byte seed, wiped on drop.
    pub(crate) struct Seed(pub(crate) [u8; 32]);
    impl Drop for Seed {
        fn drop(&mut self) {
            // Volatile enough for our purposes: the write is observable through `self`.
            self.0.iter_mut().for_each(|b| *b = 0);
            std::hint::black_box(&self.0);
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.verifier)
    }
}

impl SigningKey {
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
            verifier: VerifierKey::new(name, pk)?,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex(keyid)+base64(0x01||seed)`.
    pub fn parse(skey: &str) -> Result<Self, Error> {
        let (name, id_hex, seed) = parse_skey(skey, ALG_ED25519)?;
        let key = Self::from_seed(&name, seed)?;
        if hex::encode(key.verifier.id) != id_hex {
            return Err(Error::Key("the key ID does not match the key".into()));
        }
        Ok(key)
    }

    /// The key string [`SigningKey::parse`] reads (secret: write it to a private file).
    pub fn to_key_string(&self) -> String {
        skey_string(
            ALG_ED25519,
            &self.verifier.name,
            self.verifier.id,
            &self.seed.0,
        )
    }
}

impl NoteSigner for SigningKey {
    fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    fn sign(&self, text: &[u8]) -> Result<[u8; 64], Error> {
        let sig = self.pair.sign(text);
        <[u8; 64]>::try_from(sig.as_ref()).map_err(|_| Error::Crypto("Ed25519 signature length"))
    }
}

/// One signature line: key name, key ID, signature bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub id: [u8; 4],
    /// Signature bytes (after the ID).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line: `— name base64(id||signature)` and a newline.
    pub fn to_line(&self) -> String {
        let mut raw = self.id.to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// A parsed signed note: the text (ending in a newline) and its signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, final newline included.
    pub text: String,
    /// Signatures in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note (valid UTF-8; no control characters but newline; text, a blank
    /// line, then `— name base64(id||sig)` lines, each ending in a newline).
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Note, Error> {
        if input.len() > limits.max_note_size {
            return Err(Error::TooLarge {
                what: "signed note",
                limit: limits.max_note_size,
            });
        }
        let s = std::str::from_utf8(input).map_err(|e| {
            malformed(
                "signed note",
                format!("not UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        if let Some(pos) = s.bytes().position(|b| b < 0x20 && b != b'\n' || b == 0x7f) {
            return Err(malformed(
                "signed note",
                format!("control character at byte {pos}"),
            ));
        }
        if !s.ends_with('\n') {
            return Err(malformed("signed note", "does not end with a newline"));
        }
        let split = s
            .rfind("\n\n")
            .ok_or_else(|| malformed("signed note", "no blank line before the signatures"))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        let mut signatures = Vec::new();
        for line in sigs.split_terminator('\n') {
            if signatures.len() >= limits.max_signatures {
                return Err(Error::TooLarge {
                    what: "signatures on a note",
                    limit: limits.max_signatures,
                });
            }
            let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
                malformed("signed note", format!("not a signature line: {line:?}"))
            })?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| malformed("signed note", "signature line without a signature"))?;
            check_key_name(name).map_err(|_| malformed("signed note", "bad key name"))?;
            let raw = B64
                .decode(b64)
                .ok()
                .filter(|raw| B64.encode(raw) == b64)
                .ok_or_else(|| malformed("signed note", "signature is not canonical base64"))?;
            if raw.len() < 5 {
                return Err(malformed("signed note", "signature shorter than a key ID"));
            }
            let (id, sig) = raw.split_at(4);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                id: <[u8; 4]>::try_from(id).map_err(|_| malformed("signed note", "key ID"))?,
                signature: sig.to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(malformed("signed note", "no signatures"));
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Verifies the note with `key`: signatures of other keys are ignored; a signature with
    /// the key's name and ID must verify; at least one must.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), Error> {
        let mut ok = false;
        for s in &self.signatures {
            if s.name == key.name && s.id == key.id {
                if !key.verify(self.text.as_bytes(), &s.signature) {
                    return Err(Error::BadSignature(key.to_string()));
                }
                ok = true;
            }
        }
        if ok {
            Ok(())
        } else {
            Err(Error::UnknownSigner(key.to_string()))
        }
    }

    /// Signs `text` (which must end in a newline and hold no blank-line-then-dash ambiguity).
    pub fn sign(text: &str, signer: &dyn NoteSigner) -> Result<Note, Error> {
        if !text.ends_with('\n') || text.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(malformed(
                "note text",
                "must end in a newline and hold no control characters",
            ));
        }
        let sig = signer.sign(text.as_bytes())?;
        let v = signer.verifier();
        Ok(Note {
            text: text.to_owned(),
            signatures: vec![NoteSignature {
                name: v.name.clone(),
                id: v.id,
                signature: sig.to_vec(),
            }],
        })
    }

    /// The note's bytes.
    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_verifies() {
        // The example of c2sp.org/signed-note (a fact of the format: the key and the note).
        let vkey = VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let n = Note::parse(note.as_bytes(), &Limits::default()).unwrap();
        n.verify(&vkey).unwrap();
        assert_eq!(n.to_text(), note);
        let tampered = note.replace("example message", "exemplary message");
        let n = Note::parse(tampered.as_bytes(), &Limits::default()).unwrap();
        assert!(matches!(n.verify(&vkey), Err(Error::BadSignature(_))));
    }

    #[test]
    fn keys_round_trip() {
        // Seeds whose key encodings hold '+' and '/' in their base64 too.
        for seed in 0u8..=40 {
            let k = SigningKey::from_seed("log.example/x", [seed; 32]).unwrap();
            assert_eq!(
                SigningKey::parse(&k.to_key_string()).unwrap().verifier(),
                k.verifier()
            );
            assert_eq!(
                &VerifierKey::parse(&k.verifier().to_string()).unwrap(),
                k.verifier()
            );
        }
        let k = SigningKey::from_seed("log.example/x", [7; 32]).unwrap();
        let k2 = SigningKey::parse(&k.to_key_string()).unwrap();
        assert_eq!(k.verifier(), k2.verifier());
        let v = VerifierKey::parse(&k.verifier().to_string()).unwrap();
        assert_eq!(&v, k.verifier());
        let note = Note::sign("hello\n", &k).unwrap();
        let parsed = Note::parse(note.to_text().as_bytes(), &Limits::default()).unwrap();
        parsed.verify(&v).unwrap();
        let other = SigningKey::from_seed("log.example/x", [8; 32]).unwrap();
        assert!(matches!(
            parsed.verify(other.verifier()),
            Err(Error::UnknownSigner(_))
        ));
    }
}
