//! Integration tests of `signet-nupkg` against the real packages in `../shared/interop/packages`
//! and hand-built hostile archives. One test binary; the modules live in `fixtures/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "fixtures/adversarial.rs"]
mod adversarial;
#[path = "fixtures/bad_input.rs"]
mod bad_input;
#[path = "fixtures/edge_cases.rs"]
mod edge_cases;
#[path = "fixtures/extract.rs"]
mod extract;
#[path = "fixtures/invariant.rs"]
mod invariant;
#[path = "fixtures/props.rs"]
mod props;
#[path = "fixtures/roundtrip.rs"]
mod roundtrip;
#[path = "fixtures/signed.rs"]
mod signed;
#[path = "fixtures/support.rs"]
mod support;
