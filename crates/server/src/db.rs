//! SQL storage through sqlx's `Any` driver: runtime queries with `$n` placeholders and only
//! the types `Any` carries (i64, text, blob), so the same statements run on SQLite (the
//! embedded default) and PostgreSQL. Row ids are random 63-bit integers chosen by the caller
//! (no AUTOINCREMENT/SERIAL dialects; several servers can share one database).

use sqlx::Row as _;
use sqlx::any::{Any, AnyRow};

pub(crate) type AnyPool = sqlx::Pool<Any>;

use crate::Error;
use crate::auth::{IdGlob, Scopes};
use crate::inspect::{DepGroup, Metadata};

/// The schema, idempotent. Times are microseconds since the Unix epoch; booleans are 0/1.
/// `{BLOB}` is the one dialect difference: `BLOB` on SQLite, `BYTEA` on PostgreSQL.
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS accounts (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        name_lower TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        email TEXT,
        password_hash TEXT,
        created_at BIGINT NOT NULL)",
    // Organizations are accounts of kind 'organization'; members are users with a role.
    "CREATE TABLE IF NOT EXISTS organization_members (
        organization_id BIGINT NOT NULL REFERENCES accounts(id),
        user_id BIGINT NOT NULL REFERENCES accounts(id),
        role TEXT NOT NULL,
        PRIMARY KEY (organization_id, user_id))",
    "CREATE TABLE IF NOT EXISTS api_keys (
        id BIGINT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES accounts(id),
        owner_id BIGINT NOT NULL REFERENCES accounts(id),
        description TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        globs TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT)",
    "CREATE TABLE IF NOT EXISTS packages (
        id BIGINT PRIMARY KEY,
        package_id TEXT NOT NULL,
        id_lower TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS package_owners (
        package_id BIGINT NOT NULL REFERENCES packages(id),
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        PRIMARY KEY (package_id, account_id))",
    // One row per version; the unique (package, version_lower) pair is what makes two
    // concurrent pushes of the same version give one 201 and one 409.
    "CREATE TABLE IF NOT EXISTS package_versions (
        id BIGINT PRIMARY KEY,
        package_id BIGINT NOT NULL REFERENCES packages(id),
        id_as_pushed TEXT NOT NULL,
        version TEXT NOT NULL,
        version_lower TEXT NOT NULL,
        original_version TEXT NOT NULL,
        prerelease BIGINT NOT NULL,
        semver2 BIGINT NOT NULL,
        listed BIGINT NOT NULL,
        size BIGINT NOT NULL,
        blob_key TEXT NOT NULL,
        nuspec {BLOB} NOT NULL,
        metadata_json TEXT NOT NULL,
        dependencies_json TEXT NOT NULL,
        published_at BIGINT NOT NULL,
        pushed_by BIGINT NOT NULL REFERENCES accounts(id),
        UNIQUE (package_id, version_lower))",
    "CREATE INDEX IF NOT EXISTS package_versions_listed ON package_versions (listed, package_id)",
    // Browser sessions (web pages): only the SHA-256 of the cookie's token is stored.
    // `two_factor`: this session passed a second factor; `pending`: the password was right
    // and the second factor is awaited (signs nobody in).
    "CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES accounts(id),
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        two_factor BIGINT NOT NULL,
        pending BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id)",
    // TOTP two-factor sign-in (RFC 6238): the shared secret (base32; it must be readable to
    // check codes), `enabled` once a code confirmed the enrolment, and the last accepted time
    // step: a code is accepted once, and never one of an earlier step (RFC 6238 §5.2).
    "CREATE TABLE IF NOT EXISTS totp_credentials (
        user_id BIGINT PRIMARY KEY REFERENCES accounts(id),
        secret TEXT NOT NULL,
        enabled BIGINT NOT NULL,
        last_step BIGINT,
        created_at BIGINT NOT NULL)",
    // Single-use recovery codes: SHA-256 of each (80 random bits), and when it was used.
    "CREATE TABLE IF NOT EXISTS recovery_codes (
        user_id BIGINT NOT NULL REFERENCES accounts(id),
        code_hash TEXT NOT NULL,
        used_at BIGINT,
        PRIMARY KEY (user_id, code_hash))",
];

/// SQL condition: the account `a` is not disabled (`disabled_accounts` is created with
/// lifecycle's tables; every key lookup honours it).
pub(crate) const NOT_DISABLED: &str =
    "NOT EXISTS (SELECT 1 FROM disabled_accounts d WHERE d.account_id = a.id)";

/// The PostgreSQL advisory lock key held while the schema is created (any constant that no
/// other lock of the database uses; these are the ASCII bytes of "signetdb").
pub(crate) const SCHEMA_LOCK: i64 = 0x7369_676e_6574_6462;

/// The database handle.
#[derive(Clone, Debug)]
pub struct Db {
    // Crate-visible so that each feature module keeps its own `impl Db` (queries) beside it.
    pub(crate) pool: AnyPool,
}

/// An API key row, looked up by digest.
#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    /// Row id.
    pub id: i64,
    /// The user the key belongs to.
    pub user_id: i64,
    /// That user's name.
    pub user_name: String,
    /// The account pushes act for (the user, or one of their organizations).
    pub owner_id: i64,
    /// Scopes.
    pub scopes: Scopes,
    /// Package-id globs (at least one; `*` for all).
    pub globs: Vec<IdGlob>,
    /// Expiry (µs since the epoch), if any.
    pub expires_at: Option<i64>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// What can be shown of an API key (never the secret, which is not stored).
#[derive(Clone, Debug)]
pub struct ApiKeyInfo {
    /// Row id (what `revoke` takes).
    pub id: i64,
    /// The note given at creation.
    pub description: String,
    /// The account pushes act for.
    pub owner: String,
    /// Scopes, comma-separated.
    pub scopes: String,
    /// Package globs, space-separated.
    pub globs: String,
    /// Creation time (µs).
    pub created_at: i64,
    /// Expiry (µs), if any.
    pub expires_at: Option<i64>,
    /// Revocation time (µs), if revoked.
    pub revoked_at: Option<i64>,
}

/// A user account row.
#[derive(Clone, Debug)]
pub struct AccountRow {
    /// Row id.
    pub id: i64,
    /// Name as created.
    pub name: String,
    /// argon2id PHC string (users only).
    pub password_hash: Option<String>,
}

/// A package version row, as read for the protocol documents.
#[derive(Clone, Debug)]
pub struct VersionRow {
    /// The package's id as its first version wrote it.
    pub package_id: String,
    /// The id as this version's nuspec writes it.
    pub id_as_pushed: String,
    /// Normalised version.
    pub version: String,
    /// Normalised version, lower case.
    pub version_lower: String,
    /// Has release labels.
    pub prerelease: bool,
    /// SemVer 2.0.0-only.
    pub semver2: bool,
    /// Listed.
    pub listed: bool,
    /// Size in bytes.
    pub size: i64,
    /// Where the file is.
    pub blob_key: String,
    /// Display metadata.
    pub metadata: Metadata,
    /// Dependency groups.
    pub dependencies: Vec<DepGroup>,
    /// Push time (µs since the epoch).
    pub published_at: i64,
}

fn opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, Error> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) const VERSION_COLUMNS: &str = "p.package_id, v.id_as_pushed, v.version, v.version_lower, \
    v.prerelease, v.semver2, v.listed, v.size, v.blob_key, v.metadata_json, \
    v.dependencies_json, v.published_at";

pub(crate) fn version_row(row: &AnyRow) -> Result<VersionRow, Error> {
    let metadata: String = row.try_get("metadata_json")?;
    let deps: String = row.try_get("dependencies_json")?;
    Ok(VersionRow {
        package_id: row.try_get("package_id")?,
        id_as_pushed: row.try_get("id_as_pushed")?,
        version: row.try_get("version")?,
        version_lower: row.try_get("version_lower")?,
        prerelease: row.try_get::<i64, _>("prerelease")? != 0,
        semver2: row.try_get::<i64, _>("semver2")? != 0,
        listed: row.try_get::<i64, _>("listed")? != 0,
        size: row.try_get("size")?,
        blob_key: row.try_get("blob_key")?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        dependencies: serde_json::from_str(&deps).unwrap_or_default(),
        published_at: row.try_get("published_at")?,
    })
}

/// How long a request waits for a database connection by default.
pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The file of a `sqlite://FILE?…` URL (`None` for other databases and in-memory ones).
pub(crate) fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    (!file.is_empty() && file != ":memory:").then(|| std::path::PathBuf::from(file))
}

/// The database holds password hashes, TOTP secrets and session digests: it, its WAL and its
/// shared-memory file are created readable by the owner only (SQLite creates the `-wal` and
/// `-shm` files with the main file's permissions), and existing ones are narrowed to that.
pub(crate) fn private_sqlite_files(path: &std::path::Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        }
        let mut names = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(name.into());
        }
        for name in names {
            if let Ok(meta) = std::fs::metadata(&name)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| Error::io(format!("restrict {}", name.display()), e))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Db {
    /// A transaction that reads and then writes. On SQLite it takes the write lock when it
    /// begins (`BEGIN IMMEDIATE`): a deferred one is refused with SQLITE_BUSY_SNAPSHOT (517,
    /// "database is locked") when another connection commits between its read and its write,
    /// as a running server does beside `signet admin`; busy_timeout then waits instead.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        let postgres = self
            .pool
            .connect_options()
            .database_url
            .scheme()
            .starts_with("postgres");
        Ok(if postgres {
            self.pool.begin().await?
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        })
    }

    /// Whether the database answers (`SELECT 1`), for `/health`.
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1 AS one").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Writes a consistent snapshot of this SQLite database to `path` (`VACUUM INTO`: one
    /// read transaction, so writers go on meanwhile).
    pub(crate) async fn vacuum_into(&self, path: &std::path::Path) -> Result<(), Error> {
        let path = path
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("{} is not UTF-8", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every package version's row id and file key.
    pub(crate) async fn version_blobs(&self) -> Result<Vec<(i64, String)>, Error> {
        let rows = sqlx::query("SELECT id, blob_key FROM package_versions ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("blob_key")?)))
            .collect()
    }

    /// One package version's file key, by row id.
    pub(crate) async fn version_blob(&self, row: i64) -> Result<Option<String>, Error> {
        let r = sqlx::query("SELECT blob_key FROM package_versions WHERE id = $1")
            .bind(row)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| r.try_get("blob_key"))
            .transpose()
            .map_err(Error::from)
    }

    /// Points one package version's row at another file key.
    pub(crate) async fn set_version_blob(&self, row: i64, key: &str) -> Result<(), Error> {
        sqlx::query("UPDATE package_versions SET blob_key = $1 WHERE id = $2")
            .bind(key.to_owned())
            .bind(row)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates a user; `Conflict` if the name is taken (case-insensitively).
    pub async fn create_user(
        &self,
        id: i64,
        name: &str,
        email: Option<&str>,
        password_hash: &str,
        now: i64,
    ) -> Result<(), Error> {
        let r = sqlx::query(
            "INSERT INTO accounts (id, name, name_lower, kind, email, password_hash, created_at) \
             VALUES ($1, $2, $3, 'user', $4, $5, $6)",
        )
        .bind(id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::from);
        match r {
            Err(e) if e.is_unique_violation() => Err(Error::Conflict(format!(
                "the account name {name:?} is taken"
            ))),
            other => other.map(|_| ()),
        }
    }

    /// Creates an organization account; `Conflict` if the name is taken.
    pub async fn create_organization(&self, id: i64, name: &str, now: i64) -> Result<(), Error> {
        let r = sqlx::query(
            "INSERT INTO accounts (id, name, name_lower, kind, created_at) \
             VALUES ($1, $2, $3, 'organization', $4)",
        )
        .bind(id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::from);
        match r {
            Err(e) if e.is_unique_violation() => Err(Error::Conflict(format!(
                "the account name {name:?} is taken"
            ))),
            other => other.map(|_| ()),
        }
    }

    /// Any account by name: (id, kind).
    pub async fn find_account(&self, name: &str) -> Result<Option<(i64, String)>, Error> {
        let row = sqlx::query("SELECT id, kind FROM accounts WHERE name_lower = $1")
            .bind(name.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("kind")?)))
            .transpose()
    }

    /// Adds `user` to `organization` with `role`, or changes their role.
    pub async fn set_member(&self, organization: i64, user: i64, role: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(organization)
        .bind(user)
        .bind(role)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `user`'s role in `organization`, if a member.
    pub async fn member_role(&self, organization: i64, user: i64) -> Result<Option<String>, Error> {
        let row = sqlx::query(
            "SELECT role FROM organization_members WHERE organization_id = $1 AND user_id = $2",
        )
        .bind(organization)
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get::<String, _>("role")).transpose()?)
    }

    /// The organizations `user` administers.
    pub(crate) async fn administered_organizations(&self, user: i64) -> Result<Vec<i64>, Error> {
        let rows = sqlx::query(
            "SELECT organization_id FROM organization_members WHERE user_id = $1 \
             AND role = 'admin'",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>("organization_id").map_err(Error::from))
            .collect()
    }

    /// A user by name (case-insensitive).
    pub async fn find_user(&self, name: &str) -> Result<Option<AccountRow>, Error> {
        let row = sqlx::query(
            "SELECT id, name, password_hash FROM accounts WHERE name_lower = $1 AND kind = 'user'",
        )
        .bind(name.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AccountRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// Stores an API key (its digest only).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        id: i64,
        user_id: i64,
        owner_id: i64,
        description: &str,
        key_hash: &str,
        scopes: Scopes,
        globs: &[IdGlob],
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<(), Error> {
        let globs: Vec<&str> = globs.iter().map(IdGlob::as_str).collect();
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, owner_id, description, key_hash, scopes, globs, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(user_id)
        .bind(owner_id)
        .bind(description)
        .bind(key_hash)
        .bind(scopes.to_string())
        .bind(globs.join(" "))
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user's keys: (id, description, scopes, globs, created, expires, revoked), oldest first.
    pub async fn api_keys_of(&self, user_id: i64) -> Result<Vec<ApiKeyInfo>, Error> {
        let rows = sqlx::query(
            "SELECT k.id, k.description, k.scopes, k.globs, k.created_at, k.expires_at, \
             k.revoked_at, a.name AS owner FROM api_keys k JOIN accounts a ON a.id = k.owner_id \
             WHERE k.user_id = $1 ORDER BY k.created_at, k.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyInfo {
                    id: r.try_get("id")?,
                    description: r.try_get("description")?,
                    owner: r.try_get("owner")?,
                    scopes: r.try_get("scopes")?,
                    globs: r.try_get("globs")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: opt_i64(r, "expires_at")?,
                    revoked_at: opt_i64(r, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a key of `user_id`; false if there is no such key.
    pub async fn revoke_api_key(&self, user_id: i64, key_id: i64, now: i64) -> Result<bool, Error> {
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(key_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The key with this digest.
    pub async fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, Error> {
        let row = sqlx::query(
            // A disabled user's keys, and an organization key whose user is no longer a
            // member, do not authenticate (issue 13: membership and accounts can be revoked).
            sqlx::AssertSqlSafe(format!(
                "SELECT k.id, k.user_id, a.name, k.owner_id, k.scopes, k.globs, k.expires_at, \
                 k.revoked_at FROM api_keys k JOIN accounts a ON a.id = k.user_id \
                 WHERE k.key_hash = $1 AND {} AND (k.owner_id = k.user_id OR EXISTS \
                 (SELECT 1 FROM organization_members m WHERE m.organization_id = k.owner_id \
                 AND m.user_id = k.user_id))",
                NOT_DISABLED
            )),
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let scopes: String = r.try_get("scopes")?;
        let globs: String = r.try_get("globs")?;
        Ok(Some(ApiKeyRow {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            user_name: r.try_get("name")?,
            owner_id: r.try_get("owner_id")?,
            scopes: Scopes::parse(&scopes)?,
            globs: globs
                .split_whitespace()
                .map(IdGlob::parse)
                .collect::<Result<_, _>>()?,
            expires_at: opt_i64(&r, "expires_at")?,
            revoked_at: opt_i64(&r, "revoked_at")?,
        }))
    }

    /// Whether `account` (or an organization `user` belongs to) owns the package.
    pub async fn is_owner(&self, id_lower: &str, account: i64, user: i64) -> Result<bool, Error> {
        let row = sqlx::query(
            // A key acting for an organization acts only on that organization's packages; a
            // personal key also on those of the organizations its user belongs to.
            "SELECT 1 AS one FROM package_owners o JOIN packages p ON p.id = o.package_id \
             WHERE p.id_lower = $1 AND (o.account_id = $2 OR ($2 = $3 AND o.account_id IN \
             (SELECT organization_id FROM organization_members WHERE user_id = $3)))",
        )
        .bind(id_lower)
        .bind(account)
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Every version of a package (listed and unlisted), unsorted.
    pub async fn versions(&self, id_lower: &str) -> Result<Vec<VersionRow>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM package_versions v JOIN packages p \
             ON p.id = v.package_id WHERE p.id_lower = $1"
        )))
        .bind(id_lower)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_row).collect()
    }

    /// One version.
    pub async fn version(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<VersionRow>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM package_versions v JOIN packages p \
             ON p.id = v.package_id WHERE p.id_lower = $1 AND v.version_lower = $2"
        )))
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_row).transpose()
    }

    /// Where one version's file is (the download path: no metadata decoding).
    pub async fn blob_key(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<String>, Error> {
        let row = sqlx::query(
            "SELECT v.blob_key FROM package_versions v JOIN packages p ON p.id = v.package_id \
             WHERE p.id_lower = $1 AND v.version_lower = $2",
        )
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("blob_key"))
            .transpose()?)
    }

    /// The stored nuspec of one version.
    pub async fn nuspec(
        &self,
        id_lower: &str,
        version_lower: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let row = sqlx::query(
            "SELECT v.nuspec FROM package_versions v JOIN packages p ON p.id = v.package_id \
             WHERE p.id_lower = $1 AND v.version_lower = $2",
        )
        .bind(id_lower)
        .bind(version_lower)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get::<Vec<u8>, _>("nuspec")).transpose()?)
    }

    /// Owner account names per package (lower id → names).
    pub async fn owners(&self, id_lower: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT a.name FROM package_owners o JOIN packages p ON p.id = o.package_id \
             JOIN accounts a ON a.id = o.account_id WHERE p.id_lower = $1 ORDER BY a.name_lower",
        )
        .bind(id_lower)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("name").map_err(Error::from))
            .collect()
    }

    /// Whether any version row points at `blob_key`.
    pub async fn blob_referenced(&self, blob_key: &str) -> Result<bool, Error> {
        let row = sqlx::query("SELECT 1 AS one FROM package_versions WHERE blob_key = $1")
            .bind(blob_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
