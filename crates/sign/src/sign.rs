//! Signing one package: author signature, repository signature or countersignature.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_keys::Signer;
use signet_nupkg::{Limits, Package};
use signet_signature::{
    CountersignatureRequest, PrimarySignature, SignatureKind, SignatureRequest, SignatureType,
};

use crate::{Error, TimestampClient};

/// What kind of signature to add.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Operation {
    /// An author primary signature. A signed package needs `overwrite`, which discards its
    /// signature and any countersignature.
    Author {
        /// Package hash and signature digest: SHA-256, SHA-384 or SHA-512.
        hash_algorithm: HashAlgorithm,
        /// Replace an existing signature.
        overwrite: bool,
    },
    /// A repository signature: a primary signature on an unsigned package, a countersignature
    /// on an author-signed one. A repository-signed package is refused (NU3033); an already
    /// countersigned one needs `overwrite`, which replaces only the repository
    /// countersignature (certificate rotation) (NU3032 otherwise).
    Repository {
        /// `nuget-v3-service-index-url`: an absolute https URL.
        service_index: String,
        /// `nuget-package-owners`, written as given (see [`sort_owners`]).
        owners: Vec<String>,
        /// Digest algorithm of the signature.
        hash_algorithm: HashAlgorithm,
        /// Replace an existing repository countersignature.
        overwrite: bool,
    },
}

/// What [`sign_package`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// An author signature was added (`replaced`: an existing signature was discarded).
    AuthorSigned {
        /// An existing signature was replaced.
        replaced: bool,
    },
    /// A repository primary signature was added to an unsigned package.
    RepositorySigned,
    /// A repository countersignature was added to the author signature.
    RepositoryCountersigned {
        /// An existing repository countersignature was replaced.
        replaced: bool,
    },
}

/// How to sign.
pub struct SignOptions<'a> {
    /// The key and its certificate chain.
    pub signer: &'a dyn Signer,
    /// Where timestamps come from; `None`: no timestamp (NuGet warns NU3002).
    pub timestamper: Option<&'a dyn TimestampClient>,
    /// The signing time (and the timestamp checks' clock).
    pub now: UtcTime,
    /// Limits for reading the input package.
    pub limits: Limits,
}

/// Owners as NuGet.org writes them: trimmed, empty ones dropped, duplicates (ignoring case)
/// dropped, sorted case-insensitively (ordinal on the lower-case form, then ordinal).
pub fn sort_owners(owners: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in owners.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        if !out.iter().any(|x| x.eq_ignore_ascii_case(o)) {
            out.push(o.to_string());
        }
    }
    out.sort_by(|a, b| {
        a.to_lowercase()
            .cmp(&b.to_lowercase())
            .then_with(|| a.cmp(b))
    });
    out
}

/// Writes a signed copy of the package `input` to `output`. Nothing is written when an error
/// is returned before the first byte of output; callers that need all-or-nothing output use
/// [`sign_file`] (or write to a temporary file themselves).
pub fn sign_package<'r, R: Read + Seek + 'r, W: Write>(
    input: R,
    output: W,
    op: &Operation,
    opts: &SignOptions<'_>,
) -> Result<Outcome, Error> {
    let mut pkg = Package::open(input, &opts.limits)?;
    let existing = pkg.read_signature()?;
    let mut input = pkg.into_inner();
    let (signature, outcome, mut unsigned): (Vec<u8>, Outcome, Box<dyn ReadSeek + 'r>) = match (
        op, existing,
    ) {
        (
            Operation::Author {
                hash_algorithm,
                overwrite,
            },
            existing,
        ) => {
            if existing.is_some() && !overwrite {
                return Err(Error::new(
                    NuCode::NU3001,
                    "the package is already signed; use overwrite to replace its signature",
                ));
            }
            let replaced = existing.is_some();
            let mut unsigned = unsigned_copy(input, replaced, &opts.limits)?;
            let hash = hash_stream(&mut unsigned, *hash_algorithm)?;
            let request = SignatureRequest {
                kind: SignatureKind::Author,
                hash_algorithm: *hash_algorithm,
                package_hash: hash,
                signing_time: opts.now,
            };
            let sig = primary_with_timestamp(&request, opts)?;
            (sig, Outcome::AuthorSigned { replaced }, unsigned)
        }
        (
            Operation::Repository {
                service_index,
                owners,
                hash_algorithm,
                ..
            },
            None,
        ) => {
            let mut unsigned = unsigned_copy(input, false, &opts.limits)?;
            let hash = hash_stream(&mut unsigned, *hash_algorithm)?;
            let request = SignatureRequest {
                kind: SignatureKind::Repository {
                    service_index: service_index.clone(),
                    owners: owners.clone(),
                },
                hash_algorithm: *hash_algorithm,
                package_hash: hash,
                signing_time: opts.now,
            };
            let sig = primary_with_timestamp(&request, opts)?;
            (sig, Outcome::RepositorySigned, unsigned)
        }
        (
            Operation::Repository {
                service_index,
                owners,
                hash_algorithm,
                overwrite,
            },
            Some(existing),
        ) => {
            let sig_limits = signet_signature::Limits::default();
            let primary = PrimarySignature::load(&existing, &sig_limits)?;
            if primary.signature_type() == SignatureType::Repository {
                return Err(Error::of_kind(
                    crate::ErrorKind::RepositoryPrimarySigned,
                    NuCode::NU3033,
                    "the package is already repository signed; a repository signature cannot be countersigned",
                ));
            }
            let mut base = existing;
            let mut replaced = false;
            if primary.repository_countersignature()?.is_some() {
                if !overwrite {
                    return Err(Error::new(
                        NuCode::NU3032,
                        "the package already has a repository countersignature; use overwrite to replace it",
                    ));
                }
                let (without, removed) =
                    signet_signature::remove_repository_countersignature(&base)?;
                base = without;
                replaced = removed;
            }
            let request = CountersignatureRequest {
                service_index: service_index.clone(),
                owners: owners.clone(),
                hash_algorithm: *hash_algorithm,
                signing_time: opts.now,
            };
            let mut sig = signet_signature::add_repository_countersignature(
                &base,
                &request,
                opts.signer,
                &sig_limits,
            )?;
            if let Some(ts) = opts.timestamper {
                let loaded = PrimarySignature::load(&sig, &sig_limits)?;
                let counter = loaded.repository_countersignature()?.ok_or_else(|| {
                    Error::new(NuCode::NU3001, "the new countersignature did not load")
                })?;
                let token = ts.timestamp(counter.signature_value(), opts.now)?;
                sig = signet_signature::add_countersignature_timestamp(&sig, &token)?;
            }
            input
                .seek(SeekFrom::Start(0))
                .map_err(|e| Error::io("cannot read the package", &e))?;
            let unsigned = unsigned_copy(input, true, &opts.limits)?;
            (sig, Outcome::RepositoryCountersigned { replaced }, unsigned)
        }
    };
    unsigned
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("cannot read the package", &e))?;
    let (y, mo, d, h, mi, s, _) = opts.now.to_civil();
    let dos = signet_nupkg::dos_date_time(u16::try_from(y).unwrap_or(1980), mo, d, h, mi, s);
    signet_nupkg::append_signature(unsigned, &signature, dos, output, &opts.limits)?;
    Ok(outcome)
}

/// Signs `input` into `dest` (which may be the same path): the signed package is written to a
/// temporary file in `dest`'s directory, synced, and renamed over `dest`, so `dest` is either
/// the complete signed package or untouched. The input's permissions are kept.
pub fn sign_file(
    input: &Path,
    dest: &Path,
    op: &Operation,
    opts: &SignOptions<'_>,
) -> Result<Outcome, Error> {
    let file = File::open(input).map_err(|e| Error::io("cannot open the package", &e))?;
    let dest_dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = tempfile::NamedTempFile::new_in(&dest_dir)
        .map_err(|e| Error::io("cannot create the output file", &e))?;
    let outcome = {
        let mut w = BufWriter::new(out.as_file_mut());
        let outcome = sign_package(BufReader::new(file), &mut w, op, opts)?;
        w.flush()
            .map_err(|e| Error::io("cannot write the output", &e))?;
        outcome
    };
    out.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot write the output", &e))?;
    if let Ok(meta) = std::fs::metadata(input) {
        // Best effort: the temporary file is created private; a failure here leaves it so.
        let _ = std::fs::set_permissions(out.path(), meta.permissions());
    }
    out.persist(dest).map_err(|e| {
        Error::new(
            NuCode::NU3001,
            format!("cannot write {}: {}", dest.display(), e.error),
        )
    })?;
    Ok(outcome)
}

fn primary_with_timestamp(
    request: &SignatureRequest,
    opts: &SignOptions<'_>,
) -> Result<Vec<u8>, Error> {
    let sig = signet_signature::build_primary_signature(request, opts.signer)?;
    let Some(ts) = opts.timestamper else {
        return Ok(sig);
    };
    let loaded = PrimarySignature::load(&sig, &signet_signature::Limits::default())?;
    let token = ts.timestamp(loaded.signature_value(), opts.now)?;
    Ok(signet_signature::add_timestamp(&sig, &token)?)
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// The unsigned package: `input` itself, or (when `strip`) a temporary copy with the signature
/// entry removed (spec §1.5). Zip64 packages cannot be signed (NU3006).
fn unsigned_copy<'r, R: Read + Seek + 'r>(
    input: R,
    strip: bool,
    limits: &Limits,
) -> Result<Box<dyn ReadSeek + 'r>, Error> {
    if strip {
        let mut tmp =
            tempfile::tempfile().map_err(|e| Error::io("cannot create a temporary file", &e))?;
        {
            let mut w = BufWriter::new(&mut tmp);
            signet_nupkg::remove_signature(input, &mut w, limits)?;
            w.flush()
                .map_err(|e| Error::io("cannot write a temporary file", &e))?;
        }
        tmp.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("cannot read a temporary file", &e))?;
        Ok(Box::new(BufReader::new(tmp)))
    } else {
        let mut pkg = Package::open(input, limits)?;
        if pkg.is_zip64()? {
            return Err(Error::new(
                NuCode::NU3006,
                "Signed Zip64 packages are not supported.",
            ));
        }
        Ok(Box::new(pkg.into_inner()))
    }
}

/// Hashes the whole unsigned file (spec §1.6, signing side).
fn hash_stream(r: &mut dyn ReadSeek, alg: HashAlgorithm) -> Result<Vec<u8>, Error> {
    r.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("cannot read the package", &e))?;
    let mut hasher = alg.hasher();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read the package", &e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher.finish())
}
