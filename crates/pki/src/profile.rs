//! The certificate profiles of the development PKI, as rcgen parameters.
//!
//! rcgen 0.14 writes the EKU extension non-critical and has no AuthorityInfoAccess field, so
//! the TSA's EKU (RFC 3161 §2.3: exactly one, critical, timeStamping) and the AIA (RFC 5280
//! §4.2.2.1) are custom extensions encoded with `x509-cert`.

use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use signet_common::{HashAlgorithm, UtcTime};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, ExtendedKeyUsage};

use crate::error::Error;
use crate::model::{CertName, DAY_MICROS, to_offset};

/// How far before `now` certificates start (one hour).
pub(crate) const BACKDATE_MICROS: i64 = 3_600 * 1_000_000;

/// The organisation in every subject.
pub(crate) const ORGANIZATION: &str = "signet development PKI";

/// Validity of the two CAs: ten years (3,652 days) from `now`.
pub(crate) const CA_VALIDITY_DAYS: i64 = 3_652;
/// Validity of the leaves: one year from `now`.
pub(crate) const LEAF_VALIDITY_DAYS: i64 = 365;

const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The URLs `pki serve` answers, all on 127.0.0.1 at the port chosen at `init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Urls {
    base: String,
}

impl Urls {
    /// The URLs for `port`.
    pub fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The URLs under `base` (no trailing slash).
    pub fn with_base(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The CRL of CA `ca`: `/crl/<ca>.crl`.
    pub fn crl(&self, ca: CertName) -> String {
        format!("{}/crl/{}.crl", self.base, ca.as_str())
    }

    /// The CA certificate (DER) named in AIA caIssuers: `/ca/<ca>.cer`.
    pub fn ca_certificate(&self, ca: CertName) -> String {
        format!("{}/ca/{}.cer", self.base, ca.as_str())
    }

    /// The OCSP responder: `/ocsp`.
    pub fn ocsp(&self) -> String {
        format!("{}/ocsp", self.base)
    }

    /// The RFC 3161 timestamp authority: `/tsa`.
    pub fn tsa(&self) -> String {
        format!("{}/tsa", self.base)
    }
}

/// The subject name of `name`.
pub(crate) fn distinguished_name(name: CertName) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name.common_name());
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn
}

/// The subject as text for the state file.
pub(crate) fn subject_text(name: CertName) -> String {
    format!("CN={}, O={ORGANIZATION}", name.common_name())
}

/// A serial derived from the subject public key: SHA-256 of the key, first 16 bytes, top bit
/// cleared (a positive INTEGER) and second-highest set (no leading zero octet). Unique per key
/// without an RNG, and different each time `init` makes new keys, so caches holding an old
/// PKI's answers never match a new one.
pub(crate) fn serial_for(key: &impl PublicKeyData) -> Vec<u8> {
    let mut digest = HashAlgorithm::Sha256.digest(key.der_bytes());
    digest.truncate(16);
    if let Some(first) = digest.first_mut() {
        *first = (*first & 0x3f) | 0x40;
    }
    digest
}

/// The parameters of `name` as a CA that signs (only the fields an rcgen `Issuer` reads
/// matter here: subject, key usages and key identifier method).
pub(crate) fn issuer_params(name: CertName) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        // OCSP responses are signed by the CA key itself (RFC 6960 §4.2.2.2, the issuer as
        // responder), which is a digital signature.
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// The full parameters of certificate `name`, valid from `now`.
pub(crate) fn params(
    name: CertName,
    serial: Vec<u8>,
    now: UtcTime,
    urls: &Urls,
) -> Result<CertificateParams, Error> {
    let mut params = if name.is_ca() {
        issuer_params(name)
    } else {
        let mut p = CertificateParams::default();
        p.distinguished_name = distinguished_name(name);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p
    };
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let days = if name.is_ca() {
        CA_VALIDITY_DAYS
    } else {
        LEAF_VALIDITY_DAYS
    };
    // Backdated: NuGet requires the timestamp's lower limit (genTime − accuracy) to be strictly
    // after notBefore (spec §5.4 step 6), so a package signed and timestamped within a second
    // of `init` would otherwise fail with NU3037; an hour also absorbs clock skew.
    params.not_before = to_offset(now.add_micros(-BACKDATE_MICROS));
    params.not_after = to_offset(now.add_micros(days * DAY_MICROS));
    params.is_ca = match name {
        CertName::Root => IsCa::Ca(BasicConstraints::Unconstrained),
        CertName::Intermediate => IsCa::Ca(BasicConstraints::Constrained(0)),
        // CA:FALSE written explicitly, with a SubjectKeyIdentifier.
        _ => IsCa::ExplicitNoCa,
    };
    match name {
        CertName::CodeSigning | CertName::Repository => {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        }
        CertName::Tsa => {
            let eku = ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING])
                .to_der()
                .map_err(Error::der("encoding the timeStamping EKU"))?;
            let mut ext = CustomExtension::from_oid_content(OID_EXT_KEY_USAGE, eku);
            ext.set_criticality(true);
            params.custom_extensions.push(ext);
        }
        CertName::Root | CertName::Intermediate => {}
    }
    if let Some(issuer) = name.issuer() {
        params.use_authority_key_identifier_extension = true;
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![urls.crl(issuer)],
        }];
        params
            .custom_extensions
            .push(authority_info_access(urls, issuer)?);
    }
    Ok(params)
}

/// AuthorityInfoAccess with the OCSP responder and the issuer's certificate.
fn authority_info_access(urls: &Urls, issuer: CertName) -> Result<CustomExtension, Error> {
    let uri = |s: String| -> Result<GeneralName, Error> {
        Ia5String::new(&s)
            .map(GeneralName::UniformResourceIdentifier)
            .map_err(Error::der("encoding a URL"))
    };
    let aia = AuthorityInfoAccessSyntax(vec![
        AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: uri(urls.ocsp())?,
        },
        AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: uri(urls.ca_certificate(issuer))?,
        },
    ])
    .to_der()
    .map_err(Error::der("encoding AuthorityInfoAccess"))?;
    // RFC 5280 §4.2.2.1: MUST be non-critical.
    Ok(CustomExtension::from_oid_content(
        OID_AUTHORITY_INFO_ACCESS,
        aia,
    ))
}
