//! [`Pkcs11Signer`]: open a token key and sign with it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use signet_common::HashAlgorithm;

use crate::cert::{self, Origin};
use crate::error::Error;
use crate::{MAX_CERTIFICATE_FILE_LEN, MAX_OBJECTS, RsaPublic};

/// A token's user PIN. Zeroized on drop (it is a `secrecy` secret inside); `Debug` prints
/// nothing of it, and it has no `Display`.
pub struct Pin(AuthPin);

impl Pin {
    /// Wraps a PIN, taking ownership so that no other copy is left behind by this crate.
    pub fn new(pin: String) -> Self {
        Self(AuthPin::from(pin))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// How the private key is named on the token (`--pkcs11-key`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySelector {
    /// `label:TEXT`: by CKA_LABEL only.
    Label(String),
    /// `id:HEX`: by CKA_ID only.
    Id(Vec<u8>),
    /// Anything else: by CKA_LABEL, and when no key has that label and the text is hex
    /// (colons allowed, as `pkcs11-tool` prints ids), by CKA_ID.
    LabelOrId(String),
}

impl KeySelector {
    /// Parses the `--pkcs11-key` value. Fails only on `id:` followed by something that is
    /// not hex.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(label) = text.strip_prefix("label:") {
            Ok(Self::Label(label.to_owned()))
        } else if let Some(id) = text.strip_prefix("id:") {
            parse_hex(id)
                .map(Self::Id)
                .ok_or_else(|| format!("'{id}' is not a hexadecimal key id"))
        } else {
            Ok(Self::LabelOrId(text.to_owned()))
        }
    }

    fn matches(&self, label: &[u8], id: &[u8]) -> bool {
        match self {
            Self::Label(l) => label == l.as_bytes(),
            Self::Id(i) => id == i.as_slice(),
            Self::LabelOrId(l) => label == l.as_bytes(),
        }
    }

    fn fallback_id(&self) -> Option<Vec<u8>> {
        match self {
            Self::LabelOrId(text) => parse_hex(text),
            _ => None,
        }
    }
}

impl fmt::Display for KeySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(l) => write!(f, "label:{l}"),
            Self::Id(i) => write!(f, "id:{}", hex(i)),
            Self::LabelOrId(t) => f.write_str(t),
        }
    }
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which token key to open.
#[derive(Clone, Debug)]
pub struct TokenKey {
    /// The PKCS#11 module (shared library) path.
    pub module: PathBuf,
    /// The token label (CKA_LABEL of the token, as `softhsm2-util --show-slots` prints it).
    pub token: String,
    /// The private key.
    pub key: KeySelector,
}

/// Where the certificate chain comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CertificateSource {
    /// A PEM bundle (leaf and issuers, any order) or one DER certificate.
    File(PathBuf),
    /// The token's X.509 certificate objects: the one whose public key is the key's (the one
    /// with the key's CKA_ID when several are), then its issuers found on the token.
    Token,
}

/// How one hash algorithm is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// `CKM_SHAxxx_RSA_PKCS`: the token hashes and pads.
    HashAndSign(MechanismType),
    /// `CKM_RSA_PKCS` over a DigestInfo built here.
    DigestInfo,
    /// Neither is available.
    Unsupported,
}

/// DER DigestInfo prefixes (RFC 8017 §9.2, note 1): SEQUENCE { AlgorithmIdentifier { hash
/// OID, NULL }, OCTET STRING <digest> } up to the digest bytes.
const DIGEST_INFO_SHA256: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: [u8; 19] = [
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const DIGEST_INFO_SHA512: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

fn hash_and_sign(alg: HashAlgorithm) -> Option<(MechanismType, &'static [u8])> {
    match alg {
        HashAlgorithm::Sha256 => Some((MechanismType::SHA256_RSA_PKCS, &DIGEST_INFO_SHA256)),
        HashAlgorithm::Sha384 => Some((MechanismType::SHA384_RSA_PKCS, &DIGEST_INFO_SHA384)),
        HashAlgorithm::Sha512 => Some((MechanismType::SHA512_RSA_PKCS, &DIGEST_INFO_SHA512)),
        _ => None,
    }
}

fn mechanism_for(mechanism: MechanismType) -> Option<Mechanism<'static>> {
    if mechanism == MechanismType::SHA256_RSA_PKCS {
        Some(Mechanism::Sha256RsaPkcs)
    } else if mechanism == MechanismType::SHA384_RSA_PKCS {
        Some(Mechanism::Sha384RsaPkcs)
    } else if mechanism == MechanismType::SHA512_RSA_PKCS {
        Some(Mechanism::Sha512RsaPkcs)
    } else if mechanism == MechanismType::RSA_PKCS {
        Some(Mechanism::RsaPkcs)
    } else {
        None
    }
}

/// A private key on a PKCS#11 token with its certificate chain.
///
/// Holds a logged-in session for its lifetime; dropping it closes the session (which logs
/// out when it is the application's last one).
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    /// Kept only for CKA_ALWAYS_AUTHENTICATE keys.
    context_pin: Option<Pin>,
    chain: Vec<Vec<u8>>,
    bits: usize,
    plans: [Plan; 3],
    token: String,
    description: String,
    // Last: the module stays loaded while the session exists (the session also holds it).
    _module: Pkcs11,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.token)
            .field("key", &self.description)
            .field("key_bits", &self.bits)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn token_error(operation: &'static str) -> impl Fn(CkError) -> Error {
    move |e| Error::Token {
        operation,
        reason: short_reason(&e),
    }
}

/// cryptoki's Display of a return value is a paragraph of the specification; the constant's
/// name is what a user can search for.
pub(crate) fn short_reason(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function} returned {rv:?}"),
        other => other.to_string(),
    }
}

fn rv(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

pub(crate) struct KeyInfo {
    pub(crate) handle: ObjectHandle,
    pub(crate) label: Vec<u8>,
    pub(crate) id: Vec<u8>,
}

impl KeyInfo {
    pub(crate) fn describe(&self) -> String {
        let label = String::from_utf8_lossy(&self.label);
        if self.id.is_empty() {
            format!("label '{label}'")
        } else {
            format!("label '{label}' (id {})", hex(&self.id))
        }
    }
}

impl Pkcs11Signer {
    /// Opens the key: loads the module, finds the token, logs in, finds the key, checks it
    /// (RSA, may sign, at least 2048 bits, a usable mechanism) and pairs it with its
    /// certificate chain (the leaf must carry the key's public key).
    ///
    /// `pin` may be `None` for a token that needs no login or has a protected
    /// authentication path (a PIN pad).
    pub fn open(
        which: &TokenKey,
        pin: Option<Pin>,
        certificates: &CertificateSource,
    ) -> Result<Self, Error> {
        let module = load_module(&which.module)?;
        let (slot, token_info) = find_token(&module, which)?;
        let token = which.token.clone();
        let session = module
            .open_ro_session(slot)
            .map_err(token_error("C_OpenSession"))?;
        if token_info.login_required() {
            login(&module, slot, &session, &token, pin.as_ref())?;
        }

        let key = find_key(&session, &token, &which.key)?;
        let description = key.describe();
        let attrs = session
            .get_attributes(
                key.handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::Sign,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::AllowedMechanisms,
                    AttributeType::AlwaysAuthenticate,
                ],
            )
            .map_err(token_error("C_GetAttributeValue"))?;
        let mut key_type = None;
        let mut can_sign = true;
        let (mut modulus, mut exponent) = (None, None);
        let mut allowed: Option<Vec<MechanismType>> = None;
        let mut always_authenticate = false;
        for a in attrs {
            match a {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(s) => can_sign = s,
                Attribute::Modulus(m) => modulus = Some(m),
                Attribute::PublicExponent(e) => exponent = Some(e),
                // An empty list means no restriction (PKCS#11 3.0 §4.4).
                Attribute::AllowedMechanisms(m) if !m.is_empty() => allowed = Some(m),
                Attribute::AlwaysAuthenticate(b) => always_authenticate = b,
                _ => {}
            }
        }
        if key_type.is_some_and(|t| t != KeyType::RSA) {
            return Err(Error::NotRsa { key: description });
        }
        if !can_sign {
            return Err(Error::KeyCannotSign { key: description });
        }
        let public = match (modulus, exponent) {
            (Some(m), Some(e)) if !m.is_empty() => RsaPublic::new(&m, &e),
            _ => public_key_object(&session, &key.id)?.ok_or_else(|| Error::NoPublicKey {
                key: description.clone(),
            })?,
        };
        let bits = public.bits();
        if bits < 2048 {
            return Err(Error::KeyTooSmall {
                key: description,
                bits,
            });
        }

        let plans = plan_mechanisms(&module, slot, allowed.as_deref())?;
        if plans[0] == Plan::Unsupported {
            return Err(Error::UnsupportedMechanism {
                token,
                key: description,
                wanted: "CKM_SHA256_RSA_PKCS",
                usable: usable_rsa_mechanisms(&module, slot, allowed.as_deref()),
            });
        }

        let chain = match certificates {
            CertificateSource::File(path) => {
                let bytes = read_limited(path)?;
                let certs = cert::split_file(&bytes)?;
                cert::assemble(&public, certs, &[], Origin::File, &description)?
            }
            CertificateSource::Token => {
                let (certs, preferred) = token_certificates(&session, &key.id)?;
                if certs.is_empty() {
                    return Err(Error::NoCertificate {
                        token,
                        key: description,
                    });
                }
                cert::assemble(&public, certs, &preferred, Origin::Token, &description)?
            }
        };

        Ok(Self {
            session: Mutex::new(session),
            key: key.handle,
            context_pin: if always_authenticate { pin } else { None },
            chain,
            bits,
            plans,
            token,
            description,
            _module: module,
        })
    }

    /// Signs like [`signet_keys::Signer::sign`], with this crate's error.
    pub fn try_sign(&self, alg: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, Error> {
        let index = HashAlgorithm::ALL.iter().position(|&a| a == alg);
        let plan = index
            .and_then(|i| self.plans.get(i))
            .copied()
            .unwrap_or(Plan::Unsupported);
        let sign_error = |e: CkError| Error::Sign {
            key: self.description.clone(),
            reason: short_reason(&e),
        };
        // A poisoned lock only means another thread panicked mid-call; the session itself
        // holds no Rust invariant that could be broken, so go on with it.
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let (mechanism, data) = match (plan, hash_and_sign(alg)) {
            (Plan::HashAndSign(m), _) => (mechanism_for(m), message.to_vec()),
            (Plan::DigestInfo, Some((_, prefix))) => {
                let mut data = prefix.to_vec();
                data.extend_from_slice(&alg.digest(message));
                (Some(Mechanism::RsaPkcs), data)
            }
            _ => (None, Vec::new()),
        };
        let Some(mechanism) = mechanism else {
            return Err(Error::UnsupportedMechanism {
                token: self.token.clone(),
                key: self.description.clone(),
                wanted: match alg {
                    HashAlgorithm::Sha384 => "CKM_SHA384_RSA_PKCS",
                    HashAlgorithm::Sha512 => "CKM_SHA512_RSA_PKCS",
                    _ => "CKM_SHA256_RSA_PKCS",
                },
                usable: Vec::new(),
            });
        };
        if let Some(pin) = &self.context_pin {
            // CKA_ALWAYS_AUTHENTICATE: C_Login(CKU_CONTEXT_SPECIFIC) right after C_SignInit
            // (PKCS#11 3.0 §5.1.3). cryptoki's one-shot sign does init and sign in one call,
            // so this path signs in parts (C_SignUpdate + C_SignFinal).
            session
                .sign_init(&mechanism, self.key)
                .map_err(sign_error)?;
            session
                .login(UserType::ContextSpecific, Some(&pin.0))
                .map_err(sign_error)?;
            session.sign_update(&data).map_err(sign_error)?;
            return session.sign_final().map_err(sign_error);
        }
        session
            .sign(&mechanism, self.key, &data)
            .map_err(sign_error)
    }

    /// The token label.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The key's label and id, as messages print them.
    pub fn key_description(&self) -> &str {
        &self.description
    }
}

impl signet_keys::Signer for Pkcs11Signer {
    fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn sign(&self, alg: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, signet_keys::Error> {
        // The token's answer is kept (it never contains the PIN, which is not an input here).
        self.try_sign(alg, message)
            .map_err(|e| signet_keys::Error::Device {
                reason: e.to_string(),
            })
    }

    fn key_bits(&self) -> usize {
        self.bits
    }
}

pub(crate) fn load_module(path: &Path) -> Result<Pkcs11, Error> {
    let module_error = |reason: String| Error::ModuleLoad {
        path: path.to_owned(),
        reason,
    };
    let module = Pkcs11::new(path).map_err(|e| match e {
        CkError::LibraryLoading(inner) => module_error(inner.to_string()),
        other => module_error(format!("not a PKCS#11 module ({other})")),
    })?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => Ok(module),
        // Another signer in this process initialised the same module: share it.
        Err(e) if rv(&e) == Some(RvError::CryptokiAlreadyInitialized) => Ok(module),
        Err(e) => Err(module_error(format!(
            "C_Initialize failed: {}",
            short_reason(&e)
        ))),
    }
}

pub(crate) fn find_token(
    module: &Pkcs11,
    which: &TokenKey,
) -> Result<(Slot, cryptoki::slot::TokenInfo), Error> {
    let slots = module
        .get_slots_with_token()
        .map_err(token_error("C_GetSlotList"))?;
    let mut present = Vec::new();
    let mut found = Vec::new();
    for slot in slots {
        let Ok(info) = module.get_token_info(slot) else {
            continue;
        };
        if info.label() == which.token {
            found.push((slot, info));
        } else {
            present.push(format!("'{}'", info.label()));
        }
    }
    match found.len() {
        0 => Err(Error::TokenNotFound {
            label: which.token.clone(),
            module: which.module.clone(),
            present,
        }),
        1 => found.pop().ok_or_else(|| Error::TokenNotFound {
            label: which.token.clone(),
            module: which.module.clone(),
            present: Vec::new(),
        }),
        count => Err(Error::AmbiguousToken {
            label: which.token.clone(),
            count,
            serials: found
                .iter()
                .map(|(_, i)| i.serial_number().to_owned())
                .collect(),
        }),
    }
}

pub(crate) fn login(
    module: &Pkcs11,
    slot: Slot,
    session: &Session,
    token: &str,
    pin: Option<&Pin>,
) -> Result<(), Error> {
    let info = module
        .get_token_info(slot)
        .map_err(token_error("C_GetTokenInfo"))?;
    if info.user_pin_locked() {
        return Err(Error::PinLocked {
            token: token.to_owned(),
        });
    }
    let pin = match pin {
        Some(p) => Some(&p.0),
        // A PIN pad asks for the PIN itself (CKF_PROTECTED_AUTHENTICATION_PATH).
        None if info.protected_authentication_path() => None,
        None => {
            return Err(Error::PinRequired {
                token: token.to_owned(),
            });
        }
    };
    match session.login(UserType::User, pin) {
        Ok(()) => Ok(()),
        Err(e) => match rv(&e) {
            Some(RvError::UserAlreadyLoggedIn) => Ok(()),
            Some(RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid) => {
                let final_try = module
                    .get_token_info(slot)
                    .map(|i| i.user_pin_final_try())
                    .unwrap_or(false);
                let locked = module
                    .get_token_info(slot)
                    .map(|i| i.user_pin_locked())
                    .unwrap_or(false);
                if locked {
                    Err(Error::PinLocked {
                        token: token.to_owned(),
                    })
                } else {
                    Err(Error::WrongPin {
                        token: token.to_owned(),
                        final_try,
                    })
                }
            }
            Some(RvError::PinLocked) => Err(Error::PinLocked {
                token: token.to_owned(),
            }),
            Some(RvError::UserPinNotInitialized) => Err(Error::PinNotInitialized {
                token: token.to_owned(),
            }),
            _ => Err(token_error("C_Login")(e)),
        },
    }
}

pub(crate) fn find_key(
    session: &Session,
    token: &str,
    selector: &KeySelector,
) -> Result<KeyInfo, Error> {
    let handles = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .map_err(token_error("C_FindObjects"))?;
    let mut keys = Vec::new();
    for handle in handles.into_iter().take(MAX_OBJECTS) {
        let attrs = session
            .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
            .map_err(token_error("C_GetAttributeValue"))?;
        let mut info = KeyInfo {
            handle,
            label: Vec::new(),
            id: Vec::new(),
        };
        for a in attrs {
            match a {
                Attribute::Label(l) => info.label = l,
                Attribute::Id(i) => info.id = i,
                _ => {}
            }
        }
        keys.push(info);
    }
    let mut matches: Vec<usize> = (0..keys.len())
        .filter(|&i| {
            keys.get(i)
                .is_some_and(|k| selector.matches(&k.label, &k.id))
        })
        .collect();
    if matches.is_empty()
        && let Some(id) = selector.fallback_id()
    {
        matches = (0..keys.len())
            .filter(|&i| keys.get(i).is_some_and(|k| k.id == id))
            .collect();
    }
    match matches.as_slice() {
        [] => Err(Error::KeyNotFound {
            wanted: selector.to_string(),
            token: token.to_owned(),
            present: keys.iter().map(KeyInfo::describe).collect(),
        }),
        [one] => {
            let index = *one;
            keys.into_iter()
                .nth(index)
                .ok_or_else(|| Error::KeyNotFound {
                    wanted: selector.to_string(),
                    token: token.to_owned(),
                    present: Vec::new(),
                })
        }
        several => Err(Error::AmbiguousKey {
            wanted: selector.to_string(),
            token: token.to_owned(),
            matches: several
                .iter()
                .filter_map(|&i| keys.get(i))
                .map(KeyInfo::describe)
                .collect(),
        }),
    }
}

/// The public key object with the private key's CKA_ID, for tokens that do not expose the
/// modulus on the private key.
fn public_key_object(session: &Session, id: &[u8]) -> Result<Option<RsaPublic>, Error> {
    if id.is_empty() {
        return Ok(None);
    }
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(id.to_vec()),
        ])
        .map_err(token_error("C_FindObjects"))?;
    let Some(&handle) = handles.first() else {
        return Ok(None);
    };
    let attrs = session
        .get_attributes(
            handle,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(token_error("C_GetAttributeValue"))?;
    let (mut m, mut e) = (None, None);
    for a in attrs {
        match a {
            Attribute::Modulus(v) => m = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    Ok(match (m, e) {
        (Some(m), Some(e)) if !m.is_empty() => Some(RsaPublic::new(&m, &e)),
        _ => None,
    })
}

/// Whether `mechanism` can sign on this token with this key.
fn usable(
    module: &Pkcs11,
    slot: Slot,
    offered: &[MechanismType],
    allowed: Option<&[MechanismType]>,
    mechanism: MechanismType,
) -> bool {
    offered.contains(&mechanism)
        && allowed.is_none_or(|a| a.contains(&mechanism))
        && module
            .get_mechanism_info(slot, mechanism)
            .map(|i| i.sign())
            .unwrap_or(false)
}

fn plan_mechanisms(
    module: &Pkcs11,
    slot: Slot,
    allowed: Option<&[MechanismType]>,
) -> Result<[Plan; 3], Error> {
    let offered = module
        .get_mechanism_list(slot)
        .map_err(token_error("C_GetMechanismList"))?;
    let raw = usable(module, slot, &offered, allowed, MechanismType::RSA_PKCS);
    let plan = |alg: HashAlgorithm| match hash_and_sign(alg) {
        Some((m, _)) if usable(module, slot, &offered, allowed, m) => Plan::HashAndSign(m),
        Some(_) if raw => Plan::DigestInfo,
        _ => Plan::Unsupported,
    };
    Ok([
        plan(HashAlgorithm::Sha256),
        plan(HashAlgorithm::Sha384),
        plan(HashAlgorithm::Sha512),
    ])
}

/// The RSA signature mechanisms the token offers and the key allows, for the
/// unsupported-mechanism message.
fn usable_rsa_mechanisms(
    module: &Pkcs11,
    slot: Slot,
    allowed: Option<&[MechanismType]>,
) -> Vec<String> {
    let offered = module.get_mechanism_list(slot).unwrap_or_default();
    offered
        .iter()
        .copied()
        .filter(|m| {
            let name = m.to_string();
            name.contains("RSA") && !name.contains("KEY_PAIR_GEN")
        })
        .filter(|&m| usable(module, slot, &offered, allowed, m))
        .map(|m| m.to_string())
        .collect()
}

/// The token's X.509 certificates, and the indexes of those with the key's CKA_ID.
fn token_certificates(
    session: &Session,
    key_id: &[u8],
) -> Result<(Vec<Vec<u8>>, Vec<usize>), Error> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ])
        .map_err(token_error("C_FindObjects"))?;
    let mut certs = Vec::new();
    let mut preferred = Vec::new();
    for handle in handles.into_iter().take(MAX_OBJECTS) {
        let attrs = session
            .get_attributes(handle, &[AttributeType::Value, AttributeType::Id])
            .map_err(token_error("C_GetAttributeValue"))?;
        let mut value = None;
        let mut id = Vec::new();
        for a in attrs {
            match a {
                Attribute::Value(v) => value = Some(v),
                Attribute::Id(i) => id = i,
                _ => {}
            }
        }
        if let Some(v) = value {
            if !key_id.is_empty() && id == key_id {
                preferred.push(certs.len());
            }
            certs.push(v);
        }
    }
    Ok((certs, preferred))
}

fn read_limited(path: &Path) -> Result<Vec<u8>, Error> {
    let read_error = |source| Error::ReadCertificate {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CERTIFICATE_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CERTIFICATE_FILE_LEN {
        return Err(Error::CertificateFileTooLarge {
            path: path.to_owned(),
            limit: MAX_CERTIFICATE_FILE_LEN,
        });
    }
    Ok(bytes)
}
