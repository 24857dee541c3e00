//! The push pipeline as typestate (spec `nuget-server.md` §2): each step consumes the one
//! before it and returns the next, so no step can be skipped or run twice.
//!
//! `Upload (a file + a caller) → Inspected → Authorized → SignatureChecked → RepositorySigned
//! → Committed (Pushed)`
//!
//! - [`Registry::inspect_upload`]: scopes, one read of the archive (manifest, entry names,
//!   the signature), id/version bounds and metadata URLs, the key's package globs;
//! - [`Registry::authorize`]: ownership and "the version is new" (checked again in the
//!   commit transaction, which is authoritative);
//! - [`Registry::check_signature`]: the signing rules and NuGet.org's push verification; the
//!   result holds the proof ([`SigningProof`]), which only this step can make;
//! - [`Registry::repository_sign`]: repository signing takes the proof, never a path;
//! - [`Registry::commit`]: stores the blob and, in one transaction, the version, its
//!   signature record and the signer certificate.
//!
//! A dry run ([`Registry::validate_push`]) runs the same steps up to `RepositorySigned` and
//! then drops it: nothing is written to the database or the blob store.
//!
//! Storing or repository-signing without a proof does not compile. The whole pipeline:
//!
//! ```no_run
//! # async fn f(registry: &signet_server::Registry, caller: &signet_server::Caller,
//! #            upload: &std::path::Path) -> Result<(), signet_server::Error> {
//! let inspected = registry.inspect_upload(caller, upload).await?;
//! let authorized = registry.authorize(inspected).await?;
//! let checked = registry.check_signature(authorized).await?;
//! let signed = registry.repository_sign(checked).await?;
//! let pushed = registry.commit(signed).await?;
//! # let _ = pushed; Ok(()) }
//! ```
//!
//! Skipping the signature check (repository signing wants a `SignatureChecked`):
//!
//! ```compile_fail
//! # async fn f(registry: &signet_server::Registry, caller: &signet_server::Caller,
//! #            upload: &std::path::Path) -> Result<(), signet_server::Error> {
//! let inspected = registry.inspect_upload(caller, upload).await?;
//! let authorized = registry.authorize(inspected).await?;
//! let signed = registry.repository_sign(authorized).await?;
//! # let _ = signed; Ok(()) }
//! ```
//!
//! Storing what was never repository-signed (commit wants a `RepositorySigned`):
//!
//! ```compile_fail
//! # async fn f(registry: &signet_server::Registry, caller: &signet_server::Caller,
//! #            upload: &std::path::Path) -> Result<(), signet_server::Error> {
//! let inspected = registry.inspect_upload(caller, upload).await?;
//! let authorized = registry.authorize(inspected).await?;
//! let checked = registry.check_signature(authorized).await?;
//! let pushed = registry.commit(checked).await?;
//! # let _ = pushed; Ok(()) }
//! ```
//!
//! Making a proof by hand (its fields and constructor are private):
//!
//! ```compile_fail
//! let proof = signet_server::push::SigningProof { verified: None };
//! ```

use std::path::{Path, PathBuf};

use signet_signature::PrimarySignature;
use signet_trust::VerifiedPackage;

use crate::auth::Caller;
use crate::inspect::PackageInfo;
use crate::signing::store::NewCertificate;
use crate::signing::{PushValidation, Validated, VersionSignature};

/// Evidence that the signing rules and NuGet.org's push verification accepted the upload.
/// Only [`Registry::check_signature`] makes one.
#[derive(Debug)]
pub struct SigningProof {
    /// The verifier's proof for a signed package; `None` for an unsigned package the signing
    /// rules allow.
    pub(crate) verified: Option<VerifiedPackage>,
}

impl SigningProof {
    /// The trust library's proof, for a signed package.
    pub fn verified(&self) -> Option<&VerifiedPackage> {
        self.verified.as_ref()
    }
}

/// Step 1: the upload read once and its manifest validated.
#[derive(Debug)]
pub struct Inspected {
    pub(crate) caller: Caller,
    pub(crate) upload: PathBuf,
    pub(crate) info: PackageInfo,
    pub(crate) signature: Option<PrimarySignature>,
}

impl Inspected {
    /// The validated manifest.
    pub fn info(&self) -> &PackageInfo {
        &self.info
    }
}

/// Step 2: the caller may push this id and version.
#[derive(Debug)]
pub struct Authorized {
    pub(crate) inspected: Inspected,
}

/// Step 3: the signing rules passed; holds the proof.
#[derive(Debug)]
pub struct SignatureChecked {
    pub(crate) authorized: Authorized,
    pub(crate) validated: Validated,
    pub(crate) proof: SigningProof,
}

impl crate::signing::repository::Checked for SignatureChecked {
    /// Takes the push pipeline's proof: the upload, and the owners validation found.
    fn signing_input(&self) -> (&Path, Vec<String>) {
        (self.upload(), self.owners().to_vec())
    }
}

impl SignatureChecked {
    /// The upload's path: read only by the repository signer.
    pub(crate) fn upload(&self) -> &Path {
        &self.authorized.inspected.upload
    }

    /// The owners the repository signature names.
    pub(crate) fn owners(&self) -> &[String] {
        &self.validated.owners
    }

    /// The proof.
    pub fn proof(&self) -> &SigningProof {
        &self.proof
    }
}

/// Step 4: the file to store (repository-signed when a repository signer is configured).
#[derive(Debug)]
pub struct RepositorySigned {
    pub(crate) checked: SignatureChecked,
    /// The repository-signed copy; `None` without a repository signer (the upload is stored).
    pub(crate) file: Option<tempfile::NamedTempFile>,
    /// The repository certificate's fingerprint, when signed.
    pub(crate) repository_fingerprint: Option<String>,
    pub(crate) signature: VersionSignature,
}

impl RepositorySigned {
    /// The dry-run answer: what a push would store.
    pub fn validation(&self) -> PushValidation {
        let v = &self.checked.validated;
        PushValidation {
            id: v.id.clone(),
            version: v.version.clone(),
            signed: v.signed,
            signer_fingerprint: v.signature.author_fingerprint.clone(),
            repository_certificate: self.repository_fingerprint.clone(),
            owners: signet_sign::sort_owners(&v.owners),
            warnings: v.warnings.clone(),
        }
    }
}

/// The signer certificate a push records, with the chain its signature carried (only ever
/// from a signature that verified: the recheck job's issuers come from here).
pub(crate) fn signer_record(
    signature: &PrimarySignature,
    id: i64,
    now: i64,
) -> crate::signing::store::NewCertificate {
    let cert = signature.certificate();
    let chain: Vec<signet_signature::Certificate> = signature
        .certificates()
        .iter()
        .filter(|c| c.der() != cert.der())
        .cloned()
        .collect();
    NewCertificate {
        id,
        chain_verified_by_push: true,
        fingerprint: cert.sha256_hex().to_lowercase(),
        der: cert.der().to_vec(),
        chain: crate::signing::chain_der(&chain),
        subject: cert.subject(),
        issuer: cert.issuer(),
        not_before: cert.not_before().unix_micros(),
        not_after: cert.not_after().unix_micros(),
        now,
    }
}
