//! A [`Signer`](signet_keys::Signer) whose RSA private key stays on a PKCS#11 token: an HSM,
//! a smart card or USB token, a cloud HSM's PKCS#11 library, or SoftHSM in tests.
//!
//! Since June 2023 publicly trusted code-signing certificates are issued only for keys kept
//! in hardware (CA/Browser Forum baseline requirements for code signing, §6.2.7.4), so this
//! is how a real author signs. [`Pkcs11Signer::open`] loads the module (`cryptoki`), finds the
//! token by label, logs in with the user PIN, finds the private key by label or CKA_ID, reads
//! its public key, and pairs it with a certificate chain from a file or from the token.
//!
//! # Mechanisms
//!
//! NuGet signatures are RSASSA-PKCS1-v1_5 with SHA-256, SHA-384 or SHA-512. For each hash the
//! signer uses `CKM_SHA256_RSA_PKCS` / `CKM_SHA384_RSA_PKCS` / `CKM_SHA512_RSA_PKCS` (the
//! token hashes) when the token offers it and the key's `CKA_ALLOWED_MECHANISMS` permits it,
//! and otherwise `CKM_RSA_PKCS` over the DER `DigestInfo` it builds itself (RFC 8017 §9.2),
//! which every RSA token supports. A key usable with neither for SHA-256 is refused at open
//! time ([`Error::UnsupportedMechanism`]).
//!
//! # Secrets
//!
//! The private key never leaves the token: every signature is a `C_Sign` call. The PIN is a
//! [`Pin`], zeroized on drop and never formatted; no error message contains it. It is kept
//! after login only for keys with `CKA_ALWAYS_AUTHENTICATE` (PIV signing keys), which need a
//! context-specific login before each signature.
//!
//! # Threads
//!
//! One PKCS#11 session serves the signer; signatures are serialised by a mutex (a TSA
//! signing from several worker threads waits its turn). The module is initialised with
//! `CKF_OS_LOCKING_OK` and never finalised, so several signers may share one module in a
//! process.

mod cert;
mod ed25519;
mod error;
mod signer;
#[cfg(feature = "softhsm-fixture")]
pub mod softhsm;

pub use ed25519::Pkcs11Ed25519Key;
pub use error::Error;
pub use signer::{CertificateSource, KeySelector, Pin, Pkcs11Signer, TokenKey};

/// Largest certificate file read (8 MiB, as for key files).
pub const MAX_CERTIFICATE_FILE_LEN: u64 = 8 * 1024 * 1024;

/// Most certificates accepted from a file or the token.
pub const MAX_CERTIFICATES: usize = 256;

/// Most private keys or certificates examined on one token.
pub const MAX_OBJECTS: usize = 1024;

/// An RSA public key as big-endian bytes without leading zeros, for comparing a token key
/// with a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RsaPublic {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl RsaPublic {
    pub(crate) fn new(modulus: &[u8], exponent: &[u8]) -> Self {
        fn strip(b: &[u8]) -> Vec<u8> {
            let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b.get(first..).unwrap_or_default().to_vec()
        }
        Self {
            modulus: strip(modulus),
            exponent: strip(exponent),
        }
    }

    /// Modulus length in bits.
    pub(crate) fn bits(&self) -> usize {
        match self.modulus.first() {
            Some(&top) => (self.modulus.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
            None => 0,
        }
    }

    /// The first eight bytes of the modulus in upper-case hex.
    pub(crate) fn modulus_prefix(&self) -> String {
        self.modulus
            .iter()
            .take(8)
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn rsa_public_ignores_leading_zeros_and_counts_bits() {
        let a = RsaPublic::new(&[0, 0, 0x80, 1], &[0, 1, 0, 1]);
        let b = RsaPublic::new(&[0x80, 1], &[1, 0, 1]);
        assert_eq!(a, b);
        assert_eq!(a.bits(), 16);
        assert_eq!(RsaPublic::new(&[0x01, 0xff], &[3]).bits(), 9);
        assert_eq!(a.modulus_prefix(), "8001");
    }

    #[test]
    fn key_selector_forms() {
        assert_eq!(
            KeySelector::parse("id:0a:FF").unwrap(),
            KeySelector::Id(vec![0x0a, 0xff])
        );
        assert_eq!(
            KeySelector::parse("label:01").unwrap(),
            KeySelector::Label("01".into())
        );
        assert_eq!(
            KeySelector::parse("signing key").unwrap(),
            KeySelector::LabelOrId("signing key".into())
        );
        assert!(KeySelector::parse("id:xyz").is_err());
        assert!(KeySelector::parse("id:abc").is_err());
    }

    #[test]
    fn pin_debug_redacts() {
        let pin = Pin::new("123456".into());
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
    }

    #[test]
    fn messages_for_pin_and_mechanism_errors() {
        // SoftHSM never locks a user PIN, so the locked case is checked here by message;
        // the mapping from CKR_PIN_LOCKED and CKF_USER_PIN_LOCKED is in `signer::login`.
        let locked = Error::PinLocked { token: "ci".into() };
        assert_eq!(
            locked.to_string(),
            "the user PIN of token 'ci' is locked (too many incorrect attempts); unblock it with the security officer PIN"
        );
        let wrong = Error::WrongPin {
            token: "ci".into(),
            final_try: true,
        };
        assert_eq!(
            wrong.to_string(),
            "the PIN for token 'ci' is incorrect (one attempt left before the PIN locks)"
        );
        assert_eq!(
            Error::KeyTooSmall {
                key: "k".into(),
                bits: 1024
            }
            .code(),
            signet_common::NuCode::NU3014
        );
        assert_eq!(locked.code(), signet_common::NuCode::NU3001);
    }

    #[test]
    fn pem_chain_split_skips_other_blocks() {
        let input = b"junk\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        let certs = cert::split_file(input).unwrap();
        assert_eq!(certs, vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]]);
        assert!(cert::split_file(b"-----BEGIN CERTIFICATE-----\nMAMC").is_err());
    }
}
