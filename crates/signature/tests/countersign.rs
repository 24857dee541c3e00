//! Repository countersignatures: added to a real author signature, the author's bytes stay
//! exactly as they were and the countersignature verifies; NU3032/NU3033; removal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Read;

use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_keys::SoftwareSigner;
use signet_signature::{
    CountersignatureRequest, Error, Limits, PrimarySignature, SignatureKind, SignatureRequest,
    SignatureType, add_repository_countersignature, build_primary_signature,
    remove_repository_countersignature,
};
use signet_test_support::{interop_dir, pki};

fn signature_of(name: &str) -> Vec<u8> {
    let file = std::fs::File::open(interop_dir().join("packages").join(name)).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut entry = zip.by_name(".signature.p7s").unwrap();
    let mut out = Vec::new();
    entry.read_to_end(&mut out).unwrap();
    out
}

fn repository_signer() -> SoftwareSigner {
    let p = pki();
    SoftwareSigner::from_key_and_chain(
        p.repository.key_pem().as_bytes(),
        None,
        p.chain_pem(&p.repository).as_bytes(),
    )
    .unwrap()
}

fn request(owners: &[&str]) -> CountersignatureRequest {
    CountersignatureRequest {
        service_index: "https://packages.example.test/v3/index.json".into(),
        owners: owners.iter().map(|s| s.to_string()).collect(),
        hash_algorithm: HashAlgorithm::Sha256,
        signing_time: UtcTime::from_unix_seconds(1_790_000_000),
    }
}

#[test]
fn countersigning_a_real_author_signature_keeps_the_author_bytes_and_verifies() {
    let original = signature_of("TestPackage.AuthorSigned.1.0.0.nupkg");
    let limits = Limits::default();
    let author = PrimarySignature::load(&original, &limits).unwrap();
    assert_eq!(author.signature_type(), SignatureType::Author);
    assert!(author.repository_countersignature().unwrap().is_none());

    let signer = repository_signer();
    let signed =
        add_repository_countersignature(&original, &request(&["zeta", "Alpha"]), &signer, &limits)
            .unwrap();
    let loaded = PrimarySignature::load(&signed, &limits).unwrap();
    // The author's signature, signed attributes and content are untouched.
    assert_eq!(loaded.signature_value(), author.signature_value());
    assert_eq!(
        loaded.signer_info().signed_attrs.as_ref().unwrap().raw_set,
        author.signer_info().signed_attrs.as_ref().unwrap().raw_set
    );
    assert_eq!(loaded.content(), author.content());
    loaded.verify_signature_value().unwrap();
    // The countersignature covers the author's signature value and names the repository.
    let counter = loaded.repository_countersignature().unwrap().unwrap();
    counter.verify_signature_value(&loaded).unwrap();
    assert_eq!(
        counter.repository_info().service_index,
        "https://packages.example.test/v3/index.json"
    );
    assert_eq!(counter.repository_info().owners, vec!["zeta", "Alpha"]);
    assert_eq!(
        counter.certificate().unwrap().der(),
        pki().repository.cert_der.as_slice()
    );
    assert_eq!(counter.timestamp_count(), 0);
    // Its message digest is the hash of the author signature value.
    let md = counter
        .signer_info()
        .single_signed_value(&signet_signature::oids::MESSAGE_DIGEST)
        .unwrap()
        .unwrap();
    let digest = HashAlgorithm::Sha256.digest(author.signature_value());
    assert!(
        md.ends_with(&digest),
        "messageDigest must be H(author signature value)"
    );

    // A second repository countersignature is refused.
    let again = add_repository_countersignature(&signed, &request(&[]), &signer, &limits);
    assert!(
        matches!(
            again,
            Err(Error::Countersignature {
                code: NuCode::NU3032,
                ..
            })
        ),
        "{again:?}"
    );
    // Removing it gives the author signature back (plus the repository certificates).
    let (removed, did) = remove_repository_countersignature(&signed).unwrap();
    assert!(did);
    let back = PrimarySignature::load(&removed, &limits).unwrap();
    assert!(back.repository_countersignature().unwrap().is_none());
    assert_eq!(back.signature_value(), author.signature_value());
    back.verify_signature_value().unwrap();
    let (unchanged, did) = remove_repository_countersignature(&removed).unwrap();
    assert!(!did);
    assert_eq!(unchanged, removed);
}

#[test]
fn a_repository_primary_signature_cannot_be_countersigned() {
    let signer = repository_signer();
    let limits = Limits::default();
    let primary = build_primary_signature(
        &SignatureRequest {
            kind: SignatureKind::Repository {
                service_index: "https://packages.example.test/v3/index.json".into(),
                owners: vec![],
            },
            hash_algorithm: HashAlgorithm::Sha256,
            package_hash: vec![7; 32],
            signing_time: UtcTime::from_unix_seconds(1_790_000_000),
        },
        &signer,
    )
    .unwrap();
    let r = add_repository_countersignature(&primary, &request(&[]), &signer, &limits);
    assert!(
        matches!(
            r,
            Err(Error::Countersignature {
                code: NuCode::NU3033,
                ..
            })
        ),
        "{r:?}"
    );
    // The real NuGet fixture with a repository primary too.
    let real = signature_of("Test.Reposigned.1.0.0.nupkg");
    let r = add_repository_countersignature(&real, &request(&[]), &signer, &limits);
    assert!(matches!(
        r,
        Err(Error::Countersignature {
            code: NuCode::NU3033,
            ..
        })
    ));
}

#[test]
fn the_service_index_must_be_https() {
    let original = signature_of("TestPackage.AuthorSigned.1.0.0.nupkg");
    let mut req = request(&[]);
    req.service_index = "http://packages.example.test/v3/index.json".into();
    let r =
        add_repository_countersignature(&original, &req, &repository_signer(), &Limits::default());
    assert!(matches!(r, Err(Error::SigningInput(_))), "{r:?}");
}
