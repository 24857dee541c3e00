//! The timestamp authority core: a `TimeStampReq` in, a DER `TimeStampResp` out (RFC 3161
//! §2.4, with the ESS signing-certificate-v2 attribute of RFC 5816).
//!
//! Everything that does not depend on the request — certificate set, signer identifier, ESS
//! attribute, algorithm identifiers, policy, accuracy, TSA name — is encoded once in
//! [`Authority::new`]; answering a request joins those pieces around the TSTInfo and spends
//! its time in the one RSA signature.

use std::path::PathBuf;

use const_oid::ObjectIdentifier;
use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::Signer;
use signet_signature::{Certificate, Digest, Scheme, oids};

use crate::error::Error;
use crate::protocol::{FailureInfo, Limits, TimeStampReq};
use crate::serial::SerialAllocator;
use crate::tlv::{self, tlv};

/// The policy written into TSTInfo when none is configured: `2.25.1853173601`, an identifier
/// under the ITU-T/ISO UUID arc (X.667), which needs no registration. A deployment that has
/// its own arc (a private enterprise number) should configure a policy under it.
pub const DEFAULT_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.1853173601");

/// The accuracy written into TSTInfo by default: one second, the accuracy NuGet assumes for
/// ETSI-baseline tokens without one (spec §4.3).
pub const DEFAULT_ACCURACY_MS: u32 = 1000;

/// How an [`Authority`] issues tokens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthorityConfig {
    /// TSTInfo `policy`; a request naming another policy is refused with `unacceptedPolicy`.
    /// Default [`DEFAULT_POLICY`].
    pub policy: ObjectIdentifier,
    /// TSTInfo `accuracy` in milliseconds (`None`: omitted, which NuGet reads as 0 for
    /// policies other than ETSI's baseline). Default [`DEFAULT_ACCURACY_MS`].
    pub accuracy_ms: Option<u32>,
    /// The serial-number state file (created when absent; see `serial.rs` for the format).
    pub serial_state: PathBuf,
    /// Whether TSTInfo names the TSA (its certificate's subject as a directoryName).
    /// Default false.
    pub include_tsa_name: bool,
    /// The token's digest algorithm (SignerInfo digest and signature hash). Default SHA-256.
    pub digest: HashAlgorithm,
    /// Whether a self-signed root in the signer's chain is embedded too when a request sets
    /// certReq (relying parties have the root already). Default false.
    pub include_root: bool,
    /// Request limits.
    pub limits: Limits,
}

impl AuthorityConfig {
    /// The defaults, with the serial-number state kept in `serial_state`.
    pub fn new(serial_state: impl Into<PathBuf>) -> Self {
        Self {
            policy: DEFAULT_POLICY,
            accuracy_ms: Some(DEFAULT_ACCURACY_MS),
            serial_state: serial_state.into(),
            include_tsa_name: false,
            digest: HashAlgorithm::Sha256,
            include_root: false,
            limits: Limits::DEFAULT,
        }
    }
}

/// An RFC 3161 timestamp authority. Thread-safe: [`Authority::respond`] takes `&self`.
pub struct Authority {
    signer: Box<dyn Signer>,
    digest: HashAlgorithm,
    limits: Limits,
    policy: ObjectIdentifier,
    serials: SerialAllocator,
    not_before: UtcTime,
    not_after: UtcTime,
    // Precomputed DER pieces.
    policy_tlv: Vec<u8>,
    accuracy_tlv: Vec<u8>,
    tsa_name_tlv: Vec<u8>,
    content_type_attr: Vec<u8>,
    ess_attr: Vec<u8>,
    sid: Vec<u8>,
    digest_alg: Vec<u8>,
    digest_algs_set: Vec<u8>,
    signature_alg: Vec<u8>,
    certificates: Vec<u8>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("policy", &self.policy)
            .field("digest", &self.digest)
            .field("serials", &self.serials)
            .finish_non_exhaustive()
    }
}

/// Why a request is refused: the failInfo bit and the statusString.
type Refusal = (FailureInfo, &'static str);

impl Authority {
    /// Starts an authority. Refuses a signer whose leaf certificate does not carry exactly
    /// the timeStamping EKU marked critical (RFC 3161 §2.3), whose RSA key is under 2048 bits
    /// (NuGet: NU3023), whose certificate is not signed with SHA-2/RSA (NU3022), or whose key
    /// does not match its certificate; and a serial state file that is corrupt or in use.
    pub fn new(signer: Box<dyn Signer>, config: AuthorityConfig) -> Result<Self, Error> {
        let leaf_der = signer
            .certificate_chain()
            .first()
            .ok_or(Error::NoCertificate)?;
        let leaf = Certificate::from_der(leaf_der).map_err(Error::CertificateDecode)?;
        check_certificate(&leaf, signer.as_ref(), config.digest)?;

        if config.accuracy_ms == Some(0) {
            return Err(Error::Config(
                "an accuracy of 0 ms cannot be encoded; omit the accuracy instead".into(),
            ));
        }
        let digest = config.digest;
        let serials = SerialAllocator::open(&config.serial_state)?;

        let content_type_attr = attribute(&oids::CONTENT_TYPE, &tlv::oid(&oids::TST_INFO));
        let ess_attr = attribute(
            &oids::SIGNING_CERTIFICATE_V2,
            &signing_certificate_v2(&leaf),
        );
        let sid = tlv(
            tlv::SEQUENCE,
            &[
                leaf.issuer_der(),
                &tlv(tlv::INTEGER, &[leaf.serial_bytes()]),
            ],
        );
        // RFC 5754 §2: digest AlgorithmIdentifiers without parameters.
        let digest_alg = tlv(tlv::SEQUENCE, &[&tlv::oid(&hash_oid(digest))]);
        let digest_algs_set = tlv(tlv::SET, &[&digest_alg]);
        let signature_alg = tlv(
            tlv::SEQUENCE,
            &[&tlv::oid(&oids::RSA_ENCRYPTION), &[tlv::NULL, 0]],
        );
        let certificates = {
            let mut chain: Vec<&[u8]> = Vec::new();
            for der in signer.certificate_chain() {
                let self_signed = Certificate::from_der(der)
                    .map(|c| c.is_self_issued() && c.is_signed_by(&c))
                    .unwrap_or(false);
                if !self_signed || config.include_root {
                    chain.push(der);
                }
            }
            tlv(tlv::ctx_cons(0), &[&tlv::set_of_content(chain)])
        };
        let accuracy_tlv = match config.accuracy_ms {
            None => Vec::new(),
            Some(ms) => {
                let (seconds, millis) = (ms / 1000, ms % 1000);
                let mut parts = Vec::new();
                if seconds > 0 {
                    parts.push(tlv(tlv::INTEGER, &[&tlv::uint_content(seconds.into())]));
                }
                if millis > 0 {
                    parts.push(tlv(tlv::ctx_prim(0), &[&tlv::uint_content(millis.into())]));
                }
                tlv(tlv::SEQUENCE, &[&parts.concat()])
            }
        };
        // tsa [0] GeneralName: a CHOICE, so explicitly tagged; directoryName [4] Name.
        let tsa_name_tlv = if config.include_tsa_name {
            tlv(
                tlv::ctx_cons(0),
                &[&tlv(tlv::ctx_cons(4), &[leaf.subject_der()])],
            )
        } else {
            Vec::new()
        };

        Ok(Self {
            digest,
            limits: config.limits,
            policy: config.policy,
            serials,
            not_before: leaf.not_before(),
            not_after: leaf.not_after(),
            policy_tlv: tlv::oid(&config.policy),
            accuracy_tlv,
            tsa_name_tlv,
            content_type_attr,
            ess_attr,
            sid,
            digest_alg,
            digest_algs_set,
            signature_alg,
            certificates,
            signer,
        })
    }

    /// The TSA policy this authority issues under.
    pub fn policy(&self) -> ObjectIdentifier {
        self.policy
    }

    /// The request limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Answers a DER `TimeStampReq` with a DER `TimeStampResp`, timestamped `now`. Never
    /// fails: a request it cannot grant gets a rejection with the failInfo RFC 3161 names
    /// (`badDataFormat` for anything undecodable or oversized, `badAlg` for an imprint hash
    /// other than SHA-256/384/512, `unacceptedPolicy`, `unacceptedExtension`), and its own
    /// trouble (serial state, signing, a certificate not valid at `now`) gives
    /// `systemFailure`.
    pub fn respond(&self, request_der: &[u8], now: UtcTime) -> Vec<u8> {
        match self.grant(request_der, now) {
            Ok(response) => response,
            Err((fail_info, text)) => rejection_der(fail_info, text),
        }
    }

    fn grant(&self, request_der: &[u8], now: UtcTime) -> Result<Vec<u8>, Refusal> {
        if request_der.len() > self.limits.max_request_size {
            return Err((FailureInfo::BAD_DATA_FORMAT, "the request is too large"));
        }
        let req = TimeStampReq::from_der_bytes(request_der).map_err(|_| {
            (
                FailureInfo::BAD_DATA_FORMAT,
                "the request is not a DER TimeStampReq",
            )
        })?;
        if req.version != 1 {
            return Err((FailureInfo::BAD_DATA_FORMAT, "unsupported request version"));
        }
        let imprint = &req.message_imprint;
        let alg = match imprint.hash_algorithm.oid {
            oids::SHA256 => HashAlgorithm::Sha256,
            oids::SHA384 => HashAlgorithm::Sha384,
            oids::SHA512 => HashAlgorithm::Sha512,
            _ => {
                return Err((
                    FailureInfo::BAD_ALG,
                    "unsupported message imprint algorithm; SHA-256, SHA-384 or SHA-512 is required",
                ));
            }
        };
        let null_params = match &imprint.hash_algorithm.parameters {
            None => false,
            Some(p) if der::Tagged::tag(p) == der::Tag::Null && p.value().is_empty() => true,
            Some(_) => {
                return Err((
                    FailureInfo::BAD_ALG,
                    "unexpected message imprint algorithm parameters",
                ));
            }
        };
        let hashed = imprint.hashed_message.as_bytes();
        if hashed.len() != alg.output_len() {
            return Err((
                FailureInfo::BAD_DATA_FORMAT,
                "the message imprint length does not match its algorithm",
            ));
        }
        if req.req_policy.is_some_and(|p| p != self.policy) {
            return Err((
                FailureInfo::UNACCEPTED_POLICY,
                "the requested policy is not supported",
            ));
        }
        if req.extensions.is_some() {
            return Err((
                FailureInfo::UNACCEPTED_EXTENSION,
                "request extensions are not supported",
            ));
        }
        let nonce = req.nonce.as_ref().map(|n| n.as_bytes());
        if nonce.is_some_and(|n| n.len() > self.limits.max_nonce_len) {
            return Err((FailureInfo::BAD_DATA_FORMAT, "the nonce is too long"));
        }
        // A token outside the certificate's validity would fail every relying party (NU3036).
        if now < self.not_before || now >= self.not_after {
            tracing::error!("the TSA certificate is not valid at {now}; refusing to issue tokens");
            return Err((
                FailureInfo::SYSTEM_FAILURE,
                "the timestamp authority is not available",
            ));
        }
        let gen_time = generalized_time(now).ok_or((
            FailureInfo::TIME_NOT_AVAILABLE,
            "the time cannot be represented",
        ))?;
        let serial = self.serials.next().map_err(|e| {
            tracing::error!("serial number allocation failed: {e}");
            (
                FailureInfo::SYSTEM_FAILURE,
                "the timestamp authority is not available",
            )
        })?;

        // MessageImprint echoed as received (DER, parameters absent or NULL).
        let mut alg_id = tlv::oid(&imprint.hash_algorithm.oid);
        if null_params {
            alg_id.extend_from_slice(&[tlv::NULL, 0]);
        }
        let imprint_tlv = tlv(
            tlv::SEQUENCE,
            &[
                &tlv(tlv::SEQUENCE, &[&alg_id]),
                &tlv(tlv::OCTET_STRING, &[hashed]),
            ],
        );
        let nonce_tlv = nonce.map(|n| tlv(tlv::INTEGER, &[n])).unwrap_or_default();
        let tst_info = tlv(
            tlv::SEQUENCE,
            &[
                &[tlv::INTEGER, 1, 1],
                &self.policy_tlv,
                &imprint_tlv,
                &tlv(tlv::INTEGER, &[&tlv::uint_content(serial)]),
                &gen_time,
                &self.accuracy_tlv,
                &nonce_tlv,
                &self.tsa_name_tlv,
            ],
        );
        let token = self.sign_token(&tst_info, req.cert_req).map_err(|e| {
            tracing::error!("signing a timestamp token failed: {e}");
            (
                FailureInfo::SYSTEM_FAILURE,
                "the timestamp authority is not available",
            )
        })?;
        // PKIStatusInfo { granted }.
        Ok(tlv(
            tlv::SEQUENCE,
            &[&[0x30, 0x03, tlv::INTEGER, 0x01, 0x00], &token],
        ))
    }

    /// The TimeStampToken: ContentInfo { signedData, SignedData over `tst_info` }.
    fn sign_token(
        &self,
        tst_info: &[u8],
        with_certificates: bool,
    ) -> Result<Vec<u8>, signet_keys::Error> {
        let message_digest = attribute(
            &oids::MESSAGE_DIGEST,
            &tlv(tlv::OCTET_STRING, &[&self.digest.digest(tst_info)]),
        );
        let attrs = tlv::set_of_content(vec![
            &self.content_type_attr,
            &message_digest,
            &self.ess_attr,
        ]);
        // RFC 5652 §5.4: the signature covers the attributes with an explicit SET OF tag.
        let signature = self.signer.sign(self.digest, &tlv(tlv::SET, &[&attrs]))?;
        let signer_info = tlv(
            tlv::SEQUENCE,
            &[
                &[tlv::INTEGER, 1, 1],
                &self.sid,
                &self.digest_alg,
                &tlv(tlv::ctx_cons(0), &[&attrs]),
                &self.signature_alg,
                &tlv(tlv::OCTET_STRING, &[&signature]),
            ],
        );
        let encap = tlv(
            tlv::SEQUENCE,
            &[
                &tlv::oid(&oids::TST_INFO),
                &tlv(tlv::ctx_cons(0), &[&tlv(tlv::OCTET_STRING, &[tst_info])]),
            ],
        );
        let certificates: &[u8] = if with_certificates {
            &self.certificates
        } else {
            &[]
        };
        // Version 3: eContentType is not id-data (RFC 5652 §5.1).
        let signed_data = tlv(
            tlv::SEQUENCE,
            &[
                &[tlv::INTEGER, 1, 3],
                &self.digest_algs_set,
                &encap,
                certificates,
                &tlv(tlv::SET, &[&signer_info]),
            ],
        );
        Ok(tlv(
            tlv::SEQUENCE,
            &[
                &tlv::oid(&oids::SIGNED_DATA),
                &tlv(tlv::ctx_cons(0), &[&signed_data]),
            ],
        ))
    }
}

/// A TimeStampResp with status rejection, encoded by hand so that it cannot fail.
pub(crate) fn rejection_der(fail_info: FailureInfo, text: &str) -> Vec<u8> {
    let status_string = tlv(tlv::SEQUENCE, &[&tlv(0x0c, &[text.as_bytes()])]);
    let status_info = tlv(
        tlv::SEQUENCE,
        &[
            &[tlv::INTEGER, 1, 2],
            &status_string,
            &fail_info.bit_string_tlv(),
        ],
    );
    tlv(tlv::SEQUENCE, &[&status_info])
}

fn check_certificate(
    leaf: &Certificate,
    signer: &dyn Signer,
    digest: HashAlgorithm,
) -> Result<(), Error> {
    let unfit = |reason: String| Error::UnfitCertificate {
        subject: leaf.subject(),
        reason,
    };
    match leaf.extended_key_usages() {
        Some(ekus) if ekus == [oids::EKU_TIME_STAMPING] => {}
        Some(ekus) if ekus.contains(&oids::EKU_TIME_STAMPING) => {
            return Err(unfit(
                "its extended key usage must be timeStamping (1.3.6.1.5.5.7.3.8) alone (RFC 3161 §2.3)".into(),
            ));
        }
        _ => {
            return Err(unfit(
                "it lacks the timeStamping extended key usage (1.3.6.1.5.5.7.3.8)".into(),
            ));
        }
    }
    if !leaf.extended_key_usage_critical() {
        return Err(unfit(
            "its timeStamping extended key usage is not marked critical (RFC 3161 §2.3)".into(),
        ));
    }
    match leaf.rsa_key_bits() {
        Some(bits) if bits >= 2048 && signer.key_bits() >= 2048 => {}
        Some(bits) => {
            return Err(unfit(format!(
                "its RSA key has {bits} bits; at least 2048 are required (NU3023)"
            )));
        }
        None => return Err(unfit("its key is not an RSA key".into())),
    }
    let sig_alg = leaf.signature_algorithm();
    if ![
        oids::SHA256_WITH_RSA,
        oids::SHA384_WITH_RSA,
        oids::SHA512_WITH_RSA,
    ]
    .contains(&sig_alg)
    {
        return Err(unfit(format!(
            "it is signed with {sig_alg}; NuGet accepts only sha256/384/512WithRSAEncryption (NU3022)"
        )));
    }
    // One signature at start-up proves the key belongs to the certificate (a mismatched
    // PKCS#11 or KMS key would otherwise issue tokens nobody can verify).
    let probe = b"signet-tsa key check";
    let signature = signer
        .sign(digest, probe)
        .map_err(|e| Error::KeyMismatch(e.to_string()))?;
    let key = leaf
        .public_key()
        .map_err(|e| Error::KeyMismatch(e.to_string()))?;
    let scheme = Scheme::RsaPkcs1(match digest {
        HashAlgorithm::Sha384 => Digest::Sha384,
        HashAlgorithm::Sha512 => Digest::Sha512,
        _ => Digest::Sha256,
    });
    key.verify(scheme, probe, &signature).map_err(|_| {
        Error::KeyMismatch(
            "the key's signature does not verify with the certificate's public key".into(),
        )
    })
}

fn hash_oid(alg: HashAlgorithm) -> ObjectIdentifier {
    match alg {
        HashAlgorithm::Sha384 => oids::SHA384,
        HashAlgorithm::Sha512 => oids::SHA512,
        _ => oids::SHA256,
    }
}

/// `Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value }` with one value.
fn attribute(oid: &ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv(tlv::SEQUENCE, &[&tlv::oid(oid), &tlv(tlv::SET, &[value])])
}

/// SigningCertificateV2 (RFC 5035) with one ESSCertIDv2: hashAlgorithm omitted (DEFAULT
/// SHA-256, so DER leaves it out), the SHA-256 of the certificate, and issuerSerial naming
/// the issuer as a directoryName.
fn signing_certificate_v2(cert: &Certificate) -> Vec<u8> {
    let cert_hash = tlv(
        tlv::OCTET_STRING,
        &[&cert.fingerprint(HashAlgorithm::Sha256)],
    );
    let general_names = tlv(
        tlv::SEQUENCE,
        &[&tlv(tlv::ctx_cons(4), &[cert.issuer_der()])],
    );
    let issuer_serial = tlv(
        tlv::SEQUENCE,
        &[&general_names, &tlv(tlv::INTEGER, &[cert.serial_bytes()])],
    );
    let ess_cert_id = tlv(tlv::SEQUENCE, &[&cert_hash, &issuer_serial]);
    tlv(tlv::SEQUENCE, &[&tlv(tlv::SEQUENCE, &[&ess_cert_id])])
}

/// `YYYYMMDDHHMMSS[.fff]Z` to the millisecond, trailing fraction zeros removed (X.690
/// §11.7); `None` for years that do not have four digits.
fn generalized_time(t: UtcTime) -> Option<Vec<u8>> {
    let (y, mo, d, h, mi, s, us) = t.to_civil();
    if !(0..=9999).contains(&y) {
        return None;
    }
    let mut text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}");
    let millis = us / 1000;
    if millis > 0 {
        let frac = format!("{millis:03}");
        text.push('.');
        text.push_str(frac.trim_end_matches('0'));
    }
    text.push('Z');
    Some(tlv(tlv::GENERALIZED_TIME, &[text.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_has_trimmed_millis() {
        let t = |us| UtcTime::from_civil(2026, 3, 4, 5, 6, 7, us).unwrap();
        let text = |us| String::from_utf8(generalized_time(t(us)).unwrap()[2..].to_vec()).unwrap();
        assert_eq!(text(0), "20260304050607Z");
        assert_eq!(text(999), "20260304050607Z"); // below a millisecond: truncated
        assert_eq!(text(120_000), "20260304050607.12Z");
        assert_eq!(text(5_000), "20260304050607.005Z");
        assert_eq!(text(100_000), "20260304050607.1Z");
        assert_eq!(text(999_999), "20260304050607.999Z");
        assert!(generalized_time(UtcTime::from_civil(10000, 1, 1, 0, 0, 0, 0).unwrap()).is_none());
    }

    #[test]
    fn rejection_matches_the_der_types() {
        let der = rejection_der(FailureInfo::UNACCEPTED_EXTENSION, "no extensions");
        let resp = crate::TimeStampResp::from_der_bytes(&der).unwrap();
        assert_eq!(
            resp,
            crate::TimeStampResp::rejection(FailureInfo::UNACCEPTED_EXTENSION, "no extensions")
        );
        assert_eq!(resp.to_der_bytes().unwrap(), der);
    }
}
