//! The upstream's registration of an id as registration rows of this server
//! (`signet_feed::read_registration` reads and bounds it; see there).

use crate::inspect::{Dep, DepGroup, Metadata};

/// One upstream version, as its registration describes it.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamEntry {
    pub id: String,
    pub version: signet_feed::NuGetVersion,
    pub listed: bool,
    pub metadata: Metadata,
    pub dependencies: Vec<DepGroup>,
}

impl UpstreamEntry {
    /// About how many bytes this entry holds (its strings, plus a fixed allowance per
    /// entry and dependency), for the cache's budget.
    pub(crate) fn estimated_size(&self) -> usize {
        let m = &self.metadata;
        let strings = [
            &self.id,
            &m.description,
            &m.authors,
            &m.title,
            &m.summary,
            &m.tags,
            &m.project_url,
            &m.icon_url,
            &m.license_url,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>();
        let deps = self
            .dependencies
            .iter()
            .map(|g| {
                64 + g.target_framework.as_ref().map_or(0, String::len)
                    + g.dependencies
                        .iter()
                        .map(|d| 64 + d.id.len())
                        .sum::<usize>()
            })
            .sum::<usize>();
        256 + strings + deps
    }
}

impl From<signet_feed::RegistrationEntry> for UpstreamEntry {
    fn from(e: signet_feed::RegistrationEntry) -> Self {
        Self {
            id: e.id,
            version: e.version,
            listed: e.listed,
            metadata: Metadata {
                description: e.description,
                authors: e.authors,
                title: e.title,
                summary: e.summary,
                tags: String::new(),
                project_url: e.project_url,
                icon_url: e.icon_url,
                license_url: e.license_url,
                ..Metadata::default()
            },
            dependencies: e
                .dependency_groups
                .into_iter()
                .map(|g| DepGroup {
                    target_framework: g.target_framework,
                    dependencies: g
                        .dependencies
                        .into_iter()
                        .map(|(id, range)| Dep { id, range })
                        .collect(),
                })
                .collect(),
        }
    }
}
