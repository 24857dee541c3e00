//! The v3 service index and the `RepositorySignatures` resource (spec server §3.4, §6.1).

use serde::Deserialize;
use signet_common::HashAlgorithm;

use crate::{Error, HttpPolicy};

/// Largest service index or resource document read.
pub const MAX_DOCUMENT_SIZE: u64 = 4 * 1024 * 1024;

/// One resource of a service index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// `@id`.
    pub id: String,
    /// `@type`.
    pub kind: String,
}

/// A parsed `index.json`.
#[derive(Clone, Debug)]
pub struct ServiceIndex {
    /// The URL it was read from.
    pub url: String,
    /// Its resources.
    pub resources: Vec<Resource>,
}

/// The flat-container types the client looks for, in preference order.
pub const PACKAGE_BASE_ADDRESS: &[&str] =
    &["PackageBaseAddress/Versioned", "PackageBaseAddress/3.0.0"];
/// The repository-signatures types, in preference order.
pub const REPOSITORY_SIGNATURES: &[&str] = &[
    "RepositorySignatures/5.0.0",
    "RepositorySignatures/4.9.0",
    "RepositorySignatures/4.7.0",
];

#[derive(Deserialize)]
struct RawIndex {
    version: Option<String>,
    resources: Option<Vec<RawResource>>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(rename = "@id")]
    id: Option<String>,
    #[serde(rename = "@type")]
    kind: Option<serde_json::Value>,
}

impl ServiceIndex {
    /// Parses an index; the version must be 3.x (a hard error in NuGet too).
    pub fn parse(url: &str, json: &[u8]) -> Result<Self, Error> {
        let protocol = |message: String| Error::Protocol {
            source_url: url.to_string(),
            message,
        };
        let raw: RawIndex = serde_json::from_slice(json)
            .map_err(|e| protocol(format!("the service index is not valid JSON: {e}")))?;
        let version = raw
            .version
            .ok_or_else(|| protocol("the service index has no version".into()))?;
        if version.split('.').next() != Some("3") {
            return Err(protocol(format!(
                "the service index version '{version}' is not 3.x"
            )));
        }
        let mut resources = Vec::new();
        for r in raw.resources.unwrap_or_default() {
            let Some(id) = r.id else { continue };
            // @type may be a string or an array of strings.
            let kinds: Vec<String> = match r.kind {
                Some(serde_json::Value::String(s)) => vec![s],
                Some(serde_json::Value::Array(a)) => a
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            for kind in kinds {
                resources.push(Resource {
                    id: id.clone(),
                    kind: kind.trim().to_string(),
                });
            }
        }
        Ok(Self {
            url: url.to_string(),
            resources,
        })
    }

    /// The `@id` of the first type of `preference` that is present (exact string match).
    pub fn find(&self, preference: &[&str]) -> Option<(&str, &str)> {
        preference.iter().find_map(|t| {
            self.resources
                .iter()
                .find(|r| r.kind == *t)
                .map(|r| (r.id.as_str(), r.kind.as_str()))
        })
    }
}

/// One certificate a repository announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryCertificate {
    /// Fingerprints by algorithm (SHA-256 always present), lower-case hex as served.
    pub fingerprints: Vec<(HashAlgorithm, String)>,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Validity start (as served).
    pub not_before: String,
    /// Validity end (as served).
    pub not_after: String,
    /// Where the DER certificate is.
    pub content_url: String,
}

/// The `RepositorySignatures` resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositorySignatures {
    /// The resource URL.
    pub url: String,
    /// The resource type it was found under.
    pub kind: String,
    /// Every package is repository-signed with one of `certificates`.
    pub all_repository_signed: bool,
    /// The announced certificates.
    pub certificates: Vec<RepositoryCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSignatures {
    all_repository_signed: Option<bool>,
    signing_certificates: Option<Vec<RawCertificate>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    fingerprints: Option<std::collections::BTreeMap<String, String>>,
    subject: Option<String>,
    issuer: Option<String>,
    not_before: Option<String>,
    not_after: Option<String>,
    content_url: Option<String>,
}

/// Most certificates accepted in one resource.
const MAX_CERTIFICATES: usize = 1000;

impl RepositorySignatures {
    /// Parses the resource found at `url` under `kind`. Required fields, SHA-256
    /// fingerprints and https content URLs are enforced as NuGet does (`policy` decides
    /// whether a plain-http content URL is acceptable, for loopback test servers).
    pub fn parse(url: &str, kind: &str, json: &[u8], policy: HttpPolicy) -> Result<Self, Error> {
        let protocol = |message: String| Error::Protocol {
            source_url: url.to_string(),
            message,
        };
        let raw: RawSignatures = serde_json::from_slice(json).map_err(|e| {
            protocol(format!(
                "the repository signatures resource is not valid JSON: {e}"
            ))
        })?;
        let all_repository_signed = raw
            .all_repository_signed
            .ok_or_else(|| protocol("allRepositorySigned is missing".into()))?;
        let list = raw
            .signing_certificates
            .ok_or_else(|| protocol("signingCertificates is missing".into()))?;
        if list.len() > MAX_CERTIFICATES {
            return Err(protocol(format!(
                "more than {MAX_CERTIFICATES} signing certificates"
            )));
        }
        let mut certificates = Vec::new();
        for c in list {
            let mut fingerprints = Vec::new();
            for (oid, fp) in c.fingerprints.unwrap_or_default() {
                let Some(alg) = HashAlgorithm::from_oid_str(&oid) else {
                    continue;
                };
                if fp.len() != alg.output_len() * 2 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(protocol(format!(
                        "the fingerprint '{fp}' is not a {} hex digest",
                        alg.nuget_name()
                    )));
                }
                fingerprints.push((alg, fp));
            }
            if !fingerprints
                .iter()
                .any(|(a, _)| *a == HashAlgorithm::Sha256)
            {
                return Err(protocol(
                    "a signing certificate has no SHA-256 fingerprint".into(),
                ));
            }
            let content_url = c
                .content_url
                .ok_or_else(|| protocol("a signing certificate has no contentUrl".into()))?;
            policy.check(&content_url).map_err(|_| {
                protocol(format!(
                    "the contentUrl '{content_url}' is not an absolute https URL"
                ))
            })?;
            certificates.push(RepositoryCertificate {
                fingerprints,
                subject: c.subject.unwrap_or_default(),
                issuer: c.issuer.unwrap_or_default(),
                not_before: c.not_before.unwrap_or_default(),
                not_after: c.not_after.unwrap_or_default(),
                content_url,
            });
        }
        Ok(Self {
            url: url.to_string(),
            kind: kind.to_string(),
            all_repository_signed,
            certificates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_index_and_prefers_5_0_0() {
        let json = br#"{"version":"3.0.0","resources":[
            {"@id":"https://x.test/flat/","@type":"PackageBaseAddress/3.0.0"},
            {"@id":"https://x.test/rs/4.7.0.json","@type":"RepositorySignatures/4.7.0"},
            {"@id":"https://x.test/rs/5.0.0.json","@type":["RepositorySignatures/5.0.0"]}]}"#;
        let idx = ServiceIndex::parse("https://x.test/v3/index.json", json)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            idx.find(PACKAGE_BASE_ADDRESS).map(|r| r.0),
            Some("https://x.test/flat/")
        );
        assert_eq!(
            idx.find(REPOSITORY_SIGNATURES).map(|r| r.0),
            Some("https://x.test/rs/5.0.0.json")
        );
        assert!(ServiceIndex::parse("u", br#"{"version":"2.0.0","resources":[]}"#).is_err());
        assert!(ServiceIndex::parse("u", b"[").is_err());
    }

    #[test]
    fn parses_repository_signatures() {
        let fp = "3b1f0c6f8e2a4d5c9b7a1e0f2d4c6b8a0e1f3a5c7e9b2d4f6a8c0e2b4d6f8a0c";
        let json = format!(
            r#"{{"allRepositorySigned":true,"signingCertificates":[{{"fingerprints":{{"2.16.840.1.101.3.4.2.1":"{fp}"}},"subject":"CN=R","issuer":"CN=I","notBefore":"2025-01-01T00:00:00.0000000Z","notAfter":"2028-01-01T00:00:00.0000000Z","contentUrl":"https://x.test/c/{fp}.crt"}}]}}"#
        );
        let rs = RepositorySignatures::parse(
            "u",
            "RepositorySignatures/5.0.0",
            json.as_bytes(),
            HttpPolicy::HttpsOnly,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(rs.all_repository_signed);
        assert_eq!(
            rs.certificates.first().map(|c| c.fingerprints.clone()),
            Some(vec![(HashAlgorithm::Sha256, fp.to_string())])
        );
        let http = json.replace("https://x.test/c/", "http://x.test/c/");
        assert!(
            RepositorySignatures::parse("u", "k", http.as_bytes(), HttpPolicy::HttpsOnly).is_err()
        );
        assert!(
            RepositorySignatures::parse(
                "u",
                "k",
                br#"{"signingCertificates":[]}"#,
                HttpPolicy::HttpsOnly
            )
            .is_err()
        );
    }
}
