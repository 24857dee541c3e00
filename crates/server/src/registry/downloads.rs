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
