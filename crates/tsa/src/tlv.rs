//! The DER writer behind the authority's token assembly and the client's certificate-set
//! rewrite: precomputed pieces joined with one allocation per element, so that answering a
//! request costs the RSA signature and little else. Reading goes through
//! `signet_signature::tlv`, which also normalises BER.

pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// `[n]` constructed, context-specific.
pub(crate) const fn ctx_cons(n: u8) -> u8 {
    0xa0 | n
}

/// `[n]` primitive, context-specific.
pub(crate) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// Appends a tag and a DER length.
pub(crate) fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// A TLV whose content is the concatenation of `parts`, in one allocation.
pub(crate) fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    header(&mut out, tag, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// An OID TLV.
pub(crate) fn oid(oid: &const_oid::ObjectIdentifier) -> Vec<u8> {
    tlv(OID, &[oid.as_bytes()])
}

/// Minimal INTEGER content octets for an unsigned value.
pub(crate) fn uint_content(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut out = Vec::with_capacity(9);
    if bytes.get(skip).is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    out
}

/// DER SET OF: the encoded elements sorted as octet strings (X.690 §11.6), joined.
pub(crate) fn set_of_content(mut elements: Vec<&[u8]>) -> Vec<u8> {
    elements.sort_unstable();
    elements.dedup();
    elements.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers() {
        assert_eq!(tlv(OCTET_STRING, &[&[1, 2]]), [4, 2, 1, 2]);
        let long = tlv(OCTET_STRING, &[&[0u8; 200]]);
        assert_eq!(&long[..3], [4, 0x81, 200]);
        let longer = tlv(OCTET_STRING, &[&[0u8; 300]]);
        assert_eq!(&longer[..4], [4, 0x82, 1, 44]);
        assert_eq!(uint_content(0), [0]);
        assert_eq!(uint_content(0x7f), [0x7f]);
        assert_eq!(uint_content(0x80), [0, 0x80]);
        assert_eq!(uint_content(0x1234), [0x12, 0x34]);
        assert_eq!(
            uint_content(u64::MAX),
            [0, 255, 255, 255, 255, 255, 255, 255, 255]
        );
    }

    #[test]
    fn set_of_sorts_and_dedups() {
        let a = [0x30u8, 1, 9];
        let b = [0x30u8, 1, 2];
        assert_eq!(set_of_content(vec![&a, &b, &a]), [0x30, 1, 2, 0x30, 1, 9]);
    }
}
