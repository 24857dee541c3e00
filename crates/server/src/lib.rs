//! signet's NuGet package server (`signet serve`): accounts and API keys, the push pipeline,
//! and the NuGet v3 protocol (`../shared/spec/nuget-server.md` §6) over axum.
//!
//! Layers, one way, with no module cycles (`tests/module_graph.rs` checks it): `http` and `web`
//! (extract, authorise, map) → `app` (the state both share) → [`Registry`] (the domain services
//! in `registry/`: no HTTP) → the feature stores (each owns its tables and queries) → storage
//! behind [`Db`] (sqlx `Any`: SQLite by default, PostgreSQL by URL) and [`BlobStore`]
//! (filesystem or S3). Time and randomness are injected ([`Clock`], [`Random`]).

mod accounts;
mod app;
pub mod audit;
mod auth;
pub mod backup;
mod blob;
mod catalog;
mod clock;
mod config;
mod db;
mod downloads;
mod error;
mod http;
mod inspect;
mod lifecycle;
mod listing;
mod memcache;
pub mod mirror;
mod owners;
mod prefixes;
pub use registry::push;
mod registry;
pub mod retention;
mod schema;
pub mod signing;
pub mod staples;
pub mod tlog;
mod versions;
pub mod web;
pub mod webhooks;
pub mod witness;

pub use app::{AppState, ConnectionLimits, Metrics, ReadAccess};
pub use auth::{
    API_KEY_PREFIX, IdGlob, NewApiKey, Scope, Scopes, generate_api_key, hash_api_key,
    hash_password, verify_password,
};
pub use blob::{BlobBody, BlobStore, BlobStream, BoxFuture, FileSystemStore, S3Store, S3Timeouts};
pub use catalog::ImportedVersion;
pub use clock::{Clock, Random, SystemClock, SystemRandom};
pub use config::{
    AccessConfig, Config, DEFAULT_LISTEN, DatabaseConfig, LimitsConfig, ServerConfig,
    StorageConfig, TransparencyLogConfig,
};
pub use db::{ApiKeyInfo, ApiKeyRow, Db, VersionRow};
pub use downloads::DownloadCounts;
pub use error::{Error, PushRule, Refusal};
pub use http::{router, serve};
pub use inspect::{Dep, DepGroup, MAX_ID_LEN, Metadata, PackageInfo, inspect, is_valid_id};
pub use owners::{OwnerRequest, OwnerRequestOutcome};
pub use prefixes::ReservedPrefix;
pub use registry::{
    Caller, PushCandidate, PushCheck, Pushed, Registry, Role, SearchHit, SearchPage, VersionFilter,
};
