//! RFC 3161 timestamps for signet (`../shared/spec/nuget-signatures.md` §3.6, §4): the
//! protocol messages, a timestamp authority with its HTTP server, and the client NuGet's
//! signer uses.
//!
//! - **Protocol** ([`TimeStampReq`], [`TimeStampResp`], [`PkiStatusInfo`], [`FailureInfo`]):
//!   `der` types with size [`Limits`].
//! - **Authority** ([`Authority`]): answers a DER request with a DER response, never failing:
//!   bad requests get a rejection with the failInfo RFC 3161 names. Tokens carry a TSTInfo
//!   with a unique serial that survives restarts, genTime to the millisecond, accuracy, the
//!   echoed nonce, and the ESS signing-certificate-v2 attribute (RFC 5816); the TSA chain is
//!   embedded when certReq is set. It refuses to start with a certificate lacking the
//!   critical timeStamping EKU or with an RSA key under 2048 bits. The key sits behind
//!   [`signet_keys::Signer`]. [`Authority::respond`] is pure: time is an argument.
//! - **Server** ([`serve`]): axum over HTTP/1.1, `POST` `application/timestamp-query` on
//!   any path; the clock is read there, through a [`Clock`].
//! - **Client** ([`request_timestamp`]): NuGet's request (§4.1) and every response check of
//!   §4.2 with its NU code, then the token's certificate set completed with the TSA chain
//!   ([`add_missing_certificates`]). HTTP goes through a [`Transport`]; [`HttpTransport`]
//!   is the real one.

mod authority;
mod client;
mod error;
mod protocol;
mod serial;
mod server;
mod tlv;

pub use authority::{Authority, AuthorityConfig, DEFAULT_ACCURACY_MS, DEFAULT_POLICY};
pub use client::{
    HttpTransport, REQUEST_TIMEOUT, TimestampToken, Transport, add_missing_certificates,
    request_timestamp,
};
pub use error::Error;
pub use protocol::{
    FailureInfo, Limits, MessageImprint, PkiStatus, PkiStatusInfo, TimeStampReq, TimeStampResp,
};
pub use serial::SERIAL_BLOCK;
pub use server::{
    Clock, QUERY_CONTENT_TYPE, REPLY_CONTENT_TYPE, SystemClock, router, serve, serve_with_clock,
};
