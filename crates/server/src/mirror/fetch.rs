//! Taking one version from an upstream, as typestate: each step consumes the one before it.
//!
//! `Downloaded (bytes, bounded and timed) → UpstreamVerified (manifest, integrity, the
//! upstream's pinned repository certificate, a valid author signature where there is one)
//! → MirrorSigned (re-signed, or kept byte for byte in passthrough) → stored`
//!
//! Only [`verify`] makes an [`UpstreamVerified`]; signing and storing take it, never a path,
//! so nothing an upstream served reaches the blob store unverified.
//!
//! The proof cannot be made by hand (its fields are private, whatever values are given):
//!
//! ```compile_fail
//! fn forge(d: signet_server::mirror::Downloaded) -> signet_server::mirror::UpstreamVerified {
//!     signet_server::mirror::UpstreamVerified {
//!         downloaded: d,
//!         info: todo!(),
//!         author: None,
//!         provenance: todo!(),
//!         signature: Default::default(),
//!     }
//! }
//! ```
//!
//! Nor can what is stored be swapped after the re-signed copy's check:
//!
//! ```compile_fail
//! fn swap(s: &mut signet_server::mirror::MirrorSigned) {
//!     s.file = None;
//! }
//! ```

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};
use signet_feed::{Http as _, HttpClient, NuGetVersion};
use signet_nupkg::{Limits, PackageId};
use signet_signature::{PrimarySignature, SignatureType};
use signet_trust::{
    AllowList, AllowListKind, ContentHash, Placement, RevocationMode, TrustStore, TrustTarget,
    TrustedCertificate, VerifierSettings, VerifyOptions, verify_package,
};

use super::{FailureKind, Provenance, Upstream, UpstreamError};
use crate::Error;
use crate::inspect::PackageInfo;
use crate::signing::VersionSignature;

/// Step 1: the upstream's bytes in a temporary file, within the size limit and the timeout.
#[derive(Debug)]
pub struct Downloaded {
    pub(crate) upstream: Upstream,
    pub(crate) id: PackageId,
    pub(crate) version: NuGetVersion,
    pub(crate) file: tempfile::NamedTempFile,
    /// SHA-256 of the upstream's bytes, lower-case hex.
    pub(crate) sha256: String,
}

/// Step 2: what the upstream served is the package asked for, intact, repository-signed by
/// a certificate pinned for this upstream, and its author signature (if any) valid.
#[derive(Debug)]
pub struct UpstreamVerified {
    downloaded: Downloaded,
    info: PackageInfo,
    author: Option<PrimarySignature>,
    provenance: Provenance,
    signature: VersionSignature,
}

impl crate::signing::repository::Checked for UpstreamVerified {
    /// The owners the signature names are the upstream's account (`upstream:NAME`, what the
    /// backfill names too): never a name a local account could hold, so a client's owner
    /// filter cannot be met by a local push (the upstream's own owners are kept in the
    /// provenance).
    fn signing_input(&self) -> (&Path, Vec<String>) {
        (
            self.path(),
            vec![Upstream::account_name(&self.upstream().name)],
        )
    }
}

impl UpstreamVerified {
    /// The verified file.
    pub(crate) fn path(&self) -> &Path {
        self.downloaded.file.path()
    }

    /// The manifest.
    pub(crate) fn info(&self) -> &PackageInfo {
        &self.info
    }

    /// The upstream it came from.
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.downloaded.upstream
    }

    /// When the upstream repository-signed it (its timestamp; the quarantine clock).
    pub(crate) fn upstream_signed_at(&self) -> Option<i64> {
        self.provenance.upstream_repository_signed_at
    }
}

/// Step 3: the file to store, and what it is signed with.
#[derive(Debug)]
pub struct MirrorSigned {
    verified: UpstreamVerified,
    /// The re-signed copy; `None` in passthrough mode (the upstream's bytes are stored).
    file: Option<tempfile::NamedTempFile>,
    signature: VersionSignature,
}

impl MirrorSigned {
    /// The file to store.
    pub(crate) fn stored_path(&self) -> &Path {
        self.file
            .as_ref()
            .map_or(self.verified.path(), |f| f.path())
    }

    /// The pieces the commit needs.
    pub(crate) fn parts(
        &self,
    ) -> (
        &PackageInfo,
        Option<&PrimarySignature>,
        &Provenance,
        &VersionSignature,
        &Upstream,
    ) {
        let v = &self.verified;
        (
            &v.info,
            v.author.as_ref(),
            &v.provenance,
            &self.signature,
            &v.downloaded.upstream,
        )
    }
}

fn refused(kind: FailureKind, code: Option<NuCode>, message: impl Into<String>) -> Error {
    Error::Upstream(UpstreamError {
        kind,
        code,
        message: message.into(),
    })
}

/// The HTTP clients of the upstreams, kept: building one (a connection pool, TLS settings, a
/// runtime thread for the blocking client) costs more than a small package's whole fetch.
/// Keyed by what the client is built from, so a changed setting gets a new client; entries
/// are never removed (a blocking client must not be dropped on an async worker), and their
/// number is bounded by the settings an administrator has used.
#[derive(Clone, Default)]
pub(crate) struct Clients(Arc<std::sync::Mutex<ClientMap>>);

type ClientMap = std::collections::HashMap<(String, u64, bool), Arc<HttpClient>>;

impl Clients {
    /// The upstream's client. Call on a blocking thread (building one may block).
    pub(crate) fn get(&self, upstream: &Upstream) -> Result<Arc<HttpClient>, Error> {
        let key = (
            upstream.name.clone(),
            upstream.settings.timeout_seconds,
            upstream.settings.allow_insecure_loopback,
        );
        if let Some(c) = self.0.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let built = Arc::new(client(upstream)?);
        if let Ok(mut m) = self.0.lock() {
            return Ok(Arc::clone(m.entry(key).or_insert(built)));
        }
        Ok(built)
    }
}

/// The HTTP client for an upstream: its timeout bounds each request, body included.
pub(crate) fn client(upstream: &Upstream) -> Result<HttpClient, Error> {
    HttpClient::new(
        std::time::Duration::from_secs(upstream.settings.timeout_seconds.max(1)),
        upstream.http_policy(),
    )
    .map_err(|e| Error::Config(format!("upstream HTTP client: {e}")))
}

/// Maps a feed error of the upstream to what the client is told.
pub(crate) fn transport(upstream: &Upstream, e: &signet_feed::Error) -> Error {
    let text = e.to_string();
    let kind = if text.contains("timed out") {
        FailureKind::TimedOut
    } else {
        FailureKind::Unreachable
    };
    refused(
        kind,
        None,
        format!(
            "the upstream {} did not answer: {}",
            upstream.name,
            signet_common::terminal_safe(&text)
        ),
    )
}

/// Step 1: downloads `id` `version` from the upstream's flat container into `dir`, at most
/// `limit` bytes, hashing as it goes. Blocking.
pub(crate) fn download(
    http: &HttpClient,
    upstream: Upstream,
    flat_base: &str,
    id: PackageId,
    version: NuGetVersion,
    dir: &Path,
    limit: u64,
) -> Result<Downloaded, Error> {
    let mut file = tempfile::Builder::new()
        .prefix("mirror-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a mirror download file", e))?;
    let (lid, lver) = (id.lower(), version.lower());
    let url = format!("{flat_base}{lid}/{lver}/{lid}.{lver}.nupkg");
    struct Hashing<'a> {
        out: &'a mut File,
        hasher: signet_common::Hasher,
    }
    impl std::io::Write for Hashing<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = self.out.write(b)?;
            self.hasher.update(b.get(..n).unwrap_or_default());
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }
    let mut sink = Hashing {
        out: file.as_file_mut(),
        hasher: HashAlgorithm::Sha256.hasher(),
    };
    let found = match http.download(&url, &mut sink, limit) {
        Ok(found) => found,
        Err(e) if e.to_string().contains("is larger than") => {
            return Err(refused(
                FailureKind::Refused,
                None,
                format!(
                    "the upstream {} served more than the limit of {limit} bytes for {id} {version}",
                    upstream.name
                ),
            ));
        }
        Err(e) => return Err(transport(&upstream, &e)),
    };
    let sha256 = hex::encode(sink.hasher.finish());
    if !found {
        return Err(Error::NotFound(format!(
            "no package {id} {version} on the upstream {}",
            upstream.name
        )));
    }
    file.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync a mirror download", e))?;
    Ok(Downloaded {
        upstream,
        id,
        version,
        file,
        sha256,
    })
}

/// Step 2: reads the archive once with the push limits, checks that the manifest names the
/// id and version asked for, and verifies the signatures against the upstream's pins.
/// Blocking.
pub(crate) fn verify(
    downloaded: Downloaded,
    trust: &TrustStore,
    revocation: Option<Arc<dyn signet_trust::RevocationSource>>,
    limits: &Limits,
    scratch: &Path,
    now: UtcTime,
) -> Result<UpstreamVerified, Error> {
    let upstream_name = downloaded.upstream.name.clone();
    let (info, signature) = crate::inspect::inspect_push(downloaded.file.path(), limits, scratch)
        .map_err(|e| {
        refused(
            FailureKind::Refused,
            match &e {
                Error::Refused(r) => r.code,
                _ => None,
            },
            format!("the upstream {upstream_name} served an unacceptable package: {e}"),
        )
    })?;
    if info.id.to_lowercase() != downloaded.id.lower()
        || info.version.lower() != downloaded.version.lower()
    {
        return Err(refused(
            FailureKind::Refused,
            None,
            format!(
                "the upstream {upstream_name} served {} {} when {} {} was asked for",
                info.id,
                info.version.normalized(),
                downloaded.id,
                downloaded.version
            ),
        ));
    }
    let Some(signature) = signature else {
        return Err(refused(
            FailureKind::Refused,
            Some(NuCode::NU3004),
            format!(
                "the upstream {upstream_name} served {} {} unsigned: a mirrored package must \
                 carry a repository signature by a certificate pinned for the upstream",
                info.id,
                info.version.normalized()
            ),
        ));
    };
    let upstream = &downloaded.upstream;
    let mode = if upstream.settings.revocation_online() {
        RevocationMode::Online
    } else {
        RevocationMode::Offline
    };
    let mut options = VerifyOptions::new(VerifierSettings::verify_command(mode), now);
    options.package_limits = *limits;
    options.content_hash = ContentHash::Compute;
    options.revocation = if upstream.settings.revocation_online() {
        revocation
    } else {
        None
    };
    options.repository_certificates = Some(AllowList {
        kind: AllowListKind::RepositoryCertificates,
        entries: upstream
            .certificates
            .iter()
            .map(|c| TrustedCertificate {
                fingerprint: c.fingerprint.clone(),
                algorithm: HashAlgorithm::Sha256,
                target: TrustTarget::Repository,
                primary: true,
                countersignature: true,
                owners: Vec::new(),
            })
            .collect(),
        identities: Vec::new(),
        require_non_empty: true,
    });
    let file = File::open(downloaded.file.path()).map_err(|e| Error::io("open a download", e))?;
    let report = verify_package(BufReader::new(file), trust, &options);
    let Some(proof) = report.verified() else {
        let errors: Vec<&signet_trust::Issue> = report
            .issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .collect();
        let code = errors.iter().find_map(|i| i.code);
        let text: Vec<String> = errors
            .iter()
            .map(|i| match i.code {
                Some(c) => format!("{c}: {}", i.message),
                None => i.message.clone(),
            })
            .collect();
        return Err(refused(
            FailureKind::Refused,
            code,
            format!(
                "the upstream {upstream_name}'s {} {} does not verify: {}",
                info.id,
                info.version.normalized(),
                text.join("; ")
            ),
        ));
    };
    // The repository signature that matched a pin (primary or countersignature).
    let pinned = |fp: &str| {
        upstream
            .certificates
            .iter()
            .any(|c| c.fingerprint.eq_ignore_ascii_case(fp))
    };
    let repository = report.signatures.iter().find(|s| {
        s.signature_type == SignatureType::Repository
            && s.certificate.as_ref().is_some_and(|c| pinned(&c.sha256))
    });
    let Some(repository) = repository else {
        return Err(refused(
            FailureKind::Refused,
            Some(NuCode::NU3034),
            format!(
                "the upstream {upstream_name}'s {} {} is not repository-signed by a certificate \
                 pinned for it",
                info.id,
                info.version.normalized()
            ),
        ));
    };
    let repository_fingerprint = repository
        .certificate
        .as_ref()
        .map(|c| c.sha256.to_lowercase())
        .unwrap_or_default();
    let author = report
        .signatures
        .iter()
        .find(|s| s.placement == Placement::Primary && s.signature_type == SignatureType::Author);
    let micros = |t: Option<UtcTime>| t.map(|t| t.unix_micros());
    let signature_record = match author {
        Some(a) => {
            let cert = a.certificate.as_ref();
            VersionSignature {
                author_fingerprint: cert.map(|c| c.sha256.to_lowercase()),
                author_subject: cert.map(|c| c.subject.clone()),
                author_issuer: cert.map(|c| c.issuer.clone()),
                author_not_before: micros(cert.and_then(|c| c.valid_from())),
                author_not_after: micros(cert.and_then(|c| c.valid_to())),
                timestamp_at: micros(a.timestamp.as_ref().and_then(|t| t.time())),
                timestamp_subject: a.timestamp.as_ref().map(|t| t.certificate.subject.clone()),
                ..VersionSignature::default()
            }
        }
        None => VersionSignature::default(),
    };
    let package_hash = package_hash_of(&signature);
    let provenance = Provenance {
        upstream: upstream.name.clone(),
        upstream_repository_fingerprint: repository_fingerprint,
        upstream_author_fingerprint: signature_record.author_fingerprint.clone(),
        upstream_repository_signed_at: micros(repository.timestamp.as_ref().and_then(|t| t.time())),
        package_hash,
        content_hash: proof.content_hash().unwrap_or_default().to_owned(),
        upstream_sha256: downloaded.sha256.clone(),
        fetched_at: now.unix_micros(),
        upstream_listed: true,
        mismatch: None,
        upstream_owners: repository.owners.clone(),
    };
    let author = (signature.signature_type() == SignatureType::Author).then_some(signature);
    Ok(UpstreamVerified {
        downloaded,
        info,
        author,
        provenance,
        signature: signature_record,
    })
}

/// `ALG:base64` of the package hash a signature signs.
fn package_hash_of(signature: &PrimarySignature) -> String {
    use base64::Engine as _;
    let content = signature.content();
    format!(
        "{}:{}",
        content.hash_algorithm().nuget_name(),
        base64::engine::general_purpose::STANDARD.encode(content.hash())
    )
}

/// Step 3, passthrough: the upstream's bytes are stored as they are; their repository
/// signature is the upstream's.
pub(crate) fn passthrough(verified: UpstreamVerified) -> MirrorSigned {
    let mut signature = verified.signature.clone();
    signature.repository_fingerprint =
        Some(verified.provenance.upstream_repository_fingerprint.clone());
    signature.repository_signed_at = verified.provenance.upstream_repository_signed_at;
    MirrorSigned {
        verified,
        file: None,
        signature,
    }
}

/// Step 3, re-signing: `file` is the copy the repository signer made from the verified
/// bytes. Its content hash must be the upstream copy's (only the signature entry changed).
pub(crate) fn resigned(
    verified: UpstreamVerified,
    file: tempfile::NamedTempFile,
    repository_fingerprint: String,
    now: UtcTime,
    limits: &Limits,
) -> Result<MirrorSigned, Error> {
    let reader = File::open(file.path()).map_err(|e| Error::io("open the signed copy", e))?;
    let mut package = signet_nupkg::Package::open(BufReader::new(reader), limits)
        .map_err(|e| Error::Signing(format!("the re-signed package does not open: {e}")))?;
    let hash = package
        .content_hash()
        .map_err(|e| Error::Signing(format!("the re-signed package cannot be hashed: {e}")))?;
    if hash != verified.provenance.content_hash {
        return Err(Error::Signing(format!(
            "re-signing changed the content hash of {} {} ({} → {hash})",
            verified.info.id,
            verified.info.version.normalized(),
            verified.provenance.content_hash
        )));
    }
    // The package hash the served signature signs (the same digest as the upstream's unless
    // a repository primary signature over another algorithm was replaced).
    let served = package
        .read_signature()
        .ok()
        .flatten()
        .and_then(|b| PrimarySignature::load(&b, &signet_signature::Limits::default()).ok())
        .ok_or_else(|| Error::Signing("the re-signed package has no readable signature".into()))?;
    let mut verified = verified;
    verified.provenance.package_hash = package_hash_of(&served);
    let mut signature = verified.signature.clone();
    signature.repository_fingerprint = Some(repository_fingerprint);
    signature.repository_signed_at = Some(now.unix_micros());
    Ok(MirrorSigned {
        verified,
        file: Some(file),
        signature,
    })
}
