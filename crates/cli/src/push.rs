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
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let url = match signet_feed::publish_url(&args.source, &http) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
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
            eprintln!("error: no randomness available for the request");
            return EXIT_FAILED;
        }
        let boundary = format!("signet-{}", hex::encode(random));
        out!("Pushing {} to {url}...", package.display());
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
                    eprintln!("warn : {w}");
                }
                if r.is_success() {
                    out!("  Created ({}). Your package was pushed.", r.status);
                } else {
                    eprintln!(
                        "error: Response status code does not indicate success: {} ({}).",
                        r.status, r.message
                    );
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", package.display());
                failed = true;
            }
        }
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}
