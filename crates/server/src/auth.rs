//! Credentials: API keys (scopes, package-id globs, expiry; stored as a SHA-256 digest and
//! shown once) and passwords (argon2id).

use std::fmt;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

use crate::Error;
use crate::clock::{Random, random_hex};

/// What an API key may do (NuGet.org's key scopes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Push the first version of a package id (which makes the key's owner its owner).
    PushNew,
    /// Push further versions of packages the key's owner owns.
    PushVersion,
    /// Unlist and relist versions.
    Unlist,
    /// Read the feed when `[access] read = "authenticated"` — and nothing else: a key with
    /// only this scope is refused by every write (push, dry run, unlist, relist). Every valid
    /// key may read; this scope exists so that CI can hold a key that cannot publish.
    Read,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 4] = [
        Scope::PushNew,
        Scope::PushVersion,
        Scope::Unlist,
        Scope::Read,
    ];

    /// The configuration/CLI name: `push-new`, `push-version`, `unlist`, `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PushNew => "push-new",
            Self::PushVersion => "push-version",
            Self::Unlist => "unlist",
            Self::Read => "read",
        }
    }

    /// Parses a name; `push` means both push scopes and is expanded by [`Scopes::parse`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn bit(self) -> u8 {
        match self {
            Self::PushNew => 1,
            Self::PushVersion => 2,
            Self::Unlist => 4,
            Self::Read => 8,
        }
    }
}

/// A set of [`Scope`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// All scopes.
    pub fn all() -> Self {
        Self(15)
    }

    /// Whether the set allows any write (push, unlist or relist).
    pub fn can_write(self) -> bool {
        self.contains(Scope::PushNew)
            || self.contains(Scope::PushVersion)
            || self.contains(Scope::Unlist)
    }

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Adds `scope`.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// Parses a comma-separated list of scope names (`push` = `push-new,push-version`; `all`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut out = Self::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => out = Self::all(),
                "push" => {
                    out.insert(Scope::PushNew);
                    out.insert(Scope::PushVersion);
                }
                _ => out.insert(Scope::parse(name).ok_or_else(|| {
                    Error::Invalid(format!(
                        "unknown scope {name:?} (expected push, push-new, push-version, unlist, read or all)"
                    ))
                })?),
            }
        }
        if out.0 == 0 {
            return Err(Error::Invalid("an API key needs at least one scope".into()));
        }
        Ok(out)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// A package-id glob: `*` matches any run of characters; case-insensitive, as package ids are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdGlob(String);

impl IdGlob {
    /// Parses a glob; it may only contain package-id characters and `*`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty()
            || s.len() > 128
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'))
        {
            return Err(Error::Invalid(format!("invalid package glob {s:?}")));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// The glob as written (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the package id matches.
    pub fn matches(&self, id: &str) -> bool {
        glob_match(self.0.as_bytes(), id.to_ascii_lowercase().as_bytes())
    }
}

/// Iterative `*` matching (linear backtracking on the last star; no recursion on hostile input).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == b'*'))
}

/// The prefix of every API key, so that secret scanners can recognise leaked keys.
pub const API_KEY_PREFIX: &str = "signet_";

/// A freshly generated API key: the secret (shown once) and the digest that is stored.
#[derive(Clone)]
pub struct NewApiKey {
    /// The key to give to the user; never stored.
    pub secret: String,
    /// [`hash_api_key`] of the secret: what the database keeps.
    pub hash: String,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// Generates a key with 256 random bits.
pub fn generate_api_key(rng: &dyn Random) -> Result<NewApiKey, Error> {
    let secret = format!("{API_KEY_PREFIX}{}", random_hex(rng, 32)?);
    let hash = hash_api_key(&secret);
    Ok(NewApiKey { secret, hash })
}

/// The stored form of an API key: SHA-256, hex. A key carries 256 random bits, so a fast hash
/// is enough (a slow password hash would only cost every push, and could not be looked up).
pub fn hash_api_key(secret: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        secret.trim().as_bytes(),
    ))
}

/// Hashes a password with argon2id (the crate's defaults: m=19456 KiB, t=2, p=1), PHC string.
pub fn hash_password(password: &str, rng: &dyn Random) -> Result<String, Error> {
    if password.is_empty() {
        return Err(Error::Invalid("the password is empty".into()));
    }
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)?;
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Crypto(format!("argon2: {e}")))
}

/// Whether `password` matches a PHC string made by [`hash_password`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// The caller behind a valid API key.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's row id.
    pub user_id: i64,
    /// The user's name.
    pub user_name: String,
    /// The account pushes act for.
    pub owner_id: i64,
    /// The key's scopes.
    pub scopes: Scopes,
    /// The key's package globs.
    pub globs: Vec<IdGlob>,
}

impl Caller {
    pub(crate) fn allows_id(&self, id: &str) -> bool {
        self.globs.iter().any(|g| g.matches(id))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn globs() {
        let g = IdGlob::parse("Contoso.*").unwrap();
        assert!(g.matches("contoso.widgets"));
        assert!(g.matches("CONTOSO."));
        assert!(!g.matches("contosox"));
        assert!(IdGlob::parse("*").unwrap().matches("anything"));
        assert!(IdGlob::parse("a*b*c").unwrap().matches("aXXbYYc"));
        assert!(!IdGlob::parse("a*b*c").unwrap().matches("aXXbYY"));
        assert!(IdGlob::parse("../x").is_err());
    }

    #[test]
    fn scopes() {
        let s = Scopes::parse("push,unlist").unwrap();
        assert!(s.contains(Scope::PushNew) && s.contains(Scope::Unlist));
        assert_eq!(s.to_string(), "push-new,push-version,unlist");
        assert_eq!(
            Scopes::parse(&Scopes::parse("push-version").unwrap().to_string()).unwrap(),
            Scopes::parse("push-version").unwrap()
        );
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("admin").is_err());
        // A read key writes nothing; `all` includes read.
        let read = Scopes::parse("read").unwrap();
        assert!(read.contains(Scope::Read) && !read.can_write());
        assert_eq!(read.to_string(), "read");
        assert!(Scopes::all().contains(Scope::Read) && Scopes::all().can_write());
    }

    #[test]
    fn passwords() {
        let h = hash_password("hunter2", &crate::clock::SystemRandom).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("hunter2", &h));
        assert!(!verify_password("hunter3", &h));
    }
}
