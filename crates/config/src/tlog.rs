//! Pinned transparency logs (issue 17): per package source, the log the feed announced when
//! it was trusted (`signet trust source`), pinned with its certificates, and the policy.
//!
//! ```xml
//! <signetTransparencyLogs>
//!   <add key="contoso" prefix="https://nuget.contoso.com/tlog/"
//!        value="nuget.contoso.com/tlog+1a2b3c4d+AQ…" policy="require" />
//! </signetTransparencyLogs>
//! ```
//!
//! Witnesses pinned with the log (`signet trust source --witness NAME=VKEY
//! --witness-threshold K`): `witnesses="w1=witness.example/w1+…;w2=…" witnessThreshold="1"`;
//! an install then needs cosignatures by K of them on the checkpoint it checks.
//!
//! Read only from the user and machine configs or `--configfile`, like
//! `<signetSourcePolicies>`: a checkout cannot swap the key or turn the check off.

use crate::Error;
use crate::settings::{ConfigFile, Level, Settings};
use crate::xml::Element;

/// The section name.
pub const TLOG_SECTION: &str = "signetTransparencyLogs";

/// What a client does with a source's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogPolicy {
    /// Not checked.
    Off,
    /// Checked; a failure is a warning (evidence still kept).
    Warn,
    /// Checked; a failure refuses the package.
    Require,
}

impl LogPolicy {
    /// Parses `off`, `warn` or `require`.
    pub fn parse(s: &str) -> Option<LogPolicy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(LogPolicy::Off),
            "warn" => Some(LogPolicy::Warn),
            "require" => Some(LogPolicy::Require),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogPolicy::Off => "off",
            LogPolicy::Warn => "warn",
            LogPolicy::Require => "require",
        }
    }
}

/// A source's pinned log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedLog {
    /// The source name (the trusted repository's name).
    pub source: String,
    /// The source's service index URL.
    pub service_index: String,
    /// The log's URL prefix (ends with `/`).
    pub prefix: String,
    /// The verifier key (`origin+id+key`).
    pub verifier_key: String,
    /// The policy.
    pub policy: LogPolicy,
    /// Pinned witnesses: (label, cosignature verifier key).
    pub witnesses: Vec<(String, String)>,
    /// How many of `witnesses` must have cosigned (0 without witnesses).
    pub witness_threshold: usize,
}

impl Settings {
    /// The log pinned for the source named `name` or with the service index `location`, from
    /// the user and machine configs or `--configfile` only.
    pub fn transparency_log(
        &self,
        name: Option<&str>,
        location: &str,
    ) -> Result<Option<PinnedLog>, Error> {
        let found = self
            .section_items_where(TLOG_SECTION, |f: &ConfigFile| f.level != Level::Directory)
            .into_iter()
            .find(|(e, _)| {
                e.name == "add"
                    && (e
                        .attr("key")
                        .zip(name)
                        .is_some_and(|(k, n)| k.eq_ignore_ascii_case(n))
                        || e.attr("source")
                            .is_some_and(|s| s.eq_ignore_ascii_case(location)))
            });
        let source = found
            .as_ref()
            .and_then(|(e, _)| e.attr("key"))
            .unwrap_or_default()
            .to_owned();
        let Some((e, f)) = found else { return Ok(None) };
        let bad = |what: &str| Error::Invalid {
            path: f.path.clone(),
            message: format!("<{TLOG_SECTION}> entry for '{source}': {what}"),
        };
        let prefix = e.attr("prefix").ok_or_else(|| bad("no prefix"))?;
        let vkey = e
            .attr("value")
            .ok_or_else(|| bad("no value (verifier key)"))?;
        let policy = match e.attr("policy") {
            None => LogPolicy::Require,
            Some(p) => {
                LogPolicy::parse(p).ok_or_else(|| bad("policy is not off, warn or require"))?
            }
        };
        let mut witnesses = Vec::new();
        for item in e
            .attr("witnesses")
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (label, key) = item
                .split_once('=')
                .ok_or_else(|| bad("witnesses is not NAME=KEY;…"))?;
            witnesses.push((label.trim().to_owned(), key.trim().to_owned()));
        }
        let witness_threshold = match e.attr("witnessThreshold") {
            None => witnesses.len(),
            Some(t) => t
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&k| k >= 1 && k <= witnesses.len())
                .ok_or_else(|| {
                    bad("witnessThreshold is not between 1 and the number of witnesses")
                })?,
        };
        Ok(Some(PinnedLog {
            service_index: e.attr("source").unwrap_or_default().to_owned(),
            source,
            prefix: prefix.to_owned(),
            verifier_key: vkey.to_owned(),
            policy,
            witnesses,
            witness_threshold,
        }))
    }

    /// Pins (or re-pins) a source's log in the write target.
    pub fn pin_transparency_log(&mut self, log: &PinnedLog) -> Result<(), Error> {
        let section = self
            .write_target_mut()
            .and_then(|f| f.section_mut(TLOG_SECTION))
            .ok_or_else(|| Error::Request("no configuration file to write to".into()))?;
        section.remove_elements(|e| {
            e.name == "add"
                && e.attr("key")
                    .is_some_and(|k| k.eq_ignore_ascii_case(&log.source))
        });
        let mut add = Element::new("add")
            .with_attr("key", &log.source)
            .with_attr("source", &log.service_index)
            .with_attr("prefix", &log.prefix)
            .with_attr("value", &log.verifier_key)
            .with_attr("policy", log.policy.as_str());
        if !log.witnesses.is_empty() {
            let list = log
                .witnesses
                .iter()
                .map(|(label, key)| format!("{label}={key}"))
                .collect::<Vec<_>>()
                .join(";");
            add = add
                .with_attr("witnesses", &list)
                .with_attr("witnessThreshold", &log.witness_threshold.to_string());
        }
        section.push_element(add, 1);
        Ok(())
    }
}
