//! Package ids, parsed before they name anything: a file, a folder or a URL.

use std::fmt;

/// NuGet's longest package id (`PackageIdValidator.MaxPackageIdLength`).
pub const MAX_ID_LENGTH: usize = 100;

/// A package id that passed NuGet's `PackageIdValidator`: at most 100 characters of
/// `^\w+([_.-]\w+)*$` — word characters (letters, digits, `_`) in runs separated by one `.`,
/// `-` or `_`. Such an id contains no path separator, no `..`, no control character, no `%`
/// and no URL syntax, so it can name a folder (`{packages}/{lower-case id}/`) or a URL
/// segment as it is.
///
/// Deliberately no `Deref<Target = str>` or `From<String>`: the only way to get one is
/// [`PackageId::parse`] (tough's `TargetName` makes the same choice).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId {
    id: String,
    lower: String,
}

/// Why a string is not a package id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// Empty.
    Empty,
    /// Longer than [`MAX_ID_LENGTH`] characters.
    TooLong(usize),
    /// A character or a sequence the rules do not allow.
    Invalid,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::TooLong(n) => write!(f, "it is {n} characters long (at most {MAX_ID_LENGTH})"),
            Self::Invalid => f.write_str(
                "only letters, digits and '_' in runs separated by one '.', '-' or '_' are allowed",
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// .NET's `\w` as NuGet's regex sees it: letters, digits (Unicode categories L, Nd) and
/// connector punctuation; Rust's `is_alphanumeric` covers L and N, `_` is the connector
/// punctuation that occurs in practice. (Combining marks, also `\w` in .NET, are refused:
/// stricter than NuGet, and no published id uses one.)
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl PackageId {
    /// Parses `s` with NuGet's rules; the original case is kept (ids compare
    /// case-insensitively).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        let n = s.chars().count();
        if n > MAX_ID_LENGTH {
            return Err(IdError::TooLong(n));
        }
        // `^\w+([_.-]\w+)*$`: starts and ends with a word character, and a separator is
        // never followed by another separator.
        let mut previous_separator = true;
        for c in s.chars() {
            if is_word(c) {
                previous_separator = false;
            } else if matches!(c, '.' | '-') {
                if previous_separator {
                    return Err(IdError::Invalid);
                }
                previous_separator = true;
            } else {
                return Err(IdError::Invalid);
            }
        }
        if previous_separator {
            return Err(IdError::Invalid);
        }
        Ok(Self {
            id: s.to_string(),
            lower: s.to_lowercase(),
        })
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The id in lower case, as folder names and flat-container URLs use it.
    pub fn lower(&self) -> &str {
        &self.lower
    }

    /// Equal ignoring case (NuGet compares ids case-insensitively).
    pub fn matches(&self, other: &str) -> bool {
        self.lower == other.to_lowercase()
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nuget_rules() {
        for ok in [
            "Newtonsoft.Json",
            "a",
            "A_B",
            "x-y.z_1",
            "Contoso.Internal",
            "Ünïcödé.Paket",
            "_",
            "a__b",
        ] {
            assert!(PackageId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../../victim/x",
            "..",
            "a..b",
            ".a",
            "a.",
            "-a",
            "a/b",
            "a\\b",
            "/etc/passwd",
            "C:x",
            "a b",
            "a%2fb",
            "a\u{1b}[31m",
            "a\nb",
            "a.-b",
        ] {
            assert!(PackageId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            PackageId::parse(&"a".repeat(101)),
            Err(IdError::TooLong(101))
        ));
        assert!(PackageId::parse(&"a".repeat(100)).is_ok());
        let id = PackageId::parse("Contoso.Lib").unwrap();
        assert_eq!(id.lower(), "contoso.lib");
        assert!(id.matches("CONTOSO.lib"));
    }
}
