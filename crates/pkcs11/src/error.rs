//! The crate's one error type.

use std::path::PathBuf;

use signet_common::NuCode;

/// Everything that can go wrong while opening a PKCS#11 key or signing with it.
///
/// Messages never contain the PIN. Every variant is unusable signing input, which NuGet
/// reports as `NU3001`, except a key under 2048 bits (`NU3014`); see [`Error::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- The module --------------------------------------------------------------------
    /// The PKCS#11 module (a shared library) could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {}: {reason}", path.display())]
    ModuleLoad {
        /// The module path as given.
        path: PathBuf,
        /// The loader's or the module's reason.
        reason: String,
    },
    /// A PKCS#11 call failed in a way none of the other variants describes.
    #[error("PKCS#11 {operation} failed: {reason}")]
    Token {
        /// The PKCS#11 function or step.
        operation: &'static str,
        /// The module's return value, as text.
        reason: String,
    },

    // --- The token ---------------------------------------------------------------------
    /// No slot holds a token with the requested label.
    #[error("no token labelled '{label}' in {}; {}", module.display(), list_or_none("tokens present", present))]
    TokenNotFound {
        /// The label asked for.
        label: String,
        /// The module path, to tell two modules apart.
        module: PathBuf,
        /// Labels of the tokens that are present.
        present: Vec<String>,
    },
    /// Several tokens carry the requested label.
    #[error("{count} tokens are labelled '{label}' (serial numbers {}); relabel one of them", serials.join(", "))]
    AmbiguousToken {
        /// The label asked for.
        label: String,
        /// How many tokens carry it.
        count: usize,
        /// Their serial numbers.
        serials: Vec<String>,
    },

    // --- Logging in --------------------------------------------------------------------
    /// The token needs a PIN and none was given.
    #[error("token '{token}' requires a user PIN and none was given")]
    PinRequired {
        /// The token label.
        token: String,
    },
    /// The token refused the PIN.
    #[error("the PIN for token '{token}' is incorrect{}", if *final_try { " (one attempt left before the PIN locks)" } else { "" })]
    WrongPin {
        /// The token label.
        token: String,
        /// The token says the next failure locks the PIN (`CKF_USER_PIN_FINAL_TRY`).
        final_try: bool,
    },
    /// The user PIN is locked after too many wrong attempts.
    #[error(
        "the user PIN of token '{token}' is locked (too many incorrect attempts); unblock it with the security officer PIN"
    )]
    PinLocked {
        /// The token label.
        token: String,
    },
    /// The token's user PIN was never set.
    #[error("token '{token}' has no user PIN yet; initialise it (C_InitPIN) first")]
    PinNotInitialized {
        /// The token label.
        token: String,
    },

    // --- The key -----------------------------------------------------------------------
    /// No private key has the requested label or id.
    #[error(
        "no private key with label or id '{wanted}' on token '{token}'; {}",
        list_or_none("private keys present", present)
    )]
    KeyNotFound {
        /// The label or id asked for.
        wanted: String,
        /// The token label.
        token: String,
        /// The keys present, as `label 'L' (id HEX)`.
        present: Vec<String>,
    },
    /// Several private keys match the requested label or id.
    #[error("{} private keys on token '{token}' match '{wanted}': {}; select one by id (id:HEX)", matches.len(), matches.join(", "))]
    AmbiguousKey {
        /// The label or id asked for.
        wanted: String,
        /// The token label.
        token: String,
        /// The matching keys, as `label 'L' (id HEX)`.
        matches: Vec<String>,
    },
    /// The key is not an RSA key.
    #[error("key '{key}' is not an RSA key; only RSA keys can sign NuGet packages")]
    NotRsa {
        /// The key's description.
        key: String,
    },
    /// The key is not an Ed25519 key (a transparency log key must be).
    #[error(
        "key '{key}' is not an Ed25519 key (CKK_EC_EDWARDS on the curve edwards25519); a transparency log signs its checkpoints with Ed25519"
    )]
    NotEd25519 {
        /// The key's description.
        key: String,
    },
    /// The token cannot make Ed25519 signatures.
    #[error("token '{token}' does not offer CKM_EDDSA, which Ed25519 signatures need")]
    NoEddsa {
        /// The token label.
        token: String,
    },
    /// The key's CKA_SIGN attribute is false.
    #[error("key '{key}' is not allowed to sign (its CKA_SIGN attribute is false)")]
    KeyCannotSign {
        /// The key's description.
        key: String,
    },
    /// The token exposes neither the key's modulus and exponent nor a public key object.
    #[error(
        "cannot read the public key of '{key}' (no CKA_MODULUS on the private key and no public key object with its id)"
    )]
    NoPublicKey {
        /// The key's description.
        key: String,
    },
    /// The RSA key is shorter than NuGet allows.
    #[error("the RSA key '{key}' is {bits} bits; keys shorter than 2048 bits cannot be used")]
    KeyTooSmall {
        /// The key's description.
        key: String,
        /// The modulus size in bits.
        bits: usize,
    },
    /// Neither the hash-and-sign mechanism nor raw PKCS#1 v1.5 is usable with the key.
    #[error(
        "unsupported mechanism: token '{token}' cannot sign with key '{key}' using {wanted} or CKM_RSA_PKCS; {}",
        list_or_none("RSA signing mechanisms usable with this key", usable)
    )]
    UnsupportedMechanism {
        /// The token label.
        token: String,
        /// The key's description.
        key: String,
        /// The hash-and-sign mechanism that was looked for.
        wanted: &'static str,
        /// The RSA signing mechanisms the token offers and the key allows.
        usable: Vec<String>,
    },

    // --- Certificates ------------------------------------------------------------------
    /// The certificate input could not be read.
    #[error("cannot read certificate file {}: {source}", path.display())]
    ReadCertificate {
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate file is larger than [`crate::MAX_CERTIFICATE_FILE_LEN`].
    #[error("certificate file {} is larger than the {limit}-byte limit", path.display())]
    CertificateFileTooLarge {
        /// The path as given.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// A certificate (from the file or the token) is not valid DER X.509, or the PEM is
    /// malformed.
    #[error("cannot decode {origin} certificate #{index}: {reason}")]
    CertificateDecode {
        /// `file` or `token`.
        origin: &'static str,
        /// 1-based position in the input.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// More certificates than [`crate::MAX_CERTIFICATES`].
    #[error("more than {limit} certificates in the {origin}")]
    TooManyCertificates {
        /// `file` or `token`.
        origin: &'static str,
        /// The limit.
        limit: usize,
    },
    /// No certificate was given and the token holds none for the key.
    #[error(
        "no certificate for key '{key}' on token '{token}' (none with its id or label); give the chain with --certificate-path"
    )]
    NoCertificate {
        /// The token label.
        token: String,
        /// The key's description.
        key: String,
    },
    /// No certificate carries the token key's public key.
    #[error(
        "key/certificate mismatch: the public key of '{key}' (RSA-{bits}, modulus {modulus_prefix}…) matches none of the {count} certificate(s) {origin}"
    )]
    KeyCertificateMismatch {
        /// The key's description.
        key: String,
        /// The key size.
        bits: usize,
        /// The first bytes of the key's modulus in hex, to compare with `openssl x509 -modulus`.
        modulus_prefix: String,
        /// How many certificates were compared.
        count: usize,
        /// `in the certificate file` or `on the token`.
        origin: &'static str,
    },

    // --- Signing -----------------------------------------------------------------------
    /// The token failed to sign.
    #[error("the token failed to sign with '{key}': {reason}")]
    Sign {
        /// The key's description.
        key: String,
        /// The module's return value.
        reason: String,
    },
}

fn list_or_none(what: &str, items: &[String]) -> String {
    if items.is_empty() {
        format!("{what}: none")
    } else {
        format!("{what}: {}", items.join(", "))
    }
}

impl Error {
    /// NuGet's log code for this error: `NU3014` for a key under 2048 bits, `NU3001`
    /// (invalid signing input) for everything else.
    pub fn code(&self) -> NuCode {
        match self {
            Self::KeyTooSmall { .. } => NuCode::NU3014,
            _ => NuCode::NU3001,
        }
    }
}
