//! Adding and removing the signature entry, byte for byte as NuGet's signer does (spec §1.4,
//! §1.5 of `../shared/spec/nuget-signatures.md`).

use std::io::{self, BufWriter, Read, Seek, Write};

use crate::error::{Error, Limit};
use crate::limits::Limits;
use crate::package::Package;
use crate::raw::{
    self, BUF_SIZE, CDH_FIXED, CDH_SIG, CopyError, LFH_FIXED, LFH_SIG, SIGNATURE_NAME, Window,
    le16, le32,
};

/// Size of the local header NuGet writes for the signature: 30 + 14-byte name, no extra field.
const SIG_LFH_LEN: u64 = LFH_FIXED + SIGNATURE_NAME.len() as u64;
/// Size of the central-directory header NuGet writes for the signature: 46 + 14.
const SIG_CDH_LEN: u64 = CDH_FIXED + SIGNATURE_NAME.len() as u64;
/// "Version made by" and "version needed": 2.0, MS-DOS host.
const ZIP_VERSION_20: u16 = 20;

/// Appends `signature` as the last local entry and the last central-directory record of the
/// unsigned package `input`, writing the signed package to `out` (spec §1.4, exact bytes).
///
/// `dos_time` is the packed MS-DOS date/time for both headers (see [`dos_date_time`]); NuGet
/// uses the local time of signing. The caller passes it: this library never reads the clock.
/// Everything before the central directory and every existing central-directory record is
/// copied unchanged; the EOCD gets its counts, size and offset adjusted (wrapping, like NuGet)
/// and everything after its fixed fields (comment, trailing bytes) is copied.
///
/// Errors: a `.signature.p7s` entry already present → NU3001 ([`Error::AlreadySigned`]); Zip64
/// (spec §1.3) → NU3006; EOCD total entries `>= 0xFFFE` → NU3039; a signature over
/// [`Limits::max_signature_size`]; no entries; an EOCD that does not directly follow the central
/// directory (NuGet would write a corrupt package there; signet refuses). `out` receives bytes
/// only once the input has passed these checks, but a write error can leave it partial: the
/// caller writes to a temporary file and renames it.
pub fn append_signature<R: Read + Seek, W: Write>(
    input: R,
    signature: &[u8],
    dos_time: u32,
    out: W,
    limits: &Limits,
) -> Result<(), Error> {
    let mut pkg = Package::open(input, limits)?;
    if pkg.has_signature_entry() {
        return Err(Error::AlreadySigned);
    }
    if pkg.is_zip64()? {
        return Err(Error::Zip64);
    }
    let entries = pkg.total_entries();
    if entries > Limits::SIGNING_MAX_ENTRIES {
        return Err(Error::TooManyEntries { entries });
    }
    if pkg.records.is_empty() {
        return Err(Error::invalid("the package has no entries", pkg.eocd.pos));
    }
    let sig_len = signature.len() as u64;
    if sig_len > limits.max_signature_size {
        return Err(Error::limit(
            Limit::SignatureSize,
            sig_len,
            limits.max_signature_size,
        ));
    }
    require_writable_layout(&mut pkg)?;
    let cd_start = pkg.cd_start;
    // The new entry's offset, size and the moved central directory must stay 32-bit.
    let (Ok(n), Ok(lfh_offset)) = (u32::try_from(sig_len), u32::try_from(cd_start)) else {
        return Err(Error::Zip64);
    };
    if cd_start + SIG_LFH_LEN + sig_len > u64::from(u32::MAX) {
        return Err(Error::Zip64);
    }

    let crc = raw::crc32(signature);
    let name_len = SIGNATURE_NAME.len() as u16;
    let mut lfh = Vec::with_capacity(SIG_LFH_LEN as usize);
    lfh.extend_from_slice(&LFH_SIG.to_le_bytes());
    lfh.extend_from_slice(&ZIP_VERSION_20.to_le_bytes()); // version needed
    lfh.extend_from_slice(&0u16.to_le_bytes()); // flags
    lfh.extend_from_slice(&0u16.to_le_bytes()); // stored
    lfh.extend_from_slice(&dos_time.to_le_bytes()); // time (low 16 bits), date (high 16 bits)
    lfh.extend_from_slice(&crc.to_le_bytes());
    lfh.extend_from_slice(&n.to_le_bytes()); // compressed size
    lfh.extend_from_slice(&n.to_le_bytes()); // uncompressed size
    lfh.extend_from_slice(&name_len.to_le_bytes());
    lfh.extend_from_slice(&0u16.to_le_bytes()); // extra length
    lfh.extend_from_slice(SIGNATURE_NAME);

    let mut cdh = Vec::with_capacity(SIG_CDH_LEN as usize);
    cdh.extend_from_slice(&CDH_SIG.to_le_bytes());
    cdh.extend_from_slice(&ZIP_VERSION_20.to_le_bytes()); // version made by
    cdh.extend_from_slice(&ZIP_VERSION_20.to_le_bytes()); // version needed
    cdh.extend_from_slice(&0u16.to_le_bytes()); // flags
    cdh.extend_from_slice(&0u16.to_le_bytes()); // stored
    cdh.extend_from_slice(&dos_time.to_le_bytes());
    cdh.extend_from_slice(&crc.to_le_bytes());
    cdh.extend_from_slice(&n.to_le_bytes());
    cdh.extend_from_slice(&n.to_le_bytes());
    cdh.extend_from_slice(&name_len.to_le_bytes());
    cdh.extend_from_slice(&0u16.to_le_bytes()); // extra length
    cdh.extend_from_slice(&0u16.to_le_bytes()); // comment length
    cdh.extend_from_slice(&0u16.to_le_bytes()); // disk number start
    cdh.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    cdh.extend_from_slice(&0u32.to_le_bytes()); // external attributes
    cdh.extend_from_slice(&lfh_offset.to_le_bytes());
    cdh.extend_from_slice(SIGNATURE_NAME);

    let (file_len, cd_end) = (pkg.file_len, pkg.cd_end);
    let mut w = Window::new(pkg.reader_mut());
    let mut out = BufWriter::with_capacity(BUF_SIZE, out);
    copy(&mut w, 0, cd_start, &mut out)?;
    out.write_all(&lfh).map_err(Error::write)?;
    out.write_all(signature).map_err(Error::write)?;
    copy(&mut w, cd_start, cd_end, &mut out)?;
    out.write_all(&cdh).map_err(Error::write)?;
    write_adjusted_eocd(
        &mut w,
        cd_end,
        &mut out,
        1,
        SIG_CDH_LEN as u32,
        (SIG_LFH_LEN as u32).wrapping_add(n),
    )?;
    copy(&mut w, cd_end + 20, file_len, &mut out)?;
    out.flush().map_err(Error::write)
}

/// Removes the signature entry, giving back the unsigned package exactly as it was before
/// [`append_signature`] (spec §1.5).
///
/// The entry must pass the NU3005 checks of [`Package::read_signature`] (as in NuGet) and be
/// both the last local entry and the last central-directory record, as NuGet's signer leaves
/// it: NuGet does not rewrite the offsets of entries after it, so removing it from anywhere
/// else would corrupt the package, and signet refuses ([`Error::SignatureNotLast`]). The EOCD
/// must directly follow the central directory. No signature entry → [`Error::NotSigned`].
pub fn remove_signature<R: Read + Seek, W: Write>(
    input: R,
    out: W,
    limits: &Limits,
) -> Result<(), Error> {
    let mut pkg = Package::open(input, limits)?;
    let Some(index) = pkg.signature_index()? else {
        return Err(Error::NotSigned);
    };
    pkg.validate_signature_entry(index)?;
    let last = pkg.records.len().checked_sub(1);
    let Some(sig) = pkg.records.get(index).cloned() else {
        return Err(Error::NotSigned);
    };
    let later_entry = pkg
        .records
        .iter()
        .enumerate()
        .any(|(i, r)| i != index && r.lfh_offset >= sig.lfh_offset);
    if Some(index) != last || later_entry {
        return Err(Error::SignatureNotLast {
            offset: u64::from(sig.lfh_offset),
        });
    }
    require_writable_layout(&mut pkg)?;
    let sig_lfh = u64::from(sig.lfh_offset);
    // The last local entry runs to the start of the central directory (spec §1.2).
    let entry_end = sig_lfh
        .checked_add(u64::try_from(sig.total_size).unwrap_or(u64::MAX))
        .filter(|&e| e <= sig.pos)
        .ok_or_else(|| {
            Error::bad_signature_entry("its entry overlaps the central directory", sig_lfh)
        })?;

    let (file_len, cd_end) = (pkg.file_len, pkg.cd_end);
    let mut w = Window::new(pkg.reader_mut());
    let mut out = BufWriter::with_capacity(BUF_SIZE, out);
    copy(&mut w, 0, sig_lfh, &mut out)?;
    copy(&mut w, entry_end, sig.pos, &mut out)?;
    // The signature's record is the last one, so nothing follows it before the EOCD.
    write_adjusted_eocd(
        &mut w,
        cd_end,
        &mut out,
        -1,
        (sig.size as u32).wrapping_neg(),
        (sig.total_size as u32).wrapping_neg(),
    )?;
    copy(&mut w, cd_end + 20, file_len, &mut out)?;
    out.flush().map_err(Error::write)
}

/// Packs a civil date-time into the MS-DOS date/time `u32` NuGet writes for the signature
/// entry (spec §1.4): `((year − 1980) & 0x7F) << 25 | month << 21 | day << 16 | hour << 11 |
/// minute << 5 | second / 2`.
///
/// The arithmetic is NuGet's (`DateTimeToDosTime`), wrapping rather than panicking on
/// out-of-range fields. Its low 16 bits are the "time" field and its high 16 bits the "date".
pub fn dos_date_time(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> u32 {
    // `& 0x7F` keeps 7 bits of the (possibly negative) year offset, as C#'s int arithmetic does.
    let mut ret = ((i32::from(year) - 1980) & 0x7F) as u32;
    ret = (ret << 4).wrapping_add(month.into());
    ret = (ret << 5).wrapping_add(day.into());
    ret = (ret << 5).wrapping_add(hour.into());
    ret = (ret << 6).wrapping_add(minute.into());
    (ret << 5).wrapping_add((second / 2).into())
}

/// Before writing, the archive must be laid out the way the signer's byte arithmetic assumes
/// (spec §1.4/§1.5); NuGet's reader tolerates more, but writing from a skewed layout produces
/// a package whose signature can never verify (found by the `nupkg_remove_append` fuzz target):
/// the EOCD's central-directory offset and size match the records walked; the first local
/// header is at offset 0 (no prefix); every record's local header offset is distinct, lies
/// before the central directory and holds a local file header signature.
fn require_writable_layout<R: Read + Seek>(pkg: &mut Package<R>) -> Result<(), Error> {
    require_eocd_after_central_directory(pkg)?;
    let (cd_start, cd_end) = (pkg.cd_start, pkg.cd_end);
    if u64::from(pkg.eocd.cd_offset) != cd_start
        || u64::from(pkg.eocd.cd_size) != cd_end.saturating_sub(cd_start)
    {
        return Err(Error::invalid(
            "the end of central directory record does not describe the central directory",
            pkg.eocd.pos,
        ));
    }
    let mut offsets: Vec<u64> = pkg
        .records
        .iter()
        .map(|r| u64::from(r.lfh_offset))
        .collect();
    offsets.sort_unstable();
    if offsets.first().is_some_and(|&first| first != 0) {
        return Err(Error::invalid(
            "the package has bytes before its first entry",
            0,
        ));
    }
    if offsets.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(Error::invalid("two entries share one local header", 0));
    }
    let mut w = Window::new(pkg.reader_mut());
    for at in offsets {
        let mut sig = [0u8; 4];
        let fits = at.checked_add(30).is_some_and(|end| end <= cd_start);
        if !fits || w.read_exact_at(at, &mut sig).is_err() || u32::from_le_bytes(sig) != LFH_SIG {
            return Err(Error::invalid(
                "a central directory record does not point at a local file header",
                at,
            ));
        }
    }
    Ok(())
}

/// The signer and unsigner assume the EOCD starts where the central directory ends (spec
/// §1.4/§1.5); where it does not, NuGet writes a corrupt archive, so signet refuses.
fn require_eocd_after_central_directory<R>(pkg: &Package<R>) -> Result<(), Error> {
    if pkg.eocd.pos == pkg.cd_end {
        Ok(())
    } else {
        Err(Error::invalid(
            format!(
                "the end of central directory record (at byte offset {}) does not directly follow the central directory",
                pkg.eocd.pos
            ),
            pkg.cd_end,
        ))
    }
}

/// Copies the input's EOCD at `at` with its counts moved by `entry_delta` and `cd_size_delta`,
/// `cd_offset_delta` added (all wrapping), up to and excluding the comment length.
fn write_adjusted_eocd<R: Read + Seek, W: Write>(
    w: &mut Window<'_, R>,
    at: u64,
    out: &mut W,
    entry_delta: i16,
    cd_size_delta: u32,
    cd_offset_delta: u32,
) -> Result<(), Error> {
    let mut eocd = [0u8; 20];
    w.read_exact_at(at, &mut eocd).map_err(Error::read)?;
    let head = eocd.get(..8).unwrap_or_default();
    let adjusted = [
        head,
        le16(&eocd, 8)
            .wrapping_add_signed(entry_delta)
            .to_le_bytes()
            .as_slice(),
        le16(&eocd, 10)
            .wrapping_add_signed(entry_delta)
            .to_le_bytes()
            .as_slice(),
        le32(&eocd, 12)
            .wrapping_add(cd_size_delta)
            .to_le_bytes()
            .as_slice(),
        le32(&eocd, 16)
            .wrapping_add(cd_offset_delta)
            .to_le_bytes()
            .as_slice(),
    ]
    .concat();
    out.write_all(&adjusted).map_err(Error::write)
}

fn copy<R: Read + Seek, W: Write>(
    w: &mut Window<'_, R>,
    start: u64,
    end: u64,
    out: &mut W,
) -> Result<(), Error> {
    let mut sink = |b: &[u8]| -> io::Result<()> { out.write_all(b) };
    w.copy(start, end, &mut sink).map_err(|e| match e {
        CopyError::Read(e) => Error::read(e),
        CopyError::Write(e) => Error::write(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_date_time_matches_nuget_layout() {
        // 2018-02-28 17:01:52 → date 0x4C5C, time 0x8834 (fixture-style values).
        let v = dos_date_time(2018, 2, 28, 17, 1, 52);
        assert_eq!(v >> 16, (38 << 9) | (2 << 5) | 28);
        assert_eq!(v & 0xFFFF, (17 << 11) | (1 << 5) | 26);
        // Odd seconds lose their last bit; 1980-01-01 00:00:00 is the epoch.
        assert_eq!(dos_date_time(1980, 1, 1, 0, 0, 1), 0x0021_0000);
        // Out-of-range values wrap instead of panicking.
        let _ = dos_date_time(0, 255, 255, 255, 255, 255);
        let _ = dos_date_time(u16::MAX, 0, 0, 0, 0, 0);
        assert_eq!(dos_date_time(1979, 0, 0, 0, 0, 0), 127 << 25);
    }
}
