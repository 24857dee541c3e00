//! Test PKI made at test time with the `openssl` CLI, in a temporary directory.

use std::path::PathBuf;
use std::process::Command;

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    UnparsedPublicKey,
};
use der::Decode;
use signet_common::HashAlgorithm;
use signet_keys::Signer;
use tempfile::TempDir;
use x509_cert::Certificate;

/// A scratch directory where `openssl` runs.
pub struct Dir {
    tmp: TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.path(name), data).unwrap_or_else(|e| panic!("write {name}: {e}"));
    }

    /// Runs `openssl args...` in the directory; `Err(stderr)` if it fails.
    pub fn try_openssl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.tmp.path())
            .output()
            .expect("the openssl CLI must be installed to run these tests");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Runs `openssl args...` and panics if it fails.
    pub fn openssl(&self, args: &[&str]) -> String {
        self.try_openssl(args)
            .unwrap_or_else(|e| panic!("openssl {args:?} failed: {e}"))
    }

    /// A self-signed RSA certificate: `{name}.key` (PKCS#8 PEM) and `{name}.crt` (PEM).
    pub fn self_signed(&self, name: &str, bits: u32) {
        let newkey = format!("rsa:{bits}");
        let (key, crt, subj) = (
            format!("{name}.key"),
            format!("{name}.crt"),
            format!("/CN=signet test {name}"),
        );
        self.openssl(&[
            "req", "-x509", "-newkey", &newkey, "-nodes", "-keyout", &key, "-out", &crt, "-subj",
            &subj, "-days", "30",
        ]);
    }

    /// root → intermediate → leaf, each `{name}.key` + `{name}.crt`.
    pub fn chain(&self) {
        self.write(
            "ext.cnf",
            b"[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
              [leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
              extendedKeyUsage=codeSigning\n",
        );
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.crt",
            "-subj",
            "/CN=signet test root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        self.issue("int", "root", "ca");
        self.issue("leaf", "int", "leaf");
    }

    fn issue(&self, name: &str, issuer: &str, section: &str) {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        let subj = format!("/CN=signet test {name}");
        self.openssl(&[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            &subj,
        ]);
        let (ca, ca_key) = (format!("{issuer}.crt"), format!("{issuer}.key"));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            section,
        ]);
    }

    /// The DER form of a PEM certificate file.
    pub fn cert_der(&self, pem_name: &str) -> Vec<u8> {
        let der_name = format!("{pem_name}.der");
        self.openssl(&[
            "x509", "-in", pem_name, "-outform", "DER", "-out", &der_name,
        ]);
        self.read(&der_name)
    }

    /// Signs a message with every hash algorithm and checks each signature twice: with
    /// aws-lc-rs against the leaf certificate's public key, and with `openssl dgst -verify`.
    pub fn check_signs(&self, signer: &dyn Signer) {
        let leaf = signer.certificate_chain().first().expect("a leaf").clone();
        self.write("check-leaf.der", &leaf);
        self.openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            "check-leaf.der",
            "-pubkey",
            "-noout",
            "-out",
            "check-pub.pem",
        ]);
        let cert = Certificate::from_der(&leaf).expect("leaf decodes");
        let spki = cert.tbs_certificate().subject_public_key_info();
        let public = spki.subject_public_key.raw_bytes();

        let message = b"signet: the package signature content";
        self.write("check-msg.bin", message);
        for (alg, verify_alg, dgst) in [
            (
                HashAlgorithm::Sha256,
                &RSA_PKCS1_2048_8192_SHA256,
                "-sha256",
            ),
            (
                HashAlgorithm::Sha384,
                &RSA_PKCS1_2048_8192_SHA384,
                "-sha384",
            ),
            (
                HashAlgorithm::Sha512,
                &RSA_PKCS1_2048_8192_SHA512,
                "-sha512",
            ),
        ] {
            let signature = signer.sign(alg, message).expect("signs");
            assert_eq!(signature.len(), signer.key_bits().div_ceil(8));
            UnparsedPublicKey::new(verify_alg, public)
                .verify(message, &signature)
                .unwrap_or_else(|_| panic!("aws-lc-rs rejects the {alg} signature"));
            // PKCS#1 v1.5 is deterministic.
            assert_eq!(signer.sign(alg, message).unwrap(), signature);

            self.write("check-sig.bin", &signature);
            let out = self.openssl(&[
                "dgst",
                dgst,
                "-verify",
                "check-pub.pem",
                "-signature",
                "check-sig.bin",
                "check-msg.bin",
            ]);
            assert!(out.contains("Verified OK"), "openssl: {out}");
        }
        // A signature over another message must not verify.
        let other = signer.sign(HashAlgorithm::Sha256, b"other").unwrap();
        assert!(
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
                .verify(message, &other)
                .is_err()
        );
    }
}
