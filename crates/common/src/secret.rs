//! Secrets that must never reach an output: feed passwords and API keys. `Debug` and
//! `Display` print `<redacted>`; the value is read only through [`Secret::expose`], at the
//! one place that puts it on the wire.

use std::fmt;

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the code that sends it (an `Authorization` header), never for output.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// HTTP Basic credentials for a package source (nuget.config `<packageSourceCredentials>`,
/// or `NuGetPackageSourceCredentials_{name}`): the user name, and the password or API key.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredential {
    /// The user name (not secret, but printed only where the user asked for it).
    pub username: String,
    /// The password or API key.
    pub password: Secret,
}

impl fmt::Debug for BasicCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredential")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let c = BasicCredential {
            username: "ci".into(),
            password: Secret::new("hunter2"),
        };
        for text in [
            format!("{c:?}"),
            format!("{:?}", c.password),
            c.password.to_string(),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(c.password.expose(), "hunter2");
    }
}
