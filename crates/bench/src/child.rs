//! The bench re-executed as its own child (hidden `--child-*` options), so that what is
//! measured starts in a fresh process, as one `signet verify` invocation does:
//!
//! - `--child-verify`: exactly the library calls `signet verify` makes, then the process's own
//!   peak RSS (`VmHWM` in `/proc/self/status`) — a memory figure that cannot miss a short-lived
//!   process the way polling another process's status can;
//! - `--child-phases`: the same work split into timed phases, to explain the totals.
//!
//! Output is one `key<TAB>value` line per figure, read back by [`parse`].

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use signet_common::{HashAlgorithm, UtcTime};
use signet_nupkg::Package;
use signet_signature::{Certificate, PrimarySignature, oids};
use signet_trust::{
    ContentHash, RevocationMode, TrustStore, VerifierSettings, VerifyOptions, build_chain,
    verify_package,
};

use crate::cmd::Cmd;

/// Key of the peak-RSS line.
const VMHWM: &str = "vmhwm_kib";
/// Prefix of the phase lines.
const PHASE: &str = "phase:";

/// The trust store `signet verify` builds: the bundled snapshot plus an optional PEM of roots
/// (what `--trust-roots` does).
fn trust_store(roots: Option<&Path>) -> Result<TrustStore> {
    let mut store = TrustStore::bundled()?;
    if let Some(path) = roots {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let certs = Certificate::from_pem_bundle(&pem)?;
        store.add_roots(certs, &path.display().to_string());
    }
    Ok(store)
}

/// The options `signet verify` uses without `--content-hash`.
fn options() -> VerifyOptions {
    let mut options = VerifyOptions::new(
        VerifierSettings::verify_command(RevocationMode::Offline),
        UtcTime::now(),
    );
    options.content_hash = ContentHash::Skip;
    options
}

fn open(package: &Path) -> Result<BufReader<File>> {
    let file = File::open(package).with_context(|| format!("cannot open {}", package.display()))?;
    Ok(BufReader::new(file))
}

/// `--child-verify`: verify as the CLI does, fail unless valid, print the peak RSS.
pub fn verify(package: &Path, roots: Option<&Path>) -> Result<()> {
    let trust = trust_store(roots)?;
    let report = verify_package(open(package)?, &trust, &options());
    if !report.valid {
        bail!(
            "{} did not verify: {:?} {:?}",
            package.display(),
            report.status,
            report.issues
        );
    }
    println!("{VMHWM}\t{}", own_vmhwm_kib()?);
    Ok(())
}

/// The process's peak resident set size in KiB, from `/proc/self/status`.
fn own_vmhwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM line in /proc/self/status")
}

/// Times `f` and prints it as a phase line.
fn phase<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let value = f()?;
    println!("{PHASE}{name}\t{}", start.elapsed().as_nanos());
    Ok(value)
}

/// Streams the signature-stripped package into `sink`, as the integrity check does.
fn stream<R: Read + Seek>(pkg: &mut Package<R>, sink: &mut dyn FnMut(&[u8])) -> Result<()> {
    pkg.stream_stripped(sink)?;
    Ok(())
}

/// `--child-phases`: the verification split into phases, in a cold process. Phase names are
/// the rows of the breakdown tables; "verify_package (whole)" runs last, after the others have
/// warmed lazily initialised state, so it is a slight underestimate of a cold run.
pub fn phases(package: &Path, roots: Option<&Path>) -> Result<()> {
    let trust = phase("trust store (bundled roots index + --trust-roots)", || {
        trust_store(roots)
    })?;
    // Again in the same process: the bundled DER is now paged in, so what remains is the
    // indexing itself; the difference is the cost of first touching ~1 MB of roots.
    phase("  same again, roots already paged in", || {
        Ok(black_box(trust_store(roots)?))
    })?;
    let mut pkg = phase("Package::open (EOCD, central directory)", || {
        Ok(Package::open(
            open(package)?,
            &signet_nupkg::Limits::default(),
        )?)
    })?;
    phase("nuspec", || Ok(black_box(pkg.nuspec()?)))?;
    let bytes = phase("read_signature", || {
        pkg.read_signature()?.context("the package is not signed")
    })?;
    let primary = phase("PrimarySignature::load (BER, CMS, attributes)", || {
        Ok(PrimarySignature::load(
            &bytes,
            &signet_signature::Limits::default(),
        )?)
    })?;
    phase("primary CMS signature check (RSA)", || {
        Ok(black_box(primary.verify_signature_value().is_ok()))
    })?;
    phase("primary signer chain build", || {
        Ok(black_box(build_chain(
            primary.certificate(),
            primary.certificates(),
            trust.code_signing(),
            &oids::EKU_CODE_SIGNING,
        )))
    })?;
    let counter = phase("countersignature parse", || {
        Ok(primary.repository_countersignature()?)
    })?;
    if let Some(counter) = &counter {
        phase("countersignature CMS check (RSA)", || {
            Ok(black_box(counter.verify_signature_value(&primary).is_ok()))
        })?;
        if let Some(cert) = counter.certificate() {
            phase("countersigner chain build", || {
                Ok(black_box(build_chain(
                    cert,
                    primary.certificates(),
                    trust.code_signing(),
                    &oids::EKU_CODE_SIGNING,
                )))
            })?;
        }
    }
    let timestamps = phase("timestamp tokens parse", || {
        let mut all = Vec::new();
        all.extend(primary.first_timestamp()?);
        if let Some(counter) = &counter {
            all.extend(counter.first_timestamp()?);
        }
        Ok(all)
    })?;
    if !timestamps.is_empty() {
        phase("timestamp TSA chain builds", || {
            for ts in &timestamps {
                black_box(build_chain(
                    ts.certificate(),
                    ts.certificates(),
                    trust.timestamping(),
                    &oids::EKU_TIME_STAMPING,
                ));
            }
            Ok(())
        })?;
    }
    phase("stream stripped package, no hash (I/O)", || {
        let mut n = 0usize;
        stream(&mut pkg, &mut |b| n += b.len())?;
        Ok(black_box(n))
    })?;
    let alg = primary.content().hash_algorithm();
    phase("integrity as verify: package hash", || {
        let mut h = alg.hasher();
        stream(&mut pkg, &mut |b| h.update(b))?;
        Ok(black_box(h.finish()))
    })?;
    phase("SHA-512 content hash alone (--content-hash only)", || {
        let mut h = HashAlgorithm::Sha512.hasher();
        stream(&mut pkg, &mut |b| h.update(b))?;
        Ok(black_box(h.finish()))
    })?;
    let options = options();
    phase("verify_package (whole)", || {
        let report = verify_package(open(package)?, &trust, &options);
        if !report.valid {
            bail!("{} did not verify: {:?}", package.display(), report.issues);
        }
        Ok(())
    })?;
    Ok(())
}

/// One child run's figures.
#[derive(Debug, Default)]
pub struct ChildOutput {
    pub vmhwm_kib: Option<u64>,
    /// Phase name and duration, in the order the child ran them.
    pub phases: Vec<(String, Duration)>,
}

/// Runs `child` and reads its `key<TAB>value` lines.
pub fn parse(child: &Cmd) -> Result<ChildOutput> {
    let text = child.stdout()?;
    let mut out = ChildOutput::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('\t') else {
            continue;
        };
        let number: u64 = value
            .parse()
            .with_context(|| format!("bad child output line {line:?}"))?;
        if key == VMHWM {
            out.vmhwm_kib = Some(number);
        } else if let Some(name) = key.strip_prefix(PHASE) {
            out.phases
                .push((name.to_owned(), Duration::from_nanos(number)));
        }
    }
    Ok(out)
}

/// Median of each phase over several child runs, in the order of the first run.
pub fn median_phases(runs: &[ChildOutput]) -> Vec<(String, Duration)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .phases
        .iter()
        .filter_map(|(name, _)| {
            let samples: Vec<Duration> = runs
                .iter()
                .filter_map(|r| r.phases.iter().find(|(n, _)| n == name).map(|(_, d)| *d))
                .collect();
            crate::stats::Summary::of(&samples).map(|s| (name.clone(), s.median))
        })
        .collect()
}

/// verify_package's time outside the phases it shares with the breakdown (open, nuspec,
/// signature read and load, integrity): the trust checks — CMS signatures, timestamps, chains.
pub fn trust_remainder(phases: &[(String, Duration)]) -> Option<Duration> {
    let get = |name: &str| {
        phases
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, d)| *d)
    };
    let whole = get("verify_package")?;
    let shared = [
        "Package::open",
        "nuspec",
        "read_signature",
        "PrimarySignature::load",
        "integrity as verify",
    ]
    .iter()
    .map(|n| get(n))
    .sum::<Option<Duration>>()?;
    Some(whole.saturating_sub(shared))
}
