//! A minimal BER/DER tag-length-value walker and DER writer, shared by the crates that
//! hand-assemble CMS and RFC 3161/6960 structures (signature, tsa, trust).
//!
//! Hand-written rather than derived with `der` because NuGet signatures must be verified over the
//! *raw* signed-attribute bytes (decoding through `der` re-sorts SET OF), and because real packages
//! contain BER (`xunit.abstractions.2.0.3` has indefinite lengths and a chunked OCTET STRING) that
//! `der`'s BER support does not decode (`../shared/spec/dependencies.md` §1).

use crate::Error;

/// Deepest nesting accepted when walking BER (CMS nests about 12 levels; certificates a few more).
const MAX_DEPTH: usize = 64;

/// Universal tags used by the CMS walker.
#[allow(missing_docs)]
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[n]` constructed, context-specific.
    pub const fn ctx_cons(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` primitive, context-specific.
    pub const fn ctx_prim(n: u8) -> u8 {
        0x80 | n
    }
}

/// One DER element: its single-byte tag, its value bytes and the whole encoding.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole encoding (tag, length, contents).
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads a SEQUENCE/SET body as a reader.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    /// Expects this element to carry `t`.
    pub fn expect(self, t: u8, what: &'static str) -> Result<Self, Error> {
        if self.tag == t {
            Ok(self)
        } else {
            Err(Error::asn1(
                what,
                format!("expected tag 0x{t:02x}, found 0x{:02x}", self.tag),
            ))
        }
    }
}

/// A cursor over consecutive DER elements.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether every element was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The tag of the next element.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// The next element (definite lengths only: input has been normalised to DER first).
    pub fn next(&mut self, what: &'static str) -> Result<Tlv<'a>, Error> {
        let (tlv, rest) = parse_definite(self.data).map_err(|m| Error::asn1(what, m))?;
        self.data = rest;
        Ok(tlv)
    }

    /// The next element, which must carry tag `t`.
    pub fn expect(&mut self, t: u8, what: &'static str) -> Result<Tlv<'a>, Error> {
        self.next(what)?.expect(t, what)
    }

    /// The next element if it carries tag `t`.
    pub fn optional(&mut self, t: u8, what: &'static str) -> Result<Option<Tlv<'a>>, Error> {
        if self.peek_tag() == Some(t) {
            self.next(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(Error::asn1(what, "trailing data".into()))
        }
    }
}

/// Parses one definite-length element with a single-byte tag.
fn parse_definite(data: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let (t, len, hdr) = header(data)?;
    let len = len.ok_or_else(|| "indefinite length in DER".to_string())?;
    let end = hdr.checked_add(len).ok_or("length overflow")?;
    let raw = data.get(..end).ok_or("truncated element")?;
    let value = raw.get(hdr..).ok_or("truncated element")?;
    let rest = data.get(end..).ok_or("truncated element")?;
    Ok((Tlv { tag: t, value, raw }, rest))
}

/// Reads a tag and a length: (tag, Some(len) or None for indefinite, header length).
fn header(data: &[u8]) -> Result<(u8, Option<usize>, usize), String> {
    let t = *data.first().ok_or("unexpected end of data")?;
    if t & 0x1f == 0x1f {
        return Err("high tag numbers are not supported".into());
    }
    let l0 = *data.get(1).ok_or("truncated length")?;
    if l0 < 0x80 {
        return Ok((t, Some(usize::from(l0)), 2));
    }
    if l0 == 0x80 {
        if t & 0x20 == 0 {
            return Err("indefinite length on a primitive element".into());
        }
        return Ok((t, None, 2));
    }
    let n = usize::from(l0 & 0x7f);
    if n > 4 {
        return Err("length too large".into());
    }
    let bytes = data.get(2..2 + n).ok_or("truncated length")?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok((t, Some(len), 2 + n))
}

/// Normalises BER to DER for the features real NuGet signatures use: indefinite lengths become
/// definite and constructed OCTET STRINGs become primitive. Elements that already have definite
/// lengths and no constructed strings are copied verbatim (their bytes may be covered by a
/// signature, e.g. certificates). Returns the input unchanged when it is already plain.
pub fn ber_to_der(input: &[u8]) -> Result<Vec<u8>, Error> {
    let (out, rest, changed) = normalize_element(input, 0).map_err(Error::Ber)?;
    if !rest.is_empty() {
        return Err(Error::Ber("trailing data after the signature".into()));
    }
    Ok(if changed { out } else { input.to_vec() })
}

/// Returns (normalised bytes, remaining input, whether anything changed). When nothing changed
/// the normalised bytes are left empty to save a copy; the caller copies the raw element.
fn normalize_element(data: &[u8], depth: usize) -> Result<(Vec<u8>, &[u8], bool), String> {
    if depth > MAX_DEPTH {
        return Err("nesting too deep".into());
    }
    let (t, len, hdr) = header(data)?;
    let constructed = t & 0x20 != 0;
    let body = data.get(hdr..).ok_or("truncated element")?;
    if !constructed {
        let len = len.ok_or("indefinite primitive")?;
        let end = hdr.checked_add(len).ok_or("length overflow")?;
        data.get(..end).ok_or("truncated element")?;
        let rest = data.get(end..).ok_or("truncated element")?;
        return Ok((Vec::new(), rest, false));
    }
    // Walk the children.
    let mut children: Vec<Vec<u8>> = Vec::new();
    let mut changed = len.is_none();
    let (mut inner, rest) = match len {
        Some(l) => {
            let inner = body.get(..l).ok_or("truncated element")?;
            (inner, body.get(l..).ok_or("truncated element")?)
        }
        None => (body, &[][..]),
    };
    let mut after_eoc: Option<&[u8]> = None;
    loop {
        if len.is_none() {
            if inner.starts_with(&[0, 0]) {
                after_eoc = inner.get(2..);
                break;
            }
            if inner.is_empty() {
                return Err("missing end-of-contents".into());
            }
        } else if inner.is_empty() {
            break;
        }
        let (child, next, child_changed) = normalize_element(inner, depth + 1)?;
        let consumed = inner.len() - next.len();
        let child_bytes = if child_changed {
            changed = true;
            child
        } else {
            inner.get(..consumed).ok_or("truncated element")?.to_vec()
        };
        children.push(child_bytes);
        inner = next;
    }
    let rest = match after_eoc {
        Some(r) => r,
        None => rest,
    };
    // A constructed string (BER only) becomes its primitive form.
    let string_tag = matches!(t & 0xdf, 0x03 | 0x04 | 0x0c | 0x13 | 0x16 | 0x1e);
    if t & 0xc0 == 0 && string_tag {
        let mut content = Vec::new();
        for c in &children {
            let (ct, cl, ch) = header(c)?;
            if ct & 0x20 != 0 || cl.is_none() {
                return Err("nested constructed string".into());
            }
            content.extend_from_slice(c.get(ch..).ok_or("truncated element")?);
        }
        return Ok((encode(t & 0xdf, &content), rest, true));
    }
    if !changed {
        return Ok((Vec::new(), rest, false));
    }
    let content: Vec<u8> = children.concat();
    Ok((encode(t, &content), rest, true))
}

/// DER length octets for `len`.
fn encode_len(len: usize, out: &mut Vec<u8>) {
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

/// Encodes one element.
pub fn encode(t: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(t);
    encode_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed element from already-encoded children.
pub fn encode_seq(t: u8, children: &[&[u8]]) -> Vec<u8> {
    encode(t, &children.concat())
}

/// Encodes a DER SET OF: children sorted by their encodings (X.690 §11.6).
pub fn encode_set_of(mut children: Vec<Vec<u8>>) -> Vec<u8> {
    children.sort();
    encode(tag::SET, &children.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_is_left_alone() {
        let der = encode_seq(
            tag::SEQUENCE,
            &[
                &encode(tag::INTEGER, &[5]),
                &encode(tag::OCTET_STRING, b"ab"),
            ],
        );
        assert_eq!(ber_to_der(&der).unwrap(), der);
    }

    #[test]
    fn indefinite_and_chunked_strings_are_normalised() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0,
        ];
        let der = ber_to_der(&ber).unwrap();
        assert_eq!(der, [0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x80, 0x04],
            &[0x1f, 0x01],
        ] {
            assert!(ber_to_der(bad).is_err(), "{bad:?}");
        }
        let mut deep = vec![];
        for _ in 0..200 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(ber_to_der(&deep).is_err());
    }

    #[test]
    fn long_lengths_encode_minimally() {
        let big = vec![7u8; 300];
        let e = encode(tag::OCTET_STRING, &big);
        assert_eq!(&e[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&e);
        assert_eq!(r.next("x").unwrap().value.len(), 300);
        assert!(r.is_empty());
    }
}
