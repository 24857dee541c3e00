//! A SoftHSM 2 fixture for tests (feature `softhsm-fixture`; never in a release build).
//!
//! Each [`SoftHsm`] is a private token directory with its own `softhsm2.conf`; commands
//! (`softhsm2-util`, `signet`) get it through `SOFTHSM2_CONF`. SoftHSM reads that variable
//! once per process and this workspace forbids `unsafe` (so no `set_var`), so key generation
//! runs in a child: the test executable itself, re-run on the test named
//! [`CHILD_TEST_NAME`], which each test binary using this fixture defines as
//! `#[test] fn softhsm_child() { signet_pkcs11::softhsm::child_entry() }`.

// A fixture that cannot set up its token should stop the test at once with a message, so
// panicking is the right shape here (as in signet-test-support).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, CertificateType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use der::Encode;

/// The name of the test that [`child_entry`] must be called from.
pub const CHILD_TEST_NAME: &str = "softhsm_child";

/// The security officer PIN of every fixture token.
pub const SO_PIN: &str = "12345678";

const CHILD_VAR: &str = "SIGNET_SOFTHSM_CHILD";

/// Where Debian, Ubuntu, Fedora and Homebrew put the module.
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM module on this machine (`SIGNET_SOFTHSM_MODULE` overrides the search).
pub fn find_module() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIGNET_SOFTHSM_MODULE") {
        return Some(PathBuf::from(p));
    }
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn util_present() -> bool {
    Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A key to generate on a fixture token.
#[derive(Clone, Debug)]
pub struct KeySpec {
    /// Token label.
    pub token: String,
    /// User PIN.
    pub pin: String,
    /// CKA_LABEL of both halves.
    pub label: String,
    /// CKA_ID of both halves.
    pub id: Vec<u8>,
    /// Modulus size.
    pub bits: u64,
    /// CKA_ALLOWED_MECHANISMS of the private key (`None`: unrestricted). Names:
    /// `RSA_PKCS`, `SHA256_RSA_PKCS`, `SHA384_RSA_PKCS`, `SHA512_RSA_PKCS`, `RSA_PKCS_PSS`.
    pub allowed: Option<Vec<String>>,
    /// CKA_SIGN of the private key.
    pub sign: bool,
    /// CKA_ALWAYS_AUTHENTICATE of the private key (a PIN for every signature).
    pub always_authenticate: bool,
}

impl KeySpec {
    /// An RSA key allowed to sign with anything.
    pub fn rsa(token: &str, pin: &str, label: &str, id: &[u8], bits: u64) -> Self {
        Self {
            token: token.into(),
            pin: pin.into(),
            label: label.into(),
            id: id.to_vec(),
            bits,
            allowed: None,
            sign: true,
            always_authenticate: false,
        }
    }
}

/// A private SoftHSM token directory.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    module: PathBuf,
}

impl SoftHsm {
    /// Creates the directory and its `softhsm2.conf`. When SoftHSM is missing it runs
    /// `scripts/install-deps.sh` once; if it is still missing, returns `None` after a loud
    /// message on stderr — except under CI (`CI` set), where it panics, because CI installs
    /// SoftHSM and a skipped hardware-key test there would hide a broken set-up.
    pub fn new() -> Option<Self> {
        if find_module().is_none() || !util_present() {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-deps.sh");
            let _ = Command::new("bash").arg(&script).status();
        }
        let Some(module) = find_module().filter(|_| util_present()) else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "SoftHSM 2 (Debian softhsm2) is not installed; scripts/install-deps.sh should have installed it"
                );
            }
            eprintln!(
                "\n################################################################\n\
                 SKIPPED: SoftHSM 2 is not installed and scripts/install-deps.sh\n\
                 could not install it; the PKCS#11 tests did NOT run.\n\
                 ################################################################\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary SoftHSM directory");
        std::fs::create_dir(dir.path().join("tokens")).expect("token directory");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        Some(Self { dir, module })
    }

    /// The module path, for `--pkcs11-module`.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The config file, the value of `SOFTHSM2_CONF` for every command using this token set.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// Initialises a token in the next free slot with [`SO_PIN`] and `user_pin`.
    pub fn init_token(&self, label: &str, user_pin: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", self.conf())
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                user_pin,
            ])
            .output()
            .expect("running softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Generates an RSA key pair on the token (C_GenerateKeyPair: the private key is
    /// created sensitive and non-extractable) and returns its public key as PKCS#1
    /// `RSAPublicKey` DER.
    pub fn generate_rsa(&self, spec: &KeySpec) -> Vec<u8> {
        let out = self.dir.path().join(format!("{}.pub.der", spec.label));
        let allowed = spec.allowed.as_ref().map(|a| a.join(","));
        self.child(&[
            ("op", "keygen"),
            ("token", &spec.token),
            ("pin", &spec.pin),
            ("label", &spec.label),
            ("id", &hex(&spec.id)),
            ("bits", &spec.bits.to_string()),
            ("allowed", allowed.as_deref().unwrap_or("-")),
            ("sign", if spec.sign { "1" } else { "0" }),
            ("always", if spec.always_authenticate { "1" } else { "0" }),
            ("out", &out.display().to_string()),
        ]);
        std::fs::read(&out).expect("child wrote the public key")
    }

    /// Generates an Ed25519 key pair on the token (`CKM_EC_EDWARDS_KEY_PAIR_GEN`; the private
    /// key sensitive and non-extractable) and returns its CKA_EC_POINT as the token stores it.
    pub fn generate_ed25519(&self, token: &str, pin: &str, label: &str, id: &[u8]) -> Vec<u8> {
        let out = self.dir.path().join(format!("{label}.ec-point"));
        self.child(&[
            ("op", "keygen-ed25519"),
            ("token", token),
            ("pin", pin),
            ("label", label),
            ("id", &hex(id)),
            ("out", &out.display().to_string()),
        ]);
        std::fs::read(&out).expect("child wrote the public key")
    }

    /// Stores a DER certificate on the token as a CKO_CERTIFICATE with `label` and `id`.
    pub fn import_certificate(&self, token: &str, pin: &str, label: &str, id: &[u8], der: &[u8]) {
        let path = self.dir.path().join(format!("{label}.import.der"));
        std::fs::write(&path, der).expect("writing the certificate for the child");
        self.child(&[
            ("op", "cert"),
            ("token", token),
            ("pin", pin),
            ("label", label),
            ("id", &hex(id)),
            ("in", &path.display().to_string()),
        ]);
    }

    fn child(&self, params: &[(&str, &str)]) {
        let encoded: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.run_child(CHILD_TEST_NAME, &[(CHILD_VAR, encoded.join("\n"))]);
    }

    /// Re-runs this test executable on the test `test` alone, with `SOFTHSM2_CONF` pointing
    /// at this token set and `env` added, so that the child can load SoftHSM in-process.
    /// The child test must return at once unless [`in_child`] is true, and print
    /// `SOFTHSM-CHILD-OK` when it finishes. Panics with the child's output if it fails;
    /// returns its standard output.
    pub fn run_child(&self, test: &str, env: &[(&str, String)]) -> String {
        let exe = std::env::current_exe().expect("test executable");
        let out = Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env("SOFTHSM2_CONF", self.conf())
            .env("SIGNET_SOFTHSM_MODULE", &self.module)
            .env(IN_CHILD_VAR, "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("re-running the test executable");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && stdout.contains("SOFTHSM-CHILD-OK"),
            "SoftHSM child test {test} failed (is it defined in this test binary?):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

const IN_CHILD_VAR: &str = "SIGNET_SOFTHSM_IN_CHILD";

/// Whether this process is a child started by [`SoftHsm::run_child`].
pub fn in_child() -> bool {
    std::env::var_os(IN_CHILD_VAR).is_some()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn mechanism(name: &str) -> MechanismType {
    match name {
        "RSA_PKCS" => MechanismType::RSA_PKCS,
        "SHA256_RSA_PKCS" => MechanismType::SHA256_RSA_PKCS,
        "SHA384_RSA_PKCS" => MechanismType::SHA384_RSA_PKCS,
        "SHA512_RSA_PKCS" => MechanismType::SHA512_RSA_PKCS,
        "RSA_PKCS_PSS" => MechanismType::RSA_PKCS_PSS,
        other => panic!("unknown mechanism name {other}"),
    }
}

/// The body of the child test: does nothing unless the fixture started this process.
pub fn child_entry() {
    let Ok(encoded) = std::env::var(CHILD_VAR) else {
        return;
    };
    let params: std::collections::HashMap<&str, &str> =
        encoded.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| {
        *params
            .get(k)
            .unwrap_or_else(|| panic!("child parameter {k}"))
    };
    let module = Pkcs11::new(find_module().expect("module")).expect("loading SoftHSM");
    module
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = module
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| module.get_token_info(*s).expect("token info").label() == get("token"))
        .expect("the token");
    let session = module.open_rw_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::from(get("pin").to_owned())))
        .expect("login");
    let label = get("label").as_bytes().to_vec();
    let id = unhex(get("id"));
    match get("op") {
        "keygen" => {
            let bits: u64 = get("bits").parse().expect("bits");
            let public_template = [
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::ModulusBits(bits.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                Attribute::Label(label.clone()),
                Attribute::Id(id.clone()),
            ];
            let mut private_template = vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(get("sign") == "1"),
                Attribute::Label(label),
                Attribute::Id(id),
            ];
            if get("always") == "1" {
                private_template.push(Attribute::AlwaysAuthenticate(true));
            }
            if get("allowed") != "-" {
                private_template.push(Attribute::AllowedMechanisms(
                    get("allowed").split(',').map(mechanism).collect(),
                ));
            }
            let (public, _private) = session
                .generate_key_pair(
                    &Mechanism::RsaPkcsKeyPairGen,
                    &public_template,
                    &private_template,
                )
                .expect("C_GenerateKeyPair");
            let attrs = session
                .get_attributes(
                    public,
                    &[
                        cryptoki::object::AttributeType::Modulus,
                        cryptoki::object::AttributeType::PublicExponent,
                    ],
                )
                .expect("public key attributes");
            let (mut m, mut e) = (Vec::new(), Vec::new());
            for a in attrs {
                match a {
                    Attribute::Modulus(v) => m = v,
                    Attribute::PublicExponent(v) => e = v,
                    _ => {}
                }
            }
            let der = pkcs1::RsaPublicKey {
                modulus: pkcs1::UintRef::new(&m).expect("modulus"),
                public_exponent: pkcs1::UintRef::new(&e).expect("exponent"),
            }
            .to_der()
            .expect("RSAPublicKey DER");
            std::fs::write(get("out"), der).expect("writing the public key");
        }
        "keygen-ed25519" => {
            // CKA_EC_PARAMS: the DER OID id-Ed25519 (1.3.101.112).
            let public_template = [
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::EcParams(vec![0x06, 0x03, 0x2B, 0x65, 0x70]),
                Attribute::Label(label.clone()),
                Attribute::Id(id.clone()),
            ];
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Label(label),
                Attribute::Id(id),
            ];
            let (public, _private) = session
                .generate_key_pair(
                    &Mechanism::EccEdwardsKeyPairGen,
                    &public_template,
                    &private_template,
                )
                .expect("C_GenerateKeyPair (Ed25519)");
            let attrs = session
                .get_attributes(public, &[cryptoki::object::AttributeType::EcPoint])
                .expect("public key attributes");
            let point = attrs
                .into_iter()
                .find_map(|a| match a {
                    Attribute::EcPoint(p) => Some(p),
                    _ => None,
                })
                .expect("CKA_EC_POINT");
            std::fs::write(get("out"), point).expect("writing the public key");
        }
        "cert" => {
            let der = std::fs::read(get("in")).expect("certificate");
            // SoftHSM insists on CKA_SUBJECT for an X.509 certificate object.
            let subject = {
                use der::Decode;
                x509_cert::Certificate::from_der(&der)
                    .expect("certificate DER")
                    .tbs_certificate()
                    .subject()
                    .to_der()
                    .expect("subject DER")
            };
            session
                .create_object(&[
                    Attribute::Class(ObjectClass::CERTIFICATE),
                    Attribute::CertificateType(CertificateType::X_509),
                    Attribute::Token(true),
                    Attribute::Label(label),
                    Attribute::Id(id),
                    Attribute::Subject(subject),
                    Attribute::Value(der),
                ])
                .expect("C_CreateObject");
        }
        other => panic!("unknown child operation {other}"),
    }
    println!("SOFTHSM-CHILD-OK");
}

/// What a certificate from [`TokenPki::issue`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// EKU codeSigning (author and repository signatures).
    CodeSigning,
    /// EKU timeStamping alone, critical (RFC 3161 §2.3).
    Timestamping,
}

/// A test root CA (RSA-2048, generated in memory) that issues certificates for public keys
/// held on a token.
pub struct TokenPki {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The root certificate, DER.
    pub root_der: Vec<u8>,
    next_serial: std::sync::atomic::AtomicU64,
}

/// An RSA public key as PKCS#1 `RSAPublicKey` DER, for rcgen.
struct Pkcs1Public(Vec<u8>);

impl rcgen::PublicKeyData for Pkcs1Public {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        // Only selects the SubjectPublicKeyInfo algorithm: rsaEncryption with NULL.
        &rcgen::PKCS_RSA_SHA256
    }
}

fn dn(common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "signet pkcs11 tests");
    dn.push(rcgen::DnType::CommonName, common_name);
    dn
}

impl TokenPki {
    /// A new root, valid 2000–2099.
    pub fn new() -> Self {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .expect("RSA-2048 root key");
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = dn("signet pkcs11 test root CA");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[1]));
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let root_der = params.self_signed(&key).expect("root").der().to_vec();
        Self {
            issuer: rcgen::Issuer::new(params, key),
            root_der,
            next_serial: std::sync::atomic::AtomicU64::new(0x100),
        }
    }

    /// The root as PEM, for `--trust-roots`.
    pub fn root_pem(&self) -> String {
        pem("CERTIFICATE", &self.root_der)
    }

    /// Issues a leaf for `public_pkcs1_der` (as [`SoftHsm::generate_rsa`] returns it),
    /// valid 2020–2090, with digitalSignature and the profile's EKU.
    pub fn issue(&self, public_pkcs1_der: &[u8], common_name: &str, profile: Profile) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = dn(common_name);
        let serial = self
            .next_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial.to_be_bytes()));
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        match profile {
            Profile::CodeSigning => {
                params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
            }
            Profile::Timestamping => {
                // rcgen writes EKU non-critical; RFC 3161 wants one critical timeStamping EKU.
                // SEQUENCE { OID 1.3.6.1.5.5.7.3.8 }
                let eku = vec![
                    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
                ];
                let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 37], eku);
                ext.set_criticality(true);
                params.custom_extensions.push(ext);
            }
        }
        params
            .signed_by(&Pkcs1Public(public_pkcs1_der.to_vec()), &self.issuer)
            .expect("issuing a token certificate")
            .der()
            .to_vec()
    }
}

impl Default for TokenPki {
    fn default() -> Self {
        Self::new()
    }
}

/// A PEM block.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
