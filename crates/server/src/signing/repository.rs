//! The server's signing setup: the trust used to judge pushed signatures ([`PushPolicy`]) and
//! the repository signer that signs every accepted package ([`RepositorySigner`]), including
//! the development defaults a fresh data directory gets.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::Signer;
use signet_nupkg::Limits;
use signet_sign::{Operation, Outcome, SignOptions, TimestampClient, TsaTimestamper};
use signet_signature::Certificate;
use signet_trust::{
    RevocationChecker, RevocationMode, RevocationSettings, RevocationSource, TrustStore,
};
use signet_tsa::{Authority, AuthorityConfig, HttpTransport, Transport};

use crate::Error;
use crate::clock::Clock;

/// Where a fresh data directory keeps its development PKI (root, repository and timestamping
/// keys, made by `signet_pki::init`).
pub const DEV_PKI_DIR: &str = "dev-pki";

/// The URL the embedded development authority is known by. `.invalid` never resolves: the
/// requests never leave the process.
const EMBEDDED_TSA_URL: &str = "http://embedded-development-tsa.invalid/";

/// How pushed signatures are judged: the server's trusted roots and revocation checking.
pub struct PushPolicy {
    /// Code-signing and timestamping roots.
    pub trust: Arc<TrustStore>,
    /// Where revocation status comes from (`None`: unknown, a warning at push).
    pub revocation: Option<Arc<dyn RevocationSource>>,
    /// Online or offline checking.
    pub mode: RevocationMode,
}

impl std::fmt::Debug for PushPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushPolicy")
            .field("trust", &self.trust.description())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PushPolicy {
    /// Roots from `trust`, revocation over HTTP (CRL and OCSP) with NuGet's time budget.
    pub fn online(trust: TrustStore) -> Self {
        Self {
            trust: Arc::new(trust),
            revocation: Some(Arc::new(RevocationChecker::http(RevocationSettings {
                budget: Duration::from_secs(10),
                ..RevocationSettings::default()
            }))),
            mode: RevocationMode::Online,
        }
    }
}

/// A repository certificate as `RepositorySignatures` announces it.
#[derive(Clone, Debug)]
pub struct AnnouncedCertificate {
    /// DER.
    pub der: Vec<u8>,
    /// SHA-256, lower-case hex.
    pub fingerprint: String,
    /// Parsed.
    pub certificate: Certificate,
}

impl AnnouncedCertificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let certificate = Certificate::from_der(der)
            .map_err(|e| Error::Config(format!("a repository certificate does not parse: {e}")))?;
        Ok(Self {
            der: der.to_vec(),
            fingerprint: certificate.sha256_hex().to_lowercase(),
            certificate,
        })
    }
}

/// Signs accepted packages as the repository.
pub struct RepositorySigner {
    signer: Arc<dyn Signer>,
    timestamper: Arc<dyn TimestampClient>,
    certificate: AnnouncedCertificate,
    previous: Vec<AnnouncedCertificate>,
    development: bool,
    service_index: String,
    /// The embedded development authority, when that is the timestamper.
    embedded: Option<Arc<EmbeddedTimestamper>>,
    clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for RepositorySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositorySigner")
            .field("certificate", &self.certificate.fingerprint)
            .field("timestamper", &self.timestamper.describe())
            .field("development", &self.development)
            .finish_non_exhaustive()
    }
}

/// A proof that a package passed the checks that come before repository signing. The push
/// pipeline's `push::SignatureChecked` and the mirror's `mirror::UpstreamVerified` implement it,
/// in their own modules (which sit above this one); nothing else does, so what was not checked
/// cannot be repository-signed.
pub(crate) trait Checked {
    /// The checked file, and the owners the repository signature names.
    fn signing_input(&self) -> (&Path, Vec<String>);
}

impl RepositorySigner {
    /// A signer from its key, a timestamp authority, and the certificates it signed with
    /// before (announced, never used).
    pub fn new(
        signer: Arc<dyn Signer>,
        timestamper: Arc<dyn TimestampClient>,
        previous: Vec<AnnouncedCertificate>,
        development: bool,
    ) -> Result<Self, Error> {
        let leaf = signer
            .certificate_chain()
            .first()
            .ok_or_else(|| Error::Config("the repository key has no certificate".into()))?;
        let certificate = AnnouncedCertificate::from_der(leaf)?;
        Ok(Self {
            signer,
            timestamper,
            certificate,
            previous,
            development,
            service_index: String::new(),
            embedded: None,
            clock: None,
        })
    }

    /// The embedded development authority as an RFC 3161 HTTP service (`signet serve` mounts
    /// it at `/dev/tsa`, so that packages can be author-signed and timestamped against a
    /// fresh development server); `None` unless that authority is the timestamper. Starts it.
    pub fn development_tsa(&self) -> Result<Option<axum::Router>, Error> {
        let (Some(embedded), Some(clock)) = (&self.embedded, &self.clock) else {
            return Ok(None);
        };
        let authority = embedded.authority()?;
        Ok(Some(signet_tsa::router(authority, Arc::clone(clock))))
    }

    /// The development PKI's CRL and OCSP routes (`signet serve` nests them at `/dev/pki`,
    /// the URLs its certificates name); `None` unless the repository key is the development
    /// one.
    pub fn development_pki(&self) -> Result<Option<axum::Router>, Error> {
        let (Some(embedded), Some(clock), true) = (&self.embedded, &self.clock, self.development)
        else {
            return Ok(None);
        };
        signet_pki::revocation_routes(&embedded.dir, Arc::clone(clock))
            .map(Some)
            .map_err(|e| Error::Config(format!("development PKI: {e}")))
    }

    /// The service index URL written into every repository signature (set once the public URL
    /// is known).
    pub fn with_service_index(mut self, url: &str) -> Self {
        self.service_index = url.to_owned();
        self
    }

    /// The service index URL signatures name.
    pub fn service_index(&self) -> &str {
        &self.service_index
    }

    /// The certificate new signatures are made with.
    pub fn certificate(&self) -> &AnnouncedCertificate {
        &self.certificate
    }

    /// Certificates signed with before (rotation), oldest first.
    pub fn previous(&self) -> &[AnnouncedCertificate] {
        &self.previous
    }

    /// Whether this is the development setup (a generated PKI and the embedded authority).
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// The timestamp authority, for messages.
    pub fn timestamper(&self) -> String {
        self.timestamper.describe()
    }

    /// Writes a repository-signed copy of `input` into a new file in `dir`: a primary
    /// signature on an unsigned package, a countersignature on an author-signed one (any
    /// repository countersignature already there is replaced: foreign ones are stripped,
    /// and an old one of ours is rotated). A package whose primary signature is a repository
    /// signature is first made unsigned (its author signature, if it ever had one, is gone
    /// already). Blocking: run off the async runtime.
    ///
    /// Takes a proof that the package was checked ([`Checked`]): what was not checked cannot
    /// be repository-signed.
    pub(crate) fn sign(
        &self,
        checked: &impl Checked,
        dir: &Path,
        now: UtcTime,
        limits: &Limits,
    ) -> Result<(tempfile::NamedTempFile, Outcome), Error> {
        let (path, owners) = checked.signing_input();
        self.sign_file(path, dir, &owners, now, limits)
    }

    /// Re-signs a package this server stored (it passed the push pipeline when it was
    /// pushed), for the backfill after a rotation. `stored` is a copy read back from the blob
    /// store.
    pub(crate) fn resign_stored(
        &self,
        stored: &Path,
        dir: &Path,
        owners: &[String],
        now: UtcTime,
        limits: &Limits,
    ) -> Result<(tempfile::NamedTempFile, Outcome), Error> {
        self.sign_file(stored, dir, owners, now, limits)
    }

    /// Re-signs a mirrored package; takes the mirror's proof (`mirror::UpstreamVerified`, whose
    /// [`Checked`] implementation names the owners): what an upstream served is signed only
    /// after it verified against that upstream's pinned certificates.
    pub(crate) fn sign_mirrored(
        &self,
        verified: &impl Checked,
        dir: &Path,
        now: UtcTime,
        limits: &Limits,
    ) -> Result<tempfile::NamedTempFile, Error> {
        self.sign(verified, dir, now, limits).map(|(file, _)| file)
    }

    fn sign_file(
        &self,
        input: &Path,
        dir: &Path,
        owners: &[String],
        now: UtcTime,
        limits: &Limits,
    ) -> Result<(tempfile::NamedTempFile, Outcome), Error> {
        let op = Operation::Repository {
            service_index: self.service_index.clone(),
            owners: signet_sign::sort_owners(owners),
            hash_algorithm: HashAlgorithm::Sha256,
            overwrite: true,
        };
        let opts = SignOptions {
            signer: self.signer.as_ref(),
            timestamper: Some(self.timestamper.as_ref()),
            now,
            limits: *limits,
        };
        let mut out = tempfile::Builder::new()
            .prefix("signed-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a signing file", e))?;
        let open = |p: &Path| {
            File::open(p)
                .map(BufReader::new)
                .map_err(|e| Error::io("open the package to sign", e))
        };
        let result = signet_sign::sign_package(open(input)?, out.as_file_mut(), &op, &opts);
        let outcome = match result {
            Ok(o) => o,
            Err(e) if e.kind == signet_sign::ErrorKind::RepositoryPrimarySigned => {
                // Repository primary signature (ours from before a rotation, or a foreign
                // one): strip it, then sign the unsigned package.
                let mut unsigned = tempfile::Builder::new()
                    .prefix("unsigned-")
                    .tempfile_in(dir)
                    .map_err(|e| Error::io("create a signing file", e))?;
                signet_nupkg::remove_signature(open(input)?, unsigned.as_file_mut(), limits)
                    .map_err(|e| Error::Invalid(format!("cannot remove the signature: {e}")))?;
                out = tempfile::Builder::new()
                    .prefix("signed-")
                    .suffix(".tmp")
                    .tempfile_in(dir)
                    .map_err(|e| Error::io("create a signing file", e))?;
                signet_sign::sign_package(open(unsigned.path())?, out.as_file_mut(), &op, &opts)
                    .map_err(sign_error)?
            }
            Err(e) => return Err(sign_error(e)),
        };
        out.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync the signed package", e))?;
        Ok((out, outcome))
    }
}

fn sign_error(e: signet_sign::Error) -> Error {
    Error::Signing(format!("repository signing failed: {e}"))
}

/// An in-process RFC 3161 exchange with the embedded development authority.
struct EmbeddedTransport {
    authority: Arc<Authority>,
    clock: Arc<dyn Clock>,
}

/// The embedded development authority as a [`TimestampClient`], started on first use, so
/// that processes which never sign (most `signet admin` commands) take no serial range.
pub(crate) struct EmbeddedTimestamper {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    trust: Arc<TrustStore>,
    authority: std::sync::OnceLock<Arc<Authority>>,
}

impl EmbeddedTimestamper {
    /// The authority, started now if it is not running yet.
    fn authority(&self) -> Result<Arc<Authority>, Error> {
        if let Some(a) = self.authority.get() {
            return Ok(Arc::clone(a));
        }
        let started = Arc::new(embedded_authority(&self.dir)?);
        // A concurrent first use may have won; its authority is the one kept.
        Ok(Arc::clone(self.authority.get_or_init(|| started)))
    }
}

impl TimestampClient for EmbeddedTimestamper {
    fn timestamp(
        &self,
        signature_value: &[u8],
        now: UtcTime,
    ) -> Result<Vec<u8>, signet_sign::Error> {
        let authority = self
            .authority()
            .map_err(|e| signet_sign::Error::new(signet_common::NuCode::NU3001, e.to_string()))?;
        TsaTimestamper::new(
            EMBEDDED_TSA_URL,
            EmbeddedTransport {
                authority,
                clock: Arc::clone(&self.clock),
            },
            HashAlgorithm::Sha256,
            Arc::clone(&self.trust),
        )
        .timestamp(signature_value, now)
    }

    fn describe(&self) -> String {
        "the embedded development timestamp authority".into()
    }
}

impl Transport for EmbeddedTransport {
    fn post(
        &self,
        _url: &str,
        _content_type: &str,
        body: &[u8],
        _timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        Ok((200, self.authority.respond(body, self.clock.now())))
    }
}

/// Everything signing-related the server runs with.
#[derive(Debug)]
pub struct SigningSetup {
    /// How pushed signatures are judged.
    pub policy: PushPolicy,
    /// The repository signer (`None`: packages are stored as pushed).
    pub repository: Option<RepositorySigner>,
    /// Announce `RepositorySignatures` even when the public URL is plain http (NuGet clients
    /// refuse a non-https resource and stop the restore; for loopback development only).
    pub announce_over_http: bool,
}

/// What a configuration asks for; see `[signing]` in the example configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct SigningOptions {
    pub repository_signing: bool,
    pub certificate_path: Option<PathBuf>,
    pub key_path: Option<PathBuf>,
    pub password_env: Option<String>,
    pub pkcs11: Option<Pkcs11Key>,
    pub previous_certificates: Vec<PathBuf>,
    pub timestamp_url: Option<String>,
    pub trusted_roots: Vec<PathBuf>,
    pub bundled_roots: bool,
    pub revocation_offline: bool,
    pub announce_over_http: bool,
    /// Where the server will serve its development PKI's revocation (`<public>/dev/pki`),
    /// written into a development PKI made now.
    pub dev_pki_base_url: Option<String>,
}

/// A repository key on a PKCS#11 token.
#[derive(Clone, Debug)]
pub(crate) struct Pkcs11Key {
    pub module: PathBuf,
    pub token: String,
    pub key: String,
    pub pin_env: Option<String>,
}

impl Pkcs11Key {
    /// Opens the key (logs in with the PIN from `pin_env`); the chain from `certificate` or
    /// the token. Errors name the token and key, never the PIN.
    fn open(&self, certificate: Option<&Path>) -> Result<signet_pkcs11::Pkcs11Signer, Error> {
        let key = signet_pkcs11::KeySelector::parse(&self.key)
            .map_err(|e| Error::Config(format!("[signing] pkcs11_key: {e}")))?;
        let pin = token_pin(self.pin_env.as_deref())?;
        let certificates = match certificate {
            Some(p) => signet_pkcs11::CertificateSource::File(p.to_path_buf()),
            None => signet_pkcs11::CertificateSource::Token,
        };
        signet_pkcs11::Pkcs11Signer::open(
            &signet_pkcs11::TokenKey {
                module: self.module.clone(),
                token: self.token.clone(),
                key,
            },
            pin,
            &certificates,
        )
        .map_err(|e| Error::Config(format!("repository key on the token: {e}")))
    }
}

/// A token PIN from the environment variable `var` (none named: the token needs no login or
/// has a PIN pad). The error names the variable, never a value.
pub(crate) fn token_pin(var: Option<&str>) -> Result<Option<signet_pkcs11::Pin>, Error> {
    var.map(|var| {
        std::env::var(var)
            .map(signet_pkcs11::Pin::new)
            .map_err(|_| {
                Error::Config(format!(
                    "the environment variable {var} (the token PIN) is not set"
                ))
            })
    })
    .transpose()
}

/// Certificates from a PEM bundle or one DER certificate.
fn read_certificates(path: &Path) -> Result<Vec<Certificate>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    let parsed =
        if bytes.starts_with(b"-----") || bytes.first().is_some_and(|b| b.is_ascii_whitespace()) {
            Certificate::from_pem_bundle(&bytes)
        } else {
            Certificate::from_der(&bytes).map(|c| vec![c])
        };
    parsed.map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

impl SigningSetup {
    /// Builds the setup a configuration describes. With repository signing on and no key
    /// configured, a development PKI is created under `<data_dir>/dev-pki` on first start
    /// (kept afterwards) and timestamps come from an embedded authority; its root is trusted
    /// for pushes too, so that packages signed with its code-signing certificate
    /// (`dev-pki/codesign.pfx`) are accepted. Everything about it is labelled development.
    pub(crate) fn build(
        options: &SigningOptions,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let mut configured_roots = Vec::new();
        for path in &options.trusted_roots {
            configured_roots.push((read_certificates(path)?, path.display().to_string()));
        }
        // TrustStore is built twice (the push policy's and the timestamp client's own).
        let make_trust = |extra: Option<&Certificate>| -> Result<TrustStore, Error> {
            let mut trust = if options.bundled_roots {
                TrustStore::bundled().map_err(|e| Error::Config(format!("bundled roots: {e}")))?
            } else {
                TrustStore::empty()
            };
            for (roots, source) in &configured_roots {
                trust.add_roots(roots.clone(), source);
            }
            if let Some(root) = extra {
                trust.add_roots(vec![root.clone()], "development PKI");
            }
            Ok(trust)
        };
        let mut dev_root = None;
        let mut dev_tsa = None;
        let mut repository = None;
        if options.repository_signing {
            let previous = options
                .previous_certificates
                .iter()
                .map(|p| {
                    read_certificates(p)?
                        .first()
                        .ok_or_else(|| Error::Config(format!("{}: no certificate", p.display())))
                        .and_then(|c| AnnouncedCertificate::from_der(c.der()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (signer, development): (Arc<dyn Signer>, bool) =
                match (&options.pkcs11, &options.certificate_path) {
                    (Some(token), certificate) => {
                        (Arc::new(token.open(certificate.as_deref())?), false)
                    }
                    (None, Some(cert)) => {
                        let password = match &options.password_env {
                            Some(var) => Some(std::env::var(var).map_err(|_| {
                                Error::Config(format!("the environment variable {var} is not set"))
                            })?),
                            None => None,
                        };
                        let signer = signet_keys::load_signer(
                            cert,
                            password.as_deref(),
                            options.key_path.as_deref(),
                        )
                        .map_err(|e| Error::Config(format!("repository key: {e}")))?;
                        (Arc::new(signer), false)
                    }
                    (None, None) => {
                        let dev =
                            dev_pki(data_dir, clock.now(), options.dev_pki_base_url.as_deref())?;
                        dev_root = Some(dev.root);
                        (dev.repository, true)
                    }
                };
            let ts_trust = Arc::new(make_trust(dev_root.as_ref())?);
            let timestamper: Arc<dyn TimestampClient> = match &options.timestamp_url {
                Some(url) => Arc::new(TsaTimestamper::new(
                    url,
                    HttpTransport::new(Duration::from_secs(10))
                        .map_err(|e| Error::Config(format!("timestamp client: {e}")))?,
                    HashAlgorithm::Sha256,
                    ts_trust,
                )),
                None if development => {
                    let embedded = Arc::new(EmbeddedTimestamper {
                        dir: data_dir.join(DEV_PKI_DIR),
                        clock: Arc::clone(&clock),
                        trust: ts_trust,
                        authority: std::sync::OnceLock::new(),
                    });
                    dev_tsa = Some(Arc::clone(&embedded));
                    embedded
                }
                None => {
                    return Err(Error::Config(
                        "[signing] timestamp_url is required with a configured repository key \
                         (repository signatures must carry exactly one timestamp)"
                            .into(),
                    ));
                }
            };
            let mut signer = RepositorySigner::new(signer, timestamper, previous, development)?;
            signer.embedded = dev_tsa;
            signer.clock = Some(Arc::clone(&clock));
            repository = Some(signer);
        }
        let trust = make_trust(dev_root.as_ref())?;
        let policy = if options.revocation_offline {
            PushPolicy {
                trust: Arc::new(trust),
                revocation: None,
                mode: RevocationMode::Offline,
            }
        } else {
            PushPolicy::online(trust)
        };
        Ok(Self {
            policy,
            repository,
            announce_over_http: options.announce_over_http,
        })
    }
}

/// Serial-number ranges of the embedded authorities that share one data directory (several
/// `signet serve` processes): each locks its own state file, and file `k` starts at `k << 48`,
/// so no two processes ever issue the same serial.
const EMBEDDED_TSA_SLOTS: u64 = 64;

/// The embedded development authority: the development PKI's timestamping key, serials in the
/// first state file no other process holds.
fn embedded_authority(dir: &Path) -> Result<Authority, Error> {
    for slot in 0..EMBEDDED_TSA_SLOTS {
        let state = if slot == 0 {
            dir.join("tsa-serial.state")
        } else {
            dir.join(format!("tsa-serial-{slot}.state"))
        };
        if slot > 0 && !state.exists() {
            std::fs::write(&state, format!("{}\n", (slot << 48).max(1)))
                .map_err(|e| Error::io(format!("create {}", state.display()), e))?;
        }
        let tsa =
            signet_keys::load_signer(&dir.join("tsa.pem"), None, Some(&dir.join("tsa.key.pem")))
                .map_err(|e| Error::Config(format!("development TSA key: {e}")))?;
        match Authority::new(Box::new(tsa), AuthorityConfig::new(&state)) {
            Ok(a) => return Ok(a),
            Err(signet_tsa::Error::SerialStateInUse { .. }) => continue,
            Err(e) => return Err(Error::Config(format!("development TSA: {e}"))),
        }
    }
    Err(Error::Config(format!(
        "more than {EMBEDDED_TSA_SLOTS} servers share the development timestamp authority; \
         configure [signing] timestamp_url"
    )))
}

struct DevPki {
    root: Certificate,
    repository: Arc<dyn Signer>,
}

/// Opens (creating on first use) the development PKI under `<data_dir>/dev-pki`.
fn dev_pki(data_dir: &Path, now: UtcTime, base_url: Option<&str>) -> Result<DevPki, Error> {
    let dir = data_dir.join(DEV_PKI_DIR);
    if !signet_pki::is_pki(&dir) {
        let password = signet_pki::random_password()
            .map_err(|e| Error::Config(format!("development PKI: {e}")))?;
        // Revocation URLs under this server's own address, which answers them (no separate
        // `signet pki serve`, no port two development PKIs could both claim).
        let mut init = signet_pki::InitOptions::new(password);
        init.base_url = base_url.map(str::to_owned);
        let created = signet_pki::init(&dir, &init, now)
            .map_err(|e| Error::Config(format!("cannot create the development PKI: {e}")))?;
        // Not a warning: it is what a zero-configuration start is meant to do, and the
        // start-up banner says DEVELOPMENT at every start.
        tracing::info!(
            dir = %created.dir.display(),
            "created a DEVELOPMENT PKI: packages are repository-signed with a development \
             certificate that no client trusts by default; configure [signing] for production"
        );
    }
    let root = read_certificates(&dir.join("root.pem"))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Config("development PKI: root.pem has no certificate".into()))?;
    let repository = signet_keys::load_signer(
        &dir.join("repository.pem"),
        None,
        Some(&dir.join("repository.key.pem")),
    )
    .map_err(|e| Error::Config(format!("development repository key: {e}")))?;
    Ok(DevPki {
        root,
        repository: Arc::new(repository),
    })
}
