//! The RFC 3161 client NuGet's signer uses (spec §4.1–§4.2): request a timestamp over a
//! signature value, check the response as NuGet does — each failure with its NU code — and
//! complete the token's certificate set with the TSA chain (§3.6) before it is attached.

use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{Int, OctetString};
use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_signature::tlv::{Reader, Tlv, ber_to_der, tag};
use signet_signature::{Certificate, Timestamp, TstInfo, oids};
use signet_trust::{TrustStore, build_chain};
use spki::AlgorithmIdentifierOwned;

use crate::error::Error;
use crate::protocol::{FailureInfo, Limits, MessageImprint, TimeStampReq, TimeStampResp};
use crate::server::QUERY_CONTENT_TYPE;
use crate::tlv::{self, tlv};

/// How long [`request_timestamp`] gives the service to answer (transports may be stricter).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP exchange, behind a trait so that tests (and other HTTP stacks) plug in.
pub trait Transport: Send + Sync {
    /// POSTs `body` with `content_type` to `url` and returns the HTTP status and the response
    /// body, giving up after `timeout`. Implementations should stop reading a body after
    /// [`Limits::max_response_size`] + 1 bytes; the caller refuses anything longer.
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String>;
}

/// The HTTP [`Transport`]: `signet_trust::HttpFetcher`, so plain `http://` timestamp URLs
/// (the usual kind) go through a small client without a TLS stack and `https://` ones through
/// reqwest with rustls.
#[derive(Debug)]
pub struct HttpTransport {
    fetcher: signet_trust::HttpFetcher,
    timeout: Duration,
    max_body: usize,
}

impl HttpTransport {
    /// A transport that gives up after `timeout` (connect and whole exchange) and reads at
    /// most [`Limits::max_response_size`] response bytes.
    pub fn new(timeout: Duration) -> Result<Self, Error> {
        Ok(Self {
            fetcher: signet_trust::HttpFetcher::new(),
            timeout,
            max_body: Limits::DEFAULT.max_response_size,
        })
    }
}

impl Transport for HttpTransport {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        use signet_trust::{FetchErrorKind, Fetcher};
        match self.fetcher.post(
            url,
            content_type,
            body,
            timeout.min(self.timeout),
            self.max_body,
        ) {
            Ok(body) => Ok((200, body)),
            Err(e) => match e.kind {
                // The client reports the status; the body of an error page is not needed.
                FetchErrorKind::Status(status) => Ok((status, Vec::new())),
                _ => Err(e.message),
            },
        }
    }
}

/// A timestamp token that passed every check of spec §4.2, with the TSA chain certificates
/// it lacked added. Only [`request_timestamp`] makes one.
#[derive(Clone, Debug)]
pub struct TimestampToken {
    der: Vec<u8>,
    timestamp: Timestamp,
}

impl TimestampToken {
    /// The token (a DER `ContentInfo`), ready to be attached as the
    /// `id-aa-signatureTimeStampToken` unsigned attribute (spec §3.6).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The decoded token.
    pub fn timestamp(&self) -> &Timestamp {
        &self.timestamp
    }

    /// The token bytes.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }
}

/// Requests a timestamp over `signature_value` (the contents octets of the SignerInfo's
/// signature, spec §3.6) from the RFC 3161 service at `url`, as NuGet does (§4.1): imprint
/// `alg(signature_value)`, the caller's 32 random bytes as nonce (top bit cleared so the
/// INTEGER is positive), certReq set, no policy, no extensions. The response must pass
/// every check of §4.2 (`now` is the signing time):
///
/// - HTTP success and status granted/grantedWithMods, with a token;
/// - nonce echoed (NU3026) and imprint matching (NU3019);
/// - token decodable with one signer whose certificate is present (NU3003, NU3020), ESS
///   attribute and CMS signature valid (NU3021);
/// - TSA certificate signed with SHA-2/RSA (NU3022) and an RSA key ≥ 2048 bits (NU3023);
///   token digest SHA-2 (NU3024); certificate valid at `now` (NU3025) and at genTime
///   (NU3036);
/// - TSA chain built to `trust`'s timestamping roots with the timeStamping EKU (NU3028).
///
/// The TSA chain certificates the token lacks are then added (§4.2 step 10).
pub fn request_timestamp(
    url: &str,
    signature_value: &[u8],
    alg: HashAlgorithm,
    nonce: [u8; 32],
    transport: &dyn Transport,
    trust: &TrustStore,
    now: UtcTime,
) -> Result<TimestampToken, Error> {
    check_scheme(url)?;
    let imprint = alg.digest(signature_value);
    let nonce = nonce_content(nonce);
    let body = encode_request(alg, &imprint, &nonce)?;
    let (status, response) = transport
        .post(url, QUERY_CONTENT_TYPE, &body, REQUEST_TIMEOUT)
        .map_err(|message| Error::Transport {
            url: url.to_owned(),
            message,
        })?;
    if !(200..300).contains(&status) {
        return Err(Error::HttpStatus {
            url: url.to_owned(),
            status,
        });
    }
    let limit = Limits::DEFAULT.max_response_size;
    if response.len() > limit {
        return Err(Error::ResponseTooLarge { limit });
    }
    let response = TimeStampResp::from_der_bytes(&response)
        .map_err(|e| Error::MalformedResponse(e.to_string()))?;
    if !response.status.status.is_granted() {
        return Err(Error::Rejected {
            status: response.status.status,
            fail_info: response.status.fail_info.unwrap_or(FailureInfo::default()),
            text: response.status.status_string.map(|s| s.join("; ")),
        });
    }
    let token = response.token.ok_or(Error::NoToken)?;
    check_token(&token, alg, &imprint, &nonce, trust, now)
}

/// NuGet accepts only http and https timestamper URLs.
fn check_scheme(url: &str) -> Result<(), Error> {
    let ok = url.split_once("://").is_some_and(|(scheme, rest)| {
        (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
            && !rest.is_empty()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::UnsupportedScheme {
            url: url.to_owned(),
        })
    }
}

/// The nonce as minimal INTEGER content octets: the top bit of the first byte cleared (as
/// NuGet does, so the value is positive), then leading zero bytes dropped as DER requires.
fn nonce_content(mut nonce: [u8; 32]) -> Vec<u8> {
    if let Some(first) = nonce.first_mut() {
        *first &= 0x7f;
    }
    minimal_unsigned(&nonce).to_vec()
}

/// `bytes` without the leading zero bytes DER would not write (at least one byte remains).
fn minimal_unsigned(bytes: &[u8]) -> &[u8] {
    let mut b = bytes;
    while let [0, next, ..] = b {
        if next & 0x80 != 0 {
            break;
        }
        b = b.get(1..).unwrap_or_default();
    }
    b
}

fn encode_request(alg: HashAlgorithm, imprint: &[u8], nonce: &[u8]) -> Result<Vec<u8>, Error> {
    let encode = |e: der::Error| Error::Encode(e.to_string());
    let oid = ObjectIdentifier::new(alg.oid_str()).map_err(|e| Error::Encode(e.to_string()))?;
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint).map_err(encode)?,
        },
        req_policy: None,
        nonce: Some(Int::new(nonce).map_err(encode)?),
        cert_req: true,
        extensions: None,
    }
    .to_der_bytes()
    .map_err(encode)
}

fn check_token(
    token: &[u8],
    alg: HashAlgorithm,
    imprint: &[u8],
    nonce: &[u8],
    trust: &TrustStore,
    now: UtcTime,
) -> Result<TimestampToken, Error> {
    let token = ber_to_der(token)?;
    // NuGet compares nonce and imprint before it looks at the token's signature (§4.2
    // steps 2–4), so TSTInfo is read first without the signature checks.
    if let Some(info) = tst_info_of(&token) {
        check_nonce_and_imprint(&info, alg, imprint, nonce)?;
    }
    let limits = signet_signature::Limits::default();
    let ts = Timestamp::parse(&token, &limits)?;
    let info = ts.info();
    check_nonce_and_imprint(info, alg, imprint, nonce)?;

    // NU3022, NU3023, NU3024, NU3025 and NU3036: the checks verification makes too.
    if let Some((code, detail)) = signet_trust::timestamp_certificate_problems(&ts, now)
        .into_iter()
        .next()
    {
        return Err(Error::check(code, format!("the {detail}")));
    }
    let cert = ts.certificate();
    let chain = build_chain(
        cert,
        ts.certificates(),
        trust.timestamping(),
        &oids::EKU_TIME_STAMPING,
    );
    if !chain.is_trusted() {
        return Err(Error::Chain {
            problems: chain.problems,
        });
    }
    let der = add_missing_certificates(ts.to_der(), &chain.certificates);
    if der.as_slice() == ts.to_der() {
        return Ok(TimestampToken { der, timestamp: ts });
    }
    let timestamp = Timestamp::parse(&der, &limits)?;
    Ok(TimestampToken { der, timestamp })
}

fn check_nonce_and_imprint(
    info: &TstInfo,
    alg: HashAlgorithm,
    imprint: &[u8],
    nonce: &[u8],
) -> Result<(), Error> {
    // .NET compares the normalised INTEGER values.
    let nonce_ok = info
        .nonce
        .as_deref()
        .is_some_and(|n| minimal_unsigned(n) == minimal_unsigned(nonce));
    if !nonce_ok {
        return Err(Error::check(
            NuCode::NU3026,
            "the timestamp response's nonce does not match the request's",
        ));
    }
    let alg_ok = HashAlgorithm::from_oid_str(&info.imprint_algorithm.to_string()) == Some(alg);
    if !alg_ok || info.imprint != imprint {
        return Err(Error::check(
            NuCode::NU3019,
            "the timestamp's message imprint does not match the signature",
        ));
    }
    Ok(())
}

/// The TSTInfo of a DER token, read without checking anything else.
fn tst_info_of(token: &[u8]) -> Option<TstInfo> {
    let signed_data = signed_data_fields(token).ok()?;
    let mut er = signed_data.encap.reader();
    er.expect(tag::OID, "eContentType").ok()?;
    let econtent = er.expect(tag::ctx_cons(0), "eContent").ok()?;
    let octets = econtent
        .reader()
        .expect(tag::OCTET_STRING, "eContent")
        .ok()?;
    TstInfo::parse(octets.value).ok()
}

/// The fields of a DER `ContentInfo` holding SignedData, as raw elements.
struct SignedDataFields<'a> {
    content_type: Tlv<'a>,
    version: Tlv<'a>,
    digest_algorithms: Tlv<'a>,
    encap: Tlv<'a>,
    certificates: Option<Tlv<'a>>,
    crls: Option<Tlv<'a>>,
    signer_infos: Tlv<'a>,
}

fn signed_data_fields(token: &[u8]) -> Result<SignedDataFields<'_>, signet_signature::Error> {
    let mut outer = Reader::new(token);
    let ci = outer.expect(tag::SEQUENCE, "ContentInfo")?;
    outer.finish("ContentInfo")?;
    let mut r = ci.reader();
    let content_type = r.expect(tag::OID, "contentType")?;
    let explicit = r.expect(tag::ctx_cons(0), "content")?;
    r.finish("ContentInfo")?;
    let mut er = explicit.reader();
    let sd = er.expect(tag::SEQUENCE, "SignedData")?;
    er.finish("content")?;
    let mut r = sd.reader();
    let fields = SignedDataFields {
        content_type,
        version: r.expect(tag::INTEGER, "version")?,
        digest_algorithms: r.expect(tag::SET, "digestAlgorithms")?,
        encap: r.expect(tag::SEQUENCE, "encapContentInfo")?,
        certificates: r.optional(tag::ctx_cons(0), "certificates")?,
        crls: r.optional(tag::ctx_cons(1), "crls")?,
        signer_infos: r.expect(tag::SET, "signerInfos")?,
    };
    r.finish("SignedData")?;
    Ok(fields)
}

/// Adds to a timestamp token each certificate of `chain` its SignedData does not hold (spec
/// §3.6: NuGet attaches the token with the TSA chain complete) and returns the token as DER
/// with the certificate set in DER SET OF order. Only the `certificates` field changes: the
/// token's signature covers TSTInfo through the signed attributes, not the certificate set,
/// so the token stays valid. BER input is normalised to DER first.
///
/// A token with nothing missing comes back as it was (DER-normalised); input that is not a
/// `ContentInfo` holding SignedData comes back unchanged, since there is nothing to add to.
pub fn add_missing_certificates(token_der: &[u8], chain: &[Certificate]) -> Vec<u8> {
    let Ok(der) = ber_to_der(token_der) else {
        return token_der.to_vec();
    };
    rewrite_certificates(&der, chain).unwrap_or(der)
}

/// `None` when nothing is missing or the token is not a SignedData.
fn rewrite_certificates(token: &[u8], chain: &[Certificate]) -> Option<Vec<u8>> {
    let f = signed_data_fields(token).ok()?;
    let mut present: Vec<&[u8]> = Vec::new();
    if let Some(set) = f.certificates {
        let mut cr = set.reader();
        while !cr.is_empty() {
            present.push(cr.next("certificate").ok()?.raw);
        }
    }
    let missing: Vec<&[u8]> = chain
        .iter()
        .map(Certificate::der)
        .filter(|der| !present.contains(der))
        .collect();
    if missing.is_empty() {
        return None;
    }
    present.extend(missing);
    let certificates = tlv(tlv::ctx_cons(0), &[&tlv::set_of_content(present)]);
    let signed_data = tlv(
        tlv::SEQUENCE,
        &[
            f.version.raw,
            f.digest_algorithms.raw,
            f.encap.raw,
            &certificates,
            f.crls.map(|c| c.raw).unwrap_or_default(),
            f.signer_infos.raw,
        ],
    );
    Some(tlv(
        tlv::SEQUENCE,
        &[f.content_type.raw, &tlv(tlv::ctx_cons(0), &[&signed_data])],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        for ok in [
            "http://tsa",
            "HTTPS://timestamp.example/x",
            "http://127.0.0.1:1/",
        ] {
            assert!(check_scheme(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://tsa",
            "file:///x",
            "tsa.example",
            "http://",
            "https:/x",
        ] {
            assert!(
                matches!(check_scheme(bad), Err(Error::UnsupportedScheme { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn nonces_are_positive_and_minimal() {
        let mut n = [0xffu8; 32];
        assert_eq!(nonce_content(n)[0], 0x7f);
        assert_eq!(nonce_content(n).len(), 32);
        n[0] = 0;
        n[1] = 0x05;
        assert_eq!(nonce_content(n).len(), 31);
        n[1] = 0x85;
        assert_eq!(nonce_content(n).len(), 32, "0x00 stays before a high bit");
        assert_eq!(nonce_content([0; 32]), [0]);
        assert_eq!(minimal_unsigned(&[0, 0, 1]), [1]);
        assert_eq!(minimal_unsigned(&[0, 0x80]), [0, 0x80]);
    }

    #[test]
    fn rewriting_refuses_what_is_not_a_der_token() {
        assert_eq!(add_missing_certificates(b"junk", &[]), b"junk");
        let not_signed_data = tlv(tlv::SEQUENCE, &[&[tlv::INTEGER, 1, 1]]);
        assert_eq!(
            add_missing_certificates(&not_signed_data, &[]),
            not_signed_data
        );
    }
}
