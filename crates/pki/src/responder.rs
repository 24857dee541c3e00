//! The domain side of `pki serve`: CRLs, OCSP answers and CA certificates for one PKI
//! directory, with no HTTP in sight (`router.rs` maps requests to these calls).
//!
//! The state file is re-read for every request, so `signet pki revoke` in another process
//! takes effect at once. Keys and certificates are read once, at start.

use std::path::{Path, PathBuf};

use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::SoftwareSigner;
use signet_signature::{Certificate, oids};
use signet_trust::RevocationLimits;
use signet_trust::ocsp::{
    BasicResponseBuilder, CertId, CertIdHash, CertStatus, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, SingleResponse,
};

use crate::error::Error;
use crate::files;
use crate::model::{CertName, RevocationReason};
use crate::pki::Pki;
use crate::state::StateFile;

/// How long an OCSP answer is current (nextUpdate − thisUpdate). Short, so that a client
/// that caches answers until nextUpdate sees a revocation within the hour.
pub const OCSP_VALIDITY_SECONDS: i64 = 3600;

/// A CA able to answer for the certificates it issued.
struct CaResponder {
    name: CertName,
    certificate: Certificate,
    signer: SoftwareSigner,
}

/// A certificate the PKI issued, with its issuer.
struct Issued {
    certificate: Certificate,
    issuer: CertName,
}

/// CRLs and OCSP for the PKI in one directory.
pub struct Responder {
    dir: PathBuf,
    cas: Vec<CaResponder>,
    issued: Vec<Issued>,
    limits: RevocationLimits,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Loads the PKI in `dir`: the CA keys and every certificate issued.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let pki = Pki::open(dir)?;
        let mut cas = Vec::new();
        for ca in &pki.cas {
            let load_error = |reason: String| Error::LoadKey {
                what: format!("the {} CA", ca.name),
                reason,
            };
            let signer = SoftwareSigner::from_key_and_chain(
                ca.key_pem.as_bytes(),
                None,
                ca.chain_pem.as_bytes(),
            )
            .map_err(|e| load_error(e.to_string()))?;
            let certificate =
                Certificate::from_der(&ca.cert_der).map_err(|e| load_error(e.to_string()))?;
            cas.push(CaResponder {
                name: ca.name,
                certificate,
                signer,
            });
        }
        let mut issued = Vec::new();
        for name in CertName::ALL {
            let Some(issuer) = name.issuer() else {
                continue;
            };
            let path = dir.join(name.cert_file());
            let pem = files::read(&path)?;
            let certificate = Certificate::from_pem_bundle(&pem)
                .ok()
                .and_then(|c| c.into_iter().next())
                .ok_or_else(|| Error::BadCertificateFile {
                    path: path.clone(),
                    reason: "no readable CERTIFICATE block".into(),
                })?;
            issued.push(Issued {
                certificate,
                issuer,
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            cas,
            issued,
            limits: RevocationLimits::default(),
        })
    }

    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The DER certificate of CA `ca` (`None` if `ca` is not a CA).
    pub fn ca_certificate(&self, ca: CertName) -> Option<&[u8]> {
        self.cas
            .iter()
            .find(|c| c.name == ca)
            .map(|c| c.certificate.der())
    }

    /// The current CRL of CA `ca` at `now` (DER), from the state on disk.
    pub fn crl(&self, ca: CertName, now: UtcTime) -> Result<Vec<u8>, Error> {
        if !ca.is_ca() {
            return Err(Error::UnknownCertificate(ca.to_string()));
        }
        Pki::open(&self.dir)?.crl(ca, now)
    }

    /// Answers a DER `OCSPRequest` at `now` with a DER `OCSPResponse` (RFC 6960). Never
    /// fails: a request that cannot be read gets `malformedRequest`, one about a CA this PKI
    /// does not hold `unauthorized`, and trouble on our side `internalError` (logged).
    pub fn ocsp(&self, request_der: &[u8], now: UtcTime) -> Vec<u8> {
        let response = match self.ocsp_response(request_der, now) {
            Ok(r) => r,
            Err(status) => OcspResponse::error(status),
        };
        response.to_der_bytes().unwrap_or_else(|e| {
            tracing::error!("encoding an OCSP response: {e}");
            // internalError (2) without responseBytes: SEQUENCE { ENUMERATED 2 }.
            vec![0x30, 0x03, 0x0a, 0x01, 0x02]
        })
    }

    fn ocsp_response(
        &self,
        request_der: &[u8],
        now: UtcTime,
    ) -> Result<OcspResponse, OcspResponseStatus> {
        let request = OcspRequest::decode(request_der, &self.limits)
            .map_err(|_| OcspResponseStatus::MalformedRequest)?;
        let ids: Vec<&CertId> = request
            .tbs_request
            .request_list
            .iter()
            .map(|r| &r.req_cert)
            .collect();
        if ids.is_empty() {
            return Err(OcspResponseStatus::MalformedRequest);
        }
        // One signature covers the whole response, so it answers for the CA of the first
        // certificate asked about; others of another CA are left out (clients ask one at a
        // time).
        let ca = ids
            .iter()
            .find_map(|id| self.issuing_ca(id))
            .ok_or(OcspResponseStatus::Unauthorized)?;
        let internal = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!("OCSP: {what}: {e}");
            OcspResponseStatus::InternalError
        };
        let state = StateFile::load(&self.dir).map_err(|e| internal("reading the state", &e))?;
        let revocations = state
            .revocations_decoded(&self.dir)
            .map_err(|e| internal("reading the state", &e))?;
        let next_update = now.add_micros(OCSP_VALIDITY_SECONDS * 1_000_000);
        let responder_id =
            ResponderId::by_key(&ca.certificate).map_err(|e| internal("responder id", &e))?;
        let mut builder = BasicResponseBuilder::new(responder_id, now);
        for id in ids {
            if self.issuing_ca(id).map(|c| c.name) != Some(ca.name) {
                continue;
            }
            let known = self
                .issued
                .iter()
                .any(|i| i.issuer == ca.name && id.matches(&i.certificate, &ca.certificate));
            let serial = strip_zeros(id.serial_number.as_bytes());
            let revocation = revocations
                .iter()
                .find(|r| r.issuer == ca.name && strip_zeros(&r.serial) == serial);
            let status = match (known, revocation) {
                (_, Some(r)) => CertStatus::revoked(r.time, trust_reason(r.reason))
                    .map_err(|e| internal("revoked status", &e))?,
                (true, None) => CertStatus::good(),
                (false, None) => CertStatus::unknown(),
            };
            let mut single = SingleResponse::new((*id).clone(), status, now, Some(next_update))
                .map_err(|e| internal("single response", &e))?;
            if let Some(date) = revocation.and_then(|r| r.invalidity_date) {
                single = single
                    .with_invalidity_date(date)
                    .map_err(|e| internal("invalidity date", &e))?;
            }
            builder = builder.response(single);
        }
        if let Some(nonce) = request.nonce() {
            builder = builder
                .nonce(&nonce)
                .map_err(|_| OcspResponseStatus::MalformedRequest)?;
        }
        let basic = builder
            .certificate(&ca.certificate)
            .sign(&ca.signer, HashAlgorithm::Sha256)
            .map_err(|e| internal("signing", &e))?;
        OcspResponse::successful(&basic).map_err(|e| internal("encoding", &e))
    }

    /// The CA whose name and key hashes `id` carries.
    fn issuing_ca(&self, id: &CertId) -> Option<&CaResponder> {
        let hash = if id.hash_algorithm.oid == oids::SHA1 {
            CertIdHash::Sha1
        } else if id.hash_algorithm.oid == oids::SHA256 {
            CertIdHash::Sha256
        } else {
            // Other hashes: the CA of any issued certificate that matches exactly.
            return self.issued.iter().find_map(|i| {
                let ca = self.cas.iter().find(|c| c.name == i.issuer)?;
                id.matches(&i.certificate, &ca.certificate).then_some(ca)
            });
        };
        self.issued.iter().find_map(|i| {
            let ca = self.cas.iter().find(|c| c.name == i.issuer)?;
            let ours = CertId::new(&i.certificate, &ca.certificate, hash).ok()?;
            (ours.issuer_name_hash == id.issuer_name_hash
                && ours.issuer_key_hash == id.issuer_key_hash)
                .then_some(ca)
        })
    }
}

fn strip_zeros(serial: &[u8]) -> &[u8] {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    serial.get(start..).unwrap_or_default()
}

/// The OCSP reason: none for `unspecified` (RFC 5280 §5.3.1 asks for the reason to be absent
/// rather than unspecified, as in the CRL).
fn trust_reason(reason: RevocationReason) -> Option<signet_trust::RevocationReason> {
    use signet_trust::RevocationReason as T;
    Some(match reason {
        RevocationReason::Unspecified => return None,
        RevocationReason::KeyCompromise => T::KeyCompromise,
        RevocationReason::CaCompromise => T::CaCompromise,
        RevocationReason::AffiliationChanged => T::AffiliationChanged,
        RevocationReason::Superseded => T::Superseded,
        RevocationReason::CessationOfOperation => T::CessationOfOperation,
        RevocationReason::CertificateHold => T::CertificateHold,
        RevocationReason::PrivilegeWithdrawn => T::PrivilegeWithdrawn,
    })
}
