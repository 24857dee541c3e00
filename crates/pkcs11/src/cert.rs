//! Certificates for a token key: read from a PEM/DER file or from the token, the leaf picked
//! by comparing public keys, the chain ordered leaf → issuer.

use der::{Decode, Encode};
use pkcs1::RsaPublicKeyRef;
use x509_cert::Certificate;

use crate::error::Error;
use crate::{MAX_CERTIFICATES, RsaPublic};

/// rsaEncryption (RFC 8017 appendix C).
const RSA_ENCRYPTION: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Where the certificates came from, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    File,
    Token,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Token => "token",
        }
    }

    fn place(self) -> &'static str {
        match self {
            Self::File => "in the certificate file",
            Self::Token => "on the token",
        }
    }
}

/// Splits a chain file into DER certificates: PEM `CERTIFICATE` blocks (other blocks are
/// skipped) or one DER certificate.
pub(crate) fn split_file(input: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let decode_error = |index, reason: String| Error::CertificateDecode {
        origin: "file",
        index,
        reason,
    };
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(vec![input.to_vec()]);
    };
    if !text.contains("-----BEGIN ") {
        return Ok(vec![input.to_vec()]);
    }
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = rest.get(start..).unwrap_or_default();
        // The END line's label ends with five dashes; the block runs to the end of that line.
        let Some(end_marker) = block.find("-----END ") else {
            return Err(decode_error(
                certs.len() + 1,
                "PEM block without an END line".into(),
            ));
        };
        let after_end = block.get(end_marker + 9..).unwrap_or_default();
        let Some(close) = after_end.find("-----") else {
            return Err(decode_error(
                certs.len() + 1,
                "unterminated PEM END line".into(),
            ));
        };
        let block_len = end_marker + 9 + close + 5;
        let pem_block = block.get(..block_len).unwrap_or_default();
        rest = block.get(block_len..).unwrap_or_default();
        if !(pem_block.starts_with("-----BEGIN CERTIFICATE-----")
            || pem_block.starts_with("-----BEGIN X509 CERTIFICATE-----"))
        {
            continue;
        }
        if certs.len() == MAX_CERTIFICATES {
            return Err(Error::TooManyCertificates {
                origin: "file",
                limit: MAX_CERTIFICATES,
            });
        }
        let (_label, der) = der::pem::decode_vec(pem_block.as_bytes())
            .map_err(|e| decode_error(certs.len() + 1, e.to_string()))?;
        certs.push(der);
    }
    Ok(certs)
}

struct Parsed {
    der: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    rsa: Option<RsaPublic>,
}

fn parse(der: Vec<u8>, origin: Origin, index: usize) -> Result<Parsed, Error> {
    let fail = |e: der::Error| Error::CertificateDecode {
        origin: origin.name(),
        index,
        reason: e.to_string(),
    };
    let cert = Certificate::from_der(&der).map_err(fail)?;
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info();
    let rsa = if spki.algorithm.oid == RSA_ENCRYPTION {
        spki.subject_public_key
            .as_bytes()
            .and_then(|bytes| RsaPublicKeyRef::from_der(bytes).ok())
            .map(|k| RsaPublic::new(k.modulus.as_bytes(), k.public_exponent.as_bytes()))
    } else {
        None
    };
    Ok(Parsed {
        subject: tbs.subject().to_der().map_err(fail)?,
        issuer: tbs.issuer().to_der().map_err(fail)?,
        der,
        rsa,
    })
}

/// Orders `certs` into the key's chain: the certificate carrying `public` first (among
/// several, the one at `preferred`, e.g. the token certificate with the key's CKA_ID), then
/// issuers by name while they are present. Certificates off the path follow in input order
/// when `keep_unrelated` (a chain file may hold cross-certificates the verifier needs), and
/// are dropped otherwise (a token may hold certificates of other keys).
pub(crate) fn assemble(
    public: &RsaPublic,
    certs: Vec<Vec<u8>>,
    preferred: &[usize],
    origin: Origin,
    key: &str,
) -> Result<Vec<Vec<u8>>, Error> {
    if certs.len() > MAX_CERTIFICATES {
        return Err(Error::TooManyCertificates {
            origin: origin.name(),
            limit: MAX_CERTIFICATES,
        });
    }
    let mut parsed: Vec<Parsed> = Vec::with_capacity(certs.len());
    for (i, der) in certs.into_iter().enumerate() {
        parsed.push(parse(der, origin, i + 1)?);
    }
    let matching: Vec<usize> = (0..parsed.len())
        .filter(|&i| parsed.get(i).and_then(|p| p.rsa.as_ref()) == Some(public))
        .collect();
    let leaf = matching
        .iter()
        .copied()
        .find(|i| preferred.contains(i))
        .or_else(|| matching.first().copied())
        .ok_or_else(|| Error::KeyCertificateMismatch {
            key: key.to_owned(),
            bits: public.bits(),
            modulus_prefix: public.modulus_prefix(),
            count: parsed.len(),
            origin: origin.place(),
        })?;
    let mut used = vec![false; parsed.len()];
    let mut order = vec![leaf];
    if let Some(u) = used.get_mut(leaf) {
        *u = true;
    }
    let mut current = leaf;
    while let Some(cur) = parsed.get(current) {
        if cur.subject == cur.issuer {
            break; // self-signed: the root ends the path
        }
        let next = (0..parsed.len()).find(|&i| {
            !used.get(i).copied().unwrap_or(true)
                && parsed.get(i).is_some_and(|p| p.subject == cur.issuer)
        });
        let Some(next) = next else { break };
        if let Some(u) = used.get_mut(next) {
            *u = true;
        }
        order.push(next);
        current = next;
    }
    if origin == Origin::File {
        order.extend((0..parsed.len()).filter(|&i| !used.get(i).copied().unwrap_or(true)));
    }
    let mut slots: Vec<Option<Vec<u8>>> = parsed.into_iter().map(|p| Some(p.der)).collect();
    Ok(order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect())
}
