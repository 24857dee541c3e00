//! Private key decoding: PKCS#8, encrypted PKCS#8 and PKCS#1, in PEM or DER, RSA only.

use aws_lc_rs::signature::RsaKeyPair;
use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Sequence};
use pkcs1::{RsaPrivateKeyRef, RsaPublicKeyRef};
use pkcs5::pbes2::Kdf;
use pkcs8::{AlgorithmIdentifierRef, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};

use crate::error::Error;
use crate::{MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_MEMORY, pem, pkcs12};

/// rsaEncryption (RFC 8017 appendix C).
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-PBES2 (RFC 8018 appendix A.4).
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 appendix C).
pub(crate) const PBE_SHA1_3DES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
/// pbeWithSHAAnd40BitRC2-CBC (RFC 7292 appendix C).
pub(crate) const PBE_SHA1_RC2_40: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");

/// A decoded RSA key pair and its modulus size.
pub(crate) struct RsaKey {
    pub(crate) pair: RsaKeyPair,
    pub(crate) bits: usize,
}

/// Decodes a private key given as PEM text or DER bytes.
///
/// `password` is used only if the key turns out to be encrypted.
pub(crate) fn decode(input: &[u8], password: Option<&str>) -> Result<RsaKey, Error> {
    if !pem::looks_like_pem(input) {
        return decode_der(input, password);
    }
    let blocks = pem::blocks(input).map_err(|reason| Error::KeyFormat { reason })?;
    let keys: Vec<&pem::Block> = blocks
        .iter()
        .filter(|b| b.label.ends_with("PRIVATE KEY"))
        .collect();
    let block = match keys.as_slice() {
        [] => {
            return Err(Error::KeyFormat {
                reason: "the PEM input has no PRIVATE KEY block",
            });
        }
        [one] => *one,
        many => return Err(Error::MultipleKeysInInput { count: many.len() }),
    };
    if block.legacy_encrypted {
        return Err(Error::UnsupportedKeyEncryption {
            scheme: "legacy OpenSSL PEM encryption (Proc-Type: 4,ENCRYPTED); \
                     convert the key to encrypted PKCS#8 with `openssl pkcs8 -topk8`"
                .into(),
        });
    }
    match block.label.as_str() {
        // SEC1 and OpenSSL's traditional DSA format: say what the key is rather than
        // "cannot decode".
        "EC PRIVATE KEY" => Err(unsupported("an EC key")),
        "DSA PRIVATE KEY" => Err(unsupported("a DSA key")),
        "OPENSSH PRIVATE KEY" => Err(Error::KeyFormat {
            reason: "OpenSSH private keys are not supported; convert with `ssh-keygen -p -m PKCS8`",
        }),
        // "PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY": the DER says which,
        // so a mislabelled block still works.
        _ => decode_der(&block.der, password),
    }
}

/// Decodes an unencrypted PKCS#8 `PrivateKeyInfo` (what a PKCS#12 key bag holds).
pub(crate) fn decode_pkcs8(der: &[u8]) -> Result<RsaKey, Error> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(|_| Error::KeyFormat {
        reason: "the key is not a PKCS#8 PrivateKeyInfo",
    })?;
    from_private_key_info(&info)
}

/// Recognises the DER structure: each candidate has a different shape, so at most one parses.
fn decode_der(der: &[u8], password: Option<&str>) -> Result<RsaKey, Error> {
    if let Ok(info) = PrivateKeyInfoRef::from_der(der) {
        return from_private_key_info(&info);
    }
    if let Ok(key) = RsaPrivateKeyRef::from_der(der) {
        return from_pkcs1(der, &key);
    }
    if let Ok(encrypted) = EncryptedShape::from_der(der) {
        return decrypt(der, &encrypted, password);
    }
    if Sec1Shape::from_der(der).is_ok_and(|k| k.version == 1) {
        return Err(unsupported("an EC key"));
    }
    Err(Error::KeyFormat {
        reason: "the input is not a PKCS#8, encrypted PKCS#8 or PKCS#1 private key",
    })
}

fn from_private_key_info(info: &PrivateKeyInfoRef<'_>) -> Result<RsaKey, Error> {
    let oid = info.algorithm.oid;
    if oid != RSA_ENCRYPTION {
        return Err(unsupported(&format!(
            "{} ({oid})",
            key_algorithm_name(oid).unwrap_or("a key of unknown type")
        )));
    }
    // The OCTET STRING holds a PKCS#1 RSAPrivateKey; decoding it ourselves accepts
    // PKCS#8 v1 and v2 alike and gives us the modulus for error messages.
    let pkcs1_der = info.private_key.as_bytes();
    let key = RsaPrivateKeyRef::from_der(pkcs1_der).map_err(|_| Error::KeyFormat {
        reason: "the PKCS#8 key's RSAPrivateKey is malformed",
    })?;
    from_pkcs1(pkcs1_der, &key)
}

fn from_pkcs1(der: &[u8], key: &RsaPrivateKeyRef<'_>) -> Result<RsaKey, Error> {
    let bits = bit_len(key.modulus.as_bytes());
    // aws-lc-rs checks the key's consistency, and refuses moduli outside 2048..=8192 bits.
    let pair = RsaKeyPair::from_der(der).map_err(|e| {
        if bits < 2048 {
            Error::KeyTooSmall { bits }
        } else {
            Error::KeyRejected {
                reason: e.description_(),
            }
        }
    })?;
    Ok(RsaKey { pair, bits })
}

fn decrypt(
    der: &[u8],
    shape: &EncryptedShape<'_>,
    password: Option<&str>,
) -> Result<RsaKey, Error> {
    let Some(password) = password else {
        return Err(Error::KeyPasswordRequired);
    };
    let oid = shape.algorithm.oid;
    if oid == PBES2 {
        // pkcs8/pkcs5 implement PBES2: PBKDF2 (HMAC-SHA1/SHA-2) or scrypt, with AES-CBC,
        // AES-GCM, 3DES or DES.
        let info = EncryptedPrivateKeyInfoRef::from_der(der).map_err(|_| {
            Error::UnsupportedKeyEncryption {
                scheme: "PBES2 with an unsupported key derivation function or cipher".into(),
            }
        })?;
        check_pbes2_cost(&info.encryption_algorithm)?;
        let plain = info.decrypt(password.as_bytes()).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::UnsupportedAlgorithm { oid }) => {
                Error::UnsupportedKeyEncryption {
                    scheme: format!("PBES2 with algorithm {oid}"),
                }
            }
            // Padding failure, or a plaintext that is not DER: a wrong password.
            _ => Error::KeyPassword,
        })?;
        // `plain` is a SecretDocument: zeroized on drop.
        let info = PrivateKeyInfoRef::from_der(plain.as_bytes()).map_err(|_| Error::KeyPassword)?;
        return from_private_key_info(&info);
    }
    if oid == PBE_SHA1_3DES || oid == PBE_SHA1_RC2_40 {
        // PKCS#12 PBE, which OpenSSL 1.0's `pkcs8 -topk8` wrote by default.
        let plain = pkcs12::decrypt_shrouded_key(der, password)?;
        let info = PrivateKeyInfoRef::from_der(&plain).map_err(|_| Error::KeyPassword)?;
        return from_private_key_info(&info);
    }
    Err(Error::UnsupportedKeyEncryption {
        scheme: format!(
            "{} ({oid})",
            encryption_name(oid).unwrap_or("an unknown scheme")
        ),
    })
}

/// Bounds the password-derivation work an input file can demand (a DoS guard).
fn check_pbes2_cost(scheme: &pkcs5::EncryptionScheme) -> Result<(), Error> {
    let pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    let too_costly = match &params.kdf {
        Kdf::Pbkdf2(p) => p.iteration_count > MAX_PBKDF2_ITERATIONS,
        Kdf::Scrypt(s) => {
            // scrypt memory is 128 * N * r bytes; p multiplies the time.
            let memory = 128u64
                .checked_mul(s.cost_parameter)
                .and_then(|m| m.checked_mul(u64::from(s.block_size)));
            memory.is_none_or(|m| m > MAX_SCRYPT_MEMORY) || s.parallelization > 16
        }
        _ => false,
    };
    if too_costly {
        return Err(Error::KdfCostTooHigh);
    }
    Ok(())
}

fn unsupported(algorithm: &str) -> Error {
    Error::UnsupportedKeyAlgorithm {
        algorithm: algorithm.to_owned(),
    }
}

fn key_algorithm_name(oid: ObjectIdentifier) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "an EC key",
        "1.2.840.10040.4.1" => "a DSA key",
        "1.3.101.110" => "an X25519 key",
        "1.3.101.111" => "an X448 key",
        "1.3.101.112" => "an Ed25519 key",
        "1.3.101.113" => "an Ed448 key",
        "1.2.840.113549.1.1.10" => "an RSASSA-PSS-only key",
        "1.2.840.113549.1.3.1" => "a Diffie-Hellman key",
        _ => return None,
    })
}

fn encryption_name(oid: ObjectIdentifier) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "1.2.840.113549.1.5.3" => "pbeWithMD5AndDES-CBC",
        "1.2.840.113549.1.5.10" => "pbeWithSHA1AndDES-CBC",
        "1.2.840.113549.1.5.6" => "pbeWithMD5AndRC2-CBC",
        "1.2.840.113549.1.5.11" => "pbeWithSHA1AndRC2-CBC",
        "1.2.840.113549.1.12.1.1" => "pbeWithSHAAnd128BitRC4",
        "1.2.840.113549.1.12.1.2" => "pbeWithSHAAnd40BitRC4",
        "1.2.840.113549.1.12.1.4" => "pbeWithSHAAnd2-KeyTripleDES-CBC",
        "1.2.840.113549.1.12.1.5" => "pbeWithSHAAnd128BitRC2-CBC",
        _ => return None,
    })
}

/// Size in bits of a big-endian unsigned integer without leading zero bytes.
pub(crate) fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        Some(first) => {
            let rest = be.get(first..).unwrap_or_default();
            let top = rest.first().copied().unwrap_or_default();
            rest.len() * 8 - top.leading_zeros() as usize
        }
        None => 0,
    }
}

/// The RSA public key (modulus, exponent) of a key pair, as unsigned big-endian bytes.
pub(crate) fn public_components(pair: &RsaKeyPair) -> Option<(Vec<u8>, Vec<u8>)> {
    use aws_lc_rs::signature::KeyPair;
    // aws-lc-rs encodes the public key as a PKCS#1 RSAPublicKey.
    let public = RsaPublicKeyRef::from_der(pair.public_key().as_ref()).ok()?;
    Some((
        public.modulus.as_bytes().to_vec(),
        public.public_exponent.as_bytes().to_vec(),
    ))
}

/// `EncryptedPrivateKeyInfo` with any algorithm: pkcs8's own type only decodes the PKCS#5
/// schemes, not the PKCS#12 PBE ones.
#[derive(Sequence)]
struct EncryptedShape<'a> {
    algorithm: AlgorithmIdentifierRef<'a>,
    data: &'a OctetStringRef,
}

/// SEC1 `ECPrivateKey` (RFC 5915), recognised only to name it in the error.
#[derive(Sequence)]
struct Sec1Shape<'a> {
    version: u8,
    private_key: &'a OctetStringRef,
    #[asn1(context_specific = "0", optional = "true")]
    parameters: Option<AnyRef<'a>>,
    #[asn1(context_specific = "1", optional = "true")]
    public_key: Option<AnyRef<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0, 0x80, 0]), 16);
        assert_eq!(bit_len(&[0x7f, 0xff]), 15);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x00",
            b"\x30\x80\x00\x00",
            b"\x30\x84\xff\xff\xff\xff",
            b"hello world",
            b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(decode(input, None).is_err());
            assert!(decode(input, Some("pw")).is_err());
            assert!(decode_pkcs8(input).is_err());
        }
    }

    #[test]
    fn names_non_rsa_pkcs8() {
        // PrivateKeyInfo { v1, ecPublicKey/prime256v1, OCTET STRING {} }: the algorithm is
        // rejected before the contents are looked at.
        let der = [
            0x30, 0x1a, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x00,
        ];
        let err = decode(&der, None).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("only RSA keys are supported, found an EC key"),
            "{err}"
        );
    }
}
