//! A lenient PEM reader for key and certificate files.
//!
//! Real files are messier than RFC 7468's strict grammar: `openssl pkcs12 -nodes` puts
//! "Bag Attributes" text before each block, Windows tools use CRLF, some tools wrap base64
//! at 76 columns, and legacy OpenSSL keys carry RFC 1421 headers. This module finds each
//! `-----BEGIN X-----` … `-----END X-----` block, ignores text between blocks, and hands a
//! normalised block to `der::pem` (constant-time base64) for decoding.

use zeroize::Zeroizing;

/// Base64 line width of the normalised block given to the strict decoder (RFC 7468 §2).
const LINE_WIDTH: usize = 64;

/// One decoded PEM block.
pub(crate) struct Block {
    /// The type label, e.g. `PRIVATE KEY`.
    pub(crate) label: String,
    /// The block had `Proc-Type: 4,ENCRYPTED` (legacy OpenSSL key encryption, RFC 1421).
    pub(crate) legacy_encrypted: bool,
    /// The decoded DER bytes (zeroized on drop: they may be a private key).
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// Why a PEM input could not be read.
pub(crate) type PemError = &'static str;

/// Whether `input` looks like PEM text rather than DER.
///
/// Keys, certificates and PFX files in DER are SEQUENCEs longer than 127 bytes, so they
/// start with `0x30` and a long-form length byte (`0x81`–`0x84`), which text never does;
/// anything else holding a begin marker is treated as PEM.
pub(crate) fn looks_like_pem(input: &[u8]) -> bool {
    let der_start = matches!(input, [0x30, len, ..] if *len & 0x80 != 0);
    !der_start && input.windows(BEGIN.len()).any(|w| w == BEGIN)
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// Reads every PEM block in `input`, in order.
pub(crate) fn blocks(input: &[u8]) -> Result<Vec<Block>, PemError> {
    let mut out = Vec::new();
    let mut lines = input.split(|b| *b == b'\n').map(<[u8]>::trim_ascii);
    while let Some(line) = lines.next() {
        let Some(label) = marker_label(line, BEGIN) else {
            continue; // text outside blocks ("Bag Attributes", comments) is ignored
        };
        let label = std::str::from_utf8(label).map_err(|_| "the PEM label is not text")?;
        // Sized up front so that the buffer holding (base64 of) key material never
        // reallocates and leaves an unzeroized copy behind.
        let mut body = Zeroizing::new(Vec::with_capacity(input.len()));
        let mut legacy_encrypted = false;
        let mut in_headers = true;
        let mut closed = false;
        for line in lines.by_ref() {
            if let Some(end_label) = marker_label(line, END) {
                if end_label != label.as_bytes() {
                    return Err("a PEM block ends with a different label than it began");
                }
                closed = true;
                break;
            }
            if line.is_empty() {
                continue;
            }
            if in_headers && line.contains(&b':') {
                // RFC 1421 encapsulated header, e.g. `Proc-Type: 4,ENCRYPTED`.
                let upper = line.to_ascii_uppercase();
                if upper.starts_with(b"PROC-TYPE:") && upper.ends_with(b"ENCRYPTED") {
                    legacy_encrypted = true;
                }
                continue;
            }
            in_headers = false;
            if !line
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            {
                return Err("a PEM block contains characters that are not base64");
            }
            body.extend_from_slice(line);
        }
        if !closed {
            return Err("a PEM block has no END line");
        }
        let der = if legacy_encrypted {
            // Not decoded: the caller reports the unsupported encryption by itself.
            Zeroizing::new(Vec::new())
        } else {
            decode_normalised(label, &body)?
        };
        out.push(Block {
            label: label.to_owned(),
            legacy_encrypted,
            der,
        });
    }
    Ok(out)
}

/// Rebuilds a strict RFC 7468 block from the label and the bare base64 body and decodes it.
fn decode_normalised(label: &str, body: &[u8]) -> Result<Zeroizing<Vec<u8>>, PemError> {
    let capacity = body.len() + body.len() / LINE_WIDTH + 2 * label.len() + 40;
    let mut text = Zeroizing::new(Vec::with_capacity(capacity));
    text.extend_from_slice(BEGIN);
    text.extend_from_slice(label.as_bytes());
    text.extend_from_slice(b"-----\n");
    for chunk in body.chunks(LINE_WIDTH) {
        text.extend_from_slice(chunk);
        text.push(b'\n');
    }
    text.extend_from_slice(END);
    text.extend_from_slice(label.as_bytes());
    text.extend_from_slice(b"-----\n");
    match der::pem::decode_vec(&text) {
        Ok((_, der)) => Ok(Zeroizing::new(der)),
        Err(_) => Err("a PEM block's base64 is malformed"),
    }
}

/// The label of a `-----BEGIN label-----` / `-----END label-----` line.
fn marker_label<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    line.strip_prefix(prefix)?.strip_suffix(DASHES)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTISH: &str = "MIIBAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss";

    #[test]
    fn finds_blocks_among_text_with_crlf_and_odd_widths() {
        let input = format!(
            "Bag Attributes\r\n    localKeyID: 01 02\r\nsubject=/CN=x\r\n-----BEGIN CERTIFICATE-----\r\n{}\r\n{}\r\n-----END CERTIFICATE-----\r\nrandom text\n-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n",
            &CERTISH[..40],
            &CERTISH[40..]
        );
        let blocks = blocks(input.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der.len(), 48);
        assert_eq!(blocks[0].der[..4], [0x30, 0x82, 0x01, 0x00]);
        assert_eq!(blocks[1].label, "PRIVATE KEY");
        assert_eq!(blocks[1].der.as_slice(), &[0, 1, 2]);
        assert!(!blocks[1].legacy_encrypted);
    }

    #[test]
    fn flags_legacy_encryption_headers() {
        let input = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,0011223344556677\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        let blocks = blocks(input.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].legacy_encrypted);
    }

    #[test]
    fn rejects_malformed_blocks() {
        assert!(blocks(b"-----BEGIN X-----\nAAEC\n").is_err());
        assert!(blocks(b"-----BEGIN X-----\nAAEC\n-----END Y-----\n").is_err());
        assert!(blocks(b"-----BEGIN X-----\nAA*C\n-----END X-----\n").is_err());
        assert!(blocks(b"-----BEGIN X-----\nAAE\n-----END X-----\n").is_err());
        assert!(blocks(b"-----BEGIN \xff-----\nAAEC\n-----END \xff-----\n").is_err());
    }

    #[test]
    fn detection() {
        assert!(looks_like_pem(b"junk\n-----BEGIN CERTIFICATE-----"));
        assert!(!looks_like_pem(&[0x30, 0x82, 0x01, 0x00]));
        let mut der_with_marker = vec![0x30, 0x82, 0x01, 0x00];
        der_with_marker.extend_from_slice(b"-----BEGIN CERTIFICATE-----");
        assert!(!looks_like_pem(&der_with_marker));
        assert!(blocks(b"no blocks here").unwrap().is_empty());
    }
}
