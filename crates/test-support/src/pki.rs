//! The test PKI: one root, one intermediate, and leaves both good and deliberately bad.
//!
//! Everything is RSA with sha256WithRSAEncryption unless a certificate exists to break exactly
//! that. Serial numbers are fixed per certificate (and counted up for
//! [`code_signing_cert_with_validity`]) so that issuerAndSerialNumber signer identifiers never
//! collide between two test certificates.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
    PublicKeyData, RsaKeySize, SerialNumber, SignatureAlgorithm,
};
use signet_common::HashAlgorithm;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::openssl::openssl;
use crate::pem::pem_encode;

mod revocation;
pub use revocation::{RevocableCa, RevocationUrls, RevokedEntry, root_crl};

/// Microsoft's lifetime-signing EKU (szOID_KP_LIFETIME_SIGNING), 1.3.6.1.4.1.311.10.3.13.
const OID_LIFETIME_SIGNING: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 10, 3, 13];

/// `extKeyUsage` (2.5.29.37), written by hand where it must be critical.
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];

/// `basicConstraints` (2.5.29.19), written by hand for the leaf without a SubjectKeyIdentifier.
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];

/// DER of `ExtKeyUsageSyntax ::= SEQUENCE { id-kp-timeStamping }` (1.3.6.1.5.5.7.3.8).
const EKU_TIME_STAMPING_ONLY: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
];

/// DER of `BasicConstraints ::= SEQUENCE {}`, i.e. cA FALSE (the DEFAULT) and no path length.
const BASIC_CONSTRAINTS_NOT_CA: &[u8] = &[0x30, 0x00];

const ORGANIZATION: &str = "signet tests";
const ROOT_CN: &str = "signet test root CA";
const INTERMEDIATE_CN: &str = "signet test intermediate CA";

/// Serials handed out by [`code_signing_cert_with_validity`]; well above the fixed ones below.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(0x1000);

/// A certificate with its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertKey {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key as unencrypted PKCS#8 DER (always RSA in this PKI).
    pub key_pkcs8_der: Vec<u8>,
}

impl CertKey {
    /// The certificate as a `CERTIFICATE` PEM block.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The private key as an unencrypted PKCS#8 `PRIVATE KEY` PEM block.
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.key_pkcs8_der)
    }

    /// Uppercase hex of SHA-256 over the certificate DER, the form NuGet prints and takes in
    /// `trustedSigners` (no separators).
    pub fn sha256_fingerprint_hex(&self) -> String {
        self.fingerprint_hex(HashAlgorithm::Sha256)
    }

    /// Uppercase hex of the certificate DER's digest under `algorithm`.
    pub fn fingerprint_hex(&self, algorithm: HashAlgorithm) -> String {
        algorithm
            .digest(&self.cert_der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The DER bytes are noise in a failed assertion; the fingerprint identifies the cert.
        f.debug_struct("CertKey")
            .field("sha256", &self.sha256_fingerprint_hex())
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

/// The standard test PKI, generated once per process by [`pki`] because RSA key generation is
/// slow.
///
/// Unless noted, leaves are issued by `intermediate`, have an RSA-2048 key, are signed with
/// sha256WithRSAEncryption, carry `basicConstraints` CA:FALSE (critical), `keyUsage`
/// digitalSignature (critical), a SubjectKeyIdentifier and an AuthorityKeyIdentifier, and are
/// valid from 2020-01-01 to 2090-01-01.
#[non_exhaustive]
pub struct TestPki {
    /// Self-signed CA: CA:TRUE without path length, keyCertSign|cRLSign, no EKU, valid
    /// 2000-01-01 to 2099-12-31.
    pub root: CertKey,
    /// CA issued by `root`: CA:TRUE, pathlen 0, keyCertSign|cRLSign, no EKU, same validity.
    pub intermediate: CertKey,
    /// The good author-signing leaf: EKU codeSigning, CN "signet test code signing".
    pub code_signing: CertKey,
    /// Like `code_signing` but without a SubjectKeyIdentifier extension, so signers must be
    /// identified by issuerAndSerialNumber.
    pub code_signing_no_ski: CertKey,
    /// TSA leaf: EKU timeStamping only, marked critical as RFC 3161 §2.3 requires.
    pub timestamping: CertKey,
    /// Repository-signing leaf: EKU codeSigning, CN "signet test repository signing".
    pub repository: CertKey,
    /// Self-signed leaf (CA:FALSE) with EKU codeSigning; chains to nothing in this PKI.
    pub self_signed: CertKey,
    /// EKU codeSigning, valid 2001-01-01 to 2002-01-01.
    pub expired: CertKey,
    /// EKU codeSigning, valid 2090-01-01 to 2095-01-01.
    pub not_yet_valid: CertKey,
    /// EKU serverAuth only.
    pub wrong_eku: CertKey,
    /// EKU codeSigning with an RSA-1024 key (below NuGet's 2048-bit minimum, NU3014).
    pub rsa1024: CertKey,
    /// EKU codeSigning, RSA-2048 key, but the certificate is signed with
    /// sha1WithRSAEncryption (NU3013).
    pub sha1_signed: CertKey,
    /// EKU codeSigning plus Microsoft lifetime signing (1.3.6.1.4.1.311.10.3.13).
    pub lifetime_signing: CertKey,
    /// A leaf with no EKU extension at all.
    pub no_eku: CertKey,
}

impl TestPki {
    /// The DER chain for `cert`, leaf first, as a signer would send it: the certificate, then
    /// the intermediate and the root when `cert` is issued by the intermediate. The root, the
    /// intermediate and the self-signed leaf get only the part of the chain above them.
    pub fn chain_der(&self, cert: &CertKey) -> Vec<Vec<u8>> {
        if cert == &self.root {
            vec![self.root.cert_der.clone()]
        } else if cert == &self.intermediate {
            vec![
                self.intermediate.cert_der.clone(),
                self.root.cert_der.clone(),
            ]
        } else if cert == &self.self_signed {
            vec![self.self_signed.cert_der.clone()]
        } else {
            vec![
                cert.cert_der.clone(),
                self.intermediate.cert_der.clone(),
                self.root.cert_der.clone(),
            ]
        }
    }

    /// [`Self::chain_der`] as concatenated `CERTIFICATE` PEM blocks.
    pub fn chain_pem(&self, cert: &CertKey) -> String {
        self.chain_der(cert)
            .iter()
            .map(|der| pem_encode("CERTIFICATE", der))
            .collect()
    }

    /// Every certificate of the PKI with a short name, for tests that loop over all of them.
    pub fn all(&self) -> Vec<(&'static str, &CertKey)> {
        vec![
            ("root", &self.root),
            ("intermediate", &self.intermediate),
            ("code_signing", &self.code_signing),
            ("code_signing_no_ski", &self.code_signing_no_ski),
            ("timestamping", &self.timestamping),
            ("repository", &self.repository),
            ("self_signed", &self.self_signed),
            ("expired", &self.expired),
            ("not_yet_valid", &self.not_yet_valid),
            ("wrong_eku", &self.wrong_eku),
            ("rsa1024", &self.rsa1024),
            ("sha1_signed", &self.sha1_signed),
            ("lifetime_signing", &self.lifetime_signing),
            ("no_eku", &self.no_eku),
        ]
    }
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TestPki");
        for (name, cert) in self.all() {
            s.field(name, cert);
        }
        s.finish()
    }
}

/// The process-wide test PKI, generated on first use.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(generate)
}

/// A new code-signing leaf with the caller's validity period, issued by the same intermediate
/// as [`pki`] (so it chains to the same root), with a fresh RSA-2048 key, a serial no other
/// test certificate has, and otherwise the profile of [`TestPki::code_signing`].
pub fn code_signing_cert_with_validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertKey {
    let pki = pki();
    let issuer = Issuer::new(
        intermediate_params(),
        load_key(&pki.intermediate.key_pkcs8_der),
    );
    let mut params = leaf_params(
        "signet test code signing (custom validity)",
        NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
    );
    params.not_before = not_before;
    params.not_after = not_after;
    issue(&params, new_rsa_2048_key(), &issuer)
}

/// Which CA issues [`code_signing_cert_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuingCa {
    /// The PKI's intermediate (the one [`pki`]'s leaves come from).
    Intermediate,
    /// A second intermediate under the same root, with the **same name** as the first but its
    /// own key: a CA that trust by name alone could not tell apart.
    LookAlike,
}

/// A new code-signing leaf with subject `O=organization, CN=common_name`, a fresh RSA-2048 key
/// and a unique serial, issued by `ca`. Returns it with its chain (leaf, issuing CA, root) as
/// concatenated PEM, for `signet sign --certificate-path`.
pub fn code_signing_cert_for(
    organization: &str,
    common_name: &str,
    ca: IssuingCa,
) -> (CertKey, String) {
    let pki = pki();
    let ca_cert = match ca {
        IssuingCa::Intermediate => &pki.intermediate,
        IssuingCa::LookAlike => look_alike_intermediate(),
    };
    let issuer = Issuer::new(intermediate_params(), load_key(&ca_cert.key_pkcs8_der));
    let mut params = leaf_params(common_name, NEXT_SERIAL.fetch_add(1, Ordering::Relaxed));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let leaf = issue(&params, new_rsa_2048_key(), &issuer);
    let chain = [&leaf.cert_der, &ca_cert.cert_der, &pki.root.cert_der]
        .iter()
        .map(|der| pem_encode("CERTIFICATE", der))
        .collect();
    (leaf, chain)
}

/// The second intermediate of [`IssuingCa::LookAlike`], made once per process.
fn look_alike_intermediate() -> &'static CertKey {
    static CA: OnceLock<CertKey> = OnceLock::new();
    CA.get_or_init(|| {
        let pki = pki();
        let root_issuer = Issuer::new(root_params(), load_key(&pki.root.key_pkcs8_der));
        issue(&intermediate_params(), new_rsa_2048_key(), &root_issuer)
    })
}

fn generate() -> TestPki {
    // 13 RSA-2048 keys: root, intermediate and eleven leaves (rsa1024 comes from openssl).
    let mut keys = generate_rsa_2048_keys(13).into_iter();
    let mut key = move || keys.next().expect("13 keys were generated");

    let root_key = key();
    let root_params = root_params();
    let root = CertKey {
        cert_der: root_params
            .self_signed(&root_key)
            .expect("self-signing the test root")
            .der()
            .to_vec(),
        key_pkcs8_der: root_key.serialize_der(),
    };
    let root_issuer = Issuer::new(root_params, root_key);

    let intermediate_key = key();
    let intermediate = issue(&intermediate_params(), intermediate_key, &root_issuer);
    let issuer = Issuer::new(intermediate_params(), load_key(&intermediate.key_pkcs8_der));

    let code_signing = issue(
        &leaf_params("signet test code signing", 0x10),
        key(),
        &issuer,
    );

    let code_signing_no_ski = {
        // rcgen writes the SubjectKeyIdentifier together with basicConstraints; `NoCa` drops
        // both, so basicConstraints is put back by hand to keep the leaf otherwise identical.
        let mut params = leaf_params("signet test code signing (no SKI)", 0x11);
        params.is_ca = IsCa::NoCa;
        let mut bc = CustomExtension::from_oid_content(
            OID_BASIC_CONSTRAINTS,
            BASIC_CONSTRAINTS_NOT_CA.to_vec(),
        );
        bc.set_criticality(true);
        params.custom_extensions.push(bc);
        issue(&params, key(), &issuer)
    };

    let timestamping = {
        // rcgen always writes EKU non-critical, and RFC 3161 §2.3 (and OpenSSL's TSA code)
        // want exactly one critical timeStamping EKU: write the extension by hand.
        let mut params = leaf_params("signet test timestamping", 0x12);
        params.extended_key_usages.clear();
        let mut eku =
            CustomExtension::from_oid_content(OID_EXT_KEY_USAGE, EKU_TIME_STAMPING_ONLY.to_vec());
        eku.set_criticality(true);
        params.custom_extensions.push(eku);
        issue(&params, key(), &issuer)
    };

    let repository = issue(
        &leaf_params("signet test repository signing", 0x13),
        key(),
        &issuer,
    );

    let self_signed = {
        let mut params = leaf_params("signet test self-signed", 0x14);
        params.use_authority_key_identifier_extension = false;
        let key = key();
        CertKey {
            cert_der: params
                .self_signed(&key)
                .expect("self-signing the self_signed leaf")
                .der()
                .to_vec(),
            key_pkcs8_der: key.serialize_der(),
        }
    };

    let expired = {
        let mut params = leaf_params("signet test expired", 0x15);
        params.not_before = datetime!(2001-01-01 0:00 UTC);
        params.not_after = datetime!(2002-01-01 0:00 UTC);
        issue(&params, key(), &issuer)
    };

    let not_yet_valid = {
        let mut params = leaf_params("signet test not yet valid", 0x16);
        params.not_before = datetime!(2090-01-01 0:00 UTC);
        params.not_after = datetime!(2095-01-01 0:00 UTC);
        issue(&params, key(), &issuer)
    };

    let wrong_eku = {
        let mut params = leaf_params("signet test wrong EKU", 0x17);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        issue(&params, key(), &issuer)
    };

    let rsa1024 = rsa1024_leaf(&leaf_params("signet test RSA-1024", 0x18), &issuer);

    let sha1_signed = sha1_signed_leaf(
        &leaf_params("signet test SHA-1 signed", 0x19),
        key(),
        &intermediate,
    );

    let lifetime_signing = {
        let mut params = leaf_params("signet test lifetime signing", 0x1a);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::Other(
                OID_LIFETIME_SIGNING.to_vec(),
            ));
        issue(&params, key(), &issuer)
    };

    let no_eku = {
        let mut params = leaf_params("signet test no EKU", 0x1b);
        params.extended_key_usages.clear();
        issue(&params, key(), &issuer)
    };

    TestPki {
        root,
        intermediate,
        code_signing,
        code_signing_no_ski,
        timestamping,
        repository,
        self_signed,
        expired,
        not_yet_valid,
        wrong_eku,
        rsa1024,
        sha1_signed,
        lifetime_signing,
        no_eku,
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn serial(n: u64) -> SerialNumber {
    SerialNumber::from_slice(&n.to_be_bytes())
}

fn ca_params(common_name: &str, serial_number: u64, is_ca: IsCa) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.serial_number = Some(serial(serial_number));
    params.not_before = datetime!(2000-01-01 0:00 UTC);
    params.not_after = datetime!(2099-12-31 23:59:59 UTC);
    params.is_ca = is_ca;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn root_params() -> CertificateParams {
    ca_params(ROOT_CN, 1, IsCa::Ca(BasicConstraints::Unconstrained))
}

/// Deterministic, so that [`code_signing_cert_with_validity`] can rebuild the same issuer from
/// the stored key instead of keeping an rcgen `Issuer` in a static.
fn intermediate_params() -> CertificateParams {
    let mut params = ca_params(
        INTERMEDIATE_CN,
        2,
        IsCa::Ca(BasicConstraints::Constrained(0)),
    );
    params.use_authority_key_identifier_extension = true;
    params
}

/// The code-signing leaf profile every leaf starts from.
fn leaf_params(common_name: &str, serial_number: u64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.serial_number = Some(serial(serial_number));
    params.not_before = datetime!(2020-01-01 0:00 UTC);
    params.not_after = datetime!(2090-01-01 0:00 UTC);
    // `ExplicitNoCa` makes rcgen write basicConstraints CA:FALSE and the SubjectKeyIdentifier.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.use_authority_key_identifier_extension = true;
    params
}

fn issue(params: &CertificateParams, key: KeyPair, issuer: &Issuer<'_, KeyPair>) -> CertKey {
    let cert = params
        .signed_by(&key, issuer)
        .expect("issuing a test certificate");
    CertKey {
        cert_der: cert.der().to_vec(),
        key_pkcs8_der: key.serialize_der(),
    }
}

fn new_rsa_2048_key() -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
        .expect("RSA-2048 key generation (needs rcgen's aws_lc_rs backend)")
}

fn load_key(pkcs8_der: &[u8]) -> KeyPair {
    let key = KeyPair::try_from(pkcs8_der).expect("loading a test RSA key");
    assert!(
        key.is_compatible(&PKCS_RSA_SHA256),
        "test keys sign with sha256WithRSAEncryption"
    );
    key
}

/// Generates `count` RSA-2048 keys, spread over the available cores since this is most of the
/// PKI's cost. Keys cross threads as PKCS#8 bytes because rcgen's `KeyPair` is not `Send`.
fn generate_rsa_2048_keys(count: usize) -> Vec<KeyPair> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, count.max(1));
    let ders: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let share = count / workers + usize::from(w < count % workers);
                scope.spawn(move || {
                    (0..share)
                        .map(|_| new_rsa_2048_key().serialize_der())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("RSA key generation thread panicked"))
            .collect()
    });
    ders.iter().map(|der| load_key(der)).collect()
}

/// An RSA public key given as its PKCS#1 `RSAPublicKey` DER, for subject keys rcgen (through
/// aws-lc-rs, which refuses RSA keys under 2048 bits) cannot load as a `KeyPair`.
struct RsaPublicKey(Vec<u8>);

impl PublicKeyData for RsaPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        // Only used to write the SubjectPublicKeyInfo algorithm: rsaEncryption with NULL.
        &PKCS_RSA_SHA256
    }
}

/// A leaf whose subject key is RSA-1024, made by `openssl genpkey` because neither rcgen nor
/// aws-lc-rs generates keys that small; rcgen only needs the public half to issue it.
fn rsa1024_leaf(params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> CertKey {
    let dir = tempfile::tempdir().expect("temporary directory for openssl");
    let key_path = dir.path().join("rsa1024.key.der");
    openssl([
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "RSA".as_ref(),
        "-pkeyopt".as_ref(),
        "rsa_keygen_bits:1024".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
        "-out".as_ref(),
        key_path.as_os_str(),
    ]);
    let key_pkcs8_der = std::fs::read(&key_path).expect("reading the RSA-1024 key");
    let public_pkcs1_der = openssl([
        "rsa".as_ref(),
        "-inform".as_ref(),
        "DER".as_ref(),
        "-in".as_ref(),
        key_path.as_os_str(),
        "-RSAPublicKey_out".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
    ]);
    let cert = params
        .signed_by(&RsaPublicKey(public_pkcs1_der), issuer)
        .expect("issuing the RSA-1024 leaf");
    CertKey {
        cert_der: cert.der().to_vec(),
        key_pkcs8_der,
    }
}

/// A leaf signed with sha1WithRSAEncryption, which rcgen cannot produce: rcgen makes a
/// template certificate and `openssl x509 -sha1` re-signs it with the intermediate's key,
/// keeping subject, key, serial and dates and writing the leaf extensions from an extension
/// file.
fn sha1_signed_leaf(params: &CertificateParams, key: KeyPair, intermediate: &CertKey) -> CertKey {
    // OpenSSL 3.0's `x509 -CA` only re-signs a self-signed input; it replaces the issuer name
    // and the signature and, with `-clrext`, the extensions.
    let self_signed = params
        .self_signed(&key)
        .expect("self-signing the SHA-1 leaf's template");
    let dir = tempfile::tempdir().expect("temporary directory for openssl");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("leaf.pem"), self_signed.pem()).expect("writing leaf.pem");
    std::fs::write(path("ca.pem"), intermediate.cert_pem()).expect("writing ca.pem");
    std::fs::write(path("ca.key"), intermediate.key_pem()).expect("writing ca.key");
    std::fs::write(
        path("ext.cnf"),
        "[leaf]\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = codeSigning\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n",
    )
    .expect("writing ext.cnf");
    let serial = params
        .serial_number
        .as_ref()
        .expect("leaf params carry a serial")
        .to_bytes()
        .iter()
        .fold(String::from("0x"), |s, b| s + &format!("{b:02X}"));
    let cert_der = openssl([
        "x509".as_ref(),
        "-in".as_ref(),
        path("leaf.pem").as_os_str(),
        "-CA".as_ref(),
        path("ca.pem").as_os_str(),
        "-CAkey".as_ref(),
        path("ca.key").as_os_str(),
        "-sha1".as_ref(),
        "-preserve_dates".as_ref(),
        "-set_serial".as_ref(),
        serial.as_ref(),
        "-clrext".as_ref(),
        "-extfile".as_ref(),
        path("ext.cnf").as_os_str(),
        "-extensions".as_ref(),
        "leaf".as_ref(),
        "-outform".as_ref(),
        "DER".as_ref(),
    ]);
    CertKey {
        cert_der,
        key_pkcs8_der: key.serialize_der(),
    }
}

/// How [`timestamping_cert_with`] departs from [`TestPki::timestamping`]; the default is that
/// profile (critical timeStamping EKU alone, RSA-2048, valid 2020-01-01 to 2090-01-01).
#[derive(Clone, Debug)]
pub struct TimestampingProfile {
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whether the timeStamping EKU is marked critical, as RFC 3161 §2.3 requires.
    pub eku_critical: bool,
    /// An RSA-1024 subject key (made by `openssl`) instead of RSA-2048.
    pub rsa_1024: bool,
}

impl Default for TimestampingProfile {
    fn default() -> Self {
        Self {
            not_before: datetime!(2020-01-01 0:00 UTC),
            not_after: datetime!(2090-01-01 0:00 UTC),
            eku_critical: true,
            rsa_1024: false,
        }
    }
}

/// A new TSA leaf issued by the same intermediate as [`pki`], with a fresh key and a serial
/// no other test certificate has, shaped by `profile` (for the timestamp authority's refusals
/// and the client's validity checks).
pub fn timestamping_cert_with(profile: &TimestampingProfile) -> CertKey {
    let pki = pki();
    let issuer = Issuer::new(
        intermediate_params(),
        load_key(&pki.intermediate.key_pkcs8_der),
    );
    let mut params = leaf_params(
        "signet test timestamping (custom)",
        NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
    );
    params.not_before = profile.not_before;
    params.not_after = profile.not_after;
    if profile.eku_critical {
        params.extended_key_usages.clear();
        let mut eku =
            CustomExtension::from_oid_content(OID_EXT_KEY_USAGE, EKU_TIME_STAMPING_ONLY.to_vec());
        eku.set_criticality(true);
        params.custom_extensions.push(eku);
    } else {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::TimeStamping];
    }
    if profile.rsa_1024 {
        rsa1024_leaf(&params, &issuer)
    } else {
        issue(&params, new_rsa_2048_key(), &issuer)
    }
}
