//! `signet sign`: author-sign packages, writing each output atomically.

use std::path::PathBuf;

use clap::Args;
use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_signature::Certificate;
use signet_trust::{UntrustedRootPolicy, check_signing_certificate};

use crate::key_args::KeyArgs;
use crate::output::{print_certificate_block, print_issue};
use crate::trust_args::TrustArgs;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Options of `signet sign`, named as in `dotnet nuget sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// Packages to sign.
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
    #[command(flatten)]
    signing: SigningArgs,
}

/// The options every signing command shares (`sign`, `repo-sign`).
#[derive(Args, Debug)]
pub struct SigningArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Hash algorithm for the package hash and the signature: SHA256, SHA384 or SHA512.
    #[arg(long = "hash-algorithm", default_value = "SHA256", value_parser = parse_hash)]
    pub hash_algorithm: HashAlgorithm,
    /// RFC 3161 timestamp authority URL (http or https). Without it the signature stops being
    /// valid when the certificate expires (NU3002).
    #[arg(long = "timestamper", value_name = "URL")]
    pub timestamper: Option<String>,
    /// Hash algorithm of the timestamp request: SHA256, SHA384 or SHA512.
    #[arg(long = "timestamp-hash-algorithm", default_value = "SHA256", value_parser = parse_hash)]
    pub timestamp_hash_algorithm: HashAlgorithm,
    /// Seconds to wait for the timestamp authority.
    #[arg(
        long = "timestamp-timeout",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub timestamp_timeout: u64,
    /// Directory for the signed packages (created if missing); default: replace the input.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Replace an existing signature (`sign`: the whole signature; `repo-sign`: the repository
    /// countersignature).
    #[arg(long)]
    pub overwrite: bool,
    /// Sign even when the certificate chain ends in an untrusted root (a warning instead of
    /// NU3018). Verifiers will still need the root.
    #[arg(long = "allow-untrusted-root")]
    pub allow_untrusted_root: bool,
    #[command(flatten)]
    pub trust: TrustArgs,
}

pub fn parse_hash(s: &str) -> Result<HashAlgorithm, String> {
    HashAlgorithm::from_nuget_name(s)
        .ok_or_else(|| format!("'{s}' is not one of SHA256, SHA384, SHA512"))
}

pub fn run(args: SignArgs) -> u8 {
    let op = signet_sign::Operation::Author {
        hash_algorithm: args.signing.hash_algorithm,
        overwrite: args.signing.overwrite,
    };
    run_signing(&args.signing, &args.packages, &op)
}

/// Loads and checks the key (spec §5.10), then signs every package with `op`.
pub fn run_signing(args: &SigningArgs, packages: &[PathBuf], op: &signet_sign::Operation) -> u8 {
    // Inputs first: a wrong path is said before any key is loaded or banner printed.
    let packages = match crate::inputs::expand_packages(packages) {
        Ok(p) => p,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let signer = match args.key.load() {
        Ok(s) => s,
        Err(e) => {
            err!("error: {}: {e}", e.code().unwrap_or(NuCode::NU3001));
            return EXIT_FAILED;
        }
    };
    let trust = match args.trust.store().map(std::sync::Arc::new) {
        Ok(t) => t,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let chain: Vec<Certificate> = match signer
        .certificate_chain()
        .iter()
        .map(|d| Certificate::from_der(d))
        .collect()
    {
        Ok(c) => c,
        Err(e) => {
            err!(
                "error: {}: the signing certificate cannot be read: {e}",
                NuCode::NU3001
            );
            return EXIT_FAILED;
        }
    };
    let Some(leaf) = chain.first() else {
        err!(
            "error: {}: the signing key has no certificate",
            NuCode::NU3001
        );
        return EXIT_FAILED;
    };
    let now = UtcTime::now();
    let policy = if args.allow_untrusted_root {
        UntrustedRootPolicy::DangerousAllow
    } else {
        UntrustedRootPolicy::Reject
    };
    out!("Signing package(s) with certificate:");
    print_certificate_block(
        &signet_trust::CertificateInfo::from_certificate(leaf),
        "  ",
        true,
    );
    match check_signing_certificate(leaf, &chain, &trust, now, policy) {
        Ok(warnings) => warnings.iter().for_each(print_issue),
        Err(errors) => {
            errors.iter().for_each(print_issue);
            return EXIT_FAILED;
        }
    }
    // Revocation of the signer's chain, online unless NUGET_CERT_REVOCATION_MODE=offline, as
    // NuGet's signer builds it (a revoked certificate cannot sign).
    let mode = signet_trust::RevocationMode::from_env_value(
        std::env::var("NUGET_CERT_REVOCATION_MODE").ok().as_deref(),
        signet_trust::RevocationMode::Online,
    );
    let checker =
        signet_trust::RevocationChecker::http(signet_trust::RevocationSettings::default());
    match signet_trust::check_signing_revocation(leaf, &chain, &trust, &checker, mode, now) {
        Ok(warnings) => warnings.iter().for_each(print_issue),
        Err(errors) => {
            errors.iter().for_each(print_issue);
            return EXIT_FAILED;
        }
    }
    if args.allow_untrusted_root {
        err!(
            "warn : --allow-untrusted-root: verifiers must be given this certificate's root to trust the signature"
        );
    }
    let timestamper = match timestamper(
        args.timestamper.as_deref(),
        args.timestamp_hash_algorithm,
        args.timestamp_timeout,
        &trust,
    ) {
        Ok(t) => t,
        Err(code) => return code,
    };
    // One authority for the whole run: after it fails once, the remaining packages are not
    // made to wait for it again.
    let timestamper = timestamper.map(|inner| RunTimestamper {
        inner,
        failed: std::sync::Mutex::new(None),
    });
    let opts = signet_sign::SignOptions {
        signer: signer.as_ref(),
        timestamper: timestamper
            .as_ref()
            .map(|t| t as &dyn signet_sign::TimestampClient),
        now,
        limits: signet_nupkg::Limits::default(),
    };
    if let Some(dir) = &args.output
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        err!(
            "error: cannot create output directory {}: {e}",
            dir.display()
        );
        return EXIT_USAGE;
    }
    let (mut signed, mut failed) = (Vec::new(), Vec::new());
    for package in &packages {
        let dest = match &args.output {
            Some(dir) => dir.join(package.file_name().unwrap_or(package.as_os_str())),
            // A link is not replaced by a signed copy: its target is signed in place.
            None => match std::fs::symlink_metadata(package) {
                Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(package) {
                    Ok(target) => {
                        out!(
                            "  {} is a symbolic link: signing its target {}",
                            package.display(),
                            target.display()
                        );
                        target
                    }
                    Err(e) => {
                        err!("error: {}: cannot resolve the link: {e}", package.display());
                        failed.push(package.clone());
                        continue;
                    }
                },
                _ => package.clone(),
            },
        };
        let source = if dest == *package || args.output.is_some() {
            package.clone()
        } else {
            dest.clone()
        };
        match signet_sign::sign_file(&source, &dest, op, &opts) {
            Ok(_) => {
                let shown = std::fs::canonicalize(&dest).unwrap_or(dest);
                out!("  Signed {}", shown.display());
                signed.push(shown);
            }
            Err(e) => {
                err!("error: {}: {}: {}", e.code, package.display(), e.message);
                failed.push(package.clone());
            }
        }
    }
    if let Some(d) = &args.output {
        let full = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
        out!("Signed package(s) output path:\n{}", full.display());
    }
    if failed.is_empty() {
        out!("Package(s) signed successfully.");
        return EXIT_OK;
    }
    out!(
        "{} package(s): {} signed, {} failed ({}).",
        packages.len(),
        signed.len(),
        failed.len(),
        failed
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    EXIT_FAILED
}

/// A timestamp authority used for one run: once it has failed, the packages after are told
/// so at once instead of each waiting for its timeout again (200 packages against a dead
/// authority would otherwise take the timeout 200 times).
struct RunTimestamper {
    inner: Box<dyn signet_sign::TimestampClient>,
    failed: std::sync::Mutex<Option<String>>,
}

impl signet_sign::TimestampClient for RunTimestamper {
    fn timestamp(
        &self,
        signature_value: &[u8],
        now: UtcTime,
    ) -> Result<Vec<u8>, signet_sign::Error> {
        if let Ok(f) = self.failed.lock()
            && let Some(first) = f.as_ref()
        {
            return Err(signet_sign::Error::new(
                NuCode::NU3001,
                format!(
                    "not asked again: the timestamp authority {} failed earlier in this run ({first})",
                    self.inner.describe()
                ),
            ));
        }
        let r = self.inner.timestamp(signature_value, now);
        if let Err(e) = &r
            && let Ok(mut f) = self.failed.lock()
        {
            *f = Some(e.message.clone());
        }
        r
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// The timestamper for `--timestamper`, or the NU3002 warning without one. `Err` holds the
/// exit code after an error was printed.
pub fn timestamper(
    url: Option<&str>,
    algorithm: HashAlgorithm,
    timeout_secs: u64,
    trust: &std::sync::Arc<signet_trust::TrustStore>,
) -> Result<Option<Box<dyn signet_sign::TimestampClient>>, u8> {
    let Some(url) = url else {
        print_issue(&signet_trust::Issue {
            code: Some(NuCode::NU3002),
            severity: signet_common::Severity::Warning,
            message: "The '--timestamper' option was not provided. The signed package will not be timestamped \
                      and the signature will not be valid once the certificate expires."
                .into(),
        });
        return Ok(None);
    };
    out!("Timestamping package(s) with:\n{url}");
    match signet_tsa::HttpTransport::new(std::time::Duration::from_secs(timeout_secs.max(1))) {
        Ok(transport) => Ok(Some(Box::new(signet_sign::TsaTimestamper::new(
            url,
            transport,
            algorithm,
            trust.clone(),
        )))),
        Err(e) => {
            err!("error: {e}");
            Err(EXIT_USAGE)
        }
    }
}
