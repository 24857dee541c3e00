//! `nuget.config` as NuGet reads and writes it (spec §8.1): the file hierarchy, `<config>`
//! values, `<packageSources>`, `<trustedSigners>` with the edits `signet trust` makes, and
//! signet's own keys, which NuGet ignores:
//!
//! ```xml
//! <configuration>
//!   <config>
//!     <add key="signatureValidationMode" value="require" />
//!     <!-- signet: extra trust roots (relative to this file) and whether only they count -->
//!     <add key="signetTrustRoots" value="certs/corp-root.pem" />
//!     <add key="signetTrustRootsOnly" value="false" />
//!     <!-- signet: the client policy for every source: developer | default | secure |
//!          accept | require (default: signatureValidationMode) -->
//!     <add key="signetSignaturePolicy" value="secure" />
//!   </config>
//!   <!-- signet: a policy per package source name -->
//!   <signetSourcePolicies>
//!     <add key="local" value="developer" />
//!   </signetSourcePolicies>
//! </configuration>
//! ```
//!
//! Package source credentials (`<packageSourceCredentials>`, `NuGetPackageSourceCredentials_{name}`)
//! are read by [`Settings::source_credential`], the API keys `nuget setapikey` stores
//! (`<apikeys>`) by [`Settings::stored_api_key`].
//!
//! Edits keep everything else in the file — comments, unknown sections, attribute order.

mod apikeys;
mod credentials;
mod error;
mod identities;
mod mono_protect;
mod settings;
mod tlog;
mod trusted;
pub mod xml;

pub use apikeys::{API_KEYS_SECTION, StoredApiKey};
pub use credentials::{
    CREDENTIALS_ENV_PREFIX, CREDENTIALS_SECTION, CredentialOrigin, SourceCredential,
    decode_element_name,
};
pub use error::Error;
pub use identities::{ConfiguredIdentity, IDENTITIES_SECTION};
pub use mono_protect::{NUGET_ENTROPY, UnprotectError, mono_keypair_dir, unprotect_nuget_value};
pub use settings::{
    ConfigFile, Environment, Level, MAX_CONFIG_SIZE, PackageSource, Settings, ValidationMode,
};
pub use tlog::{LogPolicy, PinnedLog, TLOG_SECTION};
pub use trusted::{
    CertificateEntry, EffectiveTrust, SignerKind, TrustedSigner, effective_trust, split_owners,
};
