//! `signet install`: resolve, verify every package under its source's policy, then extract
//! into the global packages folder (`signet_install`).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use signet_common::Untrusted;
use signet_common::UtcTime;
use signet_config::Settings;
use signet_feed::{
    Budget, Framework, HttpClient, HttpPolicy, NuGetVersion, PackageId, Source, SourceMapping,
};
use signet_install::{ConfiguredSource, Event, InstallRequest, TrustContext};
use signet_trust::{ClientPolicy, Decision, RevocationChecker, RevocationMode, RevocationSettings};

use crate::output::print_issue;
use crate::trust_args::TrustArgs;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Options of `signet install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Package id.
    id: String,
    /// Exact version (default: the highest stable version).
    #[arg(long)]
    version: Option<String>,
    /// Allow a prerelease when no --version is given.
    #[arg(long)]
    prerelease: bool,
    /// Package source: a v3 service index URL or a folder. Repeatable; tried in order.
    /// Default: the enabled package sources of nuget.config.
    #[arg(long = "source", short = 's', value_name = "URL|DIR")]
    sources: Vec<String>,
    /// Target framework for dependency groups.
    #[arg(long, default_value = "net8.0", value_name = "TFM")]
    framework: String,
    /// The global packages folder (default: NUGET_PACKAGES, globalPackagesFolder in
    /// nuget.config, or ~/.nuget/packages).
    #[arg(long = "packages", value_name = "DIR")]
    packages: Option<PathBuf>,
    /// Client policy for every source: developer, default, secure, accept or require
    /// (default: signetSourcePolicies / signetSignaturePolicy / signatureValidationMode).
    #[arg(long, value_name = "POLICY")]
    policy: Option<String>,
    /// Allow plain-http sources (NuGet: allowInsecureConnections). Packages are still
    /// verified, but the feed's RepositorySignatures and the versions it lists are not
    /// protected in transit.
    #[arg(long = "dangerous-allow-insecure-connections")]
    allow_insecure_connections: bool,
    /// Allow plain-http sources on loopback addresses only (local test feeds).
    #[arg(long = "allow-insecure-loopback")]
    allow_insecure_loopback: bool,
    /// Revocation checks: online (default, from NUGET_CERT_REVOCATION_MODE), offline, or
    /// stapled (only the feed's stapled CA responses, never a connection to a CA: checked
    /// revocation for air-gapped machines). Feeds that staple are always used first.
    #[arg(long = "revocation-mode", value_name = "MODE")]
    revocation_mode: Option<String>,
    /// Seconds the whole install may spend waiting on revocation responders (CRL/OCSP),
    /// however many packages it verifies; a responder that did not answer is not asked again.
    #[arg(
        long = "revocation-budget",
        value_name = "SECONDS",
        default_value_t = 30
    )]
    revocation_budget: u64,
    /// Never ask: refuse a package whose signer is not trusted instead of offering, on a
    /// terminal, to trust it (the 2017 plan's Secure-mode prompt). Without a terminal signet
    /// never asks.
    #[arg(long = "no-prompt")]
    no_prompt: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

/// Most signers trusted through prompts in one install.
const MAX_PROMPTS: usize = 8;

pub fn run(args: InstallArgs) -> u8 {
    run_prompting(&args, 0)
}

fn run_prompting(args: &InstallArgs, prompts: usize) -> u8 {
    // The id names a folder and a URL: NuGet's rules before anything else.
    let id = match PackageId::parse(&args.id) {
        Ok(id) => id,
        Err(e) => {
            err!(
                "error: '{}' is not a valid package id: {e}",
                Untrusted(&args.id)
            );
            return EXIT_USAGE;
        }
    };
    let settings = match args.trust.settings() {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };

    let store = match args.trust.store_with(&settings) {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(framework) = Framework::parse(&args.framework) else {
        err!("error: '{}' is not a target framework", args.framework);
        return EXIT_USAGE;
    };
    let version = match args.version.as_deref().map(NuGetVersion::parse).transpose() {
        Ok(v) => v,
        Err(e) => {
            let range = args
                .version
                .as_deref()
                .is_some_and(|v| v.contains(['[', '(', ',', '*']));
            if range {
                err!(
                    "error: {e}: --version takes one exact version (ranges and wildcards are for project files); omit it for the newest"
                );
            } else {
                err!("error: {e}");
            }
            return EXIT_USAGE;
        }
    };
    let policy_override = match args.policy.as_deref() {
        None => None,
        Some(p) => match ClientPolicy::parse(p) {
            Some(p) => Some(p),
            None => {
                err!("error: '{p}' is not one of developer, default, secure, accept, require");
                return EXIT_USAGE;
            }
        },
    };
    let http_policy = if args.allow_insecure_connections {
        HttpPolicy::DangerousAnyHttp
    } else if args.allow_insecure_loopback {
        HttpPolicy::LoopbackHttp
    } else {
        HttpPolicy::HttpsOnly
    };
    let http = match HttpClient::new(Duration::from_secs(60), http_policy) {
        Ok(h) => h,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let configured = settings.package_sources();
    let locations: Vec<(Option<String>, String)> = if args.sources.is_empty() {
        configured
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (Some(s.name.clone()), s.location.clone()))
            .collect()
    } else {
        args.sources
            .iter()
            .map(|l| {
                let name = configured
                    .iter()
                    .find(|s| s.location == *l || s.name.eq_ignore_ascii_case(l))
                    .map(|s| s.name.clone());
                let location = configured
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(l))
                    .map_or_else(|| l.clone(), |s| s.location.clone());
                (name, location)
            })
            .collect()
    };
    if locations.is_empty() {
        err!("error: no package source: give --source or configure packageSources");
        return EXIT_USAGE;
    }
    let mapping = match SourceMapping::new(settings.package_source_mapping()) {
        Ok(m) => m,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if !mapping.is_empty() {
        out!(
            "Package source mapping is enabled: each package comes only from the sources its most specific pattern names."
        );
    }
    let mut sources = Vec::new();
    for (name, location) in &locations {
        let (policy, origin) = match policy_override {
            Some(p) => (p, "--policy".to_string()),
            None => match policy_with_origin(&settings, name.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    err!("error: {e}");
                    return EXIT_USAGE;
                }
            },
        };
        let shown = Untrusted(location);
        let http =
            match crate::credentials::source_client(&http, &settings, name.as_deref(), location) {
                Ok((client, from)) => {
                    if let Some(from) = from {
                        out!("Source {shown}: credentials from {}", Untrusted(&from));
                    }
                    Arc::new(client)
                }
                Err(e) => {
                    err!("error: {e}");
                    return EXIT_USAGE;
                }
            };
        match Source::open(location, http, http_policy) {
            Ok(source) => {
                if let Some(rs) = source.repository_signatures() {
                    out!(
                        "Source {shown}: policy {policy} (from {origin}); announces {} repository certificate(s){}",
                        rs.certificates.len(),
                        if rs.all_repository_signed {
                            ", all packages repository-signed"
                        } else {
                            ""
                        }
                    );
                } else {
                    out!("Source {shown}: policy {policy} (from {origin})");
                }
                // The transparency log pinned with the source (`signet trust source`).
                let log = match transparency_log_pin(&settings, name.as_deref(), location) {
                    Ok(l) => l,
                    Err(e) => {
                        err!("error: {e}");
                        return EXIT_USAGE;
                    }
                };
                if let Some(pin) = &log {
                    out!(
                        "Source {shown}: transparency log {} pinned (key {}), policy {}",
                        Untrusted(&pin.prefix),
                        Untrusted(&pin.key.to_string()),
                        match pin.policy {
                            signet_install::tlog::LogPolicy::Require => "require",
                            _ => "warn",
                        }
                    );
                    if pin.witness_threshold > 0 {
                        out!(
                            "Source {shown}: checkpoints need cosignatures by {} of the witnesses {}",
                            pin.witness_threshold,
                            pin.witnesses
                                .iter()
                                .map(|(l, _)| Untrusted(l).to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
                sources.push(ConfiguredSource {
                    source,
                    policy,
                    name: name.clone(),
                    log,
                });
            }
            Err(e) => {
                err!("error: {e}");
                return EXIT_FAILED;
            }
        }
    }
    let signers = match settings.trusted_signers() {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    for s in &signers {
        out!(
            "Trusted signer '{}' ({}, {} certificate(s)) from {}",
            Untrusted(&s.name),
            match s.kind {
                signet_config::SignerKind::Author => "author",
                _ => "repository",
            },
            s.certificates.len(),
            s.file.display()
        );
    }
    let mut effective = signet_config::effective_trust(&signers);
    match settings.trusted_identities() {
        Ok(ids) => {
            for c in &ids {
                out!(
                    "Trusted identity '{}' from {}",
                    Untrusted(&c.identity.name),
                    c.file.display()
                );
            }
            effective.allow_list.identities = ids.into_iter().map(|c| c.identity).collect();
        }
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    }
    effective.warnings.iter().for_each(print_issue);
    let env_mode = std::env::var("NUGET_CERT_REVOCATION_MODE").ok();
    let mode_text = args.revocation_mode.as_deref().or(env_mode.as_deref());
    let stapled_only = mode_text.is_some_and(|m| m.trim().eq_ignore_ascii_case("stapled"));
    let revocation_mode = if stapled_only {
        RevocationMode::Online
    } else {
        RevocationMode::from_env_value(mode_text, RevocationMode::Online)
    };
    let staple_memory = crate::verify::cache_dir().map(|d| {
        Arc::new(signet_trust::StapleMemory::load(
            d.join("signet").join("staples.json"),
        ))
    });
    let ctx = TrustContext {
        store: &store,
        trusted_signers: (!effective.allow_list.is_empty()).then(|| effective.allow_list.clone()),
        allow_untrusted_root: effective.allow_untrusted_root.clone(),
        revocation_mode,
        revocation: Some(Arc::new(RevocationChecker::http(RevocationSettings {
            run_budget: Some(Duration::from_secs(args.revocation_budget)),
            ..RevocationSettings::default()
        }))),
        stapled_only,
        staple_memory: staple_memory.clone(),
        now: UtcTime::now(),
    };
    // Where the packages folder comes from is said: a checkout's nuget.config may set
    // globalPackagesFolder (NuGet honours it from every level, and so does signet).
    let packages: Option<(PathBuf, String)> = args
        .packages
        .clone()
        .map(|p| (p, "--packages".to_string()))
        .or_else(|| {
            std::env::var_os("NUGET_PACKAGES").map(|p| (PathBuf::from(p), "NUGET_PACKAGES".into()))
        })
        .or_else(|| {
            settings.config_value("globalPackagesFolder").map(|(v, f)| {
                (
                    f.path.parent().unwrap_or(std::path::Path::new(".")).join(v),
                    format!("globalPackagesFolder in {}", f.path.display()),
                )
            })
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                (
                    PathBuf::from(h).join(".nuget").join("packages"),
                    "the default".into(),
                )
            })
        });
    let Some((packages, packages_origin)) = packages else {
        err!("error: no packages folder: give --packages");
        return EXIT_USAGE;
    };
    if args.packages.is_none() {
        out!(
            "Packages folder: {} (from {packages_origin})",
            packages.display()
        );
    }
    let req = InstallRequest {
        id: &id,
        version: version.as_ref(),
        prerelease: args.prerelease,
        framework: &framework,
        packages_dir: &packages,
        mapping: Some(&mapping),
        budget: Budget::default(),
    };
    let mut verified = 0usize;
    let result = signet_install::install(&req, &sources, &ctx, &mut |e| match e {
        Event::Downloading { id, version } => out!("  Downloading {id} {version}"),
        Event::Resolved {
            id,
            version,
            source,
            mapped_by: Some(pattern),
        } => out!(
            "  {id} {version} \u{2192} {} (mapped by {})",
            Untrusted(&source),
            Untrusted(pattern)
        ),
        Event::Verified {
            id,
            version,
            decision,
        } => {
            verified += 1;
            match decision {
                Decision::Allow => out!("  Verified {id} {version}"),
                Decision::Warn(w) => {
                    out!("  Verified {id} {version} with {} warning(s)", w.len());
                    w.iter().for_each(print_issue);
                }
                Decision::Block(_) => out!("  Refused {id} {version}"),
            }
        }
        Event::Extracted { id, version } => out!("  Installed {id} {version}"),
        _ => {}
    });
    // What staples said is remembered whatever the outcome: a revocation seen by a refused
    // install must still stop a replayed "good" staple later.
    if let Some(m) = &staple_memory
        && let Err(e) = m.save()
    {
        err!("warn : cannot save the stapled-status memory: {e}");
    }
    match result {
        Ok(installed) => {
            let stapled: usize = installed.iter().map(|i| i.stapled_statuses).sum();
            if stapled > 0 {
                out!(
                    "Revocation: {stapled} certificate status(es) from the feeds' stapled CA responses (no CA contacted for them)"
                );
            }
            let new = installed.iter().filter(|i| !i.already_installed).count();
            out!(
                "Installed {new} package(s) ({} already present, {verified} verified) into {}",
                installed.len() - new,
                packages.display()
            );
            EXIT_OK
        }
        Err(signet_install::Error::Blocked {
            id,
            version,
            signatures,
            issues,
            source_url,
        }) if !args.no_prompt
            && prompts < MAX_PROMPTS
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
            && !signatures.is_empty()
            && issues
                .iter()
                .any(|i| i.code == Some(signet_common::NuCode::NU3034)) =>
        {
            match prompt_trust(args, &id, &version, &source_url, &signatures) {
                Ok(true) => run_prompting(args, prompts + 1),
                Ok(false) => {
                    out!("Not trusted: nothing was installed.");
                    EXIT_FAILED
                }
                Err(e) => {
                    err!("error: {e}");
                    EXIT_FAILED
                }
            }
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

/// The Secure mode's prompt (2017 signing plan): shows the untrusted signer of a package and
/// asks whether to trust it as an author or as a repository (with its owners); writes the
/// choice to nuget.config as `signet trust` would. `Ok(true)`: trusted, run again.
fn prompt_trust(
    args: &InstallArgs,
    id: &str,
    version: &str,
    source_url: &str,
    signatures: &[signet_trust::SignatureReport],
) -> Result<bool, String> {
    use signet_trust::{Placement, SignatureType};
    use std::io::BufRead as _;
    out!();
    out!(
        "{} {} from {} is signed by a signer you have not trusted:",
        Untrusted(id),
        Untrusted(version),
        Untrusted(source_url)
    );
    let author = signatures
        .iter()
        .find(|s| s.placement == Placement::Primary && s.signature_type == SignatureType::Author);
    let repository = signatures
        .iter()
        .find(|s| s.signature_type == SignatureType::Repository);
    for s in [author, repository].into_iter().flatten() {
        let Some(cert) = &s.certificate else { continue };
        out!("  {}:", s.friendly_name);
        out!("    Subject:    {}", cert.subject);
        out!("    Issuer:     {}", cert.issuer);
        out!("    SHA-256:    {}", cert.sha256);
        out!("    Valid:      {} to {}", cert.not_before, cert.not_after);
        if let Some(ts) = &s.timestamp {
            out!("    Timestamp:  {}", Untrusted(&ts.gen_time));
        }
        if let Some(index) = &s.service_index {
            out!("    Repository: {}", Untrusted(index));
        }
        if !s.owners.is_empty() {
            out!(
                "    Owners:     {}",
                s.owners
                    .iter()
                    .map(|o| Untrusted(o).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let mut choices = Vec::new();
    if author.is_some() {
        choices.push("[a]uthor");
    }
    if repository.is_some_and(|r| r.service_index.is_some()) {
        choices.push("[r]epository");
    }
    choices.push("[n]o");
    {
        use std::io::Write as _;
        print!("Trust this signer as {}? ", choices.join(" / "));
        let _ = std::io::stdout().flush();
    }
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    let mut settings = args.trust.settings()?;
    let name_of = |subject: &str, fallback: &str| {
        subject
            .split(',')
            .find_map(|p| p.trim().strip_prefix("CN="))
            .unwrap_or(fallback)
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
            .collect::<String>()
    };
    let signer = match answer.trim().to_ascii_lowercase().as_str() {
        "a" | "author" => {
            let Some(cert) = author.and_then(|a| a.certificate.as_ref()) else {
                return Ok(false);
            };
            signet_config::TrustedSigner {
                name: name_of(&cert.subject, id),
                kind: signet_config::SignerKind::Author,
                certificates: vec![signet_config::CertificateEntry {
                    fingerprint: cert.sha256.to_uppercase(),
                    algorithm: signet_common::HashAlgorithm::Sha256,
                    allow_untrusted_root: false,
                }],
                file: PathBuf::new(),
            }
        }
        "r" | "repository" => {
            let Some(r) = repository else {
                return Ok(false);
            };
            let (Some(cert), Some(index)) = (&r.certificate, &r.service_index) else {
                return Ok(false);
            };
            signet_config::TrustedSigner {
                name: name_of(&cert.subject, source_url),
                kind: signet_config::SignerKind::Repository {
                    service_index: index.clone(),
                    owners: r.owners.clone(),
                },
                certificates: vec![signet_config::CertificateEntry {
                    fingerprint: cert.sha256.to_uppercase(),
                    algorithm: signet_common::HashAlgorithm::Sha256,
                    allow_untrusted_root: false,
                }],
                file: PathBuf::new(),
            }
        }
        _ => return Ok(false),
    };
    let name = signer.name.clone();
    settings
        .add_trusted_signer(signer)
        .map_err(|e| e.to_string())?;
    settings.save().map_err(|e| e.to_string())?;
    let file = settings
        .write_target()
        .map(|f| f.path.display().to_string())
        .unwrap_or_default();
    out!("Trusted '{}' in {file}; verifying again.", Untrusted(&name));
    Ok(true)
}

/// The client policy for the configured source `name` (or the global one).
pub fn policy_for(settings: &Settings, name: Option<&str>) -> Result<ClientPolicy, String> {
    policy_with_origin(settings, name).map(|(p, _)| p)
}

/// [`policy_for`] and the setting (and file) it came from.
pub fn policy_with_origin(
    settings: &Settings,
    name: Option<&str>,
) -> Result<(ClientPolicy, String), String> {
    let (value, origin) = settings
        .signet_policy_name(name)
        .map_err(|e| e.to_string())?;
    ClientPolicy::parse(&value)
        .map(|p| (p, origin.clone()))
        .ok_or_else(|| {
            format!(
                "{origin}: '{}' is not one of developer, default, secure, accept, require",
                Untrusted(&value)
            )
        })
}

/// The transparency log pinned for a source, as the install check takes it (`None` when none
/// is pinned or its policy is off).
pub(crate) fn transparency_log_pin(
    settings: &signet_config::Settings,
    name: Option<&str>,
    location: &str,
) -> Result<Option<signet_install::tlog::LogPin>, String> {
    let Some(pinned) = settings
        .transparency_log(name, location)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let policy = match pinned.policy {
        signet_config::LogPolicy::Require => signet_install::tlog::LogPolicy::Require,
        signet_config::LogPolicy::Warn => signet_install::tlog::LogPolicy::Warn,
        _ => return Ok(None),
    };
    let key = signet_tlog::VerifierKey::parse(&pinned.verifier_key)
        .map_err(|e| format!("the transparency log pinned for '{}': {e}", pinned.source))?;
    let state_dir = signet_install::tlog::default_state_dir().ok_or(
        "neither XDG_STATE_HOME nor HOME is set: nowhere to keep transparency-log checkpoints",
    )?;
    let witnesses = pinned
        .witnesses
        .iter()
        .map(|(label, vkey)| {
            signet_tlog::CosignatureVerifier::parse(vkey)
                .map(|k| (label.clone(), k))
                .map_err(|e| format!("the witness '{label}' pinned for '{}': {e}", pinned.source))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(signet_install::tlog::LogPin {
        prefix: pinned.prefix,
        key,
        policy,
        state_dir,
        witnesses,
        witness_threshold: pinned.witness_threshold,
    }))
}
