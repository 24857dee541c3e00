//! A development PKI for signing NuGet packages: `signet pki init|serve|revoke`.
//!
//! [`init`] makes a root CA, an intermediate CA and three leaves — code signing, an RFC 3161
//! timestamp authority, repository signing — with CRL distribution points and AIA OCSP URLs on
//! `http://127.0.0.1:<port>`. [`serve`] answers those URLs on loopback: CRLs, an OCSP
//! responder and (with the TSA key) a timestamp authority. [`revoke`] records a revocation in
//! `state.json` and reissues the CRL; a running server sees it on its next request.
//!
//! Nothing here is for production: the CA keys sit unencrypted (mode 0600) beside the
//! certificates, and the server refuses to listen anywhere but loopback.
//!
//! Time is always an argument ([`signet_common::UtcTime`]); the server reads it through
//! [`Clock`].

mod error;
mod files;
mod model;
mod pki;
mod profile;
mod responder;
mod router;
mod server;
mod state;

pub use error::Error;
pub use model::{CertName, RevocationReason, parse_rfc3339};
pub use pki::{
    CRL_VALIDITY_DAYS, CertSelector, Created, CreatedCertificate, DEFAULT_PORT, Existing,
    InitOptions, PFX_FILE, Revoked, configured_port, crl_file, init, is_pki, random_password,
    revoke,
};
pub use profile::Urls;
pub use responder::{OCSP_VALIDITY_SECONDS, Responder};
pub use server::{
    Clock, ServeOptions, SystemClock, TSA_SERIAL_FILE, bind_loopback, check_loopback,
    revocation_routes, serve,
};
pub use state::STATE_FILE;
