//! Signature verification with aws-lc-rs: RSA PKCS#1 v1.5 (what NuGet signs with) and ECDSA
//! (which some roots and intermediates in the trust bundles use).

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use spki::SubjectPublicKeyInfoOwned;

use crate::Error;
use crate::oids;

/// A digest used inside a signature scheme; SHA-1 only for legacy certificates in chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Digest {
    /// SHA-1 (legacy; accepted only where NuGet/.NET accept it).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Digest {
    /// The digest for an algorithm OID (id-sha1, id-sha256, ...).
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            oids::SHA1 => Some(Self::Sha1),
            oids::SHA256 => Some(Self::Sha256),
            oids::SHA384 => Some(Self::Sha384),
            oids::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest as d;
        let alg = match self {
            Self::Sha1 => &d::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &d::SHA256,
            Self::Sha384 => &d::SHA384,
            Self::Sha512 => &d::SHA512,
        };
        d::digest(alg, data).as_ref().to_vec()
    }
}

/// A signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5 with the digest.
    RsaPkcs1(Digest),
    /// ECDSA (ASN.1 DER signature) with the digest.
    Ecdsa(Digest),
}

/// The scheme of a certificate or CRL `signatureAlgorithm`.
pub fn scheme_for_signature_algorithm(oid: &ObjectIdentifier) -> Option<Scheme> {
    Some(match *oid {
        oids::SHA1_WITH_RSA => Scheme::RsaPkcs1(Digest::Sha1),
        oids::SHA256_WITH_RSA => Scheme::RsaPkcs1(Digest::Sha256),
        oids::SHA384_WITH_RSA => Scheme::RsaPkcs1(Digest::Sha384),
        oids::SHA512_WITH_RSA => Scheme::RsaPkcs1(Digest::Sha512),
        oids::ECDSA_SHA256 => Scheme::Ecdsa(Digest::Sha256),
        oids::ECDSA_SHA384 => Scheme::Ecdsa(Digest::Sha384),
        _ => return None,
    })
}

/// The scheme of a CMS SignerInfo: `signatureAlgorithm` may be plain `rsaEncryption` (then the
/// digest comes from `digestAlgorithm`) or a combined OID (sha256WithRSAEncryption, as in
/// `xunit.abstractions.2.0.3`).
pub fn scheme_for_signer(
    signature_alg: &ObjectIdentifier,
    digest_alg: &ObjectIdentifier,
) -> Option<Scheme> {
    if *signature_alg == oids::RSA_ENCRYPTION {
        return Digest::from_oid(digest_alg).map(Scheme::RsaPkcs1);
    }
    scheme_for_signature_algorithm(signature_alg)
}

/// A subject public key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PublicKey {
    /// RSA: PKCS#1 RSAPublicKey DER and the modulus size.
    Rsa {
        /// RSAPublicKey DER (the SPKI bit string contents).
        pkcs1: Vec<u8>,
        /// Modulus size in bits.
        bits: usize,
    },
    /// EC on a named curve: the uncompressed point.
    Ec {
        /// Curve OID.
        curve: ObjectIdentifier,
        /// SEC1 point.
        point: Vec<u8>,
    },
    /// Any other algorithm (cannot verify).
    Other(ObjectIdentifier),
}

impl PublicKey {
    /// From a SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, Error> {
        let key = spki.subject_public_key.raw_bytes().to_vec();
        match spki.algorithm.oid {
            oids::RSA_ENCRYPTION => {
                let bits = rsa_modulus_bits(&key)
                    .ok_or_else(|| Error::asn1("RSA public key", "malformed".into()))?;
                Ok(Self::Rsa { pkcs1: key, bits })
            }
            oids::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    .ok_or_else(|| Error::asn1("EC public key", "missing named curve".into()))?;
                Ok(Self::Ec { curve, point: key })
            }
            other => Ok(Self::Other(other)),
        }
    }

    /// Verifies `signature` over `message` with `scheme`.
    pub fn verify(
        &self,
        scheme: Scheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let (alg, key): (&'static dyn VerificationAlgorithm, &[u8]) = match (self, scheme) {
            // Legacy 1024-bit variants are used so that a short key is reported by policy
            // (NU3014/NU3023), not as a bad signature; policy enforces the 2048-bit minimum.
            (Self::Rsa { pkcs1, .. }, Scheme::RsaPkcs1(d)) => (
                match d {
                    Digest::Sha1 => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    Digest::Sha256 => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                    Digest::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Digest::Sha512 => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
                },
                pkcs1,
            ),
            (Self::Ec { curve, point }, Scheme::Ecdsa(d)) => (
                match (*curve, d) {
                    (oids::SECP256R1, Digest::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                    (oids::SECP256R1, Digest::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                    (oids::SECP384R1, Digest::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                    (oids::SECP384R1, Digest::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                    _ => return Err(VerifyError::Unsupported),
                },
                point,
            ),
            _ => return Err(VerifyError::Unsupported),
        };
        UnparsedPublicKey::new(alg, key)
            .verify(message, signature)
            .map_err(|_| VerifyError::BadSignature)
    }
}

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The key and scheme do not fit together or are not supported.
    Unsupported,
    /// The signature is wrong.
    BadSignature,
}

/// Modulus size of a PKCS#1 RSAPublicKey.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    use crate::tlv::{Reader, tag};
    let mut r = Reader::new(pkcs1);
    let seq = r.expect(tag::SEQUENCE, "RSAPublicKey").ok()?;
    let n = seq.reader().expect(tag::INTEGER, "modulus").ok()?.value;
    let skip = n.iter().take_while(|b| **b == 0).count();
    let n = n.get(skip..)?;
    let first = *n.first()?;
    Some((n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}
