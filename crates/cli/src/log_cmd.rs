//! `signet log monitor`: walks a feed's transparency log since the last run and reports new
//! versions of the watched ids (issue 17). For a scheduled job: the exit code says "nothing
//! new", "new versions", "a version not signed by the expected signer" or "the log
//! misbehaved".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use signet_common::Untrusted;
use signet_feed::{HttpClient, HttpPolicy, Source};
use signet_tlog::{Entry, Limits, MonitorState, MonitorStep, TileId, VerifierKey, monitor_step};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Exit code: new versions of the watched ids.
pub const EXIT_NEW_VERSIONS: u8 = 10;
/// Exit code: a new version not signed by the `--expect-signer` certificate.
pub const EXIT_UNEXPECTED_SIGNER: u8 = 11;
/// Exit code: the log misbehaved (evidence printed and kept beside the state file).
pub const EXIT_MISBEHAVED: u8 = 12;

/// `signet log …`
#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Walk new log entries since the last run (state in a file) and report versions of the
    /// watched ids. Exit codes: 0 nothing new, 10 new versions, 11 a new version not signed
    /// by --expect-signer, 12 the log misbehaved, 1 failure, 2 usage.
    Monitor(MonitorArgs),
    /// Run a witness: an independent cosigner of transparency logs (c2sp.org/tlog-witness).
    /// It cosigns a log's checkpoint only when it is consistent with the one it cosigned
    /// before, so clients that require its cosignature cannot be shown a forked log.
    Witness(WitnessArgs),
    /// Create a witness's cosigning key (Ed25519, c2sp.org/tlog-cosignature) and print its
    /// verifier key, the one feeds and clients configure.
    WitnessKey(WitnessKeyArgs),
}

/// `signet log witness` arguments (flags override the configuration file).
#[derive(Args, Debug)]
pub struct WitnessArgs {
    /// TOML configuration: listen, key_path, state_path, [[log]] key = "origin+id+key".
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:7380).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The cosigning key file (`signet log witness-key`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The state file: per log, the size, root and checkpoint cosigned last.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// A log to cosign, by its verifier key `origin+id+key` (repeatable).
    #[arg(long = "log", value_name = "VKEY")]
    logs: Vec<String>,
}

/// `signet log witness-key` arguments.
#[derive(Args, Debug)]
pub struct WitnessKeyArgs {
    /// The witness's name (a schema-less URL, e.g. witness.example.com/w1).
    #[arg(long)]
    name: String,
    /// Where to write the private key (created, mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `signet log monitor` arguments.
#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// The feed's service index (it announces its log as signet/TransparencyLog/1.0.0).
    #[arg(long, value_name = "URL")]
    source: String,
    /// Package ids to watch: globs with `*`, case-insensitive (repeatable).
    #[arg(long = "id", value_name = "GLOB", required = true)]
    ids: Vec<String>,
    /// SHA-256 fingerprint of the owner's author certificate: versions not signed by it are
    /// flagged (repeatable: any of them).
    #[arg(long = "expect-signer", value_name = "SHA256")]
    expect_signers: Vec<String>,
    /// State file (the last verified checkpoint and the tree's right edge). Created at the
    /// first run, which pins the log's key (or give it with --verifier-key).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// The log's verifier key (`origin+id+key`); default: the one pinned in the state file,
    /// else the one the feed announces (trust on first use).
    #[arg(long = "verifier-key", value_name = "VKEY")]
    verifier_key: Option<String>,
    /// Allow a plain-http feed on a loopback address (local test servers).
    #[arg(long = "allow-insecure-loopback")]
    allow_insecure_loopback: bool,
}

/// Runs `signet log`.
pub fn run(cmd: LogCommand) -> u8 {
    match cmd {
        LogCommand::Witness(a) => match witness(a) {
            Ok(()) => EXIT_OK,
            Err((code, msg)) => {
                err!("error: {msg}");
                code
            }
        },
        LogCommand::WitnessKey(a) => match witness_key(&a) {
            Ok(()) => EXIT_OK,
            Err((code, msg)) => {
                err!("error: {msg}");
                code
            }
        },
        LogCommand::Monitor(a) => match monitor(&a) {
            Ok(code) => code,
            Err((code, msg)) => {
                err!("error: {msg}");
                code
            }
        },
    }
}

fn witness_key(a: &WitnessKeyArgs) -> Result<(), (u8, String)> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    signet_server::Random::fill(&signet_server::SystemRandom, seed.as_mut())
        .map_err(|e| (EXIT_FAILED, e.to_string()))?;
    let key = signet_tlog::CosignerKey::from_seed(&a.name, *seed)
        .map_err(|e| (EXIT_USAGE, format!("witness name: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let text = zeroize::Zeroizing::new(format!("{}\n", key.to_key_string()));
    opts.open(&a.out)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()
        })
        .map_err(|e| {
            (
                EXIT_FAILED,
                format!("cannot create {}: {e}", a.out.display()),
            )
        })?;
    out!("Wrote the witness key to {}.", a.out.display());
    out!("verifier key: {}", key.verifier());
    Ok(())
}

fn witness(a: WitnessArgs) -> Result<(), (u8, String)> {
    let usage = |m: String| (EXIT_USAGE, m);
    let mut cfg = match &a.config {
        Some(p) => {
            signet_server::witness::WitnessConfig::load(p).map_err(|e| usage(e.to_string()))?
        }
        None => signet_server::witness::WitnessConfig::default(),
    };
    if let Some(l) = a.listen {
        cfg.listen = Some(l);
    }
    if let Some(k) = a.key {
        cfg.key_path = Some(k);
    }
    if let Some(s) = a.state {
        cfg.state_path = Some(s);
    }
    for vkey in a.logs {
        cfg.logs.push(signet_server::witness::WitnessLogConfig {
            origin: None,
            key: vkey,
        });
    }
    let key_path = cfg.key_path.clone().ok_or_else(|| {
        usage("no witness key: give --key (create one with `signet log witness-key`)".into())
    })?;
    let state_path = cfg
        .state_path
        .clone()
        .ok_or_else(|| usage("no state file: give --state".into()))?;
    let logs = cfg.witnessed_logs().map_err(|e| usage(e.to_string()))?;
    let key_text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&key_path)
            .map_err(|e| usage(format!("cannot read {}: {e}", key_path.display())))?,
    );
    let key = signet_tlog::CosignerKey::parse(&key_text)
        .map_err(|e| usage(format!("witness key {}: {e}", key_path.display())))?;
    let listen = cfg.listen.as_deref().unwrap_or("127.0.0.1:7380");
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| usage(format!("invalid listen address {listen:?}")))?;
    crate::serve::init_logging();
    let origins: Vec<String> = logs.iter().map(|l| l.origin.clone()).collect();
    let w = signet_server::witness::Witness::open(
        key,
        logs,
        &state_path,
        Arc::new(signet_server::SystemClock),
    )
    .map_err(|e| (EXIT_FAILED, e.to_string()))?;
    let w = Arc::new(w);
    let runtime = crate::serve::runtime().map_err(|e| (EXIT_FAILED, e))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| (EXIT_FAILED, format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| (EXIT_FAILED, e.to_string()))?;
        out!("signet log witness: listening on {local}");
        out!("witness key: {}", w.verifier());
        for o in &origins {
            out!(
                "cosigning log {} (cosigned size {})",
                Untrusted(o),
                w.size_of(o)
            );
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        signet_server::witness::serve(listener, w, crate::serve::shutdown_signal())
            .await
            .map_err(|e| (EXIT_FAILED, e.to_string()))
    })
}

fn glob_match(glob: &str, id: &str) -> bool {
    let (g, s) = (glob.to_ascii_lowercase(), id.to_ascii_lowercase());
    let parts: Vec<&str> = g.split('*').collect();
    let mut rest = s.as_str();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(pos) = rest.find(p) else {
                return false;
            };
            rest = &rest[pos + p.len()..];
        }
    }
    rest.is_empty()
}

fn hex32(b: &Option<[u8; 32]>) -> String {
    b.map_or_else(
        || "unsigned".to_owned(),
        |h| h.iter().map(|x| format!("{x:02x}")).collect(),
    )
}

fn monitor(a: &MonitorArgs) -> Result<u8, (u8, String)> {
    let fail = |e: String| (EXIT_FAILED, e);
    let policy = if a.allow_insecure_loopback {
        HttpPolicy::LoopbackHttp
    } else {
        HttpPolicy::HttpsOnly
    };
    let expect: Vec<String> = a
        .expect_signers
        .iter()
        .map(|s| s.trim().to_ascii_lowercase().replace(':', ""))
        .collect();
    if expect
        .iter()
        .any(|s| s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err((
            EXIT_USAGE,
            "--expect-signer takes a SHA-256 fingerprint (64 hex digits)".into(),
        ));
    }
    let http = HttpClient::new(Duration::from_secs(30), policy).map_err(|e| fail(e.to_string()))?;
    let source =
        Source::open(&a.source, Arc::new(http), policy).map_err(|e| fail(e.to_string()))?;
    let announced = source.transparency_log().cloned().ok_or_else(|| {
        fail(format!(
            "the feed '{}' announces no transparency log (signet/TransparencyLog/1.0.0)",
            Untrusted(&a.source)
        ))
    })?;
    let limits = Limits::default();
    let state_text = match std::fs::read_to_string(&a.state) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(format!("cannot read {}: {e}", a.state.display()))),
    };
    // State file: `key <vkey>` line, then the monitor state.
    let (pinned_key, state) = match &state_text {
        Some(t) => {
            let (first, rest) = t.split_once('\n').unwrap_or((t, ""));
            let k = first.strip_prefix("key ").ok_or_else(|| {
                fail(format!("{} is not a monitor state file", a.state.display()))
            })?;
            let st = if rest.is_empty() {
                None
            } else {
                Some(
                    MonitorState::parse(rest)
                        .map_err(|e| fail(format!("{}: {e}", a.state.display())))?,
                )
            };
            (Some(k.to_owned()), st)
        }
        None => (None, None),
    };
    let vkey_text = a.verifier_key.clone().or(pinned_key).unwrap_or_else(|| {
        out!(
            "Pinning the log key the feed announces (first run): {}",
            Untrusted(&announced.verifier_key)
        );
        announced.verifier_key.clone()
    });
    let key =
        VerifierKey::parse(&vkey_text).map_err(|e| (EXIT_USAGE, format!("verifier key: {e}")))?;
    let prefix = announced.prefix.clone();
    let checkpoint = source
        .fetch(&format!("{prefix}checkpoint"), 128 * 1024)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("the log serves no checkpoint yet".into()))?;
    let mut fetch = |id: &TileId| -> Result<Vec<u8>, signet_tlog::Error> {
        source
            .fetch(&format!("{prefix}{}", id.path()), 512 * 1024)
            .map_err(|e| signet_tlog::Error::BadTile {
                path: id.path(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| signet_tlog::Error::BadTile {
                path: id.path(),
                reason: "not served".into(),
            })
    };
    let step = monitor_step(state.as_ref(), &checkpoint, &key, &limits, &mut fetch)
        .map_err(|e| fail(format!("the log could not be checked: {e}")))?;
    match step {
        MonitorStep::Misbehaved { what, old, new } => {
            let evidence = a.state.with_extension("evidence.txt");
            let text = format!(
                "signet log monitor: the log {prefix} misbehaved: {what}\n\n==> checkpoint kept from before\n{old}\n==> checkpoint served now\n{new}"
            );
            let kept = std::fs::write(&evidence, &text).is_ok();
            err!("error: the transparency log misbehaved: {what}");
            err!("checkpoint kept from before:\n{}", Untrusted(&old));
            err!("checkpoint served now:\n{}", Untrusted(&new));
            if kept {
                err!("evidence kept in {}", evidence.display());
            }
            Ok(EXIT_MISBEHAVED)
        }
        MonitorStep::Advanced { entries, state } => {
            let mut new_versions = 0usize;
            let mut unexpected = 0usize;
            for (index, bytes) in &entries {
                let Ok(e) = Entry::decode(bytes) else {
                    out!("entry {index}: not a signet package entry (ignored)");
                    continue;
                };
                if !a.ids.iter().any(|g| glob_match(g, &e.id)) {
                    continue;
                }
                new_versions += 1;
                let author = hex32(&e.author);
                let flagged = !expect.is_empty() && !expect.contains(&author);
                if flagged {
                    unexpected += 1;
                }
                out!(
                    "{}new version {} {} (entry {index}, author {author}, repository {}, at {}){}",
                    if flagged { "UNEXPECTED SIGNER: " } else { "" },
                    Untrusted(&e.id),
                    Untrusted(&e.version),
                    hex32(&e.repository),
                    signet_common::UtcTime::from_unix_micros(
                        i64::try_from(e.time_ms).unwrap_or(0).saturating_mul(1000)
                    )
                    .rfc3339(),
                    if flagged {
                        " — not signed by the expected certificate"
                    } else {
                        ""
                    }
                );
            }
            let text = format!("key {key}\n{}", state.to_text());
            let tmp_dir = a
                .state
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from);
            let write = || -> std::io::Result<()> {
                let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir)?;
                std::io::Write::write_all(&mut tmp, text.as_bytes())?;
                tmp.as_file().sync_all()?;
                tmp.persist(&a.state).map_err(|e| e.error)?;
                Ok(())
            };
            write().map_err(|e| fail(format!("cannot write {}: {e}", a.state.display())))?;
            out!(
                "log {prefix}: {} new entries, size {}; {new_versions} new version(s) of the watched ids",
                entries.len(),
                state.edge.size()
            );
            Ok(if unexpected > 0 {
                EXIT_UNEXPECTED_SIGNER
            } else if new_versions > 0 {
                EXIT_NEW_VERSIONS
            } else {
                EXIT_OK
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs() {
        assert!(super::glob_match("Contoso.*", "contoso.lib"));
        assert!(super::glob_match("*", "x"));
        assert!(super::glob_match("a*b*c", "aXXbYYc"));
        assert!(!super::glob_match("Contoso.*", "fabrikam.lib"));
        assert!(!super::glob_match("contoso", "contoso.lib"));
    }
}
