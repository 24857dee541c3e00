//! Must show 1: signet's checkpoints, tiles, entry bundles, inclusion and consistency proofs
//! checked by an implementation that is not signet's — Go's golang.org/x/mod/sumdb/{note,tlog}
//! (`signet-test-support`'s `tlogcheck`). Skipped, saying so, when Go is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use signet_tlog::NoteSigner as _;
use signet_tlog::{
    Checkpoint, Entry, Limits, MemoryHashes, SigningKey, TileId, TlogProof, consistency_proof,
    encode_bundle, grow, inclusion_proof, leaf_hash, tile_bytes, tree_hash,
};

const ORIGIN: &str = "nuget.example/tlog";

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

#[test]
fn go_sumdb_verifies_checkpoints_tiles_and_proofs() {
    let Some(go) = signet_test_support::go_binary() else {
        eprintln!(
            "skipped: SIGNET_GO is not set or Go's sumdb sources are missing (scripts/test.sh sets it)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let exe = signet_test_support::build_tlogcheck(&go, tmp.path()).unwrap();
    let log = tmp.path().join("log");
    let key = SigningKey::from_seed(ORIGIN, [42; 32]).unwrap();

    let sizes = [1u64, 2, 255, 256, 257, 1000, 65_536, 65_537, 70_000];
    let entries: Vec<Vec<u8>> = (0..70_000u64)
        .map(|i| {
            let author = (i % 3 != 0).then_some([i as u8; 32]);
            Entry::new(
                &format!("Contoso.P{}", i % 97),
                &format!("1.{}.0", i),
                [i as u8; 64],
                author,
                Some([9; 32]),
                1_700_000_000_000 + i,
            )
            .unwrap()
            .encode()
        })
        .collect();
    let mut db = MemoryHashes::new();
    let mut roots = BTreeMap::new();
    let mut commands = String::new();
    let mut old = 0u64;
    for &n in &sizes {
        for i in old..n {
            db.insert(0, i, leaf_hash(&entries[i as usize]));
        }
        let g = grow(&db, old, n).unwrap();
        for (l, i, h) in g.hashes {
            db.insert(l, i, h);
        }
        for (id, hashes) in &g.tiles {
            write(&log, &id.path(), &tile_bytes(hashes));
        }
        for id in &g.bundles {
            let lo = (id.index * 256) as usize;
            let b = encode_bundle(
                entries[lo..lo + usize::from(id.width)]
                    .iter()
                    .map(Vec::as_slice),
            )
            .unwrap();
            write(&log, &id.path(), &b);
        }
        let root = tree_hash(&db, n).unwrap();
        roots.insert(n, root);
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: n,
            root,
            extensions: vec![],
        }
        .sign(&key)
        .unwrap();
        write(&log, &format!("checkpoint.{n}"), cp.to_text().as_bytes());
        commands.push_str(&format!("checkpoint checkpoint.{n}\n"));
        for i in [0, n / 2, n - 1] {
            let p = TlogProof {
                extra: Some(entries[i as usize].clone()),
                index: i,
                proof: inclusion_proof(&db, i, n).unwrap(),
                checkpoint: cp.to_text(),
            };
            // Our own verifier agrees before Go is asked.
            let parsed = TlogProof::parse(p.to_text().as_bytes(), &Limits::default()).unwrap();
            parsed
                .verify(&entries[i as usize], key.verifier(), &Limits::default())
                .unwrap();
            write(&log, &format!("proof.{n}.{i}"), p.to_text().as_bytes());
            commands.push_str(&format!("proof proof.{n}.{i}\n"));
        }
        old = n;
    }
    for (i, &m) in sizes.iter().enumerate() {
        for &n in &sizes[i + 1..] {
            let p = consistency_proof(&db, m, n).unwrap();
            let hashes = if p.is_empty() {
                "-".to_owned()
            } else {
                p.iter()
                    .map(|h| h.to_base64())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            commands.push_str(&format!("consistency {m} {n} {hashes}\n"));
        }
    }
    let vkey = key.verifier().to_string();
    let out = signet_test_support::run_tlogcheck(&exe, log.to_str().unwrap(), &vkey, &commands)
        .unwrap_or_else(|e| panic!("Go's sumdb refused signet's log:\n{e}"));
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("ok checkpoint"))
            .count(),
        sizes.len()
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("ok consistency"))
            .count(),
        sizes.len() * (sizes.len() - 1) / 2
    );
    eprintln!("{}", out.lines().last().unwrap_or_default());

    // And Go notices a wrong tile: a level-0 tile with one hash changed fails the checkpoint.
    let tile = log.join(TileId::parse("tile/0/000").unwrap().path());
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&tile, bytes).unwrap();
    let bad = signet_test_support::run_tlogcheck(
        &exe,
        log.to_str().unwrap(),
        &vkey,
        "checkpoint checkpoint.70000\n",
    );
    assert!(bad.is_err(), "a tampered tile must fail: {bad:?}");
    // A note signed by another key with the same name is not accepted.
    let other = SigningKey::from_seed(ORIGIN, [43; 32]).unwrap();
    let forged = Checkpoint {
        origin: ORIGIN.into(),
        size: 1,
        root: roots[&1],
        extensions: vec![],
    }
    .sign(&other)
    .unwrap();
    write(&log, "checkpoint.forged", forged.to_text().as_bytes());
    assert!(
        signet_test_support::run_tlogcheck(
            &exe,
            log.to_str().unwrap(),
            &vkey,
            "checkpoint checkpoint.forged\n"
        )
        .is_err()
    );
}
