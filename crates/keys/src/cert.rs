//! Certificate input: reading a chain file, finding the key's certificate, ordering the chain.

use der::{Decode, Encode};
use pkcs1::RsaPublicKeyRef;
use x509_cert::Certificate;

use crate::MAX_CERTIFICATES;
use crate::error::Error;
use crate::key::RSA_ENCRYPTION;
use crate::pem;

/// Splits a chain file into DER certificates: PEM `CERTIFICATE` blocks (other blocks, such
/// as a private key in the same file, are skipped), or one DER certificate.
pub(crate) fn split_chain_input(input: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    if !pem::looks_like_pem(input) {
        if input.is_empty() {
            return Err(Error::NoCertificate("certificate input"));
        }
        return Ok(vec![input.to_vec()]);
    }
    let blocks = pem::blocks(input).map_err(|reason| Error::CertificateFormat { reason })?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE" || b.label == "X509 CERTIFICATE")
        .map(|b| b.der.to_vec())
        .collect();
    if certs.is_empty() {
        return Err(Error::NoCertificate("certificate input"));
    }
    Ok(certs)
}

/// The chain as the signer exposes it.
pub(crate) struct Chain {
    /// DER certificates, leaf first.
    pub(crate) certs: Vec<Vec<u8>>,
    /// The leaf's subject (RFC 4514 text), for `Debug`.
    pub(crate) leaf_subject: String,
}

struct Parsed {
    der: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_text: String,
    /// (n, e) when the certificate has an rsaEncryption key.
    rsa: Option<(Vec<u8>, Vec<u8>)>,
}

/// Picks the certificate whose RSA public key is `public` (modulus, exponent) as the leaf,
/// then follows issuer → subject links; certificates off that path keep their file order
/// after it. `preferred` (an index into `certs`) wins when several certificates carry the
/// key, e.g. the PKCS#12 bag whose localKeyId matches the key's.
pub(crate) fn assemble(
    public: &(Vec<u8>, Vec<u8>),
    certs: Vec<Vec<u8>>,
    preferred: Option<usize>,
) -> Result<Chain, Error> {
    if certs.len() > MAX_CERTIFICATES {
        return Err(Error::TooManyCertificates {
            limit: MAX_CERTIFICATES,
        });
    }
    let preferred_der = preferred.and_then(|i| certs.get(i)).cloned();
    let mut parsed: Vec<Parsed> = Vec::with_capacity(certs.len());
    for (i, der) in certs.into_iter().enumerate() {
        // Exact duplicates (a leaf repeated in `-certfile`, say) would only confuse the chain.
        if parsed.iter().any(|p| p.der == der) {
            continue;
        }
        let p = parse(&der).map_err(|source| Error::CertificateDecode {
            index: i + 1,
            source,
        })?;
        parsed.push(Parsed { der, ..p });
    }
    if parsed.is_empty() {
        return Err(Error::NoCertificate("certificate input"));
    }

    let matches = |p: &Parsed| p.rsa.as_ref() == Some(public);
    let leaf = preferred_der
        .and_then(|d| parsed.iter().position(|p| p.der == d && matches(p)))
        .or_else(|| parsed.iter().position(matches))
        .ok_or(Error::KeyCertificateMismatch {
            count: parsed.len(),
        })?;

    let mut order = vec![leaf];
    let mut current = leaf;
    while let Some(cur) = parsed.get(current) {
        if cur.subject == cur.issuer {
            break; // self-issued: the root, or a self-signed leaf
        }
        let next = parsed
            .iter()
            .enumerate()
            .find(|(j, p)| !order.contains(j) && p.subject == cur.issuer)
            .map(|(j, _)| j);
        match next {
            Some(j) => {
                order.push(j);
                current = j;
            }
            None => break,
        }
    }
    for j in 0..parsed.len() {
        if !order.contains(&j) {
            order.push(j);
        }
    }

    let leaf_subject = parsed
        .get(leaf)
        .map(|p| p.subject_text.clone())
        .unwrap_or_default();
    let mut slots: Vec<Option<Parsed>> = parsed.into_iter().map(Some).collect();
    let certs = order
        .into_iter()
        .filter_map(|j| slots.get_mut(j).and_then(Option::take))
        .map(|p| p.der)
        .collect();
    Ok(Chain {
        certs,
        leaf_subject,
    })
}

fn parse(der: &[u8]) -> Result<Parsed, der::Error> {
    let cert = Certificate::from_der(der)?;
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info();
    let rsa = if spki.algorithm.oid == RSA_ENCRYPTION {
        spki.subject_public_key
            .as_bytes()
            .and_then(|bytes| RsaPublicKeyRef::from_der(bytes).ok())
            .map(|k| {
                (
                    k.modulus.as_bytes().to_vec(),
                    k.public_exponent.as_bytes().to_vec(),
                )
            })
    } else {
        None
    };
    Ok(Parsed {
        der: Vec::new(),
        subject: tbs.subject().to_der()?,
        issuer: tbs.issuer().to_der()?,
        subject_text: tbs.subject().to_string(),
        rsa,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rejects_empty_and_certificate_free_input() {
        assert!(matches!(
            split_chain_input(b""),
            Err(Error::NoCertificate(_))
        ));
        assert!(matches!(
            split_chain_input(b"-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n"),
            Err(Error::NoCertificate(_))
        ));
        assert!(matches!(
            split_chain_input(b"-----BEGIN CERTIFICATE-----\nAAEC\n"),
            Err(Error::CertificateFormat { .. })
        ));
    }

    #[test]
    fn split_keeps_only_certificate_blocks_in_order() {
        let input = b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                      -----BEGIN PRIVATE KEY-----\nAwQF\n-----END PRIVATE KEY-----\n\
                      -----BEGIN X509 CERTIFICATE-----\nBgcI\n-----END X509 CERTIFICATE-----\n";
        let certs = split_chain_input(input).unwrap();
        assert_eq!(certs, [vec![0, 1, 2], vec![6, 7, 8]]);
        // A DER input is passed through whole; decoding happens in `assemble`.
        assert_eq!(
            split_chain_input(&[0x30, 0x00]).unwrap(),
            [vec![0x30, 0x00]]
        );
    }

    #[test]
    fn assemble_reports_undecodable_certificates_by_position() {
        let public = (vec![1], vec![3]);
        let err = assemble(&public, vec![vec![0x30, 0x00]], None)
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::CertificateDecode { index: 1, .. }),
            "{err:?}"
        );
        let too_many = vec![vec![0x30, 0x00]; MAX_CERTIFICATES + 1];
        let err = assemble(&public, too_many, None).err().unwrap();
        assert!(matches!(err, Error::TooManyCertificates { .. }), "{err:?}");
    }
}
