//! The verification pipeline of spec §5: integrity, allow lists, trust and validity of the
//! primary signature and repository countersignature, timestamps — producing a
//! [`PackageReport`] with NuGet's codes and severities, and a [`VerifiedPackage`] proof when the
//! package is valid under the policy.

use std::io::{Read, Seek};
use std::sync::Arc;

use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};
use signet_nupkg::Package;
use signet_signature::{
    Certificate, Countersignature, PrimarySignature, SignatureCheckError, SignatureType, Timestamp,
    oids,
};

use crate::chain::{Chain, ChainProblem, build_chain};
use crate::policy::{
    AllowList, AllowListKind, RevocationMode, RevocationPolicy, TrustTarget, VerifierSettings,
};
use crate::report::{
    CertificateInfo, Issue, PackageReport, Placement, SignatureReport, Status, TimestampReport,
    VerifiedPackage,
};
use crate::revocation::{RevocationContext, RevocationSource};
use crate::roots::TrustStore;
use crate::status::{RevocationReason, RevocationStatus};

/// Everything a verification needs besides the package and the trust store.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The policy.
    pub settings: VerifierSettings,
    /// The client's `trustedSigners` (evaluated second, after integrity).
    pub trusted_signers: Option<AllowList>,
    /// The source's `RepositorySignatures` certificates (evaluated after trust).
    pub repository_certificates: Option<AllowList>,
    /// `--certificate-fingerprint` (evaluated last).
    pub certificate_fingerprints: Option<AllowList>,
    /// Fingerprints (algorithm, uppercase hex) of trusted-signer certificates marked
    /// `allowUntrustedRoot` — matched case-sensitively, as NuGet does.
    pub allow_untrusted_root: Vec<(HashAlgorithm, String)>,
    /// The current time (libraries never read the clock).
    pub now: UtcTime,
    /// Package container limits.
    pub package_limits: signet_nupkg::Limits,
    /// Signature decoding limits.
    pub signature_limits: signet_signature::Limits,
    /// Whether to compute the SHA-512 content hash (spec §1.7) in the integrity pass.
    pub content_hash: ContentHash,
    /// Where revocation status comes from ([`crate::RevocationChecker`]); `None` leaves every
    /// status unknown (reported per `settings.revocation_mode`).
    pub revocation: Option<Arc<dyn RevocationSource>>,
    /// What a revoked signer certificate means (NuGet's rule by default).
    pub revocation_policy: RevocationPolicy,
}

/// Whether verification also computes the package's SHA-512 content hash. Installs need it
/// (`.nupkg.metadata`); a plain verify does not, and SHA-512 costs about as much as the
/// package hash itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentHash {
    /// Compute it in the same streaming pass as the package hash.
    Compute,
    /// Leave it out (`PackageReport::content_hash` is `None`).
    Skip,
}

impl VerifyOptions {
    /// Options with a policy and the current time, no allow lists, default limits.
    pub fn new(settings: VerifierSettings, now: UtcTime) -> Self {
        Self {
            settings,
            trusted_signers: None,
            repository_certificates: None,
            certificate_fingerprints: None,
            allow_untrusted_root: Vec::new(),
            now,
            package_limits: signet_nupkg::Limits::default(),
            signature_limits: signet_signature::Limits::default(),
            content_hash: ContentHash::Compute,
            revocation: None,
            revocation_policy: RevocationPolicy::NuGet,
        }
    }
}

/// An exception in NuGet's sense: it replaces every provider result (spec §5.1).
struct Exception {
    code: NuCode,
    message: String,
}

impl From<signet_signature::Error> for Exception {
    fn from(e: signet_signature::Error) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// Verifies one package read from `reader`.
pub fn verify_package<R: Read + Seek>(
    reader: R,
    trust: &TrustStore,
    options: &VerifyOptions,
) -> PackageReport {
    let mut report = PackageReport {
        id: None,
        version: None,
        signed: false,
        hash_algorithm: None,
        content_hash: None,
        signatures: Vec::new(),
        issues: Vec::new(),
        status: Status::Unknown,
        valid: false,
        trusted_identity: None,
        proof: None,
    };
    let mut pkg = match Package::open(reader, &options.package_limits) {
        Ok(p) => p,
        Err(e) => {
            report.issues.push(Issue::new(
                e.code(),
                Severity::Error,
                format!("the file is not a valid package: {e}"),
            ));
            return report;
        }
    };
    if let Ok(n) = pkg.nuspec() {
        report.id = Some(n.id);
        report.version = Some(n.version);
    }
    let settings = &options.settings;
    let want_content_hash = options.content_hash == ContentHash::Compute;
    if !pkg.has_signature_entry() {
        if want_content_hash {
            report.content_hash = pkg.content_hash().ok();
        }
        if settings.allow_unsigned {
            report.status = Status::Valid;
        } else {
            report.status = Status::Disallowed;
            report.issues.push(Issue::new(
                Some(NuCode::NU3004),
                Severity::Error,
                "The package is not signed.",
            ));
        }
        finish(&mut report, false);
        return report;
    }
    report.signed = true;
    let revocation = RevocationContext::new(settings.revocation_mode, options.now);
    match run_providers(&mut pkg, trust, options, &revocation, &mut report) {
        Ok(status) => report.status = status,
        Err(ex) => {
            // NuGet replaces all results with the exception (spec §5.1).
            report.signatures.clear();
            let severity = if settings.allow_illegal {
                Severity::Warning
            } else {
                Severity::Error
            };
            report.issues = vec![Issue::new(Some(ex.code), severity, ex.message)];
            report.status = if settings.allow_illegal {
                Status::Valid
            } else {
                Status::Disallowed
            };
            if want_content_hash && report.content_hash.is_none() {
                report.content_hash = pkg.content_hash().ok();
            }
        }
    }
    // A proof says "signed" only when a signature was actually loaded and evaluated; in
    // accept mode an unloadable signature is tolerated like no signature at all.
    let evaluated = !report.signatures.is_empty();
    finish(&mut report, evaluated);
    report
}

fn finish(report: &mut PackageReport, signed: bool) {
    // A proof vouches for what was verified; the content hash is in it when computed.
    report.valid = report.status == Status::Valid;
    if report.valid {
        let fps = report
            .signatures
            .iter()
            .filter_map(|s| s.certificate.as_ref().map(|c| c.sha256.clone()))
            .collect();
        report.proof = Some(VerifiedPackage::new(
            report.content_hash.clone(),
            signed,
            fps,
        ));
    }
}

fn run_providers<R: Read + Seek>(
    pkg: &mut Package<R>,
    trust: &TrustStore,
    options: &VerifyOptions,
    revocation: &RevocationContext,
    report: &mut PackageReport,
) -> Result<Status, Exception> {
    let bytes = match pkg.read_signature() {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(Exception {
                code: NuCode::NU3005,
                message: "The package does not contain a valid package signature file.".into(),
            });
        }
        Err(e) => {
            return Err(Exception {
                code: e.code().unwrap_or(NuCode::NU3005),
                message: e.to_string(),
            });
        }
    };
    let primary = PrimarySignature::load(&bytes, &options.signature_limits)?;
    let mut statuses = Vec::new();

    // 1. Integrity (spec §5.3), hashing the stripped stream once for the package hash and the
    //    SHA-512 content hash together.
    let alg = primary.content().hash_algorithm();
    report.hash_algorithm = Some(alg);
    report.issues.push(Issue::new(
        None,
        Severity::Information,
        format!("Signature Hash Algorithm: {alg}"),
    ));
    let mut package_hasher = alg.hasher();
    let mut content_hasher =
        (options.content_hash == ContentHash::Compute).then(|| HashAlgorithm::Sha512.hasher());
    let streamed = pkg.stream_stripped(&mut |chunk| {
        package_hasher.update(chunk);
        if let Some(h) = content_hasher.as_mut() {
            h.update(chunk);
        }
    });
    let integrity_ok = streamed.is_ok() && package_hasher.finish() == primary.content().hash();
    if let (Ok(()), Some(h)) = (&streamed, content_hasher) {
        use base64::Engine;
        report.content_hash = Some(base64::engine::general_purpose::STANDARD.encode(h.finish()));
    }
    if integrity_ok {
        statuses.push(Status::Valid);
    } else {
        report.issues.push(Issue::new(
            Some(NuCode::NU3008),
            Severity::Error,
            "The package integrity check failed. The package has changed since it was signed.",
        ));
        statuses.push(Status::Suspect);
    }

    // The repository countersignature is decoded only when a provider needs it, so that a
    // broken one is never examined in accept/require mode when the primary is fine (§5.6).
    let counter = LazyCountersignature::new(&primary);
    // 2. The client's trusted signers.
    if let Some(list) = &options.trusted_signers {
        statuses.push(allow_list(
            list,
            &primary,
            &counter,
            &options.settings,
            report,
        )?);
    }
    // 3. Trust and validity.
    statuses.push(trust_and_validity(
        &primary, &counter, trust, options, revocation, report,
    )?);
    // 4. The source's repository certificates, then 5. CLI fingerprints.
    for list in [
        &options.repository_certificates,
        &options.certificate_fingerprints,
    ]
    .into_iter()
    .flatten()
    {
        statuses.push(allow_list(
            list,
            &primary,
            &counter,
            &options.settings,
            report,
        )?);
    }
    Ok(statuses.into_iter().min().unwrap_or(Status::Unknown))
}

/// The repository countersignature, decoded on first use.
struct LazyCountersignature<'a> {
    primary: &'a PrimarySignature,
    cell: std::cell::OnceCell<Option<Countersignature>>,
}

impl<'a> LazyCountersignature<'a> {
    fn new(primary: &'a PrimarySignature) -> Self {
        Self {
            primary,
            cell: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> Result<Option<&Countersignature>, Exception> {
        if let Some(c) = self.cell.get() {
            return Ok(c.as_ref());
        }
        let decoded = self.primary.repository_countersignature()?;
        Ok(self.cell.get_or_init(|| decoded).as_ref())
    }
}

fn friendly_name(kind: SignatureType, placement: Placement) -> &'static str {
    match (placement, kind) {
        (Placement::Countersignature, _) => "repository countersignature",
        (_, SignatureType::Author) => "author primary signature",
        (_, SignatureType::Repository) => "repository primary signature",
        _ => "primary signature",
    }
}

/// Allow-list provider (spec §5.7).
fn allow_list(
    list: &AllowList,
    primary: &PrimarySignature,
    counter: &LazyCountersignature<'_>,
    settings: &VerifierSettings,
    report: &mut PackageReport,
) -> Result<Status, Exception> {
    // Only lists with countersignature entries need the countersignature.
    let counter = if list.entries.iter().any(|e| e.countersignature) {
        counter.get()?
    } else {
        None
    };
    if list.is_empty() {
        if !list.require_non_empty {
            return Ok(Status::Valid);
        }
        let message = match list.kind {
            AllowListKind::TrustedSigners => {
                "signatureValidationMode is set to require, so packages are allowed only if signed by trusted signers; however, no trusted signers were specified."
            }
            _ => {
                "This repository indicated that all its packages are repository signed; however, it listed no signing certificates."
            }
        };
        report
            .issues
            .push(Issue::new(Some(NuCode::NU3034), Severity::Error, message));
        return Ok(Status::Disallowed);
    }
    let fp_matches = |cert: &Certificate, alg: HashAlgorithm, fp: &str| {
        signet_signature::hex_upper(&cert.fingerprint(alg)).eq_ignore_ascii_case(fp)
    };
    let owners_ok = |wanted: &[String], have: &[String]| {
        wanted.is_empty() || wanted.iter().any(|w| have.contains(w))
    };
    let matched = list.entries.iter().any(|e| {
        let primary_match = e.primary
            && fp_matches(primary.certificate(), e.algorithm, &e.fingerprint)
            && match (e.target, primary.signature_type()) {
                (TrustTarget::Author | TrustTarget::AuthorOrRepository, SignatureType::Author) => {
                    true
                }
                (
                    TrustTarget::Repository | TrustTarget::AuthorOrRepository,
                    SignatureType::Repository,
                ) => owners_ok(
                    &e.owners,
                    primary
                        .repository_info()
                        .map(|r| r.owners.as_slice())
                        .unwrap_or_default(),
                ),
                _ => false,
            };
        let counter_match = e.countersignature
            && matches!(
                e.target,
                TrustTarget::Repository | TrustTarget::AuthorOrRepository
            )
            && counter.is_some_and(|c| {
                c.certificate()
                    .is_some_and(|cert| fp_matches(cert, e.algorithm, &e.fingerprint))
                    && owners_ok(&e.owners, &c.repository_info().owners)
            });
        primary_match || counter_match
    });
    if matched {
        return Ok(Status::Valid);
    }
    // Authors trusted by identity: subject attributes + the issuing CA's key.
    if primary.signature_type() == SignatureType::Author
        && let Some(identity) = list
            .identities
            .iter()
            .find(|i| i.matches(primary.certificate(), primary.certificates()))
    {
        report.trusted_identity = Some(identity.name.clone());
        report.issues.push(Issue::new(
            None,
            Severity::Information,
            format!(
                "The author primary signature's certificate is trusted by identity '{}'.",
                signet_common::terminal_safe(&identity.name)
            ),
        ));
        return Ok(Status::Valid);
    }
    let message = match list.kind {
        AllowListKind::TrustedSigners => "This package is signed but not by a trusted signer.",
        AllowListKind::RepositoryCertificates => {
            "This package was not repository signed with a certificate listed by this repository."
        }
        AllowListKind::CertificateFingerprints => {
            "The package signature did not match any of the allowed certificate fingerprints."
        }
    };
    let severity = if settings.allow_untrusted {
        Severity::Warning
    } else {
        Severity::Error
    };
    report
        .issues
        .push(Issue::new(Some(NuCode::NU3034), severity, message));
    Ok(if settings.allow_untrusted {
        Status::Valid
    } else {
        Status::Disallowed
    })
}

/// One signature's evaluation (spec §5.4).
struct Evaluation {
    report: SignatureReport,
    /// A finding no countersignature can outweigh: revoked, an illegal certificate, a chain
    /// failure, a fatal timestamp failure, a failed CMS check (spec §5.4: NuGet stops at these
    /// before the untrusted-root and expiry flags the countersignature may clear).
    blocking: bool,
    untrusted_root: bool,
    expired_at: Option<UtcTime>,
    timestamp_window: Option<(UtcTime, UtcTime)>,
}

struct Subject<'a> {
    placement: Placement,
    kind: SignatureType,
    certificate: Option<&'a Certificate>,
    extra: &'a [Certificate],
    check: Result<(), SignatureCheckError>,
    timestamp_count: usize,
    first_timestamp: Option<Timestamp>,
    signature_value: &'a [u8],
    signing_time: Option<UtcTime>,
    service_index: Option<String>,
    owners: Vec<String>,
}

fn trust_and_validity(
    primary: &PrimarySignature,
    counter: &LazyCountersignature<'_>,
    trust: &TrustStore,
    options: &VerifyOptions,
    revocation: &RevocationContext,
    report: &mut PackageReport,
) -> Result<Status, Exception> {
    let settings = &options.settings;
    let primary_subject = Subject {
        placement: Placement::Primary,
        kind: primary.signature_type(),
        certificate: Some(primary.certificate()),
        extra: primary.certificates(),
        check: primary.verify_signature_value(),
        timestamp_count: primary.timestamp_tokens().len(),
        first_timestamp: primary.first_timestamp()?,
        signature_value: primary.signature_value(),
        signing_time: primary.signing_time(),
        service_index: primary.repository_info().map(|r| r.service_index.clone()),
        owners: primary
            .repository_info()
            .map(|r| r.owners.clone())
            .unwrap_or_default(),
    };
    let mut primary_eval = evaluate(&primary_subject, trust, options, revocation);

    let needed = match settings.countersignatures {
        crate::policy::CountersignaturePolicy::IfExists => true,
        crate::policy::CountersignaturePolicy::IfExistsAndIsNecessary => {
            primary.signature_type() != SignatureType::Repository
                && ((primary_eval.report.status != Status::Valid && primary_eval.untrusted_root)
                    || primary_eval.expired_at.is_some())
        }
    };
    let counter = if needed { counter.get()? } else { None };
    let mut counter_eval = None;
    if let Some(c) = counter {
        let subject = Subject {
            placement: Placement::Countersignature,
            kind: SignatureType::Repository,
            certificate: c.certificate(),
            extra: primary.certificates(),
            check: c.verify_signature_value(primary),
            timestamp_count: c.timestamp_count(),
            first_timestamp: c.first_timestamp()?,
            signature_value: c.signature_value(),
            signing_time: Some(c.signing_time()),
            service_index: Some(c.repository_info().service_index.clone()),
            owners: c.repository_info().owners.clone(),
        };
        counter_eval = Some(evaluate(&subject, trust, options, revocation));
    }

    if let Some(ce) = &counter_eval {
        vouch(&mut primary_eval, ce);
    }
    let mut status = primary_eval.report.status;
    report
        .issues
        .extend(primary_eval.report.issues.iter().cloned());
    report.signatures.push(primary_eval.report);
    if let Some(ce) = counter_eval {
        status = status.min(ce.report.status);
        report.issues.extend(ce.report.issues.iter().cloned());
        report.signatures.push(ce.report);
    }
    Ok(status)
}

/// Combination (spec §5.6): a valid repository countersignature vouches for an author
/// signature whose root is untrusted or whose certificate has expired — never for one with a
/// blocking finding (revoked, illegal, chain failure, failed timestamp or CMS check).
fn vouch(p: &mut Evaluation, ce: &Evaluation) {
    if ce.report.status != Status::Valid || p.blocking {
        return;
    }
    let counter_proves_validity = ce.timestamp_window.is_some_and(|(lo, hi)| {
        p.report.certificate.as_ref().is_some_and(|c| {
            c.valid_from().is_some_and(|nb| lo > nb) && c.valid_to().is_some_and(|na| hi < na)
        })
    });
    let expired = p.expired_at.is_some();
    if expired && p.untrusted_root {
        drop_code(&mut p.report, NuCode::NU3018);
        if counter_proves_validity {
            drop_code(&mut p.report, NuCode::NU3037);
            p.report.status = Status::Valid;
        }
    } else if expired && counter_proves_validity {
        drop_code(&mut p.report, NuCode::NU3037);
        p.report.status = Status::Valid;
    } else if p.untrusted_root {
        drop_code(&mut p.report, NuCode::NU3018);
        p.report.status = Status::Valid;
    }
}

/// NuGet's wording for a chain status: `The {who} found a chain building issue: {status}: {message}`.
fn chain_issue_text(who: &str, status: &str, message: &str) -> String {
    format!("The {who} found a chain building issue: {status}: {message}")
}

fn drop_code(report: &mut SignatureReport, code: NuCode) {
    report.issues.retain(|i| i.code != Some(code));
}

fn is_sha2_rsa(oid: &const_oid::ObjectIdentifier) -> bool {
    matches!(
        *oid,
        oids::SHA256_WITH_RSA | oids::SHA384_WITH_RSA | oids::SHA512_WITH_RSA
    )
}

fn evaluate(
    s: &Subject<'_>,
    trust: &TrustStore,
    options: &VerifyOptions,
    revocation: &RevocationContext,
) -> Evaluation {
    let settings = &options.settings;
    let now = options.now;
    let name = friendly_name(s.kind, s.placement);
    let mut issues = Vec::new();
    let mut out = SignatureReport {
        placement: s.placement,
        signature_type: s.kind,
        friendly_name: name.to_string(),
        signing_time: s.signing_time.map(UtcTime::rfc3339),
        service_index: s.service_index.clone(),
        owners: s.owners.clone(),
        certificate: s.certificate.map(CertificateInfo::from_certificate),
        chain: Vec::new(),
        timestamp: None,
        status: Status::Unknown,
        issues: Vec::new(),
    };
    let illegal = if settings.allow_illegal {
        Severity::Warning
    } else {
        Severity::Error
    };

    // Timestamp selection (§5.5) and evaluation (§4.3).
    let mut window = None;
    let mut timestamp_failed = false;
    // NuGet's `GetValidTimestamp`: with `AllowNoTimestamp` / `AllowMultipleTimestamps` off (the
    // push policy of nuget-server.md §2.6), a missing timestamp or several are errors that
    // make the signature Disallowed whatever `allow_ignore_timestamp` says.
    let mut timestamp_rule_broken = false;
    if s.timestamp_count == 0 {
        let severity = if settings.allow_no_timestamp {
            Severity::Warning
        } else {
            timestamp_rule_broken = true;
            Severity::Error
        };
        issues.push(Issue::new(
            Some(NuCode::NU3027),
            severity,
            format!("The {name} should be timestamped to enable long-term signature validity after the certificate has expired."),
        ));
    } else if s.timestamp_count > 1 && !settings.allow_multiple_timestamps {
        timestamp_rule_broken = true;
        issues.push(Issue::new(
            Some(NuCode::NU3000),
            Severity::Error,
            format!(
                "The {name} has {} timestamps: multiple timestamps are not accepted.",
                s.timestamp_count
            ),
        ));
    } else if let Some(ts) = &s.first_timestamp {
        let (ok, ts_report) = evaluate_timestamp(
            ts,
            s.signature_value,
            name,
            trust,
            options,
            revocation,
            &mut issues,
        );
        out.timestamp = Some(ts_report);
        if ok {
            window = Some((ts.lower_limit(), ts.upper_limit()));
        } else {
            timestamp_failed = true;
        }
    }
    let (lower, upper) = window.unwrap_or((now, now));

    // No certificate (NU3010) or a failed CMS check (NU3012) ends the evaluation; NuGet then
    // treats the signature like no signature when illegal signatures are allowed.
    let illegal_end = |mut out: SignatureReport, mut issues: Vec<Issue>, issue: Issue| {
        issues.push(issue);
        out.status = if settings.allow_illegal {
            Status::Valid
        } else {
            Status::Disallowed
        };
        out.issues = issues;
        Evaluation {
            report: out,
            blocking: true,
            untrusted_root: false,
            expired_at: None,
            timestamp_window: window,
        }
    };
    let Some(cert) = s.certificate else {
        let issue = Issue::new(
            Some(NuCode::NU3010),
            illegal,
            format!("The {name} does not have a signing certificate."),
        );
        return illegal_end(out, issues, issue);
    };
    if let Err(e) = &s.check {
        let issue = Issue::new(
            Some(NuCode::NU3012),
            illegal,
            format!("The {name} validation failed: {e}."),
        );
        return illegal_end(out, issues, issue);
    }

    // Signer certificate rules (§5.4 step 4): any hit makes the signature Disallowed.
    let mut disallowed = false;
    if !is_sha2_rsa(&cert.signature_algorithm()) {
        issues.push(Issue::new(Some(NuCode::NU3013), illegal, format!("The {name}'s signing certificate has an unsupported signature algorithm ({}); only SHA-256, SHA-384 and SHA-512 with RSA are accepted.", cert.signature_algorithm())));
        disallowed = true;
    }
    match cert.rsa_key_bits() {
        Some(bits) if bits >= 2048 => {}
        Some(bits) => {
            issues.push(Issue::new(Some(NuCode::NU3014), illegal, format!("The {name}'s signing certificate does not meet a minimum public key length requirement: RSA {bits} bits, at least 2048 are required.")));
            disallowed = true;
        }
        None => {
            issues.push(Issue::new(Some(NuCode::NU3014), illegal, format!("The {name}'s signing certificate does not have an RSA public key; NuGet requires RSA of at least 2048 bits.")));
            disallowed = true;
        }
    }
    if cert
        .extended_key_usages()
        .is_some_and(|ekus| ekus.contains(&oids::EKU_LIFETIME_SIGNING))
    {
        issues.push(Issue::new(
            Some(NuCode::NU3015),
            illegal,
            format!(
                "The lifetime signing EKU in the {name}'s signing certificate is not supported."
            ),
        ));
        disallowed = true;
    }
    if cert.not_before() > now {
        issues.push(Issue::new(
            Some(NuCode::NU3017),
            illegal,
            format!(
                "The {name}'s signing certificate is not yet valid (valid from {}).",
                cert.not_before()
            ),
        ));
        disallowed = true;
    }

    // Chain (§5.4 step 5).
    let in_untrusted_root_list = options
        .allow_untrusted_root
        .iter()
        .any(|(alg, f)| signet_signature::hex_upper(&cert.fingerprint(*alg)) == *f);
    let allow_untrusted = settings.allow_untrusted || in_untrusted_root_list;
    let untrusted = if allow_untrusted {
        Severity::Warning
    } else {
        Severity::Error
    };
    let chain = build_chain(cert, s.extra, trust.code_signing(), &oids::EKU_CODE_SIGNING);
    out.chain = chain
        .certificates
        .iter()
        .map(CertificateInfo::from_certificate)
        .collect();
    let mut untrusted_root_flag = false;
    let mut suspect = false;
    for problem in &chain.problems {
        match problem {
            // A signer listed with allowUntrustedRoot is not reported (NuGet's
            // reportUntrustedRoot = false).
            ChainProblem::UntrustedRoot if in_untrusted_root_list => {}
            ChainProblem::UntrustedRoot => {
                if let Some(root) = chain.root() {
                    issues.push(Issue::new(Some(NuCode::NU3042), Severity::Warning, format!(
                        "The {name}'s certificate chain ends in a root that is not in the trusted root bundle: subject '{}', SHA-256 {}. If you trust this root, pass it with --trust-roots.",
                        root.subject(), root.sha256_hex()
                    )));
                }
                issues.push(Issue::new(
                    Some(NuCode::NU3018),
                    untrusted,
                    chain_issue_text(name, "UntrustedRoot", problem.message()),
                ));
                untrusted_root_flag = !allow_untrusted;
            }
            ChainProblem::Revoked => {
                issues.push(Issue::new(
                    Some(NuCode::NU3012),
                    Severity::Error,
                    chain_issue_text(name, "Revoked", problem.message()),
                ));
                suspect = true;
            }
            other => {
                issues.push(Issue::new(
                    Some(NuCode::NU3012),
                    illegal,
                    chain_issue_text(name, other.name(), other.message()),
                ));
                disallowed = true;
            }
        }
    }
    // Revocation of every certificate but the root (ExcludeRoot), §5.4 step 5.
    let findings = chain_revocation(&chain, options, revocation);
    for (cert, status) in &findings.revoked {
        if let Some(why) = revocation_tolerated(options.revocation_policy, status, window) {
            issues.push(Issue::new(
                Some(NuCode::NU3012),
                Severity::Warning,
                format!(
                    "The {name}'s certificate chain has a revoked certificate, accepted under the timestamp-aware revocation policy: {}. {why}",
                    revoked_detail(cert, status)
                ),
            ));
        } else {
            issues.push(Issue::new(
                Some(NuCode::NU3012),
                Severity::Error,
                chain_issue_text(
                    name,
                    "Revoked",
                    &format!(
                        "{} {}.",
                        ChainProblem::Revoked.message(),
                        revoked_detail(cert, status)
                    ),
                ),
            ));
            suspect = true;
        }
    }
    if settings.report_unknown_revocation && !suspect && !findings.unknown.is_empty() {
        issues.push(revocation_unknown_issue(
            settings.revocation_mode,
            &format!("{name}'s certificate"),
            name,
            NuCode::NU3018,
            options.revocation.is_some(),
            &findings.unknown,
        ));
    }

    // Validity against the signing time (§5.4 step 6): strict on both ends.
    let mut expired_at = None;
    let mut expired_flag = false;
    if !(lower > cert.not_before() && upper < cert.not_after()) {
        issues.push(Issue::new(
            Some(NuCode::NU3037),
            untrusted,
            format!("The {name} validity period has expired."),
        ));
        expired_at = Some(cert.not_after());
        expired_flag = !allow_untrusted;
    }
    let timestamp_fatal =
        (timestamp_failed && !settings.allow_ignore_timestamp) || timestamp_rule_broken;
    out.status = if suspect {
        Status::Suspect
    } else if disallowed || untrusted_root_flag || expired_flag || timestamp_fatal {
        Status::Disallowed
    } else {
        Status::Valid
    };
    out.issues = issues;
    Evaluation {
        report: out,
        blocking: suspect || disallowed || timestamp_fatal,
        untrusted_root: untrusted_root_flag,
        expired_at,
        timestamp_window: window,
    }
}

/// Unknown revocation status: information offline, a warning online, as NuGet reports
/// offline mode and an unreachable responder. `what` names the certificate (`author primary
/// signature's certificate`), `who` the one finding the issue; `unknown` says which
/// certificates and why (appended, so that a user can act on the warning).
fn revocation_unknown_issue(
    mode: RevocationMode,
    what: &str,
    who: &str,
    code: NuCode,
    checker: bool,
    unknown: &[(&Certificate, String)],
) -> Issue {
    let details = unknown
        .iter()
        .map(|(c, why)| format!("'{}': {why}", c.subject()))
        .collect::<Vec<_>>()
        .join("; ");
    let subjects = unknown
        .iter()
        .map(|(c, _)| format!("'{}'", c.subject()))
        .collect::<Vec<_>>()
        .join(", ");
    match mode {
        // NuGet logs this through its information log, which carries no code.
        RevocationMode::Offline if checker => Issue::new(
            None,
            Severity::Information,
            format!(
                "The {what} revocation status was not checked: revocation checking is offline (NUGET_CERT_REVOCATION_MODE=offline) and the cache holds no current CRL or OCSP response for {subjects}."
            ),
        ),
        RevocationMode::Offline => Issue::new(
            None,
            Severity::Information,
            format!(
                "The {what} revocation status was not checked: revocation checking is offline (NUGET_CERT_REVOCATION_MODE=offline)."
            ),
        ),
        _ => Issue::new(
            Some(code),
            Severity::Warning,
            format!(
                "The {who} found a chain building issue: RevocationStatusUnknown: The revocation function was unable to check revocation for the certificate. {details}."
            ),
        ),
    }
}

/// Revocation findings for one chain.
struct ChainRevocation<'c> {
    /// Revoked certificates with their status (always `RevocationStatus::Revoked`).
    revoked: Vec<(&'c Certificate, RevocationStatus)>,
    /// Certificates whose status is unknown, with why.
    unknown: Vec<(&'c Certificate, String)>,
}

/// Checks every certificate of `chain` except its root — the anchor, or the self-signed end of
/// an untrusted chain (.NET's ExcludeRoot) — against its issuer, the next certificate. The end
/// of a partial chain has no issuer and stays unknown.
fn chain_revocation<'c>(
    chain: &'c Chain,
    options: &VerifyOptions,
    context: &RevocationContext,
) -> ChainRevocation<'c> {
    let mut out = ChainRevocation {
        revoked: Vec::new(),
        unknown: Vec::new(),
    };
    let certs = &chain.certificates;
    let ends_in_root = !chain.problems.iter().any(|p| {
        matches!(
            p,
            ChainProblem::PartialChain | ChainProblem::NotSignatureValid
        )
    });
    for (i, cert) in certs.iter().enumerate() {
        let Some(issuer) = certs.get(i + 1) else {
            if !ends_in_root {
                out.unknown
                    .push((cert, "its issuer certificate was not found".into()));
            }
            break;
        };
        let status = match &options.revocation {
            Some(source) => source.status(cert, issuer, context),
            None => RevocationStatus::Unknown {
                why: "no revocation checker is configured".into(),
            },
        };
        match status {
            RevocationStatus::Good => {}
            RevocationStatus::Unknown { why } => out.unknown.push((cert, why)),
            revoked => out.revoked.push((cert, revoked)),
        }
    }
    out
}

/// `Certificate 'CN=…' was revoked at … (reason superseded, invalid since …)`.
fn revoked_detail(cert: &Certificate, status: &RevocationStatus) -> String {
    let RevocationStatus::Revoked {
        time,
        reason,
        invalidity_date,
    } = status
    else {
        return format!("Certificate '{}'", cert.subject());
    };
    let mut extra = vec![format!(
        "reason {}",
        reason.map_or("not given", RevocationReason::name)
    )];
    if let Some(d) = invalidity_date {
        extra.push(format!("invalid since {d}"));
    }
    format!(
        "Certificate '{}' was revoked at {time} ({})",
        cert.subject(),
        extra.join(", ")
    )
}

/// Under [`RevocationPolicy::TimestampAware`], why a revocation does not invalidate a
/// signature whose valid timestamp window is `window`; `None` when it does.
fn revocation_tolerated(
    policy: RevocationPolicy,
    status: &RevocationStatus,
    window: Option<(UtcTime, UtcTime)>,
) -> Option<String> {
    if policy != RevocationPolicy::TimestampAware {
        return None;
    }
    let (_, upper) = window?;
    let RevocationStatus::Revoked {
        time,
        reason,
        invalidity_date,
    } = status
    else {
        return None;
    };
    // When did the key stop being trustworthy? Compromise and hold never say; an
    // unspecified reason says so only through an invalidity date.
    let effective = match (reason, invalidity_date) {
        (Some(r), _) if r.is_compromise() || *r == RevocationReason::CertificateHold => {
            return None;
        }
        (_, Some(d)) => (*d).min(*time),
        (None | Some(RevocationReason::Unspecified), None) => return None,
        (Some(_), None) => *time,
    };
    (effective > upper).then(|| {
        format!(
            "The revocation takes effect at {effective}, after the signature's timestamp (upper limit {upper}), and does not claim a key compromise."
        )
    })
}

/// The checks of a timestamp's certificate and signer that signing (spec §4.2) and verification
/// (§4.3) share, each as (code, detail) with the detail starting at "timestamp …": NU3022
/// certificate signature algorithm, NU3023 RSA key size, NU3024 token digest algorithm, NU3025
/// not yet valid at `now`, NU3036 genTime outside the certificate's validity.
pub fn timestamp_certificate_problems(ts: &Timestamp, now: UtcTime) -> Vec<(NuCode, String)> {
    let cert = ts.certificate();
    let info = ts.info();
    let mut out = Vec::new();
    if !is_sha2_rsa(&cert.signature_algorithm()) {
        out.push((
            NuCode::NU3022,
            format!(
                "timestamp certificate has an unsupported signature algorithm ({})",
                cert.signature_algorithm()
            ),
        ));
    }
    if cert.rsa_key_bits().is_none_or(|b| b < 2048) {
        out.push((
            NuCode::NU3023,
            "timestamp certificate does not meet a minimum public key length requirement (RSA 2048 bits)"
                .to_string(),
        ));
    }
    let signer_digest_ok = ts.signer_info().is_some_and(|si| {
        HashAlgorithm::from_oid_str(&si.digest_algorithm.oid.to_string()).is_some()
    });
    if !signer_digest_ok {
        out.push((
            NuCode::NU3024,
            "timestamp signature has an unsupported digest algorithm; SHA-256, SHA-384 or SHA-512 is required"
                .to_string(),
        ));
    }
    if cert.not_before() > now {
        out.push((
            NuCode::NU3025,
            format!(
                "timestamp signing certificate is not yet valid (valid from {})",
                cert.not_before()
            ),
        ));
    }
    if !(cert.not_before() <= info.gen_time && info.gen_time < cert.not_after()) {
        out.push((
            NuCode::NU3036,
            format!(
                "timestamp's generalized time ({}) is outside the timestamping certificate's validity period ({} to {})",
                info.gen_time,
                cert.not_before(),
                cert.not_after()
            ),
        ));
    }
    out
}

/// Timestamp checks of spec §4.3. Returns whether the timestamp is usable.
fn evaluate_timestamp(
    ts: &Timestamp,
    signature_value: &[u8],
    name: &str,
    trust: &TrustStore,
    options: &VerifyOptions,
    revocation: &RevocationContext,
    issues: &mut Vec<Issue>,
) -> (bool, TimestampReport) {
    let settings = &options.settings;
    let now = options.now;
    let sev = if settings.allow_ignore_timestamp {
        Severity::Warning
    } else {
        Severity::Error
    };
    let cert = ts.certificate();
    let info = ts.info();
    let mut report = TimestampReport {
        gen_time: info.gen_time.rfc3339(),
        accuracy_micros: info.effective_accuracy_micros(),
        policy: info.policy_string(),
        serial: signet_signature::hex_upper(&info.serial),
        imprint_algorithm: info.imprint_algorithm.to_string(),
        certificate: CertificateInfo::from_certificate(cert),
        chain: Vec::new(),
        valid: false,
        gen_time_value: Some(info.gen_time),
    };
    let before = issues.len();
    let mut fail = |code: NuCode, msg: String| issues.push(Issue::new(Some(code), sev, msg));
    // NU3022, NU3023 and NU3024 come before the imprint checks, NU3025 and NU3036 after, in
    // NuGet's order (spec §4.3).
    let (early, late): (Vec<_>, Vec<_>) = timestamp_certificate_problems(ts, now)
        .into_iter()
        .partition(|(code, _)| matches!(*code, NuCode::NU3022 | NuCode::NU3023 | NuCode::NU3024));
    for (code, detail) in early {
        fail(code, format!("The {name}'s {detail}."));
    }
    match HashAlgorithm::from_oid_str(&info.imprint_algorithm.to_string()) {
        None => fail(
            NuCode::NU3030,
            format!(
                "The {name}'s timestamp message imprint uses an unsupported hash algorithm ({}).",
                info.imprint_algorithm
            ),
        ),
        Some(alg) if alg.digest(signature_value) != info.imprint => {
            fail(
                NuCode::NU3019,
                format!(
                    "The {name}'s timestamp integrity check failed: the message imprint does not match the signature."
                ),
            );
        }
        Some(_) => {}
    }
    for (code, detail) in late {
        fail(code, format!("The {name}'s {detail}."));
    }
    if issues.len() > before {
        return (false, report);
    }
    let chain = build_chain(
        cert,
        ts.certificates(),
        trust.timestamping(),
        &oids::EKU_TIME_STAMPING,
    );
    report.chain = chain
        .certificates
        .iter()
        .map(CertificateInfo::from_certificate)
        .collect();
    let mut ok = true;
    for problem in &chain.problems {
        match problem {
            ChainProblem::UntrustedRoot => {
                if let Some(root) = chain.root() {
                    issues.push(Issue::new(Some(NuCode::NU3042), Severity::Warning, format!(
                        "The {name}'s timestamp certificate chain ends in a root that is not in the trusted timestamping root bundle: subject '{}', SHA-256 {}. If you trust this root, pass it with --trust-roots.",
                        root.subject(), root.sha256_hex()
                    )));
                }
                issues.push(Issue::new(
                    Some(NuCode::NU3028),
                    Severity::Error,
                    chain_issue_text(
                        &format!("{name}'s timestamp"),
                        "UntrustedRoot",
                        problem.message(),
                    ),
                ));
            }
            ChainProblem::Revoked => {
                issues.push(Issue::new(
                    Some(NuCode::NU3028),
                    Severity::Error,
                    chain_issue_text(&format!("{name}'s timestamp"), "Revoked", problem.message()),
                ));
            }
            other => {
                issues.push(Issue::new(
                    Some(NuCode::NU3028),
                    sev,
                    chain_issue_text(
                        &format!("{name}'s timestamp"),
                        other.name(),
                        other.message(),
                    ),
                ));
            }
        }
        ok = false;
    }
    if ok {
        // §4.3 step 10: a revoked TSA chain invalidates the timestamp (error level whatever
        // the settings); unknown status is reported only when timestamp problems are errors.
        let findings = chain_revocation(&chain, options, revocation);
        for (cert, status) in &findings.revoked {
            issues.push(Issue::new(
                Some(NuCode::NU3028),
                Severity::Error,
                chain_issue_text(
                    &format!("{name}'s timestamp"),
                    "Revoked",
                    &format!(
                        "{} {}.",
                        ChainProblem::Revoked.message(),
                        revoked_detail(cert, status)
                    ),
                ),
            ));
            ok = false;
        }
        if ok && sev == Severity::Error && !findings.unknown.is_empty() {
            issues.push(revocation_unknown_issue(
                settings.revocation_mode,
                &format!("{name}'s timestamp certificate"),
                &format!("{name}'s timestamp"),
                NuCode::NU3028,
                options.revocation.is_some(),
                &findings.unknown,
            ));
        }
    }
    report.valid = ok;
    (ok, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation(
        status: Status,
        blocking: bool,
        untrusted_root: bool,
        codes: &[NuCode],
    ) -> Evaluation {
        Evaluation {
            report: SignatureReport {
                placement: Placement::Primary,
                signature_type: SignatureType::Author,
                friendly_name: "author primary signature".into(),
                signing_time: None,
                service_index: None,
                owners: Vec::new(),
                certificate: None,
                chain: Vec::new(),
                timestamp: None,
                status,
                issues: codes
                    .iter()
                    .map(|c| Issue::new(Some(*c), Severity::Error, "x"))
                    .collect(),
            },
            blocking,
            untrusted_root,
            expired_at: None,
            timestamp_window: None,
        }
    }

    #[test]
    fn a_valid_countersignature_vouches_for_an_untrusted_root() {
        let counter = evaluation(Status::Valid, false, false, &[]);
        let mut primary = evaluation(Status::Disallowed, false, true, &[NuCode::NU3018]);
        vouch(&mut primary, &counter);
        assert_eq!(primary.report.status, Status::Valid);
        assert!(primary.report.issues.is_empty());
    }

    #[test]
    fn no_countersignature_clears_a_blocking_finding() {
        let counter = evaluation(Status::Valid, false, false, &[]);
        // Untrusted root AND revoked (Suspect) or a failed timestamp (Disallowed): the
        // untrusted-root flag must not let the countersignature upgrade it.
        for (status, codes) in [
            (Status::Suspect, vec![NuCode::NU3018, NuCode::NU3012]),
            (Status::Disallowed, vec![NuCode::NU3018, NuCode::NU3019]),
        ] {
            let mut primary = evaluation(status, true, true, &codes);
            vouch(&mut primary, &counter);
            assert_eq!(primary.report.status, status);
            assert_eq!(primary.report.issues.len(), codes.len());
        }
        // An invalid countersignature vouches for nothing.
        let bad_counter = evaluation(Status::Disallowed, false, false, &[]);
        let mut primary = evaluation(Status::Disallowed, false, true, &[NuCode::NU3018]);
        vouch(&mut primary, &bad_counter);
        assert_eq!(primary.report.status, Status::Disallowed);
    }
}
