//! Target frameworks, reduced to what choosing a nuspec dependency group needs.
//!
//! NuGet's full compatibility table (NuGet.Frameworks) covers dozens of frameworks and
//! profiles; signet knows the three families a modern package uses — .NET (Core) including
//! `net5.0`+, .NET Standard and .NET Framework — and compares everything else by exact name.

use std::cmp::Ordering;

/// A framework family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Family {
    /// .NET Core / .NET 5+ (`netcoreapp3.1`, `net8.0`, `.NETCoreApp8.0`).
    NetCore,
    /// .NET Standard.
    NetStandard,
    /// .NET Framework (`net472`, `.NETFramework4.7.2`).
    NetFramework,
    /// Anything else, by lower-cased name.
    Other(String),
}

/// A parsed target framework moniker (platform suffixes such as `-windows` are kept apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framework {
    /// The family.
    pub family: Family,
    /// Version (major, minor, patch).
    pub version: (u32, u32, u32),
    /// A platform such as `windows` (`net8.0-windows`), lower case.
    pub platform: Option<String>,
}

impl Framework {
    /// Parses short (`net8.0`, `netstandard2.0`, `net472`) and long (`.NETCoreApp,Version=v8.0`,
    /// `.NETStandard2.0`) names.
    pub fn parse(s: &str) -> Option<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, platform) = match lower.split_once('-') {
            Some((n, p)) => (n.to_string(), Some(p.to_string())),
            None => (lower.clone(), None),
        };
        let name = name.replace(",version=v", "").replace(",version=", "");
        let (family, digits) = if let Some(v) = name.strip_prefix(".netcoreapp") {
            (Family::NetCore, v.to_string())
        } else if let Some(v) = name.strip_prefix("netcoreapp") {
            (Family::NetCore, v.to_string())
        } else if let Some(v) = name.strip_prefix(".netstandard") {
            (Family::NetStandard, v.to_string())
        } else if let Some(v) = name.strip_prefix("netstandard") {
            (Family::NetStandard, v.to_string())
        } else if let Some(v) = name.strip_prefix(".netframework") {
            (Family::NetFramework, v.to_string())
        } else if let Some(v) = name.strip_prefix("net") {
            if v.contains('.') {
                // net5.0 and later are .NET (Core); net4.7.2 is not valid short syntax but
                // net45 / net472 are.
                let major: u32 = v.split('.').next()?.parse().ok()?;
                if major >= 5 {
                    (Family::NetCore, v.to_string())
                } else {
                    (Family::NetFramework, v.to_string())
                }
            } else {
                // net45 → 4.5, net472 → 4.7.2
                let dotted: Vec<String> = v.chars().map(|c| c.to_string()).collect();
                (Family::NetFramework, dotted.join("."))
            }
        } else {
            return Some(Self {
                family: Family::Other(lower),
                version: (0, 0, 0),
                platform: None,
            });
        };
        let mut nums = digits.split('.').map(|p| p.parse::<u32>());
        let major = nums.next()?.ok()?;
        let minor = nums.next().unwrap_or(Ok(0)).ok()?;
        let patch = nums.next().unwrap_or(Ok(0)).ok()?;
        Some(Self {
            family,
            version: (major, minor, patch),
            platform,
        })
    }

    /// Whether a project targeting `self` can use assets built for `other`.
    pub fn can_use(&self, other: &Framework) -> bool {
        if other.platform.is_some() && other.platform != self.platform {
            return false;
        }
        match (&self.family, &other.family) {
            (a, b) if a == b => other.version <= self.version,
            (Family::NetCore, Family::NetStandard) => {
                let max = if self.version >= (3, 0, 0) {
                    (2, 1, 0)
                } else if self.version >= (2, 0, 0) {
                    (2, 0, 0)
                } else {
                    (1, 6, 0)
                };
                other.version <= max
            }
            (Family::NetFramework, Family::NetStandard) => {
                self.version >= (4, 6, 1) && other.version <= (2, 0, 0)
            }
            _ => false,
        }
    }

    /// Ordering among usable candidates: same family before .NET Standard, then higher
    /// versions, then platform-specific before neutral.
    fn preference(&self, candidate: &Framework) -> Preference {
        let family = if candidate.family == self.family {
            2
        } else {
            1
        };
        let platform = u8::from(candidate.platform.is_some());
        (family, candidate.version, platform)
    }
}

/// (same family, version, platform-specific): larger is better.
type Preference = (u8, (u32, u32, u32), u8);

/// Picks the dependency group for `target` among groups named by their `targetFramework`
/// (`None`: any framework), as NuGet's "nearest framework" does for the common frameworks:
/// the best compatible framework-specific group, else the framework-less group, else none.
pub fn nearest<'a, T>(target: &Framework, groups: &'a [(Option<&str>, T)]) -> Option<&'a T> {
    let mut best: Option<(&'a T, Preference)> = None;
    for (name, value) in groups {
        let Some(name) = name else { continue };
        let Some(fw) = Framework::parse(name) else {
            continue;
        };
        if !target.can_use(&fw) {
            continue;
        }
        let score = target.preference(&fw);
        if best
            .as_ref()
            .is_none_or(|(_, s)| score.cmp(s) == Ordering::Greater)
        {
            best = Some((value, score));
        }
    }
    best.map(|(v, _)| v).or_else(|| {
        groups
            .iter()
            .find(|(name, _)| name.is_none())
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(s: &str) -> Framework {
        Framework::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn parses_short_and_long_names() {
        assert_eq!(fw("net8.0"), fw(".NETCoreApp8.0"));
        assert_eq!(fw("net8.0").family, Family::NetCore);
        assert_eq!(fw("net472").version, (4, 7, 2));
        assert_eq!(fw("net472"), fw(".NETFramework4.7.2"));
        assert_eq!(fw("netstandard2.0"), fw(".NETStandard2.0"));
        assert_eq!(fw(".NETCoreApp,Version=v3.1"), fw("netcoreapp3.1"));
        assert_eq!(fw("net8.0-windows").platform.as_deref(), Some("windows"));
    }

    #[test]
    fn nearest_group() {
        let groups = [
            (Some("netstandard2.0"), "ns20"),
            (Some("net6.0"), "net6"),
            (Some("net8.0"), "net8"),
            (Some("net462"), "net462"),
            (None, "any"),
        ];
        assert_eq!(nearest(&fw("net8.0"), &groups), Some(&"net8"));
        assert_eq!(nearest(&fw("net7.0"), &groups), Some(&"net6"));
        assert_eq!(nearest(&fw("netcoreapp3.1"), &groups), Some(&"ns20"));
        assert_eq!(nearest(&fw("net48"), &groups), Some(&"net462"));
        assert_eq!(nearest(&fw("net45"), &groups), Some(&"any"));
        let only_specific = [(Some("net8.0"), "net8")];
        assert_eq!(nearest(&fw("net6.0"), &only_specific), None);
    }
}
