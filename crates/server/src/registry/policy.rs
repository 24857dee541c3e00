//! The [`Registry`] services over `signing::policy`: here, in the services layer, so that
//! `signing::policy` stays below `registry`.

use crate::Error;
use crate::error::{PushRule, Refusal};
use crate::inspect::PackageInfo;
use crate::registry::{Caller, Registry};
use crate::signing::policy::{Validated, issue_text, micros, rejection};
use crate::signing::store::VersionSignature;
use signet_common::{NuCode, Severity};
use signet_push_rules::{Owner, RequiredSigner, check_push_signing, push_verifier_settings};
use signet_signature::PrimarySignature;
use signet_trust::{ContentHash, Placement, VerifiedPackage, VerifyOptions, verify_package};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

impl Registry {
    /// Runs the signing rules on an upload for `caller`. `Err(Invalid)` names every rule the
    /// package breaks and what to do.
    /// Writes nothing: the signer is recorded by the push's commit transaction.
    pub(crate) async fn validate_signing(
        &self,
        info: &PackageInfo,
        signature: Option<&PrimarySignature>,
        upload: &Path,
        caller: &Caller,
    ) -> Result<(Validated, Option<VerifiedPackage>), Error> {
        let id_lower = info.id.to_lowercase();

        // Owners: the id's, or for a new id the account the push acts for.
        let mut owner_accounts = self.db.owner_accounts(&id_lower).await?;
        if owner_accounts.is_empty() {
            let name = self.db.account_name(caller.owner_id).await?;
            owner_accounts.push((caller.owner_id, name, String::new()));
        }
        let mut owners = Vec::with_capacity(owner_accounts.len());
        for (account, name, _) in &owner_accounts {
            owners.push(Owner {
                name: name.clone(),
                certificates: self.db.active_fingerprints(*account).await?,
            });
        }
        let mut accounts = Vec::new();
        let required = match self.db.required_signer(&id_lower).await? {
            None => RequiredSigner::Any,
            Some((account, name)) => {
                if !owners.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                    accounts.push(Owner {
                        name: name.clone(),
                        certificates: self.db.active_fingerprints(account).await?,
                    });
                }
                RequiredSigner::Account(name)
            }
        };
        // A registration the recheck job found revoked no longer counts (push rules saw only
        // the other certificates); say why instead of "not registered".
        if let Some(signature) = signature {
            let fingerprint = signature.certificate().sha256_hex().to_lowercase();
            for (account, name, _) in &owner_accounts {
                if self
                    .db
                    .revoked_fingerprints(*account)
                    .await?
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(&fingerprint))
                {
                    return Err(Refusal::new(
                        PushRule::RevokedRegistration,
                        Some(NuCode::NU3012),
                        format!(
                            "The signing certificate (SHA-256 {fingerprint}) registered by \
                             '{name}' has been revoked. Sign with another registered certificate."
                        ),
                    )
                    .into());
                }
            }
        }

        check_push_signing(&owners, &required, &accounts, &caller.user_name, signature)
            .map_err(|r| rejection(&r))?;

        let owner_names: Vec<String> = owner_accounts.iter().map(|(_, n, _)| n.clone()).collect();
        let mut validated = Validated {
            id: info.id.clone(),
            version: info.version.normalized().to_owned(),
            signed: signature.is_some(),
            signature: VersionSignature::default(),
            owners: owner_names,
            warnings: Vec::new(),
        };
        let Some(signature) = signature else {
            for (account, name, _) in &owner_accounts {
                if self.db.requires_signed(*account).await? {
                    return Err(Refusal::new(
                        PushRule::OrganizationRequiresSigned,
                        Some(NuCode::NU3004),
                        format!(
                            "The organization '{name}' requires every package it owns to be \
                             author-signed; this package is unsigned. Sign it with `signet \
                             sign` using a certificate registered to '{name}'."
                        ),
                    )
                    .into());
                }
            }
            if let Some(w) = self.unsigned_after_signed(&id_lower, info).await? {
                validated.warnings.push(w);
            }
            return Ok((validated, None));
        };

        let fingerprint = signature.certificate().sha256_hex().to_lowercase();
        // Full verification under NuGet.org's push policy (exactly one timestamp, trusted
        // chains, RSA >= 2048, EKUs, not revoked).
        let policy = &self.signing.policy;
        let mut options = VerifyOptions::new(push_verifier_settings(policy.mode), self.clock.now());
        options.package_limits = self.limits;
        options.content_hash = ContentHash::Skip;
        options.revocation = policy.revocation.clone();
        let trust = std::sync::Arc::clone(&policy.trust);
        let path: PathBuf = upload.to_path_buf();
        let report = tokio::task::spawn_blocking(move || {
            let file = File::open(&path).map_err(|e| Error::io("open the upload", e))?;
            Ok::<_, Error>(verify_package(BufReader::new(file), &trust, &options))
        })
        .await
        .map_err(|e| Error::io("verification task", std::io::Error::other(e)))??;
        // The proof, not the report's flag, decides (webpki's `VerifiedPath` pattern).
        let Some(verified) = report.verified().cloned() else {
            let errors: Vec<&signet_trust::Issue> = report
                .issues
                .iter()
                .filter(|i| i.severity == Severity::Error)
                .collect();
            let code = errors.iter().find_map(|i| i.code);
            let text: Vec<String> = errors.iter().map(|i| issue_text(i)).collect();
            return Err(Refusal::new(
                PushRule::SignatureVerification,
                code,
                format!(
                    "The package signature does not meet this server's requirements: {}",
                    text.join("; ")
                ),
            )
            .into());
        };
        validated.warnings.extend(
            report
                .issues
                .iter()
                .filter(|i| i.severity == Severity::Warning)
                .map(issue_text),
        );
        if let Some(primary) = report
            .signatures
            .iter()
            .find(|s| s.placement == Placement::Primary)
        {
            let cert = primary.certificate.as_ref();
            validated.signature = VersionSignature {
                author_fingerprint: Some(fingerprint),
                author_subject: cert.map(|c| c.subject.clone()),
                author_issuer: cert.map(|c| c.issuer.clone()),
                author_not_before: micros(cert.and_then(|c| c.valid_from())),
                author_not_after: micros(cert.and_then(|c| c.valid_to())),
                timestamp_at: micros(primary.timestamp.as_ref().and_then(|t| t.time())),
                timestamp_subject: primary
                    .timestamp
                    .as_ref()
                    .map(|t| t.certificate.subject.clone()),
                ..VersionSignature::default()
            };
        }
        Ok((validated, Some(verified)))
    }

    /// NuGet.org's warning (spec server §2.3): the nearest lower version is author-signed but
    /// this upload is not.
    async fn unsigned_after_signed(
        &self,
        id_lower: &str,
        info: &PackageInfo,
    ) -> Result<Option<String>, Error> {
        let versions = self.versions(id_lower).await?;
        let lower = versions
            .iter()
            .rev()
            .find(|v| signet_feed::NuGetVersion::parse(&v.version).is_ok_and(|x| x < info.version));
        let Some(lower) = lower else { return Ok(None) };
        let signed = self
            .db
            .version_signature(id_lower, &lower.version_lower)
            .await?
            .is_some_and(|s| s.author_fingerprint.is_some());
        Ok(signed.then(|| {
            format!(
                "The previous package version '{}' is author signed but the uploaded package \
                 is unsigned. To avoid this warning, sign the package before uploading.",
                lower.version
            )
        }))
    }
}
