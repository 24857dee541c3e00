//! The [`Registry`] services over `signing::certificates`: here, in the services layer, so that
//! `signing::certificates` stays below `registry`.

use crate::Error;
use crate::clock::random_id;
use crate::mirror::PinnedCertificate;
use crate::registry::Registry;
use crate::signing::certificates::{RegisteredCertificate, chain_der, split_upload};
use crate::signing::store::{CertificateRow, NewCertificate, VersionSignature};
use signet_common::UtcTime;
use signet_push_rules::check_certificate_upload;
use signet_signature::Certificate;
use signet_trust::build_chain;

/// The certificates `RepositorySignatures` announces (NU3034: a client matches a package's
/// repository signature against them).
#[derive(Clone, Debug)]
pub(crate) struct AnnouncedCertificates {
    /// Every repository certificate this server has signed with (rotation keeps old ones),
    /// oldest first: (SHA-256 fingerprint, DER).
    pub(crate) repository: Vec<(String, Vec<u8>)>,
    /// The pinned certificates of upstreams in passthrough mode: the packages this server
    /// serves from them carry their repository signatures.
    pub(crate) passthrough: Vec<PinnedCertificate>,
}

impl Registry {
    /// What `RepositorySignatures` lists: this server's repository certificates, then the
    /// passthrough upstreams' pinned ones.
    pub(crate) async fn announced_certificates(&self) -> Result<AnnouncedCertificates, Error> {
        let repository = self.db.repository_certificates().await?;
        let passthrough = self.db.passthrough_certificates().await?;
        Ok(AnnouncedCertificates {
            repository,
            passthrough,
        })
    }

    /// One of this server's repository certificates (DER) by its SHA-256 fingerprint (lower
    /// case hex).
    pub(crate) async fn repository_certificate(
        &self,
        fingerprint: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .db
            .repository_certificates()
            .await?
            .into_iter()
            .find(|(f, _)| f == fingerprint)
            .map(|(_, der)| der))
    }

    /// Registers a certificate on `account` (a user or organization): a DER `.cer` as
    /// NuGet.org takes it, or a PEM file (its first certificate; the others complete the
    /// chain), at most 10,000 bytes of DER. Idempotent; re-activates a deactivated
    /// registration. Warnings explain what will make pushes signed with it fail.
    pub async fn register_certificate(
        &self,
        account: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<RegisteredCertificate, Error> {
        if bytes.len() > 64 * 1024 {
            return Err(Error::Invalid(format!(
                "The file exceeds the size limit of {} bytes.",
                signet_push_rules::MAX_CERTIFICATE_SIZE
            )));
        }
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".pfx") || lower.ends_with(".p12") {
            return Err(Error::Invalid(format!(
                "{file_name} holds a private key: upload only the certificate (export it with \
                 `openssl pkcs12 -in {file_name} -nokeys -clcerts -out certificate.cer`, or \
                 certmgr on Windows), never the key"
            )));
        }
        let (der, intermediates) = split_upload(bytes)?;
        // A PEM upload is judged as the DER it carries, and `.crt`/`.der`/`.pem` as the `.cer`
        // NuGet.org takes (the DER checks below still apply to the content).
        let name = if bytes.trim_ascii_start().starts_with(b"-----BEGIN")
            || [".cer", ".crt", ".der", ".pem"]
                .iter()
                .any(|ext| lower.ends_with(ext))
        {
            "upload.cer"
        } else {
            return Err(Error::Invalid(format!(
                "{file_name} is not a certificate file: give a .cer, .crt, .der or .pem \
                 certificate (DER or PEM)"
            )));
        };
        let now = self.clock.now();
        let uploaded =
            check_certificate_upload(name, &der, &self.signing.policy.trust, &intermediates, now)
                .map_err(Error::Invalid)?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| Error::Invalid(format!("The certificate cannot be read: {e}")))?;
        // The upload's issuers are one account's claim: kept only when they form a path to
        // the server's code-signing roots (then they are the real issuers), and even then
        // never replacing a chain the server already has (pushed signatures' chains do).
        let built = build_chain(
            &cert,
            &intermediates,
            self.signing.policy.trust.code_signing(),
            &signet_signature::oids::EKU_CODE_SIGNING,
        );
        let verified_issuers: Vec<Certificate> = if built.is_trusted() {
            built.certificates.iter().skip(1).cloned().collect()
        } else {
            Vec::new()
        };
        let id = self
            .db
            .upsert_certificate(&NewCertificate {
                id: random_id(self.rng.as_ref())?,
                chain_verified_by_push: false,
                fingerprint: uploaded.fingerprint.clone(),
                der: der.clone(),
                chain: chain_der(&verified_issuers),
                subject: uploaded.subject.clone(),
                issuer: uploaded.issuer.clone(),
                not_before: cert.not_before().unix_micros(),
                not_after: cert.not_after().unix_micros(),
                now: now.unix_micros(),
            })
            .await?;
        self.db
            .link_certificate(account_id, id, now.unix_micros())
            .await?;
        tracing::info!(account, fingerprint = %uploaded.fingerprint, "certificate registered");
        self.account_event(
            account_id,
            "certificate.registered",
            serde_json::json!({
                "account": account,
                "fingerprint": uploaded.fingerprint,
                "subject": uploaded.subject,
            }),
        )
        .await;
        Ok(RegisteredCertificate {
            fingerprint: uploaded.fingerprint,
            subject: uploaded.subject,
            issuer: uploaded.issuer,
            expires: uploaded.expires.rfc3339(),
            warnings: uploaded.warnings.iter().map(|w| w.message()).collect(),
        })
    }

    /// The account's certificates, active and deactivated, with what signed what.
    pub async fn certificates(&self, account: &str) -> Result<Vec<CertificateRow>, Error> {
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        let mut rows = self.db.account_certificates(account_id).await?;
        for row in &mut rows {
            row.cannot_sign = self.never_signs(&row.der, &row.chain);
        }
        Ok(rows)
    }

    /// Why a certificate can never sign an accepted push, judged with what is verifiable:
    /// the certificate itself and the issuers the server knows (from pushed signatures or a
    /// registration whose chain reached the roots). A chain that stops at an unknown issuer
    /// is not judged (a signature brings its intermediates).
    fn never_signs(&self, der: &[u8], chain: &[u8]) -> Option<String> {
        let Ok(cert) = Certificate::from_der(der) else {
            return Some("the certificate cannot be read".into());
        };
        if !cert.allows_eku(&signet_signature::oids::EKU_CODE_SIGNING) {
            return Some("it has no code-signing extended key usage (NU3018)".into());
        }
        match cert.rsa_key_bits() {
            Some(b) if b >= 2048 => {}
            _ => return Some("its key is not RSA of 2048 bits or more (NU3014)".into()),
        }
        if cert.is_self_issued() {
            return Some("it is self-issued: it chains to no trusted root (NU3018)".into());
        }
        let issuers = crate::signing::recheck::split_der(chain);
        let built = build_chain(
            &cert,
            &issuers,
            self.signing.policy.trust.code_signing(),
            &signet_signature::oids::EKU_CODE_SIGNING,
        );
        let reached_a_root = built.root().is_some_and(Certificate::is_self_issued);
        if !built.is_trusted() && reached_a_root {
            return Some("it chains to a root this server does not trust (NU3018)".into());
        }
        None
    }

    /// Deletes a registration: removed when none of the account's packages was signed with
    /// it; otherwise deactivated (still listed, no longer accepted for pushes). Returns
    /// whether it was kept as deactivated.
    pub async fn delete_certificate(
        &self,
        account: &str,
        fingerprint: &str,
    ) -> Result<bool, Error> {
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        let fingerprint = fingerprint.trim().to_lowercase();
        let rows = self.db.account_certificates(account_id).await?;
        let row = rows
            .iter()
            .find(|r| r.fingerprint == fingerprint)
            .ok_or_else(|| {
                Error::NotFound(format!("{account} has no certificate {fingerprint}"))
            })?;
        let keep = row.signed_versions > 0;
        self.db
            .unlink_certificate(account_id, &fingerprint, keep)
            .await?;
        tracing::info!(account, %fingerprint, deactivated = keep, "certificate deleted");
        self.account_event(
            account_id,
            "certificate.deleted",
            serde_json::json!({
                "account": account,
                "fingerprint": fingerprint,
                "deactivated": keep,
            }),
        )
        .await;
        Ok(keep)
    }

    /// The package's required signer (`None`: any owner).
    pub async fn required_signer(&self, id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .db
            .required_signer(&id.to_lowercase())
            .await?
            .map(|(_, name)| name))
    }

    /// Sets the package's required signer (`None`: any owner). The account must exist; as on
    /// NuGet.org it need not be an owner (pages offer only owners).
    pub async fn set_required_signer(&self, id: &str, account: Option<&str>) -> Result<(), Error> {
        let account_id = match account {
            None => None,
            Some(name) => Some(
                self.db
                    .find_account(name)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("no account {name:?}")))?
                    .0,
            ),
        };
        if !self
            .db
            .set_required_signer(&id.to_lowercase(), account_id)
            .await?
        {
            return Err(Error::NotFound(format!("no package {id}")));
        }
        tracing::info!(id, required_signer = ?account, "required signer set");
        Ok(())
    }

    /// Turns the account's "every package author-signed" policy on or off.
    pub async fn set_require_signed(&self, account: &str, on: bool) -> Result<(), Error> {
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        self.db.set_requires_signed(account_id, on).await
    }

    /// Whether the account requires every package to be author-signed.
    pub async fn requires_signed(&self, account: &str) -> Result<bool, Error> {
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        self.db.requires_signed(account_id).await
    }

    /// What one stored version is signed with.
    pub async fn version_signature(
        &self,
        id: &str,
        version: &str,
    ) -> Result<Option<VersionSignature>, Error> {
        let Ok(v) = signet_feed::NuGetVersion::parse(version) else {
            return Ok(None);
        };
        self.db
            .version_signature(&id.to_lowercase(), &v.lower())
            .await
    }

    /// Whether `user` may manage `account`'s certificates and settings: the user themself, or
    /// an admin of the organization (spec server §1.2, `ManageAccount`).
    pub async fn can_manage_account(&self, user: &str, account: &str) -> Result<bool, Error> {
        if user.eq_ignore_ascii_case(account) {
            return Ok(true);
        }
        self.member_role_of(user, account)
            .await
            .map(|r| r.as_deref() == Some("admin"))
    }

    /// Whether `user` may see `account`'s certificates: the user themself or any member of
    /// the organization (`ViewAccount`).
    pub async fn can_view_account(&self, user: &str, account: &str) -> Result<bool, Error> {
        if user.eq_ignore_ascii_case(account) {
            return Ok(true);
        }
        Ok(self.member_role_of(user, account).await?.is_some())
    }

    /// Whether `user` may manage package `id` (its required signer): an owner, or an admin of
    /// an owning organization.
    pub async fn can_manage_package(&self, user: &str, id: &str) -> Result<bool, Error> {
        for (_, owner, _) in self.db.owner_accounts(&id.to_lowercase()).await? {
            if self.can_manage_account(user, &owner).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `user`'s role in organization `account`, if both exist and the user is a member.
    async fn member_role_of(&self, user: &str, account: &str) -> Result<Option<String>, Error> {
        let (Some(u), Some((org, kind))) = (
            self.db.find_user(user).await?,
            self.db.find_account(account).await?,
        ) else {
            return Ok(None);
        };
        if kind != "organization" {
            return Ok(None);
        }
        self.db.member_role(org, u.id).await
    }

    /// Owners of package `id` with how many active certificates each has (the required-signer
    /// choice shows them), and the current required signer.
    pub async fn signing_owners(
        &self,
        id: &str,
    ) -> Result<(Vec<(String, usize)>, Option<String>), Error> {
        let id_lower = id.to_lowercase();
        let mut owners = Vec::new();
        for (account, name, _) in self.db.owner_accounts(&id_lower).await? {
            owners.push((name, self.db.active_fingerprints(account).await?.len()));
        }
        let required = self.db.required_signer(&id_lower).await?.map(|(_, n)| n);
        Ok((owners, required))
    }

    /// Every version's signature record of package `id`, by lower-case version.
    pub async fn version_signatures(
        &self,
        id: &str,
    ) -> Result<std::collections::HashMap<String, VersionSignature>, Error> {
        Ok(self
            .db
            .version_signatures_of(&id.to_lowercase())
            .await?
            .into_iter()
            .collect())
    }

    /// Makes `user` a site administrator (the signing status page).
    pub async fn grant_site_admin(&self, user: &str) -> Result<(), Error> {
        let u = self
            .db
            .find_user(user)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {user:?}")))?;
        self.db.add_site_admin(u.id).await
    }

    /// Whether `user` is a site administrator.
    pub async fn is_site_admin(&self, user: &str) -> Result<bool, Error> {
        match self.db.find_user(user).await? {
            Some(u) => self.db.is_site_admin(u.id).await,
            None => Ok(false),
        }
    }

    /// Stored versions, and known signer certificates by recheck status.
    pub async fn signing_status(&self) -> Result<(u64, Vec<(String, i64)>), Error> {
        let (total, by_status) = self.db.signing_counts().await?;
        Ok((u64::try_from(total).unwrap_or_default(), by_status))
    }

    /// The current time (pages compute Expired from it).
    pub fn now(&self) -> UtcTime {
        self.clock.now()
    }
}
