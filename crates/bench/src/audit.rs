//! Part 6: `signet verify --packages-folder` over a generated global packages folder of signed
//! packages (about 100 kB each; author signature, repository countersignature, both
//! timestamped): packages per second cold (no audit cache) and on an unchanged re-run, beside
//! `sha256sum` reading the same files (issue 4's targets: ≥ 1,000/s cold, ≥ 20,000/s re-run).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::SoftwareSigner;
use signet_sign::{Operation, SignOptions, TsaTimestamper, sign_package};
use signet_test_support::{PackageBuilder, pki, write_cert_files};
use signet_trust::TrustStore;
use signet_tsa::{Authority, AuthorityConfig, Transport};

use crate::Tools;
use crate::cmd::Cmd;
use crate::stats::{Summary, ms};

const COLD_TARGET: f64 = 1_000.0;
const WARM_TARGET: f64 = 20_000.0;

/// The TSA in this process: requests go straight to an [`Authority`].
struct LocalTsa(Authority);

impl Transport for LocalTsa {
    fn post(
        &self,
        _url: &str,
        _content_type: &str,
        body: &[u8],
        _timeout: Duration,
    ) -> std::result::Result<(u16, Vec<u8>), String> {
        Ok((200, self.0.respond(body, UtcTime::now())))
    }
}

fn signer(cert: &signet_test_support::CertKey) -> Result<SoftwareSigner> {
    let p = pki();
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        p.chain_pem(cert).as_bytes(),
    )
    .context("test signer")
}

/// Writes `count` signed packages into `dir` in the global-packages-folder layout.
fn generate(dir: &Path, count: usize) -> Result<u64> {
    let p = pki();
    let author = signer(&p.code_signing)?;
    let repo = signer(&p.repository)?;
    let tsa_signer = signer(&p.timestamping)?;
    let authority = Authority::new(
        Box::new(tsa_signer),
        AuthorityConfig::new(dir.join("tsa.serial")),
    )
    .context("local TSA")?;
    let mut store = TrustStore::empty();
    store.add_roots(
        vec![signet_signature::Certificate::from_der(&p.root.cert_der)?],
        "test root",
    );
    let ts = TsaTimestamper::new(
        "http://in-process.invalid/",
        LocalTsa(authority),
        HashAlgorithm::Sha256,
        Arc::new(store),
    );
    let now = UtcTime::now();
    let mut total = 0u64;
    for i in 0..count {
        let id = format!("Bench.Audit.P{i:04}");
        // 100 kB that does not compress (a build output), different per package.
        let content: Vec<u8> = (0..100_000u32)
            .map(|j| {
                ((j ^ (i as u32).wrapping_mul(0x9e37_79b9)).wrapping_mul(2_654_435_761) >> 13) as u8
            })
            .collect();
        // Stored, so the package is about 100 kB on disk too.
        let unsigned = PackageBuilder::new(&id, "1.0.0")
            .file("lib/net8.0/a.dll", &content)
            .stored(true)
            .build();
        let mut authored = Vec::new();
        sign_package(
            std::io::Cursor::new(unsigned),
            &mut authored,
            &Operation::Author {
                hash_algorithm: HashAlgorithm::Sha256,
                overwrite: false,
            },
            &SignOptions {
                signer: &author,
                timestamper: Some(&ts),
                now,
                limits: Default::default(),
            },
        )
        .context("author signing")?;
        let mut both = Vec::new();
        sign_package(
            std::io::Cursor::new(authored),
            &mut both,
            &Operation::Repository {
                service_index: "https://feed.example.test/v3/index.json".into(),
                owners: vec!["bench".into()],
                hash_algorithm: HashAlgorithm::Sha256,
                overwrite: false,
            },
            &SignOptions {
                signer: &repo,
                timestamper: Some(&ts),
                now,
                limits: Default::default(),
            },
        )
        .context("repository countersigning")?;
        let lid = id.to_lowercase();
        let folder = dir.join("packages").join(&lid).join("1.0.0");
        std::fs::create_dir_all(&folder)?;
        std::fs::write(folder.join(format!("{lid}.1.0.0.nupkg")), &both)?;
        total += both.len() as u64;
    }
    Ok(total)
}

pub fn run(tools: &Tools, count: usize, runs: usize, scratch: &Path) -> Result<()> {
    println!();
    println!(
        "== 6. Auditing a packages folder: `signet verify --packages-folder` over {count} signed packages =="
    );
    let dir = scratch.join("audit");
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let bytes = generate(&dir, count)?;
    println!(
        "generated {count} packages ({:.1} MiB; author signature + repository countersignature, each timestamped) in {:.1} s",
        bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let certs = write_cert_files(&pki().root, &dir, "root");
    let packages = dir.join("packages");
    let audit = |extra: &[&str]| {
        let mut c = Cmd::new(&tools.signet)
            .arg("verify")
            .arg("--packages-folder")
            .arg(&packages)
            .arg("--policy")
            .arg("default")
            .arg("--trust-roots")
            .arg(&certs.root_pem)
            .arg("--trust-roots-only")
            .env("NUGET_CERT_REVOCATION_MODE", "offline")
            .env("HOME", &dir)
            .env("XDG_CACHE_HOME", dir.join(".cache"));
        for e in extra {
            c = c.arg(e);
        }
        c
    };
    // Sanity: every package is allowed.
    let out = audit(&["--no-cache"]).stdout()?;
    if !out.contains(&format!("Audited {count} package(s)")) || !out.contains(" 0 refused") {
        bail!("the audit did not accept every package:\n{out}");
    }
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut sha = Vec::new();
    let files: Vec<std::path::PathBuf> = (0..count)
        .map(|i| {
            let lid = format!("bench.audit.p{i:04}");
            packages
                .join(&lid)
                .join("1.0.0")
                .join(format!("{lid}.1.0.0.nupkg"))
        })
        .collect();
    for _ in 0..runs {
        // The audit cache lives under $HOME/.cache (HOME is `dir` for these runs).
        let _ = std::fs::remove_dir_all(dir.join(".cache"));
        cold.push(audit(&[]).time()?);
        warm.push(audit(&[]).time()?);
        let mut c = Cmd::new("sha256sum");
        for f in &files {
            c = c.arg(f);
        }
        sha.push(c.time()?);
    }
    let rate = |s: &Summary| count as f64 / s.median.as_secs_f64();
    let (Some(cold), Some(warm), Some(sha)) =
        (Summary::of(&cold), Summary::of(&warm), Summary::of(&sha))
    else {
        bail!("no samples");
    };
    println!(
        "{:<52} {:>10} {:>10} {:>14}",
        "", "median", "min", "packages/s"
    );
    for (name, s) in [
        ("signet verify --packages-folder, cold (no cache)", &cold),
        ("signet verify --packages-folder, unchanged re-run", &warm),
        ("sha256sum of the same files (baseline)", &sha),
    ] {
        println!(
            "{name:<52} {:>10} {:>10} {:>14.0}",
            ms(s.median),
            ms(s.min),
            rate(s)
        );
    }
    println!(
        "cold audit / sha256sum time: {:.2}x; targets: cold >= {COLD_TARGET:.0}/s ({}), re-run >= {WARM_TARGET:.0}/s ({})",
        cold.median.as_secs_f64() / sha.median.as_secs_f64(),
        if rate(&cold) >= COLD_TARGET {
            "met"
        } else {
            "NOT met"
        },
        if rate(&warm) >= WARM_TARGET {
            "met"
        } else {
            "NOT met"
        },
    );
    Ok(())
}
