//! Editing an existing signature after it was signed: attaching the RFC 3161 timestamp token
//! NuGet adds after signing (spec §3.6) and the plumbing the countersignature code shares.
//! Every byte that was signed is kept as it was.

use crate::countersign::edit_unsigned;
use crate::tlv::{self, Reader, Tlv, encode, encode_seq, tag};
use crate::{Error, oids};

/// Adds `token` (a DER `ContentInfo` holding a TimeStampToken) as an
/// `id-aa-signatureTimeStampToken` unsigned attribute of the primary signer.
pub fn add_timestamp(signature: &[u8], token: &[u8]) -> Result<Vec<u8>, Error> {
    let attribute = unsigned_attribute(&oids::TIMESTAMP_TOKEN, vec![token.to_vec()]);
    rewrite_signed_data(signature, &[], |signer| {
        edit_unsigned(signer, |mut attrs| {
            attrs.push(attribute);
            Ok(attrs)
        })
    })
}

/// A DER `Attribute` holding `values` (each one encoded element) in the given order.
pub(crate) fn unsigned_attribute(
    oid: &const_oid::ObjectIdentifier,
    values: Vec<Vec<u8>>,
) -> Vec<u8> {
    encode_seq(
        tag::SEQUENCE,
        &[
            &encode(tag::OID, oid.as_bytes()),
            &encode(tag::SET, &values.concat()),
        ],
    )
}

/// Re-encodes the ContentInfo with the single SignerInfo replaced by `edit(signer_info)` and
/// the DER certificates of `extra_certificates` that are not there yet appended to the
/// SignedData certificates (the field is created when absent).
pub(crate) fn rewrite_signed_data(
    signature: &[u8],
    extra_certificates: &[Vec<u8>],
    edit: impl FnOnce(Tlv<'_>) -> Result<Vec<u8>, Error>,
) -> Result<Vec<u8>, Error> {
    let der = tlv::ber_to_der(signature)?;
    let mut outer = Reader::new(&der);
    let ci = outer.expect(tag::SEQUENCE, "ContentInfo")?;
    outer.finish("ContentInfo")?;
    let mut r = ci.reader();
    let content_type = r.expect(tag::OID, "contentType")?;
    let explicit = r.expect(tag::ctx_cons(0), "content")?;
    r.finish("ContentInfo")?;
    let mut er = explicit.reader();
    let sd = er.expect(tag::SEQUENCE, "SignedData")?;
    er.finish("content")?;
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut sr = sd.reader();
    let mut signer_infos = None;
    let mut certificates_at = None;
    while !sr.is_empty() {
        let field = sr.next("SignedData field")?;
        if field.tag == tag::SET && sr.is_empty() {
            signer_infos = Some(field);
        } else {
            if field.tag == tag::ctx_cons(0) && parts.len() >= 3 {
                certificates_at = Some(parts.len());
            }
            parts.push(field.raw.to_vec());
        }
    }
    let signer_infos =
        signer_infos.ok_or_else(|| Error::asn1("SignedData", "no signerInfos".into()))?;
    if !extra_certificates.is_empty() {
        let mut certs = match certificates_at.and_then(|i| parts.get(i)) {
            Some(field) => Reader::new(field)
                .expect(tag::ctx_cons(0), "certificates")?
                .reader()
                .all_raw()?,
            None => Vec::new(),
        };
        for c in extra_certificates {
            if !certs.contains(c) {
                certs.push(c.clone());
            }
        }
        let field = encode(tag::ctx_cons(0), &certs.concat());
        match certificates_at.and_then(|i| parts.get_mut(i)) {
            Some(slot) => *slot = field,
            // version, digestAlgorithms, encapContentInfo, then certificates.
            None => parts.insert(3.min(parts.len()), field),
        }
    }
    let mut sir = signer_infos.reader();
    let signer = sir.expect(tag::SEQUENCE, "SignerInfo")?;
    if !sir.is_empty() {
        return Err(Error::SignerCount(2));
    }
    parts.push(encode(tag::SET, &edit(signer)?));
    let signed_data = encode(tag::SEQUENCE, &parts.concat());
    Ok(encode_seq(
        tag::SEQUENCE,
        &[content_type.raw, &encode(tag::ctx_cons(0), &signed_data)],
    ))
}
