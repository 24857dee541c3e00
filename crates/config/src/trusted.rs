//! `<trustedSigners>` (spec §8.1): reading the merged list, turning it into the verifier's
//! allow list, and the edits `signet trust` makes (spec §8.2).

use std::path::PathBuf;

use signet_common::{HashAlgorithm, NuCode, Severity};
use signet_trust::{AllowList, AllowListKind, Issue, TrustTarget, TrustedCertificate};

use crate::Error;
use crate::settings::Settings;
use crate::xml::Element;

/// Section name.
const SECTION: &str = "trustedSigners";

/// One certificate of a trusted signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateEntry {
    /// Hex fingerprint, as written in the file.
    pub fingerprint: String,
    /// Its algorithm.
    pub algorithm: HashAlgorithm,
    /// `allowUntrustedRoot`.
    pub allow_untrusted_root: bool,
}

/// Author or repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerKind {
    /// `<author>`.
    Author,
    /// `<repository serviceIndex=…>` with optional `<owners>`.
    Repository {
        /// The service index URL.
        service_index: String,
        /// Trusted owners (empty: any).
        owners: Vec<String>,
    },
}

/// One `<author>` or `<repository>` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedSigner {
    /// `name`.
    pub name: String,
    /// Author or repository.
    pub kind: SignerKind,
    /// At least one certificate.
    pub certificates: Vec<CertificateEntry>,
    /// The file that defines it.
    pub file: PathBuf,
}

/// The verifier inputs derived from the trusted signers (spec §8.1 "effective allow list").
#[derive(Clone, Debug)]
pub struct EffectiveTrust {
    /// The allow list (`require_non_empty` left false; the policy sets it).
    pub allow_list: AllowList,
    /// `(algorithm, fingerprint)` of certificates with `allowUntrustedRoot="true"`.
    pub allow_untrusted_root: Vec<(HashAlgorithm, String)>,
    /// NU3040 warnings for conflicting `allowUntrustedRoot` values.
    pub warnings: Vec<Issue>,
}

impl Settings {
    /// The trusted signers of every file (closest first; `<clear />` honoured; a name
    /// defined in a closer file hides farther definitions).
    pub fn trusted_signers(&self) -> Result<Vec<TrustedSigner>, Error> {
        let mut out: Vec<TrustedSigner> = Vec::new();
        for (e, file) in self.section_items(SECTION) {
            let invalid = |message: String| Error::Invalid {
                path: file.path.clone(),
                message,
            };
            let kind = match e.name.as_str() {
                "author" => SignerKind::Author,
                "repository" => {
                    let service_index = e.attr("serviceIndex").ok_or_else(|| {
                        invalid("a trusted <repository> needs a serviceIndex attribute".into())
                    })?;
                    let owner_elements: Vec<&Element> =
                        e.elements().filter(|c| c.name == "owners").collect();
                    if owner_elements.len() > 1 {
                        return Err(invalid(
                            "a trusted <repository> has more than one <owners> element".into(),
                        ));
                    }
                    let owners = owner_elements
                        .first()
                        .map(|o| split_owners(&text_of(o)))
                        .unwrap_or_default();
                    SignerKind::Repository {
                        service_index: service_index.to_string(),
                        owners,
                    }
                }
                _ => continue,
            };
            let name = e
                .attr("name")
                .ok_or_else(|| invalid(format!("a trusted <{}> needs a name", e.name)))?;
            let mut certificates = Vec::new();
            for c in e.elements().filter(|c| c.name == "certificate") {
                let fingerprint = c.attr("fingerprint").ok_or_else(|| {
                    invalid(format!(
                        "a certificate of trusted signer '{name}' has no fingerprint"
                    ))
                })?;
                let alg_name = c.attr("hashAlgorithm").ok_or_else(|| {
                    invalid(format!(
                        "a certificate of trusted signer '{name}' has no hashAlgorithm"
                    ))
                })?;
                let algorithm = HashAlgorithm::from_nuget_name(alg_name).ok_or_else(|| {
                    invalid(format!(
                        "trusted signer '{name}': hashAlgorithm '{alg_name}' is not SHA256, SHA384 or SHA512"
                    ))
                })?;
                let allow_untrusted_root = c
                    .attr("allowUntrustedRoot")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                certificates.push(CertificateEntry {
                    fingerprint: fingerprint.to_string(),
                    algorithm,
                    allow_untrusted_root,
                });
            }
            if certificates.is_empty() {
                return Err(invalid(format!(
                    "trusted signer '{name}' lists no certificate"
                )));
            }
            if out.iter().any(|s| s.name == name) {
                continue;
            }
            out.push(TrustedSigner {
                name: name.to_string(),
                kind,
                certificates,
                file: file.path.clone(),
            });
        }
        Ok(out)
    }

    /// Adds a trusted signer to the write target. Refused when the name exists (exact match),
    /// or for a repository whose service index is already trusted (case-insensitive).
    pub fn add_trusted_signer(&mut self, signer: TrustedSigner) -> Result<(), Error> {
        let existing = self.trusted_signers()?;
        if existing.iter().any(|s| s.name == signer.name) {
            return Err(Error::Request(format!(
                "A trusted signer '{}' already exists.",
                signer.name
            )));
        }
        if let SignerKind::Repository { service_index, .. } = &signer.kind
            && let Some(other) = existing.iter().find(|s| {
                matches!(&s.kind, SignerKind::Repository { service_index: si, .. } if si.eq_ignore_ascii_case(service_index))
            })
        {
            return Err(Error::Request(format!(
                "A trusted repository with the service index '{service_index}' already exists: '{}'.",
                other.name
            )));
        }
        let section = self
            .write_target_mut()
            .and_then(|f| f.section_mut(SECTION))
            .ok_or_else(|| Error::Request("no configuration file to write to".into()))?;
        section.push_element(signer_element(&signer), 1);
        Ok(())
    }

    /// Appends a certificate to the signer `name` (exact match) wherever it is defined, or
    /// creates an author signer with it. Returns whether a signer was created.
    pub fn add_trusted_certificate(
        &mut self,
        name: &str,
        cert: CertificateEntry,
    ) -> Result<bool, Error> {
        let existing = self.trusted_signers()?;
        let Some(signer) = existing.into_iter().find(|s| s.name == name) else {
            self.add_trusted_signer(TrustedSigner {
                name: name.to_string(),
                kind: SignerKind::Author,
                certificates: vec![cert],
                file: PathBuf::new(),
            })?;
            return Ok(true);
        };
        let mut certificates = signer.certificates.clone();
        if certificates.iter().any(|c| {
            c.algorithm == cert.algorithm && c.fingerprint.eq_ignore_ascii_case(&cert.fingerprint)
        }) {
            return Err(Error::Request(format!(
                "The certificate {} is already trusted for '{name}'.",
                cert.fingerprint
            )));
        }
        certificates.push(cert);
        self.replace_in_place(
            &signer,
            TrustedSigner {
                certificates,
                ..signer.clone()
            },
        )?;
        Ok(false)
    }

    /// Replaces the certificates of the repository signer `name` (exact match).
    pub fn replace_repository_certificates(
        &mut self,
        name: &str,
        certificates: Vec<CertificateEntry>,
    ) -> Result<TrustedSigner, Error> {
        let existing = self.trusted_signers()?;
        let signer = existing
            .into_iter()
            .find(|s| s.name == name && matches!(s.kind, SignerKind::Repository { .. }))
            .ok_or_else(|| {
                Error::Request(format!("There is no trusted repository named '{name}'."))
            })?;
        let updated = TrustedSigner {
            certificates,
            ..signer.clone()
        };
        self.replace_in_place(&signer, updated.clone())?;
        Ok(updated)
    }

    /// Removes every signer named `name` (case-insensitive) from every writable file.
    /// Returns how many were removed.
    pub fn remove_trusted_signer(&mut self, name: &str) -> usize {
        let mut removed = 0;
        for file in self.files_mut() {
            if file.level == crate::Level::MachineWide || file.section(SECTION).is_none() {
                continue;
            }
            if let Some(section) = file.section_mut(SECTION) {
                removed += section.remove_elements(|e| {
                    (e.name == "author" || e.name == "repository")
                        && e.attr("name").is_some_and(|n| n.eq_ignore_ascii_case(name))
                });
            }
            // A section left empty goes too (as dotnet nuget leaves no `<trustedSigners/>`).
            if file
                .section(SECTION)
                .is_some_and(|s| s.elements().next().is_none())
            {
                file.doc
                    .root
                    .remove_elements(|e| e.name == SECTION && e.elements().next().is_none());
            }
        }
        removed
    }

    fn replace_in_place(&mut self, old: &TrustedSigner, new: TrustedSigner) -> Result<(), Error> {
        let file = self
            .files_mut()
            .iter_mut()
            .find(|f| f.path == old.file)
            .ok_or_else(|| Error::Request(format!("'{}' is not writable", old.file.display())))?;
        if file.level == crate::Level::MachineWide {
            return Err(Error::Request(format!(
                "trusted signer '{}' is defined in the machine-wide config {}, which signet does not edit",
                old.name,
                old.file.display()
            )));
        }
        let section = file
            .section_mut(SECTION)
            .ok_or_else(|| Error::Request("no trustedSigners section".into()))?;
        let replacement = signer_element(&new);
        let mut done = false;
        for node in &mut section.children {
            if let crate::xml::Node::Element(e) = node
                && !done
                && (e.name == "author" || e.name == "repository")
                && e.attr("name") == Some(old.name.as_str())
            {
                *e = replacement.clone();
                done = true;
            }
        }
        if done {
            Ok(())
        } else {
            Err(Error::Request(format!(
                "trusted signer '{}' not found",
                old.name
            )))
        }
    }
}

fn text_of(e: &Element) -> String {
    e.children
        .iter()
        .filter_map(|n| match n {
            crate::xml::Node::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// Owners from `a;b` (trimmed, empty ones dropped).
pub fn split_owners(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

/// The element NuGet writes for a signer (hash algorithm upper-case, booleans lower-case).
fn signer_element(s: &TrustedSigner) -> Element {
    let (mut e, depth) = match &s.kind {
        SignerKind::Author => (Element::new("author").with_attr("name", &s.name), 2),
        SignerKind::Repository { service_index, .. } => (
            Element::new("repository")
                .with_attr("name", &s.name)
                .with_attr("serviceIndex", service_index),
            2,
        ),
    };
    for c in &s.certificates {
        e.push_element(
            Element::new("certificate")
                .with_attr("fingerprint", &c.fingerprint)
                .with_attr("hashAlgorithm", c.algorithm.nuget_name())
                .with_attr(
                    "allowUntrustedRoot",
                    if c.allow_untrusted_root {
                        "true"
                    } else {
                        "false"
                    },
                ),
            depth,
        );
    }
    if let SignerKind::Repository { owners, .. } = &s.kind
        && !owners.is_empty()
    {
        let mut o = Element::new("owners");
        o.children.push(crate::xml::Node::Text(owners.join(";")));
        e.push_element(o, depth);
    }
    e
}

/// The effective allow list of spec §8.1: certificates of all signers merged by
/// `"{algorithm}-{fingerprint}"` (case-sensitive); authors → Author/primary; repositories →
/// Repository/primary+countersignature with owners; duplicates union their targets and owners,
/// and conflicting `allowUntrustedRoot` values give NU3040 and `false`.
pub fn effective_trust(signers: &[TrustedSigner]) -> EffectiveTrust {
    struct Merged {
        key: String,
        cert: TrustedCertificate,
        untrusted_root: bool,
        author: bool,
        repository: bool,
        conflict: bool,
    }
    let mut merged: Vec<Merged> = Vec::new();
    for s in signers {
        let (is_author, owners) = match &s.kind {
            SignerKind::Author => (true, Vec::new()),
            SignerKind::Repository { owners, .. } => (false, owners.clone()),
        };
        for c in &s.certificates {
            let key = format!("{}-{}", c.algorithm.nuget_name(), c.fingerprint);
            match merged.iter_mut().find(|m| m.key == key) {
                Some(m) => {
                    m.author |= is_author;
                    m.repository |= !is_author;
                    for o in &owners {
                        if !m.cert.owners.contains(o) {
                            m.cert.owners.push(o.clone());
                        }
                    }
                    if m.untrusted_root != c.allow_untrusted_root {
                        m.conflict = true;
                        m.untrusted_root = false;
                    }
                }
                None => merged.push(Merged {
                    key,
                    cert: TrustedCertificate {
                        fingerprint: c.fingerprint.clone(),
                        algorithm: c.algorithm,
                        target: TrustTarget::Author,
                        primary: true,
                        countersignature: !is_author,
                        owners: owners.clone(),
                    },
                    untrusted_root: c.allow_untrusted_root,
                    author: is_author,
                    repository: !is_author,
                    conflict: false,
                }),
            }
        }
    }
    let mut entries = Vec::new();
    let mut allow_untrusted_root = Vec::new();
    let mut warnings = Vec::new();
    for mut m in merged {
        m.cert.target = match (m.author, m.repository) {
            (true, true) => TrustTarget::AuthorOrRepository,
            (false, true) => TrustTarget::Repository,
            _ => TrustTarget::Author,
        };
        m.cert.countersignature = m.repository;
        if m.conflict {
            warnings.push(Issue {
                code: Some(NuCode::NU3040),
                severity: Severity::Warning,
                message: format!(
                    "The certificate {} is trusted more than once with different allowUntrustedRoot values; false is used.",
                    m.cert.fingerprint
                ),
            });
        }
        if m.untrusted_root {
            allow_untrusted_root.push((m.cert.algorithm, m.cert.fingerprint.clone()));
        }
        entries.push(m.cert);
    }
    EffectiveTrust {
        allow_list: AllowList {
            identities: Vec::new(),
            kind: AllowListKind::TrustedSigners,
            entries,
            require_non_empty: false,
        },
        allow_untrusted_root,
        warnings,
    }
}
