//! The transparency log's parsers (`signet_tlog`): signed notes, checkpoints, tlog-proofs,
//! tile paths, entry bundles, log entries and witness add-checkpoint bodies, each fed the
//! same input.
//!
//! Properties: whatever parses re-encodes to the same bytes (one spelling per value:
//! checkpoints, notes, proofs, tile paths, entries); a proof never verifies under a key it
//! was not signed with, and neither does a cosignature; a witness never accepts a body (it
//! would need the log's signature); nothing panics.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use signet_tlog::{
    AddCheckpoint, Checkpoint, CosignerKey, Entry, Limits, Note, SigningKey, TileId, TlogProof,
    check_add_checkpoint, parse_bundle,
};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(note) = Note::parse(data, &limits) {
        assert_eq!(note.to_text().as_bytes(), data, "a note has one spelling");
        if let Ok(c) = Checkpoint::parse(&note.text, &limits) {
            assert_eq!(c.to_text(), note.text, "a checkpoint has one spelling");
        }
        if let Ok(key) = SigningKey::from_seed("fuzz.example/log", [7; 32]) {
            use signet_tlog::NoteSigner as _;
            // The fuzzer cannot forge an Ed25519 signature.
            assert!(note.verify(key.verifier()).is_err());
        }
        if let Ok(w) = CosignerKey::from_seed("fuzz.example/w", [8; 32]) {
            assert!(w.verifier().verify(&note).is_err());
        }
    }
    if let Ok(req) = AddCheckpoint::parse(data, &limits) {
        assert_eq!(req.to_bytes(), data, "an add-checkpoint body has one spelling");
        if let Ok(key) = SigningKey::from_seed("fuzz.example/log", [7; 32]) {
            use signet_tlog::NoteSigner as _;
            let keys = [key.verifier().clone()];
            assert!(check_add_checkpoint(&req, &keys, None, &limits).is_err());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = black_box(Checkpoint::parse(text, &limits));
        if let Ok(id) = TileId::parse(text) {
            assert_eq!(id.path(), text, "a tile has one path");
        }
    }
    if let Ok(p) = TlogProof::parse(data, &limits) {
        black_box(p.to_text());
    }
    if let Ok(entries) = parse_bundle(data, &limits) {
        for e in entries {
            if let Ok(entry) = Entry::decode(e) {
                assert_eq!(entry.encode(), e, "an entry has one encoding");
            }
        }
    }
    if let Ok(entry) = Entry::decode(data) {
        assert_eq!(entry.encode(), data);
    }
});
