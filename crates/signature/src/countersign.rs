//! Repository countersignatures (spec §3.7): adding one to an author signature, removing it
//! (certificate rotation, `repo-sign --overwrite`), and timestamping it.
//!
//! Only the CMS changes; the package hash, the author's signed attributes and signature value
//! stay byte for byte as they were.

use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_keys::Signer;

use crate::attributes::signature_type;
use crate::builder::{common_attributes, encode_signer_info, repository_attributes};
use crate::cert::Certificate;
use crate::cms::SignerInfo;
use crate::tlv::{Reader, Tlv, encode, encode_seq, encode_set_of, tag};
use crate::unsigned::{rewrite_signed_data, unsigned_attribute};
use crate::{Error, Limits, PrimarySignature, SignatureType, oids};

/// Everything that goes into a repository countersignature besides the key.
#[derive(Clone, Debug)]
pub struct CountersignatureRequest {
    /// `nuget-v3-service-index-url`; must be an absolute https URL.
    pub service_index: String,
    /// `nuget-package-owners`, written in the given order (empty: attribute omitted).
    pub owners: Vec<String>,
    /// Digest of the countersignature (its messageDigest and signing-certificate-v2).
    pub hash_algorithm: HashAlgorithm,
    /// The signing-time attribute (the caller reads the clock).
    pub signing_time: UtcTime,
}

/// Adds a repository countersignature to `signature` (a primary signature's DER or BER
/// bytes). Its messageDigest covers the primary signer's signature value; its certificate
/// chain joins the SignedData certificates.
///
/// Errors: a repository primary signature cannot be countersigned (**NU3033**); a signature
/// that already has a repository countersignature needs
/// [`remove_repository_countersignature`] first (**NU3032**).
pub fn add_repository_countersignature(
    signature: &[u8],
    req: &CountersignatureRequest,
    signer: &dyn Signer,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let primary = PrimarySignature::load(signature, limits)?;
    if primary.signature_type() == SignatureType::Repository {
        return Err(Error::Countersignature {
            code: NuCode::NU3033,
            message: "a repository primary signature cannot be repository countersigned".into(),
        });
    }
    if primary.repository_countersignature()?.is_some() {
        return Err(Error::Countersignature {
            code: NuCode::NU3032,
            message: "the package already has a repository countersignature".into(),
        });
    }
    let chain = signer.certificate_chain();
    let leaf_der = chain
        .first()
        .ok_or_else(|| Error::SigningInput("the signing key has no certificate".into()))?;
    let leaf = Certificate::from_der(leaf_der)?;
    let digest = req.hash_algorithm.digest(primary.signature_value());
    let mut attrs = common_attributes(req.signing_time, &digest);
    attrs.extend(repository_attributes(
        &leaf,
        req.hash_algorithm,
        &req.service_index,
        &req.owners,
    )?);
    let signed_attrs = encode_set_of(attrs);
    let value = signer.sign(req.hash_algorithm, &signed_attrs)?;
    let counter_signer =
        encode_signer_info(&leaf, req.hash_algorithm, signed_attrs, &value, vec![]);
    let attribute = encode_seq(
        tag::SEQUENCE,
        &[
            &encode(tag::OID, oids::COUNTERSIGNATURE.as_bytes()),
            &encode(tag::SET, &counter_signer),
        ],
    );
    rewrite_signed_data(signature, chain, |primary_signer| {
        edit_unsigned(primary_signer, |mut attrs| {
            attrs.push(attribute);
            Ok(attrs)
        })
    })
}

/// Removes every repository countersignature (countersignatures of other types stay).
/// Returns the new bytes and whether anything was removed. Certificates stay in the
/// SignedData: another signer may use them, and unused ones are harmless.
pub fn remove_repository_countersignature(signature: &[u8]) -> Result<(Vec<u8>, bool), Error> {
    let mut removed = false;
    let out = rewrite_signed_data(signature, &[], |primary_signer| {
        edit_unsigned(primary_signer, |attrs| {
            edit_countersignatures(attrs, |raw, info| {
                if signature_type(info)? == SignatureType::Repository {
                    removed = true;
                    Ok(None)
                } else {
                    Ok(Some(raw.raw.to_vec()))
                }
            })
        })
    })?;
    Ok((out, removed))
}

/// Attaches `token` (a DER TimeStampToken ContentInfo whose imprint covers the
/// countersignature's signature value) to the repository countersignature (spec §3.6/§3.7).
pub fn add_countersignature_timestamp(signature: &[u8], token: &[u8]) -> Result<Vec<u8>, Error> {
    let mut found = false;
    let out = rewrite_signed_data(signature, &[], |primary_signer| {
        edit_unsigned(primary_signer, |attrs| {
            edit_countersignatures(attrs, |raw, info| {
                if found || signature_type(info)? != SignatureType::Repository {
                    return Ok(Some(raw.raw.to_vec()));
                }
                found = true;
                let ts = unsigned_attribute(&oids::TIMESTAMP_TOKEN, vec![token.to_vec()]);
                edit_unsigned(raw, |mut a| {
                    a.push(ts);
                    Ok(a)
                })
                .map(Some)
            })
        })
    })?;
    if !found {
        return Err(Error::Invalid(
            "the signature has no repository countersignature to timestamp".into(),
        ));
    }
    Ok(out)
}

/// Unsigned attributes with each countersignature value replaced by `edit(value, parsed)`
/// (`None` drops it); a countersignature attribute left without values is dropped, every other
/// attribute is kept as it was.
fn edit_countersignatures(
    attrs: Vec<Vec<u8>>,
    mut edit: impl FnMut(Tlv<'_>, &SignerInfo) -> Result<Option<Vec<u8>>, Error>,
) -> Result<Vec<Vec<u8>>, Error> {
    let limits = Limits::default();
    let mut out = Vec::with_capacity(attrs.len());
    for attr in attrs {
        let (oid, values) = split_attribute(&attr)?;
        if oid != oids::COUNTERSIGNATURE.as_bytes() {
            out.push(attr);
            continue;
        }
        let mut kept = Vec::new();
        for v in values {
            let t = Reader::new(v).next("countersignature")?;
            let info = SignerInfo::parse(t, &limits)?;
            if let Some(new) = edit(t, &info)? {
                kept.push(new);
            }
        }
        if !kept.is_empty() {
            out.push(unsigned_attribute(&oids::COUNTERSIGNATURE, kept));
        }
    }
    Ok(out)
}

/// A SignerInfo with its unsigned attributes (each a DER `Attribute`) replaced by
/// `edit(current)`; the `[1]` set is written as a DER SET OF, or omitted when empty.
pub(crate) fn edit_unsigned(
    signer: Tlv<'_>,
    edit: impl FnOnce(Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, Error>,
) -> Result<Vec<u8>, Error> {
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
    let unsigned = edit(unsigned)?;
    if !unsigned.is_empty() {
        let mut set = encode_set_of(unsigned);
        if let Some(first) = set.first_mut() {
            *first = tag::ctx_cons(1);
        }
        fields.push(set);
    }
    Ok(encode(tag::SEQUENCE, &fields.concat()))
}

/// The encoded OID (contents octets) and the raw values of a DER `Attribute`.
fn split_attribute(attr: &[u8]) -> Result<(&[u8], Vec<&[u8]>), Error> {
    let mut r = Reader::new(attr);
    let seq = r.expect(tag::SEQUENCE, "Attribute")?;
    let mut sr = seq.reader();
    let oid = sr.expect(tag::OID, "attrType")?.value;
    let set = sr.expect(tag::SET, "attrValues")?;
    let mut vr = set.reader();
    let mut values = Vec::new();
    while !vr.is_empty() {
        values.push(vr.next("attrValue")?.raw);
    }
    Ok((oid, values))
}
