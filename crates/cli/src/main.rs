//! The `signet` binary: argument parsing, wiring and output. Logic lives in the libraries.

/// `println!` that never panics: a closed stdout (e.g. `signet verify … | head`) ends the
/// process quietly with [`EXIT_FAILED`] instead of a broken-pipe panic. Every line goes
/// through [`signet_common::terminal_safe_lines`]: no escape sequence or control character
/// from a package, a signature, a config or a server reaches the terminal, whichever value
/// carried it (values are also wrapped in [`signet_common::Untrusted`] where they are
/// interpolated, so that they cannot start a line of their own).
macro_rules! out {
    () => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout()) {
            crate::stdout_failed(e)
        }
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        if let Err(e) = writeln!(
            std::io::stdout(),
            "{}",
            signet_common::terminal_safe_lines(&line)
        ) {
            crate::stdout_failed(e)
        }
    }};
}

/// `eprintln!` through [`signet_common::terminal_safe_lines`], as [`out!`].
macro_rules! err {
    () => {{
        eprintln!()
    }};
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        eprintln!("{}", signet_common::terminal_safe_lines(&line))
    }};
}

mod admin;
mod credentials;
mod inputs;
mod install;
mod key_args;
mod log_cmd;
mod mirror_admin;
mod output;
mod pki;
mod push;
mod repo_sign;
mod serve;
mod sign;
mod trust_args;
mod trust_cmd;
mod tsa;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: every package signed or verified.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one package failed to sign or verify.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command line or an input file could not be used at all.
pub const EXIT_USAGE: u8 = 2;

/// NuGet package signing and verification, byte-compatible with the NuGet client.
#[derive(Parser, Debug)]
#[command(name = "signet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Author-sign packages with a code-signing certificate (PKCS#12, or PEM chain + key).
    Sign(sign::SignArgs),
    /// Repository-sign packages: a repository signature on unsigned packages, a repository
    /// countersignature on author-signed ones.
    RepoSign(repo_sign::RepoSignArgs),
    /// Verify package signatures as `nuget verify` does, with NuGet's NU codes.
    Verify(verify::VerifyArgs),
    /// A development PKI: `init` a CA with code-signing, TSA and repository certificates,
    /// `serve` its CRLs, OCSP and TSA on loopback, `revoke` certificates.
    Pki(pki::PkiArgs),
    /// Install a package and its dependencies into the global packages folder, verifying
    /// every package under its source's policy before anything is extracted.
    Install(install::InstallArgs),
    /// Manage trusted signers in nuget.config (list, author, repository, certificate, source,
    /// remove, sync), as `dotnet nuget trust` does.
    Trust(trust_cmd::TrustCmdArgs),
    /// Transparency logs: watch a feed's log (`signet log monitor`), run a witness that
    /// cosigns logs (`signet log witness`, `signet log witness-key`).
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// An RFC 3161 timestamp authority.
    #[command(subcommand)]
    Tsa(tsa::TsaCommand),
    /// Run a NuGet package server (v3 feed, push with API keys).
    Serve(serve::ServeArgs),
    /// Push packages to a feed (PackagePublish/2.0.0), as `nuget push` does.
    Push(push::PushArgs),
    /// Unlist a version on a feed (`nuget delete`: NuGet.org and signet serve keep it
    /// downloadable for existing references, and hide it from search and version lists).
    Delete(push::ListingArgs),
    /// List an unlisted version again.
    Relist(push::ListingArgs),
    /// Administer a package server: create users and API keys.
    Admin(admin::AdminArgs),
}

/// Ends the process after stdout failed.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("error: cannot write to standard output: {e}");
    }
    std::process::exit(i32::from(EXIT_FAILED))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::RepoSign(args) => repo_sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Pki(args) => pki::run(args),
        Command::Tsa(command) => tsa::run(command),
        Command::Trust(args) => trust_cmd::run(args),
        Command::Log(cmd) => log_cmd::run(cmd),
        Command::Install(args) => install::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Push(args) => push::run(args),
        Command::Delete(args) => push::run_listing(args, signet_feed::ListingChange::Unlist),
        Command::Relist(args) => push::run_listing(args, signet_feed::ListingChange::Relist),
    };
    ExitCode::from(code)
}
