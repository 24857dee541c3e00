//! Who must sign, who may sign, and with which certificate (spec server §2.1, §2.3, §2.5).

use signet_signature::{PrimarySignature, SignatureType};
use signet_trust::{CountersignaturePolicy, RevocationMode, VerifierSettings};

/// An owner of a package id (a user or an organization) with its registered certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Account name.
    pub name: String,
    /// SHA-256 fingerprints (hex, any case) of its active registered certificates.
    pub certificates: Vec<String>,
}

impl Owner {
    fn has(&self, fingerprint: &str) -> bool {
        self.certificates
            .iter()
            .any(|c| c.eq_ignore_ascii_case(fingerprint))
    }
}

/// The package's required-signer setting ("Signing Owner").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequiredSigner {
    /// Any owner's certificate ("Any", the default).
    Any,
    /// Only this account's certificates; an account without certificates means "must be
    /// unsigned" (NuGet.org's "no certificate" override).
    Account(String),
}

/// What the rules say for a package id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigningRules {
    /// Unsigned pushes are rejected.
    pub required: bool,
    /// Signed pushes are accepted at all.
    pub allowed: bool,
}

/// NuGet.org's table (§2.1): with no required signer, signing is required when **all** owners
/// have a certificate and allowed when **any** has; with a required signer U, both follow U.
/// A required signer that is not among `owners` (a stale setting) is still honoured, as
/// NuGet.org does.
pub fn signing_rules(
    owners: &[Owner],
    required: &RequiredSigner,
    accounts: &[Owner],
) -> SigningRules {
    match required {
        RequiredSigner::Any => SigningRules {
            required: !owners.is_empty() && owners.iter().all(|o| !o.certificates.is_empty()),
            allowed: owners.iter().any(|o| !o.certificates.is_empty()),
        },
        RequiredSigner::Account(name) => {
            let has = find(owners, accounts, name).is_some_and(|o| !o.certificates.is_empty());
            SigningRules {
                required: has,
                allowed: has,
            }
        }
    }
}

fn find<'a>(owners: &'a [Owner], accounts: &'a [Owner], name: &str) -> Option<&'a Owner> {
    owners
        .iter()
        .chain(accounts)
        .find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Why a push is refused, with NuGet.org's wording (spec §2.3, §2.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushRejection {
    /// Unsigned, but signing is required.
    MustBeSigned,
    /// Signed, but no relevant owner has registered a certificate.
    SigningNotAllowed {
        /// The owner who must register (`None`: the pusher themself).
        owner: Option<String>,
    },
    /// The primary signature is not an author signature.
    OnlyAuthorSignatures,
    /// An author countersignature.
    AuthorCountersignature,
    /// A countersignature that cannot be read.
    MalformedCountersignature {
        /// Why.
        reason: String,
    },
    /// Signed with a certificate no acceptable owner registered.
    UnauthorizedCertificate {
        /// SHA-256 of the signer certificate, lower-case hex.
        fingerprint: String,
    },
}

impl PushRejection {
    /// The message a client shows (the HTTP reason phrase and body).
    pub fn message(&self) -> String {
        match self {
            Self::MustBeSigned => "This package must be signed with a registered certificate.".into(),
            Self::SigningNotAllowed { owner: None } => {
                "The package was signed. You must register the signing certificate to publish signed packages.".into()
            }
            Self::SigningNotAllowed { owner: Some(o) } => format!(
                "The package was signed. The owner '{o}' must register the signing certificate to publish signed packages."
            ),
            Self::OnlyAuthorSignatures => {
                "Only author signatures are accepted as the primary signature; this package's primary signature is not an author signature.".into()
            }
            Self::AuthorCountersignature => {
                "Author countersignatures are not supported.".into()
            }
            Self::MalformedCountersignature { reason } => {
                format!("The package signature has a countersignature that cannot be read: {reason}")
            }
            Self::UnauthorizedCertificate { fingerprint } => format!(
                "The package was signed, but the signing certificate (SHA-256 {fingerprint}) is not associated with your account. You must register this certificate to publish signed packages."
            ),
        }
    }

    /// What to do about it, for pages and `--dry-run` output.
    pub fn remedy(&self) -> &'static str {
        match self {
            Self::MustBeSigned => {
                "Sign the package with `signet sign` using a certificate registered to an owner (or the required signer)."
            }
            Self::SigningNotAllowed { .. } => {
                "Register the signing certificate (a DER .cer) on the account's certificates page, or push the package unsigned."
            }
            Self::OnlyAuthorSignatures => {
                "Remove the signature (`signet sign --overwrite` replaces it) and author-sign the package."
            }
            Self::AuthorCountersignature | Self::MalformedCountersignature { .. } => {
                "Re-sign the package with a single author signature."
            }
            Self::UnauthorizedCertificate { .. } => {
                "Register this certificate on an owner's account, or sign with a certificate already registered (see the package's signing owner)."
            }
        }
    }
}

/// The signing checks for one push: `owners` are the id's owners (for a new id: the pusher's
/// account), `required` its required signer, `accounts` any further accounts the required
/// signer may name, `pusher` the pushing account, and `signature` the loaded primary
/// signature when the package has one. Runs the synchronous checks of §2.3 and, for signed
/// packages, the certificate check NuGet.org runs later (§2.5 step 4), so a push is accepted
/// or refused at once.
pub fn check_push_signing(
    owners: &[Owner],
    required: &RequiredSigner,
    accounts: &[Owner],
    pusher: &str,
    signature: Option<&PrimarySignature>,
) -> Result<(), PushRejection> {
    let rules = signing_rules(owners, required, accounts);
    let Some(sig) = signature else {
        return if rules.required {
            Err(PushRejection::MustBeSigned)
        } else {
            Ok(())
        };
    };
    if !rules.allowed {
        let owner = match required {
            RequiredSigner::Account(rs) if !rs.eq_ignore_ascii_case(pusher) => Some(rs.clone()),
            RequiredSigner::Any if !owners.iter().any(|o| o.name.eq_ignore_ascii_case(pusher)) => {
                owners.first().map(|o| o.name.clone())
            }
            _ => None,
        };
        return Err(PushRejection::SigningNotAllowed { owner });
    }
    if sig.signature_type() != SignatureType::Author {
        return Err(PushRejection::OnlyAuthorSignatures);
    }
    match sig.countersignature_types() {
        Err(e) => {
            return Err(PushRejection::MalformedCountersignature {
                reason: e.to_string(),
            });
        }
        Ok(types) if types.contains(&SignatureType::Author) => {
            return Err(PushRejection::AuthorCountersignature);
        }
        Ok(_) => {}
    }
    let fingerprint = sig.certificate().sha256_hex().to_lowercase();
    let acceptable = match required {
        RequiredSigner::Any => owners.iter().any(|o| o.has(&fingerprint)),
        RequiredSigner::Account(name) => {
            find(owners, accounts, name).is_some_and(|o| o.has(&fingerprint))
        }
    };
    if acceptable {
        Ok(())
    } else {
        Err(PushRejection::UnauthorizedCertificate { fingerprint })
    }
}

/// The verification settings NuGet.org applies to a pushed author signature (spec §2.5 step
/// 7): nothing unsigned, illegal or untrusted; exactly one valid timestamp (no timestamp and
/// several timestamps are errors, and an invalid one is not ignored); unknown revocation is a
/// warning (rechecked later); a repository countersignature, if present, is verified too.
pub fn push_verifier_settings(revocation_mode: RevocationMode) -> VerifierSettings {
    VerifierSettings {
        allow_unsigned: false,
        allow_illegal: false,
        allow_untrusted: false,
        allow_ignore_timestamp: false,
        allow_multiple_timestamps: false,
        allow_no_timestamp: false,
        allow_unknown_revocation: true,
        report_unknown_revocation: true,
        countersignatures: CountersignaturePolicy::IfExists,
        revocation_mode,
    }
}
