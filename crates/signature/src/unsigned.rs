//! Adding unsigned attributes to an existing signature: the RFC 3161 timestamp token NuGet
//! attaches after signing (spec §3.6). Every other byte of the signature is kept as it was.

use crate::tlv::{self, Reader, Tlv, encode, encode_seq, tag};
use crate::{Error, oids};

/// Adds `token` (a DER `ContentInfo` holding a TimeStampToken) as an
/// `id-aa-signatureTimeStampToken` unsigned attribute of the primary signer.
pub fn add_timestamp(signature: &[u8], token: &[u8]) -> Result<Vec<u8>, Error> {
    let attribute = encode_seq(
        tag::SEQUENCE,
        &[
            &encode(tag::OID, oids::TIMESTAMP_TOKEN.as_bytes()),
            &encode(tag::SET, token),
        ],
    );
    rewrite_primary_signer(signature, |signer| {
        add_unsigned_attribute(signer, &attribute)
    })
}

/// Re-encodes the ContentInfo with the single SignerInfo replaced by `edit(signer_info)`.
fn rewrite_primary_signer(
    signature: &[u8],
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
    while !sr.is_empty() {
        let field = sr.next("SignedData field")?;
        if field.tag == tag::SET && sr.is_empty() {
            signer_infos = Some(field);
        } else {
            parts.push(field.raw.to_vec());
        }
    }
    let signer_infos =
        signer_infos.ok_or_else(|| Error::asn1("SignedData", "no signerInfos".into()))?;
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

/// A SignerInfo with one more unsigned attribute (the `[1]` set re-sorted as DER SET OF).
fn add_unsigned_attribute(signer: Tlv<'_>, attribute: &[u8]) -> Result<Vec<u8>, Error> {
    let mut r = signer.reader();
    let mut fields: Vec<Vec<u8>> = Vec::new();
    let mut unsigned: Vec<Vec<u8>> = Vec::new();
    while !r.is_empty() {
        let field = r.next("SignerInfo field")?;
        if field.tag == tag::ctx_cons(1) {
            unsigned = field.reader().all_raw()?;
        } else {
            fields.push(field.raw.to_vec());
        }
    }
    unsigned.push(attribute.to_vec());
    let mut set = tlv::encode_set_of(unsigned);
    if let Some(first) = set.first_mut() {
        *first = tag::ctx_cons(1);
    }
    fields.push(set);
    Ok(encode(tag::SEQUENCE, &fields.concat()))
}
