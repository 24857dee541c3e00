//! The JSON documents of the v3 protocol (spec §6.1, §6.4, §6.5), built from rows.

use serde_json::{Value, json};
use signet_common::UtcTime;

use crate::app::content_url;
use crate::db::VersionRow;
use crate::downloads::DownloadCounts;
use crate::registry::SearchPage;

/// NuGet.org inlines registration pages below 128 versions; pages hold this many.
const PAGE_SIZE: usize = 128;

/// The service index with every alias real clients look for (§6.1).
pub(crate) fn service_index(base: &str) -> Value {
    let mut resources = vec![
        json!({ "@id": format!("{base}/api/v2/package"), "@type": "PackagePublish/2.0.0" }),
        json!({ "@id": format!("{base}/v3-flatcontainer/"), "@type": "PackageBaseAddress/3.0.0" }),
        // The V2 feed, which NuGet.exe needs for `nuget list` (§6.7); the client looks for
        // `LegacyGallery/Versioned` or `LegacyGallery/2.0.0`.
        json!({ "@id": format!("{base}/api/v2/"), "@type": "LegacyGallery/2.0.0" }),
    ];
    let registration = format!("{base}/v3/registration/");
    for t in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.4.0", "/3.6.0"] {
        resources.push(json!({ "@id": registration, "@type": format!("RegistrationsBaseUrl{t}") }));
    }
    let query = format!("{base}/v3/query");
    for t in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0"] {
        resources.push(json!({ "@id": query, "@type": format!("SearchQueryService{t}") }));
    }
    let autocomplete = format!("{base}/v3/autocomplete");
    for t in ["", "/3.0.0-beta", "/3.0.0-rc", "/3.5.0"] {
        resources
            .push(json!({ "@id": autocomplete, "@type": format!("SearchAutocompleteService{t}") }));
    }
    json!({ "version": "3.0.0", "resources": resources })
}

fn published(row: &VersionRow) -> String {
    if row.listed {
        UtcTime::from_unix_micros(row.published_at).rfc3339()
    } else {
        // NuGet.org's marker for unlisted versions (§6.4).
        "1900-01-01T00:00:00+00:00".to_owned()
    }
}

fn leaf_url(base: &str, row: &VersionRow) -> String {
    format!(
        "{base}/v3/registration/{}/{}.json",
        row.package_id.to_lowercase(),
        row.version_lower
    )
}

fn tags(row: &VersionRow) -> Vec<&str> {
    row.metadata
        .tags
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect()
}

/// Drops empty-string members: clients parse URL fields as URIs, and "" is not one.
fn prune(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| v.as_str() != Some(""))
                .collect(),
        ),
        other => other,
    }
}

fn catalog_entry(base: &str, row: &VersionRow) -> Value {
    let groups: Vec<Value> = row
        .dependencies
        .iter()
        .map(|g| {
            let deps: Vec<Value> = g
                .dependencies
                .iter()
                .map(|d| {
                    let mut v = serde_json::Map::new();
                    v.insert("id".into(), json!(d.id));
                    if let Some(r) = &d.range {
                        v.insert("range".into(), json!(r));
                    }
                    v.insert(
                        "registration".into(),
                        json!(format!(
                            "{base}/v3/registration/{}/index.json",
                            d.id.to_lowercase()
                        )),
                    );
                    Value::Object(v)
                })
                .collect();
            let mut v = serde_json::Map::new();
            if let Some(tf) = &g.target_framework {
                v.insert("targetFramework".into(), json!(tf));
            }
            v.insert("dependencies".into(), Value::Array(deps));
            Value::Object(v)
        })
        .collect();
    let m = &row.metadata;
    prune(json!({
        "@id": format!("{}#catalogEntry", leaf_url(base, row)),
        "id": row.id_as_pushed,
        "version": row.version,
        "listed": row.listed,
        "published": published(row),
        "description": m.description,
        "authors": m.authors,
        "title": m.title,
        "summary": m.summary,
        "tags": tags(row),
        "projectUrl": m.project_url,
        "iconUrl": m.icon_url,
        "licenseUrl": m.license_url,
        "packageContent": content_url(base, row),
        "dependencyGroups": groups,
    }))
}

/// The registration index with every page inlined (§6.4); `versions` ascending, non-empty.
pub(crate) fn registration_index(base: &str, versions: &[VersionRow]) -> Value {
    let id_lower = versions
        .first()
        .map(|v| v.package_id.to_lowercase())
        .unwrap_or_default();
    let index_url = format!("{base}/v3/registration/{id_lower}/index.json");
    let pages: Vec<Value> = versions
        .chunks(PAGE_SIZE)
        .map(|page| {
            let lower = page.first().map_or("", |v| v.version.as_str());
            let upper = page.last().map_or("", |v| v.version.as_str());
            let items: Vec<Value> = page
                .iter()
                .map(|row| {
                    json!({
                        "@id": leaf_url(base, row),
                        "@type": "Package",
                        "packageContent": content_url(base, row),
                        "registration": index_url,
                        "catalogEntry": catalog_entry(base, row),
                    })
                })
                .collect();
            json!({
                "@id": format!("{index_url}#page/{lower}/{upper}"),
                "@type": "catalog:CatalogPage",
                "count": items.len(),
                "lower": lower,
                "upper": upper,
                "parent": index_url,
                "items": items,
            })
        })
        .collect();
    json!({
        "@id": index_url,
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": pages.len(),
        "items": pages,
    })
}

/// A registration leaf.
pub(crate) fn registration_leaf(base: &str, row: &VersionRow) -> Value {
    json!({
        "@id": leaf_url(base, row),
        "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
        "listed": row.listed,
        "packageContent": content_url(base, row),
        "published": published(row),
        "registration": format!("{base}/v3/registration/{}/index.json", row.package_id.to_lowercase()),
    })
}

/// Search results (§6.5): one item per id of the page, the latest version's metadata.
pub(crate) fn search(base: &str, page: &SearchPage) -> Value {
    let none = DownloadCounts::default();
    let downloads = &page.downloads;
    let data: Vec<Value> = page
        .hits
        .iter()
        .enumerate()
        .filter_map(|(i, hit)| {
            let latest = hit.versions.last()?;
            let counts = downloads.get(i).unwrap_or(&none);
            let registration = format!(
                "{base}/v3/registration/{}/index.json",
                latest.package_id.to_lowercase()
            );
            let versions: Vec<Value> = hit
                .versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.version,
                        "downloads": counts.version(&v.version_lower),
                        "@id": leaf_url(base, v),
                    })
                })
                .collect();
            let m = &latest.metadata;
            let authors: Vec<&str> = m
                .authors
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            Some(prune(json!({
                "@id": registration,
                "@type": "Package",
                "registration": registration,
                "id": latest.id_as_pushed,
                "version": latest.version,
                "description": m.description,
                "summary": m.summary,
                "title": m.title,
                "authors": authors,
                "owners": hit.owners,
                "tags": tags(latest),
                "projectUrl": m.project_url,
                "iconUrl": m.icon_url,
                "licenseUrl": m.license_url,
                "totalDownloads": counts.total,
                "verified": false,
                "packageTypes": [ { "name": "Dependency" } ],
                "versions": versions,
            })))
        })
        .collect();
    json!({ "totalHits": page.total, "data": data })
}
