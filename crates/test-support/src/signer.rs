//! A [`Signer`] that signs through the `openssl` command-line tool, for keys the production
//! signer cannot hold.
//!
//! aws-lc-rs refuses to load RSA keys under 2048 bits, so `SoftwareSigner` cannot sign with
//! [`crate::TestPki::rsa1024`]; yet a test must be able to produce such a signature to see the
//! verifier reject it by policy (NU3014) rather than never meet one.

use std::fmt;

use signet_common::HashAlgorithm;
use signet_keys::{Error, Signer};

use crate::openssl::openssl;
use crate::pki::{CertKey, pki};

/// Signs with RSASSA-PKCS1-v1_5 by running `openssl dgst -<hash> -sign` on a key written to a
/// temporary file for each signature. Any RSA key size OpenSSL accepts works, RSA-1024
/// included. Test use only: it shells out and panics if `openssl` fails.
pub struct OpenSslSigner {
    key_pem: String,
    chain: Vec<Vec<u8>>,
    bits: usize,
}

impl OpenSslSigner {
    /// A signer for a certificate of the test PKI, with the chain a signer sends
    /// ([`crate::TestPki::chain_der`]).
    pub fn new(cert: &CertKey) -> Self {
        Self::from_parts(&cert.key_pkcs8_der, pki().chain_der(cert))
    }

    /// A signer from an unencrypted PKCS#8 DER key and a DER chain, leaf first.
    pub fn from_parts(key_pkcs8_der: &[u8], chain: Vec<Vec<u8>>) -> Self {
        let key_pem = crate::pem::pem_encode("PRIVATE KEY", key_pkcs8_der);
        let bits = key_bits(&key_pem);
        Self {
            key_pem,
            chain,
            bits,
        }
    }
}

/// Reads the modulus size from `openssl pkey -text`'s first line, `Private-Key: (1024 bit, 2
/// primes)`.
fn key_bits(key_pem: &str) -> usize {
    let dir = tempfile::tempdir().expect("temporary directory for openssl");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, key_pem).expect("writing key.pem");
    let text = openssl([
        "pkey".as_ref(),
        "-in".as_ref(),
        key_path.as_os_str(),
        "-noout".as_ref(),
        "-text".as_ref(),
    ]);
    let text = String::from_utf8_lossy(&text);
    text.split_once('(')
        .and_then(|(_, rest)| rest.split_once(" bit"))
        .and_then(|(bits, _)| bits.trim().parse().ok())
        .unwrap_or_else(|| panic!("no key size in `openssl pkey -text` output: {text}"))
}

impl Signer for OpenSslSigner {
    fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn sign(&self, alg: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, Error> {
        let digest = match alg {
            HashAlgorithm::Sha256 => "-sha256",
            HashAlgorithm::Sha384 => "-sha384",
            HashAlgorithm::Sha512 => "-sha512",
            // HashAlgorithm is non_exhaustive; NuGet allows only the three above.
            _ => return Err(Error::Sign),
        };
        let dir = tempfile::tempdir().expect("temporary directory for openssl");
        let key_path = dir.path().join("key.pem");
        let message_path = dir.path().join("message.bin");
        std::fs::write(&key_path, &self.key_pem).expect("writing key.pem");
        std::fs::write(&message_path, message).expect("writing message.bin");
        // `dgst -sign` hashes the file and writes a PKCS#1 v1.5 signature to stdout.
        Ok(openssl([
            "dgst".as_ref(),
            digest.as_ref(),
            "-sign".as_ref(),
            key_path.as_os_str(),
            message_path.as_os_str(),
        ]))
    }

    fn key_bits(&self) -> usize {
        self.bits
    }
}

impl fmt::Debug for OpenSslSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenSslSigner")
            .field("key_bits", &self.bits)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}
