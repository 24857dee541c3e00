//! The signing pages (spec server §1, §2.2, §5): an account's registered certificates (users
//! and organizations; NuGet.org's routes, as a page or as JSON), the package's signing owner,
//! and the operator's signing status page. Changing anything needs a session that signed in
//! with two-factor authentication ([`RequireTwoFactor`]).

use askama::Template;
use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_common::UtcTime;

use super::{
    Nav, RequireTwoFactor, SignedIn, WebError, format_date, render, render_status, see_other,
};
use crate::Error;
use crate::app::AppState;
use crate::signing::{CertificateRow, CertificateStatus};

/// The largest upload read (the registration refuses more than 10,000 bytes of DER; a PEM
/// with its chain is larger).
const MAX_UPLOAD: usize = 64 * 1024;

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// NuGet.org's short form of a DN: the CN when there is one, else the DN cut to 36 characters.
fn short_name(dn: &str) -> String {
    let cn = dn
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("CN="));
    match cn {
        Some(cn) => cn.to_owned(),
        None if dn.chars().count() > 36 => dn.chars().take(36).collect::<String>() + "…",
        None => dn.to_owned(),
    }
}

/// One row of the certificates table.
struct CertLine {
    /// Lower case, as stored: element ids and URLs.
    fingerprint: String,
    /// Upper case, as the CLI prints it: what people read and compare.
    shown_fingerprint: String,
    subject: String,
    short_subject: String,
    issuer: String,
    short_issuer: String,
    expires: String,
    status: &'static str,
    detail: String,
    signed_versions: i64,
}

fn line(row: &CertificateRow, now: UtcTime) -> CertLine {
    CertLine {
        fingerprint: row.fingerprint.clone(),
        shown_fingerprint: super::display_fingerprint(&row.fingerprint),
        short_subject: short_name(&row.subject),
        subject: row.subject.clone(),
        short_issuer: short_name(&row.issuer),
        issuer: row.issuer.clone(),
        expires: format_date(row.not_after),
        status: CertificateStatus::of(row, now).as_str(),
        detail: row
            .cannot_sign
            .clone()
            .or_else(|| row.status_detail.clone())
            .unwrap_or_default(),
        signed_versions: row.signed_versions,
    }
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct CertificatesPage {
    nav: Nav,
    csrf: String,
    account: String,
    /// Where the forms post: `/account/certificates` or `/organization/{name}/certificates`.
    base: String,
    certificates: Vec<CertLine>,
    can_manage: bool,
    two_factor: bool,
    registered: Option<String>,
    warnings: Vec<String>,
    error: Option<String>,
}

/// Whose certificates a route is about: the signed-in user's, or an organization's.
fn target(user: &SignedIn, org: Option<&str>) -> (String, String) {
    match org {
        None => (user.user_name.clone(), "/account/certificates".to_owned()),
        Some(o) => (o.to_owned(), format!("/organization/{o}/certificates")),
    }
}

async fn list(
    s: &AppState,
    user: &SignedIn,
    org: Option<&str>,
    headers: &HeaderMap,
    outcome: (Option<String>, Vec<String>, Option<String>),
    status: StatusCode,
) -> Result<Response, WebError> {
    let (account, base) = target(user, org);
    if !s
        .registry
        .can_view_account(&user.user_name, &account)
        .await?
    {
        return Err(Error::Forbidden(format!("you are not a member of {account}")).into());
    }
    let can_manage = s
        .registry
        .can_manage_account(&user.user_name, &account)
        .await?;
    let rows = s.registry.certificates(&account).await?;
    let now = s.registry.now();
    if wants_json(headers) {
        // NuGet.org's item shape (spec server §1.5), plus signet's status and count.
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                let status = CertificateStatus::of(r, now);
                let deletable = can_manage && user.two_factor;
                json!({
                    "Thumbprint": r.fingerprint,
                    "HasInfo": true,
                    "IsExpired": r.not_after < now.unix_micros(),
                    "ExpirationDisplay": format_date(r.not_after),
                    "ExpirationIso": UtcTime::from_unix_micros(r.not_after).rfc3339(),
                    "Subject": r.subject,
                    "Issuer": r.issuer,
                    "ShortSubject": short_name(&r.subject),
                    "ShortIssuer": short_name(&r.issuer),
                    "CanDelete": deletable,
                    "DeleteUrl": deletable.then(|| format!("{base}/{}", r.fingerprint)),
                    "Status": status.as_str(),
                    "SignedVersions": r.signed_versions,
                })
            })
            .collect();
        return Ok((status, Json(items)).into_response());
    }
    let (registered, warnings, error) = outcome;
    Ok(render_status(
        status,
        &CertificatesPage {
            nav: user.nav(),
            csrf: user.csrf().to_owned(),
            account,
            base,
            certificates: rows.iter().map(|r| line(r, now)).collect(),
            can_manage,
            two_factor: user.two_factor,
            registered,
            warnings,
            error,
        },
    ))
}

/// What a redirect after a registration left to show (post/redirect/get).
fn registered_flash(
    s: &AppState,
    user: &SignedIn,
    org: Option<&str>,
) -> (Option<String>, Vec<String>, Option<String>) {
    let (page_account, _) = target(user, org);
    let now = s.registry.clock.now().unix_micros();
    match s.web.flashes.take_if(&user.token_hash, now, |f| {
        matches!(f, super::flash::Flash::CertificateRegistered { account, .. }
            if account.eq_ignore_ascii_case(&page_account))
    }) {
        Some(super::flash::Flash::CertificateRegistered {
            fingerprint,
            warnings,
            ..
        }) => (Some(fingerprint), warnings, None),
        _ => Default::default(),
    }
}

/// `GET /account/certificates`.
pub(crate) async fn own_certificates(
    State(s): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let shown = registered_flash(&s, &user, None);
    list(&s, &user, None, &headers, shown, StatusCode::OK).await
}

/// `GET /organization/{name}/certificates`.
pub(crate) async fn org_certificates(
    State(s): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Path(org): Path<String>,
) -> Result<Response, WebError> {
    let shown = registered_flash(&s, &user, Some(&org));
    list(&s, &user, Some(&org), &headers, shown, StatusCode::OK).await
}

/// Reads the `uploadFile` part (NuGet.org's field name; any file part is taken) and the
/// `csrf` part of a multipart upload.
async fn read_upload(mut multipart: Multipart) -> Result<(String, Vec<u8>, String), Error> {
    let (mut name, mut bytes, mut csrf) = (String::new(), None, String::new());
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| Error::Invalid(format!("invalid upload: {}", e.body_text())))?
    {
        let field_name = field.name().unwrap_or_default().to_owned();
        if field_name == "csrf" {
            csrf = field
                .text()
                .await
                .map_err(|e| Error::Invalid(format!("invalid upload: {}", e.body_text())))?;
            continue;
        }
        if bytes.is_some() {
            continue;
        }
        name = field.file_name().unwrap_or("upload.cer").to_owned();
        let mut data = Vec::new();
        let mut field = field;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| Error::Invalid(format!("invalid upload: {}", e.body_text())))?
        {
            if data.len() + chunk.len() > MAX_UPLOAD {
                return Err(Error::Invalid(format!(
                    "The file exceeds the size limit of {} bytes.",
                    signet_push_rules::MAX_CERTIFICATE_SIZE
                )));
            }
            data.extend_from_slice(&chunk);
        }
        bytes = Some(data);
    }
    let bytes = bytes.ok_or_else(|| Error::Invalid("A certificate file is required.".into()))?;
    Ok((name, bytes, csrf))
}

async fn add(
    s: &AppState,
    RequireTwoFactor(user): RequireTwoFactor,
    org: Option<&str>,
    headers: &HeaderMap,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let (account, base) = target(&user, org);
    let (name, bytes, csrf) = read_upload(multipart).await?;
    let header_token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    user.verify_csrf(if csrf.is_empty() { header_token } else { &csrf })?;
    if !s
        .registry
        .can_manage_account(&user.user_name, &account)
        .await?
    {
        return Err(Error::Forbidden(format!(
            "only {account} or an admin of it may manage its certificates"
        ))
        .into());
    }
    let registered = s
        .registry
        .register_certificate(&account, &name, &bytes)
        .await;
    s.registry
        .audit_result_with(
            &user.user_name,
            crate::audit::AuditAction::CertificateRegister,
            &account,
            &registered
                .as_ref()
                .map(|c| super::display_fingerprint(&c.fingerprint))
                .unwrap_or_default(),
            &registered,
        )
        .await;
    match registered {
        Ok(c) => {
            if wants_json(headers) {
                return Ok((
                    StatusCode::CREATED,
                    Json(json!({ "Thumbprint": c.fingerprint, "Warnings": c.warnings })),
                )
                    .into_response());
            }
            // Post/redirect/get: a reload of the page shows the list, never uploads again.
            let now = s.registry.clock.now().unix_micros();
            s.web.flashes.put(
                &user.token_hash,
                super::flash::Flash::CertificateRegistered {
                    account: account.clone(),
                    fingerprint: super::display_fingerprint(&c.fingerprint),
                    warnings: c.warnings,
                },
                now,
            );
            Ok(see_other(&base))
        }
        Err(Error::Invalid(m)) => {
            if wants_json(headers) {
                return Ok((StatusCode::BAD_REQUEST, Json(json!([m]))).into_response());
            }
            list(
                s,
                &user,
                org,
                headers,
                (None, Vec::new(), Some(m)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/certificates` (multipart, `uploadFile`).
pub(crate) async fn add_own(
    State(s): State<AppState>,
    user: RequireTwoFactor,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, WebError> {
    add(&s, user, None, &headers, multipart).await
}

/// `POST /organization/{name}/certificates`.
pub(crate) async fn add_org(
    State(s): State<AppState>,
    user: RequireTwoFactor,
    headers: HeaderMap,
    Path(org): Path<String>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    add(&s, user, Some(&org), &headers, multipart).await
}

async fn delete(
    s: &AppState,
    user: &SignedIn,
    org: Option<&str>,
    fingerprint: &str,
) -> Result<String, WebError> {
    let (account, base) = target(user, org);
    if !s
        .registry
        .can_manage_account(&user.user_name, &account)
        .await?
    {
        return Err(Error::Forbidden(format!(
            "only {account} or an admin of it may manage its certificates"
        ))
        .into());
    }
    let deleted = s.registry.delete_certificate(&account, fingerprint).await;
    s.registry
        .audit_result_with(
            &user.user_name,
            crate::audit::AuditAction::CertificateDelete,
            &account,
            &super::display_fingerprint(fingerprint),
            &deleted,
        )
        .await;
    deleted?;
    Ok(base)
}

/// `POST /account/certificates/{fingerprint}/delete` (a form; the CSRF layer checked it).
pub(crate) async fn delete_own_form(
    State(s): State<AppState>,
    RequireTwoFactor(user): RequireTwoFactor,
    Path(fingerprint): Path<String>,
) -> Result<Response, WebError> {
    Ok(see_other(&delete(&s, &user, None, &fingerprint).await?))
}

/// `POST /organization/{name}/certificates/{fingerprint}/delete`.
pub(crate) async fn delete_org_form(
    State(s): State<AppState>,
    RequireTwoFactor(user): RequireTwoFactor,
    Path((org, fingerprint)): Path<(String, String)>,
) -> Result<Response, WebError> {
    Ok(see_other(
        &delete(&s, &user, Some(&org), &fingerprint).await?,
    ))
}

/// `DELETE /account/certificates/{fingerprint}` (NuGet.org's API; `X-CSRF-Token` header).
pub(crate) async fn delete_own_api(
    State(s): State<AppState>,
    RequireTwoFactor(user): RequireTwoFactor,
    Path(fingerprint): Path<String>,
) -> Result<Response, WebError> {
    delete(&s, &user, None, &fingerprint).await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /organization/{name}/certificates/{fingerprint}`.
pub(crate) async fn delete_org_api(
    State(s): State<AppState>,
    RequireTwoFactor(user): RequireTwoFactor,
    Path((org, fingerprint)): Path<(String, String)>,
) -> Result<Response, WebError> {
    delete(&s, &user, Some(&org), &fingerprint).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Deserialize)]
pub(crate) struct SignerForm {
    /// The required signer's account name; empty: any owner.
    #[serde(default)]
    account: String,
}

/// `POST /packages/{id}/required-signer` (form field `account`, empty for "Any").
pub(crate) async fn set_required_signer(
    State(s): State<AppState>,
    RequireTwoFactor(user): RequireTwoFactor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<SignerForm>,
) -> Result<Response, WebError> {
    if !s.registry.can_manage_package(&user.user_name, &id).await? {
        return Err(Error::Forbidden(format!("you do not manage {id}")).into());
    }
    let account = form.account.trim();
    let set = s
        .registry
        .set_required_signer(&id, (!account.is_empty()).then_some(account))
        .await;
    s.registry
        .audit_result_with(
            &user.user_name,
            crate::audit::AuditAction::SigningRule,
            &id,
            &format!(
                "required signer: {}",
                if account.is_empty() {
                    "any owner"
                } else {
                    account
                }
            ),
            &set,
        )
        .await;
    set?;
    Ok(see_other(&format!("/packages/{id}#signing")))
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Nav,
    repository: Option<(String, String, bool)>,
    previous: Vec<String>,
    remaining: Option<u64>,
    total: u64,
    certificates: Vec<(String, i64)>,
}

/// `GET /admin/signing`: repository signing and backfill status, certificate rechecks (site
/// administrators: `signet admin grant-site-admin`).
pub(crate) async fn admin_page(
    State(s): State<AppState>,
    user: SignedIn,
) -> Result<Response, WebError> {
    super::admin::require_site_admin(&s, &user).await?;
    let signing = s.registry.signing();
    let repository = signing.repository.as_ref().map(|r| {
        (
            super::display_fingerprint(&r.certificate().fingerprint),
            r.certificate().certificate.subject(),
            r.is_development(),
        )
    });
    let previous = signing
        .repository
        .as_ref()
        .map(|r| {
            r.previous()
                .iter()
                .map(|c| super::display_fingerprint(&c.fingerprint))
                .collect()
        })
        .unwrap_or_default();
    let (total, certificates) = s.registry.signing_status().await?;
    Ok(render(&AdminPage {
        nav: user.nav(),
        repository,
        previous,
        remaining: s.registry.backfill_remaining().await?,
        total,
        certificates,
    }))
}
