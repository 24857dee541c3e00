//! Opening a package: the EOCD and central directory (spec §1.2), the signature entry (§1.1),
//! Zip64 detection (§1.3), the signature-stripped stream (§1.6, Appendix C) and the content hash
//! (§1.7). Spec references are to `../shared/spec/nuget-signatures.md`.

use std::io::{self, Read, Seek, SeekFrom};

use base64::Engine as _;
use signet_common::HashAlgorithm;

use crate::error::{Error, Limit, ZipHeader};
use crate::limits::Limits;
use crate::nuspec::{self, Nuspec};
use crate::raw::{
    self, CDH_FIXED, CDH_SIG, CopyError, EOCD_FIXED, EOCD_SEARCH_WINDOW, EOCD_SIG, FLAG_UTF8,
    LFH_FIXED, LFH_SIG, SIGNATURE_NAME, Window, ZIP64_LOCATOR_LEN, ZIP64_LOCATOR_SIG, le16, le32,
};

/// The end-of-central-directory record, 32-bit fields only (spec §1.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Eocd {
    /// File offset of the record, as found by the backward scan.
    pub(crate) pos: u64,
    pub(crate) this_disk: u16,
    pub(crate) cd_disk: u16,
    pub(crate) entries_on_disk: u16,
    pub(crate) total_entries: u16,
    pub(crate) cd_size: u32,
    pub(crate) cd_offset: u32,
    pub(crate) comment_len: u16,
}

/// One central-directory file header, with what NuGet derives from it.
#[derive(Clone, Debug)]
pub(crate) struct CdRecord {
    /// File offset of the header.
    pub(crate) pos: u64,
    /// 46 + name + extra + comment lengths.
    pub(crate) size: u64,
    pub(crate) version_made_by: u16,
    pub(crate) flags: u16,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u32,
    pub(crate) uncompressed_size: u32,
    pub(crate) disk_start: u16,
    pub(crate) external_attrs: u32,
    /// "Relative offset of local header", used as an absolute file offset like NuGet does.
    pub(crate) lfh_offset: u32,
    pub(crate) name: Vec<u8>,
    /// The extra field holds a Zip64 extended-information field (spec §1.3).
    pub(crate) zip64_extra: bool,
    /// NuGet's `FileEntryTotalSize` (spec §1.2): distance to the next local header in offset
    /// order, or to the start of the central directory for the last one. Negative only for
    /// malformed archives.
    pub(crate) total_size: i64,
}

impl CdRecord {
    /// §1.1(2): raw name exactly `.signature.p7s` and bit 11 clear.
    fn is_signature(&self) -> bool {
        self.name == SIGNATURE_NAME && self.flags & FLAG_UTF8 == 0
    }

    pub(crate) fn lfh(&self) -> u64 {
        u64::from(self.lfh_offset)
    }

    pub(crate) fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Where a validated signature entry's data lies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignatureData {
    pub(crate) data_offset: u64,
    pub(crate) len: u64,
}

/// A `.nupkg` opened for signature work: its EOCD and central directory parsed the way NuGet's
/// signing code parses them (spec §1.2), within [`Limits`].
///
/// Reads go through one 64 KiB buffer per operation; the package is never loaded into memory.
/// The central directory's entry names are kept (bounded by
/// [`Limits::max_central_directory_size`]).
pub struct Package<R> {
    reader: R,
    pub(crate) limits: Limits,
    pub(crate) file_len: u64,
    pub(crate) eocd: Eocd,
    pub(crate) records: Vec<CdRecord>,
    /// NuGet's `StartOfLocalFileHeaders`: min(file length, min local header offset).
    pub(crate) start_of_lfh: u64,
    /// Smallest central-directory record position (where the signer inserts its entry).
    pub(crate) cd_start: u64,
    /// End of the last central-directory record read: where NuGet assumes the EOCD is.
    pub(crate) cd_end: u64,
}

impl<R: Read + Seek> Package<R> {
    /// Parses the EOCD and the central directory (spec §1.2) within `limits`.
    ///
    /// The EOCD is the last `PK\x05\x06` in the final 65,557 bytes (22 plus the longest
    /// comment): a valid ZIP has it there, so the scan goes no further than that. The central
    /// directory is walked from the EOCD's offset while records start with `PK\x01\x02`; the
    /// EOCD entry counts are not consulted, as in NuGet. An archive with no records opens (an
    /// empty ZIP is valid); hashing and signing then decide.
    ///
    /// Garbage, truncated files and out-of-range offsets give an error, never a panic.
    pub fn open(mut reader: R, limits: &Limits) -> Result<Self, Error> {
        let file_len = reader.seek(SeekFrom::End(0)).map_err(Error::read)?;
        if file_len > limits.max_package_size {
            return Err(Error::limit(
                Limit::PackageSize,
                file_len,
                limits.max_package_size,
            ));
        }
        let mut w = Window::new(&mut reader);
        let eocd = find_eocd(&mut w, file_len)?;
        // 0xFFFFFFFF is the Zip64 placeholder (the real size is in the Zip64 record, which
        // NuGet does not read); the walk below is bounded by the same limit anyway.
        let cd_size = u64::from(eocd.cd_size);
        if eocd.cd_size != u32::MAX && cd_size > limits.max_central_directory_size {
            return Err(Error::limit(
                Limit::CentralDirectorySize,
                cd_size,
                limits.max_central_directory_size,
            ));
        }
        // An offset past the EOCD (such as the Zip64 placeholder 0xFFFFFFFF) finds no records,
        // as in NuGet's walk.
        let cd_offset = u64::from(eocd.cd_offset);
        let mut records = walk_central_directory(&mut w, cd_offset, file_len, limits)?;
        drop(w);

        let cd_start = records.iter().map(|r| r.pos).min().unwrap_or(cd_offset);
        let cd_end = records
            .last()
            .map_or(cd_offset, |r| r.pos.saturating_add(r.size));
        let start_of_lfh = records.iter().map(CdRecord::lfh).fold(file_len, u64::min);
        assign_total_sizes(&mut records, cd_start);

        Ok(Self {
            reader,
            limits: *limits,
            file_len,
            eocd,
            records,
            start_of_lfh,
            cd_start,
            cd_end,
        })
    }

    /// Whether a central-directory record's raw name is exactly `.signature.p7s`, whatever its
    /// flags: how NuGet decides that a package is signed (spec §1.1(1), via
    /// System.IO.Compression). An unsigned package is NU3004 for the caller.
    pub fn has_signature_entry(&self) -> bool {
        self.records.iter().any(|r| r.name == SIGNATURE_NAME)
    }

    /// Reads the signature entry after checking every NU3005 rule of spec §1.1: exactly one
    /// entry (bit 11 clear); in the central directory flags 0, stored, compressed size equal to
    /// uncompressed size, external attributes 0; a local header at its offset with the same
    /// name, flags 0, stored and equal sizes.
    ///
    /// The bytes are those after the local header (offset + 30 + name + extra), as many as the
    /// local header's uncompressed size, within [`Limits::max_signature_size`]. Unlike NuGet,
    /// data that would run past its entry into the next header (or past the end of the file) is
    /// an error instead of being read from there.
    ///
    /// `Ok(None)` if the package has no signature entry.
    pub fn read_signature(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if !self.has_signature_entry() {
            return Ok(None);
        }
        let Some(index) = self.signature_index()? else {
            return Ok(None);
        };
        let data = self.validate_signature_entry(index)?;
        let len = usize::try_from(data.len)
            .map_err(|_| Error::limit(Limit::SignatureSize, data.len, usize::MAX as u64))?;
        let mut w = Window::new(&mut self.reader);
        let bytes = w.read_vec_at(data.data_offset, len).map_err(Error::read)?;
        Ok(Some(bytes))
    }

    /// Streams the signature-stripped byte sequence of spec §1.6 step 3 (Appendix C) into
    /// `sink`: the bytes the signer hashed before adding the signature.
    ///
    /// NuGet's quirks are reproduced on purpose: the EOCD is assumed to start right after the
    /// last central-directory record read; virtual offsets start at 0 even when the archive has
    /// a prefix; counts, sizes and offsets wrap around (u16/u32); central-directory records go
    /// in central-directory order and entries in local-header order, so a signature entry that
    /// is not last is compensated for. The signature entry's header fields are not validated
    /// here (as for NuGet's content hash); [`Package::read_signature`] does that.
    ///
    /// With no signature entry the whole file is streamed. Memory use is one 64 KiB buffer.
    ///
    /// Errors: NU3005 for several signature entries or one with bit 11 set only; NU3008
    /// ([`Error::Integrity`]) when a byte range the stream needs is missing or inverted.
    pub fn stream_stripped(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<(), Error> {
        let mut out = |b: &[u8]| -> io::Result<()> {
            sink(b);
            Ok(())
        };
        let Some(sig_index) = self.signature_index()? else {
            let len = self.file_len;
            let mut w = Window::new(&mut self.reader);
            return hash_range(&mut w, 0, len, len, &mut out);
        };
        let file_len = self.file_len;
        let sig = self
            .records
            .get(sig_index)
            .ok_or_else(|| Error::integrity("signature record index out of range", 0))?;

        // Step 2: the other records by local-header offset (stable, like NuGet's OrderBy for
        // sizes; NuGet's List.Sort here is unstable, which only matters for records sharing one
        // local header offset).
        let mut others: Vec<&CdRecord> = self
            .records
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != sig_index)
            .map(|(_, r)| r)
            .collect();
        others.sort_by_key(|r| r.lfh_offset);

        let mut w = Window::new(&mut self.reader);
        // Step 3a: anything before the first local header.
        hash_range(&mut w, 0, self.start_of_lfh, file_len, &mut out)?;

        // Step 3b: each entry's local header, data and trailing bytes, in offset order; the
        // virtual offset of each is the running total starting at 0.
        let mut virtual_offsets: Vec<(&CdRecord, u32)> = Vec::with_capacity(others.len());
        let mut running: u64 = 0;
        for r in others {
            let start = r.lfh();
            let total = u64::try_from(r.total_size).map_err(|_| {
                Error::integrity(
                    format!(
                        "the entry '{}' overlaps the central directory",
                        r.display_name()
                    ),
                    start,
                )
            })?;
            let end = start
                .checked_add(total)
                .ok_or_else(|| Error::integrity("entry offset overflow", start))?;
            hash_range(&mut w, start, end, file_len, &mut out)?;
            // The offset field is rewritten mod 2^32, as NuGet's `(uint)(field + change)`.
            virtual_offsets.push((r, running as u32));
            running = running.wrapping_add(total);
        }

        // Step 3c: the other central-directory records in central-directory order, with their
        // local header offset replaced by the virtual one.
        virtual_offsets.sort_by_key(|(r, _)| r.pos);
        for (r, virtual_offset) in virtual_offsets {
            let field = r.pos + 42;
            hash_range(&mut w, r.pos, field, file_len, &mut out)?;
            feed(&mut out, &virtual_offset.to_le_bytes())?;
            hash_range(&mut w, field + 4, r.pos + r.size, file_len, &mut out)?;
        }

        // Step 3d/e: the EOCD, assumed at the end of the last record read, with the signature's
        // share taken out of its counts, size and offset (all wrapping), then the rest.
        let e = self.cd_end;
        let fields_end = e.checked_add(20).filter(|&x| x <= file_len).ok_or_else(|| {
            Error::integrity(
                "the end of central directory record expected after the last central directory header is missing",
                e,
            )
        })?;
        hash_range(&mut w, e, e + 8, file_len, &mut out)?;
        let mut f = [0u8; 12];
        w.read_exact_at(e + 8, &mut f)
            .map_err(read_error_at(e + 8))?;
        // Both size truncations are NuGet's `(uint)` casts: mod 2^32.
        let adjusted = [
            le16(&f, 0).wrapping_sub(1).to_le_bytes().as_slice(),
            le16(&f, 2).wrapping_sub(1).to_le_bytes().as_slice(),
            le32(&f, 4)
                .wrapping_sub(sig.size as u32)
                .to_le_bytes()
                .as_slice(),
            le32(&f, 8)
                .wrapping_sub(sig.total_size as u32)
                .to_le_bytes()
                .as_slice(),
        ]
        .concat();
        feed(&mut out, &adjusted)?;
        hash_range(&mut w, fields_end, file_len, file_len, &mut out)
    }

    /// The package hash NuGet verifies (spec §1.6): `alg` over [`Package::stream_stripped`].
    pub fn package_hash(&mut self, alg: HashAlgorithm) -> Result<Vec<u8>, Error> {
        let mut hasher = alg.hasher();
        self.stream_stripped(&mut |b| hasher.update(b))?;
        Ok(hasher.finish())
    }

    /// NuGet's `contentHash` (spec §1.7): base64 of SHA-512 over the signature-stripped stream
    /// when [`Package::has_signature_entry`], over the whole file otherwise.
    pub fn content_hash(&mut self) -> Result<String, Error> {
        let mut hasher = HashAlgorithm::Sha512.hasher();
        if self.has_signature_entry() {
            self.stream_stripped(&mut |b| hasher.update(b))?;
        } else {
            let len = self.file_len;
            let mut w = Window::new(&mut self.reader);
            hash_range(&mut w, 0, len, len, &mut |b| {
                hasher.update(b);
                Ok(())
            })?;
        }
        Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finish()))
    }

    /// Entry names in central-directory order (raw bytes, lossily decoded), for diagnostics.
    pub fn entry_names(&self) -> Vec<String> {
        self.records.iter().map(CdRecord::display_name).collect()
    }

    /// Reads the package's `.nuspec` and returns its id and version.
    ///
    /// The manifest is the one entry at the archive root (no `/` or `\` in its name) whose name
    /// ends in `.nuspec`, ASCII case-insensitively; none or several is an error, as in NuGet. It
    /// is inflated through the `zip` crate, at most [`Limits::max_nuspec_size`] bytes (the
    /// declared size is checked first, and the inflated output is cut at the limit, so a deflate
    /// bomb stops there), then parsed with `quick-xml` without DTDs or custom entities; element
    /// names match by local name, whatever their namespace.
    pub fn nuspec(&mut self) -> Result<Nuspec, Error> {
        nuspec::read(&mut self.reader, &self.limits)
    }

    /// Gives back the reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// Zip64 detection as NuGet's signer does it (spec §1.3): if the EOCD's two disk numbers
    /// are equal, a Zip64 EOCD locator 20 bytes before the EOCD, or a Zip64 extra field in any
    /// central-directory header, or in the local header of any record on this disk.
    pub fn is_zip64(&mut self) -> Result<bool, Error> {
        if self.eocd.this_disk != self.eocd.cd_disk {
            // NuGet's quirk: differing disk numbers mean "not Zip64", without further checks.
            return Ok(false);
        }
        let file_len = self.file_len;
        let mut w = Window::new(&mut self.reader);
        if let Some(locator) = self.eocd.pos.checked_sub(ZIP64_LOCATOR_LEN) {
            let mut sig = [0u8; 4];
            w.read_exact_at(locator, &mut sig).map_err(Error::read)?;
            if u32::from_le_bytes(sig) == ZIP64_LOCATOR_SIG {
                return Ok(true);
            }
        }
        for r in &self.records {
            if r.zip64_extra {
                return Ok(true);
            }
            if r.disk_start != self.eocd.this_disk {
                continue;
            }
            // A local header that is missing or truncated simply does not count (NuGet's
            // `LocalFileHeader.TryRead`).
            let lfh = r.lfh();
            if lfh.saturating_add(LFH_FIXED) > file_len {
                continue;
            }
            let mut hdr = [0u8; LFH_FIXED as usize];
            w.read_exact_at(lfh, &mut hdr).map_err(Error::read)?;
            if le32(&hdr, 0) != LFH_SIG {
                continue;
            }
            let extra_start = lfh + LFH_FIXED + u64::from(le16(&hdr, 26));
            let extra_len = le16(&hdr, 28);
            if extra_start + u64::from(extra_len) > file_len {
                continue;
            }
            let extra = w
                .read_vec_at(extra_start, usize::from(extra_len))
                .map_err(Error::read)?;
            if raw::has_zip64_extra(&extra) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The EOCD "total number of entries" field (u16; NU3039 when `>= 0xFFFE` at signing).
    pub fn total_entries(&self) -> u16 {
        self.eocd.total_entries
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.file_len
    }

    /// Whether the file is empty (never true for an opened package; for API symmetry).
    pub fn is_empty(&self) -> bool {
        self.file_len == 0
    }

    pub(crate) fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Index of the one signature record (§1.1(2)), `None` if the package is unsigned.
    ///
    /// NU3005 errors: several records named `.signature.p7s` with bit 11 clear; or the only
    /// ones have bit 11 set (NuGet sees the package as signed, then finds no valid entry).
    pub(crate) fn signature_index(&self) -> Result<Option<usize>, Error> {
        let mut found = self
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_signature());
        match (found.next(), found.next()) {
            (Some((i, _)), None) => Ok(Some(i)),
            (Some(_), Some(_)) => Err(Error::MultipleSignatureEntries {
                offsets: self
                    .records
                    .iter()
                    .filter(|r| r.is_signature())
                    .map(|r| r.pos)
                    .collect(),
            }),
            (None, _) => match self.records.iter().find(|r| r.name == SIGNATURE_NAME) {
                Some(r) => Err(Error::SignatureEntryField {
                    header: ZipHeader::CentralDirectory,
                    field: "general purpose bit",
                    value: u32::from(r.flags),
                    offset: r.pos,
                }),
                None => Ok(None),
            },
        }
    }

    /// Checks the signature entry against every rule of spec §1.1 and locates its data.
    pub(crate) fn validate_signature_entry(
        &mut self,
        index: usize,
    ) -> Result<SignatureData, Error> {
        let r = self
            .records
            .get(index)
            .ok_or_else(|| Error::bad_signature_entry("signature record index out of range", 0))?;
        // Central directory header, in NuGet's order.
        let cd = ZipHeader::CentralDirectory;
        check_field(cd, "general purpose bit", r.flags.into(), r.pos)?;
        check_field(cd, "compression method", r.method.into(), r.pos)?;
        if r.compressed_size != r.uncompressed_size {
            return Err(field_error(cd, "compressed size", r.compressed_size, r.pos));
        }
        check_field(cd, "external file attributes", r.external_attrs, r.pos)?;

        // Local file header.
        let lfh = r.lfh();
        if lfh.saturating_add(LFH_FIXED) > self.file_len {
            return Err(Error::bad_signature_entry(
                "its local file header lies past the end of the file",
                lfh,
            ));
        }
        let mut w = Window::new(&mut self.reader);
        let mut hdr = [0u8; LFH_FIXED as usize];
        w.read_exact_at(lfh, &mut hdr).map_err(Error::read)?;
        if le32(&hdr, 0) != LFH_SIG {
            return Err(Error::bad_signature_entry(
                "there is no local file header at the offset its central directory header gives",
                lfh,
            ));
        }
        let lf = ZipHeader::LocalFile;
        check_field(lf, "general purpose bit", le16(&hdr, 6).into(), lfh)?;
        check_field(lf, "compression method", le16(&hdr, 8).into(), lfh)?;
        let (compressed, uncompressed) = (le32(&hdr, 18), le32(&hdr, 22));
        if compressed != uncompressed {
            return Err(field_error(lf, "compressed size", compressed, lfh));
        }
        let name_len = le16(&hdr, 26);
        let extra_len = le16(&hdr, 28);
        let name_start = lfh + LFH_FIXED;
        let name_matches = usize::from(name_len) == SIGNATURE_NAME.len()
            && name_start + u64::from(name_len) <= self.file_len
            && w.read_vec_at(name_start, SIGNATURE_NAME.len())
                .map_err(Error::read)?
                == SIGNATURE_NAME;
        if !name_matches {
            return Err(Error::bad_signature_entry(
                "its local file header is not named '.signature.p7s'",
                lfh,
            ));
        }
        let data_offset = name_start + u64::from(name_len) + u64::from(extra_len);
        let len = u64::from(uncompressed);
        if len > self.limits.max_signature_size {
            return Err(Error::limit(
                Limit::SignatureSize,
                len,
                self.limits.max_signature_size,
            ));
        }
        let data_end = data_offset + len;
        if data_end > self.file_len {
            return Err(Error::bad_signature_entry(
                format!("its data ({len} bytes) runs past the end of the file"),
                data_offset,
            ));
        }
        let entry_end = i128::from(lfh) + i128::from(r.total_size);
        if i128::from(data_end) > entry_end {
            return Err(Error::bad_signature_entry(
                format!(
                    "its data ({len} bytes) runs past the end of its entry into the next header (which starts {} byte(s) before the data ends)",
                    i128::from(data_end) - entry_end
                ),
                data_offset,
            ));
        }
        Ok(SignatureData { data_offset, len })
    }
}

impl<R> std::fmt::Debug for Package<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("len", &self.file_len)
            .field("entries", &self.records.len())
            .field("eocd", &self.eocd)
            .finish_non_exhaustive()
    }
}

fn check_field(
    header: ZipHeader,
    field: &'static str,
    value: u32,
    offset: u64,
) -> Result<(), Error> {
    if value == 0 {
        Ok(())
    } else {
        Err(field_error(header, field, value, offset))
    }
}

fn field_error(header: ZipHeader, field: &'static str, value: u32, offset: u64) -> Error {
    Error::SignatureEntryField {
        header,
        field,
        value,
        offset,
    }
}

/// Maps a read failure while hashing: a short file is an integrity failure (NU3008), anything
/// else an I/O error.
fn read_error_at(offset: u64) -> impl Fn(io::Error) -> Error {
    move |e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::integrity("unexpected end of file", offset)
        } else {
            Error::read(e)
        }
    }
}

fn feed(out: &mut dyn FnMut(&[u8]) -> io::Result<()>, bytes: &[u8]) -> Result<(), Error> {
    out(bytes).map_err(Error::write)
}

/// Streams `[start, end)` to `out` for the hash; a range outside the file is NU3008, as NuGet's
/// `ReadAndHashUntilPosition` throws there.
fn hash_range<R: Read + Seek>(
    w: &mut Window<'_, R>,
    start: u64,
    end: u64,
    file_len: u64,
    out: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), Error> {
    if end > file_len {
        return Err(Error::integrity(
            format!("a byte range to hash ends past the end of the file ({end} > {file_len})"),
            start,
        ));
    }
    if end < start {
        return Err(Error::integrity(
            format!("a byte range to hash ends before it starts ({end} < {start})"),
            start,
        ));
    }
    w.copy(start, end, out).map_err(|e| match e {
        CopyError::Read(e) => read_error_at(start)(e),
        CopyError::Write(e) => Error::write(e),
    })
}

/// Finds and parses the EOCD: the last `PK\x05\x06` within [`EOCD_SEARCH_WINDOW`] bytes of the
/// end (spec §1.2; no comment-length check, as in NuGet).
fn find_eocd<R: Read + Seek>(w: &mut Window<'_, R>, file_len: u64) -> Result<Eocd, Error> {
    if file_len < EOCD_FIXED {
        return Err(Error::invalid(
            format!("the file is too short to be a zip archive ({file_len} bytes)"),
            0,
        ));
    }
    let window = file_len.min(EOCD_SEARCH_WINDOW);
    let tail_start = file_len - window;
    // `window` is at most 65,557, so the cast is lossless.
    let tail = w
        .read_vec_at(tail_start, window as usize)
        .map_err(Error::read)?;
    let sig = EOCD_SIG.to_le_bytes();
    let Some(idx) = tail.windows(4).rposition(|x| x == sig) else {
        return Err(Error::invalid(
            format!("no end of central directory record in the last {window} bytes"),
            tail_start,
        ));
    };
    let pos = tail_start + idx as u64;
    let Some(rec) = tail.get(idx..idx + EOCD_FIXED as usize) else {
        return Err(Error::invalid(
            "the end of central directory record is truncated",
            pos,
        ));
    };
    Ok(Eocd {
        pos,
        this_disk: le16(rec, 4),
        cd_disk: le16(rec, 6),
        entries_on_disk: le16(rec, 8),
        total_entries: le16(rec, 10),
        cd_size: le32(rec, 12),
        cd_offset: le32(rec, 16),
        comment_len: le16(rec, 20),
    })
}

/// Walks central-directory records from `cd_offset` while they start with `PK\x01\x02`
/// (spec §1.2), within the entry-count, name-length and directory-size limits.
fn walk_central_directory<R: Read + Seek>(
    w: &mut Window<'_, R>,
    cd_offset: u64,
    file_len: u64,
    limits: &Limits,
) -> Result<Vec<CdRecord>, Error> {
    let mut records = Vec::new();
    let mut pos = cd_offset;
    let mut hdr = [0u8; CDH_FIXED as usize];
    loop {
        if pos.saturating_add(4) > file_len {
            break;
        }
        let mut sig = [0u8; 4];
        w.read_exact_at(pos, &mut sig).map_err(Error::read)?;
        if u32::from_le_bytes(sig) != CDH_SIG {
            break;
        }
        if records.len() >= limits.max_entries {
            return Err(Error::limit(
                Limit::Entries,
                records.len() as u64 + 1,
                limits.max_entries as u64,
            ));
        }
        if pos + CDH_FIXED > file_len {
            return Err(Error::invalid("truncated central directory header", pos));
        }
        w.read_exact_at(pos, &mut hdr).map_err(Error::read)?;
        let name_len = le16(&hdr, 28);
        let extra_len = le16(&hdr, 30);
        let comment_len = le16(&hdr, 32);
        if usize::from(name_len) > limits.max_entry_name_len {
            return Err(Error::limit(
                Limit::EntryNameLength,
                name_len.into(),
                limits.max_entry_name_len as u64,
            ));
        }
        let size = CDH_FIXED + u64::from(name_len) + u64::from(extra_len) + u64::from(comment_len);
        let end = pos + size;
        if end > file_len {
            return Err(Error::invalid(
                "a central directory header runs past the end of the file",
                pos,
            ));
        }
        if end - cd_offset > limits.max_central_directory_size {
            return Err(Error::limit(
                Limit::CentralDirectorySize,
                end - cd_offset,
                limits.max_central_directory_size,
            ));
        }
        let name = w
            .read_vec_at(pos + CDH_FIXED, name_len.into())
            .map_err(Error::read)?;
        let extra = w
            .read_vec_at(pos + CDH_FIXED + u64::from(name_len), extra_len.into())
            .map_err(Error::read)?;
        records.push(CdRecord {
            pos,
            size,
            version_made_by: le16(&hdr, 4),
            flags: le16(&hdr, 8),
            method: le16(&hdr, 10),
            crc32: le32(&hdr, 16),
            compressed_size: le32(&hdr, 20),
            uncompressed_size: le32(&hdr, 24),
            disk_start: le16(&hdr, 34),
            external_attrs: le32(&hdr, 38),
            lfh_offset: le32(&hdr, 42),
            name,
            zip64_extra: raw::has_zip64_extra(&extra),
            total_size: 0,
        });
        pos = end;
    }
    Ok(records)
}

/// NuGet's `UpdateLocalFileHeadersTotalSize` (spec §1.2): sort by local header offset; each
/// entry extends to the next one, the last to the start of the central directory.
fn assign_total_sizes(records: &mut [CdRecord], cd_start: u64) {
    let mut order: Vec<(u32, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.lfh_offset, i))
        .collect();
    // Stable, like LINQ's OrderBy.
    order.sort_by_key(|&(lfh, _)| lfh);
    // Offsets are u32 and `cd_start` is at most the file length, so i64 holds both.
    let cd_start = i64::try_from(cd_start).unwrap_or(i64::MAX);
    let nexts = order
        .iter()
        .skip(1)
        .map(|&(lfh, _)| i64::from(lfh))
        .chain(std::iter::once(cd_start));
    for (&(lfh, i), next) in order.iter().zip(nexts) {
        if let Some(r) = records.get_mut(i) {
            r.total_size = next - i64::from(lfh);
        }
    }
}
