//! The primary signature of a package and its repository countersignature, loaded with NuGet's
//! checks in NuGet's order (spec §3.8).

use signet_common::{NuCode, UtcTime};

use crate::attributes::{self, RepositoryInfo, SignatureType};
use crate::cert::Certificate;
use crate::cms::{SignatureCheckError, SignedData, SignerInfo, find_certificate};
use crate::content::SignatureContent;
use crate::timestamp::Timestamp;
use crate::tlv::Reader;
use crate::{Error, Limits, oids, tlv};

/// A loaded `.signature.p7s`: CMS decoded, one signer, type known, signer certificate found,
/// ESS and signing-time rules checked, content parsed. Cryptographic and trust checks are the
/// verifier's job (`signet-trust`).
#[derive(Clone, Debug)]
pub struct PrimarySignature {
    signed_data: SignedData,
    signer: SignerInfo,
    certificate: Certificate,
    kind: SignatureType,
    content: SignatureContent,
    signing_time: Option<UtcTime>,
    repository: Option<RepositoryInfo>,
    limits: Limits,
}

impl PrimarySignature {
    /// Loads a signature file (DER or BER). Errors carry NuGet's code: NU3003 undecodable,
    /// NU3009 not one signer, NU3000 conflicting types or bad repository attributes,
    /// NU3010 no signer certificate, NU3011 ESS or signing-time problems, NU3000/NU3007 content.
    pub fn load(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_signature_size {
            return Err(Error::Limit {
                what: "signature size",
                limit: limits.max_signature_size,
            });
        }
        let der = tlv::ber_to_der(bytes)?;
        let signed_data = SignedData::parse(&der, limits)?;
        let signer = match signed_data.signer_infos.as_slice() {
            [one] => one.clone(),
            many => return Err(Error::SignerCount(many.len())),
        };
        let signer = &signer;
        let kind = attributes::signature_type(signer)?;
        let certificate = find_certificate(&signed_data.certificates, &signer.sid)
            .cloned()
            .ok_or(Error::NoSignerCertificate("primary signature"))?;
        let typed = kind != SignatureType::Unknown;
        attributes::check_primary_ess(signer, &certificate, typed)?;
        let signing_time = attributes::signing_time(signer)?;
        if typed && signing_time.is_none() {
            return Err(Error::InvalidPrimarySignature(
                "the signing-time attribute is missing".into(),
            ));
        }
        let content_bytes = signed_data
            .content
            .as_deref()
            .ok_or_else(|| Error::Content("the signature has no encapsulated content".into()))?;
        let content = SignatureContent::parse(content_bytes)?;
        let repository = if kind == SignatureType::Repository {
            Some(attributes::repository_info(signer)?)
        } else {
            None
        };
        Ok(Self {
            signer: signer.clone(),
            signed_data,
            certificate,
            kind,
            content,
            signing_time,
            repository,
            limits: limits.clone(),
        })
    }

    /// Author, Repository or Unknown.
    pub fn signature_type(&self) -> SignatureType {
        self.kind
    }

    /// The primary SignerInfo.
    pub fn signer_info(&self) -> &SignerInfo {
        &self.signer
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Every certificate in the SignedData (the extra store for chain building).
    pub fn certificates(&self) -> &[Certificate] {
        &self.signed_data.certificates
    }

    /// The signature content (package hash).
    pub fn content(&self) -> &SignatureContent {
        &self.content
    }

    /// The signing-time attribute.
    pub fn signing_time(&self) -> Option<UtcTime> {
        self.signing_time
    }

    /// Repository attributes of a repository primary signature.
    pub fn repository_info(&self) -> Option<&RepositoryInfo> {
        self.repository.as_ref()
    }

    /// The SignerInfo's signature value (what timestamps and countersignatures cover).
    pub fn signature_value(&self) -> &[u8] {
        &self.signer_info().signature
    }

    /// The CMS signature check: messageDigest over the content, RSA over the signed attributes.
    pub fn verify_signature_value(&self) -> Result<(), SignatureCheckError> {
        let key = self
            .certificate
            .public_key()
            .map_err(|_| SignatureCheckError::UnsupportedAlgorithm)?;
        let content = self.signed_data.content.as_deref().unwrap_or_default();
        self.signer_info().verify(&key, content)
    }

    /// The raw timestamp tokens on the primary signer, in document order.
    pub fn timestamp_tokens(&self) -> Vec<&[u8]> {
        self.signer_info().unsigned_values(&oids::TIMESTAMP_TOKEN)
    }

    /// Decodes the first timestamp token, the one NuGet evaluates (spec §3.6), if any.
    pub fn first_timestamp(&self) -> Result<Option<Timestamp>, Error> {
        self.timestamp_tokens()
            .first()
            .map(|t| Timestamp::parse(t, &self.limits))
            .transpose()
    }

    /// The commitment types of every countersignature on the primary signer, in document
    /// order (a server refuses author countersignatures; NuGet's client ignores them).
    pub fn countersignature_types(&self) -> Result<Vec<SignatureType>, Error> {
        let values = self.signer_info().unsigned_values(&oids::COUNTERSIGNATURE);
        if values.len() > self.limits.max_countersignatures {
            return Err(Error::Limit {
                what: "countersignatures",
                limit: self.limits.max_countersignatures,
            });
        }
        values
            .into_iter()
            .map(|v| {
                let mut r = Reader::new(v);
                let signer = SignerInfo::parse(r.next("countersignature")?, &self.limits)?;
                attributes::signature_type(&signer)
            })
            .collect()
    }

    /// The repository countersignature, with NuGet's rules: at most one (NU3032), none on a
    /// repository primary signature (NU3033), signing-time required (NU3031), repository
    /// attributes required (NU3000). Countersignatures of other types are ignored.
    pub fn repository_countersignature(&self) -> Result<Option<Countersignature>, Error> {
        let values = self.signer_info().unsigned_values(&oids::COUNTERSIGNATURE);
        if values.len() > self.limits.max_countersignatures {
            return Err(Error::Limit {
                what: "countersignatures",
                limit: self.limits.max_countersignatures,
            });
        }
        let mut found: Option<Countersignature> = None;
        for v in values {
            let mut r = Reader::new(v);
            let signer = SignerInfo::parse(r.next("countersignature")?, &self.limits)?;
            if attributes::signature_type(&signer)? != SignatureType::Repository {
                continue;
            }
            if self.kind == SignatureType::Repository {
                return Err(Error::Countersignature {
                    code: NuCode::NU3033,
                    message:
                        "a repository primary signature must not have a repository countersignature"
                            .into(),
                });
            }
            if found.is_some() {
                return Err(Error::Countersignature {
                    code: NuCode::NU3032,
                    message: "the package signature contains multiple repository countersignatures"
                        .into(),
                });
            }
            let signing_time = attributes::signing_time(&signer)?.ok_or_else(|| Error::Countersignature {
                code: NuCode::NU3031,
                message: "the repository countersignature is invalid: the signing-time attribute is missing".into(),
            })?;
            let repository = attributes::repository_info(&signer)?;
            let certificate =
                find_certificate(&self.signed_data.certificates, &signer.sid).cloned();
            found = Some(Countersignature {
                signer,
                certificate,
                signing_time,
                repository,
                limits: self.limits.clone(),
            });
        }
        Ok(found)
    }
}

/// A repository countersignature (RFC 5652 countersignature on the author SignerInfo).
#[derive(Clone, Debug)]
pub struct Countersignature {
    signer: SignerInfo,
    certificate: Option<Certificate>,
    signing_time: UtcTime,
    repository: RepositoryInfo,
    limits: Limits,
}

impl Countersignature {
    /// The countersigner's SignerInfo.
    pub fn signer_info(&self) -> &SignerInfo {
        &self.signer
    }

    /// The countersigner's certificate, found in the primary SignedData's certificates.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The signing-time attribute.
    pub fn signing_time(&self) -> UtcTime {
        self.signing_time
    }

    /// Service index and owners.
    pub fn repository_info(&self) -> &RepositoryInfo {
        &self.repository
    }

    /// The countersignature's own signature value.
    pub fn signature_value(&self) -> &[u8] {
        &self.signer.signature
    }

    /// CMS check: messageDigest over the primary signature value, RSA over the attributes.
    pub fn verify_signature_value(
        &self,
        primary: &PrimarySignature,
    ) -> Result<(), SignatureCheckError> {
        let cert = self
            .certificate
            .as_ref()
            .ok_or(SignatureCheckError::BadSignature)?;
        let key = cert
            .public_key()
            .map_err(|_| SignatureCheckError::UnsupportedAlgorithm)?;
        self.signer.verify(&key, primary.signature_value())
    }

    /// Decodes the first timestamp token on the countersignature, if any.
    pub fn first_timestamp(&self) -> Result<Option<Timestamp>, Error> {
        self.signer
            .unsigned_values(&oids::TIMESTAMP_TOKEN)
            .first()
            .map(|t| Timestamp::parse(t, &self.limits))
            .transpose()
    }

    /// Number of timestamp tokens attached.
    pub fn timestamp_count(&self) -> usize {
        self.signer.unsigned_values(&oids::TIMESTAMP_TOKEN).len()
    }
}
