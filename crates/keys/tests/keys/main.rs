//! Loading signers from files made by the `openssl` CLI at test time, and checking that
//! their signatures verify with aws-lc-rs and with `openssl dgst -verify`.

// Test helpers outside `#[test]` functions: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod pki;

use std::path::Path;

use pki::Dir;
use signet_common::{HashAlgorithm, NuCode};
use signet_keys::{Error, Signer, SoftwareSigner, load_signer};

const PASSWORD: &str = "c0rrect-h0rse!";
const WRONG: &str = "wr0ng-passw0rd-XYZ";

/// Exports `{name}.key` + `{name}.crt` (plus `extra`) as `out` with the given options.
fn export_pfx(dir: &Dir, name: &str, out: &str, password: &str, extra: &[&str]) {
    let (key, crt, pass) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("pass:{password}"),
    );
    let mut args = vec![
        "pkcs12", "-export", "-in", &crt, "-inkey", &key, "-out", out, "-passout", &pass,
    ];
    args.extend_from_slice(extra);
    dir.openssl(&args);
}

/// `openssl pkcs12 -info` text, to show which algorithms a fixture really uses.
fn pfx_info(dir: &Dir, file: &str, password: &str) -> String {
    let pass = format!("pass:{password}");
    let args = ["pkcs12", "-in", file, "-info", "-noout", "-passin", &pass];
    // Reading RC2 needs the legacy provider.
    dir.try_openssl(&args)
        .or_else(|_| dir.try_openssl(&[&args[..], &["-legacy"]].concat()))
        .unwrap_or_else(|e| panic!("openssl pkcs12 -info: {e}"))
}

fn assert_input_error(err: &Error, must_not_contain: &str) {
    assert_eq!(err.code(), Some(NuCode::NU3001), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains(must_not_contain), "message leaks: {text}");
    assert!(!format!("{err:?}").contains(must_not_contain));
    assert!(!text.ends_with('.'), "{text}");
    assert!(
        text.chars().next().is_some_and(|c| !c.is_uppercase()),
        "{text}"
    );
}

fn load_pfx(dir: &Dir, file: &str, password: &str) -> SoftwareSigner {
    let from_bytes = SoftwareSigner::from_pkcs12(&dir.read(file), password)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let from_file = load_signer(&dir.path(file), Some(password), None).unwrap();
    assert_eq!(
        from_bytes.certificate_chain(),
        from_file.certificate_chain()
    );
    from_bytes
}

// --- PKCS#12 -------------------------------------------------------------------------------

#[test]
fn pfx_aes_openssl3_default() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    export_pfx(&dir, "a", "a.pfx", PASSWORD, &[]);
    let info = pfx_info(&dir, "a.pfx", PASSWORD);
    assert!(
        info.contains("AES-256-CBC") && info.contains("MAC: sha256"),
        "{info}"
    );

    let signer = load_pfx(&dir, "a.pfx", PASSWORD);
    assert_eq!(signer.certificate_chain(), [dir.cert_der("a.crt")]);
    assert_eq!(signer.key_bits(), 2048);
    dir.check_signs(&signer);
}

#[test]
fn pfx_legacy_3des_sha1_mac() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    export_pfx(
        &dir,
        "a",
        "a.pfx",
        PASSWORD,
        &[
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    );
    let info = pfx_info(&dir, "a.pfx", PASSWORD);
    assert!(
        info.contains("pbeWithSHA1And3-KeyTripleDES-CBC") && info.contains("MAC: sha1"),
        "{info}"
    );
    let signer = load_pfx(&dir, "a.pfx", PASSWORD);
    assert_eq!(signer.certificate_chain(), [dir.cert_der("a.crt")]);
    dir.check_signs(&signer);
}

#[test]
fn pfx_legacy_rc2_40_certificates() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    // `-legacy`: RC2-40 certificates, 3DES key, SHA-1 MAC, as old Windows made them.
    let pass = format!("pass:{PASSWORD}");
    let made = dir.try_openssl(&[
        "pkcs12", "-export", "-legacy", "-in", "a.crt", "-inkey", "a.key", "-out", "a.pfx",
        "-passout", &pass,
    ]);
    if let Err(e) = made {
        println!("note: skipping the RC2-40 case, this openssl cannot write it: {e}");
        return;
    }
    let info = pfx_info(&dir, "a.pfx", PASSWORD);
    assert!(info.contains("RC2"), "{info}");
    let signer = load_pfx(&dir, "a.pfx", PASSWORD);
    assert_eq!(signer.certificate_chain(), [dir.cert_der("a.crt")]);
    dir.check_signs(&signer);
}

#[test]
fn pfx_with_chain_is_ordered_leaf_to_root_then_unrelated() {
    let dir = Dir::new();
    dir.chain();
    dir.self_signed("other", 2048);
    // Deliberately out of order, with an unrelated certificate in the middle.
    let certfile = [
        dir.read("root.crt"),
        dir.read("other.crt"),
        dir.read("int.crt"),
    ]
    .concat();
    dir.write("certfile.pem", &certfile);
    export_pfx(
        &dir,
        "leaf",
        "leaf.pfx",
        PASSWORD,
        &["-certfile", "certfile.pem"],
    );
    let signer = load_pfx(&dir, "leaf.pfx", PASSWORD);
    let expected = ["leaf.crt", "int.crt", "root.crt", "other.crt"].map(|n| dir.cert_der(n));
    assert_eq!(signer.certificate_chain(), expected);
    dir.check_signs(&signer);
}

#[test]
fn pfx_with_empty_password() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    export_pfx(&dir, "a", "a.pfx", "", &[]);
    let signer = load_pfx(&dir, "a.pfx", "");
    // No --certificate-password at all means the empty password.
    let none = load_signer(&dir.path("a.pfx"), None, None).unwrap();
    assert_eq!(none.certificate_chain(), signer.certificate_chain());
    dir.check_signs(&signer);

    // Legacy encryption with an empty password too.
    export_pfx(&dir, "a", "legacy.pfx", "", &["-legacy"]);
    let legacy = load_pfx(&dir, "legacy.pfx", "");
    dir.check_signs(&legacy);
}

#[test]
fn pfx_wrong_password_is_nu3001_without_the_password() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    export_pfx(&dir, "a", "aes.pfx", PASSWORD, &[]);
    export_pfx(&dir, "a", "legacy.pfx", PASSWORD, &["-legacy"]);
    for file in ["aes.pfx", "legacy.pfx"] {
        for password in [WRONG, ""] {
            let err = SoftwareSigner::from_pkcs12(&dir.read(file), password).unwrap_err();
            assert!(matches!(err, Error::Pkcs12Password), "{file}: {err:?}");
            assert_input_error(&err, WRONG);
            assert_input_error(&err, PASSWORD);
        }
        let err = load_signer(&dir.path(file), Some(WRONG), None).unwrap_err();
        assert!(matches!(err, Error::Pkcs12Password), "{err:?}");
        assert_input_error(&err, WRONG);
    }
}

#[test]
fn pfx_without_key_or_without_certificate() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let pass = format!("pass:{PASSWORD}");
    dir.openssl(&[
        "pkcs12",
        "-export",
        "-nokeys",
        "-in",
        "a.crt",
        "-out",
        "certs.pfx",
        "-passout",
        &pass,
    ]);
    let err = SoftwareSigner::from_pkcs12(&dir.read("certs.pfx"), PASSWORD).unwrap_err();
    assert!(matches!(err, Error::NoPrivateKey), "{err:?}");
    assert_input_error(&err, PASSWORD);

    dir.openssl(&[
        "pkcs12", "-export", "-nocerts", "-inkey", "a.key", "-out", "key.pfx", "-passout", &pass,
    ]);
    let err = SoftwareSigner::from_pkcs12(&dir.read("key.pfx"), PASSWORD).unwrap_err();
    assert!(matches!(err, Error::NoCertificate(_)), "{err:?}");
    assert_input_error(&err, PASSWORD);
}

#[test]
fn pfx_whose_certificate_is_not_the_keys() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    dir.self_signed("b", 2048);
    let pass = format!("pass:{PASSWORD}");
    // `-nocerts` + `-certfile` puts b's certificate next to a's key without openssl
    // checking that they match.
    dir.openssl(&[
        "pkcs12",
        "-export",
        "-nocerts",
        "-inkey",
        "a.key",
        "-certfile",
        "b.crt",
        "-out",
        "mixed.pfx",
        "-passout",
        &pass,
    ]);
    let err = SoftwareSigner::from_pkcs12(&dir.read("mixed.pfx"), PASSWORD).unwrap_err();
    assert!(
        matches!(err, Error::KeyCertificateMismatch { count: 1 }),
        "{err:?}"
    );
    assert_input_error(&err, PASSWORD);
}

#[test]
fn pfx_with_ec_key_is_unsupported() {
    let dir = Dir::new();
    dir.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ec.key",
        "-out",
        "ec.crt",
        "-subj",
        "/CN=ec",
        "-days",
        "30",
    ]);
    export_pfx(&dir, "ec", "ec.pfx", PASSWORD, &[]);
    let err = SoftwareSigner::from_pkcs12(&dir.read("ec.pfx"), PASSWORD).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("only RSA keys are supported, found an EC key"),
        "{err}"
    );
    assert_input_error(&err, PASSWORD);
}

#[test]
fn pfx_with_two_keys_is_ambiguous() {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let dir = Dir::new();
    let mut store = KeyStore::new();
    for name in ["a", "b"] {
        dir.self_signed(name, 2048);
        let (key, der) = (format!("{name}.key"), format!("{name}.p8"));
        dir.openssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER", "-out", &der,
        ]);
        let chain = PrivateKeyChain::new(
            name,
            PrivateKey::from_der(&dir.read(&der)).unwrap(),
            [Certificate::from_der(&dir.cert_der(&format!("{name}.crt"))).unwrap()],
        );
        store.add_entry(name, KeyStoreEntry::PrivateKeyChain(chain));
        // With one key, p12-keystore's own output (AES, HMAC-SHA256) loads.
        if name == "a" {
            let pfx = store.writer(PASSWORD).write().unwrap();
            let signer = SoftwareSigner::from_pkcs12(&pfx, PASSWORD).unwrap();
            assert_eq!(signer.certificate_chain(), [dir.cert_der("a.crt")]);
        }
    }
    let pfx = store.writer(PASSWORD).write().unwrap();
    let err = SoftwareSigner::from_pkcs12(&pfx, PASSWORD).unwrap_err();
    assert!(
        matches!(err, Error::MultiplePrivateKeys { count: 2 }),
        "{err:?}"
    );
    assert_input_error(&err, PASSWORD);

    // Two keys in one PEM key input are ambiguous too.
    let both = [dir.read("a.key"), dir.read("b.key")].concat();
    let err = SoftwareSigner::from_key_and_chain(&both, None, &dir.read("a.crt")).unwrap_err();
    assert!(
        matches!(err, Error::MultipleKeysInInput { count: 2 }),
        "{err:?}"
    );
}

#[test]
fn pem_file_given_as_pfx_says_so() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let err = load_signer(&dir.path("a.crt"), None, None).unwrap_err();
    assert!(err.to_string().contains("PEM text"), "{err}");
    assert_input_error(&err, PASSWORD);
}

// --- Key + chain files ---------------------------------------------------------------------

/// Loads `key_file` with the chain `chain_file`, by bytes and through `load_signer`.
fn load_pair(
    dir: &Dir,
    key_file: &str,
    password: Option<&str>,
    chain_file: &str,
) -> SoftwareSigner {
    let signer =
        SoftwareSigner::from_key_and_chain(&dir.read(key_file), password, &dir.read(chain_file))
            .unwrap_or_else(|e| panic!("{key_file} + {chain_file}: {e}"));
    let loaded = load_signer(&dir.path(chain_file), password, Some(&dir.path(key_file))).unwrap();
    assert_eq!(signer.certificate_chain(), loaded.certificate_chain());
    signer
}

fn head(dir: &Dir, file: &str) -> String {
    String::from_utf8_lossy(&dir.read(file))
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn pem_pkcs8_pkcs1_and_der_keys() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    assert_eq!(head(&dir, "a.key"), "-----BEGIN PRIVATE KEY-----");
    dir.openssl(&["rsa", "-in", "a.key", "-traditional", "-out", "pkcs1.pem"]);
    assert_eq!(head(&dir, "pkcs1.pem"), "-----BEGIN RSA PRIVATE KEY-----");
    dir.openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "a.key",
        "-outform",
        "DER",
        "-out",
        "pkcs8.der",
    ]);
    dir.openssl(&[
        "rsa",
        "-in",
        "a.key",
        "-traditional",
        "-outform",
        "DER",
        "-out",
        "pkcs1.der",
    ]);
    let der_cert = dir.cert_der("a.crt");
    dir.write("a.crt.der", &der_cert);

    for key in ["a.key", "pkcs1.pem", "pkcs8.der", "pkcs1.der"] {
        for chain in ["a.crt", "a.crt.der"] {
            // An unneeded password is ignored.
            for password in [None, Some(PASSWORD)] {
                let signer = load_pair(&dir, key, password, chain);
                assert_eq!(
                    signer.certificate_chain(),
                    std::slice::from_ref(&der_cert),
                    "{key}"
                );
                assert_eq!(signer.key_bits(), 2048);
            }
        }
        dir.check_signs(&load_pair(&dir, key, None, "a.crt"));
    }
}

#[test]
fn encrypted_pkcs8_keys() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let pass = format!("pass:{PASSWORD}");
    let variants: [(&str, &[&str]); 5] = [
        ("aes.pem", &["-v2", "aes-256-cbc"]),
        (
            "aes-sha1prf.pem",
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"],
        ),
        ("aes.der", &["-v2", "aes-256-cbc", "-outform", "DER"]),
        ("3des-pkcs12pbe.pem", &["-v1", "PBE-SHA1-3DES"]),
        ("scrypt.pem", &["-scrypt"]),
    ];
    for (file, options) in variants {
        let mut args = vec![
            "pkcs8", "-topk8", "-in", "a.key", "-out", file, "-passout", &pass,
        ];
        args.extend_from_slice(options);
        dir.openssl(&args);
        if file.ends_with(".pem") {
            assert_eq!(head(&dir, file), "-----BEGIN ENCRYPTED PRIVATE KEY-----");
        }
        let signer = load_pair(&dir, file, Some(PASSWORD), "a.crt");
        dir.check_signs(&signer);

        let err = SoftwareSigner::from_key_and_chain(&dir.read(file), None, &dir.read("a.crt"))
            .unwrap_err();
        assert!(matches!(err, Error::KeyPasswordRequired), "{file}: {err:?}");
        assert_input_error(&err, PASSWORD);

        let err =
            SoftwareSigner::from_key_and_chain(&dir.read(file), Some(WRONG), &dir.read("a.crt"))
                .unwrap_err();
        assert!(matches!(err, Error::KeyPassword), "{file}: {err:?}");
        assert_input_error(&err, WRONG);
        assert_input_error(&err, PASSWORD);
    }
}

#[test]
fn legacy_openssl_pem_encryption_is_refused_with_a_hint() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let pass = format!("pass:{PASSWORD}");
    dir.openssl(&[
        "rsa",
        "-in",
        "a.key",
        "-traditional",
        "-aes256",
        "-out",
        "legacy.pem",
        "-passout",
        &pass,
    ]);
    let err = SoftwareSigner::from_key_and_chain(
        &dir.read("legacy.pem"),
        Some(PASSWORD),
        &dir.read("a.crt"),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedKeyEncryption { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    assert_input_error(&err, PASSWORD);
}

#[test]
fn chain_files_in_any_order_with_key_in_the_same_file() {
    let dir = Dir::new();
    dir.chain();
    dir.self_signed("other", 2048);
    let expected = ["leaf.crt", "int.crt", "root.crt", "other.crt"].map(|n| dir.cert_der(n));

    // Root first, unrelated certificate in between, leaf last, the key in the middle.
    let bundle = [
        &b"some comment\n"[..],
        &dir.read("root.crt"),
        &dir.read("other.crt"),
        &dir.read("leaf.key"),
        &dir.read("int.crt"),
        &dir.read("leaf.crt"),
    ]
    .concat();
    dir.write("bundle.pem", &bundle);
    let signer = load_pair(&dir, "bundle.pem", None, "bundle.pem");
    assert_eq!(signer.certificate_chain(), expected);
    dir.check_signs(&signer);

    // A chain without the root: leaf → intermediate, then nothing more.
    let partial = [dir.read("int.crt"), dir.read("leaf.crt")].concat();
    dir.write("partial.pem", &partial);
    let signer = load_pair(&dir, "leaf.key", None, "partial.pem");
    assert_eq!(signer.certificate_chain(), &expected[..2]);

    // Duplicates are dropped.
    let dup = [
        dir.read("leaf.crt"),
        dir.read("int.crt"),
        dir.read("leaf.crt"),
    ]
    .concat();
    dir.write("dup.pem", &dup);
    let signer = load_pair(&dir, "leaf.key", None, "dup.pem");
    assert_eq!(signer.certificate_chain(), &expected[..2]);
}

#[test]
fn openssl_pkcs12_nodes_output_with_bag_attributes() {
    let dir = Dir::new();
    dir.chain();
    let certfile = [dir.read("int.crt"), dir.read("root.crt")].concat();
    dir.write("certfile.pem", &certfile);
    export_pfx(
        &dir,
        "leaf",
        "leaf.pfx",
        PASSWORD,
        &["-certfile", "certfile.pem"],
    );
    let pass = format!("pass:{PASSWORD}");
    dir.openssl(&[
        "pkcs12", "-in", "leaf.pfx", "-nodes", "-out", "all.pem", "-passin", &pass,
    ]);
    assert!(String::from_utf8_lossy(&dir.read("all.pem")).contains("Bag Attributes"));
    let signer = load_pair(&dir, "all.pem", None, "all.pem");
    let expected = ["leaf.crt", "int.crt", "root.crt"].map(|n| dir.cert_der(n));
    assert_eq!(signer.certificate_chain(), expected);
    dir.check_signs(&signer);
}

#[test]
fn key_and_certificate_mismatch() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    dir.self_signed("b", 2048);
    let err = SoftwareSigner::from_key_and_chain(&dir.read("a.key"), None, &dir.read("b.crt"))
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyCertificateMismatch { count: 1 }),
        "{err:?}"
    );
    assert_input_error(&err, PASSWORD);
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn ec_keys_are_unsupported() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    dir.openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        "sec1.pem",
    ]);
    assert_eq!(head(&dir, "sec1.pem"), "-----BEGIN EC PRIVATE KEY-----");
    dir.openssl(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "sec1.pem", "-out", "ec8.pem",
    ]);
    dir.openssl(&[
        "ec", "-in", "sec1.pem", "-outform", "DER", "-out", "sec1.der",
    ]);
    dir.openssl(&["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
    for (file, name) in [
        ("sec1.pem", "an EC key"),
        ("ec8.pem", "an EC key"),
        ("sec1.der", "an EC key"),
        ("ed.pem", "an Ed25519 key"),
    ] {
        let err = SoftwareSigner::from_key_and_chain(&dir.read(file), None, &dir.read("a.crt"))
            .unwrap_err();
        let expected = format!("only RSA keys are supported, found {name}");
        assert!(err.to_string().starts_with(&expected), "{file}: {err}");
        assert_input_error(&err, PASSWORD);
    }
}

#[test]
fn short_rsa_keys_fail_with_nu3014() {
    let dir = Dir::new();
    dir.self_signed("small", 1024);
    let err =
        SoftwareSigner::from_key_and_chain(&dir.read("small.key"), None, &dir.read("small.crt"))
            .unwrap_err();
    assert!(matches!(err, Error::KeyTooSmall { bits: 1024 }), "{err:?}");
    assert_eq!(err.code(), Some(NuCode::NU3014));
}

#[test]
fn larger_keys_report_their_size() {
    let dir = Dir::new();
    dir.self_signed("big", 3072);
    let signer = load_pair(&dir, "big.key", None, "big.crt");
    assert_eq!(signer.key_bits(), 3072);
    assert_eq!(signer.sign(HashAlgorithm::Sha256, b"x").unwrap().len(), 384);
    dir.check_signs(&signer);
}

#[test]
fn debug_shows_no_key_material() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let signer = load_pair(&dir, "a.key", None, "a.crt");
    let debug = format!("{signer:?}");
    assert!(debug.starts_with("SoftwareSigner {"), "{debug}");
    assert!(debug.contains("key_bits: 2048"), "{debug}");
    assert!(debug.contains("CN=signet test a"), "{debug}");
    // Nothing long enough to be key or certificate bytes in any encoding.
    assert!(debug.len() < 150, "{debug}");
}

// --- Garbage and files ---------------------------------------------------------------------

#[test]
fn garbage_inputs_are_errors() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    export_pfx(&dir, "a", "a.pfx", PASSWORD, &[]);
    let pfx = dir.read("a.pfx");
    let key = dir.read("a.key");
    let cert = dir.read("a.crt");
    let cert_der = dir.cert_der("a.crt");

    let garbage: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not a key".to_vec(),
        vec![0x30],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        vec![0xff; 300],
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
    ];
    for g in &garbage {
        assert_input_error(
            &SoftwareSigner::from_pkcs12(g, PASSWORD).unwrap_err(),
            PASSWORD,
        );
        assert_input_error(
            &SoftwareSigner::from_key_and_chain(g, Some(PASSWORD), &cert).unwrap_err(),
            PASSWORD,
        );
        assert_input_error(
            &SoftwareSigner::from_key_and_chain(&key, None, g).unwrap_err(),
            PASSWORD,
        );
    }

    // Truncations and single-byte corruptions: errors, never panics. The MAC catches
    // corruption in the PFX body.
    for len in (0..pfx.len()).step_by(97) {
        assert!(SoftwareSigner::from_pkcs12(&pfx[..len], PASSWORD).is_err());
    }
    for at in (0..pfx.len()).step_by(131) {
        let mut bad = pfx.clone();
        bad[at] ^= 0x5a;
        assert!(
            SoftwareSigner::from_pkcs12(&bad, PASSWORD).is_err(),
            "byte {at}"
        );
    }
    for len in (0..cert_der.len()).step_by(37) {
        assert!(SoftwareSigner::from_key_and_chain(&key, None, &cert_der[..len]).is_err());
    }
    for at in (0..key.len()).step_by(41) {
        let mut bad = key.clone();
        bad[at] ^= 0x01;
        // Flipping a bit may still leave a valid key (a different one), never a panic.
        let _ = SoftwareSigner::from_key_and_chain(&bad, None, &cert);
    }
}

#[test]
fn missing_files_are_nu3001_and_name_the_file() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let missing = dir.path("missing.pfx");
    let err = load_signer(&missing, Some(PASSWORD), None).unwrap_err();
    assert!(matches!(err, Error::ReadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pfx"), "{err}");
    assert_input_error(&err, PASSWORD);

    let err = load_signer(
        &dir.path("a.crt"),
        None,
        Some(Path::new("/nonexistent/key.pem")),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read private key file"),
        "{err}"
    );
    assert_input_error(&err, PASSWORD);
}

#[test]
fn signer_is_a_trait_object() {
    let dir = Dir::new();
    dir.self_signed("a", 2048);
    let signer: Box<dyn Signer> = Box::new(load_pair(&dir, "a.key", None, "a.crt"));
    std::thread::scope(|s| {
        s.spawn(|| signer.sign(HashAlgorithm::Sha384, b"threads").unwrap());
    });
    assert_eq!(signer.certificate_chain().len(), 1);
}
