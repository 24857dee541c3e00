//! `signet tsa serve`: an RFC 3161 timestamp authority over HTTP (`signet_tsa`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::key_args::KeyArgs;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `signet tsa …`
#[derive(Subcommand, Debug)]
pub enum TsaCommand {
    /// Run a timestamp authority (POST application/timestamp-query to any path).
    Serve(ServeArgs),
}

/// Options of `signet tsa serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The TSA certificate and key: a PKCS#12 file, or a PEM/DER chain with --certificate-key.
    /// It must carry the timeStamping EKU, marked critical, and an RSA key of at least 2048
    /// bits.
    #[command(flatten)]
    key: KeyArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8318")]
    listen: SocketAddr,
    /// TSA policy OID written into every token (requests naming another are refused).
    #[arg(long, value_name = "OID")]
    policy: Option<String>,
    /// Accuracy written into every token, in milliseconds.
    #[arg(long = "accuracy-ms", value_name = "N")]
    accuracy_ms: Option<u32>,
    /// File holding the serial-number state (survives restarts; never reuses a serial).
    /// Default: the certificate's path with `.tsa-serial` appended (required when the
    /// certificate is read from a PKCS#11 token).
    #[arg(long = "serial-state", value_name = "FILE")]
    serial_state: Option<PathBuf>,
}

pub fn run(command: TsaCommand) -> u8 {
    match command {
        TsaCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> u8 {
    let signer = match args.key.load() {
        Ok(s) => s,
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let Some(serial_state) = args.serial_state.clone().or_else(|| {
        let mut p = args.key.state_stem()?.clone().into_os_string();
        p.push(".tsa-serial");
        Some(PathBuf::from(p))
    }) else {
        err!("error: --serial-state is required when the certificate is read from a token");
        return EXIT_USAGE;
    };
    let mut config = signet_tsa::AuthorityConfig::new(serial_state);
    if let Some(policy) = &args.policy {
        match const_oid::ObjectIdentifier::new(policy) {
            Ok(oid) => config.policy = oid,
            Err(e) => {
                err!("error: --policy {policy}: {e}");
                return EXIT_USAGE;
            }
        }
    }
    if let Some(ms) = args.accuracy_ms {
        config.accuracy_ms = Some(ms);
    }
    let authority = match signet_tsa::Authority::new(signer, config) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            err!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            err!("error: cannot start the async runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        out!("timestamp authority listening on http://{local}/ (Ctrl-C to stop)");
        signet_tsa::serve(listener, authority, async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {
            out!("stopped");
            EXIT_OK
        }
        Err(e) => {
            err!("error: {e}");
            EXIT_FAILED
        }
    }
}
