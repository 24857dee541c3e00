//! Limits for revocation data, which arrives from the network and is therefore untrusted input.

/// Bounds on OCSP and CRL data. Exceeding one is its own error ([`crate::Error::Limit`]),
/// and the certificate's revocation status becomes unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationLimits {
    /// Largest OCSP request a responder decodes (requests are a few hundred bytes).
    pub max_ocsp_request_size: usize,
    /// Most `Request`s in one OCSP request.
    pub max_ocsp_request_entries: usize,
    /// Largest OCSP response body read from a responder (real ones are 1–5 KB).
    pub max_ocsp_response_size: usize,
    /// Most `SingleResponse`s in one OCSP response.
    pub max_ocsp_single_responses: usize,
    /// Most certificates in one OCSP response.
    pub max_ocsp_certificates: usize,
    /// Largest CRL body read from a distribution point. Code-signing CA CRLs are usually
    /// under 1 MB; the largest public CRLs reach tens of MB.
    pub max_crl_size: usize,
    /// Most extensions in one OCSP or CRL structure (per list).
    pub max_extensions: usize,
    /// Most responders and distribution points tried per certificate.
    pub max_urls_per_certificate: usize,
}

impl Default for RevocationLimits {
    fn default() -> Self {
        Self {
            max_ocsp_request_size: 64 * 1024,
            max_ocsp_request_entries: 64,
            max_ocsp_response_size: 1024 * 1024,
            max_ocsp_single_responses: 64,
            max_ocsp_certificates: 16,
            max_crl_size: 32 * 1024 * 1024,
            max_extensions: 64,
            max_urls_per_certificate: 4,
        }
    }
}
