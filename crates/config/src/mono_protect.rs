//! Reading a value nuget.exe under Mono encrypted with `ProtectedData.Protect` (current-user
//! scope), as `nuget setapikey` does on Linux and macOS: Mono's `ManagedProtection`.
//!
//! The format (Mono, `mcs/class/System.Security/Mono.Security.Cryptography/
//! ManagedProtection.cs`): an RSA-OAEP (SHA-1) block under the user's 1536-bit "DAPI" key
//! pair, then the data encrypted with AES-128-CBC (PKCS#7 padding). The RSA block holds 68
//! bytes: a version (2 with entropy), 16 and the AES key, 16 and the IV, 32 and the SHA-256 of
//! the plaintext. With entropy (NuGet's is `"NuGet"`), the key and IV were XORed with the
//! SHA-256 of the entropy (first and second half). The key pair is an XML file under
//! `$XDG_CONFIG_HOME/.mono/keypairs` (default `~/.config/.mono/keypairs`), readable by its user
//! only.
//!
//! The RSA private operation here is plain modular exponentiation (`num-bigint`), not
//! constant-time: the only ciphertexts it sees are the user's own config values, decrypted on
//! the user's machine with no answer to anyone else, so there is no oracle to time.

use std::path::{Path, PathBuf};

use num_bigint::BigUint;
use signet_common::Secret;

/// The entropy NuGet passes (`NuGet.Configuration.EncryptionUtility`).
pub const NUGET_ENTROPY: &[u8] = b"NuGet";

/// The key container Mono's `ManagedProtection` uses for the current user ("DAPI"), as the
/// GUID Mono's `KeyPairPersistence` names its file by (MD5 of the name, as a .NET `Guid`).
const DAPI_CONTAINER: &str = "98f3a7e3-0d6e-f432-8a18-e1144b53633f";

/// Largest key-pair file read.
const MAX_KEYPAIR_FILE: u64 = 64 * 1024;

/// Why a value could not be decrypted (never the value or the key).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnprotectError {
    /// The stored value is not base64.
    #[error("the stored value is not base64")]
    NotBase64,
    /// No Mono key pair for this user.
    #[error(
        "there is no Mono key pair for this user in {} (the value was encrypted by Windows DPAPI, or by Mono as another user)",
        .0.display()
    )]
    NoKeyPair(PathBuf),
    /// The key pair file could not be read or parsed.
    #[error("cannot read the Mono key pair {}: {message}", path.display())]
    KeyPair {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The value does not decrypt under this user's key pair.
    #[error(
        "the value does not decrypt with this user's Mono key pair (encrypted by Windows DPAPI, or by another user or machine)"
    )]
    Invalid,
}

/// The directory Mono keeps the user's key pairs in: `$XDG_CONFIG_HOME/.mono/keypairs`, else
/// `HOME/.config/.mono/keypairs` (Mono's `SpecialFolder.ApplicationData`).
pub fn mono_keypair_dir(home: Option<&Path>, xdg_config_home: Option<&Path>) -> Option<PathBuf> {
    let config = match xdg_config_home.filter(|p| p.is_absolute()) {
        Some(x) => x.to_path_buf(),
        None => home?.join(".config"),
    };
    Some(config.join(".mono").join("keypairs"))
}

/// The RSA key of the user's "DAPI" container.
struct RsaKey {
    n: BigUint,
    d: BigUint,
    size: usize,
}

fn read_key(dir: &Path) -> Result<RsaKey, UnprotectError> {
    let prefix = format!("[1][{DAPI_CONTAINER}]");
    let path = std::fs::read_dir(dir)
        .map_err(|_| UnprotectError::NoKeyPair(dir.to_path_buf()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".xml"))
        })
        .ok_or_else(|| UnprotectError::NoKeyPair(dir.to_path_buf()))?;
    let bad = |message: &str| UnprotectError::KeyPair {
        path: path.clone(),
        message: message.to_owned(),
    };
    let file = std::fs::File::open(&path).map_err(|e| bad(&e.to_string()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_KEYPAIR_FILE), &mut text)
        .map_err(|e| bad(&e.to_string()))?;
    let field = |name: &str| -> Result<BigUint, UnprotectError> {
        let open = format!("<{name}>");
        let start = text
            .find(&open)
            .ok_or_else(|| bad(&format!("no <{name}>")))?
            .saturating_add(open.len());
        let len = text
            .get(start..)
            .and_then(|rest| rest.find('<'))
            .ok_or_else(|| bad(&format!("<{name}> does not end")))?;
        let b64 = text
            .get(start..start.saturating_add(len))
            .unwrap_or_default();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim())
            .map_err(|_| bad(&format!("<{name}> is not base64")))?;
        Ok(BigUint::from_bytes_be(&bytes))
    };
    let n = field("Modulus")?;
    let d = field("D")?;
    let size =
        usize::try_from(n.bits().div_ceil(8)).map_err(|_| bad("the modulus is too large"))?;
    if !(64..=1024).contains(&size) {
        return Err(bad("the modulus has an unexpected size"));
    }
    Ok(RsaKey { n, d, size })
}

/// MGF1 with SHA-1 (RFC 8017 B.2.1).
fn mgf1_sha1(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 20);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(seed);
        ctx.update(&counter.to_be_bytes());
        out.extend_from_slice(ctx.finish().as_ref());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// RSAES-OAEP decryption with SHA-1 and an empty label (RFC 8017 7.1.2), as .NET's
/// `RSAOAEPKeyExchangeDeformatter`.
fn oaep_decrypt(key: &RsaKey, block: &[u8]) -> Option<Vec<u8>> {
    const H: usize = 20;
    if block.len() != key.size || key.size < 2 * H + 2 {
        return None;
    }
    let c = BigUint::from_bytes_be(block);
    if c >= key.n {
        return None;
    }
    let m = c.modpow(&key.d, &key.n).to_bytes_be();
    let mut em = vec![0u8; key.size.checked_sub(m.len())?];
    em.extend_from_slice(&m);
    let (y, rest) = em.split_first()?;
    let (masked_seed, masked_db) = rest.split_at_checked(H)?;
    let seed: Vec<u8> = masked_seed
        .iter()
        .zip(mgf1_sha1(masked_db, H))
        .map(|(a, b)| a ^ b)
        .collect();
    let db: Vec<u8> = masked_db
        .iter()
        .zip(mgf1_sha1(&seed, masked_db.len()))
        .map(|(a, b)| a ^ b)
        .collect();
    let empty_label = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b"");
    let (l_hash, ps_m) = db.split_at_checked(H)?;
    if *y != 0 || l_hash != empty_label.as_ref() {
        return None;
    }
    let one = ps_m.iter().position(|b| *b != 0)?;
    (ps_m.get(one) == Some(&1)).then(|| ps_m.get(one + 1..).unwrap_or_default().to_vec())
}

/// Decrypts `encrypted_b64` (a value nuget.exe under Mono stored) with the key pair in
/// `keypair_dir` and NuGet's entropy.
pub fn unprotect_nuget_value(
    encrypted_b64: &str,
    keypair_dir: &Path,
) -> Result<Secret, UnprotectError> {
    let data = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        encrypted_b64.trim(),
    )
    .map_err(|_| UnprotectError::NotBase64)?;
    let key = read_key(keypair_dir)?;
    let (header, body) = data
        .split_at_checked(key.size)
        .ok_or(UnprotectError::Invalid)?;
    let secret = oaep_decrypt(&key, header).ok_or(UnprotectError::Invalid)?;
    // version 2 (with entropy) | 16 | key | 16 | iv | 32 | SHA-256 of the plaintext
    let ([2, 16], rest) = secret.split_at_checked(2).ok_or(UnprotectError::Invalid)? else {
        return Err(UnprotectError::Invalid);
    };
    let (aes_key, rest) = rest.split_at_checked(16).ok_or(UnprotectError::Invalid)?;
    let ([16], rest) = rest.split_at_checked(1).ok_or(UnprotectError::Invalid)? else {
        return Err(UnprotectError::Invalid);
    };
    let (iv, rest) = rest.split_at_checked(16).ok_or(UnprotectError::Invalid)?;
    let ([32], digest) = rest.split_at_checked(1).ok_or(UnprotectError::Invalid)? else {
        return Err(UnprotectError::Invalid);
    };
    let mask = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, NUGET_ENTROPY);
    let (key_mask, iv_mask) = mask.as_ref().split_at(16);
    let aes_key: Vec<u8> = aes_key.iter().zip(key_mask).map(|(a, b)| a ^ b).collect();
    let mut iv16 = [0u8; 16];
    for (out, (a, b)) in iv16.iter_mut().zip(iv.iter().zip(iv_mask)) {
        *out = a ^ b;
    }
    use aws_lc_rs::cipher::{
        AES_128, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
    };
    let cipher = UnboundCipherKey::new(&AES_128, &aes_key)
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| UnprotectError::Invalid)?;
    let mut in_out = body.to_vec();
    let plain = cipher
        .decrypt(
            &mut in_out,
            DecryptionContext::Iv128(aws_lc_rs::iv::FixedLength::from(iv16)),
        )
        .map_err(|_| UnprotectError::Invalid)?;
    let check = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, plain);
    if check.as_ref() != digest {
        return Err(UnprotectError::Invalid);
    }
    let text = String::from_utf8(plain.to_vec()).map_err(|_| UnprotectError::Invalid)?;
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
    }

    /// What `nuget setapikey signet_abc123 -Source http://127.0.0.1:5000/v3/index.json` wrote
    /// under Mono 6 (nuget.exe 5.8), with that user's key pair (a throwaway one).
    #[test]
    fn decrypts_what_nuget_exe_under_mono_stored() {
        let value = std::fs::read_to_string(data().join("mono-apikey.txt")).unwrap();
        let key = unprotect_nuget_value(&value, &data().join("mono-keypairs")).unwrap();
        assert_eq!(key.expose(), "signet_abc123");
    }

    #[test]
    fn refuses_what_it_cannot_decrypt() {
        let value = std::fs::read_to_string(data().join("mono-apikey.txt")).unwrap();
        let mut bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, value.trim())
                .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
        assert!(matches!(
            unprotect_nuget_value(&tampered, &data().join("mono-keypairs")),
            Err(UnprotectError::Invalid)
        ));
        assert!(matches!(
            unprotect_nuget_value("not base64!", &data().join("mono-keypairs")),
            Err(UnprotectError::NotBase64)
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            unprotect_nuget_value(&value, empty.path()),
            Err(UnprotectError::NoKeyPair(_))
        ));
        assert_eq!(
            mono_keypair_dir(Some(Path::new("/home/u")), None).unwrap(),
            Path::new("/home/u/.config/.mono/keypairs")
        );
    }
}
