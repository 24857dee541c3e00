//! The RFC 3161 messages that travel over HTTP: `TimeStampReq` (§2.4.1) and `TimeStampResp`
//! (§2.4.2), as `der` types. The TimeStampToken inside a response is kept as its DER bytes:
//! the authority assembles it by hand (see `authority.rs`) and the client hands it to
//! `signet_signature::Timestamp`.

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, Int, OctetString};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extensions;

/// Size limits for the messages this crate decodes. Every decoder checks its input against
/// one of these before parsing; exceeding a limit is its own outcome (HTTP 413 or a
/// `badDataFormat` rejection on the server, [`crate::Error::ResponseTooLarge`] on the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `TimeStampReq` accepted (a real one is 50–100 bytes; 64 KiB leaves room for
    /// extensions that will be refused anyway).
    pub max_request_size: usize,
    /// Largest `TimeStampResp` the client reads (real ones are 3–10 KB with the chain).
    pub max_response_size: usize,
    /// Longest nonce (INTEGER content octets) the authority echoes; NuGet sends 32 bytes,
    /// OpenSSL 8.
    pub max_nonce_len: usize,
}

impl Limits {
    /// The defaults: 64 KiB requests, 1 MiB responses, 64-byte nonces.
    pub const DEFAULT: Self = Self {
        max_request_size: 64 * 1024,
        max_response_size: 1024 * 1024,
        max_nonce_len: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm (SHA-256/384/512 are the ones NuGet and this authority accept).
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash of the timestamped data.
    pub hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1).
///
/// ```text
/// TimeStampReq ::= SEQUENCE {
///    version          INTEGER { v1(1) },
///    messageImprint   MessageImprint,
///    reqPolicy        TSAPolicyId              OPTIONAL,
///    nonce            INTEGER                  OPTIONAL,
///    certReq          BOOLEAN                  DEFAULT FALSE,
///    extensions       [0] IMPLICIT Extensions  OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampReq {
    /// Always 1.
    pub version: u8,
    /// What is to be timestamped.
    pub message_imprint: MessageImprint,
    /// The policy the requester wants, if any.
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    /// A nonce the response must echo.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// Whether the TSA certificate must be in the token.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Request extensions (this authority accepts none).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

impl TimeStampReq {
    /// Decodes a DER request. Use [`Limits::max_request_size`] on untrusted input first.
    pub fn from_der_bytes(der: &[u8]) -> Result<Self, der::Error> {
        Self::from_der(der)
    }

    /// Encodes the request as DER.
    pub fn to_der_bytes(&self) -> Result<Vec<u8>, der::Error> {
        self.to_der()
    }
}

/// `PKIStatus` (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PkiStatus {
    /// 0: a TimeStampToken is present, as requested.
    Granted,
    /// 1: a TimeStampToken is present, with modifications.
    GrantedWithMods,
    /// 2: the request was refused; `failInfo` says why.
    Rejection,
    /// 3: the request has not yet been processed.
    Waiting,
    /// 4: a revocation is imminent.
    RevocationWarning,
    /// 5: a revocation has occurred.
    RevocationNotification,
}

impl PkiStatus {
    /// The INTEGER value.
    pub fn value(self) -> u8 {
        match self {
            Self::Granted => 0,
            Self::GrantedWithMods => 1,
            Self::Rejection => 2,
            Self::Waiting => 3,
            Self::RevocationWarning => 4,
            Self::RevocationNotification => 5,
        }
    }

    /// The status for an INTEGER value, if RFC 3161 defines one.
    pub fn from_value(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Granted,
            1 => Self::GrantedWithMods,
            2 => Self::Rejection,
            3 => Self::Waiting,
            4 => Self::RevocationWarning,
            5 => Self::RevocationNotification,
            _ => return None,
        })
    }

    /// Whether a token comes with this status (granted or grantedWithMods).
    pub fn is_granted(self) -> bool {
        matches!(self, Self::Granted | Self::GrantedWithMods)
    }
}

impl std::fmt::Display for PkiStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Granted => "granted",
            Self::GrantedWithMods => "grantedWithMods",
            Self::Rejection => "rejection",
            Self::Waiting => "waiting",
            Self::RevocationWarning => "revocationWarning",
            Self::RevocationNotification => "revocationNotification",
        })
    }
}

impl FixedTag for PkiStatus {
    const TAG: Tag = Tag::Integer;
}

impl<'a> DecodeValue<'a> for PkiStatus {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let value = u8::decode_value(reader, header)?;
        Self::from_value(value).ok_or_else(|| Tag::Integer.value_error().into())
    }
}

impl EncodeValue for PkiStatus {
    fn value_len(&self) -> der::Result<Length> {
        self.value().value_len()
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.value().encode_value(writer)
    }
}

/// `PKIFailureInfo`: a BIT STRING of failure reasons, held as a bit mask (`1 << bit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FailureInfo(u32);

impl FailureInfo {
    /// Unrecognized or unsupported algorithm (bit 0).
    pub const BAD_ALG: Self = Self(1 << 0);
    /// Transaction not permitted or supported (bit 2).
    pub const BAD_REQUEST: Self = Self(1 << 2);
    /// The data submitted has the wrong format (bit 5).
    pub const BAD_DATA_FORMAT: Self = Self(1 << 5);
    /// The TSA's time source is not available (bit 14).
    pub const TIME_NOT_AVAILABLE: Self = Self(1 << 14);
    /// The requested TSA policy is not supported (bit 15).
    pub const UNACCEPTED_POLICY: Self = Self(1 << 15);
    /// The requested extension is not supported (bit 16).
    pub const UNACCEPTED_EXTENSION: Self = Self(1 << 16);
    /// The additional information requested could not be understood or is not available
    /// (bit 17).
    pub const ADD_INFO_NOT_AVAILABLE: Self = Self(1 << 17);
    /// The request cannot be handled due to system failure (bit 25).
    pub const SYSTEM_FAILURE: Self = Self(1 << 25);

    const NAMES: [(Self, &'static str); 8] = [
        (Self::BAD_ALG, "badAlg"),
        (Self::BAD_REQUEST, "badRequest"),
        (Self::BAD_DATA_FORMAT, "badDataFormat"),
        (Self::TIME_NOT_AVAILABLE, "timeNotAvailable"),
        (Self::UNACCEPTED_POLICY, "unacceptedPolicy"),
        (Self::UNACCEPTED_EXTENSION, "unacceptedExtension"),
        (Self::ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"),
        (Self::SYSTEM_FAILURE, "systemFailure"),
    ];

    /// The bit mask (`1 << n` for named bit `n`; bits above 31 are dropped when decoding).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// From a bit mask.
    pub fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// (unused bits, bytes) of the DER BIT STRING: named-bit lists drop trailing zero bits
    /// (X.690 §11.2.2).
    fn bit_string_parts(self) -> (u8, Vec<u8>) {
        if self.0 == 0 {
            return (0, Vec::new());
        }
        let highest = 31 - self.0.leading_zeros();
        let byte_len = (highest / 8 + 1) as usize;
        let bytes = (0..byte_len)
            .map(|i| ((self.0 >> (i * 8)) as u8).reverse_bits())
            .collect();
        ((7 - highest % 8) as u8, bytes)
    }

    /// The complete BIT STRING TLV (encoded by hand so that it cannot fail).
    pub(crate) fn bit_string_tlv(self) -> Vec<u8> {
        let (unused, bytes) = self.bit_string_parts();
        crate::tlv::tlv(0x03, &[&[unused], &bytes])
    }

    fn to_bit_string(self) -> der::Result<BitString> {
        let (unused, bytes) = self.bit_string_parts();
        BitString::new(unused, bytes)
    }

    fn from_bit_string(bits: &BitString) -> Self {
        let mask = bits
            .bits()
            .enumerate()
            .take(32)
            .filter(|(_, set)| *set)
            .fold(0u32, |acc, (i, _)| acc | (1 << i));
        Self(mask)
    }
}

impl std::ops::BitOr for FailureInfo {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl std::fmt::Display for FailureInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for bit in 0..32 {
            let flag = Self(1 << bit);
            if !self.contains(flag) {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            match Self::NAMES.iter().find(|(v, _)| *v == flag) {
                Some((_, name)) => f.write_str(name)?,
                None => write!(f, "bit {bit}")?,
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl FixedTag for FailureInfo {
    const TAG: Tag = Tag::BitString;
}

impl<'a> DecodeValue<'a> for FailureInfo {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bits = BitString::decode_value(reader, header)?;
        Ok(Self::from_bit_string(&bits))
    }
}

impl EncodeValue for FailureInfo {
    fn value_len(&self) -> der::Result<Length> {
        self.to_bit_string()?.value_len()
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.to_bit_string()?.encode_value(writer)
    }
}

/// `PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL,
/// failInfo PKIFailureInfo OPTIONAL }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiStatusInfo {
    /// The outcome.
    pub status: PkiStatus,
    /// Free text (`SEQUENCE OF UTF8String`) for a human.
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// Why a request was rejected.
    #[asn1(optional = "true")]
    pub fail_info: Option<FailureInfo>,
}

/// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeStampResp {
    /// The outcome.
    pub status: PkiStatusInfo,
    /// The token (a DER `ContentInfo` holding SignedData over TSTInfo), when granted.
    pub token: Option<Vec<u8>>,
}

/// The wire form; the token is carried as an opaque TLV.
#[derive(Sequence)]
struct TimeStampRespDer {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    token: Option<der::asn1::Any>,
}

impl TimeStampResp {
    /// A rejection with a reason and a human-readable text.
    pub fn rejection(fail_info: FailureInfo, text: &str) -> Self {
        Self {
            status: PkiStatusInfo {
                status: PkiStatus::Rejection,
                status_string: Some(vec![text.to_owned()]),
                fail_info: Some(fail_info),
            },
            token: None,
        }
    }

    /// Decodes a response (DER; BER as real TSAs may send is accepted as a fallback). Apply
    /// [`Limits::max_response_size`] first.
    pub fn from_der_bytes(bytes: &[u8]) -> Result<Self, der::Error> {
        let wire = TimeStampRespDer::from_der(bytes)
            .or_else(|e| TimeStampRespDer::from_ber(bytes).map_err(|_| e))?;
        let token = wire.token.map(|t| t.to_der()).transpose()?;
        Ok(Self {
            status: wire.status,
            token,
        })
    }

    /// Encodes the response as DER.
    pub fn to_der_bytes(&self) -> Result<Vec<u8>, der::Error> {
        let token = self
            .token
            .as_deref()
            .map(der::asn1::Any::from_der)
            .transpose()?;
        TimeStampRespDer {
            status: self.status.clone(),
            token,
        }
        .to_der()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use const_oid::db::rfc5912::ID_SHA_256;

    fn imprint() -> MessageImprint {
        MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA_256,
                parameters: None,
            },
            hashed_message: OctetString::new(vec![7u8; 32]).unwrap(),
        }
    }

    #[test]
    fn request_round_trips_and_omits_default_cert_req() {
        let req = TimeStampReq {
            version: 1,
            message_imprint: imprint(),
            req_policy: None,
            nonce: Some(Int::new(&[0x01, 0x02]).unwrap()),
            cert_req: false,
            extensions: None,
        };
        let der = req.to_der_bytes().unwrap();
        // SEQUENCE { 02 01 01, imprint (49 bytes), 02 02 01 02 }: no BOOLEAN for the default.
        assert_eq!(der.len(), 2 + 3 + 49 + 4);
        assert_eq!(TimeStampReq::from_der_bytes(&der).unwrap(), req);
        let with_cert = TimeStampReq {
            cert_req: true,
            req_policy: Some(ObjectIdentifier::new_unwrap("1.2.3.4.1")),
            ..req
        };
        let mut der = with_cert.to_der_bytes().unwrap();
        assert!(der.ends_with(&[0x01, 0x01, 0xff]));
        assert_eq!(TimeStampReq::from_der_bytes(&der).unwrap(), with_cert);
        // Some clients (BouncyCastle's generator after setCertReq(false)) write the DEFAULT
        // value out; that is read as the default, not refused.
        if let Some(last) = der.last_mut() {
            *last = 0;
        }
        assert!(!TimeStampReq::from_der_bytes(&der).unwrap().cert_req);
    }

    #[test]
    fn failure_info_bits_are_der_named_bits() {
        let cases: [(FailureInfo, &[u8]); 5] = [
            (FailureInfo::BAD_ALG, &[0x03, 0x02, 0x07, 0x80]),
            (FailureInfo::BAD_DATA_FORMAT, &[0x03, 0x02, 0x02, 0x04]),
            (
                FailureInfo::UNACCEPTED_POLICY,
                &[0x03, 0x03, 0x00, 0x00, 0x01],
            ),
            (
                FailureInfo::UNACCEPTED_EXTENSION,
                &[0x03, 0x04, 0x07, 0x00, 0x00, 0x80],
            ),
            (
                FailureInfo::SYSTEM_FAILURE,
                &[0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40],
            ),
        ];
        for (info, der) in cases {
            assert_eq!(info.to_der().unwrap(), der, "{info}");
            assert_eq!(FailureInfo::from_der(der).unwrap(), info);
        }
        let both = FailureInfo::BAD_ALG | FailureInfo::BAD_REQUEST;
        assert_eq!(both.to_string(), "badAlg, badRequest");
        assert_eq!(
            FailureInfo::from_der(&both.to_der().unwrap()).unwrap(),
            both
        );
    }

    #[test]
    fn response_round_trips() {
        let rejection = TimeStampResp::rejection(FailureInfo::BAD_ALG, "unsupported algorithm");
        let der = rejection.to_der_bytes().unwrap();
        assert_eq!(TimeStampResp::from_der_bytes(&der).unwrap(), rejection);
        let granted = TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Granted,
                status_string: None,
                fail_info: None,
            },
            token: Some(vec![0x30, 0x03, 0x02, 0x01, 0x05]),
        };
        let der = granted.to_der_bytes().unwrap();
        assert_eq!(
            der,
            [
                0x30, 0x0a, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x03, 0x02, 0x01, 0x05
            ]
        );
        assert_eq!(TimeStampResp::from_der_bytes(&der).unwrap(), granted);
        assert!(TimeStampResp::from_der_bytes(&[0x30, 0x03, 0x02, 0x01, 0x09]).is_err());
        assert!(TimeStampResp::from_der_bytes(b"garbage").is_err());
    }
}
