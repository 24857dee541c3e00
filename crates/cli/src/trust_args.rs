//! Trust-root options shared by `sign` and `verify`: the bundled snapshot, extended with
//! `--trust-roots`, `SIGNET_TRUST_ROOTS` or the config entry `signetTrustRoots`, or replaced
//! with `--trust-roots-only` / `signetTrustRootsOnly`.

use std::path::PathBuf;

use clap::Args;
use signet_config::{Environment, Settings};
use signet_signature::Certificate;
use signet_trust::TrustStore;

/// Largest trust-roots file read (the bundled snapshots are about 0.5 MB each).
const MAX_ROOTS_FILE: u64 = 16 * 1024 * 1024;

/// How trust anchors are chosen.
#[derive(Args, Debug, Clone)]
pub struct TrustArgs {
    /// PEM file of root certificates trusted for both code signing and timestamping (a test or
    /// enterprise CA), in addition to the bundled roots. Repeatable. Also read from
    /// SIGNET_TRUST_ROOTS (paths separated by the platform path separator).
    #[arg(long = "trust-roots", value_name = "PEM")]
    pub trust_roots: Vec<PathBuf>,
    /// Do not use the bundled Microsoft Trusted Root Program roots: trust only --trust-roots.
    #[arg(long = "trust-roots-only")]
    pub trust_roots_only: bool,
    /// The nuget.config to use instead of the hierarchy (the nuget.config files from the
    /// current directory up, the user config, the machine-wide configs). Its `<config>` may set
    /// `signetTrustRoots` (paths separated by `;`, relative to the file) and
    /// `signetTrustRootsOnly` (`true`/`false`); `trustedSigners` and
    /// `signatureValidationMode` apply to `verify`.
    #[arg(long = "configfile", value_name = "FILE")]
    pub configfile: Option<PathBuf>,
}

impl TrustArgs {
    /// The nuget.config settings: `--configfile` alone, or the hierarchy.
    pub fn settings(&self) -> Result<Settings, String> {
        Settings::load(&Environment::from_process(), self.configfile.as_deref())
            .map_err(|e| e.to_string())
    }

    /// Builds the trust store from the options and the config hierarchy. The OS root store is
    /// never used.
    pub fn store(&self) -> Result<TrustStore, String> {
        self.store_with(&self.settings()?)
    }

    /// Builds the trust store with already-loaded settings.
    pub fn store_with(&self, settings: &Settings) -> Result<TrustStore, String> {
        // A checkout's nuget.config may not add anchors or lower the policy: say what was
        // ignored, so nobody wonders why a setting has no effect.
        for (key, file) in settings.ignored_trust_settings() {
            err!(
                "warn : ignoring {key} in {}: signet reads its own trust settings only from the user and machine configs or --configfile",
                file.display()
            );
        }
        let (config_roots, config_only) = settings.signet_trust_roots();
        let mut store = if self.trust_roots_only || config_only {
            TrustStore::empty()
        } else {
            TrustStore::bundled().map_err(|e| e.to_string())?
        };
        let mut paths = self.trust_roots.clone();
        paths.extend(config_roots);
        if let Some(env) = std::env::var_os("SIGNET_TRUST_ROOTS") {
            let from_env: Vec<PathBuf> = std::env::split_paths(&env)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            if !from_env.is_empty() {
                // Anchors from the environment change verdicts: say so, not only at -v d.
                err!(
                    "note: SIGNET_TRUST_ROOTS adds trusted roots from {}",
                    from_env
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            paths.extend(from_env);
        }
        for path in paths {
            let len = std::fs::metadata(&path)
                .map_err(|e| format!("cannot read trust roots {}: {e}", path.display()))?
                .len();
            if len > MAX_ROOTS_FILE {
                return Err(format!(
                    "trust roots {} is larger than {MAX_ROOTS_FILE} bytes",
                    path.display()
                ));
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read trust roots {}: {e}", path.display()))?;
            let certs = if bytes.starts_with(b"-----") || bytes.windows(5).any(|w| w == b"-----") {
                Certificate::from_pem_bundle(&bytes)
            } else {
                Certificate::from_der(&bytes).map(|c| vec![c])
            }
            .map_err(|_| {
                format!(
                    "trust roots {}: not a PEM file of certificates (-----BEGIN CERTIFICATE-----) or a DER certificate",
                    path.display()
                )
            })?;
            if certs.is_empty() {
                return Err(format!("{} contains no certificates", path.display()));
            }
            store.add_roots(certs, &path.display().to_string());
        }
        Ok(store)
    }
}
