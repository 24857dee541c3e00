//! `signet repo-sign`: repository primary signatures and countersignatures, checked by
//! `signet verify` and independently by `openssl`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_common::HashAlgorithm;
use signet_signature::{Limits, PrimarySignature, SignatureType};
use signet_test_support::{PackageBuilder, interop_dir, pki, write_cert_files};

const SERVICE_INDEX: &str = "https://packages.example.test/v3/index.json";

fn signet(args: &[&str]) -> Output {
    signet_test_support::isolate_config(&mut Command::new(env!("CARGO_BIN_EXE_signet")))
        .args(args)
        .env_remove("SIGNET_TRUST_ROOTS")
        .env_remove("SIGNET_REVOCATION_CACHE")
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .output()
        .unwrap()
}

use signet_test_support::output_text as text;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn signature_of(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
    pkg.read_signature().unwrap().unwrap()
}

fn package_hash(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
    pkg.package_hash(HashAlgorithm::Sha256).unwrap()
}

fn repo_sign(package: &Path, extra: &[&str], dir: &Path) -> Output {
    let repo = write_cert_files(&pki().repository, dir, "repo");
    let mut args = vec![
        "repo-sign",
        s(package),
        "--service-index",
        SERVICE_INDEX,
        "--certificate-path",
        s(&repo.chain_pem),
        "--certificate-key",
        s(&repo.key_pem),
        "--trust-roots",
        s(&repo.root_pem),
    ];
    args.extend_from_slice(extra);
    signet(&args)
}

/// Runs openssl and asserts success.
fn openssl(args: &[&str]) -> String {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
    text(&o)
}

#[test]
fn countersigning_a_real_author_signed_package() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let package = dir.join("TestPackage.AuthorSigned.1.0.0.nupkg");
    std::fs::copy(
        interop_dir().join("packages/TestPackage.AuthorSigned.1.0.0.nupkg"),
        &package,
    )
    .unwrap();
    let author_before = signature_of(&package);
    let hash_before = package_hash(&package);
    let tsa = signet_test_support::TsaProcess::start(Path::new(env!("CARGO_BIN_EXE_signet")), dir);
    let url = tsa.url.clone();
    let o = repo_sign(
        &package,
        &["--owners", "zeta;Alpha;beta", "--timestamper", &url],
        dir,
    );
    drop(tsa);
    assert!(o.status.success(), "{}", text(&o));

    // The package hash is unchanged; the author signature's signed bytes are untouched.
    assert_eq!(package_hash(&package), hash_before);
    let limits = Limits::default();
    let before = PrimarySignature::load(&author_before, &limits).unwrap();
    let after_bytes = signature_of(&package);
    let after = PrimarySignature::load(&after_bytes, &limits).unwrap();
    assert_eq!(after.signature_type(), SignatureType::Author);
    assert_eq!(after.signature_value(), before.signature_value());
    assert_eq!(after.content(), before.content());
    let counter = after.repository_countersignature().unwrap().unwrap();
    assert_eq!(counter.repository_info().service_index, SERVICE_INDEX);
    assert_eq!(
        counter.repository_info().owners,
        vec!["Alpha", "beta", "zeta"],
        "owners are written sorted case-insensitively"
    );
    assert_eq!(counter.timestamp_count(), 1);

    // verify --all shows both signatures valid.
    let root = dir.join("repo.root.pem");
    let o = signet(&["verify", "--all", s(&package), "--trust-roots", s(&root)]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Signature type: Author"), "{out}");
    assert!(out.contains("Signature type: Repository"), "{out}");
    assert!(
        out.contains(&format!("Service index: {SERVICE_INDEX}")),
        "{out}"
    );
    assert!(out.contains("Owners: Alpha, beta, zeta"), "{out}");
    assert!(
        out.contains("Verifying the repository countersignature with certificate:"),
        "{out}"
    );
    assert!(
        out.contains(&pki().repository.sha256_fingerprint_hex()),
        "{out}"
    );
    assert!(out.contains("Successfully verified package"), "{out}");
    assert!(!out.contains("NU30"), "no warnings expected: {out}");

    // Independently: the countersignature's messageDigest is H(author signature value), and
    // openssl checks its RSA signature over the signed attributes and the certificate chain.
    let md = counter
        .signer_info()
        .single_signed_value(&signet_signature::oids::MESSAGE_DIGEST)
        .unwrap()
        .unwrap();
    assert_eq!(
        &md[2..],
        HashAlgorithm::Sha256
            .digest(before.signature_value())
            .as_slice()
    );
    let attrs = dir.join("attrs.der");
    std::fs::write(
        &attrs,
        &counter.signer_info().signed_attrs.as_ref().unwrap().raw_set,
    )
    .unwrap();
    let sig = dir.join("counter.sig");
    std::fs::write(&sig, counter.signature_value()).unwrap();
    let cert = dir.join("repo.cert.pem");
    std::fs::write(&cert, pki().repository.cert_pem()).unwrap();
    let pubkey = dir.join("repo.pub.pem");
    openssl(&[
        "x509",
        "-in",
        s(&cert),
        "-pubkey",
        "-noout",
        "-out",
        s(&pubkey),
    ]);
    let out = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        s(&pubkey),
        "-signature",
        s(&sig),
        s(&attrs),
    ]);
    assert!(out.contains("Verified OK"), "{out}");
    let out = openssl(&[
        "verify",
        "-CAfile",
        s(&root),
        "-untrusted",
        s(&dir.join("repo.chain.pem")),
        s(&cert),
    ]);
    assert!(out.contains("OK"), "{out}");
}

fn unsigned_package(dir: &Path) -> PathBuf {
    let bytes = PackageBuilder::new("Signet.Repo.Test", "2.0.0")
        .file("lib/net8.0/a.dll", b"binary")
        .build();
    let path = dir.join("Signet.Repo.Test.2.0.0.nupkg");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn repository_signing_an_unsigned_package_and_nu3032_nu3033() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let package = unsigned_package(dir);
    let unsigned = std::fs::read(&package).unwrap();
    let out_dir = dir.join("out");
    let o = repo_sign(&package, &["-o", s(&out_dir)], dir);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&package).unwrap(),
        unsigned,
        "input untouched with -o"
    );
    let signed = out_dir.join("Signet.Repo.Test.2.0.0.nupkg");
    let sig = PrimarySignature::load(&signature_of(&signed), &Limits::default()).unwrap();
    assert_eq!(sig.signature_type(), SignatureType::Repository);
    assert_eq!(sig.repository_info().unwrap().service_index, SERVICE_INDEX);
    let root = dir.join("repo.root.pem");
    let o = signet(&["verify", "--all", s(&signed), "--trust-roots", s(&root)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Signature type: Repository"));
    // openssl verifies the repository primary signature.
    let p7s = dir.join("repo.p7s");
    std::fs::write(&p7s, signature_of(&signed)).unwrap();
    openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-binary",
        "-purpose",
        "any",
        "-in",
        s(&p7s),
        "-CAfile",
        s(&root),
        "-out",
        s(&dir.join("content.txt")),
    ]);

    // A repository-signed package cannot be countersigned, not even with --overwrite.
    let before = std::fs::read(&signed).unwrap();
    for extra in [&[][..], &["--overwrite"][..]] {
        let o = repo_sign(&signed, extra, dir);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("NU3033"), "{}", text(&o));
        assert_eq!(std::fs::read(&signed).unwrap(), before, "nothing written");
    }

    // Author-sign, countersign, countersign again: NU3032 unless --overwrite.
    let author = write_cert_files(&pki().code_signing, dir, "author");
    let o = signet(&[
        "sign",
        s(&package),
        "--certificate-path",
        s(&author.chain_pem),
        "--certificate-key",
        s(&author.key_pem),
        "--trust-roots",
        s(&author.root_pem),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = repo_sign(&package, &["--owners", "one"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let once = std::fs::read(&package).unwrap();
    let o = repo_sign(&package, &["--owners", "two"], dir);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("NU3032"), "{}", text(&o));
    assert_eq!(std::fs::read(&package).unwrap(), once, "nothing written");
    let o = repo_sign(&package, &["--owners", "two", "--overwrite"], dir);
    assert!(o.status.success(), "{}", text(&o));
    let sig = PrimarySignature::load(&signature_of(&package), &Limits::default()).unwrap();
    let counter = sig.repository_countersignature().unwrap().unwrap();
    assert_eq!(counter.repository_info().owners, vec!["two"]);
    let o = signet(&["verify", "--all", s(&package), "--trust-roots", s(&root)]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_service_index_must_be_https() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let package = unsigned_package(dir);
    let repo = write_cert_files(&pki().repository, dir, "repo");
    let o = signet(&[
        "repo-sign",
        s(&package),
        "--service-index",
        "http://packages.example.test/v3/index.json",
        "--certificate-path",
        s(&repo.chain_pem),
        "--certificate-key",
        s(&repo.key_pem),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("absolute https URL"), "{}", text(&o));
}
