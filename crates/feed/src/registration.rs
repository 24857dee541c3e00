//! A feed's registration of an id (`RegistrationsBaseUrl`), for the server's mirror: its
//! registration index lists the upstream's versions not stored yet, so clients that resolve
//! through registrations (nuget.exe's packages.config installs) pull them through the flat
//! container like restores do.
//!
//! What is read is metadata only (dependencies, description, listed): nothing of it is signed,
//! and every package it names is verified when it is downloaded. Bounded: each document at
//! most [`MAX_DOCUMENT_SIZE`] (compressed and inflated), at most [`MAX_PAGES`] pages fetched,
//! at most [`MAX_ENTRIES`] versions. NuGet.org serves its registration hives gzip-compressed
//! (`Content-Encoding: gzip`); the feed client does not decode content encodings, so a body
//! starting with the gzip magic is inflated here.

use std::io::Read as _;

use serde::Deserialize;

use crate::{Http, MAX_DOCUMENT_SIZE, NuGetVersion, ServiceIndex};

/// Registration resource types, preferred first (SemVer 2 hives before SemVer 1).
pub const REGISTRATIONS_BASE_URL: &[&str] = &[
    "RegistrationsBaseUrl/3.6.0",
    "RegistrationsBaseUrl/3.4.0",
    "RegistrationsBaseUrl/3.0.0-rc",
    "RegistrationsBaseUrl/3.0.0-beta",
    "RegistrationsBaseUrl",
];

/// Most pages fetched for one id.
pub const MAX_PAGES: usize = 64;
/// Most versions read for one id.
pub const MAX_ENTRIES: usize = 20_000;

/// One version, as a registration describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationEntry {
    /// The id as the entry writes it.
    pub id: String,
    /// The version.
    pub version: NuGetVersion,
    /// Listed.
    pub listed: bool,
    /// `description`.
    pub description: String,
    /// `authors` (an array joined with ", ").
    pub authors: String,
    /// `title`.
    pub title: String,
    /// `summary`.
    pub summary: String,
    /// `projectUrl`.
    pub project_url: String,
    /// `iconUrl`.
    pub icon_url: String,
    /// `licenseUrl`.
    pub license_url: String,
    /// Dependency groups: (target framework, [(id, range)]).
    pub dependency_groups: Vec<RegistrationGroup>,
}

/// One dependency group of a registration entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationGroup {
    /// `targetFramework` (absent: any).
    pub target_framework: Option<String>,
    /// (id, range as written).
    pub dependencies: Vec<(String, Option<String>)>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    items: Vec<Page>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(rename = "@id", default)]
    id: String,
    #[serde(default)]
    items: Option<Vec<Leaf>>,
}

#[derive(Deserialize)]
struct PageDocument {
    #[serde(default)]
    items: Vec<Leaf>,
}

#[derive(Deserialize)]
struct Leaf {
    #[serde(rename = "catalogEntry")]
    catalog_entry: Option<CatalogEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogEntry {
    id: String,
    version: String,
    #[serde(default = "yes")]
    listed: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    authors: serde_json::Value,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    project_url: String,
    #[serde(default)]
    icon_url: String,
    #[serde(default)]
    license_url: String,
    #[serde(default)]
    dependency_groups: Vec<Group>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    #[serde(default)]
    target_framework: Option<String>,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    id: String,
    #[serde(default)]
    range: Option<String>,
}

/// A document body, inflated when it is gzip-compressed, at most [`MAX_DOCUMENT_SIZE`].
fn decoded(body: Vec<u8>) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .take(MAX_DOCUMENT_SIZE.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("a gzip-compressed registration does not inflate: {e}"))?;
    if out.len() as u64 > MAX_DOCUMENT_SIZE {
        return Err(format!(
            "a registration document inflates past {MAX_DOCUMENT_SIZE} bytes"
        ));
    }
    Ok(out)
}

/// The registration base URL a service index names, if any (with a trailing slash).
pub fn registrations_base(http: &dyn Http, service_index: &str) -> Result<Option<String>, String> {
    let body = http
        .get(service_index, MAX_DOCUMENT_SIZE)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the service index is gone (404)".to_owned())?;
    let index = ServiceIndex::parse(service_index, &body).map_err(|e| e.to_string())?;
    Ok(index.find(REGISTRATIONS_BASE_URL).map(|(url, _)| {
        if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        }
    }))
}

/// Every version of `id_lower` the registration under `base` describes (`Ok(empty)` for 404).
/// Entries whose id is not `id_lower` or whose version does not parse are left out; errors are
/// text (they are logged, and the caller lists what it has).
pub fn read_registration(
    http: &dyn Http,
    base: &str,
    id_lower: &str,
) -> Result<Vec<RegistrationEntry>, String> {
    let url = format!("{base}{id_lower}/index.json");
    let Some(body) = http
        .get(&url, MAX_DOCUMENT_SIZE)
        .map_err(|e| e.to_string())?
    else {
        return Ok(Vec::new());
    };
    let index: Index = serde_json::from_slice(&decoded(body)?)
        .map_err(|e| format!("{url}: not a registration index: {e}"))?;
    let mut leaves: Vec<Leaf> = Vec::new();
    let mut fetched = 0usize;
    for page in index.items {
        let items = match page.items {
            Some(items) => items,
            None => {
                fetched += 1;
                if fetched > MAX_PAGES {
                    return Err(format!("{url}: more than {MAX_PAGES} registration pages"));
                }
                // A page elsewhere: only under the upstream's own registration base (a hostile
                // upstream cannot send the mirror to fetch another host's documents).
                if !page.id.starts_with(base) {
                    return Err(format!(
                        "{url}: a registration page outside {base}: {}",
                        signet_common::terminal_safe(&page.id)
                    ));
                }
                let Some(body) = http
                    .get(&page.id, MAX_DOCUMENT_SIZE)
                    .map_err(|e| e.to_string())?
                else {
                    continue;
                };
                let doc: PageDocument = serde_json::from_slice(&decoded(body)?)
                    .map_err(|e| format!("{}: not a registration page: {e}", page.id))?;
                doc.items
            }
        };
        leaves.extend(items);
        if leaves.len() > MAX_ENTRIES {
            return Err(format!("{url}: more than {MAX_ENTRIES} versions"));
        }
    }
    Ok(leaves
        .into_iter()
        .filter_map(|l| l.catalog_entry)
        .filter(|e| e.id.to_lowercase() == id_lower)
        .filter_map(|e| {
            let version = NuGetVersion::parse(&e.version).ok()?;
            let authors = match &e.authors {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            Some(RegistrationEntry {
                id: e.id,
                version,
                listed: e.listed,
                description: e.description,
                authors,
                title: e.title,
                summary: e.summary,
                project_url: e.project_url,
                icon_url: e.icon_url,
                license_url: e.license_url,
                dependency_groups: e
                    .dependency_groups
                    .into_iter()
                    .map(|g| RegistrationGroup {
                        target_framework: g.target_framework,
                        dependencies: g
                            .dependencies
                            .into_iter()
                            .map(|d| (d.id, d.range))
                            .collect(),
                    })
                    .collect(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<(String, Vec<u8>)>);

    impl Http for Fixed {
        fn get(&self, url: &str, _: u64) -> Result<Option<Vec<u8>>, crate::Error> {
            Ok(self
                .0
                .iter()
                .find(|(u, _)| u == url)
                .map(|(_, b)| b.clone()))
        }
        fn download(
            &self,
            _: &str,
            _: &mut dyn std::io::Write,
            _: u64,
        ) -> Result<bool, crate::Error> {
            Ok(false)
        }
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    /// NuGet.org's shape: an inlined page and a page elsewhere, gzip-compressed.
    #[test]
    fn reads_inlined_and_remote_pages_compressed_or_not() {
        let index = br#"{"items":[
            {"@id":"https://up.test/r/a/index.json#page/1.0.0/1.0.0","items":[
                {"catalogEntry":{"id":"A","version":"1.0.0","authors":["x","y"],
                 "dependencyGroups":[{"targetFramework":".NETStandard2.0","dependencies":[{"id":"B","range":"[1.0.0, )"}]}]}}]},
            {"@id":"https://up.test/r/a/page2.json"}]}"#;
        let page = br#"{"items":[{"catalogEntry":{"id":"a","version":"2.0.0-beta","listed":false}},
            {"catalogEntry":{"id":"Other","version":"9.0.0"}},
            {"catalogEntry":{"id":"a","version":"not a version"}}]}"#;
        let http = Fixed(vec![
            ("https://up.test/r/a/index.json".into(), gzip(index)),
            ("https://up.test/r/a/page2.json".into(), page.to_vec()),
            (
                "https://up.test/r/b/index.json".into(),
                br#"{"items":[{"@id":"https://elsewhere.test/p.json"}]}"#.to_vec(),
            ),
        ]);
        let e = read_registration(&http, "https://up.test/r/", "b").unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let entries = read_registration(&http, "https://up.test/r/", "a").unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].version.normalized(), "1.0.0");
        assert_eq!(entries[0].authors, "x, y");
        assert_eq!(entries[0].dependency_groups[0].dependencies[0].0, "B");
        assert_eq!(entries[1].version.normalized(), "2.0.0-beta");
        assert!(!entries[1].listed);
        assert!(
            read_registration(&http, "https://up.test/r/", "missing")
                .unwrap()
                .is_empty()
        );
    }

    /// A compressed document that inflates past the limit is refused, not inflated.
    #[test]
    fn a_gzip_bomb_is_refused() {
        let big = vec![b' '; (MAX_DOCUMENT_SIZE + 10) as usize];
        let http = Fixed(vec![("https://up.test/r/a/index.json".into(), gzip(&big))]);
        let e = read_registration(&http, "https://up.test/r/", "a").unwrap_err();
        assert!(e.contains("inflates past"), "{e}");
    }
}
