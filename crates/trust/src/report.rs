//! What verification found: NU-coded issues, per-signature details, and the proof value only a
//! successful verification produces.

use serde::Serialize;
use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};
use signet_signature::{Certificate, SignatureType};

/// One finding, as NuGet logs it: a code (when NuGet has one), a level and a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// NuGet's code, if any.
    pub code: Option<NuCode>,
    /// Log level.
    pub severity: Severity,
    /// Message (NuGet's wording where it has one).
    pub message: String,
}

impl Issue {
    pub(crate) fn new(
        code: Option<NuCode>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
        }
    }

    /// An error or warning (NuGet prints these after the summary line).
    pub fn is_problem(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Warning)
    }
}

/// NuGet's signature verification status, ordered from worst to best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub enum Status {
    /// Could not be determined.
    Unknown,
    /// Tampered or revoked.
    Suspect,
    /// Not allowed by policy.
    Disallowed,
    /// Valid.
    Valid,
}

/// A certificate as reports show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, uppercase hex.
    pub serial: String,
    /// SHA-1 thumbprint, uppercase hex (display only).
    pub sha1: String,
    /// SHA-256 fingerprint, uppercase hex.
    pub sha256: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Public key, e.g. `RSA 2048`.
    pub public_key: String,
    /// Signature algorithm OID.
    pub signature_algorithm: String,
    #[serde(skip)]
    pub(crate) not_before_time: Option<UtcTime>,
    #[serde(skip)]
    pub(crate) not_after_time: Option<UtcTime>,
}

impl CertificateInfo {
    /// Summarises a certificate.
    pub fn from_certificate(c: &Certificate) -> Self {
        let public_key = match c.rsa_key_bits() {
            Some(bits) => format!("RSA {bits}"),
            None => "non-RSA".into(),
        };
        Self {
            subject: c.subject(),
            issuer: c.issuer(),
            serial: c.serial_hex(),
            sha1: c.sha1_hex(),
            sha256: c.sha256_hex(),
            not_before: c.not_before().rfc3339(),
            not_after: c.not_after().rfc3339(),
            public_key,
            signature_algorithm: c.signature_algorithm().to_string(),
            not_before_time: Some(c.not_before()),
            not_after_time: Some(c.not_after()),
        }
    }

    /// Validity start as a time.
    pub fn valid_from(&self) -> Option<UtcTime> {
        self.not_before_time
    }

    /// Validity end as a time.
    pub fn valid_to(&self) -> Option<UtcTime> {
        self.not_after_time
    }
}

/// Where a signature sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Placement {
    /// The primary signature.
    Primary,
    /// The repository countersignature on an author signature.
    Countersignature,
}

/// A timestamp as evaluated.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampReport {
    /// genTime (RFC 3339).
    pub gen_time: String,
    /// Accuracy in microseconds NuGet applies.
    pub accuracy_micros: i64,
    /// TSA policy OID.
    pub policy: String,
    /// TSA serial number, uppercase hex.
    pub serial: String,
    /// Imprint hash algorithm OID.
    pub imprint_algorithm: String,
    /// The TSA certificate.
    pub certificate: CertificateInfo,
    /// The TSA chain as built (leaf first).
    pub chain: Vec<CertificateInfo>,
    /// Whether the timestamp was accepted.
    pub valid: bool,
    #[serde(skip)]
    pub(crate) gen_time_value: Option<UtcTime>,
}

impl TimestampReport {
    /// genTime.
    pub fn time(&self) -> Option<UtcTime> {
        self.gen_time_value
    }
}

/// One evaluated signature.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureReport {
    /// Primary or countersignature.
    pub placement: Placement,
    /// Author, Repository or Unknown.
    #[serde(serialize_with = "ser_type")]
    pub signature_type: SignatureType,
    /// NuGet's friendly name (`author primary signature`).
    pub friendly_name: String,
    /// signing-time attribute (RFC 3339).
    pub signing_time: Option<String>,
    /// Service index of a repository signature.
    pub service_index: Option<String>,
    /// Owners of a repository signature.
    pub owners: Vec<String>,
    /// Signer certificate.
    pub certificate: Option<CertificateInfo>,
    /// Signer chain as built (leaf first).
    pub chain: Vec<CertificateInfo>,
    /// The evaluated timestamp, if one was present and decodable.
    pub timestamp: Option<TimestampReport>,
    /// Outcome.
    pub status: Status,
    /// Issues of this signature (also listed, in order, in the package report).
    pub issues: Vec<Issue>,
}

fn ser_type<S: serde::Serializer>(t: &SignatureType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

/// Evidence that a package verified under a policy. Only the verifier constructs it; what comes
/// after verification (extraction, accepting a push) takes this value.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedPackage {
    content_hash: Option<String>,
    signed: bool,
    signer_fingerprints: Vec<String>,
}

impl VerifiedPackage {
    pub(crate) fn new(
        content_hash: Option<String>,
        signed: bool,
        signer_fingerprints: Vec<String>,
    ) -> Self {
        Self {
            content_hash,
            signed,
            signer_fingerprints,
        }
    }

    /// `base64(SHA-512)` content hash of the verified bytes (spec §1.7), when the
    /// verification computed it ([`crate::ContentHash::Compute`]).
    pub fn content_hash(&self) -> Option<&str> {
        self.content_hash.as_deref()
    }

    /// Whether the package carried a signature (an unsigned package verifies only when the
    /// policy allows unsigned packages).
    pub fn signed(&self) -> bool {
        self.signed
    }

    /// SHA-256 fingerprints of the signers whose signatures were evaluated.
    pub fn signer_fingerprints(&self) -> &[String] {
        &self.signer_fingerprints
    }
}

/// Everything verification found about one package.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageReport {
    /// Package id from the nuspec, if readable.
    pub id: Option<String>,
    /// Normalised version from the nuspec, if readable.
    pub version: Option<String>,
    /// Whether the package has a signature entry.
    pub signed: bool,
    /// Package hash algorithm named by the signature content.
    pub hash_algorithm: Option<HashAlgorithm>,
    /// `base64(SHA-512)` content hash (spec §1.7), when the package was readable.
    pub content_hash: Option<String>,
    /// Evaluated signatures.
    pub signatures: Vec<SignatureReport>,
    /// Every issue, in NuGet's provider order.
    pub issues: Vec<Issue>,
    /// Overall outcome.
    pub status: Status,
    /// Whether the package is valid under the policy.
    pub valid: bool,
    /// The trusted identity (`signet trust identity`) the author signature matched, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_identity: Option<String>,
    #[serde(skip)]
    pub(crate) proof: Option<VerifiedPackage>,
}

impl PackageReport {
    /// The proof of verification, present only when `valid`.
    pub fn verified(&self) -> Option<&VerifiedPackage> {
        self.proof.as_ref()
    }

    /// Number of error-level issues (NuGet's exit code counts these).
    pub fn error_count(&self) -> usize {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Warning)
            .count()
    }
}
