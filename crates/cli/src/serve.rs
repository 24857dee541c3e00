//! `signet serve`: the NuGet package server (`signet-server`) on a configuration file or a
//! data directory. Glue only: load the configuration, start logging and the runtime, open the
//! registry, clean up after crashes, listen, print the service index URL, stop on a signal.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use signet_server::{AppState, Config};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `signet serve` options; each overrides the configuration file.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file (see `--print-config` for every option).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: SQLite database, package files, uploads in flight.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:5000; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The URL clients reach the server at (default http://<listen address>).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Print a documented configuration file with every option and exit.
    #[arg(long)]
    print_config: bool,
}

/// Loads `--config`, or the defaults, and applies `--data-dir`.
pub fn load_config(config: Option<&PathBuf>, data_dir: Option<&PathBuf>) -> Result<Config, String> {
    let mut cfg = match config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(dir) = data_dir {
        cfg.data_dir = Some(dir.clone());
    }
    Ok(cfg)
}

/// Starts the tokio runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub(crate) fn init_logging() {
    // SIGNET_LOG=debug|info|warn|error (default info); logs go to stderr, stdout carries the URL.
    let level = std::env::var("SIGNET_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Runs `signet serve`.
pub fn run(args: ServeArgs) -> u8 {
    if args.print_config {
        out!("{}", Config::EXAMPLE);
        return EXIT_OK;
    }
    let mut cfg = match load_config(args.config.as_ref(), args.data_dir.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(listen) = args.listen {
        cfg.server.listen = Some(listen);
    }
    if let Some(url) = args.public_url {
        cfg.server.public_url = Some(url);
    }
    let addr = match cfg.listen() {
        Ok(a) => a,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let read_access = match cfg.read_access() {
        Ok(r) => r,
        Err(e) => {
            err!("error: {e}");
            return EXIT_USAGE;
        }
    };
    init_logging();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let result: Result<(), String> = runtime.block_on(async {
        let registry = cfg.open_registry().await.map_err(|e| e.to_string())?;
        let grace = i64::try_from(cfg.server.orphan_grace_seconds.unwrap_or(3600))
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        match registry.collect_orphans(grace).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed orphan package files"),
            Err(e) => tracing::warn!(error = %e, "cannot collect orphan package files"),
        }
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "cannot listen on {addr}: another program uses that port; choose another \
                     with --listen 127.0.0.1:PORT (or `listen` in the configuration)"
                )
            } else {
                format!("cannot listen on {addr}: {e}")
            }
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listen address: {e}"))?;
        if !local.ip().is_loopback() {
            tracing::warn!(%local, "listening beyond loopback over plain HTTP: put a TLS proxy in front");
        }
        let public = cfg.server.public_url.clone().unwrap_or_else(|| {
            if local.ip().is_unspecified() {
                // 0.0.0.0 / [::] is no address for clients: documents name loopback until
                // public_url says otherwise.
                tracing::warn!("listening on all interfaces: set public_url for remote clients");
                format!("http://127.0.0.1:{}", local.port())
            } else {
                format!("http://{local}")
            }
        });
        let setup = cfg
            .signing_setup(&public, Arc::new(signet_server::SystemClock))
            .map_err(|e| e.to_string())?;
        let registry = registry
            .with_signing(setup)
            .await
            .map_err(|e| e.to_string())?;
        let registry = if cfg.staples_on() {
            registry.with_stapling(Arc::new(signet_trust::RevocationChecker::http(
                signet_trust::RevocationSettings::default(),
            )))
        } else {
            registry
        };
        // The transparency log: its key, then every version stored before the log existed
        // appended once (before anything is served), then a first checkpoint.
        let mut seed = [0u8; 32];
        signet_server::Random::fill(&signet_server::SystemRandom, &mut seed)
            .map_err(|e| e.to_string())?;
        let log_key = cfg.log_key(&public, seed).map_err(|e| e.to_string())?;
        let registry = registry.with_transparency_log(log_key);
        let registry = match cfg.log_witnesses().map_err(|e| e.to_string())? {
            Some(w) => registry.with_witnesses(w),
            None => registry,
        };
        match registry.tlog_backfill().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(versions = n, "appended existing versions to the transparency log"),
            Err(e) => return Err(format!("cannot append existing versions to the transparency log: {e}")),
        }
        if let Err(e) = registry.tlog_checkpoint().await {
            tracing::warn!(error = %e, "first transparency log checkpoint failed");
        }
        let state = AppState::new(Arc::new(registry), &public)
            .with_limits(cfg.connection_limits())
            .with_trusted_proxies(cfg.trusted_proxies().map_err(|e| e.to_string())?)
            .with_read_access(read_access);
        out!("signet serve: listening on {local}");
        if read_access == signet_server::ReadAccess::Authenticated {
            out!("read access: authenticated (a private feed: every document but /health needs credentials)");
        }
        out!("service index: {}/v3/index.json", public.trim_end_matches('/'));
        match &state.registry.signing().repository {
            Some(repo) if repo.is_development() => {
                out!(
                    "repository signing: DEVELOPMENT certificate {} ({}/{}), timestamps from the embedded development authority — development trust only; configure [signing] for production",
                    repo.certificate().fingerprint.to_ascii_uppercase(),
                    cfg.data_dir().display(),
                    signet_server::signing::DEV_PKI_DIR
                );
                out!(
                    "development timestamp authority: {}/dev/tsa",
                    public.trim_end_matches('/')
                );
            }
            Some(repo) => out!(
                "repository signing: certificate {}, timestamps from {}",
                repo.certificate().fingerprint.to_ascii_uppercase(),
                repo.timestamper()
            ),
            None => out!("repository signing: off"),
        }
        if let Some(key) = state.registry.transparency_log() {
            out!(
                "transparency log: {}/tlog/ origin {} verifier key {}",
                public.trim_end_matches('/'),
                key.origin(),
                key.verifier()
            );
        }
        let _ = std::io::stdout().flush();
        let registry = Arc::clone(&state.registry);
        tokio::spawn(signet_server::tlog::run_checkpointer(
            Arc::clone(&registry),
            cfg.checkpoint_interval(),
        ));
        tokio::spawn(signet_server::tlog::run_cosigner(
            Arc::clone(&registry),
            cfg.checkpoint_interval(),
        ));
        let interval = cfg.recheck_interval();
        if interval > 0 {
            // The periodic revocation recheck of signer certificates (first run at start-up).
            let recheck = Arc::clone(&registry);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(interval));
                loop {
                    tick.tick().await;
                    match recheck.recheck_certificates().await {
                        Ok(s) => tracing::info!(
                            checked = s.checked,
                            revoked = s.revoked,
                            unknown = s.unknown,
                            flagged = s.flagged_versions,
                            "certificate recheck"
                        ),
                        Err(e) => tracing::warn!(error = %e, "certificate recheck failed"),
                    }
                }
            });
        }
        if registry.staples_on() {
            // Stapled revocation status kept fresh (each staple before half its validity).
            let staples = Arc::clone(&registry);
            let every = cfg.staple_refresh_interval();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(every));
                loop {
                    tick.tick().await;
                    match staples.refresh_staples(false).await {
                        Ok(s) => tracing::info!(
                            fetched = s.fetched,
                            fresh = s.fresh,
                            failed = s.failed,
                            revoked = s.revoked.len(),
                            "staple refresh"
                        ),
                        Err(e) => tracing::warn!(error = %e, "staple refresh failed"),
                    }
                }
            });
        }
        {
            // Webhook deliveries: what is due, every two seconds (claimed first, so several
            // servers on one database send each delivery once).
            let hooks = Arc::clone(&registry);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(2));
                loop {
                    tick.tick().await;
                    if let Err(e) = hooks.deliver_webhooks().await {
                        tracing::warn!(error = %e, "webhook delivery job failed");
                    }
                }
            });
        }
        {
            // The audit log's retention, applied hourly.
            let audit = Arc::clone(&registry);
            let days = cfg.audit.retention_days();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(3600));
                loop {
                    tick.tick().await;
                    match audit.prune_audit_log(days).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, days, "audit log pruned"),
                        Err(e) => tracing::warn!(error = %e, "audit log pruning failed"),
                    }
                }
            });
        }
        let grace = Duration::from_secs(cfg.server.shutdown_grace_seconds.unwrap_or(30));
        signet_server::serve(listener, state, shutdown_signal(), grace)
            .await
            .map_err(|e| e.to_string())?;
        registry.db().close().await;
        Ok(())
    });
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}
