//! Fixtures shared by signet's tests: a test PKI generated at test time (so nothing in it ever
//! expires in CI), NuGet package builders, and the path to the real signed samples in
//! `../shared/interop`.
//!
//! The PKI is RSA throughout, like the certificates NuGet sees in practice. Most certificates
//! are made with `rcgen`; the two that `rcgen` cannot make (an RSA-1024 key and a
//! sha1WithRSAEncryption signature) and the PFX files come from the `openssl` command-line
//! tool, which therefore must be on `PATH` when these fixtures are used.

// This crate only ever runs inside tests: a broken fixture should stop the test at once with a
// message saying what went wrong, so panicking helpers are the right shape here.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod adversarial;
#[cfg(feature = "browser")]
mod browser;
mod env;
mod feed;
mod files;
mod go_tlog;
mod interop;
mod openssl;
mod package;
mod pem;
mod pki;
mod process;
mod signer;

pub use adversarial::{
    ADVERSARIAL_DLL, AdversarialCase, AdversarialExpect, adversarial_packages,
    install_layout_collisions, nuget_append_signature, nuget_extractable_entries,
};
#[cfg(feature = "browser")]
pub use browser::{Browser, chromium_path};
pub use env::isolate_config;
pub use feed::{StaticServer, V3Feed};
pub use files::{PFX_PASSWORD, WrittenCert, write_cert_files};
pub use go_tlog::{build_cosigcheck, build_tlogcheck, go_binary, run_tlogcheck};
pub use interop::interop_dir;
pub use package::{PackageBuilder, large_package};
pub use pem::pem_encode;
pub use pki::{
    CertKey, IssuingCa, TestPki, TimestampingProfile, code_signing_cert_for,
    code_signing_cert_with_validity, pki, timestamping_cert_with,
};
pub use pki::{RevocableCa, RevocationUrls, RevokedEntry, root_crl};
pub use process::{TsaProcess, output_text};
/// CRL reason codes for [`RevokedEntry`].
pub use rcgen::RevocationReason;
pub use signer::OpenSslSigner;
