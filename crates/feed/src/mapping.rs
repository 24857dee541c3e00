//! Package source mapping (NuGet 6+, `<packageSourceMapping>`): which sources a package id
//! may come from — NuGet's defence against dependency confusion, where a public source
//! publishes a package under a private package's id.
//!
//! The rules, as NuGet's `PackageSourceMapping` applies them:
//! * a pattern is a package id (`Contoso.Lib`, an exact match) or a prefix ending in `*`
//!   (`Contoso.*`; `*` alone matches every id), compared case-insensitively;
//! * for an id, the most specific matching pattern wins: an exact pattern over any prefix, a
//!   longer prefix over a shorter one; the id may come from every source that lists the
//!   winning pattern, and from no other;
//! * once any mapping is configured, an id that no pattern matches comes from no source
//!   (NU1100).

use signet_nupkg::PackageId;

use crate::Error;

/// Longest pattern (NuGet bounds patterns by the longest id plus the `*`).
const MAX_PATTERN_LENGTH: usize = signet_nupkg::MAX_ID_LENGTH + 1;

/// A parsed `<packageSourceMapping>`.
#[derive(Clone, Debug, Default)]
pub struct SourceMapping {
    /// (pattern in lower case, source names), one entry per distinct pattern.
    patterns: Vec<(String, Vec<String>)>,
}

/// Which sources an id may come from, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedSources<'a> {
    /// The winning pattern as configured (lower case).
    pub pattern: &'a str,
    /// The names of the sources that list it.
    pub sources: &'a [String],
}

impl SourceMapping {
    /// Builds the mapping from `(source name, pattern)` pairs, in configuration order.
    /// A pattern is an id, an id prefix followed by `*`, or `*`.
    pub fn new<I, S, P>(entries: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, P)>,
        S: AsRef<str>,
        P: AsRef<str>,
    {
        let mut m = Self::default();
        for (source, pattern) in entries {
            let (source, pattern) = (source.as_ref(), pattern.as_ref().trim());
            check_pattern(pattern).map_err(|reason| Error::Mapping {
                pattern: signet_common::terminal_safe(pattern).into_owned(),
                source_name: signet_common::terminal_safe(source).into_owned(),
                reason,
            })?;
            let lower = pattern.to_lowercase();
            match m.patterns.iter_mut().find(|(p, _)| *p == lower) {
                Some((_, names)) => {
                    if !names.iter().any(|n| n.eq_ignore_ascii_case(source)) {
                        names.push(source.to_string());
                    }
                }
                None => m.patterns.push((lower, vec![source.to_string()])),
            }
        }
        Ok(m)
    }

    /// No pattern at all: every source may serve every id.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The sources `id` may come from: `None` when no pattern matches (then, with a non-empty
    /// mapping, no source may serve it).
    pub fn lookup(&self, id: &PackageId) -> Option<MappedSources<'_>> {
        let lower = id.lower();
        let mut best: Option<(usize, &(String, Vec<String>))> = None;
        for entry in &self.patterns {
            let p = entry.0.as_str();
            // Exact patterns rank above every prefix (usize::MAX); prefixes by length.
            let rank = match p.strip_suffix('*') {
                Some(prefix) if lower.starts_with(prefix) => prefix.len(),
                Some(_) => continue,
                None if p == lower => usize::MAX,
                None => continue,
            };
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, entry));
            }
        }
        best.map(|(_, (pattern, sources))| MappedSources {
            pattern,
            sources: sources.as_slice(),
        })
    }
}

/// A pattern: `*`, or an id optionally followed by one `*`.
fn check_pattern(p: &str) -> Result<(), &'static str> {
    if p.chars().count() > MAX_PATTERN_LENGTH {
        return Err("it is longer than a package id");
    }
    if p == "*" {
        return Ok(());
    }
    let body = p.strip_suffix('*').unwrap_or(p);
    if body.contains('*') {
        return Err("'*' is allowed only at the end");
    }
    // A prefix may end in a separator (`Contoso.*`): check it with a word character after.
    let probe = if p.ends_with('*') && body.ends_with(['.', '-', '_']) {
        format!("{body}x")
    } else {
        body.to_string()
    };
    PackageId::parse(&probe)
        .map(|_| ())
        .map_err(|_| "it is not a package id or an id prefix followed by '*'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PackageId {
        PackageId::parse(s).unwrap()
    }

    /// The examples of NuGet's documentation ("Package Source Mapping": "Package pattern
    /// precedence").
    #[test]
    fn precedence_as_documented() {
        let m = SourceMapping::new([
            ("nuget.org", "*"),
            ("contoso", "Contoso.*"),
            ("contoso", "NuGet.Common"),
            ("nuget.org", "NuGet.*"),
        ])
        .unwrap();
        let sources = |s: &str| m.lookup(&id(s)).map(|x| x.sources.to_vec());
        let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // Exact beats prefix.
        assert_eq!(sources("NuGet.Common"), names(&["contoso"]));
        // Longer prefix beats `*`.
        assert_eq!(sources("Contoso.Internal"), names(&["contoso"]));
        assert_eq!(sources("NuGet.Frameworks"), names(&["nuget.org"]));
        // `*` is the fallback.
        assert_eq!(sources("Newtonsoft.Json"), names(&["nuget.org"]));
        // Case-insensitive.
        assert_eq!(sources("contoso.INTERNAL"), names(&["contoso"]));
        assert_eq!(
            m.lookup(&id("Contoso.Internal"))
                .map(|x| x.pattern.to_string()),
            Some("contoso.*".into())
        );
    }

    #[test]
    fn longest_prefix_and_shared_patterns() {
        let m = SourceMapping::new([
            ("a", "Contoso.*"),
            ("b", "Contoso.Tools.*"),
            ("c", "Contoso.*"),
        ])
        .unwrap();
        let got = m.lookup(&id("Contoso.Tools.Build")).unwrap();
        assert_eq!(got.sources, ["b".to_string()]);
        let got = m.lookup(&id("Contoso.Lib")).unwrap();
        assert_eq!(got.sources, ["a".to_string(), "c".to_string()]);
        // No `*`: an id no pattern matches has no source.
        assert_eq!(m.lookup(&id("Newtonsoft.Json")), None);
        // A prefix without a separator matches too (`Mapsui*`).
        let m = SourceMapping::new([("local", "Mapsui*")]).unwrap();
        assert!(m.lookup(&id("Mapsui.Core")).is_some());
        assert!(m.lookup(&id("Mapsu")).is_none());
    }

    #[test]
    fn bad_patterns_refused() {
        for bad in ["Con*toso", "**", "../x*", "a b", "", "a/*"] {
            assert!(SourceMapping::new([("s", bad)]).is_err(), "{bad:?}");
        }
    }
}
