//! `signet push`: publish packages to a feed (PackagePublish/2.0.0), as `nuget push` does.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use signet_feed::{HttpClient, HttpPolicy};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Options of `signet push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Packages to push.
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
    #[command(flatten)]
    feed: FeedArgs,
    /// Seconds to wait for the server per package.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
    /// Run every check the server makes on a push (API key, ownership, version, signing
    /// rules) without publishing: needs a signet server (its validation endpoint).
    #[arg(long)]
    dry_run: bool,
    /// A version that already exists (409) is reported and skipped, not an error (NuGet's
    /// `-SkipDuplicate`).
    #[arg(long = "skip-duplicate")]
    skip_duplicate: bool,
}

/// Options of `signet delete` and `signet relist`.
#[derive(Args, Debug)]
pub struct ListingArgs {
    /// Package id.
    id: String,
    /// Version.
    version: String,
    #[command(flatten)]
    feed: FeedArgs,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 100, value_name = "SECONDS")]
    timeout: u64,
}

/// Where to push and with which key: the options `push`, `delete` and `relist` share.
#[derive(Args, Debug)]
pub struct FeedArgs {
    /// The feed: a v3 service index URL or the name of a package source in nuget.config.
    /// Default: `defaultPushSource` from nuget.config's `<config>`.
    #[arg(long, short = 's', value_name = "URL|NAME")]
    source: Option<String>,
    /// The nuget.config to read `defaultPushSource` and source names from (default: the
    /// hierarchy from the current directory up, then the user and machine configs).
    #[arg(long = "configfile", value_name = "FILE")]
    configfile: Option<PathBuf>,
    /// The API key. Also read from SIGNET_API_KEY, which keeps it out of the process list.
    /// Without either: the key `nuget setapikey` stored for the source in nuget.config
    /// (`<apikeys>`), else the password of the source's `packageSourceCredentials` (a signet
    /// server takes an API key as that password).
    #[arg(
        long = "api-key",
        short = 'k',
        env = "SIGNET_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// Allow a plain-http feed on a loopback address (local test servers).
    #[arg(long = "allow-insecure-loopback")]
    allow_insecure_loopback: bool,
}

impl FeedArgs {
    fn policy(&self) -> HttpPolicy {
        if self.allow_insecure_loopback {
            HttpPolicy::LoopbackHttp
        } else {
            HttpPolicy::HttpsOnly
        }
    }
}

/// The service index URL: `--source` (a URL, or a source name from nuget.config), else
/// `defaultPushSource`.
fn resolve_source(
    source: Option<&str>,
    configfile: Option<&std::path::Path>,
) -> Result<(String, signet_config::Settings), String> {
    let settings =
        signet_config::Settings::load(&signet_config::Environment::from_process(), configfile)
            .map_err(|e| e.to_string())?;
    let location = source_location(&settings, source)?;
    Ok((location, settings))
}

/// The service index the feed options name.
fn source_location(
    settings: &signet_config::Settings,
    source: Option<&str>,
) -> Result<String, String> {
    let wanted = match source {
        Some(s) => s.to_string(),
        None => settings
            .config_value("defaultPushSource")
            .map(|(v, _)| v)
            .ok_or("no source: give --source URL, or set defaultPushSource in nuget.config")?,
    };
    if wanted.contains("://") {
        return Ok(wanted);
    }
    settings
        .package_sources()
        .into_iter()
        .find(|s| s.name.eq_ignore_ascii_case(&wanted))
        .map(|s| s.location)
        .ok_or_else(|| {
            format!(
                "'{}' is neither a URL nor the name of a package source in nuget.config",
                signet_common::Untrusted(&wanted)
            )
        })
}

/// The API key for a push, delete or relist at `endpoint` of `source`: `--api-key` or
/// `SIGNET_API_KEY`; else the `<apikeys>` entry `nuget setapikey` stored for the endpoint or
/// the source (NuGet's order); else the password of the source's `packageSourceCredentials`.
/// No message names the key, only where it was looked for.
fn api_key(
    feed: &FeedArgs,
    settings: &signet_config::Settings,
    source: &str,
    endpoint: &str,
) -> Result<signet_common::Secret, String> {
    if let Some(key) = feed.api_key.as_deref().filter(|k| !k.is_empty()) {
        return Ok(signet_common::Secret::new(key));
    }
    let credential = match settings.source_name(source) {
        Some(name) => settings
            .source_credential(&name, &|var| std::env::var(var).ok())
            .map_err(|e| e.to_string())?
            .filter(|c| !c.credential.password.expose().is_empty()),
        None => None,
    };
    if let Some(stored) = settings.stored_api_key(&[endpoint, source]) {
        match crate::credentials::decrypt_stored_api_key(&stored) {
            Ok(key) => return Ok(key),
            Err(reason) if credential.is_none() => {
                return Err(format!(
                    "the API key stored for {} in {} cannot be used: {reason}; give --api-key or SIGNET_API_KEY, or the source's packageSourceCredentials with the key as ClearTextPassword",
                    signet_common::Untrusted(&stored.url),
                    stored.path.display()
                ));
            }
            // The source's credentials still authenticate.
            Err(_) => {}
        }
    }
    match credential {
        Some(c) => Ok(c.credential.password),
        None => Err(format!(
            "no API key for {}: give --api-key or SIGNET_API_KEY, or store one in nuget.config (`nuget setapikey KEY -Source URL`, or the source's packageSourceCredentials with the key as ClearTextPassword)",
            signet_common::Untrusted(source)
        )),
    }
}

/// Prints what the validation endpoint answered for a package that would be accepted.
fn print_validation(body: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        out!("  {body}");
        return;
    };
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    out!("  {} {} would be accepted.", text("id"), text("version"));
    match v.get("signerFingerprint").and_then(|x| x.as_str()) {
        Some(fp) => out!("  Author-signed: certificate SHA-256 {fp}"),
        None => out!("  Unsigned."),
    }
    if let Some(fp) = v.get("repositoryCertificate").and_then(|x| x.as_str()) {
        let owners: Vec<&str> = v
            .get("owners")
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|o| o.as_str()).collect())
            .unwrap_or_default();
        out!(
            "  The server would repository-sign it with certificate SHA-256 {fp} (owners: {}).",
            owners.join(", ")
        );
    }
    for w in v
        .get("warnings")
        .and_then(|x| x.as_array())
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str())
    {
        err!("warn : {w}");
    }
}

pub fn run(args: PushArgs) -> u8 {
    // Wildcards expanded here, as `sign` and `verify` do (Windows shells and CI YAML pass them
    // quoted), before anything is asked of the source.
    let packages = match crate::inputs::expand_packages(&args.packages) {
        Ok(p) => p,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let source = match resolve_source(args.feed.source.as_deref(), args.feed.configfile.as_deref())
    {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (source, settings) = source;
    let policy = args.feed.policy();
    let timeout = Duration::from_secs(args.timeout.max(1));
    // The service index of a private feed needs the source's credentials (the push itself
    // authenticates with the API key).
    let http = match HttpClient::new(timeout, policy)
        .map_err(|e| e.to_string())
        .and_then(|base| crate::credentials::source_client(&base, &settings, None, &source))
    {
        Ok((h, _)) => h,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let url = match if args.dry_run {
        signet_feed::validation_url(&source, &http)
    } else {
        signet_feed::publish_url(&source, &http)
    } {
        Ok(u) => u,
        Err(e) => {
            err!("error: {e}");
            return if matches!(e, signet_feed::Error::InsecureUrl(_)) {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            };
        }
    };
    let key = match api_key(&args.feed, &settings, &source, &url) {
        Ok(k) => k,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut failed = false;
    let (mut pushed, mut skipped, mut refused) = (0usize, 0usize, 0usize);
    for package in &packages {
        if !package.is_file() {
            err!(
                "error: {} is not a package file{}",
                package.display(),
                if package.is_dir() {
                    " (it is a directory; give .nupkg files)"
                } else {
                    ""
                }
            );
            failed = true;
            refused += 1;
            continue;
        }
        let mut random = [0u8; 16];
        if aws_lc_rs::rand::fill(&mut random).is_err() {
            err!("error: no randomness available for the request");
            return EXIT_FAILED;
        }
        let boundary = format!("signet-{}", hex::encode(random));
        if args.dry_run {
            out!(
                "Checking {} against {url} (dry run: nothing is published)...",
                package.display()
            );
        } else {
            out!("Pushing {} to {url}...", package.display());
        }
        match signet_feed::push(&url, key.expose(), package, &boundary, policy, timeout) {
            Ok(r) => {
                for w in &r.warnings {
                    err!("warn : {}", signet_common::Untrusted(w));
                }
                let reason = r.reason();
                if r.is_success() && args.dry_run {
                    print_validation(&r.message);
                    pushed += 1;
                } else if r.is_success() {
                    out!("  Created ({}). Your package was pushed.", r.status);
                    pushed += 1;
                } else if r.status == 409 && args.skip_duplicate {
                    out!(
                        "  Conflict (409): {}. Skipped (--skip-duplicate).",
                        signet_common::Untrusted(&reason)
                    );
                    skipped += 1;
                } else {
                    // As nuget.exe prints it: the status and the server's reason, never the
                    // raw body.
                    err!(
                        "error: Response status code does not indicate success: {} ({}).",
                        r.status,
                        signet_common::Untrusted(&reason)
                    );
                    if r.status == 409 {
                        err!("To skip already published packages, use the option --skip-duplicate");
                    }
                    failed = true;
                    refused += 1;
                }
            }
            Err(e) => {
                err!("error: {}: {e}", package.display());
                failed = true;
                refused += 1;
            }
        }
    }
    if packages.len() > 1 {
        out!(
            "{} package(s): {pushed} {}, {skipped} skipped as duplicates, {refused} failed.",
            packages.len(),
            if args.dry_run {
                "would be accepted"
            } else {
                "pushed"
            }
        );
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}

/// `signet delete ID VERSION` (unlist, as `nuget delete` on NuGet.org) and `signet relist`.
pub fn run_listing(args: ListingArgs, change: signet_feed::ListingChange) -> u8 {
    let (id, version) = match (
        signet_feed::PackageId::parse(&args.id),
        signet_feed::NuGetVersion::parse(&args.version),
    ) {
        (Ok(i), Ok(v)) => (i, v),
        (Err(e), _) => {
            err!(
                "error: '{}' is not a valid package id: {e}",
                signet_common::Untrusted(&args.id)
            );
            return EXIT_USAGE;
        }
        (_, Err(e)) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let source = match resolve_source(args.feed.source.as_deref(), args.feed.configfile.as_deref())
    {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (source, settings) = source;
    let policy = args.feed.policy();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let http = match HttpClient::new(timeout, policy)
        .map_err(|e| e.to_string())
        .and_then(|base| crate::credentials::source_client(&base, &settings, None, &source))
    {
        Ok((h, _)) => h,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let publish = match signet_feed::publish_url(&source, &http) {
        Ok(u) => u,
        Err(e) => {
            err!("error: {e}");
            return if matches!(e, signet_feed::Error::InsecureUrl(_)) {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            };
        }
    };
    let (doing, done) = match change {
        signet_feed::ListingChange::Unlist => (
            "Unlisting",
            "unlisted: hidden from search, still restorable by existing references",
        ),
        signet_feed::ListingChange::Relist => ("Relisting", "listed again"),
    };
    let key = match api_key(&args.feed, &settings, &source, &publish) {
        Ok(k) => k,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    out!("{doing} {id} {version} on {source}...");
    match signet_feed::change_listing(
        &publish,
        key.expose(),
        &id,
        &version,
        change,
        policy,
        timeout,
    ) {
        Ok(r) if r.is_success() => {
            out!("  {id} {version} {done}.");
            EXIT_OK
        }
        Ok(r) => {
            err!(
                "error: Response status code does not indicate success: {} ({}).",
                r.status,
                signet_common::Untrusted(&r.reason())
            );
            EXIT_FAILED
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}
