//! Certificate and key files on disk, for tests that drive the CLI.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::openssl::openssl;
use crate::pki::{CertKey, pki};

/// Password of every PFX written by [`write_cert_files`].
pub const PFX_PASSWORD: &str = "signet-test-pfx-password";

/// Paths written by [`write_cert_files`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenCert {
    /// The certificate then its issuers, as PEM (see [`crate::TestPki::chain_pem`]).
    pub chain_pem: PathBuf,
    /// The private key as unencrypted PKCS#8 PEM.
    pub key_pem: PathBuf,
    /// A PKCS#12 file with the key and the whole chain, encrypted with `pfx_password`.
    pub pfx: PathBuf,
    /// The password of `pfx` ([`PFX_PASSWORD`]).
    pub pfx_password: String,
    /// The test root alone, as PEM, for `--trust-roots`. Always the root of [`pki`], also for
    /// the self-signed leaf, which it therefore does not make trusted.
    pub root_pem: PathBuf,
}

/// Writes `<stem>.chain.pem`, `<stem>.key.pem`, `<stem>.pfx` and `<stem>.root.pem` into `dir`.
///
/// The PFX is made by `openssl pkcs12 -export` from the PEM files, with OpenSSL 3's defaults
/// (PBES2 with AES-256-CBC, SHA-256 MAC) and `stem` as its friendly name.
pub fn write_cert_files(cert: &CertKey, dir: &Path, stem: &str) -> WrittenCert {
    let pki = pki();
    let written = WrittenCert {
        chain_pem: dir.join(format!("{stem}.chain.pem")),
        key_pem: dir.join(format!("{stem}.key.pem")),
        pfx: dir.join(format!("{stem}.pfx")),
        pfx_password: PFX_PASSWORD.to_owned(),
        root_pem: dir.join(format!("{stem}.root.pem")),
    };
    write(&written.chain_pem, pki.chain_pem(cert).as_bytes());
    write(&written.key_pem, cert.key_pem().as_bytes());
    write(&written.root_pem, pki.root.cert_pem().as_bytes());
    let args: Vec<OsString> = vec![
        "pkcs12".into(),
        "-export".into(),
        "-in".into(),
        written.chain_pem.clone().into(),
        "-inkey".into(),
        written.key_pem.clone().into(),
        "-name".into(),
        stem.into(),
        "-passout".into(),
        format!("pass:{}", written.pfx_password).into(),
        "-out".into(),
        written.pfx.clone().into(),
    ];
    openssl(args);
    written
}

fn write(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
}
