//! RFC 3161 timestamp tokens as NuGet attaches them (`id-aa-signatureTimeStampToken`, spec §3.6),
//! decoded with the load-time checks of spec §3.8.

use const_oid::ObjectIdentifier;
use signet_common::{NuCode, UtcTime};

use crate::attributes::check_timestamp_ess;
use crate::cert::Certificate;
use crate::cms::{AlgorithmId, SignedData, SignerInfo, find_certificate, parse_time};
use crate::tlv::{Reader, tag};
use crate::{Error, Limits, oids};

/// The TSTInfo of a token (RFC 3161 §2.4.2).
#[derive(Clone, Debug)]
pub struct TstInfo {
    /// TSA policy OID content octets (kept raw: test TSAs use arcs like `2.999` that
    /// `const-oid` does not represent).
    pub policy: Vec<u8>,
    /// Message imprint hash algorithm.
    pub imprint_algorithm: ObjectIdentifier,
    /// Message imprint.
    pub imprint: Vec<u8>,
    /// Serial number (INTEGER content octets).
    pub serial: Vec<u8>,
    /// Generation time.
    pub gen_time: UtcTime,
    /// Accuracy in microseconds, if given.
    pub accuracy_micros: Option<i64>,
    /// Nonce (INTEGER content octets), if given.
    pub nonce: Option<Vec<u8>>,
}

impl TstInfo {
    /// Parses TSTInfo DER.
    pub fn parse(der: &[u8]) -> Result<Self, Error> {
        let mut outer = Reader::new(der);
        let seq = outer.expect(tag::SEQUENCE, "TSTInfo")?;
        outer.finish("TSTInfo")?;
        let mut r = seq.reader();
        r.expect(tag::INTEGER, "TSTInfo version")?;
        let policy = r.expect(tag::OID, "policy")?.value.to_vec();
        let mi = r.expect(tag::SEQUENCE, "messageImprint")?;
        let mut mr = mi.reader();
        let imprint_algorithm = AlgorithmId::parse(mr.next("hashAlgorithm")?, "hashAlgorithm")?.oid;
        let imprint = mr
            .expect(tag::OCTET_STRING, "hashedMessage")?
            .value
            .to_vec();
        mr.finish("messageImprint")?;
        let serial = r.expect(tag::INTEGER, "serialNumber")?.value.to_vec();
        let gen_time = parse_time(r.expect(tag::GENERALIZED_TIME, "genTime")?, "genTime")?;
        let accuracy_micros = match r.optional(tag::SEQUENCE, "accuracy")? {
            None => None,
            Some(acc) => {
                let mut ar = acc.reader();
                // RFC 3161 §2.4.2: millis and micros are below 1000 (0 tolerated); seconds bounded as .NET
                // reads them (an int), so the sum cannot overflow.
                let mut total: i64 = 0;
                if let Some(s) = ar.optional(tag::INTEGER, "seconds")? {
                    total += bounded(uint(s.value, "seconds")?, 0, i64::from(i32::MAX), "seconds")?
                        * 1_000_000;
                }
                if let Some(ms) = ar.optional(tag::ctx_prim(0), "millis")? {
                    total += bounded(uint(ms.value, "millis")?, 0, 999, "millis")? * 1_000;
                }
                if let Some(us) = ar.optional(tag::ctx_prim(1), "micros")? {
                    total += bounded(uint(us.value, "micros")?, 0, 999, "micros")?;
                }
                ar.finish("accuracy")?;
                Some(total)
            }
        };
        r.optional(tag::BOOLEAN, "ordering")?;
        let nonce = r.optional(tag::INTEGER, "nonce")?.map(|n| n.value.to_vec());
        r.optional(tag::ctx_cons(0), "tsa")?;
        r.optional(tag::ctx_cons(1), "extensions")?;
        r.finish("TSTInfo")?;
        Ok(Self {
            policy,
            imprint_algorithm,
            imprint,
            serial,
            gen_time,
            accuracy_micros,
            nonce,
        })
    }

    /// The policy in dotted form.
    pub fn policy_string(&self) -> String {
        oid_bytes_to_string(&self.policy)
    }

    /// The accuracy NuGet uses: the given one, else 1 s under the ETSI baseline policy, else 0.
    pub fn effective_accuracy_micros(&self) -> i64 {
        match self.accuracy_micros {
            Some(a) => a,
            None if self.policy == oids::ETSI_BASELINE_TS_POLICY.as_bytes() => 1_000_000,
            None => 0,
        }
    }
}

fn bounded(v: i64, min: i64, max: i64, what: &'static str) -> Result<i64, Error> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(Error::asn1(
            what,
            format!("accuracy value {v} is out of range"),
        ))
    }
}

fn uint(v: &[u8], what: &'static str) -> Result<i64, Error> {
    if v.is_empty() || v.len() > 6 || v.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error::asn1(what, "invalid accuracy value".into()));
    }
    Ok(v.iter().fold(0i64, |a, b| (a << 8) | i64::from(*b)))
}

/// A decoded timestamp token.
#[derive(Clone, Debug)]
pub struct Timestamp {
    signed_data: SignedData,
    tsa_certificate: Certificate,
    info: TstInfo,
    raw: Vec<u8>,
}

impl Timestamp {
    /// Decodes a token (a `ContentInfo` with SignedData over TSTInfo) and applies NuGet's
    /// load-time checks: NU3003 undecodable, NU3021 not exactly one signer / wrong content type /
    /// ESS attribute problems / bad signature, NU3020 no TSA certificate.
    pub fn parse(token: &[u8], limits: &Limits) -> Result<Self, Error> {
        let der = crate::tlv::ber_to_der(token)?;
        let signed_data = SignedData::parse(&der, limits)?;
        let invalid = |m: &str| {
            Error::timestamp(
                NuCode::NU3021,
                format!("the timestamp signature is invalid: {m}"),
            )
        };
        let signer = match signed_data.signer_infos.as_slice() {
            [one] => one,
            _ => return Err(invalid("the timestamp does not have exactly one signer")),
        };
        let tsa_certificate = find_certificate(&signed_data.certificates, &signer.sid)
            .cloned()
            .ok_or_else(|| {
                Error::timestamp(
                    NuCode::NU3020,
                    "the timestamp's signing certificate is not in the timestamp",
                )
            })?;
        check_timestamp_ess(signer, &tsa_certificate).map_err(|m| invalid(&m))?;
        if signed_data.content_type != oids::TST_INFO {
            return Err(invalid("the content type is not TSTInfo"));
        }
        let content = signed_data
            .content
            .clone()
            .ok_or_else(|| invalid("the TSTInfo content is missing"))?;
        let key = tsa_certificate
            .public_key()
            .map_err(|_| invalid("unsupported key"))?;
        signer
            .verify(&key, &content)
            .map_err(|e| invalid(&e.to_string()))?;
        let info = TstInfo::parse(&content)?;
        Ok(Self {
            signed_data,
            tsa_certificate,
            info,
            raw: der,
        })
    }

    /// The TSTInfo.
    pub fn info(&self) -> &TstInfo {
        &self.info
    }

    /// The TSA's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.tsa_certificate
    }

    /// The token's certificate set (the extra store for the TSA chain).
    pub fn certificates(&self) -> &[Certificate] {
        &self.signed_data.certificates
    }

    /// The token's SignerInfo.
    pub fn signer_info(&self) -> Option<&SignerInfo> {
        self.signed_data.signer_infos.first()
    }

    /// `genTime − accuracy` (NuGet's LowerLimit).
    pub fn lower_limit(&self) -> UtcTime {
        self.info
            .gen_time
            .add_micros(-self.info.effective_accuracy_micros())
    }

    /// `genTime + accuracy` (NuGet's UpperLimit).
    pub fn upper_limit(&self) -> UtcTime {
        self.info
            .gen_time
            .add_micros(self.info.effective_accuracy_micros())
    }

    /// The token bytes (DER-normalised).
    pub fn to_der(&self) -> &[u8] {
        &self.raw
    }
}

/// Dotted form of OID content octets (any arcs, including the `2.999` of test policies).
pub(crate) fn oid_bytes_to_string(bytes: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for b in bytes {
        acc = (acc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    let mut out = String::new();
    if let Some(first) = arcs.first() {
        let (a, b) = match *first {
            f if f < 40 => (0, f),
            f if f < 80 => (1, f - 40),
            f => (2, f - 80),
        };
        out = format!("{a}.{b}");
    }
    for arc in arcs.iter().skip(1) {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::tlv::{encode, encode_seq, tag};

    fn tst_info(accuracy: &[u8]) -> Vec<u8> {
        let imprint = encode_seq(
            tag::SEQUENCE,
            &[
                &encode(
                    tag::SEQUENCE,
                    &encode(tag::OID, crate::oids::SHA256.as_bytes()),
                ),
                &encode(tag::OCTET_STRING, &[0u8; 32]),
            ],
        );
        encode_seq(
            tag::SEQUENCE,
            &[
                &encode(tag::INTEGER, &[1]),
                &encode(tag::OID, &[0x88, 0x37]),
                &imprint,
                &encode(tag::INTEGER, &[7]),
                &encode(tag::GENERALIZED_TIME, b"20261122120000Z"),
                &encode(tag::SEQUENCE, accuracy),
            ],
        )
    }

    #[test]
    fn accuracy_is_bounded_so_the_window_cannot_overflow() {
        let ok = super::TstInfo::parse(&tst_info(&encode(tag::INTEGER, &[2]))).unwrap();
        assert_eq!(ok.effective_accuracy_micros(), 2_000_000);
        let millis = encode(tag::ctx_prim(0), &[0x01, 0xf4]);
        assert_eq!(
            super::TstInfo::parse(&tst_info(&millis))
                .unwrap()
                .effective_accuracy_micros(),
            500_000
        );
        // 2^40 seconds would overflow microseconds once multiplied; 1000 ms is out of range.
        let huge = encode(tag::INTEGER, &[0x01, 0, 0, 0, 0, 0]);
        assert!(super::TstInfo::parse(&tst_info(&huge)).is_err());
        let too_many_millis = encode(tag::ctx_prim(0), &[0x03, 0xe8]);
        assert!(super::TstInfo::parse(&tst_info(&too_many_millis)).is_err());
    }

    #[test]
    fn oid_strings() {
        assert_eq!(super::oid_bytes_to_string(&[0x88, 0x37]), "2.999");
        assert_eq!(
            super::oid_bytes_to_string(&[0x04, 0x00, 0x8f, 0x67, 0x01, 0x01]),
            "0.4.0.2023.1.1"
        );
    }
}
