//! CMS SignedData (RFC 5652) as NuGet signatures and RFC 3161 tokens use it, parsed with the raw
//! signed-attribute bytes kept for verification.

use const_oid::ObjectIdentifier;
use der::Decode;
use signet_common::UtcTime;

use crate::cert::Certificate;
use crate::crypto::{Digest, PublicKey, VerifyError, scheme_for_signer};
use crate::tlv::{self, Reader, Tlv, tag};
use crate::{Error, Limits, oids};

/// An AlgorithmIdentifier with its raw parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlgorithmId {
    /// The algorithm.
    pub oid: ObjectIdentifier,
    /// Raw parameters TLV, if present (NULL is `05 00`).
    pub params: Option<Vec<u8>>,
}

impl AlgorithmId {
    pub(crate) fn parse(t: Tlv<'_>, what: &'static str) -> Result<Self, Error> {
        let t = t.expect(tag::SEQUENCE, what)?;
        let mut r = t.reader();
        let oid = parse_oid(r.expect(tag::OID, what)?, what)?;
        let params = if r.is_empty() {
            None
        } else {
            Some(r.next(what)?.raw.to_vec())
        };
        r.finish(what)?;
        Ok(Self { oid, params })
    }

    /// Whether the parameters are absent or NULL (what NuGet's decoders accept).
    pub fn params_absent_or_null(&self) -> bool {
        matches!(self.params.as_deref(), None | Some([0x05, 0x00]))
    }
}

/// One attribute: its type and raw value TLVs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// Raw encodings of each value in the SET.
    pub values: Vec<Vec<u8>>,
}

/// Signed attributes with the exact bytes that were signed.
#[derive(Clone, Debug)]
pub struct SignedAttributes {
    /// The `[0] IMPLICIT SET OF` content re-tagged as `SET` (0x31), byte for byte as in the file.
    pub raw_set: Vec<u8>,
    /// The attributes in document order.
    pub attrs: Vec<Attribute>,
}

/// How a SignerInfo names its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerId {
    /// issuerAndSerialNumber (SignerInfo version 1).
    IssuerAndSerial {
        /// Issuer Name DER.
        issuer: Vec<u8>,
        /// Serial number INTEGER content octets.
        serial: Vec<u8>,
    },
    /// subjectKeyIdentifier (SignerInfo version 3).
    SubjectKeyIdentifier(Vec<u8>),
}

/// A SignerInfo.
#[derive(Clone, Debug)]
pub struct SignerInfo {
    /// CMSVersion.
    pub version: u32,
    /// Signer identifier.
    pub sid: SignerId,
    /// digestAlgorithm.
    pub digest_algorithm: AlgorithmId,
    /// signedAttrs.
    pub signed_attrs: Option<SignedAttributes>,
    /// signatureAlgorithm.
    pub signature_algorithm: AlgorithmId,
    /// The signature value (contents octets of the OCTET STRING).
    pub signature: Vec<u8>,
    /// unsignedAttrs in document order.
    pub unsigned_attrs: Vec<Attribute>,
    /// The whole SignerInfo DER.
    pub raw: Vec<u8>,
}

/// A CMS SignedData.
#[derive(Clone, Debug)]
pub struct SignedData {
    /// CMSVersion.
    pub version: u32,
    /// digestAlgorithms.
    pub digest_algorithms: Vec<AlgorithmId>,
    /// eContentType.
    pub content_type: ObjectIdentifier,
    /// eContent, if attached.
    pub content: Option<Vec<u8>>,
    /// The certificate set (non-X.509 choices skipped), duplicates kept as in the file.
    pub certificates: Vec<Certificate>,
    /// signerInfos.
    pub signer_infos: Vec<SignerInfo>,
}

impl SignedData {
    /// Parses a DER `ContentInfo` holding SignedData.
    pub fn parse(der: &[u8], limits: &Limits) -> Result<Self, Error> {
        let mut outer = Reader::new(der);
        let ci = outer.expect(tag::SEQUENCE, "ContentInfo")?;
        outer.finish("ContentInfo")?;
        let mut r = ci.reader();
        let ct = parse_oid(r.expect(tag::OID, "contentType")?, "contentType")?;
        if ct != oids::SIGNED_DATA {
            return Err(Error::asn1(
                "ContentInfo",
                format!("content type {ct} is not signedData"),
            ));
        }
        let explicit = r.expect(tag::ctx_cons(0), "content")?;
        r.finish("ContentInfo")?;
        let mut er = explicit.reader();
        let sd = er.expect(tag::SEQUENCE, "SignedData")?;
        er.finish("content")?;

        let mut r = sd.reader();
        let version = parse_small_uint(r.expect(tag::INTEGER, "version")?, "version")?;
        let mut digest_algorithms = Vec::new();
        let mut dr = r.expect(tag::SET, "digestAlgorithms")?.reader();
        while !dr.is_empty() {
            if digest_algorithms.len() >= limits.max_attributes {
                return Err(Error::Limit {
                    what: "digest algorithms",
                    limit: limits.max_attributes,
                });
            }
            digest_algorithms.push(AlgorithmId::parse(
                dr.next("digestAlgorithm")?,
                "digestAlgorithm",
            )?);
        }
        let eci = r.expect(tag::SEQUENCE, "encapContentInfo")?;
        let mut er = eci.reader();
        let content_type = parse_oid(er.expect(tag::OID, "eContentType")?, "eContentType")?;
        let content = match er.optional(tag::ctx_cons(0), "eContent")? {
            Some(wrapper) => {
                let mut wr = wrapper.reader();
                let os = wr.expect(tag::OCTET_STRING, "eContent")?;
                wr.finish("eContent")?;
                Some(os.value.to_vec())
            }
            None => None,
        };
        er.finish("encapContentInfo")?;

        let mut certificates = Vec::new();
        if let Some(set) = r.optional(tag::ctx_cons(0), "certificates")? {
            let mut cr = set.reader();
            while !cr.is_empty() {
                let c = cr.next("certificate")?;
                if c.tag != tag::SEQUENCE {
                    continue; // attribute certificates and other choices are not used by NuGet
                }
                if certificates.len() >= limits.max_certificates {
                    return Err(Error::Limit {
                        what: "certificates",
                        limit: limits.max_certificates,
                    });
                }
                certificates.push(Certificate::from_der(c.raw)?);
            }
        }
        r.optional(tag::ctx_cons(1), "crls")?;
        let mut signer_infos = Vec::new();
        let mut sr = r.expect(tag::SET, "signerInfos")?.reader();
        while !sr.is_empty() {
            if signer_infos.len() >= limits.max_signers {
                return Err(Error::Limit {
                    what: "signer infos",
                    limit: limits.max_signers,
                });
            }
            signer_infos.push(SignerInfo::parse(sr.next("SignerInfo")?, limits)?);
        }
        r.finish("SignedData")?;
        Ok(Self {
            version,
            digest_algorithms,
            content_type,
            content,
            certificates,
            signer_infos,
        })
    }

    /// The certificate a SignerInfo identifies, found in this SignedData's certificate set.
    pub fn find_certificate(&self, sid: &SignerId) -> Option<&Certificate> {
        find_certificate(&self.certificates, sid)
    }
}

/// Finds the certificate `sid` names among `certs`.
pub fn find_certificate<'a>(certs: &'a [Certificate], sid: &SignerId) -> Option<&'a Certificate> {
    certs.iter().find(|c| match sid {
        SignerId::IssuerAndSerial { issuer, serial } => {
            c.issuer_der() == issuer.as_slice() && c.serial_bytes() == serial.as_slice()
        }
        SignerId::SubjectKeyIdentifier(ski) => {
            c.subject_key_identifier().as_deref() == Some(ski.as_slice())
        }
    })
}

impl SignerInfo {
    /// Parses one SignerInfo element.
    pub(crate) fn parse(t: Tlv<'_>, limits: &Limits) -> Result<Self, Error> {
        let t = t.expect(tag::SEQUENCE, "SignerInfo")?;
        let mut r = t.reader();
        let version = parse_small_uint(
            r.expect(tag::INTEGER, "SignerInfo version")?,
            "SignerInfo version",
        )?;
        let sid_t = r.next("sid")?;
        let sid = match sid_t.tag {
            tag::SEQUENCE => {
                let mut ir = sid_t.reader();
                let issuer = ir.expect(tag::SEQUENCE, "issuer")?.raw.to_vec();
                let serial = ir.expect(tag::INTEGER, "serialNumber")?.value.to_vec();
                ir.finish("issuerAndSerialNumber")?;
                SignerId::IssuerAndSerial { issuer, serial }
            }
            t if t == tag::ctx_prim(0) => SignerId::SubjectKeyIdentifier(sid_t.value.to_vec()),
            other => return Err(Error::asn1("sid", format!("unexpected tag 0x{other:02x}"))),
        };
        let digest_algorithm = AlgorithmId::parse(r.next("digestAlgorithm")?, "digestAlgorithm")?;
        let signed_attrs = match r.optional(tag::ctx_cons(0), "signedAttrs")? {
            Some(sa) => {
                let mut raw_set = sa.raw.to_vec();
                if let Some(first) = raw_set.first_mut() {
                    *first = tag::SET;
                }
                Some(SignedAttributes {
                    raw_set,
                    attrs: parse_attributes(sa, limits)?,
                })
            }
            None => None,
        };
        let signature_algorithm =
            AlgorithmId::parse(r.next("signatureAlgorithm")?, "signatureAlgorithm")?;
        let signature = r.expect(tag::OCTET_STRING, "signature")?.value.to_vec();
        let unsigned_attrs = match r.optional(tag::ctx_cons(1), "unsignedAttrs")? {
            Some(ua) => parse_attributes(ua, limits)?,
            None => Vec::new(),
        };
        r.finish("SignerInfo")?;
        Ok(Self {
            version,
            sid,
            digest_algorithm,
            signed_attrs,
            signature_algorithm,
            signature,
            unsigned_attrs,
            raw: t.raw.to_vec(),
        })
    }

    /// All values of the signed attributes with `oid`, with how many attributes carried it.
    pub fn signed_values(&self, oid: &ObjectIdentifier) -> (usize, Vec<&[u8]>) {
        attr_values(
            self.signed_attrs
                .as_ref()
                .map(|s| s.attrs.as_slice())
                .unwrap_or_default(),
            oid,
        )
    }

    /// All values of the unsigned attributes with `oid`.
    pub fn unsigned_values(&self, oid: &ObjectIdentifier) -> Vec<&[u8]> {
        attr_values(&self.unsigned_attrs, oid).1
    }

    /// The single value of a signed attribute that may occur at most once with one value:
    /// `Ok(None)` when absent, `Err(count)` with the number of values when repeated.
    pub fn single_signed_value(&self, oid: &ObjectIdentifier) -> Result<Option<&[u8]>, usize> {
        match self.signed_values(oid) {
            (0, _) => Ok(None),
            (1, v) if v.len() == 1 => Ok(v.first().copied()),
            (_, v) => Err(v.len()),
        }
    }

    /// Verifies the CMS signature as .NET `CheckSignature(verifySignatureOnly: true)` does:
    /// the messageDigest attribute equals the digest of `content` (the eContent, or for a
    /// countersignature the countersigned signature value), and the key verifies the signature
    /// over the signed attributes — first over the bytes as they are in the file, then over
    /// their DER SET OF re-encoding (.NET tries both orders).
    pub fn verify(&self, key: &PublicKey, content: &[u8]) -> Result<(), SignatureCheckError> {
        let scheme = scheme_for_signer(&self.signature_algorithm.oid, &self.digest_algorithm.oid)
            .ok_or(SignatureCheckError::UnsupportedAlgorithm)?;
        let digest = Digest::from_oid(&self.digest_algorithm.oid)
            .ok_or(SignatureCheckError::UnsupportedAlgorithm)?;
        let Some(sa) = &self.signed_attrs else {
            return key
                .verify(scheme, content, &self.signature)
                .map_err(SignatureCheckError::from);
        };
        let md = match self.single_signed_value(&oids::MESSAGE_DIGEST) {
            Ok(Some(v)) => v,
            _ => return Err(SignatureCheckError::MessageDigest),
        };
        let mut mr = Reader::new(md);
        let os = mr
            .expect(tag::OCTET_STRING, "messageDigest")
            .map_err(|_| SignatureCheckError::MessageDigest)?;
        if os.value != digest.digest(content).as_slice() {
            return Err(SignatureCheckError::MessageDigest);
        }
        match key.verify(scheme, &sa.raw_set, &self.signature) {
            Ok(()) => Ok(()),
            Err(VerifyError::Unsupported) => Err(SignatureCheckError::UnsupportedAlgorithm),
            Err(VerifyError::BadSignature) => {
                let reencoded = tlv::encode_set_of(
                    Reader::new(
                        sa.raw_set
                            .get(header_len(&sa.raw_set)..)
                            .unwrap_or_default(),
                    )
                    .all_raw()
                    .unwrap_or_default(),
                );
                if reencoded != sa.raw_set
                    && key.verify(scheme, &reencoded, &self.signature).is_ok()
                {
                    return Ok(());
                }
                Err(SignatureCheckError::BadSignature)
            }
        }
    }
}

/// Why a CMS signature check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureCheckError {
    /// The messageDigest attribute is missing, repeated or wrong.
    MessageDigest,
    /// The signature does not verify.
    BadSignature,
    /// The algorithm or key type is not supported.
    UnsupportedAlgorithm,
}

impl From<VerifyError> for SignatureCheckError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Unsupported => Self::UnsupportedAlgorithm,
            VerifyError::BadSignature => Self::BadSignature,
        }
    }
}

impl std::fmt::Display for SignatureCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MessageDigest => "the message digest does not match the signed content",
            Self::BadSignature => "the signature value does not verify",
            Self::UnsupportedAlgorithm => "the signature algorithm is not supported",
        })
    }
}

fn header_len(der: &[u8]) -> usize {
    match der.get(1) {
        Some(l) if *l < 0x80 => 2,
        Some(l) => 2 + usize::from(l & 0x7f),
        None => der.len(),
    }
}

impl<'a> Reader<'a> {
    /// Raw encodings of all remaining elements.
    pub fn all_raw(mut self) -> Result<Vec<Vec<u8>>, Error> {
        let mut out = Vec::new();
        while !self.is_empty() {
            out.push(self.next("element")?.raw.to_vec());
        }
        Ok(out)
    }
}

fn parse_attributes(set: Tlv<'_>, limits: &Limits) -> Result<Vec<Attribute>, Error> {
    let mut r = set.reader();
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() >= limits.max_attributes {
            return Err(Error::Limit {
                what: "attributes",
                limit: limits.max_attributes,
            });
        }
        let a = r.expect(tag::SEQUENCE, "Attribute")?;
        let mut ar = a.reader();
        let oid = parse_oid(ar.expect(tag::OID, "attrType")?, "attrType")?;
        let values = ar.expect(tag::SET, "attrValues")?.reader().all_raw()?;
        ar.finish("Attribute")?;
        out.push(Attribute { oid, values });
    }
    Ok(out)
}

fn attr_values<'a>(attrs: &'a [Attribute], oid: &ObjectIdentifier) -> (usize, Vec<&'a [u8]>) {
    let mut count = 0;
    let mut values = Vec::new();
    for a in attrs.iter().filter(|a| a.oid == *oid) {
        count += 1;
        values.extend(a.values.iter().map(Vec::as_slice));
    }
    (count, values)
}

/// Parses an OID element.
pub(crate) fn parse_oid(t: Tlv<'_>, what: &'static str) -> Result<ObjectIdentifier, Error> {
    ObjectIdentifier::from_der(t.raw).map_err(|e| Error::asn1(what, e.to_string()))
}

/// A small non-negative INTEGER (versions).
pub(crate) fn parse_small_uint(t: Tlv<'_>, what: &'static str) -> Result<u32, Error> {
    if t.value.is_empty() || t.value.len() > 4 || t.value.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error::asn1(what, "invalid small integer".into()));
    }
    Ok(t.value.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b)))
}

/// Parses UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSS[.f*]Z`).
pub(crate) fn parse_time(t: Tlv<'_>, what: &'static str) -> Result<UtcTime, Error> {
    let s =
        std::str::from_utf8(t.value).map_err(|_| Error::asn1(what, "time is not ASCII".into()))?;
    let bad = || Error::asn1(what, format!("invalid time '{s}'"));
    let s = s.strip_suffix('Z').ok_or_else(bad)?;
    let num = |a: usize, b: usize| -> Result<u32, Error> {
        let part = s.get(a..b).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<u32>().map_err(|_| bad())
    };
    let (year, off) = match t.tag {
        tag::UTC_TIME => {
            let yy = num(0, 2)? as i32;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        tag::GENERALIZED_TIME => (num(0, 4)? as i32, 4),
        _ => return Err(Error::asn1(what, "not a time".into())),
    };
    let month = num(off, off + 2)? as u8;
    let day = num(off + 2, off + 4)? as u8;
    let hour = num(off + 4, off + 6)? as u8;
    let minute = num(off + 6, off + 8)? as u8;
    let second = num(off + 8, off + 10)? as u8;
    let mut micros = 0u32;
    let rest = s.get(off + 10..).ok_or_else(bad)?;
    if !rest.is_empty() {
        let frac = rest
            .strip_prefix('.')
            .filter(|_| t.tag == tag::GENERALIZED_TIME)
            .ok_or_else(bad)?;
        if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let digits: String = frac.chars().chain("000000".chars()).take(6).collect();
        micros = digits.parse().map_err(|_| bad())?;
    }
    UtcTime::from_civil(year, month, day, hour, minute, second, micros).ok_or_else(bad)
}

/// Encodes a signing time as .NET does: UTCTime for 1950–2049, else GeneralizedTime.
pub(crate) fn encode_time(t: UtcTime) -> Vec<u8> {
    let (y, mo, d, h, mi, s, _) = t.to_civil();
    if (1950..2050).contains(&y) {
        tlv::encode(
            tag::UTC_TIME,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        )
    } else {
        tlv::encode(
            tag::GENERALIZED_TIME,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_encode() {
        let enc = encode_time(UtcTime::from_civil(2018, 3, 16, 16, 47, 51, 0).unwrap());
        assert_eq!(&enc[2..], b"180316164751Z");
        let mut r = Reader::new(&enc);
        let t = parse_time(r.next("t").unwrap(), "t").unwrap();
        assert_eq!(t.to_civil(), (2018, 3, 16, 16, 47, 51, 0));
        let g = tlv::encode(tag::GENERALIZED_TIME, b"20180421004040.123Z");
        let t = parse_time(Reader::new(&g).next("t").unwrap(), "t").unwrap();
        assert_eq!(t.to_civil(), (2018, 4, 21, 0, 40, 40, 123_000));
        for bad in [
            &b"1803161647Z"[..],
            b"180316164751",
            b"18031616475aZ",
            b"181316164751Z",
        ] {
            let e = tlv::encode(tag::UTC_TIME, bad);
            assert!(parse_time(Reader::new(&e).next("t").unwrap(), "t").is_err());
        }
    }
}
