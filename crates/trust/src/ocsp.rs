//! OCSP, RFC 6960: the ASN.1 types (encode and decode, on `der` 0.8 — `x509-ocsp` exists only
//! for `der` 0.7), a builder that signs a `BasicOCSPResponse` with any
//! [`signet_keys::Signer`] (the development PKI's responder uses it), and the client-side
//! check of a response (signature by the issuer or by a delegated responder, freshness, nonce,
//! the answer for one certificate).
//!
//! ```text
//! OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
//! OCSPResponse ::= SEQUENCE { responseStatus OCSPResponseStatus,
//!                             responseBytes [0] EXPLICIT ResponseBytes OPTIONAL }
//! ```
//!
//! The module's ASN.1 uses EXPLICIT tags unless a field says IMPLICIT (RFC 6960 Appendix B.1).

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence};
use signet_common::{HashAlgorithm, UtcTime};
use signet_signature::{Certificate, Digest, oids, scheme_for_signature_algorithm};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::Error;
use crate::limits::RevocationLimits;
use crate::status::{RevocationReason, RevocationStatus};

/// id-ad-ocsp (1.3.6.1.5.5.7.48.1): the access method of an OCSP responder in the
/// AuthorityInfoAccess extension.
pub const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1): the only response type defined.
pub const ID_PKIX_OCSP_BASIC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2), RFC 6960 §4.4.1 and RFC 8954.
pub const ID_PKIX_OCSP_NONCE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-pkix-ocsp-nocheck (1.3.6.1.5.5.7.48.1.5): a delegated responder certificate that is not
/// itself checked for revocation (RFC 6960 §4.2.2.2.1).
pub const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9): the EKU of a delegated responder.
pub const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-ce-invalidityDate (2.5.29.24), a CRL entry extension also allowed in `singleExtensions`.
pub const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");
/// The media type of a DER OCSP request (RFC 6960 Appendix A.1).
pub const REQUEST_CONTENT_TYPE: &str = "application/ocsp-request";
/// The media type of a DER OCSP response.
pub const RESPONSE_CONTENT_TYPE: &str = "application/ocsp-response";

/// How far a responder's clock may be ahead of or behind ours.
const CLOCK_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;
/// How long a response without nextUpdate counts as current after its thisUpdate.
const NO_NEXT_UPDATE_LIFETIME_MICROS: i64 = 24 * 3600 * 1_000_000;

/// `Version ::= INTEGER { v1(0) }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
#[non_exhaustive]
pub enum OcspVersion {
    /// v1, the only version.
    #[default]
    V1 = 0,
}

/// `OCSPRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspRequest {
    /// The request proper.
    pub tbs_request: TbsRequest,
    /// A requester's signature (rarely used; responders here ignore it).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub optional_signature: Option<OcspSignature>,
}

/// `TBSRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TbsRequest {
    /// Always v1 (DEFAULT, so not encoded).
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    pub version: OcspVersion,
    /// Who asks (optional).
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub requestor_name: Option<GeneralName>,
    /// The certificates asked about.
    pub request_list: Vec<Request>,
    /// Request extensions (the nonce).
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub request_extensions: Option<Extensions>,
}

/// `Signature` (of a signed request).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspSignature {
    /// Signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// Signature value.
    pub signature: BitString,
    /// Certificates helping to verify it.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub certs: Option<Vec<x509_cert::Certificate>>,
}

/// `Request`: one certificate asked about.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Request {
    /// Which certificate.
    pub req_cert: CertId,
    /// Per-certificate extensions.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub single_request_extensions: Option<Extensions>,
}

/// `CertID`: a certificate named by hashes of its issuer's name and key, and its serial.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertId {
    /// The hash used for the two hashes.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// Hash of the DER of the issuer's Name (the certificate's issuer field).
    pub issuer_name_hash: OctetString,
    /// Hash of the issuer's public key (the subjectPublicKey BIT STRING's bytes).
    pub issuer_key_hash: OctetString,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

/// The hash of a [`CertId`] signet writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertIdHash {
    /// SHA-1: what almost every responder is guaranteed to understand (RFC 5019 §2.1.1).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl CertIdHash {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::SHA1,
            Self::Sha256 => oids::SHA256,
        }
    }
}

impl CertId {
    /// The CertID of `certificate`, issued by `issuer`.
    pub fn new(
        certificate: &Certificate,
        issuer: &Certificate,
        hash: CertIdHash,
    ) -> Result<Self, Error> {
        let digest = match hash {
            CertIdHash::Sha1 => Digest::Sha1,
            CertIdHash::Sha256 => Digest::Sha256,
        };
        Self::with_digest(certificate, issuer, hash.oid(), digest)
    }

    fn with_digest(
        certificate: &Certificate,
        issuer: &Certificate,
        oid: ObjectIdentifier,
        digest: Digest,
    ) -> Result<Self, Error> {
        let key = issuer_key_bits(issuer);
        Ok(Self {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                // NULL parameters, as OpenSSL and Windows write them.
                parameters: Some(der::Any::null()),
            },
            issuer_name_hash: octets(digest.digest(certificate.issuer_der()))?,
            issuer_key_hash: octets(digest.digest(key))?,
            serial_number: certificate.x509().tbs_certificate().serial_number().clone(),
        })
    }

    /// Whether this CertID names `certificate` issued by `issuer`, computed with this
    /// CertID's own hash algorithm (SHA-1, SHA-256, SHA-384 or SHA-512).
    pub fn matches(&self, certificate: &Certificate, issuer: &Certificate) -> bool {
        let Some(digest) = Digest::from_oid(&self.hash_algorithm.oid) else {
            return false;
        };
        let Ok(ours) = Self::with_digest(certificate, issuer, self.hash_algorithm.oid, digest)
        else {
            return false;
        };
        ours.issuer_name_hash == self.issuer_name_hash
            && ours.issuer_key_hash == self.issuer_key_hash
            && ours.serial_number.to_der().ok() == self.serial_number.to_der().ok()
    }

    /// The DER encoding (used as a cache key).
    pub fn to_der_bytes(&self) -> Result<Vec<u8>, Error> {
        self.to_der().map_err(|e| Error::asn1("OCSP CertID", e))
    }
}

fn octets(bytes: Vec<u8>) -> Result<OctetString, Error> {
    OctetString::new(bytes).map_err(|e| Error::asn1("OCTET STRING", e))
}

/// The bytes of the issuer's subjectPublicKey BIT STRING (what issuerKeyHash and a byKey
/// ResponderID hash).
fn issuer_key_bits(issuer: &Certificate) -> &[u8] {
    issuer
        .x509()
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
}

/// A nonce extension (RFC 8954: `Nonce ::= OCTET STRING (SIZE(1..32))`, carried DER-encoded
/// in extnValue).
pub fn nonce_extension(nonce: &[u8]) -> Result<Extension, Error> {
    let inner = OctetString::new(nonce)
        .and_then(|o| o.to_der())
        .map_err(|e| Error::asn1("OCSP nonce", e))?;
    Ok(Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(inner).map_err(|e| Error::asn1("OCSP nonce", e))?,
    })
}

/// The nonce in `extensions`, if any. Some old responders put the raw bytes in extnValue
/// instead of an OCTET STRING; both forms are read.
fn find_nonce(extensions: Option<&Extensions>) -> Option<Vec<u8>> {
    let ext = extensions?
        .iter()
        .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)?;
    let raw = ext.extn_value.as_bytes();
    Some(match OctetString::from_der(raw) {
        Ok(inner) => inner.as_bytes().to_vec(),
        Err(_) => raw.to_vec(),
    })
}

impl OcspRequest {
    /// A request for `ids`, with a nonce extension when `nonce` is given.
    pub fn new(ids: Vec<CertId>, nonce: Option<&[u8]>) -> Result<Self, Error> {
        let request_extensions = match nonce {
            Some(n) => Some(vec![nonce_extension(n)?]),
            None => None,
        };
        Ok(Self {
            tbs_request: TbsRequest {
                version: OcspVersion::V1,
                requestor_name: None,
                request_list: ids
                    .into_iter()
                    .map(|req_cert| Request {
                        req_cert,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions,
            },
            optional_signature: None,
        })
    }

    /// Decodes a DER request within `limits` (size, entries, extensions).
    pub fn decode(der: &[u8], limits: &RevocationLimits) -> Result<Self, Error> {
        check_limit("OCSP request size", der.len(), limits.max_ocsp_request_size)?;
        let req = Self::from_der(der).map_err(|e| Error::asn1("OCSP request", e))?;
        let tbs = &req.tbs_request;
        check_limit(
            "OCSP request entries",
            tbs.request_list.len(),
            limits.max_ocsp_request_entries,
        )?;
        check_limit(
            "OCSP request extensions",
            tbs.request_extensions.as_ref().map_or(0, Vec::len),
            limits.max_extensions,
        )?;
        Ok(req)
    }

    /// The DER encoding.
    pub fn to_der_bytes(&self) -> Result<Vec<u8>, Error> {
        self.to_der().map_err(|e| Error::asn1("OCSP request", e))
    }

    /// The request's nonce, if it has one.
    pub fn nonce(&self) -> Option<Vec<u8>> {
        find_nonce(self.tbs_request.request_extensions.as_ref())
    }
}

/// `OCSPResponseStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u32)]
#[non_exhaustive]
pub enum OcspResponseStatus {
    /// Response has valid confirmations.
    Successful = 0,
    /// Illegal confirmation request.
    MalformedRequest = 1,
    /// Internal error in issuer.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// Must sign the request.
    SigRequired = 5,
    /// Request unauthorized.
    Unauthorized = 6,
}

impl OcspResponseStatus {
    /// The RFC 6960 name (`tryLater`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Successful => "successful",
            Self::MalformedRequest => "malformedRequest",
            Self::InternalError => "internalError",
            Self::TryLater => "tryLater",
            Self::SigRequired => "sigRequired",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// `OCSPResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspResponse {
    /// Whether the request was processed.
    pub response_status: OcspResponseStatus,
    /// The response proper, present iff `successful`.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub response_bytes: Option<ResponseBytes>,
}

/// `ResponseBytes`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ResponseBytes {
    /// [`ID_PKIX_OCSP_BASIC`].
    pub response_type: ObjectIdentifier,
    /// DER of the [`BasicOcspResponse`].
    pub response: OctetString,
}

/// `BasicOCSPResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct BasicOcspResponse {
    /// What is signed.
    pub tbs_response_data: ResponseData,
    /// The responder's signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The signature over the DER of `tbs_response_data`.
    pub signature: BitString,
    /// Certificates for verifying the signature (a delegated responder's certificate).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub certs: Option<Vec<x509_cert::Certificate>>,
}

/// `ResponseData`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ResponseData {
    /// Always v1 (DEFAULT, so not encoded).
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    pub version: OcspVersion,
    /// Who signed.
    pub responder_id: ResponderId,
    /// When the response was signed.
    pub produced_at: GeneralizedTime,
    /// One answer per certificate.
    pub responses: Vec<SingleResponse>,
    /// Response extensions (the nonce).
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub response_extensions: Option<Extensions>,
}

/// `ResponderID`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[non_exhaustive]
pub enum ResponderId {
    /// `byName [1] Name`: the responder certificate's subject.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    /// `byKey [2] KeyHash`: SHA-1 of the responder's subjectPublicKey bytes.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

impl ResponderId {
    /// `byKey` for `certificate`.
    pub fn by_key(certificate: &Certificate) -> Result<Self, Error> {
        Ok(Self::ByKey(octets(
            Digest::Sha1.digest(issuer_key_bits(certificate)),
        )?))
    }

    /// `byName` for `certificate`.
    pub fn by_name(certificate: &Certificate) -> Self {
        Self::ByName(certificate.x509().tbs_certificate().subject().clone())
    }

    /// Whether this identifies `certificate`.
    pub fn identifies(&self, certificate: &Certificate) -> bool {
        match self {
            Self::ByName(name) => name.to_der().ok().as_deref() == Some(certificate.subject_der()),
            Self::ByKey(hash) => {
                hash.as_bytes() == Digest::Sha1.digest(issuer_key_bits(certificate)).as_slice()
            }
        }
    }
}

/// `SingleResponse`: the answer for one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SingleResponse {
    /// Which certificate.
    pub cert_id: CertId,
    /// Its status.
    pub cert_status: CertStatus,
    /// When the status was known to be correct.
    pub this_update: GeneralizedTime,
    /// When newer information will be available.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub next_update: Option<GeneralizedTime>,
    /// Per-answer extensions (CRL entry extensions such as the invalidity date).
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub single_extensions: Option<Extensions>,
}

/// `CertStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[non_exhaustive]
pub enum CertStatus {
    /// `good [0] IMPLICIT NULL`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    /// `revoked [1] IMPLICIT RevokedInfo`.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    /// `unknown [2] IMPLICIT UnknownInfo` (UnknownInfo ::= NULL).
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// `RevokedInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevokedInfo {
    /// When the certificate was revoked.
    pub revocation_time: GeneralizedTime,
    /// Why.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub revocation_reason: Option<CrlReason>,
}

impl CertStatus {
    /// `good`.
    pub fn good() -> Self {
        Self::Good(Null)
    }

    /// `unknown`.
    pub fn unknown() -> Self {
        Self::Unknown(Null)
    }

    /// `revoked` at `time`, with an optional reason.
    pub fn revoked(time: UtcTime, reason: Option<RevocationReason>) -> Result<Self, Error> {
        Ok(Self::Revoked(RevokedInfo {
            revocation_time: generalized_time(time)?,
            revocation_reason: reason.map(CrlReason::from),
        }))
    }
}

impl SingleResponse {
    /// An answer for `cert_id` valid from `this_update` until `next_update`.
    pub fn new(
        cert_id: CertId,
        cert_status: CertStatus,
        this_update: UtcTime,
        next_update: Option<UtcTime>,
    ) -> Result<Self, Error> {
        Ok(Self {
            cert_id,
            cert_status,
            this_update: generalized_time(this_update)?,
            next_update: next_update.map(generalized_time).transpose()?,
            single_extensions: None,
        })
    }

    /// Adds the invalidity-date extension (2.5.29.24).
    pub fn with_invalidity_date(mut self, date: UtcTime) -> Result<Self, Error> {
        let value = generalized_time(date)?
            .to_der()
            .map_err(|e| Error::asn1("invalidity date", e))?;
        self.single_extensions
            .get_or_insert_with(Vec::new)
            .push(Extension {
                extn_id: ID_CE_INVALIDITY_DATE,
                critical: false,
                extn_value: OctetString::new(value)
                    .map_err(|e| Error::asn1("invalidity date", e))?,
            });
        Ok(self)
    }
}

/// A `GeneralizedTime` for `t` (whole seconds; DER forbids fractions).
pub fn generalized_time(t: UtcTime) -> Result<GeneralizedTime, Error> {
    let secs = u64::try_from(t.unix_seconds())
        .map_err(|_| Error::asn1("GeneralizedTime", "time before 1970"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| Error::asn1("GeneralizedTime", e))
}

/// The instant of a `GeneralizedTime`.
pub fn utc_time(t: &GeneralizedTime) -> UtcTime {
    UtcTime::from_unix_micros(i64::try_from(t.to_unix_duration().as_micros()).unwrap_or(i64::MAX))
}

impl OcspResponse {
    /// A `successful` response carrying `basic`.
    pub fn successful(basic: &BasicOcspResponse) -> Result<Self, Error> {
        let der = basic
            .to_der()
            .map_err(|e| Error::asn1("BasicOCSPResponse", e))?;
        Ok(Self {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(der).map_err(|e| Error::asn1("ResponseBytes", e))?,
            }),
        })
    }

    /// An error response (`malformedRequest`, `tryLater`, …) without response bytes.
    pub fn error(status: OcspResponseStatus) -> Self {
        Self {
            response_status: status,
            response_bytes: None,
        }
    }

    /// Decodes a DER response within `limits` (only the outer structure; see
    /// [`OcspResponse::basic`]).
    pub fn decode(der: &[u8], limits: &RevocationLimits) -> Result<Self, Error> {
        check_limit(
            "OCSP response size",
            der.len(),
            limits.max_ocsp_response_size,
        )?;
        Self::from_der(der).map_err(|e| Error::asn1("OCSP response", e))
    }

    /// The DER encoding.
    pub fn to_der_bytes(&self) -> Result<Vec<u8>, Error> {
        self.to_der().map_err(|e| Error::asn1("OCSP response", e))
    }

    /// The basic response of a `successful` response, decoded within `limits`.
    pub fn basic(&self, limits: &RevocationLimits) -> Result<BasicOcspResponse, Error> {
        let bytes = self.basic_bytes()?;
        BasicOcspResponse::decode(bytes, limits)
    }

    fn basic_bytes(&self) -> Result<&[u8], Error> {
        if self.response_status != OcspResponseStatus::Successful {
            return Err(Error::OcspStatus(self.response_status.name()));
        }
        let rb = self
            .response_bytes
            .as_ref()
            .ok_or_else(|| Error::asn1("OCSP response", "successful but no responseBytes"))?;
        if rb.response_type != ID_PKIX_OCSP_BASIC {
            return Err(Error::OcspResponseType(rb.response_type.to_string()));
        }
        Ok(rb.response.as_bytes())
    }
}

impl BasicOcspResponse {
    /// Decodes a DER `BasicOCSPResponse` within `limits`.
    pub fn decode(der: &[u8], limits: &RevocationLimits) -> Result<Self, Error> {
        check_limit(
            "OCSP response size",
            der.len(),
            limits.max_ocsp_response_size,
        )?;
        let basic = Self::from_der(der).map_err(|e| Error::asn1("BasicOCSPResponse", e))?;
        let data = &basic.tbs_response_data;
        check_limit(
            "OCSP single responses",
            data.responses.len(),
            limits.max_ocsp_single_responses,
        )?;
        check_limit(
            "OCSP response certificates",
            basic.certs.as_ref().map_or(0, Vec::len),
            limits.max_ocsp_certificates,
        )?;
        let most_extensions = data
            .responses
            .iter()
            .map(|r| r.single_extensions.as_ref().map_or(0, Vec::len))
            .chain(std::iter::once(
                data.response_extensions.as_ref().map_or(0, Vec::len),
            ))
            .max()
            .unwrap_or(0);
        check_limit(
            "OCSP response extensions",
            most_extensions,
            limits.max_extensions,
        )?;
        Ok(basic)
    }

    /// The response's nonce, if it has one.
    pub fn nonce(&self) -> Option<Vec<u8>> {
        find_nonce(self.tbs_response_data.response_extensions.as_ref())
    }
}

/// Builds and signs a `BasicOCSPResponse` (for responders: the development PKI, tests).
#[derive(Clone, Debug)]
pub struct BasicResponseBuilder {
    responder_id: ResponderId,
    produced_at: UtcTime,
    responses: Vec<SingleResponse>,
    extensions: Extensions,
    certs: Vec<x509_cert::Certificate>,
}

impl BasicResponseBuilder {
    /// A response from `responder_id` produced at `produced_at`.
    pub fn new(responder_id: ResponderId, produced_at: UtcTime) -> Self {
        Self {
            responder_id,
            produced_at,
            responses: Vec::new(),
            extensions: Vec::new(),
            certs: Vec::new(),
        }
    }

    /// Adds an answer.
    pub fn response(mut self, response: SingleResponse) -> Self {
        self.responses.push(response);
        self
    }

    /// Echoes a request's nonce (RFC 8954 §2.1).
    pub fn nonce(mut self, nonce: &[u8]) -> Result<Self, Error> {
        self.extensions.push(nonce_extension(nonce)?);
        Ok(self)
    }

    /// Includes a certificate (a delegated responder includes its own).
    pub fn certificate(mut self, certificate: &Certificate) -> Self {
        self.certs.push(certificate.x509().clone());
        self
    }

    /// Signs with `signer` (RSA PKCS#1 v1.5 with `hash`): the signer's key must belong to the
    /// issuer of the certificates answered for, or to a delegated responder certificate the
    /// issuer gave id-kp-OCSPSigning (include it with [`Self::certificate`]).
    pub fn sign(
        self,
        signer: &dyn signet_keys::Signer,
        hash: HashAlgorithm,
    ) -> Result<BasicOcspResponse, Error> {
        let signature_oid = match hash {
            HashAlgorithm::Sha256 => oids::SHA256_WITH_RSA,
            HashAlgorithm::Sha384 => oids::SHA384_WITH_RSA,
            HashAlgorithm::Sha512 => oids::SHA512_WITH_RSA,
            _ => return Err(Error::asn1("OCSP response", "unsupported hash algorithm")),
        };
        let tbs = ResponseData {
            version: OcspVersion::V1,
            responder_id: self.responder_id,
            produced_at: generalized_time(self.produced_at)?,
            responses: self.responses,
            response_extensions: (!self.extensions.is_empty()).then_some(self.extensions),
        };
        let tbs_der = tbs.to_der().map_err(|e| Error::asn1("ResponseData", e))?;
        let signature = signer.sign(hash, &tbs_der).map_err(Error::Sign)?;
        Ok(BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: signature_oid,
                parameters: Some(der::Any::null()),
            },
            signature: BitString::from_bytes(&signature)
                .map_err(|e| Error::asn1("OCSP signature", e))?,
            certs: (!self.certs.is_empty()).then_some(self.certs),
        })
    }
}

/// A checked answer for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspAnswer {
    /// Good, revoked, or unknown to the responder.
    pub status: RevocationStatus,
    /// thisUpdate.
    pub this_update: UtcTime,
    /// nextUpdate, if given.
    pub next_update: Option<UtcTime>,
    /// producedAt.
    pub produced_at: UtcTime,
}

impl OcspAnswer {
    /// Until when the answer may be reused: nextUpdate, or a day after thisUpdate when the
    /// responder gives none.
    pub fn expires(&self) -> UtcTime {
        self.next_update
            .unwrap_or(self.this_update.add_micros(NO_NEXT_UPDATE_LIFETIME_MICROS))
    }
}

/// Checks a DER `OCSPResponse` for `certificate` (issued by `issuer`) at `now`:
/// `successful`; signed (over the exact `tbsResponseData` bytes) by the issuer or by a
/// delegated responder — a certificate in the response, issued by the issuer, with
/// id-kp-OCSPSigning and valid at `now` — that the ResponderID names (RFC 6960 §4.2.2.2);
/// an answer for the certificate whose thisUpdate is not in the future and whose nextUpdate
/// (or thisUpdate + 1 day) is not in the past, with 5 minutes of clock skew either way; and,
/// when `nonce` was sent and the response carries one, the same nonce. A response without a
/// nonce is accepted (responders serve pre-produced responses).
///
/// The delegated responder's own revocation status is not checked (RFC 6960 §4.2.2.2.1
/// leaves that to the CA, which usually marks it id-pkix-ocsp-nocheck).
pub fn check_response(
    der: &[u8],
    certificate: &Certificate,
    issuer: &Certificate,
    now: UtcTime,
    nonce: Option<&[u8]>,
    limits: &RevocationLimits,
) -> Result<OcspAnswer, Error> {
    let response = OcspResponse::decode(der, limits)?;
    let basic_der = response.basic_bytes()?;
    let basic = BasicOcspResponse::decode(basic_der, limits)?;
    let tbs_raw = first_element(basic_der)?;
    verify_signer(&basic, tbs_raw, issuer, now)?;
    if let (Some(sent), Some(got)) = (nonce, basic.nonce())
        && sent != got.as_slice()
    {
        return Err(Error::OcspNonce);
    }
    let data = &basic.tbs_response_data;
    let single = data
        .responses
        .iter()
        .find(|r| r.cert_id.matches(certificate, issuer))
        .ok_or(Error::OcspNotCovered)?;
    let this_update = utc_time(&single.this_update);
    let next_update = single.next_update.as_ref().map(utc_time);
    let answer = OcspAnswer {
        status: RevocationStatus::Good,
        this_update,
        next_update,
        produced_at: utc_time(&data.produced_at),
    };
    if this_update > now.add_micros(CLOCK_SKEW_MICROS) {
        return Err(Error::NotCurrent {
            what: "OCSP response",
            detail: format!("thisUpdate {this_update} is in the future"),
        });
    }
    if answer.expires().add_micros(CLOCK_SKEW_MICROS) < now {
        return Err(Error::NotCurrent {
            what: "OCSP response",
            detail: format!("it expired at {}", answer.expires()),
        });
    }
    let status = match &single.cert_status {
        CertStatus::Good(_) => RevocationStatus::Good,
        CertStatus::Revoked(info) => RevocationStatus::Revoked {
            time: utc_time(&info.revocation_time),
            reason: info.revocation_reason.map(RevocationReason::from),
            invalidity_date: invalidity_date(single.single_extensions.as_ref()),
        },
        CertStatus::Unknown(_) => RevocationStatus::Unknown {
            why: "the OCSP responder does not know the certificate".into(),
        },
    };
    Ok(OcspAnswer { status, ..answer })
}

/// The invalidity date (2.5.29.24) in CRL entry or single-response extensions.
pub(crate) fn invalidity_date(extensions: Option<&Extensions>) -> Option<UtcTime> {
    let ext = extensions?
        .iter()
        .find(|e| e.extn_id == ID_CE_INVALIDITY_DATE)?;
    GeneralizedTime::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|t| utc_time(&t))
}

/// Finds who signed the response and checks the signature.
fn verify_signer(
    basic: &BasicOcspResponse,
    tbs_raw: &[u8],
    issuer: &Certificate,
    now: UtcTime,
) -> Result<(), Error> {
    let id = &basic.tbs_response_data.responder_id;
    let signer = if id.identifies(issuer) {
        issuer.clone()
    } else {
        let delegated = basic
            .certs
            .iter()
            .flatten()
            .filter_map(|c| c.to_der().ok())
            .filter_map(|der| Certificate::from_der(&der).ok())
            .find(|c| id.identifies(c))
            .ok_or(Error::OcspSigner(
                "the responder ID names neither the issuer nor an included certificate",
            ))?;
        if delegated.issuer_der() != issuer.subject_der() || !delegated.is_signed_by(issuer) {
            return Err(Error::OcspSigner(
                "the responder certificate was not issued by the certificate's issuer",
            ));
        }
        // The EKU must be present and name OCSP signing (a certificate without an EKU
        // extension is not a delegated responder).
        if !delegated
            .extended_key_usages()
            .is_some_and(|ekus| ekus.contains(&ID_KP_OCSP_SIGNING))
        {
            return Err(Error::OcspSigner(
                "the responder certificate lacks id-kp-OCSPSigning",
            ));
        }
        if !(delegated.not_before() <= now && now <= delegated.not_after()) {
            return Err(Error::OcspSigner(
                "the responder certificate is outside its validity period",
            ));
        }
        delegated
    };
    let scheme = scheme_for_signature_algorithm(&basic.signature_algorithm.oid)
        .ok_or(Error::BadSignature("OCSP response (unsupported algorithm)"))?;
    let key = signer
        .public_key()
        .map_err(|_| Error::BadSignature("OCSP response (unreadable responder key)"))?;
    key.verify(scheme, tbs_raw, basic.signature.raw_bytes())
        .map_err(|_| Error::BadSignature("OCSP response"))
}

/// The exact bytes of the first element inside the outer SEQUENCE of `der` (the signed
/// `tbsResponseData` or `tbsCertList`), so that signatures are checked over what was sent
/// rather than over a re-encoding.
pub(crate) fn first_element(der: &[u8]) -> Result<&[u8], Error> {
    use der::{Reader, SliceReader};
    let err = |e: der::Error| Error::asn1("signed structure", e);
    let mut outer = SliceReader::new(der).map_err(err)?;
    let header = der::Header::peek(&outer).map_err(err)?;
    if header.tag() != der::Tag::Sequence {
        return Err(Error::asn1("signed structure", "not a SEQUENCE"));
    }
    let seq = outer.tlv_bytes().map_err(err)?;
    // Skip the outer header: the rest is the contents.
    let header_len = usize::try_from(u32::from(header.encoded_len().map_err(err)?))
        .map_err(|_| Error::asn1("signed structure", "header too long"))?;
    let contents = seq
        .get(header_len..)
        .ok_or_else(|| Error::asn1("signed structure", "truncated"))?;
    let mut inner = SliceReader::new(contents).map_err(err)?;
    inner.tlv_bytes().map_err(err)
}

fn check_limit(what: &'static str, value: usize, limit: usize) -> Result<(), Error> {
    if value > limit {
        Err(Error::Limit { what, limit })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oids::SHA1,
                parameters: Some(der::Any::null()),
            },
            issuer_name_hash: OctetString::new(vec![1; 20]).unwrap(),
            issuer_key_hash: OctetString::new(vec![2; 20]).unwrap(),
            serial_number: SerialNumber::new(&[0x10]).unwrap(),
        };
        let req = OcspRequest::new(vec![id.clone()], Some(&[7; 16])).unwrap();
        let der = req.to_der_bytes().unwrap();
        let back = OcspRequest::decode(&der, &RevocationLimits::default()).unwrap();
        assert_eq!(back, req);
        assert_eq!(back.nonce().unwrap(), vec![7; 16]);
        // Version v1 is DEFAULT and must not be encoded: SEQUENCE { SEQUENCE { SEQUENCE OF ...
        assert_eq!(der[2], 0x30);
        let tight = RevocationLimits {
            max_ocsp_request_size: der.len() - 1,
            ..RevocationLimits::default()
        };
        assert!(matches!(
            OcspRequest::decode(&der, &tight),
            Err(Error::Limit { .. })
        ));
    }

    #[test]
    fn error_response_round_trip() {
        let r = OcspResponse::error(OcspResponseStatus::TryLater);
        let der = r.to_der_bytes().unwrap();
        assert_eq!(der, [0x30, 0x03, 0x0a, 0x01, 0x03]);
        let back = OcspResponse::decode(&der, &RevocationLimits::default()).unwrap();
        assert!(matches!(
            back.basic(&RevocationLimits::default()),
            Err(Error::OcspStatus("tryLater"))
        ));
    }

    #[test]
    fn cert_status_encodings() {
        assert_eq!(CertStatus::good().to_der().unwrap(), [0x80, 0x00]);
        assert_eq!(CertStatus::unknown().to_der().unwrap(), [0x82, 0x00]);
        let t = UtcTime::from_civil(2026, 6, 2, 16, 32, 0, 0).unwrap();
        let revoked = CertStatus::revoked(t, Some(RevocationReason::Superseded)).unwrap();
        let der = revoked.to_der().unwrap();
        assert_eq!(der[0], 0xa1);
        assert_eq!(CertStatus::from_der(&der).unwrap(), revoked);
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let limits = RevocationLimits::default();
            let _ = OcspResponse::decode(&bytes, &limits).map(|r| r.basic(&limits));
            let _ = OcspRequest::decode(&bytes, &limits);
            let _ = BasicOcspResponse::decode(&bytes, &limits);
            let _ = first_element(&bytes);
        }

        #[test]
        fn requests_round_trip(
            nonce in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..33),
            serial in proptest::collection::vec(1u8..=0x7f, 1..20),
            name_hash in proptest::collection::vec(proptest::prelude::any::<u8>(), 20..=20),
            key_hash in proptest::collection::vec(proptest::prelude::any::<u8>(), 20..=20),
        ) {
            let id = CertId {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: oids::SHA1,
                    parameters: Some(der::Any::null()),
                },
                issuer_name_hash: OctetString::new(name_hash).unwrap(),
                issuer_key_hash: OctetString::new(key_hash).unwrap(),
                serial_number: SerialNumber::new(&serial).unwrap(),
            };
            let req = OcspRequest::new(vec![id], Some(&nonce)).unwrap();
            let der = req.to_der_bytes().unwrap();
            let back = OcspRequest::decode(&der, &RevocationLimits::default()).unwrap();
            proptest::prop_assert_eq!(back.nonce(), Some(nonce));
            proptest::prop_assert_eq!(back, req);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let limits = RevocationLimits::default();
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x03, 0x0a, 0x01, 0x09],
        ] {
            assert!(OcspResponse::decode(input, &limits).is_err());
            assert!(OcspRequest::decode(input, &limits).is_err());
        }
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x31, 0x00],
            &[0x30, 0x00],
        ] {
            assert!(first_element(input).is_err());
        }
    }
}
