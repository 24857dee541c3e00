//! Time and randomness, injected: the library never reads the clock or the RNG itself, so
//! tests use fixed instants and reproducible keys.

use crate::Error;

/// Where the server reads the time (the workspace's one clock trait).
pub use signet_common::{Clock, SystemClock};

/// Where the server gets random bytes (API keys, salts, ids, upload names).
pub trait Random: Send + Sync {
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's CSPRNG (aws-lc-rs).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        use aws_lc_rs::rand::SecureRandom as _;
        aws_lc_rs::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| Error::Crypto("the system random source failed".into()))
    }
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(rng: &dyn Random, n: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; n];
    rng.fill(&mut buf)?;
    Ok(hex::encode(buf))
}

/// A random positive 63-bit row id (ids are made here, not by the database, so that the same
/// SQL runs on SQLite and PostgreSQL and several servers can share one database).
pub(crate) fn random_id(rng: &dyn Random) -> Result<i64, Error> {
    let mut buf = [0u8; 8];
    rng.fill(&mut buf)?;
    Ok(i64::from_le_bytes(buf) & i64::MAX)
}
