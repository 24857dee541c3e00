//! The signed-push rules, run on every push (and on a dry run) before a version is taken:
//! NuGet.org's table of who must and may sign (spec server §2.1, in `signet-push-rules`), the
//! registered-certificate check NuGet.org runs only later (§2.5), the organization policy
//! "every package author-signed", and a full verification of the author signature under
//! NuGet.org's push policy (§2.6). Unlike NuGet.org, a push either passes all of this or is
//! refused with its reasons: no version is burnt by a failed asynchronous validation.

use serde::Serialize;

use crate::Error;
use crate::error::{PushRule, Refusal};
use crate::signing::store::VersionSignature;

/// What the signing validation of one push found.
#[derive(Clone, Debug, Serialize)]
pub struct Validated {
    /// Package id.
    pub id: String,
    /// Normalised version.
    pub version: String,
    /// Whether the package carries an (author) signature.
    pub signed: bool,
    /// The author signer and its timestamp, when signed.
    #[serde(skip)]
    pub signature: VersionSignature,
    /// The owners the repository signature will name.
    pub owners: Vec<String>,
    /// Warnings (unknown revocation, an unsigned version after signed ones).
    pub warnings: Vec<String>,
}

/// The dry-run answer: what a push would do, without doing it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushValidation {
    /// Package id.
    pub id: String,
    /// Normalised version.
    pub version: String,
    /// Whether the package is author-signed.
    pub signed: bool,
    /// SHA-256 of the author signer certificate, when signed.
    pub signer_fingerprint: Option<String>,
    /// Whether the server would repository-sign it, and with which certificate.
    pub repository_certificate: Option<String>,
    /// The owners the repository signature would name.
    pub owners: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

pub(crate) fn micros(t: Option<signet_common::UtcTime>) -> Option<i64> {
    t.map(|t| t.unix_micros())
}

pub(crate) fn rejection(r: &signet_push_rules::PushRejection) -> Error {
    Refusal::new(
        PushRule::WhoMaySign,
        None,
        format!("{} {}", r.message(), r.remedy()),
    )
    .into()
}

pub(crate) fn issue_text(i: &signet_trust::Issue) -> String {
    match i.code {
        Some(c) => format!("{c}: {}", i.message),
        None => i.message.clone(),
    }
}
