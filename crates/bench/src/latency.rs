//! Part 1: `signet verify --all` per process invocation over the NuGet.org-signed fixtures,
//! against `openssl cms -verify -noverify` on the same signature files.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use signet_nupkg::Package;
use signet_signature::PrimarySignature;

use crate::Tools;
use crate::child::{self, ChildOutput};
use crate::cmd::Cmd;
use crate::stats::{Summary, ms};

/// The NuGet.org-signed fixtures of `../shared/interop/packages` that verify with the bundled
/// roots (the others are deliberately broken samples).
const PACKAGES: [&str; 15] = [
    "nuget.versioning.5.0.0",
    "TestPackage.AuthorSigned.1.0.0",
    "newtonsoft.json.13.0.4",
    "microsoft.aspnet.webpages.3.3.0",
    "jquery.2.1.1",
    "basetestpackage.1.0.0",
    "Microsoft.Bcl.AsyncInterfaces.8.0.0",
    "Microsoft.Extensions.DependencyModel.8.0.1",
    "Serilog.Sinks.Debug.3.0.0",
    "IronSoftware.System.Drawing.2022.9.8843",
    "Newtonsoft.Json.Bson.1.0.2",
    "xunit.abstractions.2.0.3",
    "Google.Protobuf.3.23.3",
    "K4os.Hash.xxHash.1.0.8",
    "MySql.Data.8.0.33",
];

/// The typical package: ~107 kB, author signature, repository countersignature and
/// two timestamps.
const TYPICAL: &str = "nuget.versioning.5.0.0";
/// Target for one `signet verify --all` invocation on [`TYPICAL`].
const TARGET: Duration = Duration::from_millis(5);
/// Cold child processes behind the phase breakdown of [`TYPICAL`].
const PHASE_RUNS: usize = 15;

/// `../shared/interop/packages`, from this crate's manifest directory.
fn packages_dir() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop/packages");
    if !dir.is_dir() {
        bail!(
            "the NuGet.org fixtures were not found at {} (../shared must sit beside the \
             repository)",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

struct Row {
    name: &'static str,
    size: u64,
    signet: Summary,
    openssl: Summary,
}

pub fn run(tools: &Tools, runs: usize, scratch: &Path) -> Result<()> {
    let dir = packages_dir()?;
    println!("== 1. Per-invocation latency: NuGet.org-signed fixtures ==");
    println!("fixtures: {}", dir.display());
    println!(
        "signet:   {} verify --all --revocation-mode offline <package>.nupkg",
        tools.signet.display()
    );
    println!(
        "openssl:  openssl cms -verify -noverify -inform DER -binary -in <package>.signature.p7s \
         -out /dev/null"
    );
    println!(
        "          (the package's own signature entry, extracted once with \
         signet_nupkg::Package::read_signature)"
    );
    println!(
        "{runs} runs of each per package, interleaved (alternating which goes first); wall time \
         per process, spawn to exit, output discarded"
    );
    let floor_signet = Cmd::new(&tools.signet).arg("--version");
    let floor_openssl = Cmd::new("openssl").arg("version");
    let (floor_s, floor_o) = interleaved(&floor_signet, &floor_openssl, runs)?;
    let floor_true = Summary::of(
        &(0..runs)
            .map(|_| Cmd::new("true").time())
            .collect::<Result<Vec<_>>>()?,
    )
    .context("no runs (use --runs 1 or more)")?;
    println!(
        "process floor on this machine: `true` median {} ms, `signet --version` median {} ms, \
         `openssl version` median {} ms",
        ms(floor_true.median),
        ms(floor_s.median),
        ms(floor_o.median)
    );
    println!();
    println!(
        "{:<43} {:>8} {:>11} {:>8} {:>12} {:>8} {:>8}",
        "package", "size kB", "signet med", "min", "openssl med", "min", "ratio"
    );
    let mut rows = Vec::new();
    for name in PACKAGES {
        let package = dir.join(format!("{name}.nupkg"));
        let size = std::fs::metadata(&package)
            .with_context(|| format!("missing fixture {}", package.display()))?
            .len();
        let p7s = scratch.join(format!("{name}.signature.p7s"));
        std::fs::write(&p7s, read_signature(&package)?)?;
        // Offline revocation: a benchmark never reaches the fixtures' public responders.
        let signet = Cmd::new(&tools.signet)
            .arg("verify")
            .arg("--all")
            .arg("--revocation-mode")
            .arg("offline")
            .arg(&package);
        let openssl = Cmd::new("openssl")
            .arg("cms")
            .arg("-verify")
            .arg("-noverify")
            .arg("-inform")
            .arg("DER")
            .arg("-binary")
            .arg("-in")
            .arg(&p7s)
            .arg("-out")
            .arg("/dev/null");
        let (s, o) = interleaved(&signet, &openssl, runs)?;
        println!(
            "{:<43} {:>8.0} {:>11} {:>8} {:>12} {:>8} {:>7.2}×",
            name,
            size as f64 / 1000.0,
            ms(s.median),
            ms(s.min),
            ms(o.median),
            ms(o.min),
            s.median.as_secs_f64() / o.median.as_secs_f64()
        );
        rows.push(Row {
            name,
            size,
            signet: s,
            openssl: o,
        });
    }
    println!("(ms; ratio = signet median / openssl median; openssl checks the CMS signature only)");
    println!();

    let Some(typical) = rows.iter().find(|r| r.name == TYPICAL) else {
        bail!("{TYPICAL} missing from the fixture list");
    };
    let package = dir.join(format!("{TYPICAL}.nupkg"));
    let verdict = if typical.signet.median < TARGET {
        "PASS"
    } else {
        "FAIL"
    };
    println!(
        "typical package {TYPICAL} ({:.0} kB; {}): signet verify median {} ms (min {}), \
         openssl cms median {} ms",
        typical.size as f64 / 1000.0,
        describe_signatures(&package)?,
        ms(typical.signet.median),
        ms(typical.signet.min),
        ms(typical.openssl.median)
    );
    println!(
        "  target < {} ms per invocation: {verdict}   (NuGet itself: ~66 ms per package on \
         Linux, per the issue)",
        TARGET.as_millis()
    );
    println!(
        "  of the median, creating any process (`true`) takes {} ms here: signet's own share \
         is about {} ms",
        ms(floor_true.median),
        ms(typical.signet.median.saturating_sub(floor_true.median))
    );
    println!();

    let child = Cmd::new(&tools.bench).arg("--child-phases").arg(&package);
    let outputs = (0..PHASE_RUNS)
        .map(|_| child::parse(&child))
        .collect::<Result<Vec<ChildOutput>>>()?;
    println!(
        "phase breakdown for {TYPICAL}: the same library calls timed inside {PHASE_RUNS} cold \
         processes (`signet-bench --child-phases`), median ms"
    );
    let phases = child::median_phases(&outputs);
    for (name, d) in &phases {
        println!("  {name:<58} {:>8}", ms(*d));
    }
    if let Some(rest) = child::trust_remainder(&phases) {
        println!(
            "  {:<58} {:>8}",
            "  of which trust checks (whole - open/nuspec/load/integrity)",
            ms(rest)
        );
    }
    println!(
        "  {:<58} {:>8}",
        "process start and exit (`signet --version`)",
        ms(floor_s.median)
    );
    println!();
    Ok(())
}

/// Runs `a` and `b` `runs` times each, alternating which goes first so that both see the same
/// machine noise, and summarises each.
pub fn interleaved(a: &Cmd, b: &Cmd, runs: usize) -> Result<(Summary, Summary)> {
    let mut ta = Vec::with_capacity(runs);
    let mut tb = Vec::with_capacity(runs);
    for i in 0..runs {
        if i.is_multiple_of(2) {
            ta.push(a.time()?);
            tb.push(b.time()?);
        } else {
            tb.push(b.time()?);
            ta.push(a.time()?);
        }
    }
    let summary = |t: &[Duration]| Summary::of(t).context("no runs (use --runs 1 or more)");
    Ok((summary(&ta)?, summary(&tb)?))
}

fn read_signature(package: &Path) -> Result<Vec<u8>> {
    let file = File::open(package).with_context(|| format!("cannot open {}", package.display()))?;
    let mut pkg = Package::open(BufReader::new(file), &signet_nupkg::Limits::default())?;
    pkg.read_signature()?
        .with_context(|| format!("{} is not signed", package.display()))
}

/// "author signature, repository countersignature, 2 timestamps", read from the package.
fn describe_signatures(package: &Path) -> Result<String> {
    let bytes = read_signature(package)?;
    let primary = PrimarySignature::load(&bytes, &signet_signature::Limits::default())?;
    let counter = primary.repository_countersignature()?;
    let timestamps =
        primary.timestamp_tokens().len() + counter.as_ref().map_or(0, |c| c.timestamp_count());
    let mut parts = vec![format!(
        "{} signature",
        primary.signature_type().name().to_lowercase()
    )];
    if counter.is_some() {
        parts.push("repository countersignature".into());
    }
    parts.push(format!("{timestamps} timestamps"));
    Ok(parts.join(", "))
}
