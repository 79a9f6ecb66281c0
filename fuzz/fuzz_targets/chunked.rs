#![no_main]
//! See osprey_fuzz::chunked for the input layout and the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| osprey_fuzz::chunked(data));
