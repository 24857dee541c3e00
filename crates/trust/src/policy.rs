//! Verification policy as data: NuGet's `SignedPackageVerifierSettings` (spec §5.2) and allow
//! lists (trusted signers, repository certificates, `--certificate-fingerprint`, spec §5.7).

use signet_common::HashAlgorithm;

/// When a repository countersignature is evaluated (spec §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CountersignaturePolicy {
    /// Whenever one exists (the verify command).
    IfExists,
    /// Only when it exists and the primary needs it: untrusted root or expired (restore).
    IfExistsAndIsNecessary,
}

/// How revocation is checked (`NUGET_CERT_REVOCATION_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationMode {
    /// Ask OCSP responders and CRL distribution points (NuGet's default). A status that
    /// stays unknown is a warning (NU3018 for signers, NU3028 for timestamps).
    Online,
    /// Never go to the network; cached CRLs and OCSP responses are still used (NuGet's
    /// offline mode is Windows' cache-only checking). Unknown status is informational.
    Offline,
}

/// What a revoked certificate in a signer's chain means for a signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationPolicy {
    /// NuGet's rule: any revocation invalidates the signature (NU3012, status Suspect),
    /// whenever it happened.
    #[default]
    NuGet,
    /// Beyond NuGet (opt-in): a revocation that does not claim a key compromise and takes
    /// effect after the signature's valid timestamp does not invalidate the signature; it is
    /// reported as a warning. It takes effect at the invalidity date if one is given (or the
    /// revocation time if earlier), else at the revocation time. A revocation always
    /// invalidates when the reason is keyCompromise, cACompromise, aACompromise or
    /// certificateHold, or when neither a reason (other than unspecified) nor an invalidity
    /// date says when the key stopped being trustworthy. See docs/DIFFERENCES.md.
    TimestampAware,
}

impl RevocationMode {
    /// Reads `NUGET_CERT_REVOCATION_MODE`'s value: `offline` (any case) is offline, anything
    /// else online — NuGet's parse. `None` (unset) gives `default`.
    pub fn from_env_value(value: Option<&str>, default: RevocationMode) -> Self {
        match value {
            None => default,
            Some(v) if v.trim().eq_ignore_ascii_case("offline") => Self::Offline,
            Some(_) => Self::Online,
        }
    }
}

/// NuGet's verifier settings. Each flag keeps NuGet's name; the presets are the exact values of
/// spec §5.2, so the verify command, `accept` and `require` are data, not separate code paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierSettings {
    /// Unsigned packages are valid.
    pub allow_unsigned: bool,
    /// Malformed signatures and illegal certificates are warnings, not errors.
    pub allow_illegal: bool,
    /// Untrusted roots, expiry and allow-list misses are warnings.
    pub allow_untrusted: bool,
    /// An invalid timestamp is ignored (the current time is used) rather than fatal.
    pub allow_ignore_timestamp: bool,
    /// More than one timestamp is tolerated.
    pub allow_multiple_timestamps: bool,
    /// A missing timestamp is tolerated.
    pub allow_no_timestamp: bool,
    /// Unknown revocation status is tolerated.
    pub allow_unknown_revocation: bool,
    /// Unknown revocation status is reported.
    pub report_unknown_revocation: bool,
    /// When to evaluate repository countersignatures.
    pub countersignatures: CountersignaturePolicy,
    /// Online or offline revocation.
    pub revocation_mode: RevocationMode,
}

impl VerifierSettings {
    /// `nuget verify -Signatures` / `dotnet nuget verify`.
    pub fn verify_command(revocation_mode: RevocationMode) -> Self {
        Self {
            allow_unsigned: false,
            allow_illegal: false,
            allow_untrusted: false,
            allow_ignore_timestamp: false,
            allow_multiple_timestamps: true,
            allow_no_timestamp: true,
            allow_unknown_revocation: true,
            report_unknown_revocation: true,
            countersignatures: CountersignaturePolicy::IfExists,
            revocation_mode,
        }
    }

    /// Restore/install with `signatureValidationMode=accept` (NuGet's default).
    pub fn accept(revocation_mode: RevocationMode) -> Self {
        Self {
            allow_unsigned: true,
            allow_illegal: true,
            allow_untrusted: true,
            allow_ignore_timestamp: true,
            allow_multiple_timestamps: true,
            allow_no_timestamp: true,
            allow_unknown_revocation: true,
            report_unknown_revocation: false,
            countersignatures: CountersignaturePolicy::IfExistsAndIsNecessary,
            revocation_mode,
        }
    }

    /// Restore/install with `signatureValidationMode=require`.
    pub fn require(revocation_mode: RevocationMode) -> Self {
        Self {
            allow_unsigned: false,
            allow_illegal: false,
            allow_untrusted: false,
            report_unknown_revocation: true,
            ..Self::accept(revocation_mode)
        }
    }
}

/// Which signatures an allow-list entry may match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustTarget {
    /// Author primary signatures.
    Author,
    /// Repository primary signatures and repository countersignatures.
    Repository,
    /// Either (CLI fingerprints).
    AuthorOrRepository,
}

/// One trusted certificate of an allow list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCertificate {
    /// Hex fingerprint (compared case-insensitively).
    pub fingerprint: String,
    /// Its algorithm.
    pub algorithm: HashAlgorithm,
    /// What it may sign as.
    pub target: TrustTarget,
    /// Whether it matches primary signatures.
    pub primary: bool,
    /// Whether it matches repository countersignatures.
    pub countersignature: bool,
    /// For trusted repositories: owners of which at least one must be in the signature.
    pub owners: Vec<String>,
}

/// Which list, for messages (spec §5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowListKind {
    /// `trustedSigners` from nuget.config.
    TrustedSigners,
    /// The certificates a source announces in `RepositorySignatures`.
    RepositoryCertificates,
    /// `--certificate-fingerprint` on the command line.
    CertificateFingerprints,
}

/// An allow list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    /// Which list.
    pub kind: AllowListKind,
    /// Entries.
    pub entries: Vec<TrustedCertificate>,
    /// Authors trusted by identity (trusted signers only): they match author primary
    /// signatures whose certificate has the subject attributes and was issued by a pinned CA
    /// key.
    pub identities: Vec<crate::identity::TrustedIdentity>,
    /// An empty list is an error (require mode, `allRepositorySigned`).
    pub require_non_empty: bool,
}

impl AllowList {
    /// An empty list of `kind`.
    pub fn empty(kind: AllowListKind) -> Self {
        Self {
            kind,
            entries: Vec::new(),
            identities: Vec::new(),
            require_non_empty: false,
        }
    }

    /// No certificate and no identity.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.identities.is_empty()
    }

    /// The `--certificate-fingerprint` list: SHA-256 (or SHA-384/512 by length) fingerprints of
    /// the primary signer, author or repository.
    pub fn certificate_fingerprints(fps: &[String]) -> Result<Self, String> {
        let mut entries = Vec::new();
        for fp in fps
            .iter()
            .flat_map(|f| f.split(';'))
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            let clean: String = fp.chars().filter(|c| *c != ':').collect();
            if !clean.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "'{fp}' is not a hexadecimal certificate fingerprint"
                ));
            }
            let algorithm = match clean.len() {
                64 => HashAlgorithm::Sha256,
                96 => HashAlgorithm::Sha384,
                128 => HashAlgorithm::Sha512,
                40 => {
                    return Err(format!(
                        "'{fp}' is a SHA-1 fingerprint; SHA-1 is not supported, use the SHA-256 fingerprint (NU3043)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "'{fp}' is not a SHA-256, SHA-384 or SHA-512 fingerprint"
                    ));
                }
            };
            entries.push(TrustedCertificate {
                fingerprint: clean,
                algorithm,
                target: TrustTarget::AuthorOrRepository,
                primary: true,
                countersignature: false,
                owners: Vec::new(),
            });
        }
        // An option given with nothing in it (an unset variable in CI) must not silently turn the
        // pin off.
        if entries.is_empty() && !fps.is_empty() {
            return Err("--certificate-fingerprint was given without a fingerprint".into());
        }
        Ok(Self {
            kind: AllowListKind::CertificateFingerprints,
            entries,
            identities: Vec::new(),
            require_non_empty: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_spec_table() {
        let v = VerifierSettings::verify_command(RevocationMode::Offline);
        assert!(
            !v.allow_unsigned
                && !v.allow_illegal
                && !v.allow_untrusted
                && !v.allow_ignore_timestamp
        );
        assert_eq!(v.countersignatures, CountersignaturePolicy::IfExists);
        let a = VerifierSettings::accept(RevocationMode::Online);
        assert!(
            a.allow_unsigned
                && a.allow_illegal
                && a.allow_untrusted
                && !a.report_unknown_revocation
        );
        let r = VerifierSettings::require(RevocationMode::Online);
        assert!(
            !r.allow_unsigned && !r.allow_illegal && !r.allow_untrusted && r.allow_ignore_timestamp
        );
        assert!(r.report_unknown_revocation);
    }

    #[test]
    fn revocation_mode_parse() {
        assert_eq!(
            RevocationMode::from_env_value(Some("OFFLINE"), RevocationMode::Online),
            RevocationMode::Offline
        );
        assert_eq!(
            RevocationMode::from_env_value(Some("bogus"), RevocationMode::Offline),
            RevocationMode::Online
        );
        assert_eq!(
            RevocationMode::from_env_value(None, RevocationMode::Offline),
            RevocationMode::Offline
        );
    }

    #[test]
    fn fingerprints() {
        let l = AllowList::certificate_fingerprints(&[format!(
            "{};{}",
            "a".repeat(64),
            "B".repeat(128)
        )])
        .unwrap();
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[1].algorithm, HashAlgorithm::Sha512);
        assert!(
            AllowList::certificate_fingerprints(&["ab".repeat(20)])
                .unwrap_err()
                .contains("NU3043")
        );
        assert!(AllowList::certificate_fingerprints(&["zz".into()]).is_err());
        // An empty value (an unset variable) must not turn the pin off.
        assert!(AllowList::certificate_fingerprints(&["".into()]).is_err());
        assert!(AllowList::certificate_fingerprints(&[";".into()]).is_err());
        assert!(
            AllowList::certificate_fingerprints(&[])
                .unwrap()
                .entries
                .is_empty()
        );
    }
}
