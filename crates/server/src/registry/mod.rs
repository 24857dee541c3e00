//! The domain service: authentication by API key, the push pipeline, unlist/relist, accounts
//! and keys, and the read side the protocol documents are built from. It knows nothing of
//! HTTP; handlers call it and map its [`Error`]s.

mod accounts;
mod audit;
mod backfill;
mod certificates;
mod downloads;
mod lifecycle;
mod mirror;
mod owners;
mod policy;
mod prefixes;
pub mod push;

// Defined below the services (so that the stores and the push pipeline can name them); these
// are their public paths.
pub use crate::auth::Caller;
pub use crate::catalog::VersionFilter;
mod recheck;
mod retention;
mod sessions;
mod staples;
mod tlog;
mod twofactor;
mod webhooks;
mod witnesses;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use signet_feed::NuGetVersion;
use signet_nupkg::Limits;

use crate::Error;
use crate::auth::{IdGlob, Scope, Scopes, generate_api_key, hash_api_key, hash_password};
use crate::blob::{BlobBody, BlobStore};
use crate::clock::{Clock, Random, random_id};
use crate::db::{ApiKeyInfo, Db, VersionRow};
use crate::inspect::PackageInfo;
use crate::signing::{PushPolicy, SigningSetup};

/// Most (id, version) → blob key entries remembered for downloads.
const BLOB_CACHE_MAX: usize = 100_000;

/// Bytes of small package files kept in memory for downloads (packages are immutable), unless
/// [`Registry::with_package_memory`] says otherwise (`[server] package_memory_cache_mib`).
const BLOB_MEMORY_MAX: usize = 64 << 20;
/// Files larger than this are never kept in memory.
const BLOB_MEMORY_ITEM_MAX: usize = 1 << 20;

/// How long a download remembers a version's blob key: a backfill elsewhere may change it, and
/// a retention run (another process) may delete the version, which then stops being served
/// within this time (its file, still in the memory cache, is reached only through the key).
const BLOB_KEY_TTL_MICROS: i64 = 5 * 1_000_000;
/// How long an empty search's total is remembered (see `Registry::listing_totals`).
const LISTING_TOTAL_TTL_MICROS: i64 = 5 * 1_000_000;
/// Below this many packages an empty search's total is counted every time.
const LISTING_TOTAL_REMEMBERED_FROM: usize = 10_000;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// A member's role in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Manages members, owners and the organization's keys.
    Admin,
    /// Pushes and unlists the organization's packages.
    Collaborator,
}

impl Role {
    /// `admin` or `collaborator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Collaborator => "collaborator",
        }
    }

    /// Parses `admin` or `collaborator`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "collaborator" => Some(Self::Collaborator),
            _ => None,
        }
    }
}

/// What a push check sees: the validated package and its file (not yet visible to anyone).
#[derive(Debug)]
pub struct PushCandidate<'a> {
    /// The validated manifest data.
    pub info: &'a PackageInfo,
    /// The uploaded file.
    pub path: &'a Path,
    /// Who pushes.
    pub caller: &'a Caller,
}

/// A check run on every push after the manifest, the key's globs and scopes are validated and
/// before anything is stored — where signed-push rules (registered certificates, required
/// signer) plug in. Returning an error refuses the push with that error's status.
pub trait PushCheck: Send + Sync {
    /// Accepts or refuses the candidate.
    fn check(&self, candidate: &PushCandidate<'_>) -> Result<(), Error>;
}

/// A pushed version.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// Package id as pushed.
    pub id: String,
    /// Normalised version.
    pub version: String,
    /// Warnings for the client (`X-NuGet-Warning`).
    pub warnings: Vec<String>,
}

/// Search results, grouped by package id.
#[derive(Clone, Debug)]
pub struct SearchHit {
    /// Owners (account names).
    pub owners: Vec<String>,
    /// The matching versions, ascending; the last is the latest.
    pub versions: Vec<VersionRow>,
}

/// One page of search results.
#[derive(Clone, Debug, Default)]
pub struct SearchPage {
    /// Packages that match, on every page.
    pub total: usize,
    /// This page's packages, in id order.
    pub hits: Vec<SearchHit>,
    /// Their stored download counts, in the same order.
    pub downloads: Vec<crate::downloads::DownloadCounts>,
    /// Versions (under the listing filter) before the first hit's, for a window page
    /// ([`Registry::search_window`]); 0 otherwise.
    pub before: usize,
}

/// The package registry.
pub struct Registry {
    /// The database: private to `registry`, so that every query a request or a job makes is
    /// a `Registry` method (handlers never reach it; `tests/module_graph.rs` checks `web`,
    /// `http` and `app`).
    db: Db,
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn Random>,
    pub(crate) limits: Limits,
    pub(crate) upload_dir: PathBuf,
    pub(crate) checks: Vec<Arc<dyn PushCheck>>,
    /// Trust for pushed signatures and the repository signer.
    pub(crate) signing: Arc<SigningSetup>,
    /// A version's blob key changes only when a backfill re-signs it (the old file is then
    /// deleted), so downloads remember it for [`BLOB_KEY_TTL_MICROS`] instead of asking the
    /// database each time; a remembered key whose file is gone is looked up again. This stays
    /// true with several servers sharing one database: (key, remembered at µs).
    blob_keys: std::sync::Mutex<HashMap<(String, String), (String, i64)>>,
    /// When each client last had a refused API key recorded (`audit_key_refused`: one entry
    /// per client per minute, so a flood of bad keys cannot fill the audit log).
    key_refusals: std::sync::Mutex<HashMap<String, i64>>,
    /// Small package files in memory by blob key, at most [`BLOB_MEMORY_MAX`] bytes.
    blob_memory: std::sync::Mutex<crate::memcache::ByteBoundedCache<String, bytes::Bytes>>,
    /// How many packages an empty search lists, per filter: (count, counted at µs), kept for
    /// [`LISTING_TOTAL_TTL_MICROS`]. Counting them is a scan of the whole listing index (17 ms
    /// for 100,000 packages on PostgreSQL), the one cost of the home page, an empty search
    /// and V2's `nuget list` that grew with the catalogue; `totalHits` a few seconds old is
    /// what NuGet.org's own search gives.
    listing_totals: std::sync::Mutex<HashMap<(bool, bool), (usize, i64)>>,
    /// Downloads counted since the last flush (`downloads.rs`).
    pub(crate) downloads: crate::downloads::PendingDownloads,
    /// Stapled revocation status (`staples.rs`), when on.
    pub(crate) stapler: Option<Arc<crate::staples::Stapler>>,
    /// The mirror's caches and single-flight map (`mirror/`).
    pub(crate) mirror: crate::mirror::MirrorState,
    /// The transparency log's key: checkpoints are signed when set (`tlog/`).
    pub(crate) tlog: Option<Arc<crate::tlog::LogKey>>,
    /// Witnesses asked to cosign the log's checkpoints (`tlog/witnesses.rs`).
    pub(crate) witnesses: Option<Arc<crate::tlog::witnesses::Witnesses>>,
    /// A password hash verified when a sign-in names no user, so that an unknown name costs
    /// the same argon2 time as a wrong password (`accounts.rs`); made on first use.
    dummy_hash: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("upload_dir", &self.upload_dir)
            .finish_non_exhaustive()
    }
}

fn sort_versions(rows: &mut [VersionRow]) {
    rows.sort_by_cached_key(|r| NuGetVersion::parse(&r.version).ok());
}

impl Registry {
    /// A registry over its storage. `upload_dir` holds uploads in flight; with the filesystem
    /// store it should be on the same filesystem, so that storing a blob is a rename.
    pub fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        limits: Limits,
        upload_dir: PathBuf,
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(&upload_dir)
            .map_err(|e| Error::io(format!("create {}", upload_dir.display()), e))?;
        Ok(Self {
            db,
            blobs,
            clock,
            rng,
            limits,
            upload_dir,
            checks: Vec::new(),
            signing: Arc::new(SigningSetup {
                policy: PushPolicy::online(
                    signet_trust::TrustStore::bundled()
                        .map_err(|e| Error::Config(format!("bundled roots: {e}")))?,
                ),
                repository: None,
                announce_over_http: false,
            }),
            blob_keys: std::sync::Mutex::new(HashMap::new()),
            key_refusals: std::sync::Mutex::new(HashMap::new()),
            blob_memory: std::sync::Mutex::new(crate::memcache::ByteBoundedCache::new(
                BLOB_MEMORY_MAX,
            )),
            listing_totals: std::sync::Mutex::default(),
            downloads: Default::default(),
            stapler: None,
            mirror: Default::default(),
            tlog: None,
            witnesses: None,
            dummy_hash: std::sync::OnceLock::new(),
        })
    }

    /// Replaces the signing setup (trust for pushed signatures, the repository signer), and
    /// records the repository certificates it announces. Call before serving.
    pub async fn with_signing(mut self, setup: SigningSetup) -> Result<Self, Error> {
        if let Some(repo) = &setup.repository {
            let now = self.clock.now().unix_micros();
            for c in repo
                .previous()
                .iter()
                .chain(std::iter::once(repo.certificate()))
            {
                self.db
                    .add_repository_certificate(&c.fingerprint, &c.der, now)
                    .await?;
            }
        }
        self.signing = Arc::new(setup);
        Ok(self)
    }

    /// The signing setup.
    pub fn signing(&self) -> &SigningSetup {
        &self.signing
    }

    /// Drops a remembered blob key (its file was replaced).
    pub(crate) fn forget_blob(&self, id_lower: &str, version_lower: &str) {
        if let Ok(mut m) = self.blob_keys.lock() {
            m.remove(&(id_lower.to_owned(), version_lower.to_owned()));
        }
    }

    /// Keeps at most `bytes` of package files in memory for downloads (0: none).
    pub fn with_package_memory(self, bytes: usize) -> Self {
        if let Ok(mut m) = self.blob_memory.lock() {
            *m = crate::memcache::ByteBoundedCache::new(bytes);
        }
        self
    }

    /// Adds a [`PushCheck`].
    pub fn with_check(mut self, check: Arc<dyn PushCheck>) -> Self {
        self.checks.push(check);
        self
    }

    /// The package limits (the largest accepted package is `max_package_size`).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the blob store answers (a read of a key that never exists), for `/health`.
    pub async fn probe_blobs(&self) -> Result<(), Error> {
        self.blobs.get("health/never-stored").await.map(|_| ())
    }

    /// Whether the database answers (`SELECT 1`), for `/health`.
    pub async fn ping_database(&self) -> Result<(), Error> {
        self.db.ping().await
    }

    /// The database, for the binary's shutdown (`close`), benchmarks and tests. Request
    /// handlers (`web`, `http`, `app`) never use it: they call `Registry` methods
    /// (`tests/module_graph.rs` checks it).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The caller behind an `X-NuGet-ApiKey` value: 401 when missing, unknown, revoked or
    /// expired.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Caller, Error> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::Unauthorized("an API key is required (X-NuGet-ApiKey)".into()))?;
        let Some(row) = self.db.find_api_key(&hash_api_key(key)).await? else {
            let e = Error::Unauthorized("the API key is invalid".into());
            self.audit_key_refused(crate::audit::ANONYMOUS, "", &e)
                .await;
            return Err(e);
        };
        let refused = if row.revoked_at.is_some() {
            Some(Error::Unauthorized("the API key has been revoked".into()))
        } else if row
            .expires_at
            .is_some_and(|t| t <= self.clock.now().unix_micros())
        {
            Some(Error::Unauthorized("the API key has expired".into()))
        } else {
            None
        };
        if let Some(e) = refused {
            // A revoked or expired key names its owner (whoever still holds it is worth
            // knowing about); the key itself is never recorded.
            self.audit_key_refused(&row.user_name, &format!("key {}", row.id), &e)
                .await;
            return Err(e);
        }
        Ok(Caller {
            user_id: row.user_id,
            user_name: row.user_name,
            owner_id: row.owner_id,
            scopes: row.scopes,
            globs: row.globs,
        })
    }

    async fn audit_key_refused(&self, actor: &str, target: &str, e: &Error) {
        const EVERY_MICROS: i64 = 60_000_000;
        const MAX_CLIENTS: usize = 10_000;
        let now = self.clock.now().unix_micros();
        let client = crate::audit::request_client().unwrap_or_default();
        if let Ok(mut seen) = self.key_refusals.lock() {
            if seen
                .get(&client)
                .is_some_and(|at| now.saturating_sub(*at) < EVERY_MICROS)
            {
                return;
            }
            if seen.len() >= MAX_CLIENTS {
                seen.retain(|_, at| now.saturating_sub(*at) < EVERY_MICROS);
                if seen.len() >= MAX_CLIENTS {
                    seen.clear();
                }
            }
            seen.insert(client, now);
        }
        self.audit(crate::audit::AuditEvent {
            actor,
            action: crate::audit::AuditAction::ApiKeyAuth,
            target,
            outcome: crate::audit::AuditOutcome::Refused,
            client: None,
            detail: &e.to_string(),
        })
        .await;
    }

    /// A new file for an upload in flight, deleted when dropped unless pushed.
    pub fn new_upload(&self) -> Result<tempfile::NamedTempFile, Error> {
        tempfile::Builder::new()
            .prefix("upload-")
            .suffix(".tmp")
            .tempfile_in(&self.upload_dir)
            .map_err(|e| Error::io("create an upload file", e))
    }

    /// Unlists (`listed = false`) or relists a version: 404 if unknown, 403 without the
    /// `unlist` scope, a matching glob and ownership.
    pub async fn set_listed(
        &self,
        caller: &Caller,
        id: &str,
        version: &str,
        listed: bool,
    ) -> Result<(), Error> {
        let r = self.set_listed_checked(caller, id, version, listed).await;
        self.record_listing(&caller.user_name, id, version, listed, r)
            .await
    }

    /// Unlists or relists a version for a signed-in owner on the web (an owner directly, or
    /// an administrator of an owning organization; no API key involved).
    pub async fn set_listed_by_owner(
        &self,
        user: &str,
        id: &str,
        version: &str,
        listed: bool,
    ) -> Result<(), Error> {
        let r = async {
            if !self.can_manage_package(user, id).await? {
                return Err(Error::Forbidden(format!(
                    "only an owner of {id} (or an administrator of an owning organization) \
                     can unlist or relist it"
                )));
            }
            let v = NuGetVersion::parse(version)
                .map_err(|_| Error::NotFound(format!("{id} {version} does not exist")))?;
            if self
                .db
                .set_listed(&id.to_lowercase(), &v.lower(), listed)
                .await?
            {
                Ok(())
            } else {
                Err(Error::NotFound(format!("{id} {version} does not exist")))
            }
        }
        .await;
        self.record_listing(user, id, version, listed, r).await
    }

    /// The audit entry and the webhook event of an unlist or relist.
    async fn record_listing(
        &self,
        actor: &str,
        id: &str,
        version: &str,
        listed: bool,
        r: Result<(), Error>,
    ) -> Result<(), Error> {
        let action = if listed {
            crate::audit::AuditAction::Relist
        } else {
            crate::audit::AuditAction::Unlist
        };
        self.audit_result(actor, action, &format!("{id} {version}"), &r)
            .await;
        if r.is_ok() {
            let event = if listed {
                "package.relisted"
            } else {
                "package.unlisted"
            };
            let version = NuGetVersion::parse(version)
                .map(|v| v.normalized().to_owned())
                .unwrap_or_else(|_| version.to_owned());
            self.package_event(event, id, &version).await;
        }
        r
    }

    async fn set_listed_checked(
        &self,
        caller: &Caller,
        id: &str,
        version: &str,
        listed: bool,
    ) -> Result<(), Error> {
        let version = NuGetVersion::parse(version)
            .map_err(|_| Error::NotFound(format!("{id} {version} does not exist")))?;
        let id_lower = id.to_lowercase();
        if self
            .db
            .version(&id_lower, &version.lower())
            .await?
            .is_none()
        {
            return Err(Error::NotFound(format!("{id} {version} does not exist")));
        }
        if !caller.scopes.contains(Scope::Unlist) {
            return Err(Error::Forbidden(
                "the API key may not unlist or relist (scope unlist)".into(),
            ));
        }
        if !caller.allows_id(id) {
            return Err(Error::Forbidden(format!(
                "the API key does not allow changing {id} (package globs)"
            )));
        }
        if !self
            .db
            .is_owner(&id_lower, caller.owner_id, caller.user_id)
            .await?
        {
            return Err(Error::Forbidden(format!("{id} belongs to another account")));
        }
        if !self
            .db
            .set_listed(&id_lower, &version.lower(), listed)
            .await?
        {
            return Err(Error::NotFound(format!("{id} {version} does not exist")));
        }
        tracing::info!(id, version = %version, listed, user = %caller.user_name, "listing changed");
        Ok(())
    }

    /// Creates a user with an argon2id password hash.
    pub async fn create_user(
        &self,
        name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<(), Error> {
        if !crate::inspect::is_valid_id(name) || name.len() > 64 {
            return Err(Error::Invalid(format!(
                "invalid account name {name:?}: letters, digits, '_', single '.' or '-', at most 64"
            )));
        }
        let hash = hash_password(password, self.rng.as_ref())?;
        let id = random_id(self.rng.as_ref())?;
        self.db
            .create_user(id, name, email, &hash, self.clock.now().unix_micros())
            .await
    }

    /// Creates an organization with `admin` as its first administrator.
    pub async fn create_organization(&self, name: &str, admin: &str) -> Result<(), Error> {
        if !crate::inspect::is_valid_id(name) || name.len() > 64 {
            return Err(Error::Invalid(format!("invalid account name {name:?}")));
        }
        let user = self.user_id(admin).await?;
        let id = random_id(self.rng.as_ref())?;
        self.db
            .create_organization(id, name, self.clock.now().unix_micros())
            .await?;
        self.db.set_member(id, user, Role::Admin.as_str()).await
    }

    /// Adds a user to an organization, or changes their role.
    pub async fn set_member(
        &self,
        organization: &str,
        user: &str,
        role: Role,
    ) -> Result<(), Error> {
        let org = self.organization_id(organization).await?;
        let user = self.user_id(user).await?;
        self.db.set_member(org, user, role.as_str()).await
    }

    /// Removes `account` from the owners of package `id` (never the last owner).
    pub async fn remove_owner(&self, id: &str, account: &str) -> Result<(), Error> {
        let (account_id, _) = self
            .db
            .find_account(account)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account {account:?}")))?;
        self.db.remove_owner(&id.to_lowercase(), account_id).await?;
        tracing::info!(id, account, "owner removed");
        Ok(())
    }

    /// Owner account names of package `id`.
    pub async fn owners(&self, id: &str) -> Result<Vec<String>, Error> {
        self.db.owners(&id.to_lowercase()).await
    }

    async fn user_id(&self, name: &str) -> Result<i64, Error> {
        Ok(self
            .db
            .find_user(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {name:?}")))?
            .id)
    }

    async fn organization_id(&self, name: &str) -> Result<i64, Error> {
        match self.db.find_account(name).await? {
            Some((id, kind)) if kind == "organization" => Ok(id),
            _ => Err(Error::NotFound(format!("no organization {name:?}"))),
        }
    }

    /// Creates an API key for `user` and returns the secret (shown once; only its digest is
    /// stored). With `organization`, pushes through the key act for that organization (the
    /// user must be a member): new ids become the organization's.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        user: &str,
        organization: Option<&str>,
        description: &str,
        scopes: Scopes,
        globs: &[IdGlob],
        expires_in_days: Option<u32>,
    ) -> Result<String, Error> {
        let user_id = self.user_id(user).await?;
        let owner_id = match organization {
            None => user_id,
            Some(org) => {
                let org_id = self.organization_id(org).await?;
                if self.db.member_role(org_id, user_id).await?.is_none() {
                    return Err(Error::Forbidden(format!("{user} is not a member of {org}")));
                }
                org_id
            }
        };
        let globs = if globs.is_empty() {
            vec![IdGlob::parse("*")?]
        } else {
            globs.to_vec()
        };
        let key = generate_api_key(self.rng.as_ref())?;
        let now = self.clock.now().unix_micros();
        let expires =
            expires_in_days.map(|d| now.saturating_add(i64::from(d).saturating_mul(DAY_MICROS)));
        self.db
            .create_api_key(
                random_id(self.rng.as_ref())?,
                user_id,
                owner_id,
                description,
                &key.hash,
                scopes,
                &globs,
                now,
                expires,
            )
            .await?;
        Ok(key.secret)
    }

    /// A user's API keys (no secrets: only digests are stored).
    pub async fn api_keys(&self, user: &str) -> Result<Vec<ApiKeyInfo>, Error> {
        let id = self.user_id(user).await?;
        self.db.api_keys_of(id).await
    }

    /// Revokes one of `user`'s keys by id; it is refused (401) from then on.
    pub async fn revoke_api_key(&self, user: &str, key_id: i64) -> Result<(), Error> {
        let id = self.user_id(user).await?;
        if !self
            .db
            .revoke_api_key(id, key_id, self.clock.now().unix_micros())
            .await?
        {
            return Err(Error::NotFound(format!(
                "{user} has no active API key {key_id}"
            )));
        }
        tracing::info!(user, key_id, "API key revoked");
        Ok(())
    }

    /// Every version of `id` (listed and unlisted), ascending.
    pub async fn versions(&self, id: &str) -> Result<Vec<VersionRow>, Error> {
        let mut rows = self.db.versions(&id.to_lowercase()).await?;
        sort_versions(&mut rows);
        Ok(rows)
    }

    /// One version's row (`version` in any form NuGet accepts).
    pub async fn version(&self, id: &str, version: &str) -> Result<Option<VersionRow>, Error> {
        let Ok(v) = NuGetVersion::parse(version) else {
            return Ok(None);
        };
        self.db.version(&id.to_lowercase(), &v.lower()).await
    }

    /// One version's nuspec bytes.
    pub async fn nuspec(&self, id: &str, version: &str) -> Result<Option<Vec<u8>>, Error> {
        let Ok(v) = NuGetVersion::parse(version) else {
            return Ok(None);
        };
        self.db.nuspec(&id.to_lowercase(), &v.lower()).await
    }

    /// One version's package file.
    pub async fn open_package(&self, id: &str, version: &str) -> Result<Option<BlobBody>, Error> {
        let Ok(v) = NuGetVersion::parse(version) else {
            return Ok(None);
        };
        let cache_key = (id.to_lowercase(), v.lower());
        let now = self.clock.now().unix_micros();
        let cached = self
            .blob_keys
            .lock()
            .ok()
            .and_then(|m| m.get(&cache_key).cloned())
            .filter(|(_, at)| now.saturating_sub(*at) < BLOB_KEY_TTL_MICROS)
            .map(|(k, _)| k);
        let blob_key = match cached {
            Some(k) => k,
            None => {
                let Some(k) = self.db.blob_key(&cache_key.0, &cache_key.1).await? else {
                    return Ok(None);
                };
                if let Ok(mut m) = self.blob_keys.lock() {
                    if m.len() >= BLOB_CACHE_MAX {
                        m.clear();
                    }
                    m.insert(cache_key.clone(), (k.clone(), now));
                }
                k
            }
        };
        if let Some(b) = self.blob_memory.lock().ok().and_then(|m| m.get(&blob_key)) {
            return Ok(Some(BlobBody::Bytes(b)));
        }
        let mut body = self.blobs.get(&blob_key).await?;
        if body.is_none() {
            // Replaced by a backfill since it was remembered: ask the database again.
            self.forget_blob(&cache_key.0, &cache_key.1);
            match self.db.blob_key(&cache_key.0, &cache_key.1).await? {
                Some(k) if k != blob_key => body = self.blobs.get(&k).await?,
                _ => {}
            }
            return Ok(body);
        }
        if let Some(BlobBody::Bytes(b)) = &body
            && b.len() <= BLOB_MEMORY_ITEM_MAX
            && let Ok(mut m) = self.blob_memory.lock()
        {
            // Random eviction when full (see `memcache`): a mirror's clients restore the same
            // graphs in cycles, which recency-based eviction serves worst.
            // The key is held twice (map and eviction list): counted with the file.
            let size = b.len() + 2 * blob_key.len() + 64;
            m.insert(blob_key, b.clone(), size);
        }
        Ok(body)
    }

    /// How many packages have a listed version under `filter`: remembered for a few seconds
    /// once there are [`LISTING_TOTAL_REMEMBERED_FROM`] (a small feed counts exactly every
    /// time: a package pushed a second ago shows on its home page at once).
    async fn listing_total(&self, filter: VersionFilter) -> Result<usize, Error> {
        let key = (filter.prerelease, filter.semver2);
        let now = self.clock.now().unix_micros();
        let remembered = self
            .listing_totals
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .filter(|(_, at)| now.saturating_sub(*at) < LISTING_TOTAL_TTL_MICROS);
        if let Some((n, _)) = remembered {
            return Ok(n);
        }
        let n = self.db.listing_count("", filter).await?;
        if n >= LISTING_TOTAL_REMEMBERED_FROM
            && let Ok(mut m) = self.listing_totals.lock()
        {
            m.insert(key, (n, now));
        }
        Ok(n)
    }

    /// One page of the packages with a listed version under `filter` whose search terms (id,
    /// titles, tags) match every word of `query` (each a prefix of a term; empty: every
    /// package), sorted by id: `take` packages after `skip`, each with its listed versions
    /// under `filter` (ascending), its owners and download counts. Paged in the database:
    /// a fixed number of queries whatever the catalogue's size.
    pub async fn search(
        &self,
        query: &str,
        filter: VersionFilter,
        skip: usize,
        take: usize,
    ) -> Result<SearchPage, Error> {
        let query = query.trim();
        let total = if query.is_empty() {
            self.listing_total(filter).await?
        } else {
            self.db.listing_count(query, filter).await?
        };
        if take == 0 || skip >= total {
            return Ok(SearchPage {
                total,
                ..SearchPage::default()
            });
        }
        let listed = self.db.listing_page(query, filter, skip, take).await?;
        let mut page = self.hits(&listed, filter).await?;
        page.total = total;
        Ok(page)
    }

    /// Like [`Registry::search`] for feeds that page over versions (V2 `Search()` without a
    /// latest-version filter): the packages holding the versions counted under `listing` from
    /// position `skip` on (at most `take` packages), each with its listed versions under
    /// `versions`; `before` says how many `listing` versions precede the first one. `total`
    /// is not computed (0).
    pub async fn search_window(
        &self,
        query: &str,
        listing: VersionFilter,
        versions: VersionFilter,
        skip: usize,
        take: usize,
    ) -> Result<SearchPage, Error> {
        let listed = self
            .db
            .listing_window(query.trim(), listing, skip, take)
            .await?;
        let mut page = self.hits(&listed, versions).await?;
        page.before = listed
            .first()
            .map_or(0, |l| usize::try_from(l.before).unwrap_or(0));
        Ok(page)
    }

    /// Like [`Registry::search`] with the versions of each package under `versions` (wider
    /// than the `listing` filter that selects the packages: the V2 feed's latest-version flags
    /// are computed over prereleases too).
    pub async fn search_with(
        &self,
        query: &str,
        listing: VersionFilter,
        versions: VersionFilter,
        skip: usize,
        take: usize,
    ) -> Result<SearchPage, Error> {
        if take == 0 {
            return Ok(SearchPage::default());
        }
        let listed = self
            .db
            .listing_page(query.trim(), listing, skip, take)
            .await?;
        self.hits(&listed, versions).await
    }

    /// The versions, owners and downloads of a page of packages (three queries).
    async fn hits(
        &self,
        listed: &[crate::catalog::Listed],
        filter: VersionFilter,
    ) -> Result<SearchPage, Error> {
        let rows: Vec<i64> = listed.iter().map(|l| l.row).collect();
        let mut versions = self.db.listed_versions_of(&rows).await?;
        let mut owners = self.db.owners_of(&rows).await?;
        let mut downloads = self.db.download_counts_of(&rows).await?;
        let mut page = SearchPage::default();
        for row in rows {
            let mut v: Vec<VersionRow> = versions
                .remove(&row)
                .unwrap_or_default()
                .into_iter()
                .filter(|r| filter.accepts(r))
                .collect();
            sort_versions(&mut v);
            page.hits.push(SearchHit {
                owners: owners.remove(&row).unwrap_or_default(),
                versions: v,
            });
            page.downloads
                .push(downloads.remove(&row).unwrap_or_default());
        }
        self.retain_served_hits(&mut page).await?;
        Ok(page)
    }

    /// Listed versions of one id under `filter` that a client may see, ascending.
    pub async fn listed_versions(
        &self,
        id: &str,
        filter: VersionFilter,
    ) -> Result<Vec<VersionRow>, Error> {
        let mut rows = self.served_versions(id).await?;
        rows.retain(|r| r.listed && filter.accepts(r));
        Ok(rows)
    }

    /// Deletes package blobs that no row references and that are older than `grace_micros`
    /// (left by a crash between storing a blob and committing its rows), and uploads in
    /// flight older than that. Returns how many blobs were removed.
    pub async fn collect_orphans(&self, grace_micros: i64) -> Result<usize, Error> {
        let cutoff = self.clock.now().unix_micros().saturating_sub(grace_micros);
        let mut removed = 0;
        for (key, modified) in self.blobs.list("packages").await? {
            if modified.unix_micros() < cutoff && !self.db.blob_referenced(&key).await? {
                self.blobs.delete(&key).await?;
                tracing::info!(blob = %key, "removed an orphan blob");
                removed += 1;
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.upload_dir) {
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .is_some_and(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX) < cutoff);
                if old {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(removed)
    }
}
