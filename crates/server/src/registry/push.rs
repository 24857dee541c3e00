//! The [`Registry`] methods of `push` (moved here so that the
//! feature module does not depend on the services layer above it).

use crate::Error;
use crate::auth::Scope;
use crate::clock::{random_hex, random_id};
#[allow(unused_imports)]
use crate::push::*;
use crate::registry::{Caller, PushCandidate, Pushed, Registry};
use crate::signing::PushValidation;
use crate::versions::{NewVersion, PushRights};
use std::path::Path;
use std::sync::Arc;

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
