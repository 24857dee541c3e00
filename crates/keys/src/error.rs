use std::fmt;
use std::io;
use std::path::PathBuf;

use signet_common::NuCode;

/// Which input file an I/O error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// The `--certificate-path` file: a PKCS#12 file, or a PEM/DER certificate chain.
    Certificate,
    /// The `--certificate-key` file: a PEM/DER private key.
    PrivateKey,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Certificate => "certificate",
            Self::PrivateKey => "private key",
        })
    }
}

/// Everything that can go wrong while loading a signing key or signing with it.
///
/// Messages never contain a password or key bytes. Every variant except [`Error::Sign`]
/// means the signing input was unusable, which NuGet reports as `NU3001`; see
/// [`Error::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- Reading files -------------------------------------------------------------------
    /// A file could not be opened or read.
    #[error("cannot read {kind} file {}: {source}", path.display())]
    ReadFile {
        /// Which file.
        kind: FileKind,
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is larger than any key or certificate file this crate accepts.
    #[error("{kind} file {} is larger than the {limit}-byte limit", path.display())]
    FileTooLarge {
        /// Which file.
        kind: FileKind,
        /// The path as given.
        path: PathBuf,
        /// The limit, in bytes ([`crate::MAX_FILE_LEN`]).
        limit: u64,
    },

    // --- PKCS#12 -------------------------------------------------------------------------
    /// The PKCS#12 integrity check (MAC) failed, or the contents did not decrypt.
    #[error("the PKCS#12 password is incorrect or the file is corrupt")]
    Pkcs12Password,
    /// The PKCS#12 file is not well-formed.
    #[error("cannot decode the PKCS#12 file: {reason}")]
    Pkcs12Decode {
        /// What was wrong.
        reason: String,
    },
    /// The PKCS#12 file uses an algorithm this crate cannot decrypt or check.
    #[error("the PKCS#12 file uses an unsupported {what}")]
    Pkcs12Unsupported {
        /// What kind of algorithm or bag.
        what: &'static str,
    },
    /// The PKCS#12 file holds no private key.
    #[error("the PKCS#12 file contains no private key")]
    NoPrivateKey,
    /// The PKCS#12 file holds several different private keys, so the signer is ambiguous.
    #[error("the PKCS#12 file contains {count} private keys; only one is supported")]
    MultiplePrivateKeys {
        /// How many distinct keys were found.
        count: usize,
    },

    // --- Private key files ---------------------------------------------------------------
    /// The key input is neither PKCS#8, encrypted PKCS#8 nor PKCS#1, in PEM or DER.
    #[error("cannot decode the private key: {reason}")]
    KeyFormat {
        /// What was wrong.
        reason: &'static str,
    },
    /// The key input holds more than one private key.
    #[error("the key input contains {count} private keys; expected one")]
    MultipleKeysInInput {
        /// How many PEM private key blocks were found.
        count: usize,
    },
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted but no password was given")]
    KeyPasswordRequired,
    /// The key did not decrypt: wrong password or corrupt data.
    #[error("cannot decrypt the private key: the password is incorrect or the key is corrupt")]
    KeyPassword,
    /// The key is encrypted with a scheme this crate does not implement.
    #[error("the private key is encrypted with an unsupported scheme: {scheme}")]
    UnsupportedKeyEncryption {
        /// The scheme's name or OID.
        scheme: String,
    },
    /// The key's password-based encryption asks for more work than [`crate::MAX_PBKDF2_ITERATIONS`]
    /// or [`crate::MAX_SCRYPT_MEMORY`] allow.
    #[error("the private key's password derivation is more costly than the limit allows")]
    KdfCostTooHigh,
    /// The key is not an RSA key.
    #[error("only RSA keys are supported, found {algorithm}")]
    UnsupportedKeyAlgorithm {
        /// The key algorithm's name or OID.
        algorithm: String,
    },
    /// The RSA key is shorter than the crypto backend (aws-lc-rs) can sign with.
    ///
    /// aws-lc-rs refuses to load RSA keys under 2048 bits, so this is reported here rather
    /// than by the signing policy; it carries NuGet's code for a short key.
    #[error("the RSA key is {bits} bits; keys shorter than 2048 bits cannot be used")]
    KeyTooSmall {
        /// The modulus size in bits.
        bits: usize,
    },
    /// The crypto backend rejected the RSA key (inconsistent components, more than 8192
    /// bits, ...).
    #[error("the RSA private key was rejected by aws-lc-rs ({reason})")]
    KeyRejected {
        /// aws-lc-rs's reason, e.g. `TooLarge` or `InconsistentComponents`.
        reason: &'static str,
    },

    // --- Certificates --------------------------------------------------------------------
    /// No certificate was found.
    #[error("no certificate found in the {0}")]
    NoCertificate(&'static str),
    /// The certificate input is malformed PEM.
    #[error("cannot read the certificate input: {reason}")]
    CertificateFormat {
        /// What was wrong.
        reason: &'static str,
    },
    /// A certificate is not valid DER X.509.
    #[error("cannot decode certificate #{index}: {source}")]
    CertificateDecode {
        /// 1-based position of the certificate in its file.
        index: usize,
        /// The DER error (with its byte offset).
        #[source]
        source: der::Error,
    },
    /// The input holds more certificates than [`crate::MAX_CERTIFICATES`].
    #[error("more than {limit} certificates in the input")]
    TooManyCertificates {
        /// The limit.
        limit: usize,
    },
    /// No certificate's public key matches the private key.
    #[error("the private key does not match the public key of any of the {count} certificate(s)")]
    KeyCertificateMismatch {
        /// How many certificates were compared.
        count: usize,
    },

    // --- Signing -------------------------------------------------------------------------
    /// The crypto backend failed to produce a signature.
    #[error("signing with the RSA key failed")]
    Sign,
    /// A signing device (a PKCS#11 token, an HSM) refused or failed to sign. `reason` is the
    /// device's answer, never a PIN.
    #[error("the signing device failed to sign: {reason}")]
    Device {
        /// What the device said.
        reason: String,
    },
}

impl Error {
    /// NuGet's log code for this error, if it has one.
    ///
    /// Unusable signing input (missing file, bad password, no key, key/certificate mismatch,
    /// unsupported key) is `NU3001`; a key under 2048 bits is `NU3014`; an internal signing
    /// failure has no NuGet code.
    pub fn code(&self) -> Option<NuCode> {
        match self {
            Self::KeyTooSmall { .. } => Some(NuCode::NU3014),
            Self::Sign | Self::Device { .. } => None,
            _ => Some(NuCode::NU3001),
        }
    }
}
