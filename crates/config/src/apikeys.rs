//! The API keys `nuget setapikey KEY -Source URL` stores (spec §8.1), one per source URL:
//!
//! ```xml
//! <apikeys>
//!   <add key="https://feed.example/v3/index.json" value="(encrypted, base64)" />
//! </apikeys>
//! ```
//!
//! NuGet encrypts the value with `ProtectedData.Protect` (entropy `"NuGet"`, current-user
//! scope; NuGet.Configuration's `EncryptionUtility`): Windows DPAPI on Windows, and Mono's
//! managed implementation (an RSA key pair in the user's Mono key store) under Mono; the .NET
//! SDK cannot store one at all on Linux or macOS. This module finds the entry and says where
//! it is; [`crate::unprotect_nuget_value`] reads Mono's form with the user's key pair, and the
//! caller decides what to do with a value it cannot decrypt (DPAPI). No message here contains
//! the value.

use std::path::PathBuf;

use crate::Settings;

/// The section `nuget setapikey` writes.
pub const API_KEYS_SECTION: &str = "apikeys";

/// An `<apikeys>` entry.
#[derive(Clone)]
pub struct StoredApiKey {
    /// The URL it is stored for, as written.
    pub url: String,
    /// The stored value (base64 of NuGet's encrypted bytes).
    pub encrypted: String,
    /// The config file it is in.
    pub path: PathBuf,
}

impl std::fmt::Debug for StoredApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApiKey")
            .field("url", &self.url)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A URL as `<apikeys>` keys are compared: NuGet compares keys case-insensitively; a trailing
/// slash is not a different feed.
fn comparable(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl Settings {
    /// The `<apikeys>` entry for the first of `urls` that has one, as NuGet looks it up
    /// (the push endpoint, then the source; closest file first).
    pub fn stored_api_key(&self, urls: &[&str]) -> Option<StoredApiKey> {
        let items = self.section_items(API_KEYS_SECTION);
        urls.iter().find_map(|url| {
            let wanted = comparable(url);
            items.iter().find_map(|(e, file)| {
                let key = e.attr("key")?;
                (e.name == "add" && comparable(key) == wanted).then(|| StoredApiKey {
                    url: key.to_string(),
                    encrypted: e.attr("value").unwrap_or_default().to_string(),
                    path: file.path.clone(),
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Environment;

    #[test]
    fn found_by_url_closest_first_case_insensitive() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nuget.config");
        std::fs::write(
            &file,
            r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <apikeys>
    <add key="https://Feed.example/v3/index.json/" value="ZW5jcnlwdGVk" />
    <add key="https://other.example/api/v2/package" value="b3RoZXI=" />
  </apikeys>
</configuration>
"#,
        )
        .unwrap();
        let env = Environment {
            cwd: dir.path().to_path_buf(),
            home: None,
            machine_wide: None,
        };
        let settings = Settings::load(&env, Some(&file)).unwrap();
        let k = settings
            .stored_api_key(&[
                "https://feed.example/api/v2/package",
                "https://feed.example/v3/index.json",
            ])
            .unwrap();
        assert_eq!(k.encrypted, "ZW5jcnlwdGVk");
        assert_eq!(k.path, file);
        assert!(!format!("{k:?}").contains("ZW5jcnlwdGVk"));
        assert!(
            settings
                .stored_api_key(&["https://nothere.example/v3/index.json"])
                .is_none()
        );
    }
}
