//! Auditing a packages folder: re-verify every package, in parallel, skipping those whose
//! file, trust roots and policy are unchanged since the last audit.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use signet_trust::{ClientPolicy, Issue, TrustStore, VerifyOptions, decide, verify_package};

use crate::Error;

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
}

/// One audited package.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditEntry {
    /// The `.nupkg`, relative to the folder.
    pub path: String,
    /// Allowed by the policy.
    pub valid: bool,
    /// Its issues (errors when refused, warnings otherwise).
    pub issues: Vec<Issue>,
    /// Taken from the cache (not verified again).
    pub cached: bool,
}

/// Totals of an audit.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AuditSummary {
    /// Packages found.
    pub packages: usize,
    /// Verified in this run.
    pub verified: usize,
    /// Taken from the cache.
    pub cached: usize,
    /// Refused by the policy.
    pub invalid: usize,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct CacheKey {
    size: u64,
    modified_ns: u128,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    key: CacheKey,
    valid: bool,
    issues: Vec<CachedIssue>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct CachedIssue {
    code: Option<String>,
    error: bool,
    message: String,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    trust_roots: String,
    policy: String,
    entries: BTreeMap<String, CacheEntry>,
}

/// Audits every `*.nupkg` under `dir` (a global packages folder or any tree).
/// `progress(done, total)` is called as packages finish.
pub fn audit(
    dir: &Path,
    opts: &AuditOptions<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Vec<AuditEntry>, AuditSummary), Error> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files, 0)?;
    files.sort();
    let roots = opts.store.fingerprint();
    let old: CacheFile = opts
        .cache_file
        .as_deref()
        .and_then(read_cache)
        .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
        .filter(|c| c.trust_roots == roots && c.policy == opts.policy.name())
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
        trust_roots: roots,
        policy: opts.policy.name().to_string(),
        entries: BTreeMap::new(),
    };
    let mut summary = AuditSummary {
        packages: total,
        ..AuditSummary::default()
    };
    for (entry, cache) in results.into_iter().flatten() {
        if entry.cached {
            summary.cached += 1;
        } else {
            summary.verified += 1;
        }
        if !entry.valid {
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

/// An audited package and its new cache entry.
type Audited = (AuditEntry, Option<CacheEntry>);

fn audit_one(dir: &Path, rel: &str, opts: &AuditOptions<'_>, old: &CacheFile) -> Audited {
    let path = dir.join(rel);
    let key = std::fs::metadata(&path).ok().map(|m| CacheKey {
        size: m.len(),
        modified_ns: m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos()),
    });
    if let (Some(key), Some(hit)) = (&key, old.entries.get(rel))
        && &hit.key == key
    {
        let issues = hit
            .issues
            .iter()
            .map(|i| Issue {
                code: i.code.as_deref().and_then(signet_common::NuCode::parse),
                severity: if i.error {
                    signet_common::Severity::Error
                } else {
                    signet_common::Severity::Warning
                },
                message: i.message.clone(),
            })
            .collect();
        return (
            AuditEntry {
                path: rel.to_string(),
                valid: hit.valid,
                issues,
                cached: true,
            },
            Some(hit.clone()),
        );
    }
    let report = match File::open(&path) {
        Ok(f) => verify_package(BufReader::new(f), opts.store, &opts.options),
        Err(e) => {
            let entry = AuditEntry {
                path: rel.to_string(),
                valid: false,
                issues: vec![Issue {
                    code: None,
                    severity: signet_common::Severity::Error,
                    message: format!("cannot be opened: {e}"),
                }],
                cached: false,
            };
            return (entry, None);
        }
    };
    let decision = decide(opts.policy, &report);
    let (valid, issues) = match decision {
        signet_trust::Decision::Allow => (true, Vec::new()),
        signet_trust::Decision::Warn(w) => (true, w),
        signet_trust::Decision::Block(e) => (false, e),
    };
    let cache = key.map(|key| CacheEntry {
        key,
        valid,
        issues: issues
            .iter()
            .map(|i| CachedIssue {
                code: i.code.map(|c| c.to_string()),
                error: i.severity == signet_common::Severity::Error,
                message: i.message.clone(),
            })
            .collect(),
    });
    (
        AuditEntry {
            path: rel.to_string(),
            valid,
            issues,
            cached: false,
        },
        cache,
    )
}

/// Relative paths of every `.nupkg` under `dir`, not following symbolic links, skipping
/// signet's own work folders.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>, depth: usize) -> Result<(), Error> {
    if depth > 16 {
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
        if ft.is_dir() {
            collect(root, &path, out, depth + 1)?;
        } else if ft.is_file()
            && name.to_ascii_lowercase().ends_with(".nupkg")
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}
