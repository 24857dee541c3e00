//! Building primary signatures exactly as NuGet's signer encodes them (spec §3, §10.3).

use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::Signer;

use crate::cert::Certificate;
use crate::cms::encode_time;
use crate::content::SignatureContent;
use crate::tlv::{encode, encode_seq, encode_set_of, tag};
use crate::{Error, oids};

/// What kind of primary signature to build.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureKind {
    /// An author signature (commitment type proofOfOrigin).
    Author,
    /// A repository signature (proofOfReceipt) with its service index and owners.
    Repository {
        /// `nuget-v3-service-index-url`; must be an absolute https URL.
        service_index: String,
        /// `nuget-package-owners`, written in the given order (empty: attribute omitted).
        owners: Vec<String>,
    },
}

/// Everything that goes into a primary signature besides the key.
#[derive(Clone, Debug)]
pub struct SignatureRequest {
    /// Author or repository.
    pub kind: SignatureKind,
    /// Hash algorithm for the package hash, the CMS digest and the signing-certificate-v2 hash.
    pub hash_algorithm: HashAlgorithm,
    /// Hash of the whole unsigned package file (spec §1.6, signing side).
    pub package_hash: Vec<u8>,
    /// The signing-time attribute (the caller reads the clock).
    pub signing_time: UtcTime,
}

fn oid_tlv(oid: &const_oid::ObjectIdentifier) -> Vec<u8> {
    encode(tag::OID, oid.as_bytes())
}

/// AlgorithmIdentifier with NULL parameters (as NuGet writes digest and RSA algorithms).
fn alg_with_null(oid: &const_oid::ObjectIdentifier) -> Vec<u8> {
    encode_seq(tag::SEQUENCE, &[&oid_tlv(oid), &[tag::NULL, 0]])
}

fn hash_oid(alg: HashAlgorithm) -> const_oid::ObjectIdentifier {
    match alg {
        HashAlgorithm::Sha384 => oids::SHA384,
        HashAlgorithm::Sha512 => oids::SHA512,
        _ => oids::SHA256,
    }
}

fn attribute(oid: &const_oid::ObjectIdentifier, value: Vec<u8>) -> Vec<u8> {
    encode_seq(tag::SEQUENCE, &[&oid_tlv(oid), &encode(tag::SET, &value)])
}

/// signing-certificate-v2 as NuGet writes it: one ESSCertIDv2 whose hashAlgorithm is always
/// present (OID only, no NULL) and whose issuerSerial names the issuer as a directoryName.
fn signing_certificate_v2(cert: &Certificate, alg: HashAlgorithm) -> Vec<u8> {
    let hash_alg = encode_seq(tag::SEQUENCE, &[&oid_tlv(&hash_oid(alg))]);
    let cert_hash = encode(tag::OCTET_STRING, &cert.fingerprint(alg));
    let directory_name = encode(tag::ctx_cons(4), cert.issuer_der());
    let general_names = encode(tag::SEQUENCE, &directory_name);
    let serial = encode(tag::INTEGER, cert.serial_bytes());
    let issuer_serial = encode_seq(tag::SEQUENCE, &[&general_names, &serial]);
    let id = encode_seq(tag::SEQUENCE, &[&hash_alg, &cert_hash, &issuer_serial]);
    encode(tag::SEQUENCE, &encode(tag::SEQUENCE, &id))
}

/// Builds the DER `.signature.p7s` content for a primary signature. The signer's leaf
/// certificate must come first in its chain; the whole chain is embedded in DER SET OF order.
pub fn build_primary_signature(
    req: &SignatureRequest,
    signer: &dyn Signer,
) -> Result<Vec<u8>, Error> {
    build_primary_signature_with(req, signer, &|_| {})
}

/// The parts of a primary signature after assembly and before signing and encoding.
///
/// FOR TESTS ONLY, not a stable API: [`build_primary_signature_with`] hands these to an edit
/// so that tests can build the malformed signatures NuGet's load-time checks reject (spec §3.8).
/// The defaults are exactly what [`build_primary_signature`] writes.
#[doc(hidden)]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildParts {
    /// The signed attributes, each a DER `Attribute`; written as a DER SET OF and signed after
    /// the edit (the messageDigest attribute is not recomputed).
    pub signed_attributes: Vec<Vec<u8>>,
    /// Unsigned attributes, each a DER `Attribute` (none by default: the field is omitted).
    pub unsigned_attributes: Vec<Vec<u8>>,
    /// The certificate set, DER, written in this order (by default the chain, de-duplicated
    /// and sorted).
    pub certificates: Vec<Vec<u8>>,
    /// The encapsulated content (by default the §2 text).
    pub content: Vec<u8>,
    /// How many copies of the SignerInfo go into `signerInfos` (by default 1).
    pub signer_info_copies: usize,
}

impl BuildParts {
    /// One DER element with a single-byte tag.
    pub fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
        encode(tag, content)
    }

    /// An OBJECT IDENTIFIER element.
    pub fn encode_oid(oid: &const_oid::ObjectIdentifier) -> Vec<u8> {
        oid_tlv(oid)
    }

    /// A DER `Attribute` with `values` (each an encoded element) as a DER SET OF.
    pub fn encode_attribute(oid: &const_oid::ObjectIdentifier, values: &[&[u8]]) -> Vec<u8> {
        let set = encode_set_of(values.iter().map(|v| v.to_vec()).collect());
        encode_seq(tag::SEQUENCE, &[&oid_tlv(oid), &set])
    }

    /// Removes every signed attribute of type `oid`; returns how many there were.
    pub fn remove_signed_attribute(&mut self, oid: &const_oid::ObjectIdentifier) -> usize {
        let before = self.signed_attributes.len();
        let prefix = oid_tlv(oid);
        self.signed_attributes
            .retain(|a| attribute_type(a) != Some(prefix.as_slice()));
        before - self.signed_attributes.len()
    }
}

/// The encoded OBJECT IDENTIFIER of a DER `Attribute`, if it parses.
fn attribute_type(attribute: &[u8]) -> Option<&[u8]> {
    let mut r = crate::tlv::Reader::new(attribute);
    let seq = r.expect(tag::SEQUENCE, "Attribute").ok()?;
    seq.reader()
        .expect(tag::OID, "attrType")
        .ok()
        .map(|t| t.raw)
}

/// [`build_primary_signature`] with a test hook: `edit` may change the [`BuildParts`] before
/// the signed attributes are signed and everything is encoded. FOR TESTS ONLY; with a no-op
/// edit the output is byte-identical to [`build_primary_signature`].
#[doc(hidden)]
pub fn build_primary_signature_with(
    req: &SignatureRequest,
    signer: &dyn Signer,
    edit: &dyn Fn(&mut BuildParts),
) -> Result<Vec<u8>, Error> {
    let chain = signer.certificate_chain();
    let leaf_der = chain
        .first()
        .ok_or_else(|| Error::SigningInput("the signing key has no certificate".into()))?;
    let leaf = Certificate::from_der(leaf_der)?;
    if req.package_hash.len() != req.hash_algorithm.output_len() {
        return Err(Error::SigningInput(
            "the package hash has the wrong length".into(),
        ));
    }
    let content = SignatureContent::new(req.hash_algorithm, req.package_hash.clone()).to_bytes();

    let mut attrs = common_attributes(req.signing_time, &req.hash_algorithm.digest(&content));
    match &req.kind {
        SignatureKind::Author => {
            attrs.push(attribute(
                &oids::COMMITMENT_TYPE_INDICATION,
                encode(tag::SEQUENCE, &oid_tlv(&oids::PROOF_OF_ORIGIN)),
            ));
            attrs.push(attribute(
                &oids::SIGNING_CERTIFICATE_V2,
                signing_certificate_v2(&leaf, req.hash_algorithm),
            ));
        }
        SignatureKind::Repository {
            service_index,
            owners,
        } => attrs.extend(repository_attributes(
            &leaf,
            req.hash_algorithm,
            service_index,
            owners,
        )?),
    }
    let mut certificates: Vec<Vec<u8>> = Vec::new();
    for c in chain {
        if !certificates.contains(c) {
            certificates.push(c.clone());
        }
    }
    certificates.sort();
    let mut parts = BuildParts {
        signed_attributes: attrs,
        unsigned_attributes: Vec::new(),
        certificates,
        content,
        signer_info_copies: 1,
    };
    edit(&mut parts);

    let signed_attrs = encode_set_of(parts.signed_attributes);
    let signature = signer.sign(req.hash_algorithm, &signed_attrs)?;

    let version_tlv = encode(tag::INTEGER, &[sid_version(&leaf)]);
    let digest_alg = alg_with_null(&hash_oid(req.hash_algorithm));
    let signer_info = encode_signer_info(
        &leaf,
        req.hash_algorithm,
        signed_attrs,
        &signature,
        parts.unsigned_attributes,
    );
    let encap = encode_seq(
        tag::SEQUENCE,
        &[
            &oid_tlv(&oids::DATA),
            &encode(tag::ctx_cons(0), &encode(tag::OCTET_STRING, &parts.content)),
        ],
    );
    let signed_data = encode_seq(
        tag::SEQUENCE,
        &[
            &version_tlv,
            &encode(tag::SET, &digest_alg),
            &encap,
            &encode(tag::ctx_cons(0), &parts.certificates.concat()),
            &encode(tag::SET, &signer_info.repeat(parts.signer_info_copies)),
        ],
    );
    Ok(encode_seq(
        tag::SEQUENCE,
        &[
            &oid_tlv(&oids::SIGNED_DATA),
            &encode(tag::ctx_cons(0), &signed_data),
        ],
    ))
}

/// The SignerInfo version that goes with the sid NuGet writes: 3 with a subjectKeyIdentifier,
/// 1 with issuerAndSerialNumber.
fn sid_version(leaf: &Certificate) -> u8 {
    if leaf.subject_key_identifier().is_some() {
        3
    } else {
        1
    }
}

/// A DER SignerInfo (RFC 5652 §5.3): sid by subjectKeyIdentifier when the certificate has one
/// (spec §3.2), digest and RSA algorithms with NULL parameters, `signed_attrs` the DER SET OF
/// that was signed, unsigned attributes written as a DER SET OF when there are any.
pub(crate) fn encode_signer_info(
    leaf: &Certificate,
    alg: HashAlgorithm,
    signed_attrs: Vec<u8>,
    signature: &[u8],
    unsigned_attributes: Vec<Vec<u8>>,
) -> Vec<u8> {
    let sid = match leaf.subject_key_identifier() {
        Some(ski) => encode(tag::ctx_prim(0), &ski),
        None => encode_seq(
            tag::SEQUENCE,
            &[
                leaf.issuer_der(),
                &encode(tag::INTEGER, leaf.serial_bytes()),
            ],
        ),
    };
    let version_tlv = encode(tag::INTEGER, &[sid_version(leaf)]);
    let mut implicit_attrs = signed_attrs;
    if let Some(first) = implicit_attrs.first_mut() {
        *first = tag::ctx_cons(0);
    }
    let unsigned_attrs = if unsigned_attributes.is_empty() {
        Vec::new()
    } else {
        let mut set = encode_set_of(unsigned_attributes);
        if let Some(first) = set.first_mut() {
            *first = tag::ctx_cons(1);
        }
        set
    };
    encode_seq(
        tag::SEQUENCE,
        &[
            &version_tlv,
            &sid,
            &alg_with_null(&hash_oid(alg)),
            &implicit_attrs,
            &alg_with_null(&oids::RSA_ENCRYPTION),
            &encode(tag::OCTET_STRING, signature),
            &unsigned_attrs,
        ],
    )
}

/// The signed attributes of a repository signature or countersignature besides contentType,
/// signing-time and messageDigest: commitment type proofOfReceipt, signing-certificate-v2,
/// the service index URL and, when there are any, the owners (spec §3.3, §3.7).
pub(crate) fn repository_attributes(
    leaf: &Certificate,
    alg: HashAlgorithm,
    service_index: &str,
    owners: &[String],
) -> Result<Vec<Vec<u8>>, Error> {
    if !crate::attributes::is_absolute_https(service_index) {
        return Err(Error::SigningInput(format!(
            "the service index URL '{service_index}' must be an absolute https URL"
        )));
    }
    if owners.iter().any(|o| o.trim().is_empty()) {
        return Err(Error::SigningInput(
            "package owners must not be empty".into(),
        ));
    }
    let mut attrs = vec![
        attribute(
            &oids::COMMITMENT_TYPE_INDICATION,
            encode(tag::SEQUENCE, &oid_tlv(&oids::PROOF_OF_RECEIPT)),
        ),
        attribute(
            &oids::SIGNING_CERTIFICATE_V2,
            signing_certificate_v2(leaf, alg),
        ),
        attribute(
            &oids::NUGET_V3_SERVICE_INDEX_URL,
            encode(tag::IA5_STRING, service_index.as_bytes()),
        ),
    ];
    if !owners.is_empty() {
        let list: Vec<u8> = owners
            .iter()
            .flat_map(|o| encode(tag::UTF8_STRING, o.as_bytes()))
            .collect();
        attrs.push(attribute(
            &oids::NUGET_PACKAGE_OWNERS,
            encode(tag::SEQUENCE, &list),
        ));
    }
    Ok(attrs)
}

/// The contentType (id-data), signing-time and messageDigest attributes every NuGet
/// signature and countersignature carries.
pub(crate) fn common_attributes(time: UtcTime, digest: &[u8]) -> Vec<Vec<u8>> {
    vec![
        attribute(&oids::CONTENT_TYPE, oid_tlv(&oids::DATA)),
        attribute(&oids::SIGNING_TIME, encode_time(time)),
        attribute(&oids::MESSAGE_DIGEST, encode(tag::OCTET_STRING, digest)),
    ]
}
