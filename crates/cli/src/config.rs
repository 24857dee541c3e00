//! signet's entries in a `nuget.config` file given with `--configfile`:
//!
//! ```xml
//! <configuration>
//!   <config>
//!     <add key="signetTrustRoots" value="certs/corp-root.pem;certs/test-root.pem" />
//!     <add key="signetTrustRootsOnly" value="false" />
//!   </config>
//! </configuration>
//! ```
//!
//! Relative paths are relative to the config file's folder, as NuGet resolves paths in config.
//! (Full nuget.config handling — hierarchy, trustedSigners — belongs to the trust-configuration
//! work; this reads only the `<config>` keys signet owns.)

use std::path::{Path, PathBuf};

use quick_xml::events::Event;

/// The keys read from `<config>`.
#[derive(Debug, Default)]
pub struct ConfigEntries {
    pub trust_roots: Vec<PathBuf>,
    pub trust_roots_only: bool,
}

/// Largest config file read.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

pub fn read(path: &Path) -> Result<ConfigEntries, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(format!(
            "{} is larger than {MAX_CONFIG_SIZE} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str, base: &Path) -> Result<ConfigEntries, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut out = ConfigEntries::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid XML: {e}"))?;
        let (element, is_start) = match &event {
            Event::DocType(_) => return Err("DTDs are not allowed in config files".into()),
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(element.local_name().as_ref()).to_string();
        let in_config = stack.len() == 2
            && stack.first().is_some_and(|s| s == "configuration")
            && stack.get(1).is_some_and(|s| s == "config");
        if in_config && name == "add" {
            let (mut key, mut value) = (None, None);
            for a in element.attributes() {
                let a = a.map_err(|e| format!("invalid attribute: {e}"))?;
                let v = a
                    .unescape_value()
                    .map_err(|e| format!("invalid attribute: {e}"))?
                    .to_string();
                match a.key.local_name().as_ref() {
                    b"key" => key = Some(v),
                    b"value" => value = Some(v),
                    _ => {}
                }
            }
            match (key.as_deref(), value) {
                (Some(k), Some(v)) if k.eq_ignore_ascii_case("signetTrustRoots") => {
                    out.trust_roots.extend(
                        v.split(';')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(|p| base.join(p)),
                    );
                }
                (Some(k), Some(v)) if k.eq_ignore_ascii_case("signetTrustRootsOnly") => {
                    out.trust_roots_only = v.trim().eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
        if is_start {
            stack.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_signet_keys_relative_to_the_file() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources><add key="signetTrustRoots" value="ignored.pem" /></packageSources>
  <config>
    <add key="signatureValidationMode" value="require" />
    <add key="signetTrustRoots" value="a.pem; sub/b.pem" />
    <add key="signetTrustRootsOnly" value="True" />
  </config>
</configuration>"#;
        let c = parse(xml, Path::new("/cfg")).unwrap();
        assert_eq!(
            c.trust_roots,
            [PathBuf::from("/cfg/a.pem"), PathBuf::from("/cfg/sub/b.pem")]
        );
        assert!(c.trust_roots_only);
    }

    #[test]
    fn rejects_dtds_and_bad_xml() {
        assert!(
            parse(
                "<!DOCTYPE x [<!ENTITY a 'b'>]><configuration/>",
                Path::new(".")
            )
            .is_err()
        );
        assert!(parse("<configuration><config></configuration>", Path::new(".")).is_err());
    }
}
