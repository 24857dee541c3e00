//! `install`: resolve → verify everything → extract everything.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use signet_common::{HashAlgorithm, UtcTime};
use signet_feed::{Budget, Downloaded, Framework, NuGetVersion, PackageId, Source, SourceMapping};
use signet_nupkg::{Limits, Package};
use signet_trust::{
    AllowList, ClientPolicy, ContentHash, Decision, Issue, RevocationMode, RevocationSource,
    SourceTrust, StapleMemory, StapledRevocation, TrustStore, VerifiedPackage, decide, options_for,
    verify_package,
};

use crate::Error;

/// The receipt file written into each installed package's folder.
pub const RECEIPT_FILE: &str = ".signet.receipt.json";

/// A source and the policy its packages are verified under.
pub struct ConfiguredSource {
    /// The feed.
    pub source: Source,
    /// Its client policy.
    pub policy: ClientPolicy,
    /// Its key in `<packageSources>` (what `<packageSourceMapping>` refers to); `None` for a
    /// source given by location only.
    pub name: Option<String>,
    /// The source's pinned transparency log, when checks are on (issue 17).
    pub log: Option<crate::tlog::LogPin>,
}

impl ConfiguredSource {
    fn trust(&self) -> SourceTrust {
        match self.source.repository_signatures() {
            None => SourceTrust::default(),
            Some(rs) => SourceTrust {
                repository_certificates: Some(
                    rs.certificates
                        .iter()
                        .flat_map(|c| c.fingerprints.iter().cloned())
                        .collect(),
                ),
                all_repository_signed: rs.all_repository_signed,
            },
        }
    }
}

/// What verification trusts.
pub struct TrustContext<'a> {
    /// Trust anchors.
    pub store: &'a TrustStore,
    /// The client's trusted signers (nuget.config).
    pub trusted_signers: Option<AllowList>,
    /// Certificates with `allowUntrustedRoot="true"`.
    pub allow_untrusted_root: Vec<(HashAlgorithm, String)>,
    /// Online or offline revocation.
    pub revocation_mode: RevocationMode,
    /// Where revocation status comes from (`None`: none checked).
    pub revocation: Option<Arc<dyn RevocationSource>>,
    /// Revocation from the feed's stapled responses only, never from a CA (the air-gapped
    /// mode, `--revocation-mode stapled`).
    pub stapled_only: bool,
    /// The newest stapled status seen per certificate (replay protection), kept per user.
    pub staple_memory: Option<Arc<StapleMemory>>,
    /// The verification time.
    pub now: UtcTime,
}

/// A package of the graph once verified: what staging and the receipt need.
struct Checked {
    package: Downloaded,
    proof: VerifiedPackage,
    warnings: Vec<Issue>,
    /// Certificate statuses answered from the feed's staples.
    stapled_statuses: usize,
    /// The feed's staples (base64), kept in the receipt.
    staples: Vec<String>,
}

/// What to install.
pub struct InstallRequest<'a> {
    /// Package id.
    pub id: &'a PackageId,
    /// Exact version (`None`: the highest stable).
    pub version: Option<&'a NuGetVersion>,
    /// Allow a prerelease when no version is given.
    pub prerelease: bool,
    /// The target framework, for dependency groups.
    pub framework: &'a Framework,
    /// The global packages folder.
    pub packages_dir: &'a Path,
    /// `<packageSourceMapping>`: which sources each id may come from (`None` or empty: all).
    pub mapping: Option<&'a SourceMapping>,
    /// The resolver's work budget.
    pub budget: Budget,
}

/// Progress of an install.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Downloading a package during resolution.
    Downloading {
        /// Id.
        id: &'a str,
        /// Version.
        version: &'a NuGetVersion,
    },
    /// The graph is resolved: one event per package, before anything is verified.
    Resolved {
        /// Id.
        id: &'a str,
        /// Version.
        version: &'a NuGetVersion,
        /// The source it comes from (its name, else its location).
        source: String,
        /// The `<packageSourceMapping>` pattern that chose its sources, if any.
        mapped_by: Option<&'a str>,
    },
    /// A package was verified.
    Verified {
        /// Id.
        id: &'a str,
        /// Version.
        version: &'a NuGetVersion,
        /// The policy's decision.
        decision: &'a Decision,
    },
    /// A package was extracted.
    Extracted {
        /// Id.
        id: &'a str,
        /// Version.
        version: &'a NuGetVersion,
    },
}

/// One package of a finished install.
#[derive(Clone, Debug)]
pub struct Installed {
    /// Id as the nuspec writes it.
    pub id: String,
    /// Version.
    pub version: NuGetVersion,
    /// Its folder in the packages folder.
    pub path: PathBuf,
    /// Warnings of its verification.
    pub warnings: Vec<Issue>,
    /// It was already in the packages folder: resolved and verified again, not re-extracted.
    pub already_installed: bool,
    /// Certificate statuses answered by the feed's stapled responses (no CA was asked for
    /// them).
    pub stapled_statuses: usize,
}

/// Resolves, verifies and installs `req` and its dependencies. Every package is verified
/// under its source's policy before anything is extracted; if one is blocked, nothing of this
/// install is extracted and the error names the package, the source and the NU code.
///
/// All or nothing: every package of the graph is first extracted into its own staging folder
/// inside the packages folder; only when all of them are staged are they renamed into place,
/// and if one rename fails the ones already placed by this install are removed again, so the
/// packages folder is left as it was.
pub fn install(
    req: &InstallRequest<'_>,
    sources: &[ConfiguredSource],
    ctx: &TrustContext<'_>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<Installed>, Error> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| Error::Io { what, source }
    };
    std::fs::create_dir_all(req.packages_dir).map_err(io("creating the packages folder"))?;
    // Downloads and staging live inside the packages folder: same filesystem, so the final
    // rename is atomic. The directory is removed on every exit.
    let work = tempfile::Builder::new()
        .prefix(".signet-install-")
        .tempdir_in(req.packages_dir)
        .map_err(io("creating a work directory"))?;
    let feed_sources: Vec<&Source> = sources.iter().map(|s| &s.source).collect();
    let names: Vec<Option<String>> = sources.iter().map(|s| s.name.clone()).collect();
    let limits = Limits::default();
    let graph = resolve_in(req, &feed_sources, &names, work.path(), &limits, on_event)?;
    for d in &graph {
        let source = sources
            .get(d.source)
            .map(|s| s.name.clone().unwrap_or_else(|| s.source.describe()))
            .unwrap_or_default();
        on_event(Event::Resolved {
            id: d.id.as_str(),
            version: &d.version,
            source,
            mapped_by: d.mapped_by.as_deref(),
        });
    }

    // 1. Verify everything.
    let mut verified: Vec<Checked> = Vec::new();
    for d in graph {
        let configured = sources.get(d.source).ok_or_else(|| Error::Io {
            what: "internal: unknown source".into(),
            source: std::io::Error::other("unknown source"),
        })?;
        let mut options = options_for(
            configured.policy,
            ctx.trusted_signers.as_ref(),
            &ctx.allow_untrusted_root,
            &configured.trust(),
            ctx.revocation_mode,
            ctx.now,
        );
        options.content_hash = ContentHash::Compute;
        // Stapled status first when the feed serves it (or when only staples may be used).
        // A staple document that cannot be fetched costs the staples, not the install: the
        // certificates are then checked as without staples (online, or unknown in
        // stapled-only mode, which is reported below).
        let mut staple_trouble = None;
        let staples = if configured.source.staples_revocation() {
            match configured.source.stapled_responses(&d.id, &d.version) {
                Ok(s) => s,
                Err(e) => {
                    staple_trouble = Some(e.to_string());
                    None
                }
            }
        } else {
            None
        };
        // Kept in the receipt: the CA-signed responses travel with the package, so an audit
        // of the packages folder checks revocation without a CA too.
        let staples_kept: Vec<String> = {
            use base64::Engine as _;
            staples
                .iter()
                .flatten()
                .map(|r| base64::engine::general_purpose::STANDARD.encode(r))
                .collect()
        };
        let stapled = (staples.is_some() || ctx.stapled_only).then(|| {
            Arc::new(StapledRevocation::new(
                staples.unwrap_or_default(),
                if ctx.stapled_only {
                    None
                } else {
                    ctx.revocation.clone()
                },
                ctx.staple_memory.clone(),
                signet_trust::RevocationLimits::default(),
            ))
        });
        options.revocation = match &stapled {
            Some(s) => Some(Arc::clone(s) as Arc<dyn RevocationSource>),
            None => ctx.revocation.clone(),
        };
        let file = File::open(&d.path).map_err(io("reading a downloaded package"))?;
        let report = verify_package(BufReader::new(file), ctx.store, &options);
        let mut decision = decide(configured.policy, &report);
        // Revocation that could not be checked from staples is said, whatever the policy does
        // with unknown status: in stapled-only mode a feed that withholds staples must not
        // pass silently.
        let unchecked = stapled.as_ref().map_or(0, |s| s.unanswered());
        let mut notes = Vec::new();
        if let Some(why) = staple_trouble {
            notes.push(Issue {
                code: None,
                severity: signet_common::Severity::Warning,
                message: format!(
                    "the feed's stapled revocation status could not be read: {}",
                    signet_common::Untrusted(&why)
                ),
            });
        }
        if unchecked > 0 {
            notes.push(Issue {
                code: Some(signet_common::NuCode::NU3018),
                severity: signet_common::Severity::Warning,
                message: format!(
                    "revocation was not checked for {unchecked} certificate(s): the feed served no current stapled status for them, and --revocation-mode stapled does not go online"
                ),
            });
        }
        if !notes.is_empty() {
            decision = match decision {
                Decision::Allow => Decision::Warn(notes),
                Decision::Warn(mut w) => {
                    w.extend(notes);
                    Decision::Warn(w)
                }
                blocked => blocked,
            };
        }
        on_event(Event::Verified {
            id: d.id.as_str(),
            version: &d.version,
            decision: &decision,
        });
        let warnings = match decision {
            Decision::Block(issues) => {
                return Err(Error::Blocked {
                    id: d.id.to_string(),
                    version: d.version.to_string(),
                    source_url: configured.source.describe(),
                    issues,
                    signatures: report.signatures.clone(),
                });
            }
            Decision::Warn(w) => w,
            Decision::Allow => Vec::new(),
        };
        let Some(proof) = report.verified().cloned() else {
            return Err(Error::Blocked {
                id: d.id.to_string(),
                version: d.version.to_string(),
                source_url: configured.source.describe(),
                issues: report.issues.clone(),
                signatures: report.signatures.clone(),
            });
        };
        // The transparency log: the package must be in the source's pinned log, under a
        // checkpoint consistent with every one this user has seen from it.
        let mut warnings = warnings;
        if let Some(pin) = &configured.log {
            let expected = crate::tlog::Expected {
                id: d.id.as_str(),
                version: d.version.normalized(),
                content_hash: proof.content_hash().unwrap_or_default(),
            };
            if let Err(f) = crate::tlog::check_package(
                &configured.source,
                pin,
                &expected,
                ctx.now.unix_seconds(),
            ) {
                match pin.policy {
                    crate::tlog::LogPolicy::Require => {
                        return Err(Error::TransparencyLog {
                            id: d.id.to_string(),
                            version: d.version.to_string(),
                            source_url: configured.source.describe(),
                            failure: Box::new(f),
                        });
                    }
                    _ => warnings.push(Issue {
                        code: None,
                        severity: signet_common::Severity::Warning,
                        message: format!("transparency log: {f}"),
                    }),
                }
            }
        }
        let answered = stapled.as_ref().map_or(0, |s| s.answered_from_staples());
        verified.push(Checked {
            package: d,
            proof,
            warnings,
            stapled_statuses: answered,
            staples: staples_kept,
        });
    }

    // 2. Stage everything (each package extracted into its own folder). The trust-root
    // fingerprint hashes every anchor (about 600 kB for the bundled roots): once per install,
    // not per package.
    let trust_roots = ctx.store.fingerprint();
    let mut staged = Vec::new();
    for Checked {
        package: d,
        proof,
        warnings,
        stapled_statuses: stapled,
        staples,
    } in verified
    {
        let source_url = sources
            .get(d.source)
            .map(|s| s.source.describe())
            .unwrap_or_default();
        let policy = sources
            .get(d.source)
            .map_or(ClientPolicy::Accept, |s| s.policy);
        let receipt = Receipt {
            content_hash: proof.content_hash().unwrap_or_default().to_string(),
            policy: policy.name().to_string(),
            trust_roots: trust_roots.clone(),
            signed: proof.signed(),
            signers: proof.signer_fingerprints().to_vec(),
            verified_at: ctx.now.rfc3339(),
            files: BTreeMap::new(),
            staples,
        };
        let s = stage_verified(
            &d.path,
            &proof,
            &d.id,
            &d.version,
            req.packages_dir,
            &source_url,
            receipt,
        )?;
        staged.push((d, s, warnings, stapled));
    }

    // 3. Commit: every staged folder renamed into place, or none.
    let mut placed: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for (d, s, warnings, stapled_statuses) in staged {
        match s.commit() {
            Ok((path, already, created)) => {
                if let Some(created) = created {
                    placed.push(created);
                }
                on_event(Event::Extracted {
                    id: d.id.as_str(),
                    version: &d.version,
                });
                out.push(Installed {
                    id: d.id.to_string(),
                    version: d.version,
                    path,
                    warnings,
                    already_installed: already,
                    stapled_statuses,
                });
            }
            Err(e) => {
                // Undo this install's renames (newest first): the folder is as it was.
                for p in placed.iter().rev() {
                    let _ = std::fs::remove_dir_all(p);
                    if let Some(parent) = p.parent() {
                        // Only removes the id folder if this install left it empty.
                        let _ = std::fs::remove_dir(parent);
                    }
                }
                return Err(e);
            }
        }
    }
    drop(work);
    Ok(out)
}

fn resolve_in(
    req: &InstallRequest<'_>,
    sources: &[&Source],
    names: &[Option<String>],
    work: &Path,
    limits: &Limits,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<Downloaded>, Error> {
    let request = signet_feed::Request {
        id: req.id,
        version: req.version,
        prerelease: req.prerelease,
        framework: req.framework,
        mapping: req.mapping.map(|m| (m, names)),
        budget: req.budget,
    };
    Ok(signet_feed::resolve(
        &request,
        sources,
        work,
        limits,
        &mut |id, version| {
            on_event(Event::Downloading {
                id: id.as_str(),
                version,
            })
        },
    )?)
}

/// What the receipt next to an installed package records.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// Content hash of the verified bytes (`.nupkg.metadata` has the same).
    pub content_hash: String,
    /// The policy it was verified under.
    pub policy: String,
    /// [`TrustStore::fingerprint`] of the roots it was verified against.
    pub trust_roots: String,
    /// Whether it was signed.
    pub signed: bool,
    /// SHA-256 fingerprints of the signers evaluated.
    pub signers: Vec<String>,
    /// When.
    pub verified_at: String,
    /// Every extracted file (relative path, `/`-separated) and the SHA-256 (hex) of what was
    /// written. An audit does not trust this list (the folder's writers could rewrite it): it
    /// recomputes the expectation from the verified package; the list is for other tools.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The feed's stapled OCSP responses for the package's chains (base64 DER), as the CAs
    /// signed them: the audit checks revocation with them before going online.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staples: Vec<String>,
}

/// Extracts a verified package into `packages_dir/{id}/{version}/` atomically and returns
/// the folder and whether it was already there (see [`stage_verified`]).
pub fn extract_verified(
    nupkg: &Path,
    proof: &VerifiedPackage,
    id: &PackageId,
    version: &NuGetVersion,
    packages_dir: &Path,
    source_url: &str,
    receipt: Receipt,
) -> Result<(PathBuf, bool), Error> {
    let staged = stage_verified(nupkg, proof, id, version, packages_dir, source_url, receipt)?;
    staged.commit().map(|(path, already, _)| (path, already))
}

/// A package extracted into a staging folder inside the packages folder, ready to be renamed
/// into place by [`Staged::commit`]. Dropped uncommitted, the staging folder is removed.
pub struct Staged {
    /// `None`: the package was already installed; nothing to do.
    stage: Option<tempfile::TempDir>,
    /// The verified content hash (to recognise another install's copy after a lost race).
    content_hash: String,
    id_dir: PathBuf,
    target: PathBuf,
    what: String,
}

impl Staged {
    /// Renames the staged folder to `{id}/{version}`. Returns the folder, whether it was
    /// already installed, and the folder this call created (for a rollback).
    pub fn commit(self) -> Result<(PathBuf, bool, Option<PathBuf>), Error> {
        let Some(stage) = self.stage else {
            return Ok((self.target, true, None));
        };
        let io = |what: String| move |source| Error::Io { what, source };
        std::fs::create_dir_all(&self.id_dir)
            .map_err(io(format!("{}: creating the package folder", self.what)))?;
        let staged = stage.keep();
        match std::fs::rename(&staged, &self.target) {
            Ok(()) => {
                if let Ok(d) = File::open(&self.id_dir) {
                    let _ = d.sync_all();
                }
                Ok((self.target.clone(), false, Some(self.target)))
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staged);
                // Another install may have won the race: its copy counts only if it is the
                // same verified package; anything else in the way is an error, never success.
                if installed_content_hash(&self.target).as_deref() == Some(&self.content_hash) {
                    Ok((self.target, true, None))
                } else {
                    Err(io(format!("{}: moving the package into place", self.what))(
                        e,
                    ))
                }
            }
        }
    }
}

/// Extracts a verified package into a staging folder next to `packages_dir/{id}/{version}/`.
///
/// `proof` must come from verifying the bytes of `nupkg`: the package is first copied into a
/// staging folder and its content hash recomputed from that copy; a mismatch (the file changed
/// after verification) is refused. Extraction then reads the same copy, so what lands on disk
/// is exactly what was verified (`Package::extract_to` writes only the hashed entries). Every
/// path comes from the validated `id` and the normalized `version`.
pub fn stage_verified(
    nupkg: &Path,
    proof: &VerifiedPackage,
    id: &PackageId,
    version: &NuGetVersion,
    packages_dir: &Path,
    source_url: &str,
    mut receipt: Receipt,
) -> Result<Staged, Error> {
    let lid = id.lower();
    let lver = version.lower();
    let id_dir = packages_dir.join(lid);
    let target = id_dir.join(&lver);
    let what = format!("{id} {version}");
    let unplaceable = |reason: String| Error::Unplaceable {
        id: id.to_string(),
        version: version.to_string(),
        reason,
    };
    // Never through a link: `{id}` or `{id}/{version}` as a symbolic link (planted in the
    // folder, or by a checkout that chose the packages folder) would put the files anywhere.
    for dir in [&id_dir, &target] {
        if let Ok(m) = std::fs::symlink_metadata(dir)
            && !m.is_dir()
        {
            return Err(unplaceable(format!(
                "{} is {}, not a folder; signet does not install through it",
                dir.display(),
                if m.file_type().is_symlink() {
                    "a symbolic link"
                } else {
                    "a file"
                }
            )));
        }
    }
    if target.exists() {
        // Installed before: the same package (its `.nupkg.metadata` names the content hash just
        // verified), or something else — a planted or half-written folder is refused, not
        // reported as installed. (Whether its files still match is the audit's job.)
        return match installed_content_hash(&target) {
            Some(h) if proof.content_hash() == Some(h.as_str()) => Ok(Staged {
                stage: None,
                content_hash: h,
                id_dir,
                target,
                what,
            }),
            Some(h) => Err(unplaceable(format!(
                "{} holds a different package (content hash {}); remove the folder to install the verified one",
                target.display(),
                signet_common::Untrusted(&h)
            ))),
            None => Err(unplaceable(format!(
                "{} exists but is not a complete installation (no readable .nupkg.metadata); remove it",
                target.display()
            ))),
        };
    }
    let io = |what: &str| {
        let what = format!("{id} {version}: {what}");
        move |source| Error::Io { what, source }
    };
    // Two private folders in the packages folder (same file system): `copy` holds the copy of
    // the package that is hashed and read for extraction, `stage` receives the extracted files
    // and then the metadata, and becomes `{id}/{version}` in one rename.
    let copy = tempfile::Builder::new()
        .prefix(".signet-copy-")
        .tempdir_in(packages_dir)
        .map_err(io("creating a staging folder"))?;
    let stage = tempfile::Builder::new()
        .prefix(".signet-stage-")
        .tempdir_in(packages_dir)
        .map_err(io("creating a staging folder"))?;
    let nupkg_name = format!("{lid}.{lver}.nupkg");
    let copied_nupkg = copy.path().join(&nupkg_name);
    let sha512 = copy_hashing(nupkg, &copied_nupkg).map_err(io("copying the package"))?;
    let extract_err = |source| Error::Extract {
        id: id.to_string(),
        version: version.to_string(),
        source,
    };
    let file = File::open(&copied_nupkg).map_err(io("reading the staged package"))?;
    let mut pkg = Package::open(BufReader::new(file), &Limits::default()).map_err(extract_err)?;
    let content_hash = pkg.content_hash().map_err(extract_err)?;
    if proof.content_hash() != Some(content_hash.as_str()) {
        return Err(Error::Io {
            what: format!("{id} {version}: the package changed after it was verified"),
            source: std::io::Error::other("content hash mismatch"),
        });
    }
    let extracted = pkg.extract_to(stage.path()).map_err(extract_err)?;
    // Close the copy before moving it (Windows cannot rename an open file).
    drop(pkg);
    let reserved_entry = |name: &str| Error::Unplaceable {
        id: id.to_string(),
        version: version.to_string(),
        reason: format!(
            "the package contains an entry named '{}', which the packages folder reserves for its metadata files",
            signet_common::Untrusted(name)
        ),
    };
    let files = installed_files(&extracted, lid);
    // The root nuspec is saved as `{id}.nuspec` in lower case, as NuGet's global packages
    // folder has it (`Package::nuspec` already refused packages with several).
    let nuspec_name = format!("{lid}.nuspec");
    for f in &extracted.files {
        if is_root_nuspec(&f.path) && f.path != nuspec_name {
            let dest = stage.path().join(&nuspec_name);
            if dest.exists() {
                return Err(reserved_entry(&nuspec_name));
            }
            std::fs::rename(stage.path().join(&f.path), dest).map_err(io("renaming the nuspec"))?;
        }
    }
    // Entries named like the folder's metadata files would replace (or be replaced by) the
    // verified `.nupkg`, its hash or its metadata: refused.
    for reserved in reserved_names(lid, &lver) {
        if let Some(f) = extracted
            .files
            .iter()
            .find(|f| f.path.eq_ignore_ascii_case(&reserved))
        {
            return Err(reserved_entry(&f.path));
        }
    }
    std::fs::rename(&copied_nupkg, stage.path().join(&nupkg_name))
        .map_err(io("moving the package into the staging folder"))?;
    drop(copy);
    write_file(
        &stage.path().join(format!("{nupkg_name}.sha512")),
        base64::engine::general_purpose::STANDARD
            .encode(sha512)
            .as_bytes(),
    )
    .map_err(io("writing .nupkg.sha512"))?;
    let metadata = serde_json::json!({
        "version": 2,
        "contentHash": content_hash,
        "source": source_url,
    });
    write_file(
        &stage.path().join(".nupkg.metadata"),
        metadata.to_string().as_bytes(),
    )
    .map_err(io("writing .nupkg.metadata"))?;
    receipt.files = files;
    let receipt_json = serde_json::to_vec_pretty(&receipt).map_err(|e| Error::Io {
        what: "encoding the receipt".into(),
        source: std::io::Error::other(e),
    })?;
    write_file(&stage.path().join(RECEIPT_FILE), &receipt_json)
        .map_err(io("writing the receipt"))?;
    // Durable before it becomes visible.
    sync_tree(stage.path()).map_err(io("syncing the staged files"))?;
    Ok(Staged {
        stage: Some(stage),
        content_hash,
        id_dir,
        target,
        what,
    })
}

/// The content hash an installed package folder's `.nupkg.metadata` records (read with a size
/// bound), if it has one.
fn installed_content_hash(folder: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        content_hash: String,
    }
    let file = File::open(folder.join(".nupkg.metadata")).ok()?;
    let mut bytes = Vec::new();
    file.take(64 * 1024).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice::<Metadata>(&bytes)
        .ok()
        .map(|m| m.content_hash)
}

/// A root entry whose name ends in `.nuspec` (ASCII case-insensitively).
pub(crate) fn is_root_nuspec(path: &str) -> bool {
    !path.contains('/') && path.to_ascii_lowercase().ends_with(".nuspec")
}

/// The files of the package folder written beside the extracted ones.
pub(crate) fn reserved_names(lid: &str, lver: &str) -> [String; 4] {
    let nupkg_name = format!("{lid}.{lver}.nupkg");
    [
        format!("{nupkg_name}.sha512"),
        nupkg_name,
        ".nupkg.metadata".to_string(),
        RECEIPT_FILE.to_string(),
    ]
}

/// The extracted files as they sit in the package folder (the root nuspec renamed to
/// `{id}.nuspec`) with their SHA-256.
pub(crate) fn installed_files(
    extracted: &signet_nupkg::Extracted,
    lid: &str,
) -> BTreeMap<String, String> {
    extracted
        .files
        .iter()
        .map(|f| {
            let path = if is_root_nuspec(&f.path) {
                format!("{lid}.nuspec")
            } else {
                f.path.clone()
            };
            (path, f.sha256.clone())
        })
        .collect()
}

/// Copies `from` to `to` (created new) and returns the SHA-512 of the bytes.
fn copy_hashing(from: &Path, to: &Path) -> std::io::Result<Vec<u8>> {
    let mut input = File::open(from)?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    let mut hasher = HashAlgorithm::Sha512.hasher();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        output.write_all(chunk)?;
    }
    output.flush()?;
    Ok(hasher.finish())
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)
}

/// fsyncs every file and directory under `dir`, then `dir`.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            sync_tree(&entry.path())?;
        } else if ft.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}
