//! `signet-bench`: prints, side by side in one run, `signet verify --all` per process
//! invocation over the NuGet.org fixtures against `openssl cms -verify -noverify` on the same
//! signature files, verification throughput on packages of 1 MiB and more against `openssl
//! dgst -sha256` of the same files, and the peak RSS of verification as packages grow.
//!
//! Run it as `cargo run --release -p signet-bench` after `cargo build --release -p signet`
//! (`scripts/bench.sh` does both). It times the release `signet` binary next to its own
//! executable. Figures are medians (and minima) of wall time per process: robust on a shared
//! machine, where a mean follows the slowest outlier. Nothing here is asserted by `cargo test`.

mod audit;
mod child;
mod cmd;
mod latency;
mod pkcs11;
mod stats;
mod throughput;
mod timestamping;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::cmd::Cmd;

/// Benchmark of `signet verify` against the openssl CLI: latency per invocation, throughput,
/// peak memory.
#[derive(Parser, Debug)]
#[command(name = "signet-bench")]
struct Args {
    /// Runs of each command per NuGet.org fixture.
    #[arg(long, default_value_t = 30, value_name = "N")]
    runs: usize,
    /// Timed runs of each command per large package.
    #[arg(long, default_value_t = 11, value_name = "N")]
    large_runs: usize,
    /// Sizes of the large packages, in MiB.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [1u64, 16, 64, 256],
        value_name = "MIB,..."
    )]
    sizes: Vec<u64>,
    /// Skip part 1 (per-invocation latency on the NuGet.org fixtures).
    #[arg(long)]
    skip_latency: bool,
    /// Skip parts 2 and 3 (throughput and memory on large packages).
    #[arg(long)]
    skip_throughput: bool,
    /// Skip part 4 (signing with a timestamp from a local TSA).
    #[arg(long)]
    skip_timestamping: bool,
    /// Skip part 5 (signing through a PKCS#11 token, SoftHSM, against a key file).
    #[arg(long)]
    skip_pkcs11: bool,
    /// Skip part 6 (auditing a generated packages folder).
    #[arg(long)]
    skip_audit: bool,
    /// Packages in the folder audited by part 6.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    audit_packages: usize,
    /// Timed runs of each command of part 6.
    #[arg(long, default_value_t = 5, value_name = "N")]
    audit_runs: usize,
    /// Internal: time PKCS#11 and in-memory signatures in this process (SOFTHSM2_CONF set).
    #[arg(long, hide = true, value_name = "SPEC")]
    child_pkcs11: Option<String>,
    /// Internal: verify one package in this process and print its peak RSS.
    #[arg(long, hide = true, value_name = "PACKAGE")]
    child_verify: Option<PathBuf>,
    /// Internal: time the phases of one verification in this process.
    #[arg(long, hide = true, value_name = "PACKAGE")]
    child_phases: Option<PathBuf>,
    /// Internal: PEM of extra trust roots for the child modes (`--trust-roots`).
    #[arg(long, hide = true, value_name = "PEM")]
    child_roots: Option<PathBuf>,
}

/// The executables under test.
pub struct Tools {
    /// The release `signet` binary.
    pub signet: PathBuf,
    /// This executable, re-run for the in-process child modes.
    pub bench: PathBuf,
}

fn main() -> ExitCode {
    // Part 5 generates its token keys in a child of this executable (the SoftHSM fixture
    // re-runs it with its own arguments), before any argument parsing.
    if signet_pkcs11::softhsm::in_child() {
        signet_pkcs11::softhsm::child_entry();
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    let result = if let Some(spec) = &args.child_pkcs11 {
        pkcs11::child(spec, args.runs)
    } else if let Some(package) = &args.child_verify {
        child::verify(package, args.child_roots.as_deref())
    } else if let Some(package) = &args.child_phases {
        child::phases(package, args.child_roots.as_deref())
    } else {
        bench(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> Result<()> {
    let bench = std::env::current_exe().context("cannot locate the signet-bench executable")?;
    let signet = bench.with_file_name(format!("signet{}", std::env::consts::EXE_SUFFIX));
    if !signet.is_file() {
        bail!(
            "the release signet binary was not found at {}: run `cargo build --release -p \
             signet` first (scripts/bench.sh does)",
            signet.display()
        );
    }
    let tools = Tools { signet, bench };
    print_header(args, &tools)?;
    let scratch = tempfile::Builder::new()
        .prefix("signet-bench-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    if !args.skip_latency {
        latency::run(&tools, args.runs, scratch.path())?;
    }
    if !args.skip_throughput {
        throughput::run(&tools, &args.sizes, args.large_runs, scratch.path())?;
    }
    if !args.skip_timestamping {
        timestamping::run(&tools, args.runs, scratch.path())?;
    }
    if !args.skip_pkcs11 {
        pkcs11::run(&tools, args.runs, scratch.path())?;
    }
    if !args.skip_audit {
        audit::run(&tools, args.audit_packages, args.audit_runs, scratch.path())?;
    }
    Ok(())
}

fn print_header(args: &Args, tools: &Tools) -> Result<()> {
    let passed: Vec<String> = std::env::args().skip(1).collect();
    let mut command = String::from("cargo run --release -p signet-bench");
    if !passed.is_empty() {
        command.push_str(" -- ");
        command.push_str(&passed.join(" "));
    }
    println!("signet-bench: signet verify vs the openssl CLI, side by side");
    println!("command:  {command}");
    println!(
        "          (runs {}; --runs {} --large-runs {} --sizes {})",
        tools.bench.display(),
        args.runs,
        args.large_runs,
        args.sizes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "machine:  nproc {cpus}, CPU {}, load average {} at start",
        cpu_model(),
        load.join(" ")
    );
    println!(
        "signet:   {} ({})",
        tools.signet.display(),
        Cmd::new(&tools.signet).arg("--version").stdout()?.trim()
    );
    println!(
        "openssl:  {}",
        Cmd::new("openssl")
            .arg("version")
            .stdout()
            .context("the openssl CLI is needed (scripts/install-deps.sh installs it)")?
            .trim()
    );
    println!();
    Ok(())
}

/// The first `model name` of `/proc/cpuinfo`, or "unknown".
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
