//! Part 5: signing through a PKCS#11 token (SoftHSM 2, RSA-2048 generated on the token)
//! beside the same signing with a key file (RSA-2048 PEM): `signet sign` per process, then
//! inside one process the cost of opening the token (load the module, find the token, log
//! in, find the key, read its public key) and of one signature, token against aws-lc.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use signet_common::HashAlgorithm;
use signet_keys::Signer;
use signet_pkcs11::softhsm::{KeySpec, Profile, SoftHsm, TokenPki, pem};
use signet_pkcs11::{CertificateSource, KeySelector, Pin, Pkcs11Signer, TokenKey};
use signet_test_support::{PackageBuilder, pki, write_cert_files};

use crate::Tools;
use crate::cmd::Cmd;
use crate::stats::{Summary, ms};

const TOKEN: &str = "signet-bench";
const KEY: &str = "signing";
/// A benchmark token's PIN; it guards nothing.
const PIN: &str = "bench-pin";
const PIN_VAR: &str = "SIGNET_BENCH_TOKEN_PIN";

pub fn run(tools: &Tools, runs: usize, scratch: &Path) -> Result<()> {
    println!();
    println!("== 5. Signing through a PKCS#11 token (SoftHSM 2) against a key file ==");
    let Some(hsm) = SoftHsm::new() else {
        println!("skipped: SoftHSM 2 is not installed (scripts/install-deps.sh installs it)");
        return Ok(());
    };
    let dir = scratch.join("pkcs11");
    std::fs::create_dir_all(&dir)?;
    hsm.init_token(TOKEN, PIN);
    let token_pki = TokenPki::new();
    let public = hsm.generate_rsa(&KeySpec::rsa(TOKEN, PIN, KEY, &[0x01], 2048));
    let cert = token_pki.issue(&public, "signet bench token key", Profile::CodeSigning);
    let token_chain = dir.join("token.chain.pem");
    let token_root = dir.join("token.root.pem");
    std::fs::write(
        &token_chain,
        pem("CERTIFICATE", &cert) + &token_pki.root_pem(),
    )?;
    std::fs::write(&token_root, token_pki.root_pem())?;
    let file = write_cert_files(&pki().code_signing, &dir, "file");

    let package = dir.join("Bench.Token.1.0.0.nupkg");
    let content: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(
        &package,
        PackageBuilder::new("Bench.Token", "1.0.0")
            .file("lib/a.dll", &content)
            .build(),
    )?;
    let out = dir.join("out");
    let base = Cmd::new(&tools.signet)
        .arg("sign")
        .arg(&package)
        .arg("-o")
        .arg(&out)
        .arg("--overwrite");
    let with_token = base
        .clone()
        .arg("--pkcs11-module")
        .arg(hsm.module())
        .arg("--pkcs11-token")
        .arg(TOKEN)
        .arg("--pkcs11-key")
        .arg(KEY)
        .arg("--pkcs11-pin-env")
        .arg(PIN_VAR)
        .arg("--certificate-path")
        .arg(&token_chain)
        .arg("--trust-roots")
        .arg(&token_root)
        .env("SOFTHSM2_CONF", hsm.conf())
        .env(PIN_VAR, PIN);
    let with_file = base
        .arg("--certificate-path")
        .arg(&file.chain_pem)
        .arg("--certificate-key")
        .arg(&file.key_pem)
        .arg("--trust-roots")
        .arg(&file.root_pem);
    println!("token:    {} (SOFTHSM2_CONF set)", with_token.display());
    println!("baseline: {}", with_file.display());
    with_token.time()?; // warm-up, and a check that both work
    with_file.time()?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..runs {
        if i % 2 == 0 {
            a.push(with_token.time()?);
            b.push(with_file.time()?);
        } else {
            b.push(with_file.time()?);
            a.push(with_token.time()?);
        }
    }
    let (Some(a), Some(b)) = (Summary::of(&a), Summary::of(&b)) else {
        bail!("no samples");
    };
    println!("{runs} runs of each, interleaved; wall time per process, 100 kB package, RSA-2048");
    println!(
        "  sign, PKCS#11 token (SoftHSM)  median {} ms (min {})",
        ms(a.median),
        ms(a.min)
    );
    println!(
        "  sign, PEM key file             median {} ms (min {})",
        ms(b.median),
        ms(b.min)
    );

    let spec = [
        hsm.module().display().to_string(),
        token_chain.display().to_string(),
        file.chain_pem.display().to_string(),
        file.key_pem.display().to_string(),
    ]
    .join("\n");
    let report = Cmd::new(&tools.bench)
        .arg("--child-pkcs11")
        .arg(spec)
        .arg("--runs")
        .arg((runs * 10).to_string())
        .env("SOFTHSM2_CONF", hsm.conf())
        .stdout()?;
    print!("{report}");
    Ok(())
}

fn micros(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

/// In a child with SOFTHSM2_CONF set: open the token key, then time `runs` signatures of a
/// signed-attributes-sized message with it and with the key file.
pub fn child(spec: &str, runs: usize) -> Result<()> {
    let mut parts = spec.lines();
    let mut next = || parts.next().context("bad --child-pkcs11 spec");
    let (module, token_chain, file_chain, file_key) = (next()?, next()?, next()?, next()?);
    let which = TokenKey {
        module: module.into(),
        token: TOKEN.into(),
        key: KeySelector::parse(KEY).map_err(anyhow::Error::msg)?,
    };
    let certs = CertificateSource::File(token_chain.into());
    let start = Instant::now();
    let token = Pkcs11Signer::open(&which, Some(Pin::new(PIN.into())), &certs)?;
    let opened = start.elapsed();
    // A second open in the same process: the module is already loaded and initialised.
    let start = Instant::now();
    drop(Pkcs11Signer::open(
        &which,
        Some(Pin::new(PIN.into())),
        &certs,
    )?);
    let reopened = start.elapsed();
    let file = signet_keys::load_signer(Path::new(file_chain), None, Some(Path::new(file_key)))?;

    // NuGet's signed attributes are a few hundred bytes.
    let message = [0x31u8; 400];
    let time = |signer: &dyn Signer| -> Result<Summary> {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            signer.sign(HashAlgorithm::Sha256, &message)?;
            samples.push(start.elapsed());
        }
        Summary::of(&samples).context("no samples")
    };
    let t = time(&token)?;
    let f = time(&file)?;
    println!("in one process ({runs} signatures each, SHA-256, RSA-2048):");
    println!(
        "  open the token key (load module, find token, log in, find key)  {} ms first, {} ms again",
        ms(opened),
        ms(reopened)
    );
    println!(
        "  one signature: token (C_Sign, CKM_SHA256_RSA_PKCS) median {} µs (min {}); key file (aws-lc) median {} µs (min {})",
        micros(t.median),
        micros(t.min),
        micros(f.median),
        micros(f.min)
    );
    Ok(())
}
