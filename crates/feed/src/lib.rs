//! NuGet feeds as a client, for `signet install` and `signet trust source|sync`:
//!
//! * [`ServiceIndex`] and [`RepositorySignatures`] (the resource a repository uses to
//!   announce its signing certificates);
//! * [`Source`]: a v3 feed (service index → flat container) or a local folder;
//! * [`NuGetVersion`], [`VersionRange`], [`Framework`]: what choosing versions and
//!   dependency groups needs;
//! * [`resolve`]: the dependency graph, downloaded (not verified: verification is the
//!   installer's job, before anything is extracted).
//!
//! Plain http follows [`HttpPolicy`]: https only unless the caller allows loopback or
//! (dangerously) any http.

mod error;
pub mod framework;
mod http;
mod index;
mod mapping;
mod push;
mod registration;
mod resolve;
mod source;
mod version;

pub use error::{Error, VersionNotFound};
pub use framework::Framework;
pub use http::{Http, HttpClient, HttpPolicy, describe_transport_error, is_loopback};
pub use index::{
    MAX_DOCUMENT_SIZE, PACKAGE_BASE_ADDRESS, REPOSITORY_SIGNATURES, RepositoryCertificate,
    RepositorySignatures, Resource, ServiceIndex,
};
pub use mapping::{MappedSources, SourceMapping};
pub use push::{
    ListingChange, PACKAGE_PUBLISH, PACKAGE_VALIDATION, PushResponse, change_listing, publish_url,
    push, validation_url,
};
pub use registration::{
    REGISTRATIONS_BASE_URL, RegistrationEntry, RegistrationGroup, read_registration,
    registrations_base,
};
pub use resolve::{Budget, Downloaded, MAX_PACKAGES, Request, resolve};
pub use signet_nupkg::PackageId;
pub use source::{
    AnnouncedLog, MAX_PACKAGE_SIZE, MAX_VERSIONS_LISTED, REVOCATION_STATUS, Source,
    TRANSPARENCY_LOG, V3Source,
};
pub use version::{NuGetVersion, VersionRange};
