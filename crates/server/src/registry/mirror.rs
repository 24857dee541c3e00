//! The [`Registry`] services over `mirror`: here, in the services layer, so that
//! `mirror` stays below `registry`.

use crate::Error;
use crate::clock::random_id;
use crate::db::VersionRow;
use crate::mirror::{
    CACHE_MAX, CachedList, DOWN_MEMORY_MICROS, Entries, FETCH_WAIT, FailureKind, FlightGuard, Held,
    Listing, MAX_FETCHES, MirrorSigned, OWNER_TTL_MICROS, PinnedCertificate, PrefetchSummary,
    Provenance, REFUSAL_MEMORY_MICROS, REGISTRATION_FLIGHTS_MAX, REGISTRATION_READS, Refused,
    RegistrationCache, RegistrationFailure, RegistrationFlight, RegistrationFlights, SigningMode,
    UPSTREAMS_TTL_MICROS, Upstream, UpstreamError, UpstreamRegistration, UpstreamSettings,
    UpstreamVerified, check_policy, fetch, lock_or_recover, registration, retain_served,
    upstream_error, valid_upstream_name,
};
use crate::registry::Registry;
use futures_util::FutureExt as _;
use signet_feed::{NuGetVersion, Source, VersionRange};
use signet_nupkg::PackageId;
use std::sync::Arc;

impl Registry {
    /// Reads the upstream's service index and `RepositorySignatures` (blocking HTTP, off
    /// the runtime): its flat container and the certificates to pin.
    async fn read_upstream(
        &self,
        url: &str,
        settings: &UpstreamSettings,
    ) -> Result<(String, Vec<PinnedCertificate>), Error> {
        let probe = Upstream {
            name: String::new(),
            service_index: url.to_owned(),
            account_id: 0,
            settings: settings.clone(),
            certificates: Vec::new(),
            synced_at: 0,
        };
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || {
            let http = Arc::new(fetch::client(&probe)?);
            let source = Source::open(&url, http, probe.http_policy())
                .map_err(|e| Error::Invalid(format!("the upstream {url}: {e}")))?;
            let Source::V3(v3) = source else {
                return Err(Error::Invalid(format!("{url} is not a v3 feed")));
            };
            let Some(signatures) = &v3.repository_signatures else {
                return Err(Error::Invalid(format!(
                    "the upstream {url} announces no RepositorySignatures resource: nothing it \
                     serves could be verified"
                )));
            };
            let certificates: Vec<PinnedCertificate> = signatures
                .certificates
                .iter()
                .filter_map(|c| {
                    let fp = c
                        .fingerprints
                        .iter()
                        .find(|(a, _)| *a == signet_common::HashAlgorithm::Sha256)?;
                    Some(PinnedCertificate {
                        fingerprint: fp.1.to_lowercase(),
                        subject: c.subject.clone(),
                        issuer: c.issuer.clone(),
                        not_before: c.not_before.clone(),
                        not_after: c.not_after.clone(),
                        content_url: c.content_url.clone(),
                    })
                })
                .collect();
            if certificates.is_empty() {
                return Err(Error::Invalid(format!(
                    "the upstream {url} announces no repository certificate"
                )));
            }
            Ok((v3.flat_base.clone(), certificates))
        })
        .await
        .map_err(|e| Error::io("upstream task", std::io::Error::other(e)))?
    }

    /// Adds an upstream: reads its service index and pins every certificate its
    /// `RepositorySignatures` announces (https only, or loopback http with
    /// `allow_insecure_loopback`).
    pub async fn add_upstream(
        &self,
        name: &str,
        url: &str,
        settings: UpstreamSettings,
    ) -> Result<Upstream, Error> {
        if !valid_upstream_name(name) {
            return Err(Error::Invalid(format!(
                "invalid upstream name {name:?}: letters, digits, '.', '-', '_', at most 64"
            )));
        }
        settings.validate()?;
        let (_, certificates) = self.read_upstream(url, &settings).await?;
        let mut upstream = Upstream {
            name: name.to_owned(),
            service_index: url.to_owned(),
            account_id: random_id(self.rng.as_ref())?,
            settings,
            certificates,
            synced_at: self.clock.now().unix_micros(),
        };
        upstream.account_id = self
            .db
            .add_upstream(
                &upstream,
                &Upstream::account_name(name),
                self.clock.now().unix_micros(),
            )
            .await?;
        self.forget_upstreams();
        Ok(upstream)
    }

    /// Reads the upstream's `RepositorySignatures` again and replaces its pins (after the
    /// upstream rotated its certificate). Returns (pinned now, added, removed).
    pub async fn sync_upstream(
        &self,
        name: &str,
    ) -> Result<(Vec<PinnedCertificate>, Vec<String>, Vec<String>), Error> {
        let current = self.upstream(name).await?;
        let (_, certificates) = self
            .read_upstream(&current.service_index, &current.settings)
            .await?;
        let old: Vec<String> = current
            .certificates
            .iter()
            .map(|c| c.fingerprint.clone())
            .collect();
        let new: Vec<String> = certificates.iter().map(|c| c.fingerprint.clone()).collect();
        let added = new.iter().filter(|f| !old.contains(f)).cloned().collect();
        let removed = old.iter().filter(|f| !new.contains(f)).cloned().collect();
        self.db
            .repin_upstream(&current.name, &certificates, self.clock.now().unix_micros())
            .await?;
        self.forget_upstreams();
        Ok((certificates, added, removed))
    }

    /// Replaces an upstream's settings.
    pub async fn set_upstream_settings(
        &self,
        name: &str,
        settings: &UpstreamSettings,
    ) -> Result<(), Error> {
        settings.validate()?;
        self.db.set_upstream_settings(name, settings).await?;
        self.forget_upstreams();
        Ok(())
    }

    /// Removes an upstream (what was mirrored from it stays, and is served).
    pub async fn remove_upstream(&self, name: &str) -> Result<(), Error> {
        self.db.remove_upstream(name).await?;
        self.forget_upstreams();
        Ok(())
    }

    /// Every upstream.
    pub async fn upstreams(&self) -> Result<Vec<Upstream>, Error> {
        self.db.upstreams().await
    }

    /// One upstream by name.
    pub async fn upstream(&self, name: &str) -> Result<Upstream, Error> {
        self.db
            .upstreams()
            .await?
            .into_iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::NotFound(format!("no upstream named {name:?}")))
    }

    fn forget_upstreams(&self) {
        if let Ok(mut u) = self.mirror.upstreams.lock() {
            *u = None;
        }
    }

    /// The upstreams, reused for a few seconds.
    async fn cached_upstreams(&self) -> Result<Arc<Vec<Upstream>>, Error> {
        let now = self.clock.now().unix_micros();
        if let Some((at, u)) = self.mirror.upstreams.lock().ok().and_then(|g| g.clone())
            && now.saturating_sub(at) < UPSTREAMS_TTL_MICROS
        {
            return Ok(u);
        }
        let fresh = Arc::new(self.db.upstreams().await?);
        if let Ok(mut g) = self.mirror.upstreams.lock() {
            *g = Some((now, Arc::clone(&fresh)));
        }
        Ok(fresh)
    }

    /// The upstream that may serve `id`: `None` when a local account owns the id (or no
    /// upstream admits it). An id already mirrored stays with the upstream it came from.
    pub async fn upstream_for(&self, id: &str) -> Result<Option<Upstream>, Error> {
        let upstreams = self.cached_upstreams().await?;
        if upstreams.is_empty() || PackageId::parse(id).is_err() {
            return Ok(None);
        }
        let owners = self.db.owner_accounts(&id.to_lowercase()).await?;
        if let Some((account, _, _)) = owners.first() {
            if owners.iter().any(|(_, _, kind)| kind != "upstream") {
                return Ok(None);
            }
            // Mirrored before: its upstream, while that upstream still admits the id (a deny
            // added after an incident stops new versions too) and no prefix reservation
            // covers it (a reservation made after stops new versions too).
            if self.prefix_holder(id).await?.is_some() {
                return Ok(None);
            }
            return Ok(upstreams
                .iter()
                .find(|u| u.account_id == *account)
                .filter(|u| u.settings.admits(id))
                .cloned());
        }
        // A reserved prefix is this feed's namespace: never filled from an upstream.
        if self.prefix_holder(id).await?.is_some() {
            return Ok(None);
        }
        // The most specific upstream; among equals, the one added first.
        Ok(upstreams
            .iter()
            .rev()
            .filter(|u| u.settings.admits(id))
            .max_by_key(|u| u.settings.specificity(id))
            .cloned())
    }

    /// The upstream whose account owns `id` (remembered for a few seconds), whatever its
    /// policy says now.
    async fn owning_upstream(&self, id: &str) -> Result<Option<Upstream>, Error> {
        let upstreams = self.cached_upstreams().await?;
        if upstreams.is_empty() {
            return Ok(None);
        }
        let key = id.to_lowercase();
        let now = self.clock.now().unix_micros();
        let remembered = self
            .mirror
            .owners
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .filter(|(_, at)| now.saturating_sub(*at) < OWNER_TTL_MICROS);
        let account = match remembered {
            Some((account, _)) => account,
            None => {
                let owners = self.db.owner_accounts(&key).await?;
                let account = match owners.first() {
                    Some((a, _, kind)) if kind == "upstream" && owners.len() == 1 => Some(*a),
                    _ => None,
                };
                if let Ok(mut m) = self.mirror.owners.lock() {
                    if m.len() >= CACHE_MAX {
                        m.clear();
                    }
                    m.insert(key, (account, now));
                }
                account
            }
        };
        Ok(account.and_then(|a| upstreams.iter().find(|u| u.account_id == a).cloned()))
    }

    /// Whether a stored mirrored version may still be served: its upstream's deny globs and
    /// block rules apply to what is cached too (a version blocked after an incident stops
    /// being served at once). `Ok(())` for everything not mirrored.
    pub async fn mirror_serve_check(&self, id: &str, version: &str) -> Result<(), Error> {
        let Some(upstream) = self.owning_upstream(id).await? else {
            return Ok(());
        };
        check_policy(&upstream, id, NuGetVersion::parse(version).ok().as_ref())
    }

    /// The stored versions of `id` a client may see, ascending: [`Registry::versions`]
    /// without the mirrored ones its upstream's policy now denies or blocks (a version blocked
    /// after an incident disappears from every listing at once, as its download is refused).
    /// Every read a client makes lists through this (flat container, registrations, V2, the
    /// package page); administrators see everything.
    pub async fn served_versions(&self, id: &str) -> Result<Vec<VersionRow>, Error> {
        let mut rows = self.versions(id).await?;
        if let Some(u) = self.owning_upstream(id).await? {
            retain_served(&u, id, &mut rows);
        }
        Ok(rows)
    }

    /// One stored version a client may see (see [`Registry::served_versions`]).
    pub async fn served_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<Option<VersionRow>, Error> {
        let Some(row) = self.version(id, version).await? else {
            return Ok(None);
        };
        let mut rows = vec![row];
        if let Some(u) = self.owning_upstream(id).await? {
            retain_served(&u, id, &mut rows);
        }
        Ok(rows.pop())
    }

    /// Search hits without what the mirror's policy hides: a mirrored package is known by its
    /// one owner, the upstream's account, so no query is made per hit. A package left with no
    /// version leaves the page (the page is then shorter than asked; `total` still counts it).
    pub(crate) async fn retain_served_hits(
        &self,
        page: &mut crate::registry::SearchPage,
    ) -> Result<(), Error> {
        let upstreams = self.cached_upstreams().await?;
        if upstreams.is_empty() {
            return Ok(());
        }
        let mut keep = Vec::with_capacity(page.hits.len());
        for hit in &mut page.hits {
            let upstream = match hit.owners.as_slice() {
                [only] => upstreams
                    .iter()
                    .find(|u| Upstream::account_name(&u.name) == *only),
                _ => None,
            };
            if let (Some(u), Some(first)) = (upstream, hit.versions.first()) {
                let id = first.package_id.clone();
                retain_served(u, &id, &mut hit.versions);
            }
            keep.push(!hit.versions.is_empty());
        }
        let mut flags = keep.iter();
        page.hits.retain(|_| flags.next().copied().unwrap_or(true));
        let mut flags = keep.iter();
        page.downloads
            .retain(|_| flags.next().copied().unwrap_or(true));
        Ok(())
    }

    /// A push of a new id that an upstream admits and lists would shadow the upstream's
    /// package for every client of this feed (dependency confusion from the inside): refused
    /// unless an administrator reserves the id for local packages with a deny glob on the
    /// upstream. When the upstream cannot be asked, refused too (retry, or reserve).
    pub(crate) async fn refuse_upstream_shadowing(&self, id: &str) -> Result<(), Error> {
        // Asked fresh, not from the list cache: a cached "the upstream has no such id" (any
        // client can prime it with a 404) must not let a push claim an id the upstream has
        // published since.
        if let Some(upstream) = self.upstream_for(id).await?
            && let Ok(package_id) = PackageId::parse(id)
            && let Ok(mut lists) = self.mirror.lists.lock()
        {
            lists.remove(&(upstream.name.clone(), package_id.lower().to_owned()));
        }
        let Some(listing) = self.mirror_listing(id).await? else {
            return Ok(());
        };
        // Blocked versions count: an id whose upstream versions are all blocked is still the
        // upstream's.
        if listing.upstream_count > 0 {
            return Err(Error::Forbidden(format!(
                "the package id {id} exists on the upstream {up}: a local package would \
                 shadow it for every client of this feed. An administrator can reserve the id \
                 for local packages: signet admin reserve-prefix ACCOUNT '{id}', or signet \
                 admin upstream set {up} --deny '{id}'",
                up = listing.upstream
            )));
        }
        if let Some(w) = listing.warning {
            return Err(upstream_error(
                FailureKind::Unreachable,
                None,
                format!(
                    "cannot tell whether the upstream {up} has the package id {id} ({w}); retry \
                     later, or reserve the id: signet admin upstream set {up} --deny '{id}'",
                    up = listing.upstream
                ),
            ));
        }
        Ok(())
    }

    /// The upstream's flat container base, read from its service index (reused as long as
    /// its version lists are).
    async fn flat_base(&self, upstream: &Upstream) -> Result<String, Error> {
        let now = self.clock.now().unix_micros();
        let ttl = upstream.settings.list_cache_micros();
        if let Some((base, at)) = self
            .mirror
            .flat_bases
            .lock()
            .ok()
            .and_then(|m| m.get(&upstream.name).cloned())
            && now.saturating_sub(at) < ttl
        {
            return Ok(base);
        }
        // An upstream that failed a moment ago is not asked again (every request would wait
        // out the timeout during an outage).
        if let Some((e, _)) = self
            .mirror
            .down
            .lock()
            .ok()
            .and_then(|m| m.get(&upstream.name).cloned())
            .filter(|(_, at)| now.saturating_sub(*at) < DOWN_MEMORY_MICROS)
        {
            return Err(Error::Upstream(e));
        }
        let probe = upstream.clone();
        let clients = self.mirror.clients.clone();
        let base = tokio::task::spawn_blocking(move || {
            let http: Arc<dyn signet_feed::Http> = clients.get(&probe)?;
            match Source::open(&probe.service_index, http, probe.http_policy()) {
                Ok(Source::V3(v3)) => Ok(v3.flat_base),
                Ok(Source::Folder(_)) => Err(upstream_error(
                    FailureKind::Unreachable,
                    None,
                    format!("the upstream {} is not a v3 feed", probe.name),
                )),
                Err(e) => Err(fetch::transport(&probe, &e)),
            }
        })
        .await
        .map_err(|e| Error::io("upstream task", std::io::Error::other(e)))?;
        let base = match base {
            Ok(b) => b,
            Err(Error::Upstream(e)) => {
                if let Ok(mut m) = self.mirror.down.lock() {
                    m.insert(upstream.name.clone(), (e.clone(), now));
                }
                return Err(Error::Upstream(e));
            }
            Err(e) => return Err(e),
        };
        if let Ok(mut m) = self.mirror.flat_bases.lock() {
            m.insert(upstream.name.clone(), (base.clone(), now));
        }
        Ok(base)
    }

    /// The upstream's versions of `id` (blocked ones left out), from a short-lived cache;
    /// when the upstream fails, the last list seen (or none) with a warning. `None` when no
    /// upstream may serve the id.
    pub async fn mirror_listing(&self, id: &str) -> Result<Option<Listing>, Error> {
        let Some(upstream) = self.upstream_for(id).await? else {
            return Ok(None);
        };
        let Ok(package_id) = PackageId::parse(id) else {
            return Ok(None);
        };
        let key = (upstream.name.clone(), package_id.lower().to_owned());
        let now = self.clock.now().unix_micros();
        let ttl = upstream.settings.list_cache_micros();
        let cached = self
            .mirror
            .lists
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned());
        let filter = |versions: Vec<String>| upstream.settings.unblocked(id, versions);
        if let Some(c) = &cached
            && now.saturating_sub(c.at) < ttl
        {
            return Ok(Some(Listing {
                upstream: upstream.name.clone(),
                upstream_count: c.versions.len(),
                versions: filter(c.versions.clone()),
                warning: None,
            }));
        }
        let fetched = match self.flat_base(&upstream).await {
            Ok(base) => {
                let probe = upstream.clone();
                let pid = package_id.clone();
                let clients = self.mirror.clients.clone();
                tokio::task::spawn_blocking(move || {
                    let http: Arc<dyn signet_feed::Http> = clients.get(&probe)?;
                    let source = Source::V3(signet_feed::V3Source::with_flat_base(
                        &probe.service_index,
                        &base,
                        http,
                    ));
                    source
                        .versions(&pid)
                        .map_err(|e| fetch::transport(&probe, &e))
                })
                .await
                .map_err(|e| Error::io("upstream task", std::io::Error::other(e)))?
            }
            Err(e) => Err(e),
        };
        match fetched {
            Ok(list) => {
                let versions: Vec<String> = list.iter().map(NuGetVersion::lower).collect();
                if let Ok(mut m) = self.mirror.lists.lock() {
                    if m.len() >= CACHE_MAX {
                        m.clear();
                    }
                    m.insert(
                        key,
                        CachedList {
                            versions: versions.clone(),
                            at: now,
                        },
                    );
                }
                // Versions the upstream no longer lists (deleted there) stay served, unlisted.
                if let Err(e) = self
                    .db
                    .follow_upstream_listing(package_id.lower(), &versions)
                    .await
                {
                    tracing::warn!(error = %e, "cannot follow the upstream's listing");
                }
                Ok(Some(Listing {
                    upstream: upstream.name.clone(),
                    upstream_count: versions.len(),
                    versions: filter(versions),
                    warning: None,
                }))
            }
            Err(e) => {
                let warning = format!(
                    "the upstream {} failed ({e}); {}",
                    upstream.name,
                    if cached.is_some() {
                        "serving its last version list"
                    } else {
                        "serving mirrored versions only"
                    }
                );
                tracing::warn!(upstream = %upstream.name, error = %e, "upstream version list");
                let last = cached.map(|c| c.versions).unwrap_or_default();
                Ok(Some(Listing {
                    upstream: upstream.name.clone(),
                    upstream_count: last.len(),
                    versions: filter(last),
                    warning: Some(warning),
                }))
            }
        }
    }

    /// A refusal answered in the last minute (not a quarantine an administrator has released
    /// since: releases are written by another process, so the database is asked).
    async fn remembered_refusal(
        &self,
        key: &(String, String),
    ) -> Result<Option<UpstreamError>, Error> {
        let now = self.clock.now().unix_micros();
        let remembered = self
            .mirror
            .refused
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .filter(|(at, _)| now.saturating_sub(*at) < REFUSAL_MEMORY_MICROS)
            .map(|(_, e)| e);
        match remembered {
            Some(e) if e.kind == FailureKind::Quarantined => {
                if self.db.is_released(&key.0, &key.1).await? {
                    if let Ok(mut m) = self.mirror.refused.lock() {
                        m.remove(key);
                    }
                    return Ok(None);
                }
                Ok(Some(e))
            }
            other => Ok(other),
        }
    }

    /// Records a refusal (database and memory) and returns the error for the client.
    async fn refuse(&self, upstream: &str, id: &str, version: &str, error: Error) -> Error {
        let Error::Upstream(u) = &error else {
            return error;
        };
        let now = self.clock.now().unix_micros();
        if let Ok(mut m) = self.mirror.refused.lock() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            // Unreachable and timed-out upstreams are asked again at the next request.
            if matches!(u.kind, FailureKind::Refused | FailureKind::Quarantined) {
                m.insert(
                    (id.to_lowercase(), version.to_lowercase()),
                    (now, u.clone()),
                );
            }
        }
        // What is recorded for administrators: what an upstream served and the mirror
        // refused, and quarantines; a transport failure at most once a minute per upstream
        // (an outage is one event, not one row per request); policy blocks not at all (they
        // are the administrator's own rules, and anyone can ask for any blocked version).
        let record_it = match u.kind {
            FailureKind::Refused | FailureKind::Quarantined => true,
            FailureKind::Blocked | FailureKind::Busy => false,
            FailureKind::Unreachable | FailureKind::TimedOut => {
                let mut recorded = self.mirror.recorded.lock().ok();
                match recorded.as_mut() {
                    Some(m) => {
                        let last = m.get(upstream).copied().unwrap_or(i64::MIN);
                        let due = now.saturating_sub(last) >= REFUSAL_MEMORY_MICROS;
                        if due {
                            m.insert(upstream.to_owned(), now);
                        }
                        due
                    }
                    None => true,
                }
            }
        };
        if !record_it {
            return error;
        }
        let record = Refused {
            upstream: upstream.to_owned(),
            id: id.to_owned(),
            version: version.to_owned(),
            kind: u.kind.name().to_owned(),
            code: u.code.map(|c| c.to_string()),
            reason: u.message.clone(),
            at: now,
        };
        match random_id(self.rng.as_ref()) {
            Ok(row) => {
                if let Err(e) = self.db.record_refusal(row, &record).await {
                    tracing::warn!(error = %e, "cannot record a mirror refusal");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot record a mirror refusal"),
        }
        tracing::warn!(upstream, id, version, reason = %u, "mirror refused a package");
        error
    }

    /// Makes `id` `version` available from its upstream when it is not stored yet: download,
    /// verify, re-sign (or pass through), store. `Ok(false)` when it was stored already (by
    /// this request's wait on a concurrent fetch, or before). One fetch per version at a
    /// time; refusals are recorded.
    pub async fn mirror_fetch(&self, id: &str, version: &str) -> Result<bool, Error> {
        let (Ok(package_id), Ok(parsed)) = (PackageId::parse(id), NuGetVersion::parse(version))
        else {
            return Err(Error::NotFound(format!("no package {id} {version}")));
        };
        let key = (package_id.lower().to_owned(), parsed.lower());
        if self.db.version(&key.0, &key.1).await?.is_some() {
            return Ok(false);
        }
        let Some(upstream) = self.upstream_for(id).await? else {
            return Err(Error::NotFound(format!("no package {id} {version}")));
        };
        if let Err(e) = check_policy(&upstream, id, Some(&parsed)) {
            return Err(self
                .refuse(&upstream.name, id, parsed.normalized(), e)
                .await);
        }
        if let Some(e) = self.remembered_refusal(&key).await? {
            return Err(Error::Upstream(e));
        }
        // Single flight: the first request fetches; the others wait for it, then find the
        // version stored (or the refusal remembered). The guard removes the entry when the
        // last request is done, completed or dropped.
        let flight = {
            let mut flights = lock_or_recover(&self.mirror.flights);
            if flights.len() >= CACHE_MAX {
                // Only entries nobody holds can be dropped; the others are in use.
                flights.retain(|_, f| Arc::strong_count(f) > 1);
            }
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let guard = FlightGuard {
            state: &self.mirror,
            key: key.clone(),
            flight: Some(Arc::clone(&flight)),
        };
        drop(flight);
        let Some(flight) = guard.flight.as_ref() else {
            return Err(Error::Config("mirror flight state".into()));
        };
        let turn = Arc::clone(flight).lock_owned().await;
        if self.db.version(&key.0, &key.1).await?.is_some() {
            return Ok(false);
        }
        if let Some(e) = self.remembered_refusal(&key).await? {
            return Err(Error::Upstream(e));
        }
        // A bounded number of fetches at once, all upstreams together: each holds a
        // blocking thread, a connection and a temporary file. The permit and this version's
        // turn move into the blocking work, so a request dropped mid-fetch (a client that
        // disconnects) frees neither before the work it started is done.
        let Ok(Ok(permit)) =
            tokio::time::timeout(FETCH_WAIT, Arc::clone(&self.mirror.permits).acquire_owned())
                .await
        else {
            return Err(upstream_error(
                FailureKind::Busy,
                None,
                format!(
                    "the mirror is fetching {MAX_FETCHES} packages from its upstreams already; \
                     retry shortly"
                ),
            ));
        };
        let held = Held {
            _turn: turn,
            _permit: permit,
        };
        self.fetch_and_store(upstream, package_id, parsed.clone(), held)
            .await
            .map(|()| true)
    }

    async fn fetch_and_store(
        &self,
        upstream: Upstream,
        id: PackageId,
        version: NuGetVersion,
        held: Held,
    ) -> Result<(), Error> {
        let name = upstream.name.clone();
        let (id_text, version_text) = (id.as_str().to_owned(), version.normalized().to_owned());
        match self
            .fetch_and_store_inner(upstream, id, version, held)
            .await
        {
            Ok(()) => Ok(()),
            Err(e @ Error::Upstream(_)) => {
                Err(self.refuse(&name, &id_text, &version_text, e).await)
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_and_store_inner(
        &self,
        upstream: Upstream,
        id: PackageId,
        version: NuGetVersion,
        held: Held,
    ) -> Result<(), Error> {
        let base = self.flat_base(&upstream).await?;
        let limits = self.limits;
        let limit = upstream
            .settings
            .max_package_size
            .unwrap_or(u64::MAX)
            .min(limits.max_package_size);
        let dir = self.upload_dir.clone();
        let policy = &self.signing.policy;
        let trust = Arc::clone(&policy.trust);
        let revocation = policy.revocation.clone();
        let now = self.clock.now();
        let clients = self.mirror.clients.clone();
        let (verified, held) = tokio::task::spawn_blocking(move || {
            let http = clients.get(&upstream)?;
            let downloaded = fetch::download(&http, upstream, &base, id, version, &dir, limit)?;
            fetch::verify(downloaded, &trust, revocation, &limits, &dir, now).map(|v| (v, held))
        })
        .await
        .map_err(|e| Error::io("mirror task", std::io::Error::other(e)))??;
        // The policy as it is now, not as cached when the request came in (up to a second
        // old): a deny, block or quarantine added meanwhile applies to this fetch.
        let name = verified.upstream().name.clone();
        let fresh = self
            .db
            .upstreams()
            .await?
            .into_iter()
            .find(|u| u.name == name)
            .ok_or_else(|| {
                upstream_error(
                    FailureKind::Blocked,
                    None,
                    format!("the upstream {name} was removed"),
                )
            })?;
        check_policy(&fresh, &verified.info().id, Some(&verified.info().version))?;
        self.check_quarantine(&verified, &fresh.settings).await?;
        let (signed, held) = match (verified.upstream().settings.mode, &self.signing.repository) {
            (SigningMode::Passthrough, _) | (SigningMode::Resign, None) => {
                (fetch::passthrough(verified), held)
            }
            (SigningMode::Resign, Some(repo)) => {
                let fingerprint = repo.certificate().fingerprint.clone();
                let setup = Arc::clone(&self.signing);
                let dir = self.upload_dir.clone();
                tokio::task::spawn_blocking(move || {
                    let repo = setup
                        .repository
                        .as_ref()
                        .ok_or_else(|| Error::Config("repository signing is off".into()))?;
                    let file = repo.sign_mirrored(&verified, &dir, now, &limits)?;
                    fetch::resigned(verified, file, fingerprint, now, &limits).map(|s| (s, held))
                })
                .await
                .map_err(|e| Error::io("signing task", std::io::Error::other(e)))??
            }
        };
        // The version's turn is held until it is committed: a request waiting for it then
        // finds the version stored instead of fetching it again.
        let committed = self.commit_mirrored(signed).await;
        drop(held);
        committed
    }

    async fn check_quarantine(
        &self,
        verified: &UpstreamVerified,
        settings: &UpstreamSettings,
    ) -> Result<(), Error> {
        let hours = settings.min_age_hours;
        if hours == 0 {
            return Ok(());
        }
        let info = verified.info();
        let signed_at = verified.upstream_signed_at().unwrap_or(i64::MAX);
        let ready = signed_at.saturating_add(
            i64::try_from(hours)
                .unwrap_or(i64::MAX)
                .saturating_mul(3_600_000_000),
        );
        if self.clock.now().unix_micros() >= ready
            || self
                .db
                .is_released(&info.id.to_lowercase(), &info.version.lower())
                .await?
        {
            return Ok(());
        }
        let when = signet_common::UtcTime::from_unix_micros(ready).rfc3339();
        Err(upstream_error(
            FailureKind::Quarantined,
            None,
            format!(
                "{} {} was published by the upstream {} less than {hours} hours ago: held in \
                 quarantine until {when} (an administrator can release it: signet admin mirror \
                 release)",
                info.id,
                info.version.normalized(),
                verified.upstream().name
            ),
        ))
    }

    /// Stores a mirrored version: the blob under a fresh key, then one transaction for the
    /// version, its owner (the upstream's account), its signature record, the author
    /// certificate and the provenance.
    async fn commit_mirrored(&self, signed: MirrorSigned) -> Result<(), Error> {
        let (info, author, provenance, signature, upstream) = signed.parts();
        // A version deleted here comes back only with the content it had.
        let content_hash = provenance.content_hash.clone();
        self.check_tombstone(&info.id, &info.version, async move || Ok(content_hash))
            .await?;
        let stored = signed.stored_path();
        let size = std::fs::metadata(stored)
            .map_err(|e| Error::io("read the mirrored file", e))?
            .len();
        let id_lower = info.id.to_lowercase();
        let version_lower = info.version.lower();
        let blob_key = format!(
            "packages/{id_lower}/{version_lower}/{}.nupkg",
            crate::clock::random_hex(self.rng.as_ref(), 16)?
        );
        let now = self.clock.now().unix_micros();
        let signer = match author {
            Some(s) => Some(super::push::signer_record(
                s,
                random_id(self.rng.as_ref())?,
                now,
            )),
            None => None,
        };
        // The upstream copy's content hash, checked equal to the stored copy's by the pipeline.
        let tlog_entry = crate::tlog::entry_for(
            &id_lower,
            &version_lower,
            &provenance.content_hash,
            signature.author_fingerprint.as_deref(),
            signature.repository_fingerprint.as_deref(),
            now,
        )?;
        self.blobs.put_file(&blob_key, stored).await?;
        let record = crate::versions::NewVersion {
            new_package_row: random_id(self.rng.as_ref())?,
            version_row: random_id(self.rng.as_ref())?,
            id: info.id.clone(),
            version: info.version.normalized().to_owned(),
            original_version: info.original_version.clone(),
            prerelease: info.version.is_prerelease(),
            semver2: info.semver2,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            blob_key: blob_key.clone(),
            nuspec: info.nuspec.clone(),
            metadata: info.meta.clone(),
            dependencies: info.dependency_groups.clone(),
            now,
            pusher: upstream.account_id,
            owner: upstream.account_id,
            signature: Some(signature.clone()),
            signer,
            mirrored: Some(provenance.clone()),
            tlog_entry,
        };
        let rights = crate::versions::PushRights {
            push_new: true,
            push_version: true,
        };
        if let Err(e) = self.db.commit_push(&record, rights).await {
            if let Err(d) = self.blobs.delete(&blob_key).await {
                tracing::warn!(blob = %blob_key, error = %d, "cannot delete the blob of a refused mirror copy");
            }
            return Err(match e {
                // A local account took the id meanwhile: the local package wins.
                Error::Forbidden(_) => Error::NotFound(format!(
                    "no package {} {} (the id is owned on this server)",
                    info.id,
                    info.version.normalized()
                )),
                // A concurrent fetch (another replica) stored it first.
                Error::Conflict(_) => return Ok(()),
                other => other,
            });
        }
        // This process learns at once that the id is mirrored (its download checks apply the
        // upstream's policy from now on); other replicas within `OWNER_TTL_MICROS`.
        if let Ok(mut m) = self.mirror.owners.lock() {
            m.remove(&info.id.to_lowercase());
        }
        tracing::info!(id = %info.id, version = %info.version, upstream = %upstream.name, "mirrored");
        Ok(())
    }

    /// The upstream versions of `id` that are not stored, as registration rows (metadata from
    /// the upstream's registration; the package is verified when a client downloads it).
    /// Empty when no upstream serves the id or the upstream has no registration resource;
    /// when it fails, what it listed last (or nothing) with a warning.
    /// `stored` holds the versions the caller has already read (lower case, normalised): they
    /// are left out without asking the database again.
    pub async fn mirror_registration(
        &self,
        id: &str,
        stored: &std::collections::HashSet<String>,
    ) -> Result<UpstreamRegistration, Error> {
        let Some(upstream) = self.upstream_for(id).await? else {
            return Ok(UpstreamRegistration::default());
        };
        let Ok(package_id) = PackageId::parse(id) else {
            return Ok(UpstreamRegistration::default());
        };
        let key = (upstream.name.clone(), package_id.lower().to_owned());
        let now = self.clock.now().unix_micros();
        let ttl = upstream.settings.list_cache_micros();
        let cached = lock_or_recover(&self.mirror.registrations).get(&key);
        let warning = None;
        let entries = match cached {
            Some((e, at)) if now.saturating_sub(at) < ttl => e,
            stale => match self.read_registration_once(&upstream, &key, now, ttl).await {
                Ok(e) => e,
                Err(failure) => {
                    let (busy, e) = match failure {
                        RegistrationFailure::Busy(e) => (true, e),
                        RegistrationFailure::Upstream(e) => (false, e),
                    };
                    // Busy with nothing listed before: a retryable 503, not "the upstream
                    // failed" (a 502, or a 200 with only the stored versions, which clients
                    // keep in their HTTP caches for half an hour).
                    if busy && stale.is_none() {
                        return Err(upstream_error(FailureKind::Busy, None, e));
                    }
                    let e = signet_common::terminal_safe(&e);
                    tracing::warn!(upstream = %upstream.name, id, error = %e, "upstream registration");
                    // What the upstream listed last, if anything, and say so.
                    let text = format!("the upstream {} failed: {e}", upstream.name);
                    match stale {
                        Some((e, _)) => {
                            return self.registration_rows(
                                &upstream,
                                id,
                                &e,
                                stored,
                                now,
                                Some(text),
                            );
                        }
                        None => {
                            return Ok(UpstreamRegistration {
                                versions: Vec::new(),
                                warning: Some(text),
                            });
                        }
                    }
                }
            },
        };
        self.registration_rows(&upstream, id, &entries, stored, now, warning)
    }

    /// Reads `key`'s registration from `upstream` (and caches it), once for all the requests
    /// that ask at the same time. The read runs as its own task: a request that goes away
    /// (a client that disconnects, or hyper's idle timeout on a slow upstream) neither cancels
    /// it nor makes the next request start another, and what it read is cached either way.
    /// Reads take one of their own slots ([`REGISTRATION_READS`]), so they can never hold the
    /// slots package fetches need.
    async fn read_registration_once(
        &self,
        upstream: &Upstream,
        key: &(String, String),
        now: i64,
        ttl: i64,
    ) -> Result<Entries, RegistrationFailure> {
        let flight = {
            let mut flights = lock_or_recover(&self.mirror.registration_flights);
            match flights.get(key) {
                Some(f) => f.clone(),
                None => {
                    if flights.len() >= REGISTRATION_FLIGHTS_MAX {
                        return Err(RegistrationFailure::Busy(format!(
                            "the mirror is reading {REGISTRATION_FLIGHTS_MAX} registrations \
                             already; retry shortly"
                        )));
                    }
                    let task = tokio::spawn(read_registration(RegistrationRead {
                        permits: Arc::clone(&self.mirror.registration_permits),
                        clients: self.mirror.clients.clone(),
                        cache: Arc::clone(&self.mirror.registrations),
                        flights: Arc::clone(&self.mirror.registration_flights),
                        upstream: upstream.clone(),
                        key: key.clone(),
                        now,
                        ttl,
                    }));
                    let flight: RegistrationFlight = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(RegistrationFailure::Upstream(format!(
                                "the upstream read stopped: {e}"
                            )))
                        })
                    }
                    .boxed()
                    .shared();
                    flights.insert(key.clone(), flight.clone());
                    flight
                }
            }
        };
        flight.await
    }

    /// Registration rows for the entries the upstream listed, without the stored versions
    /// and those its policy blocks.
    fn registration_rows(
        &self,
        upstream: &Upstream,
        id: &str,
        entries: &[registration::UpstreamEntry],
        stored: &std::collections::HashSet<String>,
        now: i64,
        warning: Option<String>,
    ) -> Result<UpstreamRegistration, Error> {
        let allowed: std::collections::HashSet<String> = upstream
            .settings
            .unblocked(id, entries.iter().map(|e| e.version.lower()).collect())
            .into_iter()
            .collect();
        let versions = entries
            .iter()
            .filter(|e| {
                let v = e.version.lower();
                !stored.contains(&v) && allowed.contains(&v)
            })
            .map(|e| VersionRow {
                package_id: e.id.clone(),
                id_as_pushed: e.id.clone(),
                version: e.version.normalized().to_owned(),
                version_lower: e.version.lower(),
                prerelease: e.version.is_prerelease(),
                semver2: false,
                listed: e.listed,
                size: 0,
                blob_key: String::new(),
                metadata: e.metadata.clone(),
                dependencies: e.dependencies.clone(),
                published_at: now,
            })
            .collect();
        Ok(UpstreamRegistration { versions, warning })
    }

    /// The provenance of a mirrored version.
    pub async fn provenance(&self, id: &str, version: &str) -> Result<Option<Provenance>, Error> {
        let Ok(v) = NuGetVersion::parse(version) else {
            return Ok(None);
        };
        self.db.provenance(&id.to_lowercase(), &v.lower()).await
    }

    /// Refusals since `since` (µs), newest first.
    pub async fn mirror_refusals(&self, since: i64) -> Result<Vec<Refused>, Error> {
        self.db.refusals(since, 1000).await
    }

    /// Lets a quarantined version through before its minimum age.
    pub async fn release_quarantined(
        &self,
        id: &str,
        version: &str,
        by: &str,
    ) -> Result<(), Error> {
        let (Ok(id), Ok(v)) = (PackageId::parse(id), NuGetVersion::parse(version)) else {
            return Err(Error::Invalid(format!(
                "{id} {version} is not a package version"
            )));
        };
        self.db
            .release_version(id.lower(), &v.lower(), by, self.clock.now().unix_micros())
            .await?;
        if let Ok(mut m) = self.mirror.refused.lock() {
            m.remove(&(id.lower().to_owned(), v.lower()));
        }
        Ok(())
    }

    /// Fetches the upstream's copy of a mirrored version again and compares it with what was
    /// fetched first; a difference is recorded (the stored copy stays what is served).
    /// Returns the mismatch, if any.
    pub async fn mirror_recheck(&self, id: &str, version: &str) -> Result<Option<String>, Error> {
        let (Ok(pid), Ok(v)) = (PackageId::parse(id), NuGetVersion::parse(version)) else {
            return Err(Error::NotFound(format!("no package {id} {version}")));
        };
        let Some(provenance) = self.db.provenance(pid.lower(), &v.lower()).await? else {
            return Err(Error::NotFound(format!("{id} {version} is not mirrored")));
        };
        let upstream = self.upstream(&provenance.upstream).await?;
        let base = self.flat_base(&upstream).await?;
        let dir = self.upload_dir.clone();
        let limit = self.limits.max_package_size;
        let name = upstream.name.clone();
        let (vv, pp) = (v.clone(), pid.clone());
        let clients = self.mirror.clients.clone();
        let downloaded = tokio::task::spawn_blocking(move || {
            let http = clients.get(&upstream)?;
            fetch::download(&http, upstream, &base, pp, vv, &dir, limit)
        })
        .await
        .map_err(|e| Error::io("mirror task", std::io::Error::other(e)))??;
        if downloaded.sha256 == provenance.upstream_sha256 {
            return Ok(None);
        }
        let text = format!(
            "the upstream {name} served other bytes for {id} {} (SHA-256 {} first, {} now); the \
             copy fetched first is kept",
            v.normalized(),
            provenance.upstream_sha256,
            downloaded.sha256
        );
        self.db
            .record_mismatch(pid.lower(), &v.lower(), &text)
            .await?;
        let record = Refused {
            upstream: provenance.upstream.clone(),
            id: pid.as_str().to_owned(),
            version: v.normalized().to_owned(),
            kind: "mismatch".into(),
            code: None,
            reason: text.clone(),
            at: self.clock.now().unix_micros(),
        };
        self.db
            .record_refusal(random_id(self.rng.as_ref())?, &record)
            .await?;
        tracing::warn!(%text, "upstream mismatch");
        Ok(Some(text))
    }

    /// Mirrors `roots` and their dependency closure: for a root with a range every upstream
    /// version in it, without one its highest listed version; for each dependency the lowest
    /// version its range admits (what a restore picks). Versions already stored are skipped
    /// (a resumed run does only the rest); `parallel` fetches at once; `progress` is called
    /// after each version with (done, known so far).
    pub async fn mirror_prefetch(
        &self,
        roots: Vec<(PackageId, Option<VersionRange>)>,
        parallel: usize,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<PrefetchSummary, Error> {
        use futures_util::StreamExt as _;
        let mut summary = PrefetchSummary::default();
        let mut seen: std::collections::HashSet<(String, String)> = Default::default();
        let mut wave: Vec<(PackageId, NuGetVersion)> = Vec::new();
        // The roots' version lists, `parallel` at a time.
        let listed: Vec<_> = futures_util::stream::iter(roots)
            .map(|(id, range)| async move {
                let listing = self.mirror_listing(id.as_str()).await;
                (id, range, listing)
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
        for (id, range, listing) in listed {
            let Some(listing) = listing? else {
                summary.refused.push((
                    id.as_str().to_owned(),
                    range.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    "no upstream serves this id (or a local account owns it)".into(),
                ));
                continue;
            };
            let mut versions: Vec<NuGetVersion> = listing
                .versions
                .iter()
                .filter_map(|v| NuGetVersion::parse(v).ok())
                .collect();
            versions.sort();
            let chosen: Vec<NuGetVersion> = match &range {
                Some(r) => versions.into_iter().filter(|v| r.satisfies(v)).collect(),
                None => versions
                    .iter()
                    .rev()
                    .find(|v| !v.is_prerelease())
                    .or_else(|| versions.last())
                    .cloned()
                    .into_iter()
                    .collect(),
            };
            if chosen.is_empty() {
                summary.refused.push((
                    id.as_str().to_owned(),
                    range.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    format!("the upstream {} lists no such version", listing.upstream),
                ));
            }
            for v in chosen {
                if seen.insert((id.lower().to_owned(), v.lower())) {
                    wave.push((id.clone(), v));
                }
            }
        }
        let mut done = 0usize;
        while !wave.is_empty() {
            let results: Vec<_> = futures_util::stream::iter(wave.drain(..))
                .map(|(id, v)| async move {
                    let r = self.mirror_fetch(id.as_str(), v.normalized()).await;
                    (id, v, r)
                })
                .buffer_unordered(parallel.max(1))
                .collect()
                .await;
            let mut next = Vec::new();
            for (id, v, r) in results {
                done += 1;
                match r {
                    Ok(fetched) => {
                        if fetched {
                            summary.fetched += 1;
                        } else {
                            summary.cached += 1;
                        }
                        if let Some(row) = self.db.version(id.lower(), &v.lower()).await? {
                            for dep in row.dependencies.iter().flat_map(|g| g.dependencies.iter()) {
                                let Ok(dep_id) = PackageId::parse(&dep.id) else {
                                    continue;
                                };
                                let range = dep
                                    .range
                                    .as_deref()
                                    .and_then(|r| VersionRange::parse(r).ok())
                                    .unwrap_or_else(VersionRange::any);
                                next.push((dep_id, range));
                            }
                        }
                    }
                    Err(e) => summary.refused.push((
                        id.as_str().to_owned(),
                        v.normalized().to_owned(),
                        e.to_string(),
                    )),
                }
                progress(done, seen.len());
            }
            for (dep_id, range) in next {
                if self
                    .db
                    .owner_accounts(dep_id.lower())
                    .await?
                    .iter()
                    .any(|(_, _, k)| k != "upstream")
                {
                    continue; // a local package: restore takes it from here
                }
                let Some(listing) = self.mirror_listing(dep_id.as_str()).await? else {
                    continue;
                };
                let mut versions: Vec<NuGetVersion> = listing
                    .versions
                    .iter()
                    .filter_map(|v| NuGetVersion::parse(v).ok())
                    .filter(|v| range.satisfies(v))
                    .collect();
                versions.sort();
                if let Some(v) = versions.into_iter().next() {
                    if seen.insert((dep_id.lower().to_owned(), v.lower())) {
                        wave.push((dep_id, v));
                    }
                } else if seen.insert((dep_id.lower().to_owned(), format!("range {range}"))) {
                    summary.refused.push((
                        dep_id.as_str().to_owned(),
                        range.to_string(),
                        format!(
                            "the upstream {} lists no version in the range",
                            listing.upstream
                        ),
                    ));
                }
            }
        }
        Ok(summary)
    }
}

/// What a registration read needs, owned: it runs as its own task.
struct RegistrationRead {
    permits: Arc<tokio::sync::Semaphore>,
    clients: fetch::Clients,
    cache: Arc<std::sync::Mutex<RegistrationCache>>,
    flights: RegistrationFlights,
    upstream: Upstream,
    key: (String, String),
    now: i64,
    ttl: i64,
}

/// Reads one upstream registration into the cache, then ends its flight (later requests
/// read the cache, or the upstream again when the registration was too large to cache).
async fn read_registration(r: RegistrationRead) -> Result<Entries, RegistrationFailure> {
    // Ends the flight however the read ends, a panic included: a flight left in the map
    // would answer that id with its stale outcome for ever.
    struct EndFlight<'a>(&'a RegistrationRead);
    impl Drop for EndFlight<'_> {
        fn drop(&mut self) {
            lock_or_recover(&self.0.flights).remove(&self.0.key);
        }
    }
    let _end = EndFlight(&r);
    read_registration_into_cache(&r).await
}

async fn read_registration_into_cache(
    r: &RegistrationRead,
) -> Result<Entries, RegistrationFailure> {
    // A read that ended between the caller's miss and this flight's start.
    if let Some((entries, at)) = lock_or_recover(&r.cache).get(&r.key)
        && r.now.saturating_sub(at) < r.ttl
    {
        return Ok(entries);
    }
    let Ok(Ok(permit)) =
        tokio::time::timeout(FETCH_WAIT, Arc::clone(&r.permits).acquire_owned()).await
    else {
        return Err(RegistrationFailure::Busy(format!(
            "the mirror is reading {REGISTRATION_READS} registrations from its upstreams \
             already; retry shortly"
        )));
    };
    let clients = r.clients.clone();
    let probe = r.upstream.clone();
    let id_lower = r.key.1.clone();
    let read = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let http = clients.get(&probe).map_err(|e| e.to_string())?;
        match signet_feed::registrations_base(http.as_ref(), &probe.service_index)? {
            Some(base) => {
                signet_feed::read_registration(http.as_ref(), &base, &id_lower).map(|v| {
                    v.into_iter()
                        .map(registration::UpstreamEntry::from)
                        .collect::<Vec<_>>()
                })
            }
            None => Ok(Vec::new()),
        }
    })
    .await
    .map_err(|e| RegistrationFailure::Upstream(format!("the upstream read stopped: {e}")))?;
    let entries = Arc::new(read.map_err(RegistrationFailure::Upstream)?);
    lock_or_recover(&r.cache).insert(r.key.clone(), Arc::clone(&entries), r.now);
    Ok(entries)
}
