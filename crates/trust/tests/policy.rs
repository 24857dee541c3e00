//! Verdicts of the verifier on packages signed at test time with the generated test PKI, under
//! NuGet's verify-command settings with offline revocation (`../shared/spec/nuget-signatures.md`
//! §5), plus the `accept`/`require` presets, allow lists and the pre-signing certificate checks
//! (§5.10). An independent oracle, the `openssl` CLI, checks the CMS we write.
//!
//! Unless a test says otherwise the trust store is empty except for the test root, so the only
//! untrusted-root findings are the ones a test provokes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};
use signet_keys::{Signer, SoftwareSigner};
use signet_nupkg::{Limits, Package, append_signature, dos_date_time, remove_signature};
use signet_signature::{
    Certificate, SignatureKind, SignatureRequest, SignatureType, build_primary_signature,
};
use signet_test_support::{CertKey, OpenSslSigner, PackageBuilder, pki};
use signet_trust::{
    AllowList, PackageReport, RevocationMode, Status, TrustStore, UntrustedRootPolicy,
    VerifierSettings, VerifyOptions, check_signing_certificate, verify_package,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The verification instant; fixed so that nothing here depends on the clock.
fn now() -> UtcTime {
    UtcTime::from_civil(2026, 11, 22, 0, 0, 0, 0).unwrap()
}

/// The signing-time attribute of every signature made here (the day before [`now`]).
fn signing_time() -> UtcTime {
    UtcTime::from_civil(2026, 11, 21, 12, 34, 56, 0).unwrap()
}

/// How [`signing_time`] is encoded in the signing-time attribute (UTCTime, spec §3.3).
const SIGNING_TIME_UTC: &[u8] = b"261121123456Z";

/// Entry whose data the tamper tests change.
const DLL_ENTRY: &str = "lib/net8.0/Signet.Policy.dll";

fn unsigned_package() -> Vec<u8> {
    // Stored, so that a flipped data byte is a changed byte of the entry and nothing else.
    PackageBuilder::new("Signet.Policy", "1.0.0")
        .file(
            DLL_ENTRY,
            &(0..=255u8).cycle().take(4096).collect::<Vec<_>>(),
        )
        .file("readme.md", b"# Signet.Policy\n")
        .stored(true)
        .build()
}

fn parse(cert: &CertKey) -> Certificate {
    Certificate::from_der(&cert.cert_der).unwrap()
}

/// The trust store of these tests: no bundled roots, only the test root.
fn test_store() -> TrustStore {
    let mut store = TrustStore::empty();
    store.add_roots(vec![parse(&pki().root)], "test");
    store
}

fn software_signer(cert: &CertKey) -> SoftwareSigner {
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        pki().chain_pem(cert).as_bytes(),
    )
    .unwrap()
}

/// The `.signature.p7s` for `unsigned`, as the signer writes it.
fn signature_for(
    unsigned: &[u8],
    signer: &dyn Signer,
    kind: SignatureKind,
    alg: HashAlgorithm,
) -> Vec<u8> {
    let package_hash = Package::open(Cursor::new(unsigned), &Limits::default())
        .unwrap()
        .package_hash(alg)
        .unwrap();
    let request = SignatureRequest {
        kind,
        hash_algorithm: alg,
        package_hash,
        signing_time: signing_time(),
    };
    build_primary_signature(&request, signer).unwrap()
}

/// `unsigned` with `signature` appended as NuGet's signer appends it.
fn with_signature(unsigned: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    append_signature(
        Cursor::new(unsigned),
        signature,
        dos_date_time(2026, 11, 21, 12, 34, 56),
        &mut out,
        &Limits::default(),
    )
    .unwrap();
    out
}

fn sign_with(
    unsigned: &[u8],
    signer: &dyn Signer,
    kind: SignatureKind,
    alg: HashAlgorithm,
) -> Vec<u8> {
    with_signature(unsigned, &signature_for(unsigned, signer, kind, alg))
}

/// An author-signed SHA-256 package signed by `cert`'s key with its PKI chain.
fn author_signed(cert: &CertKey) -> Vec<u8> {
    sign_with(
        &unsigned_package(),
        &software_signer(cert),
        SignatureKind::Author,
        HashAlgorithm::Sha256,
    )
}

fn verify_with(package: &[u8], store: &TrustStore, options: &VerifyOptions) -> PackageReport {
    verify_package(Cursor::new(package), store, options)
}

fn options(settings: VerifierSettings) -> VerifyOptions {
    VerifyOptions::new(settings, now())
}

fn verify_command() -> VerifyOptions {
    options(VerifierSettings::verify_command(RevocationMode::Offline))
}

/// `dotnet nuget verify` with the test store.
fn verify(package: &[u8]) -> PackageReport {
    verify_with(package, &test_store(), &verify_command())
}

fn codes(report: &PackageReport, severity: Severity) -> BTreeSet<NuCode> {
    report
        .issues
        .iter()
        .filter(|i| i.severity == severity)
        .filter_map(|i| i.code)
        .collect()
}

/// Asserts the verdict and the exact sets of error and warning codes, printing every issue on
/// failure.
#[track_caller]
fn assert_verdict(report: &PackageReport, valid: bool, errors: &[NuCode], warnings: &[NuCode]) {
    let dump = || {
        report
            .issues
            .iter()
            .map(|i| format!("  {:?} {:?}: {}", i.severity, i.code, i.message))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(report.valid, valid, "verdict; issues:\n{}", dump());
    assert_eq!(
        codes(report, Severity::Error),
        errors.iter().copied().collect::<BTreeSet<_>>(),
        "error codes; issues:\n{}",
        dump()
    );
    assert_eq!(
        codes(report, Severity::Warning),
        warnings.iter().copied().collect::<BTreeSet<_>>(),
        "warning codes; issues:\n{}",
        dump()
    );
    // Error-level issues without a code would escape the sets above.
    assert!(
        report
            .issues
            .iter()
            .all(|i| i.severity != Severity::Error || i.code.is_some()),
        "an error without an NU code:\n{}",
        dump()
    );
    assert_eq!(report.verified().is_some(), valid, "proof iff valid");
}

/// Informational messages.
fn infos(report: &PackageReport) -> Vec<&str> {
    report
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Information)
        .map(|i| i.message.as_str())
        .collect()
}

/// The informational lines of a clean verify-command run: the hash algorithm (spec §5.3) and,
/// with offline revocation and ReportUnknownRevocation, that revocation was not checked (§5.4).
/// Their codes are not asserted here; see `offline_revocation_information_has_no_code`.
#[track_caller]
fn assert_clean_infos(report: &PackageReport, alg: HashAlgorithm) {
    let infos = infos(report);
    assert_eq!(infos.len(), 2, "{infos:?}");
    assert_eq!(infos[0], format!("Signature Hash Algorithm: {alg}"));
    assert!(infos[1].contains("revocation"), "{infos:?}");
}

/// Flips one byte in the middle of the data of `entry` (found through its local header).
fn flip_data_byte(package: &mut [u8], entry: &str) {
    let (header, size) = {
        let mut archive = zip::ZipArchive::new(Cursor::new(&*package)).unwrap();
        let file = archive.by_name(entry).unwrap();
        (
            usize::try_from(file.header_start()).unwrap(),
            usize::try_from(file.compressed_size()).unwrap(),
        )
    };
    // Local header: 30 fixed bytes, then the name and extra field whose lengths sit at 26/28.
    let le16 = |at: usize| usize::from(u16::from_le_bytes([package[at], package[at + 1]]));
    let data = header + 30 + le16(header + 26) + le16(header + 28);
    package[data + size / 2] ^= 0x01;
}

/// A signature by `code_signing` over `unsigned` whose signing-time attribute was changed by one
/// second after signing: still well formed, no longer what the signature covers.
fn signature_with_modified_attributes(unsigned: &[u8]) -> Vec<u8> {
    let mut signature = signature_for(
        unsigned,
        &software_signer(&pki().code_signing),
        SignatureKind::Author,
        HashAlgorithm::Sha256,
    );
    let at: Vec<usize> = signature
        .windows(SIGNING_TIME_UTC.len())
        .enumerate()
        .filter(|(_, w)| *w == SIGNING_TIME_UTC)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the signing time occurs once");
    // 12:34:56 → 12:34:57.
    signature[at[0] + SIGNING_TIME_UTC.len() - 2] = b'7';
    signature
}

fn package_content_hash(package: &[u8]) -> String {
    Package::open(Cursor::new(package), &Limits::default())
        .unwrap()
        .content_hash()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Good chains
// ---------------------------------------------------------------------------------------------

#[test]
fn good_chain_verifies_with_every_hash_algorithm() {
    let unsigned = unsigned_package();
    let signer = software_signer(&pki().code_signing);
    for alg in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let signed = sign_with(&unsigned, &signer, SignatureKind::Author, alg);
        let report = verify(&signed);
        // No timestamp: NU3027 is a warning under every built-in policy (spec §4.3).
        assert_verdict(&report, true, &[], &[NuCode::NU3027]);
        assert_clean_infos(&report, alg);
        assert_eq!(report.status, Status::Valid);
        assert!(report.signed);
        assert_eq!(report.hash_algorithm, Some(alg));
        assert_eq!(report.id.as_deref(), Some("Signet.Policy"));
        assert_eq!(report.version.as_deref(), Some("1.0.0"));

        let content_hash = package_content_hash(&signed);
        assert_eq!(report.content_hash.as_deref(), Some(content_hash.as_str()));
        // The content hash of a signed package is over the signature-stripped bytes, which are
        // the unsigned package (spec §1.7).
        assert_eq!(content_hash, package_content_hash(&unsigned));
        let proof = report.verified().expect("a valid package has a proof");
        assert_eq!(proof.content_hash(), Some(content_hash.as_str()));
        assert!(proof.signed());
        assert_eq!(
            proof.signer_fingerprints(),
            [pki().code_signing.sha256_fingerprint_hex()]
        );

        let [signature] = report.signatures.as_slice() else {
            panic!("one signature expected: {:?}", report.signatures);
        };
        assert_eq!(signature.signature_type, SignatureType::Author);
        assert_eq!(signature.friendly_name, "author primary signature");
        assert_eq!(signature.status, Status::Valid);
        assert_eq!(
            signature.signing_time.as_deref(),
            Some(signing_time().rfc3339().as_str())
        );
        let chain: Vec<&str> = signature.chain.iter().map(|c| c.sha256.as_str()).collect();
        assert_eq!(
            chain,
            [
                pki().code_signing.sha256_fingerprint_hex(),
                pki().intermediate.sha256_fingerprint_hex(),
                pki().root.sha256_fingerprint_hex(),
            ]
        );
    }
}

#[test]
fn signer_without_ski_is_identified_by_issuer_and_serial() {
    let signed = author_signed(&pki().code_signing_no_ski);
    let bytes = Package::open(Cursor::new(&signed), &Limits::default())
        .unwrap()
        .read_signature()
        .unwrap()
        .unwrap();
    let primary =
        signet_signature::PrimarySignature::load(&bytes, &signet_signature::Limits::default())
            .unwrap();
    assert!(
        matches!(
            primary.signer_info().sid,
            signet_signature::SignerId::IssuerAndSerial { .. }
        ),
        "{:?}",
        primary.signer_info().sid
    );
    let report = verify(&signed);
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    assert_clean_infos(&report, HashAlgorithm::Sha256);
    assert_eq!(
        report.signatures[0].certificate.as_ref().unwrap().sha256,
        pki().code_signing_no_ski.sha256_fingerprint_hex()
    );
}

/// NuGet logs the offline-revocation line through `SignatureLog.InformationLog`, whose code is
/// Undefined (Signature.cs, spec §5.4 step 5).
#[test]
fn offline_revocation_information_has_no_code() {
    let report = verify(&author_signed(&pki().code_signing));
    let info: Vec<_> = report
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Information)
        .collect();
    assert_eq!(info.len(), 2, "{info:?}");
    // NuGet prints information lines without a code, like the hash algorithm line.
    assert!(info.iter().all(|i| i.code.is_none()), "{info:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. Repository primary signature
// ---------------------------------------------------------------------------------------------

#[test]
fn repository_primary_signature_verifies_and_reports_index_and_owners() {
    let kind = SignatureKind::Repository {
        service_index: "https://nuget.example.test/v3/index.json".into(),
        owners: vec!["alice".into(), "Bob Team".into()],
    };
    let signed = sign_with(
        &unsigned_package(),
        &software_signer(&pki().repository),
        kind,
        HashAlgorithm::Sha256,
    );
    let report = verify(&signed);
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    assert_clean_infos(&report, HashAlgorithm::Sha256);
    let [signature] = report.signatures.as_slice() else {
        panic!("one signature expected: {:?}", report.signatures);
    };
    assert_eq!(signature.signature_type, SignatureType::Repository);
    assert_eq!(signature.friendly_name, "repository primary signature");
    assert_eq!(
        signature.service_index.as_deref(),
        Some("https://nuget.example.test/v3/index.json")
    );
    assert_eq!(signature.owners, ["alice", "Bob Team"]);
    assert_eq!(
        report.verified().unwrap().signer_fingerprints(),
        [pki().repository.sha256_fingerprint_hex()]
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Tampering
// ---------------------------------------------------------------------------------------------

#[test]
fn flipped_byte_in_hashed_entry_is_nu3008_suspect() {
    let mut signed = author_signed(&pki().code_signing);
    flip_data_byte(&mut signed, DLL_ENTRY);
    let report = verify(&signed);
    // Integrity fails (spec §5.3); the signature itself is still fine, so trust evaluation adds
    // only its usual NU3027 warning.
    assert_verdict(&report, false, &[NuCode::NU3008], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Suspect);
    assert!(report.signed);
}

#[test]
fn truncated_package_is_an_error_not_a_panic() {
    let signed = author_signed(&pki().code_signing);
    let len = signed.len();
    let cuts: BTreeSet<usize> = (0..len)
        .step_by(97)
        .chain([1, 21, 22, len / 2, len - 23, len - 22, len - 1])
        .collect();
    for cut in cuts {
        let report = verify(&signed[..cut]);
        assert!(!report.valid, "cut at {cut}");
        assert!(report.verified().is_none(), "cut at {cut}");
        assert!(
            report.error_count() >= 1,
            "cut at {cut}: no error in {:?}",
            report.issues
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Self-signed signer
// ---------------------------------------------------------------------------------------------

#[test]
fn self_signed_signer_is_untrusted_unless_its_certificate_is_a_root() {
    let signed = author_signed(&pki().self_signed);

    let report = verify(&signed);
    // UntrustedRoot (spec §5.4 step 5): NU3018 error, preceded by the NU3042 bundle warning.
    assert_verdict(
        &report,
        false,
        &[NuCode::NU3018],
        &[NuCode::NU3027, NuCode::NU3042],
    );
    assert_eq!(report.status, Status::Disallowed);

    let mut store = test_store();
    store.add_roots(vec![parse(&pki().self_signed)], "test self-signed");
    let report = verify_with(&signed, &store, &verify_command());
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    // A chain that is only its root has nothing to check for revocation (ExcludeRoot), so
    // there is no offline-revocation line.
    assert_eq!(infos(&report), ["Signature Hash Algorithm: SHA256"]);
}

// ---------------------------------------------------------------------------------------------
// 5. Bad signer certificates
// ---------------------------------------------------------------------------------------------

/// Verify-command verdict for a package signed by `cert` (SoftwareSigner).
#[track_caller]
fn assert_signer_verdict(cert: &CertKey, valid: bool, errors: &[NuCode]) {
    let report = verify(&author_signed(cert));
    assert_verdict(&report, valid, errors, &[NuCode::NU3027]);
    let expected = if valid {
        Status::Valid
    } else {
        Status::Disallowed
    };
    assert_eq!(report.status, expected);
}

#[test]
fn expired_signer_without_timestamp_is_nu3037() {
    // Without a timestamp "now" is the signing time, which lies after notAfter (spec §5.4 step 6).
    assert_signer_verdict(&pki().expired, false, &[NuCode::NU3037]);
}

#[test]
fn not_yet_valid_signer_is_nu3017_and_nu3037() {
    assert_signer_verdict(
        &pki().not_yet_valid,
        false,
        &[NuCode::NU3017, NuCode::NU3037],
    );
}

#[test]
fn wrong_eku_is_nu3012_not_valid_for_usage() {
    let report = verify(&author_signed(&pki().wrong_eku));
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Disallowed);
    assert!(
        report.issues.iter().any(|i| i.code == Some(NuCode::NU3012)
            && i.message.contains("not valid for the requested usage")),
        "{:?}",
        report.issues
    );
}

#[test]
fn lifetime_signing_eku_is_nu3015() {
    assert_signer_verdict(&pki().lifetime_signing, false, &[NuCode::NU3015]);
}

#[test]
fn sha1_signed_certificate_is_nu3013() {
    assert_signer_verdict(&pki().sha1_signed, false, &[NuCode::NU3013]);
}

#[test]
fn no_eku_is_valid_for_any_usage() {
    // A certificate without an EKU extension is good for every usage, as in .NET (spec §5.4).
    let report = verify(&author_signed(&pki().no_eku));
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    assert_clean_infos(&report, HashAlgorithm::Sha256);
}

// ---------------------------------------------------------------------------------------------
// 6. Short RSA key
// ---------------------------------------------------------------------------------------------

#[test]
fn rsa1024_signer_is_nu3014() {
    let signer = OpenSslSigner::new(&pki().rsa1024);
    assert_eq!(signer.key_bits(), 1024);
    let signed = sign_with(
        &unsigned_package(),
        &signer,
        SignatureKind::Author,
        HashAlgorithm::Sha256,
    );
    let report = verify(&signed);
    // The CMS signature itself is good (so no NU3012); the key is below 2048 bits.
    assert_verdict(&report, false, &[NuCode::NU3014], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Disallowed);
}

#[test]
fn openssl_signer_matches_software_signer() {
    // PKCS#1 v1.5 is deterministic: both signers must give the same bytes for a 2048-bit key,
    // which is what makes the rsa1024 verdict above about the key and not about the signer.
    let cert = &pki().code_signing;
    let software = software_signer(cert);
    let openssl = OpenSslSigner::new(cert);
    assert_eq!(openssl.key_bits(), 2048);
    assert_eq!(
        openssl.certificate_chain(),
        pki().chain_der(cert).as_slice()
    );
    for alg in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        assert_eq!(
            openssl.sign(alg, b"message").unwrap(),
            software.sign(alg, b"message").unwrap(),
            "{alg}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Modified signed attributes; certificate-fingerprint allow list
// ---------------------------------------------------------------------------------------------

#[test]
fn signed_attributes_modified_after_signing_is_nu3012() {
    let unsigned = unsigned_package();
    let signature = signature_with_modified_attributes(&unsigned);
    let report = verify(&with_signature(&unsigned, &signature));
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Disallowed);
    // The signature fails before any certificate rule or chain is looked at (spec §5.4 step 3).
    let nu3012 = report
        .issues
        .iter()
        .filter(|i| i.code == Some(NuCode::NU3012))
        .count();
    assert_eq!(nu3012, 1, "{:?}", report.issues);
}

fn with_fingerprints(fingerprints: &[String]) -> VerifyOptions {
    let mut options = verify_command();
    options.certificate_fingerprints =
        Some(AllowList::certificate_fingerprints(fingerprints).unwrap());
    options
}

#[test]
fn certificate_fingerprint_allow_list() {
    let signed = author_signed(&pki().code_signing);
    let fingerprint = pki().code_signing.sha256_fingerprint_hex();

    let report = verify_with(
        &signed,
        &test_store(),
        &with_fingerprints(std::slice::from_ref(&fingerprint)),
    );
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);

    // Compared case-insensitively (spec §5.7).
    let report = verify_with(
        &signed,
        &test_store(),
        &with_fingerprints(&[fingerprint.to_lowercase()]),
    );
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);

    // One matching entry among others is enough.
    let other = pki().repository.sha256_fingerprint_hex();
    let report = verify_with(
        &signed,
        &test_store(),
        &with_fingerprints(&[format!("{other};{fingerprint}")]),
    );
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);

    let report = verify_with(&signed, &test_store(), &with_fingerprints(&[other]));
    assert_verdict(&report, false, &[NuCode::NU3034], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Disallowed);

    // The issuer's fingerprint does not stand for the signer's.
    let report = verify_with(
        &signed,
        &test_store(),
        &with_fingerprints(&[pki().root.sha256_fingerprint_hex()]),
    );
    assert_verdict(&report, false, &[NuCode::NU3034], &[NuCode::NU3027]);
}

// ---------------------------------------------------------------------------------------------
// 8. accept / require presets
// ---------------------------------------------------------------------------------------------

#[test]
fn accept_mode_tolerates_an_untrusted_root() {
    let signed = author_signed(&pki().code_signing);
    let report = verify_with(
        &signed,
        &TrustStore::empty(),
        &options(VerifierSettings::accept(RevocationMode::Offline)),
    );
    // AllowUntrusted: NU3018 is a warning; ReportUnknownRevocation is off in accept mode.
    assert_verdict(
        &report,
        true,
        &[],
        &[NuCode::NU3018, NuCode::NU3027, NuCode::NU3042],
    );
    assert_eq!(report.status, Status::Valid);
    assert_eq!(infos(&report).len(), 1, "{:?}", infos(&report));
}

#[test]
fn accept_mode_illegal_certificate_is_a_warning_yet_disallowed() {
    // Spec §5.4 step 4 / §5.8: with AllowIllegal the certificate rules log warnings, but the
    // flags, not the severity, decide the status.
    let accept = options(VerifierSettings::accept(RevocationMode::Offline));
    let signer = OpenSslSigner::new(&pki().rsa1024);
    let signed = sign_with(
        &unsigned_package(),
        &signer,
        SignatureKind::Author,
        HashAlgorithm::Sha256,
    );
    let report = verify_with(&signed, &test_store(), &accept);
    assert_verdict(&report, false, &[], &[NuCode::NU3014, NuCode::NU3027]);
    assert_eq!(report.status, Status::Disallowed);

    // A chain-building failure other than untrusted root is the same (NU3012 warning).
    let report = verify_with(&author_signed(&pki().wrong_eku), &test_store(), &accept);
    assert_verdict(&report, false, &[], &[NuCode::NU3012, NuCode::NU3027]);
    assert_eq!(report.status, Status::Disallowed);
}

#[test]
fn accept_mode_failed_cms_check_is_accepted() {
    // Spec §5.8: a failed CMS signature check is Valid under AllowIllegal (treated like an
    // unsigned package), with an NU3012 warning.
    let unsigned = unsigned_package();
    let signature = signature_with_modified_attributes(&unsigned);
    let report = verify_with(
        &with_signature(&unsigned, &signature),
        &test_store(),
        &options(VerifierSettings::accept(RevocationMode::Offline)),
    );
    assert_verdict(&report, true, &[], &[NuCode::NU3012, NuCode::NU3027]);
}

#[test]
fn accept_mode_allows_unsigned() {
    let report = verify_with(
        &unsigned_package(),
        &test_store(),
        &options(VerifierSettings::accept(RevocationMode::Offline)),
    );
    assert_verdict(&report, true, &[], &[]);
    assert!(!report.signed);
    assert!(!report.verified().unwrap().signed());
}

#[test]
fn require_mode_rejects_unsigned_with_nu3004() {
    let report = verify_with(
        &unsigned_package(),
        &test_store(),
        &options(VerifierSettings::require(RevocationMode::Offline)),
    );
    assert_verdict(&report, false, &[NuCode::NU3004], &[]);
    assert!(!report.signed);
}

#[test]
fn verify_command_rejects_unsigned_with_nu3004() {
    let report = verify(&unsigned_package());
    assert_verdict(&report, false, &[NuCode::NU3004], &[]);
}

#[test]
fn require_mode_untrusted_root_is_an_error() {
    let signed = author_signed(&pki().code_signing);
    let report = verify_with(
        &signed,
        &TrustStore::empty(),
        &options(VerifierSettings::require(RevocationMode::Offline)),
    );
    assert_verdict(
        &report,
        false,
        &[NuCode::NU3018],
        &[NuCode::NU3027, NuCode::NU3042],
    );
}

#[test]
fn tampered_package_is_invalid_in_every_mode() {
    let mut signed = author_signed(&pki().code_signing);
    flip_data_byte(&mut signed, DLL_ENTRY);
    for (name, settings) in [
        (
            "verify",
            VerifierSettings::verify_command(RevocationMode::Offline),
        ),
        ("accept", VerifierSettings::accept(RevocationMode::Offline)),
        (
            "require",
            VerifierSettings::require(RevocationMode::Offline),
        ),
    ] {
        let report = verify_with(&signed, &test_store(), &options(settings));
        assert!(!report.valid, "{name}");
        assert_eq!(report.status, Status::Suspect, "{name}");
        assert_eq!(
            codes(&report, Severity::Error),
            BTreeSet::from([NuCode::NU3008]),
            "{name}: {:?}",
            report.issues
        );
        assert!(report.verified().is_none(), "{name}");
    }
}

#[test]
fn bundled_store_does_not_trust_the_test_root() {
    let signed = author_signed(&pki().code_signing);
    let report = verify_with(&signed, &TrustStore::bundled().unwrap(), &verify_command());
    assert_verdict(
        &report,
        false,
        &[NuCode::NU3018],
        &[NuCode::NU3027, NuCode::NU3042],
    );
    assert_eq!(report.status, Status::Disallowed);
    // NU3042 names the root that is missing from the bundle.
    let nu3042 = report
        .issues
        .iter()
        .find(|i| i.code == Some(NuCode::NU3042))
        .unwrap();
    assert!(
        nu3042
            .message
            .contains(&pki().root.sha256_fingerprint_hex()),
        "{}",
        nu3042.message
    );
}

// 9. Expiry rescued by a timestamp or a repository countersignature needs timestamp creation,
//    which signet does not have yet; out of scope here.

// ---------------------------------------------------------------------------------------------
// 10. Checks before signing (spec §5.10)
// ---------------------------------------------------------------------------------------------

fn chain_above(cert: &CertKey) -> Vec<Certificate> {
    pki()
        .chain_der(cert)
        .iter()
        .skip(1)
        .map(|der| Certificate::from_der(der).unwrap())
        .collect()
}

fn check(
    cert: &CertKey,
    store: &TrustStore,
    policy: UntrustedRootPolicy,
) -> Result<Vec<signet_trust::Issue>, Vec<signet_trust::Issue>> {
    check_signing_certificate(&parse(cert), &chain_above(cert), store, now(), policy)
}

fn issue_codes(issues: &[signet_trust::Issue], severity: Severity) -> BTreeSet<NuCode> {
    assert!(issues.iter().all(|i| i.code.is_some()), "{issues:?}");
    issues
        .iter()
        .filter(|i| i.severity == severity)
        .filter_map(|i| i.code)
        .collect()
}

#[test]
fn signing_check_accepts_good_certificate() {
    let warnings = check(
        &pki().code_signing,
        &test_store(),
        UntrustedRootPolicy::Reject,
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let warnings = check(&pki().no_eku, &test_store(), UntrustedRootPolicy::Reject).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn signing_check_rejects_expired_with_nu3018() {
    let errors = check(&pki().expired, &test_store(), UntrustedRootPolicy::Reject).unwrap_err();
    assert_eq!(
        issue_codes(&errors, Severity::Error),
        BTreeSet::from([NuCode::NU3018])
    );
}

#[test]
fn signing_check_rejects_rsa1024_with_nu3014() {
    let errors = check(&pki().rsa1024, &test_store(), UntrustedRootPolicy::Reject).unwrap_err();
    assert_eq!(
        issue_codes(&errors, Severity::Error),
        BTreeSet::from([NuCode::NU3014])
    );
}

#[test]
fn signing_check_rejects_sha1_signed_with_nu3013() {
    let errors = check(
        &pki().sha1_signed,
        &test_store(),
        UntrustedRootPolicy::Reject,
    )
    .unwrap_err();
    assert_eq!(
        issue_codes(&errors, Severity::Error),
        BTreeSet::from([NuCode::NU3013])
    );
}

#[test]
fn signing_check_rejects_other_illegal_certificates() {
    for (cert, code) in [
        (&pki().lifetime_signing, NuCode::NU3015),
        (&pki().not_yet_valid, NuCode::NU3017),
        // Wrong usage is a chain status, fatal while signing.
        (&pki().wrong_eku, NuCode::NU3018),
    ] {
        let errors = check(cert, &test_store(), UntrustedRootPolicy::Reject).unwrap_err();
        assert_eq!(
            issue_codes(&errors, Severity::Error),
            BTreeSet::from([code]),
            "{cert:?}"
        );
    }
}

#[test]
fn signing_check_tolerates_self_issued_leaf_with_warning() {
    let warnings = check(
        &pki().self_signed,
        &TrustStore::empty(),
        UntrustedRootPolicy::Reject,
    )
    .unwrap();
    assert_eq!(
        issue_codes(&warnings, Severity::Warning),
        BTreeSet::from([NuCode::NU3018])
    );
    assert!(warnings.iter().all(|i| i.severity == Severity::Warning));
}

#[test]
fn signing_check_untrusted_ca_is_fatal_unless_dangerously_allowed() {
    let errors = check(
        &pki().code_signing,
        &TrustStore::empty(),
        UntrustedRootPolicy::Reject,
    )
    .unwrap_err();
    assert_eq!(
        issue_codes(&errors, Severity::Error),
        BTreeSet::from([NuCode::NU3018])
    );

    let warnings = check(
        &pki().code_signing,
        &TrustStore::empty(),
        UntrustedRootPolicy::DangerousAllow,
    )
    .unwrap();
    assert_eq!(
        issue_codes(&warnings, Severity::Warning),
        BTreeSet::from([NuCode::NU3018])
    );
    assert!(warnings.iter().all(|i| i.severity == Severity::Warning));
}

// ---------------------------------------------------------------------------------------------
// 11. Independent oracle: the openssl CLI
// ---------------------------------------------------------------------------------------------

/// Runs `openssl` in `dir`; returns its stdout, or its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running openssl");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Writes the package's `.signature.p7s` as `sig.p7s` and the test root as `root.pem` into a
/// new temporary directory.
fn signature_files(signed: &[u8]) -> tempfile::TempDir {
    let signature = Package::open(Cursor::new(signed), &Limits::default())
        .unwrap()
        .read_signature()
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sig.p7s"), signature).unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root.cert_pem()).unwrap();
    dir
}

/// `openssl cms -verify` of the package's signature against the test root; the encapsulated
/// content on success.
fn openssl_cms_verify(signed: &[u8]) -> Result<Vec<u8>, String> {
    let dir = signature_files(signed);
    // -attime: judge the certificates at the fixed instant, not at the wall clock.
    let attime = now().unix_seconds().to_string();
    openssl(
        dir.path(),
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "sig.p7s",
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-attime",
            &attime,
            "-binary",
            "-out",
            "content.txt",
        ],
    )?;
    Ok(std::fs::read(dir.path().join("content.txt")).unwrap())
}

#[test]
fn openssl_verifies_the_cms_and_its_content() {
    let unsigned = unsigned_package();
    let signed = author_signed(&pki().code_signing);
    let content = openssl_cms_verify(&signed)
        .unwrap_or_else(|stderr| panic!("openssl cms -verify failed: {stderr}"));
    let expected = format!(
        "Version:1\n\n2.16.840.1.101.3.4.2.1-Hash:{}\n\n",
        base64::engine::general_purpose::STANDARD.encode(HashAlgorithm::Sha256.digest(&unsigned))
    );
    assert_eq!(String::from_utf8(content).unwrap(), expected);

    // The signed attributes NuGet writes (spec §3.3).
    let dir = signature_files(&signed);
    let printed = openssl(
        dir.path(),
        &[
            "cms", "-cmsout", "-print", "-noout", "-inform", "DER", "-in", "sig.p7s",
        ],
    )
    .unwrap_or_else(|stderr| panic!("openssl cms -cmsout -print failed: {stderr}"));
    let printed = String::from_utf8_lossy(&printed);
    let signed_attrs = printed
        .split_once("signedAttrs:")
        .and_then(|(_, rest)| rest.split_once("signatureAlgorithm:"))
        .map(|(attrs, _)| attrs)
        .unwrap_or_else(|| panic!("no signedAttrs in:\n{printed}"));
    for (what, needle) in [
        ("contentType", "contentType (1.2.840.113549.1.9.3)"),
        ("signingTime", "signingTime (1.2.840.113549.1.9.5)"),
        ("messageDigest", "messageDigest (1.2.840.113549.1.9.4)"),
        ("commitment-type-indication", "1.2.840.113549.1.9.16.2.16"),
        ("signing-certificate-v2", "1.2.840.113549.1.9.16.2.47"),
    ] {
        assert!(
            signed_attrs.contains(needle),
            "{what} ({needle}) missing from signedAttrs:\n{signed_attrs}"
        );
    }
}

#[test]
fn openssl_rejects_modified_signed_attributes() {
    // The oracle agrees with the NU3012 verdict above.
    let unsigned = unsigned_package();
    let signature = signature_with_modified_attributes(&unsigned);
    assert!(
        openssl_cms_verify(&with_signature(&unsigned, &signature)).is_err(),
        "openssl accepted a signature over different attributes"
    );
}

#[test]
fn removing_the_signature_restores_the_unsigned_bytes() {
    let unsigned = unsigned_package();
    let signer = software_signer(&pki().code_signing);
    for alg in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let signed = sign_with(&unsigned, &signer, SignatureKind::Author, alg);
        assert_ne!(signed, unsigned);
        let mut out = Vec::new();
        remove_signature(Cursor::new(&signed), &mut out, &Limits::default()).unwrap();
        assert!(
            out == unsigned,
            "{alg}: removal differs from the unsigned input"
        );
    }
}
