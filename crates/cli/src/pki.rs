//! `signet pki init|serve|revoke`: the development PKI (`signet-pki`), as glue.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use signet_common::UtcTime;
use signet_pki::{
    CertName, CertSelector, Error, Existing, InitOptions, RevocationReason, ServeOptions,
};
use zeroize::Zeroizing;

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `signet pki`.
#[derive(Args, Debug)]
pub struct PkiArgs {
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Subcommand, Debug)]
enum PkiCommand {
    /// Create a root CA, an intermediate CA, and code-signing, TSA and repository
    /// certificates in DIR, with CRL and OCSP URLs on 127.0.0.1.
    Init(InitArgs),
    /// Serve DIR's CRLs, OCSP responder and timestamp authority on loopback until Ctrl-C.
    Serve(ServeArgs),
    /// Revoke a certificate of DIR and reissue its CA's CRL.
    Revoke(RevokeArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Directory for the PKI (created if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Loopback port for `pki serve`, written into the certificates' CRL, OCSP and TSA URLs.
    #[arg(long, default_value_t = signet_pki::DEFAULT_PORT)]
    port: u16,
    /// Password for codesign.pfx (default: a random one, printed once). Also read from
    /// SIGNET_PKI_PASSWORD.
    #[arg(long, env = "SIGNET_PKI_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Replace a PKI already in DIR (its keys and certificates are overwritten).
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The PKI directory made by `signet pki init`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Loopback address to listen on (default: 127.0.0.1 and the port chosen at init).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
}

#[derive(Args, Debug)]
struct RevokeArgs {
    /// The PKI directory made by `signet pki init`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The certificate: codesign, tsa, repository, intermediate, a serial number in hex, or
    /// a certificate file.
    #[arg(value_name = "CERT")]
    cert: String,
    /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
    /// cessationOfOperation, certificateHold or privilegeWithdrawn.
    #[arg(long, default_value = "unspecified", value_parser = parse_reason)]
    reason: RevocationReason,
    /// When the key was (or may have been) compromised, RFC 3339 (e.g. 2026-01-31T12:00:00Z).
    #[arg(long = "invalidity-date", value_name = "RFC3339", value_parser = parse_time)]
    invalidity_date: Option<UtcTime>,
}

fn parse_reason(s: &str) -> Result<RevocationReason, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_time(s: &str) -> Result<UtcTime, String> {
    signet_pki::parse_rfc3339(s).map_err(|e| e.to_string())
}

pub fn run(args: PkiArgs) -> u8 {
    match args.command {
        PkiCommand::Init(a) => init(a),
        PkiCommand::Serve(a) => serve(a),
        PkiCommand::Revoke(a) => revoke(a),
    }
}

fn fail(e: &Error) -> u8 {
    err!("error: {e}");
    match e {
        Error::AlreadyExists(_)
        | Error::NotAPki(_)
        | Error::PortZero
        | Error::EmptyPassword
        | Error::UnknownCertificate(_)
        | Error::UnknownReason(_)
        | Error::BadTime(_)
        | Error::NotLoopback(_)
        | Error::RevokeRoot => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}

/// A path for the next commands, quoted for a POSIX shell when it needs it.
fn shell(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn init(args: InitArgs) -> u8 {
    let (password, generated) = match args.password {
        Some(p) => (Zeroizing::new(p), false),
        None => match signet_pki::random_password() {
            Ok(p) => (p, true),
            Err(e) => return fail(&e),
        },
    };
    let mut options = InitOptions::new(password);
    options.port = args.port;
    if args.force {
        options.existing = Existing::Replace;
    }
    let created = match signet_pki::init(&args.dir, &options, UtcTime::now()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let dir = &created.dir;
    out!("created a development PKI in {}", dir.display());
    for cert in &created.certificates {
        let role = match cert.name {
            CertName::Root => "root CA: the trust root (--trust-roots)",
            CertName::Intermediate => "intermediate CA",
            CertName::CodeSigning => "code signing (also codesign.pfx)",
            CertName::Tsa => "timestamping (served at /tsa)",
            CertName::Repository => "repository signing",
            _ => "",
        };
        out!(
            "  {:<18} {role}; serial {}, valid until {}",
            cert.name.cert_file(),
            cert.serial,
            cert.not_after
        );
    }
    out!("  keys: *.key.pem (mode 0600); CRLs: root.crl, intermediate.crl; state: state.json");
    out!(
        "  URLs: CRLs {}/crl/<ca>.crl, OCSP {}, TSA {}",
        created.urls.base(),
        created.urls.ocsp(),
        created.urls.tsa()
    );
    let pw_arg = if generated {
        out!(
            "codesign.pfx password (shown once, not stored): {}",
            options.password.as_str()
        );
        format!("'{}'", options.password.as_str())
    } else {
        "\"$PASSWORD\"".to_owned()
    };
    let d = shell(dir);
    out!("next:");
    out!("  signet pki serve {d} &");
    out!(
        "  signet sign PACKAGE.nupkg --certificate-path {d}/{} --certificate-password {pw_arg} --timestamper {} --trust-roots {d}/root.pem",
        signet_pki::PFX_FILE,
        created.urls.tsa()
    );
    out!("  signet verify PACKAGE.nupkg --trust-roots {d}/root.pem --revocation-mode online");
    out!("  signet pki revoke {d} codesign --reason keyCompromise");
    EXIT_OK
}

fn serve(args: ServeArgs) -> u8 {
    let port = match signet_pki::configured_port(&args.dir) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let addr = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)));
    if let Err(e) = signet_pki::check_loopback(addr) {
        return fail(&e);
    }
    if addr.port() != port {
        err!(
            "warning: the certificates name port {port}; verifiers following their CRL and OCSP URLs will not reach port {}",
            addr.port()
        );
    }
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
        let listener = signet_pki::bind_loopback(addr).await?;
        out!(
            "serving {} on http://{addr}: /crl/<ca>.crl, /ca/<ca>.cer, /ocsp, /tsa, /health (Ctrl-C to stop)",
            args.dir.display()
        );
        let options = ServeOptions::new(Arc::new(signet_pki::SystemClock));
        signet_pki::serve(&args.dir, listener, options, async {
            // Ctrl-C (or SIGINT) starts a graceful shutdown; if the signal cannot be
            // installed, the server runs until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
    });
    match result {
        Ok(()) => {
            out!("stopped");
            EXIT_OK
        }
        Err(e) => fail(&e),
    }
}

fn revoke(args: RevokeArgs) -> u8 {
    let which = match CertSelector::parse(&args.cert) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    match signet_pki::revoke(
        &args.dir,
        &which,
        args.reason,
        UtcTime::now(),
        args.invalidity_date,
    ) {
        Ok(r) => {
            out!(
                "revoked {} (serial {}) at {}, reason {}",
                r.name,
                r.serial,
                r.time,
                r.reason
            );
            out!(
                "reissued {} (CRL number {}); a running `signet pki serve` answers with it now",
                r.crl_file,
                r.crl_number
            );
            EXIT_OK
        }
        Err(e) => fail(&e),
    }
}
