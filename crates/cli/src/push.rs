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
    /// The feed's v3 service index URL.
    #[arg(long, short = 's', value_name = "URL")]
    source: String,
    /// The API key. Also read from SIGNET_API_KEY, which keeps it out of the process list.
    #[arg(
        long = "api-key",
        short = 'k',
        env = "SIGNET_API_KEY",
        hide_env_values = true
    )]
    api_key: String,
    /// Seconds to wait for the server per package.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
    /// Allow a plain-http feed on a loopback address (local test servers).
    #[arg(long = "allow-insecure-loopback")]
    allow_insecure_loopback: bool,
    /// Run every check the server makes on a push (API key, ownership, version, signing
    /// rules) without publishing: needs a signet server (its validation endpoint).
    #[arg(long)]
    dry_run: bool,
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
    match v.get("signer_fingerprint").and_then(|x| x.as_str()) {
        Some(fp) => out!("  Author-signed: certificate SHA-256 {fp}"),
        None => out!("  Unsigned."),
    }
    if let Some(fp) = v.get("repository_certificate").and_then(|x| x.as_str()) {
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
    let policy = if args.allow_insecure_loopback {
        HttpPolicy::LoopbackHttp
    } else {
        HttpPolicy::HttpsOnly
    };
    let http = match HttpClient::new(Duration::from_secs(60), policy) {
        Ok(h) => h,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let url = match if args.dry_run {
        signet_feed::validation_url(&args.source, &http)
    } else {
        signet_feed::publish_url(&args.source, &http)
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
    let mut failed = false;
    for package in &args.packages {
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
        match signet_feed::push(
            &url,
            &args.api_key,
            package,
            &boundary,
            policy,
            Duration::from_secs(args.timeout.max(1)),
        ) {
            Ok(r) => {
                for w in &r.warnings {
                    err!("warn : {w}");
                }
                if r.is_success() && args.dry_run {
                    print_validation(&r.message);
                } else if r.is_success() {
                    out!("  Created ({}). Your package was pushed.", r.status);
                } else {
                    err!(
                        "error: Response status code does not indicate success: {} ({}).",
                        r.status,
                        r.message
                    );
                    failed = true;
                }
            }
            Err(e) => {
                err!("error: {}: {e}", package.display());
                failed = true;
            }
        }
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}
