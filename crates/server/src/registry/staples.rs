//! The [`Registry`] services over `staples`: here, in the services layer, so that
//! `staples` stays below `registry`.

use crate::error::Error;
use crate::staples::{StapleSummary, Stapler, package_signature};
use signet_trust::RevocationChecker;
use std::sync::Arc;

impl crate::registry::Registry {
    /// Turns stapled revocation status on: staples are fetched with `checker` and kept in this
    /// registry's blob store.
    pub fn with_stapling(mut self, checker: Arc<RevocationChecker>) -> Self {
        self.stapler = Some(Arc::new(Stapler::new(
            checker,
            Arc::clone(&self.blobs),
            Arc::clone(&self.clock),
        )));
        self
    }

    /// Whether stapled status is served.
    pub fn staples_on(&self) -> bool {
        self.stapler.is_some()
    }

    async fn signature_of_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        match self.open_package(id, version).await? {
            Some(body) => package_signature(body).await,
            None => Ok(None),
        }
    }

    /// The stapled-status document of a version (`None`: no such version, or stapling off).
    pub async fn staple_document(
        &self,
        id: &str,
        version: &str,
    ) -> Result<Option<serde_json::Value>, Error> {
        let Some(stapler) = &self.stapler else {
            return Ok(None);
        };
        if self.version(id, version).await?.is_none() {
            return Ok(None);
        }
        let sig = self.signature_of_version(id, version).await?;
        Ok(Some(stapler.document(sig.as_deref()).await))
    }

    /// Fetches the staples of a version now (after its push; idempotent), and runs the
    /// certificate recheck when one says revoked.
    pub async fn staple_version(&self, id: &str, version: &str) -> Result<StapleSummary, Error> {
        let Some(stapler) = &self.stapler else {
            return Ok(StapleSummary::default());
        };
        let Some(sig) = self.signature_of_version(id, version).await? else {
            return Ok(StapleSummary::default());
        };
        let (_, summary) = stapler.staples_for(&sig, true).await;
        if !summary.revoked.is_empty() {
            self.recheck_certificates().await?;
        }
        Ok(summary)
    }

    /// `signet admin refresh-staples`: every stored staple fetched again now (with this
    /// registry's stapler, or one over HTTP when the registry was opened without).
    pub async fn refresh_all_staples(&self) -> Result<StapleSummary, Error> {
        let stapler = match &self.stapler {
            Some(s) => Arc::clone(s),
            None => Arc::new(Stapler::new(
                Arc::new(RevocationChecker::http(
                    signet_trust::RevocationSettings::default(),
                )),
                Arc::clone(&self.blobs),
                Arc::clone(&self.clock),
            )),
        };
        let summary = stapler.refresh_stored(true).await?;
        if !summary.revoked.is_empty() {
            self.recheck_certificates().await?;
        }
        Ok(summary)
    }

    /// The periodic job: refreshes stored staples that are old or close to expiry (all of
    /// them with `force`); a staple that now says revoked runs the certificate recheck (which
    /// marks the certificate Revoked and flags its versions).
    pub async fn refresh_staples(&self, force: bool) -> Result<StapleSummary, Error> {
        let Some(stapler) = &self.stapler else {
            return Ok(StapleSummary::default());
        };
        let summary = stapler.refresh_stored(force).await?;
        if !summary.revoked.is_empty() {
            self.recheck_certificates().await?;
        }
        Ok(summary)
    }
}
