//! Object identifiers used by NuGet signatures (`../shared/spec/nuget-signatures.md` Appendix A).
#![allow(missing_docs)]

use const_oid::ObjectIdentifier as Oid;

pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");

pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
pub const COUNTERSIGNATURE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.6");
pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
pub const TIMESTAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
pub const COMMITMENT_TYPE_INDICATION: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.16");
pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const PROOF_OF_ORIGIN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.6.1");
pub const PROOF_OF_RECEIPT: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.6.2");
pub const NUGET_V3_SERVICE_INDEX_URL: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.84.2.1.1.1");
pub const NUGET_PACKAGE_OWNERS: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.84.2.1.1.2");

pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");

pub const EKU_CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
pub const EKU_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
pub const EKU_LIFETIME_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.10.3.13");
pub const ANY_EKU: Oid = Oid::new_unwrap("2.5.29.37.0");

/// ETSI baseline timestamp policy: implies 1 s accuracy when none is given (spec §4.3).
pub const ETSI_BASELINE_TS_POLICY: Oid = Oid::new_unwrap("0.4.0.2023.1.1");
