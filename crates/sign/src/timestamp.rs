//! Where timestamps come from.

use signet_common::{HashAlgorithm, NuCode, UtcTime};
use std::sync::Arc;

use signet_trust::TrustStore;
use signet_tsa::Transport;

use crate::Error;

/// Obtains an RFC 3161 timestamp token over a signature value.
pub trait TimestampClient: Send + Sync {
    /// Returns a DER TimeStampToken (ContentInfo) whose message imprint covers
    /// `signature_value`, already checked as NuGet's signer checks it (spec §4.2).
    fn timestamp(&self, signature_value: &[u8], now: UtcTime) -> Result<Vec<u8>, Error>;

    /// The authority's URL or name, for messages.
    fn describe(&self) -> String;
}

/// Source of the 32-byte request nonces (injected so that tests can fix them).
pub type NonceSource = Box<dyn Fn() -> Option<[u8; 32]> + Send + Sync>;

/// An RFC 3161 authority over HTTP (`signet_tsa::request_timestamp`).
pub struct TsaTimestamper<T: Transport> {
    url: String,
    transport: T,
    algorithm: HashAlgorithm,
    trust: Arc<TrustStore>,
    nonce: NonceSource,
}

impl<T: Transport> TsaTimestamper<T> {
    /// A timestamper for `url` (http or https), hashing with `algorithm` and checking the
    /// authority's certificate chain against `trust`. Nonces come from the system's random
    /// source.
    pub fn new(url: &str, transport: T, algorithm: HashAlgorithm, trust: Arc<TrustStore>) -> Self {
        Self {
            url: url.to_string(),
            transport,
            algorithm,
            trust,
            nonce: Box::new(|| {
                let mut n = [0u8; 32];
                aws_lc_rs::rand::fill(&mut n).ok().map(|()| n)
            }),
        }
    }

    /// Replaces the nonce source.
    pub fn with_nonce_source(mut self, nonce: NonceSource) -> Self {
        self.nonce = nonce;
        self
    }
}

impl<T: Transport + Send + Sync> TimestampClient for TsaTimestamper<T> {
    fn timestamp(&self, signature_value: &[u8], now: UtcTime) -> Result<Vec<u8>, Error> {
        let nonce = (self.nonce)().ok_or_else(|| {
            Error::new(
                NuCode::NU3001,
                "no randomness available for the timestamp nonce",
            )
        })?;
        let token = signet_tsa::request_timestamp(
            &self.url,
            signature_value,
            self.algorithm,
            nonce,
            &self.transport,
            &self.trust,
            now,
        )
        .map_err(|e| {
            Error::new(
                e.code().unwrap_or(NuCode::NU3001),
                format!("timestamping failed: {e}"),
            )
        })?;
        Ok(token.der().to_vec())
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}
