//! Trust for NuGet signatures: trust anchors (bundled Microsoft Trusted Root Program snapshot
//! plus user roots), certificate path building with .NET's semantics, NuGet's verification
//! policy as data, and the verification pipeline of `../shared/spec/nuget-signatures.md` §5,
//! which reports NU-coded issues and returns a [`VerifiedPackage`] proof only on success.

mod chain;
mod client_policy;
mod crl;
mod error;
mod fetch;
mod identity;
mod limits;
pub mod ocsp;
mod policy;
mod report;
mod revocation;
mod roots;
mod signing;
mod stapled;
mod status;
mod verify;

pub use chain::{Chain, ChainProblem, build_chain};
pub use client_policy::{ClientPolicy, Decision, SourceTrust, decide, options_for};
pub use crl::Crl;
pub use error::Error;
pub use fetch::{FetchError, FetchErrorKind, Fetcher, HttpFetcher};
pub use identity::{
    SUBJECT_ATTRIBUTES, TrustedIdentity, named_subject_attributes, spki_sha256,
    subject_attribute_oid, subject_attributes,
};
pub use limits::RevocationLimits;
pub use policy::{
    AllowList, AllowListKind, CountersignaturePolicy, RevocationMode, RevocationPolicy,
    TrustTarget, TrustedCertificate, VerifierSettings,
};
pub use report::{
    CertificateInfo, Issue, PackageReport, Placement, SignatureReport, Status, TimestampReport,
    VerifiedPackage,
};
pub use revocation::{
    RevocationChecker, RevocationContext, RevocationSettings, RevocationSource, crl_urls, ocsp_urls,
};
pub use roots::{RootSet, SNAPSHOT, TrustStore};
pub use signet_signature::SignatureType;
pub use signing::{UntrustedRootPolicy, check_signing_certificate, check_signing_revocation};
pub use stapled::{MAX_STAPLES, StapleMemory, StapledRevocation, staple_key};
pub use status::{RevocationReason, RevocationStatus};
pub use verify::{ContentHash, VerifyOptions, timestamp_certificate_problems, verify_package};
