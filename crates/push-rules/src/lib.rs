//! The signed-push rules of a NuGet server, as pure functions (no storage, no HTTP), so the
//! server and its tests share one definition (`../shared/spec/nuget-server.md` §1.3, §2.1–§2.6):
//!
//! * [`signing_rules`] / [`check_push_signing`]: whether a push must be signed, may be signed,
//!   and whether its author certificate is acceptable, from the owners' registered
//!   certificates and the package's required signer — NuGet.org's table, with its messages;
//! * [`push_verifier_settings`]: the verification settings NuGet.org applies to a pushed
//!   signature (exactly one timestamp, nothing illegal or untrusted, revocation checked);
//! * [`check_certificate_upload`]: NuGet.org's upload checks for a `.cer` (DER, ≤ 10,000
//!   bytes, no trailing data) plus signet's lint (code-signing EKU, RSA ≥ 2048, validity, not
//!   self-issued, chains to the server's roots) as warnings that explain the consequence.

mod certificate;
mod rules;

pub use certificate::{
    CertificateLint, MAX_CERTIFICATE_SIZE, UploadedCertificate, check_certificate_upload,
};
pub use rules::{
    Owner, PushRejection, RequiredSigner, SigningRules, check_push_signing, push_verifier_settings,
    signing_rules,
};
