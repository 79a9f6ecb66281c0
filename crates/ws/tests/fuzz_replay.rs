//! Replays the `websocket` fuzz property (fuzz/src/ws.rs) without a fuzzer,
//! on every `cargo test`: over streams of valid messages, the same streams
//! with bytes flipped and cut short, under every configuration byte and
//! several read sizes, and over every saved finding in
//! `fuzz/regressions/websocket-*.bin`.

mod common;

#[path = "../../../fuzz/src/ws.rs"]
mod ws;

use common::*;

/// A client stream exercising most paths: text and binary, fragments with
/// control frames between them, compressed frames (garbage unless deflate
/// is on), a close.
fn sample_stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend(frame(true, 1, "héllo".as_bytes()));
    s.extend(frame(false, 2, &[1; 40]));
    s.extend(frame(true, 9, b"ping"));
    s.extend(frame(true, 0, &[2; 90]));
    s.extend(frame_rsv1(
        true,
        1,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    ));
    s.extend(frame(false, 1, b"\xe2\x82"));
    s.extend(frame(true, 0, b"\xac"));
    s.extend(frame(true, 10, b""));
    s.extend(frame(true, 8, &close_payload(1000, b"bye")));
    s
}

#[test]
fn property_over_samples_and_mutations() {
    let base = sample_stream();
    let mut inputs = vec![base.clone()];
    for i in (0..base.len()).step_by(3) {
        let mut flipped = base.clone();
        flipped[i] ^= 0x5a;
        inputs.push(flipped);
        inputs.push(base[..i].to_vec());
    }
    for stream in &inputs {
        for cfg in 0..8u8 {
            for step in [0u8, 1, 6, 254] {
                let mut data = vec![cfg, step];
                data.extend_from_slice(stream);
                ws::websocket(&data);
            }
        }
    }
}

#[test]
fn saved_findings() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/regressions");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("websocket-") {
            ws::websocket(&std::fs::read(e.path()).unwrap());
        }
    }
}
