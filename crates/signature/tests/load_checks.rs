//! Negative tests for the checks NuGet makes when it loads a signature (spec
//! `../shared/spec/nuget-signatures.md` §3.3, §3.4, §3.7, §3.8 and the codes of §6): every rule
//! is broken on its own in a signature built with the test PKI (or, for timestamps, in a real
//! token from `../shared/interop`), and the exact NU code is asserted.
//!
//! Malformed primary signatures come from `build_primary_signature_with`, the builder's test hook:
//! the edit runs before the signed attributes are signed, so every signature here is
//! cryptographically sound and only the rule under test is broken.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use base64::Engine;
use const_oid::ObjectIdentifier;
use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_keys::SoftwareSigner;
use signet_signature::{
    BuildParts, Certificate, Countersignature, Error, Limits, PrimarySignature,
    SignatureCheckError, SignatureKind, SignatureRequest, SignatureType, Timestamp,
    build_primary_signature, build_primary_signature_with, oids,
};
use signet_test_support::{CertKey, interop_dir, pki};

// --- DER ------------------------------------------------------------------------------------

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const UTF8_STRING: u8 = 0x0c;
const IA5_STRING: u8 = 0x16;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// `[0]` constructed: SignedData certificates, eContent, SignerInfo signedAttrs.
const CTX0: u8 = 0xa0;
/// `[4]` constructed: GeneralName directoryName.
const DIRECTORY_NAME: u8 = 0xa4;

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    BuildParts::encode(tag, content)
}

fn seq(children: &[&[u8]]) -> Vec<u8> {
    der(SEQUENCE, &children.concat())
}

/// (header length, total length) of the definite-length element at the start of `data`.
fn header(data: &[u8]) -> (usize, usize) {
    let l0 = data[1];
    if l0 < 0x80 {
        return (2, 2 + usize::from(l0));
    }
    let n = usize::from(l0 & 0x7f);
    let len = data[2..2 + n]
        .iter()
        .fold(0usize, |a, b| (a << 8) | usize::from(*b));
    (2 + n, 2 + n + len)
}

/// The contents octets of the element `raw`.
fn contents(raw: &[u8]) -> &[u8] {
    let (h, total) = header(raw);
    &raw[h..total]
}

/// The raw elements that make up `data`.
fn children(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (_, total) = header(data);
        out.push(data[..total].to_vec());
        data = &data[total..];
    }
    out
}

/// Rebuilds the constructed element `raw` after `f` has edited its children.
fn edit_children(raw: &[u8], f: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let mut kids = children(contents(raw));
    f(&mut kids);
    der(raw[0], &kids.concat())
}

/// Rebuilds a DER `ContentInfo { signedData, [0] SignedData }` after `f` has edited the
/// SignedData's fields (version, digestAlgorithms, encapContentInfo, [0] certificates,
/// [1] crls, signerInfos).
fn edit_signed_data(content_info: &[u8], f: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    edit_children(content_info, |ci| {
        ci[1] = edit_children(&ci[1], |explicit| {
            explicit[0] = edit_children(&explicit[0], f);
        });
    })
}

/// The SignerInfos of a DER `ContentInfo` holding SignedData.
fn signer_infos(content_info: &[u8]) -> Vec<Vec<u8>> {
    let ci = children(contents(content_info));
    let sd = children(contents(&children(contents(&ci[1]))[0]));
    children(contents(sd.last().unwrap()))
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

// --- building -------------------------------------------------------------------------------

const SERVICE_INDEX: &str = "https://api.example.test/v3/index.json";

fn signer(cert: &CertKey) -> SoftwareSigner {
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        pki().chain_pem(cert).as_bytes(),
    )
    .unwrap()
}

fn author() -> SignatureKind {
    SignatureKind::Author
}

fn repository() -> SignatureKind {
    SignatureKind::Repository {
        service_index: SERVICE_INDEX.into(),
        owners: vec!["owner".into()],
    }
}

fn request(kind: SignatureKind) -> SignatureRequest {
    SignatureRequest {
        kind,
        hash_algorithm: HashAlgorithm::Sha256,
        package_hash: HashAlgorithm::Sha256.digest(b"the package"),
        signing_time: UtcTime::from_civil(2024, 3, 4, 5, 6, 7, 0).unwrap(),
    }
}

/// A primary signature by `cert` of `kind`, with `edit` applied before signing.
fn build_by(cert: &CertKey, kind: SignatureKind, edit: &dyn Fn(&mut BuildParts)) -> Vec<u8> {
    build_primary_signature_with(&request(kind), &signer(cert), edit).unwrap()
}

/// A primary signature by the code-signing leaf.
fn build(kind: SignatureKind, edit: &dyn Fn(&mut BuildParts)) -> Vec<u8> {
    build_by(&pki().code_signing, kind, edit)
}

fn leaf() -> Certificate {
    Certificate::from_der(&pki().code_signing.cert_der).unwrap()
}

/// Replaces every signed attribute of type `oid` by one attribute with `values`.
fn replace(parts: &mut BuildParts, oid: &ObjectIdentifier, values: &[&[u8]]) {
    parts.remove_signed_attribute(oid);
    parts
        .signed_attributes
        .push(BuildParts::encode_attribute(oid, values));
}

// --- loading --------------------------------------------------------------------------------

/// Loads with the default limits; a panic fails the test with the case name.
fn load(case: &str, bytes: &[u8]) -> Result<PrimarySignature, Error> {
    load_with(case, bytes, &Limits::default())
}

fn load_with(case: &str, bytes: &[u8], limits: &Limits) -> Result<PrimarySignature, Error> {
    catch_unwind(AssertUnwindSafe(|| PrimarySignature::load(bytes, limits)))
        .unwrap_or_else(|_| panic!("{case}: loading panicked"))
}

/// Asserts that loading fails with `code`.
fn assert_load_fails(case: &str, bytes: &[u8], code: NuCode) {
    match load(case, bytes) {
        Ok(_) => panic!("{case}: loaded, expected {code}"),
        Err(e) => assert_eq!(e.code(), code, "{case}: {e}"),
    }
}

fn loaded(case: &str, bytes: &[u8]) -> PrimarySignature {
    load(case, bytes).unwrap_or_else(|e| panic!("{case}: {e}"))
}

// --- ESS values (§3.4) ----------------------------------------------------------------------

/// An ESSCertIDv2; `alg: None` omits hashAlgorithm (SHA-256 by default), `issuer_serial: None`
/// omits issuerSerial.
fn ess_cert_id_v2(
    alg: Option<&ObjectIdentifier>,
    hash: &[u8],
    issuer_serial: Option<(&[u8], &[u8])>,
) -> Vec<u8> {
    let mut fields = Vec::new();
    if let Some(alg) = alg {
        fields.push(seq(&[&BuildParts::encode_oid(alg)]));
    }
    fields.push(der(OCTET_STRING, hash));
    if let Some((issuer, serial)) = issuer_serial {
        let names = seq(&[&der(DIRECTORY_NAME, issuer)]);
        fields.push(seq(&[&names, &der(INTEGER, serial)]));
    }
    der(SEQUENCE, &fields.concat())
}

/// SigningCertificate(V2) `{ certs SEQUENCE OF ESSCertID(v2) }`.
fn signing_certificate(ids: &[Vec<u8>]) -> Vec<u8> {
    seq(&[&der(SEQUENCE, &ids.concat())])
}

/// The ESSCertIDv2 NuGet writes for the code-signing leaf.
fn leaf_cert_id_v2() -> Vec<u8> {
    let leaf = leaf();
    ess_cert_id_v2(
        Some(&oids::SHA256),
        &leaf.fingerprint(HashAlgorithm::Sha256),
        Some((leaf.issuer_der(), leaf.serial_bytes())),
    )
}

fn set_ess_v2(parts: &mut BuildParts, ids: &[Vec<u8>]) {
    replace(
        parts,
        &oids::SIGNING_CERTIFICATE_V2,
        &[&signing_certificate(ids)],
    );
}

/// A commitment-type-indication value `{ commitmentTypeId }`.
fn commitment(oid: &ObjectIdentifier) -> Vec<u8> {
    seq(&[&BuildParts::encode_oid(oid)])
}

/// The §2 content with `version` and the request's package hash.
fn content_with_version(version: &str) -> Vec<u8> {
    let hash = request(author()).package_hash;
    let b64 = base64::engine::general_purpose::STANDARD.encode(hash);
    format!("Version:{version}\n\n2.16.840.1.101.3.4.2.1-Hash:{b64}\n\n").into_bytes()
}

/// Replaces the content and its messageDigest, so that only the content text is wrong.
fn set_content(parts: &mut BuildParts, content: Vec<u8>) {
    let digest = der(OCTET_STRING, &HashAlgorithm::Sha256.digest(&content));
    replace(parts, &oids::MESSAGE_DIGEST, &[&digest]);
    parts.content = content;
}

type Edit = Box<dyn Fn(&mut BuildParts)>;

// --- the hook itself ------------------------------------------------------------------------

#[test]
fn the_hook_with_a_no_op_edit_is_byte_identical_to_the_builder() {
    for cert in [&pki().code_signing, &pki().code_signing_no_ski] {
        for kind in [author(), repository()] {
            let req = request(kind.clone());
            let s = signer(cert);
            assert_eq!(
                build_primary_signature(&req, &s).unwrap(),
                build_primary_signature_with(&req, &s, &|_| {}).unwrap(),
                "{kind:?}"
            );
        }
    }
    // The parts an edit sees are what the builder writes.
    build(author(), &|parts| {
        assert_eq!(parts.signer_info_copies, 1);
        assert!(parts.unsigned_attributes.is_empty());
        let mut chain = pki().chain_der(&pki().code_signing);
        chain.sort();
        assert_eq!(parts.certificates, chain);
        assert_eq!(parts.content, content_with_version("1"));
        assert_eq!(parts.signed_attributes.len(), 5);
    });
}

#[test]
fn unedited_signatures_load_and_verify() {
    for (kind, expected) in [
        (author(), SignatureType::Author),
        (repository(), SignatureType::Repository),
    ] {
        let sig = loaded("unedited", &build(kind, &|_| {}));
        assert_eq!(sig.signature_type(), expected);
        sig.verify_signature_value().unwrap();
    }
    // The ESS value crafted here is exactly the builder's, so the mutations below change only
    // the field under test.
    assert_eq!(
        build(author(), &|p| set_ess_v2(p, &[leaf_cert_id_v2()])),
        build(author(), &|_| {})
    );
    // hashAlgorithm omitted means SHA-256 (§3.4).
    let leaf = leaf();
    let omitted = ess_cert_id_v2(
        None,
        &leaf.fingerprint(HashAlgorithm::Sha256),
        Some((leaf.issuer_der(), leaf.serial_bytes())),
    );
    loaded(
        "hashAlgorithm omitted",
        &build(author(), &|p| set_ess_v2(p, std::slice::from_ref(&omitted))),
    );
}

// --- NU3009 ---------------------------------------------------------------------------------

#[test]
fn nu3009_not_exactly_one_signer_info() {
    for copies in [0, 2, 3] {
        let bytes = build(author(), &|p| p.signer_info_copies = copies);
        assert_load_fails(&format!("{copies} SignerInfos"), &bytes, NuCode::NU3009);
    }
}

// --- NU3010 ---------------------------------------------------------------------------------

#[test]
fn nu3010_signer_certificate_not_embedded() {
    // subjectKeyIdentifier sid, and issuerAndSerialNumber sid (leaf without SKI).
    for cert in [&pki().code_signing, &pki().code_signing_no_ski] {
        let bytes = build_by(cert, author(), &|p| {
            p.certificates.retain(|c| c != &cert.cert_der);
        });
        assert_load_fails("leaf omitted", &bytes, NuCode::NU3010);
    }
    let bytes = build(author(), &|p| p.certificates.clear());
    assert_load_fails("no certificates", &bytes, NuCode::NU3010);
    // Another leaf from the same issuer does not stand in for the signer's.
    let bytes = build(author(), &|p| {
        p.certificates.retain(|c| c != &pki().code_signing.cert_der);
        p.certificates.push(pki().repository.cert_der.clone());
    });
    assert_load_fails("wrong leaf", &bytes, NuCode::NU3010);
}

// --- NU3011 ---------------------------------------------------------------------------------

#[test]
fn nu3011_signing_certificate_rules() {
    let leaf = leaf();
    let hash = leaf.fingerprint(HashAlgorithm::Sha256);
    let issuer = leaf.issuer_der().to_vec();
    let serial = leaf.serial_bytes().to_vec();
    let mut wrong_serial = serial.clone();
    *wrong_serial.last_mut().unwrap() ^= 0x01;
    let root_hash = Certificate::from_der(&pki().root.cert_der)
        .unwrap()
        .fingerprint(HashAlgorithm::Sha256);
    let sha1_hash = from_hex(&leaf.sha1_hex());
    let v1 = seq(&[&der(
        SEQUENCE,
        &seq(&[
            &der(OCTET_STRING, &sha1_hash),
            &seq(&[
                &seq(&[&der(DIRECTORY_NAME, &issuer)]),
                &der(INTEGER, &serial),
            ]),
        ]),
    )]);

    let with_id =
        |id: Vec<u8>| -> Edit { Box::new(move |p| set_ess_v2(p, std::slice::from_ref(&id))) };
    // (case, what the error says, edit)
    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "signing-certificate-v2 missing",
            "v2 attribute is missing",
            Box::new(|p| {
                assert_eq!(p.remove_signed_attribute(&oids::SIGNING_CERTIFICATE_V2), 1);
            }),
        ),
        (
            "signing-certificate (v1) present",
            "signing-certificate attribute is not allowed",
            Box::new(move |p| {
                p.signed_attributes.push(BuildParts::encode_attribute(
                    &oids::SIGNING_CERTIFICATE,
                    &[&v1],
                ));
            }),
        ),
        (
            "signing-certificate-v2 with two values",
            "exactly one value",
            Box::new(|p| {
                let a = signing_certificate(&[leaf_cert_id_v2()]);
                let b = signing_certificate(&[leaf_cert_id_v2(), leaf_cert_id_v2()]);
                replace(p, &oids::SIGNING_CERTIFICATE_V2, &[&a, &b]);
            }),
        ),
        (
            "signing-certificate-v2 attribute twice",
            "exactly one value",
            Box::new(|p| {
                let v = signing_certificate(&[leaf_cert_id_v2()]);
                p.signed_attributes.push(BuildParts::encode_attribute(
                    &oids::SIGNING_CERTIFICATE_V2,
                    &[&v],
                ));
            }),
        ),
        (
            "signing-certificate-v2 without certificates",
            "lists no certificates",
            Box::new(|p| set_ess_v2(p, &[])),
        ),
        (
            "wrong certificate hash",
            "hash does not match",
            with_id(ess_cert_id_v2(
                Some(&oids::SHA256),
                &root_hash,
                Some((&issuer, &serial)),
            )),
        ),
        (
            "wrong serial",
            "issuerSerial does not match",
            with_id(ess_cert_id_v2(
                Some(&oids::SHA256),
                &hash,
                Some((&issuer, &wrong_serial)),
            )),
        ),
        (
            "wrong issuer",
            "issuerSerial does not match",
            with_id(ess_cert_id_v2(
                Some(&oids::SHA256),
                &hash,
                Some((leaf.subject_der(), &serial)),
            )),
        ),
        (
            "SHA-1 hash algorithm",
            "unsupported hash algorithm",
            with_id(ess_cert_id_v2(
                Some(&oids::SHA1),
                &sha1_hash,
                Some((&issuer, &serial)),
            )),
        ),
        (
            "no issuerSerial",
            "has no issuerSerial",
            with_id(ess_cert_id_v2(Some(&oids::SHA256), &hash, None)),
        ),
        (
            "issuerSerial without names",
            "has no names",
            with_id(der(
                SEQUENCE,
                &[
                    seq(&[&BuildParts::encode_oid(&oids::SHA256)]),
                    der(OCTET_STRING, &hash),
                    seq(&[&der(SEQUENCE, &[]), &der(INTEGER, &serial)]),
                ]
                .concat(),
            )),
        ),
        (
            "signing-time missing",
            "signing-time attribute is missing",
            Box::new(|p| {
                assert_eq!(p.remove_signed_attribute(&oids::SIGNING_TIME), 1);
            }),
        ),
    ];
    for (case, why, edit) in &cases {
        for kind in [author(), repository()] {
            let case = format!("{case} ({kind:?})");
            let e = load(&case, &build(kind, edit.as_ref())).expect_err(&case);
            assert_eq!(e.code(), NuCode::NU3011, "{case}: {e}");
            assert!(e.to_string().contains(why), "{case}: {e}");
        }
    }
    // Only the first ESSCertIDv2 is matched: a wrong second one is fine.
    let second = ess_cert_id_v2(Some(&oids::SHA256), &root_hash, None);
    let bytes = build(author(), &|p| {
        set_ess_v2(p, &[leaf_cert_id_v2(), second.clone()])
    });
    loaded("wrong second ESSCertIDv2", &bytes);
}

// --- NU3000 ---------------------------------------------------------------------------------

#[test]
fn nu3000_commitment_types() {
    let origin = commitment(&oids::PROOF_OF_ORIGIN);
    let receipt = commitment(&oids::PROOF_OF_RECEIPT);
    let cases: Vec<(&str, Edit)> = vec![
        (
            "proofOfOrigin and proofOfReceipt in one attribute",
            Box::new({
                let (o, r) = (origin.clone(), receipt.clone());
                move |p| replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&o, &r])
            }),
        ),
        (
            "proofOfOrigin and proofOfReceipt in two attributes",
            Box::new({
                let r = receipt.clone();
                move |p| {
                    p.signed_attributes.push(BuildParts::encode_attribute(
                        &oids::COMMITMENT_TYPE_INDICATION,
                        &[&r],
                    ));
                }
            }),
        ),
        (
            "empty commitmentTypeQualifier",
            Box::new(|p| {
                let v = seq(&[
                    &BuildParts::encode_oid(&oids::PROOF_OF_ORIGIN),
                    &der(SEQUENCE, &[]),
                ]);
                replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&v]);
            }),
        ),
    ];
    for (case, edit) in &cases {
        assert_load_fails(case, &build(author(), edit.as_ref()), NuCode::NU3000);
    }
    // A non-empty qualifier list is allowed.
    let qualified = seq(&[
        &BuildParts::encode_oid(&oids::PROOF_OF_ORIGIN),
        &seq(&[&seq(&[&BuildParts::encode_oid(&oids::DATA)])]),
    ]);
    let sig = loaded(
        "qualified commitment",
        &build(author(), &|p| {
            replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&qualified]);
        }),
    );
    assert_eq!(sig.signature_type(), SignatureType::Author);
}

#[test]
fn nu3000_repository_attributes() {
    let url = |u: &'static str| -> Edit {
        Box::new(move |p| {
            replace(
                p,
                &oids::NUGET_V3_SERVICE_INDEX_URL,
                &[&der(IA5_STRING, u.as_bytes())],
            );
        })
    };
    let owners = |list: &'static [&'static str]| -> Edit {
        Box::new(move |p| {
            let items: Vec<u8> = list
                .iter()
                .flat_map(|o| der(UTF8_STRING, o.as_bytes()))
                .collect();
            replace(p, &oids::NUGET_PACKAGE_OWNERS, &[&der(SEQUENCE, &items)]);
        })
    };
    let cases: Vec<(&str, Edit)> = vec![
        (
            "http service index",
            url("http://api.example.test/v3/index.json"),
        ),
        ("relative service index", url("/v3/index.json")),
        ("empty service index", url("")),
        (
            "no service index",
            Box::new(|p| {
                assert_eq!(
                    p.remove_signed_attribute(&oids::NUGET_V3_SERVICE_INDEX_URL),
                    1
                );
            }),
        ),
        (
            "service index with two values",
            Box::new(|p| {
                let a = der(IA5_STRING, SERVICE_INDEX.as_bytes());
                let b = der(IA5_STRING, b"https://other.example.test/v3/index.json");
                replace(p, &oids::NUGET_V3_SERVICE_INDEX_URL, &[&a, &b]);
            }),
        ),
        ("owner is an empty string", owners(&["owner", ""])),
        ("owner is whitespace", owners(&["  "])),
        ("no owners in the list", owners(&[])),
        (
            "owners with two values",
            Box::new(|p| {
                let a = seq(&[&der(UTF8_STRING, b"a")]);
                let b = seq(&[&der(UTF8_STRING, b"b")]);
                replace(p, &oids::NUGET_PACKAGE_OWNERS, &[&a, &b]);
            }),
        ),
    ];
    for (case, edit) in &cases {
        assert_load_fails(case, &build(repository(), edit.as_ref()), NuCode::NU3000);
    }
    // The same attributes on an author signature are not read.
    loaded(
        "author with an http service index",
        &build(author(), &*url("http://api.example.test/v3/index.json")),
    );
}

#[test]
fn nu3000_signing_certificate_structure() {
    // Structural problems NuGet's own ESS decoder finds are thrown without a code (§3.4).
    let leaf = leaf();
    let hash = leaf.fingerprint(HashAlgorithm::Sha256);
    let serial = leaf.serial_bytes().to_vec();
    let uri_name = seq(&[
        &seq(&[&der(0x86, b"https://issuer.example.test/")]),
        &der(INTEGER, &serial),
    ]);
    let other_name = der(
        SEQUENCE,
        &[
            seq(&[&BuildParts::encode_oid(&oids::SHA256)]),
            der(OCTET_STRING, &hash),
            uri_name,
        ]
        .concat(),
    );
    let with_params = der(
        SEQUENCE,
        &[
            seq(&[
                &BuildParts::encode_oid(&oids::SHA256),
                &der(OCTET_STRING, b"x"),
            ]),
            der(OCTET_STRING, &hash),
        ]
        .concat(),
    );
    let trailing = seq(&[
        &der(SEQUENCE, &leaf_cert_id_v2()),
        &der(SEQUENCE, &[]),
        &der(INTEGER, &[1]),
    ]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "GeneralName other than directoryName",
            signing_certificate(&[other_name]),
        ),
        (
            "hashAlgorithm with parameters",
            signing_certificate(&[with_params]),
        ),
        ("data after the policies", trailing),
    ];
    for (case, value) in &cases {
        let bytes = build(author(), &|p| {
            replace(p, &oids::SIGNING_CERTIFICATE_V2, &[value]);
        });
        assert_load_fails(case, &bytes, NuCode::NU3000);
    }
    // NULL parameters are accepted.
    let null_params = der(
        SEQUENCE,
        &[
            seq(&[&BuildParts::encode_oid(&oids::SHA256), &[0x05, 0x00]]),
            der(OCTET_STRING, &hash),
            seq(&[
                &seq(&[&der(DIRECTORY_NAME, leaf.issuer_der())]),
                &der(INTEGER, &serial),
            ]),
        ]
        .concat(),
    );
    loaded(
        "hashAlgorithm with NULL parameters",
        &build(author(), &|p| {
            set_ess_v2(p, std::slice::from_ref(&null_params))
        }),
    );
}

// --- NU3003 ---------------------------------------------------------------------------------

#[test]
fn nu3003_duplicated_repository_attributes() {
    for (case, oid, value) in [
        (
            "service index twice",
            oids::NUGET_V3_SERVICE_INDEX_URL,
            der(IA5_STRING, SERVICE_INDEX.as_bytes()),
        ),
        (
            "owners twice",
            oids::NUGET_PACKAGE_OWNERS,
            seq(&[&der(UTF8_STRING, b"other")]),
        ),
    ] {
        let bytes = build(repository(), &|p| {
            p.signed_attributes
                .push(BuildParts::encode_attribute(&oid, &[&value]));
        });
        assert_load_fails(case, &bytes, NuCode::NU3003);
    }
}

#[test]
fn nu3003_garbage() {
    let good = build(author(), &|_| {});
    let mut trailing = good.clone();
    trailing.push(0);
    let mut wrong_type = good.clone();
    // ContentInfo contentType signedData (…7.2) → data (…7.1).
    let at = good
        .windows(9)
        .position(|w| w == [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02])
        .unwrap();
    wrong_type[at + 8] = 0x01;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("text", b"not a signature".to_vec()),
        ("zeros", vec![0; 64]),
        ("a lone SEQUENCE header", vec![0x30, 0x82, 0xff, 0xff]),
        ("an empty SEQUENCE", vec![0x30, 0x00]),
        ("trailing byte", trailing),
        ("ContentInfo of type data", wrong_type),
        ("half a signature", good[..good.len() / 2].to_vec()),
    ];
    for (case, bytes) in &cases {
        assert_load_fails(case, bytes, NuCode::NU3003);
    }
    for len in (0..good.len()).step_by(37) {
        assert_load_fails(&format!("truncated to {len}"), &good[..len], NuCode::NU3003);
    }
}

#[test]
fn nu3003_signature_over_the_size_limit() {
    let bytes = build(author(), &|_| {});
    let limits = |max| Limits {
        max_signature_size: max,
        ..Limits::default()
    };
    let e = load_with("one byte over", &bytes, &limits(bytes.len() - 1)).unwrap_err();
    assert_eq!(e.code(), NuCode::NU3003, "{e}");
    assert!(matches!(e, Error::Limit { .. }), "{e:?}");
    load_with("exactly at the limit", &bytes, &limits(bytes.len())).unwrap();
}

// --- Unknown type ---------------------------------------------------------------------------

#[test]
fn unknown_commitment_type_loads_without_ess_or_signing_time() {
    // id-cti-ets-proofOfDelivery (…16.6.3): neither origin nor receipt.
    let mut delivery = BuildParts::encode_oid(&oids::PROOF_OF_RECEIPT);
    *delivery.last_mut().unwrap() = 0x03;
    let unknown = seq(&[&delivery]);
    let bytes = build(author(), &|p| {
        replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&unknown]);
        p.remove_signed_attribute(&oids::SIGNING_CERTIFICATE_V2);
        p.remove_signed_attribute(&oids::SIGNING_TIME);
    });
    let sig = loaded("unknown commitment type", &bytes);
    assert_eq!(sig.signature_type(), SignatureType::Unknown);
    assert_eq!(sig.signing_time(), None);
    assert!(sig.repository_info().is_none());
    sig.verify_signature_value().unwrap();

    // No commitment-type-indication at all is Unknown too.
    let bytes = build(author(), &|p| {
        p.remove_signed_attribute(&oids::COMMITMENT_TYPE_INDICATION);
    });
    assert_eq!(
        loaded("no commitment type", &bytes).signature_type(),
        SignatureType::Unknown
    );

    // Unknown next to a known value: the known one decides.
    let bytes = build(author(), &|p| {
        p.signed_attributes.push(BuildParts::encode_attribute(
            &oids::COMMITMENT_TYPE_INDICATION,
            &[&unknown],
        ));
    });
    assert_eq!(
        loaded("unknown and origin", &bytes).signature_type(),
        SignatureType::Author
    );

    // A signing-certificate-v2 that is present is still matched (§3.4), so a wrong one is
    // NU3011 even for an Unknown signature; issuerSerial is optional there.
    let leaf = leaf();
    let root_hash = Certificate::from_der(&pki().root.cert_der)
        .unwrap()
        .fingerprint(HashAlgorithm::Sha256);
    let bytes = build(author(), &|p| {
        replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&unknown]);
        set_ess_v2(p, &[ess_cert_id_v2(Some(&oids::SHA256), &root_hash, None)]);
    });
    assert_load_fails("unknown with a wrong ESS hash", &bytes, NuCode::NU3011);
    let bytes = build(author(), &|p| {
        replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&unknown]);
        let hash = leaf.fingerprint(HashAlgorithm::Sha256);
        set_ess_v2(p, &[ess_cert_id_v2(Some(&oids::SHA256), &hash, None)]);
    });
    loaded("unknown without issuerSerial", &bytes);
}

// --- NU3007 / content -----------------------------------------------------------------------

#[test]
fn nu3007_content_version() {
    for kind in [author(), repository()] {
        let bytes = build(kind, &|p| set_content(p, content_with_version("2")));
        assert_load_fails("Version:2", &bytes, NuCode::NU3007);
    }
    // Malformed content text is NU3000 (§2).
    let mut unterminated = content_with_version("1");
    unterminated.pop();
    let bytes = build(author(), &|p| set_content(p, unterminated.clone()));
    assert_load_fails(
        "content without the final empty line",
        &bytes,
        NuCode::NU3000,
    );
}

// --- order of the checks (§3.8) -------------------------------------------------------------

#[test]
fn checks_run_in_nugets_order() {
    let both = |p: &mut BuildParts| {
        let o = commitment(&oids::PROOF_OF_ORIGIN);
        let r = commitment(&oids::PROOF_OF_RECEIPT);
        replace(p, &oids::COMMITMENT_TYPE_INDICATION, &[&o, &r]);
    };
    let no_leaf = |p: &mut BuildParts| {
        p.certificates.retain(|c| c != &pki().code_signing.cert_der);
    };
    let no_ess = |p: &mut BuildParts| {
        p.remove_signed_attribute(&oids::SIGNING_CERTIFICATE_V2);
    };
    let no_time = |p: &mut BuildParts| {
        p.remove_signed_attribute(&oids::SIGNING_TIME);
    };
    let version2 = |p: &mut BuildParts| set_content(p, content_with_version("2"));
    let http = |p: &mut BuildParts| {
        let v = der(IA5_STRING, b"http://api.example.test/v3/index.json");
        replace(p, &oids::NUGET_V3_SERVICE_INDEX_URL, &[&v]);
    };
    let cases: Vec<(&str, SignatureKind, Edit, NuCode)> = vec![
        (
            "two signers before conflicting types",
            author(),
            Box::new(move |p| {
                both(p);
                p.signer_info_copies = 2;
            }),
            NuCode::NU3009,
        ),
        (
            "conflicting types before the certificate",
            author(),
            Box::new(move |p| {
                both(p);
                no_leaf(p);
            }),
            NuCode::NU3000,
        ),
        (
            "certificate before ESS",
            author(),
            Box::new(move |p| {
                no_leaf(p);
                no_ess(p);
            }),
            NuCode::NU3010,
        ),
        (
            "signing-time before content",
            author(),
            Box::new(move |p| {
                no_time(p);
                version2(p);
            }),
            NuCode::NU3011,
        ),
        (
            "content before repository attributes",
            repository(),
            Box::new(move |p| {
                version2(p);
                http(p);
            }),
            NuCode::NU3007,
        ),
    ];
    for (case, kind, edit, code) in &cases {
        assert_load_fails(case, &build(kind.clone(), edit.as_ref()), *code);
    }
}

// --- repository countersignatures (§3.7) ----------------------------------------------------

/// The signature value of the unedited primary signature of `kind`.
fn primary_value(kind: SignatureKind) -> Vec<u8> {
    loaded("primary", &build(kind, &|_| {}))
        .signature_value()
        .to_vec()
}

/// A countersignature SignerInfo by the repository leaf over `primary_value`: a signature of
/// `kind` whose messageDigest is over the primary signature value, `edit` applied, taken out
/// of the SignedData the builder wraps it in.
fn countersignature(
    primary_value: &[u8],
    kind: SignatureKind,
    edit: &dyn Fn(&mut BuildParts),
) -> Vec<u8> {
    let digest = der(OCTET_STRING, &HashAlgorithm::Sha256.digest(primary_value));
    let carrier = build_by(&pki().repository, kind, &|p| {
        replace(p, &oids::MESSAGE_DIGEST, &[&digest]);
        edit(p);
    });
    signer_infos(&carrier).remove(0)
}

/// A `countersignature` unsigned attribute with `values`.
fn countersignature_attribute(values: &[&[u8]]) -> Vec<u8> {
    BuildParts::encode_attribute(&oids::COUNTERSIGNATURE, values)
}

/// The primary signature of `kind` with `attributes` as unsigned attributes and the repository
/// leaf added to the certificates (the unsigned attributes and the certificates are not signed,
/// so the signature value is that of the unedited signature).
fn with_unsigned(kind: SignatureKind, attributes: Vec<Vec<u8>>) -> Vec<u8> {
    build(kind, &|p| {
        p.certificates.push(pki().repository.cert_der.clone());
        p.unsigned_attributes.extend(attributes.iter().cloned());
    })
}

fn countersignature_of(
    case: &str,
    sig: &PrimarySignature,
) -> Result<Option<Countersignature>, Error> {
    catch_unwind(AssertUnwindSafe(|| sig.repository_countersignature()))
        .unwrap_or_else(|_| panic!("{case}: panicked"))
}

fn assert_countersignature_fails(case: &str, bytes: &[u8], code: NuCode) {
    let sig = loaded(case, bytes);
    match countersignature_of(case, &sig) {
        Ok(_) => panic!("{case}: accepted, expected {code}"),
        Err(e) => assert_eq!(e.code(), code, "{case}: {e}"),
    }
}

#[test]
fn repository_countersignature_is_found_and_verifies() {
    let value = primary_value(author());
    let cs = countersignature(&value, repository(), &|_| {});
    let bytes = with_unsigned(author(), vec![countersignature_attribute(&[&cs])]);
    let sig = loaded("countersigned", &bytes);
    assert_eq!(sig.signature_type(), SignatureType::Author);
    assert_eq!(sig.signature_value(), value.as_slice());
    sig.verify_signature_value().unwrap();
    let c = countersignature_of("countersigned", &sig)
        .unwrap()
        .expect("a repository countersignature");
    c.verify_signature_value(&sig).unwrap();
    assert_eq!(c.repository_info().service_index, SERVICE_INDEX);
    assert_eq!(c.repository_info().owners, ["owner"]);
    assert_eq!(c.signing_time(), request(author()).signing_time);
    assert_eq!(c.certificate().unwrap().der(), pki().repository.cert_der);
    assert_eq!(c.timestamp_count(), 0);

    // Over anything but the primary signature value the messageDigest does not match.
    let other = countersignature(b"something else", repository(), &|_| {});
    let bytes = with_unsigned(author(), vec![countersignature_attribute(&[&other])]);
    let sig = loaded("countersignature over other bytes", &bytes);
    let c = sig.repository_countersignature().unwrap().unwrap();
    assert_eq!(
        c.verify_signature_value(&sig),
        Err(SignatureCheckError::MessageDigest)
    );

    // Countersignatures of other types are ignored.
    let author_cs = countersignature(&value, author(), &|_| {});
    let bytes = with_unsigned(author(), vec![countersignature_attribute(&[&author_cs])]);
    let sig = loaded("author countersignature", &bytes);
    assert!(
        countersignature_of("author countersignature", &sig)
            .unwrap()
            .is_none()
    );
}

#[test]
fn nu3032_two_repository_countersignatures() {
    let value = primary_value(author());
    let cs = countersignature(&value, repository(), &|_| {});
    let later = countersignature(&value, repository(), &|p| {
        let t = der(0x17, b"240305060708Z");
        replace(p, &oids::SIGNING_TIME, &[&t]);
    });
    assert_ne!(cs, later);
    let one_attribute = with_unsigned(author(), vec![countersignature_attribute(&[&cs, &later])]);
    assert_countersignature_fails("two values", &one_attribute, NuCode::NU3032);
    let two_attributes = with_unsigned(
        author(),
        vec![
            countersignature_attribute(&[&cs]),
            countersignature_attribute(&[&later]),
        ],
    );
    assert_countersignature_fails("two attributes", &two_attributes, NuCode::NU3032);
    // An author countersignature next to the repository one does not count.
    let author_cs = countersignature(&value, author(), &|_| {});
    let bytes = with_unsigned(
        author(),
        vec![countersignature_attribute(&[&cs, &author_cs])],
    );
    let sig = loaded("repository and author countersignatures", &bytes);
    assert!(sig.repository_countersignature().unwrap().is_some());
}

#[test]
fn nu3031_countersignature_without_signing_time() {
    let value = primary_value(author());
    let cs = countersignature(&value, repository(), &|p| {
        assert_eq!(p.remove_signed_attribute(&oids::SIGNING_TIME), 1);
    });
    let bytes = with_unsigned(author(), vec![countersignature_attribute(&[&cs])]);
    assert_countersignature_fails("no signing-time", &bytes, NuCode::NU3031);
}

#[test]
fn nu3000_countersignature_without_service_index() {
    let value = primary_value(author());
    let cs = countersignature(&value, repository(), &|p| {
        p.remove_signed_attribute(&oids::NUGET_V3_SERVICE_INDEX_URL);
    });
    let bytes = with_unsigned(author(), vec![countersignature_attribute(&[&cs])]);
    assert_countersignature_fails("no service index", &bytes, NuCode::NU3000);
}

#[test]
fn nu3033_repository_primary_with_repository_countersignature() {
    let value = primary_value(repository());
    let cs = countersignature(&value, repository(), &|_| {});
    let bytes = with_unsigned(repository(), vec![countersignature_attribute(&[&cs])]);
    let sig = loaded("repository primary", &bytes);
    assert_eq!(sig.signature_type(), SignatureType::Repository);
    assert_countersignature_fails("repository countersigned", &bytes, NuCode::NU3033);
}

#[test]
fn nu3003_undecodable_countersignature() {
    let bytes = with_unsigned(
        author(),
        vec![countersignature_attribute(&[&der(OCTET_STRING, b"junk")])],
    );
    assert_countersignature_fails("not a SignerInfo", &bytes, NuCode::NU3003);
}

// --- timestamps (§3.8) ----------------------------------------------------------------------

/// The first timestamp token of `nuget.versioning.5.0.0.nupkg` (a DigiCert token), DER.
fn fixture_token() -> Vec<u8> {
    let path = interop_dir().join("packages/nuget.versioning.5.0.0.nupkg");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut p7s = Vec::new();
    zip.by_name(".signature.p7s")
        .unwrap()
        .read_to_end(&mut p7s)
        .unwrap();
    let sig = loaded("nuget.versioning", &p7s);
    let token = sig.timestamp_tokens()[0];
    Timestamp::parse(token, &Limits::default())
        .unwrap()
        .to_der()
        .to_vec()
}

fn parse_token(case: &str, token: &[u8]) -> Result<Timestamp, Error> {
    catch_unwind(AssertUnwindSafe(|| {
        Timestamp::parse(token, &Limits::default())
    }))
    .unwrap_or_else(|_| panic!("{case}: panicked"))
}

/// Asserts that parsing fails with `code` and a message containing `why`.
fn assert_token_fails(case: &str, token: &[u8], code: NuCode, why: &str) {
    match parse_token(case, token) {
        Ok(_) => panic!("{case}: accepted, expected {code}"),
        Err(e) => {
            assert_eq!(e.code(), code, "{case}: {e}");
            assert!(e.to_string().contains(why), "{case}: {e}");
        }
    }
}

/// Edits the token's encapContentInfo fields (eContentType, [0] eContent).
fn edit_encap(token: &[u8], f: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    edit_signed_data(token, |sd| sd[2] = edit_children(&sd[2], f))
}

#[test]
fn nu3021_timestamp_tstinfo_tampered() {
    let token = fixture_token();
    let flipped = edit_encap(&token, |eci| {
        eci[1] = edit_children(&eci[1], |wrapper| {
            *wrapper[0].last_mut().unwrap() ^= 0x01;
        });
    });
    assert_eq!(flipped.len(), token.len());
    assert_ne!(flipped, token);
    assert_token_fails(
        "TSTInfo byte flipped",
        &flipped,
        NuCode::NU3021,
        "message digest",
    );

    // Decoded lazily: the primary loads, its first timestamp does not.
    let bytes = build(author(), &|p| {
        p.unsigned_attributes.push(BuildParts::encode_attribute(
            &oids::TIMESTAMP_TOKEN,
            &[&flipped],
        ));
    });
    let sig = loaded("primary with a tampered token", &bytes);
    let e = sig.first_timestamp().unwrap_err();
    assert_eq!(e.code(), NuCode::NU3021, "{e}");
}

#[test]
fn nu3021_timestamp_structure() {
    let token = fixture_token();
    let two_signers = edit_signed_data(&token, |sd| {
        let last = sd.len() - 1;
        sd[last] = edit_children(&sd[last], |infos| infos.push(infos[0].clone()));
    });
    assert_token_fails(
        "two signers",
        &two_signers,
        NuCode::NU3021,
        "exactly one signer",
    );
    let no_signer = edit_signed_data(&token, |sd| {
        let last = sd.len() - 1;
        sd[last] = der(SET, &[]);
    });
    assert_token_fails(
        "no signer",
        &no_signer,
        NuCode::NU3021,
        "exactly one signer",
    );

    let data = edit_encap(&token, |eci| eci[0] = BuildParts::encode_oid(&oids::DATA));
    assert_token_fails("content type data", &data, NuCode::NU3021, "TSTInfo");

    // Without signing-certificate(-v2) in the token signer's signed attributes.
    let ess = [
        BuildParts::encode_oid(&oids::SIGNING_CERTIFICATE),
        BuildParts::encode_oid(&oids::SIGNING_CERTIFICATE_V2),
    ];
    let mut removed = 0;
    let no_ess = edit_signed_data(&token, |sd| {
        let last = sd.len() - 1;
        sd[last] = edit_children(&sd[last], |infos| {
            infos[0] = edit_children(&infos[0], |fields| {
                let attrs = fields.iter_mut().find(|f| f[0] == CTX0).unwrap();
                *attrs = edit_children(attrs, |list| {
                    let before = list.len();
                    list.retain(|a| !ess.contains(&children(contents(a))[0]));
                    removed = before - list.len();
                });
            });
        });
    });
    assert_eq!(removed, 1);
    assert_token_fails(
        "no ESS attribute",
        &no_ess,
        NuCode::NU3021,
        "neither a signing-certificate nor a signing-certificate-v2",
    );
}

#[test]
fn nu3020_timestamp_without_certificates() {
    let token = fixture_token();
    let mut removed = false;
    let stripped = edit_signed_data(&token, |sd| {
        let before = sd.len();
        sd.retain(|f| f[0] != CTX0);
        removed = sd.len() + 1 == before;
    });
    assert!(removed);
    assert_token_fails(
        "certificates removed",
        &stripped,
        NuCode::NU3020,
        "signing certificate",
    );
}

#[test]
fn nu3003_timestamp_garbage() {
    let token = fixture_token();
    let mut trailing = token.clone();
    trailing.extend_from_slice(&[0, 0]);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("text".into(), b"not a token".to_vec()),
        ("an empty SEQUENCE".into(), vec![0x30, 0x00]),
        ("an OCTET STRING".into(), der(OCTET_STRING, b"junk")),
        ("trailing bytes".into(), trailing),
    ];
    for len in (0..token.len()).step_by(61) {
        cases.push((format!("truncated to {len}"), token[..len].to_vec()));
    }
    for (case, bytes) in &cases {
        assert_token_fails(case, bytes, NuCode::NU3003, "");
    }

    // Through the primary signature: a junk token attribute value is NU3003 when decoded.
    let bytes = build(author(), &|p| {
        p.unsigned_attributes.push(BuildParts::encode_attribute(
            &oids::TIMESTAMP_TOKEN,
            &[&der(OCTET_STRING, b"junk")],
        ));
    });
    let sig = loaded("primary with a junk token", &bytes);
    assert_eq!(sig.first_timestamp().unwrap_err().code(), NuCode::NU3003);
}
