//! Signing keys for signet, behind the [`Signer`] trait.
//!
//! [`SoftwareSigner`] holds an RSA key in memory (aws-lc-rs) and its certificate chain,
//! loaded from:
//! - a PKCS#12/PFX file ([`SoftwareSigner::from_pkcs12`]): legacy
//!   pbeWithSHAAnd3-KeyTripleDES-CBC / pbeWithSHAAnd40BitRC2-CBC files (old Windows,
//!   `openssl pkcs12 -export -legacy`) and PBES2 AES-256-CBC + HMAC-SHA256 files (OpenSSL 3's
//!   default);
//! - a private key plus a certificate chain ([`SoftwareSigner::from_key_and_chain`]): PKCS#8,
//!   PKCS#1 or encrypted PKCS#8 keys in PEM or DER, chains as PEM bundles or one DER
//!   certificate.
//!
//! [`load_signer`] reads those files the way the CLI's `--certificate-path`,
//! `--certificate-password` and `--certificate-key` options name them.
//!
//! Whatever the input, the leaf is the certificate whose RSA public key equals the private
//! key's, and the other certificates are ordered by issuer/subject name. Only RSA keys are
//! accepted. NuGet's 2048-bit minimum (`NU3014`) belongs to the signing policy, but
//! aws-lc-rs itself refuses keys under 2048 bits, so those fail here with
//! [`Error::KeyTooSmall`].
//!
//! # Limits
//!
//! The inputs are files the operator chose, so fixed bounds suffice: [`MAX_FILE_LEN`],
//! [`MAX_CERTIFICATES`], and for encrypted keys [`MAX_PBKDF2_ITERATIONS`] and
//! [`MAX_SCRYPT_MEMORY`] (PKCS#12 files: p12-keystore's own cap of 1,000,000 iterations).
//!
//! # Secrets
//!
//! Decrypted or decoded key bytes are held in zeroizing buffers, and no error message
//! contains a password or key bytes.

mod cert;
mod error;
mod key;
mod load;
mod pem;
mod pkcs12;
mod signer;

pub use error::{Error, FileKind};
pub use load::load_signer;
pub use signer::{Signer, SoftwareSigner};

/// Largest key, certificate or PKCS#12 file [`load_signer`] reads (8 MiB); real ones are a
/// few KiB.
pub const MAX_FILE_LEN: u64 = 8 * 1024 * 1024;

/// Most certificates accepted in one input (after the 256th, [`Error::TooManyCertificates`]).
pub const MAX_CERTIFICATES: usize = 256;

/// Highest PBKDF2 iteration count accepted for an encrypted PKCS#8 key (OpenSSL writes
/// 2048; hardened tools use up to a few hundred thousand).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Most memory an scrypt-encrypted PKCS#8 key may demand, `128·N·r` bytes (256 MiB).
pub const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
