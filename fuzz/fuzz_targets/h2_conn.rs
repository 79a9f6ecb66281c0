#![no_main]
//! osprey-h2's server `Connection` fed arbitrary bytes after a valid client
//! preface and SETTINGS frame.
//!
//! Input layout: `[step] [mode] stream…`. The stream is fed `step + 1` bytes
//! at a time; `mode` bit 0 answers every request (HEADERS then "hello" with
//! END_STREAM), bit 1 releases request content as it arrives, bit 2 uses tight
//! limits (2 streams, 100-octet windows, 4 resets, 8 empty frames) so short
//! inputs reach them.
//!
//! Properties: never panics; everything the connection writes is a sequence
//! of whole, decodable frames; after a connection error the connection says it
//! should close, repeats the error, and writes nothing more; Data, Trailers
//! and StreamReset events only name streams a Request event opened.

use std::collections::HashSet;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use osprey_h2::frame::{FrameDecoder, Settings, MAX_LENGTH};
use osprey_h2::{Config, Connection, Event, PREFACE};
use osprey_proto::{HeaderMap, Status};

fn check_output(bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    let d = FrameDecoder::new(MAX_LENGTH);
    while let Some(_f) = d.decode(&mut buf).expect("our output decodes") {}
    assert!(buf.is_empty(), "our output ends inside a frame");
}

fuzz_target!(|data: &[u8]| {
    let [step, mode, stream @ ..] = data else {
        return;
    };
    let config = if mode & 4 != 0 {
        Config {
            max_concurrent_streams: 2,
            initial_window_size: 100,
            max_peer_resets: 4,
            max_local_resets: 4,
            max_empty_frames: 8,
            max_idle_control_frames: 16,
            max_header_list_size: 256,
            max_header_block_size: 512,
            ..Config::default()
        }
    } else {
        Config::default()
    };
    let mut conn = Connection::new(config);
    let mut input = PREFACE.to_vec();
    Settings::default().encode(&mut input);
    input.extend_from_slice(stream);

    let mut known: HashSet<u32> = HashSet::new();
    let no_fields = HeaderMap::new();
    for chunk in input.chunks(*step as usize + 1) {
        if let Err(e) = conn.recv(chunk) {
            assert!(conn.should_close());
            assert_eq!(conn.recv(b"x").unwrap_err(), e);
            check_output(&conn.take_output());
            assert!(!conn.has_output());
            return;
        }
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Request { stream_id, .. } => {
                    assert!(known.insert(stream_id), "stream opened twice");
                    if mode & 1 != 0 {
                        let _ = conn.send_response(stream_id, Status::OK, &no_fields, false);
                        let _ = conn.send_data(stream_id, b"hello", true);
                    }
                }
                Event::Data {
                    stream_id, data, ..
                } => {
                    assert!(known.contains(&stream_id));
                    if mode & 2 != 0 {
                        conn.release_capacity(stream_id, data.len());
                    }
                }
                Event::Trailers { stream_id, .. } | Event::StreamReset { stream_id, .. } => {
                    assert!(known.contains(&stream_id));
                }
                _ => {}
            }
        }
        check_output(&conn.take_output());
    }
});
