//! Signed packages on the server (`../shared/spec/nuget-server.md` §1–§5): registered
//! certificates, the signed-push rules run before a version is taken, repository signing of
//! every accepted package, the `RepositorySignatures` resource, backfill and revocation
//! rechecks.
//!
//! The rules themselves live in `signet-push-rules` (who must sign, with what) and
//! `signet-trust` (is the signature valid); signing in `signet-sign`. This module is the
//! server's glue: it reads owners, registrations and settings from the database, runs those
//! libraries off the async runtime, and records what each stored version was signed with.

pub(crate) mod backfill;
pub(crate) mod certificates;
pub(crate) mod policy;
pub(crate) mod recheck;
pub(crate) mod repository;
pub(crate) mod store;

pub use backfill::BackfillProgress;
pub(crate) use certificates::chain_der;
pub use certificates::{CertificateStatus, RegisteredCertificate};
pub use policy::{PushValidation, Validated};
pub use recheck::RecheckSummary;
pub(crate) use repository::token_pin;
pub use repository::{
    AnnouncedCertificate, DEV_PKI_DIR, PushPolicy, RepositorySigner, SigningSetup,
};
pub use store::{CertificateRow, VersionSignature};
