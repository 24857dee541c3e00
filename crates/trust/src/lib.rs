//! Trust for NuGet signatures: trust anchors (bundled Microsoft Trusted Root Program snapshot
//! plus user roots), certificate path building with .NET's semantics, NuGet's verification
//! policy as data, and the verification pipeline of `../shared/spec/nuget-signatures.md` §5,
//! which reports NU-coded issues and returns a [`VerifiedPackage`] proof only on success.

mod chain;
mod error;
mod limits;
pub mod ocsp;
mod policy;
mod report;
mod roots;
mod signing;
mod status;
mod verify;

pub use chain::{Chain, ChainProblem, build_chain};
pub use error::Error;
pub use limits::RevocationLimits;
pub use policy::{
    AllowList, AllowListKind, CountersignaturePolicy, RevocationMode, TrustTarget,
    TrustedCertificate, VerifierSettings,
};
pub use report::{
    CertificateInfo, Issue, PackageReport, Placement, SignatureReport, Status, TimestampReport,
    VerifiedPackage,
};
pub use roots::{RootSet, SNAPSHOT, TrustStore};
pub use signet_signature::SignatureType;
pub use signing::{UntrustedRootPolicy, check_signing_certificate};
pub use status::{RevocationReason, RevocationStatus};
pub use verify::{ContentHash, VerifyOptions, verify_package};
