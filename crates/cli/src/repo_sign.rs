//! `signet repo-sign`: repository-sign packages (NuGet does this only through its API).
//! Unsigned → repository primary signature; author-signed → repository countersignature.

use std::path::PathBuf;

use clap::Args;

use crate::sign::{SigningArgs, run_signing};

/// Options of `signet repo-sign`.
#[derive(Args, Debug)]
pub struct RepoSignArgs {
    /// Packages to repository-sign.
    #[arg(required = true, value_name = "PACKAGE")]
    packages: Vec<PathBuf>,
    /// The repository's NuGet v3 service index (an absolute https URL), written into the
    /// signature as `nuget-v3-service-index-url`.
    #[arg(long = "service-index", value_name = "URL")]
    service_index: String,
    /// Package owners (`a;b`), written sorted case-insensitively as NuGet.org does.
    #[arg(long = "owners", value_name = "OWNERS")]
    owners: Option<String>,
    #[command(flatten)]
    signing: SigningArgs,
}

pub fn run(args: RepoSignArgs) -> u8 {
    let owners: Vec<String> = args
        .owners
        .as_deref()
        .unwrap_or_default()
        .split(';')
        .map(str::to_string)
        .collect();
    if !signet_signature::is_absolute_https(&args.service_index) {
        err!(
            "error: --service-index '{}' must be an absolute https URL",
            args.service_index
        );
        return crate::EXIT_USAGE;
    }
    let op = signet_sign::Operation::Repository {
        service_index: args.service_index.clone(),
        owners: signet_sign::sort_owners(&owners),
        hash_algorithm: args.signing.hash_algorithm,
        overwrite: args.signing.overwrite,
    };
    run_signing(&args.signing, &args.packages, &op)
}
