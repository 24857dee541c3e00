//! Certificates that publish revocation status, and the CRLs that answer for them: an
//! intermediate CA issued by the test root whose certificates carry an OCSP responder
//! (AuthorityInfoAccess) and a CRL distribution point, both URLs chosen by the test (usually a
//! loopback port picked at test time).

use rcgen::{
    CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, CustomExtension,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, RevocationReason, RevokedCertParams,
    SerialNumber,
};
use signet_common::UtcTime;
use time::OffsetDateTime;

use super::{
    CertKey, EKU_TIME_STAMPING_ONLY, NEXT_SERIAL, OID_EXT_KEY_USAGE, ca_params, issue, leaf_params,
    load_key, new_rsa_2048_key, pki, root_params,
};
use crate::pem::pem_encode;

/// authorityInfoAccess (1.3.6.1.5.5.7.1.1), written by hand: rcgen has no builder for it.
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// DER of id-ad-ocsp (1.3.6.1.5.5.7.48.1), the OBJECT IDENTIFIER element.
const ID_AD_OCSP_DER: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9).
const OID_KP_OCSP_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 9];

/// Where a certificate's revocation status is published. `None` leaves the extension out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationUrls {
    /// OCSP responder, in AuthorityInfoAccess.
    pub ocsp: Option<String>,
    /// CRL distribution point.
    pub crl: Option<String>,
}

/// One revoked certificate in a CRL made by [`RevocableCa::crl`] or [`root_crl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The serial number's content octets (as `Certificate::serial_bytes` gives them).
    pub serial: Vec<u8>,
    /// revocationDate.
    pub time: UtcTime,
    /// The reason code entry extension, if any.
    pub reason: Option<RevocationReason>,
    /// The invalidity date entry extension, if any.
    pub invalidity_date: Option<UtcTime>,
}

/// An intermediate CA issued by the [`pki`] root, publishing its own status at `urls` (the
/// root answers for it with [`root_crl`]) and issuing leaves that publish theirs.
pub struct RevocableCa {
    /// The CA certificate and key.
    pub cert: CertKey,
    params: CertificateParams,
}

impl std::fmt::Debug for RevocableCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocableCa")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// `AuthorityInfoAccessSyntax ::= SEQUENCE { AccessDescription { id-ad-ocsp, [6] URI } }`.
fn aia_extension(ocsp_url: &str) -> CustomExtension {
    let mut description = ID_AD_OCSP_DER.to_vec();
    description.extend(der(0x86, ocsp_url.as_bytes()));
    let value = der(0x30, &der(0x30, &description));
    CustomExtension::from_oid_content(OID_AUTHORITY_INFO_ACCESS, value)
}

fn publish(params: &mut CertificateParams, urls: &RevocationUrls) {
    if let Some(url) = &urls.ocsp {
        params.custom_extensions.push(aia_extension(url));
    }
    if let Some(url) = &urls.crl {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.clone()],
        }];
    }
}

fn offset(t: UtcTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.unix_seconds()).expect("a representable time")
}

fn crl_der(
    issuer: &Issuer<'_, rcgen::KeyPair>,
    revoked: &[RevokedEntry],
    this_update: UtcTime,
    next_update: UtcTime,
) -> Vec<u8> {
    let params = CertificateRevocationListParams {
        this_update: offset(this_update),
        next_update: offset(next_update),
        crl_number: SerialNumber::from_slice(
            &u64::try_from(this_update.unix_seconds())
                .unwrap_or(1)
                .to_be_bytes(),
        ),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&r.serial),
                revocation_time: offset(r.time),
                reason_code: r.reason,
                invalidity_date: r.invalidity_date.map(offset),
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params
        .signed_by(issuer)
        .expect("signing a test CRL")
        .der()
        .to_vec()
}

/// A CRL signed by the [`pki`] root (it answers for intermediates such as
/// [`RevocableCa::cert`]).
pub fn root_crl(revoked: &[RevokedEntry], this_update: UtcTime, next_update: UtcTime) -> Vec<u8> {
    let issuer = Issuer::new(root_params(), load_key(&pki().root.key_pkcs8_der));
    crl_der(&issuer, revoked, this_update, next_update)
}

impl RevocableCa {
    /// A new intermediate (fresh RSA-2048 key, pathlen 0, keyCertSign|cRLSign) publishing its
    /// status at `urls`.
    pub fn new(urls: &RevocationUrls) -> Self {
        let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut params = ca_params(
            &format!("signet test revocable CA {serial:x}"),
            serial,
            IsCa::Ca(rcgen::BasicConstraints::Constrained(0)),
        );
        params.use_authority_key_identifier_extension = true;
        publish(&mut params, urls);
        let root = Issuer::new(root_params(), load_key(&pki().root.key_pkcs8_der));
        let cert = issue(&params, new_rsa_2048_key(), &root);
        Self { cert, params }
    }

    fn issuer(&self) -> Issuer<'_, rcgen::KeyPair> {
        Issuer::from_params(&self.params, load_key(&self.cert.key_pkcs8_der))
    }

    fn leaf(&self, common_name: &str, urls: &RevocationUrls) -> CertificateParams {
        let mut params = leaf_params(
            common_name,
            NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        publish(&mut params, urls);
        params
    }

    /// A code-signing leaf (the profile of `TestPki::code_signing`) publishing at `urls`.
    pub fn code_signing(&self, urls: &RevocationUrls) -> CertKey {
        let params = self.leaf("signet test revocable code signing", urls);
        issue(&params, new_rsa_2048_key(), &self.issuer())
    }

    /// A TSA leaf (critical timeStamping EKU alone) publishing at `urls`.
    pub fn timestamping(&self, urls: &RevocationUrls) -> CertKey {
        let mut params = self.leaf("signet test revocable timestamping", urls);
        params.extended_key_usages.clear();
        let mut eku =
            CustomExtension::from_oid_content(OID_EXT_KEY_USAGE, EKU_TIME_STAMPING_ONLY.to_vec());
        eku.set_criticality(true);
        params.custom_extensions.push(eku);
        issue(&params, new_rsa_2048_key(), &self.issuer())
    }

    /// A delegated OCSP responder: EKU id-kp-OCSPSigning, no revocation URLs.
    pub fn ocsp_responder(&self) -> CertKey {
        let mut params = self.leaf("signet test OCSP responder", &RevocationUrls::default());
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::Other(OID_KP_OCSP_SIGNING.to_vec())];
        issue(&params, new_rsa_2048_key(), &self.issuer())
    }

    /// A CRL signed by this CA.
    pub fn crl(
        &self,
        revoked: &[RevokedEntry],
        this_update: UtcTime,
        next_update: UtcTime,
    ) -> Vec<u8> {
        crl_der(&self.issuer(), revoked, this_update, next_update)
    }

    /// `leaf`'s chain, leaf first: the leaf, this CA, the root.
    pub fn chain_der(&self, leaf: &CertKey) -> Vec<Vec<u8>> {
        vec![
            leaf.cert_der.clone(),
            self.cert.cert_der.clone(),
            pki().root.cert_der.clone(),
        ]
    }

    /// [`Self::chain_der`] as concatenated `CERTIFICATE` PEM blocks.
    pub fn chain_pem(&self, leaf: &CertKey) -> String {
        self.chain_der(leaf)
            .iter()
            .map(|d| pem_encode("CERTIFICATE", d))
            .collect()
    }
}
