//! Dependency resolution for `install`: the graph from the nuspecs, one version per id.
//!
//! The rule is NuGet's "lowest applicable version": every dependency gets the lowest version
//! that satisfies every range seen for its id (the root gets the version asked for, or the
//! highest stable one). NuGet's "nearest wins" for conflicting ranges and its downgrade
//! warnings are not modelled: signet takes the lowest version satisfying all ranges at once,
//! and reports a conflict when none does.
//!
//! Cost: every range seen for an id is intersected into one interval when it is seen, so a
//! new range costs one intersection and the choice of a version a binary search over the
//! sorted candidates plus a scan past prereleases — near-linear in the size of the manifests,
//! never a range re-checked per candidate. A [`Budget`] bounds the total work of one resolve
//! (packages, candidate versions listed, dependency edges, candidates examined), so a small
//! hostile manifest cannot buy minutes of CPU.
//!
//! Every id — the root, each dependency, each manifest's own — is parsed as a
//! [`PackageId`] before it names a file, a folder or a URL. With a [`SourceMapping`], each id
//! is looked up only on the sources its most specific pattern names.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use signet_common::Untrusted;
use signet_nupkg::{Limits, Nuspec, Package, PackageId};

use crate::framework::{Framework, nearest};
use crate::mapping::SourceMapping;
use crate::{Error, NuGetVersion, Source, VersionRange};

/// Most packages in one graph.
pub const MAX_PACKAGES: usize = 5_000;

/// The work one resolve may do. Exceeding any is [`Error::Budget`].
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Packages downloaded (each version fetched counts).
    pub max_packages: usize,
    /// Versions listed by the sources, summed over every id looked up.
    pub max_candidates: u64,
    /// Dependency edges read from manifests.
    pub max_edges: u64,
    /// Candidate versions examined while choosing versions.
    pub max_examined: u64,
}

impl Default for Budget {
    /// Generous for real graphs (the largest .NET graphs have a few thousand edges and ids
    /// with a few thousand versions), and a few hundred milliseconds of CPU at most.
    fn default() -> Self {
        Self {
            max_packages: MAX_PACKAGES,
            max_candidates: 2_000_000,
            max_edges: 200_000,
            max_examined: 5_000_000,
        }
    }
}

/// A package downloaded (not yet verified) for the graph.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The id as its nuspec writes it (equal to the requested id, ignoring case).
    pub id: PackageId,
    /// The version.
    pub version: NuGetVersion,
    /// The downloaded `.nupkg` (in the caller's download directory).
    pub path: PathBuf,
    /// Index of the source it came from.
    pub source: usize,
    /// The source mapping pattern that chose its sources, when a mapping is configured.
    pub mapped_by: Option<String>,
    /// Its manifest.
    pub nuspec: Nuspec,
    /// Lower-case ids of the dependencies chosen for the framework.
    pub dependencies: Vec<String>,
}

/// What to resolve.
pub struct Request<'a> {
    /// Root package id.
    pub id: &'a PackageId,
    /// Exact root version, or the highest stable (highest prerelease if `prerelease`).
    pub version: Option<&'a NuGetVersion>,
    /// Allow a prerelease root when no version is given.
    pub prerelease: bool,
    /// The project's target framework.
    pub framework: &'a Framework,
    /// `<packageSourceMapping>` with the configured name of each source (by index; `None` for
    /// a source given by URL that no config names — never used while a mapping is on).
    pub mapping: Option<(&'a SourceMapping, &'a [Option<String>])>,
    /// The work budget.
    pub budget: Budget,
}

/// Per id: every version the eligible sources list, and the intersection of every range seen.
struct IdState {
    /// Ascending, deduplicated, with the first source (in order) that lists each.
    candidates: Vec<(NuGetVersion, usize)>,
    /// The winning mapping pattern, if a mapping is on.
    mapped_by: Option<String>,
    /// The intersection of every range required so far.
    constraint: VersionRange,
    /// Any range allows prereleases (its bounds are prereleases).
    prerelease_ok: bool,
    /// The first few ranges as written, for messages.
    shown: Vec<String>,
    /// How many ranges were seen.
    ranges_seen: usize,
    /// The version chosen now.
    selected: Option<(NuGetVersion, usize)>,
    /// The id as first written (for messages and URLs: ids compare case-insensitively).
    display: PackageId,
}

/// The resolver's running state: sources, budget counters.
struct Resolver<'r> {
    req: &'r Request<'r>,
    sources: &'r [&'r Source],
    candidates_listed: u64,
    edges: u64,
    examined: u64,
}

impl Resolver<'_> {
    fn over(&self, what: &'static str, limit: u64) -> Error {
        Error::Budget {
            id: self.req.id.to_string(),
            what,
            limit,
        }
    }

    fn describe(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .filter_map(|i| self.sources.get(*i))
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The sources `id` may come from (indices), and the pattern that decided it.
    fn eligible(
        &self,
        id: &PackageId,
        context: &str,
    ) -> Result<(Vec<usize>, Option<String>), Error> {
        let all: Vec<usize> = (0..self.sources.len()).collect();
        let Some((mapping, names)) = self.req.mapping.filter(|(m, _)| !m.is_empty()) else {
            return Ok((all, None));
        };
        let not_mapped = |reason: String, skipped: &[usize]| Error::NotMapped {
            id: id.to_string(),
            context: context.to_string(),
            reason,
            not_considered: if skipped.is_empty() {
                "none".into()
            } else {
                self.describe(skipped)
            },
        };
        let Some(m) = mapping.lookup(id) else {
            return Err(not_mapped(
                "no packageSourceMapping pattern matches it".into(),
                &all,
            ));
        };
        let chosen: Vec<usize> = all
            .iter()
            .copied()
            .filter(|i| {
                names
                    .get(*i)
                    .and_then(Option::as_deref)
                    .is_some_and(|n| m.sources.iter().any(|s| s.eq_ignore_ascii_case(n)))
            })
            .collect();
        if chosen.is_empty() {
            let skipped: Vec<usize> = all.clone();
            return Err(not_mapped(
                format!(
                    "its pattern '{}' maps it to {}, which is not among the sources of this install",
                    m.pattern,
                    m.sources
                        .iter()
                        .map(|s| format!("'{}'", Untrusted(s)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &skipped,
            ));
        }
        Ok((chosen, Some(m.pattern.to_string())))
    }

    /// Lists the versions of `id` on its eligible sources.
    fn load(&mut self, id: &PackageId, context: &str) -> Result<IdState, Error> {
        let (eligible, mapped_by) = self.eligible(id, context)?;
        let mut all: Vec<(NuGetVersion, usize)> = Vec::new();
        for i in eligible {
            let Some(s) = self.sources.get(i) else {
                continue;
            };
            let listed = s.versions(id)?;
            self.candidates_listed = self.candidates_listed.saturating_add(listed.len() as u64);
            if self.candidates_listed > self.req.budget.max_candidates {
                return Err(self.over("candidate versions listed", self.req.budget.max_candidates));
            }
            all.extend(listed.into_iter().map(|v| (v, i)));
        }
        // Stable sort: for equal versions the earlier source stays first and wins.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.dedup_by(|later, earlier| later.0 == earlier.0);
        Ok(IdState {
            candidates: all,
            mapped_by,
            constraint: VersionRange::any(),
            prerelease_ok: false,
            shown: Vec::new(),
            ranges_seen: 0,
            selected: None,
            display: id.clone(),
        })
    }

    /// The lowest candidate inside the constraint (prereleases only when allowed).
    fn choose(&mut self, st: &IdState) -> Result<Option<(NuGetVersion, usize)>, Error> {
        let start = st
            .candidates
            .partition_point(|(v, _)| !st.constraint.above_min(v));
        for (v, s) in st.candidates.iter().skip(start) {
            self.examined += 1;
            if self.examined > self.req.budget.max_examined {
                return Err(self.over("candidate versions examined", self.req.budget.max_examined));
            }
            if !st.constraint.below_max(v) {
                break;
            }
            if (st.prerelease_ok || !v.is_prerelease()) && st.constraint.satisfies(v) {
                return Ok(Some((v.clone(), *s)));
            }
        }
        Ok(None)
    }
}

/// Resolves and downloads the graph of `req` from `sources` (tried in order) into
/// `download_dir`. `progress` is told about each download. The result starts with the root,
/// then the dependencies in breadth-first order.
pub fn resolve(
    req: &Request<'_>,
    sources: &[&Source],
    download_dir: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(&PackageId, &NuGetVersion),
) -> Result<Vec<Downloaded>, Error> {
    let mut r = Resolver {
        req,
        sources,
        candidates_listed: 0,
        edges: 0,
        examined: 0,
    };
    let root_key = req.id.lower().to_string();
    let mut root_state = r.load(req.id, "")?;
    let root = match req.version {
        Some(v) => root_state.candidates.iter().find(|(x, _)| x == v).cloned(),
        None => root_state
            .candidates
            .iter()
            .rev()
            .find(|(v, _)| req.prerelease || !v.is_prerelease())
            .or_else(|| root_state.candidates.last())
            .cloned(),
    }
    .ok_or_else(|| {
        let sources = r.describe(&(0..sources.len()).collect::<Vec<_>>());
        match req.version {
            // The id is there, the version is not: NU1102 with what there is.
            Some(v) if !root_state.candidates.is_empty() => {
                Error::VersionNotFound(Box::new(crate::error::VersionNotFound {
                    id: req.id.to_string(),
                    wanted: v.to_string(),
                    context: String::new(),
                    found: root_state.candidates.len(),
                    nearest: nearest_to(&root_state.candidates, v).map(|n| n.to_string()),
                    sources,
                }))
            }
            _ => Error::NotFound {
                id: req.id.to_string(),
                range: req
                    .version
                    .map(|v| format!(" with version {v}"))
                    .unwrap_or_default(),
                sources,
            },
        }
    })?;
    root_state.constraint = VersionRange::exact(&root.0);
    root_state.selected = Some(root.clone());

    let mut ids: BTreeMap<String, IdState> = BTreeMap::from([(root_key.clone(), root_state)]);
    let mut fetched: BTreeMap<(String, String), Downloaded> = BTreeMap::new();
    let mut processed: std::collections::BTreeSet<(String, String)> =
        std::collections::BTreeSet::new();
    let mut queue: VecDeque<String> = VecDeque::from([root_key.clone()]);
    let mut steps = 0usize;
    while let Some(key) = queue.pop_front() {
        steps += 1;
        if steps > req.budget.max_packages.saturating_mul(4) {
            return Err(Error::Graph(format!(
                "the dependency graph of {} does not settle after {steps} steps",
                req.id
            )));
        }
        let Some(st) = ids.get(&key) else {
            continue;
        };
        let Some((version, source)) = st.selected.clone() else {
            continue;
        };
        let display = st.display.clone();
        let mapped_by = st.mapped_by.clone();
        let fkey = (key.clone(), version.lower());
        // A version's dependencies are read once, however often its id was queued.
        if !processed.insert(fkey.clone()) {
            continue;
        }
        if !fetched.contains_key(&fkey) {
            if fetched.len() >= req.budget.max_packages {
                return Err(r.over("packages", req.budget.max_packages as u64));
            }
            progress(&display, &version);
            let mut d = fetch(
                &display,
                &version,
                source,
                sources,
                download_dir,
                limits,
                req.framework,
            )?;
            d.mapped_by = mapped_by;
            fetched.insert(fkey.clone(), d);
        }
        let deps = match fetched.get(&fkey) {
            Some(d) => dependencies_for(&d.nuspec, req.framework),
            None => Vec::new(),
        };
        let context = format!(" (required by {display} {version})");
        for (dep_text, range_text) in deps {
            r.edges += 1;
            if r.edges > req.budget.max_edges {
                return Err(r.over("dependency edges", req.budget.max_edges));
            }
            let dep_id = PackageId::parse(&dep_text).map_err(|reason| Error::InvalidId {
                id: Untrusted(&dep_text).to_string(),
                reason,
                context: format!(" (a dependency of {display} {version})"),
            })?;
            let dep_key = dep_id.lower().to_string();
            let range = match &range_text {
                Some(t) => {
                    VersionRange::parse(t).map_err(|_| Error::Range(Untrusted(t).to_string()))?
                }
                None => VersionRange::any(),
            };
            if dep_key == root_key {
                if !range.satisfies(&root.0) {
                    return Err(Error::Graph(format!(
                        "{display} depends on {} with a version range ({}) that excludes {}",
                        req.id,
                        Untrusted(range_text.as_deref().unwrap_or_default()),
                        root.0
                    )));
                }
                continue;
            }
            if !ids.contains_key(&dep_key) {
                let st = r.load(&dep_id, &context)?;
                ids.insert(dep_key.clone(), st);
            }
            let Some(st) = ids.get_mut(&dep_key) else {
                continue;
            };
            st.ranges_seen += 1;
            if st.shown.len() < 4 {
                st.shown.push(range.to_string());
            }
            st.prerelease_ok |= range.allows_prerelease();
            st.constraint = st.constraint.intersect(&range);
            if let Some((current, _)) = &st.selected
                && st.constraint.satisfies(current)
            {
                continue;
            }
            let choice = r.choose(st);
            let Some(choice) = choice? else {
                let more = st.ranges_seen.saturating_sub(st.shown.len());
                if !st.candidates.is_empty() {
                    return Err(Error::VersionNotFound(Box::new(
                        crate::error::VersionNotFound {
                            id: st.display.to_string(),
                            wanted: format!(
                                "{}{}",
                                st.shown.join(" and "),
                                if more > 0 {
                                    format!(" (and {more} more range(s))")
                                } else {
                                    String::new()
                                }
                            ),
                            context: context.clone(),
                            found: st.candidates.len(),
                            nearest: st
                                .candidates
                                .iter()
                                .find(|(v, _)| st.constraint.above_min(v))
                                .or_else(|| st.candidates.last())
                                .map(|(v, _)| v.to_string()),
                            sources: r.describe(&(0..sources.len()).collect::<Vec<_>>()),
                        },
                    )));
                }
                return Err(Error::NotFound {
                    id: st.display.to_string(),
                    range: format!(
                        " with version {}{}{context}",
                        st.shown.join(" and "),
                        if more > 0 {
                            format!(" (and {more} more range(s))")
                        } else {
                            String::new()
                        }
                    ),
                    sources: r.describe(&(0..sources.len()).collect::<Vec<_>>()),
                });
            };
            st.selected = Some(choice);
            queue.push_back(dep_key);
        }
    }

    // The graph under the final selection (versions replaced on the way drop out).
    let mut out: Vec<Downloaded> = Vec::new();
    let mut queue = VecDeque::from([root_key]);
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    while let Some(key) = queue.pop_front() {
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some((version, _)) = ids.get(&key).and_then(|s| s.selected.as_ref()) else {
            continue;
        };
        let Some(d) = fetched.get(&(key.clone(), version.lower())) else {
            continue;
        };
        queue.extend(d.dependencies.iter().cloned());
        out.push(d.clone());
    }
    Ok(out)
}

/// The dependencies of the group nearest to `framework`.
fn dependencies_for(nuspec: &Nuspec, framework: &Framework) -> Vec<(String, Option<String>)> {
    let groups: Vec<(Option<&str>, &signet_nupkg::DependencyGroup)> = nuspec
        .dependency_groups
        .iter()
        .map(|g| (g.target_framework.as_deref(), g))
        .collect();
    nearest(framework, &groups)
        .map(|g| {
            g.dependencies
                .iter()
                .map(|d| (d.id.clone(), d.version_range.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Downloads one package into `dir` and checks that it is what was asked for. The file name
/// comes from the validated id and the normalized version only.
fn fetch(
    id: &PackageId,
    version: &NuGetVersion,
    source: usize,
    sources: &[&Source],
    dir: &Path,
    limits: &Limits,
    framework: &Framework,
) -> Result<Downloaded, Error> {
    let src = sources
        .get(source)
        .ok_or_else(|| Error::Graph("no such source".into()))?;
    let bad = |message: String| Error::BadPackage {
        source_url: src.describe(),
        id: id.to_string(),
        version: version.to_string(),
        message,
    };
    let path = dir.join(format!("{}.{}.nupkg", id.lower(), version.lower()));
    let io = |source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    {
        // `create_new`: two graph nodes never share a download file.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let mut w = BufWriter::new(file);
        if !src.download(id, version, &mut w)? {
            return Err(bad("listed but not downloadable (404)".into()));
        }
        std::io::Write::flush(&mut w).map_err(io)?;
    }
    let file = std::fs::File::open(&path).map_err(io)?;
    let mut pkg = Package::open(std::io::BufReader::new(file), limits)
        .map_err(|e| bad(format!("not a valid package: {e}")))?;
    let nuspec = pkg
        .nuspec()
        .map_err(|e| bad(format!("its manifest cannot be read: {e}")))?;
    let declared = PackageId::parse(&nuspec.id).ok();
    if declared.as_ref().is_none_or(|d| d.lower() != id.lower())
        || NuGetVersion::parse(&nuspec.version).ok().as_ref() != Some(version)
    {
        return Err(bad(format!(
            "the package is {} {}, not what was asked for",
            Untrusted(&nuspec.id),
            Untrusted(&nuspec.version)
        )));
    }
    let Some(declared) = declared else {
        return Err(bad("its manifest's id is not a valid package id".into()));
    };
    let dependencies = dependencies_for(&nuspec, framework)
        .into_iter()
        .map(|(d, _)| d.to_lowercase())
        .collect();
    Ok(Downloaded {
        id: declared,
        version: version.clone(),
        path,
        source,
        mapped_by: None,
        nuspec,
        dependencies,
    })
}

/// The listed version nearest to `wanted`: the lowest above it, else the highest below.
fn nearest_to<'a>(
    candidates: &'a [(NuGetVersion, usize)],
    wanted: &NuGetVersion,
) -> Option<&'a NuGetVersion> {
    candidates
        .iter()
        .map(|(v, _)| v)
        .find(|v| *v > wanted)
        .or_else(|| candidates.last().map(|(v, _)| v))
}
