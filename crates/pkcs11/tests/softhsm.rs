//! The PKCS#11 signer against a real PKCS#11 module: SoftHSM 2, with RSA keys generated on
//! the token. SoftHSM reads its configuration once per process, so the checks run in a
//! child process started by each test with `SOFTHSM2_CONF` set (see `signet_pkcs11::softhsm`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    UnparsedPublicKey,
};
use signet_common::HashAlgorithm;
use signet_keys::Signer;
use signet_pkcs11::softhsm::{self, KeySpec, Profile, SoftHsm, TokenPki};
use signet_pkcs11::{CertificateSource, KeySelector, Pin, Pkcs11Signer, TokenKey};

const PIN: &str = "246810";

#[test]
fn softhsm_child() {
    softhsm::child_entry();
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

fn open(
    token: &str,
    key: &str,
    certs: CertificateSource,
) -> Result<Pkcs11Signer, signet_pkcs11::Error> {
    Pkcs11Signer::open(
        &TokenKey {
            module: env("SIGNET_SOFTHSM_MODULE").into(),
            token: token.into(),
            key: KeySelector::parse(key).unwrap(),
        },
        Some(Pin::new(PIN.to_owned())),
        &certs,
    )
}

fn verify(public_pkcs1: &[u8], alg: HashAlgorithm, message: &[u8], signature: &[u8]) {
    let params = match alg {
        HashAlgorithm::Sha256 => &RSA_PKCS1_2048_8192_SHA256,
        HashAlgorithm::Sha384 => &RSA_PKCS1_2048_8192_SHA384,
        _ => &RSA_PKCS1_2048_8192_SHA512,
    };
    UnparsedPublicKey::new(params, public_pkcs1)
        .verify(message, signature)
        .unwrap_or_else(|_| panic!("{alg} signature from the token does not verify"));
}

/// Keys and certificates on one token, then the checks in a child.
#[test]
fn signs_on_softhsm_with_every_hash_both_mechanisms_and_token_certificates() {
    let Some(hsm) = SoftHsm::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    hsm.init_token("lib-token", PIN);
    let pki = TokenPki::new();
    // An unrestricted RSA-3072 key (hash-and-sign mechanisms), and one that may only use
    // CKM_RSA_PKCS (the DigestInfo fallback), both with certificates in a file; a third key
    // whose certificate and issuer live on the token.
    let main = hsm.generate_rsa(&KeySpec::rsa("lib-token", PIN, "main", &[0x01], 3072));
    let mut raw_spec = KeySpec::rsa("lib-token", PIN, "raw-only", &[0x02], 2048);
    raw_spec.allowed = Some(vec!["RSA_PKCS".into()]);
    let raw = hsm.generate_rsa(&raw_spec);
    let stored = hsm.generate_rsa(&KeySpec::rsa("lib-token", PIN, "stored", &[0x03], 2048));
    // A key that wants the PIN again for every signature (CKA_ALWAYS_AUTHENTICATE).
    let mut always_spec = KeySpec::rsa("lib-token", PIN, "always", &[0x04], 2048);
    always_spec.always_authenticate = true;
    let always = hsm.generate_rsa(&always_spec);
    let always_cert = pki.issue(&always, "always", Profile::CodeSigning);

    let main_cert = pki.issue(&main, "main", Profile::CodeSigning);
    let raw_cert = pki.issue(&raw, "raw", Profile::CodeSigning);
    let stored_cert = pki.issue(&stored, "stored", Profile::CodeSigning);
    let write_chain = |name: &str, leaf: &[u8]| {
        let path = dir.path().join(name);
        // Root first: the signer orders the chain itself.
        std::fs::write(&path, pki.root_pem() + &softhsm::pem("CERTIFICATE", leaf)).unwrap();
        path.display().to_string()
    };
    hsm.import_certificate("lib-token", PIN, "stored", &[0x03], &stored_cert);
    hsm.import_certificate("lib-token", PIN, "root", &[0x7f], &pki.root_der);
    // A certificate of another key with the same id must not be taken for the leaf.
    hsm.import_certificate("lib-token", PIN, "main", &[0x01], &main_cert);

    hsm.run_child(
        "child_checks",
        &[
            ("T_MAIN_CHAIN", write_chain("main.pem", &main_cert)),
            ("T_RAW_CHAIN", write_chain("raw.pem", &raw_cert)),
            ("T_ALWAYS_CHAIN", write_chain("always.pem", &always_cert)),
            ("T_ALWAYS_PUB", hex(&always)),
            ("T_MAIN_PUB", hex(&main)),
            ("T_RAW_PUB", hex(&raw)),
            ("T_STORED_CERT", hex(&stored_cert)),
            ("T_MAIN_CERT", hex(&main_cert)),
            ("T_ROOT_CERT", hex(&pki.root_der)),
        ],
    );
}

#[test]
fn child_checks() {
    if !softhsm::in_child() {
        return;
    }
    let message = b"signed attributes stand-in";

    // Hash-and-sign: every hash, chain ordered leaf first from a root-first file.
    let signer = open(
        "lib-token",
        "main",
        CertificateSource::File(env("T_MAIN_CHAIN").into()),
    )
    .unwrap();
    assert_eq!(signer.key_bits(), 3072);
    assert_eq!(signer.certificate_chain()[0], unhex(&env("T_MAIN_CERT")));
    assert_eq!(signer.certificate_chain()[1], unhex(&env("T_ROOT_CERT")));
    let main_pub = unhex(&env("T_MAIN_PUB"));
    let mut hash_and_sign = Vec::new();
    for alg in HashAlgorithm::ALL {
        let sig = signer.sign(alg, message).unwrap();
        assert_eq!(sig.len(), 384);
        verify(&main_pub, alg, message, &sig);
        hash_and_sign.push(sig);
    }

    // The same key selected by id, by `id:` and by `label:`.
    for selector in ["01", "id:01", "label:main"] {
        let by = open(
            "lib-token",
            selector,
            CertificateSource::File(env("T_MAIN_CHAIN").into()),
        )
        .unwrap();
        // PKCS#1 v1.5 is deterministic: the same signature whatever the selector.
        assert_eq!(
            by.sign(HashAlgorithm::Sha256, message).unwrap(),
            hash_and_sign[0]
        );
    }

    // CKM_RSA_PKCS over our DigestInfo: the key allows nothing else.
    let raw = open(
        "lib-token",
        "raw-only",
        CertificateSource::File(env("T_RAW_CHAIN").into()),
    )
    .unwrap();
    let raw_pub = unhex(&env("T_RAW_PUB"));
    for alg in HashAlgorithm::ALL {
        let sig = raw.sign(alg, message).unwrap();
        verify(&raw_pub, alg, message, &sig);
    }

    // CKA_ALWAYS_AUTHENTICATE: a context-specific login before each signature.
    let always = open(
        "lib-token",
        "always",
        CertificateSource::File(env("T_ALWAYS_CHAIN").into()),
    )
    .unwrap();
    let always_pub = unhex(&env("T_ALWAYS_PUB"));
    for alg in HashAlgorithm::ALL {
        let sig = always.try_sign(alg, message).unwrap();
        verify(&always_pub, alg, message, &sig);
    }

    // The certificate read from the token: the leaf carrying the key, then its issuer; the
    // other key's certificate is left out.
    let stored = open("lib-token", "stored", CertificateSource::Token).unwrap();
    assert_eq!(
        stored.certificate_chain(),
        &[unhex(&env("T_STORED_CERT")), unhex(&env("T_ROOT_CERT"))]
    );

    // Several signers on one module in one process, and use from several threads.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let sig = signer.sign(HashAlgorithm::Sha256, message).unwrap();
                assert_eq!(sig, hash_and_sign[0]);
            });
        }
    });
    println!("SOFTHSM-CHILD-OK");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(t: &str) -> Vec<u8> {
    (0..t.len() / 2)
        .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
