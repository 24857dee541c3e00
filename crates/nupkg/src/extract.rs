//! Safe extraction: the files written are exactly the entries whose bytes the package hash
//! covers (spec §1.6 of `../shared/spec/nuget-signatures.md`), read through the same raw
//! records as the hash, never through a second ZIP parser.
//!
//! Extraction happens in two phases. [`plan`] checks the whole archive without writing
//! anything: the layout (no byte outside an entry, the end record describing the central
//! directory), each entry's local header against its central-directory header, every name,
//! every limit. Only then does [`Package::extract_to`] write, entry by entry, checking each
//! entry's size and CRC-32 as its bytes go to disk.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};
use icu_normalizer::ComposingNormalizerBorrowed;

use crate::error::{Error, Limit};
use crate::package::{CdRecord, Package};
use crate::raw::{BUF_SIZE, CopyError, LFH_FIXED, LFH_SIG, Window, le16, le32};

/// Stored (no compression).
const METHOD_STORED: u16 = 0;
/// Deflate.
const METHOD_DEFLATE: u16 = 8;
/// Flag bit 3: CRC-32 and sizes follow the data in a data descriptor.
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// Flags an extractor may see: bits 1-2 (deflate options), 3 (data descriptor), 11 (UTF-8
/// names). Everything else (encryption: 0, 6, 13; patched data: 5; reserved bits) is refused.
const ALLOWED_FLAGS: u16 = 0b0000_1000_0000_1110;
/// Optional signature of a data descriptor (APPNOTE 4.3.9.3).
const DATA_DESCRIPTOR_SIG: u32 = 0x0807_4b50;
/// Deflate cannot compress better than about 1032:1, so a declared ratio beyond this is a lie
/// (the limit on the whole package, [`crate::Limits::max_compression_ratio`], is lower).
const MAX_DEFLATE_RATIO: u64 = 1100;
/// Uncompressed bytes exempt from [`crate::Limits::max_compression_ratio`].
const RATIO_ALLOWANCE: u64 = 1024 * 1024;
/// "Version made by" host 3: Unix, whose external attributes carry a `st_mode`.
const HOST_UNIX: u16 = 3;
/// `S_IFMT` and `S_IFLNK` of a Unix `st_mode`.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Why an entry was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The package signature entry `.signature.p7s`: the package hash does not cover it (it
    /// is the signature itself). NuGet writes it into the package folder; signet does not (see
    /// `docs/DIFFERENCES.md`). Read it with [`Package::read_signature`] if it is needed.
    Signature,
    /// A file NuGet's extractor skips (`PackageHelper.IsPackageFile`): a name starting with
    /// `_rels/`, `package/` or `[Content_Types].xml`, or ending in `.nupkg.sha512`, ASCII
    /// case-insensitively. These are the OPC packaging parts (`_rels/.rels`,
    /// `package/services/metadata/core-properties/*.psmdcp`, `[Content_Types].xml`).
    PackagingFile,
    /// A directory entry (name ending in `/`). Directories are created for the files in them.
    Directory,
}

/// One file written by [`Package::extract_to`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractedEntry {
    /// The entry name exactly as stored in the archive (validated UTF-8).
    pub name: String,
    /// Where it was written, relative to the destination, `/`-separated: the name with
    /// percent-escapes decoded (as NuGet does, `Uri.UnescapeDataString`), so `a%20b.txt` is
    /// written as `a b.txt`. Checked safe by the rules of [`Package::extract_to`].
    pub path: String,
    /// Uncompressed size in bytes, as declared and as written.
    pub size: u64,
    /// CRC-32 of the bytes written, as declared.
    pub crc32: u32,
    /// SHA-256 of the bytes written, lower-case hex (what an audit compares the file on disk
    /// with).
    pub sha256: String,
}

impl ExtractedEntry {
    /// [`ExtractedEntry::path`] as a platform path relative to the destination.
    pub fn relative_path(&self) -> PathBuf {
        self.path.split('/').collect()
    }
}

/// One entry [`Package::extract_to`] did not write, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedEntry {
    /// The entry name exactly as stored in the archive.
    pub name: String,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// What [`Package::extract_to`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extracted {
    /// The files written, in the order of their local headers in the file.
    pub files: Vec<ExtractedEntry>,
    /// The entries not written, in the same order.
    pub skipped: Vec<SkippedEntry>,
    /// Sum of [`ExtractedEntry::size`].
    pub total_size: u64,
}

impl Extracted {
    /// Flushes every extracted file and directory to stable storage (`fsync`), deepest first,
    /// then `dest` itself. [`Package::extract_to`] does not, because most callers extract many
    /// packages; call this before renaming `dest` into place when the result must survive a
    /// power loss. The caller still has to sync the directory that receives the rename.
    pub fn sync(&self, dest: &Path) -> Result<(), Error> {
        let sync_err = |source| Error::Io {
            action: "syncing the extracted files",
            source,
        };
        let mut dirs = BTreeSet::new();
        for f in &self.files {
            let rel = f.relative_path();
            File::open(dest.join(&rel))
                .and_then(|h| h.sync_all())
                .map_err(sync_err)?;
            dirs.extend(rel.ancestors().skip(1).map(Path::to_path_buf));
        }
        // Longest paths first so children are durable before their parents; `""` is `dest`.
        let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            sync_dir(&dest.join(d)).map_err(sync_err)?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for syncing on Windows; NTFS journals their metadata.
    Ok(())
}

/// One entry as checked by [`plan`].
#[derive(Clone, Debug)]
pub(crate) struct PlannedEntry {
    pub(crate) name: String,
    /// `None` for entries that are skipped.
    pub(crate) path: Option<String>,
    pub(crate) skip: Option<SkipReason>,
    pub(crate) method: u16,
    pub(crate) data_offset: u64,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    pub(crate) crc32: u32,
}

impl<R: Read + Seek> Package<R> {
    /// Extracts the package into `dest`: every entry the package hash covers, except the
    /// signature and NuGet's packaging files, each written exactly as the hash covered it.
    ///
    /// # Contract
    ///
    /// * `dest` must be an existing, empty directory that nothing else writes to while this
    ///   runs: the caller creates a fresh temporary directory next to the final location
    ///   (same file system), extracts into it, optionally calls [`Extracted::sync`], and
    ///   renames it into place. A non-empty `dest` is refused.
    /// * On error, the files and directories this call created are removed (best effort), but
    ///   **the caller must delete `dest`** and never use its contents: an error means the
    ///   package is not installed. On success, `dest` holds exactly [`Extracted::files`].
    /// * Verify the package first (`signet_trust::verify_package`) on the same bytes, held in
    ///   a file nobody else can write: this function checks structure and integrity of each
    ///   entry (CRC-32, sizes) but not the signature.
    /// * The limits are those given to [`Package::open`]:
    ///   [`Limits::max_entry_size`](crate::Limits::max_entry_size),
    ///   [`Limits::max_extracted_size`](crate::Limits::max_extracted_size),
    ///   [`Limits::max_compression_ratio`](crate::Limits::max_compression_ratio), plus the
    ///   limits of opening.
    ///
    /// # What is checked before anything is written
    ///
    /// Layout — the bytes every extractor reads must be the bytes the hash covers, and there
    /// must be no other bytes a different ZIP reader could take for an entry
    /// ([`Error::UnsafeArchive`], NU3005): no bytes before the first local header, none between
    /// entries (each entry's local header, name, extra field, data and optional data
    /// descriptor end exactly where the next entry or the central directory begins), the end
    /// of central directory record directly after the last central-directory header and its
    /// comment reaching exactly the end of the file, its counts, size and offset describing
    /// the central directory walked, one disk, no Zip64 (locator, extra fields or `0xFFFFFFFF`
    /// fields).
    ///
    /// Each entry ([`Error::UnsafeEntry`], NU3005): a local header at the offset the
    /// central directory gives, with the same name bytes, flags, method, CRC-32 and sizes (with
    /// flag bit 3 the local values may be zero, and the data descriptor must carry the central
    /// directory's values); stored (compressed size = size) or deflate; not encrypted; not a
    /// Unix symbolic link; on disk 0.
    ///
    /// Names ([`Error::UnsafeEntryName`]): valid UTF-8 whatever flag bit 11 says (NuGet's .NET
    /// reads names as UTF-8 either way); percent-escapes are decoded first, as NuGet does, and
    /// the rules apply to the decoded name, so `%2e%2e%2f` is `../`. Refused: empty names,
    /// absolute paths (a leading `/`), empty, `.` or `..` segments, backslashes (a path
    /// separator on Windows; NuGet's own packer writes `/`), `:` (drive letters, NTFS
    /// alternate data streams), the other characters Windows forbids (`<>"|?*`), control
    /// characters (NUL included), segments ending in a dot or a space (Windows drops them),
    /// and Windows device names (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`,
    /// with any extension). The same rules on every OS, so a verdict never depends on where
    /// it runs.
    ///
    /// Collisions ([`Error::EntryNameCollision`]): two entries whose decoded names are equal
    /// after Unicode NFC normalisation and lowercasing (so case-only and normalisation twins,
    /// and plain duplicates, which different ZIP readers resolve differently), or a file whose
    /// path is another entry's directory. Skipped entries take part too.
    ///
    /// Limits ([`Error::LimitExceeded`]): each declared size, the declared total, the total
    /// against the package size, and, for deflate, a declared size the compressed size cannot
    /// produce.
    ///
    /// # What is skipped
    ///
    /// See [`SkipReason`]: the signature entry, NuGet's packaging files, directory entries.
    /// The `.nuspec` is extracted under its name in the archive. Writing `<id>.<version>.nupkg`,
    /// `.nupkg.sha512` and `.nupkg.metadata` is the caller's job.
    ///
    /// # Writing
    ///
    /// Files are created with `create_new` (never overwriting, never following a symbolic
    /// link), directories one level at a time with `create_dir`; nothing else in `dest` is
    /// touched. Data is read from the local header's data offset, inflated (deflate) in 64 KiB
    /// chunks, and checked as it goes: the inflated size may not pass the declared size, the
    /// deflate stream must end exactly at the entry's compressed size, and the CRC-32 and size
    /// must match ([`Error::CorruptEntry`], NU3005). Timestamps and permissions from the
    /// archive are ignored (files get the process's default mode, never executable bits from
    /// the archive).
    pub fn extract_to(&mut self, dest: &Path) -> Result<Extracted, Error> {
        let planned = plan(self)?;
        let mut created = Created::default();
        match write_all(self, dest, &planned, &mut created) {
            Ok(extracted) => Ok(extracted),
            Err(e) => {
                created.remove_all(dest);
                Err(e)
            }
        }
    }

    /// What [`Package::extract_to`] would write, without writing anything: the same checks,
    /// every entry inflated and checked (CRC-32, sizes) into a SHA-256. An audit compares a
    /// package folder's files with this, so the expectation comes from the verified package,
    /// never from a file in the folder that whoever changed the folder could also change.
    pub fn entry_digests(&mut self) -> Result<Extracted, Error> {
        let planned = plan(self)?;
        let mut out = Extracted::default();
        let mut w = Window::new(self.reader_mut());
        for p in &planned {
            let (Some(path), None) = (&p.path, p.skip) else {
                out.skipped.push(SkippedEntry {
                    name: p.name.clone(),
                    reason: p.skip.unwrap_or(SkipReason::Directory),
                });
                continue;
            };
            let sha256 = write_entry(&mut w, p, io::sink())?;
            out.total_size += p.size;
            out.files.push(ExtractedEntry {
                name: p.name.clone(),
                path: path.clone(),
                size: p.size,
                crc32: p.crc32,
                sha256,
            });
        }
        Ok(out)
    }
}

/// What this extraction created inside `dest`, in creation order, for clean-up on error.
#[derive(Default)]
struct Created {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    dir_set: BTreeSet<String>,
}

impl Created {
    fn remove_all(&self, dest: &Path) {
        // Best effort: the caller deletes `dest` anyway.
        for f in self.files.iter().rev() {
            let _ = fs::remove_file(dest.join(f));
        }
        for d in self.dirs.iter().rev() {
            let _ = fs::remove_dir(dest.join(d));
        }
    }
}

fn write_all<R: Read + Seek>(
    pkg: &mut Package<R>,
    dest: &Path,
    planned: &[PlannedEntry],
    created: &mut Created,
) -> Result<Extracted, Error> {
    let dest_err = |source| Error::Io {
        action: "opening the destination directory",
        source,
    };
    let meta = fs::symlink_metadata(dest).map_err(dest_err)?;
    if !meta.is_dir() {
        return Err(dest_err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "the destination is not a directory",
        )));
    }
    if fs::read_dir(dest).map_err(dest_err)?.next().is_some() {
        return Err(dest_err(io::Error::new(
            io::ErrorKind::DirectoryNotEmpty,
            "the destination directory is not empty",
        )));
    }

    let mut out = Extracted::default();
    let mut w = Window::new(pkg.reader_mut());
    for p in planned {
        let (Some(path), None) = (&p.path, p.skip) else {
            out.skipped.push(SkippedEntry {
                name: p.name.clone(),
                reason: p.skip.unwrap_or(SkipReason::Directory),
            });
            continue;
        };
        let file = create_file(dest, path, created)?;
        let sha256 = write_entry(&mut w, p, io::BufWriter::with_capacity(BUF_SIZE, file))?;
        out.total_size += p.size;
        out.files.push(ExtractedEntry {
            name: p.name.clone(),
            path: path.clone(),
            size: p.size,
            crc32: p.crc32,
            sha256,
        });
    }
    Ok(out)
}

/// Creates the parent directories of `path` (one level at a time, only those this extraction
/// has not created yet) and the file itself with `create_new`.
fn create_file(dest: &Path, path: &str, created: &mut Created) -> Result<File, Error> {
    let write_err = |source| Error::Io {
        action: "writing the extracted files",
        source,
    };
    let mut segments: Vec<&str> = path.split('/').collect();
    let file_name = segments.pop().unwrap_or_default();
    let mut rel = String::new();
    let mut rel_path = PathBuf::new();
    for seg in segments {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(seg);
        rel_path.push(seg);
        if created.dir_set.contains(&rel) {
            continue;
        }
        // `create_dir` fails if anything exists there; `dest` was empty and every name is
        // unique after folding, so it never meets something this extraction did not make.
        fs::create_dir(dest.join(&rel_path)).map_err(write_err)?;
        created.dir_set.insert(rel.clone());
        created.dirs.push(rel_path.clone());
    }
    rel_path.push(file_name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest.join(&rel_path))
        .map_err(write_err)?;
    created.files.push(rel_path);
    Ok(file)
}

/// Streams one entry's data into `file`, inflating deflate, checks the size and CRC-32, and
/// returns the SHA-256 of the bytes (hex).
fn write_entry<R: Read + Seek, W: io::Write>(
    w: &mut Window<'_, R>,
    p: &PlannedEntry,
    file: W,
) -> Result<String, Error> {
    write_entry_data(w, p, file).map_err(|e| match e {
        Error::CorruptEntry { entry, reason } if entry.is_empty() => Error::CorruptEntry {
            entry: printable(&p.name),
            reason,
        },
        e => e,
    })
}

fn write_entry_data<R: Read + Seek, W: io::Write>(
    w: &mut Window<'_, R>,
    p: &PlannedEntry,
    file: W,
) -> Result<String, Error> {
    let corrupt = corrupt_data_owned;
    let mut sink = EntrySink {
        file,
        crc: crc32fast::Hasher::new(),
        sha256: signet_common::HashAlgorithm::Sha256.hasher(),
        written: 0,
        limit: p.size,
        failure: None,
    };
    let end = p.data_offset + p.compressed_size;
    match p.method {
        METHOD_STORED => {
            copy(w, p.data_offset, end, &mut |chunk| sink.put(chunk))?;
        }
        _ => {
            let mut inflater = Inflater::new();
            copy(w, p.data_offset, end, &mut |chunk| {
                inflater.feed(chunk, &mut sink)
            })?;
            inflater.finish(&mut sink)?;
            if !inflater.ended {
                return Err(corrupt(
                    "the deflate stream does not end within the entry's compressed size".into(),
                ));
            }
        }
    }
    if let Some(e) = sink.failure.take() {
        return Err(e);
    }
    if sink.written != p.size {
        return Err(corrupt(format!(
            "{} bytes were extracted, the headers declare {}",
            sink.written, p.size
        )));
    }
    let crc = sink.crc.clone().finalize();
    if crc != p.crc32 {
        return Err(corrupt(format!(
            "the CRC-32 of the extracted bytes is {crc:08x}, the headers declare {:08x}",
            p.crc32
        )));
    }
    sink.file.flush().map_err(|source| Error::Io {
        action: "writing the extracted files",
        source,
    })?;
    Ok(sink
        .sha256
        .finish()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// [`Window::copy`] with the sink's own error kept.
fn copy<R: Read + Seek>(
    w: &mut Window<'_, R>,
    start: u64,
    end: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut failure = None;
    let res = w.copy(start, end, &mut |chunk| {
        sink(chunk).map_err(|e| {
            failure = Some(e);
            io::Error::other("extraction stopped")
        })
    });
    match (res, failure) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
        (Err(CopyError::Read(e)), None) => Err(Error::read(e)),
        (Err(CopyError::Write(e)), None) => Err(Error::Io {
            action: "writing the extracted files",
            source: e,
        }),
    }
}

/// Where inflated bytes go: counted against the declared size, CRC-32 computed, written.
struct EntrySink<W> {
    file: W,
    crc: crc32fast::Hasher,
    sha256: signet_common::Hasher,
    written: u64,
    limit: u64,
    failure: Option<Error>,
}

impl<W: io::Write> EntrySink<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let total = self.written + bytes.len() as u64;
        if total > self.limit {
            // Stops a lying header or a deflate bomb at the declared size, which the limits
            // accepted; nothing past it reaches the disk.
            return Err(Error::CorruptEntry {
                entry: String::new(),
                reason: format!(
                    "the data inflates past the declared size of {} bytes",
                    self.limit
                ),
            });
        }
        self.crc.update(bytes);
        self.sha256.update(bytes);
        self.file.write_all(bytes).map_err(|source| Error::Io {
            action: "writing the extracted files",
            source,
        })?;
        self.written = total;
        Ok(())
    }
}

/// Raw deflate, fed compressed chunks as they are read.
struct Inflater {
    state: Decompress,
    out: Vec<u8>,
    ended: bool,
}

impl Inflater {
    fn new() -> Self {
        Self {
            state: Decompress::new(false),
            out: vec![0; BUF_SIZE],
            ended: false,
        }
    }

    fn feed<W: io::Write>(
        &mut self,
        mut input: &[u8],
        sink: &mut EntrySink<W>,
    ) -> Result<(), Error> {
        while !input.is_empty() {
            if self.ended {
                return Err(corrupt_data(
                    "bytes follow the end of the deflate stream inside the entry",
                ));
            }
            let consumed = self.step(input, FlushDecompress::None, sink)?.0;
            input = input.get(consumed..).unwrap_or_default();
        }
        Ok(())
    }

    /// Drains output the inflater still holds once all input is given.
    fn finish<W: io::Write>(&mut self, sink: &mut EntrySink<W>) -> Result<(), Error> {
        while !self.ended {
            let (_, produced) = self.step(&[], FlushDecompress::Finish, sink)?;
            if produced == 0 {
                break;
            }
        }
        Ok(())
    }

    /// One call into the inflater; returns (input consumed, output produced).
    fn step<W: io::Write>(
        &mut self,
        input: &[u8],
        flush: FlushDecompress,
        sink: &mut EntrySink<W>,
    ) -> Result<(usize, usize), Error> {
        let (in0, out0) = (self.state.total_in(), self.state.total_out());
        let status = self
            .state
            .decompress(input, &mut self.out, flush)
            .map_err(|e| corrupt_data_owned(format!("invalid deflate data: {e}")))?;
        // Both deltas are bounded by the slice lengths just passed.
        let consumed = usize::try_from(self.state.total_in() - in0).unwrap_or(usize::MAX);
        let produced = usize::try_from(self.state.total_out() - out0).unwrap_or(usize::MAX);
        let chunk = self
            .out
            .get(..produced)
            .ok_or_else(|| corrupt_data("the inflater reported more output than its buffer"))?;
        sink.put(chunk)?;
        match status {
            Status::StreamEnd => self.ended = true,
            Status::Ok => {}
            Status::BufError => {
                if consumed == 0 && produced == 0 && !input.is_empty() {
                    return Err(corrupt_data("the deflate stream cannot make progress"));
                }
            }
        }
        if consumed == 0 && produced == 0 && !input.is_empty() && !self.ended {
            return Err(corrupt_data("the deflate stream cannot make progress"));
        }
        Ok((consumed, produced))
    }
}

/// A corrupt-data error whose entry name [`write_entry`] fills in.
fn corrupt_data(reason: &str) -> Error {
    corrupt_data_owned(reason.to_owned())
}

fn corrupt_data_owned(reason: String) -> Error {
    Error::CorruptEntry {
        entry: String::new(),
        reason,
    }
}

/// Checks the whole archive and lists its entries in local-header order (see
/// [`Package::extract_to`] for the rules). Writes nothing.
pub(crate) fn plan<R: Read + Seek>(pkg: &mut Package<R>) -> Result<Vec<PlannedEntry>, Error> {
    let limits = pkg.limits;
    let sig_index = pkg.signature_index()?;
    check_layout(pkg)?;

    // Local headers, in offset order; the offsets were all distinct and contiguous once
    // `check_entry` has run for each.
    let mut order: Vec<usize> = (0..pkg.records.len()).collect();
    order.sort_by_key(|&i| pkg.records.get(i).map_or(0, |r| r.lfh_offset));

    let mut planned = Vec::with_capacity(order.len());
    let mut names = NameIndex::default();
    let mut total: u64 = 0;
    let file_len = pkg.file_len;
    for i in order {
        let Some(r) = pkg.records.get(i).cloned() else {
            continue;
        };
        let mut w = Window::new(pkg.reader_mut());
        let (data_offset, compressed_size) = check_entry(&mut w, &r, file_len)?;
        let name = String::from_utf8(r.name.clone()).map_err(|_| Error::UnsafeEntryName {
            entry: printable(&r.display_name()),
            reason: "it is not valid UTF-8",
        })?;
        let decoded = decode_name(&name)?;
        let is_dir = decoded.ends_with('/');
        let path = if is_dir {
            decoded.get(..decoded.len() - 1).unwrap_or_default()
        } else {
            decoded.as_str()
        };
        check_name(path).map_err(|reason| Error::UnsafeEntryName {
            entry: printable(&name),
            reason,
        })?;
        names.add(&name, path, is_dir)?;

        let skip = if Some(i) == sig_index {
            Some(SkipReason::Signature)
        } else if is_dir {
            Some(SkipReason::Directory)
        } else if is_packaging_file(&decoded) {
            Some(SkipReason::PackagingFile)
        } else {
            None
        };
        let size = u64::from(r.uncompressed_size);
        if skip.is_none() {
            if size > limits.max_entry_size {
                return Err(Error::limit(Limit::EntrySize, size, limits.max_entry_size));
            }
            total = total.saturating_add(size);
            if total > limits.max_extracted_size {
                return Err(Error::limit(
                    Limit::ExtractedSize,
                    total,
                    limits.max_extracted_size,
                ));
            }
        }
        if r.method == METHOD_DEFLATE
            && size
                > compressed_size
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(1024)
        {
            return Err(unsafe_entry(
                &r,
                format!(
                    "its declared sizes ({compressed_size} bytes compressed, {size} uncompressed) are impossible for deflate"
                ),
            ));
        }
        planned.push(PlannedEntry {
            name,
            path: skip.is_none().then(|| path.to_owned()),
            skip,
            method: r.method,
            data_offset,
            compressed_size,
            size,
            crc32: r.crc32,
        });
    }
    let allowed = file_len
        .saturating_mul(limits.max_compression_ratio)
        .saturating_add(RATIO_ALLOWANCE);
    if total > allowed {
        return Err(Error::limit(
            Limit::CompressionRatio,
            total / file_len.max(1),
            limits.max_compression_ratio,
        ));
    }
    Ok(planned)
}

/// The archive-wide rules: one contiguous run of entries from byte 0, the central directory
/// right after them, the EOCD right after it describing it and ending the file, no Zip64.
fn check_layout<R: Read + Seek>(pkg: &mut Package<R>) -> Result<(), Error> {
    let unsafe_archive = |reason: &str, offset: u64| Error::UnsafeArchive {
        reason: reason.to_owned(),
        offset,
    };
    let e = pkg.eocd;
    if pkg.is_zip64()? || e.cd_offset == u32::MAX || e.cd_size == u32::MAX {
        return Err(unsafe_archive("the archive uses zip64", e.pos));
    }
    if e.this_disk != 0 || e.cd_disk != 0 {
        return Err(unsafe_archive("the archive spans several disks", e.pos));
    }
    if pkg.cd_end != e.pos {
        return Err(unsafe_archive(
            "the end of central directory record does not directly follow the last central directory header",
            pkg.cd_end,
        ));
    }
    if e.pos + 22 + u64::from(e.comment_len) != pkg.file_len {
        return Err(unsafe_archive(
            "the end of central directory record and its comment do not end the file",
            e.pos,
        ));
    }
    let count = pkg.records.len();
    if usize::from(e.entries_on_disk) != count || usize::from(e.total_entries) != count {
        return Err(unsafe_archive(
            &format!(
                "the end of central directory record counts {} entries, the central directory has {count}",
                e.total_entries
            ),
            e.pos,
        ));
    }
    if u64::from(e.cd_offset) != pkg.cd_start
        || u64::from(e.cd_size) != pkg.cd_end.saturating_sub(pkg.cd_start)
    {
        return Err(unsafe_archive(
            "the end of central directory record's offset or size does not describe the central directory",
            e.pos,
        ));
    }
    if count > 0 && pkg.start_of_lfh != 0 {
        return Err(unsafe_archive(
            "bytes precede the first local file header",
            0,
        ));
    }
    if count == 0 && pkg.cd_start != 0 {
        return Err(unsafe_archive(
            "bytes precede the end of central directory record of an empty archive",
            0,
        ));
    }
    Ok(())
}

fn unsafe_entry(r: &CdRecord, reason: String) -> Error {
    Error::UnsafeEntry {
        entry: printable(&r.display_name()),
        reason,
        offset: r.lfh(),
    }
}

/// Checks one entry's records against each other and its place in the file; returns the data
/// offset and compressed size.
fn check_entry<R: Read + Seek>(
    w: &mut Window<'_, R>,
    r: &CdRecord,
    file_len: u64,
) -> Result<(u64, u64), Error> {
    let bad = |reason: &str| unsafe_entry(r, reason.to_owned());
    if r.disk_start != 0 {
        return Err(bad("it is on another disk"));
    }
    if r.flags & !ALLOWED_FLAGS != 0 {
        return Err(unsafe_entry(
            r,
            format!(
                "its general purpose flags {:#06x} ask for encryption or other unsupported features",
                r.flags
            ),
        ));
    }
    match r.method {
        METHOD_STORED if r.compressed_size != r.uncompressed_size => {
            return Err(bad(
                "it is stored but its compressed and uncompressed sizes differ",
            ));
        }
        METHOD_STORED | METHOD_DEFLATE => {}
        m => {
            return Err(unsafe_entry(
                r,
                format!("compression method {m} is not supported (only stored and deflate)"),
            ));
        }
    }
    if r.version_made_by >> 8 == HOST_UNIX && (r.external_attrs >> 16) & S_IFMT == S_IFLNK {
        return Err(bad("it is a symbolic link"));
    }
    if r.compressed_size == u32::MAX || r.uncompressed_size == u32::MAX || r.lfh_offset == u32::MAX
    {
        return Err(bad("it uses zip64 size or offset fields"));
    }

    let lfh = r.lfh();
    if lfh.saturating_add(LFH_FIXED) > file_len {
        return Err(bad("its local file header lies past the end of the file"));
    }
    let mut hdr = [0u8; LFH_FIXED as usize];
    w.read_exact_at(lfh, &mut hdr).map_err(Error::read)?;
    if le32(&hdr, 0) != LFH_SIG {
        return Err(bad(
            "there is no local file header at the offset its central directory header gives",
        ));
    }
    let mismatch = |field: &str, local: u64, central: u64| {
        unsafe_entry(
            r,
            format!(
                "its local file header disagrees with its central directory header on the {field} ({local} != {central})"
            ),
        )
    };
    let flags = le16(&hdr, 6);
    if flags != r.flags {
        return Err(mismatch(
            "general purpose flags",
            flags.into(),
            r.flags.into(),
        ));
    }
    let method = le16(&hdr, 8);
    if method != r.method {
        return Err(mismatch(
            "compression method",
            method.into(),
            r.method.into(),
        ));
    }
    let descriptor = r.flags & FLAG_DATA_DESCRIPTOR != 0;
    for (field, local, central) in [
        ("crc-32", le32(&hdr, 14), r.crc32),
        ("compressed size", le32(&hdr, 18), r.compressed_size),
        ("uncompressed size", le32(&hdr, 22), r.uncompressed_size),
    ] {
        // With a data descriptor, writers put zeros in the local header; the descriptor then
        // carries the values, and is checked below.
        if local != central && !(descriptor && local == 0) {
            return Err(mismatch(field, local.into(), central.into()));
        }
    }
    let name_len = le16(&hdr, 26);
    let extra_len = le16(&hdr, 28);
    let name_start = lfh + LFH_FIXED;
    if usize::from(name_len) != r.name.len()
        || name_start + u64::from(name_len) > file_len
        || w.read_vec_at(name_start, r.name.len())
            .map_err(Error::read)?
            != r.name
    {
        return Err(bad(
            "its local file header names it differently from its central directory header",
        ));
    }
    let data_offset = name_start + u64::from(name_len) + u64::from(extra_len);
    let compressed = u64::from(r.compressed_size);
    let mut end = data_offset + compressed;
    if descriptor {
        let mut d = [0u8; 16];
        let avail = file_len.saturating_sub(end).min(16);
        // `avail` is at most 16.
        let d = d.get_mut(..avail as usize).unwrap_or_default();
        w.read_exact_at(end, d).map_err(Error::read)?;
        let skip = if le32(d, 0) == DATA_DESCRIPTOR_SIG {
            4
        } else {
            0
        };
        let fields = d
            .get(skip..skip + 12)
            .ok_or_else(|| bad("its data descriptor lies past the end of the file"))?;
        if le32(fields, 0) != r.crc32
            || le32(fields, 4) != r.compressed_size
            || le32(fields, 8) != r.uncompressed_size
        {
            return Err(bad(
                "its data descriptor disagrees with its central directory header",
            ));
        }
        end += skip as u64 + 12;
    }
    // The hash covers `[lfh, lfh + total_size)` for this entry (spec §1.6 step 3b): the data
    // must fill exactly that, so no byte is read from outside it and none hides inside it.
    let covered_end = i128::from(lfh) + i128::from(r.total_size);
    if i128::from(end) != covered_end {
        return Err(unsafe_entry(
            r,
            if i128::from(end) > covered_end {
                format!(
                    "its data runs to byte offset {end}, past the start of the next entry or the central directory at {covered_end} (overlapping entries)"
                )
            } else {
                format!(
                    "its data ends at byte offset {end}, but the next entry or the central directory starts at {covered_end} (hidden bytes)"
                )
            },
        ));
    }
    Ok((data_offset, compressed))
}

/// NuGet's `IsPackageFile` exclusions, on the decoded name, ASCII case-insensitively.
fn is_packaging_file(decoded: &str) -> bool {
    let lower = decoded.to_ascii_lowercase();
    lower.starts_with("_rels/")
        || lower.starts_with("package/")
        || lower.starts_with("[content_types].xml")
        || lower.ends_with(".nupkg.sha512")
}

/// Decodes `%XX` escapes as .NET's `Uri.UnescapeDataString` does (a `%` not followed by two
/// hex digits stays as it is); the result must be UTF-8.
pub(crate) fn decode_name(name: &str) -> Result<String, Error> {
    if !name.contains('%') {
        return Ok(name.to_owned());
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| (*c as char).to_digit(16));
        if b == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            // Two hex digits: at most 255.
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::UnsafeEntryName {
        entry: printable(name),
        reason: "its percent-escapes do not decode to UTF-8",
    })
}

/// The path rules of [`Package::extract_to`], on a decoded name without its trailing `/`.
fn check_name(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.starts_with('/') {
        return Err("it is an absolute path");
    }
    for c in path.chars() {
        match c {
            '\\' => return Err("it contains a backslash"),
            ':' => return Err("it contains ':' (a drive letter or an alternate data stream)"),
            '<' | '>' | '"' | '|' | '?' | '*' => {
                return Err("it contains a character Windows does not allow in file names");
            }
            c if c.is_control() => return Err("it contains a control character"),
            _ => {}
        }
    }
    for seg in path.split('/') {
        match seg {
            "" => return Err("it has an empty path segment"),
            "." | ".." => return Err("it has a '.' or '..' path segment"),
            _ => {}
        }
        if seg.ends_with('.') || seg.ends_with(' ') {
            return Err("a path segment ends in a dot or a space");
        }
        let stem = seg.split('.').next().unwrap_or(seg).to_ascii_uppercase();
        let stem = stem.trim_end();
        let device = matches!(stem, "CON" | "PRN" | "AUX" | "NUL")
            || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.len() == 4
                && stem.as_bytes().get(3).is_some_and(u8::is_ascii_digit));
        if device {
            return Err("a path segment is a Windows device name");
        }
    }
    Ok(())
}

/// Entry names seen so far, folded, for collision checks.
#[derive(Default)]
struct NameIndex {
    /// Folded path → raw name, for files and directory entries.
    entries: BTreeMap<String, (String, bool)>,
    /// Folded directory paths implied by files → the raw name that implied it first.
    parents: BTreeMap<String, String>,
}

impl NameIndex {
    fn add(&mut self, raw: &str, path: &str, is_dir: bool) -> Result<(), Error> {
        let collide = |other: &str| Error::EntryNameCollision {
            entry: printable(raw),
            other: printable(other),
        };
        let key = fold(path);
        if let Some((other, other_is_dir)) = self.entries.get(&key) {
            // Two directory entries for the same directory are harmless (nothing is written
            // for either); anything else is a twin.
            if !(is_dir && *other_is_dir) {
                return Err(collide(other));
            }
        }
        if !is_dir && let Some(other) = self.parents.get(&key) {
            return Err(collide(other));
        }
        let mut prefix = String::new();
        for seg in key.split('/') {
            if !prefix.is_empty() {
                if let Some((other, false)) = self.entries.get(&prefix) {
                    return Err(collide(other));
                }
                self.parents
                    .entry(prefix.clone())
                    .or_insert_with(|| raw.to_owned());
                prefix.push('/');
            }
            prefix.push_str(seg);
        }
        self.entries.insert(key, (raw.to_owned(), is_dir));
        Ok(())
    }
}

/// NFC, lowercased, NFC again: equal for names a case-insensitive or normalisation-insensitive
/// file system (NTFS, APFS, HFS+) would store as one.
fn fold(path: &str) -> String {
    let nfc = ComposingNormalizerBorrowed::new_nfc();
    let lower = nfc.normalize(path).to_lowercase();
    nfc.normalize(&lower).into_owned()
}

/// A name for an error message: control characters escaped so a hostile name cannot draw on
/// the terminal.
fn printable(name: &str) -> String {
    name.chars().flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "lib/net8.0/A.dll",
            "[Content_Types].xml",
            "a b/c+d.txt",
            "é",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a//b",
            "a/./b",
            "../a",
            "a/..",
            "a\\b",
            "C:/x",
            "c:x",
            "a\0b",
            "a\u{1b}b",
            "a.",
            "a /b",
            "con",
            "lib/NUL.txt",
            "COM1.dll",
            "lpt9",
            "a|b",
            "a?",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["console.txt", "com10", "nul1", "lptx"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode_name("a%20b").unwrap(), "a b");
        assert_eq!(decode_name("%2e%2E%2fx").unwrap(), "../x");
        assert_eq!(decode_name("100%").unwrap(), "100%");
        assert_eq!(decode_name("%zz%4").unwrap(), "%zz%4");
        assert_eq!(decode_name("%C3%A9").unwrap(), "é");
        assert!(decode_name("%ff").is_err());
    }

    #[test]
    fn folding() {
        assert_eq!(fold("A/É"), fold("a/e\u{301}"));
        assert_ne!(fold("a"), fold("b"));
        let mut idx = NameIndex::default();
        idx.add("lib/", "lib", true).unwrap();
        idx.add("lib/a", "lib/a", false).unwrap();
        idx.add("LIB/", "LIB", true).unwrap();
        assert!(idx.add("Lib/A", "Lib/A", false).is_err());
        assert!(idx.add("lib/a/b", "lib/a/b", false).is_err());
        idx.add("x/y", "x/y", false).unwrap();
        assert!(idx.add("X", "X", false).is_err());
    }

    #[test]
    fn packaging_files() {
        for skip in [
            "_rels/.rels",
            "_RELS/x",
            "package/services/metadata/core-properties/a.psmdcp",
            "[Content_Types].xml",
            "a.nupkg.SHA512",
        ] {
            assert!(is_packaging_file(skip), "{skip}");
        }
        for keep in [
            "x.nuspec",
            "lib/package/a",
            "content/_rels/a",
            ".signature.p7s",
        ] {
            assert!(!is_packaging_file(keep), "{keep}");
        }
    }
}
