//! A read-only NuGet V2 OData (Atom) feed at `/api/v2/`: just what `nuget list` needs, because
//! NuGet.exe lists packages only through V2 (spec §6.7). The client finds it through the
//! `LegacyGallery/2.0.0` entry of the service index, reads the service document to learn its
//! base address, reads `$metadata` to learn whether `Search` and `IsAbsoluteLatestVersion`
//! exist, then pages through `Search()` with `$skip`/`$top`.
//!
//! Served: the service document, `$metadata`, `Search()`, `FindPackagesById()` and
//! `Packages(Id='…',Version='…')`. Not served: general OData (`$filter` expressions other than
//! the two latest-version flags, `$select`, `$expand`, `Packages()` queries, JSON). Search
//! matches like the v3 search (§6.5: id, title and tag terms) and hides unlisted versions;
//! `FindPackagesById` and `Packages(…)` show unlisted versions with the 1900-01-01 `Published`
//! marker clients read as unlisted.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use signet_common::UtcTime;

use super::{ApiError, AppState};
use crate::Error;
use crate::app::content_url;
use crate::db::VersionRow;
use crate::registry::{SearchHit, VersionFilter};

type Result<T> = std::result::Result<T, ApiError>;

/// Most entries in one response; a larger `$top` is answered in pages (`<link rel="next">`).
pub(crate) const MAX_TOP: usize = 100;
/// Largest accepted `$skip`.
pub(crate) const MAX_SKIP: usize = 100_000;
/// Longest accepted `searchTerm`, `id` or key literal, in bytes.
pub(crate) const MAX_LITERAL: usize = 256;

const ATOM_FEED: &str = "application/atom+xml;type=feed;charset=utf-8";
const ATOM_ENTRY: &str = "application/atom+xml;type=entry;charset=utf-8";
const XML: &str = "application/xml;charset=utf-8";

/// `Published` of an unlisted version: NuGet.org's marker, which `V2FeedPackageInfo.IsListed`
/// reads as unlisted (year ≤ 1901).
const UNLISTED_PUBLISHED: &str = "1900-01-01T00:00:00";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(Error::Invalid(message.into()))
}

/// Which versions a `$filter` keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Latest {
    /// No filter: every version.
    All,
    /// `IsLatestVersion`: the newest listed stable version of each id.
    Stable,
    /// `IsAbsoluteLatestVersion`: the newest listed version of each id, prerelease or not.
    Absolute,
}

/// The query options the feed understands, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) latest: Latest,
    pub(crate) prerelease: bool,
    pub(crate) semver2: bool,
    pub(crate) skip: usize,
    /// `$top` as asked (a page holds at most [`MAX_TOP`]).
    pub(crate) top: Option<usize>,
}

impl Options {
    /// Parses `$filter`, `$orderby`, `$skip`, `$top`, `includePrerelease` and `semVerLevel`;
    /// anything else (`targetFramework`, `$select`, …) is ignored.
    pub(crate) fn parse(q: &HashMap<String, String>) -> Result<Self> {
        let latest = match q.get("$filter").map(|f| f.trim()) {
            None | Some("") => Latest::All,
            Some(f) => match f.strip_suffix(" eq true").unwrap_or(f).trim() {
                "IsLatestVersion" => Latest::Stable,
                "IsAbsoluteLatestVersion" => Latest::Absolute,
                _ => {
                    return Err(invalid(
                        "unsupported $filter: only IsLatestVersion or IsAbsoluteLatestVersion",
                    ));
                }
            },
        };
        match q.get("$orderby").map(|o| o.trim()) {
            None | Some("" | "Id" | "Id asc") => {}
            Some(_) => return Err(invalid("unsupported $orderby: only Id")),
        }
        let prerelease = match q.get("includePrerelease").map(|v| v.trim()) {
            None | Some("") => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(invalid("includePrerelease must be true or false")),
        };
        let semver2 = match q.get("semVerLevel").map(|v| v.trim()) {
            None | Some("") => false,
            Some(v) => {
                semver_major(v)
                    .ok_or_else(|| invalid("semVerLevel must be a version such as 2.0.0"))?
                    >= 2
            }
        };
        let skip = match q.get("$skip") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|s| *s <= MAX_SKIP)
                .ok_or_else(|| invalid(format!("$skip must be an integer from 0 to {MAX_SKIP}")))?,
        };
        let top = match q.get("$top") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| invalid("$top must be a non-negative integer"))?,
            ),
        };
        Ok(Self {
            latest,
            prerelease,
            semver2,
            skip,
            top,
        })
    }

    fn semver_filter(&self) -> VersionFilter {
        VersionFilter {
            prerelease: true,
            semver2: self.semver2,
        }
    }
}

/// The major part of `1`, `2.0` or `2.0.0`.
fn semver_major(v: &str) -> Option<u32> {
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    parts.first()?.parse().ok()
}

/// An OData string literal, `'…'` with `''` for a quote: returns the value and what follows.
pub(crate) fn literal(s: &str) -> Option<(String, &str)> {
    let mut rest = s.strip_prefix('\'')?;
    let mut value = String::new();
    loop {
        let end = rest.find('\'')?;
        value.push_str(rest.get(..end)?);
        let after = rest.get(end + 1..)?;
        if let Some(more) = after.strip_prefix('\'') {
            value.push('\'');
            rest = more;
        } else {
            return (value.len() <= MAX_LITERAL).then_some((value, after));
        }
    }
}

/// A whole parameter that must be one string literal (`searchTerm`, `id`).
fn literal_parameter(q: &HashMap<String, String>, name: &str) -> Result<Option<String>> {
    let Some(raw) = q.get(name) else {
        return Ok(None);
    };
    match literal(raw.trim()) {
        Some((value, "")) => Ok(Some(value)),
        _ => Err(invalid(format!(
            "{name} must be a quoted OData string ('…', at most {MAX_LITERAL} bytes)"
        ))),
    }
}

/// The key of `Packages(Id='…',Version='…')` (either order).
pub(crate) fn package_key(key: &str) -> Option<(String, String)> {
    let mut id = None;
    let mut version = None;
    let mut rest = key.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, after) = literal(after.trim_start())?;
        let slot = match name.trim() {
            "Id" => &mut id,
            "Version" => &mut version,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
        rest = after.trim_start();
        if let Some(more) = rest.strip_prefix(',') {
            rest = more.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some((id?, version?))
}

/// One version in a feed, with the latest-version flags of its id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) row: &'a VersionRow,
    pub(crate) latest: bool,
    pub(crate) absolute_latest: bool,
}

/// The versions of one id (ascending) with their flags, computed over the listed ones.
fn flagged(rows: &[VersionRow]) -> Vec<Entry<'_>> {
    let absolute = rows.iter().rposition(|r| r.listed);
    let stable = rows.iter().rposition(|r| r.listed && !r.prerelease);
    rows.iter()
        .enumerate()
        .map(|(i, row)| Entry {
            row,
            latest: Some(i) == stable,
            absolute_latest: Some(i) == absolute,
        })
        .collect()
}

/// What a feed query keeps of flagged entries.
fn keep(options: &Options, e: &Entry<'_>) -> bool {
    (options.prerelease || !e.row.prerelease)
        && match options.latest {
            Latest::All => true,
            Latest::Stable => e.latest,
            Latest::Absolute => e.absolute_latest,
        }
}

/// `Search()` entries from search hits (listed versions only, grouped by id and sorted).
pub(crate) fn search_entries<'a>(hits: &'a [SearchHit], options: &Options) -> Vec<Entry<'a>> {
    hits.iter()
        .flat_map(|h| flagged(&h.versions))
        .filter(|e| keep(options, e))
        .collect()
}

/// `FindPackagesById()` entries: every version of one id, listed or not, under `semVerLevel`
/// (prerelease included: the client filters).
pub(crate) fn find_entries<'a>(rows: &'a [VersionRow], options: &Options) -> Vec<Entry<'a>> {
    let options = Options {
        prerelease: true,
        ..options.clone()
    };
    flagged(rows)
        .into_iter()
        .filter(|e| keep(&options, e))
        .collect()
}

/// One page of `items` from `skip`: the page, and `(skip, top)` for the next page when the
/// page was cut short by [`MAX_TOP`] and more remain.
pub(crate) fn page<T>(
    items: &[T],
    skip: usize,
    top: Option<usize>,
) -> (&[T], Option<(usize, Option<usize>)>) {
    let size = top.unwrap_or(MAX_TOP).min(MAX_TOP);
    let rest = items.get(skip..).unwrap_or_default();
    let shown = rest.get(..size).unwrap_or(rest);
    let cut = top.is_none_or(|t| t > shown.len());
    let next = (cut && rest.len() > shown.len()).then(|| {
        (
            skip.saturating_add(shown.len()),
            top.map(|t| t.saturating_sub(shown.len())),
        )
    });
    (shown, next)
}

/// Replaces characters XML 1.0 cannot carry at all (even escaped) with U+FFFD.
fn xml_chars(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if s.chars().any(bad) {
        s.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// Text or an attribute value, escaped: every string from a package or a request goes
/// through here.
fn esc(s: &str) -> String {
    escape(xml_chars(s).as_ref()).into_owned()
}

/// Percent-encoding for a query value (everything but RFC 3986 unreserved characters).
fn query_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An OData string literal for `s`.
fn odata_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The dependency groups as V2's `id:range:framework|…` (an empty group: `::framework`).
/// A value holding a separator cannot be written in this form and is left out.
fn dependencies(row: &VersionRow) -> String {
    let clean = |s: &str| !s.contains([':', '|']);
    let mut parts = Vec::new();
    for g in &row.dependencies {
        let tf = g.target_framework.as_deref().unwrap_or("");
        if !clean(tf) {
            continue;
        }
        if g.dependencies.is_empty() && !tf.is_empty() {
            parts.push(format!("::{tf}"));
        }
        for d in &g.dependencies {
            let range = d.range.as_deref().unwrap_or("");
            if clean(&d.id) && clean(range) {
                parts.push(format!("{}:{range}:{tf}", d.id));
            }
        }
    }
    parts.join("|")
}

fn published(row: &VersionRow) -> String {
    if row.listed {
        UtcTime::from_unix_micros(row.published_at).rfc3339()
    } else {
        UNLISTED_PUBLISHED.to_owned()
    }
}

/// `{v2}/Packages(Id='…',Version='…')`, the entry's own address.
fn entry_url(v2: &str, row: &VersionRow) -> String {
    format!(
        "{v2}/Packages(Id={},Version={})",
        query_encode(&odata_literal(&row.id_as_pushed)),
        query_encode(&odata_literal(&row.version))
    )
}

/// Appends `<d:name m:type="…">value</d:name>` (`m:null` when `value` is empty and nullable).
fn property(out: &mut String, name: &str, edm: Option<&str>, value: &str) {
    let ty = edm.map_or(String::new(), |t| format!(" m:type=\"{t}\""));
    if value.is_empty() && edm.is_none() {
        out.push_str(&format!("<d:{name} m:null=\"true\"/>"));
    } else {
        out.push_str(&format!("<d:{name}{ty}>{}</d:{name}>", esc(value)));
    }
}

/// One `<entry>` (without the XML declaration); `root` adds the namespaces.
fn entry(out: &mut String, base: &str, e: &Entry<'_>, root: bool) {
    let v2 = format!("{base}/api/v2");
    let row = e.row;
    let m = &row.metadata;
    let url = esc(&entry_url(&v2, row));
    if root {
        out.push_str(&format!("<entry xml:base=\"{}/\" {NAMESPACES}>", esc(&v2)));
    } else {
        out.push_str("<entry>");
    }
    out.push_str(&format!("<id>{url}</id>"));
    out.push_str(
        "<category term=\"NuGetGallery.OData.V2FeedPackage\" \
         scheme=\"http://schemas.microsoft.com/ado/2007/08/dataservices/scheme\"/>",
    );
    out.push_str(&format!(
        "<link rel=\"edit\" title=\"V2FeedPackage\" href=\"{url}\"/>"
    ));
    out.push_str(&format!("<link rel=\"self\" href=\"{url}\"/>"));
    out.push_str(&format!(
        "<title type=\"text\">{}</title>",
        esc(&row.id_as_pushed)
    ));
    out.push_str(&format!(
        "<summary type=\"text\">{}</summary>",
        esc(&m.summary)
    ));
    let published = published(row);
    let created = UtcTime::from_unix_micros(row.published_at).rfc3339();
    out.push_str(&format!("<updated>{}</updated>", esc(&created)));
    out.push_str(&format!(
        "<author><name>{}</name></author>",
        esc(&m.authors)
    ));
    out.push_str(&format!(
        "<content type=\"application/zip\" src=\"{}\"/>",
        esc(&content_url(base, row))
    ));
    out.push_str("<m:properties>");
    let flag = |b: bool| if b { "true" } else { "false" };
    let tags = if m.tags.is_empty() {
        String::new()
    } else {
        format!(" {} ", m.tags)
    };
    for (name, edm, value) in [
        ("Id", Some("Edm.String"), row.id_as_pushed.as_str()),
        ("Version", Some("Edm.String"), row.version.as_str()),
        (
            "NormalizedVersion",
            Some("Edm.String"),
            row.version.as_str(),
        ),
        ("Title", None, m.title.as_str()),
        ("Description", Some("Edm.String"), m.description.as_str()),
        ("Summary", None, m.summary.as_str()),
        ("Authors", Some("Edm.String"), m.authors.as_str()),
        ("Tags", None, tags.as_str()),
        ("Dependencies", Some("Edm.String"), &dependencies(row)),
        ("Created", Some("Edm.DateTime"), &created),
        ("LastUpdated", Some("Edm.DateTime"), &created),
        ("Published", Some("Edm.DateTime"), &published),
        ("Listed", Some("Edm.Boolean"), flag(row.listed)),
        ("IsPrerelease", Some("Edm.Boolean"), flag(row.prerelease)),
        ("IsLatestVersion", Some("Edm.Boolean"), flag(e.latest)),
        (
            "IsAbsoluteLatestVersion",
            Some("Edm.Boolean"),
            flag(e.absolute_latest),
        ),
        ("DownloadCount", Some("Edm.Int32"), "0"),
        ("VersionDownloadCount", Some("Edm.Int32"), "0"),
        ("PackageSize", Some("Edm.Int64"), &row.size.to_string()),
        ("RequireLicenseAcceptance", Some("Edm.Boolean"), "false"),
    ] {
        property(out, name, edm, value);
    }
    // Absent rather than empty: the client parses URL properties as URIs.
    for (name, value) in [
        ("ProjectUrl", &m.project_url),
        ("IconUrl", &m.icon_url),
        ("LicenseUrl", &m.license_url),
    ] {
        if !value.is_empty() {
            property(out, name, Some("Edm.String"), value);
        }
    }
    out.push_str("</m:properties></entry>");
}

const NAMESPACES: &str = "xmlns=\"http://www.w3.org/2005/Atom\" \
    xmlns:d=\"http://schemas.microsoft.com/ado/2007/08/dataservices\" \
    xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\"";

/// An Atom feed of `entries`; `title` names the collection (`Search`, `FindPackagesById`),
/// `next` is the absolute URL of the next page.
pub(crate) fn feed(
    base: &str,
    title: &str,
    updated: UtcTime,
    entries: &[Entry<'_>],
    next: Option<&str>,
) -> String {
    let v2 = format!("{base}/api/v2");
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    out.push_str(&format!("<feed xml:base=\"{}/\" {NAMESPACES}>", esc(&v2)));
    out.push_str(&format!("<id>{}</id>", esc(&format!("{v2}/{title}"))));
    out.push_str(&format!("<title type=\"text\">{}</title>", esc(title)));
    out.push_str(&format!("<updated>{}</updated>", updated.rfc3339()));
    out.push_str(&format!(
        "<link rel=\"self\" title=\"{t}\" href=\"{t}\"/>",
        t = esc(title)
    ));
    for e in entries {
        entry(&mut out, base, e, false);
    }
    if let Some(next) = next {
        out.push_str(&format!("<link rel=\"next\" href=\"{}\"/>", esc(next)));
    }
    out.push_str("</feed>");
    out
}

/// A single entry as a document (`Packages(Id=…,Version=…)`).
pub(crate) fn entry_document(base: &str, e: &Entry<'_>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    entry(&mut out, base, e, true);
    out
}

/// The AtomPub service document: one collection, `Packages`.
pub(crate) fn service_document_xml(base: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <service xml:base=\"{}/\" xmlns=\"http://www.w3.org/2007/app\" \
         xmlns:atom=\"http://www.w3.org/2005/Atom\"><workspace>\
         <atom:title type=\"text\">Default</atom:title>\
         <collection href=\"Packages\"><atom:title type=\"text\">Packages</atom:title></collection>\
         </workspace></service>",
        esc(&format!("{base}/api/v2"))
    )
}

/// `$metadata`. NuGet's capability check (`LegacyFeedCapabilityResourceV2Feed`) takes the
/// `EntityContainer` whose first `EntitySet` is `Packages`, reads the `Property` names of its
/// entity type (looking for `IsAbsoluteLatestVersion`) and the container's `FunctionImport`
/// names (looking for `Search`).
pub(crate) const METADATA: &str = r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">
  <edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" m:DataServiceVersion="2.0">
    <Schema Namespace="NuGetGallery.OData" xmlns="http://schemas.microsoft.com/ado/2006/04/edm" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
      <EntityType Name="V2FeedPackage" m:HasStream="true">
        <Key>
          <PropertyRef Name="Id" />
          <PropertyRef Name="Version" />
        </Key>
        <Property Name="Id" Type="Edm.String" Nullable="false" m:FC_TargetPath="SyndicationTitle" m:FC_ContentKind="text" m:FC_KeepInContent="true" />
        <Property Name="Version" Type="Edm.String" Nullable="false" />
        <Property Name="NormalizedVersion" Type="Edm.String" />
        <Property Name="Title" Type="Edm.String" />
        <Property Name="Description" Type="Edm.String" />
        <Property Name="Summary" Type="Edm.String" m:FC_TargetPath="SyndicationSummary" m:FC_ContentKind="text" m:FC_KeepInContent="true" />
        <Property Name="Authors" Type="Edm.String" m:FC_TargetPath="SyndicationAuthorName" m:FC_ContentKind="text" m:FC_KeepInContent="true" />
        <Property Name="Tags" Type="Edm.String" />
        <Property Name="Dependencies" Type="Edm.String" />
        <Property Name="Created" Type="Edm.DateTime" Nullable="false" />
        <Property Name="LastUpdated" Type="Edm.DateTime" Nullable="false" m:FC_TargetPath="SyndicationUpdated" m:FC_ContentKind="text" m:FC_KeepInContent="false" />
        <Property Name="Published" Type="Edm.DateTime" Nullable="false" />
        <Property Name="Listed" Type="Edm.Boolean" Nullable="false" />
        <Property Name="IsPrerelease" Type="Edm.Boolean" Nullable="false" />
        <Property Name="IsLatestVersion" Type="Edm.Boolean" Nullable="false" />
        <Property Name="IsAbsoluteLatestVersion" Type="Edm.Boolean" Nullable="false" />
        <Property Name="DownloadCount" Type="Edm.Int32" Nullable="false" />
        <Property Name="VersionDownloadCount" Type="Edm.Int32" Nullable="false" />
        <Property Name="PackageSize" Type="Edm.Int64" Nullable="false" />
        <Property Name="RequireLicenseAcceptance" Type="Edm.Boolean" Nullable="false" />
        <Property Name="ProjectUrl" Type="Edm.String" />
        <Property Name="IconUrl" Type="Edm.String" />
        <Property Name="LicenseUrl" Type="Edm.String" />
      </EntityType>
      <EntityContainer Name="V2FeedContext" m:IsDefaultEntityContainer="true">
        <EntitySet Name="Packages" EntityType="NuGetGallery.OData.V2FeedPackage" />
        <FunctionImport Name="Search" ReturnType="Collection(NuGetGallery.OData.V2FeedPackage)" EntitySet="Packages" m:HttpMethod="GET">
          <Parameter Name="searchTerm" Type="Edm.String" FromBody="false" />
          <Parameter Name="targetFramework" Type="Edm.String" FromBody="false" />
          <Parameter Name="includePrerelease" Type="Edm.Boolean" Nullable="false" FromBody="false" />
        </FunctionImport>
        <FunctionImport Name="FindPackagesById" ReturnType="Collection(NuGetGallery.OData.V2FeedPackage)" EntitySet="Packages" m:HttpMethod="GET">
          <Parameter Name="id" Type="Edm.String" FromBody="false" />
        </FunctionImport>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#;

fn xml_response(content_type: &'static str, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    response
        .headers_mut()
        .insert("dataserviceversion", HeaderValue::from_static("2.0;"));
    response
}

/// `GET /api/v2` and `/api/v2/`: the service document (the client takes its base address from
/// this URL).
pub(crate) async fn service_document(State(s): State<AppState>) -> Response {
    xml_response(XML, service_document_xml(&s.base))
}

/// `GET /api/v2/{resource}`: `$metadata`, `Search()`, `FindPackagesById()` or
/// `Packages(Id='…',Version='…')`.
pub(crate) async fn resource(
    State(s): State<AppState>,
    Path(resource): Path<String>,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response> {
    let Query(q) = query.map_err(|e| invalid(format!("invalid query string: {e}")))?;
    match resource.as_str() {
        "$metadata" => Ok(xml_response(XML, METADATA.to_owned())),
        "Search()" | "Search" => search(&s, &q).await,
        "FindPackagesById()" | "FindPackagesById" => find_packages_by_id(&s, &q).await,
        other => match other
            .strip_prefix("Packages(")
            .and_then(|k| k.strip_suffix(')'))
        {
            Some(key) if !key.is_empty() => {
                let (id, version) = package_key(key).ok_or_else(|| {
                    invalid("expected Packages(Id='…',Version='…') with quoted values")
                })?;
                package(&s, &q, &id, &version).await
            }
            _ => Err(ApiError(Error::NotFound(format!(
                "the V2 feed serves $metadata, Search(), FindPackagesById() and \
                 Packages(Id='…',Version='…'), not {other}"
            )))),
        },
    }
}

/// The URL of the next page of `function` with the same options.
fn next_url(
    base: &str,
    function: &str,
    literal: (&str, &str),
    options: &Options,
    (skip, top): (usize, Option<usize>),
) -> String {
    let mut url = format!(
        "{base}/api/v2/{function}?{}={}",
        literal.0,
        query_encode(&odata_literal(literal.1))
    );
    match options.latest {
        Latest::All => {}
        Latest::Stable => url.push_str("&$filter=IsLatestVersion"),
        Latest::Absolute => url.push_str("&$filter=IsAbsoluteLatestVersion"),
    }
    if options.prerelease {
        url.push_str("&includePrerelease=true");
    }
    if options.semver2 {
        url.push_str("&semVerLevel=2.0.0");
    }
    url.push_str(&format!("&$skip={skip}"));
    if let Some(top) = top {
        url.push_str(&format!("&$top={top}"));
    }
    url
}

async fn search(s: &AppState, q: &HashMap<String, String>) -> Result<Response> {
    let options = Options::parse(q)?;
    let term = literal_parameter(q, "searchTerm")?.unwrap_or_default();
    let size = options.top.unwrap_or(MAX_TOP).min(MAX_TOP);
    // Paged in the database: without a latest-version filter `$skip` counts versions (a
    // window over the per-package version counts), with one it counts packages. One package
    // more than a page holds tells whether a next page exists.
    let versions = options.semver_filter();
    let (hits, first_skip, by_version) = match options.latest {
        Latest::All => {
            let listing = VersionFilter {
                prerelease: options.prerelease,
                semver2: options.semver2,
            };
            let page = s
                .registry
                .search_window(
                    &term,
                    listing,
                    versions,
                    options.skip,
                    size.saturating_add(1),
                )
                .await
                .map_err(ApiError)?;
            let first = options.skip.saturating_sub(page.before);
            (page.hits, first, true)
        }
        latest => {
            let listing = VersionFilter {
                prerelease: latest == Latest::Absolute,
                semver2: options.semver2,
            };
            let page = s
                .registry
                .search_with(
                    &term,
                    listing,
                    versions,
                    options.skip,
                    size.saturating_add(1),
                )
                .await
                .map_err(ApiError)?;
            (page.hits, 0, false)
        }
    };
    let mut shown: Vec<Entry<'_>> = Vec::new();
    let mut consumed = 0usize;
    let mut more = false;
    for (i, hit) in hits.iter().enumerate() {
        let skip_here = if i == 0 { first_skip } else { 0 };
        let entries = search_entries(std::slice::from_ref(hit), &options);
        let mut rest = entries.into_iter().skip(skip_here).peekable();
        while shown.len() < size {
            let Some(e) = rest.next() else { break };
            shown.push(e);
        }
        if shown.len() >= size {
            more = rest.peek().is_some() || i + 1 < hits.len();
            consumed = i + 1;
            break;
        }
        consumed = i + 1;
    }
    let cut = options.top.is_none_or(|t| t > shown.len());
    let next = (cut && more).then(|| {
        let advanced = if by_version { shown.len() } else { consumed };
        (
            options.skip.saturating_add(advanced),
            options.top.map(|t| t.saturating_sub(shown.len())),
        )
    });
    let next = next.map(|n| next_url(&s.base, "Search()", ("searchTerm", &term), &options, n));
    let body = feed(
        &s.base,
        "Search",
        s.registry.clock.now(),
        &shown,
        next.as_deref(),
    );
    Ok(xml_response(ATOM_FEED, body))
}

async fn find_packages_by_id(s: &AppState, q: &HashMap<String, String>) -> Result<Response> {
    let options = Options::parse(q)?;
    let id =
        literal_parameter(q, "id")?.ok_or_else(|| invalid("FindPackagesById() needs id='…'"))?;
    let rows: Vec<VersionRow> = s
        .registry
        .served_versions(&id)
        .await
        .map_err(ApiError)?
        .into_iter()
        .filter(|r| options.semver2 || !r.semver2)
        .collect();
    let entries = find_entries(&rows, &options);
    let (shown, next) = page(&entries, options.skip, options.top);
    let next = next.map(|n| next_url(&s.base, "FindPackagesById()", ("id", &id), &options, n));
    let body = feed(
        &s.base,
        "FindPackagesById",
        s.registry.clock.now(),
        shown,
        next.as_deref(),
    );
    Ok(xml_response(ATOM_FEED, body))
}

async fn package(
    s: &AppState,
    q: &HashMap<String, String>,
    id: &str,
    version: &str,
) -> Result<Response> {
    // An exact lookup: the version is shown whatever `semVerLevel` says, and the flags are
    // computed over every listed version.
    Options::parse(q)?;
    let rows = s.registry.served_versions(id).await.map_err(ApiError)?;
    let wanted = s
        .registry
        .served_version(id, version)
        .await
        .map_err(ApiError)?;
    let entry = wanted.and_then(|w| {
        flagged(&rows)
            .into_iter()
            .find(|e| e.row.version_lower == w.version_lower)
            .map(|e| entry_document(&s.base, &e))
    });
    let body =
        entry.ok_or_else(|| ApiError(Error::NotFound(format!("no package {id} {version}"))))?;
    Ok(xml_response(ATOM_ENTRY, body))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use std::sync::Arc;

    use quick_xml::events::Event;

    use super::*;
    use crate::inspect::{Dep, DepGroup, Metadata};

    const BASE: &str = "http://127.0.0.1:1";

    fn row(id: &str, version: &str, listed: bool) -> VersionRow {
        VersionRow {
            package_id: id.into(),
            id_as_pushed: id.into(),
            version: version.into(),
            version_lower: version.to_lowercase(),
            prerelease: version.contains('-'),
            semver2: false,
            listed,
            size: 1234,
            blob_key: String::new(),
            metadata: Metadata {
                description: format!("{id} {version}"),
                authors: "Ann, Bob".into(),
                ..Metadata::default()
            },
            dependencies: Vec::new(),
            published_at: 1_600_000_000_000_000,
        }
    }

    fn hit(rows: Vec<VersionRow>) -> SearchHit {
        SearchHit {
            owners: Vec::new(),
            versions: rows,
        }
    }

    fn options(pairs: &[(&str, &str)]) -> Result<Options> {
        let q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Options::parse(&q)
    }

    /// What a client reads back from a feed or an entry document.
    #[derive(Debug, Default)]
    struct Parsed {
        /// Per entry: `title`, `content` (its src) and each `d:` property by local name.
        entries: Vec<HashMap<String, String>>,
        next: Option<String>,
        root: String,
    }

    fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.unescape_value().unwrap().into_owned())
    }

    fn parse(xml: &str) -> Parsed {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut parsed = Parsed::default();
        let mut path: Vec<String> = Vec::new();
        loop {
            let event = reader.read_event().expect("well-formed XML");
            let in_entry = path.iter().any(|p| p == "entry");
            let mut open = |e: &quick_xml::events::BytesStart<'_>, path: &mut Vec<String>| {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if path.is_empty() {
                    parsed.root = name.clone();
                }
                if name == "entry" {
                    parsed.entries.push(HashMap::new());
                }
                let entry = parsed.entries.last_mut();
                if name == "content"
                    && let Some(entry) = entry
                {
                    entry.insert("content".into(), attr(e, b"src").unwrap());
                } else if name == "link"
                    && path.len() == 1
                    && attr(e, b"rel").as_deref() == Some("next")
                {
                    parsed.next = attr(e, b"href");
                }
                name
            };
            let text = match event {
                Event::Start(e) => {
                    let name = open(&e, &mut path);
                    path.push(name);
                    None
                }
                Event::Empty(e) => {
                    open(&e, &mut path);
                    None
                }
                Event::End(_) => {
                    path.pop();
                    None
                }
                Event::Text(t) => Some(t.xml_content().unwrap().into_owned()),
                Event::GeneralRef(r) => Some(match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => match r.decode().unwrap().as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "apos" => "'".into(),
                        "quot" => "\"".into(),
                        other => panic!("entity {other}"),
                    },
                }),
                Event::Eof => break,
                _ => None,
            };
            if let (Some(text), true, Some(leaf)) = (text, in_entry, path.last()) {
                let key = leaf.strip_prefix("d:").unwrap_or(leaf).to_owned();
                parsed
                    .entries
                    .last_mut()
                    .unwrap()
                    .entry(key)
                    .or_default()
                    .push_str(&text);
            }
        }
        assert!(path.is_empty(), "unclosed elements: {path:?}");
        parsed
    }

    fn ids_versions(p: &Parsed) -> Vec<(String, String)> {
        p.entries
            .iter()
            .map(|e| (e["Id"].clone(), e["Version"].clone()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn search_flags_and_filters() {
        let hits = vec![
            hit(vec![
                row("Alpha", "1.0.0", true),
                row("Alpha", "1.1.0", true),
                row("Alpha", "2.0.0-beta", true),
            ]),
            hit(vec![row("Beta", "0.1.0-rc.1", true)]),
        ];
        let doc = |o: &Options| {
            let entries = search_entries(&hits, o);
            parse(&feed(
                BASE,
                "Search",
                UtcTime::from_unix_seconds(0),
                &entries,
                None,
            ))
        };
        // nuget list
        let latest = doc(&options(&[("$filter", "IsLatestVersion")]).unwrap());
        assert_eq!(ids_versions(&latest), pairs(&[("Alpha", "1.1.0")]));
        let e = &latest.entries[0];
        assert_eq!(e["IsLatestVersion"], "true");
        assert_eq!(e["IsAbsoluteLatestVersion"], "false");
        assert_eq!(e["title"], "Alpha");
        assert_eq!(e["Description"], "Alpha 1.1.0");
        assert_eq!(e["name"], "Ann, Bob");
        assert_eq!(e["PackageSize"], "1234");
        assert_eq!(e["Listed"], "true");
        assert_eq!(
            e["content"],
            format!("{BASE}/v3-flatcontainer/alpha/1.1.0/alpha.1.1.0.nupkg")
        );
        // nuget list -Prerelease
        let absolute = doc(&options(&[
            ("$filter", "IsAbsoluteLatestVersion"),
            ("includePrerelease", "true"),
        ])
        .unwrap());
        assert_eq!(
            ids_versions(&absolute),
            pairs(&[("Alpha", "2.0.0-beta"), ("Beta", "0.1.0-rc.1")])
        );
        // nuget list -AllVersions
        let all = doc(&options(&[("$orderby", "Id")]).unwrap());
        assert_eq!(
            ids_versions(&all),
            pairs(&[("Alpha", "1.0.0"), ("Alpha", "1.1.0")])
        );
        assert_eq!(all.root, "feed");
    }

    #[test]
    fn unlisted_versions_do_not_count_and_say_so() {
        let rows = vec![
            row("Alpha", "1.0.0", true),
            row("Alpha", "2.0.0", false),
            row("Alpha", "3.0.0-beta", false),
        ];
        let o = options(&[]).unwrap();
        let entries = find_entries(&rows, &o);
        let p = parse(&feed(
            BASE,
            "FindPackagesById",
            UtcTime::from_unix_seconds(0),
            &entries,
            None,
        ));
        assert_eq!(
            ids_versions(&p),
            pairs(&[
                ("Alpha", "1.0.0"),
                ("Alpha", "2.0.0"),
                ("Alpha", "3.0.0-beta")
            ])
        );
        assert_eq!(p.entries[0]["IsLatestVersion"], "true");
        assert_eq!(p.entries[0]["IsAbsoluteLatestVersion"], "true");
        assert_eq!(p.entries[0]["Published"], "2020-09-13T12:26:40Z");
        for e in &p.entries[1..] {
            assert_eq!(e["Published"], UNLISTED_PUBLISHED);
            assert_eq!(e["Listed"], "false");
            assert_eq!(e["IsLatestVersion"], "false");
        }
        let single = parse(&entry_document(BASE, &entries[1]));
        assert_eq!(single.root, "entry");
        assert_eq!(ids_versions(&single), pairs(&[("Alpha", "2.0.0")]));
    }

    #[test]
    fn hostile_strings_are_escaped() {
        let hostile = "</d:Description><d:Id>Evil</d:Id>&amp; \"q\" 'a' ]]> \u{1}\u{FFFF} ok";
        let mut r = row("Alpha", "1.0.0", true);
        r.metadata.description = hostile.into();
        r.metadata.authors = "<b>&".into();
        r.metadata.title = "x\"/><entry>".into();
        r.metadata.tags = "a<b c&d".into();
        r.metadata.project_url = "https://e.example/?a=1&b=\"2\"".into();
        let hits = vec![hit(vec![r])];
        let entries = search_entries(&hits, &options(&[]).unwrap());
        let next = "http://h/api/v2/Search()?searchTerm='a''b'&$skip=1&x=\"<";
        let p = parse(&feed(
            BASE,
            "Search",
            UtcTime::from_unix_seconds(0),
            &entries,
            Some(next),
        ));
        assert_eq!(p.entries.len(), 1);
        let e = &p.entries[0];
        assert_eq!(e["Id"], "Alpha");
        assert_eq!(
            e["Description"],
            "</d:Description><d:Id>Evil</d:Id>&amp; \"q\" 'a' ]]> \u{FFFD}\u{FFFD} ok"
        );
        assert_eq!(e["Authors"], "<b>&");
        assert_eq!(e["name"], "<b>&");
        assert_eq!(e["Title"], "x\"/><entry>");
        assert_eq!(e["Tags"], " a<b c&d ");
        assert_eq!(e["ProjectUrl"], "https://e.example/?a=1&b=\"2\"");
        assert_eq!(p.next.as_deref(), Some(next));
    }

    #[test]
    fn pages_are_capped_and_linked() {
        let items: Vec<usize> = (0..250).collect();
        let (shown, next) = page(&items, 0, None);
        assert_eq!((shown.len(), shown[0], next), (100, 0, Some((100, None))));
        let (shown, next) = page(&items, 200, None);
        assert_eq!((shown.len(), shown[0], next), (50, 200, None));
        // The client asks 30 at a time: a full page, and no link (it pages by $skip).
        let (shown, next) = page(&items, 30, Some(30));
        assert_eq!((shown.len(), shown[0], next), (30, 30, None));
        let (shown, next) = page(&items, 0, Some(150));
        assert_eq!((shown.len(), next), (100, Some((100, Some(50)))));
        let (shown, next) = page(&items, 240, Some(150));
        assert_eq!((shown.len(), next), (10, None));
        let (shown, next) = page(&items, 1000, None);
        assert_eq!((shown.len(), next), (0, None));
        let (shown, next) = page(&items, 0, Some(0));
        assert_eq!((shown.len(), next), (0, None));

        // The link repeats the query with the next $skip.
        let rows: Vec<VersionRow> = (0..150)
            .map(|i| row("Many", &format!("1.0.{i}"), true))
            .collect();
        let o = options(&[("$filter", "IsLatestVersion"), ("semVerLevel", "2.0.0")]).unwrap();
        let hits = vec![hit(rows)];
        let all = search_entries(&hits, &options(&[]).unwrap());
        let (shown, next) = page(&all, 0, None);
        let url = next_url(BASE, "Search()", ("searchTerm", "it's"), &o, next.unwrap());
        assert_eq!(
            url,
            format!(
                "{BASE}/api/v2/Search()?searchTerm=%27it%27%27s%27&$filter=IsLatestVersion\
                 &semVerLevel=2.0.0&$skip=100"
            )
        );
        let p = parse(&feed(
            BASE,
            "Search",
            UtcTime::from_unix_seconds(0),
            shown,
            Some(&url),
        ));
        assert_eq!(p.entries.len(), 100);
        assert_eq!(p.entries[99]["Version"], "1.0.99");
        assert_eq!(p.next.as_deref(), Some(url.as_str()));
    }

    #[test]
    fn parameters_are_validated() {
        let o = options(&[
            ("$filter", "IsAbsoluteLatestVersion"),
            ("$orderby", "Id"),
            ("includePrerelease", "True"),
            ("semVerLevel", "2.0.0"),
            ("$skip", "30"),
            ("$top", "30"),
            ("targetFramework", "''"),
        ])
        .unwrap();
        assert_eq!(
            o,
            Options {
                latest: Latest::Absolute,
                prerelease: true,
                semver2: true,
                skip: 30,
                top: Some(30),
            }
        );
        assert!(!options(&[("semVerLevel", "1.0.0")]).unwrap().semver2);
        assert_eq!(
            options(&[("$filter", "IsLatestVersion eq true")])
                .unwrap()
                .latest,
            Latest::Stable
        );
        for bad in [
            ("$filter", "substringof('x',Id)"),
            ("$orderby", "DownloadCount desc"),
            ("includePrerelease", "yes"),
            ("semVerLevel", "two"),
            ("semVerLevel", "2.0.0.0"),
            ("$skip", "-1"),
            ("$skip", "100001"),
            ("$top", "lots"),
            ("$top", "99999999999999999999999"),
        ] {
            match options(&[bad]) {
                Err(ApiError(Error::Invalid(m))) => assert!(!m.is_empty()),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert_eq!(literal("'it''s' rest"), Some(("it's".into(), " rest")));
        assert_eq!(literal("''"), Some((String::new(), "")));
        assert_eq!(literal("'open"), None);
        assert_eq!(literal("bare"), None);
        assert_eq!(literal(&format!("'{}'", "x".repeat(MAX_LITERAL + 1))), None);
        assert_eq!(
            package_key("Id='A.B',Version='1.0.0'"),
            Some(("A.B".into(), "1.0.0".into()))
        );
        assert_eq!(
            package_key("Version='1.0', Id='o''k'"),
            Some(("o'k".into(), "1.0".into()))
        );
        for bad in [
            "Id='A'",
            "Id='A',Version='1',X='2'",
            "Id=A,Version='1'",
            "Id='A',Id='B'",
            "Id='A' Version='1'",
        ] {
            assert_eq!(package_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn dependencies_use_the_v2_form() {
        let mut r = row("Alpha", "1.0.0", true);
        r.dependencies = vec![
            DepGroup {
                target_framework: None,
                dependencies: vec![Dep {
                    id: "Any".into(),
                    range: None,
                }],
            },
            DepGroup {
                target_framework: Some("net48".into()),
                dependencies: vec![
                    Dep {
                        id: "Dep".into(),
                        range: Some("[1.0.0, )".into()),
                    },
                    Dep {
                        id: "Bad".into(),
                        range: Some("1|2".into()),
                    },
                ],
            },
            DepGroup {
                target_framework: Some("net8.0".into()),
                dependencies: Vec::new(),
            },
        ];
        assert_eq!(dependencies(&r), "Any::|Dep:[1.0.0, ):net48|::net8.0");
    }

    #[test]
    fn metadata_declares_what_the_client_looks_for() {
        let mut reader = quick_xml::Reader::from_str(METADATA);
        let (mut sets, mut functions, mut properties) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => {
                    let name = attr(&e, b"Name");
                    match e.local_name().as_ref() {
                        b"EntitySet" => sets.push(name.unwrap()),
                        b"FunctionImport" => functions.push(name.unwrap()),
                        b"Property" => properties.push(name.unwrap()),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(sets, ["Packages"]);
        assert!(functions.iter().any(|f| f == "Search"));
        assert!(properties.iter().any(|p| p == "IsAbsoluteLatestVersion"));
        let service = service_document_xml("http://h:1/a&b");
        assert!(service.contains("xml:base=\"http://h:1/a&amp;b/api/v2/\""));
    }

    /// `GET path` on the loopback server: (status, content type, body).
    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        (status, content_type, body.to_owned())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_feed_over_http() {
        let tmp = tempfile::tempdir().unwrap();
        let db = crate::Db::connect(
            &format!("sqlite://{}?mode=rwc", tmp.path().join("t.db").display()),
            4,
        )
        .await
        .unwrap();
        let registry = crate::Registry::new(
            db,
            Arc::new(crate::FileSystemStore::new(tmp.path().join("blobs")).unwrap()),
            Arc::new(crate::SystemClock),
            Arc::new(crate::SystemRandom),
            signet_nupkg::Limits::default(),
            tmp.path().join("uploads"),
        )
        .unwrap();
        registry.create_user("alice", None, "pw").await.unwrap();
        let key = registry
            .create_api_key("alice", None, "", crate::Scopes::all(), &[], None)
            .await
            .unwrap();
        let caller = registry.authenticate(Some(&key)).await.unwrap();
        for (id, version, description) in [
            ("Http.Alpha", "1.0.0", "first <&>"),
            ("Http.Alpha", "2.0.0", "second"),
            ("Http.Alpha", "3.0.0-beta", "third"),
            ("Http.Beta", "1.0.0", "beta"),
        ] {
            let upload = registry.new_upload().unwrap();
            std::fs::write(
                upload.path(),
                signet_test_support::PackageBuilder::new(id, version)
                    .description(description)
                    .dependency(Some("net48"), "Http.Dep", Some("1.0.0"))
                    .build(),
            )
            .unwrap();
            registry.push(&caller, upload.path()).await.unwrap();
        }
        registry
            .set_listed(&caller, "Http.Alpha", "2.0.0", false)
            .await
            .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let state = AppState::new(Arc::new(registry), &base);
        tokio::spawn(async move { axum::serve(listener, crate::router(state)).await });

        let (status, _, index) = get(addr, "/v3/index.json").await;
        assert_eq!(status, 200);
        let index: serde_json::Value = serde_json::from_str(&index).unwrap();
        assert!(
            index["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["@type"] == "LegacyGallery/2.0.0"
                    && r["@id"] == format!("{base}/api/v2/")),
            "{index}"
        );
        for path in ["/api/v2", "/api/v2/"] {
            let (status, ty, body) = get(addr, path).await;
            assert_eq!((status, ty.as_str()), (200, XML), "{body}");
            assert!(body.contains("<collection href=\"Packages\">"));
        }
        let (status, _, body) = get(addr, "/api/v2/$metadata").await;
        assert_eq!((status, body.as_str()), (200, METADATA));

        // What `nuget list` asks.
        let list = "/api/v2/Search()?$filter=IsLatestVersion&$orderby=Id&searchTerm=''\
                    &targetFramework=''&includePrerelease=false&$skip=0&$top=30&semVerLevel=2.0.0";
        let (status, ty, body) = get(addr, list).await;
        assert_eq!((status, ty.as_str()), (200, ATOM_FEED), "{body}");
        let p = parse(&body);
        // 2.0.0 is unlisted, so 1.0.0 is the latest stable Http.Alpha.
        assert_eq!(
            ids_versions(&p),
            pairs(&[("Http.Alpha", "1.0.0"), ("Http.Beta", "1.0.0")])
        );
        assert_eq!(p.entries[0]["Description"], "first <&>");
        assert_eq!(p.entries[0]["Dependencies"], "Http.Dep:1.0.0:net48");
        let (_, _, body) = get(addr, &list.replace("$filter=IsLatestVersion&", "")).await;
        assert_eq!(
            ids_versions(&parse(&body)),
            pairs(&[("Http.Alpha", "1.0.0"), ("Http.Beta", "1.0.0")])
        );
        let (_, _, body) = get(
            addr,
            "/api/v2/Search()?$filter=IsAbsoluteLatestVersion&searchTerm='alpha'&includePrerelease=true",
        )
        .await;
        assert_eq!(
            ids_versions(&parse(&body)),
            pairs(&[("Http.Alpha", "3.0.0-beta")])
        );
        let (_, _, body) = get(addr, "/api/v2/Search()?searchTerm='nothing%20here'").await;
        assert!(parse(&body).entries.is_empty());

        // Restore and install paths: unlisted versions are there, marked.
        let (status, _, body) = get(
            addr,
            "/api/v2/FindPackagesById()?id='http.alpha'&semVerLevel=2.0.0",
        )
        .await;
        assert_eq!(status, 200);
        let p = parse(&body);
        assert_eq!(
            ids_versions(&p),
            pairs(&[
                ("Http.Alpha", "1.0.0"),
                ("Http.Alpha", "2.0.0"),
                ("Http.Alpha", "3.0.0-beta")
            ])
        );
        assert_eq!(p.entries[1]["Published"], UNLISTED_PUBLISHED);
        let (status, _, body) = get(addr, "/api/v2/FindPackagesById()?id='No.Such'").await;
        assert_eq!(status, 200);
        assert!(parse(&body).entries.is_empty());
        let (status, ty, body) =
            get(addr, "/api/v2/Packages(Id='Http.Alpha',Version='2.0.0')").await;
        assert_eq!((status, ty.as_str()), (200, ATOM_ENTRY));
        let p = parse(&body);
        assert_eq!(ids_versions(&p), pairs(&[("Http.Alpha", "2.0.0")]));
        assert_eq!(p.entries[0]["Listed"], "false");
        let content = p.entries[0]["content"]
            .strip_prefix(&base)
            .unwrap()
            .to_owned();
        let (status, _, _) = get(addr, &content).await;
        assert_eq!(status, 200);

        for (path, want) in [
            ("/api/v2/Packages(Id='Http.Alpha',Version='9.0.0')", 404),
            ("/api/v2/Packages(Id=Http.Alpha)", 400),
            ("/api/v2/Packages()", 404),
            ("/api/v2/Other()", 404),
            ("/api/v2/Search()?$top=x", 400),
            ("/api/v2/Search()?$skip=100001", 400),
            ("/api/v2/Search()?searchTerm=bare", 400),
            ("/api/v2/Search()?$filter=Id%20eq%20'x'", 400),
            ("/api/v2/FindPackagesById()", 400),
            // Push and unlist keep their routes.
            ("/api/v2/package", 405),
        ] {
            let (status, _, body) = get(addr, path).await;
            assert_eq!(status, want, "{path}: {body}");
        }
    }
}
