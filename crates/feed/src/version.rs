//! NuGet versions and version ranges (the parts of NuGet.Versioning that install needs).

use std::cmp::Ordering;
use std::fmt;

use crate::Error;

/// A NuGet version: 1–4 numeric parts, SemVer 2 release labels; build metadata ignored.
#[derive(Clone, Debug)]
pub struct NuGetVersion {
    parts: [u64; 4],
    release: Vec<String>,
    normalized: String,
}

impl NuGetVersion {
    /// Parses with NuGet's lenient rules (`signet_nupkg::normalize_version`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let normalized =
            signet_nupkg::normalize_version(s.trim()).ok_or_else(|| Error::Version(s.into()))?;
        let (numbers, release) = match normalized.split_once('-') {
            Some((n, r)) => (n, r.split('.').map(str::to_string).collect()),
            None => (normalized.as_str(), Vec::new()),
        };
        let mut parts = [0u64; 4];
        for (slot, p) in parts.iter_mut().zip(numbers.split('.')) {
            *slot = p.parse().map_err(|_| Error::Version(s.into()))?;
        }
        Ok(Self {
            parts,
            release,
            normalized,
        })
    }

    /// `ToNormalizedString()`: `1.0` → `1.0.0`, build metadata dropped.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The normalized form in lower case, as flat-container paths use it.
    pub fn lower(&self) -> String {
        self.normalized.to_lowercase()
    }

    /// Has release labels.
    pub fn is_prerelease(&self) -> bool {
        !self.release.is_empty()
    }
}

impl fmt::Display for NuGetVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

impl PartialEq for NuGetVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for NuGetVersion {}

impl PartialOrd for NuGetVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NuGetVersion {
    /// SemVer 2 precedence: numbers, then a release version sorts before the stable one;
    /// labels compare numerically when both are numeric, numeric before alphanumeric,
    /// alphanumeric case-insensitively; a shorter label list sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts).then_with(|| {
            match (self.release.is_empty(), other.release.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.release.iter().zip(&other.release) {
                        let o = compare_label(a, b);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.release.len().cmp(&other.release.len())
                }
            }
        })
    }
}

fn compare_label(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// One bound of a range.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bound {
    version: NuGetVersion,
    inclusive: bool,
}

/// A NuGet version range: `1.0` (at least 1.0), `[1.0]` (exactly), `[1.0,2.0)`, `(,2.0]`, …
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRange {
    min: Option<Bound>,
    max: Option<Bound>,
    text: String,
}

impl VersionRange {
    /// Any version.
    pub fn any() -> Self {
        Self {
            min: None,
            max: None,
            text: "(any)".into(),
        }
    }

    /// Exactly `v`.
    pub fn exact(v: &NuGetVersion) -> Self {
        Self {
            min: Some(Bound {
                version: v.clone(),
                inclusive: true,
            }),
            max: Some(Bound {
                version: v.clone(),
                inclusive: true,
            }),
            text: format!("[{v}]"),
        }
    }

    /// Parses NuGet's range syntax. Floating versions (`1.*`) are refused.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let bad = || Error::Range(s.to_string());
        if t.contains('*') {
            return Err(bad());
        }
        let text = t.to_string();
        let (Some(first), Some(last)) = (t.chars().next(), t.chars().last()) else {
            return Err(bad());
        };
        if first != '[' && first != '(' {
            // A bare version: at least that version.
            let v = NuGetVersion::parse(t).map_err(|_| bad())?;
            return Ok(Self {
                min: Some(Bound {
                    version: v,
                    inclusive: true,
                }),
                max: None,
                text,
            });
        }
        if last != ']' && last != ')' {
            return Err(bad());
        }
        let inner = t.get(1..t.len() - 1).ok_or_else(bad)?;
        let min_inc = first == '[';
        let max_inc = last == ']';
        let parse_opt = |p: &str| -> Result<Option<NuGetVersion>, Error> {
            let p = p.trim();
            if p.is_empty() {
                Ok(None)
            } else {
                NuGetVersion::parse(p).map(Some).map_err(|_| bad())
            }
        };
        let (min, max) = match inner.split_once(',') {
            None => {
                // [1.0] exact; (1.0) is invalid.
                if !(min_inc && max_inc) {
                    return Err(bad());
                }
                let v = parse_opt(inner)?.ok_or_else(bad)?;
                (Some(v.clone()), Some(v))
            }
            Some((a, b)) => {
                if b.contains(',') {
                    return Err(bad());
                }
                (parse_opt(a)?, parse_opt(b)?)
            }
        };
        if min.is_none() && max.is_none() {
            return Err(bad());
        }
        if let (Some(a), Some(b)) = (&min, &max)
            && (a > b || (a == b && !(min_inc && max_inc)))
        {
            return Err(bad());
        }
        Ok(Self {
            min: min.map(|version| Bound {
                version,
                inclusive: min_inc,
            }),
            max: max.map(|version| Bound {
                version,
                inclusive: max_inc,
            }),
            text,
        })
    }

    /// Whether `v` is in the range.
    pub fn satisfies(&self, v: &NuGetVersion) -> bool {
        self.above_min(v) && self.below_max(v)
    }

    /// The versions in both `self` and `other` (an interval again; possibly empty, and then
    /// nothing satisfies it). Resolution intersects every range seen for an id once, instead of
    /// re-checking each range for each candidate.
    pub fn intersect(&self, other: &Self) -> Self {
        // The higher lower bound wins; at equal versions the exclusive one is tighter.
        let min = match (&self.min, &other.min) {
            (None, b) | (b, None) => b.clone(),
            (Some(a), Some(b)) => Some(match a.version.cmp(&b.version) {
                Ordering::Greater => a.clone(),
                Ordering::Less => b.clone(),
                Ordering::Equal => Bound {
                    version: a.version.clone(),
                    inclusive: a.inclusive && b.inclusive,
                },
            }),
        };
        // The lower upper bound wins.
        let max = match (&self.max, &other.max) {
            (None, b) | (b, None) => b.clone(),
            (Some(a), Some(b)) => Some(match a.version.cmp(&b.version) {
                Ordering::Less => a.clone(),
                Ordering::Greater => b.clone(),
                Ordering::Equal => Bound {
                    version: a.version.clone(),
                    inclusive: a.inclusive && b.inclusive,
                },
            }),
        };
        let text = if self.min.is_none() && self.max.is_none() {
            other.text.clone()
        } else if other.min.is_none() && other.max.is_none() {
            self.text.clone()
        } else {
            format!("{} and {}", self.text, other.text)
        };
        Self { min, max, text }
    }

    /// Whether `v` is at or above the lower bound (sorted candidates: the first one that is).
    pub(crate) fn above_min(&self, v: &NuGetVersion) -> bool {
        match &self.min {
            None => true,
            Some(b) if b.inclusive => v >= &b.version,
            Some(b) => v > &b.version,
        }
    }

    /// Whether `v` is at or below the upper bound.
    pub(crate) fn below_max(&self, v: &NuGetVersion) -> bool {
        match &self.max {
            None => true,
            Some(b) if b.inclusive => v <= &b.version,
            Some(b) => v < &b.version,
        }
    }

    /// Whether the lower bound is a prerelease (NuGet then allows prereleases).
    pub fn allows_prerelease(&self) -> bool {
        self.min.as_ref().is_some_and(|b| b.version.is_prerelease())
            || self.max.as_ref().is_some_and(|b| b.version.is_prerelease())
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> NuGetVersion {
        NuGetVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ordering_follows_semver2() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-BETA",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0.1",
            "1.0.1",
            "2.0",
        ];
        for pair in ordered.windows(2) {
            if let [a, b] = pair {
                assert!(v(a) < v(b), "{a} < {b}");
            }
        }
        assert_eq!(v("1.0"), v("1.0.0+build"));
        assert_eq!(v("01.2.03").normalized(), "1.2.3");
        assert_eq!(v("1.0.0-Beta").lower(), "1.0.0-beta");
    }

    #[test]
    fn ranges() {
        let r = |s: &str| VersionRange::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(r("1.0").satisfies(&v("1.0.0")));
        assert!(r("1.0").satisfies(&v("5.0.0")));
        assert!(!r("1.0").satisfies(&v("0.9")));
        assert!(r("[1.0]").satisfies(&v("1.0.0")));
        assert!(!r("[1.0]").satisfies(&v("1.0.1")));
        assert!(r("[1.0, 2.0)").satisfies(&v("1.9.9")));
        assert!(!r("[1.0, 2.0)").satisfies(&v("2.0")));
        assert!(r("(,2.0]").satisfies(&v("2.0")));
        assert!(!r("(1.0,)").satisfies(&v("1.0")));
        for bad in [
            "",
            "(1.0)",
            "[2.0,1.0]",
            "1.*",
            "[1.0",
            "[,]",
            "[1,2,3]",
            "x",
        ] {
            assert!(VersionRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intersections() {
        let r = |s: &str| VersionRange::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let both = r("[1.0, 3.0)").intersect(&r("(2.0, 4.0]"));
        for (x, want) in [
            ("1.5", false),
            ("2.0", false),
            ("2.5", true),
            ("3.0", false),
        ] {
            assert_eq!(both.satisfies(&v(x)), want, "{x}");
        }
        let empty = r("[1.0, 2.0)").intersect(&r("[2.0, 3.0]"));
        for x in ["1.0", "1.9", "2.0", "3.0"] {
            assert!(!empty.satisfies(&v(x)), "{x}");
        }
        let exact = r("[2.0]").intersect(&r("1.0"));
        assert!(exact.satisfies(&v("2.0")) && !exact.satisfies(&v("2.0.1")));
        let open = r("(1.0,)").intersect(&r("[1.0]"));
        assert!(!open.satisfies(&v("1.0")));
        assert_eq!(VersionRange::any().intersect(&r("1.0")).to_string(), "1.0");
    }
}
