//! Every real signature in `../shared/interop` loads, has the type its manifest states, and its
//! CMS signatures (primary, countersignature, timestamp tokens) verify.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Read;
use std::path::PathBuf;

use signet_signature::{Limits, PrimarySignature, SignatureType};

fn interop() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop")
}

fn signature_of(name: &str) -> Vec<u8> {
    let path = interop().join("packages").join(name);
    if name.ends_with(".p7s") {
        return std::fs::read(path).unwrap();
    }
    let file = std::fs::File::open(&path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut entry = zip.by_name(".signature.p7s").unwrap();
    let mut out = Vec::new();
    entry.read_to_end(&mut out).unwrap();
    out
}

/// (file, primary type, has repository countersignature, primary timestamped)
const SIGNED: &[(&str, SignatureType, bool, bool)] = &[
    (
        "nuget.versioning.5.0.0.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "TestPackage.AuthorSigned.1.0.0.nupkg",
        SignatureType::Author,
        false,
        true,
    ),
    (
        "SignedPackage.1.0.0.nupkg",
        SignatureType::Author,
        false,
        false,
    ),
    (
        "Test.Reposigned.1.0.0.nupkg",
        SignatureType::Repository,
        false,
        false,
    ),
    (
        "Test.RepoCountersigned.1.0.0.nupkg",
        SignatureType::Repository,
        false,
        false,
    ),
    (
        "TimestampInvalidGenTimePackage.nupkg",
        SignatureType::Author,
        false,
        true,
    ),
    (
        "UntrustedTimestampPackage.nupkg",
        SignatureType::Author,
        false,
        true,
    ),
    (
        "ExpiredPrimaryAndTimestampCertificatesWithUnavailableRevocationInfo.nupkg",
        SignatureType::Author,
        false,
        true,
    ),
    (
        "UnavailableCrlPackage.nupkg",
        SignatureType::Author,
        false,
        true,
    ),
    (
        "newtonsoft.json.13.0.4.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "microsoft.aspnet.webpages.3.3.0.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    ("jquery.2.1.1.nupkg", SignatureType::Repository, false, true),
    (
        "basetestpackage.1.0.0.nupkg",
        SignatureType::Repository,
        false,
        true,
    ),
    (
        "TestAuthorAndRepoSigned.leaf-1.1.0.0.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "TestRepoSigned.leaf-1.1.0.0.nupkg",
        SignatureType::Repository,
        false,
        true,
    ),
    (
        "Microsoft.Bcl.AsyncInterfaces.8.0.0.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "Microsoft.Extensions.DependencyModel.8.0.1.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "Serilog.Sinks.Debug.3.0.0.nupkg",
        SignatureType::Repository,
        false,
        true,
    ),
    (
        "IronSoftware.System.Drawing.2022.9.8843.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "Newtonsoft.Json.Bson.1.0.2.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "xunit.abstractions.2.0.3.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "Google.Protobuf.3.23.3.nupkg",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "K4os.Hash.xxHash.1.0.8.nupkg",
        SignatureType::Repository,
        false,
        true,
    ),
    ("MySql.Data.8.0.33.nupkg", SignatureType::Author, true, true),
    (
        "loose-p7s/NuGet.Client.TestUtilities.signature.p7s",
        SignatureType::Author,
        true,
        true,
    ),
    (
        "loose-p7s/NuGet.Client.SignatureWithTimestamp.p7s",
        SignatureType::Author,
        false,
        true,
    ),
];

#[test]
fn every_real_signature_loads_and_verifies() {
    let limits = Limits::default();
    for &(name, kind, countersigned, timestamped) in SIGNED {
        let bytes = signature_of(name);
        let sig = PrimarySignature::load(&bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sig.signature_type(), kind, "{name}");
        sig.verify_signature_value()
            .unwrap_or_else(|e| panic!("{name}: primary CMS: {e}"));
        assert!(sig.signing_time().is_some(), "{name}");
        if kind == SignatureType::Repository {
            assert!(
                sig.repository_info()
                    .unwrap()
                    .service_index
                    .starts_with("https://"),
                "{name}"
            );
        }
        let ts = sig
            .first_timestamp()
            .unwrap_or_else(|e| panic!("{name}: timestamp: {e}"));
        assert_eq!(ts.is_some(), timestamped, "{name}");
        if let Some(ts) = ts {
            let imprint_alg = ts.info().imprint_algorithm.to_string();
            let alg = signet_common::HashAlgorithm::from_oid_str(&imprint_alg).unwrap();
            assert_eq!(
                ts.info().imprint,
                alg.digest(sig.signature_value()),
                "{name}: imprint"
            );
        }
        let cs = sig
            .repository_countersignature()
            .unwrap_or_else(|e| panic!("{name}: countersig: {e}"));
        assert_eq!(cs.is_some(), countersigned, "{name}");
        if let Some(cs) = cs {
            cs.verify_signature_value(&sig)
                .unwrap_or_else(|e| panic!("{name}: countersig CMS: {e}"));
            let cts = cs
                .first_timestamp()
                .unwrap_or_else(|e| panic!("{name}: countersig ts: {e}"));
            if let Some(cts) = cts {
                assert_eq!(
                    cts.info().imprint,
                    signet_common::HashAlgorithm::Sha256.digest(cs.signature_value()),
                    "{name}: countersignature imprint"
                );
            }
        }
    }
}

#[test]
fn nuget_org_countersignature_attributes() {
    let sig = PrimarySignature::load(
        &signature_of("nuget.versioning.5.0.0.nupkg"),
        &Limits::default(),
    )
    .unwrap();
    let cs = sig.repository_countersignature().unwrap().unwrap();
    assert_eq!(
        cs.repository_info().service_index,
        "https://api.nuget.org/v3/index.json"
    );
    assert_eq!(cs.repository_info().owners, ["Microsoft", "nuget"]);
    assert_eq!(
        sig.certificate().subject(),
        "CN=Microsoft Corporation,O=Microsoft Corporation,L=Redmond,ST=Washington,C=US"
    );
}

#[test]
fn tampered_signed_attributes_fail_the_cms_check() {
    let mut bytes = signature_of("TestPackage.AuthorSigned.1.0.0.nupkg");
    // The signing-time attribute value lives in the signed attributes; change one digit.
    let marker = [
        0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05, 0x31, 0x0f, 0x17, 0x0d,
    ];
    let pos = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap()
        + marker.len()
        + 11;
    bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
    let sig = PrimarySignature::load(&bytes, &Limits::default()).unwrap();
    assert!(sig.verify_signature_value().is_err());
}

#[test]
fn garbage_and_truncations_never_panic() {
    let bytes = signature_of("nuget.versioning.5.0.0.nupkg");
    for len in (0..bytes.len()).step_by(97) {
        let r = PrimarySignature::load(&bytes[..len], &Limits::default());
        assert!(r.is_err());
        assert_eq!(r.unwrap_err().code(), signet_common::NuCode::NU3003);
    }
    let e = PrimarySignature::load(b"content", &Limits::default()).unwrap_err();
    assert_eq!(e.code(), signet_common::NuCode::NU3003);
}

#[test]
fn add_timestamp_keeps_the_signature_and_appends_the_token() {
    let limits = Limits::default();
    let original = signature_of("TestPackage.AuthorSigned.1.0.0.nupkg");
    let donor =
        PrimarySignature::load(&signature_of("nuget.versioning.5.0.0.nupkg"), &limits).unwrap();
    let token = donor.timestamp_tokens()[0].to_vec();
    let with = signet_signature::add_timestamp(&original, &token).unwrap();
    let sig = PrimarySignature::load(&with, &limits).unwrap();
    // The signer's signed part is untouched: the CMS check still passes.
    sig.verify_signature_value().unwrap();
    let before = PrimarySignature::load(&original, &limits).unwrap();
    assert_eq!(sig.signature_value(), before.signature_value());
    assert_eq!(sig.certificates().len(), before.certificates().len());
    // Both tokens are there (unsigned attributes are a DER SET OF, sorted, as .NET writes them).
    let tokens = sig.timestamp_tokens();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.contains(&before.timestamp_tokens()[0]));
    assert!(tokens.contains(&token.as_slice()));
    // BER input (xunit.abstractions) is normalised and still verifies.
    let ber = signature_of("xunit.abstractions.2.0.3.nupkg");
    let with = signet_signature::add_timestamp(&ber, &token).unwrap();
    PrimarySignature::load(&with, &limits)
        .unwrap()
        .verify_signature_value()
        .unwrap();
    // Garbage is an error, not a panic.
    assert!(signet_signature::add_timestamp(b"nope", &token).is_err());
}
