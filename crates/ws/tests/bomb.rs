//! A compression bomb: 100 MB of zeros deflated to about 100 KB, against a
//! 1 MiB message limit. The connection must fail with 1009 as soon as the
//! output passes the limit, inflating in bounded pieces. Alone in its test
//! binary so the process's peak memory tells what the machine held.

mod common;

use common::*;
use flate2::{Compress, Compression, FlushCompress};
use osprey_ws::deflate::negotiate;
use osprey_ws::{CloseCode, DeflateSettings, Event, Settings, WebSocket};

/// The peak resident set of this process, in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `total` zeros as a raw deflate stream ending with a sync flush, made from
/// one 1 MiB buffer so the test itself stays small.
fn deflated_zeros(total: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new_with_window_bits(Compression::new(9), false, 15);
    let mut out = Vec::with_capacity(total / 1000 + 1024);
    let mut left = total;
    while left > 0 {
        let n = left.min(zeros.len());
        let mut input = &zeros[..n];
        let flush = if left == n {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        loop {
            out.reserve(64 * 1024);
            let before = c.total_in();
            c.compress_vec(input, &mut out, flush).unwrap();
            input = &input[(c.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        left -= n;
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

#[test]
fn a_compression_bomb_closes_1009_with_memory_bounded() {
    let t = std::time::Instant::now();
    let bomb = deflated_zeros(100_000_000);
    eprintln!(
        "compressed 100 MB to {} bytes in {:?}",
        bomb.len(),
        t.elapsed()
    );
    assert!(bomb.len() < 200_000);

    let limit = 1 << 20;
    let settings = Settings {
        max_message: limit,
        ..Settings::default()
    };
    let offer = osprey_ws::extension::parse_extensions([&b"permessage-deflate"[..]]).unwrap();
    let params = negotiate(&offer, &DeflateSettings::default());
    let before = peak_rss_kib();
    let mut ws = WebSocket::with_deflate(settings, params);
    // The whole bomb in one frame, handed over in one call.
    ws.recv(&frame_rsv1(true, 2, &bomb));
    let ev = events(&mut ws);
    assert!(
        matches!(&ev[..], [Event::Failed(e)] if e.code == CloseCode::TOO_BIG),
        "{ev:?}"
    );
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1009);
    if let (Some(b), Some(a)) = (before, peak_rss_kib()) {
        eprintln!("peak RSS {b} KiB before, {a} KiB after");
        // The message buffer stops one inflate chunk past 1 MiB; the frame
        // (about 100 KB) and the inflater add a little. Far from 100 MB.
        assert!(
            a.saturating_sub(b) < 16 * 1024,
            "peak grew by {} KiB",
            a - b
        );
    }
}
