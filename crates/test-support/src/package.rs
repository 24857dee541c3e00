//! Unsigned NuGet packages built in memory, laid out like the ones `dotnet pack` writes.

use std::io::{Cursor, Write as _};

use signet_common::HashAlgorithm;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

const NUSPEC_NS: &str = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";

/// Name of the package signature entry (NuGet signing spec): never listed in
/// `[Content_Types].xml`, and written last and stored, as NuGet does, when a test adds one.
const SIGNATURE_ENTRY: &str = ".signature.p7s";

/// Builds an unsigned `.nupkg` in memory.
///
/// Entries, in `dotnet pack`'s order: `_rels/.rels`, `<id>.nuspec`, the extra files in the
/// order given, `package/services/metadata/core-properties/<hex>.psmdcp` and
/// `[Content_Types].xml`. All are deflated unless [`Self::stored`] is set, and all carry the
/// timestamp 2020-01-01 00:00, so the same builder always yields the same bytes.
#[derive(Clone, Debug)]
pub struct PackageBuilder {
    id: String,
    version: String,
    authors: String,
    description: String,
    nuspec_override: Option<Vec<u8>>,
    files: Vec<(String, Vec<u8>)>,
    stored: bool,
    /// (targetFramework, id, version range)
    dependencies: Vec<(Option<String>, String, Option<String>)>,
}

impl PackageBuilder {
    /// A package with the given id and version, authors "signet tests" and a description.
    pub fn new(id: &str, version: &str) -> Self {
        Self {
            id: id.to_owned(),
            version: version.to_owned(),
            authors: "signet tests".to_owned(),
            description: format!("{id} test package"),
            nuspec_override: None,
            files: Vec::new(),
            stored: false,
            dependencies: Vec::new(),
        }
    }

    /// Adds a `<dependency id=… version=…>`, inside `<group targetFramework=…>` when
    /// `framework` is given (groups are written in the order first mentioned).
    pub fn dependency(mut self, framework: Option<&str>, id: &str, range: Option<&str>) -> Self {
        self.dependencies.push((
            framework.map(str::to_owned),
            id.to_owned(),
            range.map(str::to_owned),
        ));
        self
    }

    fn dependencies_xml(&self) -> String {
        if self.dependencies.is_empty() {
            return String::new();
        }
        let dep = |id: &str, range: &Option<String>| match range {
            Some(r) => format!(
                "<dependency id=\"{}\" version=\"{}\" />",
                xml_escape(id),
                xml_escape(r)
            ),
            None => format!("<dependency id=\"{}\" />", xml_escape(id)),
        };
        let mut frameworks: Vec<Option<String>> = Vec::new();
        for (fw, _, _) in &self.dependencies {
            if !frameworks.contains(fw) {
                frameworks.push(fw.clone());
            }
        }
        let mut out = String::from("\n    <dependencies>");
        for fw in frameworks {
            let deps: String = self
                .dependencies
                .iter()
                .filter(|(f, _, _)| *f == fw)
                .map(|(_, id, r)| dep(id, r))
                .collect();
            match fw {
                Some(f) => out.push_str(&format!(
                    "<group targetFramework=\"{}\">{deps}</group>",
                    xml_escape(&f)
                )),
                None => out.push_str(&format!("<group>{deps}</group>")),
            }
        }
        out.push_str("</dependencies>");
        out
    }

    /// Adds an entry named exactly `path` (no normalisation, so tests can use odd names).
    /// An entry named `.signature.p7s` is written last and stored, like a real signature.
    pub fn file(mut self, path: &str, contents: &[u8]) -> Self {
        self.files.push((path.to_owned(), contents.to_vec()));
        self
    }

    /// Stores every entry instead of deflating it, so that entry sizes are exact.
    pub fn stored(mut self, stored: bool) -> Self {
        self.stored = stored;
        self
    }

    /// Sets the nuspec `<authors>` (and the psmdcp creator).
    pub fn authors(mut self, authors: &str) -> Self {
        self.authors = authors.to_owned();
        self
    }

    /// Sets the nuspec `<description>`.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Replaces the generated `<id>.nuspec` with these exact bytes (for nuspec parser tests).
    /// The OPC parts still use the id and version given to [`Self::new`].
    pub fn nuspec(mut self, contents: &[u8]) -> Self {
        self.nuspec_override = Some(contents.to_vec());
        self
    }

    /// The nuspec the package will contain, as generated from the builder's fields.
    pub fn nuspec_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <package xmlns=\"{NUSPEC_NS}\">\n  \
               <metadata>\n    \
                 <id>{}</id>\n    \
                 <version>{}</version>\n    \
                 <authors>{}</authors>\n    \
                 <description>{}</description>{}\n  \
               </metadata>\n\
             </package>\n",
            xml_escape(&self.id),
            xml_escape(&self.version),
            xml_escape(&self.authors),
            xml_escape(&self.description),
            self.dependencies_xml(),
        )
    }

    /// Entry name of the nuspec: `<id>.nuspec` at the root.
    pub fn nuspec_entry_name(&self) -> String {
        format!("{}.nuspec", self.id)
    }

    /// Entry name of the core-properties part, `package/services/metadata/core-properties/`
    /// followed by 32 hex digits derived from id and version.
    pub fn psmdcp_entry_name(&self) -> String {
        let digest =
            HashAlgorithm::Sha256.digest(format!("{}\n{}", self.id, self.version).as_bytes());
        format!(
            "package/services/metadata/core-properties/{}.psmdcp",
            lower_hex(&digest[..16])
        )
    }

    /// The package as ZIP bytes.
    pub fn build(&self) -> Vec<u8> {
        let method = if self.stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let nuspec = self
            .nuspec_override
            .clone()
            .unwrap_or_else(|| self.nuspec_xml().into_bytes());

        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        add_entry(&mut zip, "_rels/.rels", self.rels_xml().as_bytes(), method);
        add_entry(&mut zip, &self.nuspec_entry_name(), &nuspec, method);
        for (path, contents) in self.files.iter().filter(|(p, _)| p != SIGNATURE_ENTRY) {
            add_entry(&mut zip, path, contents, method);
        }
        add_entry(
            &mut zip,
            &self.psmdcp_entry_name(),
            self.psmdcp_xml().as_bytes(),
            method,
        );
        add_entry(
            &mut zip,
            "[Content_Types].xml",
            self.content_types_xml().as_bytes(),
            method,
        );
        for (path, contents) in self.files.iter().filter(|(p, _)| p == SIGNATURE_ENTRY) {
            add_entry(&mut zip, path, contents, CompressionMethod::Stored);
        }
        zip.finish()
            .expect("finishing the package ZIP")
            .into_inner()
    }

    fn rels_xml(&self) -> String {
        let nuspec_target = format!("/{}", self.nuspec_entry_name());
        let psmdcp_target = format!("/{}", self.psmdcp_entry_name());
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
             <Relationship Type=\"http://schemas.microsoft.com/packaging/2010/07/manifest\" \
             Target=\"{}\" Id=\"{}\" />\
             <Relationship Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" \
             Target=\"{}\" Id=\"{}\" />\
             </Relationships>",
            xml_escape(&nuspec_target),
            relationship_id(&nuspec_target),
            xml_escape(&psmdcp_target),
            relationship_id(&psmdcp_target),
        )
    }

    fn psmdcp_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <coreProperties xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
             xmlns:dcterms=\"http://purl.org/dc/terms/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\">\
             <dc:creator>{}</dc:creator><dc:description>{}</dc:description>\
             <dc:identifier>{}</dc:identifier><version>{}</version><keywords></keywords>\
             <lastModifiedBy>signet-test-support</lastModifiedBy></coreProperties>",
            xml_escape(&self.authors),
            xml_escape(&self.description),
            xml_escape(&self.id),
            xml_escape(&self.version),
        )
    }

    fn content_types_xml(&self) -> String {
        let mut defaults: Vec<String> = vec!["rels".into(), "psmdcp".into(), "nuspec".into()];
        let mut overrides: Vec<&str> = Vec::new();
        for (path, _) in self.files.iter().filter(|(p, _)| p != SIGNATURE_ENTRY) {
            let file_name = path.rsplit('/').next().unwrap_or(path);
            match file_name.rsplit_once('.') {
                Some((_, ext)) if !ext.is_empty() => {
                    if !defaults.iter().any(|d| d.eq_ignore_ascii_case(ext)) {
                        defaults.push(ext.to_owned());
                    }
                }
                _ => overrides.push(path),
            }
        }
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
        );
        for ext in &defaults {
            let content_type = match ext.as_str() {
                "rels" => "application/vnd.openxmlformats-package.relationships+xml",
                "psmdcp" => "application/vnd.openxmlformats-package.core-properties+xml",
                _ => "application/octet",
            };
            xml.push_str(&format!(
                "<Default Extension=\"{}\" ContentType=\"{content_type}\" />",
                xml_escape(ext)
            ));
        }
        for path in overrides {
            xml.push_str(&format!(
                "<Override PartName=\"/{}\" ContentType=\"application/octet\" />",
                xml_escape(path)
            ));
        }
        xml.push_str("</Types>");
        xml
    }
}

fn add_entry(
    zip: &mut ZipWriter<Cursor<Vec<u8>>>,
    name: &str,
    contents: &[u8],
    method: CompressionMethod,
) {
    // A fixed timestamp keeps builds reproducible (the zip crate would otherwise use "now").
    let mtime = DateTime::from_date_and_time(2020, 1, 1, 0, 0, 0).expect("valid DOS date");
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(mtime)
        .large_file(contents.len() as u64 >= u64::from(u32::MAX));
    zip.start_file(name, options)
        .unwrap_or_else(|e| panic!("adding {name:?} to the package: {e}"));
    zip.write_all(contents)
        .unwrap_or_else(|e| panic!("writing {name:?} to the package: {e}"));
}

/// OPC relationship ids look like `R` followed by 16 hex digits; derive them from the target
/// so the output stays deterministic.
fn relationship_id(target: &str) -> String {
    let digest = HashAlgorithm::Sha256.digest(target.as_bytes());
    format!("R{}", lower_hex(&digest[..8]).to_uppercase())
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// A package of at least `size` bytes for benchmarks: one stored entry
/// `content/large.bin` of `size` pseudo-random (incompressible) bytes from a fixed seed, so
/// every call returns the same bytes.
pub fn large_package(size: usize) -> Vec<u8> {
    PackageBuilder::new("Signet.Large", "1.0.0")
        .file("content/large.bin", &pseudo_random_bytes(size))
        // Deflate would gain nothing on random bytes and only slow the benchmark setup.
        .stored(true)
        .build()
}

/// xorshift64 (Marsaglia 2003) from a fixed seed: incompressible enough for a benchmark and
/// reproducible without an RNG crate.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len.saturating_add(8));
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }

    #[test]
    fn pseudo_random_is_deterministic_and_sized() {
        assert_eq!(pseudo_random_bytes(13).len(), 13);
        assert_eq!(pseudo_random_bytes(1000), pseudo_random_bytes(1000));
        assert!(pseudo_random_bytes(0).is_empty());
    }

    #[test]
    fn content_types_cover_extensions_and_extensionless_files() {
        let xml = PackageBuilder::new("A", "1.0.0")
            .file("lib/net8.0/A.dll", b"x")
            .file("lib/net8.0/B.DLL", b"x")
            .file("LICENSE", b"x")
            .file(SIGNATURE_ENTRY, b"x")
            .content_types_xml();
        assert!(xml.contains("<Default Extension=\"dll\" ContentType=\"application/octet\" />"));
        assert!(!xml.contains("Extension=\"DLL\""));
        assert!(xml.contains("<Override PartName=\"/LICENSE\""));
        assert!(!xml.contains("p7s"));
    }
}
