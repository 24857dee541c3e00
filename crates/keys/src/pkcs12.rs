//! PKCS#12 (PFX) files, through the `p12-keystore` crate.
//!
//! p12-keystore 0.4.1 verifies the MAC (HMAC with SHA-1 or SHA-2, RFC 7292 appendix B key
//! derivation) and decrypts both families NuGet users meet:
//! - legacy PKCS#12 PBE: pbeWithSHAAnd3-KeyTripleDES-CBC and pbeWithSHAAnd40BitRC2-CBC
//!   (old Windows exports, `openssl pkcs12 -export -legacy`), through its `pbes1` feature
//!   (on by default);
//! - PBES2 (PBKDF2-HMAC-SHA256 + AES-256-CBC), OpenSSL 3's default, through `pkcs5`.
//!
//! It caps KDF and MAC iteration counts at 1,000,000. It keeps decrypted keys in plain
//! `Vec`s that it does not zeroize; this crate cannot reach them to wipe them, so it drops
//! the parsed archive as soon as the key pair is built.

use der::asn1::{Any, ObjectIdentifier};
use der::{Encode, Tag, TagNumber};
use p12_keystore::Pkcs12Archive;
use p12_keystore::error::Error as P12Error;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::key::{self, RsaKey};
use crate::pem;

/// What a PKCS#12 file holds, decoded.
pub(crate) struct Contents {
    pub(crate) key: RsaKey,
    /// Certificates in bag order (DER).
    pub(crate) certs: Vec<Vec<u8>>,
    /// The certificate bag whose localKeyId equals the key's, if any.
    pub(crate) key_cert: Option<usize>,
}

/// Opens a PKCS#12 file with `password` ("" for none).
pub(crate) fn open(der: &[u8], password: &str) -> Result<Contents, Error> {
    if pem::looks_like_pem(der) {
        return Err(Error::Pkcs12Decode {
            reason: "the input is PEM text, not a DER PKCS#12 file".into(),
        });
    }
    let archive = Pkcs12Archive::from_pkcs12(der, password).map_err(pfx_error)?;

    let mut keys: Vec<&p12_keystore::PrivateKeyBag> = Vec::new();
    for bag in &archive.keys {
        // The same key may be stored twice; only distinct keys are ambiguous.
        if !keys.iter().any(|k| k.key.as_der() == bag.key.as_der()) {
            keys.push(bag);
        }
    }
    let bag = match keys.as_slice() {
        [] => return Err(Error::NoPrivateKey),
        [one] => *one,
        many => {
            return Err(Error::MultiplePrivateKeys { count: many.len() });
        }
    };
    let key = key::decode_pkcs8(bag.key.as_der())?;
    if archive.certs.is_empty() {
        return Err(Error::NoCertificate("PKCS#12 file"));
    }
    let key_cert = bag.local_key_id.as_ref().and_then(|id| {
        archive
            .certs
            .iter()
            .position(|c| c.local_key_id.as_deref() == Some(id.as_ref()))
    });
    let certs = archive
        .certs
        .iter()
        .map(|c| c.cert.as_der().to_vec())
        .collect();
    Ok(Contents {
        key,
        certs,
        key_cert,
    })
}

/// Decrypts an `EncryptedPrivateKeyInfo` that uses a PKCS#12 PBE scheme (3DES or RC2-40)
/// and returns the PKCS#8 `PrivateKeyInfo`.
///
/// p12-keystore's PKCS#12 PBE code is private, and pkcs5 implements only PKCS#5's own
/// schemes, so the key is wrapped as the one shrouded-key bag of a MAC-less PFX (RFC 7292
/// §4) and read back with p12-keystore. Nothing is decrypted by code of this crate.
pub(crate) fn decrypt_shrouded_key(
    encrypted_pkcs8: &[u8],
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let pfx = wrap_in_pfx(encrypted_pkcs8).map_err(|_| Error::KeyFormat {
        reason: "the encrypted private key is too large",
    })?;
    let archive = Pkcs12Archive::from_pkcs12(&pfx, password).map_err(|e| match e {
        P12Error::UnsupportedEncryptionScheme => Error::UnsupportedKeyEncryption {
            scheme: "a PKCS#12 PBE scheme other than 3DES or RC2-40".into(),
        },
        P12Error::InvalidParameters => Error::KeyFormat {
            reason: "invalid PBE parameters, or an iteration count above the 1,000,000 limit",
        },
        // With no MAC to check first, a wrong password shows up as bad padding or as a
        // plaintext that is not a PrivateKeyInfo.
        _ => Error::KeyPassword,
    })?;
    match archive.keys.as_slice() {
        [bag] => Ok(Zeroizing::new(bag.key.as_der().to_vec())),
        _ => Err(Error::KeyPassword),
    }
}

/// `PFX { 3, ContentInfo(data, AuthenticatedSafe [ ContentInfo(data, SafeContents [
/// SafeBag(pkcs8ShroudedKeyBag, [0] key) ]) ]) }` with no MacData.
fn wrap_in_pfx(encrypted_pkcs8: &[u8]) -> der::Result<Vec<u8>> {
    const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    const SHROUDED_KEY_BAG: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
    let explicit0 = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    let tlv = |tag: Tag, parts: &[&[u8]]| -> der::Result<Vec<u8>> {
        Any::new(tag, parts.concat())?.to_der()
    };
    let bag = tlv(
        Tag::Sequence,
        &[
            &SHROUDED_KEY_BAG.to_der()?,
            &tlv(explicit0, &[encrypted_pkcs8])?,
        ],
    )?;
    let safe_contents = tlv(Tag::Sequence, &[&bag])?;
    let content_info = |inner: &[u8]| -> der::Result<Vec<u8>> {
        tlv(
            Tag::Sequence,
            &[
                &DATA.to_der()?,
                &tlv(explicit0, &[&tlv(Tag::OctetString, &[inner])?])?,
            ],
        )
    };
    let auth_safe = tlv(Tag::Sequence, &[&content_info(&safe_contents)?])?;
    tlv(Tag::Sequence, &[&3u8.to_der()?, &content_info(&auth_safe)?])
}

fn pfx_error(e: P12Error) -> Error {
    let decode = |reason: &str| Error::Pkcs12Decode {
        reason: reason.to_owned(),
    };
    match e {
        // The MAC is checked before anything is decrypted; without a MAC, a wrong password
        // shows up as bad padding.
        P12Error::MacError(_) | P12Error::UnpadError => Error::Pkcs12Password,
        P12Error::Pkcs5Error(reason) => Error::Pkcs12Decode {
            reason: format!("cannot decrypt the contents (is the password correct?): {reason}"),
        },
        P12Error::UnsupportedEncryptionScheme => Error::Pkcs12Unsupported {
            what: "encryption scheme",
        },
        P12Error::UnsupportedMacAlgorithm => Error::Pkcs12Unsupported {
            what: "MAC algorithm",
        },
        P12Error::UnsupportedCertificateType => Error::Pkcs12Unsupported {
            what: "certificate type",
        },
        P12Error::UnsupportedContentType => Error::Pkcs12Unsupported {
            what: "content type",
        },
        P12Error::InvalidParameters => {
            decode("invalid algorithm parameters, or an iteration count above the 1,000,000 limit")
        }
        P12Error::InvalidVersion => decode("not a version 3 PFX"),
        P12Error::DerError(e) => decode(&format!("malformed DER: {e}")),
        P12Error::X509Error(_) => decode("a certificate is malformed"),
        P12Error::InvalidPrivateKey => decode("a key bag does not hold a PKCS#8 private key"),
        other => decode(&other.to_string().to_lowercase()),
    }
}
