//! Raw ZIP records of NuGet packages, byte-compatible with NuGet's signing code.
//!
//! * [`Package`] opens a `.nupkg` the way NuGet's signing code does (spec §1.2 of
//!   `../shared/spec/nuget-signatures.md`): finds the signature entry (§1.1), checks it by every
//!   NU3005 rule, streams the signature-stripped bytes that the package hash covers (§1.6,
//!   Appendix C) and computes the content hash (§1.7), detects Zip64 (§1.3), and reads the
//!   `.nuspec`.
//! * [`append_signature`] and [`remove_signature`] add and remove `.signature.p7s` exactly as
//!   NuGet's signer does (§1.4, §1.5).
//! * Every size and count is bounded by [`Limits`]; failures are one [`Error`] type whose
//!   [`Error::code`] gives NuGet's NU code as data.
//!
//! Reads are streamed through one 64 KiB buffer per operation, so memory stays flat however
//! large the package. No input makes this crate panic.

mod error;
mod limits;
mod nuspec;
mod package;
mod raw;
mod write;

pub use error::{Error, Limit, ZipHeader};
pub use limits::Limits;
pub use nuspec::{Nuspec, normalize_version};
pub use package::Package;
pub use write::{append_signature, dos_date_time, remove_signature};
