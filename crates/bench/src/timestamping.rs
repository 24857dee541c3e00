//! Part 4: `signet sign --timestamper` latency against a local `signet tsa serve`, beside the
//! same signing without a timestamp (issue 3's target: under 10 ms per package).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use signet_test_support::{PackageBuilder, pki, write_cert_files};

use crate::Tools;
use crate::cmd::Cmd;
use crate::stats::{Summary, ms};

/// Target for one `signet sign --timestamper` invocation against a loopback TSA.
const TARGET_MS: f64 = 10.0;

/// Kills the TSA child (which this benchmark started) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(tools: &Tools, runs: usize, scratch: &Path) -> Result<()> {
    println!();
    println!("== 4. Signing with a timestamp: `signet sign --timestamper` against a local TSA ==");
    let dir = scratch.join("timestamping");
    std::fs::create_dir_all(&dir)?;
    let tsa = write_cert_files(&pki().timestamping, &dir, "tsa");
    let signer = write_cert_files(&pki().code_signing, &dir, "signer");
    let mut child = Command::new(&tools.signet)
        .args(["tsa", "serve", "--listen", "127.0.0.1:0"])
        .arg("--certificate-path")
        .arg(&tsa.chain_pem)
        .arg("--certificate-key")
        .arg(&tsa.key_pem)
        .arg("--serial-state")
        .arg(dir.join("tsa.serial"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start signet tsa serve")?;
    let stdout = child
        .stdout
        .take()
        .context("no stdout from signet tsa serve")?;
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
        bail!("signet tsa serve did not print its URL: {line:?}");
    };
    let package = dir.join("Bench.Timestamp.1.0.0.nupkg");
    // About the size of a typical NuGet.org package (100 kB of content).
    let content: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(
        &package,
        PackageBuilder::new("Bench.Timestamp", "1.0.0")
            .file("lib/a.dll", &content)
            .build(),
    )?;
    let out = dir.join("out");
    let base = |timestamped: bool| {
        let mut c = Cmd::new(&tools.signet)
            .arg("sign")
            .arg(&package)
            .arg("-o")
            .arg(&out)
            .arg("--overwrite")
            .arg("--certificate-path")
            .arg(&signer.chain_pem)
            .arg("--certificate-key")
            .arg(&signer.key_pem)
            .arg("--trust-roots")
            .arg(&signer.root_pem);
        if timestamped {
            c = c.arg("--timestamper").arg(url);
        }
        c
    };
    let with = base(true);
    let without = base(false);
    println!(
        "tsa:      {} tsa serve --listen 127.0.0.1:0 (test TSA certificate, RSA-2048), at {url}",
        tools.signet.display()
    );
    println!("signet:   {}", with.display());
    println!("baseline: the same without --timestamper");
    with.time()?; // warm-up, and a check that it works
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..runs {
        if i % 2 == 0 {
            a.push(with.time()?);
            b.push(without.time()?);
        } else {
            b.push(without.time()?);
            a.push(with.time()?);
        }
    }
    drop(server);
    let (Some(a), Some(b)) = (Summary::of(&a), Summary::of(&b)) else {
        bail!("no samples");
    };
    println!("{runs} runs of each, interleaved; wall time per process");
    println!(
        "  sign --timestamper   median {} ms (min {})",
        ms(a.median),
        ms(a.min)
    );
    println!(
        "  sign, no timestamp   median {} ms (min {})",
        ms(b.median),
        ms(b.min)
    );
    let verdict = if a.median.as_secs_f64() * 1e3 < TARGET_MS {
        "PASS"
    } else {
        "FAIL"
    };
    println!("  target < {TARGET_MS} ms per package: {verdict}");
    println!(
        "TSA throughput: cargo run --release -p signet-tsa --example tsa_load (a loopback load generator)"
    );
    Ok(())
}
