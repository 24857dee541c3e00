//! `signet admin upstream …` and `signet admin mirror …`: the enterprise mirror's upstreams
//! (pinned from their `RepositorySignatures`), prefetching, refusals and quarantine. Glue
//! only: the mirror is `signet_server::mirror`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use signet_common::Untrusted;
use signet_feed::VersionRange;
use signet_nupkg::PackageId;
use signet_server::mirror::{SigningMode, Upstream, UpstreamSettings};

use crate::admin::{with_registry, with_signing_registry};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// An upstream's policy options (`add` sets them; `set` changes the ones given).
#[derive(Args, Debug, Default)]
pub struct UpstreamOptions {
    /// Package-id glob taken from this upstream (repeatable; default every id).
    #[arg(long = "allow", value_name = "GLOB")]
    allow: Vec<String>,
    /// Package-id glob never taken from it (repeatable).
    #[arg(long = "deny", value_name = "GLOB")]
    deny: Vec<String>,
    /// Versions never taken: GLOB@RANGE, e.g. 'Contoso.*@[1.0,1.2)' (repeatable).
    #[arg(long = "block", value_name = "GLOB@RANGE")]
    block: Vec<String>,
    /// Largest package taken, in bytes (the server's push limit applies too).
    #[arg(long, value_name = "BYTES")]
    max_package_size: Option<u64>,
    /// Seconds each upstream request may take, body included (default 60).
    #[arg(long, value_name = "SECONDS")]
    timeout_seconds: Option<u64>,
    /// Revocation checks of the upstream's signatures: online or offline (default offline).
    #[arg(long, value_name = "MODE")]
    revocation_mode: Option<String>,
    /// Hold versions the upstream signed less than this many hours ago (0: off).
    #[arg(long, value_name = "HOURS")]
    min_age_hours: Option<u64>,
    /// Seconds an upstream version list is reused (default 300).
    #[arg(long, value_name = "SECONDS")]
    list_cache_seconds: Option<u64>,
    /// resign (default: this server's repository signature replaces the upstream's) or
    /// passthrough (the upstream's repository signature is kept).
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// Allow a plain-http upstream on a loopback address (tests, local development).
    #[arg(long)]
    allow_insecure_loopback: bool,
    /// With `set`: empty the allow, deny and block lists first (then the ones given apply).
    #[arg(long)]
    clear_lists: bool,
    /// With `set`: https only again (undoes --allow-insecure-loopback).
    #[arg(long, conflicts_with = "allow_insecure_loopback")]
    https_only: bool,
}

impl UpstreamOptions {
    /// Applies the options. `add` starts from empty lists; `set` adds the globs and rules
    /// given to the lists there are (so reserving one id never drops an incident's deny),
    /// after emptying them with `--clear-lists`.
    fn apply(&self, s: &mut UpstreamSettings, replace_lists: bool) -> Result<(), String> {
        if replace_lists || self.clear_lists {
            s.allow.clear();
            s.deny.clear();
            s.block.clear();
        }
        if self.https_only {
            s.allow_insecure_loopback = false;
        }
        let add = |list: &mut Vec<String>, new: &[String]| {
            for n in new {
                if !list.iter().any(|x| x.eq_ignore_ascii_case(n)) {
                    list.push(n.clone());
                }
            }
        };
        add(&mut s.allow, &self.allow);
        add(&mut s.deny, &self.deny);
        add(&mut s.block, &self.block);
        if let Some(v) = self.max_package_size {
            s.max_package_size = Some(v);
        }
        if let Some(v) = self.timeout_seconds {
            s.timeout_seconds = v;
        }
        if let Some(v) = &self.revocation_mode {
            s.revocation_mode = v.to_ascii_lowercase();
        }
        if let Some(v) = self.min_age_hours {
            s.min_age_hours = v;
        }
        if let Some(v) = self.list_cache_seconds {
            s.list_cache_seconds = v;
        }
        if let Some(m) = &self.mode {
            s.mode = SigningMode::parse(m)
                .ok_or_else(|| format!("--mode {m:?}: resign or passthrough"))?;
        }
        if self.allow_insecure_loopback {
            s.allow_insecure_loopback = true;
        }
        Ok(())
    }
}

/// `signet admin upstream …`.
#[derive(Subcommand, Debug)]
pub enum UpstreamCommand {
    /// Add an upstream v3 feed: its service index is read and every repository certificate
    /// its RepositorySignatures resource announces is pinned (https only).
    Add {
        /// A name for it (letters, digits, '.', '-', '_').
        name: String,
        /// Its service index URL.
        url: String,
        #[command(flatten)]
        options: UpstreamOptions,
    },
    /// Read the upstream's RepositorySignatures again and pin what it announces now (after
    /// it rotated its certificate).
    Sync {
        /// The upstream.
        name: String,
    },
    /// Change an upstream's policy: the options given; globs and block rules are added to
    /// the lists (--clear-lists empties them first).
    Set {
        /// The upstream.
        name: String,
        #[command(flatten)]
        options: UpstreamOptions,
    },
    /// List the upstreams, their policies and pinned certificates.
    List,
    /// Remove an upstream (what was mirrored from it stays, and is served).
    Remove {
        /// The upstream.
        name: String,
    },
}

/// `signet admin mirror …`.
#[derive(Subcommand, Debug)]
pub enum MirrorCommand {
    /// Mirror packages and their dependency closure now: ID (its highest stable version),
    /// ID@RANGE (every version in the range), a packages.lock.json or a project.assets.json.
    /// Resumable: what is mirrored already is skipped.
    Fetch {
        /// ID or ID@RANGE (NuGet range syntax: 1.0 means >= 1.0, [1.0] exactly 1.0).
        packages: Vec<String>,
        /// Every resolved package of a packages.lock.json.
        #[arg(long, value_name = "FILE")]
        lock_file: Vec<PathBuf>,
        /// Every package library of an obj/project.assets.json.
        #[arg(long, value_name = "FILE")]
        assets_file: Vec<PathBuf>,
        /// Fetches at once (default 8).
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
    /// What the mirror refused (verification failures, blocked and quarantined versions,
    /// unreachable upstreams, mismatches), newest first.
    Refusals {
        /// Only the last HOURS hours (default 168).
        #[arg(long, value_name = "HOURS", default_value_t = 168)]
        since_hours: u64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Let a quarantined version through before its minimum age.
    Release {
        /// Package id.
        id: String,
        /// Version.
        version: String,
    },
    /// Fetch the upstream's copy of a mirrored version again and compare it with the first
    /// one (a difference is recorded; the stored copy stays what is served).
    Recheck {
        /// Package id.
        id: String,
        /// Version.
        version: String,
    },
}

fn print_upstream(u: &Upstream) {
    let s = &u.settings;
    out!(
        "{} {} (mode {}, revocation {}, timeout {} s, list cache {} s{}{})",
        Untrusted(&u.name),
        Untrusted(&u.service_index),
        s.mode.name(),
        s.revocation_mode,
        s.timeout_seconds,
        s.list_cache_seconds,
        if s.min_age_hours > 0 {
            format!(", quarantine {} h", s.min_age_hours)
        } else {
            String::new()
        },
        match s.max_package_size {
            Some(n) => format!(", at most {n} bytes"),
            None => String::new(),
        }
    );
    if !s.allow.is_empty() {
        out!("  allow: {}", s.allow.join(" "));
    }
    if !s.deny.is_empty() {
        out!("  deny: {}", s.deny.join(" "));
    }
    if !s.block.is_empty() {
        out!("  block: {}", s.block.join(" "));
    }
    for c in &u.certificates {
        out!(
            "  pinned {} {} (until {})",
            c.fingerprint.to_ascii_uppercase(),
            Untrusted(&c.subject),
            Untrusted(&c.not_after)
        );
    }
}

/// Runs `signet admin upstream …`.
pub fn upstream(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    command: UpstreamCommand,
) -> u8 {
    match command {
        UpstreamCommand::Add { name, url, options } => {
            let mut settings = UpstreamSettings::default();
            if let Err(e) = options.apply(&mut settings, true) {
                err!("error: {e}");
                return EXIT_USAGE;
            }
            with_registry(runtime, cfg, "", async |r| {
                let u = r.add_upstream(&name, &url, settings).await?;
                out!(
                    "added upstream {} with {} pinned repository certificate(s):",
                    Untrusted(&u.name),
                    u.certificates.len()
                );
                print_upstream(&u);
                Ok(())
            })
        }
        UpstreamCommand::Sync { name } => with_registry(runtime, cfg, "", async |r| {
            let (pinned, added, removed) = r.sync_upstream(&name).await?;
            out!(
                "upstream {}: {} certificate(s) pinned, {} added, {} removed",
                Untrusted(&name),
                pinned.len(),
                added.len(),
                removed.len()
            );
            for f in added {
                out!("  added {}", f.to_ascii_uppercase());
            }
            for f in removed {
                out!("  removed {}", f.to_ascii_uppercase());
            }
            Ok(())
        }),
        UpstreamCommand::Set { name, options } => with_registry(runtime, cfg, "", async |r| {
            let mut u = r.upstream(&name).await?;
            options
                .apply(&mut u.settings, false)
                .map_err(signet_server::Error::Invalid)?;
            r.set_upstream_settings(&name, &u.settings).await?;
            print_upstream(&u);
            Ok(())
        }),
        UpstreamCommand::List => with_registry(runtime, cfg, "", async |r| {
            let all = r.upstreams().await?;
            if all.is_empty() {
                out!("no upstreams (add one with: signet admin upstream add NAME URL)");
            }
            for u in &all {
                print_upstream(u);
            }
            Ok(())
        }),
        UpstreamCommand::Remove { name } => with_registry(
            runtime,
            cfg,
            &format!("removed upstream {}", Untrusted(&name)),
            async |r| r.remove_upstream(&name).await,
        ),
    }
}

/// `ID` or `ID@RANGE`.
fn parse_root(s: &str) -> Result<(PackageId, Option<VersionRange>), String> {
    let (id, range) = match s.split_once('@') {
        Some((id, r)) => (id, Some(r)),
        None => (s, None),
    };
    let id = PackageId::parse(id).map_err(|e| format!("{}: {e}", Untrusted(s)))?;
    let range = range
        .map(|r| VersionRange::parse(r).map_err(|e| format!("{}: {e}", Untrusted(s))))
        .transpose()?;
    Ok((id, range))
}

/// The most a lock or assets file may be (they are JSON documents of a project).
const MAX_PROJECT_FILE: u64 = 64 * 1024 * 1024;

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_PROJECT_FILE {
        return Err(format!(
            "{}: larger than {MAX_PROJECT_FILE} bytes",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

/// `packages.lock.json`: `dependencies.{framework}.{id}.resolved` of every package (not
/// project references).
fn lock_file_roots(path: &Path) -> Result<Vec<(PackageId, Option<VersionRange>)>, String> {
    let doc = read_json(path)?;
    let mut out = Vec::new();
    let frameworks = doc
        .get("dependencies")
        .and_then(|d| d.as_object())
        .ok_or_else(|| format!("{}: no \"dependencies\" object", path.display()))?;
    for packages in frameworks.values().filter_map(|f| f.as_object()) {
        for (id, entry) in packages {
            if entry.get("type").and_then(|t| t.as_str()) == Some("Project") {
                continue;
            }
            let Some(resolved) = entry.get("resolved").and_then(|r| r.as_str()) else {
                continue;
            };
            out.push(parse_root(&format!("{id}@[{resolved}]"))?);
        }
    }
    Ok(out)
}

/// `project.assets.json`: every `libraries` entry of type `package` (`Id/Version`).
fn assets_file_roots(path: &Path) -> Result<Vec<(PackageId, Option<VersionRange>)>, String> {
    let doc = read_json(path)?;
    let libraries = doc
        .get("libraries")
        .and_then(|d| d.as_object())
        .ok_or_else(|| format!("{}: no \"libraries\" object", path.display()))?;
    let mut out = Vec::new();
    for (key, entry) in libraries {
        if entry.get("type").and_then(|t| t.as_str()) != Some("package") {
            continue;
        }
        let Some((id, version)) = key.split_once('/') else {
            continue;
        };
        out.push(parse_root(&format!("{id}@[{version}]"))?);
    }
    Ok(out)
}

/// Runs `signet admin mirror …`.
pub fn mirror(
    runtime: &tokio::runtime::Runtime,
    cfg: &signet_server::Config,
    command: MirrorCommand,
) -> u8 {
    match command {
        MirrorCommand::Fetch {
            packages,
            lock_file,
            assets_file,
            parallel,
        } => {
            let mut roots = Vec::new();
            let parsed = packages
                .iter()
                .map(|p| parse_root(p).map(|r| vec![r]))
                .chain(lock_file.iter().map(|p| lock_file_roots(p)))
                .chain(assets_file.iter().map(|p| assets_file_roots(p)));
            for r in parsed {
                match r {
                    Ok(mut r) => roots.append(&mut r),
                    Err(e) => {
                        err!("error: {e}");
                        return EXIT_USAGE;
                    }
                }
            }
            if roots.is_empty() {
                err!("error: nothing to fetch: give ID, ID@RANGE, --lock-file or --assets-file");
                return EXIT_USAGE;
            }
            let bar = if std::io::stderr().is_terminal() {
                let bar = indicatif::ProgressBar::new(roots.len() as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{bar:30}] {pos}/{len} packages ({per_sec})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                Some(bar)
            } else {
                None
            };
            let mut failed = false;
            let code = with_signing_registry(runtime, cfg, async |r| {
                let progress = |done: usize, known: usize| {
                    if let Some(b) = &bar {
                        b.set_length(known as u64);
                        b.set_position(done as u64);
                    }
                };
                let started = std::time::Instant::now();
                let s = r.mirror_prefetch(roots, parallel, &progress).await?;
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                let secs = started.elapsed().as_secs_f64();
                let total = s.fetched + s.cached;
                out!(
                    "mirrored {} package version(s) in {secs:.1} s ({:.0}/s): {} fetched now, {} already mirrored, {} refused",
                    total,
                    if secs > 0.0 { total as f64 / secs } else { 0.0 },
                    s.fetched,
                    s.cached,
                    s.refused.len()
                );
                for (id, version, why) in &s.refused {
                    out!(
                        "  refused {} {}: {}",
                        Untrusted(id),
                        Untrusted(version),
                        Untrusted(why)
                    );
                }
                failed = !s.refused.is_empty();
                Ok(())
            });
            if code == EXIT_OK && failed {
                EXIT_FAILED
            } else {
                code
            }
        }
        MirrorCommand::Refusals { since_hours, json } => {
            with_registry(runtime, cfg, "", async |r| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
                let since = now.saturating_sub(
                    i64::try_from(since_hours)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(3_600_000_000),
                );
                let list = r.mirror_refusals(since).await?;
                if json {
                    out!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "formatVersion": 2,
                            "refusals": list
                        }))
                        .unwrap_or_default()
                    );
                    return Ok(());
                }
                if list.is_empty() {
                    out!("no refusals in the last {since_hours} hours");
                }
                for f in &list {
                    out!(
                        "{} {} {} {} from {}: {}{}",
                        signet_common::UtcTime::from_unix_micros(f.at).rfc3339(),
                        f.kind,
                        Untrusted(&f.id),
                        Untrusted(&f.version),
                        Untrusted(&f.upstream),
                        f.code
                            .as_deref()
                            .map(|c| format!("{c}: "))
                            .unwrap_or_default(),
                        Untrusted(&f.reason)
                    );
                }
                Ok(())
            })
        }
        MirrorCommand::Release { id, version } => with_registry(
            runtime,
            cfg,
            &format!(
                "released {} {} from quarantine",
                Untrusted(&id),
                Untrusted(&version)
            ),
            async |r| r.release_quarantined(&id, &version, "administrator").await,
        ),
        MirrorCommand::Recheck { id, version } => {
            let mut mismatch = false;
            let code = with_registry(runtime, cfg, "", async |r| {
                match r.mirror_recheck(&id, &version).await? {
                    None => out!(
                        "{} {}: the upstream serves the same bytes as when it was mirrored",
                        Untrusted(&id),
                        Untrusted(&version)
                    ),
                    Some(text) => {
                        mismatch = true;
                        out!("MISMATCH: {}", Untrusted(&text));
                    }
                }
                Ok(())
            });
            if code == EXIT_OK && mismatch {
                EXIT_FAILED
            } else {
                code
            }
        }
    }
}
