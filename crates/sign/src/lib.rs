//! Signing NuGet packages, as one library the CLI (`sign`, `repo-sign`) and the server share.
//!
//! * [`sign_package`] writes a signed copy of a package: an author signature
//!   ([`Operation::Author`]) or a repository signature ([`Operation::Repository`]) — a
//!   repository primary signature on an unsigned package, a repository countersignature on an
//!   author-signed one (spec §3.7, §7.2). The package hash never changes when countersigning.
//! * [`sign_file`] does the same from one path to another, atomically: the output appears
//!   complete or not at all.
//! * Timestamps come through the [`TimestampClient`] trait; [`TsaTimestamper`] asks an
//!   RFC 3161 authority over HTTP and checks its answer (spec §4.2).
//!
//! Checking the signing certificate before signing (spec §5.10) is the caller's job
//! (`signet_trust::check_signing_certificate`), because the caller decides the policy.

mod error;
mod sign;
mod timestamp;

pub use error::{Error, ErrorKind};
pub use sign::{Operation, Outcome, SignOptions, sign_file, sign_package, sort_owners};
pub use timestamp::{TimestampClient, TsaTimestamper};
