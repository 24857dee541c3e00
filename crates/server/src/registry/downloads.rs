//! The [`Registry`] services over `downloads`: here, in the services layer, so that
//! `downloads` stays below `registry`.

use crate::Error;
use crate::blob::BlobBody;
use crate::downloads::DownloadCounts;
use crate::registry::Registry;
use signet_feed::NuGetVersion;

impl Registry {
    /// One version's package file for a client (the flat container): like
    /// [`Registry::open_package`], and a found file counts as a download.
    pub async fn download_package(
        &self,
        id: &str,
        version: &str,
    ) -> Result<Option<BlobBody>, Error> {
        let body = self.open_package(id, version).await?;
        if body.is_some()
            && let Ok(v) = NuGetVersion::parse(version)
        {
            self.downloads.record(id.to_lowercase(), v.lower());
        }
        Ok(body)
    }

    /// The download-count job: writes the counts kept in memory to the database every
    /// `interval` until `stop` turns true, then once more. Each flush is idempotent (a failed
    /// one keeps its counts for the next), and the job stops between flushes, never inside
    /// one (counts taken out of memory and not yet committed would be lost). `serve` runs it
    /// beside the server.
    pub async fn run_download_flusher(
        &self,
        interval: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.flush_downloads().await {
                        tracing::warn!(error = %e, "cannot write download counts (kept for the next try)");
                    }
                }
                _ = stop.changed() => break,
            }
        }
        if let Err(e) = self.flush_downloads().await {
            tracing::warn!(error = %e, "cannot write download counts at shutdown");
        }
    }

    /// Writes the downloads counted in memory to the database; returns how many versions had
    /// new downloads. On failure the counts stay in memory for the next flush.
    pub async fn flush_downloads(&self) -> Result<usize, Error> {
        let counts = self.downloads.take();
        if counts.is_empty() {
            return Ok(0);
        }
        match self.db.add_downloads(&counts).await {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                self.downloads.restore(counts);
                Err(e)
            }
        }
    }

    /// The stored download counts of package `id` (what search results show).
    pub async fn download_counts(&self, id: &str) -> Result<DownloadCounts, Error> {
        self.db.download_counts(&id.to_lowercase()).await
    }
}
