//! RFC 6962 Merkle trees: hashing (§2.1), the tree hash of a tile-backed log, inclusion
//! (§2.1.1) and consistency (§2.1.2) proofs, their verification (RFC 9162 §2.1.3.2 and
//! §2.1.4.2), and the compact range a monitor keeps.
//!
//! Hand-written rather than taken from `tlog_tiles` (Cloudflare azul): that crate brings a
//! second SHA-2 and Ed25519 stack, base64 0.21 and thiserror 1 beside the ones signet builds
//! already, and the arithmetic is a few dozen lines whose independent check is Go's
//! `sumdb/tlog` in this crate's tests.

use aws_lc_rs::digest;

use crate::Error;

/// A SHA-256 Merkle tree hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Reads a hash from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(bytes).ok().map(Hash)
    }

    /// Standard base64 (the checkpoint and proof encoding).
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parses standard, padded, canonical base64 of 32 bytes.
    pub fn from_base64(s: &str) -> Option<Hash> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        let h = Hash::from_slice(&bytes)?;
        // The decoder accepts non-zero trailing bits; only the canonical form is one hash.
        (h.to_base64() == s).then_some(h)
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Hash(out)
}

/// The root of the empty tree, SHA-256 of nothing (RFC 6962 §2.1; c2sp.org/tlog-witness uses
/// it for size-0 checkpoints, where Go's `TreeHash(0)` returns zeros).
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// Leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], &left.0, &right.0])
}

/// Hashes at tile granularity: at level 0 the leaf hashes, at level `L` the hash of each
/// complete subtree of `256^L` leaves (exactly the hashes tlog-tiles puts in level-`L` tiles).
pub trait HashSource {
    /// The `count` hashes starting at `start` on `level`; each must cover complete subtrees.
    fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, Error>;
}

impl<S: HashSource + ?Sized> HashSource for &S {
    fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, Error> {
        (**self).level_hashes(level, start, count)
    }
}

/// Levels of a tile: 2^8 = 256 hashes per tile.
pub(crate) const TILE_HEIGHT: u32 = 8;

/// Folds a power-of-two run of sibling hashes into their subtree root.
pub(crate) fn fold_pairs(mut hashes: Vec<Hash>) -> Result<Hash, Error> {
    while hashes.len() > 1 {
        hashes = hashes
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => Ok(node_hash(l, r)),
                _ => Err(Error::OutOfRange(
                    "a run of hashes is not a power of two".into(),
                )),
            })
            .collect::<Result<_, _>>()?;
    }
    hashes
        .pop()
        .ok_or_else(|| Error::OutOfRange("an empty run of hashes".into()))
}

/// The root of the complete subtree of height `height` (2^height leaves) with index `index`.
pub fn subtree_hash<S: HashSource + ?Sized>(
    src: &S,
    height: u32,
    index: u64,
) -> Result<Hash, Error> {
    let level = u8::try_from(height / TILE_HEIGHT)
        .map_err(|_| Error::OutOfRange(format!("subtree height {height}")))?;
    let within = height % TILE_HEIGHT;
    let count = 1u64 << within;
    let start = index
        .checked_mul(count)
        .ok_or_else(|| Error::OutOfRange("subtree index".into()))?;
    let hashes = src.level_hashes(level, start, count)?;
    if hashes.len() as u64 != count {
        return Err(Error::MissingHash {
            level,
            index: start,
            reason: format!("the source returned {} of {count} hashes", hashes.len()),
        });
    }
    fold_pairs(hashes)
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[lo:hi]) for `lo` aligned to the largest power of two not above `hi - lo` (always true
/// of the ranges RFC 6962's recursion visits).
fn range_hash<S: HashSource + ?Sized>(src: &S, lo: u64, hi: u64) -> Result<Hash, Error> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let height = n.trailing_zeros();
        return subtree_hash(src, height, lo >> height);
    }
    if n < 2 {
        return Err(Error::OutOfRange(format!("range {lo}..{hi}")));
    }
    let k = split_point(n);
    Ok(node_hash(
        &range_hash(src, lo, lo + k)?,
        &range_hash(src, lo + k, hi)?,
    ))
}

/// The root hash of the tree of `size` leaves.
pub fn tree_hash<S: HashSource + ?Sized>(src: &S, size: u64) -> Result<Hash, Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// RFC 6962 §2.1.1 audit path of leaf `index` in the tree of `size` leaves, leaf sibling first.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, Error> {
    if index >= size {
        return Err(Error::OutOfRange(format!(
            "entry {index} is not in a tree of size {size}"
        )));
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), Error> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(src, m, lo, lo + k, out)?;
        out.push(range_hash(src, lo + k, hi)?);
    } else {
        path(src, m - k, lo + k, hi, out)?;
        out.push(range_hash(src, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 6962 §2.1.2 consistency proof from the tree of `old` leaves to the one of `new` leaves
/// (empty when `old` is 0 or equals `new`).
pub fn consistency_proof<S: HashSource + ?Sized>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, Error> {
    if old > new {
        return Err(Error::OutOfRange(format!(
            "a tree of size {old} cannot be a prefix of one of size {new}"
        )));
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    subproof(src, old, 0, new, true, &mut proof)?;
    Ok(proof)
}

fn subproof<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), Error> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(range_hash(src, lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, lo, lo + k, whole, out)?;
        out.push(range_hash(src, lo + k, hi)?);
    } else {
        subproof(src, m - k, lo + k, hi, false, out)?;
        out.push(range_hash(src, lo, lo + k)?);
    }
    Ok(())
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    let bad = || Error::BadInclusionProof { index, size };
    if index >= size {
        return Err(bad());
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(bad());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Verifies a consistency proof from (`old`, `old_root`) to (`new`, `new_root`) (RFC 9162
/// §2.1.4.2). A tree of size 0 is a prefix of every tree.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), Error> {
    let bad = || Error::Inconsistent { old, new };
    if old > new {
        return Err(bad());
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(bad())
        };
    }
    if old == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(bad()) };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(bad());
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(bad());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr == *old_root && sr == *new_root && sn == 0 {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Hashes kept in memory, by (level, index): what a server loads before computing a proof,
/// and what tests use.
#[derive(Clone, Debug, Default)]
pub struct MemoryHashes {
    map: std::collections::BTreeMap<(u8, u64), Hash>,
}

impl MemoryHashes {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores one hash.
    pub fn insert(&mut self, level: u8, index: u64, hash: Hash) {
        self.map.insert((level, index), hash);
    }
}

impl HashSource for MemoryHashes {
    fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, Error> {
        (start..start.saturating_add(count))
            .map(|i| {
                self.map
                    .get(&(level, i))
                    .copied()
                    .ok_or_else(|| Error::MissingHash {
                        level,
                        index: i,
                        reason: String::new(),
                    })
            })
            .collect()
    }
}

/// Which hashes a computation reads, found by running it once over placeholders: the
/// algorithms above read the same hashes whatever their values. A server uses this to load
/// exactly those hashes (one query per range) before computing a proof from its database.
pub fn hashes_needed<T>(
    run: impl FnOnce(&dyn HashSource) -> Result<T, Error>,
) -> Result<Vec<(u8, u64, u64)>, Error> {
    struct Recorder(std::cell::RefCell<Vec<(u8, u64, u64)>>);
    impl HashSource for Recorder {
        fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, Error> {
            self.0.borrow_mut().push((level, start, count));
            let n = usize::try_from(count).map_err(|_| Error::OutOfRange("count".into()))?;
            Ok(vec![Hash::default(); n])
        }
    }
    let rec = Recorder(std::cell::RefCell::new(Vec::new()));
    run(&rec)?;
    let mut v = rec.0.into_inner();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first (at most 64).
/// Appending leaves to it and comparing the root with a checkpoint's checks both that the new
/// tree extends the old one and that the entries read are the ones the tree commits to: what
/// a monitor keeps between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// (height, root) of each perfect subtree, heights strictly decreasing.
    nodes: Vec<(u32, Hash)>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The right edge of the tree of `size` leaves, read from `src`.
    pub fn from_source<S: HashSource + ?Sized>(src: &S, size: u64) -> Result<Self, Error> {
        let mut nodes = Vec::new();
        let mut lo = 0u64;
        for height in (0..64u32).rev() {
            if size & (1u64 << height) != 0 {
                nodes.push((height, subtree_hash(src, height, lo >> height)?));
                lo += 1u64 << height;
            }
        }
        Ok(Self { size, nodes })
    }

    /// Rebuilds a range from its parts (as stored by [`CompactRange::hashes`]).
    pub fn from_parts(size: u64, hashes: &[Hash]) -> Result<Self, Error> {
        let heights: Vec<u32> = (0..64u32)
            .rev()
            .filter(|h| size & (1u64 << h) != 0)
            .collect();
        if heights.len() != hashes.len() {
            return Err(crate::error::malformed(
                "compact range",
                format!(
                    "size {size} needs {} hashes, got {}",
                    heights.len(),
                    hashes.len()
                ),
            ));
        }
        Ok(Self {
            size,
            nodes: heights.into_iter().zip(hashes.iter().copied()).collect(),
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> Vec<Hash> {
        self.nodes.iter().map(|(_, h)| *h).collect()
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut r)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            r = node_hash(left, &r);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH straight from RFC 6962 §2.1, over all leaves: the oracle for the tile-backed code.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    pub(crate) fn memory_log(n: u64) -> (MemoryHashes, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut m = MemoryHashes::new();
        for (i, h) in leaves.iter().enumerate() {
            m.insert(0, i as u64, *h);
        }
        let mut level = 1u8;
        let mut width = 256u64;
        while width <= n {
            for j in 0..n / width {
                let lo = (j * width) as usize;
                m.insert(level, j, mth(&leaves[lo..lo + width as usize]));
            }
            level += 1;
            width *= 256;
        }
        (m, leaves)
    }

    #[test]
    fn tree_hash_matches_rfc_recursion() {
        let (m, leaves) = memory_log(1100);
        for n in [
            0u64, 1, 2, 3, 7, 8, 255, 256, 257, 511, 512, 513, 1000, 1024, 1100,
        ] {
            assert_eq!(
                tree_hash(&m, n).unwrap(),
                mth(&leaves[..n as usize]),
                "n={n}"
            );
        }
    }

    #[test]
    fn proofs_verify_and_tampering_fails() {
        let (m, leaves) = memory_log(600);
        for n in [1u64, 2, 3, 5, 8, 13, 256, 257, 300, 512, 600] {
            let root = tree_hash(&m, n).unwrap();
            for i in [0, n / 3, n / 2, n - 1] {
                let p = inclusion_proof(&m, i, n).unwrap();
                verify_inclusion(&leaves[i as usize], i, n, &p, &root).unwrap();
                assert!(verify_inclusion(&leaf_hash(b"x"), i, n, &p, &root).is_err());
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert!(verify_inclusion(&leaves[i as usize], i, n, &bad, &root).is_err());
                }
            }
            for old in [1u64, 2, 3, n / 2, n - 1, n] {
                if old == 0 || old > n {
                    continue;
                }
                let p = consistency_proof(&m, old, n).unwrap();
                let old_root = tree_hash(&m, old).unwrap();
                verify_consistency(old, n, &p, &old_root, &root).unwrap();
                if old < n {
                    let wrong = leaf_hash(b"other");
                    assert!(verify_consistency(old, n, &p, &wrong, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn compact_range_agrees() {
        let (m, leaves) = memory_log(700);
        let mut c = CompactRange::new();
        for (i, l) in leaves.iter().enumerate() {
            assert_eq!(c.root(), tree_hash(&m, i as u64).unwrap());
            c.append(*l);
        }
        let from = CompactRange::from_source(&m, 700).unwrap();
        assert_eq!(from, c);
        assert_eq!(CompactRange::from_parts(700, &c.hashes()).unwrap(), c);
    }

    #[test]
    fn recorder_finds_what_a_proof_reads() {
        let (m, _) = memory_log(1000);
        let needed = hashes_needed(|s| inclusion_proof(s, 517, 1000)).unwrap();
        let mut sub = MemoryHashes::new();
        for (level, start, count) in needed {
            for (k, h) in m
                .level_hashes(level, start, count)
                .unwrap()
                .into_iter()
                .enumerate()
            {
                sub.insert(level, start + k as u64, h);
            }
        }
        assert_eq!(
            inclusion_proof(&sub, 517, 1000).unwrap(),
            inclusion_proof(&m, 517, 1000).unwrap()
        );
    }
}
