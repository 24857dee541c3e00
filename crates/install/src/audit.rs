//! Auditing a packages folder: re-verify every package, in parallel, and compare what was
//! extracted beside it with what the verified package holds; skip those whose files and
//! verdict inputs are unchanged since the last audit.
//!
//! What the cache protects against, and what it does not: an entry is reused only if the
//! `.nupkg` and every file of its package folder have the same size, modification time,
//! **change time, inode and device** as when it was verified (`touch -r` puts a modification
//! time back, but the kernel sets the change time on every write and no unprivileged process
//! can set it back), if every input of the verdict is unchanged (trust roots, trusted
//! signers, policy, revocation mode and settings, signet's version), and if no certificate in
//! the verdict has expired since. Someone who can set the system clock or edit the raw block
//! device can defeat any metadata cache; `--no-cache` verifies everything.
//!
//! The transparency log (issue 17): a package whose `.nupkg.metadata` names a source with a
//! pinned log is checked against that log as `install` checks it ([`crate::tlog::check_package`]),
//! with the id, version and content hash read from the package file itself. That check is
//! never cached: it runs on every audit (see [`check_logs`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use signet_common::{Severity, Untrusted};
use signet_nupkg::{Limits, Package};
use signet_trust::{
    ClientPolicy, Issue, PackageReport, TrustStore, VerifyOptions, decide, verify_package,
};

use crate::Error;
use crate::install::{installed_files, reserved_names};
use crate::tlog::{Expected, LogPin, LogPolicy};

/// A source's pinned transparency log, as the audit checks it.
pub struct AuditLog {
    /// The source, for its HTTP client (credentials, timeouts, the http policy).
    pub source: signet_feed::Source,
    /// The pin (prefix, key, witnesses, policy, state directory).
    pub pin: LogPin,
}

/// Finds the pinned log of the source a package was installed from (the URL its
/// `.nupkg.metadata` records): `Ok(None)` when none is pinned or its policy is off, `Err` when
/// the pin cannot be used (the packages from that source are refused, with the reason).
pub type LogLookup<'a> = dyn Fn(&str) -> Result<Option<AuditLog>, String> + Sync + 'a;

/// Where the audit cache of `folder` lives inside `cache_dir` (a per-user directory, never
/// the audited folder: whoever can write the folder could otherwise also write verdicts for
/// the packages they changed). One file per folder, named by the SHA-256 of its path.
pub fn audit_cache_file(cache_dir: &Path, folder: &Path) -> PathBuf {
    let folder = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    let digest = signet_common::HashAlgorithm::Sha256.digest(folder.to_string_lossy().as_bytes());
    let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("{name}.json"))
}

/// How to audit.
pub struct AuditOptions<'a> {
    /// Trust anchors.
    pub store: &'a TrustStore,
    /// The verification options (built for `policy`).
    pub options: VerifyOptions,
    /// The policy, for decisions and the cache key.
    pub policy: ClientPolicy,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// The cache file to use and update ([`audit_cache_file`]); `None`: verify everything,
    /// write nothing.
    pub cache_file: Option<PathBuf>,
    /// The pinned transparency logs (`None`: the configuration pins none, nothing is checked
    /// against a log and no content hash is computed for it).
    pub logs: Option<&'a LogLookup<'a>>,
}

/// One audited package.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The `.nupkg`, relative to the folder.
    pub path: String,
    /// Allowed by the policy.
    pub valid: bool,
    /// Its issues (errors when refused, warnings otherwise).
    pub issues: Vec<Issue>,
    /// Taken from the cache (not verified again).
    pub cached: bool,
    /// The transparency log (its URL prefix) the package was checked against, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparency_log: Option<String>,
}

/// Totals of an audit.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditSummary {
    /// Packages found.
    pub packages: usize,
    /// Verified in this run.
    pub verified: usize,
    /// Taken from the cache.
    pub cached: usize,
    /// Refused by the policy, or whose extracted files differ from the package.
    pub invalid: usize,
    /// Allowed.
    pub passed: usize,
    /// Checked against their source's pinned transparency log (whatever the outcome).
    pub log_checked: usize,
}

/// Identity of a file as the file system reports it: what a writer cannot put back.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct CacheKey {
    size: u64,
    modified_ns: u128,
    /// Unix `st_ctime` in nanoseconds (set by the kernel on every change).
    changed_ns: i128,
    inode: u64,
    device: u64,
}

impl CacheKey {
    fn of(meta: &std::fs::Metadata) -> Self {
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        #[cfg(unix)]
        let (changed_ns, inode, device) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
                meta.dev(),
            )
        };
        // Elsewhere there is no change time: size and modification time only, which `--no-cache`
        // exists for (documented in ARCHITECTURE).
        #[cfg(not(unix))]
        let (changed_ns, inode, device) = (0, 0, 0);
        Self {
            size: meta.len(),
            modified_ns,
            changed_ns,
            inode,
            device,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    key: CacheKey,
    /// Digest of the keys of every file in the package folder (install layouts only).
    #[serde(default)]
    folder_key: Option<String>,
    /// When the verdict stops holding: the earliest end of validity of a certificate in it
    /// (Unix seconds).
    #[serde(default)]
    expires: Option<i64>,
    /// When it was verified (Unix seconds): with revocation checking, a verdict is reused for
    /// at most [`MAX_REVOCATION_AGE`], so a signer revoked since is found.
    #[serde(default)]
    verified_at: i64,
    valid: bool,
    issues: Vec<CachedIssue>,
    /// The id, normalised version and content hash read from the `.nupkg` when it was
    /// verified (what its log entry must say), computed when logs are pinned. Reused only
    /// with the verdict, that is only while the file's identity ([`CacheKey`]) is unchanged.
    #[serde(default)]
    identity: Option<PackageIdentity>,
}

/// What a package's transparency-log entry must match, read from the package file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct PackageIdentity {
    id: String,
    version: String,
    content_hash: String,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct CachedIssue {
    code: Option<String>,
    error: bool,
    message: String,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    /// Digest of every input of a verdict ([`verdict_inputs`]).
    verdict_inputs: String,
    entries: BTreeMap<String, CacheEntry>,
}

/// How long a verdict that checked revocation is reused (a day, the usual CRL/OCSP refresh).
const MAX_REVOCATION_AGE: i64 = 24 * 3600;

/// SHA-256 over everything a verdict depends on besides the package: trust roots, the
/// options (trusted signers, repository certificates, allow lists, revocation mode and
/// policy, whether revocation is checked at all, limits), the policy and signet's version.
fn verdict_inputs(opts: &AuditOptions<'_>) -> String {
    let o = &opts.options;
    let text = format!(
        "signet {}\nroots {}\npolicy {}\nsettings {:?}\ntrusted {:?}\nrepository {:?}\nfingerprints {:?}\nuntrusted-root {:?}\nrevocation {:?} {}\nlimits {:?} {:?}",
        env!("CARGO_PKG_VERSION"),
        opts.store.fingerprint(),
        opts.policy.name(),
        o.settings,
        o.trusted_signers,
        o.repository_certificates,
        o.certificate_fingerprints,
        o.allow_untrusted_root,
        o.revocation_policy,
        o.revocation.is_some(),
        o.package_limits,
        o.signature_limits,
    );
    hex(&signet_common::HashAlgorithm::Sha256.digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Audits every `*.nupkg` under `dir` (a global packages folder or any tree).
/// `progress(done, total)` is called as packages finish.
pub fn audit(
    dir: &Path,
    opts: &AuditOptions<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Vec<AuditEntry>, AuditSummary), Error> {
    let mut files = Vec::new();
    let mut special = Vec::new();
    collect(dir, dir, &mut files, &mut special, 0)?;
    files.sort();
    let inputs = verdict_inputs(opts);
    let old: CacheFile = opts
        .cache_file
        .as_deref()
        .and_then(read_cache)
        .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
        .filter(|c| c.verdict_inputs == inputs)
        .unwrap_or_default();
    let total = files.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Audited>>> = Mutex::new(vec![None; total]);
    std::thread::scope(|scope| {
        for _ in 0..opts.threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rel) = files.get(i) else { break };
                    let r = audit_one(dir, rel, opts, &old);
                    if let Ok(mut guard) = results.lock()
                        && let Some(slot) = guard.get_mut(i)
                    {
                        *slot = Some(r);
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let mut entries = Vec::with_capacity(total);
    let mut new_cache = CacheFile {
        verdict_inputs: inputs,
        entries: BTreeMap::new(),
    };
    let mut summary = AuditSummary {
        packages: total + special.len(),
        ..AuditSummary::default()
    };
    // `.nupkg` names that are not regular files (symbolic links, FIFOs, devices): reported,
    // never opened (a FIFO would hang the audit; a link may point anywhere).
    let special_entries = special.into_iter().map(|(rel, kind)| {
        let entry = AuditEntry {
            issues: vec![Issue {
                code: None,
                severity: Severity::Error,
                message: format!(
                    "{} is a {kind}, not a package file; not audited",
                    Untrusted(&rel)
                ),
            }],
            path: rel,
            valid: false,
            cached: false,
            transparency_log: None,
        };
        (entry, None, None)
    });
    let mut all: Vec<Audited> = results
        .into_iter()
        .flatten()
        .chain(special_entries)
        .collect();
    if let Some(logs) = opts.logs {
        check_logs(&mut all, logs, opts.options.now.unix_seconds());
    }
    for (entry, cache, _) in all {
        if entry.transparency_log.is_some() {
            summary.log_checked += 1;
        }
        if entry.cached {
            summary.cached += 1;
        } else {
            summary.verified += 1;
        }
        if entry.valid {
            summary.passed += 1;
        } else {
            summary.invalid += 1;
        }
        if let Some(c) = cache {
            new_cache.entries.insert(entry.path.clone(), c);
        }
        entries.push(entry);
    }
    // Rewrite the cache only when it says something new (an unchanged re-run writes nothing).
    let unchanged = summary.verified == 0 && new_cache.entries.len() == old.entries.len();
    if let Some(cache_path) = &opts.cache_file
        && !unchanged
        && let Some(cache_dir) = cache_path.parent()
        && std::fs::create_dir_all(cache_dir).is_ok()
        && let Ok(bytes) = serde_json::to_vec(&new_cache)
        && let Ok(mut tmp) = tempfile::NamedTempFile::new_in(cache_dir)
    {
        // Best effort: a cache that cannot be written only costs time next run.
        if std::io::Write::write_all(&mut tmp, &bytes).is_ok() {
            let _ = tmp.persist(cache_path);
        }
    }
    Ok((entries, summary))
}

/// Largest audit cache read (about 250 bytes an entry: far more than any packages folder needs).
const MAX_CACHE_SIZE: u64 = 64 * 1024 * 1024;

/// The cache file's bytes, unless it is missing, unreadable or larger than [`MAX_CACHE_SIZE`]
/// (the folder may be writable by others; a cache is only ever a shortcut).
fn read_cache(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let file = File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_CACHE_SIZE + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_CACHE_SIZE).then_some(bytes)
}

/// An audited package, its new cache entry, and what its transparency-log check needs.
type Audited = (AuditEntry, Option<CacheEntry>, Option<LogInput>);

/// What the transparency-log check of one package needs.
#[derive(Clone, Debug)]
struct LogInput {
    /// The source its `.nupkg.metadata` names.
    source: String,
    /// The package folder's names (`{id}/{version}`, lower case).
    folder: (String, String),
    /// Id, version and content hash read from the package file (`None`: unreadable).
    identity: Option<PackageIdentity>,
}

fn audit_one(dir: &Path, rel: &str, opts: &AuditOptions<'_>, old: &CacheFile) -> Audited {
    let path = dir.join(rel);
    let key = std::fs::symlink_metadata(&path)
        .ok()
        .map(|m| CacheKey::of(&m));
    let layout = install_layout(&path);
    let folder_key = layout.as_ref().and_then(|l| folder_key(&l.folder).ok());
    let now = opts.options.now.unix_seconds();
    // With logs pinned, the source the package came from, and (below) its identity.
    let log_source = match (opts.logs, &layout) {
        (Some(_), Some(l)) => installed_source(&l.folder).map(|source| LogInput {
            source,
            folder: (l.lid.clone(), l.lver.clone()),
            identity: None,
        }),
        _ => None,
    };
    if let (Some(key), Some(hit)) = (&key, old.entries.get(rel))
        && &hit.key == key
        && hit.folder_key == folder_key
        && hit.expires.is_none_or(|e| now < e)
        && (opts.options.revocation.is_none() || now - hit.verified_at < MAX_REVOCATION_AGE)
        && (log_source.is_none() || !hit.valid || hit.identity.is_some())
    {
        let issues = hit
            .issues
            .iter()
            .map(|i| Issue {
                code: i.code.as_deref().and_then(signet_common::NuCode::parse),
                severity: if i.error {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                message: i.message.clone(),
            })
            .collect();
        let log_input = log_source.map(|l| LogInput {
            identity: hit.identity.clone(),
            ..l
        });
        return (
            AuditEntry {
                path: rel.to_string(),
                valid: hit.valid,
                issues,
                cached: true,
                transparency_log: None,
            },
            Some(hit.clone()),
            log_input,
        );
    }
    // Staples the install kept in the receipt answer before any CA is asked.
    let mut own_options = None;
    if let Some(staples) = layout.as_ref().map(|l| receipt_staples(&l.folder))
        && !staples.is_empty()
    {
        let mut o = opts.options.clone();
        o.revocation = Some(std::sync::Arc::new(signet_trust::StapledRevocation::new(
            staples,
            opts.options.revocation.clone(),
            None,
            signet_trust::RevocationLimits::default(),
        )));
        own_options = Some(o);
    }
    // The content hash the log entry must carry: computed from this file, in the same pass.
    if log_source.is_some() {
        own_options
            .get_or_insert_with(|| opts.options.clone())
            .content_hash = signet_trust::ContentHash::Compute;
    }
    let options = own_options.as_ref().unwrap_or(&opts.options);
    let report = match File::open(&path) {
        Ok(f) => verify_package(BufReader::new(f), opts.store, options),
        Err(e) => {
            let entry = AuditEntry {
                path: rel.to_string(),
                valid: false,
                issues: vec![Issue {
                    code: None,
                    severity: Severity::Error,
                    message: format!("cannot be opened: {e}"),
                }],
                cached: false,
                transparency_log: None,
            };
            return (entry, None, None);
        }
    };
    let identity = match (&report.id, &report.version, &report.content_hash) {
        (Some(id), Some(version), Some(content_hash)) if log_source.is_some() => {
            Some(PackageIdentity {
                id: id.clone(),
                version: version.clone(),
                content_hash: content_hash.clone(),
            })
        }
        _ => None,
    };
    let decision = decide(opts.policy, &report);
    let (mut valid, mut issues) = match decision {
        signet_trust::Decision::Allow => (true, Vec::new()),
        signet_trust::Decision::Warn(w) => (true, w),
        signet_trust::Decision::Block(e) => (false, e),
    };
    // What the build loads is the extracted files: compare them with the verified package.
    if valid && let Some(l) = &layout {
        let problems = compare_folder(&path, l);
        if !problems.is_empty() {
            valid = false;
            issues.extend(problems);
        }
    }
    let cache = key.map(|key| CacheEntry {
        key,
        folder_key,
        expires: verdict_expiry(&report),
        verified_at: now,
        valid,
        issues: issues
            .iter()
            .map(|i| CachedIssue {
                code: i.code.map(|c| c.to_string()),
                error: i.severity == Severity::Error,
                message: i.message.clone(),
            })
            .collect(),
        identity: identity.clone(),
    });
    (
        AuditEntry {
            path: rel.to_string(),
            valid,
            issues,
            cached: false,
            transparency_log: None,
        },
        cache,
        log_source.map(|l| LogInput { identity, ..l }),
    )
}

/// The transparency-log check of every package allowed so far whose source has a pinned log,
/// as `install` does it, with the same policy: `require` refuses the package, `warn` adds a
/// warning.
///
/// Never cached, and run on every audit, here in one thread after the parallel
/// verification: the outcome depends on the log (what it serves now) and on the newest
/// checkpoint this user has stored for it, neither of which a file's identity captures, so a
/// cached "passed" could hide a log that has since forked, and a cached failure would keep
/// no fresh evidence. One proof request per package is cheap next to a signature
/// verification; one thread keeps the per-user stored checkpoint from being written by
/// several checks at once. A log that cannot be reached is asked once per audit: the
/// packages after the first failure get the same outcome without another timeout.
fn check_logs(all: &mut [Audited], logs: &LogLookup<'_>, now_unix: i64) {
    struct Resolved {
        log: Result<Option<AuditLog>, String>,
        /// Set after a request to the log failed.
        unreachable: Option<String>,
    }
    let mut resolved: BTreeMap<String, Resolved> = BTreeMap::new();
    for (entry, _, input) in all.iter_mut() {
        let Some(input) = input else { continue };
        // A package already refused is not looked up (install stops before the log too).
        if !entry.valid {
            continue;
        }
        let Resolved { log, unreachable } =
            resolved
                .entry(input.source.clone())
                .or_insert_with(|| Resolved {
                    log: logs(&input.source),
                    unreachable: None,
                });
        let error = |message: String| Issue {
            code: None,
            severity: Severity::Error,
            message,
        };
        let log = match &*log {
            Ok(None) => continue,
            Ok(Some(log)) => log,
            Err(e) => {
                entry.valid = false;
                entry.issues.push(error(format!("transparency log: {e}")));
                continue;
            }
        };
        entry.transparency_log = Some(log.pin.prefix.clone());
        let failure = match &input.identity {
            None => Some(
                "the package's id, version or content hash cannot be read to look up its log entry"
                    .to_owned(),
            ),
            // The folder names the package the build loads: a package file of another
            // identity in it would be checked under the wrong entry.
            Some(p)
                if !p.id.eq_ignore_ascii_case(&input.folder.0)
                    || !p.version.eq_ignore_ascii_case(&input.folder.1) =>
            {
                entry.valid = false;
                entry.issues.push(error(format!(
                    "the folder {}/{} holds the package {} {}",
                    Untrusted(&input.folder.0),
                    Untrusted(&input.folder.1),
                    Untrusted(&p.id),
                    Untrusted(&p.version)
                )));
                continue;
            }
            Some(_) if unreachable.is_some() => unreachable.as_ref().map(|why| {
                format!(
                    "not checked: the log {} could not be reached earlier in this audit ({why})",
                    log.pin.prefix
                )
            }),
            Some(p) => {
                let expected = Expected {
                    id: &p.id,
                    version: &p.version,
                    content_hash: &p.content_hash,
                };
                match crate::tlog::check_package(&log.source, &log.pin, &expected, now_unix) {
                    Ok(()) => None,
                    Err(f) => {
                        if f.unreachable {
                            *unreachable = Some(f.message.clone());
                        }
                        Some(f.to_string())
                    }
                }
            }
        };
        if let Some(message) = failure {
            let message = format!("transparency log: {message}");
            match log.pin.policy {
                LogPolicy::Require => {
                    entry.valid = false;
                    entry.issues.push(error(message));
                }
                _ => entry.issues.push(Issue {
                    code: None,
                    severity: Severity::Warning,
                    message,
                }),
            }
        }
    }
}

/// The `source` an installed package's `.nupkg.metadata` records (bounded read), if any.
fn installed_source(folder: &Path) -> Option<String> {
    use std::io::Read as _;
    #[derive(serde::Deserialize)]
    struct Metadata {
        source: Option<String>,
    }
    let file = File::open(folder.join(".nupkg.metadata")).ok()?;
    let mut bytes = Vec::new();
    file.take(64 * 1024).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice::<Metadata>(&bytes)
        .ok()?
        .source
        .filter(|s| !s.is_empty())
}

/// The earliest end of validity of any certificate in the report (Unix seconds).
fn verdict_expiry(report: &PackageReport) -> Option<i64> {
    let mut certs = Vec::new();
    for s in &report.signatures {
        certs.extend(s.certificate.iter());
        certs.extend(s.chain.iter());
        if let Some(ts) = &s.timestamp {
            certs.push(&ts.certificate);
            certs.extend(ts.chain.iter());
        }
    }
    certs
        .iter()
        .filter_map(|c| c.valid_to())
        .map(|t| t.unix_seconds())
        .min()
}

/// A `.nupkg` that sits in a global-packages-folder layout: `{id}/{version}/{id}.{version}.nupkg`
/// with a `.nupkg.metadata` beside it.
struct Layout {
    folder: PathBuf,
    lid: String,
    lver: String,
}

fn install_layout(nupkg: &Path) -> Option<Layout> {
    let folder = nupkg.parent()?;
    let lver = folder.file_name()?.to_str()?.to_string();
    let lid = folder.parent()?.file_name()?.to_str()?.to_string();
    let name = nupkg.file_name()?.to_str()?;
    (name == format!("{lid}.{lver}.nupkg") && folder.join(".nupkg.metadata").is_file()).then(|| {
        Layout {
            folder: folder.to_path_buf(),
            lid,
            lver,
        }
    })
}

/// Most files looked at in one package folder.
const MAX_FOLDER_FILES: usize = 100_000;

/// Every file under `folder` (relative, `/`-separated) with its metadata, not following
/// symbolic links.
fn folder_files(folder: &Path) -> std::io::Result<Vec<(String, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![(folder.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                stack.push((entry.path(), rel));
            } else {
                out.push((rel, meta));
            }
            if out.len() > MAX_FOLDER_FILES {
                return Err(std::io::Error::other("too many files"));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A digest of the identity ([`CacheKey`]) of every file in the package folder.
fn folder_key(folder: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    for (rel, meta) in folder_files(folder)? {
        let k = CacheKey::of(&meta);
        text.push_str(&format!(
            "{rel}\0{} {} {} {} {}\n",
            k.size, k.modified_ns, k.changed_ns, k.inode, k.device
        ));
    }
    Ok(hex(
        &signet_common::HashAlgorithm::Sha256.digest(text.as_bytes())
    ))
}

/// The package folder's files against the package's entries: changed, missing and added files
/// as errors. The expectation is computed from the `.nupkg` just verified, never read from
/// the receipt.
fn compare_folder(nupkg: &Path, l: &Layout) -> Vec<Issue> {
    let error = |message: String| Issue {
        code: None,
        severity: Severity::Error,
        message,
    };
    let expected = match File::open(nupkg)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            Package::open(BufReader::new(f), &Limits::default()).map_err(|e| e.to_string())
        })
        .and_then(|mut p| p.entry_digests().map_err(|e| e.to_string()))
    {
        Ok(x) => installed_files(&x, &l.lid),
        Err(e) => return vec![error(format!("its entries cannot be read: {e}"))],
    };
    let actual = match folder_files(&l.folder) {
        Ok(a) => a,
        Err(e) => return vec![error(format!("its folder cannot be listed: {e}"))],
    };
    let reserved = reserved_names(&l.lid, &l.lver);
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (rel, meta) in &actual {
        if reserved.iter().any(|r| r == rel) || rel == ".signature.p7s" {
            continue;
        }
        seen.insert(rel.clone());
        let shown = Untrusted(rel);
        let Some(want) = expected.get(rel) else {
            problems.push(error(format!(
                "extracted file {shown} is not in the package (added after installation)"
            )));
            continue;
        };
        if !meta.is_file() {
            problems.push(error(format!(
                "extracted file {shown} is no longer a regular file (replaced after installation)"
            )));
            continue;
        }
        let got = File::open(l.folder.join(rel)).and_then(|mut f| {
            let mut h = signet_common::HashAlgorithm::Sha256.hasher();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(buf.get(..n).unwrap_or_default());
            }
            Ok(hex(&h.finish()))
        });
        match got {
            Ok(got) if &got == want => {}
            Ok(_) => problems.push(error(format!(
                "extracted file {shown} differs from the package (changed after installation)"
            ))),
            Err(e) => problems.push(error(format!("extracted file {shown} cannot be read: {e}"))),
        }
    }
    for rel in expected.keys().filter(|k| !seen.contains(*k)) {
        problems.push(error(format!(
            "extracted file {} is missing (removed after installation)",
            Untrusted(rel)
        )));
    }
    problems
}

/// Relative paths of every `.nupkg` under `dir`, not following symbolic links, skipping
/// signet's own work folders.
fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<String>,
    special: &mut Vec<(String, &'static str)>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 16 {
        let rel = dir
            .strip_prefix(root)
            .unwrap_or(dir)
            .to_string_lossy()
            .replace('\\', "/");
        special.push((rel, "folder nested too deep to audit (more than 16 levels)"));
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        what: format!("reading {}", dir.display()),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(".signet-") {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        let path: PathBuf = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if ft.is_dir() {
            collect(root, &path, out, special, depth + 1)?;
        } else if ft.is_symlink() {
            // A linked package or version folder would be loaded by the build from wherever it
            // points: reported, never followed or skipped silently.
            special.push((rel, "symbolic link"));
        } else if name.to_ascii_lowercase().ends_with(".nupkg") {
            if ft.is_file() {
                out.push(rel);
            } else {
                special.push((rel, special_kind(&ft)));
            }
        }
    }
    Ok(())
}

/// What a non-regular file is, for the report.
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "FIFO";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "device";
        }
        if ft.is_socket() {
            return "socket";
        }
    }
    if ft.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// The stapled responses a package folder's receipt carries (bounded read; anything
/// unreadable is none: staples are only a shortcut, every one is verified before use).
fn receipt_staples(folder: &Path) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    use std::io::Read as _;
    #[derive(serde::Deserialize)]
    struct Staples {
        #[serde(default)]
        staples: Vec<String>,
    }
    let Ok(file) = File::open(folder.join(crate::RECEIPT_FILE)) else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    if file.take(4 * 1024 * 1024).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    serde_json::from_slice::<Staples>(&bytes)
        .map(|s| {
            s.staples
                .iter()
                .take(signet_trust::MAX_STAPLES)
                .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .collect()
        })
        .unwrap_or_default()
}
