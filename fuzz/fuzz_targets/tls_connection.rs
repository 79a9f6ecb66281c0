#![no_main]
//! See osprey_server::fuzzing::tls_connection for the input layout and the
//! properties checked: bytes before and during a TLS handshake never crash
//! the server, never reach the handler, and are never answered in clear
//! (except plain HTTP's fixed 400).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| osprey_server::fuzzing::tls_connection(data));
