//! A timestamp keeps a signature valid after its certificate expires (issue 3, must show 2):
//! a package signed with a certificate that expires a minute later, timestamped by signet's
//! authority, verifies an hour after the expiry; the same package without the timestamp fails
//! with NU3037.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Cursor;
use std::time::Duration;

use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};
use signet_keys::SoftwareSigner;
use signet_signature::{SignatureKind, SignatureRequest, build_primary_signature};
use signet_test_support::{PackageBuilder, code_signing_cert_with_validity, pki};
use signet_trust::{RevocationMode, TrustStore, VerifierSettings, VerifyOptions, verify_package};
use signet_tsa::{Authority, AuthorityConfig, Transport, request_timestamp};

/// The authority called in-process: the HTTP layer is tested elsewhere.
struct InProcess<'a> {
    authority: &'a Authority,
    now: UtcTime,
}

impl Transport for InProcess<'_> {
    fn post(&self, _: &str, _: &str, body: &[u8], _: Duration) -> Result<(u16, Vec<u8>), String> {
        Ok((200, self.authority.respond(body, self.now)))
    }
}

fn signer(cert: &signet_test_support::CertKey) -> SoftwareSigner {
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        pki().chain_pem(cert).as_bytes(),
    )
    .unwrap()
}

fn at(t: time::OffsetDateTime) -> UtcTime {
    UtcTime::from_unix_seconds(t.unix_timestamp())
}

#[test]
fn timestamp_outlives_the_certificate() {
    let t0 = time::macros::datetime!(2026-11-22 12:00:00 UTC);
    let leaf = code_signing_cert_with_validity(
        t0 - time::Duration::hours(1),
        t0 + time::Duration::minutes(1),
    );
    let unsigned = PackageBuilder::new("Signet.Expiry", "1.0.0")
        .file("lib/a.dll", b"a")
        .build();
    let request = SignatureRequest {
        kind: SignatureKind::Author,
        hash_algorithm: HashAlgorithm::Sha256,
        package_hash: HashAlgorithm::Sha256.digest(&unsigned),
        signing_time: at(t0),
    };
    let signature = build_primary_signature(&request, &signer(&leaf)).unwrap();

    let mut trust = TrustStore::empty();
    trust.add_roots(
        vec![signet_signature::Certificate::from_der(&pki().root.cert_der).unwrap()],
        "test",
    );
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new(
        Box::new(signer(&pki().timestamping)),
        AuthorityConfig::new(dir.path().join("serial")),
    )
    .unwrap();
    let loaded = signet_signature::PrimarySignature::load(&signature, &Default::default()).unwrap();
    let token = request_timestamp(
        "http://tsa.invalid/",
        loaded.signature_value(),
        HashAlgorithm::Sha256,
        [7u8; 32],
        &InProcess {
            authority: &authority,
            now: at(t0),
        },
        &trust,
        at(t0),
    )
    .unwrap();
    let timestamped = signet_signature::add_timestamp(&signature, token.der()).unwrap();

    let package = |sig: &[u8]| {
        let mut out = Vec::new();
        signet_nupkg::append_signature(
            Cursor::new(&unsigned),
            sig,
            0,
            &mut out,
            &Default::default(),
        )
        .unwrap();
        out
    };
    let verify = |bytes: Vec<u8>, now: UtcTime| {
        let options = VerifyOptions::new(
            VerifierSettings::verify_command(RevocationMode::Offline),
            now,
        );
        verify_package(Cursor::new(bytes), &trust, &options)
    };
    let after_expiry = at(t0 + time::Duration::hours(1));

    // Timestamped: valid before and after the certificate's expiry.
    let r = verify(package(&timestamped), at(t0));
    assert!(r.valid, "{:#?}", r.issues);
    let r = verify(package(&timestamped), after_expiry);
    assert!(r.valid, "{:#?}", r.issues);
    assert_eq!(r.error_count(), 0);
    assert!(r.signatures[0].timestamp.as_ref().unwrap().valid);

    // Not timestamped: NU3037 once the certificate has expired (and an NU3027 warning).
    let r = verify(package(&signature), after_expiry);
    assert!(!r.valid);
    let errors: Vec<_> = r
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .filter_map(|i| i.code)
        .collect();
    assert_eq!(errors, [NuCode::NU3037], "{:#?}", r.issues);
    assert!(r.issues.iter().any(|i| i.code == Some(NuCode::NU3027)));
}
