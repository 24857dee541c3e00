//! Credentials for package sources, as NuGet reads them (spec §8.1): the environment variable
//! `NuGetPackageSourceCredentials_{name}` (`Username=…;Password=…`) first, then
//! `<packageSourceCredentials>` of the hierarchy, closest file first:
//!
//! ```xml
//! <packageSourceCredentials>
//!   <!-- the source's name as the element name; characters an XML name cannot hold are
//!        written as _xHHHH_ (a space: My_x0020_Feed), as NuGet writes them -->
//!   <Private>
//!     <add key="Username" value="ci" />
//!     <add key="ClearTextPassword" value="signet_…" />
//!   </Private>
//! </packageSourceCredentials>
//! ```
//!
//! NuGet's encrypted `Password` is Windows DPAPI, which NuGet itself cannot decrypt on Linux or
//! macOS; it is refused with an error naming the two ways that work. The password is a
//! [`Secret`]: no message of this module contains it.

use std::path::PathBuf;

use signet_common::{BasicCredential, Secret};

use crate::{Error, Settings};

/// The section NuGet keeps credentials in.
pub const CREDENTIALS_SECTION: &str = "packageSourceCredentials";
/// The prefix of NuGet's credential environment variables (the source name follows).
pub const CREDENTIALS_ENV_PREFIX: &str = "NuGetPackageSourceCredentials_";

/// Where a source's credential came from (for messages; never the credential itself).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialOrigin {
    /// The environment variable of this name.
    Environment(String),
    /// This config file.
    File(PathBuf),
}

/// A credential and where it was found.
#[derive(Clone, Debug)]
pub struct SourceCredential {
    /// User name and password.
    pub credential: BasicCredential,
    /// Where it was found.
    pub origin: CredentialOrigin,
}

/// Decodes the `_xHHHH_` / `_xHHHHHHHH_` escapes .NET's `XmlConvert.EncodeLocalName` writes
/// into element names (NuGet stores each source's credentials under its encoded name).
pub fn decode_element_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("_x") {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let hex_part = tail.get(2..).unwrap_or_default();
        let decoded = [4usize, 8].into_iter().find_map(|n| {
            let digits = hex_part.get(..n)?;
            if hex_part.get(n..n + 1) != Some("_") || !digits.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return None;
            }
            let c = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
            Some((c, n + 3))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = tail.get(used..).unwrap_or_default();
            }
            None => {
                out.push_str("_x");
                rest = tail.get(2..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses NuGet's environment form `Username=…;Password=…[;ValidAuthenticationTypes=…]`.
/// The password runs to the end (or to `;ValidAuthenticationTypes=`), so it may hold `;`.
fn parse_env_value(value: &str) -> Option<BasicCredential> {
    let value = value.trim();
    let (key, rest) = value.split_at_checked("Username=".len())?;
    if !key.eq_ignore_ascii_case("Username=") {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    let at = lower.find(";password=")?;
    let username = rest.get(..at)?.trim().to_owned();
    let mut password = rest.get(at + ";password=".len()..)?;
    if let Some(cut) = password
        .to_ascii_lowercase()
        .rfind(";validauthenticationtypes=")
    {
        password = password.get(..cut)?;
    }
    if username.is_empty() && password.is_empty() {
        return None;
    }
    Some(BasicCredential {
        username,
        password: Secret::new(password),
    })
}

impl Settings {
    /// The credential for the package source `name`: `NuGetPackageSourceCredentials_{name}`
    /// (looked up through `env`, injected so that tests control it), else the closest
    /// `<packageSourceCredentials>` entry whose (decoded) element name is `name`. NuGet
    /// compares the name exactly; so does this.
    pub fn source_credential(
        &self,
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SourceCredential>, Error> {
        self.location_not_overridden(name)?;
        let var = format!("{CREDENTIALS_ENV_PREFIX}{name}");
        if let Some(value) = env(&var) {
            let credential = parse_env_value(&value).ok_or_else(|| {
                Error::Request(format!(
                    "the environment variable {var} is not of the form Username=USER;Password=PASSWORD"
                ))
            })?;
            return Ok(Some(SourceCredential {
                credential,
                origin: CredentialOrigin::Environment(var),
            }));
        }
        let Some((entry, file)) = self
            .section_items(CREDENTIALS_SECTION)
            .into_iter()
            .find(|(e, _)| decode_element_name(&e.name) == name)
        else {
            return Ok(None);
        };
        let invalid = |message: String| Error::Invalid {
            path: file.path.clone(),
            message,
        };
        let value = |key: &str| {
            entry
                .elements()
                .filter(|e| e.name == "add")
                .find(|e| e.attr("key").is_some_and(|k| k.eq_ignore_ascii_case(key)))
                .and_then(|e| e.attr("value"))
        };
        let username = value("Username").unwrap_or_default().trim().to_owned();
        let password = match (value("ClearTextPassword"), value("Password")) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "the credentials of package source '{name}' have both Password and ClearTextPassword: keep one"
                )));
            }
            (Some(p), None) => p,
            (None, Some(_)) => {
                return Err(invalid(format!(
                    "the credentials of package source '{name}' hold an encrypted Password, which only NuGet on Windows can decrypt: use ClearTextPassword, or the environment variable {var}=\"Username=USER;Password=PASSWORD\""
                )));
            }
            (None, None) => {
                return Err(invalid(format!(
                    "the credentials of package source '{name}' have no ClearTextPassword"
                )));
            }
        };
        Ok(Some(SourceCredential {
            credential: BasicCredential {
                username,
                password: Secret::new(password),
            },
            origin: CredentialOrigin::File(file.path.clone()),
        }))
    }

    /// Refuses to hand out the credentials of source `name` when its URL comes from a
    /// nuget.config found walking up from the working directory (which whoever controls the
    /// checkout controls) while the user, machine or `--configfile` configuration gives the
    /// same name another URL: the credentials were meant for that URL, and NuGet would send
    /// them to the checkout's.
    fn location_not_overridden(&self, name: &str) -> Result<(), Error> {
        let definitions: Vec<(String, &crate::ConfigFile)> = self
            .section_items("packageSources")
            .into_iter()
            .filter(|(e, _)| {
                e.name == "add" && e.attr("key").is_some_and(|k| k.eq_ignore_ascii_case(name))
            })
            .filter_map(|(e, f)| {
                Some((
                    crate::settings::resolve_location(e.attr("value")?, &f.path),
                    f,
                ))
            })
            .collect();
        let Some((effective, from)) = definitions.first() else {
            return Ok(());
        };
        if from.level != crate::Level::Directory {
            return Ok(());
        }
        if let Some((_, trusted)) = definitions
            .iter()
            .find(|(location, f)| f.level != crate::Level::Directory && location != effective)
        {
            return Err(Error::Request(format!(
                "the package source '{name}' is defined in {} with another URL than in {}, a nuget.config found above the working directory: its credentials are not sent to the overriding URL (remove the override, or use --configfile)",
                trusted.path.display(),
                from.path.display()
            )));
        }
        Ok(())
    }

    /// The name of the package source `name_or_url` names: a source name (case-insensitive,
    /// as NuGet's `-Source NAME`), or the name of a configured source whose location is this
    /// URL; `None` for a URL no source has.
    pub fn source_name(&self, name_or_url: &str) -> Option<String> {
        let sources = self.package_sources();
        sources
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name_or_url))
            .or_else(|| {
                sources
                    .iter()
                    .find(|s| s.location.trim_end_matches('/') == name_or_url.trim_end_matches('/'))
            })
            .map(|s| s.name.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::Environment;

    fn settings(files: &[(&str, &str)]) -> (tempfile::TempDir, Settings) {
        let tmp = tempfile::tempdir().unwrap();
        // The first file is the closest: put it deepest.
        let mut dir = tmp.path().to_path_buf();
        let mut dirs = Vec::new();
        for (i, _) in files.iter().enumerate() {
            if i > 0 {
                dir = dir.join(format!("d{i}"));
            }
            dirs.push(dir.clone());
        }
        for ((_, text), d) in files.iter().rev().zip(dirs.iter()) {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("nuget.config"), text).unwrap();
        }
        let env = Environment {
            cwd: dirs.last().unwrap().clone(),
            home: None,
            machine_wide: None,
        };
        let s = Settings::load(&env, None).unwrap();
        (tmp, s)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const SOURCES: &str = r#"<configuration>
  <packageSources>
    <add key="Private" value="https://nuget.example.test/v3/index.json" />
    <add key="My Feed" value="https://other.example.test/v3/index.json" />
  </packageSources>
  <packageSourceCredentials>
    <Private>
      <add key="Username" value="ci" />
      <add key="ClearTextPassword" value="s3cret;with=odd chars" />
    </Private>
    <My_x0020_Feed>
      <add key="Username" value="me" />
      <add key="ClearTextPassword" value="p" />
    </My_x0020_Feed>
  </packageSourceCredentials>
</configuration>"#;

    #[test]
    fn clear_text_credentials_by_source_name() {
        let (_tmp, s) = settings(&[("a", SOURCES)]);
        let c = s.source_credential("Private", &no_env).unwrap().unwrap();
        assert_eq!(c.credential.username, "ci");
        assert_eq!(c.credential.password.expose(), "s3cret;with=odd chars");
        assert!(matches!(c.origin, CredentialOrigin::File(_)));
        // Names are encoded as .NET encodes XML names; the lookup is exact.
        let c = s.source_credential("My Feed", &no_env).unwrap().unwrap();
        assert_eq!(c.credential.username, "me");
        assert!(s.source_credential("private", &no_env).unwrap().is_none());
        assert!(s.source_credential("Other", &no_env).unwrap().is_none());
        // A URL finds its source's name.
        assert_eq!(
            s.source_name("https://nuget.example.test/v3/index.json")
                .as_deref(),
            Some("Private")
        );
        assert_eq!(s.source_name("private").as_deref(), Some("Private"));
        assert_eq!(s.source_name("https://elsewhere.test/index.json"), None);
        // Nothing of the password in what is printed.
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn closest_file_wins_and_clear_stops() {
        let near = r#"<configuration><packageSourceCredentials>
            <Private><add key="Username" value="near" /><add key="ClearTextPassword" value="n" /></Private>
          </packageSourceCredentials></configuration>"#;
        let (_tmp, s) = settings(&[("near", near), ("far", SOURCES)]);
        let c = s.source_credential("Private", &no_env).unwrap().unwrap();
        assert_eq!(c.credential.username, "near");
        let cleared = r#"<configuration><packageSourceCredentials><clear /></packageSourceCredentials></configuration>"#;
        let (_tmp, s) = settings(&[("near", cleared), ("far", SOURCES)]);
        assert!(s.source_credential("Private", &no_env).unwrap().is_none());
    }

    #[test]
    fn encrypted_or_doubled_passwords_are_refused_without_showing_them() {
        let encrypted = r#"<configuration><packageSourceCredentials>
            <Private><add key="Username" value="ci" /><add key="Password" value="AQAAANCMnd8BFdERjHoAwE" /></Private>
          </packageSourceCredentials></configuration>"#;
        let (_tmp, s) = settings(&[("a", encrypted)]);
        let e = s
            .source_credential("Private", &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ClearTextPassword") && e.contains("NuGetPackageSourceCredentials_Private"),
            "{e}"
        );
        assert!(!e.contains("AQAAANCMnd8BFdERjHoAwE"), "{e}");
        let both = r#"<configuration><packageSourceCredentials>
            <Private><add key="Username" value="ci" /><add key="Password" value="enc" /><add key="ClearTextPassword" value="plain" /></Private>
          </packageSourceCredentials></configuration>"#;
        let (_tmp, s) = settings(&[("a", both)]);
        let e = s
            .source_credential("Private", &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("both") && !e.contains("plain"), "{e}");
        let none = r#"<configuration><packageSourceCredentials>
            <Private><add key="Username" value="ci" /></Private>
          </packageSourceCredentials></configuration>"#;
        let (_tmp, s) = settings(&[("a", none)]);
        assert!(s.source_credential("Private", &no_env).is_err());
    }

    #[test]
    fn the_environment_comes_first() {
        let (_tmp, s) = settings(&[("a", SOURCES)]);
        let env = |k: &str| {
            (k == "NuGetPackageSourceCredentials_Private").then(|| {
                "Username=envuser;Password=a;b=c;ValidAuthenticationTypes=basic".to_owned()
            })
        };
        let c = s.source_credential("Private", &env).unwrap().unwrap();
        assert_eq!(c.credential.username, "envuser");
        assert_eq!(c.credential.password.expose(), "a;b=c");
        assert_eq!(
            c.origin,
            CredentialOrigin::Environment("NuGetPackageSourceCredentials_Private".into())
        );
        let bad = |_: &str| Some("token-without-form".to_owned());
        let e = s
            .source_credential("Private", &bad)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("token-without-form"), "{e}");
    }

    /// A checkout's nuget.config that points a source the user has credentials for at
    /// another URL does not get the credentials; one that only adds a source does.
    #[test]
    fn a_checkout_cannot_redirect_a_sources_credentials() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let user = home.join(".nuget").join("NuGet");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("NuGet.Config"), SOURCES).unwrap();
        let checkout = tmp.path().join("checkout");
        std::fs::create_dir_all(&checkout).unwrap();
        let load = |text: &str| {
            std::fs::write(checkout.join("nuget.config"), text).unwrap();
            let env = Environment {
                cwd: checkout.clone(),
                home: Some(home.clone()),
                machine_wide: None,
            };
            Settings::load(&env, None).unwrap()
        };
        let evil = load(
            r#"<configuration><packageSources>
                <add key="Private" value="https://evil.example.test/v3/index.json" />
              </packageSources></configuration>"#,
        );
        let e = evil
            .source_credential("Private", &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not sent"), "{e}");
        let env = |_: &str| Some("Username=u;Password=p".to_owned());
        assert!(evil.source_credential("Private", &env).is_err());
        // The same URL, or a source of the checkout's own: credentials as configured.
        let same = load(
            r#"<configuration><packageSources>
                <add key="Private" value="https://nuget.example.test/v3/index.json" />
                <add key="Team" value="https://team.example.test/v3/index.json" />
              </packageSources></configuration>"#,
        );
        assert!(
            same.source_credential("Private", &no_env)
                .unwrap()
                .is_some()
        );
        assert!(same.source_credential("Team", &no_env).unwrap().is_none());
    }

    #[test]
    fn element_names_decode() {
        assert_eq!(decode_element_name("My_x0020_Feed"), "My Feed");
        assert_eq!(decode_element_name("_x0031_23"), "123");
        assert_eq!(decode_element_name("a_xZZ_b"), "a_xZZ_b");
        assert_eq!(decode_element_name("a_x"), "a_x");
        assert_eq!(decode_element_name("x_x0001F600_y"), "x\u{1F600}y");
    }
}
