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
    #[arg(required_unless_present = "packages_folder", value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
    /// Audit every package under this folder (a global packages folder) in parallel, under
    /// the client policy (--policy, or the configured one), re-verifying only packages that
    /// changed since the last audit with the same trust roots and policy.
    #[arg(
        long = "packages-folder",
        value_name = "DIR",
        conflicts_with = "packages"
    )]
    packages_folder: Option<PathBuf>,
    /// Client policy for --packages-folder: developer, default, secure, accept, require.
    #[arg(long, value_name = "POLICY", requires = "packages_folder")]
    policy: Option<String>,
    /// With --packages-folder: verify everything again and leave the audit cache alone.
    #[arg(long = "no-cache", requires = "packages_folder")]
    no_cache: bool,
    /// With --packages-folder: allow plain-http transparency logs (as `install`'s option of
    /// the same name), for sources whose log is pinned over http.
    #[arg(
        long = "dangerous-allow-insecure-connections",
        requires = "packages_folder"
    )]
    allow_insecure_connections: bool,
    /// With --packages-folder: allow plain-http transparency logs on loopback addresses only
    /// (local test feeds), as `install`'s option of the same name.
    #[arg(long = "allow-insecure-loopback", requires = "packages_folder")]
    allow_insecure_loopback: bool,
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

/// One package of `verify --json`: camelCase like every JSON signet writes (receipts, the
/// server's API), with a format version for machines that read it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    format_version: u32,
    path: String,
    #[serde(flatten)]
    report: &'a signet_trust::PackageReport,
}

/// The `formatVersion` of `verify --json` (2: camelCase names).
const JSON_FORMAT_VERSION: u32 = 2;

pub fn run(args: VerifyArgs) -> u8 {
    let config = match args.trust.settings() {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let trust = match args.trust.store_with(&config) {
        Ok(t) => t,
        Err(e) => {
            err!("error: {e}");
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
        // One budget for the whole run (several packages, or a packages folder).
        run_budget: Some(timeout.saturating_mul(6)),
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
    // The client's trusted signers (spec §5.1 step 2): required non-empty in require mode.
    let signers = match config
        .trusted_signers()
        .and_then(|s| config.signature_validation_mode().map(|m| (s, m)))
    {
        Ok(v) => v,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (signers, mode) = signers;
    let mut effective = signet_config::effective_trust(&signers);
    let identities = match config.trusted_identities() {
        Ok(ids) => ids,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    effective.allow_list.identities = identities.iter().map(|c| c.identity.clone()).collect();
    let require = mode == signet_config::ValidationMode::Require;
    if let Some(dir) = &args.packages_folder {
        return audit(
            &args,
            dir,
            &config,
            &trust,
            &effective,
            options.revocation.clone(),
            revocation,
        );
    }
    if !effective.allow_list.is_empty() || require {
        let mut list = effective.allow_list.clone();
        list.require_non_empty = require;
        options.trusted_signers = Some(list);
    }
    options.allow_untrusted_root = effective.allow_untrusted_root.clone();
    if !args.json {
        effective
            .warnings
            .iter()
            .for_each(crate::output::print_issue);
    }
    if !args.certificate_fingerprint.is_empty() {
        match AllowList::certificate_fingerprints(&args.certificate_fingerprint) {
            Ok(list) => options.certificate_fingerprints = Some(list),
            Err(e) => {
                err!("error: {e}");
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
    // Which config file contributed each trust decision (trusted signers come from any
    // level, as in NuGet: a checkout's nuget.config can add them, so say where they are).
    if !args.json && (args.verbosity >= Verbosity::Detailed || require) {
        if let Some((_, f)) = config.config_value("signatureValidationMode") {
            out!("signatureValidationMode from {}", f.path.display());
        }
        for s in &signers {
            out!(
                "Trusted signer '{}' from {}",
                signet_common::Untrusted(&s.name),
                s.file.display()
            );
        }
        for c in &identities {
            out!(
                "Trusted identity '{}' from {}",
                signet_common::Untrusted(&c.identity.name),
                c.file.display()
            );
        }
    }
    let mut all_ok = true;
    let mut json = Vec::new();
    let mut reports = Vec::new();
    let packages = match crate::inputs::expand_packages(&args.packages) {
        Ok(p) => p,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    for path in &packages {
        let display = path.display().to_string();
        let report = match File::open(path) {
            Ok(f) => verify_package(BufReader::new(f), &trust, &options),
            Err(e) => {
                err!("error: '{display}' cannot be opened: {e}");
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
                format_version: JSON_FORMAT_VERSION,
                path: path.clone(),
                report,
            });
        }
        match serde_json::to_string_pretty(&json) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                err!("error: cannot encode the report: {e}");
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

/// `verify --packages-folder`: a parallel audit with a progress bar.
fn audit(
    args: &VerifyArgs,
    dir: &std::path::Path,
    settings: &signet_config::Settings,
    trust: &signet_trust::TrustStore,
    effective: &signet_config::EffectiveTrust,
    revocation_source: Option<Arc<dyn signet_trust::RevocationSource>>,
    revocation: RevocationMode,
) -> u8 {
    let policy = match args.policy.as_deref() {
        Some(p) => match signet_trust::ClientPolicy::parse(p) {
            Some(p) => p,
            None => {
                err!("error: '{p}' is not one of developer, default, secure, accept, require");
                return EXIT_USAGE;
            }
        },
        None => match crate::install::policy_for(settings, None) {
            Ok(p) => p,
            Err(e) => {
                err!("error: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let trusted = (!effective.allow_list.is_empty()).then_some(&effective.allow_list);
    let mut options = signet_trust::options_for(
        policy,
        trusted,
        &effective.allow_untrusted_root,
        &signet_trust::SourceTrust::default(),
        revocation,
        UtcTime::now(),
    );
    options.revocation = revocation_source;
    options.content_hash = ContentHash::Skip;
    // The transparency logs pinned for the sources the packages came from (issue 17): each
    // package is checked against its source's log as `install` checks it, every audit.
    let http_policy = if args.allow_insecure_connections {
        signet_feed::HttpPolicy::DangerousAnyHttp
    } else if args.allow_insecure_loopback {
        signet_feed::HttpPolicy::LoopbackHttp
    } else {
        signet_feed::HttpPolicy::HttpsOnly
    };
    let http = match signet_feed::HttpClient::new(LOG_REQUEST_TIMEOUT, http_policy) {
        Ok(h) => h,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let lookup = |location: &str| log_for_source(settings, &http, location);
    let any_pinned = !settings
        .section_items(signet_config::TLOG_SECTION)
        .is_empty();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} packages, {elapsed} (about {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let opts = signet_install::AuditOptions {
        store: trust,
        options,
        policy,
        threads,
        cache_file: if args.no_cache {
            None
        } else {
            audit_cache_dir().map(|d| signet_install::audit_cache_file(&d, dir))
        },
        logs: any_pinned.then_some(&lookup as &signet_install::LogLookup<'_>),
    };
    let started = std::time::Instant::now();
    let result = signet_install::audit(dir, &opts, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let (entries, summary) = match result {
        Ok(r) => r,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let elapsed = started.elapsed();
    if args.json {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            format_version: u32,
            policy: &'a str,
            summary: &'a signet_install::AuditSummary,
            packages: &'a [signet_install::AuditEntry],
        }
        match serde_json::to_string_pretty(&Out {
            format_version: JSON_FORMAT_VERSION,
            policy: policy.name(),
            summary: &summary,
            packages: &entries,
        }) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                err!("error: cannot encode the report: {e}");
                return EXIT_FAILED;
            }
        }
    } else {
        for e in entries.iter().filter(|e| !e.valid || !e.issues.is_empty()) {
            out!(
                "{}: {}",
                signet_common::Untrusted(&e.path),
                if e.valid {
                    "allowed with warnings"
                } else {
                    "REFUSED"
                }
            );
            e.issues.iter().for_each(crate::output::print_issue);
        }
        out!(
            "Audited {} package(s) under policy {policy} in {:.2} s: {} checked, {} passed, {} refused ({} verified now, {} unchanged since the last audit).",
            summary.packages,
            elapsed.as_secs_f64(),
            summary.packages,
            summary.passed,
            summary.invalid,
            summary.verified,
            summary.cached,
        );
        if summary.log_checked > 0 {
            out!(
                "{} package(s) checked against their source's transparency log.",
                summary.log_checked
            );
        }
    }
    if summary.invalid == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// How long one request to a transparency log may take in an audit (the proof, or one tile).
const LOG_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The transparency log pinned for the source at `location` (the URL a package's
/// `.nupkg.metadata` records), found as `install` finds it: by the name of the configured
/// package source at that location, or by the URL the log was pinned for.
fn log_for_source(
    settings: &signet_config::Settings,
    http: &signet_feed::HttpClient,
    location: &str,
) -> Result<Option<signet_install::AuditLog>, String> {
    let name = settings
        .package_sources()
        .into_iter()
        .find(|s| s.location == location)
        .map(|s| s.name);
    let Some(pin) = crate::install::transparency_log_pin(settings, name.as_deref(), location)?
    else {
        return Ok(None);
    };
    let client = crate::credentials::source_client(http, settings, name.as_deref(), location)
        .map(|(client, _)| Arc::new(client))?;
    // The check only fetches the log's proof and tiles (absolute URLs under the pinned
    // prefix) through the source's client: no service index is read, so nothing but the
    // pinned log is asked; the flat container given here is never used.
    let source = signet_feed::Source::V3(signet_feed::V3Source::with_flat_base(
        location, location, client,
    ));
    Ok(Some(signet_install::AuditLog { source, pin }))
}

/// The per-user cache directory for audits: `$XDG_CACHE_HOME/signet/audit`, else
/// `~/.cache/signet/audit`.
fn audit_cache_dir() -> Option<PathBuf> {
    Some(cache_dir()?.join("signet").join("audit"))
}

/// The per-user cache base: `$XDG_CACHE_HOME`, else `~/.cache`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
}
