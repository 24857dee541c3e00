//! The site administrators' audit log page (`GET /admin/audit`, issue 19): the entries
//! `signet admin audit-log` prints, filtered by age and actor, newest first.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, SignedIn, WebError, render};
use crate::app::AppState;
use crate::audit::AuditEntry;

/// The periods offered (value for `since`, label).
const PERIODS: [(&str, &str); 5] = [
    ("24h", "the last 24 hours"),
    ("7d", "the last 7 days"),
    ("30d", "the last 30 days"),
    ("365d", "the last year"),
    ("36500d", "ever"),
];

/// The period shown when none is asked for (as `signet admin audit-log`).
const DEFAULT_PERIOD: &str = "7d";

/// Most entries one page shows.
const LIMIT: usize = 500;

/// Refuses anyone but a site administrator (`signet admin grant-site-admin`).
pub(crate) async fn require_site_admin(s: &AppState, user: &SignedIn) -> Result<(), WebError> {
    if s.registry.is_site_admin(&user.user_name).await? {
        return Ok(());
    }
    Err(WebError::new(
        StatusCode::FORBIDDEN,
        "Not allowed",
        "This page is for the server's administrators (signet admin grant-site-admin).",
    ))
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    since: String,
    #[serde(default)]
    actor: String,
}

/// One row: the entry, and its time as people read it (to the second).
struct Row {
    when: String,
    e: AuditEntry,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    periods: Vec<(&'static str, &'static str)>,
    since: String,
    actor: String,
    entries: Vec<Row>,
    truncated: bool,
    limit: usize,
    /// An unknown `since` asked for (the default period is shown instead).
    unknown_period: Option<String>,
}

/// `GET /admin/audit?since=7d&actor=alice`.
pub(crate) async fn audit_page(
    State(s): State<AppState>,
    user: SignedIn,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    require_site_admin(&s, &user).await?;
    // Only the offered periods (a bounded query): a hand-made URL with another gets the
    // default, and the page says so.
    let asked = q.since.trim();
    let offered = PERIODS.iter().find(|(value, _)| *value == asked);
    let since = offered.map_or(DEFAULT_PERIOD, |(value, _)| value);
    let unknown_period = (offered.is_none() && !asked.is_empty()).then(|| asked.to_owned());
    let age = crate::audit::parse_age(since)?;
    let from = s.registry.clock.now().unix_micros().saturating_sub(age);
    let actor = q.actor.trim();
    let mut entries = s
        .registry
        .audit_log(from, (!actor.is_empty()).then_some(actor), LIMIT + 1)
        .await?;
    let truncated = entries.len() > LIMIT;
    entries.truncate(LIMIT);
    let entries = entries
        .into_iter()
        .map(|e| Row {
            when: e.at.get(..19).unwrap_or(&e.at).replacen('T', " ", 1),
            e,
        })
        .collect();
    Ok(render(&AuditPage {
        nav: user.nav(),
        periods: PERIODS.to_vec(),
        since: since.to_owned(),
        actor: actor.to_owned(),
        entries,
        truncated,
        limit: LIMIT,
        unknown_period,
    }))
}
