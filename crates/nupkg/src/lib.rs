//! Raw ZIP records of NuGet packages, byte-compatible with NuGet's signing code.
//!
//! * [`Package`] opens a `.nupkg` the way NuGet's signing code does (spec §1.2 of
//!   `../shared/spec/nuget-signatures.md`): finds the signature entry (§1.1), checks it by every
//!   NU3005 rule, streams the signature-stripped bytes that the package hash covers (§1.6,
//!   Appendix C) and computes the content hash (§1.7), detects Zip64 (§1.3), and reads the
//!   `.nuspec`.
//! * [`append_signature`] and [`remove_signature`] add and remove `.signature.p7s` exactly as
//!   NuGet's signer does (§1.4, §1.5).
//! * [`Package::extract_to`] writes the package's files into a fresh directory: exactly the
//!   entries whose bytes the package hash covers, read through the same raw records, after
//!   refusing every layout, name or size another ZIP reader could see differently.
//! * Every size and count is bounded by [`Limits`]; failures are one [`Error`] type whose
//!   [`Error::code`] gives NuGet's NU code as data.
//!
//! Reads are streamed through one 64 KiB buffer per operation, so memory stays flat however
//! large the package. No input makes this crate panic.
//!
//! # Deliberate differences from NuGet
//!
//! Everything that decides a package hash, a content hash or the bytes of a signed package is
//! NuGet's behaviour, quirks included. Where NuGet would read garbage or write a corrupt
//! archive, signet stops with an error instead:
//!
//! * The EOCD scan looks at the last 65,557 bytes only (NuGet scans the whole file); an EOCD
//!   further back is not part of a valid ZIP.
//! * Signature data that runs past its entry into the next header is NU3005; NuGet would read
//!   the next header's bytes as the signature (fixture `SignatureFileEntry.zip`).
//! * [`append_signature`] and [`remove_signature`] refuse an EOCD that does not directly follow
//!   the central directory, and [`remove_signature`] refuses a signature entry that is not the
//!   last local entry and last central-directory record; NuGet writes wrong offsets there.
//! * A `.signature.p7s` whose only records have bit 11 set is NU3005 for reading and hashing
//!   (NuGet: signed by one check, "no valid signature file" by the next).
//! * The nuspec must have a `<package>` root, names match by local name whatever the namespace,
//!   and a name containing `\` is not at the root; DTDs are refused.
//! * Records sharing one local-header offset are ordered stably; NuGet's unstable sort could
//!   order them differently (no real package has them).

mod error;
mod extract;
mod id;
mod limits;
mod nuspec;
mod package;
mod raw;
mod write;

pub use error::{Error, Limit, ZipHeader};
pub use extract::{Extracted, ExtractedEntry, SkipReason, SkippedEntry};
pub use id::{IdError, MAX_ID_LENGTH, PackageId};
pub use limits::Limits;
pub use nuspec::{Dependency, DependencyGroup, Nuspec, normalize_version};
pub use package::Package;
pub use write::{append_signature, dos_date_time, remove_signature};
