//! `init`, `revoke`, and the loaded PKI that `revoke` and `serve` sign with.

use std::path::{Path, PathBuf};

use der::{Decode, Encode};
use rcgen::{
    CertificateRevocationListParams, Issuer, KeyPair, PKCS_RSA_SHA256, RevokedCertParams,
    RsaKeySize, SerialNumber,
};
use signet_common::{HashAlgorithm, UtcTime};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::files::{self, Access};
use crate::model::{CertName, DAY_MICROS, RevocationReason, to_offset};
use crate::profile::{self, Urls};
use crate::state::{CrlRecord, IssuedRecord, Revocation, RevocationRecord, StateFile};

/// The default port of `pki serve`, named in the certificates' CRL and OCSP URLs.
pub const DEFAULT_PORT: u16 = 8390;

/// The PKCS#12 file of the code-signing certificate (key, leaf, intermediate, root).
pub const PFX_FILE: &str = "codesign.pfx";

/// How long a CRL is valid (nextUpdate − thisUpdate).
pub const CRL_VALIDITY_DAYS: i64 = 7;

/// What `init` does when the directory already holds a PKI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Existing {
    /// Stop with [`Error::AlreadyExists`].
    Refuse,
    /// Replace it: every key and certificate of the old PKI is overwritten, and signatures
    /// made with it no longer chain to the new `root.pem` (`--force`).
    Replace,
}

/// Options of [`init`].
#[derive(Debug)]
#[non_exhaustive]
pub struct InitOptions {
    /// The loopback port `pki serve` will listen on; the CRL, OCSP and TSA URLs name it.
    pub port: u16,
    /// The password of `codesign.pfx` (non-empty).
    pub password: Zeroizing<String>,
    /// What to do with an existing PKI.
    pub existing: Existing,
    /// The base URL written into the certificates' CRL, OCSP and CA URLs instead of
    /// `http://127.0.0.1:<port>` (a server that serves the PKI's revocation itself, under a
    /// path of its own: `signet serve`'s development PKI at `<public URL>/dev/pki`).
    pub base_url: Option<String>,
}

impl InitOptions {
    /// Options with [`DEFAULT_PORT`], this password, and [`Existing::Refuse`].
    pub fn new(password: Zeroizing<String>) -> Self {
        Self {
            port: DEFAULT_PORT,
            password,
            existing: Existing::Refuse,
            base_url: None,
        }
    }
}

/// One certificate `init` created.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreatedCertificate {
    /// Its role.
    pub name: CertName,
    /// Its serial number, uppercase hex.
    pub serial: String,
    /// End of validity.
    pub not_after: UtcTime,
    /// SHA-256 fingerprint of the DER, uppercase hex (what `--certificate-fingerprint` takes).
    pub sha256: String,
}

/// What [`init`] created.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Created {
    /// The PKI directory.
    pub dir: PathBuf,
    /// The files written, relative to `dir`, in the order written.
    pub files: Vec<String>,
    /// The certificates, root first.
    pub certificates: Vec<CreatedCertificate>,
    /// The URLs `pki serve` answers.
    pub urls: Urls,
    /// The port in the URLs.
    pub port: u16,
}

/// Creates a development PKI in `dir` (made if missing): a root CA (RSA-3072, ten years from
/// `now`), an intermediate CA (RSA-3072, ten years), and three RSA-2048 leaves valid for one
/// year — code signing (`codesign`), timestamping (`tsa`, critical timeStamping EKU) and
/// repository signing (`repository`) — each non-root certificate with a CRL distribution
/// point and an AIA OCSP URL on `http://127.0.0.1:<port>`.
///
/// Writes `<name>.pem` (the certificate then its issuers), `<name>.key.pem` (PKCS#8, mode
/// 0600), `codesign.pfx` (AES-256/PBKDF2 PKCS#12 with the chain), the CRLs `root.crl` and
/// `intermediate.crl` (DER), and `state.json`, each atomically; `state.json` last, so a PKI
/// whose `init` was interrupted is not mistaken for a complete one.
///
/// Keys come from aws-lc-rs's generator through rcgen; nothing else reads the RNG except the
/// PKCS#12 writer's salts.
pub fn init(dir: &Path, options: &InitOptions, now: UtcTime) -> Result<Created, Error> {
    // Certificates and CRLs hold whole seconds; so does the state file.
    let now = UtcTime::from_unix_seconds(now.unix_seconds());
    if options.port == 0 {
        return Err(Error::PortZero);
    }
    if options.password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    let state_path = StateFile::path(dir);
    if options.existing == Existing::Refuse
        && (state_path.exists() || dir.join(CertName::Root.cert_file()).exists())
    {
        return Err(Error::AlreadyExists(dir.to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;

    let urls = match &options.base_url {
        Some(base) => Urls::with_base(base),
        None => Urls::new(options.port),
    };
    let mut state = StateFile::new(options.port, now);
    let mut issued: Vec<(CertName, Vec<u8>, KeyPair)> = Vec::new();
    let mut created = Vec::new();
    for name in CertName::ALL {
        let size = if name.is_ca() {
            RsaKeySize::_3072
        } else {
            RsaKeySize::_2048
        };
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size)
            .map_err(Error::generate("an RSA key"))?;
        let serial = profile::serial_for(&key);
        let params = profile::params(name, serial.clone(), now, &urls)?;
        let cert = match name.issuer() {
            None => params
                .self_signed(&key)
                .map_err(Error::generate("the root certificate"))?,
            Some(issuer_name) => {
                let (_, _, issuer_key) = issued
                    .iter()
                    .find(|(n, _, _)| *n == issuer_name)
                    .ok_or(Error::UnknownCertificate(issuer_name.to_string()))?;
                let issuer_params = profile::issuer_params(issuer_name);
                let issuer = Issuer::from_params(&issuer_params, issuer_key);
                params
                    .signed_by(&key, &issuer)
                    .map_err(Error::generate("a certificate"))?
            }
        };
        let der = cert.der().to_vec();
        let sha256 = hex::encode_upper(HashAlgorithm::Sha256.digest(&der));
        let not_after = now.add_micros(
            if name.is_ca() {
                profile::CA_VALIDITY_DAYS
            } else {
                profile::LEAF_VALIDITY_DAYS
            } * DAY_MICROS,
        );
        state.certificates.push(IssuedRecord {
            name: name.as_str().to_owned(),
            serial: hex::encode_upper(&serial),
            subject: profile::subject_text(name),
            issuer: name.issuer().map(|i| i.as_str().to_owned()),
            not_before: now.add_micros(-profile::BACKDATE_MICROS).rfc3339(),
            not_after: not_after.rfc3339(),
            sha256: sha256.clone(),
        });
        created.push(CreatedCertificate {
            name,
            serial: hex::encode_upper(&serial),
            not_after,
            sha256,
        });
        issued.push((name, der, key));
    }

    let mut written = Vec::new();
    let mut write = |name: String, contents: &[u8], access| -> Result<(), Error> {
        files::write_atomic(dir, &name, contents, access)?;
        written.push(name);
        Ok(())
    };
    let der_of = |name: CertName| -> &[u8] {
        issued
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, der, _)| der.as_slice())
            .unwrap_or_default()
    };
    for (name, _, key) in &issued {
        let chain: String = chain_of(*name)
            .into_iter()
            .map(|n| pem_encode("CERTIFICATE", der_of(n)))
            .collect();
        write(name.cert_file(), chain.as_bytes(), Access::Public)?;
        let key_pem = Zeroizing::new(key.serialize_pem());
        write(name.key_file(), key_pem.as_bytes(), Access::Secret)?;
    }
    let code_signing_key = issued
        .iter()
        .find(|(n, _, _)| *n == CertName::CodeSigning)
        .map(|(_, _, k)| Zeroizing::new(k.serialize_der()))
        .unwrap_or_default();
    let chain_der: Vec<&[u8]> = chain_of(CertName::CodeSigning)
        .into_iter()
        .map(der_of)
        .collect();
    let pfx = Zeroizing::new(pkcs12(&code_signing_key, &chain_der, &options.password)?);
    write(PFX_FILE.to_owned(), &pfx, Access::Secret)?;

    for ca in [CertName::Root, CertName::Intermediate] {
        let Some((_, _, key)) = issued.iter().find(|(n, _, _)| *n == ca) else {
            continue;
        };
        let issuer_params = profile::issuer_params(ca);
        let issuer = Issuer::from_params(&issuer_params, key);
        let number = crl_number(now);
        let crl = build_crl(&issuer, now, number, &[])?;
        write(crl_file(ca), &crl, Access::Public)?;
        state.crls.push(CrlRecord {
            issuer: ca.as_str().to_owned(),
            number,
            this_update: now.rfc3339(),
        });
    }
    state.save(dir)?;
    written.push(crate::state::STATE_FILE.to_owned());

    Ok(Created {
        dir: dir.to_owned(),
        files: written,
        certificates: created,
        urls,
        port: options.port,
    })
}

/// `name` followed by its issuers up to the root.
fn chain_of(name: CertName) -> Vec<CertName> {
    let mut chain = vec![name];
    let mut at = name;
    while let Some(issuer) = at.issuer() {
        chain.push(issuer);
        at = issuer;
    }
    chain
}

/// The CRL file of CA `ca`: `<ca>.crl` (DER).
pub fn crl_file(ca: CertName) -> String {
    format!("{}.crl", ca.as_str())
}

/// A PKCS#12 file with the key and its chain (leaf first): PBES2 (PBKDF2-HMAC-SHA256,
/// AES-256-CBC) and an HMAC-SHA256 MAC, what OpenSSL 3 and current Windows write.
fn pkcs12(key_pkcs8: &[u8], chain: &[&[u8]], password: &str) -> Result<Vec<u8>, Error> {
    let p12 = |e: p12_keystore::error::Error| Error::Pkcs12(e.to_string());
    let key = p12_keystore::PrivateKey::from_der(key_pkcs8).map_err(p12)?;
    let certs = chain
        .iter()
        .map(|der| p12_keystore::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(p12)?;
    // localKeyId ties the key bag to the leaf's certificate bag; any value unique in the
    // file works (Windows and OpenSSL use the leaf's SHA-1, here its SHA-256).
    let local_key_id = chain
        .first()
        .map(|leaf| HashAlgorithm::Sha256.digest(leaf))
        .unwrap_or_default();
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "signet development code signing",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            local_key_id,
            key,
            certs,
        )),
    );
    store.writer(password).write().map_err(p12)
}

/// PEM text of one DER block.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The CRL number of a CRL issued at `this_update`: its Unix time in seconds. Every CRL signet
/// issues has a later thisUpdate than the one before (see [`Pki::crl`]), so numbers grow
/// monotonically (RFC 5280 §5.2.3) without the server having to write state.
fn crl_number(this_update: UtcTime) -> u64 {
    u64::try_from(this_update.unix_seconds()).unwrap_or_default()
}

/// Builds and signs a CRL: thisUpdate, nextUpdate seven days later, the revoked entries with
/// reason codes and invalidity dates.
fn build_crl(
    issuer: &Issuer<'_, &KeyPair>,
    this_update: UtcTime,
    number: u64,
    revoked: &[&Revocation],
) -> Result<Vec<u8>, Error> {
    let params = CertificateRevocationListParams {
        this_update: to_offset(this_update),
        next_update: to_offset(this_update.add_micros(CRL_VALIDITY_DAYS * DAY_MICROS)),
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&r.serial),
                revocation_time: to_offset(r.time),
                reason_code: Some(r.reason.to_rcgen()),
                invalidity_date: r.invalidity_date.map(to_offset),
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    Ok(params
        .signed_by(issuer)
        .map_err(Error::generate("a CRL"))?
        .der()
        .to_vec())
}

/// Which certificate `revoke` acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertSelector {
    /// By role: `codesign`, `tsa`, `repository`, `intermediate`.
    Name(CertName),
    /// By serial number (bytes of the INTEGER, big-endian).
    Serial(Vec<u8>),
    /// A PEM or DER certificate file (the first certificate in it).
    File(PathBuf),
}

impl CertSelector {
    /// Reads a command-line argument: an existing file, else a name, else hex digits
    /// (`0x` and `:` separators allowed).
    pub fn parse(arg: &str) -> Result<Self, Error> {
        let path = Path::new(arg);
        if path.is_file() {
            return Ok(Self::File(path.to_owned()));
        }
        if let Ok(name) = arg.parse::<CertName>() {
            return Ok(Self::Name(name));
        }
        let digits: String = arg
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        match hex::decode(&padded) {
            Ok(bytes) if !bytes.is_empty() => Ok(Self::Serial(bytes)),
            _ => Err(Error::UnknownCertificate(arg.to_owned())),
        }
    }
}

/// What [`revoke`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoked {
    /// The certificate's role.
    pub name: CertName,
    /// Its serial, uppercase hex.
    pub serial: String,
    /// The CA whose CRL now lists it.
    pub issuer: CertName,
    /// The reason recorded.
    pub reason: RevocationReason,
    /// The revocation time recorded.
    pub time: UtcTime,
    /// The new CRL's number.
    pub crl_number: u64,
    /// The CRL file rewritten, relative to the PKI directory.
    pub crl_file: String,
}

/// Revokes a certificate of the PKI in `dir` at `at` (the revocation time in the CRL and OCSP
/// answers), for `reason`, with an optional invalidity date (RFC 5280 §5.3.2); records it in
/// `state.json` and rewrites the issuing CA's CRL (thisUpdate `at`, nextUpdate seven days
/// later). A running `pki serve` picks the change up on its next request.
pub fn revoke(
    dir: &Path,
    which: &CertSelector,
    reason: RevocationReason,
    at: UtcTime,
    invalidity_date: Option<UtcTime>,
) -> Result<Revoked, Error> {
    let at = UtcTime::from_unix_seconds(at.unix_seconds());
    let invalidity_date = invalidity_date.map(|t| UtcTime::from_unix_seconds(t.unix_seconds()));
    let pki = Pki::open(dir)?;
    let mut state = pki.state.clone();
    let record = match which {
        CertSelector::Name(name) => state.by_name(*name),
        CertSelector::Serial(serial) => state.by_serial(strip_zeros(serial)),
        CertSelector::File(path) => {
            let serial = serial_of_file(path)?;
            state.by_serial(strip_zeros(&serial))
        }
    }
    .ok_or_else(|| Error::UnknownCertificate(describe(which)))?
    .clone();
    let name: CertName = record
        .name
        .parse()
        .map_err(|_| Error::UnknownCertificate(record.name.clone()))?;
    let issuer = name.issuer().ok_or(Error::RevokeRoot)?;
    if let Some(previous) = state.revocations.iter().find(|r| r.serial == record.serial) {
        return Err(Error::AlreadyRevoked {
            serial: record.serial.clone(),
            name: record.name.clone(),
            since: previous.time.clone(),
        });
    }
    state.revocations.push(RevocationRecord {
        serial: record.serial.clone(),
        name: record.name.clone(),
        issuer: issuer.as_str().to_owned(),
        time: at.rfc3339(),
        reason: reason.as_str().to_owned(),
        invalidity_date: invalidity_date.map(UtcTime::rfc3339),
    });
    // The new CRL is issued at `at`, or a second after the last one if the clock says
    // otherwise, so its number still grows.
    let previous = pki.crl_this_update(issuer, at)?;
    let this_update = if at > previous {
        at
    } else {
        previous.add_micros(1_000_000)
    };
    let number = crl_number(this_update);
    let pki = Pki { state, ..pki };
    let crl = pki.crl_at(issuer, this_update, number)?;
    let mut state = pki.state;
    match state.crls.iter_mut().find(|c| c.issuer == issuer.as_str()) {
        Some(c) => {
            c.number = number;
            c.this_update = this_update.rfc3339();
        }
        None => state.crls.push(CrlRecord {
            issuer: issuer.as_str().to_owned(),
            number,
            this_update: this_update.rfc3339(),
        }),
    }
    files::write_atomic(dir, &crl_file(issuer), &crl, Access::Public)?;
    state.save(dir)?;
    Ok(Revoked {
        name,
        serial: record.serial,
        issuer,
        reason,
        time: at,
        crl_number: number,
        crl_file: crl_file(issuer),
    })
}

fn describe(which: &CertSelector) -> String {
    match which {
        CertSelector::Name(n) => n.to_string(),
        CertSelector::Serial(s) => hex::encode_upper(s),
        CertSelector::File(p) => p.display().to_string(),
    }
}

fn strip_zeros(serial: &[u8]) -> &[u8] {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    serial.get(start..).unwrap_or_default()
}

/// The serial of the first certificate in a PEM or DER file.
fn serial_of_file(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = files::read(path)?;
    let bad = |reason: String| Error::BadCertificateFile {
        path: path.to_owned(),
        reason,
    };
    let cert = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        x509_cert::Certificate::load_pem_chain(&bytes)
            .map_err(|e| bad(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| bad("no CERTIFICATE block".into()))?
    } else {
        x509_cert::Certificate::from_der(&bytes).map_err(|e| bad(e.to_string()))?
    };
    Ok(cert.tbs_certificate().serial_number().as_bytes().to_vec())
}

/// A CA of the PKI, loaded for signing: its certificate and key.
pub(crate) struct CaKeys {
    pub(crate) name: CertName,
    /// The CA certificate, DER.
    pub(crate) cert_der: Vec<u8>,
    /// `<name>.pem` (the certificate then its issuers).
    pub(crate) chain_pem: String,
    /// PKCS#8 PEM.
    pub(crate) key_pem: Zeroizing<String>,
}

/// A PKI directory opened for signing CRLs and OCSP answers.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) state: StateFile,
    pub(crate) cas: Vec<CaKeys>,
}

impl Pki {
    /// Loads the state and the two CAs' certificates and keys.
    pub(crate) fn open(dir: &Path) -> Result<Self, Error> {
        let state = StateFile::load(dir)?;
        let mut cas = Vec::new();
        for name in [CertName::Root, CertName::Intermediate] {
            let chain_pem = files::read_to_string(&dir.join(name.cert_file()))?;
            let cert_der = x509_cert::Certificate::load_pem_chain(chain_pem.as_bytes())
                .ok()
                .and_then(|c| c.into_iter().next())
                .and_then(|c| c.to_der().ok())
                .ok_or_else(|| Error::BadCertificateFile {
                    path: dir.join(name.cert_file()),
                    reason: "no readable CERTIFICATE block".into(),
                })?;
            let key_pem = Zeroizing::new(files::read_to_string(&dir.join(name.key_file()))?);
            cas.push(CaKeys {
                name,
                cert_der,
                chain_pem,
                key_pem,
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            state,
            cas,
        })
    }

    pub(crate) fn ca(&self, name: CertName) -> Option<&CaKeys> {
        self.cas.iter().find(|c| c.name == name)
    }

    fn key_pair(&self, ca: CertName) -> Result<KeyPair, Error> {
        let keys = self.ca(ca).ok_or_else(|| Error::LoadKey {
            what: format!("the {ca} CA"),
            reason: "not a CA of this PKI".into(),
        })?;
        KeyPair::from_pem_and_sign_algo(&keys.key_pem, &PKCS_RSA_SHA256).map_err(|e| {
            Error::LoadKey {
                what: self.dir.join(ca.key_file()).display().to_string(),
                reason: e.to_string(),
            }
        })
    }

    /// thisUpdate of the last CRL on disk for `ca` (`fallback` if none is recorded).
    fn crl_this_update(&self, ca: CertName, fallback: UtcTime) -> Result<UtcTime, Error> {
        match self.state.crl(ca) {
            Some(record) => self.state.crl_time(&self.dir, record),
            None => Ok(fallback),
        }
    }

    /// The CRL of `ca` with this thisUpdate and number, listing every revocation recorded.
    fn crl_at(&self, ca: CertName, this_update: UtcTime, number: u64) -> Result<Vec<u8>, Error> {
        let revocations = self.state.revocations_decoded(&self.dir)?;
        let listed: Vec<&Revocation> = revocations.iter().filter(|r| r.issuer == ca).collect();
        let key = self.key_pair(ca)?;
        let issuer_params = profile::issuer_params(ca);
        let issuer = Issuer::from_params(&issuer_params, &key);
        build_crl(&issuer, this_update, number, &listed)
    }

    /// The current CRL of `ca` as `pki serve` hands it out at `now`: the one on disk while it
    /// is less than a day old; after that a fresh one, reissued on whole days after the one
    /// on disk (so it is the same all day, and its number and thisUpdate still only grow),
    /// always seven days from nextUpdate when served.
    pub(crate) fn crl(&self, ca: CertName, now: UtcTime) -> Result<Vec<u8>, Error> {
        let stored = self.crl_this_update(ca, now)?;
        let elapsed_days = (now.unix_micros() - stored.unix_micros()).max(0) / DAY_MICROS;
        let this_update = stored.add_micros(elapsed_days * DAY_MICROS);
        self.crl_at(ca, this_update, crl_number(this_update))
    }
}

/// Whether `dir` looks like a PKI made by [`init`].
pub fn is_pki(dir: &Path) -> bool {
    StateFile::path(dir).is_file()
}

/// A random PFX password for `init` when none is given: 24 characters of URL-safe base64
/// (144 bits). Reads the system RNG, so only binaries call it (like [`crate::SystemClock`]).
pub fn random_password() -> Result<Zeroizing<String>, Error> {
    use base64::Engine as _;
    let mut bytes = Zeroizing::new([0u8; 18]);
    aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| Error::Random)?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

/// The port named in the certificates of the PKI in `dir` (what `serve` listens on by
/// default).
pub fn configured_port(dir: &Path) -> Result<u16, Error> {
    Ok(StateFile::load(dir)?.port)
}
