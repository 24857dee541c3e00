//! Package sources: NuGet v3 feeds (service index + flat container) and local folders.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::index::{
    MAX_DOCUMENT_SIZE, PACKAGE_BASE_ADDRESS, REPOSITORY_SIGNATURES, RepositorySignatures,
    ServiceIndex,
};
use signet_nupkg::PackageId;

use crate::{Error, Http, HttpPolicy, NuGetVersion};

/// Largest package downloaded.
pub const MAX_PACKAGE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// Most versions one package's version list may have (NuGet.org's largest have a few
/// thousand).
pub const MAX_VERSIONS_LISTED: usize = 100_000;

/// Where packages come from.
pub enum Source {
    /// A NuGet v3 feed.
    V3(V3Source),
    /// A folder of `.nupkg` files (flat, or `id/version/` as NuGet lays out local feeds).
    Folder(PathBuf),
}

/// A v3 feed, after reading its service index.
pub struct V3Source {
    /// The service index URL.
    pub index_url: String,
    /// `PackageBaseAddress` with a trailing slash.
    pub flat_base: String,
    /// The `RepositorySignatures` resource, when the feed announces one.
    pub repository_signatures: Option<RepositorySignatures>,
    /// The `signet/RevocationStatus/1.0.0` base URL (stapled OCSP responses per version),
    /// when the feed announces one.
    pub revocation_status: Option<String>,
    /// The `signet/TransparencyLog/1.0.0` resource, when the feed announces one.
    pub transparency_log: Option<Box<AnnouncedLog>>,
    http: Arc<dyn Http>,
}

/// The resource type of a feed's transparency log (issue 17).
pub const TRANSPARENCY_LOG: &str = "signet/TransparencyLog/1.0.0";

/// A transparency log as a service index announces it. Not trusted by itself: a client pins
/// it (`signet trust source`) and then checks against the pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncedLog {
    /// URL prefix of the log (`…/tlog/`, with the trailing slash).
    pub prefix: String,
    /// Checkpoint origin.
    pub origin: String,
    /// Verifier key (`origin+id+key`).
    pub verifier_key: String,
}

/// The log a service index announces: the resource's `@id`, `origin` and `verifierKey`.
fn announced_log(json: &[u8]) -> Option<AnnouncedLog> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let r = v
        .get("resources")?
        .as_array()?
        .iter()
        .find(|r| r.get("@type").and_then(|t| t.as_str()) == Some(TRANSPARENCY_LOG))?;
    let s = |k: &str| r.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let mut prefix = s("@id")?;
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    let (origin, verifier_key) = (s("origin")?, s("verifierKey")?);
    (origin.len() <= 512 && verifier_key.len() <= 512).then_some(AnnouncedLog {
        prefix,
        origin,
        verifier_key,
    })
}

/// The resource type of stapled revocation status.
pub const REVOCATION_STATUS: &str = "signet/RevocationStatus/1.0.0";

/// The largest stapled-status document read.
const MAX_STAPLE_DOCUMENT: u64 = 1024 * 1024;

impl V3Source {
    /// A v3 source whose flat container is already known (a server that read the service
    /// index before and reuses its answer): no request is made.
    pub fn with_flat_base(index_url: &str, flat_base: &str, http: Arc<dyn Http>) -> Self {
        let flat_base = if flat_base.ends_with('/') {
            flat_base.to_string()
        } else {
            format!("{flat_base}/")
        };
        Self {
            index_url: index_url.to_string(),
            flat_base,
            repository_signatures: None,
            revocation_status: None,
            transparency_log: None,
            http,
        }
    }
}

impl Source {
    /// Opens `location`: an `http(s)://` service index, or a folder.
    pub fn open(location: &str, http: Arc<dyn Http>, policy: HttpPolicy) -> Result<Self, Error> {
        let lower = location.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            let dir = PathBuf::from(location);
            if !dir.is_dir() {
                return Err(Error::Protocol {
                    source_url: location.to_string(),
                    message: "no such folder".into(),
                });
            }
            return Ok(Self::Folder(dir));
        }
        policy.check(location)?;
        let json = http
            .get(location, MAX_DOCUMENT_SIZE)?
            .ok_or_else(|| Error::Protocol {
                source_url: location.to_string(),
                message: "the service index was not found (404)".into(),
            })?;
        let index = ServiceIndex::parse(location, &json)?;
        let (flat, _) = index
            .find(PACKAGE_BASE_ADDRESS)
            .ok_or_else(|| Error::Protocol {
                source_url: location.to_string(),
                message: "the service index has no PackageBaseAddress/3.0.0 resource".into(),
            })?;
        let flat_base = if flat.ends_with('/') {
            flat.to_string()
        } else {
            format!("{flat}/")
        };
        let repository_signatures = match index.find(REPOSITORY_SIGNATURES) {
            None => None,
            Some((url, kind)) => {
                // NuGet refuses a non-https resource outright; the policy lets loopback test
                // servers through.
                policy.check(url).map_err(|_| Error::Protocol {
                    source_url: location.to_string(),
                    message: format!("the RepositorySignatures resource '{url}' is not https"),
                })?;
                let json = http
                    .get(url, MAX_DOCUMENT_SIZE)?
                    .ok_or_else(|| Error::Protocol {
                        source_url: url.to_string(),
                        message: "the RepositorySignatures resource was not found (404)".into(),
                    })?;
                Some(RepositorySignatures::parse(url, kind, &json, policy)?)
            }
        };
        // Stapled status: like RepositorySignatures, only over https (or loopback by policy).
        let revocation_status = index
            .find(&[REVOCATION_STATUS])
            .filter(|(url, _)| policy.check(url).is_ok())
            .map(|(url, _)| {
                if url.ends_with('/') {
                    url.to_string()
                } else {
                    format!("{url}/")
                }
            });
        let transparency_log = announced_log(&json)
            .filter(|l| policy.check(&l.prefix).is_ok())
            .map(Box::new);
        Ok(Self::V3(V3Source {
            index_url: location.to_string(),
            flat_base,
            repository_signatures,
            revocation_status,
            transparency_log,
            http,
        }))
    }

    /// How the source is named in messages: its URL or folder.
    pub fn describe(&self) -> String {
        match self {
            Self::V3(v) => v.index_url.clone(),
            Self::Folder(d) => d.display().to_string(),
        }
    }

    /// The `RepositorySignatures` resource, for v3 feeds that announce one.
    pub fn repository_signatures(&self) -> Option<&RepositorySignatures> {
        match self {
            Self::V3(v) => v.repository_signatures.as_ref(),
            Self::Folder(_) => None,
        }
    }

    /// The transparency log the source announces.
    pub fn transparency_log(&self) -> Option<&AnnouncedLog> {
        match self {
            Self::V3(v) => v.transparency_log.as_deref(),
            Self::Folder(_) => None,
        }
    }

    /// GETs `url` through the source's HTTP client (its credentials go to its origin only),
    /// at most `limit` bytes; `None` on 404 or for a folder source.
    pub fn fetch(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Self::V3(v) => v.http.get(url, limit),
            Self::Folder(_) => Ok(None),
        }
    }

    /// Whether the source staples revocation status.
    pub fn staples_revocation(&self) -> bool {
        matches!(self, Self::V3(v) if v.revocation_status.is_some())
    }

    /// The stapled OCSP responses (DER) the source serves for `id` `version`: `None` when it
    /// does not staple or has no document for it. The responses are the CAs' bytes; the
    /// verifier checks each (`signet_trust::StapledRevocation`).
    pub fn stapled_responses(
        &self,
        id: &PackageId,
        version: &NuGetVersion,
    ) -> Result<Option<Vec<Vec<u8>>>, Error> {
        let Self::V3(v) = self else {
            return Ok(None);
        };
        let Some(base) = &v.revocation_status else {
            return Ok(None);
        };
        let url = format!("{base}{}/{}", id.lower(), version.lower());
        let Some(json) = v.http.get(&url, MAX_STAPLE_DOCUMENT)? else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Document {
            #[serde(default)]
            ocsp_responses: Vec<String>,
        }
        let doc: Document = serde_json::from_slice(&json).map_err(|e| Error::Protocol {
            source_url: url.clone(),
            message: format!("not a stapled-status document: {e}"),
        })?;
        use base64::Engine as _;
        Ok(Some(
            doc.ocsp_responses
                .iter()
                .take(64)
                .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .collect(),
        ))
    }

    /// Every version of `id` the source has, ascending. The URL or folder is built from the
    /// validated id only.
    pub fn versions(&self, id: &PackageId) -> Result<Vec<NuGetVersion>, Error> {
        let mut out = match self {
            Self::V3(v) => {
                let url = format!("{}{}/index.json", v.flat_base, id.lower());
                #[derive(serde::Deserialize)]
                struct Versions {
                    versions: Vec<String>,
                }
                match v.http.get(&url, MAX_DOCUMENT_SIZE)? {
                    None => Vec::new(),
                    Some(json) => {
                        let parsed: Versions =
                            serde_json::from_slice(&json).map_err(|e| Error::Protocol {
                                source_url: url.clone(),
                                message: format!("not a version list: {e}"),
                            })?;
                        if parsed.versions.len() > MAX_VERSIONS_LISTED {
                            return Err(Error::Protocol {
                                source_url: url.clone(),
                                message: format!(
                                    "lists {} versions of one package (at most {MAX_VERSIONS_LISTED})",
                                    parsed.versions.len()
                                ),
                            });
                        }
                        parsed
                            .versions
                            .iter()
                            .filter_map(|s| NuGetVersion::parse(s).ok())
                            .collect()
                    }
                }
            }
            Self::Folder(dir) => folder_packages(dir, id)?
                .into_iter()
                .map(|(v, _)| v)
                .collect(),
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Writes the `.nupkg` of `id` `version` into `out`; `Ok(false)` if the source lacks it.
    pub fn download(
        &self,
        id: &PackageId,
        version: &NuGetVersion,
        out: &mut dyn Write,
    ) -> Result<bool, Error> {
        match self {
            Self::V3(v) => {
                let lid = id.lower();
                let lver = version.lower();
                let url = format!("{}{lid}/{lver}/{lid}.{lver}.nupkg", v.flat_base);
                v.http.download(&url, out, MAX_PACKAGE_SIZE)
            }
            Self::Folder(dir) => {
                let Some((_, path)) = folder_packages(dir, id)?
                    .into_iter()
                    .find(|(v, _)| v == version)
                else {
                    return Ok(false);
                };
                copy_regular_file(&path, out, MAX_PACKAGE_SIZE)?;
                Ok(true)
            }
        }
    }
}

/// `{id}.{version}.nupkg` files in `dir` and in `dir/{id}/{version}/`, matched
/// case-insensitively on the id.
fn folder_packages(dir: &Path, id: &PackageId) -> Result<Vec<(NuGetVersion, PathBuf)>, Error> {
    let prefix = format!("{}.", id.lower());
    let mut out = Vec::new();
    let mut scan = |d: &Path| -> Result<(), Error> {
        let Ok(entries) = std::fs::read_dir(d) else {
            return Ok(());
        };
        for entry in entries.filter_map(Result::ok) {
            // Regular files only, never followed: a folder source (which a checkout's
            // nuget.config can add) must not make the client read a FIFO (hangs), a device or
            // a link to any file of the user's.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_lowercase();
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let Some(ver) = rest.strip_suffix(".nupkg") else {
                continue;
            };
            if ver.ends_with(".symbols") || ver.ends_with(".snupkg") {
                continue;
            }
            if let Ok(v) = NuGetVersion::parse(ver) {
                out.push((v, entry.path()));
            }
        }
        Ok(())
    };
    scan(dir)?;
    let mut id_dirs = vec![dir.join(id.lower())];
    if id.as_str() != id.lower() {
        id_dirs.push(dir.join(id.as_str()));
    }
    for id_dir in id_dirs {
        let is_real_dir = std::fs::symlink_metadata(&id_dir).is_ok_and(|m| m.is_dir());
        if is_real_dir && let Ok(versions) = std::fs::read_dir(&id_dir) {
            for v in versions.filter_map(Result::ok) {
                if v.file_type().is_ok_and(|t| t.is_dir()) {
                    scan(&v.path())?;
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// Streams a folder source's package into `out`: a regular file (not followed if it is a
/// link), at most `limit` bytes, never held in memory whole.
fn copy_regular_file(path: &Path, out: &mut dyn Write, limit: u64) -> Result<(), Error> {
    let io = |source| Error::Io {
        what: format!("reading {}", path.display()),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let copied =
        std::io::copy(&mut std::io::Read::take(file, limit.saturating_add(1)), out).map_err(io)?;
    if copied > limit {
        return Err(io(std::io::Error::other(format!(
            "larger than {limit} bytes"
        ))));
    }
    Ok(())
}
