//! Trust by identity: an author trusted by stable subject attributes of its code-signing
//! certificate **and** the key of the CA that issued it, so that a renewal by the same CA (new
//! key, new fingerprint, same organization) keeps matching, while the same name from another CA
//! — anyone can put "O=Contoso" in a request to some CA — does not.
//!
//! What this trusts more than a fingerprint pin: any certificate the pinned CA issues with
//! those subject attributes. That is the CA's job (organization validation for OV/EV code
//! signing); the pin on the CA's key (SPKI SHA-256, not its name) keeps a forged subject from
//! another CA out (the criticism of subject-only trust, actions/runner-images#12474).

use der::Encode;
use signet_common::HashAlgorithm;
use signet_signature::Certificate;

/// Subject attributes an identity may name, by the short names `openssl` and RFC 4514 print.
/// Only attributes a CA validates for code signing (organization, common name, the EV fields).
pub const SUBJECT_ATTRIBUTES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("serialNumber", "2.5.4.5"),
    ("businessCategory", "2.5.4.15"),
    ("jurisdictionC", "1.3.6.1.4.1.311.60.2.1.3"),
    ("jurisdictionST", "1.3.6.1.4.1.311.60.2.1.2"),
    ("jurisdictionL", "1.3.6.1.4.1.311.60.2.1.1"),
];

/// The OID of a subject attribute short name (case-insensitive), if it is one of
/// [`SUBJECT_ATTRIBUTES`].
pub fn subject_attribute_oid(name: &str) -> Option<&'static str> {
    SUBJECT_ATTRIBUTES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, oid)| *oid)
}

/// An author trusted by identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIdentity {
    /// Its name (shown when it matches).
    pub name: String,
    /// `(short name, value)`: each must appear in the signer certificate's subject with exactly
    /// this value.
    pub subject: Vec<(String, String)>,
    /// Upper-case hex SHA-256 of the SubjectPublicKeyInfo of each CA that may have issued the
    /// certificate; at least one.
    pub issuer_spki_sha256: Vec<String>,
}

impl TrustedIdentity {
    /// Whether `leaf` (with the signature's other certificates, where its issuer is) is this
    /// identity: every subject attribute present with the same value, and `leaf` signed by a
    /// certificate whose key is pinned. Validity is not looked at: the verifier judges it (at
    /// the timestamp), as for fingerprints.
    pub fn matches(&self, leaf: &Certificate, bag: &[Certificate]) -> bool {
        if self.subject.is_empty() || self.issuer_spki_sha256.is_empty() {
            return false;
        }
        let have = subject_attributes(leaf);
        let subject_ok = self.subject.iter().all(|(name, value)| {
            subject_attribute_oid(name)
                .is_some_and(|oid| have.iter().any(|(o, v)| o == oid && v == value))
        });
        subject_ok
            && bag.iter().any(|issuer| {
                spki_sha256(issuer).is_some_and(|fp| {
                    self.issuer_spki_sha256
                        .iter()
                        .any(|pin| pin.eq_ignore_ascii_case(&fp))
                }) && leaf.is_signed_by(issuer)
            })
    }
}

/// Upper-case hex SHA-256 of the certificate's DER SubjectPublicKeyInfo (the key, whatever
/// name or validity the CA certificate carries: a re-issued CA certificate with the same key
/// keeps matching).
pub fn spki_sha256(cert: &Certificate) -> Option<String> {
    let der = cert
        .x509()
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .ok()?;
    Some(signet_signature::hex_upper(
        &HashAlgorithm::Sha256.digest(&der),
    ))
}

/// The subject's attributes as `(OID text, value)`, in order. String types are read as text
/// (BMPString as UTF-16); other types are skipped.
pub fn subject_attributes(cert: &Certificate) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rdn in cert.x509().tbs_certificate().subject().iter_rdn() {
        for atv in rdn.iter() {
            let bytes = atv.value.value();
            let text = match der::Tagged::tag(&atv.value) {
                der::Tag::Utf8String
                | der::Tag::PrintableString
                | der::Tag::Ia5String
                | der::Tag::TeletexString
                | der::Tag::VisibleString => String::from_utf8_lossy(bytes).into_owned(),
                der::Tag::BmpString => {
                    let units: Vec<u16> = bytes
                        .chunks_exact(2)
                        .map(|c| match c {
                            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                            _ => 0xfffd,
                        })
                        .collect();
                    String::from_utf16_lossy(&units)
                }
                _ => continue,
            };
            out.push((atv.oid.to_string(), text));
        }
    }
    out
}

/// The subject as `(short name, value)` for the attributes of [`SUBJECT_ATTRIBUTES`], for
/// proposing an identity from a certificate.
pub fn named_subject_attributes(cert: &Certificate) -> Vec<(String, String)> {
    subject_attributes(cert)
        .into_iter()
        .filter_map(|(oid, v)| {
            SUBJECT_ATTRIBUTES
                .iter()
                .find(|(_, o)| *o == oid)
                .map(|(n, _)| ((*n).to_string(), v))
        })
        .collect()
}
