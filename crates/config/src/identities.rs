//! `<signetTrustedIdentities>`: authors trusted by identity (`signet trust identity`), a
//! section of signet's own that NuGet's parser ignores.
//!
//! ```xml
//! <signetTrustedIdentities>
//!   <identity name="contoso">
//!     <subject attribute="O" value="Contoso Ltd" />
//!     <subject attribute="CN" value="Contoso Ltd" />
//!     <issuer spkiSha256="9F…" />
//!   </identity>
//! </signetTrustedIdentities>
//! ```
//!
//! Read, like signet's other trust settings, only from the user and machine configs or
//! `--configfile`, never from a `nuget.config` in the working directory's ancestors.

use std::path::PathBuf;

use signet_trust::{TrustedIdentity, subject_attribute_oid};

use crate::Error;
use crate::settings::{Level, Settings};
use crate::xml::Element;

/// The section name.
pub const IDENTITIES_SECTION: &str = "signetTrustedIdentities";

/// Most subject attributes and CA pins in one identity.
const MAX_PARTS: usize = 32;

/// A trusted identity and the file that defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfiguredIdentity {
    /// The identity.
    pub identity: TrustedIdentity,
    /// The file that defines it.
    pub file: PathBuf,
}

impl Settings {
    /// The trusted identities (closest file first, a name defined closer hiding farther
    /// definitions; `<clear />` honoured), from the user and machine configs or `--configfile`
    /// only.
    pub fn trusted_identities(&self) -> Result<Vec<ConfiguredIdentity>, Error> {
        let mut out: Vec<ConfiguredIdentity> = Vec::new();
        for (e, file) in
            self.section_items_where(IDENTITIES_SECTION, |f| f.level != Level::Directory)
        {
            if e.name != "identity" {
                continue;
            }
            let invalid = |message: String| Error::Invalid {
                path: file.path.clone(),
                message,
            };
            let name = e
                .attr("name")
                .ok_or_else(|| invalid("a trusted <identity> needs a name".into()))?;
            let mut subject = Vec::new();
            let mut pins = Vec::new();
            for part in e.elements() {
                match part.name.as_str() {
                    "subject" => {
                        let (Some(attr), Some(value)) =
                            (part.attr("attribute"), part.attr("value"))
                        else {
                            return Err(invalid(format!(
                                "identity '{name}': <subject> needs attribute and value"
                            )));
                        };
                        if subject_attribute_oid(attr).is_none() {
                            return Err(invalid(format!(
                                "identity '{name}': '{attr}' is not a subject attribute signet matches (CN, O, OU, C, ST, L, serialNumber, businessCategory, jurisdictionC, jurisdictionST, jurisdictionL)"
                            )));
                        }
                        subject.push((attr.to_string(), value.to_string()));
                    }
                    "issuer" => {
                        let fp = part.attr("spkiSha256").unwrap_or_default().trim();
                        let clean: String = fp.chars().filter(|c| *c != ':').collect();
                        if clean.len() != 64 || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
                            return Err(invalid(format!(
                                "identity '{name}': spkiSha256 '{fp}' is not a SHA-256 in hex"
                            )));
                        }
                        pins.push(clean.to_ascii_uppercase());
                    }
                    _ => {}
                }
            }
            if subject.is_empty() || pins.is_empty() {
                return Err(invalid(format!(
                    "identity '{name}' needs at least one <subject> and one <issuer>"
                )));
            }
            if subject.len() + pins.len() > MAX_PARTS {
                return Err(invalid(format!(
                    "identity '{name}' has more than {MAX_PARTS} subject attributes and issuers"
                )));
            }
            if out.iter().any(|i| i.identity.name == name) {
                continue;
            }
            out.push(ConfiguredIdentity {
                identity: TrustedIdentity {
                    name: name.to_string(),
                    subject,
                    issuer_spki_sha256: pins,
                },
                file: file.path.clone(),
            });
        }
        Ok(out)
    }

    /// Adds an identity to the file edits go to. A name already trusted (as an identity or a
    /// trusted signer) is refused.
    pub fn add_trusted_identity(&mut self, identity: &TrustedIdentity) -> Result<(), Error> {
        if self
            .trusted_identities()?
            .iter()
            .any(|i| i.identity.name == identity.name)
            || self
                .trusted_signers()?
                .iter()
                .any(|s| s.name == identity.name)
        {
            return Err(Error::Request(format!(
                "A trusted signer or identity '{}' already exists.",
                identity.name
            )));
        }
        let mut e = Element::new("identity").with_attr("name", &identity.name);
        for (attr, value) in &identity.subject {
            e.push_element(
                Element::new("subject")
                    .with_attr("attribute", attr)
                    .with_attr("value", value),
                2,
            );
        }
        for pin in &identity.issuer_spki_sha256 {
            e.push_element(Element::new("issuer").with_attr("spkiSha256", pin), 2);
        }
        let section = self
            .write_target_mut()
            .and_then(|f| f.section_mut(IDENTITIES_SECTION))
            .ok_or_else(|| Error::Request("no configuration file to write to".into()))?;
        section.push_element(e, 1);
        Ok(())
    }
}
