//! The revocation recheck (spec server §4): every known signer certificate that is not
//! revoked yet (registered ones and those seen in pushed signatures) is checked online
//! against its issuers' CRL/OCSP. Revoked is final (CAs drop old entries). A revoked
//! certificate flags the versions whose author signature was made with it at or after the
//! revocation time (by their timestamp), as NuGet.org's decision table does; the flag shows
//! on the package page and in the signature API, and pushes signed with it are refused.

use serde::Serialize;
use signet_signature::Certificate;

/// What one recheck run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RecheckSummary {
    /// Certificates checked.
    pub checked: usize,
    /// Newly found revoked.
    pub revoked: usize,
    /// Whose status could not be learnt (no issuer known, responders unreachable).
    pub unknown: usize,
    /// Versions newly flagged.
    pub flagged_versions: u64,
}

/// Splits concatenated DER certificates.
pub(crate) fn split_der(mut bytes: &[u8]) -> Vec<Certificate> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let Some(len) = der_len(bytes) else { break };
        let Some((one, rest)) = bytes.split_at_checked(len) else {
            break;
        };
        if let Ok(c) = Certificate::from_der(one) {
            out.push(c);
        }
        bytes = rest;
    }
    out
}

/// Total length of the DER TLV at the start of `b`.
fn der_len(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*b.get(2 + i)?);
    }
    Some(2 + n + len)
}

pub(crate) enum Verdict {
    Good,
    Unknown(String),
    Revoked { at: i64, detail: String },
}

#[cfg(test)]
mod tests {
    use super::der_len;

    #[test]
    fn der_lengths() {
        assert_eq!(der_len(&[0x30, 0x03, 1, 2, 3]), Some(5));
        assert_eq!(der_len(&[0x30, 0x82, 0x01, 0x00]), Some(4 + 256));
        assert_eq!(der_len(&[0x30]), None);
        assert_eq!(der_len(&[0x30, 0x80]), None);
    }
}
