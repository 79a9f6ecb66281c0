//! Replays the fuzz properties (fuzz/src/lib.rs) in CI, without a fuzzer: over
//! every golden fixture input, with several split points and read sizes, and
//! over every saved finding in fuzz/regressions/. Each property asserts statuses,
//! spans and whole-versus-split agreement, and panics on the first violation.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod props;

mod common;

use std::path::Path;

use common::{fixture_files, unescape, Fixture};

fn fixture_inputs() -> Vec<Vec<u8>> {
    let inputs: Vec<Vec<u8>> = fixture_files("requests")
        .iter()
        .map(|path| unescape(Fixture::load(path).section("input")))
        .collect();
    assert!(inputs.len() >= 100, "fixtures found: {}", inputs.len());
    inputs
}

fn with_prefix(prefix: &[u8], message: &[u8]) -> Vec<u8> {
    [prefix, message].concat()
}

#[test]
fn properties_hold_on_every_fixture() {
    for input in fixture_inputs() {
        for split in [0u8, 1, 37, 128, 200, 254] {
            props::request_head(&with_prefix(&[split], &input));
            props::server_conn(&with_prefix(&[split], &input));
        }
        // The body after the head, as a chunked body.
        if let Some(at) = input.windows(4).position(|w| w == b"\r\n\r\n") {
            let body = &input[at + 4..];
            for sizes in [[0u8, 0], [3, 1], [6, 50]] {
                let mut data = vec![1u8];
                data.extend_from_slice(&sizes);
                data.extend_from_slice(body);
                props::chunked(&data);
            }
        }
    }
}

#[test]
fn saved_fuzz_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let data = std::fs::read(&path).unwrap();
        match name.split('-').next().unwrap() {
            "request_head" => props::request_head(&data),
            "response_head" => props::response_head(&data),
            "chunked" => props::chunked(&data),
            "server_conn" => props::server_conn(&data),
            other => panic!("unknown target {other} in {name}"),
        }
        replayed += 1;
    }
    assert!(replayed >= 8, "replayed {replayed}");
}
