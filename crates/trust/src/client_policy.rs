//! Client policies for install/restore: NuGet's `signatureValidationMode` (accept, require)
//! and the three modes of NuGet's 2017 signing plan (developer, default, secure), per source.
//!
//! | package                              | developer | default | secure          |
//! |--------------------------------------|-----------|---------|-----------------|
//! | unsigned                             | allow     | warn    | block (NU3004)  |
//! | repository-signed (untrusted repo)   | allow     | allow   | block (NU3034)  |
//! | author-signed, trusted signer        | allow     | allow   | allow           |
//! | author-signed, not a trusted signer  | allow     | allow*  | block (NU3034)  |
//! | tampered, revoked, illegal           | block     | block   | block           |
//!
//! \* with a NU3034 warning when trusted signers are configured. `secure` is NuGet's `require`
//! mode (trusted signers required and matched, author or repository entries alike); `default`
//! is `accept` plus a warning for unsigned packages; `developer` is `accept` without any allow
//! list. A source announcing `RepositorySignatures` adds its certificate list in every mode but
//! developer, strictly (unsigned and untrusted become errors) when `allRepositorySigned` is
//! true (spec §5.1, §5.2, §5.7).

use std::fmt;

use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};

use crate::report::{Issue, PackageReport};
use crate::{
    AllowList, AllowListKind, RevocationMode, TrustTarget, TrustedCertificate, VerifierSettings,
    VerifyOptions,
};

/// A client policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientPolicy {
    /// NuGet `signatureValidationMode=accept` exactly.
    Accept,
    /// NuGet `signatureValidationMode=require` exactly.
    Require,
    /// Allow everything that is intact.
    Developer,
    /// Accept, warning on unsigned packages.
    Default,
    /// Only packages signed by trusted signers.
    Secure,
}

impl ClientPolicy {
    /// Parses `accept`, `require`, `developer`, `default`, `secure` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "accept" => Some(Self::Accept),
            "require" => Some(Self::Require),
            "developer" => Some(Self::Developer),
            "default" => Some(Self::Default),
            "secure" => Some(Self::Secure),
            _ => None,
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Require => "require",
            Self::Developer => "developer",
            Self::Default => "default",
            Self::Secure => "secure",
        }
    }

    fn strict(self) -> bool {
        matches!(self, Self::Require | Self::Secure)
    }
}

impl fmt::Display for ClientPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The trust inputs of one package source.
#[derive(Clone, Debug, Default)]
pub struct SourceTrust {
    /// Certificates the source announces (`RepositorySignatures`): (algorithm, hex).
    pub repository_certificates: Option<Vec<(HashAlgorithm, String)>>,
    /// The source says every package is repository-signed.
    pub all_repository_signed: bool,
}

/// The verification options for a package from a source under `policy`: `trusted` is the
/// client's trusted-signers allow list, `allow_untrusted_root` its allowUntrustedRoot
/// certificates.
pub fn options_for(
    policy: ClientPolicy,
    trusted: Option<&AllowList>,
    allow_untrusted_root: &[(HashAlgorithm, String)],
    source: &SourceTrust,
    revocation_mode: RevocationMode,
    now: UtcTime,
) -> VerifyOptions {
    let mut settings = if policy.strict() {
        VerifierSettings::require(revocation_mode)
    } else {
        VerifierSettings::accept(revocation_mode)
    };
    if policy != ClientPolicy::Developer && source.all_repository_signed {
        settings.allow_unsigned = false;
        settings.allow_untrusted = false;
    }
    let mut options = VerifyOptions::new(settings, now);
    if policy != ClientPolicy::Developer {
        let mut list = trusted
            .cloned()
            .unwrap_or_else(|| AllowList::empty(AllowListKind::TrustedSigners));
        list.require_non_empty = policy.strict();
        if !list.is_empty() || list.require_non_empty {
            options.trusted_signers = Some(list);
        }
        options.allow_untrusted_root = allow_untrusted_root.to_vec();
        if let Some(certs) = &source.repository_certificates {
            options.repository_certificates = Some(AllowList {
                kind: AllowListKind::RepositoryCertificates,
                entries: certs
                    .iter()
                    .map(|(algorithm, fingerprint)| TrustedCertificate {
                        fingerprint: fingerprint.clone(),
                        algorithm: *algorithm,
                        target: TrustTarget::Repository,
                        primary: true,
                        countersignature: true,
                        owners: Vec::new(),
                    })
                    .collect(),
                identities: Vec::new(),
                require_non_empty: source.all_repository_signed,
            });
        }
    }
    options
}

/// What the client does with a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Install it.
    Allow,
    /// Install it and show these warnings.
    Warn(Vec<Issue>),
    /// Refuse it, for these errors.
    Block(Vec<Issue>),
}

impl Decision {
    /// Whether the package may be installed.
    pub fn allows(&self) -> bool {
        !matches!(self, Self::Block(_))
    }
}

/// Turns a verification report into a decision under `policy`.
pub fn decide(policy: ClientPolicy, report: &PackageReport) -> Decision {
    if !report.valid {
        let mut errors: Vec<Issue> = report
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .cloned()
            .collect();
        if errors.is_empty() {
            // Invalid with only warnings (accept mode: an illegal certificate).
            errors = report
                .issues
                .iter()
                .filter(|i| i.severity == Severity::Warning)
                .cloned()
                .collect();
        }
        return Decision::Block(errors);
    }
    let mut warnings: Vec<Issue> = report
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Warning)
        .cloned()
        .collect();
    if policy == ClientPolicy::Default && !report.signed {
        warnings.push(Issue {
            code: Some(NuCode::NU3004),
            severity: Severity::Warning,
            message: "The package is not signed (policy 'default' warns on unsigned packages)."
                .into(),
        });
    }
    if warnings.is_empty() {
        Decision::Allow
    } else {
        Decision::Warn(warnings)
    }
}
