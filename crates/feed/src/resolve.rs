//! Dependency resolution for `install`: the graph from the nuspecs, one version per id.
//!
//! The rule is NuGet's "lowest applicable version": every dependency gets the lowest version
//! that satisfies every range seen for its id (the root gets the version asked for, or the
//! highest stable one). NuGet's "nearest wins" for conflicting ranges and its downgrade
//! warnings are not modelled: signet takes the lowest version satisfying all ranges at once,
//! and reports a conflict when none does.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use signet_nupkg::{Limits, Nuspec, Package};

use crate::framework::{Framework, nearest};
use crate::{Error, NuGetVersion, Source, VersionRange};

/// Most packages in one graph.
pub const MAX_PACKAGES: usize = 5_000;

/// A package downloaded (not yet verified) for the graph.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// The id as its nuspec writes it.
    pub id: String,
    /// The version.
    pub version: NuGetVersion,
    /// The downloaded `.nupkg` (in the caller's download directory).
    pub path: PathBuf,
    /// Index of the source it came from.
    pub source: usize,
    /// Its manifest.
    pub nuspec: Nuspec,
    /// Lower-case ids of the dependencies chosen for the framework.
    pub dependencies: Vec<String>,
}

/// What to resolve.
pub struct Request<'a> {
    /// Root package id.
    pub id: &'a str,
    /// Exact root version, or the highest stable (highest prerelease if `prerelease`).
    pub version: Option<&'a NuGetVersion>,
    /// Allow a prerelease root when no version is given.
    pub prerelease: bool,
    /// The project's target framework.
    pub framework: &'a Framework,
}

/// Resolves and downloads the graph of `req` from `sources` (tried in order) into
/// `download_dir`. `progress` is told about each download. The result starts with the root,
/// then the dependencies in breadth-first order.
pub fn resolve(
    req: &Request<'_>,
    sources: &[&Source],
    download_dir: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(&str, &NuGetVersion),
) -> Result<Vec<Downloaded>, Error> {
    let mut available: BTreeMap<String, Vec<(NuGetVersion, usize)>> = BTreeMap::new();
    let mut versions_of = |id: &str| -> Result<Vec<(NuGetVersion, usize)>, Error> {
        let key = id.to_lowercase();
        if let Some(v) = available.get(&key) {
            return Ok(v.clone());
        }
        let mut all: Vec<(NuGetVersion, usize)> = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            for v in s.versions(id)? {
                if !all.iter().any(|(x, _)| *x == v) {
                    all.push((v, i));
                }
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        available.insert(key, all.clone());
        Ok(all)
    };
    let describe = || {
        sources
            .iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join(", ")
    };

    let root_key = req.id.to_lowercase();
    let root_versions = versions_of(req.id)?;
    let root = match req.version {
        Some(v) => root_versions.iter().find(|(x, _)| x == v).cloned(),
        None => root_versions
            .iter()
            .rev()
            .find(|(v, _)| req.prerelease || !v.is_prerelease())
            .or_else(|| root_versions.last())
            .cloned(),
    }
    .ok_or_else(|| Error::NotFound {
        id: req.id.to_string(),
        range: req
            .version
            .map(|v| format!(" with version {v}"))
            .unwrap_or_default(),
        sources: describe(),
    })?;

    let mut selected: BTreeMap<String, (NuGetVersion, usize)> = BTreeMap::new();
    let mut ranges: BTreeMap<String, Vec<VersionRange>> = BTreeMap::new();
    let mut fetched: BTreeMap<(String, String), Downloaded> = BTreeMap::new();
    selected.insert(root_key.clone(), root.clone());
    ranges.insert(root_key.clone(), vec![VersionRange::exact(&root.0)]);
    let mut queue: VecDeque<(String, String)> =
        VecDeque::from([(root_key.clone(), req.id.to_string())]);
    let mut steps = 0usize;
    while let Some((key, display_id)) = queue.pop_front() {
        steps += 1;
        if steps > MAX_PACKAGES * 4 {
            return Err(Error::Graph(format!(
                "the dependency graph of {} does not settle after {steps} steps",
                req.id
            )));
        }
        let Some((version, source)) = selected.get(&key).cloned() else {
            continue;
        };
        let fkey = (key.clone(), version.lower());
        if !fetched.contains_key(&fkey) {
            if fetched.len() >= MAX_PACKAGES {
                return Err(Error::Graph(format!(
                    "the dependency graph has more than {MAX_PACKAGES} packages"
                )));
            }
            progress(&display_id, &version);
            let d = fetch(
                &display_id,
                &version,
                source,
                sources,
                download_dir,
                limits,
                req.framework,
            )?;
            fetched.insert(fkey.clone(), d);
        }
        let deps = fetched
            .get(&fkey)
            .map(|d| dependencies_for(&d.nuspec, req.framework))
            .unwrap_or_default();
        for (dep_id, range_text) in deps {
            let dep_key = dep_id.to_lowercase();
            let range = match &range_text {
                Some(t) => VersionRange::parse(t)?,
                None => VersionRange::any(),
            };
            let seen = ranges.entry(dep_key.clone()).or_default();
            if !seen.contains(&range) {
                seen.push(range);
            }
            let all_ranges = seen.clone();
            if let Some((current, _)) = selected.get(&dep_key)
                && all_ranges.iter().all(|r| r.satisfies(current))
            {
                continue;
            }
            if dep_key == root_key {
                return Err(Error::Graph(format!(
                    "{} depends on {} with a version range ({}) that excludes {}",
                    display_id,
                    req.id,
                    range_text.unwrap_or_default(),
                    root.0
                )));
            }
            let candidates = versions_of(&dep_id)?;
            let prerelease_ok = all_ranges.iter().any(VersionRange::allows_prerelease);
            let choice = candidates
                .iter()
                .find(|(v, _)| {
                    (prerelease_ok || !v.is_prerelease())
                        && all_ranges.iter().all(|r| r.satisfies(v))
                })
                .cloned()
                .ok_or_else(|| Error::NotFound {
                    id: dep_id.clone(),
                    range: format!(
                        " with version {} (required by {display_id} {version})",
                        all_ranges
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    sources: describe(),
                })?;
            selected.insert(dep_key.clone(), choice);
            queue.push_back((dep_key, dep_id));
        }
    }

    // The graph under the final selection (versions replaced on the way drop out).
    let mut out: Vec<Downloaded> = Vec::new();
    let mut queue = VecDeque::from([root_key]);
    let mut seen: Vec<String> = Vec::new();
    while let Some(key) = queue.pop_front() {
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let Some((version, _)) = selected.get(&key) else {
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

/// Downloads one package into `dir` and checks that it is what was asked for.
fn fetch(
    id: &str,
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
    let path = dir.join(format!("{}.{}.nupkg", id.to_lowercase(), version.lower()));
    let io = |source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    {
        let file = std::fs::File::create(&path).map_err(io)?;
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
    if !nuspec.id.eq_ignore_ascii_case(id)
        || NuGetVersion::parse(&nuspec.version).ok().as_ref() != Some(version)
    {
        return Err(bad(format!(
            "the package is {} {}, not what was asked for",
            nuspec.id, nuspec.version
        )));
    }
    let dependencies = dependencies_for(&nuspec, framework)
        .into_iter()
        .map(|(d, _)| d.to_lowercase())
        .collect();
    Ok(Downloaded {
        id: nuspec.id.clone(),
        version: version.clone(),
        path,
        source,
        nuspec,
        dependencies,
    })
}
