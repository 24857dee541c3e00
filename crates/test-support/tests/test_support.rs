//! Checks the fixtures against an independent implementation: every certificate is inspected
//! and verified with the `openssl` CLI, the PFX files are opened by `openssl pkcs12`, and the
//! packages are read back with the `zip` crate.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Cursor, Read as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use signet_test_support::{
    CertKey, PackageBuilder, code_signing_cert_with_validity, interop_dir, large_package, pki,
    write_cert_files,
};
use time::macros::datetime;
use zip::{CompressionMethod, ZipArchive};

/// Runs openssl and returns (success, stdout + stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("running openssl");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = openssl(args);
    assert!(ok, "openssl {args:?} failed: {text}");
    text
}

/// A temporary directory holding root.pem and intermediate.pem.
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki();
        std::fs::write(dir.path().join("root.pem"), pki.root.cert_pem()).unwrap();
        std::fs::write(
            dir.path().join("intermediate.pem"),
            pki.intermediate.cert_pem(),
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, cert: &CertKey) -> String {
        std::fs::write(self.dir.path().join(name), cert.cert_pem()).unwrap();
        self.path(name)
    }

    /// `openssl verify` against the test root, with extra options.
    fn verify(&self, cert: &CertKey, extra: &[&str]) -> (bool, String) {
        let leaf = self.write("leaf.pem", cert);
        let root = self.path("root.pem");
        let intermediate = self.path("intermediate.pem");
        let mut args = vec!["verify", "-CAfile", &root, "-untrusted", &intermediate];
        args.extend_from_slice(extra);
        args.push(&leaf);
        openssl(&args)
    }

    fn text(&self, cert: &CertKey) -> String {
        let path = self.write("text.pem", cert);
        openssl_ok(&["x509", "-in", &path, "-noout", "-text"])
    }
}

/// The line after the one containing `header` in openssl's text output, trimmed.
fn value_after(text: &str, header: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|l| l.contains(header))?;
    lines.next().map(|l| l.trim().to_owned())
}

#[test]
fn pki_is_generated_once() {
    assert!(std::ptr::eq(pki(), pki()));
}

#[test]
fn good_and_policy_failing_leaves_chain_to_the_root() {
    let w = Workdir::new();
    let pki = pki();
    // These are all cryptographically valid chains; what is wrong with some of them is a
    // policy question (EKU, key size, digest) that signet must answer, not openssl.
    for (name, cert) in [
        ("code_signing", &pki.code_signing),
        ("code_signing_no_ski", &pki.code_signing_no_ski),
        ("timestamping", &pki.timestamping),
        ("repository", &pki.repository),
        ("wrong_eku", &pki.wrong_eku),
        ("rsa1024", &pki.rsa1024),
        ("sha1_signed", &pki.sha1_signed),
        ("lifetime_signing", &pki.lifetime_signing),
        ("no_eku", &pki.no_eku),
        ("intermediate", &pki.intermediate),
    ] {
        let (ok, text) = w.verify(cert, &["-purpose", "any"]);
        assert!(ok, "{name} does not verify: {text}");
    }
}

#[test]
fn expired_and_not_yet_valid_fail_only_on_time() {
    let w = Workdir::new();
    let pki = pki();

    let (ok, text) = w.verify(&pki.expired, &["-purpose", "any"]);
    assert!(!ok && text.contains("certificate has expired"), "{text}");
    // 2001-06-01: inside its validity.
    let (ok, text) = w.verify(&pki.expired, &["-purpose", "any", "-attime", "991353600"]);
    assert!(ok, "{text}");

    let (ok, text) = w.verify(&pki.not_yet_valid, &["-purpose", "any"]);
    assert!(
        !ok && text.contains("certificate is not yet valid"),
        "{text}"
    );
    // 2091-01-01: inside its validity.
    let (ok, text) = w.verify(
        &pki.not_yet_valid,
        &["-purpose", "any", "-attime", "3818448000"],
    );
    assert!(ok, "{text}");

    let text = w.text(&pki.expired);
    assert!(
        text.contains("Not Before: Jan  1 00:00:00 2001 GMT"),
        "{text}"
    );
    assert!(
        text.contains("Not After : Jan  1 00:00:00 2002 GMT"),
        "{text}"
    );
    let text = w.text(&pki.not_yet_valid);
    assert!(
        text.contains("Not Before: Jan  1 00:00:00 2090 GMT"),
        "{text}"
    );
    assert!(
        text.contains("Not After : Jan  1 00:00:00 2095 GMT"),
        "{text}"
    );
}

#[test]
fn self_signed_leaf_chains_to_nothing() {
    let w = Workdir::new();
    let cert = &pki().self_signed;
    let (ok, text) = w.verify(cert, &["-purpose", "any"]);
    assert!(!ok && text.contains("self-signed certificate"), "{text}");
    let text = w.text(cert);
    assert!(text.contains("Issuer: O = signet tests, CN = signet test self-signed"));
    assert!(text.contains("Subject: O = signet tests, CN = signet test self-signed"));
    assert_eq!(
        value_after(&text, "Basic Constraints").as_deref(),
        Some("CA:FALSE")
    );
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("Code Signing")
    );
}

#[test]
fn root_and_intermediate_are_cas_without_eku() {
    let w = Workdir::new();
    let root = w.text(&pki().root);
    assert!(root.contains("Issuer: O = signet tests, CN = signet test root CA"));
    assert!(root.contains("Subject: O = signet tests, CN = signet test root CA"));
    assert_eq!(
        value_after(&root, "Basic Constraints: critical").as_deref(),
        Some("CA:TRUE")
    );
    let intermediate = w.text(&pki().intermediate);
    assert!(intermediate.contains("Issuer: O = signet tests, CN = signet test root CA"));
    assert_eq!(
        value_after(&intermediate, "Basic Constraints: critical").as_deref(),
        Some("CA:TRUE, pathlen:0")
    );
    for text in [&root, &intermediate] {
        assert_eq!(
            value_after(text, "Key Usage: critical").as_deref(),
            Some("Certificate Sign, CRL Sign")
        );
        assert!(!text.contains("Extended Key Usage"), "{text}");
        assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"));
        assert!(text.contains("Public-Key: (2048 bit)"));
        assert!(
            text.contains("Not Before: Jan  1 00:00:00 2000 GMT"),
            "{text}"
        );
        assert!(
            text.contains("Not After : Dec 31 23:59:59 2099 GMT"),
            "{text}"
        );
    }
}

#[test]
fn code_signing_leaf_profile() {
    let w = Workdir::new();
    for (cert, cn) in [
        (&pki().code_signing, "signet test code signing"),
        (&pki().repository, "signet test repository signing"),
    ] {
        let text = w.text(cert);
        assert!(
            text.contains(&format!("Subject: O = signet tests, CN = {cn}\n")),
            "{text}"
        );
        assert!(text.contains("Issuer: O = signet tests, CN = signet test intermediate CA"));
        assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"));
        assert!(text.contains("Public-Key: (2048 bit)"));
        assert!(
            text.contains("Not Before: Jan  1 00:00:00 2020 GMT"),
            "{text}"
        );
        assert!(
            text.contains("Not After : Jan  1 00:00:00 2090 GMT"),
            "{text}"
        );
        assert_eq!(
            value_after(&text, "Extended Key Usage").as_deref(),
            Some("Code Signing")
        );
        assert!(!text.contains("Extended Key Usage: critical"));
        assert_eq!(
            value_after(&text, "Key Usage: critical").as_deref(),
            Some("Digital Signature")
        );
        assert!(text.contains("Subject Key Identifier"), "{text}");
        assert!(text.contains("Authority Key Identifier"), "{text}");
    }
}

#[test]
fn no_ski_leaf_lacks_only_the_subject_key_identifier() {
    let w = Workdir::new();
    let text = w.text(&pki().code_signing_no_ski);
    assert!(!text.contains("Subject Key Identifier"), "{text}");
    assert!(text.contains("Authority Key Identifier"), "{text}");
    assert_eq!(
        value_after(&text, "Basic Constraints: critical").as_deref(),
        Some("CA:FALSE")
    );
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("Code Signing")
    );
}

#[test]
fn timestamping_leaf_has_critical_time_stamping_eku() {
    let w = Workdir::new();
    let text = w.text(&pki().timestamping);
    assert_eq!(
        value_after(&text, "Extended Key Usage: critical").as_deref(),
        Some("Time Stamping"),
        "{text}"
    );
    // OpenSSL's timestampsign purpose demands exactly a critical timeStamping EKU (RFC 3161).
    let (ok, out) = w.verify(&pki().timestamping, &["-purpose", "timestampsign"]);
    assert!(ok, "{out}");
    let (ok, _) = w.verify(&pki().code_signing, &["-purpose", "timestampsign"]);
    assert!(!ok, "a code-signing leaf must not pass as a TSA");
}

#[test]
fn bad_leaves_show_their_defect() {
    let w = Workdir::new();
    let pki = pki();

    let text = w.text(&pki.wrong_eku);
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("TLS Web Server Authentication")
    );

    let text = w.text(&pki.rsa1024);
    assert!(text.contains("Public-Key: (1024 bit)"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"));
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("Code Signing")
    );

    let text = w.text(&pki.sha1_signed);
    assert!(
        text.contains("Signature Algorithm: sha1WithRSAEncryption"),
        "{text}"
    );
    assert!(!text.contains("sha256WithRSAEncryption"), "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"));
    assert!(text.contains("Issuer: O = signet tests, CN = signet test intermediate CA"));
    assert!(
        text.contains("Not Before: Jan  1 00:00:00 2020 GMT"),
        "{text}"
    );
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("Code Signing")
    );

    let text = w.text(&pki.lifetime_signing);
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("Code Signing, 1.3.6.1.4.1.311.10.3.13")
    );

    let text = w.text(&pki.no_eku);
    assert!(!text.contains("Extended Key Usage"), "{text}");
    assert_eq!(
        value_after(&text, "Key Usage: critical").as_deref(),
        Some("Digital Signature")
    );
}

#[test]
fn every_key_matches_its_certificate() {
    let w = Workdir::new();
    for (name, cert) in pki().all() {
        let cert_path = w.write("cert.pem", cert);
        std::fs::write(w.dir.path().join("key.pem"), cert.key_pem()).unwrap();
        let from_cert = openssl_ok(&["x509", "-in", &cert_path, "-noout", "-pubkey"]);
        let from_key = openssl_ok(&["pkey", "-in", &w.path("key.pem"), "-pubout"]);
        assert_eq!(
            from_cert, from_key,
            "{name}: key does not match certificate"
        );
        assert!(cert.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }
}

#[test]
fn serials_are_distinct() {
    let w = Workdir::new();
    let extra = code_signing_cert_with_validity(
        datetime!(2020-01-01 0:00 UTC),
        datetime!(2030-01-01 0:00 UTC),
    );
    let mut serials = Vec::new();
    for (name, cert) in pki().all().into_iter().chain([("extra", &extra)]) {
        let path = w.write("cert.pem", cert);
        let serial = openssl_ok(&["x509", "-in", &path, "-noout", "-serial"]);
        assert!(!serials.contains(&serial), "{name} reuses serial {serial}");
        serials.push(serial);
    }
}

#[test]
fn fingerprint_matches_openssl() {
    let w = Workdir::new();
    let cert = &pki().code_signing;
    let path = w.write("cert.pem", cert);
    let out = openssl_ok(&["x509", "-in", &path, "-noout", "-fingerprint", "-sha256"]);
    let expected = out.trim().rsplit('=').next().unwrap().replace(':', "");
    assert_eq!(cert.sha256_fingerprint_hex(), expected);
    assert_eq!(cert.sha256_fingerprint_hex().len(), 64);
}

#[test]
fn custom_validity_leaf_chains_to_the_same_root() {
    let w = Workdir::new();
    let cert = code_signing_cert_with_validity(
        datetime!(2010-03-04 05:06:07 UTC),
        datetime!(2011-03-04 05:06:07 UTC),
    );
    let text = w.text(&cert);
    assert!(
        text.contains("Not Before: Mar  4 05:06:07 2010 GMT"),
        "{text}"
    );
    assert!(
        text.contains("Not After : Mar  4 05:06:07 2011 GMT"),
        "{text}"
    );
    assert!(text.contains("Issuer: O = signet tests, CN = signet test intermediate CA"));
    assert_eq!(
        value_after(&text, "Extended Key Usage").as_deref(),
        Some("Code Signing")
    );
    let (ok, out) = w.verify(&cert, &["-purpose", "any"]);
    assert!(!ok && out.contains("certificate has expired"), "{out}");
    // 2010-06-01, inside the chosen window.
    let (ok, out) = w.verify(&cert, &["-purpose", "any", "-attime", "1275350400"]);
    assert!(ok, "{out}");
    assert_ne!(cert.key_pkcs8_der, pki().code_signing.key_pkcs8_der);
}

fn count_certs(pem: &str) -> usize {
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

#[test]
fn written_files_load_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_cert_files(&pki().code_signing, dir.path(), "author");
    assert_eq!(written.chain_pem, dir.path().join("author.chain.pem"));

    let chain = std::fs::read_to_string(&written.chain_pem).unwrap();
    assert_eq!(count_certs(&chain), 3);
    assert!(chain.starts_with(&pki().code_signing.cert_pem()));
    assert!(chain.ends_with(&pki().root.cert_pem()));
    assert_eq!(
        std::fs::read_to_string(&written.root_pem).unwrap(),
        pki().root.cert_pem()
    );
    assert_eq!(
        std::fs::read_to_string(&written.key_pem).unwrap(),
        pki().code_signing.key_pem()
    );

    let pfx = written.pfx.to_str().unwrap();
    let pass = format!("pass:{}", written.pfx_password);
    let certs = openssl_ok(&["pkcs12", "-in", pfx, "-passin", &pass, "-nokeys"]);
    assert_eq!(count_certs(&certs), 3, "{certs}");
    let info = openssl_ok(&["pkcs12", "-in", pfx, "-passin", &pass, "-info", "-noout"]);
    assert!(info.contains("AES-256-CBC"), "{info}");
    let key = openssl_ok(&["pkcs12", "-in", pfx, "-passin", &pass, "-nocerts", "-nodes"]);
    std::fs::write(dir.path().join("pfx-key.pem"), key).unwrap();
    let pub_from_pfx = openssl_ok(&[
        "pkey",
        "-in",
        dir.path().join("pfx-key.pem").to_str().unwrap(),
        "-pubout",
    ]);
    let pub_from_key = openssl_ok(&["pkey", "-in", written.key_pem.to_str().unwrap(), "-pubout"]);
    assert_eq!(pub_from_pfx, pub_from_key);

    let (ok, _) = openssl(&["pkcs12", "-in", pfx, "-passin", "pass:wrong", "-nokeys"]);
    assert!(!ok, "a wrong password must not open the PFX");
}

#[test]
fn written_files_for_a_self_signed_leaf_hold_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_cert_files(&pki().self_signed, dir.path(), "self");
    let chain = std::fs::read_to_string(&written.chain_pem).unwrap();
    assert_eq!(chain, pki().self_signed.cert_pem());
    let pass = format!("pass:{}", written.pfx_password);
    let certs = openssl_ok(&[
        "pkcs12",
        "-in",
        written.pfx.to_str().unwrap(),
        "-passin",
        &pass,
        "-nokeys",
    ]);
    assert_eq!(count_certs(&certs), 1);
}

fn entries(zip_bytes: &[u8]) -> Vec<(String, CompressionMethod, Vec<u8>)> {
    let mut archive = ZipArchive::new(Cursor::new(zip_bytes)).expect("a valid ZIP");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (
                entry.name().unwrap().into_owned(),
                entry.compression(),
                data,
            )
        })
        .collect()
}

#[test]
fn package_has_nuget_layout() {
    let builder = PackageBuilder::new("Signet.Sample", "1.2.3-beta")
        .file("lib/net8.0/Signet.Sample.dll", b"MZ fake assembly")
        .file("README.md", b"# hello");
    let bytes = builder.build();
    assert_eq!(bytes, builder.build(), "builds are reproducible");

    let entries = entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names.len(), 6);
    assert_eq!(names[0], "_rels/.rels");
    assert_eq!(names[1], "Signet.Sample.nuspec");
    assert_eq!(names[2], "lib/net8.0/Signet.Sample.dll");
    assert_eq!(names[3], "README.md");
    assert!(
        names[4].starts_with("package/services/metadata/core-properties/")
            && names[4].ends_with(".psmdcp"),
        "{}",
        names[4]
    );
    assert_eq!(names[4], builder.psmdcp_entry_name());
    assert_eq!(names[5], "[Content_Types].xml");
    assert!(
        entries
            .iter()
            .all(|(_, m, _)| *m == CompressionMethod::Deflated)
    );

    let nuspec = String::from_utf8(entries[1].2.clone()).unwrap();
    assert!(
        nuspec.contains(
            "<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\">"
        )
    );
    assert!(nuspec.contains("<id>Signet.Sample</id>"));
    assert!(nuspec.contains("<version>1.2.3-beta</version>"));
    assert!(nuspec.contains("<authors>signet tests</authors>"));
    assert!(nuspec.contains("<description>"));
    assert_eq!(entries[2].2, b"MZ fake assembly");

    let rels = String::from_utf8(entries[0].2.clone()).unwrap();
    assert!(rels.contains("Target=\"/Signet.Sample.nuspec\""));
    assert!(rels.contains(&format!("Target=\"/{}\"", names[4])));
    let types = String::from_utf8(entries[5].2.clone()).unwrap();
    assert!(types.contains("Extension=\"dll\""));
    assert!(types.contains("Extension=\"md\""));
}

#[test]
fn stored_package_has_exact_sizes() {
    let bytes = PackageBuilder::new("A", "1.0.0")
        .file("content/a.txt", &[b'a'; 1000])
        .stored(true)
        .build();
    let mut archive = ZipArchive::new(Cursor::new(&bytes)).unwrap();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).unwrap();
        assert_eq!(entry.compression(), CompressionMethod::Stored);
        assert_eq!(entry.compressed_size(), entry.size(), "{:?}", entry.name());
    }
}

#[test]
fn nuspec_override_and_signature_entry() {
    let bytes = PackageBuilder::new("A", "1.0.0")
        .nuspec(b"<not-a-nuspec/>")
        .file(".signature.p7s", b"fake signature")
        .file("content/a.txt", b"a")
        .build();
    let entries = entries(&bytes);
    assert_eq!(entries[1].0, "A.nuspec");
    assert_eq!(entries[1].2, b"<not-a-nuspec/>");
    let last = entries.last().unwrap();
    assert_eq!(last.0, ".signature.p7s");
    assert_eq!(last.1, CompressionMethod::Stored);
}

#[test]
fn large_package_is_big_incompressible_and_deterministic() {
    let size = 3 * 1024 * 1024 + 5;
    let bytes = large_package(size);
    assert!(bytes.len() >= size);
    assert_eq!(bytes, large_package(size));
    let mut archive = ZipArchive::new(Cursor::new(&bytes)).unwrap();
    let entry = archive.by_name("content/large.bin").unwrap();
    assert_eq!(entry.size(), size as u64);
    drop(entry);
    // Deflating the payload gains nothing, which is what makes it a fair benchmark input.
    let deflated = PackageBuilder::new("X", "1.0.0")
        .file("x.bin", &entries(&bytes)[2].2)
        .build();
    assert!(deflated.len() as f64 > size as f64 * 0.99);
}

#[test]
fn interop_dir_holds_the_shared_samples() {
    let dir: PathBuf = interop_dir();
    assert!(
        Path::new(&dir).join("MANIFEST.md").is_file(),
        "{}",
        dir.display()
    );
    assert!(dir.join("packages").is_dir());
}
