//! `signet trust`: NuGet's trusted-signers commands (spec §8.2), writing nuget.config.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use signet_common::HashAlgorithm;
use signet_config::{CertificateEntry, Settings, SignerKind, TrustedSigner, split_owners};
use signet_feed::{HttpClient, HttpPolicy, REPOSITORY_SIGNATURES, RepositorySignatures};
use signet_signature::{Limits, PrimarySignature, SignatureType, hex_upper};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `signet trust …`
#[derive(Args, Debug)]
pub struct TrustCmdArgs {
    #[command(subcommand)]
    command: Option<TrustCommand>,
    /// The nuget.config to read and write (default: the hierarchy for reading, the user
    /// config for writing, as NuGet does).
    #[arg(long = "configfile", value_name = "FILE", global = true)]
    configfile: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum TrustCommand {
    /// List the trusted signers (the default).
    List,
    /// Trust the author certificate of a signed package.
    Author {
        /// Name of the trusted signer.
        name: String,
        /// A package with an author signature.
        package: PathBuf,
        /// Accept this certificate even when its chain ends in an untrusted root.
        #[arg(long = "allow-untrusted-root")]
        allow_untrusted_root: bool,
    },
    /// Trust the repository certificate of a repository-signed or -countersigned package.
    Repository {
        /// Name of the trusted signer.
        name: String,
        /// A package with a repository signature or countersignature.
        package: PathBuf,
        /// Accept this certificate even when its chain ends in an untrusted root.
        #[arg(long = "allow-untrusted-root")]
        allow_untrusted_root: bool,
        /// Trusted owners (`a;b`): the repository signature must name one of them.
        #[arg(long)]
        owners: Option<String>,
    },
    /// Trust a certificate fingerprint (added to the signer NAME, or a new author).
    Certificate {
        /// Name of the trusted signer.
        name: String,
        /// Hex fingerprint of the certificate.
        fingerprint: String,
        /// Fingerprint algorithm: SHA256, SHA384 or SHA512.
        #[arg(long, default_value = "SHA256")]
        algorithm: String,
        /// Accept this certificate even when its chain ends in an untrusted root.
        #[arg(long = "allow-untrusted-root")]
        allow_untrusted_root: bool,
    },
    /// Trust a repository by its service index: the certificates it announces.
    Source {
        /// Name of the trusted signer (and of the package source, without --source-url).
        name: String,
        /// The service index (https).
        #[arg(long = "source-url", value_name = "URL")]
        source_url: Option<String>,
        /// Trusted owners (`a;b`).
        #[arg(long)]
        owners: Option<String>,
        /// Allow a plain-http service index on a loopback address (local test servers).
        #[arg(long = "allow-insecure-loopback")]
        allow_insecure_loopback: bool,
        /// What installs do when a package from this source is not provably in the
        /// transparency log the feed announces (pinned now): off, warn or require.
        #[arg(long = "transparency-log", value_name = "POLICY", default_value = "require", value_parser = parse_log_policy)]
        transparency_log: signet_config::LogPolicy,
        /// A witness whose cosignatures the log's checkpoints must carry: NAME=VKEY, the
        /// witness's cosignature verifier key (repeatable; see --witness-threshold).
        #[arg(long = "witness", value_name = "NAME=VKEY")]
        witnesses: Vec<String>,
        /// How many of the --witness keys must have cosigned the checkpoint an install
        /// checks (default: all of them).
        #[arg(long = "witness-threshold", value_name = "K")]
        witness_threshold: Option<usize>,
    },
    /// Trust an author by identity: stable subject attributes of its certificate plus the key
    /// of the CA that issued it, so a renewal by the same CA keeps working and the same name
    /// from another CA does not (signet only; stored in <signetTrustedIdentities>).
    Identity {
        /// Name of the trusted identity.
        name: String,
        /// Propose the identity from this author-signed package's certificate.
        #[arg(long = "from-package", value_name = "NUPKG")]
        from_package: Option<PathBuf>,
        /// Subject attributes to match (`O,CN`; default: O and CN, plus serialNumber and the
        /// jurisdiction fields of EV certificates when present).
        #[arg(long, value_name = "NAMES")]
        attributes: Option<String>,
        /// The subject to match without a package: `O=Contoso Ltd;CN=Contoso Ltd`.
        #[arg(long, value_name = "ATTR=VALUE;...")]
        subject: Option<String>,
        /// SHA-256 of an issuing CA's SubjectPublicKeyInfo (hex; repeatable). With
        /// --from-package, the certificate's issuer is pinned.
        #[arg(long = "issuer-spki-sha256", value_name = "HEX")]
        issuer_spki_sha256: Vec<String>,
        /// Show what would be trusted without writing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the trusted signers named NAME (case-insensitive).
    Remove {
        /// Name of the trusted signer.
        name: String,
    },
    /// Refresh a trusted repository's certificates from its service index.
    Sync {
        /// Name of the trusted repository.
        name: String,
        /// Allow a plain-http service index on a loopback address (local test servers).
        #[arg(long = "allow-insecure-loopback")]
        allow_insecure_loopback: bool,
    },
}

pub fn run(args: TrustCmdArgs) -> u8 {
    // A package argument that is no file is a usage error, as for sign and verify.
    if let Some(TrustCommand::Author { package, .. } | TrustCommand::Repository { package, .. }) =
        &args.command
        && let Err(e) = crate::inputs::check(package)
    {
        if package.is_dir() {
            // The shared message suggests wildcards, which take several packages; trust
            // takes one.
            err!(
                "error: {} is a directory; give one signed .nupkg file",
                package.display()
            );
        } else {
            err!("error: {e}");
        }
        return EXIT_USAGE;
    }
    if let Some(config) = &args.configfile
        && !config.exists()
    {
        err!(
            "error: {} does not exist; create it with: echo '<configuration />' > {}",
            config.display(),
            config.display()
        );
        return EXIT_USAGE;
    }
    let env = signet_config::Environment::from_process();
    let mut settings = match Settings::load(&env, args.configfile.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let result = match args.command.unwrap_or(TrustCommand::List) {
        TrustCommand::List => list(&settings),
        TrustCommand::Author {
            name,
            package,
            allow_untrusted_root,
        } => from_package(&mut settings, &name, &package, allow_untrusted_root, None),
        TrustCommand::Repository {
            name,
            package,
            allow_untrusted_root,
            owners,
        } => from_package(
            &mut settings,
            &name,
            &package,
            allow_untrusted_root,
            Some(owners.as_deref().map(split_owners).unwrap_or_default()),
        ),
        TrustCommand::Certificate {
            name,
            fingerprint,
            algorithm,
            allow_untrusted_root,
        } => certificate(
            &mut settings,
            &name,
            &fingerprint,
            &algorithm,
            allow_untrusted_root,
        ),
        TrustCommand::Identity {
            name,
            from_package,
            attributes,
            subject,
            issuer_spki_sha256,
            dry_run,
        } => identity(
            &mut settings,
            &name,
            from_package.as_deref(),
            attributes.as_deref(),
            subject.as_deref(),
            &issuer_spki_sha256,
            dry_run,
        ),
        TrustCommand::Source {
            name,
            source_url,
            owners,
            allow_insecure_loopback,
            transparency_log,
            witnesses,
            witness_threshold,
        } => match pinned_witnesses(&witnesses, witness_threshold, transparency_log) {
            Ok(w) => source(
                &mut settings,
                &name,
                source_url,
                owners.as_deref().map(split_owners).unwrap_or_default(),
                allow_insecure_loopback,
                transparency_log,
                w,
            ),
            Err(e) => {
                err!("error: {e}");
                return EXIT_USAGE;
            }
        },
        TrustCommand::Remove { name } => {
            let n = settings.remove_trusted_signer(&name);
            if n == 0 {
                out!("No trusted signers with the name: '{name}' were found.");
                Ok(())
            } else {
                settings
                    .save()
                    .map(|()| out!("Successfully removed the trusted signer '{name}'."))
                    .map_err(|e| e.to_string())
            }
        }
        TrustCommand::Sync {
            name,
            allow_insecure_loopback,
        } => sync(&mut settings, &name, allow_insecure_loopback),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}

fn list(settings: &Settings) -> Result<(), String> {
    let signers = settings.trusted_signers().map_err(|e| e.to_string())?;
    let identities = settings.trusted_identities().map_err(|e| e.to_string())?;
    if !identities.is_empty() {
        out!("Trusted identities:");
        out!("");
        for (i, c) in identities.iter().enumerate() {
            print_identity(&format!(" {}.", i + 1), &c.identity);
            out!("      Defined in: {}", c.file.display());
            out!("");
        }
    }
    if signers.is_empty() {
        out!("There are no trusted signers.");
        return Ok(());
    }
    out!("Registered trusted signers:");
    out!("");
    for (i, s) in signers.iter().enumerate() {
        let kind = match s.kind {
            SignerKind::Author => "author",
            SignerKind::Repository { .. } => "repository",
        };
        out!("{:<6}{} [{kind}]", format!(" {}.", i + 1), s.name);
        if let SignerKind::Repository {
            service_index,
            owners,
        } = &s.kind
        {
            out!("      Service Index: {service_index}");
            if !owners.is_empty() {
                out!("      Trusted owners: {}", owners.join("; "));
            }
        }
        out!("      Certificate fingerprint(s):");
        for c in &s.certificates {
            let u = if c.allow_untrusted_root { "[U] " } else { "" };
            out!(
                "        {u}{} - {}",
                c.algorithm.nuget_name(),
                c.fingerprint
            );
        }
        out!("");
    }
    Ok(())
}

/// `author` (owners `None`) and `repository` (owners `Some`).
fn from_package(
    settings: &mut Settings,
    name: &str,
    package: &std::path::Path,
    allow_untrusted_root: bool,
    owners: Option<Vec<String>>,
) -> Result<(), String> {
    let sig = primary_signature(package)?;
    let (cert, kind) = match owners {
        None => {
            if sig.signature_type() != SignatureType::Author {
                return Err(format!(
                    "{} has no author primary signature",
                    package.display()
                ));
            }
            (sig.certificate().clone(), SignerKind::Author)
        }
        Some(owners) => {
            let (cert, info) = if sig.signature_type() == SignatureType::Repository {
                (sig.certificate().clone(), sig.repository_info().cloned())
            } else {
                let counter = sig
                    .repository_countersignature()
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| {
                        format!(
                            "{} has no repository signature or countersignature",
                            package.display()
                        )
                    })?;
                let cert = counter
                    .certificate()
                    .cloned()
                    .ok_or("the repository countersignature has no certificate")?;
                (cert, Some(counter.repository_info().clone()))
            };
            let info = info.ok_or("the repository signature names no service index")?;
            (
                cert,
                SignerKind::Repository {
                    service_index: info.service_index,
                    owners,
                },
            )
        }
    };
    let is_author = matches!(kind, SignerKind::Author);
    settings
        .add_trusted_signer(TrustedSigner {
            name: name.to_string(),
            kind,
            certificates: vec![CertificateEntry {
                fingerprint: hex_upper(&cert.fingerprint(HashAlgorithm::Sha256)),
                algorithm: HashAlgorithm::Sha256,
                allow_untrusted_root,
            }],
            file: PathBuf::new(),
        })
        .map_err(|e| e.to_string())?;
    settings.save().map_err(|e| e.to_string())?;
    if is_author {
        out!("Successfully added a trusted author '{name}'.");
    } else {
        out!("Successfully added a trusted repository '{name}'.");
    }
    Ok(())
}

fn certificate(
    settings: &mut Settings,
    name: &str,
    fingerprint: &str,
    algorithm: &str,
    allow_untrusted_root: bool,
) -> Result<(), String> {
    let algorithm = HashAlgorithm::from_nuget_name(algorithm).ok_or_else(|| {
        format!("'{algorithm}' is not a supported fingerprint algorithm (SHA256, SHA384, SHA512)")
    })?;
    // As `openssl x509 -fingerprint` prints it (`37:A7:…`) or with spaces: the separators go,
    // the hex stays (stored upper-case, as `trust author` writes it).
    let clean: String = fingerprint
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    let fp = clean.as_str();
    if fp.len() != algorithm.output_len() * 2 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "'{fp}' is not a {} fingerprint ({} hex digits)",
            algorithm.nuget_name(),
            algorithm.output_len() * 2
        ));
    }
    let created = settings
        .add_trusted_certificate(
            name,
            CertificateEntry {
                fingerprint: fp.to_string(),
                algorithm,
                allow_untrusted_root,
            },
        )
        .map_err(|e| e.to_string())?;
    settings.save().map_err(|e| e.to_string())?;
    if created {
        out!("Successfully added a trusted author '{name}'.");
    } else {
        out!("Successfully updated the trusted signer '{name}'.");
    }
    Ok(())
}

/// The certificates a service index announces (spec server §3.4).
/// A private feed's service index is read with the credentials of the configured source
/// whose location is `url` (nuget.config or the environment), sent to that origin only.
fn parse_log_policy(s: &str) -> Result<signet_config::LogPolicy, String> {
    signet_config::LogPolicy::parse(s).ok_or_else(|| format!("'{s}' is not off, warn or require"))
}

fn announced(
    settings: &Settings,
    url: &str,
    allow_insecure_loopback: bool,
) -> Result<(RepositorySignatures, Option<signet_feed::AnnouncedLog>), String> {
    let policy = if allow_insecure_loopback {
        HttpPolicy::LoopbackHttp
    } else {
        HttpPolicy::HttpsOnly
    };
    if !allow_insecure_loopback && !signet_signature::is_absolute_https(url) {
        return Err(format!(
            "the service index '{}' must be an absolute https URL{}",
            signet_common::Untrusted(url),
            if signet_feed::is_loopback(url) {
                " (for a local test server over plain http, add --allow-insecure-loopback)"
            } else {
                ""
            }
        ));
    }
    let base = HttpClient::new(Duration::from_secs(30), policy).map_err(|e| e.to_string())?;
    let (http, _) = crate::credentials::source_client(&base, settings, None, url)?;
    let source =
        signet_feed::Source::open(url, Arc::new(http), policy).map_err(|e| e.to_string())?;
    let rs = source.repository_signatures().cloned().ok_or_else(|| {
        format!(
            "the service index '{}' has no repository signatures resource ({}){}",
            signet_common::Untrusted(url),
            REPOSITORY_SIGNATURES.join(", "),
            if url.starts_with("http://") {
                "; a signet server announces it over plain http only with [signing] announce_repository_signatures_over_http = true (loopback development)"
            } else {
                ""
            }
        )
    })?;
    if rs.certificates.is_empty() {
        return Err(format!(
            "the repository '{url}' lists no signing certificates"
        ));
    }
    Ok((rs, source.transparency_log().cloned()))
}

fn entries_of(rs: &RepositorySignatures) -> Vec<CertificateEntry> {
    rs.certificates
        .iter()
        .flat_map(|c| c.fingerprints.iter())
        .map(|(algorithm, fp)| CertificateEntry {
            fingerprint: fp.clone(),
            algorithm: *algorithm,
            allow_untrusted_root: false,
        })
        .collect()
}

/// `--witness NAME=VKEY` and `--witness-threshold K`, checked: (label, key) pairs and K.
fn pinned_witnesses(
    args: &[String],
    threshold: Option<usize>,
    log_policy: signet_config::LogPolicy,
) -> Result<(Vec<(String, String)>, usize), String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for a in args {
        let (label, vkey) = a
            .split_once('=')
            .filter(|(l, _)| !l.trim().is_empty() && !l.contains(';'))
            .ok_or_else(|| format!("--witness takes NAME=VKEY, not '{a}'"))?;
        let key = signet_tlog::CosignatureVerifier::parse(vkey)
            .map_err(|e| format!("--witness {label}: {e}"))?;
        // One public key under two names would count twice toward the threshold.
        if out.iter().any(|(_, k)| {
            signet_tlog::CosignatureVerifier::parse(k)
                .is_ok_and(|other| other.public_key() == key.public_key())
        }) {
            return Err(format!(
                "--witness {label}: that public key is given twice (one witness counts once)"
            ));
        }
        out.push((label.trim().to_owned(), key.to_string()));
    }
    if out.is_empty() {
        return match threshold {
            Some(_) => Err("--witness-threshold needs --witness".into()),
            None => Ok((out, 0)),
        };
    }
    if log_policy == signet_config::LogPolicy::Off {
        return Err(
            "--witness needs the transparency log check on (--transparency-log warn or require)"
                .into(),
        );
    }
    let k = threshold.unwrap_or(out.len());
    if k == 0 || k > out.len() {
        return Err(format!(
            "--witness-threshold {k}: give 1 to {} (the number of --witness keys)",
            out.len()
        ));
    }
    Ok((out, k))
}

fn source(
    settings: &mut Settings,
    name: &str,
    source_url: Option<String>,
    owners: Vec<String>,
    allow_insecure_loopback: bool,
    log_policy: signet_config::LogPolicy,
    (witnesses, witness_threshold): (Vec<(String, String)>, usize),
) -> Result<(), String> {
    let url = match source_url {
        Some(u) => u,
        None if settings
            .source_defined_in(name)
            .is_some_and(|f| f.level == signet_config::Level::Directory) =>
        {
            let file = settings
                .source_defined_in(name)
                .map(|f| f.path.display().to_string())
                .unwrap_or_default();
            return Err(format!(
                "the package source '{}' is defined by {file}, a nuget.config found above the working directory; \
                 signet does not pin that URL's certificates into your user config on a checkout's word. \
                 Give the URL you mean with --source-url, or --configfile {file} to trust it in that file",
                signet_common::Untrusted(name)
            ));
        }
        None => settings
            .package_sources()
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.location)
            .ok_or_else(|| {
                format!("there is no package source named '{name}'; give --source-url")
            })?,
    };
    let (rs, log) = announced(settings, &url, allow_insecure_loopback)?;
    settings
        .add_trusted_signer(TrustedSigner {
            name: name.to_string(),
            kind: SignerKind::Repository {
                service_index: url.clone(),
                owners,
            },
            certificates: entries_of(&rs),
            file: PathBuf::new(),
        })
        .map_err(|e| e.to_string())?;
    // The feed's transparency log is pinned with its certificates: its origin and key, as
    // announced now, are what every later install checks against (issue 17).
    let pinned = match (log, log_policy) {
        (Some(log), policy) if policy != signet_config::LogPolicy::Off => {
            let key = signet_tlog::VerifierKey::parse(&log.verifier_key)
                .map_err(|e| format!("the feed's transparency log key is unusable: {e}"))?;
            if key.name() != log.origin {
                return Err(format!(
                    "the feed's transparency log key is named '{}', not its origin '{}'",
                    signet_common::Untrusted(key.name()),
                    signet_common::Untrusted(&log.origin)
                ));
            }
            settings
                .pin_transparency_log(&signet_config::PinnedLog {
                    source: name.to_string(),
                    service_index: url,
                    prefix: log.prefix.clone(),
                    verifier_key: key.to_string(),
                    policy,
                    witnesses: witnesses.clone(),
                    witness_threshold,
                })
                .map_err(|e| e.to_string())?;
            Some((log, policy))
        }
        _ if !witnesses.is_empty() => {
            return Err(format!(
                "the feed '{}' announces no transparency log: there is nothing for --witness to cosign",
                signet_common::Untrusted(&url)
            ));
        }
        _ => None,
    };
    settings.save().map_err(|e| e.to_string())?;
    out!("Successfully added a trusted repository '{name}'.");
    if let Some((log, policy)) = pinned {
        out!(
            "Pinned its transparency log {} (key {}), policy {}.",
            signet_common::Untrusted(&log.prefix),
            signet_common::Untrusted(&log.verifier_key),
            policy.as_str()
        );
        if !witnesses.is_empty() {
            out!(
                "Installs need cosignatures by {witness_threshold} of its {} pinned witnesses: {}.",
                witnesses.len(),
                witnesses
                    .iter()
                    .map(|(l, _)| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    // With package source mapping, say which packages this source may serve at all.
    let patterns: Vec<String> = settings
        .package_source_mapping()
        .into_iter()
        .filter(|(source, _)| source.eq_ignore_ascii_case(name))
        .map(|(_, pattern)| pattern)
        .collect();
    if !patterns.is_empty() {
        out!(
            "packageSourceMapping: '{}' serves only packages matching {}.",
            signet_common::Untrusted(name),
            patterns
                .iter()
                .map(|p| signet_common::Untrusted(p).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn sync(settings: &mut Settings, name: &str, allow_insecure_loopback: bool) -> Result<(), String> {
    let signer = settings
        .trusted_signers()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("There is no trusted repository named '{name}'."))?;
    let SignerKind::Repository { service_index, .. } = &signer.kind else {
        return Err(format!("'{name}' is not a trusted repository"));
    };
    let service_index = service_index.clone();
    let (rs, _) = announced(settings, &service_index, allow_insecure_loopback)?;
    settings
        .replace_repository_certificates(name, entries_of(&rs))
        .map_err(|e| e.to_string())?;
    settings.save().map_err(|e| e.to_string())?;
    out!("Successfully synchronized the trusted signer '{name}'.");
    Ok(())
}

fn print_identity(prefix: &str, id: &signet_trust::TrustedIdentity) {
    out!(
        "{prefix:<6}{} [identity]",
        signet_common::Untrusted(&id.name)
    );
    out!(
        "      Subject: {}",
        id.subject
            .iter()
            .map(|(a, v)| format!("{a}={}", signet_common::Untrusted(v)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for pin in &id.issuer_spki_sha256 {
        out!("      Issuing CA key (SPKI SHA-256): {pin}");
    }
}

/// `trust identity`: from a package's author certificate, or from `--subject` and
/// `--issuer-spki-sha256`.
fn identity(
    settings: &mut Settings,
    name: &str,
    from_package: Option<&std::path::Path>,
    attributes: Option<&str>,
    subject: Option<&str>,
    pins: &[String],
    dry_run: bool,
) -> Result<(), String> {
    let mut issuer_pins: Vec<String> = Vec::new();
    for p in pins {
        let clean: String = p.trim().chars().filter(|c| *c != ':').collect();
        if clean.len() != 64 || !clean.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("'{p}' is not a SHA-256 in hex"));
        }
        issuer_pins.push(clean.to_ascii_uppercase());
    }
    let subject: Vec<(String, String)> = match (from_package, subject) {
        (Some(_), Some(_)) => return Err("give --from-package or --subject, not both".into()),
        (None, None) => {
            return Err("give --from-package NUPKG, or --subject and --issuer-spki-sha256".into());
        }
        (None, Some(text)) => {
            let mut out = Vec::new();
            for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (a, v) = part
                    .split_once('=')
                    .ok_or_else(|| format!("'{part}' is not ATTRIBUTE=VALUE"))?;
                if signet_trust::subject_attribute_oid(a.trim()).is_none() {
                    return Err(format!("'{a}' is not a subject attribute signet matches"));
                }
                out.push((a.trim().to_string(), v.trim().to_string()));
            }
            out
        }
        (Some(package), None) => {
            let (leaf, bag) = author_certificates(package)?;
            let have = signet_trust::named_subject_attributes(&leaf);
            let wanted: Vec<String> = match attributes {
                Some(list) => list
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect(),
                None => [
                    "O",
                    "CN",
                    "serialNumber",
                    "jurisdictionC",
                    "jurisdictionST",
                    "jurisdictionL",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            };
            let mut out = Vec::new();
            for w in &wanted {
                if signet_trust::subject_attribute_oid(w).is_none() {
                    return Err(format!("'{w}' is not a subject attribute signet matches"));
                }
                match have.iter().find(|(a, _)| a.eq_ignore_ascii_case(w)) {
                    Some(pair) => out.push(pair.clone()),
                    None if attributes.is_some() => {
                        return Err(format!("the certificate's subject has no {w}"));
                    }
                    None => {}
                }
            }
            if !out.iter().any(|(a, _)| a == "O") {
                err!(
                    "warn : the certificate's subject has no O (organization): the identity rests on the common name alone"
                );
            }
            if issuer_pins.is_empty() {
                let issuer = bag
                    .iter()
                    .find(|c| leaf.is_signed_by(c))
                    .ok_or("the signature does not include the certificate of the CA that issued the author certificate; give --issuer-spki-sha256")?;
                issuer_pins.push(
                    signet_trust::spki_sha256(issuer).ok_or("cannot encode the issuer's key")?,
                );
                out!(
                    "Issuing CA: {}",
                    signet_common::Untrusted(&issuer.subject())
                );
            }
            out
        }
    };
    if subject.is_empty() {
        return Err("no subject attribute to match".into());
    }
    if issuer_pins.is_empty() {
        return Err("give --issuer-spki-sha256: an identity without a pinned issuing CA would trust that name from any CA".into());
    }
    let id = signet_trust::TrustedIdentity {
        name: name.to_string(),
        subject,
        issuer_spki_sha256: issuer_pins,
    };
    out!("This identity matches author certificates whose subject has:");
    print_identity("", &id);
    out!(
        "It matches renewals by the same CA key; the same subject from another CA does not match."
    );
    if dry_run {
        return Ok(());
    }
    settings
        .add_trusted_identity(&id)
        .map_err(|e| e.to_string())?;
    settings.save().map_err(|e| e.to_string())?;
    out!(
        "Successfully added a trusted identity '{}'.",
        signet_common::Untrusted(name)
    );
    Ok(())
}

/// The author certificate of a signed package and the signature's other certificates.
fn author_certificates(
    package: &std::path::Path,
) -> Result<
    (
        signet_signature::Certificate,
        Vec<signet_signature::Certificate>,
    ),
    String,
> {
    let sig = primary_signature(package)?;
    if sig.signature_type() != SignatureType::Author {
        return Err(format!(
            "{} has no author primary signature",
            package.display()
        ));
    }
    Ok((sig.certificate().clone(), sig.certificates().to_vec()))
}

/// The primary signature of a signed package file.
fn primary_signature(package: &std::path::Path) -> Result<PrimarySignature, String> {
    crate::inputs::expand_packages(&[package.to_path_buf()])?;
    let file = std::fs::File::open(package)
        .map_err(|e| format!("cannot open {}: {e}", package.display()))?;
    let mut pkg = signet_nupkg::Package::open(std::io::BufReader::new(file), &Default::default())
        .map_err(|e| format!("{}: {e}", package.display()))?;
    let bytes = pkg
        .read_signature()
        .map_err(|e| format!("{}: {e}", package.display()))?
        .ok_or_else(|| format!("NU3004: {} is not signed", package.display()))?;
    PrimarySignature::load(&bytes, &Limits::default())
        .map_err(|e| format!("{}: {e}", package.display()))
}
