//! Every size and count this crate accepts from a package, in one place.

/// Limits applied to every package this crate reads or writes.
///
/// Packages are untrusted input: each field caps one thing an attacker controls, and going over a
/// cap is its own error ([`Error::LimitExceeded`](crate::Error::LimitExceeded), naming the limit),
/// raised before any allocation or long read that the cap protects. The defaults are generous for
/// real packages and small enough that a hostile file cannot make signet use much memory or time.
///
/// Build a custom set with struct update syntax:
///
/// ```
/// let limits = signet_nupkg::Limits { max_package_size: 250 * 1024 * 1024, ..Default::default() };
/// # assert_eq!(limits.max_entries, 65_535);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest package file, in bytes. Default 1 GiB: nuget.org accepts at most 250 MB, local
    /// feeds sometimes hold larger packages, and without Zip64 (which signing rejects, NU3006) a
    /// ZIP cannot exceed 4 GiB anyway.
    pub max_package_size: u64,
    /// Most central-directory records. Default 65,535: a ZIP without Zip64 cannot count more,
    /// and NuGet signs at most [`Limits::SIGNING_MAX_ENTRIES`] (NU3039).
    pub max_entries: usize,
    /// Largest central directory, in bytes (as declared by the end-of-central-directory record
    /// and as actually walked). Default 32 MiB, about 500 bytes per record at the maximum count.
    /// Entry names are kept in memory, so this also bounds what [`Package`](crate::Package) holds.
    pub max_central_directory_size: u64,
    /// Largest `.signature.p7s` content, in bytes, read or written. Default 10 MiB; real
    /// signatures with a countersignature and two timestamps are around 20 KiB.
    pub max_signature_size: u64,
    /// Largest uncompressed `.nuspec`, in bytes. Default 1 MiB. Checked against the declared size
    /// first and enforced again while inflating, so a lying header or a deflate bomb stops at the
    /// limit.
    pub max_nuspec_size: u64,
    /// Longest entry name, in bytes. Default 4,096 (a ZIP allows 65,535).
    pub max_entry_name_len: usize,
    /// Largest uncompressed size of one extracted entry, in bytes
    /// ([`Package::extract_to`](crate::Package::extract_to)). Default 2 GiB. Checked against the
    /// declared size before anything is written and enforced again while inflating.
    pub max_entry_size: u64,
    /// Largest total uncompressed size of everything extracted from one package, in bytes.
    /// Default 4 GiB. Checked against the declared sizes before anything is written; every
    /// entry's actual size must equal its declared size, so the actual total obeys it too.
    pub max_extracted_size: u64,
    /// Largest ratio of the total uncompressed size extracted to the package file's size.
    /// Default 100: real packages are around 2-5, XML documentation alone around 10, while a
    /// decompression bomb is around 1,000 (deflate's maximum). Together with
    /// [`Limits::max_extracted_size`] this bounds the disk a small download can fill. The
    /// first MiB extracted is exempt, so tiny packages of compressible text always pass.
    pub max_compression_ratio: u64,
}

impl Limits {
    /// Most entries a package may have to be signed: NuGet requires the EOCD total entry count
    /// to be below `0xFFFE` before adding the signature entry (spec §1.3, NU3039).
    pub const SIGNING_MAX_ENTRIES: u16 = 0xFFFD;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_package_size: 1024 * 1024 * 1024,
            max_entries: 65_535,
            max_central_directory_size: 32 * 1024 * 1024,
            max_signature_size: 10 * 1024 * 1024,
            max_nuspec_size: 1024 * 1024,
            max_entry_name_len: 4096,
            max_entry_size: 2 * 1024 * 1024 * 1024,
            max_extracted_size: 4 * 1024 * 1024 * 1024,
            max_compression_ratio: 100,
        }
    }
}
