//! The NuGet signature model (`../shared/spec/nuget-signatures.md` §2–§4): the signature content,
//! CMS SignedData parsed with its raw signed-attribute bytes kept, NuGet's signed attributes,
//! repository countersignatures, RFC 3161 timestamp tokens, and building primary signatures
//! byte-compatible with NuGet's signer.
//!
//! Parsing accepts DER and the BER real packages contain; every signature is verified over the
//! signed-attribute bytes as they are in the file, never over a re-encoding alone.

mod attributes;
mod builder;
mod cert;
mod cms;
mod content;
mod countersign;
mod crypto;
mod error;
pub mod oids;
mod primary;
mod timestamp;
pub mod tlv;
mod unsigned;

pub use attributes::{RepositoryInfo, SignatureType, is_absolute_https};
#[doc(hidden)]
pub use builder::{BuildParts, build_primary_signature_with};
pub use builder::{SignatureKind, SignatureRequest, build_primary_signature};
pub use cert::{Certificate, hex_upper, index_der_certificates};
pub use cms::{
    AlgorithmId, Attribute, SignatureCheckError, SignedAttributes, SignedData, SignerId, SignerInfo,
};
pub use content::SignatureContent;
pub use countersign::{
    CountersignatureRequest, add_countersignature_timestamp, add_repository_countersignature,
    remove_repository_countersignature,
};
pub use crypto::{Digest, PublicKey, Scheme, VerifyError, scheme_for_signature_algorithm};
pub use error::Error;
pub use primary::{Countersignature, PrimarySignature};
pub use timestamp::{Timestamp, TstInfo};
pub use unsigned::add_timestamp;

/// Limits for decoding signatures. Exceeding one is its own error (NU3003).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `.signature.p7s` accepted (real ones are 5–20 KB).
    pub max_signature_size: usize,
    /// Most certificates in one SignedData.
    pub max_certificates: usize,
    /// Most attributes in one attribute set (and digest algorithms in SignedData).
    pub max_attributes: usize,
    /// Most SignerInfos in one SignedData.
    pub max_signers: usize,
    /// Most countersignature values on the primary signer.
    pub max_countersignatures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_signature_size: 1024 * 1024,
            max_certificates: 64,
            max_attributes: 64,
            max_signers: 16,
            max_countersignatures: 16,
        }
    }
}
