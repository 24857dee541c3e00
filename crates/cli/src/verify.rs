//! `signet verify`: NuGet's verify command (spec §5.1, §7.1), with JSON output.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use signet_common::UtcTime;
use signet_trust::{
    AllowList, ContentHash, RevocationChecker, RevocationMode, RevocationPolicy,
    RevocationSettings, VerifierSettings, VerifyOptions, verify_package,
};

use crate::output::{Verbosity, parse_verbosity, print_report};
use crate::trust_args::TrustArgs;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Options of `signet verify`, named as in `dotnet nuget verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Packages to verify.
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
    /// Run all verifications (signatures are the only kind, so the same as --signatures).
    #[arg(long, conflicts_with = "signatures")]
    all: bool,
    /// Verify signatures (the default).
    #[arg(long)]
    signatures: bool,
    /// SHA-256 fingerprint of a certificate allowed to have made the primary signature.
    /// Repeatable; `;` separates several in one value.
    #[arg(long = "certificate-fingerprint", value_name = "FP")]
    certificate_fingerprint: Vec<String>,
    /// Revocation checking: online (OCSP, then CRLs) or offline (cached answers only).
    /// Default: NUGET_CERT_REVOCATION_MODE, else online, as NuGet.
    #[arg(long = "revocation-mode", value_name = "MODE")]
    revocation_mode: Option<String>,
    /// Seconds one OCSP responder or CRL distribution point may take (default 5); a whole
    /// verification spends at most three times this on the network.
    #[arg(long = "revocation-timeout", value_name = "SECONDS", value_parser = parse_seconds)]
    revocation_timeout: Option<Duration>,
    /// Directory in which to keep CRLs and OCSP responses between runs (honouring their
    /// nextUpdate); offline mode answers from it. Default: SIGNET_REVOCATION_CACHE, else none.
    #[arg(long = "revocation-cache", value_name = "DIR")]
    revocation_cache: Option<PathBuf>,
    /// What a revoked signing certificate means: `nuget` (always fatal, NU3012) or
    /// `timestamp-aware` (a revocation that claims no key compromise and takes effect after
    /// the signature's timestamp is a warning). Default: nuget.
    #[arg(long = "revocation-policy", value_name = "POLICY", value_parser = parse_policy, default_value = "nuget")]
    revocation_policy: RevocationPolicy,
    /// Print a JSON report per package instead of text.
    #[arg(long)]
    json: bool,
    /// Also compute and print the SHA-512 content hash NuGet writes to `.nupkg.metadata`
    /// (costs a second hash over the package).
    #[arg(long = "content-hash")]
    content_hash: bool,
    /// Verbosity: q[uiet], n[ormal], d[etailed].
    #[arg(short = 'v', long = "verbosity", default_value = "n", value_parser = parse_verbosity)]
    verbosity: Verbosity,
    #[command(flatten)]
    trust: TrustArgs,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    path: String,
    #[serde(flatten)]
    report: &'a signet_trust::PackageReport,
}

pub fn run(args: VerifyArgs) -> u8 {
    let trust = match args.trust.store() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let env_mode = std::env::var("NUGET_CERT_REVOCATION_MODE").ok();
    let mode_value = args.revocation_mode.as_deref().or(env_mode.as_deref());
    let revocation = RevocationMode::from_env_value(mode_value, RevocationMode::Online);
    let mut options =
        VerifyOptions::new(VerifierSettings::verify_command(revocation), UtcTime::now());
    let timeout = args.revocation_timeout.unwrap_or(Duration::from_secs(5));
    let cache_dir = args.revocation_cache.clone().or_else(|| {
        std::env::var_os("SIGNET_REVOCATION_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let settings = RevocationSettings {
        responder_timeout: timeout,
        budget: timeout.saturating_mul(3),
        cache_dir: cache_dir.clone(),
        ..RevocationSettings::default()
    };
    options.revocation = Some(Arc::new(RevocationChecker::http(settings)));
    options.revocation_policy = args.revocation_policy;
    options.content_hash = if args.content_hash {
        ContentHash::Compute
    } else {
        ContentHash::Skip
    };
    if !args.certificate_fingerprint.is_empty() {
        match AllowList::certificate_fingerprints(&args.certificate_fingerprint) {
            Ok(list) => options.certificate_fingerprints = Some(list),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    if !args.json && args.verbosity >= Verbosity::Detailed {
        out!("Trust roots: {}", trust.description());
        out!(
            "Revocation mode: {}, policy: {}, cache: {}",
            if revocation == RevocationMode::Offline {
                "offline"
            } else {
                "online"
            },
            if args.revocation_policy == RevocationPolicy::TimestampAware {
                "timestamp-aware"
            } else {
                "nuget"
            },
            cache_dir
                .as_ref()
                .map_or_else(|| "none".to_string(), |d| d.display().to_string())
        );
    }
    let mut all_ok = true;
    let mut json = Vec::new();
    let mut reports = Vec::new();
    for path in &args.packages {
        let display = path.display().to_string();
        let report = match File::open(path) {
            Ok(f) => verify_package(BufReader::new(f), &trust, &options),
            Err(e) => {
                eprintln!("error: '{display}' cannot be opened: {e}");
                all_ok = false;
                continue;
            }
        };
        all_ok &= report.valid;
        if args.json {
            reports.push((display, report));
        } else {
            print_report(&display, &report, args.verbosity);
        }
    }
    if args.json {
        for (path, report) in &reports {
            json.push(JsonReport {
                path: path.clone(),
                report,
            });
        }
        match serde_json::to_string_pretty(&json) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return EXIT_FAILED;
            }
        }
    }
    if all_ok { EXIT_OK } else { EXIT_FAILED }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 600.0) {
        return Err(format!(
            "'{s}': the timeout must be between 0 and 600 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_policy(s: &str) -> Result<RevocationPolicy, String> {
    match s.to_ascii_lowercase().as_str() {
        "nuget" => Ok(RevocationPolicy::NuGet),
        "timestamp-aware" => Ok(RevocationPolicy::TimestampAware),
        _ => Err(format!(
            "'{s}' is not a revocation policy (nuget, timestamp-aware)"
        )),
    }
}
