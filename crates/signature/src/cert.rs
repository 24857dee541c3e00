//! X.509 certificates as the signature and trust layers need them: raw bytes for hashing and
//! name matching, typed fields (through `x509-cert`) for policy.

use std::fmt;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use signet_common::{HashAlgorithm, UtcTime};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};

use crate::Error;
use crate::crypto::{self, PublicKey};
use crate::oids;
use crate::tlv::{Reader, tag};

/// A parsed certificate that keeps its exact DER encoding.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    inner: x509_cert::Certificate,
    tbs_range: (usize, usize),
    issuer_der: Vec<u8>,
    subject_der: Vec<u8>,
    serial: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("sha256", &self.sha256_hex())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let inner = x509_cert::Certificate::from_der(der)
            .map_err(|e| Error::asn1("certificate", e.to_string()))?;
        // RFC 5280 §4.1.1.2: the unsigned outer algorithm must equal the signed inner one, or
        // policy (NU3013) would judge an algorithm the issuer never signed.
        if inner.signature_algorithm() != inner.tbs_certificate().signature() {
            return Err(Error::asn1(
                "certificate",
                "the signature algorithm differs from the one in tbsCertificate".into(),
            ));
        }
        // Raw pieces, located with the TLV walker so they are the exact input bytes.
        let mut outer = Reader::new(der);
        let cert = outer.expect(tag::SEQUENCE, "certificate")?;
        let mut r = cert.reader();
        let tbs = r.expect(tag::SEQUENCE, "tbsCertificate")?;
        let tbs_start = tbs.raw.as_ptr() as usize - der.as_ptr() as usize;
        let mut t = tbs.reader();
        t.optional(tag::ctx_cons(0), "version")?;
        let serial = t.expect(tag::INTEGER, "serialNumber")?.value.to_vec();
        t.expect(tag::SEQUENCE, "signature")?;
        let issuer_der = t.expect(tag::SEQUENCE, "issuer")?.raw.to_vec();
        t.expect(tag::SEQUENCE, "validity")?;
        let subject_der = t.expect(tag::SEQUENCE, "subject")?.raw.to_vec();
        Ok(Self {
            der: der.to_vec(),
            inner,
            tbs_range: (tbs_start, tbs_start + tbs.raw.len()),
            issuer_der,
            subject_der,
            serial,
        })
    }

    /// Parses every certificate in a PEM bundle (non-certificate blocks are skipped).
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Self>, Error> {
        let text = std::str::from_utf8(pem).map_err(|_| Error::asn1("PEM", "not UTF-8".into()))?;
        let mut out = Vec::new();
        let mut rest = text;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        while let Some(start) = rest.find(BEGIN) {
            let after = rest.get(start + BEGIN.len()..).unwrap_or_default();
            let Some(end) = after.find(END) else {
                return Err(Error::asn1("PEM", "unterminated certificate block".into()));
            };
            let body: String = after
                .get(..end)
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = base64_decode(&body)
                .ok_or_else(|| Error::asn1("PEM", "invalid base64 in certificate block".into()))?;
            out.push(Self::from_der(&der)?);
            rest = after.get(end + END.len()..).unwrap_or_default();
        }
        Ok(out)
    }

    /// The exact DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The `tbsCertificate` bytes (what the issuer signed).
    pub fn tbs_der(&self) -> &[u8] {
        self.der
            .get(self.tbs_range.0..self.tbs_range.1)
            .unwrap_or_default()
    }

    /// The typed certificate.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.inner
    }

    /// Subject as a distinguished-name string, most specific first (`CN=…, O=…, C=US`).
    pub fn subject(&self) -> String {
        self.inner.tbs_certificate().subject().to_string()
    }

    /// Issuer as a distinguished-name string.
    pub fn issuer(&self) -> String {
        self.inner.tbs_certificate().issuer().to_string()
    }

    /// DER of the subject Name.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// DER of the issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// Content octets of the serialNumber INTEGER.
    pub fn serial_bytes(&self) -> &[u8] {
        &self.serial
    }

    /// Serial number in uppercase hex (as NuGet and Windows print it).
    pub fn serial_hex(&self) -> String {
        hex_upper(&self.serial)
    }

    /// Start of validity.
    pub fn not_before(&self) -> UtcTime {
        to_utc(self.inner.tbs_certificate().validity().not_before)
    }

    /// End of validity.
    pub fn not_after(&self) -> UtcTime {
        to_utc(self.inner.tbs_certificate().validity().not_after)
    }

    /// Fingerprint with `alg`.
    pub fn fingerprint(&self, alg: HashAlgorithm) -> Vec<u8> {
        alg.digest(&self.der)
    }

    /// Uppercase hex SHA-256 fingerprint (NuGet's `SHA256 hash:` and trusted-signer form).
    pub fn sha256_hex(&self) -> String {
        hex_upper(&self.fingerprint(HashAlgorithm::Sha256))
    }

    /// Uppercase hex SHA-1 thumbprint (display only; never used for trust decisions).
    pub fn sha1_hex(&self) -> String {
        hex_upper(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der)
                .as_ref(),
        )
    }

    /// OID of the algorithm the issuer signed this certificate with.
    pub fn signature_algorithm(&self) -> ObjectIdentifier {
        self.inner.signature_algorithm().oid
    }

    /// The issuer's signature over `tbs_der`.
    pub fn signature_value(&self) -> &[u8] {
        self.inner.signature().raw_bytes()
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        PublicKey::from_spki(self.inner.tbs_certificate().subject_public_key_info())
    }

    /// RSA modulus size in bits, or `None` when the key is not RSA.
    pub fn rsa_key_bits(&self) -> Option<usize> {
        match self.public_key() {
            Ok(PublicKey::Rsa { bits, .. }) => Some(bits),
            _ => None,
        }
    }

    /// Extended key usages; `None` when the certificate has no EKU extension (valid for any use).
    pub fn extended_key_usages(&self) -> Option<Vec<ObjectIdentifier>> {
        match self
            .inner
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
        {
            Ok(Some((_, eku))) => Some(eku.0),
            // An undecodable EKU extension grants nothing.
            Err(_) => Some(Vec::new()),
            Ok(None) => None,
        }
    }

    /// Whether the EKU extension is marked critical.
    pub fn extended_key_usage_critical(&self) -> bool {
        matches!(
            self.inner
                .tbs_certificate()
                .get_extension::<ExtendedKeyUsage>(),
            Ok(Some((true, _)))
        )
    }

    /// Whether `eku` is allowed: listed, or no EKU extension at all.
    pub fn allows_eku(&self, eku: &ObjectIdentifier) -> bool {
        match self.extended_key_usages() {
            None => true,
            Some(list) => list.contains(eku) || list.contains(&oids::ANY_EKU),
        }
    }

    /// Subject key identifier extension value.
    pub fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        match self
            .inner
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
        {
            Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// Authority key identifier (keyIdentifier field) extension value.
    pub fn authority_key_identifier(&self) -> Option<Vec<u8>> {
        match self
            .inner
            .tbs_certificate()
            .get_extension::<AuthorityKeyIdentifier>()
        {
            Ok(Some((_, aki))) => aki.key_identifier.map(|k| k.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// Basic constraints: `Some((is_ca, path_len))`, or `None` when absent.
    pub fn basic_constraints(&self) -> Option<(bool, Option<u8>)> {
        match self
            .inner
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
        {
            Ok(Some((_, bc))) => Some((bc.ca, bc.path_len_constraint)),
            Ok(None) => None,
            Err(_) => Some((false, None)),
        }
    }

    /// Whether the key usage extension (if present) allows signing certificates.
    pub fn key_usage_allows_cert_sign(&self) -> bool {
        match self.inner.tbs_certificate().get_extension::<KeyUsage>() {
            Ok(Some((_, ku))) => ku.0.contains(KeyUsages::KeyCertSign),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Whether subject and issuer names are byte-identical.
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// Whether `issuer`'s key verifies this certificate's signature.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        let Ok(key) = issuer.public_key() else {
            return false;
        };
        let Some(scheme) =
            crypto::scheme_for_signature_algorithm(&self.inner.signature_algorithm().oid)
        else {
            return false;
        };
        key.verify(scheme, self.tbs_der(), self.signature_value())
            .is_ok()
    }

    /// Encodes the certificate's issuer Name (DER) — same as `issuer_der`, via `x509-cert`.
    pub fn issuer_name_reencoded(&self) -> Option<Vec<u8>> {
        self.inner.tbs_certificate().issuer().to_der().ok()
    }
}

fn to_utc(t: x509_cert::time::Time) -> UtcTime {
    let d = t.to_unix_duration();
    UtcTime::from_unix_micros(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Uppercase hex.
pub fn hex_upper(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A certificate's DER and its subject Name DER.
pub type CertificateAndSubject<'a> = (&'a [u8], &'a [u8]);

/// Splits concatenated DER certificates into their encodings and returns each with its subject
/// Name DER, without fully parsing them (used to index large root bundles cheaply).
pub fn index_der_certificates(data: &[u8]) -> Result<Vec<CertificateAndSubject<'_>>, Error> {
    let mut out = Vec::new();
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let cert = r.expect(tag::SEQUENCE, "certificate")?;
        let mut cr = cert.reader();
        let tbs = cr.expect(tag::SEQUENCE, "tbsCertificate")?;
        let mut t = tbs.reader();
        t.optional(tag::ctx_cons(0), "version")?;
        t.expect(tag::INTEGER, "serialNumber")?;
        t.expect(tag::SEQUENCE, "signature")?;
        t.expect(tag::SEQUENCE, "issuer")?;
        t.expect(tag::SEQUENCE, "validity")?;
        let subject = t.expect(tag::SEQUENCE, "subject")?.raw;
        out.push((cert.raw, subject));
    }
    Ok(out)
}
