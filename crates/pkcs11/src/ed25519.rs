//! [`Pkcs11Ed25519Key`]: an Ed25519 private key on a PKCS#11 token (`CKK_EC_EDWARDS`,
//! signing with `CKM_EDDSA`), for what signs with Ed25519 rather than RSA: a transparency
//! log's checkpoints. The key is found as the RSA signer finds its key (token label, PIN,
//! key label or CKA_ID); its public key comes from the public key object with the same
//! CKA_ID (or label), as the token's CKA_EC_POINT.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::error::Error;
use crate::signer::{
    KeyInfo, Pin, TokenKey, find_key, find_token, load_module, login, token_error,
};

/// The DER encoding of the curve OID id-Ed25519 (1.3.101.112), as CKA_EC_PARAMS holds it.
const ED25519_OID_DER: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];
/// CKA_EC_PARAMS as a PrintableString naming the curve (PKCS#11 3.0 allows this form).
const ED25519_NAME_DER: &[u8] = b"\x13\x0cedwards25519";

/// An Ed25519 private key on a token. Every signature is a `C_Sign` call; the key never
/// leaves the token.
pub struct Pkcs11Ed25519Key {
    session: Mutex<Session>,
    key: ObjectHandle,
    public_key: [u8; 32],
    token: String,
    description: String,
    // Last: the module stays loaded while the session exists.
    _module: Pkcs11,
}

impl fmt::Debug for Pkcs11Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Ed25519Key")
            .field("token", &self.token)
            .field("key", &self.description)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Ed25519Key {
    /// Opens the key: loads the module, finds the token, logs in, finds the key and checks
    /// it (Ed25519, may sign, the token offers CKM_EDDSA), and reads its public key.
    pub fn open(which: &TokenKey, pin: Option<Pin>) -> Result<Self, Error> {
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
            .get_attributes(key.handle, &[AttributeType::KeyType, AttributeType::Sign])
            .map_err(token_error("C_GetAttributeValue"))?;
        let mut key_type = None;
        let mut can_sign = true;
        for a in attrs {
            match a {
                Attribute::KeyType(t) => key_type = Some(t),
                Attribute::Sign(s) => can_sign = s,
                _ => {}
            }
        }
        if key_type != Some(KeyType::EC_EDWARDS) {
            return Err(Error::NotEd25519 { key: description });
        }
        if !can_sign {
            return Err(Error::KeyCannotSign { key: description });
        }
        let mechanisms = module
            .get_mechanism_list(slot)
            .map_err(token_error("C_GetMechanismList"))?;
        if !mechanisms.contains(&MechanismType::EDDSA) {
            return Err(Error::NoEddsa { token });
        }
        let public_key = public_key(&session, &key)?.ok_or_else(|| Error::NoPublicKey {
            key: description.clone(),
        })?;
        Ok(Self {
            session: Mutex::new(session),
            key: key.handle,
            public_key,
            token,
            description,
            _module: module,
        })
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// Where the key is, for messages: `token 'T', label 'L' (id …)`.
    pub fn describe(&self) -> String {
        format!("token '{}', {}", self.token, self.description)
    }

    /// A pure Ed25519 signature (RFC 8032) over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], Error> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let signature = session
            .sign(&mechanism, self.key, message)
            .map_err(token_error("C_Sign"))?;
        <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| Error::Token {
            operation: "C_Sign",
            reason: format!(
                "an Ed25519 signature of {} bytes (64 expected)",
                signature.len()
            ),
        })
    }
}

/// The public key object that belongs to `key` (same CKA_ID, else same label): its 32-byte
/// CKA_EC_POINT (raw, or wrapped in a DER OCTET STRING as most tokens store it), on the
/// curve edwards25519.
fn public_key(session: &Session, key: &KeyInfo) -> Result<Option<[u8; 32]>, Error> {
    let template = if key.id.is_empty() {
        vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(key.label.clone()),
        ]
    } else {
        vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(key.id.clone()),
        ]
    };
    let handles = session
        .find_objects(&template)
        .map_err(token_error("C_FindObjects"))?;
    let Some(&handle) = handles.first() else {
        return Ok(None);
    };
    let attrs = session
        .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(token_error("C_GetAttributeValue"))?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    if let Some(p) = &params
        && p.as_slice() != ED25519_OID_DER
        && p.as_slice() != ED25519_NAME_DER
    {
        return Err(Error::NotEd25519 {
            key: key.describe(),
        });
    }
    let Some(point) = point else {
        return Ok(None);
    };
    let raw = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        raw if raw.len() == 32 => raw,
        _ => {
            return Err(Error::NotEd25519 {
                key: key.describe(),
            });
        }
    };
    Ok(<[u8; 32]>::try_from(raw).ok())
}
