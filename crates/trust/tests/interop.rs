//! `verify --all` verdicts on every real package in `../shared/interop/packages`, with the
//! bundled roots and offline revocation, as NuGet gives them (issue: must show 1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use signet_common::{NuCode, Severity, UtcTime};
use signet_trust::{
    RevocationMode, Status, TrustStore, VerifierSettings, VerifyOptions, verify_package,
};

fn packages() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop/packages")
}

/// The verification instant: fixed, so the table does not rot.
fn now() -> UtcTime {
    UtcTime::from_civil(2026, 11, 22, 0, 0, 0, 0).unwrap()
}

fn verify(name: &str) -> signet_trust::PackageReport {
    let trust = TrustStore::bundled().unwrap();
    let options = VerifyOptions::new(
        VerifierSettings::verify_command(RevocationMode::Offline),
        now(),
    );
    let file = std::fs::File::open(packages().join(name)).unwrap();
    verify_package(file, &trust, &options)
}

fn error_codes(r: &signet_trust::PackageReport) -> Vec<NuCode> {
    let mut c: Vec<NuCode> = r
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .filter_map(|i| i.code)
        .collect();
    c.sort();
    c.dedup();
    c
}

/// (package, NuGet's verdict, the error codes NuGet reports).
const EXPECTED: &[(&str, bool, &[NuCode])] = &[
    // NuGet.org-signed and real author-signed packages verify.
    ("nuget.versioning.5.0.0.nupkg", true, &[]),
    ("TestPackage.AuthorSigned.1.0.0.nupkg", true, &[]),
    ("newtonsoft.json.13.0.4.nupkg", true, &[]),
    ("microsoft.aspnet.webpages.3.3.0.nupkg", true, &[]),
    ("jquery.2.1.1.nupkg", true, &[]),
    ("basetestpackage.1.0.0.nupkg", true, &[]),
    ("Microsoft.Bcl.AsyncInterfaces.8.0.0.nupkg", true, &[]),
    (
        "Microsoft.Extensions.DependencyModel.8.0.1.nupkg",
        true,
        &[],
    ),
    ("Serilog.Sinks.Debug.3.0.0.nupkg", true, &[]),
    ("IronSoftware.System.Drawing.2022.9.8843.nupkg", true, &[]),
    ("Newtonsoft.Json.Bson.1.0.2.nupkg", true, &[]),
    ("xunit.abstractions.2.0.3.nupkg", true, &[]),
    ("Google.Protobuf.3.23.3.nupkg", true, &[]),
    ("K4os.Hash.xxHash.1.0.8.nupkg", true, &[]),
    ("MySql.Data.8.0.33.nupkg", true, &[]),
    // Test CAs and negative fixtures.
    (
        "SignedPackage.1.0.0.nupkg",
        false,
        &[NuCode::NU3018, NuCode::NU3037],
    ),
    ("Test.Reposigned.1.0.0.nupkg", false, &[NuCode::NU3018]),
    (
        "Test.RepoCountersigned.1.0.0.nupkg",
        false,
        &[NuCode::NU3018],
    ),
    (
        "TimestampInvalidGenTimePackage.nupkg",
        false,
        &[NuCode::NU3018, NuCode::NU3036, NuCode::NU3037],
    ),
    (
        "UntrustedTimestampPackage.nupkg",
        false,
        &[NuCode::NU3018, NuCode::NU3028, NuCode::NU3037],
    ),
    (
        "ExpiredPrimaryAndTimestampCertificatesWithUnavailableRevocationInfo.nupkg",
        false,
        &[NuCode::NU3018, NuCode::NU3028, NuCode::NU3037],
    ),
    ("UnavailableCrlPackage.nupkg", false, &[NuCode::NU3018]),
    (
        "TestAuthorAndRepoSigned.leaf-1.1.0.0.nupkg",
        false,
        &[NuCode::NU3018],
    ),
    (
        "TestRepoSigned.leaf-1.1.0.0.nupkg",
        false,
        &[NuCode::NU3018],
    ),
    // Unsigned.
    ("TestUnsigned.1.0.0.nupkg", false, &[NuCode::NU3004]),
    (
        "Newtonsoft.Json.9.0.2-beta1.nupkg",
        false,
        &[NuCode::NU3004],
    ),
    ("Zip64Package.1.0.0.nupkg", false, &[NuCode::NU3004]),
];

#[test]
fn verdicts_match_nuget() {
    let mut seen = 0;
    for (name, valid, codes) in EXPECTED {
        let r = verify(name);
        assert_eq!(r.valid, *valid, "{name}: {:#?}", r.issues);
        assert_eq!(error_codes(&r), codes.to_vec(), "{name}: {:#?}", r.issues);
        assert_eq!(r.verified().is_some(), *valid, "{name}");
        seen += 1;
    }
    // Every package in the folder is in the table.
    let on_disk = std::fs::read_dir(packages())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "nupkg")
        })
        .count();
    assert_eq!(seen, on_disk);
}

#[test]
fn countersigned_packages_report_both_signatures() {
    let r = verify("nuget.versioning.5.0.0.nupkg");
    assert_eq!(r.signatures.len(), 2);
    let cs = &r.signatures[1];
    assert_eq!(cs.friendly_name, "repository countersignature");
    assert_eq!(
        cs.service_index.as_deref(),
        Some("https://api.nuget.org/v3/index.json")
    );
    assert_eq!(cs.owners, ["Microsoft", "nuget"]);
    assert!(cs.timestamp.as_ref().unwrap().valid);
    assert_eq!(r.id.as_deref(), Some("NuGet.Versioning"));
    assert_eq!(r.version.as_deref(), Some("5.0.0"));
    assert_eq!(
        r.content_hash.as_deref(),
        Some(
            "MLFLRQoZv6RGbaxxSHWOM+Ve2DvTVNbS9adF7YS+jPbjm0vNzmRie7/UX9/7UVTV0nZ8YjWg8uRPJh9R0BartQ=="
        )
    );
    // Offline revocation is reported as information, never as a warning or error.
    assert!(r.issues.iter().any(|i| i.severity == Severity::Information
        && i.code.is_none()
        && i.message.contains("revocation")));
    assert_eq!(r.warning_count(), 0);
}

#[test]
fn expired_certificates_stay_valid_through_their_timestamp() {
    // TestPackage.AuthorSigned: Microsoft certificate expired 2021-01-27, timestamped 2018.
    let r = verify("TestPackage.AuthorSigned.1.0.0.nupkg");
    let primary = &r.signatures[0];
    assert!(primary.certificate.as_ref().unwrap().not_after.as_str() < "2022");
    assert!(r.valid);
    assert_eq!(primary.status, Status::Valid);
}

#[test]
fn accept_mode_accepts_untrusted_and_unsigned_with_warnings() {
    let trust = TrustStore::bundled().unwrap();
    let options = VerifyOptions::new(VerifierSettings::accept(RevocationMode::Offline), now());
    for name in [
        "UnavailableCrlPackage.nupkg",
        "TestUnsigned.1.0.0.nupkg",
        "SignedPackage.1.0.0.nupkg",
    ] {
        let file = std::fs::File::open(packages().join(name)).unwrap();
        let r = verify_package(file, &trust, &options);
        assert!(r.valid, "{name}: {:#?}", r.issues);
        assert_eq!(r.error_count(), 0, "{name}");
    }
}

/// Offset of the signature entry's local header: every byte before it is a local entry of the
/// package, covered by the package hash.
fn signature_lfh_offset(bytes: &[u8]) -> usize {
    let name = b".signature.p7s";
    (0..bytes.len().saturating_sub(44))
        .rev()
        .find(|&i| bytes[i..i + 4] == *b"PK\x03\x04" && bytes[i + 30..i + 44] == *name)
        .expect("signature local header")
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Flipping any byte of a real signed package inside the hashed local-entry region gives
    /// NU3008 (must show 3).
    #[test]
    fn flipping_a_hashed_byte_gives_nu3008(
        which in 0usize..4,
        position in 0.0f64..1.0,
        mask in 1u8..=255,
    ) {
        let name = [
            "nuget.versioning.5.0.0.nupkg",
            "TestPackage.AuthorSigned.1.0.0.nupkg",
            "jquery.2.1.1.nupkg",
            "xunit.abstractions.2.0.3.nupkg",
        ][which];
        let mut bytes = std::fs::read(packages().join(name)).unwrap();
        let end = signature_lfh_offset(&bytes);
        let at = ((end as f64) * position) as usize % end;
        bytes[at] ^= mask;
        let trust = TrustStore::bundled().unwrap();
        let options = VerifyOptions::new(VerifierSettings::verify_command(RevocationMode::Offline), now());
        let r = verify_package(std::io::Cursor::new(bytes), &trust, &options);
        proptest::prop_assert!(!r.valid);
        proptest::prop_assert_eq!(error_codes(&r), vec![NuCode::NU3008], "{} byte {}: {:?}", name, at, r.issues);
    }
}

#[test]
fn content_hash_can_be_skipped() {
    let trust = TrustStore::bundled().unwrap();
    let mut options = VerifyOptions::new(
        VerifierSettings::verify_command(RevocationMode::Offline),
        now(),
    );
    options.content_hash = signet_trust::ContentHash::Skip;
    let file = std::fs::File::open(packages().join("nuget.versioning.5.0.0.nupkg")).unwrap();
    let r = verify_package(file, &trust, &options);
    assert!(r.valid);
    assert_eq!(r.content_hash, None);
    assert_eq!(r.verified().unwrap().content_hash(), None);
}
