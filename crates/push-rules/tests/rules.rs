//! The multi-owner matrix of NuGet.org's signed-push rules (both required-signer overrides)
//! with real signatures, and the certificate-upload checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::SoftwareSigner;
use signet_push_rules::{
    CertificateLint, Owner, PushRejection, RequiredSigner, check_certificate_upload,
    check_push_signing, push_verifier_settings, signing_rules,
};
use signet_signature::{
    Certificate, Limits, PrimarySignature, SignatureKind, SignatureRequest, build_primary_signature,
};
use signet_test_support::{CertKey, pki};
use signet_trust::{RevocationMode, TrustStore};

fn sign(cert: &CertKey, kind: SignatureKind) -> PrimarySignature {
    let p = pki();
    let signer = SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        p.chain_pem(cert).as_bytes(),
    )
    .unwrap();
    let der = build_primary_signature(
        &SignatureRequest {
            kind,
            hash_algorithm: HashAlgorithm::Sha256,
            package_hash: vec![1; 32],
            signing_time: UtcTime::now(),
        },
        &signer,
    )
    .unwrap();
    PrimarySignature::load(&der, &Limits::default()).unwrap()
}

fn owner(name: &str, certs: &[&CertKey]) -> Owner {
    Owner {
        name: name.into(),
        certificates: certs.iter().map(|c| c.sha256_fingerprint_hex()).collect(),
    }
}

#[test]
fn the_multi_owner_matrix() {
    let p = pki();
    let a = sign(&p.code_signing, SignatureKind::Author); // alice's certificate
    let b = sign(&p.code_signing_no_ski, SignatureKind::Author); // bob's certificate
    let c = sign(&p.lifetime_signing, SignatureKind::Author); // nobody's
    let alice = owner("alice", &[&p.code_signing]);
    let bob = owner("bob", &[&p.code_signing_no_ski]);
    let carol = owner("carol", &[]);
    let any = RequiredSigner::Any;
    let unauthorized = |s: &PrimarySignature| PushRejection::UnauthorizedCertificate {
        fingerprint: s.certificate().sha256_hex().to_lowercase(),
    };
    struct Case<'a> {
        what: &'a str,
        owners: Vec<Owner>,
        required: RequiredSigner,
        pusher: &'a str,
        unsigned: Result<(), PushRejection>,
        signed: Vec<(&'a PrimarySignature, Result<(), PushRejection>)>,
    }
    let cases = vec![
        Case {
            what: "single owner with certificates: must sign with one of them",
            owners: vec![alice.clone()],
            required: any.clone(),
            pusher: "alice",
            unsigned: Err(PushRejection::MustBeSigned),
            signed: vec![(&a, Ok(())), (&b, Err(unauthorized(&b)))],
        },
        Case {
            what: "single owner without certificates: unsigned only",
            owners: vec![carol.clone()],
            required: any.clone(),
            pusher: "carol",
            unsigned: Ok(()),
            signed: vec![(&a, Err(PushRejection::SigningNotAllowed { owner: None }))],
        },
        Case {
            what: "mixed owners, Any: unsigned allowed, signed only with an owner's certificate",
            owners: vec![alice.clone(), carol.clone()],
            required: any.clone(),
            pusher: "carol",
            unsigned: Ok(()),
            signed: vec![(&a, Ok(())), (&b, Err(unauthorized(&b)))],
        },
        Case {
            what: "all owners with certificates, Any: any owner's certificate",
            owners: vec![alice.clone(), bob.clone()],
            required: any.clone(),
            pusher: "bob",
            unsigned: Err(PushRejection::MustBeSigned),
            signed: vec![(&a, Ok(())), (&b, Ok(())), (&c, Err(unauthorized(&c)))],
        },
        Case {
            what: "override 1: a specific owner's certificate",
            owners: vec![alice.clone(), bob.clone()],
            required: RequiredSigner::Account("alice".into()),
            pusher: "bob",
            unsigned: Err(PushRejection::MustBeSigned),
            signed: vec![(&a, Ok(())), (&b, Err(unauthorized(&b)))],
        },
        Case {
            what: "override 2: 'no certificate' (the required signer has none): unsigned only",
            owners: vec![alice.clone(), carol.clone()],
            required: RequiredSigner::Account("carol".into()),
            pusher: "alice",
            unsigned: Ok(()),
            signed: vec![(
                &a,
                Err(PushRejection::SigningNotAllowed {
                    owner: Some("carol".into()),
                }),
            )],
        },
        Case {
            what: "a new id: the pusher is the only owner",
            owners: vec![bob.clone()],
            required: any.clone(),
            pusher: "bob",
            unsigned: Err(PushRejection::MustBeSigned),
            signed: vec![(&b, Ok(())), (&a, Err(unauthorized(&a)))],
        },
    ];
    for case in &cases {
        assert_eq!(
            check_push_signing(&case.owners, &case.required, &[], case.pusher, None),
            case.unsigned,
            "{}: unsigned",
            case.what
        );
        for (sig, want) in &case.signed {
            assert_eq!(
                &check_push_signing(&case.owners, &case.required, &[], case.pusher, Some(sig)),
                want,
                "{}: signed by {}",
                case.what,
                sig.certificate().subject()
            );
        }
    }
    // Fingerprints compare case-insensitively.
    let upper = Owner {
        name: "alice".into(),
        certificates: vec![p.code_signing.sha256_fingerprint_hex().to_uppercase()],
    };
    assert_eq!(
        check_push_signing(&[upper], &any, &[], "alice", Some(&a)),
        Ok(())
    );
    // A required signer that is no longer an owner is still honoured (NuGet.org keeps it).
    let stale = RequiredSigner::Account("dave".into());
    let dave = owner("dave", &[&p.code_signing_no_ski]);
    assert_eq!(
        signing_rules(
            std::slice::from_ref(&alice),
            &stale,
            std::slice::from_ref(&dave)
        ),
        signet_push_rules::SigningRules {
            required: true,
            allowed: true
        }
    );
    assert_eq!(
        check_push_signing(
            std::slice::from_ref(&alice),
            &stale,
            &[dave],
            "alice",
            Some(&b)
        ),
        Ok(())
    );
    // Only author primary signatures.
    let repo = sign(
        &p.repository,
        SignatureKind::Repository {
            service_index: "https://feed.example.test/v3/index.json".into(),
            owners: vec![],
        },
    );
    assert_eq!(
        check_push_signing(
            std::slice::from_ref(&alice),
            &any,
            &[],
            "alice",
            Some(&repo)
        ),
        Err(PushRejection::OnlyAuthorSignatures)
    );
    // Messages are NuGet.org's.
    assert_eq!(
        PushRejection::MustBeSigned.message(),
        "This package must be signed with a registered certificate."
    );
    assert_eq!(
        PushRejection::SigningNotAllowed {
            owner: Some("carol".into())
        }
        .message(),
        "The package was signed. The owner 'carol' must register the signing certificate to publish signed packages."
    );
}

#[test]
fn push_settings_are_nuget_org_s() {
    let s = push_verifier_settings(RevocationMode::Online);
    assert!(!s.allow_unsigned && !s.allow_illegal && !s.allow_untrusted);
    assert!(!s.allow_no_timestamp && !s.allow_multiple_timestamps && !s.allow_ignore_timestamp);
    assert!(s.allow_unknown_revocation && s.report_unknown_revocation);
}

fn store() -> TrustStore {
    let mut s = TrustStore::empty();
    s.add_roots(
        vec![Certificate::from_der(&pki().root.cert_der).unwrap()],
        "test",
    );
    s
}

#[test]
fn certificate_upload_checks_and_lint() {
    let p = pki();
    let inter = vec![Certificate::from_der(&p.intermediate.cert_der).unwrap()];
    let now = UtcTime::now();
    let roots = store();
    let ok =
        check_certificate_upload("me.CER", &p.code_signing.cert_der, &roots, &inter, now).unwrap();
    assert!(ok.warnings.is_empty(), "{:?}", ok.warnings);
    assert_eq!(
        ok.fingerprint,
        p.code_signing.sha256_fingerprint_hex().to_lowercase()
    );
    assert_eq!(
        ok.fingerprint,
        hex(&HashAlgorithm::Sha256.digest(&p.code_signing.cert_der))
    );

    let err = |name: &str, bytes: &[u8]| {
        check_certificate_upload(name, bytes, &roots, &inter, now).unwrap_err()
    };
    assert_eq!(
        err("me.crt", &p.code_signing.cert_der),
        "The file extension must be .cer."
    );
    assert_eq!(err("me.cer", b""), "The file length is invalid.");
    assert_eq!(
        err("me.cer", &vec![0x30; 10_001]),
        "The file exceeds the size limit of 10000 bytes."
    );
    let der_msg = "The file must be a DER encoded binary X.509 certificate.";
    assert_eq!(err("me.cer", p.code_signing.cert_pem().as_bytes()), der_msg);
    let mut trailing = p.code_signing.cert_der.clone();
    trailing.push(0);
    assert_eq!(err("me.cer", &trailing), der_msg);
    // A PKCS#12 starts SEQUENCE { INTEGER 3 ...
    assert_eq!(err("me.cer", &[0x30, 0x03, 0x02, 0x01, 0x03]), der_msg);

    let lint = |c: &CertKey, roots: &TrustStore| {
        check_certificate_upload("c.cer", &c.cert_der, roots, &inter, now)
            .unwrap()
            .warnings
    };
    assert!(lint(&p.self_signed, &roots).contains(&CertificateLint::SelfIssued));
    assert!(lint(&p.expired, &roots).contains(&CertificateLint::Expired));
    assert!(lint(&p.not_yet_valid, &roots).contains(&CertificateLint::NotYetValid));
    assert!(lint(&p.wrong_eku, &roots).contains(&CertificateLint::NotCodeSigning));
    assert!(matches!(
        lint(&p.rsa1024, &roots).as_slice(),
        [CertificateLint::WeakKey { bits: Some(1024) }, ..]
    ));
    let untrusted = lint(&p.code_signing, &TrustStore::empty());
    assert!(
        matches!(untrusted.as_slice(), [CertificateLint::Untrusted { .. }]),
        "{untrusted:?}"
    );
    assert!(untrusted[0].message().contains("NU3018"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
