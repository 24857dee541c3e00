//! Package source credentials for the feed clients (`install`, `trust source|sync`, `push`,
//! `delete`, `relist`): NuGet's `NuGetPackageSourceCredentials_{name}` environment variable,
//! else `<packageSourceCredentials>` of the nuget.config hierarchy (`signet_config`). Each
//! source gets its own HTTP client that sends its credentials to its own origin only
//! (`signet_feed::HttpClient::for_source`). Nothing here prints a credential: messages name
//! where one came from, never what it is.

use signet_config::{CredentialOrigin, Settings};
use signet_feed::HttpClient;

/// The client for the source `name` (or, without a name, the configured source whose
/// location is `location`) at `location`: `base`'s connections, with the source's credentials
/// if it has any. Returns the client and, when credentials are used, where they came from.
pub(crate) fn source_client(
    base: &HttpClient,
    settings: &Settings,
    name: Option<&str>,
    location: &str,
) -> Result<(HttpClient, Option<String>), String> {
    let lower = location.to_ascii_lowercase();
    let is_url = lower.starts_with("http://") || lower.starts_with("https://");
    let name = name
        .map(str::to_owned)
        .or_else(|| settings.source_name(location));
    let credential = match (&name, is_url) {
        (Some(n), true) => settings
            .source_credential(n, &|var| std::env::var(var).ok())
            .map_err(|e| e.to_string())?,
        _ => None,
    };
    let client = base
        .for_source(location, credential.as_ref().map(|c| &c.credential))
        .map_err(|e| e.to_string())?;
    let origin = credential.map(|c| match c.origin {
        CredentialOrigin::Environment(var) => format!("the environment variable {var}"),
        CredentialOrigin::File(path) => path.display().to_string(),
        _ => "the configuration".to_owned(),
    });
    Ok((client, origin))
}

/// The API key in an `<apikeys>` entry. NuGet stores it encrypted with `ProtectedData`:
/// under Mono (nuget.exe on Linux and macOS) with the user's key pair, which is read here;
/// under Windows with DPAPI, which cannot be read here, and the error says so (the caller
/// names the ways that work).
pub(crate) fn decrypt_stored_api_key(
    stored: &signet_config::StoredApiKey,
) -> Result<signet_common::Secret, String> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(std::path::PathBuf::from);
    let dir = signet_config::mono_keypair_dir(home.as_deref(), xdg.as_deref()).ok_or(
        "NuGet stored it encrypted, and there is no home directory to find Mono's key pair in",
    )?;
    signet_config::unprotect_nuget_value(&stored.encrypted, &dir).map_err(|e| e.to_string())
}
