#![no_main]
//! See fuzz/src/ws.rs for the input layout and the properties checked.

use libfuzzer_sys::fuzz_target;

#[path = "../src/ws.rs"]
mod ws;

fuzz_target!(|data: &[u8]| ws::websocket(data));
