//! `signet serve`'s configuration: a TOML file (every key optional) or just a data directory.
//! The documented example is `Config::EXAMPLE`, also printed by `signet serve --print-config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use signet_nupkg::Limits;

use crate::Error;
use crate::blob::{BlobStore, FileSystemStore, S3Store};
use crate::clock::{Clock, SystemClock, SystemRandom};
use crate::db::Db;
use crate::registry::Registry;
use crate::signing::SigningSetup;
use crate::signing::repository::{Pkcs11Key, SigningOptions};

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where state lives when the other paths are not given (default `./signet-data`).
    pub data_dir: Option<PathBuf>,
    /// The `[server]` table.
    #[serde(default)]
    pub server: ServerConfig,
    /// The `[database]` table.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// The `[storage]` table.
    #[serde(default)]
    pub storage: StorageConfig,
    /// The `[limits]` table.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The `[audit]` table.
    #[serde(default)]
    pub audit: AuditConfig,
    /// `[[retention]]` rules, tried in order (`signet admin retention`).
    #[serde(default)]
    pub retention: Vec<crate::retention::RetentionRule>,
    /// The `[signing]` table.
    #[serde(default)]
    pub signing: SigningConfig,
    /// The `[access]` table.
    #[serde(default)]
    pub access: AccessConfig,
    /// The `[transparency_log]` table.
    #[serde(default)]
    pub transparency_log: TransparencyLogConfig,
}

/// `[transparency_log]`: the log of every version accepted (issue 17).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransparencyLogConfig {
    /// The log's Ed25519 key, in Go's note signer form `PRIVATE+KEY+<origin>+<id>+<key>`
    /// (the key name is the checkpoint origin). Absent: a development key in
    /// `<data_dir>/tlog-dev.key`, named after the public URL at first start.
    pub key_path: Option<PathBuf>,
    /// The log's Ed25519 key on a PKCS#11 token instead of a file: the module, the token
    /// label, the key (label, `id:HEX` or `label:TEXT`) and the environment variable that
    /// holds the PIN, as for `[signing]`'s repository key.
    pub pkcs11_module: Option<PathBuf>,
    /// The token label (with `pkcs11_module`).
    pub pkcs11_token: Option<String>,
    /// The key on the token (with `pkcs11_module`).
    pub pkcs11_key: Option<String>,
    /// The environment variable holding the token PIN.
    pub pkcs11_pin_env: Option<String>,
    /// The log's origin (its key name) for a token key; default: the public URL without its
    /// scheme, with `/tlog` (as the development key is named).
    pub origin: Option<String>,
    /// Milliseconds between checkpoints (default 2000).
    pub checkpoint_interval_ms: Option<u64>,
    /// Witnesses asked to cosign every new checkpoint (c2sp.org/tlog-witness).
    #[serde(default)]
    pub witnesses: Vec<WitnessConfig>,
    /// Milliseconds a witness has to answer a request (default 5000).
    pub witness_timeout_ms: Option<u64>,
}

/// One of `[transparency_log] witnesses = [{ name, url, key }]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// A label for logs and errors.
    pub name: String,
    /// The witness's submission prefix (`add-checkpoint` is appended).
    pub url: String,
    /// The witness's cosignature verifier key, `name+id+base64(0x04||key)`.
    pub key: String,
}

/// `[access]`: who may read the feed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// `public` (default: anyone who reaches the server reads every package) or
    /// `authenticated` (every document but `/health` and the sign-in pages needs an API key,
    /// Basic credentials or a signed-in session; 401 with a Basic challenge otherwise).
    pub read: Option<String>,
}

/// `[signing]`: trust for pushed signatures and the repository signer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// Repository-sign every accepted package (default true).
    pub repository_signing: Option<bool>,
    /// The repository certificate: a PKCS#12 file, or a PEM chain (leaf first) with
    /// `key_path`. Absent: a development PKI under `<data_dir>/dev-pki` and an embedded
    /// timestamp authority (development trust only).
    pub certificate_path: Option<PathBuf>,
    /// PEM/DER private key of the repository certificate.
    pub key_path: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 (or encrypted key) password.
    pub password_env: Option<String>,
    /// PKCS#11 module (an HSM or token) holding the repository key; the certificate chain
    /// comes from `certificate_path` when given, else from the token.
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label.
    pub pkcs11_token: Option<String>,
    /// The key: its label, or `id:HEX` (CKA_ID), `label:TEXT`.
    pub pkcs11_key: Option<String>,
    /// Environment variable holding the token PIN (never in the file).
    pub pkcs11_pin_env: Option<String>,
    /// Certificates signed with before a rotation (still announced).
    #[serde(default)]
    pub previous_certificates: Vec<PathBuf>,
    /// RFC 3161 timestamp authority URL (required with `certificate_path`).
    pub timestamp_url: Option<String>,
    /// PEM files of roots trusted for pushed signatures and timestamps, beside the bundled
    /// ones.
    #[serde(default)]
    pub trusted_roots: Vec<PathBuf>,
    /// Trust the bundled code-signing and timestamping roots (default true).
    pub bundled_roots: Option<bool>,
    /// `online` (default) or `offline`: revocation checks of pushed signatures and rechecks.
    pub revocation_mode: Option<String>,
    /// Seconds between revocation rechecks of known signer certificates (default 86400;
    /// 0 turns the periodic recheck off).
    pub recheck_interval_seconds: Option<u64>,
    /// The service index URL repository signatures name (must be https). Default: the public
    /// URL's `/v3/index.json`, with `http://` written as `https://` when the server is reached
    /// over plain http (signatures require https; put a TLS proxy in front for real clients).
    pub service_index_url: Option<String>,
    /// Announce `RepositorySignatures` when the public URL is plain http. NuGet clients refuse
    /// a non-https resource and fail the restore: loopback development only (default false).
    pub announce_repository_signatures_over_http: Option<bool>,
    /// Staple revocation status: fetch OCSP responses for the certificate chains of every
    /// served signature ahead of time and serve them (`signet/RevocationStatus/1.0.0`), so
    /// clients never wait on a CA (default: on unless `revocation_mode = "offline"`).
    pub staple_revocation: Option<bool>,
    /// Seconds between refreshes of stored staples (default 3600; each staple is fetched again
    /// when older than a day or past half its validity).
    pub staple_refresh_seconds: Option<u64>,
}

/// Default of `[server] package_memory_cache_mib`.
const DEFAULT_PACKAGE_MEMORY_CACHE_MIB: u64 = 256;

/// `[server]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:5000`; port 0 picks a free port).
    pub listen: Option<String>,
    /// The URL clients reach the server at, used in every document (default
    /// `http://<listen address>`). Set it behind a reverse proxy.
    pub public_url: Option<String>,
    /// Seconds to let requests in flight finish after SIGTERM/Ctrl-C (default 30).
    pub shutdown_grace_seconds: Option<u64>,
    /// Seconds an orphan blob or upload must be old before start-up removes it (default 3600).
    pub orphan_grace_seconds: Option<u64>,
    /// Connections served at once (default 1024); more wait in the listen backlog.
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers (default 10).
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds a connection may send and receive nothing before it is closed (default 60).
    pub idle_timeout_seconds: Option<u64>,
    /// Seconds a push (or dry run) has to send its whole body (default 600).
    pub body_timeout_seconds: Option<u64>,
    /// MiB of memory for package files up to 1 MiB, kept for downloads (default 256; 0 turns
    /// it off). Downloads served from memory cost about half of those read from storage.
    pub package_memory_cache_mib: Option<u64>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client (default none:
    /// the connection's peer is the client). Sign-in limits count per client address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `[database]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// sqlx URL (default `sqlite://<data_dir>/signet.db?mode=rwc`).
    pub url: Option<String>,
    /// Pool size (default 8).
    pub max_connections: Option<u32>,
    /// Seconds a request waits for a database connection before it fails with 503 and
    /// `Retry-After` (default 5): a database that is down makes pushes fail fast.
    pub acquire_timeout_seconds: Option<u64>,
}

/// `[audit]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Days the audit log keeps an entry (default 365); older ones are deleted hourly.
    pub retention_days: Option<u64>,
}

impl AuditConfig {
    /// [`AuditConfig::retention_days`] or its default.
    pub fn retention_days(&self) -> u64 {
        self.retention_days.unwrap_or(365)
    }
}

/// `[storage]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `filesystem` (default) or `s3`.
    pub kind: Option<String>,
    /// S3: the bucket.
    pub bucket: Option<String>,
    /// S3: the endpoint of an S3-compatible service (default: AWS).
    pub endpoint: Option<String>,
    /// S3: the region.
    pub region: Option<String>,
    /// S3: the access key id (or `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// S3: the secret access key (or `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// S3: allow a plain-http endpoint (tests, a local gateway).
    pub allow_http: Option<bool>,
    /// S3: seconds one connection attempt may take (default 2).
    pub connect_timeout_seconds: Option<u64>,
    /// S3: seconds after the first attempt past which a failed request is not retried
    /// (default 3): with the endpoint down, a push answers 503 within a few seconds.
    pub retry_timeout_seconds: Option<u64>,
    /// S3: seconds one whole request may take, its body included (default 300: a large
    /// package streamed to a slow client must fit).
    pub request_timeout_seconds: Option<u64>,
    /// Directory of package files (default `<data_dir>/blobs`).
    pub path: Option<PathBuf>,
    /// Directory of uploads in flight (default `<data_dir>/uploads`; same filesystem as `path`).
    pub upload_path: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest package accepted, bytes (default 262144000, NuGet.org's 250 MiB).
    pub max_package_size: Option<u64>,
    /// Largest nuspec, bytes (default from `signet-nupkg`).
    pub max_nuspec_size: Option<u64>,
    /// Most ZIP entries in a package (default from `signet-nupkg`).
    pub max_entries: Option<usize>,
}

impl StorageConfig {
    /// The S3 store's timeouts: these settings over [`crate::blob::S3Timeouts::default`].
    pub fn s3_timeouts(&self) -> crate::blob::S3Timeouts {
        let d = crate::blob::S3Timeouts::default();
        let secs = |v: Option<u64>, default: std::time::Duration| {
            v.map_or(default, std::time::Duration::from_secs)
        };
        crate::blob::S3Timeouts {
            connect: secs(self.connect_timeout_seconds, d.connect),
            retry: secs(self.retry_timeout_seconds, d.retry),
            request: secs(self.request_timeout_seconds, d.request),
        }
    }
}

impl Config {
    /// A documented example covering every option.
    pub const EXAMPLE: &'static str = include_str!("../signet-server.example.toml");

    /// Parses TOML.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads a TOML file; relative paths in it are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Self::from_toml(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p.as_mut().filter(|p| p.is_relative()) {
                *p = base.join(&*p);
            }
        };
        fix(&mut config.data_dir);
        fix(&mut config.storage.path);
        fix(&mut config.storage.upload_path);
        for p in config
            .signing
            .previous_certificates
            .iter_mut()
            .chain(config.signing.trusted_roots.iter_mut())
            .chain(config.signing.certificate_path.iter_mut())
            .chain(config.signing.key_path.iter_mut())
            .chain(config.signing.pkcs11_module.iter_mut())
            .chain(config.transparency_log.key_path.iter_mut())
            .chain(config.transparency_log.pkcs11_module.iter_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("signet-data"))
    }

    /// The listen address.
    pub fn listen(&self) -> Result<SocketAddr, Error> {
        let text = self.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        text.parse()
            .map_err(|_| Error::Config(format!("invalid listen address {text:?}")))
    }

    /// Connection limits and timeouts (`[server]`).
    pub fn connection_limits(&self) -> crate::ConnectionLimits {
        let d = crate::ConnectionLimits::default();
        let secs = |v: Option<u64>, d: std::time::Duration| {
            v.map_or(d, |v| std::time::Duration::from_secs(v.max(1)))
        };
        crate::ConnectionLimits {
            max_connections: self.server.max_connections.unwrap_or(d.max_connections),
            header_read_timeout: secs(
                self.server.header_read_timeout_seconds,
                d.header_read_timeout,
            ),
            idle_timeout: secs(self.server.idle_timeout_seconds, d.idle_timeout),
            body_timeout: secs(self.server.body_timeout_seconds, d.body_timeout),
        }
    }

    /// Who may read (`[access] read`).
    pub fn read_access(&self) -> Result<crate::ReadAccess, Error> {
        match self.access.read.as_deref() {
            None => Ok(crate::ReadAccess::Public),
            Some(text) => crate::ReadAccess::parse(text.trim()).ok_or_else(|| {
                Error::Config(format!(
                    "[access] read must be \"public\" or \"authenticated\", not {text:?}"
                ))
            }),
        }
    }

    /// The trusted proxies' addresses.
    pub fn trusted_proxies(&self) -> Result<Vec<std::net::IpAddr>, Error> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| {
                p.trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("invalid trusted proxy address {p:?}")))
            })
            .collect()
    }

    /// The database URL.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir().join("signet.db").display()
            )
        })
    }

    /// The package limits.
    pub fn package_limits(&self) -> Limits {
        let mut limits = Limits {
            max_package_size: 262_144_000,
            ..Limits::default()
        };
        if let Some(v) = self.limits.max_package_size {
            limits.max_package_size = v;
        }
        if let Some(v) = self.limits.max_nuspec_size {
            limits.max_nuspec_size = v;
        }
        if let Some(v) = self.limits.max_entries {
            limits.max_entries = v;
        }
        limits
    }

    /// The signing setup this configuration names, for a server reached at `public_url`.
    pub fn signing_setup(
        &self,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<SigningSetup, Error> {
        let s = &self.signing;
        let service_index = match &s.service_index_url {
            Some(url) if signet_signature::is_absolute_https(url) => url.clone(),
            Some(url) => {
                return Err(Error::Config(format!(
                    "[signing] service_index_url must be an absolute https URL, not {url:?}"
                )));
            }
            None => {
                let index = format!("{}/v3/index.json", public_url.trim_end_matches('/'));
                match index.strip_prefix("http://") {
                    // On loopback (a development or test server, the zero-config start)
                    // this is expected and only noted; elsewhere clients will see it.
                    Some(rest) if signet_feed::is_loopback(&index) => {
                        tracing::info!(
                            "repository signatures name the https service index https://{rest} (a loopback server; behind a TLS proxy set public_url, or [signing] service_index_url)"
                        );
                        format!("https://{rest}")
                    }
                    Some(rest) => {
                        tracing::warn!(
                            "repository signatures must name an https service index: they name https://{rest} (set public_url to the https URL of a TLS proxy, or [signing] service_index_url)"
                        );
                        format!("https://{rest}")
                    }
                    None => index,
                }
            }
        };
        let revocation_offline = match s.revocation_mode.as_deref() {
            None | Some("online") => false,
            Some("offline") => true,
            Some(other) => {
                return Err(Error::Config(format!(
                    "[signing] revocation_mode must be online or offline, not {other:?}"
                )));
            }
        };
        let options = SigningOptions {
            repository_signing: s.repository_signing.unwrap_or(true),
            certificate_path: s.certificate_path.clone(),
            key_path: s.key_path.clone(),
            password_env: s.password_env.clone(),
            pkcs11: match (&s.pkcs11_module, &s.pkcs11_token, &s.pkcs11_key) {
                (None, None, None) => None,
                (Some(module), Some(token), Some(key)) => Some(Pkcs11Key {
                    module: module.clone(),
                    token: token.clone(),
                    key: key.clone(),
                    pin_env: s.pkcs11_pin_env.clone(),
                }),
                _ => {
                    return Err(Error::Config(
                        "[signing] pkcs11_module, pkcs11_token and pkcs11_key go together".into(),
                    ));
                }
            },
            previous_certificates: s.previous_certificates.clone(),
            timestamp_url: s.timestamp_url.clone(),
            trusted_roots: s.trusted_roots.clone(),
            bundled_roots: s.bundled_roots.unwrap_or(true),
            revocation_offline,
            announce_over_http: s.announce_repository_signatures_over_http.unwrap_or(false),
            dev_pki_base_url: Some(format!("{}/dev/pki", public_url.trim_end_matches('/'))),
        };
        let mut setup = SigningSetup::build(&options, &self.data_dir(), clock)?;
        setup.repository = setup
            .repository
            .map(|r| r.with_service_index(&service_index));
        Ok(setup)
    }

    /// Whether revocation status is stapled.
    pub fn staples_on(&self) -> bool {
        self.signing.staple_revocation.unwrap_or_else(|| {
            !self
                .signing
                .revocation_mode
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("offline"))
        })
    }

    /// Seconds between staple refreshes.
    pub fn staple_refresh_interval(&self) -> u64 {
        self.signing.staple_refresh_seconds.unwrap_or(3600).max(60)
    }

    /// The transparency log's key: `[transparency_log] key_path`, else the development key
    /// (created from `seed` at first start, named after `public_url`).
    pub fn log_key(&self, public_url: &str, seed: [u8; 32]) -> Result<crate::tlog::LogKey, Error> {
        let t = &self.transparency_log;
        match (&t.pkcs11_module, &t.pkcs11_token, &t.pkcs11_key) {
            (None, None, None) => {}
            (Some(module), Some(token), Some(key)) => {
                if t.key_path.is_some() {
                    return Err(Error::Config(
                        "[transparency_log] key_path and pkcs11_module exclude each other".into(),
                    ));
                }
                let key = signet_pkcs11::KeySelector::parse(key)
                    .map_err(|e| Error::Config(format!("[transparency_log] pkcs11_key: {e}")))?;
                let pin = crate::signing::token_pin(t.pkcs11_pin_env.as_deref())?;
                let origin = t
                    .origin
                    .clone()
                    .unwrap_or_else(|| crate::tlog::origin_for(public_url));
                return crate::tlog::LogKey::from_token(
                    &signet_pkcs11::TokenKey {
                        module: module.clone(),
                        token: token.clone(),
                        key,
                    },
                    pin,
                    &origin,
                );
            }
            _ => {
                return Err(Error::Config(
                    "[transparency_log] pkcs11_module, pkcs11_token and pkcs11_key go together"
                        .into(),
                ));
            }
        }
        match &t.key_path {
            Some(p) => crate::tlog::LogKey::from_file(p),
            None => crate::tlog::LogKey::development(
                &self.data_dir().join(crate::tlog::DEV_KEY_FILE),
                &crate::tlog::origin_for(public_url),
                seed,
            ),
        }
    }

    /// The witnesses asked for cosignatures (none configured: `None`).
    pub fn log_witnesses(&self) -> Result<Option<crate::tlog::Witnesses>, Error> {
        let t = &self.transparency_log;
        if t.witnesses.is_empty() {
            return Ok(None);
        }
        let endpoints = t
            .witnesses
            .iter()
            .map(|w| crate::tlog::WitnessEndpoint::new(&w.name, &w.url, &w.key))
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = std::time::Duration::from_millis(
            t.witness_timeout_ms.unwrap_or(5000).clamp(100, 60_000),
        );
        crate::tlog::Witnesses::new(endpoints, timeout).map(Some)
    }

    /// Time between checkpoints.
    pub fn checkpoint_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.transparency_log
                .checkpoint_interval_ms
                .unwrap_or(2000)
                .max(50),
        )
    }

    /// Seconds between revocation rechecks (0: none).
    pub fn recheck_interval(&self) -> u64 {
        self.signing.recheck_interval_seconds.unwrap_or(86_400)
    }

    /// The directory of package files of the filesystem store.
    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir().join("blobs"))
    }

    /// Opens the database and storage this configuration names (system clock and RNG).
    pub async fn open_registry(&self) -> Result<Registry, Error> {
        let data = self.data_dir();
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::io(format!("create {}", data.display()), e))?;
        let blobs: Arc<dyn BlobStore> = match self.storage.kind.as_deref() {
            None | Some("filesystem") => Arc::new(FileSystemStore::new(self.blob_dir())?),
            Some("s3") => {
                let st = &self.storage;
                let bucket = st.bucket.as_deref().ok_or_else(|| {
                    Error::Config("[storage] kind = \"s3\" needs a bucket".into())
                })?;
                Arc::new(S3Store::new(
                    bucket,
                    st.endpoint.as_deref(),
                    st.region.as_deref(),
                    st.access_key_id.as_deref(),
                    st.secret_access_key.as_deref(),
                    st.allow_http.unwrap_or(false),
                    st.s3_timeouts(),
                )?)
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "unsupported storage kind {other:?} (supported: filesystem, s3)"
                )));
            }
        };
        let db = Db::connect_with(
            &self.database_url(),
            self.database.max_connections.unwrap_or(8),
            std::time::Duration::from_secs(self.database.acquire_timeout_seconds.unwrap_or(5)),
        )
        .await?;
        let memory = self
            .server
            .package_memory_cache_mib
            .unwrap_or(DEFAULT_PACKAGE_MEMORY_CACHE_MIB)
            .saturating_mul(1 << 20);
        Ok(Registry::new(
            db,
            blobs,
            Arc::new(SystemClock),
            Arc::new(SystemRandom),
            self.package_limits(),
            self.storage
                .upload_path
                .clone()
                .unwrap_or_else(|| data.join("uploads")),
        )?
        .with_package_memory(usize::try_from(memory).unwrap_or(usize::MAX)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn example_parses_and_covers_every_table() {
        let c = Config::from_toml(Config::EXAMPLE).unwrap();
        assert!(c.server.listen.is_some() && c.database.url.is_some() && c.storage.path.is_some());
        assert!(c.limits.max_package_size.is_some());
        assert!(
            c.signing.repository_signing.is_some() && c.signing.recheck_interval_seconds.is_some()
        );
        assert!(c.transparency_log.checkpoint_interval_ms.is_some());
        assert!(Config::from_toml("bogus = 1").is_err());
        assert_eq!(c.read_access().unwrap(), crate::ReadAccess::Public);
        let private = Config::from_toml("[access]\nread = \"authenticated\"").unwrap();
        assert_eq!(
            private.read_access().unwrap(),
            crate::ReadAccess::Authenticated
        );
        let typo = Config::from_toml("[access]\nread = \"private\"").unwrap();
        assert!(typo.read_access().is_err());
    }
}
