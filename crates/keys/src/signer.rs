//! The `Signer` trait and the software (in-memory key) implementation.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RsaEncoding};
use signet_common::HashAlgorithm;

use crate::cert;
use crate::error::Error;
use crate::key::{self, RsaKey};
use crate::pkcs12;

/// A private key that signs with RSA PKCS#1 v1.5, together with its certificate chain.
///
/// Implementations: [`SoftwareSigner`] (a key held in memory, from a PKCS#12 or PEM/DER
/// file); hardware tokens (PKCS#11) and KMS keys plug in the same way.
pub trait Signer: Send + Sync {
    /// DER certificates, the signer's leaf first, then the rest of the chain as found in the
    /// input: ordered leaf → issuer → … while the issuers are present, then any unrelated
    /// certificates in input order.
    fn certificate_chain(&self) -> &[Vec<u8>];

    /// Hashes `message` with `alg` and signs the digest with RSASSA-PKCS1-v1_5
    /// (RFC 8017 §8.2). Returns the signature, as long as the modulus.
    fn sign(&self, alg: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, Error>;

    /// Public modulus size in bits.
    fn key_bits(&self) -> usize;
}

/// An RSA private key held in memory (aws-lc-rs), with its certificate chain.
///
/// The key lives inside aws-lc, whose allocator wipes memory when it is freed (on drop);
/// `Debug` shows only the leaf subject, the key size and the chain length.
pub struct SoftwareSigner {
    key: RsaKey,
    chain: Vec<Vec<u8>>,
    leaf_subject: String,
}

impl SoftwareSigner {
    /// Loads a PKCS#12 (PFX) file: legacy 3DES/RC2-40 or PBES2/AES, MAC with SHA-1 or SHA-2.
    ///
    /// `password` is `""` for a file exported without one. The file must hold exactly one
    /// RSA private key and the certificate for it.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, Error> {
        let contents = pkcs12::open(der, password)?;
        Self::assemble(contents.key, contents.certs, contents.key_cert)
    }

    /// Loads a private key and a certificate chain.
    ///
    /// `key` is PEM or DER: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or encrypted
    /// PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2 or PKCS#12 PBE), which needs `key_password`;
    /// the password is ignored for an unencrypted key. `chain` is one or more PEM
    /// `CERTIFICATE` blocks (other blocks are skipped) or a single DER certificate, in any
    /// order; the certificate whose public key matches the key becomes the leaf.
    pub fn from_key_and_chain(
        key: &[u8],
        key_password: Option<&str>,
        chain: &[u8],
    ) -> Result<Self, Error> {
        let key = key::decode(key, key_password)?;
        let certs = cert::split_chain_input(chain)?;
        Self::assemble(key, certs, None)
    }

    fn assemble(key: RsaKey, certs: Vec<Vec<u8>>, preferred: Option<usize>) -> Result<Self, Error> {
        let public = key::public_components(&key.pair).ok_or(Error::KeyRejected {
            reason: "unreadable public key",
        })?;
        let chain = cert::assemble(&public, certs, preferred)?;
        Ok(Self {
            key,
            chain: chain.certs,
            leaf_subject: chain.leaf_subject,
        })
    }

    /// The leaf certificate (the first of [`Signer::certificate_chain`]).
    pub fn leaf_certificate(&self) -> &[u8] {
        self.chain.first().map(Vec::as_slice).unwrap_or_default()
    }
}

impl Signer for SoftwareSigner {
    fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn sign(&self, alg: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, Error> {
        let padding: &'static dyn RsaEncoding = match alg {
            HashAlgorithm::Sha256 => &RSA_PKCS1_SHA256,
            HashAlgorithm::Sha384 => &RSA_PKCS1_SHA384,
            HashAlgorithm::Sha512 => &RSA_PKCS1_SHA512,
            // HashAlgorithm is non_exhaustive; a new member needs a padding choice here.
            _ => return Err(Error::Sign),
        };
        let mut signature = vec![0; self.key.pair.public_modulus_len()];
        // PKCS#1 v1.5 signing is deterministic and aws-lc-rs ignores the RNG argument, so
        // no randomness reaches the signature; the trait therefore takes no RNG.
        self.key
            .pair
            .sign(padding, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| Error::Sign)?;
        Ok(signature)
    }

    fn key_bits(&self) -> usize {
        self.key.bits
    }
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("subject", &self.leaf_subject)
            .field("key_bits", &self.key.bits)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}
