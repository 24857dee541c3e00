//! Public pages: the home page with search, package pages (a version's details, its versions,
//! owners and dependencies), and owner management for the package's owners.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{
    MaybeSignedIn, Nav, SignedIn, WebError, display_fingerprint, format_date, format_time, render,
    see_other,
};
use crate::app::AppState;
use crate::registry::VersionFilter;

/// Results shown on the home page.
const HOME_MAX: usize = 100;

/// Everything, prereleases and SemVer 2.0.0 included (a person reads these pages).
const ALL: VersionFilter = VersionFilter {
    prerelease: true,
    semver2: true,
};

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/site.css"),
    )
        .into_response()
}

/// One package in the search results.
struct Hit {
    id: String,
    version: String,
    description: String,
    downloads: i64,
    owners: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    query: String,
    hits: Vec<Hit>,
    total: usize,
}

/// `GET /?q=…`: packages whose id, title or tags match the query (all of them when empty;
/// the first [`HOME_MAX`], paged in the database).
pub(crate) async fn home(
    State(s): State<AppState>,
    user: MaybeSignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let query = q.get("q").map(|v| v.trim().to_owned()).unwrap_or_default();
    let found = s.registry.search(&query, ALL, 0, HOME_MAX).await?;
    let total = found.total;
    let mut hits = Vec::new();
    for (h, counts) in found.hits.into_iter().zip(found.downloads) {
        let Some(latest) = h.versions.last() else {
            continue;
        };
        hits.push(Hit {
            id: latest.package_id.clone(),
            version: latest.version.clone(),
            description: latest.metadata.description.clone(),
            downloads: counts.total,
            owners: h.owners.join(", "),
        });
    }
    Ok(render(&HomePage {
        nav: user.nav(),
        query,
        hits,
        total,
    }))
}

/// A row of the versions table.
struct VersionLine {
    version: String,
    published: String,
    downloads: i64,
    listed: bool,
    current: bool,
    /// SHA-256 of the author signer, empty when not author-signed.
    signer: String,
    /// The revocation recheck flagged its signature.
    flagged: bool,
}

/// A dependency group.
struct Group {
    framework: String,
    dependencies: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "package.html")]
struct PackagePage {
    nav: Nav,
    id: String,
    version: String,
    listed: bool,
    prerelease: bool,
    title: String,
    description: String,
    authors: String,
    project_url: String,
    tags: String,
    published: String,
    size: i64,
    version_downloads: i64,
    total_downloads: i64,
    owners: Vec<String>,
    /// Accounts asked to become owners that have not answered yet.
    pending_owners: Vec<String>,
    can_manage: bool,
    csrf: String,
    groups: Vec<Group>,
    versions: Vec<VersionLine>,
    signature: SignatureView,
    /// Owners with their certificate counts, for the signing-owner choice.
    signing_owners: Vec<(String, usize)>,
    required_signer: String,
    two_factor: bool,
    /// The feed's service index (for `--source` in the install commands).
    index_url: String,
    /// `signet install` needs its loopback flag for a plain-http feed.
    insecure_flag: &'static str,
    /// The .nupkg of this version (the flat container's URL).
    download_url: String,
    /// The nuspec's `<license>` expression or file, or its `<licenseUrl>` (http(s) only).
    license: LicenseView,
}

/// What the page says about the license.
enum LicenseView {
    /// An SPDX expression (`MIT`, `Apache-2.0 OR MIT`).
    Expression(String),
    /// A file inside the package.
    File(String),
    /// Only a `<licenseUrl>`.
    Url(String),
    /// Nothing declared.
    None,
}

fn license_view(m: &crate::inspect::Metadata) -> LicenseView {
    match (m.license_type.as_str(), m.license.as_str()) {
        (_, "") => match safe_url(&m.license_url) {
            u if u.is_empty() => LicenseView::None,
            u => LicenseView::Url(u),
        },
        ("file", f) => LicenseView::File(f.to_owned()),
        (_, e) => LicenseView::Expression(e.to_owned()),
    }
}

/// The current version's signatures, as the page shows them.
#[derive(Default)]
struct SignatureView {
    author: Option<AuthorView>,
    repository: Option<(String, String)>,
    flag: Option<String>,
    /// Where a mirrored version came from.
    mirrored: Option<MirrorView>,
}

struct MirrorView {
    upstream: String,
    repository_fingerprint: String,
    repository_signed: String,
    author_fingerprint: String,
    fetched: String,
    package_hash: String,
    content_hash: String,
    upstream_sha256: String,
    mismatch: String,
    upstream_owners: String,
}

fn mirror_view(p: crate::mirror::Provenance) -> MirrorView {
    MirrorView {
        upstream: p.upstream,
        repository_fingerprint: display_fingerprint(&p.upstream_repository_fingerprint),
        repository_signed: p
            .upstream_repository_signed_at
            .map(format_time)
            .unwrap_or_else(|| "unknown".into()),
        author_fingerprint: p
            .upstream_author_fingerprint
            .as_deref()
            .map_or_else(|| "not author-signed".into(), display_fingerprint),
        fetched: format_time(p.fetched_at),
        package_hash: p.package_hash,
        content_hash: p.content_hash,
        upstream_sha256: p.upstream_sha256,
        mismatch: p.mismatch.unwrap_or_default(),
        upstream_owners: p.upstream_owners.join(", "),
    }
}

struct AuthorView {
    subject: String,
    fingerprint: String,
    issuer: String,
    valid: String,
    timestamp: String,
    timestamp_subject: String,
}

fn signature_view(sig: Option<&crate::signing::VersionSignature>) -> SignatureView {
    let Some(sig) = sig else {
        return SignatureView::default();
    };
    let date = |t: Option<i64>| t.map(format_date).unwrap_or_else(|| "unknown".into());
    SignatureView {
        author: sig.author_fingerprint.as_ref().map(|fp| AuthorView {
            subject: sig.author_subject.clone().unwrap_or_default(),
            fingerprint: display_fingerprint(fp),
            issuer: sig.author_issuer.clone().unwrap_or_default(),
            valid: format!(
                "{} to {}",
                date(sig.author_not_before),
                date(sig.author_not_after)
            ),
            timestamp: sig
                .timestamp_at
                .map(format_time)
                .unwrap_or_else(|| "none".into()),
            timestamp_subject: sig.timestamp_subject.clone().unwrap_or_default(),
        }),
        repository: sig.repository_fingerprint.as_ref().map(|fp| {
            (
                display_fingerprint(fp),
                sig.repository_signed_at
                    .map(format_time)
                    .unwrap_or_default(),
            )
        }),
        flag: sig.flag.clone(),
        mirrored: None,
    }
}

/// `GET /packages/{id}`: the latest listed version (the latest of all when none is listed).
pub(crate) async fn package(
    State(s): State<AppState>,
    user: MaybeSignedIn,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    show(&s, user, &id, None).await
}

/// `GET /packages/{id}/{version}`.
pub(crate) async fn package_version(
    State(s): State<AppState>,
    user: MaybeSignedIn,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, WebError> {
    show(&s, user, &id, Some(&version)).await
}

async fn show(
    s: &AppState,
    user: MaybeSignedIn,
    id: &str,
    version: Option<&str>,
) -> Result<Response, WebError> {
    let versions = s.registry.served_versions(id).await?;
    let not_found = || {
        WebError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no package {id} on this server."),
        )
        .with_link("/", "Search packages")
    };
    let current = match version {
        Some(v) => {
            let wanted = signet_feed::NuGetVersion::parse(v)
                .map(|v| v.lower())
                .unwrap_or_else(|_| v.to_lowercase());
            versions.iter().find(|r| r.version_lower == wanted)
        }
        None => versions
            .iter()
            .rev()
            .find(|r| r.listed)
            .or_else(|| versions.last()),
    };
    let Some(current) = current else {
        return Err(match version {
            Some(v) if !versions.is_empty() => WebError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("{id} has no version {v}."),
            )
            .with_link(&format!("/packages/{id}"), "All versions"),
            _ => not_found(),
        });
    };
    let owners = s.registry.owners(id).await?;
    let counts = s.registry.download_counts(id).await?;
    let can_manage = match &user.0 {
        Some(u) => s.registry.can_manage_package(&u.user_name, id).await?,
        None => false,
    };
    let groups = current
        .dependencies
        .iter()
        .map(|g| Group {
            framework: g
                .target_framework
                .clone()
                .unwrap_or_else(|| "Any framework".into()),
            dependencies: g
                .dependencies
                .iter()
                .map(|d| {
                    (
                        d.id.clone(),
                        d.range.clone().unwrap_or_else(|| "any version".into()),
                    )
                })
                .collect(),
        })
        .collect();
    let signatures = s.registry.version_signatures(id).await?;
    let lines = versions
        .iter()
        .rev()
        .filter(|r| r.listed || r.version_lower == current.version_lower)
        .map(|r| {
            let sig = signatures.get(&r.version_lower);
            VersionLine {
                version: r.version.clone(),
                published: format_date(r.published_at),
                downloads: counts.version(&r.version_lower),
                listed: r.listed,
                current: r.version_lower == current.version_lower,
                signer: sig
                    .and_then(|g| g.author_fingerprint.as_deref())
                    .map(display_fingerprint)
                    .unwrap_or_default(),
                flagged: sig.is_some_and(|g| g.flag.is_some()),
            }
        })
        .collect();
    let (signing_owners, required_signer) = s.registry.signing_owners(id).await?;
    let m = &current.metadata;
    Ok(render(&PackagePage {
        nav: user.nav(),
        id: current.package_id.clone(),
        version: current.version.clone(),
        listed: current.listed,
        prerelease: current.prerelease,
        title: m.title.clone(),
        description: m.description.clone(),
        authors: m.authors.clone(),
        project_url: safe_url(&m.project_url),
        tags: m.tags.clone(),
        published: format_time(current.published_at),
        size: current.size,
        version_downloads: counts.version(&current.version_lower),
        total_downloads: counts.total,
        owners,
        pending_owners: s
            .registry
            .pending_owners(id)
            .await?
            .into_iter()
            .map(|r| r.account)
            .collect(),
        can_manage,
        csrf: user
            .0
            .as_ref()
            .map(|u| u.csrf().to_owned())
            .unwrap_or_default(),
        groups,
        versions: lines,
        signature: SignatureView {
            mirrored: s
                .registry
                .provenance(id, &current.version)
                .await?
                .map(mirror_view),
            ..signature_view(signatures.get(&current.version_lower))
        },
        signing_owners,
        required_signer: required_signer.unwrap_or_default(),
        two_factor: user.0.as_ref().is_some_and(|u| u.two_factor),
        index_url: format!("{}/v3/index.json", s.base),
        insecure_flag: if s.base.starts_with("http://") {
            " --allow-insecure-loopback"
        } else {
            ""
        },
        download_url: crate::app::content_url(&s.base, current),
        license: license_view(m),
    }))
}

/// A nuspec URL worth linking: http(s) only (no `javascript:` and the like).
fn safe_url(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        url.trim().to_owned()
    } else {
        String::new()
    }
}

#[derive(Deserialize)]
pub(crate) struct OwnerForm {
    account: String,
}

/// Refuses unless `user` owns package `id` directly or as an admin of an owning organization.
async fn must_manage(s: &AppState, user: &SignedIn, id: &str) -> Result<(), WebError> {
    if s.registry.can_manage_package(&user.user_name, id).await? {
        return Ok(());
    }
    Err(WebError::new(
        StatusCode::FORBIDDEN,
        "Not allowed",
        &format!(
            "Only an owner of {id}, or an administrator of an owning organization, can change \
             its owners."
        ),
    )
    .with_link(&format!("/packages/{id}"), "Back to the package"))
}

/// `POST /packages/{id}/owners`: asks an account (user or organization) to become an owner;
/// it is one only after it accepts (on its account page, or with `signet admin accept-owner`).
pub(crate) async fn add_owner(
    State(s): State<AppState>,
    super::TwoFactorIfEnabled(user): super::TwoFactorIfEnabled,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<OwnerForm>,
) -> Result<Response, WebError> {
    must_manage(&s, &user, &id).await?;
    let account = f.account.trim();
    s.registry
        .add_owner(&id, account, &user.user_name)
        .await
        .map_err(|e| WebError::from(e).with_link(&format!("/packages/{id}"), "Back"))?;
    tracing::info!(id, account, by = %user.user_name, "ownership requested on the web");
    Ok(see_other(&format!("/packages/{id}")))
}

#[derive(Deserialize)]
pub(crate) struct AnswerForm {
    package: String,
    account: String,
    answer: String,
}

/// `POST /account/owner-requests`: the invited user (or an administrator of the invited
/// organization) accepts or declines an ownership request.
pub(crate) async fn answer_owner_request(
    State(s): State<AppState>,
    super::TwoFactorIfEnabled(user): super::TwoFactorIfEnabled,
    axum::Form(f): axum::Form<AnswerForm>,
) -> Result<Response, WebError> {
    let accept = match f.answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => {
            return Err(WebError::from(crate::Error::Invalid(
                "answer accept or decline".into(),
            )));
        }
    };
    s.registry
        .answer_owner_request(&user.user_name, &f.package, &f.account, accept)
        .await
        .map_err(|e| WebError::from(e).with_link("/account", "Back"))?;
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
pub(crate) struct ListingForm {
    listed: String,
}

/// `POST /packages/{id}/{version}/listing`: an owner unlists (`listed=false`) or relists
/// (`listed=true`) a version, as `signet delete` / `signet relist` do with an API key.
pub(crate) async fn set_listing(
    State(s): State<AppState>,
    super::TwoFactorIfEnabled(user): super::TwoFactorIfEnabled,
    Path((id, version)): Path<(String, String)>,
    axum::Form(f): axum::Form<ListingForm>,
) -> Result<Response, WebError> {
    let listed = match f.listed.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(WebError::from(crate::Error::Invalid(
                "listed must be true or false".into(),
            )));
        }
    };
    let back = format!("/packages/{id}/{version}");
    s.registry
        .set_listed_by_owner(&user.user_name, &id, &version, listed)
        .await
        .map_err(|e| WebError::from(e).with_link(&back, "Back to the package"))?;
    Ok(see_other(&back))
}

/// `POST /packages/{id}/owners/remove`: removes an owner (never the last one: 409).
pub(crate) async fn remove_owner(
    State(s): State<AppState>,
    super::TwoFactorIfEnabled(user): super::TwoFactorIfEnabled,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<OwnerForm>,
) -> Result<Response, WebError> {
    must_manage(&s, &user, &id).await?;
    let account = f.account.trim();
    let removed = s.registry.remove_owner(&id, account).await;
    s.registry
        .audit_result(
            &user.user_name,
            crate::audit::AuditAction::OwnerRemove,
            &format!("{id} owner {account}"),
            &removed,
        )
        .await;
    removed.map_err(|e| WebError::from(e).with_link(&format!("/packages/{id}"), "Back"))?;
    tracing::info!(id, account, by = %user.user_name, "owner removed on the web");
    Ok(see_other(&format!("/packages/{id}")))
}
