//! NuGet's signed attributes: commitment type, signing time, ESS signing-certificate(-v2) and
//! the repository attributes (spec §3.3–§3.4).

use signet_common::{HashAlgorithm, UtcTime};

use crate::cert::Certificate;
use crate::cms::{AlgorithmId, SignerInfo, parse_oid, parse_time};
use crate::tlv::{Reader, tag};
use crate::{Error, oids};

/// The type of a signature, from its commitment-type-indication (spec §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureType {
    /// proofOfOrigin: the package author signed.
    Author,
    /// proofOfReceipt: a repository signed.
    Repository,
    /// No known commitment type.
    Unknown,
}

impl SignatureType {
    /// NuGet's name (`Author`, `Repository`, `Unknown`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Author => "Author",
            Self::Repository => "Repository",
            Self::Unknown => "Unknown",
        }
    }
}

/// Derives the type from every value of every commitment-type-indication attribute.
pub(crate) fn signature_type(signer: &SignerInfo) -> Result<SignatureType, Error> {
    let (_, values) = signer.signed_values(&oids::COMMITMENT_TYPE_INDICATION);
    let (mut origin, mut receipt) = (false, false);
    for v in values {
        let mut r = Reader::new(v);
        let seq = r.expect(tag::SEQUENCE, "CommitmentTypeIndication")?;
        let mut sr = seq.reader();
        let id = parse_oid(sr.expect(tag::OID, "commitmentTypeId")?, "commitmentTypeId")?;
        if let Some(q) = sr.optional(tag::SEQUENCE, "commitmentTypeQualifier")?
            && q.value.is_empty()
        {
            return Err(Error::Invalid(
                "the commitment-type-indication attribute has an empty qualifier list".into(),
            ));
        }
        sr.finish("CommitmentTypeIndication")?;
        origin |= id == oids::PROOF_OF_ORIGIN;
        receipt |= id == oids::PROOF_OF_RECEIPT;
    }
    match (origin, receipt) {
        (true, true) => Err(Error::Invalid(
            "the commitment-type-indication attribute contains an invalid combination of values"
                .into(),
        )),
        (true, false) => Ok(SignatureType::Author),
        (false, true) => Ok(SignatureType::Repository),
        (false, false) => Ok(SignatureType::Unknown),
    }
}

/// The signing-time attribute, `Ok(None)` when absent.
pub(crate) fn signing_time(signer: &SignerInfo) -> Result<Option<UtcTime>, Error> {
    match signer.single_signed_value(&oids::SIGNING_TIME) {
        Ok(None) => Ok(None),
        Ok(Some(v)) => Ok(Some(parse_time(
            Reader::new(v).next("signingTime")?,
            "signingTime",
        )?)),
        Err(_) => Err(Error::Invalid(
            "the signing-time attribute must have exactly one value".into(),
        )),
    }
}

/// One ESSCertID / ESSCertIDv2.
struct EssCertId {
    /// `None` for ESS v1 (SHA-1).
    hash_algorithm: Option<HashAlgorithm>,
    hash: Vec<u8>,
    /// First GeneralName's directoryName DER and the serial content octets.
    issuer_serial: Option<(Vec<u8>, Vec<u8>)>,
}

/// Parses a SigningCertificateV2 (`v2 = true`) or SigningCertificate value.
fn parse_signing_certificate(value: &[u8], v2: bool) -> Result<Vec<EssCertId>, Error> {
    let mut r = Reader::new(value);
    let outer = r.expect(tag::SEQUENCE, "SigningCertificate")?;
    r.finish("SigningCertificate")?;
    let mut or = outer.reader();
    let certs = or.expect(tag::SEQUENCE, "certs")?;
    or.optional(tag::SEQUENCE, "policies")?;
    if !or.is_empty() {
        return Err(Error::Invalid(
            "the signing-certificate attribute has trailing data".into(),
        ));
    }
    let mut out = Vec::new();
    let mut cr = certs.reader();
    while !cr.is_empty() {
        let id = cr.expect(tag::SEQUENCE, "ESSCertID")?;
        let mut ir = id.reader();
        let hash_algorithm = if v2 {
            match ir.optional(tag::SEQUENCE, "hashAlgorithm")? {
                None => Some(HashAlgorithm::Sha256),
                Some(t) => {
                    let alg = AlgorithmId::parse(t, "hashAlgorithm")?;
                    if !alg.params_absent_or_null() {
                        return Err(Error::Invalid(
                            "the signing-certificate-v2 hash algorithm has parameters".into(),
                        ));
                    }
                    // None here marks an unsupported algorithm; the caller reports it.
                    let h = HashAlgorithm::from_oid_str(&alg.oid.to_string());
                    if h.is_none() {
                        return Err(Error::InvalidPrimarySignature(format!(
                            "the signing-certificate-v2 attribute uses an unsupported hash algorithm ({})",
                            alg.oid
                        )));
                    }
                    h
                }
            }
        } else {
            None
        };
        let hash = ir.expect(tag::OCTET_STRING, "certHash")?.value.to_vec();
        let issuer_serial = match ir.optional(tag::SEQUENCE, "issuerSerial")? {
            None => None,
            Some(is) => {
                let mut isr = is.reader();
                let names = isr.expect(tag::SEQUENCE, "GeneralNames")?;
                let serial = isr.expect(tag::INTEGER, "serialNumber")?.value.to_vec();
                isr.finish("IssuerSerial")?;
                let mut nr = names.reader();
                if nr.is_empty() {
                    return Err(Error::InvalidPrimarySignature(
                        "the signing-certificate issuerSerial has no names".into(),
                    ));
                }
                let first = nr.next("GeneralName")?;
                if first.tag != tag::ctx_cons(4) {
                    return Err(Error::Invalid(
                        "the signing-certificate issuerSerial uses an unsupported GeneralName"
                            .into(),
                    ));
                }
                let mut dr = first.reader();
                let name = dr.expect(tag::SEQUENCE, "directoryName")?;
                dr.finish("directoryName")?;
                Some((name.raw.to_vec(), serial))
            }
        };
        ir.finish("ESSCertID")?;
        out.push(EssCertId {
            hash_algorithm,
            hash,
            issuer_serial,
        });
    }
    if out.is_empty() {
        return Err(Error::InvalidPrimarySignature(
            "the signing-certificate attribute lists no certificates".into(),
        ));
    }
    Ok(out)
}

fn issuer_serial_matches(is: &(Vec<u8>, Vec<u8>), cert: &Certificate) -> bool {
    // Deliberate difference: .NET compares rendered distinguished-name strings; signet compares
    // the DER of the Name, which is stricter and locale-free (docs/DIFFERENCES.md).
    is.0 == cert.issuer_der() && is.1 == cert.serial_bytes()
}

/// The ESS rules for a primary signature (spec §3.4): v1 forbidden, v2 required once for
/// author/repository signatures; the first ESSCertIDv2 must name and hash the signer
/// certificate. For `Unknown` signatures nothing is required but a present attribute must match.
pub(crate) fn check_primary_ess(
    signer: &SignerInfo,
    cert: &Certificate,
    required: bool,
) -> Result<(), Error> {
    let invalid = |m: &str| Error::InvalidPrimarySignature(m.to_string());
    let (v1_count, v1_values) = signer.signed_values(&oids::SIGNING_CERTIFICATE);
    let (v2_count, v2_values) = signer.signed_values(&oids::SIGNING_CERTIFICATE_V2);
    if required && v1_count > 0 {
        return Err(invalid("the signing-certificate attribute is not allowed"));
    }
    if v2_count > 1 || v2_values.len() > 1 {
        return Err(invalid(
            "the signing-certificate-v2 attribute must have exactly one value",
        ));
    }
    let Some(value) = v2_values.first() else {
        if required {
            return Err(invalid("the signing-certificate-v2 attribute is missing"));
        }
        if let Some(v1) = v1_values.first() {
            let ids = parse_signing_certificate(v1, false)?;
            if let Some(first) = ids.first()
                && (first.hash.len() != 20
                    || first
                        .issuer_serial
                        .as_ref()
                        .is_some_and(|is| !issuer_serial_matches(is, cert)))
            {
                return Err(invalid(
                    "the signing-certificate attribute does not match the signing certificate",
                ));
            }
        }
        return Ok(());
    };
    let ids = parse_signing_certificate(value, true)?;
    let first = ids
        .first()
        .ok_or_else(|| invalid("the signing-certificate-v2 attribute lists no certificates"))?;
    match &first.issuer_serial {
        Some(is) if !issuer_serial_matches(is, cert) => {
            return Err(invalid(
                "the signing-certificate-v2 issuerSerial does not match the signing certificate",
            ));
        }
        None if required => {
            return Err(invalid(
                "the signing-certificate-v2 attribute has no issuerSerial",
            ));
        }
        _ => {}
    }
    let alg = first.hash_algorithm.unwrap_or(HashAlgorithm::Sha256);
    if cert.fingerprint(alg) != first.hash {
        return Err(invalid(
            "the signing-certificate-v2 hash does not match the signing certificate",
        ));
    }
    Ok(())
}

/// The ESS rules for a timestamp token signer (spec §3.8): v1 or v2 present; v2 algorithms
/// SHA-2 and hash matching; v1 issuerSerial matching and a 20-byte hash (NuGet does not compare
/// the v1 hash value).
pub(crate) fn check_timestamp_ess(signer: &SignerInfo, cert: &Certificate) -> Result<(), String> {
    let (_, v1) = signer.signed_values(&oids::SIGNING_CERTIFICATE);
    let (_, v2) = signer.signed_values(&oids::SIGNING_CERTIFICATE_V2);
    if let Some(value) = v2.first() {
        let ids = parse_signing_certificate(value, true).map_err(|e| e.to_string())?;
        let first = ids.first().ok_or("no ESSCertIDv2")?;
        if first
            .issuer_serial
            .as_ref()
            .is_some_and(|is| !issuer_serial_matches(is, cert))
        {
            return Err(
                "the timestamp signing-certificate-v2 does not name the timestamp certificate"
                    .into(),
            );
        }
        let alg = first.hash_algorithm.unwrap_or(HashAlgorithm::Sha256);
        if cert.fingerprint(alg) != first.hash {
            return Err("the timestamp signing-certificate-v2 hash does not match the timestamp certificate".into());
        }
        return Ok(());
    }
    if let Some(value) = v1.first() {
        let ids = parse_signing_certificate(value, false).map_err(|e| e.to_string())?;
        let first = ids.first().ok_or("no ESSCertID")?;
        if first.hash.len() != 20 {
            return Err("the timestamp signing-certificate hash has the wrong length".into());
        }
        if first
            .issuer_serial
            .as_ref()
            .is_some_and(|is| !issuer_serial_matches(is, cert))
        {
            return Err(
                "the timestamp signing-certificate does not name the timestamp certificate".into(),
            );
        }
        return Ok(());
    }
    Err(
        "the timestamp has neither a signing-certificate nor a signing-certificate-v2 attribute"
            .into(),
    )
}

/// What a repository signature says about its repository (spec §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryInfo {
    /// `nuget-v3-service-index-url` (an absolute https URL).
    pub service_index: String,
    /// `nuget-package-owners`, in the order written (empty when absent).
    pub owners: Vec<String>,
}

/// Reads the repository attributes, which repository signatures require.
pub(crate) fn repository_info(signer: &SignerInfo) -> Result<RepositoryInfo, Error> {
    let (count, values) = signer.signed_values(&oids::NUGET_V3_SERVICE_INDEX_URL);
    if count > 1 {
        return Err(Error::asn1(
            "nuget-v3-service-index-url",
            "the attribute occurs more than once".into(),
        ));
    }
    let [value] = values.as_slice() else {
        return Err(Error::Invalid(
            "exactly one nuget-v3-service-index-url attribute with one value is required".into(),
        ));
    };
    let mut r = Reader::new(value);
    let s = r.expect(tag::IA5_STRING, "nuget-v3-service-index-url")?;
    let url = std::str::from_utf8(s.value)
        .ok()
        .filter(|u| u.is_ascii())
        .ok_or_else(|| {
            Error::Invalid("the nuget-v3-service-index-url attribute is not valid".into())
        })?;
    if !is_absolute_https(url) {
        return Err(Error::Invalid(format!(
            "the nuget-v3-service-index-url attribute value '{url}' is not an absolute https URL"
        )));
    }
    let (count, values) = signer.signed_values(&oids::NUGET_PACKAGE_OWNERS);
    if count > 1 {
        return Err(Error::asn1(
            "nuget-package-owners",
            "the attribute occurs more than once".into(),
        ));
    }
    let owners = match values.as_slice() {
        [] => Vec::new(),
        [v] => {
            let mut r = Reader::new(v);
            let seq = r.expect(tag::SEQUENCE, "nuget-package-owners")?;
            let mut sr = seq.reader();
            let mut owners = Vec::new();
            while !sr.is_empty() {
                let o = sr.expect(tag::UTF8_STRING, "owner")?;
                let o = std::str::from_utf8(o.value)
                    .map_err(|_| Error::Invalid("a package owner is not UTF-8".into()))?;
                if o.trim().is_empty() {
                    return Err(Error::Invalid("a package owner is empty".into()));
                }
                owners.push(o.to_string());
            }
            if owners.is_empty() {
                return Err(Error::Invalid(
                    "the nuget-package-owners attribute is empty".into(),
                ));
            }
            owners
        }
        _ => {
            return Err(Error::Invalid(
                "the nuget-package-owners attribute must have one value".into(),
            ));
        }
    };
    Ok(RepositoryInfo {
        service_index: url.to_string(),
        owners,
    })
}

/// An absolute `https://host...` URL (what .NET's `Uri` + scheme check accept, for practical
/// purposes: scheme https, a non-empty host, no whitespace).
pub fn is_absolute_https(url: &str) -> bool {
    let Some(rest) = url
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case("https://"))
        .and_then(|_| url.get(8..))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !url.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls() {
        assert!(is_absolute_https("https://api.nuget.org/v3/index.json"));
        assert!(is_absolute_https("HTTPS://x"));
        assert!(!is_absolute_https("http://api.nuget.org/v3/index.json"));
        assert!(!is_absolute_https("https:///x"));
        assert!(!is_absolute_https("https://a b"));
        assert!(!is_absolute_https("/relative"));
    }
}
