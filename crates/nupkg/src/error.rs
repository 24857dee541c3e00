//! The one error type of this crate, grouped by the phase that raises it.

use std::fmt;
use std::io;

use signet_common::NuCode;

/// Which ZIP header a signature-entry field was read from (spec §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZipHeader {
    /// The central-directory file header.
    CentralDirectory,
    /// The local file header.
    LocalFile,
}

impl fmt::Display for ZipHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CentralDirectory => "central directory header",
            Self::LocalFile => "local file header",
        })
    }
}

/// Which [`Limits`](crate::Limits) field was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_package_size`](crate::Limits::max_package_size).
    PackageSize,
    /// [`Limits::max_entries`](crate::Limits::max_entries).
    Entries,
    /// [`Limits::max_central_directory_size`](crate::Limits::max_central_directory_size).
    CentralDirectorySize,
    /// [`Limits::max_signature_size`](crate::Limits::max_signature_size).
    SignatureSize,
    /// [`Limits::max_nuspec_size`](crate::Limits::max_nuspec_size).
    NuspecSize,
    /// [`Limits::max_entry_name_len`](crate::Limits::max_entry_name_len).
    EntryNameLength,
    /// [`Limits::max_entry_size`](crate::Limits::max_entry_size).
    EntrySize,
    /// [`Limits::max_extracted_size`](crate::Limits::max_extracted_size).
    ExtractedSize,
    /// [`Limits::max_compression_ratio`](crate::Limits::max_compression_ratio).
    CompressionRatio,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PackageSize => "max_package_size",
            Self::Entries => "max_entries",
            Self::CentralDirectorySize => "max_central_directory_size",
            Self::SignatureSize => "max_signature_size",
            Self::NuspecSize => "max_nuspec_size",
            Self::EntryNameLength => "max_entry_name_len",
            Self::EntrySize => "max_entry_size",
            Self::ExtractedSize => "max_extracted_size",
            Self::CompressionRatio => "max_compression_ratio",
        })
    }
}

/// Everything that can go wrong reading, hashing, signing or unsigning a package.
///
/// The NU code NuGet would log is data on the error: [`Error::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- any phase -------------------------------------------------------------------------
    /// Reading the input or writing the output failed.
    #[error("i/o error while {action}: {source}")]
    Io {
        /// What was being done (`"reading the package"`, `"writing the output"`).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A [`Limits`](crate::Limits) value was exceeded.
    #[error("the package exceeds the {limit} limit ({actual} > {max})")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The size or count found (a lower bound when reading stopped at the limit).
        actual: u64,
        /// The configured maximum.
        max: u64,
    },

    // ---- opening: ZIP structure (spec §1.2) ------------------------------------------------
    /// The file is not a ZIP archive signet can read. NuGet logs "'{path}' is not a valid
    /// package file." for these.
    #[error("not a valid package file: {reason} (at byte offset {offset})")]
    InvalidArchive {
        /// What is wrong.
        reason: String,
        /// Where in the file.
        offset: u64,
    },

    // ---- the signature entry (spec §1.1, NU3005) -------------------------------------------
    /// More than one central-directory record is named `.signature.p7s` with bit 11 clear.
    #[error("the package contains multiple package signature files")]
    MultipleSignatureEntries {
        /// Byte offsets of the central-directory records concerned.
        offsets: Vec<u64>,
    },
    /// A header field of the signature entry has a value NuGet rejects.
    #[error(
        "the package signature file entry is invalid: the {header} field '{field}' has an invalid value ({value})"
    )]
    SignatureEntryField {
        /// Which header.
        header: ZipHeader,
        /// NuGet's name for the field (`"compression method"`, `"general purpose bit"`,
        /// `"compressed size"`, `"external file attributes"`).
        field: &'static str,
        /// The value found.
        value: u32,
        /// Byte offset of the header.
        offset: u64,
    },
    /// The signature entry is unusable for another reason (its local header is missing, named
    /// differently, or its data does not fit in the file or its entry).
    #[error(
        "the package does not contain a valid package signature file: {reason} (at byte offset {offset})"
    )]
    InvalidSignatureEntry {
        /// What is wrong.
        reason: String,
        /// Where in the file.
        offset: u64,
    },

    // ---- hashing (spec §1.6, NU3008) -------------------------------------------------------
    /// The signature-stripped stream cannot be produced: a byte range it needs is missing or
    /// inverted. NuGet reports any failure here as an integrity failure.
    #[error("the package integrity check failed: {reason} (at byte offset {offset})")]
    Integrity {
        /// What is wrong.
        reason: String,
        /// Where in the file.
        offset: u64,
    },

    // ---- signing and unsigning (spec §1.3-§1.5) --------------------------------------------
    /// [`append_signature`](crate::append_signature) was given a package that already has a
    /// `.signature.p7s` entry.
    #[error("the package is already signed")]
    AlreadySigned,
    /// The package uses Zip64 (spec §1.3), or would need it once signed.
    #[error("signed zip64 packages are not supported")]
    Zip64,
    /// The EOCD total entry count is `0xFFFE` or more (spec §1.3).
    #[error(
        "the package has too many entries to be signed ({entries}; at most 65533 are supported without zip64)"
    )]
    TooManyEntries {
        /// The EOCD total entry count.
        entries: u16,
    },
    /// [`remove_signature`](crate::remove_signature) was given a package with no signature entry.
    #[error("the package is not signed")]
    NotSigned,
    /// The signature entry is not where NuGet's signer puts it, so removing it would leave wrong
    /// offsets in the archive (spec §1.5).
    #[error(
        "the package signature file entry must be the last local file entry and the last central directory record to be removed (local file header at byte offset {offset})"
    )]
    SignatureNotLast {
        /// Byte offset of the signature entry's local file header.
        offset: u64,
    },

    // ---- extraction ([`Package::extract_to`](crate::Package::extract_to)) -------------------
    /// The archive's layout is ambiguous, so the bytes an extractor would read might not be the
    /// bytes the package hash covers: bytes before the first entry, between entries or after
    /// the end record, an end record that does not describe the central directory, Zip64.
    #[error("the package cannot be extracted safely: {reason} (at byte offset {offset})")]
    UnsafeArchive {
        /// What is wrong.
        reason: String,
        /// Where in the file.
        offset: u64,
    },
    /// One entry's records are inconsistent or unsupported: the local file header disagrees
    /// with the central directory (name, sizes, method, flags, CRC-32), the data overlaps
    /// another entry or leaves the bytes the hash covers, the entry is encrypted, a symbolic
    /// link, or uses a compression method other than stored or deflate.
    #[error("the entry '{entry}' cannot be extracted safely: {reason} (at byte offset {offset})")]
    UnsafeEntry {
        /// The entry name (lossily decoded).
        entry: String,
        /// What is wrong.
        reason: String,
        /// Where in the file.
        offset: u64,
    },
    /// An entry's data does not match its headers: the deflate stream is corrupt or ends early
    /// or late, the uncompressed size or the CRC-32 differs from the declared one.
    #[error("the entry '{entry}' is corrupt: {reason}")]
    CorruptEntry {
        /// The entry name.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry name is not a safe relative path (see
    /// [`Package::extract_to`](crate::Package::extract_to) for the rules). NuGet refuses
    /// entries that would land outside the package folder ("unsafe for extraction"), without an
    /// NU code.
    #[error("the entry '{entry}' has an unsafe name: {reason}")]
    UnsafeEntryName {
        /// The entry name (lossily decoded, control characters escaped).
        entry: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Two entries would be written to the same file or directory on a case-insensitive or
    /// normalisation-insensitive file system (or are simply duplicates), or one entry's path is
    /// another's directory.
    #[error("the entries '{entry}' and '{other}' collide when extracted")]
    EntryNameCollision {
        /// The later entry.
        entry: String,
        /// The entry it collides with.
        other: String,
    },

    // ---- the nuspec ------------------------------------------------------------------------
    /// No `*.nuspec` entry at the archive root.
    #[error("the package does not contain a .nuspec file at its root")]
    NuspecMissing,
    /// More than one `*.nuspec` entry at the archive root.
    #[error("the package contains multiple .nuspec files at its root: {}", .names.join(", "))]
    NuspecMultiple {
        /// Their names.
        names: Vec<String>,
    },
    /// The `.nuspec` could not be read or parsed, or lacks a valid id or version.
    #[error("invalid nuspec '{entry}': {reason}")]
    InvalidNuspec {
        /// The entry name.
        entry: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The NU code NuGet logs for this failure, or `None` where NuGet treats it as "not a valid
    /// package file" (or has no counterpart).
    pub fn code(&self) -> Option<NuCode> {
        match self {
            Self::MultipleSignatureEntries { .. }
            | Self::SignatureEntryField { .. }
            | Self::InvalidSignatureEntry { .. }
            | Self::UnsafeArchive { .. }
            | Self::UnsafeEntry { .. }
            | Self::CorruptEntry { .. } => Some(NuCode::NU3005),
            Self::Integrity { .. } => Some(NuCode::NU3008),
            Self::AlreadySigned => Some(NuCode::NU3001),
            Self::Zip64 => Some(NuCode::NU3006),
            Self::TooManyEntries { .. } => Some(NuCode::NU3039),
            Self::Io { .. }
            | Self::LimitExceeded { .. }
            | Self::InvalidArchive { .. }
            | Self::NotSigned
            | Self::SignatureNotLast { .. }
            | Self::NuspecMissing
            | Self::NuspecMultiple { .. }
            | Self::InvalidNuspec { .. }
            | Self::UnsafeEntryName { .. }
            | Self::EntryNameCollision { .. } => None,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>, offset: u64) -> Self {
        Self::InvalidArchive {
            reason: reason.into(),
            offset,
        }
    }

    pub(crate) fn integrity(reason: impl Into<String>, offset: u64) -> Self {
        Self::Integrity {
            reason: reason.into(),
            offset,
        }
    }

    pub(crate) fn bad_signature_entry(reason: impl Into<String>, offset: u64) -> Self {
        Self::InvalidSignatureEntry {
            reason: reason.into(),
            offset,
        }
    }

    pub(crate) fn limit(limit: Limit, actual: u64, max: u64) -> Self {
        Self::LimitExceeded { limit, actual, max }
    }

    pub(crate) fn read(source: io::Error) -> Self {
        Self::Io {
            action: "reading the package",
            source,
        }
    }

    pub(crate) fn write(source: io::Error) -> Self {
        Self::Io {
            action: "writing the output",
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_mirror_nuget_lowercased() {
        let e = Error::SignatureEntryField {
            header: ZipHeader::CentralDirectory,
            field: "compression method",
            value: 8,
            offset: 0,
        };
        assert_eq!(
            e.to_string(),
            "the package signature file entry is invalid: the central directory header field \
             'compression method' has an invalid value (8)"
        );
        assert_eq!(e.code(), Some(NuCode::NU3005));
        let e = Error::limit(Limit::SignatureSize, 11, 10);
        assert_eq!(
            e.to_string(),
            "the package exceeds the max_signature_size limit (11 > 10)"
        );
        assert_eq!(e.code(), None);
        assert_eq!(
            Error::NuspecMultiple {
                names: vec!["a.nuspec".into(), "b.nuspec".into()]
            }
            .to_string(),
            "the package contains multiple .nuspec files at its root: a.nuspec, b.nuspec"
        );
    }

    #[test]
    fn codes() {
        assert_eq!(Error::AlreadySigned.code(), Some(NuCode::NU3001));
        assert_eq!(Error::Zip64.code(), Some(NuCode::NU3006));
        assert_eq!(
            Error::TooManyEntries { entries: 0xFFFE }.code(),
            Some(NuCode::NU3039)
        );
        assert_eq!(Error::integrity("x", 1).code(), Some(NuCode::NU3008));
        assert_eq!(Error::invalid("x", 1).code(), None);
    }
}
