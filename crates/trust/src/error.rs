/// Errors of the trust layer (verification itself never fails: it reports).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bundled or user-supplied root bundle could not be read.
    #[error("the trust roots could not be read: {0}")]
    Roots(#[source] signet_signature::Error),
}
