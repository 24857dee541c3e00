//! Converts the bundled PEM trust roots to concatenated DER at build time, so the binary does
//! not decode ~1 MB of base64 on every start (verification targets a few milliseconds).

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    for name in ["codesignctl", "timestampctl"] {
        let src = format!("roots/{name}.pem");
        println!("cargo:rerun-if-changed={src}");
        let pem = std::fs::read_to_string(&src).unwrap_or_default();
        let mut der = Vec::new();
        let mut in_block = false;
        let mut b64 = String::new();
        for line in pem.lines() {
            let line = line.trim();
            if line == "-----BEGIN CERTIFICATE-----" {
                in_block = true;
                b64.clear();
            } else if line == "-----END CERTIFICATE-----" {
                in_block = false;
                der.extend(decode_base64(&b64));
            } else if in_block {
                b64.push_str(line);
            }
        }
        let _ = std::fs::write(Path::new(&out).join(format!("{name}.der")), der);
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
