//! The package manifest: which entry it is, bounded inflation, and `<id>`/`<version>`.

use std::io::{Read, Seek};

use quick_xml::events::Event;
use zip::ZipArchive;

use crate::error::{Error, Limit};
use crate::limits::Limits;

/// Deflate cannot compress better than about 1032:1; a declared ratio beyond this is a lie.
const MAX_DEFLATE_RATIO: u64 = 1100;

/// The identity a `.nuspec` declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nuspec {
    /// `<metadata><id>`, trimmed.
    pub id: String,
    /// The version normalized the way NuGet does (`NuGetVersion.ToNormalizedString`): at least
    /// three numeric parts, leading zeros dropped, a fourth part only if non-zero, release
    /// labels kept, build metadata (`+...`) dropped. `"1.0"` → `"1.0.0"`, `"01.2.03.0-beta+abc"`
    /// → `"1.2.3-beta"`.
    pub version: String,
    /// `<metadata><version>` as written (trimmed).
    pub original_version: String,
    /// `<metadata><dependencies>`: its `<group>`s, or one group without a framework for the
    /// legacy flat list of `<dependency>` elements.
    pub dependency_groups: Vec<DependencyGroup>,
}

/// A `<group>` of `<dependencies>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DependencyGroup {
    /// `targetFramework` as written (`None`: any framework).
    pub target_framework: Option<String>,
    /// The dependencies.
    pub dependencies: Vec<Dependency>,
}

/// One `<dependency id=… version=…>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// `id`.
    pub id: String,
    /// `version`: a NuGet version range as written (`None`: any version).
    pub version_range: Option<String>,
}

/// Most dependencies accepted in one manifest.
const MAX_DEPENDENCIES: usize = 10_000;

/// Finds, inflates and parses the root `.nuspec` (see [`crate::Package::nuspec`]).
pub(crate) fn read<R: Read + Seek>(reader: &mut R, limits: &Limits) -> Result<Nuspec, Error> {
    let mut archive = ZipArchive::new(&mut *reader)
        .map_err(|e| Error::invalid(format!("cannot read the archive: {e}"), 0))?;
    let candidates: Vec<(usize, String)> = archive
        .file_names_raw()
        .enumerate()
        // On the percent-decoded name, as NuGet's reader matches package parts
        // (`Uri.UnescapeDataString`): `evil%2Enuspec` is a second manifest, not a content
        // file, and extraction writes it as `evil.nuspec`.
        .filter(|(_, name)| {
            let raw = String::from_utf8_lossy(name);
            match crate::extract::decode_name(&raw) {
                Ok(decoded) => is_root_nuspec(decoded.as_bytes()),
                Err(_) => is_root_nuspec(name),
            }
        })
        .map(|(i, name)| (i, String::from_utf8_lossy(name).into_owned()))
        .collect();
    let (index, entry) = match candidates.as_slice() {
        [] => return Err(Error::NuspecMissing),
        [one] => one.clone(),
        many => {
            return Err(Error::NuspecMultiple {
                names: many.iter().map(|(_, n)| n.clone()).collect(),
            });
        }
    };
    let bad = |reason: String| Error::InvalidNuspec {
        entry: entry.clone(),
        reason,
    };
    let max = limits.max_nuspec_size;
    let (declared, compressed, stored) = {
        let data = archive
            .by_index_data(index)
            .map_err(|e| bad(format!("cannot read its header: {e}")))?;
        (
            data.size(),
            data.compressed_size(),
            data.compression() == zip::CompressionMethod::Stored,
        )
    };
    if declared > max {
        return Err(Error::limit(Limit::NuspecSize, declared, max));
    }
    if !stored
        && declared
            > compressed
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(1024)
    {
        return Err(bad(format!(
            "its declared sizes ({compressed} bytes compressed, {declared} uncompressed) are implausible"
        )));
    }
    let mut file = archive
        .by_index(index)
        .map_err(|e| bad(format!("cannot open it: {e}")))?;
    // `declared <= max`, and `max` bytes were accepted as memory to spend.
    let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    (&mut file)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot inflate it: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(Error::limit(Limit::NuspecSize, bytes.len() as u64, max));
    }
    parse(&bytes).map_err(bad)
}

/// A root entry (no `/` or `\`) ending in `.nuspec`, ASCII case-insensitively.
fn is_root_nuspec(name: &[u8]) -> bool {
    const EXT: &[u8] = b".nuspec";
    !name.contains(&b'/')
        && !name.contains(&b'\\')
        && name.len() > EXT.len()
        && name
            .get(name.len() - EXT.len()..)
            .is_some_and(|ext| ext.eq_ignore_ascii_case(EXT))
}

/// Which of the two wanted elements is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Version,
}

/// Parses `<package><metadata><id/><version/>` by local names. DOCTYPEs are refused; only the
/// five predefined entities and character references are expanded.
pub(crate) fn parse(xml: &[u8]) -> Result<Nuspec, String> {
    if xml.starts_with(&[0xFF, 0xFE]) || xml.starts_with(&[0xFE, 0xFF]) {
        return Err("utf-16 manifests are not supported".into());
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut depth = 0usize;
    // Depth of the first <metadata> directly under the root, while inside it.
    let mut in_metadata = false;
    let mut seen_metadata = false;
    let mut capturing: Option<(Field, usize)> = None;
    let mut id: Option<String> = None;
    let mut version: Option<String> = None;
    let mut text = String::new();
    let mut groups: Vec<DependencyGroup> = Vec::new();
    // Depth of <dependencies> while inside it; whether a <group> is open.
    let mut in_dependencies: Option<usize> = None;
    let mut dependency_count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed xml at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::DocType(_) => return Err("document type declarations are not allowed".into()),
            Event::Start(e) => {
                depth += 1;
                let local = e.local_name();
                let local = local.as_ref();
                if depth == 1 && local != b"package" {
                    return Err("the root element is not <package>".into());
                }
                if depth == 2 && local == b"metadata" && !seen_metadata {
                    in_metadata = true;
                    seen_metadata = true;
                } else if depth == 3 && in_metadata && local == b"dependencies" {
                    in_dependencies = Some(depth);
                } else if let Some(d) = in_dependencies {
                    dependency_element(&e, depth - d, &mut groups, &mut dependency_count)?;
                } else if depth == 3 && in_metadata && capturing.is_none() {
                    let field = match local {
                        b"id" if id.is_none() => Some(Field::Id),
                        b"version" if version.is_none() => Some(Field::Version),
                        _ => None,
                    };
                    if let Some(field) = field {
                        capturing = Some((field, depth));
                        text.clear();
                    }
                }
            }
            Event::Empty(e) => {
                let local = e.local_name();
                let local = local.as_ref();
                if depth == 0 && local != b"package" {
                    return Err("the root element is not <package>".into());
                }
                if depth == 1 && local == b"metadata" && !seen_metadata {
                    seen_metadata = true;
                }
                if let Some(d) = in_dependencies {
                    dependency_element(&e, depth + 1 - d, &mut groups, &mut dependency_count)?;
                }
                if depth == 2 && in_metadata {
                    // <id/> or <version/>: present but empty.
                    match local {
                        b"id" if id.is_none() => id = Some(String::new()),
                        b"version" if version.is_none() => version = Some(String::new()),
                        _ => {}
                    }
                }
            }
            Event::End(_) => {
                if let Some((field, d)) = capturing
                    && d == depth
                {
                    let value = std::mem::take(&mut text);
                    match field {
                        Field::Id => id = Some(value),
                        Field::Version => version = Some(value),
                    }
                    capturing = None;
                }
                if depth == 2 && in_metadata {
                    in_metadata = false;
                }
                if in_dependencies == Some(depth) {
                    in_dependencies = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) if capturing.is_some() => {
                let s = t.decode().map_err(|e| format!("invalid text: {e}"))?;
                text.push_str(&s);
            }
            Event::CData(t) if capturing.is_some() => {
                let s = t.decode().map_err(|e| format!("invalid text: {e}"))?;
                text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        let name = r.decode().map_err(|e| format!("invalid reference: {e}"))?;
                        match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => return Err(format!("undefined entity '&{other};'")),
                        }
                    }
                    Err(e) => return Err(format!("invalid character reference: {e}")),
                };
                if capturing.is_some() {
                    text.push(resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_metadata {
        return Err("no <metadata> element".into());
    }
    let id = id
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or("no <id> in <metadata>")?;
    let original_version = version
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or("no <version> in <metadata>")?;
    let version = normalize_version(&original_version)
        .ok_or_else(|| format!("'{original_version}' is not a valid version string"))?;
    Ok(Nuspec {
        id,
        version,
        original_version,
        dependency_groups: groups,
    })
}

/// Records a `<group>` (`level` 1 below `<dependencies>`) or a `<dependency>` (level 1 in the
/// legacy flat list, level 2 inside a group).
fn dependency_element(
    e: &quick_xml::events::BytesStart<'_>,
    level: usize,
    groups: &mut Vec<DependencyGroup>,
    count: &mut usize,
) -> Result<(), String> {
    let local = e.local_name();
    let attr = |name: &[u8]| -> Result<Option<String>, String> {
        for a in e.attributes() {
            let a = a.map_err(|err| format!("invalid attribute: {err}"))?;
            if a.key.local_name().as_ref() == name {
                let v = a
                    .unescape_value()
                    .map_err(|err| format!("invalid attribute: {err}"))?;
                return Ok(Some(v.trim().to_string()));
            }
        }
        Ok(None)
    };
    match (level, local.as_ref()) {
        (1, b"group") => {
            if groups.len() >= MAX_DEPENDENCIES {
                return Err(format!("more than {MAX_DEPENDENCIES} dependency groups"));
            }
            groups.push(DependencyGroup {
                target_framework: attr(b"targetFramework")?.filter(|s| !s.is_empty()),
                dependencies: Vec::new(),
            });
        }
        (1 | 2, b"dependency") => {
            *count += 1;
            if *count > MAX_DEPENDENCIES {
                return Err(format!("more than {MAX_DEPENDENCIES} dependencies"));
            }
            let id = attr(b"id")?
                .filter(|s| !s.is_empty())
                .ok_or("a <dependency> has no id")?;
            let dep = Dependency {
                id,
                version_range: attr(b"version")?.filter(|s| !s.is_empty()),
            };
            if level == 1 {
                // Legacy flat list: one framework-less group.
                match groups.iter_mut().find(|g| g.target_framework.is_none()) {
                    Some(g) => g.dependencies.push(dep),
                    None => groups.push(DependencyGroup {
                        target_framework: None,
                        dependencies: vec![dep],
                    }),
                }
            } else if let Some(g) = groups.last_mut() {
                g.dependencies.push(dep);
            }
        }
        _ => {}
    }
    Ok(())
}

/// NuGet's lenient version parse (`NuGetVersion.TryParse`) followed by
/// `ToNormalizedString()`. `None` if NuGet would not parse it.
///
/// Accepted: 1 to 4 dot-separated decimal parts (each fitting an `i32`, leading zeros allowed),
/// then optionally `-` and dot-separated release labels of `[0-9A-Za-z-]` (numeric labels
/// without leading zeros), then optionally `+` and dot-separated metadata of the same characters
/// (leading zeros allowed).
pub fn normalize_version(s: &str) -> Option<String> {
    let (rest, metadata) = match s.split_once('+') {
        Some((r, m)) => (r, Some(m)),
        None => (s, None),
    };
    if let Some(m) = metadata
        && !m.split('.').all(|p| valid_label(p, true))
    {
        return None;
    }
    let (numbers, labels) = match rest.split_once('-') {
        Some((n, l)) => (n, Some(l)),
        None => (rest, None),
    };
    if let Some(l) = labels
        && !l.split('.').all(|p| valid_label(p, false))
    {
        return None;
    }
    let parts: Vec<i32> = numbers
        .split('.')
        .map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse::<i32>().ok()
            }
        })
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let part = |i: usize| parts.get(i).copied().unwrap_or(0);
    let mut out = format!("{}.{}.{}", part(0), part(1), part(2));
    if part(3) > 0 {
        out.push_str(&format!(".{}", part(3)));
    }
    if let Some(l) = labels {
        out.push('-');
        out.push_str(l);
    }
    Some(out)
}

fn valid_label(s: &str, allow_leading_zeros: bool) -> bool {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return false;
    }
    let numeric = s.bytes().all(|b| b.is_ascii_digit());
    allow_leading_zeros || !numeric || s.len() == 1 || !s.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_normalize_like_nuget() {
        for (input, want) in [
            ("1", Some("1.0.0")),
            ("1.0", Some("1.0.0")),
            ("1.0.0", Some("1.0.0")),
            ("1.0.0.0", Some("1.0.0")),
            ("1.2.3.4", Some("1.2.3.4")),
            ("01.002.0003", Some("1.2.3")),
            ("1.0.0-beta", Some("1.0.0-beta")),
            ("1.0.0-Beta.1.2-x", Some("1.0.0-Beta.1.2-x")),
            ("1.0.0+abc", Some("1.0.0")),
            ("1.0.0-rc.1+build.007", Some("1.0.0-rc.1")),
            ("9.0.2-beta1", Some("9.0.2-beta1")),
            ("2022.9.8843", Some("2022.9.8843")),
            ("1.0+meta-data", Some("1.0.0")),
            ("", None),
            ("1.2.3.4.5", None),
            ("a.b", None),
            ("1..2", None),
            ("1.0.0-", None),
            ("1.0.0-01", None),
            ("1.0.0-a..b", None),
            ("1.0.0+", None),
            ("1.0.0-beta_1", None),
            ("-1.0", None),
            ("99999999999.0", None),
            (" 1.0", None),
        ] {
            assert_eq!(normalize_version(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn parses_namespaced_nuspec() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata minClientVersion="2.12">
    <id> Newtonsoft.Json </id>
    <version>09.0.2-beta1</version>
    <dependencies><group><dependency id="x" version="1.0"/></group></dependencies>
  </metadata>
  <files><file src="a" /></files>
</package>"#;
        let n = parse(xml).unwrap();
        assert_eq!(n.id, "Newtonsoft.Json");
        assert_eq!(n.version, "9.0.2-beta1");
        assert_eq!(n.original_version, "09.0.2-beta1");
    }

    #[test]
    fn prefixed_names_entities_and_cdata() {
        let xml = br#"<n:package xmlns:n="urn:x"><n:metadata><n:id>A&#x2E;B</n:id><n:version><![CDATA[1.0]]>&amp;</n:version></n:metadata></n:package>"#;
        // "1.0&" is not a version.
        assert!(parse(xml).unwrap_err().contains("not a valid version"));
        let xml = br#"<package><metadata><id>A&#x2E;B</id><version><![CDATA[1.0]]></version></metadata></package>"#;
        let n = parse(xml).unwrap();
        assert_eq!((n.id.as_str(), n.version.as_str()), ("A.B", "1.0.0"));
    }

    #[test]
    fn rejects_dtd_entities_and_missing_fields() {
        let dtd = br#"<?xml version="1.0"?><!DOCTYPE package [<!ENTITY x "boom">]><package><metadata><id>&x;</id><version>1.0</version></metadata></package>"#;
        assert!(parse(dtd).unwrap_err().contains("document type"));
        let entity =
            br#"<package><metadata><id>&x;</id><version>1.0</version></metadata></package>"#;
        assert!(parse(entity).unwrap_err().contains("undefined entity"));
        let no_id = br#"<package><metadata><version>1.0</version></metadata></package>"#;
        assert!(parse(no_id).unwrap_err().contains("<id>"));
        let empty_id = br#"<package><metadata><id/><version>1.0</version></metadata></package>"#;
        assert!(parse(empty_id).unwrap_err().contains("<id>"));
        let nested = br#"<package><other><metadata><id>a</id><version>1</version></metadata></other></package>"#;
        assert!(parse(nested).unwrap_err().contains("<metadata>"));
        assert!(parse(b"<nuspec/>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"<package><metadata>").is_err());
        assert!(parse(&[0xFF, 0xFE, b'<', 0]).is_err());
    }

    #[test]
    fn root_nuspec_names() {
        assert!(is_root_nuspec(b"a.nuspec"));
        assert!(is_root_nuspec(b"A.NuSpec"));
        assert!(!is_root_nuspec(b".nuspec"));
        assert!(!is_root_nuspec(b"lib/a.nuspec"));
        assert!(!is_root_nuspec(b"lib\\a.nuspec"));
        assert!(!is_root_nuspec(b"a.nuspec.bak"));
    }
}

#[cfg(test)]
mod dependency_tests {
    use super::*;

    #[test]
    fn reads_groups_and_the_legacy_flat_list() {
        let xml = br#"<?xml version="1.0"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata>
  <id>A</id><version>1.0</version>
  <dependencies>
    <group targetFramework="net8.0">
      <dependency id="B" version="[1.0.0, 2.0.0)" exclude="Build" />
      <dependency id="C"></dependency>
    </group>
    <group targetFramework=".NETStandard2.0" />
    <group><dependency id="D" version="3.0.0"/></group>
  </dependencies>
</metadata></package>"#;
        let n = parse(xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.dependency_groups.len(), 3);
        let g = &n.dependency_groups;
        assert_eq!(
            g.first().and_then(|g| g.target_framework.as_deref()),
            Some("net8.0")
        );
        assert_eq!(
            g.first().map(|g| g.dependencies.clone()),
            Some(vec![
                Dependency {
                    id: "B".into(),
                    version_range: Some("[1.0.0, 2.0.0)".into())
                },
                Dependency {
                    id: "C".into(),
                    version_range: None
                },
            ])
        );
        assert_eq!(g.get(1).map(|g| g.dependencies.len()), Some(0));
        assert_eq!(g.get(2).and_then(|g| g.target_framework.clone()), None);

        let flat = br#"<package><metadata><id>A</id><version>1.0</version>
  <dependencies><dependency id="X" version="1.0"/><dependency id="Y"/></dependencies>
</metadata></package>"#;
        let n = parse(flat).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.dependency_groups.len(), 1);
        assert_eq!(
            n.dependency_groups.first().map(|g| g.dependencies.len()),
            Some(2)
        );
        assert!(parse(br#"<package><metadata><id>A</id><version>1.0</version><dependencies><dependency version="1"/></dependencies></metadata></package>"#).is_err());
    }
}

#[cfg(test)]
mod manifest_entry_tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn zip_of(entries: &[(&str, &str)]) -> Cursor<Vec<u8>> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        let mut c = w.finish().unwrap();
        c.set_position(0);
        c
    }

    const GOOD: &str =
        "<package><metadata><id>Good</id><version>1.0</version></metadata></package>";
    const EVIL: &str =
        "<package><metadata><id>Evil</id><version>6.6.6</version></metadata></package>";

    /// NuGet's reader matches package parts on percent-decoded names: `evil%2Enuspec` is a
    /// root manifest (extraction writes it as `evil.nuspec`), so the package has two and is
    /// refused, instead of resolving against one manifest and installing another.
    #[test]
    fn an_escaped_second_manifest_is_a_second_manifest() {
        let mut z = zip_of(&[("good.nuspec", GOOD), ("evil%2Enuspec", EVIL)]);
        match read(&mut z, &Limits::default()) {
            Err(Error::NuspecMultiple { names }) => assert_eq!(names.len(), 2),
            other => panic!("{other:?}"),
        }
        // Alone, the escaped one is the manifest.
        let mut z = zip_of(&[("evil%2Enuspec", EVIL), ("lib/a.dll", "x")]);
        assert_eq!(read(&mut z, &Limits::default()).unwrap().id, "Evil");
        // An escaped slash puts it below the root: not a manifest.
        let mut z = zip_of(&[("good.nuspec", GOOD), ("x%2Fevil.nuspec", EVIL)]);
        assert_eq!(read(&mut z, &Limits::default()).unwrap().id, "Good");
    }
}
