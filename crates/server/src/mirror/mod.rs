//! The enterprise mirror: `signet serve` as a pull-through cache of upstream v3 feeds
//! (NuGet.org or another server) that verifies every package against the upstream's pinned
//! repository certificates before anything is stored, then brings it under this server's own
//! repository signature (or keeps the upstream's, in passthrough mode).
//!
//! - upstreams live in the database (`signet admin upstream add/sync/set/remove`), so that
//!   every replica of a server sees the same pins, and a certificate rotation is one `sync`;
//! - an id a local account owns never comes from an upstream (the mirror is asked only for
//!   ids without a local owner, and the commit transaction's ownership rule stops a race);
//! - the fetch pipeline is typestate (`fetch.rs`); one fetch per version at a time, a refused
//!   version is remembered briefly and recorded for administrators;
//! - an optional minimum age holds versions the upstream repository-signed less than N hours
//!   ago (the upstream's own timestamp is the clock), unless an administrator releases them.

pub mod fetch;
pub(crate) mod registration;
pub(crate) mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use signet_common::NuCode;
use signet_feed::{HttpPolicy, NuGetVersion, VersionRange};

use crate::Error;
// The failure types live in `error` (which maps them to statuses); this is their public path.
use crate::auth::IdGlob;
use crate::db::VersionRow;
pub use crate::error::{FailureKind, UpstreamError};

pub use fetch::{Downloaded, MirrorSigned, UpstreamVerified};
pub use store::PinnedCertificate;

/// How a mirrored package is signed when served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningMode {
    /// The mirror's repository certificate replaces the upstream's repository signature (a
    /// countersignature replaced, a primary one removed and the mirror's added): clients
    /// trust one repository, the mirror.
    #[default]
    Resign,
    /// The upstream's repository signature is kept byte for byte, and the upstream's pinned
    /// certificates are announced in this server's `RepositorySignatures` beside its own.
    Passthrough,
}

impl SigningMode {
    /// Parses `resign` or `passthrough`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "resign" => Some(Self::Resign),
            "passthrough" => Some(Self::Passthrough),
            _ => None,
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Resign => "resign",
            Self::Passthrough => "passthrough",
        }
    }
}

/// One upstream's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UpstreamSettings {
    /// Package-id globs taken from this upstream (empty: every id).
    pub allow: Vec<String>,
    /// Package-id globs never taken from it (checked after `allow`).
    pub deny: Vec<String>,
    /// Versions never taken: `GLOB@RANGE` (NuGet range syntax), e.g. `Contoso.*@[1.0,1.2)`.
    pub block: Vec<String>,
    /// Largest package taken (bytes; the server's push limit applies too).
    pub max_package_size: Option<u64>,
    /// Seconds each upstream request may take, body included.
    pub timeout_seconds: u64,
    /// `offline` (default) or `online`: revocation checks of the upstream's signatures.
    pub revocation_mode: String,
    /// Versions the upstream repository-signed less than this many hours ago are held
    /// (0: off).
    pub min_age_hours: u64,
    /// Seconds an upstream version list is reused.
    pub list_cache_seconds: u64,
    /// Re-sign or pass through.
    pub mode: SigningMode,
    /// Plain http to a loopback upstream (tests and local development only).
    pub allow_insecure_loopback: bool,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            block: Vec::new(),
            max_package_size: None,
            timeout_seconds: 60,
            revocation_mode: "offline".into(),
            min_age_hours: 0,
            list_cache_seconds: 300,
            mode: SigningMode::Resign,
            allow_insecure_loopback: false,
        }
    }
}

impl UpstreamSettings {
    /// [`Self::list_cache_seconds`] in microseconds (what the caches compare with).
    pub(crate) fn list_cache_micros(&self) -> i64 {
        i64::try_from(self.list_cache_seconds)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
    }

    /// Checks every glob and range (an unusable setting is refused when set, not at use).
    pub fn validate(&self) -> Result<(), Error> {
        for g in self.allow.iter().chain(&self.deny) {
            IdGlob::parse(g)?;
        }
        for b in &self.block {
            parse_block(b)?;
        }
        if !matches!(
            self.revocation_mode.to_ascii_lowercase().as_str(),
            "online" | "offline"
        ) {
            return Err(Error::Invalid(format!(
                "revocation mode {:?}: online or offline",
                self.revocation_mode
            )));
        }
        Ok(())
    }

    /// Whether revocation is checked online.
    pub fn revocation_online(&self) -> bool {
        self.revocation_mode.eq_ignore_ascii_case("online")
    }

    /// Whether the id may come from this upstream. Ids are compared in their Unicode lower
    /// case (as flat-container URLs name them), so a look-alike spelling (`\u{212A}`, the
    /// Kelvin sign, lower-cases to `k`) cannot slip past a deny glob.
    pub fn admits(&self, id: &str) -> bool {
        let id = id.to_lowercase();
        let matches = |globs: &[String]| {
            globs
                .iter()
                .filter_map(|g| IdGlob::parse(g).ok())
                .any(|g| g.matches(&id))
        };
        (self.allow.is_empty() || matches(&self.allow)) && !matches(&self.deny)
    }

    /// How specifically the allow list names the id: the longest matching allow glob (its
    /// characters other than `*`), 0 for an upstream that admits every id. When several
    /// upstreams admit an id, the most specific one serves it (`--allow 'Partner.*'` on a
    /// partner feed beats NuGet.org's catch-all, whichever was added first).
    pub(crate) fn specificity(&self, id: &str) -> usize {
        let id = id.to_lowercase();
        self.allow
            .iter()
            .filter_map(|g| IdGlob::parse(g).ok())
            .filter(|g| g.matches(&id))
            .map(|g| g.as_str().chars().filter(|c| *c != '*').count() + 1)
            .max()
            .unwrap_or(0)
    }

    /// The block rule that stops this version, if any.
    pub fn blocked(&self, id: &str, version: &NuGetVersion) -> Option<&str> {
        let id = id.to_lowercase();
        self.block.iter().map(String::as_str).find(|b| {
            parse_block(b).is_ok_and(|(glob, range)| glob.matches(&id) && range.satisfies(version))
        })
    }

    /// The versions of `list` no block rule stops (rules parsed once, not per version).
    pub fn unblocked(&self, id: &str, list: Vec<String>) -> Vec<String> {
        let id = id.to_lowercase();
        let rules: Vec<(IdGlob, VersionRange)> = self
            .block
            .iter()
            .filter_map(|b| parse_block(b).ok())
            .filter(|(g, _)| g.matches(&id))
            .collect();
        if rules.is_empty() {
            return list;
        }
        list.into_iter()
            .filter(|v| {
                NuGetVersion::parse(v).is_ok_and(|p| !rules.iter().any(|(_, r)| r.satisfies(&p)))
            })
            .collect()
    }
}

/// Refuses what `upstream`'s deny globs stop for `id`, or its block rules for `version`.
pub(crate) fn check_policy(
    upstream: &Upstream,
    id: &str,
    version: Option<&NuGetVersion>,
) -> Result<(), Error> {
    if !upstream.settings.admits(id) {
        return Err(upstream_error(
            FailureKind::Blocked,
            None,
            format!(
                "{id} is denied by the mirror's policy for the upstream {}",
                upstream.name
            ),
        ));
    }
    if let Some(v) = version
        && let Some(rule) = upstream.settings.blocked(id, v)
    {
        return Err(upstream_error(
            FailureKind::Blocked,
            None,
            format!(
                "{id} {} is blocked by the mirror's rule {rule:?} for the upstream {}",
                v.normalized(),
                upstream.name
            ),
        ));
    }
    Ok(())
}

/// Keeps the rows of mirrored `id` that `upstream`'s deny globs and block rules let through.
pub(crate) fn retain_served(upstream: &Upstream, id: &str, rows: &mut Vec<VersionRow>) {
    if !upstream.settings.admits(id) {
        rows.clear();
        return;
    }
    let kept: std::collections::HashSet<String> = upstream
        .settings
        .unblocked(id, rows.iter().map(|r| r.version_lower.clone()).collect())
        .into_iter()
        .collect();
    rows.retain(|r| kept.contains(&r.version_lower));
}

fn parse_block(b: &str) -> Result<(IdGlob, VersionRange), Error> {
    let (glob, range) = b.split_once('@').ok_or_else(|| {
        Error::Invalid(format!(
            "block rule {b:?}: GLOB@RANGE, e.g. Contoso.*@[1.0,2.0)"
        ))
    })?;
    let glob = IdGlob::parse(glob)?;
    let range =
        VersionRange::parse(range).map_err(|e| Error::Invalid(format!("block rule {b:?}: {e}")))?;
    Ok((glob, range))
}

/// An upstream feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// Its name (letters, digits, `.`, `-`, `_`).
    pub name: String,
    /// Its service index URL.
    pub service_index: String,
    /// The account that owns what comes from it.
    pub account_id: i64,
    /// Its policy.
    pub settings: UpstreamSettings,
    /// The repository certificates it is trusted for.
    pub certificates: Vec<PinnedCertificate>,
    /// When the pins were last read (µs).
    pub synced_at: i64,
}

impl Upstream {
    /// The account name that owns its packages (`upstream:NAME`: a colon no account name
    /// may contain, so no user or organization can be it).
    pub fn account_name(name: &str) -> String {
        format!("upstream:{name}")
    }

    pub(crate) fn http_policy(&self) -> HttpPolicy {
        if self.settings.allow_insecure_loopback {
            HttpPolicy::LoopbackHttp
        } else {
            HttpPolicy::HttpsOnly
        }
    }
}

/// Where a mirrored version came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The upstream's name.
    pub upstream: String,
    /// The upstream repository certificate that signed it (SHA-256).
    pub upstream_repository_fingerprint: String,
    /// The author signer (SHA-256), when author-signed.
    pub upstream_author_fingerprint: Option<String>,
    /// The upstream repository signature's timestamp (µs).
    pub upstream_repository_signed_at: Option<i64>,
    /// The package hash its signatures sign (`ALG:base64`), unchanged by re-signing.
    pub package_hash: String,
    /// NuGet's SHA-512 content hash (`packages.lock.json` `contentHash`), unchanged by
    /// re-signing.
    pub content_hash: String,
    /// SHA-256 of the bytes the upstream served.
    pub upstream_sha256: String,
    /// When it was fetched (µs).
    pub fetched_at: i64,
    /// Whether the upstream still lists it.
    pub upstream_listed: bool,
    /// Set when the upstream later served other bytes for this version.
    pub mismatch: Option<String>,
    /// The owners the upstream's repository signature named.
    pub upstream_owners: Vec<String>,
}

/// What the mirror refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refused {
    /// The upstream.
    pub upstream: String,
    /// Package id as asked.
    pub id: String,
    /// Version as asked.
    pub version: String,
    /// `refused`, `blocked`, `quarantined`, `unreachable`, `timed-out`, `mismatch`.
    pub kind: String,
    /// NuGet's code, when there is one.
    pub code: Option<String>,
    /// Why.
    pub reason: String,
    /// When (µs).
    pub at: i64,
}

/// What an upstream's registration adds to a mirrored id's: its versions not stored here.
#[derive(Debug, Default)]
pub struct UpstreamRegistration {
    /// Registration rows of the upstream's versions not stored (metadata from the upstream).
    pub versions: Vec<VersionRow>,
    /// Set when the upstream failed: the rows are what it listed last (or none).
    pub warning: Option<String>,
}

/// An upstream's version list as the mirror serves it.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The upstream.
    pub upstream: String,
    /// Normalised lower-case versions the upstream lists (blocked ones left out).
    pub versions: Vec<String>,
    /// How many versions the upstream lists, blocked ones included.
    pub upstream_count: usize,
    /// Set when the upstream failed and a cached list (or none) is served.
    pub warning: Option<String>,
}

/// How long a refused version is not asked for again (µs).
pub(crate) const REFUSAL_MEMORY_MICROS: i64 = 60_000_000;
/// How long the upstream definitions are reused (µs): `signet admin upstream` runs in another
/// process, so a change applies within this time.
pub(crate) const UPSTREAMS_TTL_MICROS: i64 = 1_000_000;
/// Most cached lists and remembered refusals kept.
pub(crate) const CACHE_MAX: usize = 50_000;

#[derive(Clone)]
pub(crate) struct CachedList {
    pub(crate) versions: Vec<String>,
    pub(crate) at: i64,
}

/// One version's fetch: held by the request that fetches it, waited on by the others.
type Flight = Arc<tokio::sync::Mutex<()>>;

/// The mirror's in-memory state: caches and the single-flight map.
pub(crate) struct MirrorState {
    pub(crate) upstreams: Mutex<Option<(i64, Arc<Vec<Upstream>>)>>,
    /// Which upstream account owns an id (`None`: no upstream's), for a few seconds.
    pub(crate) owners: Mutex<HashMap<String, (Option<i64>, i64)>>,
    /// Upstreams whose service index failed just now: (error, when).
    pub(crate) down: Mutex<HashMap<String, (UpstreamError, i64)>>,
    /// When a transport failure of each upstream was last recorded in the database.
    pub(crate) recorded: Mutex<HashMap<String, i64>>,
    /// Upstream fetches in flight, all upstreams together (each holds a blocking thread and
    /// a temporary file).
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
    /// The upstreams' HTTP clients.
    pub(crate) clients: fetch::Clients,
    /// Upstream registrations read, per (upstream, id), with when.
    pub(crate) registrations: Arc<Mutex<RegistrationCache>>,
    /// (upstream, flat base) per upstream, with when it was read.
    pub(crate) flat_bases: Mutex<HashMap<String, (String, i64)>>,
    pub(crate) lists: Mutex<HashMap<(String, String), CachedList>>,
    pub(crate) refused: Mutex<HashMap<(String, String), (i64, UpstreamError)>>,
    /// Never held across an `.await`.
    pub(crate) flights: Mutex<HashMap<(String, String), Flight>>,
    /// Upstream registrations being read, per (upstream, id): concurrent requests share one
    /// read, also of a registration too large to be cached. Never held across an `.await`.
    pub(crate) registration_flights: RegistrationFlights,
    /// Registration reads at once, all upstreams together (apart from the package fetches'
    /// slots, which registration requests can therefore never take).
    pub(crate) registration_permits: Arc<tokio::sync::Semaphore>,
}

/// One registration read (a task of its own), shared by the requests that wait for it.
pub(crate) type RegistrationFlight = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<Entries, RegistrationFailure>>,
>;

/// The registration reads in flight, per (upstream, id).
pub(crate) type RegistrationFlights = Arc<Mutex<HashMap<(String, String), RegistrationFlight>>>;

/// Why a registration read gave nothing.
#[derive(Clone, Debug)]
pub(crate) enum RegistrationFailure {
    /// No read slot came free in time: retry shortly (503).
    Busy(String),
    /// The upstream failed.
    Upstream(String),
}

/// Registration reads at once, all upstreams together.
pub(crate) const REGISTRATION_READS: usize = 8;
/// Registration reads waiting or running at once (beyond: 503 at once).
pub(crate) const REGISTRATION_FLIGHTS_MAX: usize = 256;

/// Upstream fetches at once, all upstreams together.
pub(crate) const MAX_FETCHES: usize = 16;
/// How long a request waits for a fetch slot before it is answered 503.
pub(crate) const FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long an upstream whose service index failed is answered from memory (µs).
pub(crate) const DOWN_MEMORY_MICROS: i64 = 10_000_000;
/// How long an id's owner is remembered for download checks (µs). The policy itself (the
/// upstreams' settings) is re-read every second; this only bounds how late a replica learns
/// that an id it has never seen mirrored was mirrored by another one. At one second, a warm
/// mirror asked for a thousand ids ran a thousand owner queries a second.
pub(crate) const OWNER_TTL_MICROS: i64 = 10_000_000;

impl Default for MirrorState {
    fn default() -> Self {
        Self {
            upstreams: Mutex::default(),
            owners: Mutex::default(),
            down: Mutex::default(),
            recorded: Mutex::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_FETCHES)),
            clients: fetch::Clients::default(),
            registrations: Arc::default(),
            flat_bases: Mutex::default(),
            lists: Mutex::default(),
            refused: Mutex::default(),
            flights: Mutex::default(),
            registration_flights: Arc::default(),
            registration_permits: Arc::new(tokio::sync::Semaphore::new(REGISTRATION_READS)),
        }
    }
}

/// Upstream registrations read, bounded by an estimate of their bytes, not their number: one
/// NuGet.org id can list thousands of versions with their descriptions, and a client can ask
/// for any id.
pub(crate) struct RegistrationCache {
    /// (upstream, id) → (entries, read at), weighed by their estimated bytes.
    cache: crate::memcache::ByteBoundedCache<(String, String), (Entries, i64)>,
}

impl Default for RegistrationCache {
    fn default() -> Self {
        Self {
            cache: crate::memcache::ByteBoundedCache::new(REGISTRATION_CACHE_BYTES),
        }
    }
}

/// One id's entries in an upstream's registration.
pub(crate) type Entries = Arc<Vec<registration::UpstreamEntry>>;

/// What [`RegistrationCache`] may hold in all.
const REGISTRATION_CACHE_BYTES: usize = 64 << 20;

impl RegistrationCache {
    pub(crate) fn get(&self, key: &(String, String)) -> Option<(Entries, i64)> {
        self.cache.get(key)
    }

    /// Keeps `entries` (read at `at`), evicting random entries until they fit; an id larger
    /// than a quarter of the budget is not kept at all.
    pub(crate) fn insert(&mut self, key: (String, String), entries: Entries, at: i64) {
        // The key is held twice (map and eviction list), plus the entry's own bookkeeping:
        // counted, so that empty registrations of many ids cannot grow the cache unbounded.
        let size = entries
            .iter()
            .map(registration::UpstreamEntry::estimated_size)
            .sum::<usize>()
            .saturating_add(2 * (key.0.len() + key.1.len()) + 128);
        if size > REGISTRATION_CACHE_BYTES / 4 {
            self.cache.remove(&key);
            return;
        }
        self.cache.insert(key, (entries, at), size);
    }
}

/// What a fetch holds while it runs: this version's turn and one of the fetch slots. Moved
/// into the blocking work, so a dropped request does not free them early.
pub(crate) struct Held {
    pub(crate) _turn: tokio::sync::OwnedMutexGuard<()>,
    pub(crate) _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Removes a version's flight entry when the last request holding it is done, whether it
/// completed or was dropped (a client that disconnects mid-fetch leaves nothing behind).
pub(crate) struct FlightGuard<'a> {
    pub(crate) state: &'a MirrorState,
    pub(crate) key: (String, String),
    pub(crate) flight: Option<Flight>,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        // A std mutex never held across an await: locking here is brief.
        let mut flights = lock_or_recover(&self.state.flights);
        drop(flight);
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::strong_count(f) == 1)
        {
            flights.remove(&self.key);
        }
    }
}

impl std::fmt::Debug for MirrorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorState").finish_non_exhaustive()
    }
}

/// What `prefetch` did.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefetchSummary {
    /// Versions fetched now.
    pub fetched: usize,
    /// Versions already mirrored (a resumed run skips them).
    pub cached: usize,
    /// Versions refused, with why.
    pub refused: Vec<(String, String, String)>,
}

pub(crate) fn valid_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

pub(crate) fn upstream_error(kind: FailureKind, code: Option<NuCode>, message: String) -> Error {
    Error::Upstream(UpstreamError {
        kind,
        code,
        message,
    })
}

/// The guarded value, also after a panic elsewhere poisoned the lock (every value the mirror
/// guards is consistent between statements).
pub(crate) fn lock_or_recover<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entries(n: usize, description: usize) -> Arc<Vec<registration::UpstreamEntry>> {
        Arc::new(
            (0..n)
                .map(|i| registration::UpstreamEntry {
                    id: "Big.Package".into(),
                    version: NuGetVersion::parse(&format!("1.0.{i}")).unwrap(),
                    listed: true,
                    metadata: crate::inspect::Metadata {
                        description: "x".repeat(description),
                        ..Default::default()
                    },
                    dependencies: Vec::new(),
                })
                .collect(),
        )
    }

    /// The registration cache stays within its byte budget however many ids are read, and
    /// an id larger than a quarter of it is not kept.
    #[test]
    fn the_registration_cache_is_bounded_by_bytes() {
        let mut cache = RegistrationCache::default();
        // 1,000 versions with 4 KB descriptions: about 4.3 MB per id.
        for i in 0..100 {
            cache.insert(("nuget".into(), format!("id{i}")), entries(1000, 4096), 0);
            assert!(
                cache.cache.bytes() <= REGISTRATION_CACHE_BYTES,
                "{}",
                cache.cache.bytes()
            );
        }
        assert!(
            cache.cache.len() >= 10 && cache.cache.len() < 100,
            "{}",
            cache.cache.len()
        );
        let huge = ("nuget".into(), "huge".to_owned());
        cache.insert(huge.clone(), entries(5000, 4096), 0);
        assert!(cache.get(&huge).is_none());
        // Replacing an id's entry does not count it twice.
        let again = ("nuget".into(), "again".to_owned());
        cache.insert(again.clone(), entries(10, 10), 0);
        let before = cache.cache.bytes();
        cache.insert(again.clone(), entries(10, 10), 1);
        assert_eq!(cache.cache.bytes(), before);
        assert_eq!(cache.get(&again).unwrap().1, 1);
    }
}
