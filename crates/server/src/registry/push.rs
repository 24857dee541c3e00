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
use std::sync::Arc;

use signet_signature::PrimarySignature;
use signet_trust::VerifiedPackage;

use crate::Error;
use crate::auth::{Caller, Scope};
use crate::clock::{random_hex, random_id};
use crate::inspect::PackageInfo;
use crate::registry::{PushCandidate, Pushed, Registry};
use crate::signing::store::NewCertificate;
use crate::signing::{PushValidation, Validated, VersionSignature};
use crate::versions::{NewVersion, PushRights};

/// Evidence that the signing rules and NuGet.org's push verification accepted the upload.
/// Only [`Registry::check_signature`] makes one.
#[derive(Debug)]
pub struct SigningProof {
    /// The verifier's proof for a signed package; `None` for an unsigned package the signing
    /// rules allow.
    verified: Option<VerifiedPackage>,
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
    caller: Caller,
    upload: PathBuf,
    info: PackageInfo,
    signature: Option<PrimarySignature>,
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
    inspected: Inspected,
}

/// Step 3: the signing rules passed; holds the proof.
#[derive(Debug)]
pub struct SignatureChecked {
    authorized: Authorized,
    validated: Validated,
    proof: SigningProof,
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
    checked: SignatureChecked,
    /// The repository-signed copy; `None` without a repository signer (the upload is stored).
    file: Option<tempfile::NamedTempFile>,
    /// The repository certificate's fingerprint, when signed.
    repository_fingerprint: Option<String>,
    signature: VersionSignature,
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

impl Registry {
    /// Step 1: scopes, then one read of the archive (see [`crate::inspect`]), then the key's
    /// package globs.
    pub async fn inspect_upload(&self, caller: &Caller, upload: &Path) -> Result<Inspected, Error> {
        if !caller.scopes.contains(Scope::PushNew) && !caller.scopes.contains(Scope::PushVersion) {
            return Err(Error::Forbidden("the API key may not push packages".into()));
        }
        let limits = self.limits;
        let path = upload.to_path_buf();
        let scratch = self.upload_dir.clone();
        let (info, signature) = tokio::task::spawn_blocking(move || {
            crate::inspect::inspect_push(&path, &limits, &scratch)
        })
        .await
        .map_err(|e| Error::io("inspect task", std::io::Error::other(e)))??;
        if !caller.allows_id(&info.id) {
            return Err(Error::Forbidden(format!(
                "the API key does not allow pushing {} (package globs)",
                info.id
            )));
        }
        Ok(Inspected {
            caller: caller.clone(),
            upload: upload.to_path_buf(),
            info,
            signature,
        })
    }

    /// Step 2: ownership and "the version is new", early, so that a refused push costs no
    /// signature verification; the commit transaction checks both again authoritatively.
    pub async fn authorize(&self, inspected: Inspected) -> Result<Authorized, Error> {
        let (caller, info) = (&inspected.caller, &inspected.info);
        let id_lower = info.id.to_lowercase();
        let exists = !self.db.owner_accounts(&id_lower).await?.is_empty();
        if exists {
            if !self
                .db
                .is_owner(&id_lower, caller.owner_id, caller.user_id)
                .await?
            {
                return Err(Error::Forbidden(format!(
                    "the package id {} belongs to another account",
                    info.id
                )));
            }
            if !caller.scopes.contains(Scope::PushVersion) {
                return Err(Error::Forbidden(
                    "the API key may not push new versions (scope push-version)".into(),
                ));
            }
            if self
                .db
                .version(&id_lower, &info.version.lower())
                .await?
                .is_some()
            {
                return Err(Error::Conflict(format!(
                    "{} {} already exists",
                    info.id,
                    info.version.normalized()
                )));
            }
            // A deleted version comes back only with the content it had.
            let upload = inspected.upload.clone();
            self.check_tombstone(&info.id, &info.version, async move || {
                tokio::task::spawn_blocking(move || {
                    let file = std::fs::File::open(&upload)
                        .map_err(|e| Error::io("open the upload", e))?;
                    crate::tlog::content_hash_of(std::io::BufReader::new(file))
                })
                .await
                .map_err(|e| Error::io("hash task", std::io::Error::other(e)))?
            })
            .await?;
        } else if !caller.scopes.contains(Scope::PushNew) {
            return Err(Error::Forbidden(
                "the API key may not push new package ids (scope push-new)".into(),
            ));
        } else {
            // A new id under a prefix another account reserved: only that account pushes it.
            if let Some(p) = self.prefix_holder(&info.id).await?
                && p.account_id != caller.owner_id
            {
                return Err(Error::Forbidden(format!(
                    "the package id {} is under the prefix '{}' reserved by '{}'{}",
                    info.id,
                    p.prefix,
                    p.account,
                    if p.account_id == caller.user_id {
                        ""
                    } else {
                        " (push with an API key that acts for it)"
                    }
                )));
            }
            // A new id an upstream of the mirror has: not taken by a local push.
            self.refuse_upstream_shadowing(&info.id).await?;
        }
        Ok(Authorized { inspected })
    }

    /// Step 3: the signing rules (`signing/policy.rs`) and the registered push checks. The
    /// only place a [`SigningProof`] is made.
    pub async fn check_signature(&self, authorized: Authorized) -> Result<SignatureChecked, Error> {
        let i = &authorized.inspected;
        let (validated, verified) = self
            .validate_signing(&i.info, i.signature.as_ref(), &i.upload, &i.caller)
            .await?;
        let candidate = PushCandidate {
            info: &i.info,
            path: &i.upload,
            caller: &i.caller,
        };
        for check in &self.checks {
            check.check(&candidate)?;
        }
        Ok(SignatureChecked {
            authorized,
            validated,
            proof: SigningProof { verified },
        })
    }

    /// Step 4: repository signing, when a repository signer is configured: a primary
    /// signature on an unsigned package, a countersignature on an author-signed one.
    pub async fn repository_sign(
        &self,
        checked: SignatureChecked,
    ) -> Result<RepositorySigned, Error> {
        let now = self.clock.now();
        let mut signature = checked.validated.signature.clone();
        let Some(repo) = &self.signing.repository else {
            return Ok(RepositorySigned {
                checked,
                file: None,
                repository_fingerprint: None,
                signature,
            });
        };
        let fingerprint = repo.certificate().fingerprint.clone();
        let setup = Arc::clone(&self.signing);
        let (dir, limits) = (self.upload_dir.clone(), self.limits);
        let (file, checked) = tokio::task::spawn_blocking(move || {
            let repo = setup
                .repository
                .as_ref()
                .ok_or_else(|| Error::Config("repository signing is off".into()))?;
            let (file, _) = repo.sign(&checked, &dir, now, &limits)?;
            Ok::<_, Error>((file, checked))
        })
        .await
        .map_err(|e| Error::io("signing task", std::io::Error::other(e)))??;
        signature.repository_fingerprint = Some(fingerprint.clone());
        signature.repository_signed_at = Some(now.unix_micros());
        Ok(RepositorySigned {
            checked,
            file: Some(file),
            repository_fingerprint: Some(fingerprint),
            signature,
        })
    }

    /// Step 5: stores the file under a fresh key no row references (invisible), then one
    /// transaction inserts the package (if new), its owner, the version, its signature record
    /// and the signer certificate — the commit is the moment the version becomes visible. On
    /// any failure the blob is deleted; a crash in between leaves an orphan blob that
    /// [`Registry::collect_orphans`] removes, never a visible partial package.
    pub async fn commit(&self, signed: RepositorySigned) -> Result<Pushed, Error> {
        let RepositorySigned {
            checked,
            file,
            signature,
            ..
        } = signed;
        let SignatureChecked {
            authorized,
            validated,
            ..
        } = checked;
        let Inspected {
            caller,
            upload,
            info,
            signature: author_signature,
        } = authorized.inspected;
        let stored: &Path = file.as_ref().map_or(upload.as_path(), |f| f.path());
        let size = match &file {
            Some(f) => f
                .as_file()
                .metadata()
                .map_err(|e| Error::io("read the signed file", e))?
                .len(),
            None => info.size,
        };
        let id_lower = info.id.to_lowercase();
        let version_lower = info.version.lower();
        let blob_key = format!(
            "packages/{id_lower}/{version_lower}/{}.nupkg",
            random_hex(self.rng.as_ref(), 16)?
        );
        let now = self.clock.now().unix_micros();
        let signer = match &author_signature {
            Some(s) => Some(signer_record(s, random_id(self.rng.as_ref())?, now)),
            None => None,
        };
        let content_hash = {
            let path = stored.to_owned();
            tokio::task::spawn_blocking(move || {
                let f =
                    std::fs::File::open(&path).map_err(|e| Error::io("read the stored file", e))?;
                crate::tlog::content_hash_of(std::io::BufReader::new(f))
            })
            .await
            .map_err(|e| Error::Invalid(e.to_string()))??
        };
        let tlog_entry = crate::tlog::entry_for(
            &id_lower,
            &version_lower,
            &content_hash,
            signature.author_fingerprint.as_deref(),
            signature.repository_fingerprint.as_deref(),
            now,
        )?;
        self.blobs.put_file(&blob_key, stored).await?;
        let record = NewVersion {
            new_package_row: random_id(self.rng.as_ref())?,
            version_row: random_id(self.rng.as_ref())?,
            id: info.id.clone(),
            version: info.version.normalized().to_owned(),
            original_version: info.original_version.clone(),
            prerelease: info.version.is_prerelease(),
            semver2: info.semver2,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            blob_key: blob_key.clone(),
            nuspec: info.nuspec.clone(),
            metadata: info.meta.clone(),
            dependencies: info.dependency_groups.clone(),
            now,
            pusher: caller.user_id,
            owner: caller.owner_id,
            signature: Some(signature),
            signer,
            mirrored: None,
            tlog_entry,
        };
        let rights = PushRights {
            push_new: caller.scopes.contains(Scope::PushNew),
            push_version: caller.scopes.contains(Scope::PushVersion),
        };
        if let Err(e) = self.db.commit_push(&record, rights).await {
            if let Err(d) = self.blobs.delete(&blob_key).await {
                tracing::warn!(blob = %blob_key, error = %d, "cannot delete the blob of a refused push");
            }
            return Err(e);
        }
        tracing::info!(id = %info.id, version = %info.version, user = %caller.user_name, "pushed");
        Ok(Pushed {
            id: info.id,
            version: info.version.normalized().to_owned(),
            warnings: validated.warnings,
        })
    }

    /// Pushes the complete, fsynced upload at `upload`: every step of the pipeline.
    pub async fn push(&self, caller: &Caller, upload: &Path) -> Result<Pushed, Error> {
        let pushed = self.push_steps(caller, upload).await;
        let (target, detail) = match &pushed {
            Ok(p) => (format!("{} {}", p.id, p.version), String::new()),
            Err(e) => (String::new(), e.to_string()),
        };
        self.audit(crate::audit::AuditEvent {
            actor: &caller.user_name,
            action: crate::audit::AuditAction::Push,
            target: &target,
            outcome: crate::audit::AuditOutcome::of(&pushed),
            client: None,
            detail: &detail,
        })
        .await;
        if let Ok(p) = &pushed {
            self.package_event("package.pushed", &p.id, &p.version)
                .await;
        }
        pushed
    }

    async fn push_steps(&self, caller: &Caller, upload: &Path) -> Result<Pushed, Error> {
        let inspected = self.inspect_upload(caller, upload).await?;
        let authorized = self.authorize(inspected).await?;
        let checked = self.check_signature(authorized).await?;
        let signed = self.repository_sign(checked).await?;
        self.commit(signed).await
    }

    /// Everything a push does up to repository signing, then nothing more: the dry run
    /// (`signet push --dry-run`, the validation endpoint). Writes nothing to the database or
    /// the blob store; the signed copy is a temporary file, deleted here.
    pub async fn validate_push(
        &self,
        caller: &Caller,
        upload: &Path,
    ) -> Result<PushValidation, Error> {
        let inspected = self.inspect_upload(caller, upload).await?;
        let authorized = self.authorize(inspected).await?;
        let checked = self.check_signature(authorized).await?;
        let signed = self.repository_sign(checked).await?;
        Ok(signed.validation())
    }
}
