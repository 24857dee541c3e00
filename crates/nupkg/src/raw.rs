//! Raw ZIP records and positioned, buffered reads.
//!
//! Hand-written rather than taken from the `zip` crate: NuGet's package hash covers exact byte
//! ranges (descriptors, gaps, the EOCD position, each record's raw length) that `zip` does not
//! expose (`../shared/spec/dependencies.md` §5).

use std::io::{self, Read, Seek, SeekFrom};

/// Local file header signature `PK\x03\x04`.
pub(crate) const LFH_SIG: u32 = 0x0403_4b50;
/// Central-directory file header signature `PK\x01\x02`.
pub(crate) const CDH_SIG: u32 = 0x0201_4b50;
/// End-of-central-directory record signature `PK\x05\x06`.
pub(crate) const EOCD_SIG: u32 = 0x0605_4b50;
/// Zip64 end-of-central-directory locator signature `PK\x06\x07`.
pub(crate) const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;

/// Fixed part of a local file header.
pub(crate) const LFH_FIXED: u64 = 30;
/// Fixed part of a central-directory file header.
pub(crate) const CDH_FIXED: u64 = 46;
/// Fixed part of the end-of-central-directory record.
pub(crate) const EOCD_FIXED: u64 = 22;
/// Size of the Zip64 end-of-central-directory locator.
pub(crate) const ZIP64_LOCATOR_LEN: u64 = 20;
/// The EOCD (22 bytes plus a comment of at most 65,535 bytes) lies within this many bytes of
/// the end of any valid ZIP, so the backward scan stops there. NuGet scans the whole file, but
/// System.IO.Compression, which must also open the package, does not look further either.
pub(crate) const EOCD_SEARCH_WINDOW: u64 = EOCD_FIXED + 0xFFFF;

/// Raw name of the signature entry (spec §1.1), compared byte for byte.
pub(crate) const SIGNATURE_NAME: &[u8] = b".signature.p7s";
/// General-purpose flag bit 11: the name is UTF-8.
pub(crate) const FLAG_UTF8: u16 = 1 << 11;
/// Extra-field header id of the Zip64 extended information field.
pub(crate) const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Size of the one read buffer every streaming operation uses.
pub(crate) const BUF_SIZE: usize = 64 * 1024;

/// Little-endian `u16` at `at`. Callers pass fixed-size header buffers filled by
/// [`Window::read_exact_at`], so the range is always present; 0 is returned otherwise.
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..).and_then(|s| s.first_chunk::<2>()) {
        Some(c) => u16::from_le_bytes(*c),
        None => 0,
    }
}

/// Little-endian `u32` at `at`; same contract as [`le16`].
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..).and_then(|s| s.first_chunk::<4>()) {
        Some(c) => u32::from_le_bytes(*c),
        None => 0,
    }
}

/// Whether an extra-field block contains a Zip64 extended information field (id `0x0001`).
///
/// Mirrors NuGet's `ExtraField.TryRead`: a malformed block (a field running past the end, or
/// trailing bytes too short for a field header) counts as "no extra fields" (spec §1.3).
pub(crate) fn has_zip64_extra(mut extra: &[u8]) -> bool {
    let mut found = false;
    while !extra.is_empty() {
        let (Some(id), Some(len)) = (
            extra.first_chunk::<2>().map(|c| u16::from_le_bytes(*c)),
            extra
                .get(2..)
                .and_then(|s| s.first_chunk::<2>())
                .map(|c| u16::from_le_bytes(*c)),
        ) else {
            return false;
        };
        let Some(rest) = extra.get(4 + usize::from(len)..) else {
            return false;
        };
        found |= id == ZIP64_EXTRA_ID;
        extra = rest;
    }
    found
}

/// CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), as ZIP
/// and NuGet's signer use for the signature entry (spec §1.4).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    // Indexing in a const block (no `get_mut` there); `n < 256` by the loop bound.
    #[allow(clippy::indexing_slicing)]
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        let idx = usize::from((crc as u8) ^ b);
        // `idx` is a u8 value, so always < 256.
        crc = TABLE.get(idx).copied().unwrap_or(0) ^ (crc >> 8);
    }
    !crc
}

/// Why a streaming copy stopped.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// Reading the input failed (including a file that shrank under us).
    Read(io::Error),
    /// The sink (output) failed.
    Write(io::Error),
}

/// Positioned, buffered reads over a `Read + Seek` with one 64 KiB buffer.
///
/// Memory stays flat however large the package: bytes go from the buffer to the caller's sink in
/// chunks. Reads that continue where the last one ended do not seek.
pub(crate) struct Window<'a, R> {
    inner: &'a mut R,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_start: u64,
    /// Valid bytes in `buf`.
    buf_len: usize,
    /// Where `inner` is positioned, if known.
    inner_pos: Option<u64>,
}

impl<'a, R: Read + Seek> Window<'a, R> {
    pub(crate) fn new(inner: &'a mut R) -> Self {
        Self {
            inner,
            buf: vec![0; BUF_SIZE],
            buf_start: 0,
            buf_len: 0,
            inner_pos: None,
        }
    }

    /// Refills the buffer with the bytes starting at `pos` (as many as the file has, up to the
    /// buffer size).
    fn fill_at(&mut self, pos: u64) -> io::Result<()> {
        if self.inner_pos != Some(pos) {
            self.inner.seek(SeekFrom::Start(pos))?;
        }
        self.buf_start = pos;
        self.buf_len = 0;
        self.inner_pos = None;
        let mut filled = 0;
        while filled < self.buf.len() {
            let Some(dst) = self.buf.get_mut(filled..) else {
                break;
            };
            match self.inner.read(dst) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.buf_len = filled;
        self.inner_pos = pos.checked_add(filled as u64);
        Ok(())
    }

    /// Feeds the bytes `[start, end)` to `sink` in buffer-sized chunks.
    pub(crate) fn copy(
        &mut self,
        start: u64,
        end: u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), CopyError> {
        let mut p = start;
        while p < end {
            let in_buf = p >= self.buf_start && p - self.buf_start < self.buf_len as u64;
            if !in_buf {
                self.fill_at(p).map_err(CopyError::Read)?;
                if self.buf_len == 0 {
                    return Err(CopyError::Read(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("unexpected end of file at byte offset {p}"),
                    )));
                }
            }
            // Both casts are bounded by `buf_len` (a usize) by the check above.
            let off = (p - self.buf_start) as usize;
            let avail = self.buf_len - off;
            let take = avail.min(usize::try_from(end - p).unwrap_or(usize::MAX));
            let chunk = self
                .buf
                .get(off..off + take)
                .ok_or_else(|| CopyError::Read(io::Error::other("read window out of range")))?;
            sink(chunk).map_err(CopyError::Write)?;
            p += take as u64;
        }
        Ok(())
    }

    /// Fills `out` with the bytes at `[start, start + out.len())`.
    pub(crate) fn read_exact_at(&mut self, start: u64, out: &mut [u8]) -> io::Result<()> {
        let end = start
            .checked_add(out.len() as u64)
            .ok_or_else(|| io::Error::other("offset overflow"))?;
        let mut filled = 0usize;
        let mut sink = |chunk: &[u8]| {
            if let Some(dst) = out.get_mut(filled..filled + chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            filled += chunk.len();
            Ok(())
        };
        self.copy(start, end, &mut sink).map_err(|e| match e {
            CopyError::Read(e) | CopyError::Write(e) => e,
        })
    }

    /// Reads `len` bytes at `start` into a new vector. Callers bound `len` by a limit first.
    pub(crate) fn read_vec_at(&mut self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0; len];
        self.read_exact_at(start, &mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // The fixtures' 7-byte fake signature "content" (SignatureFileWithFakeContent.zip).
        assert_eq!(crc32(b"content"), 0xFEC5_30A9);
    }

    #[test]
    fn zip64_extra_detection() {
        assert!(has_zip64_extra(&[1, 0, 0, 0]));
        assert!(has_zip64_extra(&[0x55, 0x54, 1, 0, 9, 1, 0, 2, 0, 7, 7]));
        assert!(!has_zip64_extra(&[0x55, 0x54, 1, 0, 9]));
        assert!(!has_zip64_extra(&[1, 0, 5, 0, 0]));
        assert!(!has_zip64_extra(&[1, 0, 0]));
        assert!(!has_zip64_extra(&[]));
    }

    #[test]
    fn window_reads_ranges_across_buffer_boundaries() {
        let data: Vec<u8> = (0..(BUF_SIZE * 3 + 17)).map(|i| (i % 251) as u8).collect();
        let mut cur = Cursor::new(data.clone());
        let mut w = Window::new(&mut cur);
        for (s, e) in [(0, 10), (5, BUF_SIZE + 9), (BUF_SIZE * 2 - 3, data.len())] {
            let mut got = Vec::new();
            w.copy(s as u64, e as u64, &mut |c| {
                got.extend_from_slice(c);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, data[s..e]);
        }
        let mut four = [0u8; 4];
        w.read_exact_at(1, &mut four).unwrap();
        assert_eq!(four, [1, 2, 3, 4]);
        assert!(w.read_exact_at(data.len() as u64 - 2, &mut four).is_err());
        assert!(w.read_vec_at(u64::MAX - 1, 4).is_err());
    }

    #[test]
    fn le_helpers() {
        assert_eq!(le16(&[1, 2, 3], 1), 0x0302);
        assert_eq!(le32(&[1, 2, 3, 4, 5], 1), 0x0504_0302);
    }
}
