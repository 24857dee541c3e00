//! The signing surface of the protocol: `RepositorySignatures` (spec server §3.4) and the
//! certificates it points to, the validation endpoint (a push that stores nothing), and each
//! version's signature record.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use signet_common::UtcTime;

use super::handlers::{api_key, receive_in_time};
use super::{ApiError, AppState};
use crate::Error;

type Result<T> = std::result::Result<T, ApiError>;

/// The resource type signet's validation endpoint is announced under.
pub(crate) const VALIDATE_TYPE: &str = "signet/PackageValidation/1.0.0";

/// Whether `RepositorySignatures` is announced: a repository signer, and https (or the
/// explicit development override), as NuGet clients refuse a plain-http resource.
fn announces(s: &AppState) -> bool {
    s.registry.signing().repository.is_some()
        && (s.base.starts_with("https://") || s.registry.signing().announce_over_http)
}

/// Adds the signing resources to the service index.
pub(crate) fn extend_service_index(s: &AppState, index: &mut Value) {
    let Some(resources) = index.get_mut("resources").and_then(Value::as_array_mut) else {
        return;
    };
    resources.push(json!({
        "@id": format!("{}/api/signet/validate", s.base),
        "@type": VALIDATE_TYPE,
        "comment": "PUT a package as to PackagePublish: every push check runs, nothing is stored"
    }));
    if announces(s) {
        for v in ["4.7.0", "5.0.0"] {
            resources.push(json!({
                "@id": format!("{}/v3/repository-signatures/{v}/index.json", s.base),
                "@type": format!("RepositorySignatures/{v}"),
            }));
        }
    }
}

/// `GET /v3/repository-signatures/{4.7.0|5.0.0}/index.json`: every repository certificate
/// this server has signed with (rotation keeps old ones); `allRepositorySigned` only in
/// 5.0.0 and only once no stored version lacks the current signature (4.7.0 clients cannot
/// install from a source that says true).
pub(crate) async fn repository_signatures(
    State(s): State<AppState>,
    Path(version): Path<String>,
) -> Result<Response> {
    if !announces(&s) || !matches!(version.as_str(), "4.7.0" | "5.0.0") {
        return Err(ApiError(Error::NotFound("not found".into())));
    }
    let all_signed = version == "5.0.0" && s.registry.backfill_remaining().await? == Some(0);
    let announced = s.registry.announced_certificates().await?;
    let mut certificates = Vec::new();
    for (fingerprint, der) in announced.repository {
        let Ok(cert) = signet_signature::Certificate::from_der(&der) else {
            continue;
        };
        let sha384 = hex::encode(signet_common::HashAlgorithm::Sha384.digest(&der));
        let sha512 = hex::encode(signet_common::HashAlgorithm::Sha512.digest(&der));
        certificates.push(json!({
            "fingerprints": {
                "2.16.840.1.101.3.4.2.1": fingerprint,
                "2.16.840.1.101.3.4.2.2": sha384,
                "2.16.840.1.101.3.4.2.3": sha512,
            },
            "subject": cert.subject(),
            "issuer": cert.issuer(),
            "notBefore": iso(cert.not_before()),
            "notAfter": iso(cert.not_after()),
            "contentUrl": format!("{}/v3/repository-signatures/certificates/{fingerprint}.crt", s.base),
        }));
    }
    // Passthrough upstreams' certificates: what their packages are repository-signed with
    // (NuGet clients match a package's repository signature against this list, NU3034).
    let own: Vec<String> = certificates
        .iter()
        .filter_map(|e| {
            e.pointer("/fingerprints/2.16.840.1.101.3.4.2.1")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    for c in announced.passthrough {
        if own.contains(&c.fingerprint) {
            continue;
        }
        certificates.push(json!({
            "fingerprints": { "2.16.840.1.101.3.4.2.1": c.fingerprint },
            "subject": c.subject,
            "issuer": c.issuer,
            "notBefore": c.not_before,
            "notAfter": c.not_after,
            "contentUrl": c.content_url,
        }));
    }
    Ok(Json(json!({
        "allRepositorySigned": all_signed,
        "signingCertificates": certificates,
    }))
    .into_response())
}

/// NuGet.org's form: `2025-01-01T00:00:00.0000000Z`.
fn iso(t: UtcTime) -> String {
    let (y, mo, d, h, mi, s, _) = t.to_civil();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.0000000Z")
}

/// `GET /v3/repository-signatures/certificates/{sha256}.crt`: the DER certificate.
pub(crate) async fn repository_certificate(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response> {
    let wanted = file.strip_suffix(".crt").unwrap_or_default().to_lowercase();
    match s.registry.repository_certificate(&wanted).await? {
        Some(der) => Ok(([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response()),
        None => Err(ApiError(Error::NotFound(format!("no certificate {file}")))),
    }
}

/// `PUT /api/signet/validate`: the body of a push; 200 with what the push would do, or the
/// push's own refusal (400/401/403/409/413) — nothing is stored and no version is taken.
pub(crate) async fn validate(State(s): State<AppState>, req: Request) -> Result<Response> {
    let caller = s.registry.authenticate(api_key(req.headers())).await?;
    let upload = s.registry.new_upload()?;
    let file = upload
        .reopen()
        .map_err(|e| ApiError(Error::io("open the upload", e)))?;
    receive_in_time(&s, req, file, s.registry.limits().max_package_size).await?;
    let validation = s.registry.validate_push(&caller, upload.path()).await?;
    Ok((StatusCode::OK, Json(validation)).into_response())
}

/// `GET /api/signet/packages/{id}/{version}/signature`: what the stored version is signed
/// with, and the recheck job's flag.
pub(crate) async fn version_signature(
    State(s): State<AppState>,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response> {
    if s.registry.version(&id, &version).await?.is_none() {
        return Err(ApiError(Error::NotFound(format!(
            "no package {id} {version}"
        ))));
    }
    let sig = s
        .registry
        .version_signature(&id, &version)
        .await?
        .unwrap_or_default();
    let time = |t: Option<i64>| t.map(|t| UtcTime::from_unix_micros(t).rfc3339());
    // Where a mirrored version came from.
    let provenance = s.registry.provenance(&id, &version).await?.map(|p| {
        json!({
            "upstream": p.upstream,
            "upstreamRepositoryFingerprint": p.upstream_repository_fingerprint,
            "upstreamAuthorFingerprint": p.upstream_author_fingerprint,
            "upstreamRepositorySignedAt": time(p.upstream_repository_signed_at),
            "packageHash": p.package_hash,
            "contentHash": p.content_hash,
            "upstreamSha256": p.upstream_sha256,
            "fetchedAt": time(Some(p.fetched_at)),
            "upstreamListed": p.upstream_listed,
            "upstreamOwners": p.upstream_owners,
            "mismatch": p.mismatch,
        })
    });
    Ok(Json(json!({
        "id": id,
        "version": version,
        "authorSigned": sig.author_fingerprint.is_some(),
        "author": sig.author_fingerprint.as_ref().map(|f| json!({
            "fingerprint": f,
            "subject": sig.author_subject,
            "issuer": sig.author_issuer,
            "notBefore": time(sig.author_not_before),
            "notAfter": time(sig.author_not_after),
            "timestamp": time(sig.timestamp_at),
            "timestampSubject": sig.timestamp_subject,
        })),
        "repository": sig.repository_fingerprint.as_ref().map(|f| json!({
            "fingerprint": f,
            "signedAt": time(sig.repository_signed_at),
        })),
        "flag": sig.flag,
        "mirroredFrom": provenance,
        // The version's stapled revocation status (signet/RevocationStatus/1.0.0).
        "revocationStatus": s.registry.staples_on().then(|| format!(
            "{}/api/signet/revocation/{}/{}",
            s.base,
            id.to_lowercase(),
            version.to_lowercase()
        )),
        // The version's inclusion proof in the transparency log (c2sp.org/tlog-proof).
        "transparencyLogProof": super::tlog::proof_url(&s, &id, &version),
    }))
    .into_response())
}
