//! The checks NuGet makes on a certificate before signing with it (spec §5.10).

use signet_common::{NuCode, Severity, UtcTime};
use signet_signature::{Certificate, oids};

use crate::chain::{ChainProblem, build_chain};
use crate::report::Issue;
use crate::roots::TrustStore;

/// Whether signing may proceed with a certificate whose chain does not reach a trusted root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UntrustedRootPolicy {
    /// NuGet's rule: only a self-issued leaf may have an untrusted root (warning).
    Reject,
    /// Allow any untrusted root with a warning (`--allow-untrusted-root`, as nuget.exe 7.6).
    DangerousAllow,
}

/// Checks a signing certificate as NuGet does before signing: NU3013 (signature algorithm),
/// NU3014 (RSA ≥ 2048), NU3015 (lifetime-signing EKU), NU3017 (not yet valid), then a chain
/// build at `now` with the code-signing EKU where every problem is fatal (NU3018) except an
/// untrusted root for a self-issued leaf (warning). Expired certificates are fatal.
/// Returns the warnings on success and all issues on failure.
pub fn check_signing_certificate(
    leaf: &Certificate,
    chain: &[Certificate],
    trust: &TrustStore,
    now: UtcTime,
    untrusted_root: UntrustedRootPolicy,
) -> Result<Vec<Issue>, Vec<Issue>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let err = |code: NuCode, msg: String| Issue::new(Some(code), Severity::Error, msg);
    if !matches!(
        leaf.signature_algorithm(),
        oids::SHA256_WITH_RSA | oids::SHA384_WITH_RSA | oids::SHA512_WITH_RSA
    ) {
        errors.push(err(
            NuCode::NU3013,
            format!(
                "The signing certificate has an unsupported signature algorithm ({}); use a certificate signed with SHA-256, SHA-384 or SHA-512 with RSA.",
                leaf.signature_algorithm()
            ),
        ));
    }
    match leaf.rsa_key_bits() {
        Some(b) if b >= 2048 => {}
        other => errors.push(err(
            NuCode::NU3014,
            format!(
                "The signing certificate does not meet a minimum public key length requirement: {}; RSA of at least 2048 bits is required.",
                other.map_or("not an RSA key".to_string(), |b| format!("RSA {b} bits"))
            ),
        )),
    }
    if leaf
        .extended_key_usages()
        .is_some_and(|e| e.contains(&oids::EKU_LIFETIME_SIGNING))
    {
        errors.push(err(
            NuCode::NU3015,
            "The lifetime signing EKU in the signing certificate is not supported.".into(),
        ));
    }
    if leaf.not_before() > now {
        errors.push(err(
            NuCode::NU3017,
            format!(
                "The signing certificate is not yet valid (valid from {}).",
                leaf.not_before()
            ),
        ));
    } else if leaf.not_after() < now {
        errors.push(err(
            NuCode::NU3018,
            format!(
                "The signing certificate has expired (valid to {}).",
                leaf.not_after()
            ),
        ));
    }
    let built = build_chain(leaf, chain, trust.code_signing(), &oids::EKU_CODE_SIGNING);
    for p in &built.problems {
        let msg = format!(
            "The signing certificate chain has a problem: {}: {}",
            p.name(),
            p.message()
        );
        let tolerated = *p == ChainProblem::UntrustedRoot
            && (leaf.is_self_issued() || untrusted_root == UntrustedRootPolicy::DangerousAllow);
        if tolerated {
            warnings.push(Issue::new(Some(NuCode::NU3018), Severity::Warning, msg));
        } else {
            let hint = if *p == ChainProblem::UntrustedRoot {
                " Add the root with --trust-roots, or pass --allow-untrusted-root to sign anyway."
            } else {
                ""
            };
            errors.push(err(NuCode::NU3018, format!("{msg}{hint}")));
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}

/// The revocation part of NuGet's pre-signing chain build (spec §5.10): every certificate of
/// the signer's chain but the root (ExcludeRoot) is checked against its issuer through
/// `source`. A revoked certificate is fatal (**NU3018**); an unknown status — no responder,
/// unreachable, or offline mode without a cached answer — is a warning (NU3018), as NuGet's
/// RevocationStatusUnknown and OfflineRevocation are. Returns the warnings on success.
pub fn check_signing_revocation(
    leaf: &Certificate,
    chain: &[Certificate],
    trust: &TrustStore,
    source: &dyn crate::RevocationSource,
    mode: crate::RevocationMode,
    now: UtcTime,
) -> Result<Vec<Issue>, Vec<Issue>> {
    let built = build_chain(leaf, chain, trust.code_signing(), &oids::EKU_CODE_SIGNING);
    let context = crate::RevocationContext::new(mode, now);
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    // Pairs (certificate, issuer) below the root; a chain that ends without its issuer (a
    // partial chain, already an error of `check_signing_certificate`) has nothing to check.
    for pair in built.certificates.windows(2) {
        let [cert, issuer] = pair else { continue };
        match source.status(cert, issuer, &context) {
            crate::RevocationStatus::Good => {}
            crate::RevocationStatus::Revoked { time, .. } => errors.push(Issue::new(
                Some(NuCode::NU3018),
                Severity::Error,
                format!(
                    "The signing certificate chain has a problem: Revoked: {} was revoked at {}. Do not sign with it.",
                    cert.subject(),
                    time
                ),
            )),
            crate::RevocationStatus::Unknown { why } => warnings.push(Issue::new(
                Some(NuCode::NU3018),
                Severity::Warning,
                format!(
                    "The revocation status of {} is unknown ({why}); signing anyway.",
                    cert.subject()
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(errors)
    }
}
