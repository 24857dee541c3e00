//! c2sp.org/tlog-tiles: tile and entry-bundle paths, the tiles a growing log writes, and a
//! [`HashSource`] over fetched tiles for clients and monitors.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::malformed;
use crate::merkle::{Hash, HashSource, MemoryHashes};
use crate::{Error, Limits};

/// Hashes in a full tile (and entries in a full bundle).
pub const TILE_WIDTH: u64 = 256;

/// Which kind of tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TileKind {
    /// Merkle tree hashes at a level, 0 to 63 (`tile/<L>/…`).
    Hashes(u8),
    /// An entry bundle (`tile/entries/…`).
    Entries,
}

/// One tile or entry bundle: its kind, index, and width (256 for a full tile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Level or entries.
    pub kind: TileKind,
    /// Index within the level.
    pub index: u64,
    /// Number of hashes or entries, 1 to 256.
    pub width: u16,
}

impl TileId {
    /// Whether the tile is partial (has a `.p/<W>` suffix).
    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH
    }

    /// The path under the log's prefix, e.g. `tile/0/x001/234.p/5` or `tile/entries/000`.
    pub fn path(&self) -> String {
        let mut s = String::from("tile/");
        match self.kind {
            TileKind::Hashes(l) => s.push_str(&l.to_string()),
            TileKind::Entries => s.push_str("entries"),
        }
        s.push('/');
        s.push_str(&encode_index(self.index));
        if self.is_partial() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parses a path as [`TileId::path`] writes it; any other spelling is refused, so a tile
    /// has one name (a cache or blob key cannot be reached twice under two paths).
    pub fn parse(path: &str) -> Result<TileId, Error> {
        let bad = |why: &str| malformed("tile path", format!("{why}: {path:?}"));
        if path.len() > 128 {
            return Err(bad("too long"));
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("no tile/ prefix"))?;
        let (kind_s, rest) = rest.split_once('/').ok_or_else(|| bad("no level"))?;
        let kind = if kind_s == "entries" {
            TileKind::Entries
        } else {
            let l: u8 = kind_s.parse().map_err(|_| bad("bad level"))?;
            if l > 63 {
                return Err(bad("level above 63"));
            }
            TileKind::Hashes(l)
        };
        let (index_s, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w: u16 = w.parse().map_err(|_| bad("bad width"))?;
                if w == 0 || u64::from(w) >= TILE_WIDTH {
                    return Err(bad("partial width out of 1..=255"));
                }
                (i, w)
            }
            None => (rest, 256),
        };
        let mut index: u64 = 0;
        let elems: Vec<&str> = index_s.split('/').collect();
        for (i, e) in elems.iter().enumerate() {
            let last = i + 1 == elems.len();
            let digits = if last {
                *e
            } else {
                e.strip_prefix('x')
                    .ok_or_else(|| bad("path element without x"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("path element is not three digits"));
            }
            let d: u64 = digits.parse().map_err(|_| bad("bad digits"))?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(d))
                .ok_or_else(|| bad("index overflows"))?;
        }
        let id = TileId { kind, index, width };
        if id.path() != path {
            return Err(bad("not the canonical spelling"));
        }
        Ok(id)
    }
}

fn encode_index(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    s
}

/// The tile of `kind` with index `index` as it stands in a tree of `size` leaves, or `None`
/// when that tree has no such tile.
pub fn tile_at(kind: TileKind, index: u64, size: u64) -> Option<TileId> {
    let level = match kind {
        TileKind::Hashes(l) => l,
        TileKind::Entries => 0,
    };
    let count = level_count(level, size);
    let start = index.checked_mul(TILE_WIDTH)?;
    if start >= count {
        return None;
    }
    let width = (count - start).min(TILE_WIDTH);
    Some(TileId {
        kind,
        index,
        width: u16::try_from(width).ok()?,
    })
}

/// Complete hashes at `level` in a tree of `size` leaves: floor(size / 256^level).
pub fn level_count(level: u8, size: u64) -> u64 {
    let shift = 8 * u32::from(level);
    if shift >= 64 { 0 } else { size >> shift }
}

/// What a log writes when it grows from `old` to `new` leaves: every tile (all levels) and
/// entry bundle that is new or wider, with its hashes, and the level ≥ 1 hashes that became
/// complete (each the root of a level-below tile that became full).
#[derive(Clone, Debug, Default)]
pub struct Growth {
    /// Hash tiles for the new size, with their contents.
    pub tiles: Vec<(TileId, Vec<Hash>)>,
    /// Entry bundles for the new size (contents are the caller's: the entries themselves).
    pub bundles: Vec<TileId>,
    /// New complete hashes at levels ≥ 1: (level, index, hash).
    pub hashes: Vec<(u8, u64, Hash)>,
    /// The root of the tree of the new size.
    pub root: Hash,
}

/// `src` with hashes computed since laid over it.
struct Overlay<'a, S: ?Sized> {
    src: &'a S,
    top: &'a MemoryHashes,
}

impl<S: HashSource + ?Sized> HashSource for Overlay<'_, S> {
    fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, Error> {
        (start..start.saturating_add(count))
            .map(|i| match self.top.level_hashes(level, i, 1) {
                Ok(v) => Ok(v),
                Err(_) => self.src.level_hashes(level, i, 1),
            })
            .map(|r| {
                r?.first().copied().ok_or(Error::MissingHash {
                    level,
                    index: start,
                    reason: String::new(),
                })
            })
            .collect()
    }
}

/// Computes the [`Growth`] from `old` to `new` leaves, reading level-0 hashes and the
/// existing level ≥ 1 hashes from `src` (use [`crate::hashes_needed`] to learn which).
pub fn grow<S: HashSource + ?Sized>(src: &S, old: u64, new: u64) -> Result<Growth, Error> {
    if old > new {
        return Err(Error::OutOfRange(format!(
            "a log cannot shrink from {old} to {new}"
        )));
    }
    let mut computed = MemoryHashes::new();
    let mut out = Growth::default();
    let get = |computed: &MemoryHashes, level: u8, i: u64| -> Result<Hash, Error> {
        match computed.level_hashes(level, i, 1) {
            Ok(v) => v.first().copied().ok_or(Error::MissingHash {
                level,
                index: i,
                reason: String::new(),
            }),
            Err(_) => src
                .level_hashes(level, i, 1)?
                .first()
                .copied()
                .ok_or(Error::MissingHash {
                    level,
                    index: i,
                    reason: String::new(),
                }),
        }
    };
    for level in 0u8..64 {
        let (c_old, c_new) = (level_count(level, old), level_count(level, new));
        if c_new == 0 || c_new == c_old {
            break;
        }
        if level >= 1 {
            for j in c_old..c_new {
                let mut run = Vec::with_capacity(256);
                for k in 0..TILE_WIDTH {
                    run.push(get(&computed, level - 1, j * TILE_WIDTH + k)?);
                }
                let h = crate::merkle::fold_pairs(run)?;
                computed.insert(level, j, h);
                out.hashes.push((level, j, h));
            }
        }
        for t in c_old / TILE_WIDTH..=(c_new - 1) / TILE_WIDTH {
            let Some(id) = tile_at(TileKind::Hashes(level), t, new) else {
                continue;
            };
            let mut hashes = Vec::with_capacity(usize::from(id.width));
            for k in 0..u64::from(id.width) {
                hashes.push(get(&computed, level, t * TILE_WIDTH + k)?);
            }
            if level == 0 {
                out.bundles.push(TileId {
                    kind: TileKind::Entries,
                    ..id
                });
            }
            out.tiles.push((id, hashes));
        }
    }
    out.root = crate::merkle::tree_hash(
        &Overlay {
            src,
            top: &computed,
        },
        new,
    )?;
    Ok(out)
}

/// Tile bytes: the hashes concatenated.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// A [`HashSource`] over the tiles of a tree of a given size, fetched on demand and kept for
/// the reader's lifetime. Tiles are not trusted: every use verifies a proof against a signed
/// root, and a wrong tile only makes that verification fail.
pub struct TileHashReader<F> {
    size: u64,
    fetch: F,
    limits: Limits,
    cache: RefCell<HashMap<TileId, Vec<Hash>>>,
    fetched: RefCell<usize>,
}

impl<F: Fn(&TileId) -> Result<Vec<u8>, Error>> TileHashReader<F> {
    /// Reads the tiles of the tree of `size` leaves through `fetch` (which gets the tile as
    /// the tree of that size has it, partial or full).
    pub fn new(size: u64, limits: Limits, fetch: F) -> Self {
        Self {
            size,
            fetch,
            limits,
            cache: RefCell::new(HashMap::new()),
            fetched: RefCell::new(0),
        }
    }

    fn tile(&self, id: TileId) -> Result<Vec<Hash>, Error> {
        if let Some(t) = self.cache.borrow().get(&id) {
            return Ok(t.clone());
        }
        {
            let mut n = self.fetched.borrow_mut();
            if *n >= self.limits.max_tiles_per_operation {
                return Err(Error::TooLarge {
                    what: "tiles fetched for one operation",
                    limit: self.limits.max_tiles_per_operation,
                });
            }
            *n += 1;
        }
        let bytes = (self.fetch)(&id)?;
        if bytes.len() != usize::from(id.width) * 32 {
            return Err(Error::BadTile {
                path: id.path(),
                reason: format!("{} bytes for {} hashes", bytes.len(), id.width),
            });
        }
        let hashes: Vec<Hash> = bytes
            .chunks_exact(32)
            .filter_map(Hash::from_slice)
            .collect();
        self.cache.borrow_mut().insert(id, hashes.clone());
        Ok(hashes)
    }
}

impl<F: Fn(&TileId) -> Result<Vec<u8>, Error>> HashSource for TileHashReader<F> {
    fn level_hashes(&self, level: u8, start: u64, count: u64) -> Result<Vec<Hash>, Error> {
        let end = start.saturating_add(count);
        if end > level_count(level, self.size) {
            return Err(Error::MissingHash {
                level,
                index: start,
                reason: format!("not complete in a tree of size {}", self.size),
            });
        }
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            let t = i / TILE_WIDTH;
            let id = tile_at(TileKind::Hashes(level), t, self.size).ok_or(Error::MissingHash {
                level,
                index: i,
                reason: String::new(),
            })?;
            let hashes = self.tile(id)?;
            let tile_end = (t * TILE_WIDTH + u64::from(id.width)).min(end);
            for k in i..tile_end {
                let h = usize::try_from(k - t * TILE_WIDTH)
                    .ok()
                    .and_then(|o| hashes.get(o))
                    .ok_or(Error::MissingHash {
                        level,
                        index: k,
                        reason: String::new(),
                    })?;
                out.push(*h);
            }
            i = tile_end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, tree_hash};

    #[test]
    fn paths_round_trip_and_are_canonical() {
        let cases = [
            (TileKind::Hashes(0), 0, 256, "tile/0/000"),
            (TileKind::Hashes(1), 1234067, 256, "tile/1/x001/x234/067"),
            (TileKind::Hashes(0), 1234067, 5, "tile/0/x001/x234/067.p/5"),
            (TileKind::Entries, 1000, 256, "tile/entries/x001/000"),
            (TileKind::Entries, 7, 255, "tile/entries/007.p/255"),
        ];
        for (kind, index, width, path) in cases {
            let id = TileId { kind, index, width };
            assert_eq!(id.path(), path);
            assert_eq!(TileId::parse(path).unwrap(), id);
        }
        for bad in [
            "tile/0/0",
            "tile/00/000",
            "tile/64/000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/05",
            "tile/data/000",
            "tile/0/x001",
            "tile/0/000/",
            "tile/-1/000",
            "tile/entries/000.p/",
        ] {
            assert!(TileId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partial_tiles_of_70000() {
        // tlog-tiles' example: 273 full level-0 tiles and one of width 112, one full level-1
        // tile and one of width 17, one level-2 tile of width 1.
        assert_eq!(
            tile_at(TileKind::Hashes(0), 273, 70_000).unwrap().width,
            112
        );
        assert_eq!(
            tile_at(TileKind::Hashes(0), 272, 70_000).unwrap().width,
            256
        );
        assert_eq!(tile_at(TileKind::Hashes(1), 1, 70_000).unwrap().width, 17);
        assert_eq!(tile_at(TileKind::Hashes(2), 0, 70_000).unwrap().width, 1);
        assert!(tile_at(TileKind::Hashes(3), 0, 70_000).is_none());
        assert!(tile_at(TileKind::Hashes(0), 274, 70_000).is_none());
    }

    #[test]
    fn grown_tiles_serve_the_tree() {
        let leaves: Vec<Hash> = (0..70_000u64)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut db = MemoryHashes::new();
        let mut store: HashMap<TileId, Vec<u8>> = HashMap::new();
        let mut old = 0u64;
        for new in [1u64, 255, 256, 257, 300, 65_536, 65_537, 70_000] {
            for i in old..new {
                db.insert(0, i, leaves[i as usize]);
            }
            let g = grow(&db, old, new).unwrap();
            for (l, i, h) in g.hashes {
                db.insert(l, i, h);
            }
            for (id, hashes) in g.tiles {
                store.insert(id, tile_bytes(&hashes));
            }
            let reader = TileHashReader::new(new, Limits::default(), |id: &TileId| {
                store.get(id).cloned().ok_or_else(|| Error::BadTile {
                    path: id.path(),
                    reason: "absent".into(),
                })
            });
            assert_eq!(
                tree_hash(&reader, new).unwrap(),
                tree_hash(&db, new).unwrap()
            );
            old = new;
        }
    }
}
