//! What the server reads from a pushed package before accepting it: the nuspec identity
//! (through `signet-nupkg`), validated the way NuGet.org validates it, and the display
//! metadata that registrations and search show. Every failure is a 400 with a reason.

use std::io::Read as _;
use std::path::Path;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use signet_feed::{NuGetVersion, VersionRange};
use signet_nupkg::{Limits, Package};

use crate::Error;
use crate::error::{PushRule, Refusal};

/// Longest package id NuGet accepts.
pub const MAX_ID_LEN: usize = 100;

/// Longest version string NuGet.org accepts (its `Version` column is 64 characters).
pub const MAX_VERSION_LEN: usize = 64;

/// The start of an over-long value, for messages.
fn truncated(s: &str) -> String {
    let mut out: String = s.chars().take(120).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// One dependency group as stored and served (registration `dependencyGroups`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepGroup {
    /// `targetFramework` (absent: any framework).
    #[serde(rename = "targetFramework", skip_serializing_if = "Option::is_none")]
    pub target_framework: Option<String>,
    /// The dependencies: (id, normalised range or absent for any version).
    pub dependencies: Vec<Dep>,
}

/// One dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep {
    /// The dependency's package id.
    pub id: String,
    /// The version range as written (absent: any version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

/// A pushed package, validated.
#[derive(Clone, Debug)]
pub struct PackageInfo {
    /// The id as the nuspec writes it.
    pub id: String,
    /// The version.
    pub version: NuGetVersion,
    /// The version as the nuspec writes it.
    pub original_version: String,
    /// SemVer 2.0.0-only (dotted release labels or build metadata): hidden from clients that
    /// do not send `semVerLevel=2.0.0`.
    pub semver2: bool,
    /// Dependency groups.
    pub dependency_groups: Vec<DepGroup>,
    /// The root `.nuspec` bytes, served by the flat container.
    pub nuspec: Vec<u8>,
    /// Display metadata.
    pub meta: Metadata,
    /// File size in bytes.
    pub size: u64,
}

/// The nuspec fields registrations and search display.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `<description>`.
    pub description: String,
    /// `<authors>`.
    pub authors: String,
    /// `<title>`.
    pub title: String,
    /// `<summary>`.
    pub summary: String,
    /// `<tags>` (space separated).
    pub tags: String,
    /// `<projectUrl>`.
    pub project_url: String,
    /// `<iconUrl>`.
    pub icon_url: String,
    /// `<licenseUrl>`.
    pub license_url: String,
    /// `<license>`: an SPDX expression, or a file in the package (see `license_type`).
    /// Absent from rows stored before it was read, hence the default.
    #[serde(default)]
    pub license: String,
    /// `<license type="…">`: `expression` or `file`.
    #[serde(default)]
    pub license_type: String,
}

/// Whether `id` is a valid NuGet package id: at most 100 characters of `\w` runs separated by
/// single `.`, `-` or `_` (NuGet's `PackageIdValidator`, ASCII only).
pub fn is_valid_id(id: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.starts_with(word)
        && id.ends_with(word)
        && !id
            .as_bytes()
            .windows(2)
            .any(|w| matches!(w, [a, b] if matches!(a, b'.' | b'-') && matches!(b, b'.' | b'-')))
        && id.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// Opens the package at `path` and validates it (see the module docs).
pub fn inspect(path: &Path, limits: &Limits) -> Result<PackageInfo, Error> {
    let (package, size) = open(path, limits)?;
    info_of(package, size, limits)
}

fn open(
    path: &Path,
    limits: &Limits,
) -> Result<(Package<std::io::BufReader<std::fs::File>>, u64), Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open the upload", e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("stat the upload", e))?
        .len();
    let package = Package::open(std::io::BufReader::new(file), limits)
        .map_err(|e| Error::Invalid(format!("the package is not a valid .nupkg: {e}")))?;
    Ok((package, size))
}

/// What a push reads from the archive, in one open: the validated manifest and the primary
/// signature (if any). The archive's entries are checked the way the install client checks
/// them before extracting (traversal, names NuGet percent-decodes to something else,
/// duplicates and case or normalisation twins): a feed must not vouch for an archive that
/// clients unpack differently. `scratch` is a directory on the upload filesystem.
pub(crate) fn inspect_push(
    path: &Path,
    limits: &Limits,
    scratch: &Path,
) -> Result<(PackageInfo, Option<signet_signature::PrimarySignature>), Error> {
    let (mut package, size) = open(path, limits)?;
    check_entries(&mut package, scratch)?;
    let signature = match package.read_signature() {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(
            signet_signature::PrimarySignature::load(&bytes, &signet_signature::Limits::default())
                .map_err(|e| signature_unreadable(&e))?,
        ),
        Err(e) => {
            return Err(Refusal::new(
                PushRule::SignatureFormat,
                e.code(),
                format!("the package signature cannot be read: {e}"),
            )
            .into());
        }
    };
    let info = info_of(package, size, limits)?;
    check_urls(&info.nuspec)?;
    Ok((info, signature))
}

/// Runs the install client's entry rules (`signet_nupkg::Package::extract_to`) into a
/// throw-away directory: the same verdict a client reaches, by the same code.
fn check_entries<R: std::io::Read + std::io::Seek>(
    package: &mut Package<R>,
    scratch: &Path,
) -> Result<(), Error> {
    let dir = tempfile::Builder::new()
        .prefix("entries-")
        .tempdir_in(scratch)
        .map_err(|e| Error::io("create a scratch directory", e))?;
    match package.extract_to(dir.path()) {
        Ok(_) => Ok(()),
        Err(
            e @ (signet_nupkg::Error::UnsafeEntryName { .. }
            | signet_nupkg::Error::EntryNameCollision { .. }),
        ) => Err(Refusal::new(
            PushRule::ArchiveEntries,
            None,
            format!(
                "the package has an entry name clients would unpack differently or outside \
                 its folder: {e}"
            ),
        )
        .into()),
        Err(signet_nupkg::Error::Io { action, source }) => {
            Err(Error::io(format!("check the entries ({action})"), source))
        }
        Err(e) => Err(Refusal::new(
            PushRule::ArchiveEntries,
            e.code(),
            format!("the package cannot be unpacked: {e}"),
        )
        .into()),
    }
}

/// The nuspec elements whose text clients turn into links (`projectUrl`, `licenseUrl`,
/// `iconUrl`, `repository/@url`): only absolute `http` or `https` URLs are accepted, so that a
/// page never gets a `javascript:` or `file:` link from a package (NuGet.org accepts only
/// these schemes too).
fn check_urls(xml: &[u8]) -> Result<(), Error> {
    for (field, value) in url_fields(xml) {
        let v = value.trim();
        if v.is_empty() {
            continue;
        }
        let lower = v.to_ascii_lowercase();
        let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
            && !v.chars().any(|c| c.is_control() || c.is_whitespace())
            && v.split_once("://").is_some_and(|(_, rest)| {
                !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with('\\')
            });
        if !ok {
            return Err(Refusal::new(
                PushRule::Manifest,
                None,
                format!("the manifest's {field} {v:?} is not an absolute http or https URL"),
            )
            .into());
        }
    }
    Ok(())
}

/// (element, value) of every URL a nuspec's `<metadata>` gives.
fn url_fields(xml: &[u8]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut buf = Vec::new();
    let field = |path: &[Vec<u8>]| match path {
        [_, m, f] if m.as_slice() == b"metadata" => match f.as_slice() {
            b"projectUrl" => Some("projectUrl"),
            b"licenseUrl" => Some("licenseUrl"),
            b"iconUrl" => Some("iconUrl"),
            _ => None,
        },
        _ => None,
    };
    loop {
        let event = reader.read_event_into(&mut buf);
        match event {
            Ok(Event::Start(ref e)) | Ok(Event::Empty(ref e)) => {
                let name = e.local_name().as_ref().to_vec();
                if path.len() == 2
                    && path.get(1).is_some_and(|p| p == b"metadata")
                    && name == b"repository"
                {
                    for a in e.attributes().flatten() {
                        if a.key.local_name().as_ref() == b"url" {
                            let v = a
                                .unescape_value()
                                .map(|c| c.into_owned())
                                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                            out.push(("repository url", v));
                        }
                    }
                }
                if matches!(event, Ok(Event::Start(_))) {
                    path.push(name);
                    if path.len() > 16 {
                        break;
                    }
                    if let Some(f) = field(&path) {
                        out.push((f, String::new()));
                    }
                }
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) if field(&path).is_some() => {
                if let (Some(last), Ok(text)) = (out.last_mut(), t.xml_content()) {
                    last.1.push_str(&text);
                }
            }
            Ok(Event::CData(t)) if field(&path).is_some() => {
                if let (Some(last), Ok(text)) = (out.last_mut(), t.decode()) {
                    last.1.push_str(&text);
                }
            }
            Ok(Event::GeneralRef(r)) if field(&path).is_some() => {
                // Any entity in a URL element: keep it visible so the check refuses what it
                // cannot read exactly.
                if let Some(last) = out.last_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => last.1.push(c),
                        _ => last.1.push_str(match r.decode().ok().as_deref() {
                            Some("amp") => "&",
                            Some("lt") => "<",
                            Some("gt") => ">",
                            Some("apos") => "'",
                            Some("quot") => "\"",
                            _ => " ",
                        }),
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

fn info_of(
    mut package: Package<std::io::BufReader<std::fs::File>>,
    size: u64,
    limits: &Limits,
) -> Result<PackageInfo, Error> {
    let nuspec = package
        .nuspec()
        .map_err(|e| Error::Invalid(format!("the package's manifest is invalid: {e}")))?;
    if !is_valid_id(&nuspec.id) {
        return Err(Refusal::new(
            PushRule::Manifest,
            None,
            format!(
                "the package id {:?} is invalid: use at most {MAX_ID_LEN} letters, digits and \
                 '_', separated by single '.' or '-'",
                truncated(&nuspec.id)
            ),
        )
        .into());
    }
    if nuspec.original_version.chars().count() > MAX_VERSION_LEN {
        return Err(Refusal::new(
            PushRule::Manifest,
            None,
            format!(
                "the package version {:?} is longer than {MAX_VERSION_LEN} characters",
                truncated(&nuspec.original_version)
            ),
        )
        .into());
    }
    let version = NuGetVersion::parse(&nuspec.original_version).map_err(|_| {
        Error::Invalid(format!(
            "the package version {:?} is not a valid NuGet version",
            nuspec.original_version
        ))
    })?;
    let release = version.normalized().split_once('-').map(|(_, r)| r);
    let semver2 = nuspec.original_version.contains('+') || release.is_some_and(|r| r.contains('.'));
    let mut groups = Vec::with_capacity(nuspec.dependency_groups.len());
    for g in &nuspec.dependency_groups {
        let mut deps = Vec::with_capacity(g.dependencies.len());
        for d in &g.dependencies {
            if !is_valid_id(&d.id) {
                return Err(Error::Invalid(format!(
                    "the dependency id {:?} is invalid",
                    d.id
                )));
            }
            let range = match d.version_range.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(r) => {
                    VersionRange::parse(r).map_err(|_| {
                        Error::Invalid(format!(
                            "the version range {r:?} of dependency {:?} is invalid",
                            d.id
                        ))
                    })?;
                    Some(r.to_owned())
                }
            };
            deps.push(Dep {
                id: d.id.clone(),
                range,
            });
        }
        let target_framework = g
            .target_framework
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        groups.push(DepGroup {
            target_framework,
            dependencies: deps,
        });
    }
    let nuspec_bytes = read_nuspec_bytes(package.into_inner(), limits)?;
    let meta = parse_metadata(&nuspec_bytes);
    Ok(PackageInfo {
        id: nuspec.id,
        version,
        original_version: nuspec.original_version,
        semver2,
        dependency_groups: groups,
        nuspec: nuspec_bytes,
        meta,
        size,
    })
}

/// The root `.nuspec` entry's bytes (already found unique and bounded by `Package::nuspec`).
fn read_nuspec_bytes<R: std::io::Read + std::io::Seek>(
    reader: R,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let bad = |e: String| Error::Invalid(format!("the package's manifest is unreadable: {e}"));
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| bad(e.to_string()))?;
    let index = archive
        .file_names_raw()
        .position(|n| {
            !n.contains(&b'/')
                && !n.contains(&b'\\')
                && n.to_ascii_lowercase().ends_with(b".nuspec")
        })
        .ok_or_else(|| bad("no .nuspec".into()))?;
    let entry = archive.by_index(index).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    entry
        .take(limits.max_nuspec_size.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    if out.len() as u64 > limits.max_nuspec_size {
        return Err(Error::Invalid(format!(
            "the manifest is larger than {} bytes",
            limits.max_nuspec_size
        )));
    }
    Ok(out)
}

/// Display fields from `<metadata>`; unknown or malformed parts are left empty (the identity
/// was already validated by `signet-nupkg`).
fn parse_metadata(xml: &[u8]) -> Metadata {
    let mut meta = Metadata::default();
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf);
        let in_field = path.len() == 3 && path.get(1).is_some_and(|p| p == b"metadata");
        let text: Option<String> = match event {
            Ok(Event::Start(e)) => {
                path.push(e.local_name().as_ref().to_vec());
                if path.len() > 16 {
                    break;
                }
                if path.len() == 3
                    && path.get(1).is_some_and(|p| p == b"metadata")
                    && e.local_name().as_ref() == b"license"
                {
                    for a in e.attributes().flatten() {
                        if a.key.local_name().as_ref() == b"type" {
                            meta.license_type = String::from_utf8_lossy(&a.value).into_owned();
                        }
                    }
                }
                None
            }
            Ok(Event::End(_)) => {
                path.pop();
                None
            }
            Ok(Event::Text(t)) if in_field => t.xml_content().ok().map(|c| c.into_owned()),
            Ok(Event::CData(t)) if in_field => t.decode().ok().map(|c| c.into_owned()),
            Ok(Event::GeneralRef(r)) if in_field => match r.resolve_char_ref() {
                Ok(Some(c)) => Some(c.to_string()),
                _ => match r.decode().ok().as_deref() {
                    Some("lt") => Some("<".into()),
                    Some("gt") => Some(">".into()),
                    Some("amp") => Some("&".into()),
                    Some("apos") => Some("'".into()),
                    Some("quot") => Some("\"".into()),
                    _ => None,
                },
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => None,
        };
        if let Some(text) = text {
            let slot = match path.get(2).map(Vec::as_slice) {
                Some(b"description") => Some(&mut meta.description),
                Some(b"authors") => Some(&mut meta.authors),
                Some(b"title") => Some(&mut meta.title),
                Some(b"summary") => Some(&mut meta.summary),
                Some(b"tags") => Some(&mut meta.tags),
                Some(b"projectUrl") => Some(&mut meta.project_url),
                Some(b"iconUrl") => Some(&mut meta.icon_url),
                Some(b"licenseUrl") => Some(&mut meta.license_url),
                Some(b"license") => Some(&mut meta.license),
                _ => None,
            };
            if let Some(slot) = slot {
                slot.push_str(&text);
            }
        }
        buf.clear();
    }
    for field in [
        &mut meta.description,
        &mut meta.authors,
        &mut meta.title,
        &mut meta.summary,
        &mut meta.tags,
        &mut meta.project_url,
        &mut meta.icon_url,
        &mut meta.license_url,
        &mut meta.license,
        &mut meta.license_type,
    ] {
        *field = field.trim().to_owned();
    }
    meta
}

/// A refusal for an unreadable signature.
pub(crate) fn signature_unreadable(e: &signet_signature::Error) -> Error {
    Refusal::new(
        PushRule::SignatureFormat,
        Some(e.code()),
        format!("the package signature cannot be read: {e}"),
    )
    .into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids() {
        for ok in ["A", "Contoso.Widgets", "a-b_c.d", "x1"] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a.-b",
            "a/b",
            "a b",
            "ä",
            &"a".repeat(101),
        ] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn metadata() {
        let m = parse_metadata(
            br#"<?xml version="1.0"?><package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata><id>A</id><version>1.0</version><description>Hello &amp; bye</description><authors>Me</authors><tags>x y</tags></metadata></package>"#,
        );
        assert_eq!(m.description, "Hello & bye");
        assert_eq!(m.authors, "Me");
        assert_eq!(m.tags, "x y");
    }
}
