//! Parts 2 and 3: verification throughput on large signed packages against `openssl dgst
//! -sha256` of the same files, and the peak RSS of verification as packages grow.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::SoftwareSigner;
use signet_nupkg::{append_signature, dos_date_time};
use signet_signature::{SignatureKind, SignatureRequest, build_primary_signature};

use crate::Tools;
use crate::child::{self, ChildOutput};
use crate::cmd::Cmd;
use crate::latency::interleaved;
use crate::stats::{Summary, mib_per_s, ms};

/// Target: signet's throughput at least this fraction of `openssl dgst -sha256`'s.
const TARGET_RATIO: f64 = 0.75;
/// Memory counts as flat when the largest package's peak RSS is within this factor of the
/// smallest's.
const FLAT_FACTOR: f64 = 1.5;
/// Cold child processes behind each size's phase breakdown.
const PHASE_RUNS: usize = 5;
const MIB: u64 = 1024 * 1024;

struct Row {
    size_mib: u64,
    len: u64,
    signet: Summary,
    openssl: Summary,
    signet_rss_kib: Option<u64>,
    openssl_rss_kib: Option<u64>,
    in_process_kib: u64,
    phases: Vec<(String, Duration)>,
}

pub fn run(tools: &Tools, sizes: &[u64], runs: usize, scratch: &Path) -> Result<()> {
    println!("== 2. Throughput: large signed packages ==");
    let setup = Instant::now();
    let pki = signet_test_support::pki();
    let root_pem = scratch.join("root.pem");
    std::fs::write(&root_pem, pki.root.cert_pem())?;
    let signer = SoftwareSigner::from_key_and_chain(
        pki.code_signing.key_pem().as_bytes(),
        None,
        pki.chain_pem(&pki.code_signing).as_bytes(),
    )?;
    let mut files = Vec::new();
    for &size_mib in sizes {
        let path = scratch.join(format!("Signet.Large.{size_mib}MiB.nupkg"));
        write_signed_package(&path, size_mib * MIB, &signer)?;
        files.push((size_mib, path));
    }
    println!(
        "packages: one stored entry of pseudo-random bytes (signet_test_support::large_package), \
         author-signed (SHA-256) by the test PKI; built in {:.1} s under {}",
        setup.elapsed().as_secs_f64(),
        scratch.display()
    );
    println!(
        "signet:   {} verify --all --revocation-mode offline <file> --trust-roots root.pem",
        tools.signet.display()
    );
    println!("openssl:  openssl dgst -sha256 <file>");
    println!(
        "warm page cache for both: each command runs once untimed first, then {runs} timed runs \
         of each, interleaved; median wall time per process (spawn to exit)"
    );
    println!();

    let mut rows = Vec::new();
    for (size_mib, path) in &files {
        rows.push(measure(tools, *size_mib, path, &root_pem, runs, scratch)?);
    }

    println!(
        "{:>8} {:>11} {:>8} {:>8} {:>12} {:>8} {:>8} {:>7} {:>7}",
        "size MiB", "signet med", "min", "MiB/s", "openssl med", "min", "MiB/s", "ratio", "≥ 0.75"
    );
    for r in &rows {
        let s = mib_per_s(r.len, r.signet.median);
        let o = mib_per_s(r.len, r.openssl.median);
        let ratio = s / o;
        println!(
            "{:>8} {:>11} {:>8} {:>8.0} {:>12} {:>8} {:>8.0} {:>6.2}× {:>7}",
            r.size_mib,
            ms(r.signet.median),
            ms(r.signet.min),
            s,
            ms(r.openssl.median),
            ms(r.openssl.min),
            o,
            ratio,
            if ratio >= TARGET_RATIO {
                "PASS"
            } else {
                "FAIL"
            },
        );
    }
    println!(
        "(ms; MiB/s = file size / median wall time, process start included; ratio = signet \
         MiB/s / openssl MiB/s)"
    );
    println!();

    println!("== 3. Memory: peak RSS of verification as packages grow ==");
    println!(
        "peak RSS, MiB: signet and openssl processes by GNU time (%M) when /usr/bin/time exists; \
         in-process = VmHWM of `signet-bench --child-verify` (the library calls of `signet \
         verify` in a fresh process)"
    );
    println!(
        "{:>8} {:>11} {:>11} {:>12}",
        "size MiB", "signet", "in-process", "openssl dgst"
    );
    for r in &rows {
        println!(
            "{:>8} {:>11} {:>11} {:>12}",
            r.size_mib,
            mib(r.signet_rss_kib),
            mib(Some(r.in_process_kib)),
            mib(r.openssl_rss_kib)
        );
    }
    print_flatness(&rows);
    println!();
    print_breakdown(&rows);
    Ok(())
}

/// Flat memory: the largest package's peak RSS within [`FLAT_FACTOR`] of the smallest's.
fn print_flatness(rows: &[Row]) {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return;
    };
    let factor = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if a > 0 => Some(b as f64 / a as f64),
        _ => None,
    };
    let mut parts = Vec::new();
    let mut flat = true;
    for (label, f) in [
        (
            "signet process",
            factor(first.signet_rss_kib, last.signet_rss_kib),
        ),
        (
            "in-process",
            factor(Some(first.in_process_kib), Some(last.in_process_kib)),
        ),
    ] {
        if let Some(f) = f {
            flat &= f <= FLAT_FACTOR;
            parts.push(format!("{label} {f:.2}×"));
        }
    }
    println!(
        "memory flat? peak RSS at {} MiB / at {} MiB: {} — target ≤ {FLAT_FACTOR}×: {}",
        last.size_mib,
        first.size_mib,
        parts.join(", "),
        if flat { "PASS" } else { "FAIL" }
    );
}

fn measure(
    tools: &Tools,
    size_mib: u64,
    path: &Path,
    root_pem: &Path,
    runs: usize,
    scratch: &Path,
) -> Result<Row> {
    let len = std::fs::metadata(path)?.len();
    let signet = Cmd::new(&tools.signet)
        .arg("verify")
        .arg("--all")
        .arg("--revocation-mode")
        .arg("offline")
        .arg(path)
        .arg("--trust-roots")
        .arg(root_pem);
    let openssl = Cmd::new("openssl").arg("dgst").arg("-sha256").arg(path);
    // Untimed first runs: the file is in the page cache for every timed run of both.
    signet.time()?;
    openssl.time()?;
    let (s, o) = interleaved(&signet, &openssl, runs)?;
    let signet_rss_kib = signet.peak_rss_kib(scratch)?;
    let openssl_rss_kib = openssl.peak_rss_kib(scratch)?;
    let in_process = child::parse(
        &Cmd::new(&tools.bench)
            .arg("--child-verify")
            .arg(path)
            .arg("--child-roots")
            .arg(root_pem),
    )?
    .vmhwm_kib
    .context("the --child-verify run printed no VmHWM")?;
    let phase_child = Cmd::new(&tools.bench)
        .arg("--child-phases")
        .arg(path)
        .arg("--child-roots")
        .arg(root_pem);
    let outputs = (0..PHASE_RUNS)
        .map(|_| child::parse(&phase_child))
        .collect::<Result<Vec<ChildOutput>>>()?;
    Ok(Row {
        size_mib,
        len,
        signet: s,
        openssl: o,
        signet_rss_kib,
        openssl_rss_kib,
        in_process_kib: in_process,
        phases: child::median_phases(&outputs),
    })
}

/// Phases as rows, sizes as columns; hashing phases also as MiB/s.
fn print_breakdown(rows: &[Row]) {
    println!(
        "phase breakdown: the same library calls timed inside {PHASE_RUNS} cold processes per \
         size (`signet-bench --child-phases`), median ms [MiB/s for the streaming phases]"
    );
    let Some(first) = rows.first() else {
        return;
    };
    print!("  {:<58}", "phase");
    for r in rows {
        print!(" {:>16}", format!("{} MiB", r.size_mib));
    }
    println!();
    for (name, _) in &first.phases {
        print!("  {name:<58}");
        let streaming = name.contains("stream") || name.contains("hash") || name.contains("whole");
        for r in rows {
            let cell = match r.phases.iter().find(|(n, _)| n == name) {
                Some((_, d)) if streaming => format!("{} [{:.0}]", ms(*d), mib_per_s(r.len, *d)),
                Some((_, d)) => ms(*d),
                None => "-".into(),
            };
            print!(" {cell:>16}");
        }
        println!();
    }
    println!();
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// Writes an author-signed [`signet_test_support::large_package`] of at least `size` bytes,
/// signed through the library as `signet sign` does.
fn write_signed_package(path: &Path, size: u64, signer: &SoftwareSigner) -> Result<()> {
    let size = usize::try_from(size).context("package size does not fit in memory")?;
    let unsigned = signet_test_support::large_package(size);
    let request = SignatureRequest {
        kind: SignatureKind::Author,
        hash_algorithm: HashAlgorithm::Sha256,
        package_hash: HashAlgorithm::Sha256.digest(&unsigned),
        signing_time: UtcTime::now(),
    };
    let signature = build_primary_signature(&request, signer)?;
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    // Any fixed entry time will do: nothing reads it back.
    append_signature(
        Cursor::new(unsigned.as_slice()),
        &signature,
        dos_date_time(2025, 1, 1, 0, 0, 0),
        &mut out,
        &signet_nupkg::Limits::default(),
    )?;
    out.flush()?;
    Ok(())
}
