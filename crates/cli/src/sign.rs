//! `signet sign`: author-sign packages, writing each output atomically.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use clap::Args;
use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_keys::Signer;
use signet_signature::{Certificate, SignatureKind, SignatureRequest, build_primary_signature};
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
    key: KeyArgs,
    /// Hash algorithm for the package hash and the signature: SHA256, SHA384 or SHA512.
    #[arg(long = "hash-algorithm", default_value = "SHA256", value_parser = parse_hash)]
    hash_algorithm: HashAlgorithm,
    /// RFC 3161 timestamp authority URL (http or https). Without it the signature stops being
    /// valid when the certificate expires (NU3002).
    #[arg(long = "timestamper", value_name = "URL")]
    timestamper: Option<String>,
    /// Hash algorithm of the timestamp request: SHA256, SHA384 or SHA512.
    #[arg(long = "timestamp-hash-algorithm", default_value = "SHA256", value_parser = parse_hash)]
    timestamp_hash_algorithm: HashAlgorithm,
    /// Seconds to wait for the timestamp authority.
    #[arg(
        long = "timestamp-timeout",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    timestamp_timeout: u64,
    /// Directory for the signed packages (created if missing); default: replace the input.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
    /// Replace an existing signature (and any repository countersignature).
    #[arg(long)]
    overwrite: bool,
    /// Sign even when the certificate chain ends in an untrusted root (a warning instead of
    /// NU3018). Verifiers will still need the root.
    #[arg(long = "allow-untrusted-root")]
    allow_untrusted_root: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

pub fn parse_hash(s: &str) -> Result<HashAlgorithm, String> {
    HashAlgorithm::from_nuget_name(s)
        .ok_or_else(|| format!("'{s}' is not one of SHA256, SHA384, SHA512"))
}

pub fn run(args: SignArgs) -> u8 {
    let signer = match args.key.load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", e.code().unwrap_or(NuCode::NU3001));
            return EXIT_FAILED;
        }
    };
    let trust = match args.trust.store() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
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
            eprintln!(
                "error: {}: the signing certificate cannot be read: {e}",
                NuCode::NU3001
            );
            return EXIT_FAILED;
        }
    };
    let Some(leaf) = chain.first() else {
        eprintln!(
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
    if args.allow_untrusted_root {
        eprintln!(
            "warn : --allow-untrusted-root: verifiers must be given this certificate's root to trust the signature"
        );
    }
    let timestamper = match &args.timestamper {
        Some(url) => {
            out!("Timestamping package(s) with:\n{url}");
            match signet_tsa::HttpTransport::new(std::time::Duration::from_secs(
                args.timestamp_timeout.max(1),
            )) {
                Ok(t) => Some((url.as_str(), t)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
        None => {
            print_issue(&signet_trust::Issue {
                code: Some(NuCode::NU3002),
                severity: signet_common::Severity::Warning,
                message: "The '--timestamper' option was not provided. The signed package will not be timestamped \
                          and the signature will not be valid once the certificate expires."
                    .into(),
            });
            None
        }
    };
    let timestamper = timestamper.as_ref().map(|(url, t)| Timestamper {
        url,
        transport: t,
        algorithm: args.timestamp_hash_algorithm,
        trust: &trust,
    });
    if let Some(dir) = &args.output
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!(
            "error: cannot create output directory {}: {e}",
            dir.display()
        );
        return EXIT_USAGE;
    }
    let mut failed = false;
    for package in &args.packages {
        let dest = match &args.output {
            Some(dir) => dir.join(package.file_name().unwrap_or(package.as_os_str())),
            None => package.clone(),
        };
        match sign_one(
            package,
            &dest,
            &args,
            signer.as_ref(),
            timestamper.as_ref(),
            now,
        ) {
            Ok(()) => {}
            Err((code, msg)) => {
                eprintln!("error: {code}: {}: {msg}", package.display());
                failed = true;
            }
        }
    }
    if failed {
        return EXIT_FAILED;
    }
    let out_dir = match &args.output {
        Some(d) => d.display().to_string(),
        None => args
            .packages
            .first()
            .and_then(|p| p.parent())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    out!("Signed package(s) output path:\n{out_dir}");
    out!("Package(s) signed successfully.");
    EXIT_OK
}

type SignError = (NuCode, String);

fn nupkg_err(e: signet_nupkg::Error) -> SignError {
    (e.code().unwrap_or(NuCode::NU3001), e.to_string())
}

/// Where and how to timestamp signatures.
struct Timestamper<'a> {
    url: &'a str,
    transport: &'a signet_tsa::HttpTransport,
    algorithm: HashAlgorithm,
    trust: &'a signet_trust::TrustStore,
}

impl Timestamper<'_> {
    /// Timestamps the signature value of `signature` (spec §3.6) and attaches the token.
    fn apply(&self, signature: Vec<u8>, now: UtcTime) -> Result<Vec<u8>, SignError> {
        let loaded = signet_signature::PrimarySignature::load(
            &signature,
            &signet_signature::Limits::default(),
        )
        .map_err(|e| (e.code(), e.to_string()))?;
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| {
            (
                NuCode::NU3001,
                "no randomness available for the timestamp nonce".to_string(),
            )
        })?;
        let token = signet_tsa::request_timestamp(
            self.url,
            loaded.signature_value(),
            self.algorithm,
            nonce,
            self.transport,
            self.trust,
            now,
        )
        .map_err(|e| {
            (
                e.code().unwrap_or(NuCode::NU3001),
                format!("timestamping failed: {e}"),
            )
        })?;
        signet_signature::add_timestamp(&signature, token.der())
            .map_err(|e| (e.code(), e.to_string()))
    }
}

/// Signs one package; on any error nothing is written (the temp file is discarded).
fn sign_one(
    input: &Path,
    dest: &Path,
    args: &SignArgs,
    signer: &dyn Signer,
    timestamper: Option<&Timestamper<'_>>,
    now: UtcTime,
) -> Result<(), SignError> {
    let limits = signet_nupkg::Limits::default();
    let file =
        File::open(input).map_err(|e| (NuCode::NU3001, format!("cannot open the package: {e}")))?;
    let mut pkg = signet_nupkg::Package::open(BufReader::new(file), &limits).map_err(nupkg_err)?;
    let dest_dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The unsigned bytes to sign: the input itself, or the input with its signature removed.
    let mut unsigned: Box<dyn ReadSeek> = if pkg.has_signature_entry() {
        if !args.overwrite {
            return Err((
                NuCode::NU3001,
                "the package is already signed; use --overwrite to replace its signature".into(),
            ));
        }
        let mut tmp = tempfile::tempfile_in(&dest_dir).map_err(|e| {
            (
                NuCode::NU3001,
                format!("cannot create a temporary file: {e}"),
            )
        })?;
        let reader = pkg.into_inner();
        signet_nupkg::remove_signature(reader, &mut tmp, &limits).map_err(nupkg_err)?;
        tmp.seek(SeekFrom::Start(0))
            .map_err(|e| (NuCode::NU3001, e.to_string()))?;
        Box::new(BufReader::new(tmp))
    } else {
        if pkg.is_zip64().map_err(nupkg_err)? {
            return Err((
                NuCode::NU3006,
                "Signed Zip64 packages are not supported.".into(),
            ));
        }
        Box::new(pkg.into_inner())
    };
    // Hash the whole unsigned file (spec §1.6, signing side).
    unsigned
        .seek(SeekFrom::Start(0))
        .map_err(|e| (NuCode::NU3001, e.to_string()))?;
    let mut hasher = args.hash_algorithm.hasher();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = unsigned
            .read(&mut buf)
            .map_err(|e| (NuCode::NU3001, format!("cannot read the package: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    let request = SignatureRequest {
        kind: SignatureKind::Author,
        hash_algorithm: args.hash_algorithm,
        package_hash: hasher.finish(),
        signing_time: now,
    };
    let mut signature =
        build_primary_signature(&request, signer).map_err(|e| (e.code(), e.to_string()))?;
    if let Some(ts) = timestamper {
        signature = ts.apply(signature, now)?;
    }
    unsigned
        .seek(SeekFrom::Start(0))
        .map_err(|e| (NuCode::NU3001, e.to_string()))?;
    let mut out = tempfile::NamedTempFile::new_in(&dest_dir).map_err(|e| {
        (
            NuCode::NU3001,
            format!("cannot create the output file: {e}"),
        )
    })?;
    let (y, mo, d, h, mi, s, _) = now.to_civil();
    let dos = signet_nupkg::dos_date_time(u16::try_from(y).unwrap_or(1980), mo, d, h, mi, s);
    {
        let mut w = std::io::BufWriter::new(out.as_file_mut());
        signet_nupkg::append_signature(unsigned, &signature, dos, &mut w, &limits)
            .map_err(nupkg_err)?;
        std::io::Write::flush(&mut w)
            .map_err(|e| (NuCode::NU3001, format!("cannot write the output: {e}")))?;
    }
    out.as_file()
        .sync_all()
        .map_err(|e| (NuCode::NU3001, format!("cannot write the output: {e}")))?;
    // Keep the input's permissions (the temporary file is created private).
    if let Ok(meta) = std::fs::metadata(input) {
        let _ = std::fs::set_permissions(out.path(), meta.permissions());
    }
    out.persist(dest).map_err(|e| {
        (
            NuCode::NU3001,
            format!("cannot write {}: {}", dest.display(), e.error),
        )
    })?;
    Ok(())
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}
