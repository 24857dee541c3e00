//! Certificate revocation lists, RFC 5280 §5: decoding within limits, the signature check with
//! the issuer's key, currency (thisUpdate/nextUpdate) and the lookup of one serial number with
//! its reason code (2.5.29.21) and invalidity date (2.5.29.24).
//!
//! The fields are `x509-cert` types (`Name`, `Time`, `Extensions`, `RevokedCert`), but the list
//! is not decoded as one `x509_cert::crl::CertificateList`: that would materialise every entry
//! (a 30 MB CRL holds hundreds of thousands), when a check needs one. The entries are walked
//! as raw TLVs, comparing serial numbers, and only the matching entry is decoded.

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use signet_common::UtcTime;
use signet_signature::tlv::{Reader, tag};
use signet_signature::{Certificate, scheme_for_signature_algorithm};
use x509_cert::crl::RevokedCert;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::{CrlReason, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::Error;
use crate::limits::RevocationLimits;
use crate::ocsp::invalidity_date;
use crate::status::{RevocationReason, RevocationStatus};

/// id-ce-cRLReasons (2.5.29.21).
const ID_CE_CRL_REASONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
/// id-ce-invalidityDate (2.5.29.24).
const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");
/// id-ce-cRLNumber (2.5.29.20).
const ID_CE_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
/// id-ce-deltaCRLIndicator (2.5.29.27).
const ID_CE_DELTA_CRL_INDICATOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.27");
/// id-ce-issuingDistributionPoint (2.5.29.28).
const ID_CE_ISSUING_DISTRIBUTION_POINT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.28");
/// id-ce-authorityKeyIdentifier (2.5.29.35).
const ID_CE_AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// id-ce-freshestCRL (2.5.29.46).
const ID_CE_FRESHEST_CRL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.46");

/// How far an issuer's clock may be ahead of or behind ours.
const CLOCK_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;
/// How long a CRL without nextUpdate counts as current after its thisUpdate.
const NO_NEXT_UPDATE_LIFETIME_MICROS: i64 = 24 * 3600 * 1_000_000;

/// A decoded CRL. Its signature is checked against an issuer by [`Crl::status_of`].
#[derive(Clone, Debug)]
pub struct Crl {
    der: Vec<u8>,
    /// Range of `tbsCertList` in `der` (what the issuer signed).
    tbs: (usize, usize),
    /// Range of the `revokedCertificates` contents in `der`, if present.
    revoked: Option<(usize, usize)>,
    issuer_der: Vec<u8>,
    this_update: UtcTime,
    next_update: Option<UtcTime>,
    extensions: Extensions,
    signature_algorithm: ObjectIdentifier,
    signature: Vec<u8>,
}

fn asn1(what: &'static str) -> impl Fn(signet_signature::Error) -> Error {
    move |e| Error::asn1(what, e)
}

fn range_of(outer: &[u8], inner: &[u8]) -> (usize, usize) {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    (start, start + inner.len())
}

fn time_of(raw: &[u8]) -> Result<UtcTime, Error> {
    let t = Time::from_der(raw).map_err(|e| Error::asn1("CRL time", e))?;
    Ok(UtcTime::from_unix_micros(
        i64::try_from(t.to_unix_duration().as_micros()).unwrap_or(i64::MAX),
    ))
}

impl Crl {
    /// Decodes a DER CRL within `limits`.
    pub fn decode(der: &[u8], limits: &RevocationLimits) -> Result<Self, Error> {
        if der.len() > limits.max_crl_size {
            return Err(Error::Limit {
                what: "CRL size",
                limit: limits.max_crl_size,
            });
        }
        let mut outer = Reader::new(der);
        let list = outer
            .expect(tag::SEQUENCE, "CertificateList")
            .map_err(asn1("CRL"))?;
        outer.finish("CertificateList").map_err(asn1("CRL"))?;
        let mut r = list.reader();
        let tbs = r
            .expect(tag::SEQUENCE, "tbsCertList")
            .map_err(asn1("CRL"))?;
        let alg = r
            .expect(tag::SEQUENCE, "signatureAlgorithm")
            .map_err(asn1("CRL"))?;
        let sig = r.expect(0x03, "signatureValue").map_err(asn1("CRL"))?;
        r.finish("CertificateList").map_err(asn1("CRL"))?;
        let signature_algorithm = spki::AlgorithmIdentifierOwned::from_der(alg.raw)
            .map_err(|e| Error::asn1("CRL signatureAlgorithm", e))?
            .oid;
        // BIT STRING: one byte of unused bits (0 for signatures), then the value.
        let signature = match sig.value.split_first() {
            Some((0, rest)) => rest.to_vec(),
            _ => return Err(Error::asn1("CRL", "malformed signature BIT STRING")),
        };

        let mut t = tbs.reader();
        if let Some(v) = t.optional(tag::INTEGER, "version").map_err(asn1("CRL"))?
            && v.value != [1]
        {
            return Err(Error::asn1("CRL", "version is not v2"));
        }
        let inner_alg = t.expect(tag::SEQUENCE, "signature").map_err(asn1("CRL"))?;
        if inner_alg.raw != alg.raw {
            return Err(Error::CrlUnusable(
                "the signature algorithm inside and outside tbsCertList differ",
            ));
        }
        let issuer = t.expect(tag::SEQUENCE, "issuer").map_err(asn1("CRL"))?;
        let this_update = time_of(t.next("thisUpdate").map_err(asn1("CRL"))?.raw)?;
        let mut next_update = None;
        if matches!(t.peek_tag(), Some(tag::UTC_TIME | tag::GENERALIZED_TIME)) {
            next_update = Some(time_of(t.next("nextUpdate").map_err(asn1("CRL"))?.raw)?);
        }
        let revoked = t
            .optional(tag::SEQUENCE, "revokedCertificates")
            .map_err(asn1("CRL"))?
            .map(|seq| range_of(der, seq.value));
        let mut extensions = Extensions::new();
        if let Some(exts) = t
            .optional(tag::ctx_cons(0), "crlExtensions")
            .map_err(asn1("CRL"))?
        {
            extensions =
                Extensions::from_der(exts.value).map_err(|e| Error::asn1("crlExtensions", e))?;
            if extensions.len() > limits.max_extensions {
                return Err(Error::Limit {
                    what: "CRL extensions",
                    limit: limits.max_extensions,
                });
            }
        }
        t.finish("tbsCertList").map_err(asn1("CRL"))?;
        Ok(Self {
            der: der.to_vec(),
            tbs: range_of(der, tbs.raw),
            revoked,
            issuer_der: issuer.raw.to_vec(),
            this_update,
            next_update,
            extensions,
            signature_algorithm,
            signature,
        })
    }

    /// The DER encoding, as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// thisUpdate.
    pub fn this_update(&self) -> UtcTime {
        self.this_update
    }

    /// nextUpdate, if given.
    pub fn next_update(&self) -> Option<UtcTime> {
        self.next_update
    }

    /// Until when the CRL may be used: nextUpdate, or a day after thisUpdate without one.
    pub fn expires(&self) -> UtcTime {
        self.next_update
            .unwrap_or(self.this_update.add_micros(NO_NEXT_UPDATE_LIFETIME_MICROS))
    }

    /// DER of the issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    fn slice(&self, range: (usize, usize)) -> &[u8] {
        self.der.get(range.0..range.1).unwrap_or_default()
    }

    /// Checks that `issuer` issued this CRL and that it is current at `now`, and that it is a
    /// complete CRL covering `certificate`; then looks the certificate up. A CRL entry with
    /// reason removeFromCRL does not count as a revocation.
    pub fn status_of(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        now: UtcTime,
    ) -> Result<RevocationStatus, Error> {
        self.check_issuer(issuer)?;
        self.check_current(now)?;
        self.check_scope(certificate)?;
        let Some(range) = self.revoked else {
            return Ok(RevocationStatus::Good);
        };
        let mut wanted = Vec::new();
        certificate
            .x509()
            .tbs_certificate()
            .serial_number()
            .encode_to_vec(&mut wanted)
            .map_err(|e| Error::asn1("serial number", e))?;
        let mut entries = Reader::new(self.slice(range));
        while !entries.is_empty() {
            let entry = entries
                .expect(tag::SEQUENCE, "revokedCertificate")
                .map_err(asn1("CRL entry"))?;
            let serial = entry
                .reader()
                .expect(tag::INTEGER, "userCertificate")
                .map_err(asn1("CRL entry"))?;
            if serial.raw != wanted.as_slice() {
                continue;
            }
            let revoked: RevokedCert =
                RevokedCert::from_der(entry.raw).map_err(|e| Error::asn1("CRL entry", e))?;
            return Self::entry_status(&revoked);
        }
        Ok(RevocationStatus::Good)
    }

    fn entry_status(entry: &RevokedCert) -> Result<RevocationStatus, Error> {
        let exts = entry.crl_entry_extensions.as_ref();
        let mut reason = None;
        for ext in exts.into_iter().flatten() {
            match ext.extn_id {
                ID_CE_CRL_REASONS => {
                    reason = Some(RevocationReason::from(
                        CrlReason::from_der(ext.extn_value.as_bytes())
                            .map_err(|e| Error::asn1("CRL reason code", e))?,
                    ));
                }
                ID_CE_INVALIDITY_DATE => {}
                // certificateIssuer (indirect CRLs) and anything else critical: RFC 5280 §5.3
                // says a CRL with an unrecognised critical entry extension must not be used.
                _ if ext.critical => {
                    return Err(Error::CrlUnusable("an entry has a critical extension"));
                }
                _ => {}
            }
        }
        if reason == Some(RevocationReason::RemoveFromCrl) {
            return Ok(RevocationStatus::Good);
        }
        Ok(RevocationStatus::Revoked {
            time: UtcTime::from_unix_micros(
                i64::try_from(entry.revocation_date.to_unix_duration().as_micros())
                    .unwrap_or(i64::MAX),
            ),
            reason,
            invalidity_date: invalidity_date(exts),
        })
    }

    fn check_issuer(&self, issuer: &Certificate) -> Result<(), Error> {
        if !names_equal(&self.issuer_der, issuer.subject_der()) {
            return Err(Error::CrlUnusable(
                "the CRL issuer is not the certificate's issuer",
            ));
        }
        if let Ok(Some((_, ku))) = issuer.x509().tbs_certificate().get_extension::<KeyUsage>()
            && !ku.0.contains(KeyUsages::CRLSign)
        {
            return Err(Error::CrlUnusable(
                "the issuer's key usage does not allow cRLSign",
            ));
        }
        let scheme = scheme_for_signature_algorithm(&self.signature_algorithm)
            .ok_or(Error::BadSignature("CRL (unsupported algorithm)"))?;
        let key = issuer
            .public_key()
            .map_err(|_| Error::BadSignature("CRL (unreadable issuer key)"))?;
        key.verify(scheme, self.slice(self.tbs), &self.signature)
            .map_err(|_| Error::BadSignature("CRL"))
    }

    fn check_current(&self, now: UtcTime) -> Result<(), Error> {
        if self.this_update > now.add_micros(CLOCK_SKEW_MICROS) {
            return Err(Error::NotCurrent {
                what: "CRL",
                detail: format!("thisUpdate {} is in the future", self.this_update),
            });
        }
        if self.expires().add_micros(CLOCK_SKEW_MICROS) < now {
            return Err(Error::NotCurrent {
                what: "CRL",
                detail: format!("it expired at {}", self.expires()),
            });
        }
        Ok(())
    }

    /// Only complete CRLs for the certificate's kind are used: no delta CRLs, no indirect
    /// CRLs, no CRLs partitioned by reason, and a CA-only or user-only CRL only for that kind.
    fn check_scope(&self, certificate: &Certificate) -> Result<(), Error> {
        for ext in &self.extensions {
            match ext.extn_id {
                ID_CE_DELTA_CRL_INDICATOR => return Err(Error::CrlUnusable("a delta CRL")),
                ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    let idp = IssuingDistributionPoint::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| Error::asn1("issuingDistributionPoint", e))?;
                    let is_ca = certificate.basic_constraints().is_some_and(|(ca, _)| ca);
                    if idp.indirect_crl {
                        return Err(Error::CrlUnusable("an indirect CRL"));
                    }
                    if idp.only_some_reasons.is_some() {
                        return Err(Error::CrlUnusable("a CRL for only some reasons"));
                    }
                    if idp.only_contains_attribute_certs
                        || (idp.only_contains_ca_certs && !is_ca)
                        || (idp.only_contains_user_certs && is_ca)
                    {
                        return Err(Error::CrlUnusable(
                            "the CRL does not cover this kind of certificate",
                        ));
                    }
                }
                ID_CE_CRL_NUMBER | ID_CE_AUTHORITY_KEY_IDENTIFIER | ID_CE_FRESHEST_CRL => {}
                _ if ext.critical => {
                    return Err(Error::CrlUnusable("an unrecognised critical CRL extension"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Names compare by DER bytes, falling back to a comparison of the decoded names (which
/// tolerates a non-canonical encoding on one side).
fn names_equal(a: &[u8], b: &[u8]) -> bool {
    a == b
        || matches!(
            (Name::from_der(a), Name::from_der(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_test_support::{RevocationReason as Reason, RevokedEntry, pki, root_crl};

    const DAY: i64 = 24 * 3600 * 1_000_000;

    fn t0() -> UtcTime {
        UtcTime::from_civil(2026, 6, 2, 16, 32, 0, 0).unwrap()
    }

    fn cert(der: &[u8]) -> Certificate {
        Certificate::from_der(der).unwrap()
    }

    fn sample() -> Vec<u8> {
        let p = pki();
        let intermediate = cert(&p.intermediate.cert_der);
        root_crl(
            &[
                RevokedEntry {
                    serial: vec![0x7f, 0x01],
                    time: t0(),
                    reason: Some(Reason::AffiliationChanged),
                    invalidity_date: None,
                },
                RevokedEntry {
                    serial: intermediate.serial_bytes().to_vec(),
                    time: t0(),
                    reason: Some(Reason::Superseded),
                    invalidity_date: Some(t0().add_micros(-DAY)),
                },
            ],
            t0(),
            t0().add_micros(7 * DAY),
        )
    }

    #[test]
    fn finds_the_entry_with_reason_and_invalidity_date() {
        let p = pki();
        let (root, intermediate) = (cert(&p.root.cert_der), cert(&p.intermediate.cert_der));
        let crl = Crl::decode(&sample(), &RevocationLimits::default()).unwrap();
        assert_eq!(crl.this_update(), t0());
        assert_eq!(crl.next_update(), Some(t0().add_micros(7 * DAY)));
        let status = crl
            .status_of(&intermediate, &root, t0().add_micros(DAY))
            .unwrap();
        assert_eq!(
            status,
            RevocationStatus::Revoked {
                time: t0(),
                reason: Some(RevocationReason::Superseded),
                invalidity_date: Some(t0().add_micros(-DAY)),
            }
        );
        // Not current before thisUpdate (beyond the skew) or after nextUpdate.
        assert!(matches!(
            crl.status_of(&intermediate, &root, t0().add_micros(-DAY)),
            Err(Error::NotCurrent { .. })
        ));
        assert!(matches!(
            crl.status_of(&intermediate, &root, t0().add_micros(8 * DAY)),
            Err(Error::NotCurrent { .. })
        ));
        // Signed by the root: not usable for a certificate the intermediate issued.
        let leaf = cert(&p.code_signing.cert_der);
        assert!(matches!(
            crl.status_of(&leaf, &intermediate, t0()),
            Err(Error::CrlUnusable(_))
        ));
    }

    #[test]
    fn size_limit() {
        let der = sample();
        let limits = RevocationLimits {
            max_crl_size: der.len() - 1,
            ..RevocationLimits::default()
        };
        assert!(matches!(
            Crl::decode(&der, &limits),
            Err(Error::Limit { .. })
        ));
    }

    proptest::proptest! {
        /// Any single-byte change is an error or a different answer, never a panic; a change
        /// inside the signed part never yields a status.
        #[test]
        fn mutations_never_panic(index in 0usize..2000, xor in 1u8..=255) {
            let p = pki();
            let (root, intermediate) = (cert(&p.root.cert_der), cert(&p.intermediate.cert_der));
            let mut der = sample();
            let i = index % der.len();
            der[i] ^= xor;
            if let Ok(crl) = Crl::decode(&der, &RevocationLimits::default()) {
                let result = crl.status_of(&intermediate, &root, t0());
                let (start, end) = crl.tbs;
                if (start..end).contains(&i) {
                    proptest::prop_assert!(result.is_err());
                }
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = Crl::decode(&bytes, &RevocationLimits::default());
        }
    }
}
